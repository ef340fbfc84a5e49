package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/internal/store"
)

// API serves the Admin JSON API.
type API struct {
	Directory *directory.Directory
	Log       *slog.Logger
}

// prefix is where the API lives.
const prefix = "/api/admin"

// Register mounts every endpoint on mux, plus a catch-all that answers
// unknown paths and methods under the prefix in JSON.
func (a *API) Register(mux *http.ServeMux) {
	org := prefix + "/orgs/{org}"
	a.handle(mux, "GET "+prefix+"/orgs", "org.list", operatorOrOrg, a.listOrgs)
	a.handle(mux, "POST "+prefix+"/orgs", "org.create", operatorOrOrg, a.createOrg)
	a.handle(mux, "GET "+org, "org.read", inOrg, a.getOrg)
	a.handle(mux, "PATCH "+org, "org.update", inOrg, a.updateOrg)
	a.handle(mux, "DELETE "+org, "org.delete", inOrg, a.deleteOrg)
	a.handle(mux, "POST "+org+"/api-key/reveal", "org.api_key.reveal", inOrg, a.revealAPIKey)
	a.handle(mux, "POST "+org+"/api-key/rotate", "org.api_key.rotate", inOrg, a.rotateAPIKey)

	a.handle(mux, "GET "+org+"/apps", "app.list", inOrg, a.listApps)
	a.handle(mux, "POST "+org+"/apps", "app.create", inOrg, a.createApp)
	a.handle(mux, "GET "+org+"/apps/{client_id}", "app.read", inOrg, a.getApp)
	a.handle(mux, "PATCH "+org+"/apps/{client_id}", "app.update", inOrg, a.updateApp)
	a.handle(mux, "DELETE "+org+"/apps/{client_id}", "app.delete", inOrg, a.deleteApp)
	a.handle(mux, "POST "+org+"/apps/{client_id}/rotate-secret", "app.rotate_secret", inOrg, a.rotateAppSecret)

	a.handle(mux, "GET "+org+"/users", "user.list", inOrg, a.listUsers, "query", "limit")
	a.handle(mux, "POST "+org+"/users", "user.create", inOrg, a.createUser)
	a.handle(mux, "GET "+org+"/users/{user_name}", "user.read", inOrg, a.getUser)
	a.handle(mux, "PATCH "+org+"/users/{user_name}", "user.update", inOrg, a.updateUser)
	a.handle(mux, "DELETE "+org+"/users/{user_name}", "user.delete", inOrg, a.deleteUser)
	a.handle(mux, "GET "+org+"/users/{user_name}/sessions", "user.sessions.read", inOrg, a.listUserSessions)
	a.handle(mux, "DELETE "+org+"/users/{user_name}/sessions", "user.sessions.end", inOrg, a.endUserSessions)
	a.handle(mux, "DELETE "+org+"/users/{user_name}/sessions/{sid}", "user.session.end", inOrg, a.endUserSession)
	a.handle(mux, "GET "+org+"/users/{user_name}/mfa", "user.mfa.read", inOrg, a.getUserMFA)
	a.handle(mux, "POST "+org+"/users/{user_name}/mfa/reset", "user.mfa.reset", inOrg, a.resetUserMFA)

	a.handle(mux, "GET "+org+"/upstream", "upstream.read", inOrg, a.getUpstream)
	a.handle(mux, "PUT "+org+"/upstream", "upstream.set", inOrg, a.putUpstream)
	a.handle(mux, "DELETE "+org+"/upstream", "upstream.delete", inOrg, a.deleteUpstream)
	a.handle(mux, "POST "+org+"/upstream/check", "upstream.check", inOrg, a.checkUpstream)

	a.handle(mux, "GET "+org+"/audit", "audit.read", inOrg, a.listAudit, "limit", "action", "actor", "since", "until", "cursor")

	a.handle(mux, "GET "+org+"/scim/tokens", "scim_token.list", inOrg, a.listSCIMTokens)
	a.handle(mux, "POST "+org+"/scim/tokens", "scim_token.create", inOrg, a.createSCIMToken)
	a.handle(mux, "DELETE "+org+"/scim/tokens/{id}", "scim_token.revoke", inOrg, a.revokeSCIMToken)

	mux.HandleFunc(prefix+"/", func(w http.ResponseWriter, r *http.Request) { a.unknownEndpoint(mux, w, r) })
}

