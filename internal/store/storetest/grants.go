package storetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

var codeTests = append([]test{
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
	{"GetCodeAndSessionAndGetTokenAndSessionReadBothAtOnce", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createOrg(t, s, "globex")
		sess := createSession(t, s, "acme", "sid-1", "sub-1")
		ok(t, "AddSessionClient", s.AddSessionClient(ctx, "acme", "sid-1", "client-1", t0))
		sess.Clients = []string{"client-1"}
		// globex has a session of the same id: the join stays in acme.
		createSession(t, s, "globex", "sid-1", "sub-other")
		c := createCode(t, s, "acme", "code-1", "sub-1", "sid-1")
		orphan := createCode(t, s, "acme", "code-orphan", "sub-1", "sid-gone")
		rt := newToken("acme", "rt-1", domain.TokenRefresh, "sid-1", "fam-1", "")
		cc := newToken("acme", "at-cc", domain.TokenAccess, "", "", "")
		ok(t, "CreateTokens", s.CreateTokens(ctx, rt, cc))

		readsWithSession(t, "GetCodeAndSession", func(org string, hash []byte) (*domain.AuthCode, *domain.Session, error) {
			return s.GetCodeAndSession(ctx, org, hash)
		}, c, c.Hash, sess, orphan, orphan.Hash)
		readsWithSession(t, "GetTokenAndSession", func(org string, hash []byte) (*domain.Token, *domain.Session, error) {
			return s.GetTokenAndSession(ctx, org, hash)
		}, rt, rt.Hash, sess, cc, cc.Hash)

		// An ended session is still read: whether it may be used is the caller's.
		ok(t, "EndSession", s.EndSession(ctx, "acme", "sid-1", at(time.Minute)))
		_, gotS, err := s.GetCodeAndSession(ctx, "acme", c.Hash)
		ok(t, "GetCodeAndSession after the session ended", err)
		equal(t, "EndedAt", gotS.EndedAt, at(time.Minute))
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
}, redeemTests...)

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
	{"CreateTicketStoresItsAuditEventsInTheSameCommit", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createOrg(t, s, "globex")
		taken := &domain.AuditEvent{OrgID: "acme", At: t0, Action: "user.update", Result: "ok", Detail: map[string]string{}}
		ok(t, "AppendAudit", s.AppendAudit(ctx, taken))
		event := func(n int) *domain.AuditEvent {
			return &domain.AuditEvent{OrgID: "acme", At: at(time.Duration(n) * time.Second), Actor: "platform",
				Action: "user.generate_token", Target: fmt.Sprintf("user-%d", n), Result: "ok", Detail: map[string]string{}}
		}

		// One batch: tickets with their events, and one whose event's id
		// is taken; it alone fails, and stores neither row.
		good := make([]*domain.LoginTicket, 6)
		goodEvents := make([]*domain.AuditEvent, len(good))
		for i := range good {
			good[i], goodEvents[i] = newTicket("acme", fmt.Sprintf("ticket-%d", i), "sub-1"), event(i+1)
		}
		bad := newTicket("acme", "ticket-bad", "sub-1")
		badEvent := event(100)
		badEvent.ID = taken.ID
		releaseWhenQueued := holdWrites(t, s)
		errs := make([]error, len(good)+1)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if i == len(good) {
					errs[i] = s.CreateTicket(ctx, bad, badEvent)
				} else {
					errs[i] = s.CreateTicket(ctx, good[i], goodEvents[i])
				}
			}()
		}
		releaseWhenQueued(len(errs))
		wg.Wait()
		wantErr(t, "CreateTicket with a taken event id", errs[len(good)], store.ErrConflict)
		if _, err := s.GetTicket(ctx, "acme", bad.Hash); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the ticket whose event failed was stored (err %v)", err)
		}
		for i, x := range good {
			ok(t, fmt.Sprintf("CreateTicket %d", i), errs[i])
			got, err := s.GetTicket(ctx, "acme", x.Hash)
			ok(t, "GetTicket", err)
			equal(t, "GetTicket", got, x)
		}
		events, err := s.ListAudit(ctx, "acme", store.AuditFilter{Limit: 100})
		ok(t, "ListAudit", err)
		want := []*domain.AuditEvent{taken}
		for _, e := range goodEvents {
			want = append([]*domain.AuditEvent{e}, want...)
		}
		equal(t, "the audit log", events, want)

		// An event of another organization is refused, and nothing stored.
		x := newTicket("acme", "ticket-x", "sub-1")
		other := &domain.AuditEvent{OrgID: "globex", At: t0, Action: "user.generate_token", Result: "ok"}
		if err := s.CreateTicket(ctx, x, other); err == nil {
			t.Fatal("CreateTicket with another organization's event succeeded")
		}
		if _, err := s.GetTicket(ctx, "acme", x.Hash); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the refused ticket was stored (err %v)", err)
		}
		if events, err := s.ListAudit(ctx, "globex", store.AuditFilter{Limit: 10}); err != nil || len(events) != 0 {
			t.Errorf("globex's audit log: %d events (err %v), want none", len(events), err)
		}
	}},
	{"RedeemTicketStartsTheSessionOnlyWithAnUnusedUnexpiredTicket", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createOrg(t, s, "globex")
		x := createTicket(t, s, "acme", "ticket-1", "sub-1")
		event := func(orgID string, n int) *domain.AuditEvent {
			return &domain.AuditEvent{OrgID: orgID, At: at(time.Second), Actor: "alice", Action: "login.ticket",
				Target: "alice", Result: "ok", ClientIP: "192.0.2.1", Detail: map[string]string{"n": fmt.Sprint(n)}}
		}
		var refused []*domain.Session
		stale := func(what, orgID string, hash []byte, when time.Time) {
			t.Helper()
			sess := newSession(orgID, fmt.Sprintf("sid-refused-%d", len(refused)), "sub-1")
			refused = append(refused, sess)
			wantErr(t, what, s.RedeemTicket(ctx, orgID, hash, when, sess, event(orgID, len(refused))), store.ErrStale)
		}
		stale("RedeemTicket at another organization", "globex", x.Hash, at(time.Second))
		stale("RedeemTicket of an unknown ticket", "acme", h("ticket-404"), at(time.Second))
		stale("RedeemTicket at its expiry", "acme", x.Hash, x.ExpiresAt)
		got, err := s.GetTicket(ctx, "acme", x.Hash)
		ok(t, "GetTicket", err)
		equal(t, "the ticket after refused redemptions", got, x)

		sess := newSession("acme", "sid-1", "sub-1")
		e := event("acme", 0)
		ok(t, "RedeemTicket", s.RedeemTicket(ctx, "acme", x.Hash, at(time.Second), sess, e))
		got, err = s.GetTicket(ctx, "acme", x.Hash)
		ok(t, "GetTicket", err)
		equal(t, "UsedAt", got.UsedAt, at(time.Second))
		gotSess, err := s.GetSessionByCookie(ctx, "acme", sess.CookieHash)
		ok(t, "GetSessionByCookie", err)
		equal(t, "the session started", gotSess, sess)
		if e.ID == "" {
			t.Fatal("RedeemTicket left the event without an id")
		}
		events, err := s.ListAudit(ctx, "acme", store.AuditFilter{Limit: 10})
		ok(t, "ListAudit", err)
		equal(t, "the audit log", events, []*domain.AuditEvent{e})

		stale("RedeemTicket again", "acme", x.Hash, at(2*time.Second))
		for _, r := range refused {
			if _, err := s.GetSession(ctx, r.OrgID, r.SID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("a refused redemption stored session %s (err %v)", r.SID, err)
			}
		}
		for _, orgID := range []string{"acme", "globex"} {
			events, err := s.ListAudit(ctx, orgID, store.AuditFilter{Limit: 10})
			ok(t, "ListAudit", err)
			if orgID == "acme" && len(events) != 1 || orgID == "globex" && len(events) != 0 {
				t.Errorf("%s: %d audit events after refused redemptions, want the winner's only", orgID, len(events))
			}
		}
	}},
	{"RedeemTicketIsAllOrNothing", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		x := createTicket(t, s, "acme", "ticket-1", "sub-1")
		taken := createSession(t, s, "acme", "sid-taken", "sub-2")
		dup := newSession("acme", "sid-taken", "sub-1")
		e := &domain.AuditEvent{OrgID: "acme", At: at(time.Second), Action: "login.ticket", Result: "ok"}
		if err := s.RedeemTicket(ctx, "acme", x.Hash, at(time.Second), dup, e); err == nil || errors.Is(err, store.ErrStale) {
			t.Fatalf("RedeemTicket with a taken session id: err = %v, want a conflict", err)
		}
		got, err := s.GetTicket(ctx, "acme", x.Hash)
		ok(t, "GetTicket", err)
		equal(t, "the ticket after a failed redemption", got, x)
		gotSess, err := s.GetSession(ctx, "acme", "sid-taken")
		ok(t, "GetSession", err)
		equal(t, "the session whose id was taken", gotSess, taken)
		events, err := s.ListAudit(ctx, "acme", store.AuditFilter{Limit: 10})
		ok(t, "ListAudit", err)
		equal(t, "audit events after a failed redemption", len(events), 0)
		ok(t, "RedeemTicket retried", s.RedeemTicket(ctx, "acme", x.Hash, at(2*time.Second), newSession("acme", "sid-1", "sub-1"), &domain.AuditEvent{OrgID: "acme", At: at(2 * time.Second), Action: "login.ticket", Result: "ok"}))
	}},
	{"ConcurrentRedeemTicketHasExactlyOneWinner", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		x := createTicket(t, s, "acme", "ticket-1", "sub-1")
		errs := race(racers, func(i int) error {
			err := s.RedeemTicket(ctx, "acme", x.Hash, at(time.Second), newSession("acme", fmt.Sprintf("sid-%d", i), "sub-1"),
				&domain.AuditEvent{OrgID: "acme", At: at(time.Second), Action: "login.ticket", Result: "ok", Detail: map[string]string{"i": fmt.Sprint(i)}})
			if errors.Is(err, store.ErrStale) {
				return store.ErrAlreadyUsed
			}
			return err
		})
		winner := oneWinner(t, errs)
		sessions, err := s.ListUserSessions(ctx, "acme", "sub-1")
		ok(t, "ListUserSessions", err)
		if len(sessions) != 1 || sessions[0].SID != fmt.Sprintf("sid-%d", winner) {
			t.Fatalf("sessions after the race: %d, want the winner's only", len(sessions))
		}
		events, err := s.ListAudit(ctx, "acme", store.AuditFilter{Limit: 100})
		ok(t, "ListAudit", err)
		if len(events) != 1 || events[0].Detail["i"] != fmt.Sprint(winner) {
			t.Fatalf("audit events after the race: %d, want the winner's only", len(events))
		}
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

var tokenTests = append([]test{
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
}, append(batchTests, rotationReplayTests...)...)

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

// writeHolder is a store whose batching writer can be held, so that a
// test writes a batch of a known composition (sqldb.DB.HoldWrites).
type writeHolder interface {
	HoldWrites() (queued func() int, release func())
}

// holdWrites holds s's batching writer, if it has one, and returns what
// waits until n callers are queued and then writes them as one batch.
func holdWrites(t testing.TB, s store.Store) (releaseWhenQueued func(n int)) {
	t.Helper()
	h, isHolder := s.(writeHolder)
	if !isHolder {
		return func(int) {}
	}
	queued, release := h.HoldWrites()
	released := false
	t.Cleanup(func() {
		if !released {
			release()
		}
	})
	return func(n int) {
		deadline := time.Now().Add(60 * time.Second)
		for queued() < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d writes queued after 60 s", queued(), n)
			}
			time.Sleep(time.Millisecond)
		}
		released = true
		release()
	}
}

