package server_test

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
	"github.com/latchkey/latchkey/internal/server/servertest"
)

// Helpers shared by the op_*_test.go files: raw protocol requests against a
// running Latchkey, so tests see exact status codes, headers and bodies.

const opRedirectURI = "http://127.0.0.1:9/cb"

// opServer is a running Latchkey with the "acme" fixture.
type opServer struct {
	t    *testing.T
	inst *servertest.Instance
	fx   *servertest.Fixture
	http *http.Client
}

func startOP(t *testing.T, backend string) *opServer {
	t.Helper()
	inst := servertest.Start(t, backend)
	fx := inst.NewFixture(t, "acme", opRedirectURI)
	return &opServer{t: t, inst: inst, fx: fx, http: &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}}
}

// opClient is an application's credentials at one organization.
type opClient struct {
	org, id, secret, redirectURI string
}

func (s *opServer) client(fx *servertest.Fixture) opClient {
	return opClient{org: fx.Org, id: fx.ClientID, secret: fx.ClientSecret, redirectURI: fx.RedirectURI}
}

// newApp registers an application in org; public ones get no secret.
func (s *opServer) newApp(t *testing.T, org string, public bool, c directory.AppChanges) opClient {
	t.Helper()
	if c.Name == nil {
		name := "Extra"
		c.Name = &name
	}
	if c.RedirectURIs == nil {
		c.RedirectURIs = &[]string{opRedirectURI}
	}
	app, sec, err := s.inst.Env.Directory.CreateApp(context.Background(), s.inst.Actor, org, public, c)
	if err != nil {
		t.Fatalf("create app: %v", err)
	}
	return opClient{org: org, id: app.ClientID, secret: sec, redirectURI: (*c.RedirectURIs)[0]}
}

// opResponse is a back-channel response with its body read.
type opResponse struct {
	Status int
	Header http.Header
	Body   string
}

// JSON decodes the body as a JSON object, failing the test otherwise.
func (r *opResponse) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.Body), &m); err != nil {
		t.Fatalf("status %d: body is not a JSON object: %v\n%s", r.Status, err, r.Body)
	}
	return m
}

// Str returns a string field of the JSON body ("" if absent).
func (r *opResponse) Str(t *testing.T, k string) string {
	t.Helper()
	v, _ := r.JSON(t)[k].(string)
	return v
}

// wantError asserts a JSON OAuth error with the given status and code.
func (r *opResponse) wantError(t *testing.T, status int, code string) {
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

// clientAuth says how a request authenticates its client.
type clientAuth int

const (
	authBasic clientAuth = iota // client_secret_basic
	authPost                    // client_secret_post
	authNone                    // client_id only (public clients)
	authOmit                    // no client identification at all
)

// send performs one request and reads the whole response.
func (s *opServer) send(t *testing.T, req *http.Request) *opResponse {
	t.Helper()
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &opResponse{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}
}

// postRaw posts body with contentType to the org endpoint path.
func (s *opServer) postRaw(t *testing.T, org, path, contentType, body string, prepare func(*http.Request)) *opResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.inst.Issuer(org)+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if prepare != nil {
		prepare(req)
	}
	return s.send(t, req)
}