// scope says whether an endpoint acts on the organization in its path.
type scope int

const (
	// inOrg: the path names an organization; the token must cover it.
	inOrg scope = iota
	// operatorOrOrg: no organization in the path; the handler decides.
	operatorOrOrg
)

// call is one authenticated request on its way through an endpoint.
type call struct {
	w     http.ResponseWriter
	r     *http.Request
	token *domain.AdminToken
	actor directory.Actor
	// org is the organization in the path (inOrg endpoints only).
	org *domain.Organization
	// target names what the request acted on, for the audit log.
	target string
	// auditOrg is where the request's audit event goes; "" logs it instead
	// (operator requests outside any organization, a deleted organization).
	auditOrg string
	// changeAudited is set when package directory recorded the change.
	changeAudited bool
	// query holds the allowed query parameters, each given at most once.
	query map[string]string
}

// operator reports whether the call's token covers every organization.
func (c *call) operator() bool { return c.token.OrgID == "" }

// endpoint handles a call: a status and a body to send as JSON (nil for no
// body), or an error (*apiError, *domain.FieldError, store.ErrNotFound …).
type endpoint func(c *call) (int, any, error)

// handle mounts h at pattern behind authentication, scope checks, query
// parameter checks, error mapping and auditing.
func (a *API) handle(mux *http.ServeMux, pattern, action string, sc scope, h endpoint, queryParams ...string) {
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		tok, ok := a.authenticate(w, r, action)
		if !ok {
			return
		}
		c := &call{w: w, r: r, token: tok, actor: directory.Actor{Name: "admin-token:" + tok.ID, ClientIP: request.ClientIP(r)}, auditOrg: tok.OrgID}
		if err := a.Directory.TouchAdminToken(r.Context(), tok); err != nil {
			a.log().WarnContext(r.Context(), "admin api: record token use", "token", tok.ID, "err", err)
		}
		status, body, err := a.run(c, sc, h, queryParams)
		if err != nil {
			a.fail(c, action, err)
			return
		}
		if !c.changeAudited {
			a.record(c, action, "ok")
		}
		writeJSON(w, status, body)
	})
}

func (a *API) run(c *call, sc scope, h endpoint, queryParams []string) (int, any, error) {
	if sc == inOrg {
		o, err := a.pathOrg(c)
		if err != nil {
			return 0, nil, err
		}
		c.org, c.auditOrg, c.target = o, o.ID, o.ID
		// From here on the request's log lines name the organization.
		c.r = c.r.WithContext(request.WithOrg(c.r.Context(), a.Directory.PublicURL, o))
	}
	q, err := checkQuery(c.r, queryParams)
	if err != nil {
		return 0, nil, err
	}
	c.query = q
	return h(c)
}

// pathOrg loads the organization in the path if the token covers it. An
// organization the token may not see is as absent as one that does not
// exist.
func (a *API) pathOrg(c *call) (*domain.Organization, error) {
	id := c.r.PathValue("org")
	c.target = id
	if c.token.OrgID != "" && c.token.OrgID != id {
		return nil, &apiError{status: http.StatusNotFound, code: "not_found", message: fmt.Sprintf("organization %q not found", id)}
	}
	return a.Directory.GetOrg(c.r.Context(), id)
}

