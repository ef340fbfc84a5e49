package op

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/oauth"
	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/web"
)

// authorize is the authorization endpoint (OIDC Core §3.1.2). Until the
// client and redirect URI are known to be valid, problems are shown on a
// page; after that they go back to the client as error parameters.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	org := request.Org(r.Context())
	params, perr := oauth.ParseRequest(w, r)
	if perr != nil {
		p.errorPage(w, r, org, http.StatusBadRequest, "Invalid sign-in request", "The application sent a malformed request: "+perr.Description)
		return
	}
	app, req, perr, redirectable := p.parseAuthRequest(r, org, params)
	if !redirectable {
		p.errorPage(w, r, org, http.StatusBadRequest, "Invalid sign-in request", perr.Description)
		return
	}
	if perr != nil {
		p.redirectError(w, r, org, req, perr)
		return
	}
	p.proceed(w, r, org, app, req)
}

// parseAuthRequest validates the request. redirectable is false while the
// client or redirect URI is unknown: then the error must not leave Latchkey.
func (p *Provider) parseAuthRequest(r *http.Request, org *domain.Organization, params oauth.Params) (*domain.Application, *domain.AuthRequest, *oauth.Error, bool) {
	clientID := params.Get("client_id")
	if clientID == "" {
		return nil, nil, oauth.InvalidRequest("The request names no application (client_id is missing)."), false
	}
	app, err := p.Store.GetApp(r.Context(), org.ID, clientID)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			p.Log.ErrorContext(r.Context(), "load application", "err", err)
		}
		return nil, nil, oauth.InvalidRequest("The application %q is not registered with %s.", clientID, org.Name), false
	}
	redirectURI := params.Get("redirect_uri")
	if redirectURI == "" {
		return app, nil, oauth.InvalidRequest("The application did not say where to return (redirect_uri is missing)."), false
	}
	if !slices.Contains(app.RedirectURIs, redirectURI) {
		return app, nil, oauth.InvalidRequest("The return address %q is not registered for the application %q.", redirectURI, app.Name), false
	}
	now := p.now()
	req := &domain.AuthRequest{
		OrgID: org.ID, ClientID: app.ClientID, RedirectURI: redirectURI, State: params.Get("state"),
		ResponseMode: params.Get("response_mode"), Nonce: params.Get("nonce"), LoginHint: params.Get("login_hint"),
		MaxAge: -1, CreatedAt: now, ExpiresAt: now.Add(authRequestLifetime),
	}
	switch req.ResponseMode {
	case "", "query", "form_post":
	default:
		req.ResponseMode = ""
		return app, req, oauth.InvalidRequest("response_mode must be query or form_post"), true
	}
	if _, ok := params["request"]; ok {
		return app, req, oauth.RequestNotSupported("request objects are not supported"), true
	}
	if _, ok := params["request_uri"]; ok {
		return app, req, oauth.RequestURINotSupported("request_uri is not supported"), true
	}
	switch rt := params.Get("response_type"); rt {
	case "code":
	case "":
		return app, req, oauth.InvalidRequest("response_type is required"), true
	default:
		return app, req, oauth.UnsupportedResponseType("only response_type=code is supported"), true
	}
	if !app.AllowsGrant(domain.GrantAuthorizationCode) {
		return app, req, oauth.UnauthorizedClient("the application may not use the authorization code flow"), true
	}
	scopes := oauth.ParseScope(params.Get("scope"))
	if !slices.Contains(scopes, oauth.ScopeOpenID) {
		return app, req, oauth.InvalidScope("scope must include openid"), true
	}
	if !app.GroupsClaim {
		// The groups claim is opt-in per application; others are granted
		// less than they asked (RFC 6749 §3.3).
		scopes = slices.DeleteFunc(scopes, func(s string) bool { return s == oauth.ScopeGroups })
	}
	req.Scope = strings.Join(scopes, " ")
	challenge, method := params.Get("code_challenge"), params.Get("code_challenge_method")
	switch {
	case challenge == "" && method != "":
		return app, req, oauth.InvalidRequest("code_challenge_method without code_challenge"), true
	case challenge == "" && app.Public:
		return app, req, oauth.InvalidRequest("PKCE is required for public clients: send code_challenge with code_challenge_method=S256"), true
	case challenge != "" && method != "S256":
		return app, req, oauth.InvalidRequest("code_challenge_method must be S256 (plain is not allowed)"), true
	case challenge != "" && !oauth.ValidPKCEValue(challenge):
		return app, req, oauth.InvalidRequest("code_challenge is malformed"), true
	}
	req.CodeChallenge, req.CodeChallengeMethod = challenge, method
	prompts := strings.Fields(params.Get("prompt"))
	for _, v := range prompts {
		switch v {
		case "none", "login", "consent", "select_account":
		default:
			return app, req, oauth.InvalidRequest("unsupported prompt value %q", v), true
		}
	}
	if slices.Contains(prompts, "none") && len(prompts) > 1 {
		return app, req, oauth.InvalidRequest("prompt=none cannot be combined with other values"), true
	}
	// Latchkey asks no consent for an organization's own applications and
	// has no account chooser: both are satisfied by asking for credentials.
	switch {
	case slices.Contains(prompts, "none"):
		req.Prompt = "none"
	case len(prompts) > 0:
		req.Prompt = "login"
	}
	if v, ok := params["max_age"]; ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return app, req, oauth.InvalidRequest("max_age must be a non-negative integer"), true
		}
		req.MaxAge = n
	}
	if v := params.Get("acr_values"); v != "" {
		if len(v) > 512 {
			return app, req, oauth.InvalidRequest("acr_values is too long"), true
		}
		req.ACRValues = strings.Join(strings.Fields(v), " ")
	}
	if len(req.LoginHint) > domain.MaxUserNameLen*2 {
		req.LoginHint = ""
	}
	return app, req, nil, true
}

