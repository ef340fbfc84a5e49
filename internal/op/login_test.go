package op_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

var loginErrorRe = regexp.MustCompile(`(?s)id="login-error">(.*?)</p>`)

// loginError is the error message shown on a login page ("" if none).
func loginError(p *servertest.Page) string {
	m := loginErrorRe.FindStringSubmatch(p.Body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(strings.TrimSpace(m[1]))
}

// wantNoSession asserts b has no usable session with org.
func (s *opServer) wantNoSession(t *testing.T, b *servertest.Browser, c servertest.OPClient) {
	t.Helper()
	u, _ := url.Parse(s.Inst.Issuer(c.Org) + "/")
	for _, ck := range b.Client.Jar.Cookies(u) {
		if ck.Name == "lk_session" && ck.Value != "" {
			t.Fatalf("browser holds a session cookie")
		}
	}
	p := b.Get(s.AuthorizeURL(c, url.Values{"prompt": {"none"}}))
	s.WantRedirectError(t, p, c.RedirectURI, c.Org, "login_required")
}

func (s *opServer) addUser(t *testing.T, org, name, pw string, disabled bool) {
	t.Helper()
	ctx := context.Background()
	d := s.Inst.Env.Directory
	if _, err := d.CreateUser(ctx, s.Inst.Actor, org, name, directory.UserChanges{Password: &pw}); err != nil {
		t.Fatal(err)
	}
	if disabled {
		if _, err := d.UpdateUser(ctx, s.Inst.Actor, org, name, directory.UserChanges{Disabled: &disabled}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLogin_HostedPage(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			s := startOP(t, backend)
			c := s.Client(s.Fx)

			t.Run("wrong password and unknown user look the same", func(t *testing.T) {
				b1 := servertest.NewBrowser(t)
				wrongPw := servertest.SubmitLogin(t, b1, s.LoginPage(t, b1, c, nil), "alice", "not the password at all")
				b2 := servertest.NewBrowser(t)
				noUser := servertest.SubmitLogin(t, b2, s.LoginPage(t, b2, c, nil), "nobody", "not the password at all")
				if wrongPw.Status != noUser.Status || loginError(wrongPw) != loginError(noUser) || loginError(wrongPw) == "" {
					t.Fatalf("wrong password: %d %q; unknown user: %d %q", wrongPw.Status, loginError(wrongPw), noUser.Status, loginError(noUser))
				}
				if wrongPw.Status == http.StatusOK || wrongPw.Location != "" {
					t.Fatalf("a failed login answered %d (Location %q)", wrongPw.Status, wrongPw.Location)
				}
				s.wantNoSession(t, b1, c)
				s.wantNoSession(t, b2, c)
			})

			t.Run("a missing or garbled CSRF token is refused", func(t *testing.T) {
				for name, token := range map[string]string{"missing": "", "garbled": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
					t.Run(name, func(t *testing.T) {
						b := servertest.NewBrowser(t)
						p := s.LoginPage(t, b, c, url.Values{"login_hint": {"alice"}})
						f := p.Form(t)
						v := url.Values{"username": {"alice"}, "password": {s.Fx.Password}, "req": {f.Values.Get("req")}}
						if token != "" {
							v.Set("csrf_token", token)
						}
						r := b.PostForm(f.Action, v)
						if r.Status != http.StatusForbidden || r.Location != "" {
							t.Fatalf("status %d, Location %q", r.Status, r.Location)
						}
						s.wantNoSession(t, b, c)
					})
				}
				t.Run("another browser's", func(t *testing.T) {
					attacker := servertest.NewBrowser(t)
					token := s.LoginPage(t, attacker, c, nil).Form(t).Values.Get("csrf_token")
					b := servertest.NewBrowser(t)
					f := s.LoginPage(t, b, c, url.Values{"login_hint": {"alice"}}).Form(t)
					r := b.Submit(f, map[string]string{"password": s.Fx.Password, "csrf_token": token})
					if r.Status != http.StatusForbidden {
						t.Fatalf("status %d", r.Status)
					}
					s.wantNoSession(t, b, c)
				})
			})

			t.Run("login_hint goes straight to the password step", func(t *testing.T) {
				b := servertest.NewBrowser(t)
				p := s.LoginPage(t, b, c, url.Values{"login_hint": {"alice"}})
				f := p.Form(t)
				if !f.Has("password") || f.Values.Get("username") != "alice" || !strings.Contains(p.Body, "alice") {
					t.Fatalf("login page does not ask alice's password: fields %v\n%s", f.Fields, p.Body)
				}
				p = b.Follow(b.Submit(f, map[string]string{"password": s.Fx.Password}), c.RedirectURI)
				if loc, _ := url.Parse(p.Location); loc == nil || loc.Query().Get("code") == "" {
					t.Fatalf("sign-in did not complete: %d at %s", p.Status, p.URL)
				}
				// An unknown name is treated alike: the page reveals nothing.
				b2 := servertest.NewBrowser(t)
				f = s.LoginPage(t, b2, c, url.Values{"login_hint": {"nobody"}}).Form(t)
				if !f.Has("password") || f.Values.Get("username") != "nobody" {
					t.Fatalf("login_hint for an unknown user: fields %v", f.Fields)
				}
			})

			t.Run("a disabled user cannot sign in, and is answered like a wrong password", func(t *testing.T) {
				s.addUser(t, c.Org, "dave", "dave's long password", true)
				b := servertest.NewBrowser(t)
				right := servertest.SubmitLogin(t, b, s.LoginPage(t, b, c, nil), "dave", "dave's long password")
				if right.Status == http.StatusOK || right.Location != "" {
					t.Fatalf("disabled user: %d, Location %q, error %q", right.Status, right.Location, loginError(right))
				}
				s.wantNoSession(t, b, c)
				b2 := servertest.NewBrowser(t)
				wrong := servertest.SubmitLogin(t, b2, s.LoginPage(t, b2, c, nil), "dave", "not dave's password at all")
				if right.Status != wrong.Status || loginError(right) != loginError(wrong) {
					t.Fatalf("a disabled account tells the password was right: right %d %q, wrong %d %q",
						right.Status, loginError(right), wrong.Status, loginError(wrong))
				}
			})

			t.Run("a user disabled after signing in loses the session and tokens", func(t *testing.T) {
				s.addUser(t, c.Org, "erin", "erin's long password", false)
				b := servertest.NewBrowser(t)
				verifier, params := servertest.PKCE()
				p := b.Follow(servertest.SubmitLogin(t, b, s.LoginPage(t, b, c, params), "erin", "erin's long password"), c.RedirectURI)
				if !strings.HasPrefix(p.Location, c.RedirectURI) {
					t.Fatalf("erin could not sign in: %d at %s", p.Status, p.URL)
				}
				cb, _ := url.Parse(p.Location)
				tok := s.Exchange(t, c, servertest.AuthBasic, cb.Query().Get("code"), verifier).Tokens(t)
				yes := true
				if _, err := s.Inst.Env.Directory.UpdateUser(context.Background(), s.Inst.Actor, c.Org, "erin", directory.UserChanges{Disabled: &yes}); err != nil {
					t.Fatal(err)
				}
				p = b.Get(s.AuthorizeURL(c, url.Values{"prompt": {"none"}}))
				s.WantRedirectError(t, p, c.RedirectURI, c.Org, "login_required")
				s.WantUserinfo(t, c.Org, tok.Access, http.StatusUnauthorized)
				s.WantInactive(t, c, tok.Access)
				s.Refresh(t, c, tok.Refresh).WantError(t, http.StatusBadRequest, "invalid_grant")
			})

			t.Run("ten failures from one address lock that address out for the user", func(t *testing.T) {
				s.addUser(t, c.Org, "carol", "carol's long password", false)
				// Attempts are counted in 15-minute windows: keep them in one.
				now := s.Inst.Clock.Now()
				if next := now.Truncate(15 * time.Minute).Add(15 * time.Minute); next.Sub(now) < time.Minute {
					s.Inst.Clock.Advance(next.Sub(now) + time.Second)
				}
				b := servertest.NewBrowser(t)
				page := s.LoginPage(t, b, c, url.Values{"login_hint": {"carol"}})
				for i := 0; i < 10; i++ {
					name := "carol"
					if i%2 == 1 {
						name = "Carol" // userNames compare case-insensitively, and so do their counts
					}
					p := servertest.SubmitLogin(t, b, page, name, "wrong guess number one")
					if p.Status != http.StatusUnauthorized {
						t.Fatalf("attempt %d: status %d %q", i+1, p.Status, loginError(p))
					}
				}
				p := servertest.SubmitLogin(t, b, page, "carol", "carol's long password")
				if p.Status != http.StatusTooManyRequests || !strings.Contains(loginError(p), "Too many") {
					t.Fatalf("11th attempt: status %d %q", p.Status, loginError(p))
				}
				s.wantNoSession(t, b, c)
				// Another user is not locked out by carol's failures.
				b2 := servertest.NewBrowser(t)
				p = b2.Follow(servertest.SubmitLogin(t, b2, s.LoginPage(t, b2, c, nil), "alice", s.Fx.Password), c.RedirectURI)
				if !strings.HasPrefix(p.Location, c.RedirectURI) {
					t.Fatalf("alice locked out by carol's failures: %d %q", p.Status, loginError(p))
				}
				// The lock ends with the window.
				s.Inst.Clock.Advance(16 * time.Minute)
				p = b.Follow(servertest.SubmitLogin(t, b, s.LoginPage(t, b, c, url.Values{"login_hint": {"carol"}}), "carol", "carol's long password"), c.RedirectURI)
				if !strings.HasPrefix(p.Location, c.RedirectURI) {
					t.Fatalf("carol still locked out after the window: %d %q", p.Status, loginError(p))
				}
			})
		})
	}
}

// forwardedFor makes a browser's requests arrive as if from addr through a
// trusted proxy.
type forwardedFor struct {
	addr string
	next http.RoundTripper
}

func (f forwardedFor) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", f.addr)
	return f.next.RoundTrip(r)
}

