package op_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// authTime verifies an id_token with go-oidc (on the server's clock) and
// returns its auth_time.
func (s *opServer) authTime(t *testing.T, c servertest.OPClient, idToken string) time.Time {
	t.Helper()
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, s.Inst.Issuer(c.Org))
	if err != nil {
		t.Fatal(err)
	}
	idt, err := provider.Verifier(&oidc.Config{ClientID: c.ID, Now: s.Inst.Clock.Now}).Verify(ctx, idToken)
	if err != nil {
		t.Fatalf("verify id_token: %v", err)
	}
	var claims struct {
		AuthTime int64 `json:"auth_time"`
	}
	if err := idt.Claims(&claims); err != nil || claims.AuthTime == 0 {
		t.Fatalf("auth_time missing: %v", err)
	}
	return time.Unix(claims.AuthTime, 0)
}

// finish signs in on login page p and returns the code the flow ends with.
func finish(t *testing.T, b *servertest.Browser, s *opServer, p *servertest.Page, redirectURI string) url.Values {
	t.Helper()
	p = b.Follow(b.Login(p, s.Fx.UserName, s.Fx.Password), redirectURI)
	if !strings.HasPrefix(p.Location, redirectURI) {
		t.Fatalf("login did not finish the flow: %d at %s\n%s", p.Status, p.URL, p.Body)
	}
	u, _ := url.Parse(p.Location)
	q := u.Query()
	if q.Get("code") == "" || q.Get("state") != "st4te" || q.Get("iss") != s.Inst.Issuer("acme") {
		t.Fatalf("callback = %s", p.Location)
	}
	return q
}

func TestAuthorize_PromptNoneWithoutSessionReturnsLoginRequired(t *testing.T) {
	s := startOP(t, "sqlite")
	c := s.Client(s.Fx)
	b := servertest.NewBrowser(t)
	p := b.Get(s.AuthorizeURL(c, url.Values{"prompt": {"none"}}))
	s.WantRedirectError(t, p, c.RedirectURI, c.Org, "login_required")

	// Combining none with another value is malformed.
	p = b.Get(s.AuthorizeURL(c, url.Values{"prompt": {"none login"}}))
	s.WantRedirectError(t, p, c.RedirectURI, c.Org, "invalid_request")
}

func TestAuthorize_PromptLoginAsksAgainAndRenewsAuthTime(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			s := startOP(t, backend)
			c := s.Client(s.Fx)
			b := servertest.NewBrowser(t)
			first := s.authTime(t, c, s.SignIn(t, b, c).ID)

			s.Inst.Clock.Advance(2 * time.Minute)
			verifier, params := servertest.PKCE()
			params.Set("prompt", "login")
			page := servertest.WantLoginPage(t, b, b.Get(s.AuthorizeURL(c, params)), c.RedirectURI, c.Org)
			q := finish(t, b, s, page, c.RedirectURI)
			tok := s.Exchange(t, c, servertest.AuthBasic, q.Get("code"), verifier).Tokens(t)
			second := s.authTime(t, c, tok.ID)
			if second.Sub(first) < 2*time.Minute {
				t.Fatalf("auth_time %v not renewed (first %v)", second, first)
			}

			// Without prompt=login the renewed session answers silently.
			p := b.Get(s.AuthorizeURL(c, url.Values{"prompt": {"none"}}))
			if loc, _ := url.Parse(p.Location); loc == nil || loc.Query().Get("code") == "" {
				t.Fatalf("silent sign-in after prompt=login failed: %d %s", p.Status, p.Location)
			}
		})
	}
}

