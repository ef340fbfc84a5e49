package storetest

import (
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

var upstreamFlowTests = []test{
	{"RememberLogoutTokenRefusesAReplayUntilItExpires", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createOrg(t, s, "globex")
		h := []byte("0123456789abcdef0123456789abcdef")
		ok(t, "RememberLogoutToken", s.RememberLogoutToken(ctx, "acme", h, at(time.Minute), at(0)))
		wantErr(t, "the same token again", s.RememberLogoutToken(ctx, "acme", h, at(time.Minute), at(30*time.Second)), store.ErrAlreadyUsed)
		ok(t, "the same hash at another organization", s.RememberLogoutToken(ctx, "globex", h, at(time.Minute), at(30*time.Second)))
		ok(t, "after it expired", s.RememberLogoutToken(ctx, "acme", h, at(3*time.Minute), at(2*time.Minute)))
		wantErr(t, "and again", s.RememberLogoutToken(ctx, "acme", h, at(3*time.Minute), at(2*time.Minute)), store.ErrAlreadyUsed)
	}},
	{"AForgottenLogoutTokenMayBeRememberedAgain", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createOrg(t, s, "globex")
		h := []byte("0123456789abcdef0123456789abcdef")
		ok(t, "RememberLogoutToken acme", s.RememberLogoutToken(ctx, "acme", h, at(time.Minute), at(0)))
		ok(t, "RememberLogoutToken globex", s.RememberLogoutToken(ctx, "globex", h, at(time.Minute), at(0)))
		ok(t, "ForgetLogoutToken", s.ForgetLogoutToken(ctx, "acme", h))
		ok(t, "the forgotten token again", s.RememberLogoutToken(ctx, "acme", h, at(time.Minute), at(time.Second)))
		wantErr(t, "the other organization's token", s.RememberLogoutToken(ctx, "globex", h, at(time.Minute), at(time.Second)), store.ErrAlreadyUsed)
		ok(t, "ForgetLogoutToken of an unknown token", s.ForgetLogoutToken(ctx, "acme", []byte("unknown")))
	}},
	{"UpstreamLoginIsConsumedOnceWithEveryField", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createOrg(t, s, "globex")
		l := &domain.UpstreamLogin{OrgID: "acme", Hash: h("state-1"), BrowserHash: h("browser"), AuthRequestID: "req-1",
			Nonce: "n", VerifierSealed: []byte("sealed"), CreatedAt: t0, ExpiresAt: at(10 * time.Minute)}
		ok(t, "CreateUpstreamLogin", s.CreateUpstreamLogin(ctx, l))
		_, err := s.ConsumeUpstreamLogin(ctx, "globex", l.Hash, at(time.Second))
		wantErr(t, "ConsumeUpstreamLogin at another organization", err, store.ErrNotFound)
		got, err := s.ConsumeUpstreamLogin(ctx, "acme", l.Hash, at(time.Second))
		ok(t, "ConsumeUpstreamLogin", err)
		want := clone(l)
		want.UsedAt = at(time.Second)
		equal(t, "ConsumeUpstreamLogin", got, want)
		errs := race(racers, func(int) error {
			_, err := s.ConsumeUpstreamLogin(ctx, "acme", l.Hash, at(2*time.Second))
			return err
		})
		for _, err := range errs {
			wantErr(t, "ConsumeUpstreamLogin again", err, store.ErrAlreadyUsed)
		}
	}},
	{"UpstreamLogoutIsConsumedOnce", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		l := &domain.UpstreamLogout{OrgID: "acme", Hash: h("state-1"), RedirectURI: "https://app.example/bye?state=x",
			CreatedAt: t0, ExpiresAt: at(10 * time.Minute)}
		ok(t, "CreateUpstreamLogout", s.CreateUpstreamLogout(ctx, l))
		got, err := s.ConsumeUpstreamLogout(ctx, "acme", l.Hash, at(time.Second))
		ok(t, "ConsumeUpstreamLogout", err)
		equal(t, "redirect URI", got.RedirectURI, l.RedirectURI)
		_, err = s.ConsumeUpstreamLogout(ctx, "acme", l.Hash, at(2*time.Second))
		wantErr(t, "ConsumeUpstreamLogout again", err, store.ErrAlreadyUsed)
	}},
	{"SessionsAreFoundByUpstreamSIDWithinTheirOrganization", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createOrg(t, s, "globex")
		for _, x := range []struct{ org, sid, up string }{{"acme", "s1", "up-1"}, {"acme", "s2", "up-2"}, {"globex", "s3", "up-1"}} {
			sess := newSession(x.org, x.sid, "sub-1")
			sess.CookieHash = h(x.org + x.sid)
			sess.UpstreamSID, sess.UpstreamSubject = x.up, "upstream-sub"
			ok(t, "CreateSession", s.CreateSession(ctx, sess))
		}
		got, err := s.ListSessionsByUpstreamSID(ctx, "acme", "up-1")
		ok(t, "ListSessionsByUpstreamSID", err)
		if len(got) != 1 || got[0].SID != "s1" || got[0].UpstreamSubject != "upstream-sub" {
			t.Fatalf("ListSessionsByUpstreamSID = %s, want only acme's s1", show(got))
		}
		got, err = s.ListSessionsByUpstreamSID(ctx, "acme", "")
		ok(t, "ListSessionsByUpstreamSID of no sid", err)
		equal(t, "sessions for an empty upstream sid", len(got), 0)
	}},
}
