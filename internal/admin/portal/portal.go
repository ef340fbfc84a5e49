package portal

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/web"
)

// Session limits: a portal session ends after IdleTimeout without a
// request, after maxLifetime, or when the SSO session it rides on ends.
const (
	DefaultIdleTimeout = 30 * time.Minute
	maxLifetime        = 12 * time.Hour
	maxFormBytes       = 64 << 10
	cookieName         = "lk_portal"
	loginCookieName    = "lk_portal_login"
	flashCookieName    = "lk_portal_flash"
	cookiePath         = "/admin/"
)

// Portal serves the admin portal.
type Portal struct {
	Directory *directory.Directory
	// Store holds the portal's own sessions and the SSO sessions they ride
	// on; every management read and change goes through Directory.
	Store store.Store
	// Loopback carries the portal's own back-channel requests (token
	// endpoint, keys) to this server's handler in-process, so the portal
	// reaches its issuer wherever PUBLIC_URL points.
	Loopback    http.RoundTripper
	Log         *slog.Logger
	PublicURL   string
	RequestID   func(context.Context) string
	Now         func() time.Time
	IdleTimeout time.Duration

	once      sync.Once
	pages     map[string]*template.Template
	verifiers sync.Map // orgID → *oidc.IDTokenVerifier
}

func (p *Portal) now() time.Time {
	if p.Now != nil {
		return p.Now().UTC()
	}
	return time.Now().UTC()
}

func (p *Portal) idle() time.Duration {
	if p.IdleTimeout > 0 {
		return p.IdleTimeout
	}
	return DefaultIdleTimeout
}

func (p *Portal) store() store.Store { return p.Store }

func (p *Portal) secure() bool { return strings.HasPrefix(p.PublicURL, "https://") }

// Handler serves everything under /admin/. POSTs from other origins are
// refused (http.CrossOriginProtection); each form also carries the
// session's token.
func (p *Portal) Handler() http.Handler {
	p.once.Do(func() { p.pages = web.PortalPages() })
	mux := http.NewServeMux()
	p.routes(mux)
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.errorPage(w, r, http.StatusForbidden, "Request refused", "This form was sent from another site. Go back, reload the page and try again.")
	}))
	return cop.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setHeaders(w)
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		}
		mux.ServeHTTP(w, r)
	}))
}

// setHeaders applies the portal's security headers to every response.
func setHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' https: data:; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-cache, private")
}

// noStore marks a response that shows a secret.
func noStore(w http.ResponseWriter) { w.Header().Set("Cache-Control", "no-store") }

// admin is who is signed in and where.
type admin struct {
	sess *domain.PortalSession
	// Operator: signed in to the operator organization (may open any org).
	Operator bool
	UserName string
	cookie   string
}

func (a *admin) actor(r *http.Request) directory.Actor {
	name := a.UserName
	if a.Operator {
		name = directory.OperatorOrgID + ":" + a.UserName
	}
	return directory.Actor{Name: name, ClientIP: request.ClientIP(r)}
}

// current returns the browser's live portal session, or nil. A session is
// live while it is neither ended, expired nor idle, its SSO session is
// active, and its user is still an enabled ADMIN.
func (p *Portal) current(ctx context.Context, r *http.Request) (*admin, error) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil, nil
	}
	orgID, tok, ok := strings.Cut(c.Value, "~")
	if !ok || domain.ValidateOrgID(orgID) != nil || tok == "" {
		return nil, nil
	}
	st := p.store()
	hash := secret.Hash(tok)
	ps, err := st.GetPortalSession(ctx, orgID, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load portal session: %w", err)
	}
	now := p.now()
	if !ps.Active(now, p.idle()) {
		return nil, nil
	}
	sso, err := st.GetSession(ctx, orgID, ps.SID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("load SSO session: %w", err)
	}
	if err != nil || !sso.Active(now) {
		_ = st.EndPortalSession(ctx, orgID, hash, now)
		return nil, nil
	}
	u, err := st.GetUser(ctx, orgID, ps.UserSub)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("load administrator: %w", err)
	}
	if err != nil || u.Disabled || u.Role != domain.RoleAdmin {
		_ = st.EndPortalSession(ctx, orgID, hash, now)
		return nil, nil
	}
	if now.Sub(ps.LastSeenAt) > time.Minute {
		if err := st.TouchPortalSession(ctx, orgID, hash, now); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("touch portal session: %w", err)
		}
	}
	return &admin{sess: ps, Operator: orgID == directory.OperatorOrgID, UserName: u.UserName, cookie: c.Value}, nil
}

