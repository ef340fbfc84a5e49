package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// flowDef is one whole flow. setup runs once per virtual user before the
// measured phase, run is what is measured, and repair (optional) puts a
// virtual user back on its feet after a failed run, unmeasured. bound names
// the measured limit (limits.go) the flow does once per run and that bounds
// it; "" when no CPU-bound primitive does (the database does).
type flowDef struct {
	name   string
	bound  string
	setup  func(ctx context.Context, v *vu) error
	run    func(ctx context.Context, v *vu) error
	repair func(ctx context.Context, v *vu) error
}

var flows = []flowDef{
	{name: "silent-sso", bound: limitRS256, setup: setupSignedIn, run: runSilentSSO},
	{name: "silent-sso-es256", bound: limitES256, setup: setupSignedInES256, run: runSilentSSOES256},
	{name: "refresh", bound: limitRS256, setup: setupRefresh, run: runRefresh, repair: setupRefreshToken},
	{name: "refresh-es256", bound: limitES256, setup: setupRefreshES256, run: runRefreshES256, repair: setupRefreshToken},
	{name: "client-credentials", setup: setupService, run: runClientCredentials},
	{name: "introspect", setup: setupService, run: runIntrospect},
	{name: "password-login", bound: limitArgon2id, setup: setupPassword, run: runPasswordLogin},
	{name: "ticket-login", setup: setupTicket, run: runTicketLogin},
}

func flowNames() []string {
	var out []string
	for _, f := range flows {
		out = append(out, f.name)
	}
	return out
}

func flowByName(name string) flowDef {
	for _, f := range flows {
		if f.name == name {
			return f
		}
	}
	panic("unknown flow " + name)
}

// vu is one virtual user: a relying party's back channel, a platform's
// API client and, for the flows that keep one, a signed-in browser.
type vu struct {
	id      int
	inst    *instance
	rp      *http.Client // token and userinfo requests (no cookies)
	api     *http.Client // the trusted platform's API calls
	b       *browser     // the signed-in browser (silent-sso, refresh)
	user    string
	refresh string // the current refresh token (refresh)
	// rpConfig is the relying party's client (nil: the RS256 application).
	rpConfig *oauth2.Config
}

// client is the relying party v acts as.
func (v *vu) client() *oauth2.Config {
	if v.rpConfig != nil {
		return v.rpConfig
	}
	return v.inst.oauth
}

func newVU(inst *instance, id int) *vu {
	return &vu{id: id, inst: inst, rp: newClient(nil, nil), api: newClient(nil, nil)}
}

func (v *vu) close() {
	v.rp.CloseIdleConnections()
	v.api.CloseIdleConnections()
	if v.b != nil {
		v.b.close()
	}
}

// rpCtx makes oauth2 and go-oidc use the virtual user's client.
func (v *vu) rpCtx(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, v.rp)
}

func randomString() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// authRequest is one authorization request of the relying party.
type authRequest struct {
	url, state, verifier string
}

func (v *vu) newAuthRequest() authRequest {
	r := authRequest{state: randomString(), verifier: oauth2.GenerateVerifier()}
	r.url = v.client().AuthCodeURL(r.state, oauth2.S256ChallengeOption(r.verifier), oidc.Nonce(randomString()))
	return r
}

// code reads the authorization code from the redirect to the application.
func (r authRequest) code(location string) (string, error) {
	u, err := url.Parse(location)
	if err != nil {
		return "", err
	}
	q := u.Query()
	if e := q.Get("error"); e != "" {
		return "", fmt.Errorf("authorization error %s: %s", e, q.Get("error_description"))
	}
	if q.Get("state") != r.state || q.Get("code") == "" {
		return "", fmt.Errorf("callback without code or with the wrong state")
	}
	return q.Get("code"), nil
}

// exchange redeems a code at the token endpoint (client_secret_basic, PKCE).
func (v *vu) exchange(ctx context.Context, r authRequest, code string) (*oauth2.Token, error) {
	tok, err := v.client().Exchange(v.rpCtx(ctx), code, oauth2.VerifierOption(r.verifier))
	if err != nil {
		return nil, fmt.Errorf("token exchange: %w", err)
	}
	if id, _ := tok.Extra("id_token").(string); id == "" {
		return nil, errors.New("token response without id_token")
	}
	return tok, nil
}