// backChannel posts form to an org endpoint (token, revoke, introspect)
// with the client authenticated as auth says.
func (s *opServer) backChannel(t *testing.T, c opClient, path string, auth clientAuth, form url.Values) *opResponse {
	t.Helper()
	form = cloneValues(form)
	var basic bool
	switch auth {
	case authBasic:
		basic = true
	case authPost:
		form.Set("client_id", c.id)
		form.Set("client_secret", c.secret)
	case authNone:
		form.Set("client_id", c.id)
	}
	return s.postRaw(t, c.org, path, "application/x-www-form-urlencoded", form.Encode(), func(r *http.Request) {
		if basic {
			r.SetBasicAuth(url.QueryEscape(c.id), url.QueryEscape(c.secret))
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

// authorizeURL is an authorization request of c at its org.
func (s *opServer) authorizeURL(c opClient, params url.Values) string {
	q := url.Values{
		"client_id": {c.id}, "redirect_uri": {c.redirectURI}, "response_type": {"code"},
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
	return s.inst.Issuer(c.org) + "/authorize?" + q.Encode()
}

// pkce is a fresh S256 verifier and the request parameters that carry it.
func pkce() (verifier string, params url.Values) {
	v := oauth2.GenerateVerifier()
	return v, url.Values{"code_challenge": {oauth2.S256ChallengeFromVerifier(v)}, "code_challenge_method": {"S256"}}
}

// callback signs b in (if a login page is shown) and returns the query of
// the redirect back to c.
func (s *opServer) callback(t *testing.T, b *servertest.Browser, c opClient, params url.Values) url.Values {
	t.Helper()
	cb, err := b.AuthorizeAndLogin(s.authorizeURL(c, params), c.redirectURI, s.fx.UserName, s.fx.Password)
	if err != nil {
		t.Fatal(err)
	}
	return cb.Query()
}

// code runs the front channel for c with PKCE and returns a code and its verifier.
func (s *opServer) code(t *testing.T, b *servertest.Browser, c opClient, extra ...url.Values) (code, verifier string) {
	t.Helper()
	verifier, params := pkce()
	for _, e := range extra {
		for k, vs := range e {
			params[k] = vs
		}
	}
	q := s.callback(t, b, c, params)
	if q.Get("error") != "" || q.Get("code") == "" {
		t.Fatalf("authorization failed: %v", q)
	}
	return q.Get("code"), verifier
}

// exchange redeems a code at c's token endpoint.
func (s *opServer) exchange(t *testing.T, c opClient, auth clientAuth, code, verifier string) *opResponse {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.redirectURI}}
	if verifier != "" {
		form.Set("code_verifier", verifier)
	}
	return s.backChannel(t, c, "/token", auth, form)
}

// opTokens are the tokens of one successful token response.
type opTokens struct {
	Access, Refresh, ID string
}

func (r *opResponse) tokens(t *testing.T) opTokens {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("token request failed: status %d\n%s", r.Status, r.Body)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("token response Cache-Control = %q, want no-store (RFC 6749 §5.1)", cc)
	}
	m := r.JSON(t)
	tok := opTokens{}
	tok.Access, _ = m["access_token"].(string)
	tok.Refresh, _ = m["refresh_token"].(string)
	tok.ID, _ = m["id_token"].(string)
	if tok.Access == "" {
		t.Fatalf("no access_token:\n%s", r.Body)
	}
	return tok
}

// signIn runs a whole code flow for c in b and returns the tokens.
func (s *opServer) signIn(t *testing.T, b *servertest.Browser, c opClient, extra ...url.Values) opTokens {
	t.Helper()
	code, verifier := s.code(t, b, c, extra...)
	return s.exchange(t, c, authBasic, code, verifier).tokens(t)
}

// refresh uses a refresh token at c's token endpoint.
func (s *opServer) refresh(t *testing.T, c opClient, refreshToken string) *opResponse {
	t.Helper()
	return s.backChannel(t, c, "/token", authBasic, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}})
}

// userinfo calls org's userinfo endpoint with a bearer token.
func (s *opServer) userinfo(t *testing.T, org, accessToken string) *opResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.inst.Issuer(org)+"/userinfo", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	return s.send(t, req)
}

// wantUserinfo asserts the status userinfo gives accessToken at org.
func (s *opServer) wantUserinfo(t *testing.T, org, accessToken string, status int) *opResponse {
	t.Helper()
	r := s.userinfo(t, org, accessToken)
	if r.Status != status {
		t.Fatalf("userinfo status = %d, want %d\n%s", r.Status, status, r.Body)
	}
	if status == http.StatusUnauthorized && !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("userinfo 401 without an invalid_token challenge: %q", r.Header.Get("WWW-Authenticate"))
	}
	return r
}

// introspect asks c's org about token, as c.
func (s *opServer) introspect(t *testing.T, c opClient, token string) map[string]any {
	t.Helper()
	r := s.backChannel(t, c, "/introspect", authBasic, url.Values{"token": {token}})
	if r.Status != http.StatusOK {
		t.Fatalf("introspect status = %d\n%s", r.Status, r.Body)
	}
	return r.JSON(t)
}

// wantInactive asserts introspection says exactly {"active":false}.
func (s *opServer) wantInactive(t *testing.T, c opClient, token string) {
	t.Helper()
	m := s.introspect(t, c, token)
	if m["active"] != false || len(m) != 1 {
		t.Fatalf("introspection = %v, want only active=false", m)
	}
}

// wantActive asserts introspection says the token is active.
func (s *opServer) wantActive(t *testing.T, c opClient, token string) map[string]any {
	t.Helper()
	m := s.introspect(t, c, token)
	if m["active"] != true {
		t.Fatalf("introspection = %v, want active", m)
	}
	return m
}

// revoke posts token to c's revocation endpoint.
func (s *opServer) revoke(t *testing.T, c opClient, auth clientAuth, token string) *opResponse {
	t.Helper()
	return s.backChannel(t, c, "/revoke", auth, url.Values{"token": {token}})
}

// wantRedirectError asserts p redirects to redirectURI with error code, the
// state st4te and the issuer of org (RFC 9207).
func (s *opServer) wantRedirectError(t *testing.T, p *servertest.Page, redirectURI, org, code string) url.Values {
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
	if q.Get("error") != code || q.Get("state") != "st4te" || q.Get("iss") != s.inst.Issuer(org) || q.Has("code") {
		t.Fatalf("redirect = %s, want error=%s with state and iss %s and no code", p.Location, code, s.inst.Issuer(org))
	}
	return q
}

// jwtPart decodes part i (0 header, 1 payload) of a compact JWS without
// verifying it.
func jwtPart(t *testing.T, token string, i int) map[string]any {
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
