package server_test

import (
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

func TestRefresh_RotatesAndReuseRevokesTheWholeFamily(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			s := startOP(t, backend)
			c := s.client(s.fx)
			b := servertest.NewBrowser(t)

			t.Run("rotation, then reuse", func(t *testing.T) {
				first := s.signIn(t, b, c)
				if first.Refresh == "" {
					t.Fatal("no refresh_token from the code exchange")
				}

				second := s.refresh(t, c, first.Refresh).tokens(t)
				if second.Refresh == "" || second.Refresh == first.Refresh {
					t.Fatalf("refresh token not rotated: %q then %q", first.Refresh, second.Refresh)
				}
				if second.Access == first.Access || second.ID == "" {
					t.Fatalf("refresh did not issue a new access token and id_token: %+v", second)
				}
				// Before the reuse, the whole family is alive.
				for _, at := range []string{first.Access, second.Access} {
					s.wantUserinfo(t, c.org, at, http.StatusOK)
				}
				s.wantActive(t, c, second.Refresh)
				s.wantInactive(t, c, first.Refresh) // rotated

				// Presenting the rotated token again after the reuse
				// interval (30 s by default) is refused ...
				s.inst.Clock.Advance(31 * time.Second)
				s.refresh(t, c, first.Refresh).wantError(t, http.StatusBadRequest, "invalid_grant")

				// ... and proves a copy exists: everything of the family dies.
				s.refresh(t, c, second.Refresh).wantError(t, http.StatusBadRequest, "invalid_grant")
				for _, at := range []string{first.Access, second.Access} {
					s.wantUserinfo(t, c.org, at, http.StatusUnauthorized)
					s.wantInactive(t, c, at)
				}
				s.wantInactive(t, c, second.Refresh)
			})

			t.Run("the refreshed id_token keeps who and when (OIDC Core 12.2)", func(t *testing.T) {
				first := s.signIn(t, b, c)
				second := s.refresh(t, c, first.Refresh).tokens(t)
				a, z := jwtPart(t, first.ID, 1), jwtPart(t, second.ID, 1)
				for _, k := range []string{"iss", "sub", "aud", "auth_time", "sid", "azp"} {
					if a[k] != z[k] || a[k] == nil {
						t.Errorf("%s: %v at sign-in, %v after refresh", k, a[k], z[k])
					}
				}
			})

			t.Run("reuse leaves other families alone", func(t *testing.T) {
				victim := s.signIn(t, b, c)
				bystander := s.signIn(t, b, c) // same user and session, another grant
				s.refresh(t, c, victim.Refresh).tokens(t)
				s.inst.Clock.Advance(31 * time.Second)
				s.refresh(t, c, victim.Refresh).wantError(t, http.StatusBadRequest, "invalid_grant")
				s.wantUserinfo(t, c.org, bystander.Access, http.StatusOK)
				s.refresh(t, c, bystander.Refresh).tokens(t)
			})

			t.Run("another client's refresh token is refused", func(t *testing.T) {
				other := s.newApp(t, c.org, false, noChanges())
				tok := s.signIn(t, b, c)
				s.refresh(t, other, tok.Refresh).wantError(t, http.StatusBadRequest, "invalid_grant")
				// The failed attempt neither rotated nor revoked the owner's token.
				s.refresh(t, c, tok.Refresh).tokens(t)
			})

			// Last: it moves the clock past the session's end.
			defer t.Run("refresh tokens end with the session unless offline_access was granted", func(t *testing.T) {
				online := s.signIn(t, b, c)
				offline := s.signIn(t, b, c, url.Values{"scope": {"openid offline_access"}})
				s.inst.Clock.Advance(10*time.Hour + time.Minute) // the default session lifetime is 10 h
				s.refresh(t, c, online.Refresh).wantError(t, http.StatusBadRequest, "invalid_grant")
				next := s.refresh(t, c, offline.Refresh).tokens(t)
				s.wantUserinfo(t, c.org, next.Access, http.StatusOK)
			})

			t.Run("an access token is not a refresh token", func(t *testing.T) {
				tok := s.signIn(t, b, c)
				s.refresh(t, c, tok.Access).wantError(t, http.StatusBadRequest, "invalid_grant")
				s.wantUserinfo(t, c.org, tok.Access, http.StatusOK)
			})
		})
	}
}

// TestRefresh_ConcurrentRefreshesOfOneTokenAllSucceedWithinTheReuseInterval:
// a web server's parallel requests (mod_auth_openidc, oauth2-proxy) refresh
// the same token at once. Within the application's reuse interval every one
// gets tokens of the same family; a reuse after it revokes the family.
func TestRefresh_ConcurrentRefreshesOfOneTokenAllSucceedWithinTheReuseInterval(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			s := startOP(t, backend)
			c := s.client(s.fx)
			b := servertest.NewBrowser(t)
			first := s.signIn(t, b, c)

			const parallel = 10
			results := make([]*opResponse, parallel)
			var wg sync.WaitGroup
			for i := range parallel {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i] = s.refresh(t, c, first.Refresh)
				}()
			}
			wg.Wait()
			var issued []opTokens
			for i, r := range results {
				if r.Status != http.StatusOK {
					t.Fatalf("refresh %d of %d: %d %s", i+1, parallel, r.Status, r.Body)
				}
				tok := r.tokens(t)
				if tok.Refresh == "" || tok.Refresh == first.Refresh {
					t.Fatalf("refresh %d: no new refresh token", i+1)
				}
				issued = append(issued, tok)
			}
			// Every answer works: its access token and its refresh token.
			for _, tok := range issued {
				s.wantUserinfo(t, c.org, tok.Access, http.StatusOK)
				s.wantActive(t, c, tok.Refresh)
			}
			next := s.refresh(t, c, issued[3].Refresh).tokens(t)

			// Still within the interval, a late duplicate succeeds too.
			s.inst.Clock.Advance(20 * time.Second)
			s.refresh(t, c, first.Refresh).tokens(t)

			// After the interval, the reuse is theft: the family dies.
			s.inst.Clock.Advance(15 * time.Second)
			s.refresh(t, c, first.Refresh).wantError(t, http.StatusBadRequest, "invalid_grant")
			for _, tok := range append(issued, next) {
				s.wantUserinfo(t, c.org, tok.Access, http.StatusUnauthorized)
				s.wantInactive(t, c, tok.Refresh)
			}
			s.refresh(t, c, next.Refresh).wantError(t, http.StatusBadRequest, "invalid_grant")
		})
	}
}

func TestRefresh_ReuseIntervalZeroRevokesOnTheFirstReuse(t *testing.T) {
	s := startOP(t, "sqlite")
	zero := int64(0)
	c := s.newApp(t, "acme", false, directory.AppChanges{RefreshTokenReuseInterval: &zero})
	b := servertest.NewBrowser(t)
	first := s.signIn(t, b, c)
	second := s.refresh(t, c, first.Refresh).tokens(t)
	s.refresh(t, c, first.Refresh).wantError(t, http.StatusBadRequest, "invalid_grant")
	s.refresh(t, c, second.Refresh).wantError(t, http.StatusBadRequest, "invalid_grant")
	s.wantUserinfo(t, c.org, second.Access, http.StatusUnauthorized)
	// Another client of the organization never reuses this client's token.
	other := s.newApp(t, "acme", false, noChanges())
	third := s.signIn(t, b, other)
	s.refresh(t, other, third.Refresh).tokens(t)
	s.refresh(t, c, third.Refresh).wantError(t, http.StatusBadRequest, "invalid_grant")
}
