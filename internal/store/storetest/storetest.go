// Package storetest is the conformance suite every store backend must pass:
// round trips of every field, not-found and conflict errors, organization
// isolation, single use under concurrency, and the rules of API key and
// refresh token rotation. Backends call Run from their tests, and the
// Bench* functions from their benchmarks.
//
// The suite talks to the store only through store.Store; it never reads raw
// rows, so a backend passes by behaving right, not by matching a schema.
package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

// Opener returns a fresh, migrated, empty store that is closed when tb ends.
type Opener = func(tb testing.TB) store.Store

type test struct {
	name string
	run  func(t *testing.T, s store.Store)
}

// Run runs the whole suite. Every test gets a fresh store, except the
// organization isolation tests, which share one store the way organizations
// share a real one (each test on its own pair of organizations).
func Run(t *testing.T, open Opener) {
	groups := []struct {
		name   string
		tests  []test
		shared bool
	}{
		{"Orgs", orgTests, false},
		{"APIKeys", apiKeyTests, false},
		{"SigningKeys", signingKeyTests, false},
		{"Users", userTests, false},
		{"Apps", appTests, false},
		{"Sessions", sessionTests, false},
		{"AuthRequests", authRequestTests, false},
		{"Codes", codeTests, false},
		{"Tickets", ticketTests, false},
		{"Tokens", tokenTests, false},
		{"RateLimits", rateLimitTests, false},
		{"Audit", auditTests, false},
		{"Backchannel", backchannelTests, false},
		{"AdminTokens", adminTokenTests, false},
		{"Upstreams", upstreamTests, false},
		{"UpstreamFlows", upstreamFlowTests, false},
		{"Portal", portalTests, false},
		{"Purge", purgeTests, false},
		{"Updates", updateTests, false},
		{"OrgIsolation", isolationTests(), true},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			var shared store.Store
			if g.shared {
				shared = open(t)
			}
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					s := shared
					if s == nil {
						s = open(t)
					}
					tc.run(t, s)
				})
			}
		})
	}
}

// t0 is the suite's clock: fixed, UTC, with microseconds, the precision
// the store promises to keep.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// h stands for the SHA-256 of a secret, the only form secrets reach a store in.
func h(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// ok fails the test at once when err is not nil.
func ok(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wantErr fails the test at once unless err is (or wraps) target.
func wantErr(t testing.TB, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}

// equal reports a difference between got and want, comparing every field.
func equal(t testing.TB, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %s\nwant %s", what, show(got), show(want))
	}
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// race starts n callers of fn at the same moment and returns their errors.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// oneWinner checks that exactly one racer succeeded and every other one
// was told ErrAlreadyUsed.
func oneWinner(t testing.TB, errs []error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatalf("callers %d and %d both succeeded", winner, i)
			}
			winner = i
		case !errors.Is(err, store.ErrAlreadyUsed):
			t.Fatalf("caller %d: err = %v, want nil or ErrAlreadyUsed", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("none of %d callers succeeded", len(errs))
	}
	return winner
}

// racers is how many goroutines the single-use tests send at one row.
const racers = 50

// saveUser stores u whole through the updater, as a blind save would.
func saveUser(ctx context.Context, s store.Store, u *domain.User) error {
	_, err := s.UpdateUser(ctx, u.OrgID, u.Sub, func(x *domain.User) error { *x = *u; return nil })
	return err
}

// saveApp stores a whole through the updater.
func saveApp(ctx context.Context, s store.Store, a *domain.Application) error {
	_, err := s.UpdateApp(ctx, a.OrgID, a.ClientID, func(x *domain.Application) error { *x = *a; return nil })
	return err
}

// saveOrg stores o's name and settings through the updater.
func saveOrg(ctx context.Context, s store.Store, o *domain.Organization) error {
	_, err := s.UpdateOrg(ctx, o.ID, func(x *domain.Organization) error { *x = *o; return nil })
	return err
}