// proceed answers a valid request: with a code when the browser's session
// satisfies it, else by sending the browser to sign in.
func (p *Provider) proceed(w http.ResponseWriter, r *http.Request, org *domain.Organization, app *domain.Application, req *domain.AuthRequest) {
	ctx := r.Context()
	sess, err := p.Sessions.Current(ctx, r, org.ID)
	if err != nil {
		p.internalError(w, r, "load session", err)
		return
	}
	var user *domain.User
	if sess != nil {
		user, err = p.Store.GetUser(ctx, org.ID, sess.UserSub)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			p.internalError(w, r, "load user", err)
			return
		}
		if user == nil || user.Disabled {
			sess, user = nil, nil
		}
	}
	if sess != nil && p.sessionSatisfies(org, req, sess) {
		if p.stepUp(w, r, org, req, sess, user) {
			return
		}
		p.issueCode(w, r, org, req, sess)
		return
	}
	if req.Prompt == "none" {
		p.redirectError(w, r, org, req, oauth.LoginRequired("the user must sign in"))
		return
	}
	if req.ID == "" {
		req.ID = secret.MustToken()
		if err := p.Store.CreateAuthRequest(ctx, req); err != nil {
			p.internalError(w, r, "store authorization request", err)
			return
		}
	}
	p.Sessions.SetPending(w, org.ID, req.ID, authRequestLifetime)
	http.Redirect(w, r, request.Issuer(r.Context())+"/login?req="+url.QueryEscape(req.ID), http.StatusFound)
}

// sessionSatisfies decides whether a session may answer req without a new
// login. With SSO off, with prompt=login, and beyond max_age, only a login
// made after the request started counts.
func (p *Provider) sessionSatisfies(org *domain.Organization, req *domain.AuthRequest, sess *domain.Session) bool {
	freshLogin := !sess.AuthTime.Before(req.CreatedAt)
	if req.Prompt == "login" || !org.Settings.SSOEnabled {
		return freshLogin
	}
	if req.MaxAge >= 0 && p.now().Sub(sess.AuthTime) > time.Duration(req.MaxAge)*time.Second {
		return freshLogin
	}
	return true
}

