package servertest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/internal/directory"
)

// OPRedirectURI is the redirect URI of the fixture's application.
const OPRedirectURI = "http://127.0.0.1:9/cb"

// OP is a running Latchkey with a fixture organization, seen by a client
// that does not follow redirects. Its methods speak the OpenID Provider
// protocols with raw requests, so tests see exact status codes, headers and
// bodies.
type OP struct {
	T    *testing.T
	Inst *Instance
	Fx   *Fixture
	HTTP *http.Client
}

// StartOP starts a Latchkey on backend with the "acme" fixture.
func StartOP(t *testing.T, backend string) *OP {
	t.Helper()
	inst := Start(t, backend)
	return NewOP(t, inst, inst.NewFixture(t, "acme", OPRedirectURI))
}

// NewOP speaks to inst with fx as the default organization.
func NewOP(t *testing.T, inst *Instance, fx *Fixture) *OP {
	return &OP{T: t, Inst: inst, Fx: fx, HTTP: &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       60 * time.Second,
	}}
}

// OPClient is an application's credentials at one organization.
type OPClient struct {
	Org, ID, Secret, RedirectURI string
}

// Client is the fixture application's credentials.
func (s *OP) Client(fx *Fixture) OPClient {
	return OPClient{Org: fx.Org, ID: fx.ClientID, Secret: fx.ClientSecret, RedirectURI: fx.RedirectURI}
}

// NewApp registers an application in org; public ones get no secret.
func (s *OP) NewApp(t *testing.T, org string, public bool, c directory.AppChanges) OPClient {
	t.Helper()
	if c.Name == nil {
		name := "Extra"
		c.Name = &name
	}
	if c.RedirectURIs == nil {
		c.RedirectURIs = &[]string{OPRedirectURI}
	}
	app, sec, err := s.Inst.Env.Directory.CreateApp(context.Background(), s.Inst.Actor, org, public, c)
	if err != nil {
		t.Fatalf("create app: %v", err)
	}
	return OPClient{Org: org, ID: app.ClientID, Secret: sec, RedirectURI: (*c.RedirectURIs)[0]}
}

// OPResponse is a back-channel response with its body read.
type OPResponse struct {
	Status int
	Header http.Header
	Body   string
}

// JSON decodes the body as a JSON object, failing the test otherwise.
func (r *OPResponse) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.Body), &m); err != nil {
		t.Fatalf("status %d: body is not a JSON object: %v\n%s", r.Status, err, r.Body)
	}
	return m
}

// Str returns a string field of the JSON body ("" if absent).
func (r *OPResponse) Str(t *testing.T, k string) string {
	t.Helper()
	v, _ := r.JSON(t)[k].(string)
	return v
}

// WantError asserts a JSON OAuth error with the given status and code.
func (r *OPResponse) WantError(t *testing.T, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status = %d, want %d (%s)\n%s", r.Status, status, code, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q, want JSON\n%s", ct, r.Body)
	}
	m := r.JSON(t)
	if m["error"] != code {
		t.Fatalf("error = %v, want %q\n%s", m["error"], code, r.Body)
	}
	for _, k := range []string{"access_token", "refresh_token", "id_token"} {
		if _, ok := m[k]; ok {
			t.Fatalf("error response carries %s:\n%s", k, r.Body)
		}
	}
}

// ClientAuth says how a request authenticates its client.
type ClientAuth int

const (
	AuthBasic ClientAuth = iota // client_secret_basic
	AuthPost                    // client_secret_post
	AuthNone                    // client_id only (public clients)
	AuthOmit                    // no client identification at all
)

// Send performs one request and reads the whole response.
func (s *OP) Send(t *testing.T, req *http.Request) *OPResponse {
	t.Helper()
	resp, err := s.HTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &OPResponse{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}
}

// PostRaw posts body with contentType to the org endpoint path.
func (s *OP) PostRaw(t *testing.T, org, path, contentType, body string, prepare func(*http.Request)) *OPResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.Inst.Issuer(org)+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if prepare != nil {
		prepare(req)
	}
	return s.Send(t, req)
}

