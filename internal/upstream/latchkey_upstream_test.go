package upstream_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/latchkey/latchkey/internal/demo"
	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/testkit"
)

// TestFederatedLogin_LatchkeyOrganizationAsUpstream: organization corp of
// a Latchkey is the upstream IdP of organization acme (its configuration
// URL is corp's issuer, its client an application of corp whose redirect
// URI is acme's ISS/callback). acme's alice signs in with corp's hosted
// password login, logs out through corp, and is logged out by corp's
// back-channel logout. Here the test controls the authorization request
// at the upstream, which also lets it check the nonce.
func TestFederatedLogin_LatchkeyOrganizationAsUpstream(t *testing.T) {
	t.Parallel()
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			inst := servertest.Start(t, backend)
			ctx := context.Background()
			acmeISS, corpISS := inst.Issuer("acme"), inst.Issuer("corp")
			corp := inst.NewFixture(t, "corp", acmeISS+"/callback")
			if _, err := inst.Env.Directory.UpdateApp(ctx, inst.Actor, "corp", corp.ClientID, directory.AppChanges{
				PostLogoutRedirectURIs: &[]string{acmeISS + "/logout/callback"},
				BackchannelLogoutURI:   testkit.Ptr(acmeISS + "/backchannel"),
			}); err != nil {
				t.Fatal(err)
			}
			acme := inst.NewFixture(t, "acme", appRedirect)
			var a *app
			bc := newBackchannelRP(t, func() *oidc.Provider { return a.provider }, acme.ClientID)
			if _, err := inst.Env.Directory.UpdateApp(ctx, inst.Actor, "acme", acme.ClientID, directory.AppChanges{
				PostLogoutRedirectURIs: &[]string{appLoggedOut}, BackchannelLogoutURI: testkit.Ptr(bc.srv.URL + "/bc"),
			}); err != nil {
				t.Fatal(err)
			}
			setUpstream(t, inst, "acme", directory.UpstreamChanges{
				ConfigURL: testkit.Ptr(corpISS), ClientID: testkit.Ptr(corp.ClientID), ClientSecret: testkit.Ptr(corp.ClientSecret),
				EndUpstreamSession: testkit.Ptr(true), DisplayName: testkit.Ptr("Corp"),
			}, true)
			a = newApp(t, acmeISS, acme)

			// signIn goes from the application to corp's login page, signs
			// in there and returns the application's callback.
			signIn := func(t *testing.T, b *servertest.Browser, fl flow) *servertest.Page {
				t.Helper()
				p := b.Follow(b.Get(fl.url), appRedirect)
				if p.Status != http.StatusOK || !strings.HasPrefix(p.URL.String(), corpISS+"/login") {
					t.Fatalf("expected corp's login page, got %d at %s\n%s", p.Status, p.URL, p.Body)
				}
				return b.Follow(b.Login(p, corp.UserName, corp.Password), appRedirect)
			}

			var signedIn *servertest.Browser
			var signedInSID string
			t.Run("sign in with corp's password login", func(t *testing.T) {
				b := servertest.NewBrowser(t)
				fl := a.request()
				p := signIn(t, b, fl)
				_, c := a.finish(t, fl, p.Location)
				if c.Subject != acme.Sub || c.Subject == corp.Sub || c.PreferredUsername != "alice" || !slices.Equal(c.AMR, []string{"fed"}) {
					t.Fatalf("application id_token: sub %q preferred_username %q amr %v; want acme's alice %q, alice, [fed]",
						c.Subject, c.PreferredUsername, c.AMR, acme.Sub)
				}
				if u := user(t, inst, "acme", "alice"); u.UpstreamIssuer != corpISS || u.UpstreamSubject != corp.Sub {
					t.Fatalf("acme alice linked to %q %q, want corp's alice %q %q", u.UpstreamIssuer, u.UpstreamSubject, corpISS, corp.Sub)
				}
				wantAudit(t, inst, "corp", "login.password", "ok", "alice")
				wantAudit(t, inst, "acme", "login.upstream", "ok", "alice")
				a.wantSession(t, b)

				// prompt=login and login_hint reach corp, which asks for the
				// password again, with the username filled in.
				fl = a.request(oauth2.SetAuthURLParam("prompt", "login"), oauth2.SetAuthURLParam("login_hint", "alice"))
				p = b.Follow(b.Get(fl.url), appRedirect)
				if p.Status != http.StatusOK || !strings.HasPrefix(p.URL.String(), corpISS+"/login") {
					t.Fatalf("prompt=login did not reach corp's login page: %d at %s", p.Status, p.URL)
				}
				form := p.Form(t)
				if !form.Has("password") || !strings.Contains(p.Body, "alice") {
					t.Fatalf("corp's login page did not take the login_hint:\n%s", p.Body)
				}
				p = b.Follow(b.Submit(form, map[string]string{"password": corp.Password}), appRedirect)
				if _, c2 := a.finish(t, fl, p.Location); c2.Subject != acme.Sub || c2.AuthTime < c.AuthTime {
					t.Fatalf("second login: %+v", c2)
				}
				signedIn, signedInSID = b, c.SID
			})

			t.Run("nonce mismatch", func(t *testing.T) {
				for name, edit := range map[string]func(url.Values){
					"changed": func(q url.Values) { q.Set("nonce", "a-nonce-of-the-attackers-choice") },
					"removed": func(q url.Values) { q.Del("nonce") },
				} {
					t.Run(name, func(t *testing.T) {
						b := servertest.NewBrowser(t)
						fl := a.request()
						p := b.Follow(b.Get(fl.url), corpISS+"/authorize")
						if !strings.HasPrefix(p.Location, corpISS+"/authorize?") {
							t.Fatalf("no authorization request to corp: %d at %s", p.Status, p.URL)
						}
						// The request reaches corp with another nonce; the
						// rest (state, PKCE) is Latchkey's own.
						p.Location = withQuery(t, p.Location, edit)
						p = b.Follow(p, appRedirect)
						p = b.Follow(b.Login(p, corp.UserName, corp.Password), appRedirect)
						wantErrorPage(t, p, http.StatusBadRequest, "nonce")
						if p.URL.Path != "/o/acme/callback" {
							t.Fatalf("refused at %s, want the callback", p.URL)
						}
						wantAudit(t, inst, "acme", "login.upstream", "bad_nonce", "")
						a.wantNoSession(t, b)
					})
				}
			})

			t.Run("corp's new signing key is fetched", func(t *testing.T) {
				// Two rotations make a key active that was not even
				// pre-published when acme last fetched corp's JWKS.
				before, err := inst.Env.Store.ListSigningKeys(ctx, "corp")
				if err != nil {
					t.Fatal(err)
				}
				var keys []*domain.SigningKey
				for range 2 {
					if keys, err = inst.Env.Keys.Rotate(ctx, "corp", []string{"RS256"}); err != nil {
						t.Fatal(err)
					}
				}
				for _, k := range keys {
					if k.Alg == "RS256" && k.State == domain.KeyActive && slices.ContainsFunc(before, func(o *domain.SigningKey) bool { return o.KID == k.KID }) {
						t.Fatalf("the active key %s was known before the rotations", k.KID)
					}
				}
				b := servertest.NewBrowser(t)
				fl := a.request()
				if _, c := a.finish(t, fl, signIn(t, b, fl).Location); c.Subject != acme.Sub {
					t.Fatalf("sign-in after corp's key rotation: %+v", c)
				}
			})

			t.Run("logout chains through corp", func(t *testing.T) {
				b := servertest.NewBrowser(t)
				fl := a.request()
				tok, _ := a.finish(t, fl, signIn(t, b, fl).Location)
				corpSessions := activeSessions(t, inst, "corp", "alice")
				q := url.Values{"id_token_hint": {tok.Extra("id_token").(string)}, "post_logout_redirect_uri": {appLoggedOut}, "state": {"bye"}}
				p := b.Get(acmeISS + "/end_session?" + q.Encode())
				if !strings.HasPrefix(p.Location, corpISS+"/end_session?") {
					t.Fatalf("end_session: %d to %q, want corp's end_session", p.Status, p.Location)
				}
				if p = b.Follow(p, appLoggedOut); p.Location != appLoggedOut+"?state=bye" {
					t.Fatalf("logout ended at %q (%d at %s)\n%s", p.Location, p.Status, p.URL, p.Body)
				}
				a.wantNoSession(t, b)
				if n := activeSessions(t, inst, "corp", "alice"); n != corpSessions-1 {
					t.Fatalf("corp alice has %d sessions, had %d: corp's session did not end", n, corpSessions)
				}
				// A new sign-in has to go through corp's login page again.
				p = b.Follow(b.Get(a.request().url), appRedirect)
				if p.Status != http.StatusOK || !strings.HasPrefix(p.URL.String(), corpISS+"/login") {
					t.Fatalf("after logout: %d at %s, want corp's login page", p.Status, p.URL)
				}
			})

			t.Run("an id_token of corp is no logout token", func(t *testing.T) {
				if signedIn == nil {
					t.Skip("needs the first sign-in")
				}
				// corp issues an id_token without nonce for the very corp
				// session behind acme's session (same sid), to its client.
				corpApp := newApp(t, corpISS, corp)
				v := oauth2.GenerateVerifier()
				p := signedIn.Follow(signedIn.Get(corpApp.oauth.AuthCodeURL("s", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("prompt", "none"))), acmeISS+"/callback")
				cb, _ := url.Parse(p.Location)
				if !strings.HasPrefix(p.Location, acmeISS+"/callback?") || cb.Query().Get("code") == "" {
					t.Fatalf("no code from corp: %d to %q", p.Status, p.Location)
				}
				tok, err := corpApp.oauth.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(v))
				if err != nil {
					t.Fatal(err)
				}
				raw := tok.Extra("id_token").(string)
				idt, err := corpApp.verifier.Verify(ctx, raw)
				if err != nil {
					t.Fatal(err)
				}
				var c appClaims
				_ = idt.Claims(&c)
				acmeSess, err := inst.Env.Store.GetSession(ctx, "acme", signedInSID)
				if err != nil || c.Nonce != "" || c.SID == "" || c.SID != acmeSess.UpstreamSID {
					t.Fatalf("corp id_token nonce %q sid %q, acme session's upstream sid %q (%v)", c.Nonce, c.SID, acmeSess.UpstreamSID, err)
				}
				if status := postLogoutToken(t, acmeISS, url.Values{"logout_token": {raw}}); status != http.StatusBadRequest {
					t.Fatalf("an id_token as logout token: status %d, want 400", status)
				}
				a.wantSession(t, signedIn)
			})

			t.Run("corp's back-channel logout ends acme's session", func(t *testing.T) {
				if signedIn == nil {
					t.Skip("needs the first sign-in")
				}
				a.wantSession(t, signedIn)
				// alice signs out at corp itself.
				p := signedIn.Get(corpISS + "/logout")
				if p = signedIn.Submit(p.Form(t), nil); p.Status != http.StatusOK {
					t.Fatalf("corp sign-out: %d to %q", p.Status, p.Location)
				}
				testkit.WaitFor(t, "acme's application to hear of the logout", func() bool {
					got, _ := bc.got()
					return slices.ContainsFunc(got, func(c *demo.LogoutClaims) bool { return c.SID == signedInSID && c.Subject == acme.Sub })
				})
				if _, rejected := bc.got(); len(rejected) != 0 {
					t.Fatalf("acme's application rejected logout tokens: %v", rejected)
				}
				a.wantNoSession(t, signedIn)
				testkit.WaitFor(t, "acme's audit event", func() bool {
					e := audit(t, inst, "acme", "logout.upstream_backchannel")
					return e != nil && e.Actor == corp.Sub && e.Detail["sessions"] == "1"
				})
			})
		})
	}
}
