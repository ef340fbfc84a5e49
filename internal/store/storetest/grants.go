package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

var codeTests = []test{
	{"GetCodeAndGetTicketUseNothingUpAndStayInTheirOrganization", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createOrg(t, s, "globex")
		c := createCode(t, s, "acme", "code-1", "sub-1", "sid-1")
		x := createTicket(t, s, "acme", "ticket-1", "sub-1")
		got, err := s.GetCode(ctx, "acme", c.Hash)
		ok(t, "GetCode", err)
		equal(t, "GetCode", got, c)
		gotT, err := s.GetTicket(ctx, "acme", x.Hash)
		ok(t, "GetTicket", err)
		equal(t, "GetTicket", gotT, x)
		_, err = s.GetCode(ctx, "globex", c.Hash)
		wantErr(t, "GetCode at another organization", err, store.ErrNotFound)
		_, err = s.GetTicket(ctx, "globex", x.Hash)
		wantErr(t, "GetTicket at another organization", err, store.ErrNotFound)
		_, err = s.ConsumeCode(ctx, "acme", c.Hash, at(time.Second))
		ok(t, "ConsumeCode after GetCode", err)
		_, err = s.ConsumeTicket(ctx, "acme", x.Hash, at(time.Second))
		ok(t, "ConsumeTicket after GetTicket", err)
	}},
	{"ConsumeCodeReturnsEveryFieldAndMarksItUsed", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		c := createCode(t, s, "acme", "code-1", "sub-1", "sid-1")
		got, err := s.ConsumeCode(ctx, "acme", c.Hash, at(5*time.Second))
		ok(t, "ConsumeCode", err)
		want := clone(c)
		want.UsedAt = at(5 * time.Second)
		equal(t, "ConsumeCode", got, want)
	}},
	{"SecondConsumeCodeIsAlreadyUsedAndReturnsTheCode", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		c := createCode(t, s, "acme", "code-1", "sub-1", "sid-1")
		other := createCode(t, s, "acme", "code-2", "sub-1", "sid-1")
		_, err := s.ConsumeCode(ctx, "acme", c.Hash, at(time.Second))
		ok(t, "ConsumeCode", err)
		got, err := s.ConsumeCode(ctx, "acme", c.Hash, at(2*time.Second))
		wantErr(t, "ConsumeCode again", err, store.ErrAlreadyUsed)
		want := clone(c)
		want.UsedAt = at(time.Second) // the first use, not the replay
		equal(t, "code returned with ErrAlreadyUsed", got, want)
		_, err = s.ConsumeCode(ctx, "acme", other.Hash, at(3*time.Second))
		ok(t, "ConsumeCode of another code", err)
	}},
	{"MarkCodeReplayedIsSeenOnlyForThatCodeAndOrganization", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createOrg(t, s, "globex")
		c := createCode(t, s, "acme", "code-1", "sub-1", "sid-1")
		other := createCode(t, s, "acme", "code-2", "sub-1", "sid-1")
		same := createCode(t, s, "globex", "code-1", "sub-1", "sid-1")
		replayed, err := s.CodeReplayed(ctx, "acme", c.Hash)
		ok(t, "CodeReplayed", err)
		equal(t, "replayed before any replay", replayed, false)
		ok(t, "MarkCodeReplayed", s.MarkCodeReplayed(ctx, "acme", c.Hash, at(time.Second)))
		replayed, err = s.CodeReplayed(ctx, "acme", c.Hash)
		ok(t, "CodeReplayed", err)
		equal(t, "replayed after the mark", replayed, true)
		for _, x := range []struct {
			org  string
			hash []byte
		}{{"acme", other.Hash}, {"globex", same.Hash}} {
			replayed, err = s.CodeReplayed(ctx, x.org, x.hash)
			ok(t, "CodeReplayed", err)
			equal(t, "another code's or organization's mark", replayed, false)
		}
		_, err = s.CodeReplayed(ctx, "acme", h("code-404"))
		wantErr(t, "CodeReplayed of an unknown code", err, store.ErrNotFound)
	}},
	{"ConsumeCodeOfAnUnknownCodeIsNotFound", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createCode(t, s, "acme", "code-1", "sub-1", "sid-1")
		_, err := s.ConsumeCode(ctx, "acme", h("code-404"), t0)
		wantErr(t, "ConsumeCode", err, store.ErrNotFound)
	}},
	{"DuplicateCodeConflicts", func(t *testing.T, s store.Store) {
		createOrg(t, s, "acme")
		c := createCode(t, s, "acme", "code-1", "sub-1", "sid-1")
		dup := newCode("acme", "code-1", "sub-2", "sid-2")
		wantErr(t, "CreateCode again", s.CreateCode(t.Context(), dup), store.ErrConflict)
		got, err := s.ConsumeCode(t.Context(), "acme", c.Hash, t0)
		ok(t, "ConsumeCode", err)
		equal(t, "code owner after the refused duplicate", got.UserSub, c.UserSub)
	}},
	{"ConcurrentConsumeCodeHasExactlyOneWinner", func(t *testing.T, s store.Store) {
		createOrg(t, s, "acme")
		c := createCode(t, s, "acme", "code-1", "sub-1", "sid-1")
		got := make([]*domain.AuthCode, racers)
		errs := race(racers, func(i int) error {
			var err error
			got[i], err = s.ConsumeCode(t.Context(), "acme", c.Hash, at(time.Duration(i+1)*time.Millisecond))
			return err
		})
		w := oneWinner(t, errs)
		for i, g := range got {
			if g == nil || !g.UsedAt.Equal(at(time.Duration(w+1)*time.Millisecond)) {
				t.Fatalf("caller %d got %s, want the code used at the winner's time", i, show(g))
			}
		}
	}},
}

