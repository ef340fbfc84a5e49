package upstreamtest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/internal/upstream/upstreamtest"
)

const backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

// rp is a relying party in the test: an httptest server for the
// redirect_uri, the post_logout_redirect_uri (both only ever reached as a
// browser's last redirect) and the backchannel_logout_uri (a real endpoint
// the provider POSTs to).
type rp struct {
	srv          *httptest.Server
	logoutTokens chan string
}

func newRP(t *testing.T) *rp {
	t.Helper()
	r := &rp{logoutTokens: make(chan string, 8)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /backchannel", func(w http.ResponseWriter, req *http.Request) {
		if ct := req.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
			http.Error(w, "content type "+ct, http.StatusBadRequest)
			return
		}
		token := req.PostFormValue("logout_token")
		if token == "" {
			http.Error(w, "no logout_token", http.StatusBadRequest)
			return
		}
		r.logoutTokens <- token
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
	})
	r.srv = httptest.NewServer(mux)
	t.Cleanup(r.srv.Close)
	return r
}

func (r *rp) callback() string    { return r.srv.URL + "/callback" }
func (r *rp) signedOut() string   { return r.srv.URL + "/signed-out" }
func (r *rp) backchannel() string { return r.srv.URL + "/backchannel" }

// browser is a plain http.Client with a cookie jar that follows redirects
// until one leads to the relying party, and returns that redirect's URL.
type browser struct {
	c      *http.Client
	rpHost string
}

func newBrowser(t *testing.T, r *rp) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	rpURL, _ := url.Parse(r.srv.URL)
	b := &browser{rpHost: rpURL.Host}
	b.c = &http.Client{
		Jar:     jar,
		Timeout: 10 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Host == b.rpHost {
				return http.ErrUseLastResponse
			}
			if len(via) > 20 {
				return errors.New("too many redirects")
			}
			return nil
		},
	}
	return b
}

// landAt GETs u, follows redirects and returns where they lead at the RP.
func (b *browser) landAt(t *testing.T, u string) *url.URL {
	t.Helper()
	resp, err := b.c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	loc, err := resp.Location()
	if resp.StatusCode/100 != 3 || err != nil {
		t.Fatalf("GET %s ended at %s with %s, not a redirect to the RP: %s", u, resp.Request.URL, resp.Status, body)
	}
	if loc.Host != b.rpHost {
		t.Fatalf("GET %s: redirect to %s, not to the RP", u, loc)
	}
	return loc
}

type session struct {
	token   *oauth2.Token
	rawID   string
	idToken *oidc.IDToken
}

// login runs the authorization code flow with state, nonce and PKCE S256,
// and verifies the id_token (signature, iss, aud, exp, nonce).
func login(t *testing.T, ctx context.Context, b *browser, p *oidc.Provider, conf *oauth2.Config, extra ...oauth2.AuthCodeOption) session {
	t.Helper()
	state, nonce, verifier := oauth2.GenerateVerifier(), oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
	opts := append([]oauth2.AuthCodeOption{oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)}, extra...)
	cb := b.landAt(t, conf.AuthCodeURL(state, opts...))
	if got := cb.Scheme + "://" + cb.Host + cb.Path; got != conf.RedirectURL {
		t.Fatalf("landed at %s, want the redirect_uri %s", cb, conf.RedirectURL)
	}
	q := cb.Query()
	if q.Get("error") != "" {
		t.Fatalf("authorization error: %s: %s", q.Get("error"), q.Get("error_description"))
	}
	if q.Get("state") != state {
		t.Fatalf("state = %q, want %q", q.Get("state"), state)
	}
	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatal("no id_token in the token response")
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: conf.ClientID}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("verify id_token: %v", err)
	}
	if idt.Nonce != nonce {
		t.Fatalf("id_token nonce = %q, want %q", idt.Nonce, nonce)
	}
	return session{token: tok, rawID: raw, idToken: idt}
}

func claimsOf(t *testing.T, c interface{ Claims(any) error }) map[string]any {
	t.Helper()
	var m map[string]any
	if err := c.Claims(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestUpstreamOP(t *testing.T) {
	for _, tc := range []struct {
		name            string
		claimsInIDToken bool
		authMethod      string
		authStyle       oauth2.AuthStyle
	}{
		{"claims at userinfo only, client_secret_basic", false, "client_secret_basic", oauth2.AuthStyleInHeader},
		{"claims in id_token, client_secret_post", true, "client_secret_post", oauth2.AuthStyleInParams},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testFlows(t, tc.claimsInIDToken, tc.authMethod, tc.authStyle)
		})
	}
}

