package op_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

var opAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA}

func TestIDToken_SignedWithTheApplicationsAlgorithm(t *testing.T) {
	s := startOP(t, "sqlite")
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, s.Inst.Issuer("acme"))
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Algs []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := provider.Claims(&meta); err != nil {
		t.Fatal(err)
	}
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		if !slices.Contains(meta.Algs, alg) {
			t.Errorf("discovery does not list %s: %v", alg, meta.Algs)
		}
	}
	b := servertest.NewBrowser(t)

	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			a := alg
			c := s.NewApp(t, "acme", false, directory.AppChanges{IDTokenAlg: &a})
			cfg := &oauth2.Config{ClientID: c.ID, ClientSecret: c.Secret, RedirectURL: c.RedirectURI, Endpoint: provider.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "profile"}}
			verifier := oauth2.GenerateVerifier()
			cb, err := b.AuthorizeAndLogin(cfg.AuthCodeURL("st4te", oauth2.S256ChallengeOption(verifier), oidc.Nonce("n0nce")), c.RedirectURI, s.Fx.UserName, s.Fx.Password)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := cfg.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			raw, _ := tok.Extra("id_token").(string)
			if h := servertest.JWTPart(t, raw, 0); h["alg"] != alg || h["kid"] == "" {
				t.Fatalf("id_token header = %v, want alg %s and a kid", h, alg)
			}
			idt, err := provider.Verifier(&oidc.Config{ClientID: c.ID, SupportedSigningAlgs: []string{alg}}).Verify(ctx, raw)
			if err != nil {
				t.Fatalf("go-oidc rejects the %s id_token: %v", alg, err)
			}
			if idt.Subject != s.Fx.Sub || idt.Nonce != "n0nce" {
				t.Fatalf("sub %q nonce %q", idt.Subject, idt.Nonce)
			}
			if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
				t.Fatalf("at_hash for %s: %v", alg, err)
			}
			// A verifier that expects another algorithm refuses the token:
			// the alg header is what actually signed it.
			other := "RS256"
			if alg == "RS256" {
				other = "ES256"
			}
			if _, err := provider.Verifier(&oidc.Config{ClientID: c.ID, SupportedSigningAlgs: []string{other}}).Verify(ctx, raw); err == nil {
				t.Fatalf("a %s-only verifier accepted a %s id_token", other, alg)
			}
		})
	}
}

// jwks fetches org's JWKS.
func (s *opServer) jwks(t *testing.T, org string) (*jose.JSONWebKeySet, *http.Response) {
	t.Helper()
	resp, err := s.HTTP.Get(s.Inst.Issuer(org) + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("JWKS status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatalf("decode JWKS: %v", err)
	}
	return &set, resp
}

func TestAccessToken_JWTFormatIsAnRFC9068Token(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			s := startOP(t, backend)
			format := "jwt"
			for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
				t.Run(alg, func(t *testing.T) {
					a := alg
					c := s.NewApp(t, "acme", false, directory.AppChanges{AccessTokenFormat: &format, IDTokenAlg: &a})
					tok := s.SignIn(t, servertest.NewBrowser(t), c)

					jws, err := jose.ParseSignedCompact(tok.Access, opAlgs)
					if err != nil {
						t.Fatalf("access token is not a JWS: %v", err)
					}
					h := jws.Signatures[0].Header
					if h.ExtraHeaders[jose.HeaderType] != "at+jwt" || h.Algorithm != alg || h.KeyID == "" {
						t.Fatalf("header typ %v alg %q kid %q", h.ExtraHeaders[jose.HeaderType], h.Algorithm, h.KeyID)
					}
					set, _ := s.jwks(t, "acme")
					keys := set.Key(h.KeyID)
					if len(keys) != 1 {
						t.Fatalf("kid %q not in the JWKS", h.KeyID)
					}
					payload, err := jws.Verify(keys[0])
					if err != nil {
						t.Fatalf("signature does not verify with the JWKS: %v", err)
					}
					var claims map[string]any
					if err := json.Unmarshal(payload, &claims); err != nil {
						t.Fatal(err)
					}
					for k, want := range map[string]any{"iss": s.Inst.Issuer("acme"), "sub": s.Fx.Sub, "aud": c.ID, "client_id": c.ID} {
						if claims[k] != want {
							t.Errorf("%s = %v, want %v", k, claims[k], want)
						}
					}
					exp, _ := claims["exp"].(float64)
					iat, _ := claims["iat"].(float64)
					if jti, _ := claims["jti"].(string); jti == "" || exp-iat != 3600 || time.Until(time.Unix(int64(exp), 0)) < 50*time.Minute {
						t.Errorf("jti %v, iat %v, exp %v", claims["jti"], iat, exp)
					}
					if !strings.Contains(claims["scope"].(string), "openid") {
						t.Errorf("scope = %v", claims["scope"])
					}

					ui := s.WantUserinfo(t, "acme", tok.Access, http.StatusOK)
					if ui.Str(t, "sub") != s.Fx.Sub {
						t.Fatalf("userinfo = %s", ui.Body)
					}
					// A JWT access token is still revocable: the server checks it, not just its signature.
					if r := s.Revoke(t, c, servertest.AuthBasic, tok.Access); r.Status != http.StatusOK {
						t.Fatalf("revoke status %d", r.Status)
					}
					s.WantUserinfo(t, "acme", tok.Access, http.StatusUnauthorized)
				})
			}
		})
	}
}

