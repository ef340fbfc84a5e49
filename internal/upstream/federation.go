package upstream

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/logout"
	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/upstream/discovery"
	"github.com/latchkey/latchkey/web"
)

// Lifetimes of the round trips through the upstream IdP.
const (
	loginLifetime  = 10 * time.Minute
	logoutLifetime = 10 * time.Minute
	// providerTTL bounds how long discovery is cached; go-oidc refreshes
	// the JWKS on its own when a token names an unknown kid.
	providerTTL = 10 * time.Minute
	// bindingCookie ties an upstream round trip to the browser that began it.
	bindingCookie = "lk_upstream"
)

// Store is what federation reads and writes: only the methods it calls.
type Store interface {
	AppendAudit(ctx context.Context, e *domain.AuditEvent) error
	ConsumeUpstreamLogin(ctx context.Context, orgID string, hash []byte, at time.Time) (*domain.UpstreamLogin, error)
	ConsumeUpstreamLogout(ctx context.Context, orgID string, hash []byte, at time.Time) (*domain.UpstreamLogout, error)
	CreateUpstreamLogin(ctx context.Context, l *domain.UpstreamLogin) error
	CreateUpstreamLogout(ctx context.Context, l *domain.UpstreamLogout) error
	GetAuthRequest(ctx context.Context, orgID, id string, now time.Time) (*domain.AuthRequest, error)
	GetUpstream(ctx context.Context, orgID string) (*domain.UpstreamConnection, error)
	GetUserByName(ctx context.Context, orgID, userName string) (*domain.User, error)
	GetUserByUpstream(ctx context.Context, orgID, issuer, subject string) (*domain.User, error)
	ListSessionsByUpstreamSID(ctx context.Context, orgID, upstreamSID string) ([]*domain.Session, error)
	ListUserSessions(ctx context.Context, orgID, sub string) ([]*domain.Session, error)
	RememberLogoutToken(ctx context.Context, orgID string, hash []byte, expiresAt, now time.Time) error
	ForgetLogoutToken(ctx context.Context, orgID string, hash []byte) error
}

// Federation signs organizations' users in through their upstream IdP.
type Federation struct {
	Store     Store
	Directory *directory.Directory
	Sessions  *session.Sessions
	Logout    *logout.Service
	Master    *secret.MasterKey
	// Client is the guarded outbound client (package outbound).
	Client    *http.Client
	Templates *template.Template
	Log       *slog.Logger
	Now       func() time.Time

	mu        sync.Mutex
	providers map[string]*cachedProvider // by org
}

type cachedProvider struct {
	configURL string
	meta      *discovery.Metadata
	provider  *oidc.Provider
	at        time.Time
}

func (f *Federation) now() time.Time {
	if f.Now != nil {
		return f.Now().UTC()
	}
	return time.Now().UTC()
}

// clientCtx makes go-oidc and x/oauth2 use the guarded client.
func (f *Federation) clientCtx(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, f.Client)
}

// provider returns the organization's upstream, discovering it when the
// cache is cold, stale or for another configuration URL.
func (f *Federation) provider(ctx context.Context, conn *domain.UpstreamConnection) (*cachedProvider, error) {
	f.mu.Lock()
	c := f.providers[conn.OrgID]
	f.mu.Unlock()
	now := time.Now()
	if c != nil && c.configURL == conn.ConfigURL && now.Sub(c.at) < providerTTL {
		return c, nil
	}
	meta, err := discovery.Discover(ctx, f.Client, conn.ConfigURL)
	if err != nil {
		return nil, err
	}
	algs := []string{}
	for _, a := range meta.IDTokenSigningAlgValuesSupported {
		if slices.Contains(discovery.VerifiableAlgs, a) {
			algs = append(algs, a)
		}
	}
	if len(algs) == 0 {
		algs = []string{oidc.RS256}
	}
	// The key set lives past this request: it gets a background context
	// carrying the guarded client.
	p := (&oidc.ProviderConfig{
		IssuerURL: meta.Issuer, AuthURL: meta.AuthorizationEndpoint, TokenURL: meta.TokenEndpoint,
		UserInfoURL: meta.UserinfoEndpoint, JWKSURL: meta.JWKSURI, Algorithms: algs,
	}).NewProvider(f.clientCtx(context.Background()))
	c = &cachedProvider{configURL: conn.ConfigURL, meta: meta, provider: p, at: now}
	f.mu.Lock()
	if f.providers == nil {
		f.providers = map[string]*cachedProvider{}
	}
	f.providers[conn.OrgID] = c
	f.mu.Unlock()
	return c, nil
}

