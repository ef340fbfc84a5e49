package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

// CheckIssuedRows stores every kind of row the protocol flows insert — an
// access token alone, an access and refresh token together, a code, a
// pending request — redeems the code and rotates the refresh token, and
// reads everything back. Backends run it on a store configured otherwise
// than the suite's (PostgreSQL with synchronous_commit on, where relaxed
// rows take connections of their own).
func CheckIssuedRows(t *testing.T, s store.Store) {
	ctx := t.Context()
	createOrg(t, s, "acme")
	access := newToken("acme", "at-alone", domain.TokenAccess, "", "", "")
	pair := refreshPair("acme", "1", "fam-1")
	code := newCode("acme", "code-1", "sub-1", "sid-1")
	req := newAuthRequest("acme", "req-1")
	ok(t, "CreateTokens access", s.CreateTokens(ctx, access))
	ok(t, "CreateTokens pair", s.CreateTokens(ctx, pair...))
	ok(t, "CreateCode", s.CreateCode(ctx, code))
	ok(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, req))
	redeemed := []*domain.Token{
		newToken("acme", "at-code", domain.TokenAccess, "sid-1", "fam-2", "code-1"),
		newToken("acme", "rt-code", domain.TokenRefresh, "sid-1", "fam-2", "code-1"),
	}
	ok(t, "RedeemCode", s.RedeemCode(ctx, "acme", code.Hash, at(time.Second), redeemed...))
	wantErr(t, "RedeemCode again", s.RedeemCode(ctx, "acme", code.Hash, at(time.Second)), store.ErrAlreadyUsed)
	next := refreshPair("acme", "2", "fam-1")
	ok(t, "RotateRefreshToken", s.RotateRefreshToken(ctx, "acme", pair[1].Hash, at(time.Second), next...))
	for _, want := range append(append(append([]*domain.Token{access}, pair[0]), redeemed...), next...) {
		got, err := s.GetToken(ctx, "acme", want.Hash)
		ok(t, "GetToken", err)
		equal(t, "GetToken", got, want)
	}
	gotR, err := s.GetAuthRequest(ctx, "acme", req.ID, t0)
	ok(t, "GetAuthRequest", err)
	equal(t, "GetAuthRequest", gotR, req)
}

// IssueConcurrently creates the organization "busy" and issues n access
// tokens from 8 callers at once, as a loaded token endpoint does, then
// reads each back.
func IssueConcurrently(t *testing.T, s store.Store, n int) {
	ctx := t.Context()
	createOrg(t, s, "busy")
	tokens := make([]*domain.Token, n)
	for i := range tokens {
		tokens[i] = newToken("busy", fmt.Sprintf("at-%d", i), domain.TokenAccess, "", "", "")
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				errs <- s.CreateTokens(ctx, tokens[i])
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		ok(t, "CreateTokens", err)
	}
	for _, tk := range tokens {
		if !tokenStored(t, s, tk) {
			t.Fatalf("token %x was not stored", tk.Hash)
		}
	}
}

// SeedGrants creates the organization "seed" with n sessions, each with
// an application taking part, a code and a pair of tokens of its own: a
// small database of the rows a sign-in reads.
func SeedGrants(t testing.TB, s store.Store, n int) {
	ctx := t.Context()
	createOrg(t, s, "seed")
	for i := range n {
		sid, sub := fmt.Sprintf("sid-%d", i), fmt.Sprintf("sub-%d", i%3)
		createSession(t, s, "seed", sid, sub)
		ok(t, "AddSessionClient", s.AddSessionClient(ctx, "seed", sid, "client-1", t0))
		createCode(t, s, "seed", fmt.Sprintf("code-%d", i), sub, sid)
		pair := refreshPair("seed", fmt.Sprintf("grant-%d", i), fmt.Sprintf("fam-%d", i))
		for _, tk := range pair {
			tk.SID, tk.UserSub = sid, sub
		}
		ok(t, "CreateTokens", s.CreateTokens(ctx, pair...))
	}
}
