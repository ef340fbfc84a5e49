package op_test

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
			acme := s.Client(s.Fx)
			globexFx := s.Inst.NewFixture(t, "globex", servertest.OPRedirectURI)
			globex := s.Client(globexFx)
			b := servertest.NewBrowser(t)
			tok := s.SignIn(t, b, acme)

			t.Run("code", func(t *testing.T) {
				code, verifier := s.Code(t, b, acme)
				// acme's client is unknown at globex ...
				atGlobex := acme
				atGlobex.Org = "globex"
				s.Exchange(t, atGlobex, servertest.AuthBasic, code, verifier).WantError(t, http.StatusUnauthorized, "invalid_client")
				// ... and globex's own client cannot redeem acme's code.
				viaGlobex := globex
				viaGlobex.RedirectURI = acme.RedirectURI
				s.Exchange(t, viaGlobex, servertest.AuthBasic, code, verifier).WantError(t, http.StatusBadRequest, "invalid_grant")
				// Nothing was spent at acme either.
				s.Exchange(t, acme, servertest.AuthBasic, code, verifier).Tokens(t)
			})

			t.Run("access token", func(t *testing.T) {
				s.WantUserinfo(t, "globex", tok.Access, http.StatusUnauthorized)
				s.WantInactive(t, globex, tok.Access)
				s.WantUserinfo(t, "acme", tok.Access, http.StatusOK)
			})

			t.Run("refresh token", func(t *testing.T) {
				s.Refresh(t, globex, tok.Refresh).WantError(t, http.StatusBadRequest, "invalid_grant")
				atGlobex := acme
				atGlobex.Org = "globex"
				s.Refresh(t, atGlobex, tok.Refresh).WantError(t, http.StatusUnauthorized, "invalid_client")
				// Revoking at globex does nothing to acme's token.
				if r := s.Revoke(t, globex, servertest.AuthBasic, tok.Refresh); r.Status != http.StatusOK {
					t.Fatalf("revoke status %d", r.Status)
				}
				s.Refresh(t, acme, tok.Refresh).Tokens(t)
			})

			t.Run("session", func(t *testing.T) {
				// The browser does not even send acme's cookies to globex.
				for _, raw := range []string{s.Inst.Issuer("globex") + "/authorize", s.Inst.Issuer("acme-corp") + "/authorize", s.Inst.URL + "/"} {
					u, _ := url.Parse(raw)
					for _, ck := range b.Client.Jar.Cookies(u) {
						if ck.Name == "lk_session" {
							t.Fatalf("acme's session cookie is sent to %s", u)
						}
					}
				}
				p := b.Get(s.AuthorizeURL(globex, url.Values{"prompt": {"none"}}))
				s.WantRedirectError(t, p, globex.RedirectURI, "globex", "login_required")
				// Without prompt=none, globex asks for credentials.
				p = b.Follow(b.Get(s.AuthorizeURL(globex, nil)), globex.RedirectURI)
				if p.Status != http.StatusOK || len(p.Forms()) == 0 || p.URL.Path != "/o/globex/login" {
					t.Fatalf("want globex's login page, got %d at %s", p.Status, p.URL)
				}
				// And acme still has its session.
				p = b.Get(s.AuthorizeURL(acme, url.Values{"prompt": {"none"}}))
				if loc, _ := url.Parse(p.Location); loc == nil || loc.Query().Get("code") == "" {
					t.Fatalf("acme's silent sign-in failed: %d %s", p.Status, p.Location)
				}
			})

			t.Run("application", func(t *testing.T) {
				// acme's client_id at globex's authorization endpoint is unknown: error page, no redirect.
				atGlobex := acme
				atGlobex.Org = "globex"
				p := b.Get(s.AuthorizeURL(atGlobex, nil))
				if p.Status != http.StatusBadRequest || p.Location != "" {
					t.Fatalf("status %d, Location %q", p.Status, p.Location)
				}
			})
		})
	}
}
