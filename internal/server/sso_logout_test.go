package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/internal/demo"
	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/testkit"
)

// backchannelRP is an application's back-channel logout endpoint that
// verifies logout tokens like a real RP and can be made to fail.
type backchannelRP struct {
	srv      *httptest.Server
	mu       sync.Mutex
	received []*demo.LogoutClaims
	failing  atomic.Bool
	calls    atomic.Int32
}

func newBackchannelRP(t *testing.T, provider func() *oidc.Provider, clientID func() string) *backchannelRP {
	b := &backchannelRP{}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.calls.Add(1)
		if b.failing.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		c, err := demo.VerifyLogoutToken(r.Context(), provider(), clientID(), r.PostForm.Get("logout_token"))
		if err != nil {
			t.Errorf("logout token rejected: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		b.mu.Lock()
		b.received = append(b.received, c)
		b.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *backchannelRP) got() []*demo.LogoutClaims {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*demo.LogoutClaims(nil), b.received...)
}

type twoApps struct {
	inst   *servertest.Instance
	fx     *servertest.Fixture
	one    *rp
	two    *rp
	twoFx  *servertest.Fixture
	bcOne  *backchannelRP
	bcTwo  *backchannelRP
	logout string // a registered post-logout redirect URI of app one
}

// setupTwoApps makes org acme with two applications that register
// post-logout redirect URIs and back-channel logout URIs.
func setupTwoApps(t *testing.T, backend string) *twoApps {
	t.Helper()
	inst := servertest.Start(t, backend)
	fx := inst.NewFixture(t, "acme", "http://127.0.0.1:9/one/cb")
	ta := &twoApps{inst: inst, fx: fx, logout: "http://127.0.0.1:9/one/bye"}
	ta.bcOne = newBackchannelRP(t, func() *oidc.Provider { return ta.one.provider }, func() string { return ta.fx.ClientID })
	ta.bcTwo = newBackchannelRP(t, func() *oidc.Provider { return ta.two.provider }, func() string { return ta.twoFx.ClientID })
	ctx := context.Background()
	d := inst.Env.Directory
	if _, err := d.UpdateApp(ctx, inst.Actor, "acme", fx.ClientID, directory.AppChanges{
		PostLogoutRedirectURIs: &[]string{"http://127.0.0.1:9/one/", ta.logout},
		BackchannelLogoutURI:   testkit.Ptr(ta.bcOne.srv.URL + "/bc"),
	}); err != nil {
		t.Fatal(err)
	}
	name := "Second"
	app2, secret2, err := d.CreateApp(ctx, inst.Actor, "acme", false, directory.AppChanges{
		Name: &name, RedirectURIs: &[]string{"http://127.0.0.1:9/two/cb"}, BackchannelLogoutURI: testkit.Ptr(ta.bcTwo.srv.URL + "/bc"),
	})
	if err != nil {
		t.Fatal(err)
	}
	twoFx := *fx
	twoFx.ClientID, twoFx.ClientSecret, twoFx.RedirectURI = app2.ClientID, secret2, "http://127.0.0.1:9/two/cb"
	ta.twoFx = &twoFx
	ta.one, ta.two = newRP(t, inst, fx), newRP(t, inst, &twoFx)
	return ta
}

// silent asks for a code without expecting a login page and reports
// where the browser ended.
func silent(t *testing.T, b *servertest.Browser, r *rp, redirectURI string, opts ...oauth2.AuthCodeOption) *servertest.Page {
	t.Helper()
	opts = append(opts, oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	return b.Follow(b.Get(r.oauth.AuthCodeURL("s", opts...)), redirectURI)
}

func TestSSO_SecondApplicationSignsInWithoutPasswordAndLogoutReachesBoth(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			ta := setupTwoApps(t, backend)
			b := servertest.NewBrowser(t)
			tok1, idt1 := ta.one.login(t, b, ta.fx)

			// App two: no login page, straight back with a code.
			p := silent(t, b, ta.two, ta.twoFx.RedirectURI)
			if !strings.HasPrefix(p.Location, ta.twoFx.RedirectURI) || !strings.Contains(p.Location, "code=") {
				t.Fatalf("app two was not signed in silently: %d %s\n%s", p.Status, p.Location, p.Body)
			}
			cb, _ := url.Parse(p.Location)
			tok2, err := ta.two.oauth.Exchange(context.Background(), cb.Query().Get("code"), oauth2.VerifierOption("x"))
			if err == nil {
				t.Fatalf("exchange with a wrong verifier must fail, got %v", tok2)
			}

			// prompt=none works too while the session lives.
			p = silent(t, b, ta.two, ta.twoFx.RedirectURI, oauth2.SetAuthURLParam("prompt", "none"))
			if !strings.Contains(p.Location, "code=") {
				t.Fatalf("prompt=none with a session: %s", p.Location)
			}

			// RP-initiated logout from app one, exactly as the seed describes.
			raw := tok1.Extra("id_token").(string)
			q := url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {ta.logout}, "state": {"bye-state"}}
			p = b.Get(ta.inst.Issuer("acme") + "/end_session?" + q.Encode())
			if p.Status != http.StatusFound || p.Location != ta.logout+"?state=bye-state" {
				t.Fatalf("end_session: status %d location %q\n%s", p.Status, p.Location, p.Body)
			}

			// Both applications get a verified back-channel logout for the session.
			testkit.WaitFor(t, "back-channel logout to both apps", func() bool { return len(ta.bcOne.got()) == 1 && len(ta.bcTwo.got()) == 1 })
			var sid string
			_ = idt1.Claims(&struct {
				SID *string `json:"sid"`
			}{&sid})
			for _, c := range append(ta.bcOne.got(), ta.bcTwo.got()...) {
				if c.SID != sid || c.Subject != ta.fx.Sub {
					t.Fatalf("logout token sid/sub = %q/%q, want %q/%q", c.SID, c.Subject, sid, ta.fx.Sub)
				}
			}

			// The session is over: tokens are dead, and the next request asks again.
			if _, err := ta.one.oauth.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok1.RefreshToken}).Token(); err == nil {
				t.Fatal("refresh token still works after logout")
			}
			if _, err := ta.one.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok1)); err == nil {
				t.Fatal("access token still works after logout")
			}
			p = silent(t, b, ta.two, ta.twoFx.RedirectURI, oauth2.SetAuthURLParam("prompt", "none"))
			if !strings.Contains(p.Location, "error=login_required") {
				t.Fatalf("after logout prompt=none must fail with login_required: %s", p.Location)
			}
		})
	}
}