// checkCSRF compares the form's token with the session's in constant time.
func checkCSRF(r *http.Request, a *admin) bool {
	got := r.PostFormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(a.sess.CSRF)) == 1
}

// ctxOrg is what an org page handler receives.
type orgRequest struct {
	w     http.ResponseWriter
	r     *http.Request
	admin *admin
	org   *domain.Organization
}

// pathOrg loads the organization in the path; when it cannot, it answers
// (404 for an unknown one) and returns false.
func (p *Portal) pathOrg(w http.ResponseWriter, r *http.Request) (*domain.Organization, bool) {
	org, err := p.Directory.GetOrg(r.Context(), r.PathValue("org"))
	if errors.Is(err, store.ErrNotFound) {
		p.notFound(w, r)
		return nil, false
	}
	if err != nil {
		p.internalError(w, r, "load organization", err)
		return nil, false
	}
	return org, true
}

// signedIn returns the admin signed in to the portal. Without one it
// answers, and returns false: a page (GET) starts a sign-in at the
// organization org, a form says the session ended and nothing was saved.
func (p *Portal) signedIn(w http.ResponseWriter, r *http.Request, org string) (*admin, bool) {
	a, err := p.current(r.Context(), r)
	if err != nil {
		p.internalError(w, r, "portal session", err)
		return nil, false
	}
	if a != nil {
		return a, true
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		p.startSignIn(w, r, org, r.URL.RequestURI())
		return nil, false
	}
	p.errorPage(w, r, http.StatusUnauthorized, "Signed out", "Your portal session has ended; nothing was saved. Sign in again and repeat the change.")
	return nil, false
}

// orgPage wraps a handler of an organization's portal: it loads the org,
// requires a live session that may see it (else sign-in, or 404 for the
// admin of another org), and for POSTs the session's CSRF token.
func (p *Portal) orgPage(h func(*orgRequest)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		org, ok := p.pathOrg(w, r)
		if !ok {
			return
		}
		a, ok := p.signedIn(w, r, org.ID)
		if !ok {
			return
		}
		if !a.Operator && a.sess.OrgID != org.ID {
			p.notFound(w, r)
			return
		}
		if r.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil {
				p.errorPage(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
				return
			}
			if !checkCSRF(r, a) {
				p.errorPage(w, r, http.StatusForbidden, "Request refused", "The form's security token is missing or wrong (it may be from an older session). Reload the page and try again.")
				return
			}
		}
		h(&orgRequest{w: w, r: r, admin: a, org: org})
	}
}

// operatorPage is orgPage for the operators' pages at /admin/.
func (p *Portal) operatorPage(h func(w http.ResponseWriter, r *http.Request, a *admin)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a, ok := p.signedIn(w, r, directory.OperatorOrgID)
		if !ok {
			return
		}
		if !a.Operator {
			if r.Method == http.MethodGet && r.URL.Path == "/admin/" {
				http.Redirect(w, r, "/admin/o/"+a.sess.OrgID+"/", http.StatusFound)
				return
			}
			p.notFound(w, r)
			return
		}
		if r.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil || !checkCSRF(r, a) {
				p.errorPage(w, r, http.StatusForbidden, "Request refused", "The form's security token is missing or wrong (it may be from an older session). Reload the page and try again.")
				return
			}
		}
		h(w, r, a)
	}
}

// --- flash messages (after a redirect) ---

func (p *Portal) setFlash(w http.ResponseWriter, msg string) {
	http.SetCookie(w, &http.Cookie{Name: flashCookieName, Value: url.QueryEscape(msg), Path: cookiePath, HttpOnly: true,
		Secure: p.secure(), SameSite: http.SameSiteLaxMode, MaxAge: 60})
}

func (p *Portal) takeFlash(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(flashCookieName)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookieName, Path: cookiePath, MaxAge: -1, HttpOnly: true, Secure: p.secure(), SameSite: http.SameSiteLaxMode})
	msg, _ := url.QueryUnescape(c.Value)
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return msg
}

// redirectFlash ends a successful POST: back to a page, with a message.
func (p *Portal) redirectFlash(w http.ResponseWriter, r *http.Request, to, msg string) {
	p.setFlash(w, msg)
	http.Redirect(w, r, to, http.StatusSeeOther)
}