var ticketTests = []test{
	{"ConsumeTicketReturnsEveryFieldAndMarksItUsed", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		x := createTicket(t, s, "acme", "ticket-1", "sub-1")
		got, err := s.ConsumeTicket(ctx, "acme", x.Hash, at(5*time.Second))
		ok(t, "ConsumeTicket", err)
		want := clone(x)
		want.UsedAt = at(5 * time.Second)
		equal(t, "ConsumeTicket", got, want)
	}},
	{"SecondConsumeTicketIsAlreadyUsedAndReturnsTheTicket", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		x := createTicket(t, s, "acme", "ticket-1", "sub-1")
		other := createTicket(t, s, "acme", "ticket-2", "sub-1")
		_, err := s.ConsumeTicket(ctx, "acme", x.Hash, at(time.Second))
		ok(t, "ConsumeTicket", err)
		got, err := s.ConsumeTicket(ctx, "acme", x.Hash, at(2*time.Second))
		wantErr(t, "ConsumeTicket again", err, store.ErrAlreadyUsed)
		want := clone(x)
		want.UsedAt = at(time.Second)
		equal(t, "ticket returned with ErrAlreadyUsed", got, want)
		_, err = s.ConsumeTicket(ctx, "acme", other.Hash, at(3*time.Second))
		ok(t, "ConsumeTicket of another ticket", err)
	}},
	{"ConsumeTicketOfAnUnknownTicketIsNotFound", func(t *testing.T, s store.Store) {
		createOrg(t, s, "acme")
		createTicket(t, s, "acme", "ticket-1", "sub-1")
		_, err := s.ConsumeTicket(t.Context(), "acme", h("ticket-404"), t0)
		wantErr(t, "ConsumeTicket", err, store.ErrNotFound)
	}},
	{"DuplicateTicketConflicts", func(t *testing.T, s store.Store) {
		createOrg(t, s, "acme")
		createTicket(t, s, "acme", "ticket-1", "sub-1")
		wantErr(t, "CreateTicket again", s.CreateTicket(t.Context(), newTicket("acme", "ticket-1", "sub-2")), store.ErrConflict)
	}},
	{"ConcurrentConsumeTicketHasExactlyOneWinner", func(t *testing.T, s store.Store) {
		createOrg(t, s, "acme")
		x := createTicket(t, s, "acme", "ticket-1", "sub-1")
		errs := race(racers, func(i int) error {
			_, err := s.ConsumeTicket(t.Context(), "acme", x.Hash, at(time.Duration(i+1)*time.Millisecond))
			return err
		})
		oneWinner(t, errs)
	}},
}

// refreshPair is what a refresh rotates into: an access and a refresh token.
func refreshPair(orgID, suffix, fam string) []*domain.Token {
	return []*domain.Token{
		newToken(orgID, "at-"+suffix, domain.TokenAccess, "sid-1", fam, ""),
		newToken(orgID, "rt-"+suffix, domain.TokenRefresh, "sid-1", fam, ""),
	}
}