func TestEndSession_Rules(t *testing.T) {
	ta := setupTwoApps(t, "sqlite")
	inst := ta.inst
	endSession := inst.Issuer("acme") + "/end_session?"

	t.Run("unregistered post-logout URI shows an error and ends nothing", func(t *testing.T) {
		b := servertest.NewBrowser(t)
		tok, _ := ta.one.login(t, b, ta.fx)
		q := url.Values{"id_token_hint": {tok.Extra("id_token").(string)}, "post_logout_redirect_uri": {"http://127.0.0.1:9/evil"}}
		p := b.Get(endSession + q.Encode())
		if p.Status != http.StatusBadRequest || p.Location != "" || !strings.Contains(p.Body, "not registered") {
			t.Fatalf("status %d location %q", p.Status, p.Location)
		}
		if _, err := ta.one.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok)); err != nil {
			t.Fatalf("session was ended by a rejected request: %v", err)
		}
	})

	t.Run("an expired hint is accepted", func(t *testing.T) {
		b := servertest.NewBrowser(t)
		tok, _ := ta.one.login(t, b, ta.fx)
		inst.Clock.Advance(2 * time.Hour) // id_token lifetime is 1 h; session lives 10 h
		q := url.Values{"id_token_hint": {tok.Extra("id_token").(string)}, "post_logout_redirect_uri": {ta.logout}}
		p := b.Get(endSession + q.Encode())
		if p.Status != http.StatusFound || p.Location != ta.logout {
			t.Fatalf("status %d location %q\n%s", p.Status, p.Location, p.Body)
		}
	})

	t.Run("a hint from another organization is rejected", func(t *testing.T) {
		other := inst.NewFixture(t, "globex", "http://127.0.0.1:9/g/cb")
		b := servertest.NewBrowser(t)
		tok, _ := newRP(t, inst, other).login(t, b, other)
		q := url.Values{"id_token_hint": {tok.Extra("id_token").(string)}}
		p := b.Get(endSession + q.Encode())
		if p.Status != http.StatusBadRequest || p.Location != "" {
			t.Fatalf("status %d location %q", p.Status, p.Location)
		}
	})

	t.Run("without a hint the user confirms first", func(t *testing.T) {
		b := servertest.NewBrowser(t)
		tok, _ := ta.one.login(t, b, ta.fx)
		q := url.Values{"client_id": {ta.fx.ClientID}, "post_logout_redirect_uri": {ta.logout}, "state": {"xyz"}}
		p := b.Get(endSession + q.Encode())
		if p.Status != http.StatusOK || !strings.Contains(p.Body, "Sign out?") {
			t.Fatalf("expected confirmation page, got %d", p.Status)
		}
		if _, err := ta.one.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok)); err != nil {
			t.Fatal("the session ended before confirmation")
		}
		f := p.Form(t)
		// A forged confirmation (no CSRF token) changes nothing.
		forged := servertest.NewBrowser(t)
		forged.Client.Jar = b.Client.Jar
		if fp := forged.PostForm(f.Action, url.Values{"client_id": {ta.fx.ClientID}}); fp.Status != http.StatusForbidden {
			t.Fatalf("confirmation without CSRF token: %d", fp.Status)
		}
		p = b.Submit(f, nil)
		if p.Status != http.StatusFound || p.Location != ta.logout+"?state=xyz" {
			t.Fatalf("after confirmation: %d %q", p.Status, p.Location)
		}
		if _, err := ta.one.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok)); err == nil {
			t.Fatal("access token works after confirmed logout")
		}
	})

	t.Run("discovery advertises logout support", func(t *testing.T) {
		var m struct {
			EndSession         string `json:"end_session_endpoint"`
			Backchannel        bool   `json:"backchannel_logout_supported"`
			BackchannelSession bool   `json:"backchannel_logout_session_supported"`
			Frontchannel       *bool  `json:"frontchannel_logout_supported"`
		}
		if err := ta.one.provider.Claims(&m); err != nil {
			t.Fatal(err)
		}
		if m.EndSession != inst.Issuer("acme")+"/end_session" || !m.Backchannel || !m.BackchannelSession || m.Frontchannel == nil || *m.Frontchannel {
			t.Fatalf("discovery: %+v", m)
		}
	})
}