var batchTests = []test{
	{"ConcurrentInsertsAllLandAndAreReadable", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		const n = racers
		tokens := make([][]*domain.Token, n)
		codes := make([]*domain.AuthCode, n)
		reqs := make([]*domain.AuthRequest, n)
		for i := range n {
			switch i % 3 {
			case 0:
				tokens[i] = []*domain.Token{newToken("acme", fmt.Sprintf("at-%d", i), domain.TokenAccess, "", "", "")}
			case 1:
				tokens[i] = refreshPair("acme", fmt.Sprint(i), fmt.Sprintf("fam-%d", i))
			case 2:
				tokens[i] = []*domain.Token{newToken("acme", fmt.Sprintf("rt-%d", i), domain.TokenRefresh, "sid-1", fmt.Sprintf("fam-%d", i), "")}
			}
			codes[i] = newCode("acme", fmt.Sprintf("code-%d", i), "sub-1", "sid-1")
			reqs[i] = newAuthRequest("acme", fmt.Sprintf("req-%d", i))
		}
		errs := race(3*n, func(i int) error {
			switch i % 3 {
			case 0:
				return s.CreateTokens(ctx, tokens[i/3]...)
			case 1:
				return s.CreateCode(ctx, codes[i/3])
			default:
				return s.CreateAuthRequest(ctx, reqs[i/3])
			}
		})
		for i, err := range errs {
			ok(t, fmt.Sprintf("write %d", i), err)
		}
		for i := range n {
			for _, want := range tokens[i] {
				got, err := s.GetToken(ctx, "acme", want.Hash)
				ok(t, "GetToken", err)
				equal(t, "GetToken", got, want)
			}
			got, err := s.GetCode(ctx, "acme", codes[i].Hash)
			ok(t, "GetCode", err)
			equal(t, "GetCode", got, codes[i])
			gotR, err := s.GetAuthRequest(ctx, "acme", reqs[i].ID, t0)
			ok(t, "GetAuthRequest", err)
			equal(t, "GetAuthRequest", gotR, reqs[i])
		}
	}},
	{"OneBadRowInABatchFailsAlone", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		taken := newToken("acme", "at-taken", domain.TokenAccess, "", "", "")
		ok(t, "CreateTokens", s.CreateTokens(ctx, taken))
		takenCode := createCode(t, s, "acme", "code-taken", "sub-1", "sid-1")

		// One batch: good tokens, a pair whose second token's hash is
		// taken, a code whose hash is taken, two callers with the same new
		// hash, a good code and a good pending request.
		good := make([][]*domain.Token, 8)
		for i := range good {
			good[i] = refreshPair("acme", fmt.Sprint(i), fmt.Sprintf("fam-%d", i))
		}
		badPair := []*domain.Token{
			newToken("acme", "at-bad", domain.TokenAccess, "sid-1", "fam-bad", ""),
			newToken("acme", "at-taken", domain.TokenAccess, "sid-1", "fam-bad", ""),
		}
		twins := [][]*domain.Token{
			{newToken("acme", "at-twin", domain.TokenAccess, "", "", "")},
			{newToken("acme", "at-twin", domain.TokenAccess, "", "fam-twin-2", "")},
		}
		badCode := newCode("acme", "code-taken", "sub-2", "sid-2")
		goodCode := newCode("acme", "code-good", "sub-1", "sid-1")
		req := newAuthRequest("acme", "req-good")

		releaseWhenQueued := holdWrites(t, s)
		writes := []func() error{
			func() error { return s.CreateTokens(ctx, badPair...) },
			func() error { return s.CreateTokens(ctx, twins[0]...) },
			func() error { return s.CreateTokens(ctx, twins[1]...) },
			func() error { return s.CreateCode(ctx, badCode) },
			func() error { return s.CreateCode(ctx, goodCode) },
			func() error { return s.CreateAuthRequest(ctx, req) },
		}
		for i := range good {
			writes = append(writes, func() error { return s.CreateTokens(ctx, good[i]...) })
		}
		errs := make([]error, len(writes))
		var wg sync.WaitGroup
		for i, w := range writes {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = w() }()
		}
		releaseWhenQueued(len(writes))
		wg.Wait()

		wantErr(t, "CreateTokens with a taken hash", errs[0], store.ErrConflict)
		if tokenStored(t, s, badPair[0]) {
			t.Error("the refused caller's other token was stored")
		}
		twinErrs := errs[1:3]
		if (twinErrs[0] == nil) == (twinErrs[1] == nil) {
			t.Fatalf("two callers inserting one hash: errs = %v, want exactly one to succeed", twinErrs)
		}
		for i, err := range twinErrs {
			if err != nil {
				wantErr(t, "the second of two equal hashes", err, store.ErrConflict)
			} else {
				got, err := s.GetToken(ctx, "acme", twins[i][0].Hash)
				ok(t, "GetToken twin", err)
				equal(t, "the stored twin", got, twins[i][0])
			}
		}
		wantErr(t, "CreateCode with a taken hash", errs[3], store.ErrConflict)
		got, err := s.GetCode(ctx, "acme", takenCode.Hash)
		ok(t, "GetCode", err)
		equal(t, "the code after the refused duplicate", got, takenCode)
		for i, err := range errs[4:] {
			ok(t, fmt.Sprintf("good write %d", i), err)
		}
		gotC, err := s.GetCode(ctx, "acme", goodCode.Hash)
		ok(t, "GetCode good", err)
		equal(t, "good code", gotC, goodCode)
		gotR, err := s.GetAuthRequest(ctx, "acme", req.ID, t0)
		ok(t, "GetAuthRequest", err)
		equal(t, "good request", gotR, req)
		for _, pair := range good {
			for _, want := range pair {
				got, err := s.GetToken(ctx, "acme", want.Hash)
				ok(t, "GetToken good", err)
				equal(t, "good token", got, want)
			}
		}
	}},
	{"AHeldBatchOfOneCallerIsWrittenLikeAnyWrite", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		pair := refreshPair("acme", "1", "fam-1")
		releaseWhenQueued := holdWrites(t, s)
		done := make(chan error, 1)
		go func() { done <- s.CreateTokens(ctx, pair...) }()
		releaseWhenQueued(1)
		ok(t, "CreateTokens", <-done)
		for _, want := range pair {
			got, err := s.GetToken(ctx, "acme", want.Hash)
			ok(t, "GetToken", err)
			equal(t, "GetToken", got, want)
		}
	}},
}

