package portal

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/logout"
	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
)

// loginLifetime bounds one sign-in round trip through the org's login.
const loginLifetime = 15 * time.Minute

// pendingLogin is what the browser carries (sealed) between the redirect
// to the organization's authorization endpoint and the callback.
type pendingLogin struct {
	Org      string `json:"org"`
	State    string `json:"state"`
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"`
	Return   string `json:"return"`
	Expires  int64  `json:"exp"`
}

const loginAAD = "admin-portal-login"

func (p *Portal) issuer(orgID string) string { return p.Directory.Issuer(orgID) }

func (p *Portal) oauthConfig(orgID string) *oauth2.Config {
	iss := p.issuer(orgID)
	return &oauth2.Config{
		ClientID:    directory.PortalClientID,
		Endpoint:    oauth2.Endpoint{AuthURL: iss + "/authorize", TokenURL: iss + "/token", AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: p.Directory.PortalURL(orgID) + "/callback",
		Scopes:      []string{oidc.ScopeOpenID, "profile"},
	}
}

func (p *Portal) backChannelClient() *http.Client {
	t := p.Loopback
	if t == nil {
		t = http.DefaultTransport
	}
	return &http.Client{Transport: t, Timeout: 15 * time.Second}
}

func (p *Portal) verifier(orgID string) *oidc.IDTokenVerifier {
	if v, ok := p.verifiers.Load(orgID); ok {
		return v.(*oidc.IDTokenVerifier)
	}
	iss := p.issuer(orgID)
	keys := oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), p.backChannelClient()), iss+"/keys")
	v := oidc.NewVerifier(iss, keys, &oidc.Config{
		ClientID: directory.PortalClientID, SupportedSigningAlgs: domain.SigningAlgs, Now: p.now,
	})
	actual, _ := p.verifiers.LoadOrStore(orgID, v)
	return actual.(*oidc.IDTokenVerifier)
}

// safeReturn keeps a return path inside the portal.
func safeReturn(orgID, path string) string {
	def := "/admin/o/" + orgID + "/"
	if orgID == directory.OperatorOrgID {
		def = "/admin/"
	}
	if !strings.HasPrefix(path, "/admin/") || strings.HasPrefix(path, "//") || strings.ContainsAny(path, "\\\r\n") {
		return def
	}
	return path
}

// startSignIn sends the browser to the organization's login (code flow
// with PKCE), remembering where to come back to.
func (p *Portal) startSignIn(w http.ResponseWriter, r *http.Request, orgID, returnTo string) {
	pl := pendingLogin{
		Org: orgID, State: secret.MustToken(), Nonce: secret.MustToken(), Verifier: oauth2.GenerateVerifier(),
		Return: safeReturn(orgID, returnTo), Expires: p.now().Add(loginLifetime).Unix(),
	}
	raw, _ := json.Marshal(pl)
	sealed, err := p.Directory.Master.Seal(raw, loginAAD)
	if err != nil {
		p.internalError(w, r, "seal login state", err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookieName, Value: base64.RawURLEncoding.EncodeToString(sealed), Path: cookiePath,
		HttpOnly: true, Secure: p.secure(), SameSite: http.SameSiteLaxMode, MaxAge: int(loginLifetime.Seconds())})
	u := p.oauthConfig(orgID).AuthCodeURL(pl.State, oidc.Nonce(pl.Nonce), oauth2.S256ChallengeOption(pl.Verifier))
	http.Redirect(w, r, u, http.StatusFound)
}

func (p *Portal) readPendingLogin(r *http.Request) (*pendingLogin, bool) {
	c, err := r.Cookie(loginCookieName)
	if err != nil {
		return nil, false
	}
	sealed, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return nil, false
	}
	raw, err := p.Directory.Master.Open(sealed, loginAAD)
	if err != nil {
		return nil, false
	}
	var pl pendingLogin
	if json.Unmarshal(raw, &pl) != nil || p.now().Unix() > pl.Expires {
		return nil, false
	}
	return &pl, true
}

type portalClaims struct {
	SID string `json:"sid"`
}