func browserFrom(t *testing.T, addr string) *servertest.Browser {
	b := servertest.NewBrowser(t)
	b.Client.Transport = forwardedFor{addr: addr, next: http.DefaultTransport}
	return b
}

// TestLogin_FailuresFromManyAddressesDoNotLockTheUserOut: wrong passwords
// for a userName sent from many addresses must not keep its owner out.
func TestLogin_FailuresFromManyAddressesDoNotLockTheUserOut(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			inst := servertest.Start(t, backend, servertest.Options{Config: func(cfg *config.Config) {
				cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
			}})
			s := &opServer{servertest.NewOP(t, inst, inst.NewFixture(t, "acme", servertest.OPRedirectURI))}
			c := s.Client(s.Fx)
			s.addUser(t, c.Org, "carol", "carol's long password", false)
			now := s.Inst.Clock.Now()
			if next := now.Truncate(15 * time.Minute).Add(15 * time.Minute); next.Sub(now) < time.Minute {
				s.Inst.Clock.Advance(next.Sub(now) + time.Second)
			}
			for i := range 12 {
				b := browserFrom(t, fmt.Sprintf("203.0.113.%d", 10+i))
				name := "carol"
				if i%2 == 1 {
					name = "CAROL"
				}
				p := servertest.SubmitLogin(t, b, s.LoginPage(t, b, c, nil), name, "wrong guess from afar")
				if p.Status != http.StatusUnauthorized {
					t.Fatalf("attempt %d: status %d %q", i+1, p.Status, loginError(p))
				}
			}
			// The owner, from a fresh address, gets in (slowed down, not blocked).
			b := browserFrom(t, "198.51.100.7")
			p := b.Follow(servertest.SubmitLogin(t, b, s.LoginPage(t, b, c, nil), "carol", "carol's long password"), c.RedirectURI)
			if !strings.HasPrefix(p.Location, c.RedirectURI) {
				t.Fatalf("carol locked out by failures from other addresses: %d %q", p.Status, loginError(p))
			}
			// One address that keeps guessing is still stopped.
			guesser := browserFrom(t, "192.0.2.66")
			page := s.LoginPage(t, guesser, c, nil)
			for i := range 10 {
				if p := servertest.SubmitLogin(t, guesser, page, "carol", "wrong guess nearby"); p.Status != http.StatusUnauthorized {
					t.Fatalf("guess %d: status %d", i+1, p.Status)
				}
			}
			if p := servertest.SubmitLogin(t, guesser, page, "carol", "carol's long password"); p.Status != http.StatusTooManyRequests {
				t.Fatalf("11th attempt from one address: status %d %q", p.Status, loginError(p))
			}
		})
	}
}