var redeemTests = []test{
	{"RedemptionsAndRotationsInOneBatchEachGetTheirOwnAnswer", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		shared := createCode(t, s, "acme", "code-shared", "sub-1", "sid-1")
		lone := createCode(t, s, "acme", "code-lone", "sub-1", "sid-1")
		clash := createCode(t, s, "acme", "code-clash", "sub-1", "sid-1")
		ok(t, "CreateTokens", s.CreateTokens(ctx, newToken("acme", "at-taken", domain.TokenAccess, "", "", "")))
		old := newToken("acme", "rt-old", domain.TokenRefresh, "sid-1", "fam-r", "")
		ok(t, "CreateTokens", s.CreateTokens(ctx, old))

		racerA := []*domain.Token{newToken("acme", "at-a", domain.TokenAccess, "sid-1", "fam-a", "code-shared")}
		racerB := []*domain.Token{newToken("acme", "at-b", domain.TokenAccess, "sid-1", "fam-b", "code-shared")}
		loneTokens := refreshPair("acme", "lone", "fam-lone")
		clashTokens := []*domain.Token{
			newToken("acme", "at-clash", domain.TokenAccess, "sid-1", "fam-c", "code-clash"),
			newToken("acme", "at-taken", domain.TokenAccess, "sid-1", "fam-c", "code-clash"),
		}
		next := newToken("acme", "rt-new", domain.TokenRefresh, "sid-1", "fam-r", "")
		plain := newToken("acme", "at-plain", domain.TokenAccess, "", "", "")
		writes := []func() error{
			func() error { return s.RedeemCode(ctx, "acme", shared.Hash, at(time.Second), racerA...) },
			func() error { return s.RedeemCode(ctx, "acme", shared.Hash, at(time.Second), racerB...) },
			func() error { return s.RedeemCode(ctx, "acme", lone.Hash, at(time.Second), loneTokens...) },
			func() error { return s.RedeemCode(ctx, "acme", clash.Hash, at(time.Second), clashTokens...) },
			func() error {
				return s.RedeemCode(ctx, "acme", h("code-unknown"), at(time.Second), newToken("acme", "at-u", domain.TokenAccess, "", "", ""))
			},
			func() error { return s.RotateRefreshToken(ctx, "acme", old.Hash, at(time.Second), next) },
			func() error {
				return s.RotateRefreshToken(ctx, "acme", h("rt-unknown"), at(time.Second), newToken("acme", "rt-u", domain.TokenRefresh, "", "", ""))
			},
			func() error { return s.CreateTokens(ctx, plain) },
		}
		// Where the store batches these writes, they are held until every
		// one is queued (or done, where a backend does not batch it), and
		// then written as one batch.
		var finished atomic.Int32
		release := func() {}
		if hd, isHolder := s.(writeHolder); isHolder {
			queued, rel := hd.HoldWrites()
			released := false
			t.Cleanup(func() {
				if !released {
					rel()
				}
			})
			release = func() {
				deadline := time.Now().Add(60 * time.Second)
				for queued()+int(finished.Load()) < len(writes) {
					if time.Now().After(deadline) {
						t.Fatalf("%d queued and %d done of %d writes after 60 s", queued(), finished.Load(), len(writes))
					}
					time.Sleep(time.Millisecond)
				}
				released = true
				rel()
			}
		}
		errs := make([]error, len(writes))
		var wg sync.WaitGroup
		for i, w := range writes {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = w(); finished.Add(1) }()
		}
		release()
		wg.Wait()

		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("two redemptions of one code: errs = %v, want exactly one to succeed", errs[:2])
		}
		for i, racer := range [][]*domain.Token{racerA, racerB} {
			if errs[i] != nil {
				wantErr(t, "the second redemption of a code", errs[i], store.ErrAlreadyUsed)
				if tokenStored(t, s, racer[0]) {
					t.Error("the losing redemption's token was stored")
				}
			} else if !tokenStored(t, s, racer[0]) {
				t.Error("the winning redemption's token is missing")
			}
		}
		ok(t, "RedeemCode lone", errs[2])
		for _, want := range loneTokens {
			got, err := s.GetToken(ctx, "acme", want.Hash)
			ok(t, "GetToken lone", err)
			equal(t, "lone token", got, want)
		}
		wantErr(t, "RedeemCode with a taken token hash", errs[3], store.ErrConflict)
		if tokenStored(t, s, clashTokens[0]) {
			t.Error("a refused redemption stored a token")
		}
		gotClash, err := s.GetCode(ctx, "acme", clash.Hash)
		ok(t, "GetCode clash", err)
		equal(t, "the code of a refused redemption", gotClash, clash)
		wantErr(t, "RedeemCode of an unknown code", errs[4], store.ErrNotFound)
		ok(t, "RotateRefreshToken", errs[5])
		gotOld, err := s.GetToken(ctx, "acme", old.Hash)
		ok(t, "GetToken old", err)
		equal(t, "RotatedAt", gotOld.RotatedAt, at(time.Second))
		gotNext, err := s.GetToken(ctx, "acme", next.Hash)
		ok(t, "GetToken next", err)
		equal(t, "the rotation's token", gotNext, next)
		wantErr(t, "RotateRefreshToken of an unknown token", errs[6], store.ErrAlreadyUsed)
		ok(t, "CreateTokens plain", errs[7])
	}},
	{"RedeemCodeUsesTheCodeAndStoresItsTokens", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		c := createCode(t, s, "acme", "code-1", "sub-1", "sid-1")
		tokens := []*domain.Token{
			newToken("acme", "at-1", domain.TokenAccess, "sid-1", "fam-1", "code-1"),
			newToken("acme", "rt-1", domain.TokenRefresh, "sid-1", "fam-1", "code-1"),
		}
		ok(t, "RedeemCode", s.RedeemCode(ctx, "acme", c.Hash, at(time.Second), tokens...))
		for _, want := range tokens {
			got, err := s.GetToken(ctx, "acme", want.Hash)
			ok(t, "GetToken", err)
			equal(t, "GetToken", got, want)
		}
		got, err := s.ConsumeCode(ctx, "acme", c.Hash, at(2*time.Second))
		wantErr(t, "ConsumeCode after RedeemCode", err, store.ErrAlreadyUsed)
		equal(t, "UsedAt", got.UsedAt, at(time.Second))
	}},
	{"RedeemCodeOfAUsedOrUnknownCodeStoresNothing", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createOrg(t, s, "globex")
		c := createCode(t, s, "acme", "code-1", "sub-1", "sid-1")
		ok(t, "RedeemCode", s.RedeemCode(ctx, "acme", c.Hash, at(time.Second), refreshPair("acme", "1", "fam-1")...))
		again := refreshPair("acme", "again", "fam-2")
		wantErr(t, "RedeemCode again", s.RedeemCode(ctx, "acme", c.Hash, at(2*time.Second), again...), store.ErrAlreadyUsed)
		unknown := refreshPair("acme", "unknown", "fam-3")
		wantErr(t, "RedeemCode of an unknown code", s.RedeemCode(ctx, "acme", h("code-404"), at(time.Second), unknown...), store.ErrNotFound)
		elsewhere := refreshPair("globex", "elsewhere", "fam-4")
		wantErr(t, "RedeemCode at another organization", s.RedeemCode(ctx, "globex", c.Hash, at(time.Second), elsewhere...), store.ErrNotFound)
		for _, tk := range append(append(again, unknown...), elsewhere...) {
			if tokenStored(t, s, tk) {
				t.Errorf("a refused redemption stored token %x", tk.Hash[:4])
			}
		}
	}},
	{"RedeemIssuedCodeOnlyWhileTheCodeAndItsSessionAreAsIssued", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createOrg(t, s, "globex")
		sess := createSession(t, s, "acme", "sid-1", "sub-1")
		c := createCode(t, s, "acme", "code-1", "sub-1", "sid-1")
		unused := func(what string, c *domain.AuthCode) {
			t.Helper()
			got, err := s.GetCode(ctx, "acme", c.Hash)
			ok(t, "GetCode", err)
			equal(t, what, got, c)
		}
		var refused []*domain.Token
		stale := func(what string, orgID string, hash []byte, expires time.Time) {
			t.Helper()
			tokens := refreshPair(orgID, fmt.Sprintf("refused-%d", len(refused)), "fam-refused")
			refused = append(refused, tokens...)
			wantErr(t, what, s.RedeemIssuedCode(ctx, orgID, hash, expires, at(time.Second), tokens...), store.ErrStale)
		}

		stale("RedeemIssuedCode with another session expiry", "acme", c.Hash, sess.ExpiresAt.Add(-time.Hour))
		stale("RedeemIssuedCode at another organization", "globex", c.Hash, sess.ExpiresAt)
		stale("RedeemIssuedCode of an unknown code", "acme", h("code-404"), sess.ExpiresAt)
		unused("the code after refused redemptions", c)

		tokens := refreshPair("acme", "1", "fam-1")
		ok(t, "RedeemIssuedCode", s.RedeemIssuedCode(ctx, "acme", c.Hash, sess.ExpiresAt, at(time.Second), tokens...))
		for _, want := range tokens {
			got, err := s.GetToken(ctx, "acme", want.Hash)
			ok(t, "GetToken", err)
			equal(t, "GetToken", got, want)
		}
		got, err := s.GetCode(ctx, "acme", c.Hash)
		ok(t, "GetCode", err)
		equal(t, "UsedAt", got.UsedAt, at(time.Second))
		stale("RedeemIssuedCode again", "acme", c.Hash, sess.ExpiresAt)

		// A renewal changes the session's expiry: codes issued before it
		// are stale, those issued after it are not.
		before := createCode(t, s, "acme", "code-2", "sub-1", "sid-1")
		renewed := clone(sess)
		renewed.ExpiresAt = at(20 * time.Hour)
		ok(t, "RenewSession", s.RenewSession(ctx, renewed))
		stale("RedeemIssuedCode issued before a renewal", "acme", before.Hash, sess.ExpiresAt)
		unused("a code issued before a renewal", before)
		after := createCode(t, s, "acme", "code-3", "sub-1", "sid-1")
		ok(t, "RedeemIssuedCode issued after a renewal", s.RedeemIssuedCode(ctx, "acme", after.Hash, renewed.ExpiresAt, at(time.Second), refreshPair("acme", "3", "fam-3")...))

		// An ended session, or none: stale.
		ended := createCode(t, s, "acme", "code-4", "sub-1", "sid-1")
		ok(t, "EndSession", s.EndSession(ctx, "acme", "sid-1", at(2*time.Second)))
		stale("RedeemIssuedCode after its session ended", "acme", ended.Hash, renewed.ExpiresAt)
		unused("a code of an ended session", ended)
		orphan := createCode(t, s, "acme", "code-5", "sub-1", "sid-none")
		stale("RedeemIssuedCode without its session", "acme", orphan.Hash, renewed.ExpiresAt)
		unused("a code without its session", orphan)

		for _, tk := range refused {
			if tokenStored(t, s, tk) {
				t.Errorf("a refused redemption stored token %x", tk.Hash[:4])
			}
		}
	}},
	{"RedeemCodeIsAllOrNothing", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		c := createCode(t, s, "acme", "code-1", "sub-1", "sid-1")
		taken := newToken("acme", "at-taken", domain.TokenAccess, "", "", "")
		ok(t, "CreateTokens", s.CreateTokens(ctx, taken))
		fresh := newToken("acme", "rt-1", domain.TokenRefresh, "sid-1", "fam-1", "code-1")
		dup := newToken("acme", "at-taken", domain.TokenAccess, "sid-1", "fam-1", "code-1")
		wantErr(t, "RedeemCode with a taken token hash", s.RedeemCode(ctx, "acme", c.Hash, at(time.Second), fresh, dup), store.ErrConflict)
		if tokenStored(t, s, fresh) {
			t.Error("the failed redemption stored its other token")
		}
		got, err := s.GetCode(ctx, "acme", c.Hash)
		ok(t, "GetCode", err)
		equal(t, "code after a failed redemption", got, c)
		retry := refreshPair("acme", "retry", "fam-1")
		ok(t, "RedeemCode retried", s.RedeemCode(ctx, "acme", c.Hash, at(2*time.Second), retry...))
	}},
	{"ConcurrentRedeemCodeHasExactlyOneWinnerWhoseTokensAReplayRevokes", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		c := createCode(t, s, "acme", "code-1", "sub-1", "sid-1")
		nexts := make([][]*domain.Token, racers)
		for i := range nexts {
			nexts[i] = []*domain.Token{
				newToken("acme", fmt.Sprintf("at-%d", i), domain.TokenAccess, "sid-1", fmt.Sprintf("fam-%d", i), "code-1"),
				newToken("acme", fmt.Sprintf("rt-%d", i), domain.TokenRefresh, "sid-1", fmt.Sprintf("fam-%d", i), "code-1"),
			}
		}
		errs := race(racers, func(i int) error {
			return s.RedeemCode(ctx, "acme", c.Hash, at(time.Second), nexts[i]...)
		})
		w := oneWinner(t, errs)
		for i, next := range nexts {
			for _, n := range next {
				if stored := tokenStored(t, s, n); stored != (i == w) {
					t.Errorf("racer %d's %s token stored = %v (winner was %d)", i, n.Kind, stored, w)
				}
			}
		}
		// Every loser's replay finds the winner's tokens to revoke.
		ok(t, "RevokeTokensFromCode", s.RevokeTokensFromCode(ctx, "acme", c.Hash, at(2*time.Second)))
		checkRevoked(t, s, nexts[w], at(2*time.Second))
	}},
}