// passwordLogin runs authorize in b, which must show the login page, signs
// in as user (identifier, then password) and returns the code.
func (v *vu) passwordLogin(ctx context.Context, b *browser, r authRequest, user string) (string, error) {
	p, err := b.get(ctx, r.url)
	if err != nil {
		return "", fmt.Errorf("authorize: %w", err)
	}
	if p, err = b.follow(ctx, p, redirectURI); err != nil {
		return "", fmt.Errorf("authorize: %w", err)
	}
	if p.location != "" || p.status != http.StatusOK {
		return "", fmt.Errorf("authorize: want the login page, got status %d at %s", p.status, p.url.Path)
	}
	f, err := p.firstForm()
	if err != nil {
		return "", err
	}
	if !f.fields["username"] || f.fields["password"] || !f.fields["csrf_token"] || !f.fields["req"] {
		return "", fmt.Errorf("identifier form has fields %v", f.values)
	}
	if p, err = b.submit(ctx, f, map[string]string{"username": user}); err != nil {
		return "", fmt.Errorf("identifier step: %w", err)
	}
	if p.status != http.StatusOK {
		return "", fmt.Errorf("identifier step: status %d", p.status)
	}
	if f, err = p.firstForm(); err != nil {
		return "", err
	}
	if !f.fields["password"] {
		return "", fmt.Errorf("password form has fields %v", f.values)
	}
	if p, err = b.submit(ctx, f, map[string]string{"password": userPass}); err != nil {
		return "", fmt.Errorf("password step: %w", err)
	}
	if p.status != http.StatusSeeOther {
		return "", fmt.Errorf("password step: status %d: %s", p.status, loginError(p.body))
	}
	if p, err = b.follow(ctx, p, redirectURI); err != nil {
		return "", fmt.Errorf("after sign-in: %w", err)
	}
	if !strings.HasPrefix(p.location, redirectURI) {
		return "", fmt.Errorf("after sign-in: status %d at %s, not back at the application", p.status, p.url.Path)
	}
	return r.code(p.location)
}