// BackChannel posts form to an org endpoint (token, revoke, introspect)
// with the client authenticated as auth says.
func (s *OP) BackChannel(t *testing.T, c OPClient, path string, auth ClientAuth, form url.Values) *OPResponse {
	t.Helper()
	form = cloneValues(form)
	var basic bool
	switch auth {
	case AuthBasic:
		basic = true
	case AuthPost:
		form.Set("client_id", c.ID)
		form.Set("client_secret", c.Secret)
	case AuthNone:
		form.Set("client_id", c.ID)
	}
	return s.PostRaw(t, c.Org, path, "application/x-www-form-urlencoded", form.Encode(), func(r *http.Request) {
		if basic {
			r.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
		}
	})
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// AuthorizeURL is an authorization request of c at its org.
func (s *OP) AuthorizeURL(c OPClient, params url.Values) string {
	q := url.Values{
		"client_id": {c.ID}, "redirect_uri": {c.RedirectURI}, "response_type": {"code"},
		"scope": {"openid profile email"}, "state": {"st4te"},
	}
	for k, vs := range params {
		q[k] = vs
	}
	for k, vs := range q {
		if len(vs) == 1 && vs[0] == "" {
			delete(q, k) // an empty value in params removes the default
		}
	}
	return s.Inst.Issuer(c.Org) + "/authorize?" + q.Encode()
}

// PKCE is a fresh S256 verifier and the request parameters that carry it.
func PKCE() (verifier string, params url.Values) {
	v := oauth2.GenerateVerifier()
	return v, url.Values{"code_challenge": {oauth2.S256ChallengeFromVerifier(v)}, "code_challenge_method": {"S256"}}
}

// Callback signs b in (if a login page is shown) and returns the query of
// the redirect back to c.
func (s *OP) Callback(t *testing.T, b *Browser, c OPClient, params url.Values) url.Values {
	t.Helper()
	cb, err := b.AuthorizeAndLogin(s.AuthorizeURL(c, params), c.RedirectURI, s.Fx.UserName, s.Fx.Password)
	if err != nil {
		t.Fatal(err)
	}
	return cb.Query()
}

// Code runs the front channel for c with PKCE and returns a code and its verifier.
func (s *OP) Code(t *testing.T, b *Browser, c OPClient, extra ...url.Values) (code, verifier string) {
	t.Helper()
	verifier, params := PKCE()
	for _, e := range extra {
		for k, vs := range e {
			params[k] = vs
		}
	}
	q := s.Callback(t, b, c, params)
	if q.Get("error") != "" || q.Get("code") == "" {
		t.Fatalf("authorization failed: %v", q)
	}
	return q.Get("code"), verifier
}

// Exchange redeems a code at c's token endpoint.
func (s *OP) Exchange(t *testing.T, c OPClient, auth ClientAuth, code, verifier string) *OPResponse {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.RedirectURI}}
	if verifier != "" {
		form.Set("code_verifier", verifier)
	}
	return s.BackChannel(t, c, "/token", auth, form)
}

// OPTokens are the tokens of one successful token response.
type OPTokens struct {
	Access, Refresh, ID string
}

// Tokens asserts a successful, uncacheable token response and returns its tokens.
func (r *OPResponse) Tokens(t *testing.T) OPTokens {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("token request failed: status %d\n%s", r.Status, r.Body)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("token response Cache-Control = %q, want no-store (RFC 6749 §5.1)", cc)
	}
	m := r.JSON(t)
	tok := OPTokens{}
	tok.Access, _ = m["access_token"].(string)
	tok.Refresh, _ = m["refresh_token"].(string)
	tok.ID, _ = m["id_token"].(string)
	if tok.Access == "" {
		t.Fatalf("no access_token:\n%s", r.Body)
	}
	return tok
}

// SignIn runs a whole code flow for c in b and returns the tokens.
func (s *OP) SignIn(t *testing.T, b *Browser, c OPClient, extra ...url.Values) OPTokens {
	t.Helper()
	code, verifier := s.Code(t, b, c, extra...)
	return s.Exchange(t, c, AuthBasic, code, verifier).Tokens(t)
}

// Refresh uses a refresh token at c's token endpoint.
func (s *OP) Refresh(t *testing.T, c OPClient, refreshToken string) *OPResponse {
	t.Helper()
	return s.BackChannel(t, c, "/token", AuthBasic, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}})
}

// Userinfo calls org's userinfo endpoint with a bearer token.
func (s *OP) Userinfo(t *testing.T, org, accessToken string) *OPResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.Inst.Issuer(org)+"/userinfo", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	return s.Send(t, req)
}

// WantUserinfo asserts the status userinfo gives accessToken at org.
func (s *OP) WantUserinfo(t *testing.T, org, accessToken string, status int) *OPResponse {
	t.Helper()
	r := s.Userinfo(t, org, accessToken)
	if r.Status != status {
		t.Fatalf("userinfo status = %d, want %d\n%s", r.Status, status, r.Body)
	}
	if status == http.StatusUnauthorized && !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("userinfo 401 without an invalid_token challenge: %q", r.Header.Get("WWW-Authenticate"))
	}
	return r
}

