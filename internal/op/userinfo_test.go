package op_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

func TestUserinfo_BearerTokenRules(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			s := startOP(t, backend)
			c := s.Client(s.Fx)
			b := servertest.NewBrowser(t)
			tok := s.SignIn(t, b, c)
			endpoint := s.Inst.Issuer(c.Org) + "/userinfo"

			t.Run("GET with the Authorization header", func(t *testing.T) {
				r := s.WantUserinfo(t, c.Org, tok.Access, http.StatusOK)
				m := r.JSON(t)
				if m["sub"] != s.Fx.Sub || m["preferred_username"] != "alice" || m["email"] != "alice@example.com" || m["email_verified"] != true {
					t.Fatalf("userinfo = %v", m)
				}
			})

			t.Run("POST with the token in the form body", func(t *testing.T) {
				r := s.PostRaw(t, c.Org, "/userinfo", "application/x-www-form-urlencoded", url.Values{"access_token": {tok.Access}}.Encode(), nil)
				if r.Status != http.StatusOK || r.Str(t, "sub") != s.Fx.Sub {
					t.Fatalf("status %d\n%s", r.Status, r.Body)
				}
			})

			t.Run("POST with the Authorization header", func(t *testing.T) {
				r := s.PostRaw(t, c.Org, "/userinfo", "", "", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok.Access) })
				if r.Status != http.StatusOK || r.Str(t, "sub") != s.Fx.Sub {
					t.Fatalf("status %d\n%s", r.Status, r.Body)
				}
			})

			t.Run("the token in the query string is not accepted", func(t *testing.T) {
				for _, method := range []string{http.MethodGet, http.MethodPost} {
					req, _ := http.NewRequest(method, endpoint+"?access_token="+url.QueryEscape(tok.Access), nil)
					r := s.Send(t, req)
					if r.Status != http.StatusUnauthorized || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
						t.Fatalf("%s: status %d, WWW-Authenticate %q", method, r.Status, r.Header.Get("WWW-Authenticate"))
					}
				}
			})

			t.Run("no token gets a bare challenge", func(t *testing.T) {
				req, _ := http.NewRequest(http.MethodGet, endpoint, nil)
				r := s.Send(t, req)
				h := r.Header.Get("WWW-Authenticate")
				// RFC 6750 §3.1: no error code when no credentials were sent.
				if r.Status != http.StatusUnauthorized || !strings.HasPrefix(h, "Bearer") || strings.Contains(h, "error=") || strings.Contains(r.Body, "error") {
					t.Fatalf("status %d, WWW-Authenticate %q, body %q", r.Status, h, r.Body)
				}
			})

			t.Run("another scheme is a bad request", func(t *testing.T) {
				req, _ := http.NewRequest(http.MethodGet, endpoint, nil)
				req.SetBasicAuth("alice", s.Fx.Password)
				r := s.Send(t, req)
				r.WantError(t, http.StatusBadRequest, "invalid_request")
			})

			t.Run("a refresh token is not an access token", func(t *testing.T) {
				s.WantUserinfo(t, c.Org, tok.Refresh, http.StatusUnauthorized)
			})

			t.Run("an unknown token", func(t *testing.T) {
				s.WantUserinfo(t, c.Org, "no-such-token", http.StatusUnauthorized).WantError(t, http.StatusUnauthorized, "invalid_token")
			})

			t.Run("claims follow the granted scope", func(t *testing.T) {
				narrow := s.SignIn(t, b, c, url.Values{"scope": {"openid"}})
				m := s.WantUserinfo(t, c.Org, narrow.Access, http.StatusOK).JSON(t)
				if m["sub"] != s.Fx.Sub || len(m) != 1 {
					t.Fatalf("openid-only userinfo = %v", m)
				}
			})

			t.Run("an expired token", func(t *testing.T) {
				s.Inst.Clock.Advance(time.Hour + time.Second)
				r := s.WantUserinfo(t, c.Org, tok.Access, http.StatusUnauthorized)
				r.WantError(t, http.StatusUnauthorized, "invalid_token")
			})
		})
	}
}
