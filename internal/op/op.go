// Package op is the OpenID Provider: one issuer per organization at
// PUBLIC_URL/o/{org}, with discovery, JWKS, the authorization endpoint and
// hosted login, token, userinfo, revocation and introspection. One file per
// endpoint.
//
// It owns protocol decisions. Cookies and CSRF belong to package session,
// keys to package signer, parsing rules to package oauth, persistence to
// the store. It never accepts an artifact (code, token, cookie) of one
// organization at another's endpoints: every lookup is scoped by the
// organization in the path.
package op

import (
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/logout"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/signer"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/throttle"
	"github.com/latchkey/latchkey/web"
)

// Provider serves every organization's OpenID Provider endpoints.
type Provider struct {
	Store    store.Store
	Keys     *signer.Keys
	Sessions *session.Sessions
	Limiter  *throttle.Limiter
	Logout   *logout.Service
	// Upstream signs users in through the organization's upstream IdP;
	// nil when the deployment does not offer federation.
	Upstream  UpstreamLogin
	Templates *template.Template
	Log       *slog.Logger
	PublicURL string
	// RequestID returns the request's reference id for error pages and logs.
	RequestID func(context.Context) string
	Now       func() time.Time
	// Wait pauses a slowed-down sign-in; nil waits on a timer.
	Wait func(ctx context.Context, d time.Duration) error
}

// UpstreamLogin is what the provider needs of federated login (package
// upstream implements it; op does not import it).
type UpstreamLogin interface {
	// Available reports whether org has an upstream IdP, and its button label.
	Available(ctx context.Context, org *domain.Organization) (label string, ok bool)
	// Begin sends the browser to the upstream IdP to sign in for req.
	Begin(w http.ResponseWriter, r *http.Request, org *domain.Organization, req *domain.AuthRequest)
	// AfterLogout continues a logout through the upstream IdP or to the
	// organization's logout page; it reports whether it answered.
	AfterLogout(w http.ResponseWriter, r *http.Request, org *domain.Organization, ended *domain.Session, final string) bool
}

// Lifetimes fixed by the protocol design (DESIGN.md §3).
const (
	codeLifetime        = 60 * time.Second
	authRequestLifetime = 30 * time.Minute
)

func (p *Provider) now() time.Time {
	if p.Now != nil {
		return p.Now().UTC()
	}
	return time.Now().UTC()
}

// Issuer is the organization's issuer URL.
func (p *Provider) Issuer(orgID string) string { return p.PublicURL + "/o/" + orgID }

// Register mounts the provider's endpoints on mux.
func (p *Provider) Register(mux *http.ServeMux) {
	const iss = "/o/{org}"
	mux.HandleFunc("GET "+iss+"/.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET "+iss+"/keys", p.jwks)
	mux.HandleFunc("GET "+iss+"/authorize", p.authorize)
	mux.HandleFunc("POST "+iss+"/authorize", p.authorize)
	mux.HandleFunc("GET "+iss+"/authorize/continue", p.continueAuthorize)
	mux.HandleFunc("GET "+iss+"/login", p.loginPage)
	mux.HandleFunc("POST "+iss+"/login", p.loginSubmit)
	mux.HandleFunc("POST "+iss+"/token", p.token)
	mux.HandleFunc("GET "+iss+"/userinfo", p.userinfo)
	mux.HandleFunc("POST "+iss+"/userinfo", p.userinfo)
	mux.HandleFunc("POST "+iss+"/revoke", p.revoke)
	mux.HandleFunc("POST "+iss+"/introspect", p.introspect)
	mux.HandleFunc("GET "+iss+"/account", p.account)
	mux.HandleFunc("GET "+iss+"/{$}", p.issuerHome)
	mux.HandleFunc("GET "+iss, p.issuerHome)
	mux.HandleFunc("POST "+iss+"/{$}", p.issuerHomeSubmit)
	mux.HandleFunc("GET "+iss+"/end_session", p.endSession)
	mux.HandleFunc("POST "+iss+"/end_session", p.endSession)
	mux.HandleFunc("GET "+iss+"/logout", p.logoutPage)
	mux.HandleFunc("POST "+iss+"/logout", p.logoutSubmit)
}

// org loads the organization named in the path. An unknown organization
// answers 404 without saying more.
func (p *Provider) org(w http.ResponseWriter, r *http.Request) (*domain.Organization, bool) {
	id := r.PathValue("org")
	if domain.ValidateOrgID(id) != nil {
		http.NotFound(w, r)
		return nil, false
	}
	org, err := p.Store.GetOrg(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		http.NotFound(w, r)
		return nil, false
	}
	if err != nil {
		p.internalError(w, r, "load organization", err)
		return nil, false
	}
	return org, true
}

// internalError logs err with the request id and shows a page with only the reference.
func (p *Provider) internalError(w http.ResponseWriter, r *http.Request, what string, err error) {
	ref := p.RequestID(r.Context())
	p.Log.Error(what, "request_id", ref, "err", err)
	if errors.Is(err, store.ErrUnavailable) || store.Unavailable(r.Context()) {
		// The server answers 503 with Retry-After (see internal/server).
		store.MarkUnavailable(r.Context())
		if strings.Contains(r.Header.Get("Accept"), "text/html") {
			p.errorPage(w, r, nil, http.StatusServiceUnavailable, "Temporarily unavailable", "Latchkey cannot reach its database right now. Try again in a few seconds.")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"error":"temporarily_unavailable","error_description":"the database is unavailable; try again (reference ` + ref + `)"}` + "\n"))
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		p.errorPage(w, r, nil, http.StatusInternalServerError, "Something went wrong", "Latchkey could not complete this request. Try again in a moment.")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write([]byte(`{"error":"server_error","error_description":"internal error (reference ` + ref + `)"}` + "\n"))
}

type pageData struct {
	Title   string
	OrgName string
}

func (p *Provider) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	web.SetPageHeaders(w)
	w.WriteHeader(status)
	if err := p.Templates.ExecuteTemplate(w, name, data); err != nil {
		p.Log.Error("render page", "page", name, "request_id", p.RequestID(r.Context()), "err", err)
	}
}

type errorPageData struct {
	pageData
	Message   string
	Link      string
	LinkText  string
	Reference string
}

// errorPage shows a problem the browser cannot be redirected with.
func (p *Provider) errorPage(w http.ResponseWriter, r *http.Request, org *domain.Organization, status int, title, message string) {
	d := errorPageData{pageData: pageData{Title: title}, Message: message, Reference: p.RequestID(r.Context())}
	if org != nil {
		d.OrgName = org.Name
	}
	p.render(w, r, status, "error", d)
}
