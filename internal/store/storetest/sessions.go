package storetest

import (
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

var sessionTests = []test{
	{"CreateSessionKeepsEveryFieldFoundBySIDAndByCookie", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		fed := createSession(t, s, "acme", "sid-fed", "sub-1")
		pwd := newSession("acme", "sid-pwd", "sub-1")
		pwd.AMR, pwd.UpstreamIDToken = []string{domain.AMRPassword}, nil
		ok(t, "CreateSession", s.CreateSession(ctx, pwd))
		for _, want := range []*domain.Session{fed, pwd} {
			got, err := s.GetSession(ctx, "acme", want.SID)
			ok(t, "GetSession", err)
			equal(t, "GetSession", got, want)
			got, err = s.GetSessionByCookie(ctx, "acme", want.CookieHash)
			ok(t, "GetSessionByCookie", err)
			equal(t, "GetSessionByCookie", got, want)
		}
	}},
	{"SIDAndCookieAreUniquePerOrg", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createOrg(t, s, "globex")
		first := createSession(t, s, "acme", "sid-1", "sub-1")
		sameSID := newSession("acme", "sid-1", "sub-2")
		sameSID.CookieHash = h("another cookie")
		wantErr(t, "CreateSession same sid", s.CreateSession(ctx, sameSID), store.ErrConflict)
		sameCookie := newSession("acme", "sid-2", "sub-2")
		sameCookie.CookieHash = first.CookieHash
		wantErr(t, "CreateSession same cookie", s.CreateSession(ctx, sameCookie), store.ErrConflict)
		got, err := s.GetSessionByCookie(ctx, "acme", first.CookieHash)
		ok(t, "GetSessionByCookie", err)
		equal(t, "session after the refused duplicates", got, first)
		createSession(t, s, "globex", "sid-1", "sub-1") // same sid and cookie in another org
	}},
	{"MissingSessionIsNotFound", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createSession(t, s, "acme", "sid-1", "sub-1")
		_, err := s.GetSession(ctx, "acme", "sid-404")
		wantErr(t, "GetSession", err, store.ErrNotFound)
		_, err = s.GetSessionByCookie(ctx, "acme", h("unknown cookie"))
		wantErr(t, "GetSessionByCookie", err, store.ErrNotFound)
		wantErr(t, "EndSession", s.EndSession(ctx, "acme", "sid-404", t0), store.ErrNotFound)
	}},
	{"RenewSessionReplacesCookieAuthTimeMethodsAndExpiry", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		x := createSession(t, s, "acme", "sid-1", "sub-1")
		other := createSession(t, s, "acme", "sid-2", "sub-1")
		renewed := clone(x)
		renewed.CookieHash = h("new cookie")
		renewed.AuthTime = at(time.Hour)
		renewed.AMR = []string{domain.AMRExternal}
		renewed.ExpiresAt = at(11 * time.Hour)
		renewed.UpstreamIDToken = nil
		ok(t, "RenewSession", s.RenewSession(ctx, renewed))
		got, err := s.GetSessionByCookie(ctx, "acme", renewed.CookieHash)
		ok(t, "GetSessionByCookie(new cookie)", err)
		equal(t, "renewed session", got, renewed)
		_, err = s.GetSessionByCookie(ctx, "acme", x.CookieHash)
		wantErr(t, "GetSessionByCookie(old cookie)", err, store.ErrNotFound)
		got, err = s.GetSession(ctx, "acme", "sid-2")
		ok(t, "GetSession other", err)
		equal(t, "the other session", got, other)
	}},
	{"RenewSessionOntoAnotherSessionsCookieConflicts", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		x := createSession(t, s, "acme", "sid-1", "sub-1")
		other := createSession(t, s, "acme", "sid-2", "sub-1")
		renewed := clone(x)
		renewed.CookieHash, renewed.AuthTime = other.CookieHash, at(time.Hour)
		wantErr(t, "RenewSession", s.RenewSession(ctx, renewed), store.ErrConflict)
		got, err := s.GetSession(ctx, "acme", "sid-1")
		ok(t, "GetSession", err)
		equal(t, "session after the refused renewal", got, x)
	}},
	{"RenewSessionOfAnEndedOrUnknownSessionIsNotFound", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		x := createSession(t, s, "acme", "sid-1", "sub-1")
		ok(t, "EndSession", s.EndSession(ctx, "acme", "sid-1", at(time.Minute)))
		renewed := clone(x)
		renewed.CookieHash, renewed.ExpiresAt = h("new cookie"), at(20*time.Hour)
		wantErr(t, "RenewSession(ended)", s.RenewSession(ctx, renewed), store.ErrNotFound)
		_, err := s.GetSessionByCookie(ctx, "acme", renewed.CookieHash)
		wantErr(t, "GetSessionByCookie(refused cookie)", err, store.ErrNotFound)
		unknown := newSession("acme", "sid-404", "sub-1")
		wantErr(t, "RenewSession(unknown)", s.RenewSession(ctx, unknown), store.ErrNotFound)
	}},
	{"EndSessionEndsItOnceAndThenIsNotFound", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		x := createSession(t, s, "acme", "sid-1", "sub-1")
		other := createSession(t, s, "acme", "sid-2", "sub-1")
		ok(t, "EndSession", s.EndSession(ctx, "acme", "sid-1", at(time.Hour)))
		wantErr(t, "EndSession again", s.EndSession(ctx, "acme", "sid-1", at(2*time.Hour)), store.ErrNotFound)
		want := clone(x)
		want.EndedAt = at(time.Hour)
		got, err := s.GetSession(ctx, "acme", "sid-1")
		ok(t, "GetSession", err)
		equal(t, "ended session (keeps the first end time)", got, want)
		if got.Active(at(time.Hour)) {
			t.Error("an ended session is still Active")
		}
		got, err = s.GetSession(ctx, "acme", "sid-2")
		ok(t, "GetSession other", err)
		equal(t, "the other session", got, other)
	}},
	{"SessionClientsAreRecordedOnceInTheOrderTheyJoined", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createSession(t, s, "acme", "sid-1", "sub-1")
		createSession(t, s, "acme", "sid-2", "sub-1")
		none, err := s.ListSessionClients(ctx, "acme", "sid-1")
		ok(t, "ListSessionClients", err)
		if len(none) != 0 {
			t.Fatalf("ListSessionClients of a new session = %q", none)
		}
		for i, c := range []string{"web", "admin", "admin", "web"} {
			ok(t, "AddSessionClient "+c, s.AddSessionClient(ctx, "acme", "sid-1", c, at(time.Duration(i)*time.Second)))
		}
		ok(t, "AddSessionClient other session", s.AddSessionClient(ctx, "acme", "sid-2", "mail", t0))
		got, err := s.ListSessionClients(ctx, "acme", "sid-1")
		ok(t, "ListSessionClients", err)
		equal(t, "ListSessionClients", got, []string{"web", "admin"})
		// Every read of a session lists its applications the same way, so
		// a sign-in needs no query of its own to know.
		sess, err := s.GetSession(ctx, "acme", "sid-1")
		ok(t, "GetSession", err)
		equal(t, "GetSession's Clients", sess.Clients, []string{"web", "admin"})
		byCookie, err := s.GetSessionByCookie(ctx, "acme", sess.CookieHash)
		ok(t, "GetSessionByCookie", err)
		equal(t, "GetSessionByCookie's Clients", byCookie.Clients, []string{"web", "admin"})
		listed, err := s.ListUserSessions(ctx, "acme", "sub-1")
		ok(t, "ListUserSessions", err)
		for _, x := range listed {
			want := map[string][]string{"sid-1": {"web", "admin"}, "sid-2": {"mail"}}[x.SID]
			equal(t, "ListUserSessions' Clients of "+x.SID, x.Clients, want)
		}
		other, err := s.GetSession(ctx, "acme", "sid-2")
		ok(t, "GetSession sid-2", err)
		equal(t, "GetSession's Clients of sid-2", other.Clients, []string{"mail"})
	}},
	{"ListUserSessionsListsTheUsersSessionsNewestFirst", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		var mine []*domain.Session
		for i, sid := range []string{"s-old", "s-new", "s-mid"} {
			x := newSession("acme", sid, "sub-1")
			x.CreatedAt = at([]time.Duration{0, 2 * time.Hour, time.Hour}[i])
			ok(t, "CreateSession", s.CreateSession(ctx, x))
			mine = append(mine, x)
		}
		createSession(t, s, "acme", "s-bob", "sub-2")
		ok(t, "EndSession", s.EndSession(ctx, "acme", "s-mid", at(3*time.Hour)))
		mine[2].EndedAt = at(3 * time.Hour)

		got, err := s.ListUserSessions(ctx, "acme", "sub-1")
		ok(t, "ListUserSessions", err)
		equal(t, "ListUserSessions", got, []*domain.Session{mine[1], mine[2], mine[0]})
		none, err := s.ListUserSessions(ctx, "acme", "sub-404")
		ok(t, "ListUserSessions of a user without sessions", err)
		if len(none) != 0 {
			t.Errorf("ListUserSessions(sub-404) = %s", show(none))
		}
	}},
}