func (f *Federation) oauthConfig(conn *domain.UpstreamConnection, c *cachedProvider, secretValue string) *oauth2.Config {
	style := oauth2.AuthStyleInHeader
	methods := c.meta.TokenEndpointAuthMethods()
	if !slices.Contains(methods, "client_secret_basic") && slices.Contains(methods, "client_secret_post") {
		style = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{
		ClientID: conn.ClientID, ClientSecret: secretValue, RedirectURL: f.Directory.UpstreamRedirectURI(conn.OrgID),
		Endpoint: oauth2.Endpoint{AuthURL: c.meta.AuthorizationEndpoint, TokenURL: c.meta.TokenEndpoint, AuthStyle: style},
		Scopes:   conn.Scopes,
	}
}

// Available reports whether the organization has an upstream connection,
// and the label for its login button.
func (f *Federation) Available(ctx context.Context, org *domain.Organization) (string, bool) {
	conn, err := f.Store.GetUpstream(ctx, org.ID)
	if err != nil {
		return "", false
	}
	label := conn.DisplayName
	if label == "" {
		label = "your organization's identity provider"
	}
	return label, true
}

func verifierAAD(orgID string, stateHash []byte) string {
	return fmt.Sprintf("upstream-verifier/%s/%x", orgID, stateHash)
}

// Begin sends the browser to the upstream IdP to sign in for req (nil for
// a login without a pending request).
func (f *Federation) Begin(w http.ResponseWriter, r *http.Request, org *domain.Organization, req *domain.AuthRequest) {
	ctx := r.Context()
	conn, err := f.Store.GetUpstream(ctx, org.ID)
	if errors.Is(err, store.ErrNotFound) {
		f.fail(w, r, org, http.StatusNotFound, "Sign-in unavailable", "This organization has no identity provider configured.", nil)
		return
	}
	if err != nil {
		f.fail(w, r, org, http.StatusInternalServerError, "Sign-in unavailable", "Latchkey could not load the identity provider settings.", err)
		return
	}
	c, err := f.provider(ctx, conn)
	if err != nil {
		f.fail(w, r, org, http.StatusBadGateway, "Identity provider unreachable",
			"Latchkey could not reach your organization's identity provider. Try again in a moment.", err)
		return
	}
	now := f.now()
	state, nonce, binding := secret.MustToken(), secret.MustToken(), secret.MustToken()
	login := &domain.UpstreamLogin{
		OrgID: org.ID, Hash: secret.Hash(state), BrowserHash: secret.Hash(binding), Nonce: nonce,
		CreatedAt: now, ExpiresAt: now.Add(loginLifetime),
	}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(nonce)}
	if c.meta.SupportsPKCE() {
		verifier := oauth2.GenerateVerifier()
		if login.VerifierSealed, err = f.Master.Seal([]byte(verifier), verifierAAD(org.ID, login.Hash)); err != nil {
			f.fail(w, r, org, http.StatusInternalServerError, "Sign-in unavailable", "Latchkey could not start the sign-in.", err)
			return
		}
		opts = append(opts, oauth2.S256ChallengeOption(verifier))
	}
	if req != nil {
		login.AuthRequestID = req.ID
		if req.LoginHint != "" {
			opts = append(opts, oauth2.SetAuthURLParam("login_hint", req.LoginHint))
		}
		if req.Prompt == "login" {
			opts = append(opts, oauth2.SetAuthURLParam("prompt", "login"))
		}
		// The application's max_age must be met where credentials are entered.
		if req.MaxAge >= 0 {
			opts = append(opts, oauth2.SetAuthURLParam("max_age", strconv.FormatInt(req.MaxAge, 10)))
		}
	}
	if err := f.Store.CreateUpstreamLogin(ctx, login); err != nil {
		f.fail(w, r, org, http.StatusInternalServerError, "Sign-in unavailable", "Latchkey could not start the sign-in.", err)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: bindingCookie, Value: binding, Path: session.CookiePath(org.ID), MaxAge: int(loginLifetime.Seconds()),
		HttpOnly: true, Secure: f.Sessions.Secure, SameSite: http.SameSiteLaxMode,
	})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, f.oauthConfig(conn, c, "").AuthCodeURL(state, opts...), http.StatusFound)
}

// fail ends a federated login on a clear page with a reference id; the
// detail goes to the log only.
func (f *Federation) fail(w http.ResponseWriter, r *http.Request, org *domain.Organization, status int, title, message string, detail error) {
	ref := request.ID(r.Context())
	if detail != nil {
		f.Log.WarnContext(r.Context(), "upstream login failed", "reason", title, "err", detail)
	}
	d := web.ErrorPage{Title: title, OrgName: org.Name, Message: message, Reference: ref,
		Link: request.Issuer(r.Context()) + "/login", LinkText: "Try signing in again"}
	if err := web.RenderError(w, f.Templates, status, d); err != nil {
		f.Log.ErrorContext(r.Context(), "render page", "err", err)
	}
}

func (f *Federation) audit(r *http.Request, orgID, actor, action, result string, detail map[string]string) {
	// What is audited has happened: a caller that stops waiting (an
	// upstream's back-channel delivery that timed out after the sessions
	// ended) must not take the record of it along.
	if err := f.Store.AppendAudit(context.WithoutCancel(r.Context()), &domain.AuditEvent{
		OrgID: orgID, At: f.now(), Actor: actor, Action: action, Target: actor, Result: result, ClientIP: request.ClientIP(r), Detail: detail,
	}); err != nil {
		f.Log.ErrorContext(r.Context(), "append audit event", "action", action, "err", err)
	}
}

// resume sends the browser on after a federated login.
func (f *Federation) resume(w http.ResponseWriter, r *http.Request, orgID, authRequestID string) {
	target := request.Issuer(r.Context()) + "/account"
	if authRequestID != "" {
		target = request.Issuer(r.Context()) + "/authorize/continue?req=" + url.QueryEscape(authRequestID)
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target, http.StatusSeeOther)
}