// authenticate checks the bearer token. On failure it answers 401 and
// returns false.
func (a *API) authenticate(w http.ResponseWriter, r *http.Request, action string) (*domain.AdminToken, bool) {
	const realm = `Bearer realm="latchkey-admin"`
	plain, ok := request.Bearer(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", realm)
		writeError(w, &apiError{status: http.StatusUnauthorized, code: "unauthorized",
			message: "an admin token is required: send Authorization: Bearer <token> (create one with `latchkey admin token create`)"})
		return nil, false
	}
	tok, err := a.Directory.AuthenticateAdminToken(r.Context(), plain)
	if err == nil {
		return tok, true
	}
	var message, result string
	switch {
	case errors.Is(err, directory.ErrAdminTokenUnknown):
		message, result = "the admin token is not valid", "token_unknown"
	case errors.Is(err, directory.ErrAdminTokenExpired):
		message, result = "the admin token has expired", "token_expired"
	case errors.Is(err, directory.ErrAdminTokenRevoked):
		message, result = "the admin token was revoked", "token_revoked"
	default:
		a.internalError(w, r, err)
		return nil, false
	}
	a.log().InfoContext(r.Context(), "admin api: token refused", "action", action, "reason", result, "client_ip", request.ClientIP(r))
	if tok != nil && tok.OrgID != "" {
		// A real token of this organization stopped working: its admins
		// should see who still uses it.
		c := &call{r: r, token: tok, actor: directory.Actor{Name: "admin-token:" + tok.ID, ClientIP: request.ClientIP(r)}, auditOrg: tok.OrgID}
		a.record(c, action, result)
	}
	w.Header().Set("WWW-Authenticate", realm+`, error="invalid_token", error_description="`+message+`"`)
	writeError(w, &apiError{status: http.StatusUnauthorized, code: "unauthorized", message: message})
	return nil, false
}

// unknownEndpoint answers paths and methods under the prefix that no
// endpoint serves: 401 without a valid token (so nothing is learned before
// authenticating), else 405 with Allow for a known path, else 404.
func (a *API) unknownEndpoint(mux *http.ServeMux, w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if _, ok := a.authenticate(w, r, "api.unknown"); !ok {
		return
	}
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "" && pattern != prefix+"/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, &apiError{status: http.StatusMethodNotAllowed, code: "method_not_allowed",
			message: fmt.Sprintf("%s is not allowed here; use %s", r.Method, strings.Join(allow, ", "))})
		return
	}
	writeError(w, &apiError{status: http.StatusNotFound, code: "not_found", message: "no such admin API endpoint: " + r.Method + " " + r.URL.Path})
}