func TestDiscovery_DescribesTheOrganizationsIssuer(t *testing.T) {
	s := startOP(t, "sqlite")
	iss := s.Inst.Issuer("acme")

	t.Run("metadata", func(t *testing.T) {
		resp, err := s.HTTP.Get(iss + "/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatal(err)
		}
		str := func(k string) string { v, _ := m[k].(string); return v }
		list := func(k string) []string {
			var out []string
			vs, _ := m[k].([]any)
			for _, v := range vs {
				s, _ := v.(string)
				out = append(out, s)
			}
			return out
		}
		if str("issuer") != iss {
			t.Errorf("issuer = %q, want %q", str("issuer"), iss)
		}
		for k, path := range map[string]string{
			"authorization_endpoint": "/authorize", "token_endpoint": "/token", "userinfo_endpoint": "/userinfo",
			"jwks_uri": "/keys", "revocation_endpoint": "/revoke", "introspection_endpoint": "/introspect",
		} {
			if str(k) != iss+path {
				t.Errorf("%s = %q, want %q", k, str(k), iss+path)
			}
		}
		if got := list("response_types_supported"); !slices.Equal(got, []string{"code"}) {
			t.Errorf("response_types_supported = %v", got)
		}
		if got := list("code_challenge_methods_supported"); !slices.Equal(got, []string{"S256"}) {
			t.Errorf("code_challenge_methods_supported = %v", got)
		}
		if m["authorization_response_iss_parameter_supported"] != true {
			t.Errorf("authorization_response_iss_parameter_supported = %v", m["authorization_response_iss_parameter_supported"])
		}
		for k, want := range map[string][]string{
			"id_token_signing_alg_values_supported": {"RS256", "ES256", "EdDSA"},
			"subject_types_supported":               {"public"},
			"token_endpoint_auth_methods_supported": {"client_secret_basic", "client_secret_post", "none"},
			"grant_types_supported":                 {"authorization_code", "refresh_token", "client_credentials"},
			"scopes_supported":                      {"openid", "profile", "email", "offline_access", "groups"},
			"response_modes_supported":              {"query", "form_post"},
		} {
			got := list(k)
			for _, w := range want {
				if !slices.Contains(got, w) {
					t.Errorf("%s = %v, lacks %q", k, got, w)
				}
			}
		}
		if slices.Contains(list("introspection_endpoint_auth_methods_supported"), "none") {
			t.Errorf("introspection advertises auth method none, but public clients are refused")
		}
		// go-oidc accepts the document (it checks issuer equality).
		if _, err := oidc.NewProvider(context.Background(), iss); err != nil {
			t.Errorf("go-oidc: %v", err)
		}
	})

	t.Run("jwks", func(t *testing.T) {
		set, resp := s.jwks(t, "acme")
		if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=") {
			t.Errorf("Cache-Control = %q", cc)
		}
		algs := map[string]bool{}
		kids := map[string]bool{}
		for _, k := range set.Keys {
			if k.KeyID == "" || k.Algorithm == "" || k.Use != "sig" || !k.IsPublic() || !k.Valid() {
				t.Errorf("key %+v lacks kid, alg or use=sig, or is not a valid public key", k)
			}
			if kids[k.KeyID] {
				t.Errorf("duplicate kid %q", k.KeyID)
			}
			kids[k.KeyID], algs[k.Algorithm] = true, true
		}
		for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
			if !algs[alg] {
				t.Errorf("no %s key in the JWKS", alg)
			}
		}
		// Each organization has its own keys.
		s.Inst.NewFixture(t, "globex", servertest.OPRedirectURI)
		other, _ := s.jwks(t, "globex")
		for _, k := range other.Keys {
			if kids[k.KeyID] {
				t.Errorf("globex publishes acme's key %q", k.KeyID)
			}
		}
	})

	t.Run("unknown organization", func(t *testing.T) {
		for _, org := range []string{"nosuch", "ACME", "a"} {
			for _, path := range []string{"/.well-known/openid-configuration", "/keys", "/authorize", "/userinfo"} {
				resp, err := s.HTTP.Get(s.Inst.Issuer(org) + path)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusNotFound {
					t.Errorf("GET %s%s: status %d, want 404", org, path, resp.StatusCode)
				}
			}
			r := s.PostRaw(t, org, "/token", "application/x-www-form-urlencoded", "grant_type=client_credentials", nil)
			if r.Status != http.StatusNotFound {
				t.Errorf("POST %s/token: status %d, want 404", org, r.Status)
			}
		}
	})
}
