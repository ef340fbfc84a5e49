package op_test

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
			c := s.Client(s.Fx)
			b := servertest.NewBrowser(t)

			t.Run("tokens of the first exchange", func(t *testing.T) {
				code, verifier := s.Code(t, b, c)
				tok := s.Exchange(t, c, servertest.AuthBasic, code, verifier).Tokens(t)
				s.WantUserinfo(t, c.Org, tok.Access, http.StatusOK)

				s.Exchange(t, c, servertest.AuthBasic, code, verifier).WantError(t, http.StatusBadRequest, "invalid_grant")

				s.WantUserinfo(t, c.Org, tok.Access, http.StatusUnauthorized)
				s.WantInactive(t, c, tok.Access)
				s.Refresh(t, c, tok.Refresh).WantError(t, http.StatusBadRequest, "invalid_grant")
			})

			t.Run("tokens refreshed from them", func(t *testing.T) {
				code, verifier := s.Code(t, b, c)
				tok := s.Exchange(t, c, servertest.AuthBasic, code, verifier).Tokens(t)
				rotated := s.Refresh(t, c, tok.Refresh).Tokens(t)

				s.Exchange(t, c, servertest.AuthBasic, code, verifier).WantError(t, http.StatusBadRequest, "invalid_grant")

				s.WantUserinfo(t, c.Org, rotated.Access, http.StatusUnauthorized)
				s.Refresh(t, c, rotated.Refresh).WantError(t, http.StatusBadRequest, "invalid_grant")
			})

			t.Run("but not another code's tokens", func(t *testing.T) {
				keep := s.SignIn(t, b, c)
				code, verifier := s.Code(t, b, c)
				s.Exchange(t, c, servertest.AuthBasic, code, verifier).Tokens(t)
				s.Exchange(t, c, servertest.AuthBasic, code, verifier).WantError(t, http.StatusBadRequest, "invalid_grant")
				s.WantUserinfo(t, c.Org, keep.Access, http.StatusOK)
			})
		})
	}
}

func TestAuthorizationCode_RejectedExchangesIssueNothing(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			s := startOP(t, backend)
			c := s.Client(s.Fx)
			b := servertest.NewBrowser(t)

			t.Run("redirect_uri differs from the authorization request", func(t *testing.T) {
				code, verifier := s.Code(t, b, c)
				other := c
				other.RedirectURI = "http://127.0.0.1:9/other"
				s.Exchange(t, other, servertest.AuthBasic, code, verifier).WantError(t, http.StatusBadRequest, "invalid_grant")
				form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}}
				code, verifier = s.Code(t, b, c)
				form.Set("code", code)
				form.Set("code_verifier", verifier)
				s.BackChannel(t, c, "/token", servertest.AuthBasic, form).WantError(t, http.StatusBadRequest, "invalid_grant") // redirect_uri missing
			})

			t.Run("wrong code_verifier", func(t *testing.T) {
				code, _ := s.Code(t, b, c)
				s.Exchange(t, c, servertest.AuthBasic, code, oauth2.GenerateVerifier()).WantError(t, http.StatusBadRequest, "invalid_grant")
			})

			t.Run("missing code_verifier after a code_challenge", func(t *testing.T) {
				code, _ := s.Code(t, b, c)
				s.Exchange(t, c, servertest.AuthBasic, code, "").WantError(t, http.StatusBadRequest, "invalid_grant")
			})

			t.Run("code_verifier without a code_challenge", func(t *testing.T) {
				q := s.Callback(t, b, c, nil) // a confidential client may skip PKCE
				s.Exchange(t, c, servertest.AuthBasic, q.Get("code"), oauth2.GenerateVerifier()).WantError(t, http.StatusBadRequest, "invalid_grant")
			})

			t.Run("code issued to another client is refused and not used up", func(t *testing.T) {
				other := s.NewApp(t, c.Org, false, noChanges())
				code, verifier := s.Code(t, b, c)
				s.Exchange(t, other, servertest.AuthBasic, code, verifier).WantError(t, http.StatusBadRequest, "invalid_grant")
				// Its own client still redeems it: the other client's
				// attempt neither burnt it nor counted as a replay.
				tok := s.Exchange(t, c, servertest.AuthBasic, code, verifier).Tokens(t)
				s.WantUserinfo(t, c.Org, tok.Access, http.StatusOK)
			})

			t.Run("unknown code", func(t *testing.T) {
				s.Exchange(t, c, servertest.AuthBasic, "no-such-code", oauth2.GenerateVerifier()).WantError(t, http.StatusBadRequest, "invalid_grant")
			})

			t.Run("expired code", func(t *testing.T) {
				code, verifier := s.Code(t, b, c)
				s.Inst.Clock.Advance(61 * time.Second)
				s.Exchange(t, c, servertest.AuthBasic, code, verifier).WantError(t, http.StatusBadRequest, "invalid_grant")
			})

			t.Run("a code just inside its lifetime still works", func(t *testing.T) {
				code, verifier := s.Code(t, b, c)
				s.Inst.Clock.Advance(55 * time.Second)
				s.Exchange(t, c, servertest.AuthBasic, code, verifier).Tokens(t)
			})
		})
	}
}

