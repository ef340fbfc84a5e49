package server_test

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
			c := s.client(s.fx)
			b := servertest.NewBrowser(t)

			t.Run("revoking an access token kills it", func(t *testing.T) {
				tok := s.signIn(t, b, c)
				s.wantUserinfo(t, c.org, tok.Access, http.StatusOK)
				r := s.revoke(t, c, authBasic, tok.Access)
				if r.Status != http.StatusOK {
					t.Fatalf("revoke status = %d\n%s", r.Status, r.Body)
				}
				s.wantUserinfo(t, c.org, tok.Access, http.StatusUnauthorized)
				s.wantInactive(t, c, tok.Access)
			})

			t.Run("revoking a refresh token kills its family", func(t *testing.T) {
				tok := s.signIn(t, b, c)
				rotated := s.refresh(t, c, tok.Refresh).tokens(t)
				r := s.revoke(t, c, authPost, rotated.Refresh)
				if r.Status != http.StatusOK {
					t.Fatalf("revoke status = %d\n%s", r.Status, r.Body)
				}
				s.refresh(t, c, rotated.Refresh).wantError(t, http.StatusBadRequest, "invalid_grant")
				for _, at := range []string{tok.Access, rotated.Access} {
					s.wantUserinfo(t, c.org, at, http.StatusUnauthorized)
					s.wantInactive(t, c, at)
				}
			})

			t.Run("an unknown token is answered 200", func(t *testing.T) {
				r := s.revoke(t, c, authBasic, "no-such-token")
				if r.Status != http.StatusOK {
					t.Fatalf("revoke status = %d\n%s", r.Status, r.Body)
				}
			})

			t.Run("another client's token is answered 200 and left alone", func(t *testing.T) {
				tok := s.signIn(t, b, c)
				other := s.newApp(t, c.org, false, noChanges())
				for _, raw := range []string{tok.Access, tok.Refresh} {
					if r := s.revoke(t, other, authBasic, raw); r.Status != http.StatusOK {
						t.Fatalf("revoke status = %d\n%s", r.Status, r.Body)
					}
				}
				s.wantUserinfo(t, c.org, tok.Access, http.StatusOK)
				s.refresh(t, c, tok.Refresh).tokens(t)
			})

			t.Run("without client authentication it is refused", func(t *testing.T) {
				tok := s.signIn(t, b, c)
				r := s.backChannel(t, c, "/revoke", authOmit, url.Values{"token": {tok.Access}})
				r.wantError(t, http.StatusUnauthorized, "invalid_client")
				bad := c
				bad.secret = "wrong"
				r = s.revoke(t, bad, authBasic, tok.Access)
				r.wantError(t, http.StatusUnauthorized, "invalid_client")
				if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic") {
					t.Fatalf("invalid_client after Basic without a Basic challenge: %q", r.Header.Get("WWW-Authenticate"))
				}
				s.wantUserinfo(t, c.org, tok.Access, http.StatusOK)
			})
		})
	}
}

func TestIntrospect_RFC7662(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			s := startOP(t, backend)
			c := s.client(s.fx)
			tok := s.signIn(t, servertest.NewBrowser(t), c)

			t.Run("an active access token is described", func(t *testing.T) {
				m := s.wantActive(t, c, tok.Access)
				want := map[string]any{
					"scope": "openid profile email", "client_id": c.id, "username": "alice", "sub": s.fx.Sub,
					"iss": s.inst.Issuer(c.org), "token_type": "Bearer",
				}
				for k, v := range want {
					if m[k] != v {
						t.Errorf("%s = %v, want %v", k, m[k], v)
					}
				}
				exp, _ := m["exp"].(float64)
				iat, _ := m["iat"].(float64)
				now := float64(s.inst.Clock.Now().Unix())
				if iat < now-60 || iat > now+1 || exp-iat != 3600 {
					t.Errorf("iat = %v, exp = %v (now %v)", iat, exp, now)
				}
			})

			t.Run("an active refresh token is described", func(t *testing.T) {
				m := s.wantActive(t, c, tok.Refresh)
				if m["client_id"] != c.id || m["sub"] != s.fx.Sub || m["token_type"] == "Bearer" {
					t.Fatalf("introspection = %v", m)
				}
			})

			t.Run("another client's token is inactive", func(t *testing.T) {
				other := s.newApp(t, c.org, false, noChanges())
				s.wantInactive(t, other, tok.Access)
				s.wantInactive(t, other, tok.Refresh)
			})

			t.Run("another organization's token is inactive", func(t *testing.T) {
				globex := s.inst.NewFixture(t, "globex", opRedirectURI)
				s.wantInactive(t, s.client(globex), tok.Access)
				// acme's client is unknown at globex.
				r := s.backChannel(t, opClient{org: "globex", id: c.id, secret: c.secret}, "/introspect", authBasic, url.Values{"token": {tok.Access}})
				r.wantError(t, http.StatusUnauthorized, "invalid_client")
			})

			t.Run("a public client may not introspect", func(t *testing.T) {
				pub := s.newApp(t, c.org, true, noChanges())
				r := s.backChannel(t, pub, "/introspect", authNone, url.Values{"token": {tok.Access}})
				r.wantError(t, http.StatusUnauthorized, "invalid_client")
			})

			t.Run("without client authentication it is refused", func(t *testing.T) {
				r := s.backChannel(t, c, "/introspect", authOmit, url.Values{"token": {tok.Access}})
				r.wantError(t, http.StatusUnauthorized, "invalid_client")
			})

			t.Run("an unknown token is inactive", func(t *testing.T) {
				s.wantInactive(t, c, "no-such-token")
			})

			t.Run("an expired token is inactive", func(t *testing.T) {
				s.inst.Clock.Advance(time.Hour + time.Second)
				s.wantInactive(t, c, tok.Access)
				s.wantActive(t, c, tok.Refresh) // refresh tokens live longer
			})
		})
	}
}