// tokenStored reports whether GetToken finds the token, failing on other errors.
func tokenStored(t testing.TB, s store.Store, tk *domain.Token) bool {
	t.Helper()
	_, err := s.GetToken(t.Context(), tk.OrgID, tk.Hash)
	if errors.Is(err, store.ErrNotFound) {
		return false
	}
	ok(t, "GetToken", err)
	return true
}

var tokenTests = []test{
	{"CreateTokensKeepsEveryField", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		access := newToken("acme", "at-1", domain.TokenAccess, "sid-1", "fam-1", "code-1")
		refresh := newToken("acme", "rt-1", domain.TokenRefresh, "sid-1", "fam-1", "code-1")
		refresh.Offline, refresh.RevokedAt, refresh.RotatedAt = true, at(time.Hour), at(time.Minute)
		machine := newToken("acme", "at-m2m", domain.TokenAccess, "", "", "")
		machine.UserSub, machine.AMR = "", nil
		ok(t, "CreateTokens", s.CreateTokens(ctx, access, refresh))
		ok(t, "CreateTokens one", s.CreateTokens(ctx, machine))
		for _, want := range []*domain.Token{access, refresh} {
			got, err := s.GetToken(ctx, "acme", want.Hash)
			ok(t, "GetToken", err)
			equal(t, "GetToken", got, want)
		}
		got, err := s.GetToken(ctx, "acme", machine.Hash)
		ok(t, "GetToken machine", err)
		if got.CodeHash != nil {
			t.Errorf("CodeHash = %x, want nil for a token not issued from a code", got.CodeHash)
		}
		if len(got.AMR) != 0 {
			t.Errorf("AMR = %q, want none", got.AMR)
		}
		got.AMR = nil
		equal(t, "GetToken machine", got, machine)
	}},
	{"CreateTokensIsAllOrNothing", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		first := newToken("acme", "rt-1", domain.TokenRefresh, "sid-1", "fam-1", "")
		ok(t, "CreateTokens", s.CreateTokens(ctx, first))
		fresh := newToken("acme", "at-2", domain.TokenAccess, "sid-1", "fam-2", "")
		dup := newToken("acme", "rt-1", domain.TokenRefresh, "sid-2", "fam-2", "")
		wantErr(t, "CreateTokens with a taken hash", s.CreateTokens(ctx, fresh, dup), store.ErrConflict)
		if tokenStored(t, s, fresh) {
			t.Error("the batch's other token was stored although the batch failed")
		}
		got, err := s.GetToken(ctx, "acme", first.Hash)
		ok(t, "GetToken", err)
		equal(t, "token after the refused duplicate", got, first)
	}},
	{"UnknownTokenIsNotFound", func(t *testing.T, s store.Store) {
		createOrg(t, s, "acme")
		ok(t, "CreateTokens", s.CreateTokens(t.Context(), newToken("acme", "at-1", domain.TokenAccess, "sid-1", "fam-1", "")))
		_, err := s.GetToken(t.Context(), "acme", h("at-404"))
		wantErr(t, "GetToken", err, store.ErrNotFound)
	}},
	{"RotateRefreshTokenMarksItRotatedAndStoresTheNextTokens", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		rt := newToken("acme", "rt-1", domain.TokenRefresh, "sid-1", "fam-1", "code-1")
		ok(t, "CreateTokens", s.CreateTokens(ctx, rt))
		next := refreshPair("acme", "2", "fam-1")
		ok(t, "RotateRefreshToken", s.RotateRefreshToken(ctx, "acme", rt.Hash, at(time.Minute), next...))

		got, err := s.GetToken(ctx, "acme", rt.Hash)
		ok(t, "GetToken old", err)
		want := clone(rt)
		want.RotatedAt = at(time.Minute)
		equal(t, "rotated token", got, want)
		if got.Usable(at(time.Minute)) {
			t.Error("a rotated refresh token is still Usable")
		}
		for _, n := range next {
			got, err := s.GetToken(ctx, "acme", n.Hash)
			ok(t, "GetToken next", err)
			equal(t, "next token", got, n)
		}
		// The next refresh token rotates in turn.
		ok(t, "RotateRefreshToken next", s.RotateRefreshToken(ctx, "acme", next[1].Hash, at(2*time.Minute), refreshPair("acme", "3", "fam-1")...))
	}},
	{"SecondRotationOfTheSameTokenIsAlreadyUsedAndStoresNothing", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		rt := newToken("acme", "rt-1", domain.TokenRefresh, "sid-1", "fam-1", "")
		ok(t, "CreateTokens", s.CreateTokens(ctx, rt))
		ok(t, "RotateRefreshToken", s.RotateRefreshToken(ctx, "acme", rt.Hash, at(time.Minute), refreshPair("acme", "2", "fam-1")...))
		replay := refreshPair("acme", "replay", "fam-1")
		wantErr(t, "RotateRefreshToken again", s.RotateRefreshToken(ctx, "acme", rt.Hash, at(2*time.Minute), replay...), store.ErrAlreadyUsed)
		for _, n := range replay {
			if tokenStored(t, s, n) {
				t.Errorf("the replayed rotation stored token %s", n.Kind)
			}
		}
		got, err := s.GetToken(ctx, "acme", rt.Hash)
		ok(t, "GetToken", err)
		equal(t, "RotatedAt keeps the first rotation", got.RotatedAt, at(time.Minute))
	}},
	{"RotatingARevokedOrUnknownTokenStoresNothing", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		rt := newToken("acme", "rt-1", domain.TokenRefresh, "sid-1", "fam-1", "")
		access := newToken("acme", "at-1", domain.TokenAccess, "sid-1", "fam-1", "")
		ok(t, "CreateTokens", s.CreateTokens(ctx, rt, access))
		ok(t, "RevokeToken", s.RevokeToken(ctx, "acme", rt.Hash, at(time.Second)))
		next := refreshPair("acme", "2", "fam-1")
		wantErr(t, "RotateRefreshToken(revoked)", s.RotateRefreshToken(ctx, "acme", rt.Hash, at(time.Minute), next...), store.ErrAlreadyUsed)
		if err := s.RotateRefreshToken(ctx, "acme", access.Hash, at(time.Minute), next...); err == nil {
			t.Error("RotateRefreshToken accepted an access token")
		}
		if err := s.RotateRefreshToken(ctx, "acme", h("rt-404"), at(time.Minute), next...); err == nil {
			t.Error("RotateRefreshToken accepted an unknown token")
		}
		for _, n := range next {
			if tokenStored(t, s, n) {
				t.Errorf("a refused rotation stored token %s", n.Kind)
			}
		}
		got, err := s.GetToken(ctx, "acme", rt.Hash)
		ok(t, "GetToken", err)
		if !got.RotatedAt.IsZero() {
			t.Errorf("a revoked token was marked rotated at %v", got.RotatedAt)
		}
	}},
	{"FailedRotationLeavesTheTokenUnrotated", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		rt := newToken("acme", "rt-1", domain.TokenRefresh, "sid-1", "fam-1", "")
		taken := newToken("acme", "at-taken", domain.TokenAccess, "sid-1", "fam-0", "")
		ok(t, "CreateTokens", s.CreateTokens(ctx, rt, taken))
		next := refreshPair("acme", "2", "fam-1")
		next = append(next, newToken("acme", "at-taken", domain.TokenAccess, "sid-1", "fam-1", ""))
		if err := s.RotateRefreshToken(ctx, "acme", rt.Hash, at(time.Minute), next...); err == nil {
			t.Fatal("RotateRefreshToken stored a token whose hash was taken")
		}
		got, err := s.GetToken(ctx, "acme", rt.Hash)
		ok(t, "GetToken", err)
		equal(t, "token after a failed rotation", got, rt)
		for _, n := range next[:2] {
			if tokenStored(t, s, n) {
				t.Errorf("the failed rotation stored token %s", n.Kind)
			}
		}
		ok(t, "RotateRefreshToken retried", s.RotateRefreshToken(ctx, "acme", rt.Hash, at(2*time.Minute), next[:2]...))
	}},
	{"ConcurrentRotationHasExactlyOneWinner", func(t *testing.T, s store.Store) {
		createOrg(t, s, "acme")
		rt := newToken("acme", "rt-1", domain.TokenRefresh, "sid-1", "fam-1", "")
		ok(t, "CreateTokens", s.CreateTokens(t.Context(), rt))
		nexts := make([][]*domain.Token, racers)
		for i := range nexts {
			nexts[i] = refreshPair("acme", fmt.Sprintf("racer-%d", i), "fam-1")
		}
		errs := race(racers, func(i int) error {
			return s.RotateRefreshToken(t.Context(), "acme", rt.Hash, at(time.Minute), nexts[i]...)
		})
		w := oneWinner(t, errs)
		for i, next := range nexts {
			for _, n := range next {
				if stored := tokenStored(t, s, n); stored != (i == w) {
					t.Errorf("racer %d's %s token stored = %v (winner was %d)", i, n.Kind, stored, w)
				}
			}
		}
	}},
	{"RevokeTokenRevokesOnlyThatTokenOnce", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		pair := refreshPair("acme", "1", "fam-1")
		ok(t, "CreateTokens", s.CreateTokens(ctx, pair...))
		ok(t, "RevokeToken", s.RevokeToken(ctx, "acme", pair[0].Hash, at(time.Minute)))
		ok(t, "RevokeToken again", s.RevokeToken(ctx, "acme", pair[0].Hash, at(time.Hour)))
		ok(t, "RevokeToken unknown", s.RevokeToken(ctx, "acme", h("at-404"), at(time.Hour)))
		got, err := s.GetToken(ctx, "acme", pair[0].Hash)
		ok(t, "GetToken", err)
		want := clone(pair[0])
		want.RevokedAt = at(time.Minute)
		equal(t, "revoked token keeps its first revocation time", got, want)
		got, err = s.GetToken(ctx, "acme", pair[1].Hash)
		ok(t, "GetToken other", err)
		equal(t, "the other token", got, pair[1])
	}},
	{"RevokeTokenFamilyRevokesEveryTokenOfTheFamilyOnly", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		fam := append(refreshPair("acme", "1", "fam-1"), refreshPair("acme", "2", "fam-1")...)
		machine := newToken("acme", "at-m2m", domain.TokenAccess, "", "", "")
		other := append(refreshPair("acme", "3", "fam-2"), machine)
		ok(t, "CreateTokens", s.CreateTokens(ctx, append(fam, other...)...))
		ok(t, "RevokeTokenFamily", s.RevokeTokenFamily(ctx, "acme", "fam-1", at(time.Minute)))
		ok(t, "RevokeTokenFamily empty", s.RevokeTokenFamily(ctx, "acme", "", at(time.Minute)))
		checkRevoked(t, s, fam, at(time.Minute))
		checkRevoked(t, s, other, time.Time{})
	}},
	{"RevokeTokensFromCodeRevokesTheTokensIssuedFromIt", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		fromCode := []*domain.Token{
			newToken("acme", "at-1", domain.TokenAccess, "sid-1", "fam-1", "code-1"),
			newToken("acme", "rt-1", domain.TokenRefresh, "sid-1", "fam-1", "code-1"),
		}
		others := []*domain.Token{
			newToken("acme", "at-2", domain.TokenAccess, "sid-1", "fam-2", "code-2"),
			newToken("acme", "at-3", domain.TokenAccess, "sid-1", "", ""),
		}
		ok(t, "CreateTokens", s.CreateTokens(ctx, append(fromCode, others...)...))
		ok(t, "RevokeTokensFromCode", s.RevokeTokensFromCode(ctx, "acme", h("code-1"), at(time.Minute)))
		checkRevoked(t, s, fromCode, at(time.Minute))
		checkRevoked(t, s, others, time.Time{})
	}},
	{"RevokeSessionTokensSparesOfflineTokens", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		online := refreshPair("acme", "1", "fam-1")
		offline := newToken("acme", "rt-offline", domain.TokenRefresh, "sid-1", "fam-2", "")
		offline.Offline = true
		otherSession := newToken("acme", "rt-other", domain.TokenRefresh, "sid-2", "fam-3", "")
		machine := newToken("acme", "at-m2m", domain.TokenAccess, "", "", "")
		ok(t, "CreateTokens", s.CreateTokens(ctx, append(online, offline, otherSession, machine)...))
		ok(t, "RevokeSessionTokens", s.RevokeSessionTokens(ctx, "acme", "sid-1", at(time.Minute)))
		ok(t, "RevokeSessionTokens without a session", s.RevokeSessionTokens(ctx, "acme", "", at(time.Minute)))
		checkRevoked(t, s, online, at(time.Minute))
		checkRevoked(t, s, []*domain.Token{offline, otherSession, machine}, time.Time{})
	}},
}

// checkRevoked checks that each token is unchanged except for RevokedAt.
func checkRevoked(t testing.TB, s store.Store, tokens []*domain.Token, revokedAt time.Time) {
	t.Helper()
	for _, tk := range tokens {
		got, err := s.GetToken(t.Context(), tk.OrgID, tk.Hash)
		ok(t, "GetToken", err)
		want := clone(tk)
		want.RevokedAt = revokedAt
		equal(t, fmt.Sprintf("%s token of family %q", tk.Kind, tk.FamilyID), got, want)
	}
}
