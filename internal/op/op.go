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
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/held"
	"github.com/latchkey/latchkey/internal/logout"
	"github.com/latchkey/latchkey/internal/mfa"
	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/signer"
	"github.com/latchkey/latchkey/internal/throttle"
	"github.com/latchkey/latchkey/web"
)

// Store is what the provider reads and writes: only the methods it calls.
type Store interface {
	AddSessionClient(ctx context.Context, orgID, sid, clientID string, at time.Time) error
	AppendAudit(ctx context.Context, e *domain.AuditEvent) error
	ConsumeCode(ctx context.Context, orgID string, hash []byte, at time.Time) (*domain.AuthCode, error)
	ConsumeTicket(ctx context.Context, orgID string, hash []byte, at time.Time) (*domain.LoginTicket, error)
	CountRecoveryCodes(ctx context.Context, orgID, sub string) (int, error)
	CreateAuthRequest(ctx context.Context, r *domain.AuthRequest) error
	CreateCode(ctx context.Context, c *domain.AuthCode) error
	CreateTokens(ctx context.Context, ts ...*domain.Token) error
	DeleteAuthRequest(ctx context.Context, orgID, id string) error
	GetApp(ctx context.Context, orgID, clientID string) (*domain.Application, error)
	GetAuthRequest(ctx context.Context, orgID, id string, now time.Time) (*domain.AuthRequest, error)
	GetCodeAndSession(ctx context.Context, orgID string, hash []byte) (*domain.AuthCode, *domain.Session, error)
	GetOrg(ctx context.Context, id string) (*domain.Organization, error)
	GetPasskey(ctx context.Context, orgID string, id []byte) (*domain.Passkey, error)
	GetSession(ctx context.Context, orgID, sid string) (*domain.Session, error)
	GetTicket(ctx context.Context, orgID string, hash []byte) (*domain.LoginTicket, error)
	GetToken(ctx context.Context, orgID string, hash []byte) (*domain.Token, error)
	GetTokenAndSession(ctx context.Context, orgID string, hash []byte) (*domain.Token, *domain.Session, error)
	GetUser(ctx context.Context, orgID, sub string) (*domain.User, error)
	GetUserByName(ctx context.Context, orgID, userName string) (*domain.User, error)
	ListUserGroups(ctx context.Context, orgID, sub string) ([]*domain.Group, error)
	MarkCodeReplayed(ctx context.Context, orgID string, hash []byte, at time.Time) error
	RedeemCode(ctx context.Context, orgID string, hash []byte, at time.Time, tokens ...*domain.Token) error
	RedeemIssuedCode(ctx context.Context, orgID string, hash []byte, sessionExpires, at time.Time, tokens ...*domain.Token) error
	RedeemTicket(ctx context.Context, orgID string, hash []byte, at time.Time, sess *domain.Session, e *domain.AuditEvent) error
	RevokeToken(ctx context.Context, orgID string, hash []byte, at time.Time) error
	RevokeTokenFamily(ctx context.Context, orgID, familyID string, at time.Time) error
	RevokeTokensFromCode(ctx context.Context, orgID string, codeHash []byte, at time.Time) error
	RotateRefreshToken(ctx context.Context, orgID string, hash []byte, at time.Time, next ...*domain.Token) error
}

