package platform_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

// testPlatform is an organization's own platform: it "authenticates" the
// browser (here: always as userName), then, server to server, upserts the
// user and mints a ticket with the organization's API key, and sends the
// browser to loginUrl — what the seed's step-by-step describes.
type testPlatform struct {
	t        *testing.T
	latchkey *platformServer
	userName string
	profile  string // the update body

	mu   sync.Mutex
	seen []url.Values // the query of every browser visit
}

func (p *testPlatform) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.seen = append(p.seen, r.URL.Query())
	p.mu.Unlock()
	s := p.latchkey
	base := s.inst.URL + "/api/organization/" + s.org + "/user/" + p.userName
	call := func(op, body string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, base+"/"+op, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("x-org-id", s.org)
		req.Header.Set("x-api-key", s.key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return nil
		}
		return resp
	}
	resp := call("update", p.profile)
	if resp == nil {
		return
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		http.Error(w, "update: "+resp.Status, http.StatusBadGateway)
		return
	}
	resp = call("generate-token", "")
	if resp == nil {
		return
	}
	defer resp.Body.Close()
	var out struct {
		LoginURL string `json:"loginUrl"`
	}
	if err := decodeJSON(resp, &out); err != nil || out.LoginURL == "" {
		http.Error(w, "generate-token failed", http.StatusBadGateway)
		return
	}
	http.Redirect(w, r, out.LoginURL, http.StatusFound)
}

func (p *testPlatform) visits() []url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]url.Values(nil), p.seen...)
}

