package upstream_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/testkit"
)

const orgLogoutPage = "http://127.0.0.1:9/org/signed-out"

// hops follows redirects from p like Browser.Follow, and also returns
// every URL fetched on the way.
func hops(t *testing.T, b *servertest.Browser, p *servertest.Page, stop string) ([]string, *servertest.Page) {
	t.Helper()
	var seen []string
	for i := 0; i < 20; i++ {
		if p.Location == "" || strings.HasPrefix(p.Location, stop) {
			return seen, p
		}
		seen = append(seen, p.Location)
		p = b.Get(p.Location)
	}
	t.Fatalf("too many redirects, last at %s", p.URL)
	return nil, nil
}

// upstreamSessionAlive reports whether the browser still has a session at
// the upstream: with the upstream's automatic login off, a new upstream
// login only gets back to ISS/callback without a form if it has one.
func upstreamSessionAlive(t *testing.T, f *fed, b *servertest.Browser) bool {
	t.Helper()
	f.up.SetAutoLogin(t, "")
	defer f.up.SetAutoLogin(t, "u1")
	iss := f.acme().iss
	p := b.Follow(b.Get(iss+"/login/upstream"), iss+"/callback")
	if strings.HasPrefix(p.Location, iss+"/callback") {
		return true
	}
	if p.Status != http.StatusOK || !strings.HasPrefix(p.URL.String(), f.up.Issuer+"/interaction/") || !strings.Contains(p.Body, `name="login"`) {
		t.Fatalf("neither back at the callback nor at the upstream login form: %d at %s\n%s", p.Status, p.URL, p.Body)
	}
	return false
}

