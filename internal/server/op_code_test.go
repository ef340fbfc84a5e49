package server_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

func TestAuthorizationCode_ReplayFailsAndRevokesWhatTheCodeIssued(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			s := startOP(t, backend)
			c := s.client(s.fx)
			b := servertest.NewBrowser(t)

			t.Run("tokens of the first exchange", func(t *testing.T) {
				code, verifier := s.code(t, b, c)
				tok := s.exchange(t, c, authBasic, code, verifier).tokens(t)
				s.wantUserinfo(t, c.org, tok.Access, http.StatusOK)

				s.exchange(t, c, authBasic, code, verifier).wantError(t, http.StatusBadRequest, "invalid_grant")

				s.wantUserinfo(t, c.org, tok.Access, http.StatusUnauthorized)
				s.wantInactive(t, c, tok.Access)
				s.refresh(t, c, tok.Refresh).wantError(t, http.StatusBadRequest, "invalid_grant")
			})

			t.Run("tokens refreshed from them", func(t *testing.T) {
				code, verifier := s.code(t, b, c)
				tok := s.exchange(t, c, authBasic, code, verifier).tokens(t)
				rotated := s.refresh(t, c, tok.Refresh).tokens(t)

				s.exchange(t, c, authBasic, code, verifier).wantError(t, http.StatusBadRequest, "invalid_grant")

				s.wantUserinfo(t, c.org, rotated.Access, http.StatusUnauthorized)
				s.refresh(t, c, rotated.Refresh).wantError(t, http.StatusBadRequest, "invalid_grant")
			})

			t.Run("but not another code's tokens", func(t *testing.T) {
				keep := s.signIn(t, b, c)
				code, verifier := s.code(t, b, c)
				s.exchange(t, c, authBasic, code, verifier).tokens(t)
				s.exchange(t, c, authBasic, code, verifier).wantError(t, http.StatusBadRequest, "invalid_grant")
				s.wantUserinfo(t, c.org, keep.Access, http.StatusOK)
			})
		})
	}
}

func TestAuthorizationCode_RejectedExchangesIssueNothing(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			s := startOP(t, backend)
			c := s.client(s.fx)
			b := servertest.NewBrowser(t)

			t.Run("redirect_uri differs from the authorization request", func(t *testing.T) {
				code, verifier := s.code(t, b, c)
				other := c
				other.redirectURI = "http://127.0.0.1:9/other"
				s.exchange(t, other, authBasic, code, verifier).wantError(t, http.StatusBadRequest, "invalid_grant")
				form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}}
				code, verifier = s.code(t, b, c)
				form.Set("code", code)
				form.Set("code_verifier", verifier)
				s.backChannel(t, c, "/token", authBasic, form).wantError(t, http.StatusBadRequest, "invalid_grant") // redirect_uri missing
			})

			t.Run("wrong code_verifier", func(t *testing.T) {
				code, _ := s.code(t, b, c)
				s.exchange(t, c, authBasic, code, oauth2.GenerateVerifier()).wantError(t, http.StatusBadRequest, "invalid_grant")
			})

			t.Run("missing code_verifier after a code_challenge", func(t *testing.T) {
				code, _ := s.code(t, b, c)
				s.exchange(t, c, authBasic, code, "").wantError(t, http.StatusBadRequest, "invalid_grant")
			})

			t.Run("code_verifier without a code_challenge", func(t *testing.T) {
				q := s.callback(t, b, c, nil) // a confidential client may skip PKCE
				s.exchange(t, c, authBasic, q.Get("code"), oauth2.GenerateVerifier()).wantError(t, http.StatusBadRequest, "invalid_grant")
			})

			t.Run("code issued to another client is refused and not used up", func(t *testing.T) {
				other := s.newApp(t, c.org, false, noChanges())
				code, verifier := s.code(t, b, c)
				s.exchange(t, other, authBasic, code, verifier).wantError(t, http.StatusBadRequest, "invalid_grant")
				// Its own client still redeems it: the other client's
				// attempt neither burnt it nor counted as a replay.
				tok := s.exchange(t, c, authBasic, code, verifier).tokens(t)
				s.wantUserinfo(t, c.org, tok.Access, http.StatusOK)
			})

			t.Run("unknown code", func(t *testing.T) {
				s.exchange(t, c, authBasic, "no-such-code", oauth2.GenerateVerifier()).wantError(t, http.StatusBadRequest, "invalid_grant")
			})

			t.Run("expired code", func(t *testing.T) {
				code, verifier := s.code(t, b, c)
				s.inst.Clock.Advance(61 * time.Second)
				s.exchange(t, c, authBasic, code, verifier).wantError(t, http.StatusBadRequest, "invalid_grant")
			})

			t.Run("a code just inside its lifetime still works", func(t *testing.T) {
				code, verifier := s.code(t, b, c)
				s.inst.Clock.Advance(55 * time.Second)
				s.exchange(t, c, authBasic, code, verifier).tokens(t)
			})
		})
	}
}

