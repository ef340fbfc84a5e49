package op_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

func noChanges() directory.AppChanges { return directory.AppChanges{} }

func TestClientCredentials_IssuesAnApplicationTokenOnly(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			s := startOP(t, backend)
			c := s.Client(s.Fx)
			form := url.Values{"grant_type": {"client_credentials"}}

			for _, auth := range []struct {
				name string
				auth servertest.ClientAuth
			}{{"client_secret_basic", servertest.AuthBasic}, {"client_secret_post", servertest.AuthPost}} {
				t.Run(auth.name, func(t *testing.T) {
					r := s.BackChannel(t, c, "/token", auth.auth, form)
					tok := r.Tokens(t)
					m := r.JSON(t)
					if m["token_type"] != "Bearer" || m["expires_in"] == nil {
						t.Fatalf("token response = %v", m)
					}
					if tok.Refresh != "" || tok.ID != "" {
						t.Fatalf("client_credentials issued user artifacts: %s", r.Body)
					}
					// The token is real: introspection knows it, for the application itself.
					in := s.WantActive(t, c, tok.Access)
					if in["client_id"] != c.ID || in["sub"] != c.ID || in["username"] != nil {
						t.Fatalf("introspection = %v", in)
					}
					// It names no user, so userinfo has nothing to give.
					ui := s.Userinfo(t, c.Org, tok.Access)
					if ui.Status != http.StatusForbidden || !strings.Contains(ui.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
						t.Fatalf("userinfo = %d %q\n%s", ui.Status, ui.Header.Get("WWW-Authenticate"), ui.Body)
					}
					ui.WantError(t, http.StatusForbidden, "insufficient_scope")
				})
			}

			t.Run("user scopes are refused", func(t *testing.T) {
				for _, scope := range []string{"openid", "profile email", "offline_access"} {
					r := s.BackChannel(t, c, "/token", servertest.AuthBasic, url.Values{"grant_type": {"client_credentials"}, "scope": {scope}})
					r.WantError(t, http.StatusBadRequest, "invalid_scope")
				}
			})

			t.Run("an application without the grant is unauthorized", func(t *testing.T) {
				grants := []string{"authorization_code", "refresh_token"}
				plain := s.NewApp(t, c.Org, false, directory.AppChanges{GrantTypes: &grants})
				s.BackChannel(t, plain, "/token", servertest.AuthBasic, form).WantError(t, http.StatusBadRequest, "unauthorized_client")
			})

			t.Run("a public client is unauthorized", func(t *testing.T) {
				pub := s.NewApp(t, c.Org, true, noChanges())
				s.BackChannel(t, pub, "/token", servertest.AuthNone, form).WantError(t, http.StatusBadRequest, "unauthorized_client")
			})

			t.Run("a wrong secret gets nothing", func(t *testing.T) {
				bad := c
				bad.Secret = "not-the-secret"
				s.BackChannel(t, bad, "/token", servertest.AuthBasic, form).WantError(t, http.StatusUnauthorized, "invalid_client")
			})
		})
	}
}