func TestAuthorize_MaxAgeOlderThanTheSessionAsksToSignInOnce(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			s := startOP(t, backend)
			c := s.Client(s.Fx)
			b := servertest.NewBrowser(t)
			first := s.authTime(t, c, s.SignIn(t, b, c).ID)
			s.Inst.Clock.Advance(10 * time.Minute)

			t.Run("a younger session is enough", func(t *testing.T) {
				p := b.Get(s.AuthorizeURL(c, url.Values{"max_age": {"3600"}}))
				if loc, _ := url.Parse(p.Location); loc == nil || loc.Query().Get("code") == "" {
					t.Fatalf("max_age=3600 with a 10-minute-old session did not answer silently: %d %s", p.Status, p.Location)
				}
			})

			t.Run("prompt=none cannot satisfy an older session", func(t *testing.T) {
				p := b.Get(s.AuthorizeURL(c, url.Values{"max_age": {"300"}, "prompt": {"none"}}))
				s.WantRedirectError(t, p, c.RedirectURI, c.Org, "login_required")
			})

			for _, maxAge := range []string{"300", "0"} {
				t.Run("max_age="+maxAge, func(t *testing.T) {
					s.Inst.Clock.Advance(10 * time.Minute)
					verifier, params := servertest.PKCE()
					params.Set("max_age", maxAge)
					page := servertest.WantLoginPage(t, b, b.Get(s.AuthorizeURL(c, params)), c.RedirectURI, c.Org)
					q := finish(t, b, s, page, c.RedirectURI) // no login loop
					tok := s.Exchange(t, c, servertest.AuthBasic, q.Get("code"), verifier).Tokens(t)
					if at := s.authTime(t, c, tok.ID); !at.After(first) {
						t.Fatalf("auth_time %v not after %v", at, first)
					}
				})
			}
		})
	}
}

func TestAuthorize_FormPostAnswersWithAnAutoSubmittingForm(t *testing.T) {
	s := startOP(t, "sqlite")
	c := s.Client(s.Fx)
	b := servertest.NewBrowser(t)

	t.Run("error", func(t *testing.T) {
		p := b.Get(s.AuthorizeURL(c, url.Values{"prompt": {"none"}, "response_mode": {"form_post"}}))
		f := wantFormPost(t, p, c.RedirectURI)
		if f.Values.Get("error") != "login_required" || f.Values.Get("state") != "st4te" || f.Values.Get("iss") != s.Inst.Issuer(c.Org) || f.Has("code") {
			t.Fatalf("form fields = %v", f.Values)
		}
	})

	t.Run("code", func(t *testing.T) {
		verifier, params := servertest.PKCE()
		params.Set("response_mode", "form_post")
		page := servertest.WantLoginPage(t, b, b.Get(s.AuthorizeURL(c, params)), c.RedirectURI, c.Org)
		p := b.Follow(b.Login(page, s.Fx.UserName, s.Fx.Password), c.RedirectURI)
		f := wantFormPost(t, p, c.RedirectURI)
		if f.Values.Get("state") != "st4te" || f.Values.Get("iss") != s.Inst.Issuer(c.Org) || f.Values.Get("code") == "" {
			t.Fatalf("form fields = %v", f.Values)
		}
		s.Exchange(t, c, servertest.AuthBasic, f.Values.Get("code"), verifier).Tokens(t)
	})

	t.Run("silent", func(t *testing.T) {
		p := b.Get(s.AuthorizeURL(c, url.Values{"response_mode": {"form_post"}}))
		f := wantFormPost(t, p, c.RedirectURI)
		if f.Values.Get("code") == "" {
			t.Fatalf("form fields = %v", f.Values)
		}
	})

	t.Run("unknown response_mode", func(t *testing.T) {
		p := b.Get(s.AuthorizeURL(c, url.Values{"response_mode": {"fragment"}}))
		s.WantRedirectError(t, p, c.RedirectURI, c.Org, "invalid_request")
	})
}

// wantFormPost asserts p is a form_post response page aimed at redirectURI.
func wantFormPost(t *testing.T, p *servertest.Page, redirectURI string) servertest.Form {
	t.Helper()
	if p.Status != http.StatusOK || p.Location != "" {
		t.Fatalf("form_post: status %d, Location %q", p.Status, p.Location)
	}
	if !strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") || p.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("form_post headers: %v", p.Header)
	}
	forms := p.Forms()
	if len(forms) != 1 {
		t.Fatalf("want one form, got %d:\n%s", len(forms), p.Body)
	}
	f := forms[0]
	if f.Action != redirectURI || f.Method != "POST" {
		t.Fatalf("form posts %s to %q, want POST to %q", f.Method, f.Action, redirectURI)
	}
	if !strings.Contains(p.Body, "submit()") {
		t.Fatalf("form does not submit itself:\n%s", p.Body)
	}
	if csp := p.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src") {
		t.Fatalf("CSP %q blocks the auto-submit script", csp)
	}
	return f
}