func TestPublicClient_NeedsPKCEAndAuthenticatesWithNone(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			s := startOP(t, backend)
			pub := s.newApp(t, "acme", true, noChanges())
			if pub.secret != "" {
				t.Fatal("a public application got a secret")
			}
			b := servertest.NewBrowser(t)

			t.Run("without PKCE the error goes back to the client", func(t *testing.T) {
				p := b.Get(s.authorizeURL(pub, nil))
				q := s.wantRedirectError(t, p, pub.redirectURI, pub.org, "invalid_request")
				if q.Get("error_description") == "" {
					t.Fatal("no error_description")
				}
			})

			t.Run("code_challenge_method=plain is refused", func(t *testing.T) {
				v := oauth2.GenerateVerifier()
				p := b.Get(s.authorizeURL(pub, url.Values{"code_challenge": {v}, "code_challenge_method": {"plain"}}))
				s.wantRedirectError(t, p, pub.redirectURI, pub.org, "invalid_request")
				// Also for confidential clients.
				c := s.client(s.fx)
				p = b.Get(s.authorizeURL(c, url.Values{"code_challenge": {v}, "code_challenge_method": {"plain"}}))
				s.wantRedirectError(t, p, c.redirectURI, c.org, "invalid_request")
				// And a challenge without a method defaults to plain (RFC 7636 §4.3).
				p = b.Get(s.authorizeURL(pub, url.Values{"code_challenge": {v}}))
				s.wantRedirectError(t, p, pub.redirectURI, pub.org, "invalid_request")
			})

			t.Run("with PKCE a go-oidc client signs in without a secret", func(t *testing.T) {
				ctx := context.Background()
				provider, err := oidc.NewProvider(ctx, s.inst.Issuer(pub.org))
				if err != nil {
					t.Fatal(err)
				}
				cfg := &oauth2.Config{ClientID: pub.id, RedirectURL: pub.redirectURI, Endpoint: provider.Endpoint(), Scopes: []string{oidc.ScopeOpenID}}
				cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams
				verifier := oauth2.GenerateVerifier()
				cb, err := b.AuthorizeAndLogin(cfg.AuthCodeURL("st4te", oauth2.S256ChallengeOption(verifier)), pub.redirectURI, s.fx.UserName, s.fx.Password)
				if err != nil {
					t.Fatal(err)
				}
				tok, err := cfg.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(verifier))
				if err != nil {
					t.Fatalf("exchange: %v", err)
				}
				raw, _ := tok.Extra("id_token").(string)
				idt, err := provider.Verifier(&oidc.Config{ClientID: pub.id}).Verify(ctx, raw)
				if err != nil {
					t.Fatalf("verify id_token: %v", err)
				}
				if idt.Subject != s.fx.Sub {
					t.Fatalf("sub = %q", idt.Subject)
				}
				if tok.RefreshToken == "" {
					t.Fatal("no refresh token")
				}
				// Refresh also works with the client id alone.
				r := s.backChannel(t, pub, "/token", authNone, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
				r.tokens(t)
			})

			t.Run("a public client that sends a secret is refused", func(t *testing.T) {
				code, verifier := s.code(t, b, pub)
				withSecret := pub
				withSecret.secret = "made-up"
				s.exchange(t, withSecret, authPost, code, verifier).wantError(t, http.StatusUnauthorized, "invalid_client")
				s.exchange(t, withSecret, authBasic, code, verifier).wantError(t, http.StatusUnauthorized, "invalid_client")
				// The refused requests did not spend the code.
				s.exchange(t, pub, authNone, code, verifier).tokens(t)
			})

			t.Run("a confidential client may not drop its secret", func(t *testing.T) {
				c := s.client(s.fx)
				code, verifier := s.code(t, b, c)
				s.exchange(t, c, authNone, code, verifier).wantError(t, http.StatusUnauthorized, "invalid_client")
			})
		})
	}
}

func TestAuthorizationCode_ConcurrentReplayRevokesTheWinnersTokens(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			s := startOP(t, backend)
			c := s.client(s.fx)
			b := servertest.NewBrowser(t)
			// An attacker with a stolen code races the application: whoever
			// wins, the replay must leave no usable token behind.
			// (Both requests may fail: the exchange that consumed the code
			// refuses too when it sees the replay before answering.)
			for round := 0; round < 10; round++ {
				code, verifier := s.code(t, b, c)
				form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.redirectURI}, "code_verifier": {verifier}}
				var wg sync.WaitGroup
				res := make([]*opResponse, 2)
				errs := make([]error, 2)
				for i := range res {
					wg.Add(1)
					go func() {
						defer wg.Done()
						req, _ := http.NewRequest(http.MethodPost, s.inst.Issuer(c.org)+"/token", strings.NewReader(form.Encode()))
						req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
						req.SetBasicAuth(url.QueryEscape(c.id), url.QueryEscape(c.secret))
						resp, err := s.http.Do(req)
						if err != nil {
							errs[i] = err
							return
						}
						defer resp.Body.Close()
						body, err := io.ReadAll(resp.Body)
						res[i], errs[i] = &opResponse{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}, err
					}()
				}
				wg.Wait()
				for _, err := range errs {
					if err != nil {
						t.Fatal(err)
					}
				}
				won := 0
				for _, r := range res {
					if r.Status != http.StatusOK {
						r.wantError(t, http.StatusBadRequest, "invalid_grant")
						continue
					}
					won++
					tok := r.tokens(t)
					if ui := s.userinfo(t, c.org, tok.Access); ui.Status != http.StatusUnauthorized {
						t.Fatalf("round %d: the winning exchange's access token survived a concurrent replay (userinfo %d)", round, ui.Status)
					}
				}
				// The exchange that won the code may itself notice the replay and
				// refuse; either way at most one succeeds, and only with dead tokens.
				if won > 1 {
					t.Fatalf("round %d: %d exchanges succeeded, want at most 1", round, won)
				}
			}
		})
	}
}