// apiError is an answer other than success, as the client sees it.
type apiError struct {
	status  int
	code    string
	message string
	field   string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

// errorJSON is the body of every error answer.
type errorJSON struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// legacyNames maps the snake_case member names of the API's first
// release onto today's camelCase ones. Requests may still use them for one
// release: the answer then carries a Deprecation header. Package domain
// and directory name fields the same snake_case way, so errors are named
// through this table too.
var legacyNames = map[string]string{
	"user_name": "userName", "email_verified": "emailVerified", "has_password": "hasPassword",
	"sso_enabled": "ssoEnabled", "session_lifetime_seconds": "sessionLifetimeSeconds",
	"ticket_lifetime_seconds": "ticketLifetimeSeconds", "auth_redirect_url": "authRedirectUrl", "login_method": "loginMethod",
	"overlap_seconds": "overlapSeconds", "api_key": "apiKey",
	"client_id": "clientId", "client_secret": "clientSecret", "redirect_uris": "redirectUris",
	"post_logout_redirect_uris": "postLogoutRedirectUris", "backchannel_logout_uri": "backchannelLogoutUri",
	"grant_types": "grantTypes", "access_token_lifetime": "accessTokenLifetime", "id_token_lifetime": "idTokenLifetime",
	"refresh_token_lifetime": "refreshTokenLifetime", "id_token_signed_response_alg": "idTokenAlg",
	"access_token_format": "accessTokenFormat", "refresh_token_reuse_interval": "refreshTokenReuseInterval",
	"config_url": "configUrl", "has_client_secret": "hasClientSecret", "username_claim": "usernameClaim",
	"display_name": "displayName", "logout_url": "logoutUrl", "end_upstream_session": "endUpstreamSession",
	"redirect_uri": "redirectUri", "logout_callback_uri": "logoutCallbackUri",
	"created_at": "createdAt", "updated_at": "updatedAt",
}

// apiFieldNames names, in this API's terms, the fields package directory
// and domain name otherwise.
var apiFieldNames = map[string]string{
	"overlap": "overlapSeconds",
}

// deprecationDate is when the snake_case member names were deprecated
// (RFC 9745 Deprecation header: @ and Unix seconds).
const deprecationDate = "@1796083200" // 2026-12-01T00:00:00Z

// fail answers err and audits the refusal.
func (a *API) fail(c *call, action string, err error) {
	var ae *apiError
	var conflict *directory.ConflictError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &conflict):
		field := apiFieldName(conflict.Field.Field)
		ae = &apiError{status: http.StatusConflict, code: "conflict", message: field + ": " + conflict.Field.Message, field: field}
	case isFieldError(err):
		fe, _ := domain.AsFieldError(err)
		field := apiFieldName(fe.Field)
		ae = &apiError{status: http.StatusBadRequest, code: "invalid_request", message: field + ": " + fe.Message, field: field}
	case errors.Is(err, store.ErrNotFound):
		ae = &apiError{status: http.StatusNotFound, code: "not_found", message: err.Error()}
	default:
		a.record(c, action, "error")
		a.internalError(c.w, c.r, err)
		return
	}
	result := ae.code
	if ae.field != "" {
		result += ": " + ae.field
	}
	a.record(c, action, result)
	writeError(c.w, ae)
}

// apiFieldName is the API's name of a field package directory names.
func apiFieldName(field string) string {
	if f, ok := apiFieldNames[field]; ok {
		return f
	}
	if f, ok := legacyNames[field]; ok {
		return f
	}
	return field
}

func isFieldError(err error) bool {
	_, ok := domain.AsFieldError(err)
	return ok
}

func (a *API) internalError(w http.ResponseWriter, r *http.Request, err error) {
	id := request.ID(r.Context())
	a.log().ErrorContext(r.Context(), "admin api: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	e := &apiError{status: http.StatusInternalServerError, code: "internal_error", message: "something went wrong on the server (reference " + id + ")"}
	if request.DatabaseDown(r.Context(), err) {
		e = &apiError{status: http.StatusServiceUnavailable, code: "unavailable",
			message: "the database is unavailable; try again in a few seconds (reference " + id + ")"}
	}
	writeError(w, e)
}

func (a *API) log() *slog.Logger {
	if a.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Log
}

// record audits one use of a token. Uses outside any organization (an
// operator listing organizations, a deleted organization) have no audit
// log to go to and are logged instead.
func (a *API) record(c *call, action, result string) {
	target := c.target
	if c.auditOrg == "" {
		a.log().InfoContext(c.r.Context(), "admin api: audit", "actor", c.actor.Name, "action", action, "target", target, "result", result,
			"client_ip", c.actor.ClientIP)
		return
	}
	err := a.Directory.Record(c.r.Context(), c.auditOrg, c.actor, action, target, result,
		map[string]string{"via": "admin-api", "method": c.r.Method, "path": c.r.URL.Path})
	if err != nil {
		a.log().ErrorContext(c.r.Context(), "admin api: write audit event", "audit_org", c.auditOrg, "action", action, "result", result, "err", err)
	}
}

func (a *API) now() time.Time {
	if a.Directory.Now != nil {
		return a.Directory.Now().UTC()
	}
	return time.Now().UTC()
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, errorJSON{Error: e.code, Message: e.message, Field: e.field})
}

// writeJSON sends body as JSON; a nil body sends the status alone.
func writeJSON(w http.ResponseWriter, status int, body any) {
	if body == nil {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(body)
}