// loginError is the login page's error message, if any.
func loginError(body string) string {
	const marker = `id="login-error">`
	i := strings.Index(body, marker)
	if i < 0 {
		return "(no error message)"
	}
	rest := body[i+len(marker):]
	if j := strings.Index(rest, "<"); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// silentCode runs authorize in v's signed-in browser: no login page, straight
// back to the application with a code.
func (v *vu) silentCode(ctx context.Context, r authRequest) (string, error) {
	p, err := v.b.get(ctx, r.url)
	if err != nil {
		return "", fmt.Errorf("authorize: %w", err)
	}
	if p, err = v.b.follow(ctx, p, redirectURI); err != nil {
		return "", fmt.Errorf("authorize: %w", err)
	}
	if !strings.HasPrefix(p.location, redirectURI) {
		return "", fmt.Errorf("silent authorize: status %d at %s instead of a code", p.status, p.url.Path)
	}
	return r.code(p.location)
}

// setupSignedIn creates the virtual user's account and signs its browser in.
func setupSignedIn(ctx context.Context, v *vu) error {
	v.user = "sso-" + strconv.Itoa(v.id)
	return v.signIn(ctx)
}

func (v *vu) signIn(ctx context.Context) error {
	if err := v.inst.createUser(ctx, v.user); err != nil {
		return fmt.Errorf("create user %s: %w", v.user, err)
	}
	v.b = v.inst.newBrowser()
	r := v.newAuthRequest()
	code, err := v.passwordLogin(ctx, v.b, r, v.user)
	if err != nil {
		return err
	}
	_, err = v.exchange(ctx, r, code)
	return err
}

// runSilentSSO: authorize (signed in) → code → token → userinfo.
func runSilentSSO(ctx context.Context, v *vu) error {
	r := v.newAuthRequest()
	code, err := v.silentCode(ctx, r)
	if err != nil {
		return err
	}
	tok, err := v.exchange(ctx, r, code)
	if err != nil {
		return err
	}
	info, err := v.inst.provider.UserInfo(v.rpCtx(ctx), oauth2.StaticTokenSource(tok))
	if err != nil {
		return fmt.Errorf("userinfo: %w", err)
	}
	if info.Subject == "" {
		return errors.New("userinfo without sub")
	}
	return nil
}

// setupSignedInES256 signs the browser in through the application whose
// ID tokens are ES256.
func setupSignedInES256(ctx context.Context, v *vu) error {
	v.user = "es-" + strconv.Itoa(v.id)
	v.rpConfig = v.inst.oauthES256
	return v.signIn(ctx)
}

// runSilentSSOES256 is runSilentSSO for the ES256 application; it checks
// the ID token really is ES256-signed.
func runSilentSSOES256(ctx context.Context, v *vu) error {
	r := v.newAuthRequest()
	code, err := v.silentCode(ctx, r)
	if err != nil {
		return err
	}
	tok, err := v.exchange(ctx, r, code)
	if err != nil {
		return err
	}
	if alg := jwsAlg(tok.Extra("id_token").(string)); alg != "ES256" {
		return fmt.Errorf("id_token signed with %q, want ES256", alg)
	}
	info, err := v.inst.provider.UserInfo(v.rpCtx(ctx), oauth2.StaticTokenSource(tok))
	if err != nil {
		return fmt.Errorf("userinfo: %w", err)
	}
	if info.Subject == "" {
		return errors.New("userinfo without sub")
	}
	return nil
}

// jwsAlg is the alg of a compact JWS's protected header ("" if unreadable).
func jwsAlg(compact string) string {
	head, _, _ := strings.Cut(compact, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return ""
	}
	var h struct {
		Alg string `json:"alg"`
	}
	_ = json.Unmarshal(raw, &h)
	return h.Alg
}

// setupService needs nothing per virtual user: the service application is
// provisioned with the organization.
func setupService(context.Context, *vu) error { return nil }

// serviceToken: one client_credentials grant (client_secret_basic), an
// opaque access token.
func (v *vu) serviceToken(ctx context.Context) (string, error) {
	tok, err := v.inst.service.Token(v.rpCtx(ctx))
	if err != nil {
		return "", fmt.Errorf("client_credentials: %w", err)
	}
	if tok.AccessToken == "" {
		return "", errors.New("client_credentials: no access token")
	}
	return tok.AccessToken, nil
}

func runClientCredentials(ctx context.Context, v *vu) error {
	_, err := v.serviceToken(ctx)
	return err
}

// runIntrospect: client_credentials, then the same client introspects the
// token it got (RFC 7662), which must be active.
func runIntrospect(ctx context.Context, v *vu) error {
	at, err := v.serviceToken(ctx)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.inst.iss+"/introspect",
		strings.NewReader(url.Values{"token": {at}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(v.inst.service.ClientID), url.QueryEscape(v.inst.service.ClientSecret))
	resp, err := v.rp.Do(req)
	if err != nil {
		return fmt.Errorf("introspect: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		Active   bool   `json:"active"`
		ClientID string `json:"client_id"`
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("introspect: status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		return fmt.Errorf("introspect: %w", err)
	}
	if !out.Active || out.ClientID != v.inst.service.ClientID {
		return fmt.Errorf("introspect: a fresh token is not active for its client: %+v", out)
	}
	return nil
}

func setupRefresh(ctx context.Context, v *vu) error {
	return v.signInForRefresh(ctx, "rt-")
}

// setupRefreshES256 is setupRefresh through the application whose ID
// tokens are ES256.
func setupRefreshES256(ctx context.Context, v *vu) error {
	v.rpConfig = v.inst.oauthES256
	return v.signInForRefresh(ctx, "rt-es-")
}

// signInForRefresh signs the browser in as the user prefix+id and gets a
// refresh token.
func (v *vu) signInForRefresh(ctx context.Context, prefix string) error {
	v.user = prefix + strconv.Itoa(v.id)
	if err := v.signIn(ctx); err != nil {
		return err
	}
	return setupRefreshToken(ctx, v)
}

// setupRefreshToken gets a fresh refresh token through the signed-in browser.
func setupRefreshToken(ctx context.Context, v *vu) error {
	r := v.newAuthRequest()
	code, err := v.silentCode(ctx, r)
	if err != nil {
		return err
	}
	tok, err := v.exchange(ctx, r, code)
	if err != nil {
		return err
	}
	if tok.RefreshToken == "" {
		return errors.New("no refresh token issued")
	}
	v.refresh = tok.RefreshToken
	return nil
}

// runRefresh: one refresh_token grant; the refresh token must rotate and
// the response must carry an RS256 id_token, the signature that bounds
// the flow.
func runRefresh(ctx context.Context, v *vu) error {
	return v.refreshOnce(ctx, "RS256")
}

// runRefreshES256 is runRefresh for the ES256 application.
func runRefreshES256(ctx context.Context, v *vu) error {
	return v.refreshOnce(ctx, "ES256")
}

// refreshOnce redeems v's refresh token once and keeps the new one; the
// response's id_token must be signed with alg.
func (v *vu) refreshOnce(ctx context.Context, alg string) error {
	tok, err := v.client().TokenSource(v.rpCtx(ctx), &oauth2.Token{RefreshToken: v.refresh}).Token()
	if err != nil {
		return fmt.Errorf("refresh: %w", err)
	}
	// oauth2 keeps the old refresh token when the response has none.
	if tok.RefreshToken == v.refresh || tok.AccessToken == "" {
		return errors.New("refresh: the refresh token was not rotated")
	}
	idToken, _ := tok.Extra("id_token").(string)
	if idToken == "" {
		return errors.New("refresh: the response carries no id_token")
	}
	if got := jwsAlg(idToken); got != alg {
		return fmt.Errorf("refresh: id_token signed with %q, want %s", got, alg)
	}
	v.refresh = tok.RefreshToken
	return nil
}

func setupPassword(ctx context.Context, v *vu) error {
	v.user = "pw-" + strconv.Itoa(v.id)
	if err := v.inst.createUser(ctx, v.user); err != nil {
		return fmt.Errorf("create user %s: %w", v.user, err)
	}
	return nil
}

// runPasswordLogin: a fresh browser (new cookie jar, new connection):
// authorize → login page → identifier → password → code → token.
func runPasswordLogin(ctx context.Context, v *vu) error {
	b := v.inst.newBrowser()
	defer b.close()
	r := v.newAuthRequest()
	code, err := v.passwordLogin(ctx, b, r, v.user)
	if err != nil {
		return err
	}
	_, err = v.exchange(ctx, r, code)
	return err
}

// setupTicket names the virtual user's platform account; the first
// (warm-up) run creates it through the API.
func setupTicket(_ context.Context, v *vu) error {
	v.user = "ticket-" + strconv.Itoa(v.id)
	return nil
}

// platformCall calls the trusted-platform API as the organization's platform.
func (v *vu) platformCall(ctx context.Context, op, body string, out any) (int, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		v.inst.base+"/api/organization/"+orgID+"/user/"+v.user+"/"+op, rd)
	if err != nil {
		return 0, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("x-org-id", orgID)
	req.Header.Set("x-api-key", v.inst.apiKey)
	resp, err := v.api.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s: status %d: %s", op, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s: %w", op, err)
		}
	}
	return resp.StatusCode, nil
}

// runTicketLogin: the platform upserts the user and mints a ticket (server
// to server), then a fresh browser lands on PUBLIC_URL/?refresh-token=,
// is passed on to ISS/?refresh-token= and ends signed in at ISS/account.
func runTicketLogin(ctx context.Context, v *vu) error {
	profile := fmt.Sprintf(`{"name":"Load %s","email":"%s@example.com","role":"USER"}`, v.user, v.user)
	if _, err := v.platformCall(ctx, "update", profile, nil); err != nil {
		return err
	}
	var t struct {
		LoginURL string `json:"loginUrl"`
	}
	if _, err := v.platformCall(ctx, "generate-token", "", &t); err != nil {
		return err
	}
	if !strings.HasPrefix(t.LoginURL, v.inst.base+"/?refresh-token=") {
		return fmt.Errorf("generate-token: unexpected loginUrl (want PUBLIC_URL/?refresh-token=)")
	}
	b := v.inst.newBrowser()
	defer b.close()
	p, err := b.get(ctx, t.LoginURL)
	if err != nil {
		return fmt.Errorf("landing: %w", err)
	}
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, v.inst.iss+"/?refresh-token=") {
		return fmt.Errorf("PUBLIC_URL landing: status %d, not passed on to the issuer", p.status)
	}
	if p, err = b.follow(ctx, p, ""); err != nil {
		return fmt.Errorf("issuer landing: %w", err)
	}
	if p.status != http.StatusOK || p.url.Path != "/o/"+orgID+"/account" || !strings.Contains(p.body, v.user) {
		return fmt.Errorf("after the ticket: status %d at %s, not the signed-in account page", p.status, p.url.Path)
	}
	return nil
}
