package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// rp is a relying party built from the standard Go OIDC libraries.
type rp struct {
	provider *oidc.Provider
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
	ctx      context.Context
}

func newRP(t testing.TB, inst *servertest.Instance, fx *servertest.Fixture, algs ...string) *rp {
	t.Helper()
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, inst.Issuer(fx.Org))
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	cfg := &oauth2.Config{
		ClientID: fx.ClientID, ClientSecret: fx.ClientSecret, RedirectURL: fx.RedirectURI,
		Endpoint: provider.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "profile", "email"},
	}
	vc := &oidc.Config{ClientID: fx.ClientID}
	if len(algs) > 0 {
		vc.SupportedSigningAlgs = algs
	}
	return &rp{provider: provider, oauth: cfg, verifier: provider.Verifier(vc), ctx: ctx}
}

// login runs the browser part of the code flow with PKCE and a nonce and
// exchanges the code.
func (r *rp) login(t *testing.T, b *servertest.Browser, fx *servertest.Fixture, extra ...oauth2.AuthCodeOption) (*oauth2.Token, *oidc.IDToken) {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oidc.Nonce("n-0S6_WzA2Mj")}, extra...)
	cb, err := b.AuthorizeAndLogin(r.oauth.AuthCodeURL("st4te", opts...), fx.RedirectURI, fx.UserName, fx.Password)
	if err != nil {
		t.Fatal(err)
	}
	q := cb.Query()
	if q.Get("state") != "st4te" || q.Get("iss") != r.provider.Endpoint().AuthURL[:len(r.provider.Endpoint().AuthURL)-len("/authorize")] {
		t.Fatalf("callback lacks state or iss: %s", cb)
	}
	tok, err := r.oauth.Exchange(r.ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := r.verifier.Verify(r.ctx, raw)
	if err != nil {
		t.Fatalf("verify id_token: %v", err)
	}
	if idt.Nonce != "n-0S6_WzA2Mj" {
		t.Fatalf("nonce = %q", idt.Nonce)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Fatalf("at_hash: %v", err)
	}
	return tok, idt
}

func TestCodeFlow_GoOIDCClientSignsInWithPassword(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			inst := servertest.Start(t, backend)
			fx := inst.NewFixture(t, "acme", "http://127.0.0.1:9/cb")
			r := newRP(t, inst, fx)
			b := servertest.NewBrowser(t)
			tok, idt := r.login(t, b, fx)

			var claims struct {
				Sub               string   `json:"sub"`
				PreferredUsername string   `json:"preferred_username"`
				Name              string   `json:"name"`
				Email             string   `json:"email"`
				EmailVerified     bool     `json:"email_verified"`
				SID               string   `json:"sid"`
				AMR               []string `json:"amr"`
				AZP               string   `json:"azp"`
				AuthTime          int64    `json:"auth_time"`
			}
			if err := idt.Claims(&claims); err != nil {
				t.Fatal(err)
			}
			if claims.Sub != fx.Sub || claims.PreferredUsername != "alice" || claims.Name != "Alice Example" ||
				claims.Email != "alice@example.com" || !claims.EmailVerified || claims.SID == "" ||
				len(claims.AMR) != 1 || claims.AMR[0] != "pwd" || claims.AZP != fx.ClientID || claims.AuthTime == 0 {
				t.Fatalf("unexpected id_token claims: %+v", claims)
			}
			if idt.Issuer != inst.Issuer("acme") {
				t.Fatalf("iss = %q", idt.Issuer)
			}

			ui, err := r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(tok))
			if err != nil {
				t.Fatalf("userinfo: %v", err)
			}
			if ui.Subject != fx.Sub || ui.Email != "alice@example.com" {
				t.Fatalf("userinfo = %+v", ui)
			}

			// A second application-less request in the same browser is silent (SSO).
			verifier := oauth2.GenerateVerifier()
			p := b.Follow(b.Get(r.oauth.AuthCodeURL("again", oauth2.S256ChallengeOption(verifier))), fx.RedirectURI)
			if !strings.HasPrefix(p.Location, fx.RedirectURI) {
				t.Fatalf("expected silent SSO, got %d at %s", p.Status, p.URL)
			}
		})
	}
}

func TestAuthorize_UnregisteredRedirectURIShowsErrorPageWithoutRedirect(t *testing.T) {
	inst := servertest.Start(t, "sqlite")
	fx := inst.NewFixture(t, "acme", "http://127.0.0.1:9/cb")
	b := servertest.NewBrowser(t)
	q := url.Values{"client_id": {fx.ClientID}, "redirect_uri": {"http://127.0.0.1:9/cb/evil"}, "response_type": {"code"}, "scope": {"openid"}}
	p := b.Get(inst.Issuer("acme") + "/authorize?" + q.Encode())
	if p.Status != http.StatusBadRequest || p.Location != "" {
		t.Fatalf("status %d location %q", p.Status, p.Location)
	}
	if !strings.Contains(p.Body, "not registered") {
		t.Fatalf("page does not explain: %s", p.Body)
	}
}
