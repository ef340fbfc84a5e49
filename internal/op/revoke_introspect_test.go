package op_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

func TestRevoke_RFC7009(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			s := startOP(t, backend)
			c := s.Client(s.Fx)
			b := servertest.NewBrowser(t)

			t.Run("revoking an access token kills it", func(t *testing.T) {
				tok := s.SignIn(t, b, c)
				s.WantUserinfo(t, c.Org, tok.Access, http.StatusOK)
				r := s.Revoke(t, c, servertest.AuthBasic, tok.Access)
				if r.Status != http.StatusOK {
					t.Fatalf("revoke status = %d\n%s", r.Status, r.Body)
				}
				s.WantUserinfo(t, c.Org, tok.Access, http.StatusUnauthorized)
				s.WantInactive(t, c, tok.Access)
			})

			t.Run("revoking a refresh token kills its family", func(t *testing.T) {
				tok := s.SignIn(t, b, c)
				rotated := s.Refresh(t, c, tok.Refresh).Tokens(t)
				r := s.Revoke(t, c, servertest.AuthPost, rotated.Refresh)
				if r.Status != http.StatusOK {
					t.Fatalf("revoke status = %d\n%s", r.Status, r.Body)
				}
				s.Refresh(t, c, rotated.Refresh).WantError(t, http.StatusBadRequest, "invalid_grant")
				for _, at := range []string{tok.Access, rotated.Access} {
					s.WantUserinfo(t, c.Org, at, http.StatusUnauthorized)
					s.WantInactive(t, c, at)
				}
			})

			t.Run("an unknown token is answered 200", func(t *testing.T) {
				r := s.Revoke(t, c, servertest.AuthBasic, "no-such-token")
				if r.Status != http.StatusOK {
					t.Fatalf("revoke status = %d\n%s", r.Status, r.Body)
				}
			})

			t.Run("another client's token is answered 200 and left alone", func(t *testing.T) {
				tok := s.SignIn(t, b, c)
				other := s.NewApp(t, c.Org, false, noChanges())
				for _, raw := range []string{tok.Access, tok.Refresh} {
					if r := s.Revoke(t, other, servertest.AuthBasic, raw); r.Status != http.StatusOK {
						t.Fatalf("revoke status = %d\n%s", r.Status, r.Body)
					}
				}
				s.WantUserinfo(t, c.Org, tok.Access, http.StatusOK)
				s.Refresh(t, c, tok.Refresh).Tokens(t)
			})

			t.Run("without client authentication it is refused", func(t *testing.T) {
				tok := s.SignIn(t, b, c)
				r := s.BackChannel(t, c, "/revoke", servertest.AuthOmit, url.Values{"token": {tok.Access}})
				r.WantError(t, http.StatusUnauthorized, "invalid_client")
				bad := c
				bad.Secret = "wrong"
				r = s.Revoke(t, bad, servertest.AuthBasic, tok.Access)
				r.WantError(t, http.StatusUnauthorized, "invalid_client")
				if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic") {
					t.Fatalf("invalid_client after Basic without a Basic challenge: %q", r.Header.Get("WWW-Authenticate"))
				}
				s.WantUserinfo(t, c.Org, tok.Access, http.StatusOK)
			})
		})
	}
}

func TestIntrospect_RFC7662(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			s := startOP(t, backend)
			c := s.Client(s.Fx)
			tok := s.SignIn(t, servertest.NewBrowser(t), c)

			t.Run("an active access token is described", func(t *testing.T) {
				m := s.WantActive(t, c, tok.Access)
				want := map[string]any{
					"scope": "openid profile email", "client_id": c.ID, "username": "alice", "sub": s.Fx.Sub,
					"iss": s.Inst.Issuer(c.Org), "token_type": "Bearer",
				}
				for k, v := range want {
					if m[k] != v {
						t.Errorf("%s = %v, want %v", k, m[k], v)
					}
				}
				exp, _ := m["exp"].(float64)
				iat, _ := m["iat"].(float64)
				now := float64(s.Inst.Clock.Now().Unix())
				if iat < now-60 || iat > now+1 || exp-iat != 3600 {
					t.Errorf("iat = %v, exp = %v (now %v)", iat, exp, now)
				}
			})

			t.Run("an active refresh token is described", func(t *testing.T) {
				m := s.WantActive(t, c, tok.Refresh)
				if m["client_id"] != c.ID || m["sub"] != s.Fx.Sub || m["token_type"] == "Bearer" {
					t.Fatalf("introspection = %v", m)
				}
			})

			t.Run("another client's token is inactive", func(t *testing.T) {
				other := s.NewApp(t, c.Org, false, noChanges())
				s.WantInactive(t, other, tok.Access)
				s.WantInactive(t, other, tok.Refresh)
			})

			t.Run("another organization's token is inactive", func(t *testing.T) {
				globex := s.Inst.NewFixture(t, "globex", servertest.OPRedirectURI)
				s.WantInactive(t, s.Client(globex), tok.Access)
				// acme's client is unknown at globex.
				r := s.BackChannel(t, servertest.OPClient{Org: "globex", ID: c.ID, Secret: c.Secret}, "/introspect", servertest.AuthBasic, url.Values{"token": {tok.Access}})
				r.WantError(t, http.StatusUnauthorized, "invalid_client")
			})

			t.Run("a public client may not introspect", func(t *testing.T) {
				pub := s.NewApp(t, c.Org, true, noChanges())
				r := s.BackChannel(t, pub, "/introspect", servertest.AuthNone, url.Values{"token": {tok.Access}})
				r.WantError(t, http.StatusUnauthorized, "invalid_client")
			})

			t.Run("without client authentication it is refused", func(t *testing.T) {
				r := s.BackChannel(t, c, "/introspect", servertest.AuthOmit, url.Values{"token": {tok.Access}})
				r.WantError(t, http.StatusUnauthorized, "invalid_client")
			})

			t.Run("an unknown token is inactive", func(t *testing.T) {
				s.WantInactive(t, c, "no-such-token")
			})

			t.Run("an expired token is inactive", func(t *testing.T) {
				s.Inst.Clock.Advance(time.Hour + time.Second)
				s.WantInactive(t, c, tok.Access)
				s.WantActive(t, c, tok.Refresh) // refresh tokens live longer
			})
		})
	}
}