func TestBackchannelLogout_RetriedWhenApplicationIsDown(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			ta := setupTwoApps(t, backend)
			ta.bcOne.failing.Store(true)
			b := servertest.NewBrowser(t)
			tok, idt := ta.one.login(t, b, ta.fx)
			q := url.Values{"id_token_hint": {tok.Extra("id_token").(string)}, "post_logout_redirect_uri": {ta.logout}}
			if p := b.Get(ta.inst.Issuer("acme") + "/end_session?" + q.Encode()); p.Status != http.StatusFound {
				t.Fatalf("end_session: %d", p.Status)
			}
			testkit.WaitFor(t, "a first failed attempt", func() bool { return ta.bcOne.calls.Load() >= 1 })
			ta.bcOne.failing.Store(false)
			// The retry is due after the backoff; move the clock past it.
			ta.inst.Clock.Advance(10 * time.Second)
			testkit.WaitFor(t, "the retried delivery", func() bool { return len(ta.bcOne.got()) == 1 })

			var sid string
			_ = idt.Claims(&struct {
				SID *string `json:"sid"`
			}{&sid})
			ds, err := ta.inst.Env.Store.ListBackchannel(context.Background(), "acme", sid)
			if err != nil || len(ds) != 1 {
				t.Fatalf("deliveries: %v %v", ds, err)
			}
			testkit.WaitFor(t, "the delivery to be recorded", func() bool {
				ds, _ = ta.inst.Env.Store.ListBackchannel(context.Background(), "acme", sid)
				return !ds[0].DeliveredAt.IsZero()
			})
			attempts, err := ta.inst.Env.Store.ListBackchannelAttempts(context.Background(), "acme", ds[0].ID)
			if err != nil || len(attempts) != 2 || attempts[0].Status != http.StatusServiceUnavailable || attempts[1].Status != http.StatusOK {
				t.Fatalf("attempts: %+v %v", attempts, err)
			}
		})
	}
}