func TestPlatformLogin_GoOIDCClientSignsInThroughTheOrgsPlatform(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			s := startPlatform(t, backend, "my-community")
			plat := &testPlatform{t: t, latchkey: s, userName: "johndoe",
				profile: `{"name": "John Doe", "role": "ADMIN", "picture": "https://example.com/avatar.jpg", "email": "john@example.com", "extra": {"karma": 42}}`}
			ps := httptest.NewServer(plat)
			defer ps.Close()
			s.setOrg(t, s.org, func(o *domain.OrgSettings) {
				o.AuthRedirectURL = ps.URL + "/sso?tenant=community"
				o.LoginMethod = domain.LoginPlatform
			})

			const redirectURI = "http://127.0.0.1:9/cb"
			name := "Forum"
			app, secret, err := s.inst.Env.Directory.CreateApp(ctx, s.inst.Actor, s.org, false, directory.AppChanges{Name: &name, RedirectURIs: &[]string{redirectURI}})
			if err != nil {
				t.Fatal(err)
			}
			iss := s.inst.Issuer(s.org)
			provider, err := oidc.NewProvider(ctx, iss)
			if err != nil {
				t.Fatal(err)
			}
			cfg := &oauth2.Config{ClientID: app.ClientID, ClientSecret: secret, RedirectURL: redirectURI,
				Endpoint: provider.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "profile", "email"}}
			verifier := provider.Verifier(&oidc.Config{ClientID: app.ClientID})

			b := servertest.NewBrowser(t)
			login := func(extra ...oauth2.AuthCodeOption) (*oauth2.Token, *oidc.IDToken) {
				t.Helper()
				pkce := oauth2.GenerateVerifier()
				opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(pkce), oidc.Nonce("n-42")}, extra...)
				p := b.Follow(b.Get(cfg.AuthCodeURL("st4te", opts...)), redirectURI)
				if !strings.HasPrefix(p.Location, redirectURI) {
					t.Fatalf("did not return to the application: status %d at %s\n%s", p.Status, p.URL, p.Body)
				}
				cb, _ := url.Parse(p.Location)
				if cb.Query().Get("state") != "st4te" || cb.Query().Get("iss") != iss {
					t.Fatalf("callback = %s", cb)
				}
				tok, err := cfg.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(pkce))
				if err != nil {
					t.Fatalf("exchange: %v", err)
				}
				raw, _ := tok.Extra("id_token").(string)
				idt, err := verifier.Verify(ctx, raw)
				if err != nil {
					t.Fatalf("verify id_token: %v", err)
				}
				if idt.Nonce != "n-42" {
					t.Fatalf("nonce = %q", idt.Nonce)
				}
				return tok, idt
			}

			tok, idt := login(oauth2.SetAuthURLParam("login_hint", "johndoe"))

			// Latchkey sent the browser to the platform with what it needs.
			v := plat.visits()
			if len(v) != 1 {
				t.Fatalf("platform visits = %v, want 1", v)
			}
			rt := v[0].Get("return_to")
			if !strings.HasPrefix(rt, iss+"/authorize/continue?req=") || v[0].Get("login_hint") != "johndoe" ||
				v[0].Get("tenant") != "community" || v[0].Get("prompt") != "" {
				t.Fatalf("platform got %v", v[0])
			}

			u := s.user(t, s.org, "johndoe")
			var claims struct {
				Sub               string   `json:"sub"`
				PreferredUsername string   `json:"preferred_username"`
				Name              string   `json:"name"`
				Picture           string   `json:"picture"`
				Role              string   `json:"role"`
				Email             string   `json:"email"`
				EmailVerified     bool     `json:"email_verified"`
				AMR               []string `json:"amr"`
			}
			if err := idt.Claims(&claims); err != nil {
				t.Fatal(err)
			}
			if claims.Sub != u.Sub || claims.PreferredUsername != "johndoe" || claims.Name != "John Doe" ||
				claims.Picture != "https://example.com/avatar.jpg" || claims.Role != "ADMIN" || claims.Email != "john@example.com" ||
				claims.EmailVerified || len(claims.AMR) != 1 || claims.AMR[0] != "ext" {
				t.Fatalf("id_token claims = %+v (user sub %s)", claims, u.Sub)
			}
			var ui map[string]any
			info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
			if err != nil {
				t.Fatal(err)
			}
			if err := info.Claims(&ui); err != nil {
				t.Fatal(err)
			}
			if ui["sub"] != u.Sub || ui["role"] != "ADMIN" || ui["preferred_username"] != "johndoe" || ui["name"] != "John Doe" {
				t.Fatalf("userinfo = %v", ui)
			}

			// SSO: the next request is answered without the platform.
			login()
			if n := len(plat.visits()); n != 1 {
				t.Fatalf("silent SSO visited the platform (%d visits)", n)
			}

			// prompt=login goes back to the platform and says so.
			plat.profile = `{"name": "John D."}`
			_, idt = login(oauth2.SetAuthURLParam("prompt", "login"))
			v = plat.visits()
			if len(v) != 2 || v[1].Get("prompt") != "login" {
				t.Fatalf("platform visits = %v, want a second with prompt=login", v)
			}
			if err := idt.Claims(&claims); err != nil {
				t.Fatal(err)
			}
			if claims.Name != "John D." || claims.Role != "ADMIN" || claims.Sub != u.Sub {
				t.Fatalf("after a partial update: %+v", claims)
			}
			if n := len(s.sessions(t, s.org, u.Sub)); n != 1 {
				t.Fatalf("%d sessions, want the one session renewed", n)
			}
		})
	}
}

func TestPlatformLogin_LoginPageWithoutRequestReturnsToAccount(t *testing.T) {
	s := startPlatform(t, "sqlite", "acme")
	s.setOrg(t, "acme", func(o *domain.OrgSettings) {
		o.AuthRedirectURL = "https://platform.example/login"
		o.LoginMethod = domain.LoginPlatform
	})
	b := servertest.NewBrowser(t)
	p := b.Get(s.inst.Issuer("acme") + "/login")
	if p.Status != http.StatusFound {
		t.Fatalf("status %d\n%s", p.Status, p.Body)
	}
	want := "https://platform.example/login?return_to=" + url.QueryEscape(s.inst.Issuer("acme")+"/account")
	if p.Location != want {
		t.Fatalf("Location = %s, want %s", p.Location, want)
	}
	if p.Header.Get("Referrer-Policy") != "no-referrer" || p.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("headers = %v", p.Header)
	}

	// With the password method, the hosted login page is shown as before.
	s.setOrg(t, "acme", func(o *domain.OrgSettings) { o.LoginMethod = domain.LoginPassword })
	if p := b.Get(s.inst.Issuer("acme") + "/login"); p.Status != http.StatusOK || len(p.Forms()) == 0 {
		t.Fatalf("password login page: status %d", p.Status)
	}
}