// continueAuthorize resumes the browser's pending request after a login.
func (p *Provider) continueAuthorize(w http.ResponseWriter, r *http.Request) {
	org := request.Org(r.Context())
	// The request id is a 256-bit secret: holding it is what lets a browser
	// resume the request (the same capability a fresh authorize link gives).
	// Without one, the browser's latest pending request is resumed.
	id := r.URL.Query().Get("req")
	if id == "" {
		id = p.Sessions.Pending(r)
	}
	if id == "" {
		http.Redirect(w, r, request.Issuer(r.Context())+"/account", http.StatusFound)
		return
	}
	req, err := p.Store.GetAuthRequest(r.Context(), org.ID, id, p.now())
	if errors.Is(err, store.ErrNotFound) {
		p.Sessions.ClearPending(w, org.ID)
		p.errorPage(w, r, org, http.StatusBadRequest, "Sign-in expired",
			"This sign-in took too long or has already finished. Go back to the application and sign in again.")
		return
	}
	if err != nil {
		p.internalError(w, r, "load authorization request", err)
		return
	}
	app, err := p.Store.GetApp(r.Context(), org.ID, req.ClientID)
	if err != nil || !slices.Contains(app.RedirectURIs, req.RedirectURI) {
		p.Sessions.ClearPending(w, org.ID)
		p.errorPage(w, r, org, http.StatusBadRequest, "Application unavailable", "The application that asked you to sign in is no longer registered.")
		return
	}
	p.proceed(w, r, org, app, req)
}

// issueCode stores a new authorization code and sends it to the client.
func (p *Provider) issueCode(w http.ResponseWriter, r *http.Request, org *domain.Organization, req *domain.AuthRequest, sess *domain.Session) {
	ctx := r.Context()
	now := p.now()
	code := secret.MustToken()
	c := &domain.AuthCode{
		OrgID: org.ID, Hash: secret.Hash(code), ClientID: req.ClientID, RedirectURI: req.RedirectURI, UserSub: sess.UserSub,
		SID: sess.SID, Scope: req.Scope, Nonce: req.Nonce, CodeChallenge: req.CodeChallenge, AuthTime: sess.AuthTime,
		AMR: sess.AMR, CreatedAt: now, ExpiresAt: now.Add(codeLifetime),
	}
	if err := p.Store.CreateCode(ctx, c); err != nil {
		p.internalError(w, r, "store authorization code", err)
		return
	}
	p.issued.Put(org.ID, c.Hash, issuedCode{code: c, sessionExpires: sess.ExpiresAt}, c.ExpiresAt, now)
	// The application takes part in the session from now on, so logout
	// reaches it; most sign-ins find it recorded by an earlier one.
	if !slices.Contains(sess.Clients, req.ClientID) {
		if err := p.Store.AddSessionClient(ctx, org.ID, sess.SID, req.ClientID, now); err != nil {
			p.internalError(w, r, "record session client", err)
			return
		}
	}
	if req.ID != "" {
		if err := p.Store.DeleteAuthRequest(ctx, org.ID, req.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			p.Log.WarnContext(ctx, "delete finished authorization request", "err", err)
		}
		p.Sessions.ClearPending(w, org.ID)
	}
	p.respond(w, r, org, req, url.Values{"code": {code}})
}

// redirectError sends an error back to the client's (validated) redirect URI.
func (p *Provider) redirectError(w http.ResponseWriter, r *http.Request, org *domain.Organization, req *domain.AuthRequest, e *oauth.Error) {
	v := url.Values{"error": {e.Code}}
	if e.Description != "" {
		v.Set("error_description", e.Description)
	}
	p.respond(w, r, org, req, v)
}

type formField struct{ Name, Value string }

// respond delivers an authorization response by the request's response
// mode, always with state and iss (RFC 9207).
func (p *Provider) respond(w http.ResponseWriter, r *http.Request, org *domain.Organization, req *domain.AuthRequest, v url.Values) {
	if req.State != "" {
		v.Set("state", req.State)
	}
	v.Set("iss", request.Issuer(r.Context()))
	if req.ResponseMode == "form_post" {
		fields := make([]formField, 0, len(v))
		for _, k := range []string{"code", "error", "error_description", "state", "iss"} {
			if val := v.Get(k); val != "" {
				fields = append(fields, formField{k, val})
			}
		}
		web.SetPageHeaders(w)
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
		w.WriteHeader(http.StatusOK)
		if err := p.Templates.ExecuteTemplate(w, "form_post", struct {
			Action string
			Fields []formField
		}{req.RedirectURI, fields}); err != nil {
			p.Log.Error("render form_post", "err", err)
		}
		return
	}
	u, err := url.Parse(req.RedirectURI)
	if err != nil { // registered URIs were validated; this cannot happen
		p.internalError(w, r, "parse redirect URI", err)
		return
	}
	q := u.Query()
	for k, vs := range v {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, u.String(), http.StatusFound)
}
