package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

// benchNeighbours is how many other rows of the same kind, in two
// organizations, surround the row a benchmark reads, so that lookups go
// through the index rather than scanning a table of one.
const benchNeighbours = 100

func benchStore(b *testing.B, open Opener) store.Store {
	b.Helper()
	s := open(b)
	for _, id := range []string{"bench", "bench-other"} {
		createOrg(b, s, id)
	}
	return s
}

// BenchGetApp measures reading an application by client ID, done on
// every authorization and token request.
func BenchGetApp(b *testing.B, open Opener) {
	s := benchStore(b, open)
	for i := range benchNeighbours {
		createApp(b, s, []string{"bench", "bench-other"}[i%2], fmt.Sprintf("client-%03d", i))
	}
	createApp(b, s, "bench", "web")
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.GetApp(ctx, "bench", "web"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchGetSessionByCookie measures finding the SSO session of a browser,
// done on every authorization request.
func BenchGetSessionByCookie(b *testing.B, open Opener) {
	s := benchStore(b, open)
	for i := range benchNeighbours {
		createSession(b, s, []string{"bench", "bench-other"}[i%2], fmt.Sprintf("sid-%03d", i), "sub-1")
	}
	x := createSession(b, s, "bench", "sid-bench", "sub-1")
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.GetSessionByCookie(ctx, "bench", x.CookieHash); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchConsumeCode measures redeeming an authorization code (a write and
// a read), done on every authorization_code token request. The codes are
// stored before the clock starts.
func BenchConsumeCode(b *testing.B, open Opener) {
	s := benchStore(b, open)
	ctx := b.Context()
	hashes := make([][]byte, b.N)
	for i := range hashes {
		c := newCode("bench", fmt.Sprintf("code-%d", i), "sub-1", "sid-1")
		if err := s.CreateCode(ctx, c); err != nil {
			b.Fatal(err)
		}
		hashes[i] = c.Hash
	}
	used := t0.Add(time.Second)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.ConsumeCode(ctx, "bench", hashes[i], used); err != nil {
			b.Fatal(err)
		}
	}
}