// Provider serves every organization's OpenID Provider endpoints.
type Provider struct {
	Store    Store
	Keys     *signer.Keys
	Sessions *session.Sessions
	Limiter  *throttle.Limiter
	Logout   *logout.Service
	// Upstream signs users in through the organization's upstream IdP;
	// nil when the deployment does not offer federation.
	Upstream UpstreamLogin
	// MFA runs second-factor ceremonies; nil turns second factors off.
	MFA       *mfa.Service
	Templates *template.Template
	Log       *slog.Logger
	PublicURL string
	// RequestID returns the request's reference id for error pages and logs.
	RequestID func(context.Context) string
	Now       func() time.Time
	// Wait pauses a slowed-down sign-in; nil waits on a timer.
	Wait func(ctx context.Context, d time.Duration) error

	// Tickets holds the login tickets this node's trusted-platform API
	// minted, so that their redemption here need not read them back (the
	// API puts them; nil holds none).
	Tickets *held.Memory[*domain.LoginTicket]

	// issued holds the codes this node issued until they are redeemed.
	issued held.Memory[issuedCode]
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

// Issuer is the organization's issuer URL, for the code that has no
// request (handlers read request.Issuer, set by the front door).
func (p *Provider) Issuer(orgID string) string { return domain.IssuerURL(p.PublicURL, orgID) }

// Register mounts the provider's endpoints on every organization's
// issuer; the front door has loaded the organization when they run.
func (p *Provider) Register(iss *request.Issuers) {
	iss.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	iss.HandleFunc("GET /keys", p.jwks)
	iss.HandleFunc("GET /authorize", p.authorize)
	iss.HandleFunc("POST /authorize", p.authorize)
	iss.HandleFunc("GET /authorize/continue", p.continueAuthorize)
	iss.HandleFunc("GET /login", p.loginPage)
	iss.HandleFunc("POST /login", p.loginSubmit)
	iss.HandleFunc("POST /token", p.token)
	iss.HandleFunc("GET /userinfo", p.userinfo)
	iss.HandleFunc("POST /userinfo", p.userinfo)
	iss.HandleFunc("POST /revoke", p.revoke)
	iss.HandleFunc("POST /introspect", p.introspect)
	iss.HandleFunc("GET /account", p.account)
	iss.HandleFunc("GET /{$}", p.issuerHome)
	iss.HandleFunc("GET ", p.issuerHome)
	iss.HandleFunc("POST /{$}", p.issuerHomeSubmit)
	iss.HandleFunc("GET /end_session", p.endSession)
	iss.HandleFunc("POST /end_session", p.endSession)
	iss.HandleFunc("GET /logout", p.logoutPage)
	iss.HandleFunc("POST /logout", p.logoutSubmit)
	// Second factors (mfa.go, mfa_account.go).
	iss.HandleFunc("GET /mfa.js", p.mfaScript)
	iss.HandleFunc("GET /login/factor", p.factorPage)
	iss.HandleFunc("POST /login/factor", p.factorSubmit)
	iss.HandleFunc("GET /login/enrol", p.enrolPage)
	iss.HandleFunc("POST /login/enrol", p.enrolSubmit)
	iss.HandleFunc("POST /login/passkey/options", p.passkeyOptions)
	iss.HandleFunc("POST /login/passkey", p.passkeySubmit)
	iss.HandleFunc("POST /account/passkey/options", p.accountPasskeyOptions)
	iss.HandleFunc("POST /account/passkey", p.accountAddPasskey)
	iss.HandleFunc("POST /account/passkey/remove", p.accountRemovePasskey)
	iss.HandleFunc("GET /account/totp", p.accountTOTPPage)
	iss.HandleFunc("POST /account/totp", p.accountTOTPSubmit)
	iss.HandleFunc("POST /account/totp/remove", p.accountRemoveTOTP)
	iss.HandleFunc("POST /account/recovery", p.accountNewRecoveryCodes)
}

// InternalError is how the server's front door answers a request whose
// organization cannot be loaded: the provider's own failure answer.
func (p *Provider) InternalError(w http.ResponseWriter, r *http.Request, what string, err error) {
	p.internalError(w, r, what, err)
}

// internalError logs err (the log line carries the request id) and
// answers with only the reference: a page for a browser, JSON otherwise;
// 503 ("try again", the server adds Retry-After) when the database is
// unavailable, else 500.
func (p *Provider) internalError(w http.ResponseWriter, r *http.Request, what string, err error) {
	ref := p.RequestID(r.Context())
	p.Log.ErrorContext(r.Context(), what, "err", err)
	status, title, message := http.StatusInternalServerError, "Something went wrong", "Latchkey could not complete this request. Try again in a moment."
	code, description := "server_error", "internal error"
	if request.DatabaseDown(r.Context(), err) {
		status, title, message = http.StatusServiceUnavailable, "Temporarily unavailable", "Latchkey cannot reach its database right now. Try again in a few seconds."
		code, description = "temporarily_unavailable", "the database is unavailable; try again"
	}
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		p.errorPage(w, r, nil, status, title, message)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"error":"` + code + `","error_description":"` + description + ` (reference ` + ref + `)"}` + "\n"))
}

type pageData struct {
	Title   string
	OrgName string
}

// scriptPage is page data that loads Latchkey's own script (passkeys).
type scriptPage interface{ usesScript() bool }

func (p *Provider) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	web.SetPageHeaders(w)
	if sp, ok := data.(scriptPage); ok && sp.usesScript() {
		web.AllowOwnScript(w)
	}
	w.WriteHeader(status)
	if err := p.Templates.ExecuteTemplate(w, name, data); err != nil {
		p.Log.ErrorContext(r.Context(), "render page", "page", name, "err", err)
	}
}

// errorPage shows a problem the browser cannot be redirected with.
func (p *Provider) errorPage(w http.ResponseWriter, r *http.Request, org *domain.Organization, status int, title, message string) {
	d := web.ErrorPage{Title: title, Message: message, Reference: p.RequestID(r.Context())}
	if org != nil {
		d.OrgName = org.Name
	}
	p.renderError(w, r, status, d)
}

func (p *Provider) renderError(w http.ResponseWriter, r *http.Request, status int, d web.ErrorPage) {
	if err := web.RenderError(w, p.Templates, status, d); err != nil {
		p.Log.ErrorContext(r.Context(), "render page", "page", "error", "err", err)
	}
}