var authRequestTests = []test{
	{"CreateAuthRequestKeepsEveryField", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		full := newAuthRequest("acme", "req-1")
		minimal := &domain.AuthRequest{
			OrgID: "acme", ID: "req-2", ClientID: "c", RedirectURI: "https://c.example/cb", Scope: "openid",
			MaxAge: 0, CreatedAt: t0, ExpiresAt: at(time.Minute),
		}
		withMaxAge := newAuthRequest("acme", "req-3")
		withMaxAge.MaxAge = 3600
		for _, r := range []*domain.AuthRequest{full, minimal, withMaxAge} {
			ok(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, r))
			got, err := s.GetAuthRequest(ctx, "acme", r.ID, t0)
			ok(t, "GetAuthRequest", err)
			equal(t, "GetAuthRequest", got, r)
		}
	}},
	{"DuplicateAuthRequestIDConflicts", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		first := newAuthRequest("acme", "req-1")
		ok(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, first))
		dup := newAuthRequest("acme", "req-1")
		dup.RedirectURI = "https://evil.example/cb"
		wantErr(t, "CreateAuthRequest again", s.CreateAuthRequest(ctx, dup), store.ErrConflict)
		got, err := s.GetAuthRequest(ctx, "acme", "req-1", t0)
		ok(t, "GetAuthRequest", err)
		equal(t, "request after the refused duplicate", got, first)
	}},
	{"ExpiredAuthRequestIsNotReturned", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		r := newAuthRequest("acme", "req-1")
		ok(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, r))
		_, err := s.GetAuthRequest(ctx, "acme", "req-1", r.ExpiresAt.Add(-time.Microsecond))
		ok(t, "GetAuthRequest just before expiry", err)
		for _, now := range []time.Time{r.ExpiresAt, r.ExpiresAt.Add(time.Hour)} {
			_, err := s.GetAuthRequest(ctx, "acme", "req-1", now)
			wantErr(t, "GetAuthRequest at or after expiry", err, store.ErrNotFound)
		}
	}},
	{"DeleteAuthRequestRemovesItAndMissingIsNotFound", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		r := newAuthRequest("acme", "req-1")
		keep := newAuthRequest("acme", "req-2")
		ok(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, r))
		ok(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, keep))
		_, err := s.GetAuthRequest(ctx, "acme", "req-404", t0)
		wantErr(t, "GetAuthRequest unknown", err, store.ErrNotFound)
		ok(t, "DeleteAuthRequest", s.DeleteAuthRequest(ctx, "acme", "req-1"))
		_, err = s.GetAuthRequest(ctx, "acme", "req-1", t0)
		wantErr(t, "GetAuthRequest after delete", err, store.ErrNotFound)
		wantErr(t, "DeleteAuthRequest again", s.DeleteAuthRequest(ctx, "acme", "req-1"), store.ErrNotFound)
		got, err := s.GetAuthRequest(ctx, "acme", "req-2", t0)
		ok(t, "GetAuthRequest other", err)
		equal(t, "the other request", got, keep)
	}},
}
