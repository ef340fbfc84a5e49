package server_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

func TestOrgIsolation_AcmeArtifactsAreWorthlessAtGlobex(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			s := startOP(t, backend)
			acme := s.client(s.fx)
			globexFx := s.inst.NewFixture(t, "globex", opRedirectURI)
			globex := s.client(globexFx)
			b := servertest.NewBrowser(t)
			tok := s.signIn(t, b, acme)

			t.Run("code", func(t *testing.T) {
				code, verifier := s.code(t, b, acme)
				// acme's client is unknown at globex ...
				atGlobex := acme
				atGlobex.org = "globex"
				s.exchange(t, atGlobex, authBasic, code, verifier).wantError(t, http.StatusUnauthorized, "invalid_client")
				// ... and globex's own client cannot redeem acme's code.
				viaGlobex := globex
				viaGlobex.redirectURI = acme.redirectURI
				s.exchange(t, viaGlobex, authBasic, code, verifier).wantError(t, http.StatusBadRequest, "invalid_grant")
				// Nothing was spent at acme either.
				s.exchange(t, acme, authBasic, code, verifier).tokens(t)
			})

			t.Run("access token", func(t *testing.T) {
				s.wantUserinfo(t, "globex", tok.Access, http.StatusUnauthorized)
				s.wantInactive(t, globex, tok.Access)
				s.wantUserinfo(t, "acme", tok.Access, http.StatusOK)
			})

			t.Run("refresh token", func(t *testing.T) {
				s.refresh(t, globex, tok.Refresh).wantError(t, http.StatusBadRequest, "invalid_grant")
				atGlobex := acme
				atGlobex.org = "globex"
				s.refresh(t, atGlobex, tok.Refresh).wantError(t, http.StatusUnauthorized, "invalid_client")
				// Revoking at globex does nothing to acme's token.
				if r := s.revoke(t, globex, authBasic, tok.Refresh); r.Status != http.StatusOK {
					t.Fatalf("revoke status %d", r.Status)
				}
				s.refresh(t, acme, tok.Refresh).tokens(t)
			})

			t.Run("session", func(t *testing.T) {
				// The browser does not even send acme's cookies to globex.
				for _, raw := range []string{s.inst.Issuer("globex") + "/authorize", s.inst.Issuer("acme-corp") + "/authorize", s.inst.URL + "/"} {
					u, _ := url.Parse(raw)
					for _, ck := range b.Client.Jar.Cookies(u) {
						if ck.Name == "lk_session" {
							t.Fatalf("acme's session cookie is sent to %s", u)
						}
					}
				}
				p := b.Get(s.authorizeURL(globex, url.Values{"prompt": {"none"}}))
				s.wantRedirectError(t, p, globex.redirectURI, "globex", "login_required")
				// Without prompt=none, globex asks for credentials.
				p = b.Follow(b.Get(s.authorizeURL(globex, nil)), globex.redirectURI)
				if p.Status != http.StatusOK || len(p.Forms()) == 0 || p.URL.Path != "/o/globex/login" {
					t.Fatalf("want globex's login page, got %d at %s", p.Status, p.URL)
				}
				// And acme still has its session.
				p = b.Get(s.authorizeURL(acme, url.Values{"prompt": {"none"}}))
				if loc, _ := url.Parse(p.Location); loc == nil || loc.Query().Get("code") == "" {
					t.Fatalf("acme's silent sign-in failed: %d %s", p.Status, p.Location)
				}
			})

			t.Run("application", func(t *testing.T) {
				// acme's client_id at globex's authorization endpoint is unknown: error page, no redirect.
				atGlobex := acme
				atGlobex.org = "globex"
				p := b.Get(s.authorizeURL(atGlobex, nil))
				if p.Status != http.StatusBadRequest || p.Location != "" {
					t.Fatalf("status %d, Location %q", p.Status, p.Location)
				}
			})
		})
	}
}