var rotationReplayTests = []test{
	{"ConcurrentChainsRotateAndEveryReplayIsAlreadyUsed", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		const chains, steps = 8, 5
		cur := make([]*domain.Token, chains)
		var seen [][]byte
		for i := range cur {
			cur[i] = newToken("acme", fmt.Sprintf("rt-%d-0", i), domain.TokenRefresh, "sid-1", fmt.Sprintf("fam-%d", i), "")
			ok(t, "CreateTokens", s.CreateTokens(ctx, cur[i]))
		}
		for step := 1; step <= steps; step++ {
			nexts := make([][]*domain.Token, chains)
			for i := range nexts {
				nexts[i] = refreshPair("acme", fmt.Sprintf("%d-%d", i, step), fmt.Sprintf("fam-%d", i))
			}
			// Each chain rotates once, and a replay of its previous
			// token (rotated a step before) races along.
			errs := race(2*chains, func(i int) error {
				if i < chains {
					return s.RotateRefreshToken(ctx, "acme", cur[i].Hash, at(time.Duration(step)*time.Second), nexts[i]...)
				}
				if step == 1 {
					return store.ErrAlreadyUsed // nothing rotated yet to replay
				}
				return s.RotateRefreshToken(ctx, "acme", seen[i-chains], at(time.Duration(step)*time.Second), refreshPair("acme", fmt.Sprintf("replay-%d-%d", i, step), "x")...)
			})
			for i, err := range errs {
				if i < chains {
					ok(t, "RotateRefreshToken", err)
				} else {
					wantErr(t, "RotateRefreshToken of a rotated token", err, store.ErrAlreadyUsed)
				}
			}
			seen = seen[:0]
			for i := range cur {
				seen = append(seen, cur[i].Hash)
				cur[i] = nexts[i][1]
				got, err := s.GetToken(ctx, "acme", seen[i])
				ok(t, "GetToken", err)
				equal(t, "rotated at", got.RotatedAt, at(time.Duration(step)*time.Second))
			}
		}
	}},
}

// readsWithSession checks a read of a row with its session (read): the
// row with its session sess, a row whose session is gone or that names
// none (alone, no session), and no row for another organization or an
// unknown hash.
func readsWithSession[T any](t *testing.T, name string, read func(org string, hash []byte) (*T, *domain.Session, error),
	with *T, withHash []byte, sess *domain.Session, alone *T, aloneHash []byte) {
	t.Helper()
	got, gotS, err := read("acme", withHash)
	ok(t, name, err)
	equal(t, name+"'s row", got, with)
	equal(t, name+"'s session", gotS, sess)
	got, gotS, err = read("acme", aloneHash)
	ok(t, name+" of a row without its session", err)
	equal(t, name+": the row without its session", got, alone)
	if gotS != nil {
		t.Errorf("%s of a row without its session: session %s, want none", name, show(gotS))
	}
	_, _, err = read("globex", withHash)
	wantErr(t, name+" at another organization", err, store.ErrNotFound)
	_, _, err = read("acme", h("unknown"))
	wantErr(t, name+" of an unknown hash", err, store.ErrNotFound)
}