// TestFederatedLogout_ChainsThroughTheUpstream: with "end upstream session"
// on, an application's logout at Latchkey goes through the upstream's
// end_session_endpoint and comes back to the application; with it off,
// Latchkey's own sign-out ends on the organization's logout page.
func TestFederatedLogout_ChainsThroughTheUpstream(t *testing.T) {
	t.Parallel()
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			f := startFed(t, backend, fedOptions{Conn: directory.UpstreamChanges{EndUpstreamSession: testkit.Ptr(true)}})
			acme, inst := f.acme(), f.inst
			ctx := context.Background()
			upProvider, err := oidc.NewProvider(ctx, f.up.Issuer)
			if err != nil {
				t.Fatal(err)
			}
			var upMeta struct {
				EndSession string `json:"end_session_endpoint"`
			}
			if err := upProvider.Claims(&upMeta); err != nil || upMeta.EndSession == "" {
				t.Fatalf("upstream end_session_endpoint: %q %v", upMeta.EndSession, err)
			}
			var logoutCallback string

			t.Run("RP-initiated logout chains through the upstream and returns", func(t *testing.T) {
				b := servertest.NewBrowser(t)
				tok, c := acme.app.login(t, b)
				if !upstreamSessionAlive(t, f, b) {
					t.Fatal("no upstream session after the federated login: the check below would prove nothing")
				}

				q := url.Values{"id_token_hint": {tok.Extra("id_token").(string)}, "post_logout_redirect_uri": {appLoggedOut}, "state": {"bye-state"}}
				p := b.Get(acme.iss + "/end_session?" + q.Encode())
				if p.Status != http.StatusFound || !strings.HasPrefix(p.Location, upMeta.EndSession+"?") {
					t.Fatalf("end_session: %d to %q, want the upstream's %s\n%s", p.Status, p.Location, upMeta.EndSession, p.Body)
				}
				// Latchkey's session is over before the browser leaves.
				if n := activeSessions(t, inst, "acme", "alice"); n != 0 {
					t.Fatalf("%d active sessions while at the upstream", n)
				}
				up, _ := url.Parse(p.Location)
				uq := up.Query()
				hint, err := upProvider.Verifier(&oidc.Config{ClientID: upstreamClientID("acme")}).Verify(ctx, uq.Get("id_token_hint"))
				if err != nil || hint.Subject != "u1" {
					t.Fatalf("id_token_hint sent upstream is not the upstream's id_token for u1: %v %+v", err, hint)
				}
				if uq.Get("post_logout_redirect_uri") != acme.iss+"/logout/callback" || len(uq.Get("state")) < 22 || uq.Get("state") == "bye-state" {
					t.Fatalf("upstream logout request: %v", uq)
				}

				seen, p := hops(t, b, p, appLoggedOut)
				if p.Location != appLoggedOut+"?state=bye-state" {
					t.Fatalf("logout ended at %q (status %d at %s), want %s?state=bye-state\n%s", p.Location, p.Status, p.URL, appLoggedOut, p.Body)
				}
				for _, u := range seen {
					if strings.HasPrefix(u, acme.iss+"/logout/callback?") {
						logoutCallback = u
					}
				}
				if logoutCallback == "" {
					t.Fatalf("the upstream did not return through ISS/logout/callback: %v", seen)
				}

				// Both sessions are gone.
				if upstreamSessionAlive(t, f, b) {
					t.Fatal("the upstream session survived the chained logout")
				}
				acme.app.wantNoSession(t, b)
				if acme.app.refreshWorks(tok) {
					t.Fatal("the refresh token survived the logout")
				}
				// The application heard of it by back-channel too.
				testkit.WaitFor(t, "the application's back-channel logout", func() bool { got, _ := acme.bc.got(); return len(got) == 1 })
				if got, _ := acme.bc.got(); got[0].SID != c.SID || got[0].Subject != acme.fx.Sub {
					t.Fatalf("logout token sid/sub %q/%q, want %q/%q", got[0].SID, got[0].Subject, c.SID, acme.fx.Sub)
				}
			})

			t.Run("the upstream's return is single use", func(t *testing.T) {
				if logoutCallback == "" {
					t.Skip("needs the chained logout above")
				}
				b := servertest.NewBrowser(t)
				p := b.Get(logoutCallback)
				if p.Status != http.StatusFound || strings.HasPrefix(p.Location, appLoggedOut) {
					t.Fatalf("replayed logout callback: %d to %q", p.Status, p.Location)
				}
				// An unknown state leads nowhere the request names.
				p = b.Get(acme.iss + "/logout/callback?state=forged")
				if p.Status != http.StatusFound || !strings.HasPrefix(p.Location, acme.iss+"/") {
					t.Fatalf("forged logout callback: %d to %q", p.Status, p.Location)
				}
			})

			t.Run("an unreachable upstream does not stop the logout", func(t *testing.T) {
				b := servertest.NewBrowser(t)
				tok, _ := acme.app.login(t, b)
				setUpstream(t, inst, "acme", directory.UpstreamChanges{ConfigURL: testkit.Ptr("http://" + testkit.ClosedPort(t))}, false)
				defer setUpstream(t, inst, "acme", directory.UpstreamChanges{ConfigURL: testkit.Ptr(f.up.Issuer)}, false)
				q := url.Values{"id_token_hint": {tok.Extra("id_token").(string)}, "post_logout_redirect_uri": {appLoggedOut}, "state": {"s3"}}
				p := b.Get(acme.iss + "/end_session?" + q.Encode())
				if p.Status != http.StatusFound || p.Location != appLoggedOut+"?state=s3" {
					t.Fatalf("end_session with the upstream down: %d to %q\n%s", p.Status, p.Location, p.Body)
				}
				acme.app.wantNoSession(t, b)
			})

			t.Run("Latchkey's own sign-out chains and ends on the logout page", func(t *testing.T) {
				setUpstream(t, inst, "acme", directory.UpstreamChanges{LogoutURL: testkit.Ptr(orgLogoutPage)}, false)
				b := servertest.NewBrowser(t)
				acme.app.login(t, b)
				p := b.Get(acme.iss + "/logout")
				p = b.Submit(p.Form(t), nil)
				if !strings.HasPrefix(p.Location, upMeta.EndSession+"?") {
					t.Fatalf("confirmed sign-out: %d to %q, want the upstream", p.Status, p.Location)
				}
				if _, p = hops(t, b, p, orgLogoutPage); p.Location != orgLogoutPage {
					t.Fatalf("sign-out ended at %q (status %d at %s), want %s", p.Location, p.Status, p.URL, orgLogoutPage)
				}
				if upstreamSessionAlive(t, f, b) {
					t.Fatal("the upstream session survived")
				}
				acme.app.wantNoSession(t, b)
			})

			t.Run("without upstream logout: the logout page, the upstream untouched", func(t *testing.T) {
				setUpstream(t, inst, "acme", directory.UpstreamChanges{EndUpstreamSession: testkit.Ptr(false), LogoutURL: testkit.Ptr(orgLogoutPage)}, false)
				b := servertest.NewBrowser(t)
				acme.app.login(t, b)
				p := b.Get(acme.iss + "/logout")
				if p.Status != http.StatusOK {
					t.Fatalf("GET /logout: %d", p.Status)
				}
				p = b.Submit(p.Form(t), nil)
				if p.Status != http.StatusFound || p.Location != orgLogoutPage {
					t.Fatalf("confirmed sign-out: %d to %q, want %s", p.Status, p.Location, orgLogoutPage)
				}
				acme.app.wantNoSession(t, b)
				if !upstreamSessionAlive(t, f, b) {
					t.Fatal("the upstream session ended although the connection says not to")
				}

				// An application's logout returns to the application, not to the logout page.
				b = servertest.NewBrowser(t)
				tok, _ := acme.app.login(t, b)
				q := url.Values{"id_token_hint": {tok.Extra("id_token").(string)}, "post_logout_redirect_uri": {appLoggedOut}, "state": {"s2"}}
				p = b.Get(acme.iss + "/end_session?" + q.Encode())
				if p.Status != http.StatusFound || p.Location != appLoggedOut+"?state=s2" {
					t.Fatalf("end_session: %d to %q", p.Status, p.Location)
				}
				acme.app.wantNoSession(t, b)
			})
		})
	}
}
