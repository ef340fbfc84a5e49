package upstream_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/testkit"
)

// TestFederatedLogin_CallbackChecks: ISS/callback only completes the
// login this browser started, once, with the state Latchkey sent; every
// other answer ends on a clear error page with a reference and signs
// nobody in (DESIGN §6).
func TestFederatedLogin_CallbackChecks(t *testing.T) {
	t.Parallel()
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			f := startFed(t, backend, fedOptions{})
			acme, inst := f.acme(), f.inst
			sessions := func() int { return activeSessions(t, inst, "acme", "alice") }

			t.Run("tampered state", func(t *testing.T) {
				b := servertest.NewBrowser(t)
				fl, p := acme.app.toCallback(t, b)
				before := sessions()
				tampered := withQuery(t, p.Location, func(q url.Values) {
					s := q.Get("state")
					q.Set("state", s[:len(s)-2]+"xx")
				})
				wantErrorPage(t, b.Get(tampered), http.StatusBadRequest, "unknown or already finished")
				wantAudit(t, inst, "acme", "login.upstream", "bad_state", "")
				acme.app.wantNoSession(t, b)
				if n := sessions(); n != before {
					t.Fatalf("sessions %d, were %d", n, before)
				}
				// The genuine answer still completes the login it belongs to.
				p = b.Follow(b.Get(p.Location), appRedirect)
				acme.app.finish(t, fl, p.Location)
			})

			t.Run("missing state", func(t *testing.T) {
				b := servertest.NewBrowser(t)
				_, p := acme.app.toCallback(t, b)
				before := sessions()
				stripped := withQuery(t, p.Location, func(q url.Values) { q.Del("state") })
				wantErrorPage(t, b.Get(stripped), http.StatusBadRequest, "missing its state")
				wantAudit(t, inst, "acme", "login.upstream", "bad_state", "")
				acme.app.wantNoSession(t, b)
				if n := sessions(); n != before {
					t.Fatalf("sessions %d, were %d", n, before)
				}
			})

			t.Run("state given twice", func(t *testing.T) {
				b := servertest.NewBrowser(t)
				_, p := acme.app.toCallback(t, b)
				doubled := withQuery(t, p.Location, func(q url.Values) { q.Add("state", q.Get("state")) })
				wantErrorPage(t, b.Get(doubled), http.StatusBadRequest, "state")
				acme.app.wantNoSession(t, b)
			})

			t.Run("replayed callback", func(t *testing.T) {
				b := servertest.NewBrowser(t)
				fl, p := acme.app.toCallback(t, b)
				callback := p.Location
				p = b.Follow(b.Get(callback), appRedirect)
				acme.app.finish(t, fl, p.Location)
				after := sessions()
				// The same answer again, in the same browser and in another one.
				wantErrorPage(t, b.Get(callback), http.StatusBadRequest, "already finished")
				other := servertest.NewBrowser(t)
				wantErrorPage(t, other.Get(callback), http.StatusBadRequest, "already finished")
				acme.app.wantNoSession(t, other)
				if n := sessions(); n != after {
					t.Fatalf("the replay changed the sessions: %d, were %d", n, after)
				}
			})

			t.Run("racing deliveries of one callback", func(t *testing.T) {
				b := servertest.NewBrowser(t)
				_, p := acme.app.toCallback(t, b)
				const n = 8
				statuses := make(chan int, n)
				var wg sync.WaitGroup
				for range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						resp, err := b.Client.Get(p.Location)
						if err != nil {
							statuses <- 0
							return
						}
						resp.Body.Close()
						statuses <- resp.StatusCode
					}()
				}
				wg.Wait()
				close(statuses)
				counts := map[int]int{}
				for s := range statuses {
					counts[s]++
				}
				if counts[http.StatusSeeOther] != 1 || counts[http.StatusBadRequest] != n-1 {
					t.Fatalf("statuses of %d concurrent deliveries: %v, want one 303 and the rest 400", n, counts)
				}
			})

			t.Run("callback in another browser", func(t *testing.T) {
				victim := servertest.NewBrowser(t)
				_, p := acme.app.toCallback(t, victim)
				before := sessions()
				attacker := servertest.NewBrowser(t)
				wantErrorPage(t, attacker.Get(p.Location), http.StatusBadRequest, "another browser")
				wantAudit(t, inst, "acme", "login.upstream", "bad_state", "")
				acme.app.wantNoSession(t, attacker)
				if n := sessions(); n != before {
					t.Fatalf("sessions %d, were %d", n, before)
				}
			})

			t.Run("tampered code", func(t *testing.T) {
				b := servertest.NewBrowser(t)
				_, p := acme.app.toCallback(t, b)
				before := sessions()
				bad := withQuery(t, p.Location, func(q url.Values) { q.Set("code", "not-a-code-the-upstream-issued") })
				wantErrorPage(t, b.Get(bad), http.StatusBadGateway, "did not accept")
				wantAudit(t, inst, "acme", "login.upstream", "exchange_failed", "")
				acme.app.wantNoSession(t, b)
				if n := sessions(); n != before {
					t.Fatalf("sessions %d, were %d", n, before)
				}
			})

			t.Run("upstream denies", func(t *testing.T) {
				f.up.DenyLogins(t, true)
				defer f.up.DenyLogins(t, false)
				b := servertest.NewBrowser(t)
				before := sessions()
				p := b.Follow(b.Get(acme.app.request().url), appRedirect)
				wantErrorPage(t, p, http.StatusForbidden, "denied")
				if p.URL.Path != "/o/acme/callback" || p.URL.Query().Get("error") != "access_denied" {
					t.Fatalf("ended at %s, want the callback with error=access_denied", p.URL)
				}
				e := wantAudit(t, inst, "acme", "login.upstream", "upstream_error", "")
				if e.Detail["error"] != "access_denied" {
					t.Fatalf("audit detail %v", e.Detail)
				}
				acme.app.wantNoSession(t, b)
				if n := sessions(); n != before {
					t.Fatalf("sessions %d, were %d", n, before)
				}
			})

			t.Run("upstream unreachable at the callback", func(t *testing.T) {
				b := servertest.NewBrowser(t)
				_, p := acme.app.toCallback(t, b)
				before := sessions()
				setUpstream(t, inst, "acme", directory.UpstreamChanges{ConfigURL: testkit.Ptr("http://" + testkit.ClosedPort(t))}, false)
				defer setUpstream(t, inst, "acme", directory.UpstreamChanges{ConfigURL: testkit.Ptr(f.up.Issuer)}, false)
				wantErrorPage(t, b.Get(p.Location), http.StatusBadGateway, "could not reach")
				acme.app.wantNoSession(t, b)
				if n := sessions(); n != before {
					t.Fatalf("sessions %d, were %d", n, before)
				}
			})

			// Last: it moves the clock.
			t.Run("expired login", func(t *testing.T) {
				b := servertest.NewBrowser(t)
				_, p := acme.app.toCallback(t, b)
				before := sessions()
				inst.Clock.Advance(11 * time.Minute)
				page := b.Get(p.Location)
				if page.Status != http.StatusBadRequest || page.Location != "" || !strings.Contains(page.Body, "Sign-in") {
					t.Fatalf("expired login: %d to %q\n%s", page.Status, page.Location, page.Body)
				}
				acme.app.wantNoSession(t, b)
				if n := sessions(); n != before {
					t.Fatalf("sessions %d, were %d", n, before)
				}
			})
		})
	}
}

