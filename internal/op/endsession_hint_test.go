package op_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/testkit"
)

// wantSignedIn asserts b still holds a live session (a silent authorize
// returns a code).
func (s *opServer) wantSignedIn(t *testing.T, b *servertest.Browser, c servertest.OPClient) {
	t.Helper()
	p := b.Get(s.AuthorizeURL(c, url.Values{"prompt": {"none"}}))
	if loc, _ := url.Parse(p.Location); loc == nil || loc.Query().Get("code") == "" {
		t.Fatalf("session ended: %d %s", p.Status, p.Location)
	}
}

func isConfirmPage(body string) bool {
	return strings.Contains(body, "Sign out?") && strings.Contains(body, `name="csrf_token"`)
}

func TestEndSession_RefusesTokensThatAreNotIDTokens(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			s := startOP(t, backend)
			jwtApp := s.NewApp(t, "acme", false, directory.AppChanges{AccessTokenFormat: testkit.Ptr("jwt")})
			b := servertest.NewBrowser(t)
			tok := s.SignIn(t, b, jwtApp)
			if typ := servertest.JWTPart(t, tok.Access, 0)["typ"]; typ != "at+jwt" {
				t.Fatalf("access token typ %v", typ)
			}
			ctx := context.Background()
			logoutToken, err := s.Inst.Env.Keys.Sign(ctx, "acme", "RS256", "logout+jwt", map[string]any{
				"iss": s.Inst.Issuer("acme"), "aud": jwtApp.ID, "sub": servertest.JWTPart(t, tok.ID, 1)["sub"], "sid": servertest.JWTPart(t, tok.ID, 1)["sid"],
				"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(), "jti": "x1",
				"events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}},
			})
			if err != nil {
				t.Fatal(err)
			}
			strangerAud, err := s.Inst.Env.Keys.Sign(ctx, "acme", "RS256", "JWT", map[string]any{
				"iss": s.Inst.Issuer("acme"), "aud": "not-a-client-of-acme", "sub": servertest.JWTPart(t, tok.ID, 1)["sub"],
				"sid": servertest.JWTPart(t, tok.ID, 1)["sid"], "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
			})
			if err != nil {
				t.Fatal(err)
			}
			for name, hint := range map[string]string{"access token": tok.Access, "logout token": logoutToken, "unknown audience": strangerAud} {
				t.Run(name, func(t *testing.T) {
					r := s.EndSessionCall(t, "acme", url.Values{"id_token_hint": {hint}})
					if r.Status != http.StatusBadRequest {
						t.Fatalf("status %d\n%s", r.Status, r.Body)
					}
					s.wantSignedIn(t, b, jwtApp)
				})
			}
		})
	}
}

func TestEndSession_ServerSideCallEndsTheHintedSessionOnlyWhileTheIDTokenLives(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			s := startOP(t, backend)
			c := s.Client(s.Fx)

			b := servertest.NewBrowser(t)
			tok := s.SignIn(t, b, c)
			r := s.EndSessionCall(t, "acme", url.Values{"id_token_hint": {tok.ID}})
			if r.Status != http.StatusOK || isConfirmPage(r.Body) {
				t.Fatalf("live hint without a cookie: %d\n%s", r.Status, r.Body)
			}
			// The browser still holds its cookie, but the session behind it ended.
			s.WantRedirectError(t, b.Get(s.AuthorizeURL(c, url.Values{"prompt": {"none"}})), c.RedirectURI, c.Org, "login_required")
			s.Refresh(t, c, tok.Refresh).WantError(t, http.StatusBadRequest, "invalid_grant")

			b2 := servertest.NewBrowser(t)
			tok2 := s.SignIn(t, b2, c)
			s.Inst.Clock.Advance(2 * time.Hour) // past the id_token's exp, within the session
			r = s.EndSessionCall(t, "acme", url.Values{"id_token_hint": {tok2.ID}})
			if r.Status != http.StatusOK || !isConfirmPage(r.Body) {
				t.Fatalf("expired hint without a cookie: want the confirmation page, got %d\n%s", r.Status, r.Body)
			}
			s.wantSignedIn(t, b2, c)
			// The browser itself may still use its expired id_token.
			p := b2.Get(s.Inst.Issuer("acme") + "/end_session?" + url.Values{"id_token_hint": {tok2.ID}}.Encode())
			if p.Status != http.StatusOK || isConfirmPage(p.Body) {
				t.Fatalf("expired hint with the browser's cookie: %d\n%s", p.Status, p.Body)
			}
			s.wantNoSession(t, b2, c)
		})
	}
}

func TestEndSession_BrowserAsksToConfirmWhenTheHintIsAnotherSession(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			s := startOP(t, backend)
			c := s.Client(s.Fx)
			victim := servertest.NewBrowser(t)
			s.SignIn(t, victim, c)
			other := servertest.NewBrowser(t)
			otherTok := s.SignIn(t, other, c) // the same user, another session

			p := victim.Get(s.Inst.Issuer("acme") + "/end_session?" + url.Values{"id_token_hint": {otherTok.ID}}.Encode())
			if p.Status != http.StatusOK || !isConfirmPage(p.Body) {
				t.Fatalf("hint for another session: want the confirmation page, got %d %s\n%s", p.Status, p.Location, p.Body)
			}
			s.wantSignedIn(t, victim, c)
			s.wantSignedIn(t, other, c)
			// Confirming ends the browser's own session only.
			f := p.Form(t)
			if r := victim.Submit(f, nil); r.Status != http.StatusOK {
				t.Fatalf("confirm: %d\n%s", r.Status, r.Body)
			}
			s.wantNoSession(t, victim, c)
			s.wantSignedIn(t, other, c)
		})
	}
}