// callback finishes the code flow: it checks state, exchanges the code at
// the organization's token endpoint, verifies the id_token and lets in
// enabled ADMIN users only.
func (p *Portal) callback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	org, ok := p.pathOrg(w, r)
	if !ok {
		return
	}
	orgID := r.PathValue("org")
	q := r.URL.Query()
	pl, ok := p.readPendingLogin(r)
	if !ok || pl.Org != orgID || subtle.ConstantTimeCompare([]byte(pl.State), []byte(q.Get("state"))) != 1 {
		p.errorPage(w, r, http.StatusBadRequest, "Sign-in expired", "This sign-in took too long or did not start here. Open the portal again to sign in.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookieName, Path: cookiePath, MaxAge: -1, HttpOnly: true, Secure: p.secure(), SameSite: http.SameSiteLaxMode})
	if e := q.Get("error"); e != "" {
		p.errorPage(w, r, http.StatusBadRequest, "Sign-in failed", "The sign-in did not complete ("+e+"). Open the portal again to sign in.")
		return
	}
	xctx := context.WithValue(ctx, oauth2.HTTPClient, p.backChannelClient())
	tok, err := p.oauthConfig(orgID).Exchange(xctx, q.Get("code"), oauth2.VerifierOption(pl.Verifier))
	if err != nil {
		p.Log.WarnContext(r.Context(), "admin portal: code exchange failed", "org", orgID, "err", err)
		p.errorPage(w, r, http.StatusBadRequest, "Sign-in failed", "The sign-in could not be completed. Open the portal again to sign in.")
		return
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := p.verifier(orgID).Verify(oidc.ClientContext(ctx, p.backChannelClient()), rawID)
	if err != nil || subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(pl.Nonce)) != 1 {
		p.Log.WarnContext(r.Context(), "admin portal: id_token refused", "org", orgID, "err", err)
		p.errorPage(w, r, http.StatusBadRequest, "Sign-in failed", "The sign-in could not be verified. Open the portal again to sign in.")
		return
	}
	var claims portalClaims
	if err := idt.Claims(&claims); err != nil || claims.SID == "" {
		p.errorPage(w, r, http.StatusBadRequest, "Sign-in failed", "The sign-in carried no session. Open the portal again to sign in.")
		return
	}
	u, err := p.store().GetUser(ctx, orgID, idt.Subject)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		p.internalError(w, r, "load user", err)
		return
	}
	if err != nil || u.Disabled || u.Role != domain.RoleAdmin {
		name := "?"
		if u != nil {
			name = u.UserName
		}
		v := &view{Title: "Not an administrator", Data: map[string]string{
			"Message": "You are signed in as " + name + ", but you are not an administrator of " + org.Name + ". Ask one of its administrators for the ADMIN role.",
			"Ref":     p.requestID(r)}}
		p.render(w, r, http.StatusForbidden, "error", v)
		return
	}
	sso, err := p.store().GetSession(ctx, orgID, claims.SID)
	if err != nil {
		p.internalError(w, r, "load SSO session", err)
		return
	}
	now := p.now()
	sealedID, err := p.Directory.Master.Seal([]byte(rawID), "admin-portal-id-token/"+orgID)
	if err != nil {
		p.internalError(w, r, "seal id_token", err)
		return
	}
	// Replace whatever portal session this browser had.
	if old, err := p.current(ctx, r); err == nil && old != nil {
		_ = p.store().EndPortalSession(ctx, old.sess.OrgID, old.sess.Hash, now)
	}
	cookie := secret.MustToken()
	ps := &domain.PortalSession{
		OrgID: orgID, Hash: secret.Hash(cookie), UserSub: u.Sub, UserName: u.UserName, SID: claims.SID,
		IDTokenSealed: sealedID, CSRF: secret.MustToken(), CreatedAt: now, LastSeenAt: now,
		ExpiresAt: min64(now.Add(maxLifetime), sso.ExpiresAt),
	}
	if err := p.store().CreatePortalSession(ctx, ps); err != nil {
		p.internalError(w, r, "create portal session", err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: orgID + "~" + cookie, Path: cookiePath, HttpOnly: true,
		Secure: p.secure(), SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, pl.Return, http.StatusFound)
}

func min64(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// backchannel receives the organization's logout tokens for the portal
// application and ends the portal sessions of that SSO session.
func (p *Portal) backchannel(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	orgID := r.PathValue("org")
	w.Header().Set("Cache-Control", "no-store")
	if err := r.ParseForm(); err != nil {
		http.Error(w, "invalid_request", http.StatusBadRequest)
		return
	}
	var c struct {
		Issuer   string          `json:"iss"`
		Audience json.RawMessage `json:"aud"`
		IssuedAt int64           `json:"iat"`
		SID      string          `json:"sid"`
		Events   map[string]any  `json:"events"`
		Nonce    *string         `json:"nonce"`
	}
	tok := r.PostFormValue("logout_token")
	if tok == "" || p.Directory.Keys.Verify(ctx, orgID, tok, &c) != nil {
		http.Error(w, "invalid_request", http.StatusBadRequest)
		return
	}
	var aud []string
	if json.Unmarshal(c.Audience, &aud) != nil {
		var one string
		_ = json.Unmarshal(c.Audience, &one)
		aud = []string{one}
	}
	_, hasEvent := c.Events[logout.Event]
	now := p.now()
	if c.Issuer != p.issuer(orgID) || !contains(aud, directory.PortalClientID) || !hasEvent || c.SID == "" || c.Nonce != nil ||
		time.Unix(c.IssuedAt, 0).Before(now.Add(-5*time.Minute)) {
		http.Error(w, "invalid_request", http.StatusBadRequest)
		return
	}
	if err := p.store().EndPortalSessionsBySID(ctx, orgID, c.SID, now); err != nil {
		p.Log.Error("admin portal: back-channel logout", "org", orgID, "err", err)
		http.Error(w, "server_error", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// signOut ends the portal session and runs RP-initiated logout at the
// organization, which ends the SSO session for every application.
func (p *Portal) signOut(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a, err := p.current(ctx, r)
	if err != nil {
		p.internalError(w, r, "portal session", err)
		return
	}
	if a == nil {
		http.Redirect(w, r, "/admin/", http.StatusSeeOther)
		return
	}
	if err := r.ParseForm(); err != nil || !checkCSRF(r, a) {
		p.errorPage(w, r, http.StatusForbidden, "Request refused", "The form's security token is missing or wrong. Reload the page and try again.")
		return
	}
	orgID := a.sess.OrgID
	_ = p.store().EndPortalSession(ctx, orgID, a.sess.Hash, p.now())
	http.SetCookie(w, &http.Cookie{Name: cookieName, Path: cookiePath, MaxAge: -1, HttpOnly: true, Secure: p.secure(), SameSite: http.SameSiteLaxMode})
	q := url.Values{
		"client_id":                {directory.PortalClientID},
		"post_logout_redirect_uri": {p.Directory.PortalURL(orgID) + "/signed-out"},
	}
	if raw, err := p.Directory.Master.Open(a.sess.IDTokenSealed, "admin-portal-id-token/"+orgID); err == nil {
		q.Set("id_token_hint", string(raw))
	}
	http.Redirect(w, r, p.issuer(orgID)+"/end_session?"+q.Encode(), http.StatusSeeOther)
}

func (p *Portal) signedOut(w http.ResponseWriter, r *http.Request) {
	orgID := r.PathValue("org")
	if _, err := p.Directory.GetOrg(r.Context(), orgID); err != nil {
		p.notFound(w, r)
		return
	}
	v := &view{Title: "Signed out", Data: map[string]string{"Again": safeReturn(orgID, "")}}
	p.render(w, r, http.StatusOK, "signedout", v)
}

// setup lets the first operator choose a userName and password with the
// one-time link printed at first start.
func (p *Portal) setup(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	noStore(w)
	v := &view{Title: "Set up the first operator", Form: url.Values{}, Errors: map[string]string{}}
	if r.Method == http.MethodGet {
		v.Form.Set("token", r.URL.Query().Get("token"))
		p.render(w, r, http.StatusOK, "setup", v)
		return
	}
	if err := r.ParseForm(); err != nil {
		p.errorPage(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	v.Form = r.PostForm
	pw := r.PostFormValue("password")
	if pw != r.PostFormValue("password_confirm") {
		v.Errors["password_confirm"] = "does not match the password"
		v.Form.Del("password")
		v.Form.Del("password_confirm")
		p.render(w, r, http.StatusBadRequest, "setup", v)
		return
	}
	_, err := p.Directory.CompleteOperatorSetup(r.Context(), directory.Actor{Name: "setup", ClientIP: request.ClientIP(r)},
		r.PostFormValue("token"), strings.TrimSpace(r.PostFormValue("userName")), pw)
	if err != nil {
		v.Form.Del("password")
		v.Form.Del("password_confirm")
		if v.fail(err, nil) {
			p.render(w, r, http.StatusBadRequest, "setup", v)
			return
		}
		p.internalError(w, r, "operator setup", err)
		return
	}
	p.redirectFlash(w, r, "/admin/", "Operator created. Sign in with your new password.")
}

// InProcess is a RoundTripper that serves requests with h (this server's
// own handler) without a network hop.
func InProcess(h func() http.Handler) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		in := req.Clone(req.Context())
		in.RemoteAddr = "127.0.0.1:0"
		in.RequestURI = req.URL.RequestURI()
		if in.Body == nil {
			in.Body = http.NoBody
		}
		rec := httptest.NewRecorder()
		h().ServeHTTP(rec, in)
		resp := rec.Result()
		resp.Request = req
		return resp, nil
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