// Introspect asks c's org about token, as c.
func (s *OP) Introspect(t *testing.T, c OPClient, token string) map[string]any {
	t.Helper()
	r := s.BackChannel(t, c, "/introspect", AuthBasic, url.Values{"token": {token}})
	if r.Status != http.StatusOK {
		t.Fatalf("introspect status = %d\n%s", r.Status, r.Body)
	}
	return r.JSON(t)
}

// WantInactive asserts introspection says exactly {"active":false}.
func (s *OP) WantInactive(t *testing.T, c OPClient, token string) {
	t.Helper()
	m := s.Introspect(t, c, token)
	if m["active"] != false || len(m) != 1 {
		t.Fatalf("introspection = %v, want only active=false", m)
	}
}

// WantActive asserts introspection says the token is active.
func (s *OP) WantActive(t *testing.T, c OPClient, token string) map[string]any {
	t.Helper()
	m := s.Introspect(t, c, token)
	if m["active"] != true {
		t.Fatalf("introspection = %v, want active", m)
	}
	return m
}

// Revoke posts token to c's revocation endpoint.
func (s *OP) Revoke(t *testing.T, c OPClient, auth ClientAuth, token string) *OPResponse {
	t.Helper()
	return s.BackChannel(t, c, "/revoke", auth, url.Values{"token": {token}})
}

// EndSessionCall is a cookie-less GET of end_session, as a relying party's
// back end makes it (oauth2-proxy's backend logout URL, a server-side
// logout of mod_auth_openidc).
func (s *OP) EndSessionCall(t *testing.T, org string, q url.Values) *OPResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.Inst.Issuer(org)+"/end_session?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s.Send(t, req)
}

// WantRedirectError asserts p redirects to redirectURI with error code, the
// state st4te and the issuer of org (RFC 9207).
func (s *OP) WantRedirectError(t *testing.T, p *Page, redirectURI, org, code string) url.Values {
	t.Helper()
	if p.Status != http.StatusFound && p.Status != http.StatusSeeOther {
		t.Fatalf("status = %d, want a redirect with error=%s\n%s", p.Status, code, p.Body)
	}
	if !strings.HasPrefix(p.Location, redirectURI+"?") {
		t.Fatalf("Location = %q, want the redirect URI %s", p.Location, redirectURI)
	}
	u, err := url.Parse(p.Location)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("error") != code || q.Get("state") != "st4te" || q.Get("iss") != s.Inst.Issuer(org) || q.Has("code") {
		t.Fatalf("redirect = %s, want error=%s with state and iss %s and no code", p.Location, code, s.Inst.Issuer(org))
	}
	return q
}

// JWTPart decodes part i (0 header, 1 payload) of a compact JWS without
// verifying it.
func JWTPart(t *testing.T, token string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatalf("decode JWS part %d: %v", i, err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("JWS part %d is not JSON: %v", i, err)
	}
	return m
}

// LoginPage starts an authorization request for c in b and returns the login page.
func (s *OP) LoginPage(t *testing.T, b *Browser, c OPClient, params url.Values) *Page {
	t.Helper()
	return WantLoginPage(t, b, b.Get(s.AuthorizeURL(c, params)), c.RedirectURI, c.Org)
}

// WantLoginPage asserts that following p ends on the org's login page.
func WantLoginPage(t *testing.T, b *Browser, p *Page, redirectURI, org string) *Page {
	t.Helper()
	p = b.Follow(p, redirectURI)
	if p.Location != "" || p.Status != http.StatusOK || p.URL.Path != "/o/"+org+"/login" || len(p.Forms()) == 0 {
		t.Fatalf("want the login page, got %d at %s (Location %q)", p.Status, p.URL, p.Location)
	}
	return p
}

// SubmitLogin enters userName and pw on the login page p.
func SubmitLogin(t *testing.T, b *Browser, p *Page, userName, pw string) *Page {
	t.Helper()
	f := p.Form(t)
	if !f.Has("password") {
		p = b.Submit(f, map[string]string{"username": userName})
		if p.Status != http.StatusOK {
			t.Fatalf("identifier step: %d\n%s", p.Status, p.Body)
		}
		f = p.Form(t)
		if !f.Has("password") {
			t.Fatalf("no password step for %q", userName)
		}
	}
	return b.Submit(f, map[string]string{"password": pw})
}

// BasicAuth is the credentials part of an HTTP Basic Authorization header.
func BasicAuth(user, pass string) string {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(user, pass)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}
