package op_test

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
			c := s.Client(s.Fx)
			b := servertest.NewBrowser(t)

			t.Run("rotation, then reuse", func(t *testing.T) {
				first := s.SignIn(t, b, c)
				if first.Refresh == "" {
					t.Fatal("no refresh_token from the code exchange")
				}

				second := s.Refresh(t, c, first.Refresh).Tokens(t)
				if second.Refresh == "" || second.Refresh == first.Refresh {
					t.Fatalf("refresh token not rotated: %q then %q", first.Refresh, second.Refresh)
				}
				if second.Access == first.Access || second.ID == "" {
					t.Fatalf("refresh did not issue a new access token and id_token: %+v", second)
				}
				// Before the reuse, the whole family is alive.
				for _, at := range []string{first.Access, second.Access} {
					s.WantUserinfo(t, c.Org, at, http.StatusOK)
				}
				s.WantActive(t, c, second.Refresh)
				s.WantInactive(t, c, first.Refresh) // rotated

				// Presenting the rotated token again after the reuse
				// interval (30 s by default) is refused ...
				s.Inst.Clock.Advance(31 * time.Second)
				s.Refresh(t, c, first.Refresh).WantError(t, http.StatusBadRequest, "invalid_grant")

				// ... and proves a copy exists: everything of the family dies.
				s.Refresh(t, c, second.Refresh).WantError(t, http.StatusBadRequest, "invalid_grant")
				for _, at := range []string{first.Access, second.Access} {
					s.WantUserinfo(t, c.Org, at, http.StatusUnauthorized)
					s.WantInactive(t, c, at)
				}
				s.WantInactive(t, c, second.Refresh)
			})

			t.Run("the refreshed id_token keeps who and when (OIDC Core 12.2)", func(t *testing.T) {
				first := s.SignIn(t, b, c)
				second := s.Refresh(t, c, first.Refresh).Tokens(t)
				a, z := servertest.JWTPart(t, first.ID, 1), servertest.JWTPart(t, second.ID, 1)
				for _, k := range []string{"iss", "sub", "aud", "auth_time", "sid", "azp"} {
					if a[k] != z[k] || a[k] == nil {
						t.Errorf("%s: %v at sign-in, %v after refresh", k, a[k], z[k])
					}
				}
			})

			t.Run("reuse leaves other families alone", func(t *testing.T) {
				victim := s.SignIn(t, b, c)
				bystander := s.SignIn(t, b, c) // same user and session, another grant
				s.Refresh(t, c, victim.Refresh).Tokens(t)
				s.Inst.Clock.Advance(31 * time.Second)
				s.Refresh(t, c, victim.Refresh).WantError(t, http.StatusBadRequest, "invalid_grant")
				s.WantUserinfo(t, c.Org, bystander.Access, http.StatusOK)
				s.Refresh(t, c, bystander.Refresh).Tokens(t)
			})

			t.Run("another client's refresh token is refused", func(t *testing.T) {
				other := s.NewApp(t, c.Org, false, noChanges())
				tok := s.SignIn(t, b, c)
				s.Refresh(t, other, tok.Refresh).WantError(t, http.StatusBadRequest, "invalid_grant")
				// The failed attempt neither rotated nor revoked the owner's token.
				s.Refresh(t, c, tok.Refresh).Tokens(t)
			})

			// Last: it moves the clock past the session's end.
			defer t.Run("refresh tokens end with the session unless offline_access was granted", func(t *testing.T) {
				online := s.SignIn(t, b, c)
				offline := s.SignIn(t, b, c, url.Values{"scope": {"openid offline_access"}})
				s.Inst.Clock.Advance(10*time.Hour + time.Minute) // the default session lifetime is 10 h
				s.Refresh(t, c, online.Refresh).WantError(t, http.StatusBadRequest, "invalid_grant")
				next := s.Refresh(t, c, offline.Refresh).Tokens(t)
				s.WantUserinfo(t, c.Org, next.Access, http.StatusOK)
			})

			t.Run("an access token is not a refresh token", func(t *testing.T) {
				tok := s.SignIn(t, b, c)
				s.Refresh(t, c, tok.Access).WantError(t, http.StatusBadRequest, "invalid_grant")
				s.WantUserinfo(t, c.Org, tok.Access, http.StatusOK)
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
			c := s.Client(s.Fx)
			b := servertest.NewBrowser(t)
			first := s.SignIn(t, b, c)

			const parallel = 10
			results := make([]*servertest.OPResponse, parallel)
			var wg sync.WaitGroup
			for i := range parallel {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i] = s.Refresh(t, c, first.Refresh)
				}()
			}
			wg.Wait()
			var issued []servertest.OPTokens
			for i, r := range results {
				if r.Status != http.StatusOK {
					t.Fatalf("refresh %d of %d: %d %s", i+1, parallel, r.Status, r.Body)
				}
				tok := r.Tokens(t)
				if tok.Refresh == "" || tok.Refresh == first.Refresh {
					t.Fatalf("refresh %d: no new refresh token", i+1)
				}
				issued = append(issued, tok)
			}
			// Every answer works: its access token and its refresh token.
			for _, tok := range issued {
				s.WantUserinfo(t, c.Org, tok.Access, http.StatusOK)
				s.WantActive(t, c, tok.Refresh)
			}
			next := s.Refresh(t, c, issued[3].Refresh).Tokens(t)

			// Still within the interval, a late duplicate succeeds too.
			s.Inst.Clock.Advance(20 * time.Second)
			s.Refresh(t, c, first.Refresh).Tokens(t)

			// After the interval, the reuse is theft: the family dies.
			s.Inst.Clock.Advance(15 * time.Second)
			s.Refresh(t, c, first.Refresh).WantError(t, http.StatusBadRequest, "invalid_grant")
			for _, tok := range append(issued, next) {
				s.WantUserinfo(t, c.Org, tok.Access, http.StatusUnauthorized)
				s.WantInactive(t, c, tok.Refresh)
			}
			s.Refresh(t, c, next.Refresh).WantError(t, http.StatusBadRequest, "invalid_grant")
		})
	}
}

func TestRefresh_ReuseIntervalZeroRevokesOnTheFirstReuse(t *testing.T) {
	s := startOP(t, "sqlite")
	zero := int64(0)
	c := s.NewApp(t, "acme", false, directory.AppChanges{RefreshTokenReuseInterval: &zero})
	b := servertest.NewBrowser(t)
	first := s.SignIn(t, b, c)
	second := s.Refresh(t, c, first.Refresh).Tokens(t)
	s.Refresh(t, c, first.Refresh).WantError(t, http.StatusBadRequest, "invalid_grant")
	s.Refresh(t, c, second.Refresh).WantError(t, http.StatusBadRequest, "invalid_grant")
	s.WantUserinfo(t, c.Org, second.Access, http.StatusUnauthorized)
	// Another client of the organization never reuses this client's token.
	other := s.NewApp(t, "acme", false, noChanges())
	third := s.SignIn(t, b, other)
	s.Refresh(t, other, third.Refresh).Tokens(t)
	s.Refresh(t, c, third.Refresh).WantError(t, http.StatusBadRequest, "invalid_grant")
}