func TestPublicClient_NeedsPKCEAndAuthenticatesWithNone(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			s := startOP(t, backend)
			pub := s.NewApp(t, "acme", true, noChanges())
			if pub.Secret != "" {
				t.Fatal("a public application got a secret")
			}
			b := servertest.NewBrowser(t)

			t.Run("without PKCE the error goes back to the client", func(t *testing.T) {
				p := b.Get(s.AuthorizeURL(pub, nil))
				q := s.WantRedirectError(t, p, pub.RedirectURI, pub.Org, "invalid_request")
				if q.Get("error_description") == "" {
					t.Fatal("no error_description")
				}
			})

			t.Run("code_challenge_method=plain is refused", func(t *testing.T) {
				v := oauth2.GenerateVerifier()
				p := b.Get(s.AuthorizeURL(pub, url.Values{"code_challenge": {v}, "code_challenge_method": {"plain"}}))
				s.WantRedirectError(t, p, pub.RedirectURI, pub.Org, "invalid_request")
				// Also for confidential clients.
				c := s.Client(s.Fx)
				p = b.Get(s.AuthorizeURL(c, url.Values{"code_challenge": {v}, "code_challenge_method": {"plain"}}))
				s.WantRedirectError(t, p, c.RedirectURI, c.Org, "invalid_request")
				// And a challenge without a method defaults to plain (RFC 7636 §4.3).
				p = b.Get(s.AuthorizeURL(pub, url.Values{"code_challenge": {v}}))
				s.WantRedirectError(t, p, pub.RedirectURI, pub.Org, "invalid_request")
			})

			t.Run("with PKCE a go-oidc client signs in without a secret", func(t *testing.T) {
				ctx := context.Background()
				provider, err := oidc.NewProvider(ctx, s.Inst.Issuer(pub.Org))
				if err != nil {
					t.Fatal(err)
				}
				cfg := &oauth2.Config{ClientID: pub.ID, RedirectURL: pub.RedirectURI, Endpoint: provider.Endpoint(), Scopes: []string{oidc.ScopeOpenID}}
				cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams
				verifier := oauth2.GenerateVerifier()
				cb, err := b.AuthorizeAndLogin(cfg.AuthCodeURL("st4te", oauth2.S256ChallengeOption(verifier)), pub.RedirectURI, s.Fx.UserName, s.Fx.Password)
				if err != nil {
					t.Fatal(err)
				}
				tok, err := cfg.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(verifier))
				if err != nil {
					t.Fatalf("exchange: %v", err)
				}
				raw, _ := tok.Extra("id_token").(string)
				idt, err := provider.Verifier(&oidc.Config{ClientID: pub.ID}).Verify(ctx, raw)
				if err != nil {
					t.Fatalf("verify id_token: %v", err)
				}
				if idt.Subject != s.Fx.Sub {
					t.Fatalf("sub = %q", idt.Subject)
				}
				if tok.RefreshToken == "" {
					t.Fatal("no refresh token")
				}
				// Refresh also works with the client id alone.
				r := s.BackChannel(t, pub, "/token", servertest.AuthNone, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
				r.Tokens(t)
			})

			t.Run("a public client that sends a secret is refused", func(t *testing.T) {
				code, verifier := s.Code(t, b, pub)
				withSecret := pub
				withSecret.Secret = "made-up"
				s.Exchange(t, withSecret, servertest.AuthPost, code, verifier).WantError(t, http.StatusUnauthorized, "invalid_client")
				s.Exchange(t, withSecret, servertest.AuthBasic, code, verifier).WantError(t, http.StatusUnauthorized, "invalid_client")
				// The refused requests did not spend the code.
				s.Exchange(t, pub, servertest.AuthNone, code, verifier).Tokens(t)
			})

			t.Run("a confidential client may not drop its secret", func(t *testing.T) {
				c := s.Client(s.Fx)
				code, verifier := s.Code(t, b, c)
				s.Exchange(t, c, servertest.AuthNone, code, verifier).WantError(t, http.StatusUnauthorized, "invalid_client")
			})
		})
	}
}

func TestAuthorizationCode_ConcurrentReplayRevokesTheWinnersTokens(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			s := startOP(t, backend)
			c := s.Client(s.Fx)
			b := servertest.NewBrowser(t)
			// An attacker with a stolen code races the application: whoever
			// wins, the replay must leave no usable token behind.
			// (Both requests may fail: the exchange that consumed the code
			// refuses too when it sees the replay before answering.)
			for round := 0; round < 10; round++ {
				code, verifier := s.Code(t, b, c)
				form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.RedirectURI}, "code_verifier": {verifier}}
				var wg sync.WaitGroup
				res := make([]*servertest.OPResponse, 2)
				errs := make([]error, 2)
				for i := range res {
					wg.Add(1)
					go func() {
						defer wg.Done()
						req, _ := http.NewRequest(http.MethodPost, s.Inst.Issuer(c.Org)+"/token", strings.NewReader(form.Encode()))
						req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
						req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
						resp, err := s.HTTP.Do(req)
						if err != nil {
							errs[i] = err
							return
						}
						defer resp.Body.Close()
						body, err := io.ReadAll(resp.Body)
						res[i], errs[i] = &servertest.OPResponse{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}, err
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
						r.WantError(t, http.StatusBadRequest, "invalid_grant")
						continue
					}
					won++
					tok := r.Tokens(t)
					if ui := s.Userinfo(t, c.Org, tok.Access); ui.Status != http.StatusUnauthorized {
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