func TestSSO_SettingsPromptAndExpiry(t *testing.T) {
	ta := setupTwoApps(t, "sqlite")
	inst := ta.inst
	ctx := context.Background()

	t.Run("prompt=login asks again and renews auth_time", func(t *testing.T) {
		b := servertest.NewBrowser(t)
		_, first := ta.one.login(t, b, ta.fx)
		inst.Clock.Advance(time.Minute)
		p := silent(t, b, ta.one, ta.fx.RedirectURI, oauth2.SetAuthURLParam("prompt", "login"))
		if p.Location != "" || len(p.Forms()) == 0 {
			t.Fatalf("prompt=login did not show the login page: %d %s", p.Status, p.Location)
		}
		_, second := ta.one.login(t, b, ta.fx, oauth2.SetAuthURLParam("prompt", "login"))
		var a1, a2 struct {
			AuthTime int64 `json:"auth_time"`
		}
		_ = first.Claims(&a1)
		_ = second.Claims(&a2)
		if a2.AuthTime <= a1.AuthTime {
			t.Fatalf("auth_time not renewed: %d then %d", a1.AuthTime, a2.AuthTime)
		}
	})

	t.Run("max_age older than the login asks again", func(t *testing.T) {
		b := servertest.NewBrowser(t)
		ta.one.login(t, b, ta.fx)
		inst.Clock.Advance(2 * time.Minute)
		p := silent(t, b, ta.two, ta.twoFx.RedirectURI, oauth2.SetAuthURLParam("max_age", "60"))
		if p.Location != "" {
			t.Fatalf("max_age=60 after 2 minutes must ask for a login, went to %s", p.Location)
		}
		if p = silent(t, b, ta.two, ta.twoFx.RedirectURI, oauth2.SetAuthURLParam("max_age", "3600")); !strings.Contains(p.Location, "code=") {
			t.Fatalf("max_age=3600 must be silent: %s", p.Location)
		}
	})

	t.Run("session expiry ends SSO", func(t *testing.T) {
		b := servertest.NewBrowser(t)
		ta.one.login(t, b, ta.fx)
		inst.Clock.Advance(time.Duration(domain.DefaultSessionLifetime+1) * time.Second)
		p := silent(t, b, ta.two, ta.twoFx.RedirectURI, oauth2.SetAuthURLParam("prompt", "none"))
		if !strings.Contains(p.Location, "error=login_required") {
			t.Fatalf("expired session still used: %s", p.Location)
		}
	})

	t.Run("SSO off: a login completes only its own request", func(t *testing.T) {
		off, on := false, true
		if _, err := inst.Env.Directory.UpdateOrg(ctx, inst.Actor, "acme", directory.OrgChanges{SSOEnabled: &off}); err != nil {
			t.Fatal(err)
		}
		defer func() {
			_, _ = inst.Env.Directory.UpdateOrg(ctx, inst.Actor, "acme", directory.OrgChanges{SSOEnabled: &on})
		}()
		b := servertest.NewBrowser(t)
		ta.one.login(t, b, ta.fx)
		p := silent(t, b, ta.two, ta.twoFx.RedirectURI)
		if p.Location != "" || len(p.Forms()) == 0 {
			t.Fatalf("with SSO off the second app must ask for a login: %d %s", p.Status, p.Location)
		}
		p = silent(t, b, ta.two, ta.twoFx.RedirectURI, oauth2.SetAuthURLParam("prompt", "none"))
		if !strings.Contains(p.Location, "error=login_required") {
			t.Fatalf("with SSO off prompt=none must fail: %s", p.Location)
		}
	})
}