// TestFederatedLogin_UpstreamUnreachable: a configuration URL nobody
// answers ends on a clear 502 page with a reference, and nothing starts.
func TestFederatedLogin_UpstreamUnreachable(t *testing.T) {
	t.Parallel()
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			inst := servertest.Start(t, backend)
			fx := inst.NewFixture(t, "acme", appRedirect)
			setUpstream(t, inst, "acme", directory.UpstreamChanges{
				ConfigURL: testkit.Ptr("http://" + testkit.ClosedPort(t) + "/.well-known/openid-configuration"),
				ClientID:  testkit.Ptr("latchkey-acme"), ClientSecret: testkit.Ptr(upstreamSecret),
			}, true)
			a := newApp(t, inst.Issuer("acme"), fx)

			for _, start := range []struct{ name, url string }{
				{"application", a.request().url},
				{"login button", inst.Issuer("acme") + "/login/upstream"},
			} {
				t.Run(start.name, func(t *testing.T) {
					b := servertest.NewBrowser(t)
					p := b.Follow(b.Get(start.url), appRedirect)
					wantErrorPage(t, p, http.StatusBadGateway, "unreachable")
					if c := p.Header.Values("Set-Cookie"); len(c) > 0 && strings.Contains(strings.Join(c, " "), "lk_upstream") {
						t.Fatalf("a login was started: %v", c)
					}
					a.wantNoSession(t, b)
				})
			}
			if n := activeSessions(t, inst, "acme", "alice"); n != 0 {
				t.Fatalf("%d sessions", n)
			}

			// An organization without a connection has no upstream to start.
			inst.NewFixture(t, "plain", appRedirect)
			b := servertest.NewBrowser(t)
			wantErrorPage(t, b.Get(inst.Issuer("plain")+"/login/upstream"), http.StatusNotFound, "no identity provider")
		})
	}
}