func testFlows(t *testing.T, claimsInIDToken bool, authMethod string, authStyle oauth2.AuthStyle) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	relying := newRP(t)

	const clientID, secret = "latchkey", "s3cret-of-the-client"
	op := upstreamtest.Start(t, upstreamtest.Options{
		Clients: []upstreamtest.Client{{
			ID:                               clientID,
			Secret:                           secret,
			RedirectURIs:                     []string{relying.callback()},
			PostLogoutRedirectURIs:           []string{relying.signedOut()},
			TokenEndpointAuthMethod:          authMethod,
			BackchannelLogoutURI:             relying.backchannel(),
			BackchannelLogoutSessionRequired: true,
		}},
		Accounts: map[string]map[string]any{
			"u1": {"preferred_username": "alice", "name": "Alice", "email": "a@example.com", "email_verified": true},
		},
		ClaimsInIDToken: claimsInIDToken,
		AutoLogin:       "u1",
	})
	if !strings.HasPrefix(op.Issuer, "http://127.0.0.1:") {
		t.Fatalf("issuer %q", op.Issuer)
	}

	// Discovery.
	p, err := oidc.NewProvider(ctx, op.Issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	var meta struct {
		EndSession             string   `json:"end_session_endpoint"`
		Revocation             string   `json:"revocation_endpoint"`
		CodeChallengeMethods   []string `json:"code_challenge_methods_supported"`
		BackchannelLogout      bool     `json:"backchannel_logout_supported"`
		BackchannelLogoutSID   bool     `json:"backchannel_logout_session_supported"`
		TokenEndpointAuthMeths []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err := p.Claims(&meta); err != nil {
		t.Fatal(err)
	}
	if meta.EndSession == "" || meta.Revocation == "" || p.UserInfoEndpoint() == "" ||
		strings.Join(meta.CodeChallengeMethods, " ") != "S256" || !meta.BackchannelLogout || !meta.BackchannelLogoutSID ||
		!strings.Contains(strings.Join(meta.TokenEndpointAuthMeths, " "), authMethod) {
		t.Fatalf("discovery metadata: %+v", meta)
	}

	conf := &oauth2.Config{
		ClientID:     clientID,
		ClientSecret: secret,
		Endpoint:     p.Endpoint(),
		RedirectURL:  relying.callback(),
		Scopes:       []string{oidc.ScopeOpenID, "profile", "email"},
	}
	conf.Endpoint.AuthStyle = authStyle
	b := newBrowser(t, relying)

	t.Run("PKCE is required", func(t *testing.T) {
		cb := b.landAt(t, conf.AuthCodeURL("st", oidc.Nonce("n")))
		if cb.Query().Get("error") != "invalid_request" || !strings.Contains(cb.Query().Get("error_description"), "PKCE") {
			t.Fatalf("authorization without PKCE landed at %s", cb)
		}
	})

	// The code flow, and where the profile claims are.
	s := login(t, ctx, b, p, conf, oauth2.SetAuthURLParam("login_hint", "alice"))
	if s.idToken.Subject != "u1" {
		t.Fatalf("sub = %q", s.idToken.Subject)
	}
	idClaims := claimsOf(t, s.idToken)
	if sid, _ := idClaims["sid"].(string); sid == "" {
		t.Fatalf("no sid in the id_token (backchannel_logout_session_required): %v", idClaims)
	}
	if got, present := idClaims["preferred_username"]; present != claimsInIDToken || (present && got != "alice") {
		t.Fatalf("ClaimsInIDToken=%t but id_token claims are %v", claimsInIDToken, idClaims)
	}
	ui, err := p.UserInfo(ctx, oauth2.StaticTokenSource(s.token))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	uiClaims := claimsOf(t, ui)
	if ui.Subject != "u1" || uiClaims["preferred_username"] != "alice" || ui.Email != "a@example.com" || uiClaims["name"] != "Alice" {
		t.Fatalf("userinfo claims: %v", uiClaims)
	}
	params := op.LastAuthorizationRequest(t)
	if params["login_hint"] != "alice" || params["code_challenge_method"] != "S256" || params["nonce"] == "" || params["client_id"] != clientID {
		t.Fatalf("last authorization request: %v", params)
	}

	// Runtime control: new claims, another account, forced login.
	op.SetAccount(t, "u1", map[string]any{"preferred_username": "alice2", "name": "Alice Two"})
	op.SetAccount(t, "u2", map[string]any{"preferred_username": "bob"})
	op.SetAutoLogin(t, "u2")
	s2 := login(t, ctx, b, p, conf, oauth2.SetAuthURLParam("prompt", "login"))
	if s2.idToken.Subject != "u2" {
		t.Fatalf("after SetAutoLogin(u2) and prompt=login: sub = %q", s2.idToken.Subject)
	}
	// Signing in another account ended u1's upstream session first.
	checkLogoutToken(t, ctx, p, clientID, relying, "u1", claimsOf(t, s.idToken)["sid"].(string))
	if op.LastAuthorizationRequest(t)["prompt"] != "login" {
		t.Fatalf("prompt not recorded: %v", op.LastAuthorizationRequest(t))
	}
	ui2, err := p.UserInfo(ctx, oauth2.StaticTokenSource(s2.token))
	if err != nil || claimsOf(t, ui2)["preferred_username"] != "bob" {
		t.Fatalf("userinfo of u2: %v %v", ui2, err)
	}

	t.Run("DenyLogins", func(t *testing.T) {
		op.DenyLogins(t, true)
		defer op.DenyLogins(t, false)
		cb := b.landAt(t, conf.AuthCodeURL("st", oidc.Nonce("n"), oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "login")))
		if cb.Query().Get("error") != "access_denied" || cb.Query().Get("state") != "st" {
			t.Fatalf("denied login landed at %s", cb)
		}
	})

	// RP-Initiated Logout through end_session_endpoint: no form to submit,
	// back at the post_logout_redirect_uri with the state; the whole
	// upstream session ends, which also sends a Logout Token.
	op.SetAutoLogin(t, "u1")
	s3 := login(t, ctx, b, p, conf, oauth2.SetAuthURLParam("prompt", "login"))
	checkLogoutToken(t, ctx, p, clientID, relying, "u2", claimsOf(t, s2.idToken)["sid"].(string))
	end := meta.EndSession + "?" + url.Values{
		"id_token_hint":            {s3.rawID},
		"post_logout_redirect_uri": {relying.signedOut()},
		"state":                    {"bye"},
	}.Encode()
	out := b.landAt(t, end)
	if got := out.Scheme + "://" + out.Host + out.Path; got != relying.signedOut() || out.Query().Get("state") != "bye" {
		t.Fatalf("RP-initiated logout landed at %s", out)
	}
	checkLogoutToken(t, ctx, p, clientID, relying, "u1", claimsOf(t, s3.idToken)["sid"].(string))
	assertSignedOut(t, b, conf)

	// Back-Channel Logout on demand: the upstream ends the account's
	// session and POSTs a Logout Token to the client.
	s4 := login(t, ctx, b, p, conf)
	sid4 := claimsOf(t, s4.idToken)["sid"].(string)
	notified := op.BackchannelLogout(t, "u1", clientID)
	if len(notified) != 1 || notified[0].ClientID != clientID || notified[0].Sub != "u1" || notified[0].SID != sid4 {
		t.Fatalf("notified %+v, want one for sid %s", notified, sid4)
	}
	checkLogoutToken(t, ctx, p, clientID, relying, "u1", sid4)
	assertSignedOut(t, b, conf)
	if _, err := p.UserInfo(ctx, oauth2.StaticTokenSource(s4.token)); err == nil {
		t.Fatal("userinfo still accepts the access token of the logged-out grant")
	}

	t.Run("login form without auto-login", func(t *testing.T) {
		op.SetAutoLogin(t, "")
		resp, err := b.c.Get(conf.AuthCodeURL("st", oidc.Nonce("n"), oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `name="login"`) {
			t.Fatalf("%s: %s", resp.Status, page)
		}
		resp, err = b.c.PostForm(resp.Request.URL.String()+"/login", url.Values{"login": {"u2"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, err := resp.Location()
		if err != nil || loc.Query().Get("code") == "" || loc.Query().Get("state") != "st" {
			t.Fatalf("after the login form: %s %v %v", resp.Status, loc, err)
		}
	})
}

// checkLogoutToken receives one Logout Token at the RP and verifies it
// with go-oidc as a Back-Channel Logout receiver would.
func checkLogoutToken(t *testing.T, ctx context.Context, p *oidc.Provider, clientID string, relying *rp, sub, sid string) {
	t.Helper()
	var raw string
	select {
	case raw = <-relying.logoutTokens:
	case <-time.After(5 * time.Second):
		t.Fatal("no Logout Token reached the backchannel_logout_uri")
	}
	lt, err := p.Verifier(&oidc.Config{ClientID: clientID}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("verify logout token: %v", err)
	}
	var c struct {
		Events map[string]map[string]any `json:"events"`
		SID    string                    `json:"sid"`
		JTI    string                    `json:"jti"`
		Nonce  *string                   `json:"nonce"`
	}
	if err := lt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Events[backchannelEvent]; !ok || lt.Subject != sub || c.SID != sid || c.JTI == "" || c.Nonce != nil {
		t.Fatalf("logout token claims: sub=%q %+v (want sub %q sid %q)", lt.Subject, c, sub, sid)
	}
}

// assertSignedOut checks that the upstream session is gone: prompt=none
// answers login_required.
func assertSignedOut(t *testing.T, b *browser, conf *oauth2.Config) {
	t.Helper()
	cb := b.landAt(t, conf.AuthCodeURL("st", oidc.Nonce("n"), oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "none")))
	if cb.Query().Get("error") != "login_required" {
		t.Fatalf("prompt=none after logout landed at %s", cb)
	}
}
