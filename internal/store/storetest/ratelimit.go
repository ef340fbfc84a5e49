package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

// hits calls HitRateLimit and checks the count it returns.
func hits(t testing.TB, s store.Store, bucket string, window, expireBefore time.Time, want int) {
	t.Helper()
	n, err := s.HitRateLimit(t.Context(), bucket, window, expireBefore)
	ok(t, "HitRateLimit "+bucket, err)
	if n != want {
		t.Fatalf("HitRateLimit(%s, window %v) = %d, want %d", bucket, window.Format(time.TimeOnly), n, want)
	}
}

var rateLimitTests = []test{
	{"HitRateLimitCountsPerBucketAndWindow", func(t *testing.T, s store.Store) {
		w1, w2 := t0, at(time.Minute)
		keep := at(-time.Hour) // sweep nothing
		for i := 1; i <= 3; i++ {
			hits(t, s, "login:192.0.2.1", w1, keep, i)
		}
		hits(t, s, "login:192.0.2.2", w1, keep, 1)
		hits(t, s, "api:acme", w1, keep, 1)
		hits(t, s, "login:192.0.2.1", w2, keep, 1)
		hits(t, s, "login:192.0.2.1", w2, keep, 2)
		hits(t, s, "login:192.0.2.1", w1, keep, 4)
		hits(t, s, "login:192.0.2.2", w1, keep, 2)
	}},
	{"ConcurrentHitsAreAllCounted", func(t *testing.T, s store.Store) {
		const n = 20
		errs := race(n, func(int) error {
			_, err := s.HitRateLimit(t.Context(), "burst", t0, at(-time.Hour))
			return err
		})
		for i, err := range errs {
			ok(t, fmt.Sprintf("HitRateLimit #%d", i), err)
		}
		hits(t, s, "burst", t0, at(-time.Hour), n+1)
	}},
	{"ResetRateLimitForgetsOnlyThatBucket", func(t *testing.T, s store.Store) {
		keep := at(-time.Hour)
		hits(t, s, "login:alice", t0, keep, 1)
		hits(t, s, "login:alice", t0, keep, 2)
		hits(t, s, "login:alice", at(-time.Minute), keep, 1)
		hits(t, s, "login:bob", t0, keep, 1)
		ok(t, "ResetRateLimit", s.ResetRateLimit(t.Context(), "login:alice"))
		ok(t, "ResetRateLimit of an unknown bucket", s.ResetRateLimit(t.Context(), "login:nobody"))
		hits(t, s, "login:alice", t0, keep, 1)
		hits(t, s, "login:alice", at(-time.Minute), keep, 1)
		hits(t, s, "login:bob", t0, keep, 2)
	}},
	{"OldWindowsAreSweptWhenANewWindowStarts", func(t *testing.T, s store.Store) {
		old, cur := t0, at(time.Minute)
		hits(t, s, "login:alice", old, old, 1)
		hits(t, s, "login:alice", old, old, 2)
		hits(t, s, "login:bob", old, old, 1)
		// The first hit of a new window may sweep windows before expireBefore.
		hits(t, s, "login:alice", cur, cur, 1)
		hits(t, s, "login:alice", old, at(-time.Hour), 1)
		hits(t, s, "login:bob", old, at(-time.Hour), 2) // another bucket keeps its count
	}},
}
