package storetest

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
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

// benchWriters is how many goroutines the parallel write benchmarks run
// (per GOMAXPROCS), like concurrent token requests of a loaded server.
const benchWriters = 4

// BenchCreateTokenParallel measures storing one access token per call from
// concurrent callers, done on every client_credentials request.
func BenchCreateTokenParallel(b *testing.B, open Opener) {
	s := benchStore(b, open)
	ctx := b.Context()
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(benchWriters)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tk := newToken("bench", fmt.Sprintf("at-%d", n.Add(1)), domain.TokenAccess, "", "", "")
			if err := s.CreateTokens(ctx, tk); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchRotateRefreshParallel measures refresh-token rotation on concurrent
// chains: each caller rotates its own chain's current token into a new
// access and refresh token, as a refresh_token request does.
func BenchRotateRefreshParallel(b *testing.B, open Opener) {
	s := benchStore(b, open)
	ctx := b.Context()
	var chains, n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(benchWriters)
	b.RunParallel(func(pb *testing.PB) {
		fam := fmt.Sprintf("fam-%d", chains.Add(1))
		cur := newToken("bench", "rt-"+fam, domain.TokenRefresh, "sid-1", fam, "")
		if err := s.CreateTokens(ctx, cur); err != nil {
			b.Error(err)
			return
		}
		for pb.Next() {
			next := refreshPair("bench", fmt.Sprintf("%s-%d", fam, n.Add(1)), fam)
			if err := s.RotateRefreshToken(ctx, "bench", cur.Hash, t0.Add(time.Second), next...); err != nil {
				b.Error(err)
				return
			}
			cur = next[1]
		}
	})
}
