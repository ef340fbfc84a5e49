package op

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/oauth"
	"github.com/latchkey/latchkey/internal/password"
	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/throttle"
	"github.com/latchkey/latchkey/web"
)

// Password sign-in limits, counted in the database so every node shares
// them. A client address may make loginLimitAddr attempts per window, and
// loginLimitUserAddr of them for one userName: past either it gets 429.
// Attempts for one userName from every address together never block (that
// would let anyone lock any user out); past loginSlowUser each attempt is
// slowed down (loginSlowStep more per attempt, at most loginSlowMax), which
// caps distributed guessing while the right password still gets through.
var (
	loginLimitAddr     = throttle.Limit{N: 100, Window: 15 * time.Minute}
	loginLimitUserAddr = throttle.Limit{N: 10, Window: 15 * time.Minute}
	loginUserWindow    = 15 * time.Minute
)

const (
	loginSlowUser = 10
	loginSlowStep = 250 * time.Millisecond
	loginSlowMax  = 3 * time.Second
)

// loginDelay is how long an attempt waits when the userName has seen n
// attempts in the current window.
func loginDelay(n int) time.Duration {
	if n <= loginSlowUser {
		return 0
	}
	return min(time.Duration(n-loginSlowUser)*loginSlowStep, loginSlowMax)
}

const msgBadCredentials = "Incorrect username or password."

type loginPageData struct {
	pageData
	AppName       string
	Action        string
	CSRF          string
	Request       string
	Username      string
	AskPassword   bool
	ChangeUserURL string
	Error         string
	// UpstreamURL and UpstreamLabel offer the organization's own IdP.
	UpstreamURL   string
	UpstreamLabel string
	// Passkey offers "Sign in with a passkey" (its script's URL).
	Passkey string
}

func (d loginPageData) usesScript() bool { return d.Passkey != "" }

// loginContext loads the pending request named by req, if any, for the
// page's "continue to APP" line. A missing or expired request is no error:
// the login then leads to the account page.
func (p *Provider) loginContext(ctx context.Context, org *domain.Organization, reqID string) (*domain.AuthRequest, string) {
	if reqID == "" {
		return nil, ""
	}
	req, err := p.Store.GetAuthRequest(ctx, org.ID, reqID, p.now())
	if err != nil {
		return nil, ""
	}
	if app, err := p.Store.GetApp(ctx, org.ID, req.ClientID); err == nil {
		return req, app.Name
	}
	return req, ""
}

func (p *Provider) loginPage(w http.ResponseWriter, r *http.Request) {
	org := request.Org(r.Context())
	q := r.URL.Query()
	req, appName := p.loginContext(r.Context(), org, q.Get("req"))
	if p.platformLogin(w, r, org, req) {
		return
	}
	if org.Settings.LoginMethod == domain.LoginUpstream && p.Upstream != nil {
		p.Upstream.Begin(w, r, org, req)
		return
	}
	d := p.newLoginData(w, r, org, req, appName)
	if q.Get("change") == "" && req != nil && req.LoginHint != "" && domain.ValidateUserName(req.LoginHint) == nil {
		d.Username, d.AskPassword = req.LoginHint, true
	}
	p.render(w, r, http.StatusOK, "login", d)
}

func (p *Provider) newLoginData(w http.ResponseWriter, r *http.Request, org *domain.Organization, req *domain.AuthRequest, appName string) loginPageData {
	d := loginPageData{
		pageData: pageData{Title: "Sign in", OrgName: org.Name},
		AppName:  appName,
		Action:   request.Issuer(r.Context()) + "/login",
		CSRF:     p.Sessions.CSRFToken(w, r, org.ID),
	}
	change := url.Values{"change": {"1"}}
	if req != nil {
		d.Request = req.ID
		change.Set("req", req.ID)
	}
	d.ChangeUserURL = request.Issuer(r.Context()) + "/login?" + change.Encode()
	if p.passwordless(org) {
		d.Passkey = request.Issuer(r.Context()) + web.MFAScriptPath()
	}
	if p.Upstream != nil {
		if label, ok := p.Upstream.Available(r.Context(), org); ok {
			up := url.Values{}
			if req != nil {
				up.Set("req", req.ID)
			}
			d.UpstreamURL, d.UpstreamLabel = request.Issuer(r.Context())+"/login/upstream?"+up.Encode(), label
		}
	}
	return d
}

// signInForm reads a sign-in form (password, second factor, passkey,
// enrolment) of the request's organization and checks its CSRF token; when
// it returns false it has answered the request.
func (p *Provider) signInForm(w http.ResponseWriter, r *http.Request) (*domain.Organization, oauth.Params, bool) {
	org := request.Org(r.Context())
	form, perr := oauth.ParseForm(w, r)
	if perr != nil {
		p.errorPage(w, r, org, http.StatusBadRequest, "Sign-in failed", "The form could not be read: "+perr.Description)
		return nil, nil, false
	}
	if !p.Sessions.CheckCSRF(r, org.ID, form.Get("csrf_token")) {
		p.errorPage(w, r, org, http.StatusForbidden, "Sign-in form expired",
			"This page was open too long or came from somewhere else. Go back, reload the page and try again.")
		return nil, nil, false
	}
	return org, form, true
}

func (p *Provider) loginSubmit(w http.ResponseWriter, r *http.Request) {
	org, form, ok := p.signInForm(w, r)
	if !ok {
		return
	}
	if org.Settings.LoginMethod != domain.LoginPassword {
		p.errorPage(w, r, org, http.StatusForbidden, "Password sign-in is off",
			org.Name+" signs users in through its own platform or identity provider, not with a Latchkey password.")
		return
	}
	req, appName := p.loginContext(r.Context(), org, form.Get("req"))
	d := p.newLoginData(w, r, org, req, appName)
	d.Username = form.Get("username")
	if err := domain.ValidateUserName(d.Username); err != nil {
		d.Error = "Enter your username."
		if d.Username != "" {
			d.Error = "That is not a valid username."
		}
		d.Username = ""
		p.render(w, r, http.StatusBadRequest, "login", d)
		return
	}
	d.AskPassword = true
	pw, hasPassword := form["password"]
	if !hasPassword {
		// Identifier first: the next step is the same for every name, so the
		// page reveals nothing about which users exist.
		p.render(w, r, http.StatusOK, "login", d)
		return
	}
	user, status, msg := p.checkPassword(r, org, d.Username, pw)
	if user == nil {
		d.Error = msg
		p.render(w, r, status, "login", d)
		return
	}
	p.audit(r, org.ID, user.UserName, "login.password", user.UserName, "ok", nil)
	p.passwordVerified(w, r, org, user, req)
}

// checkPassword verifies a password sign-in. Unknown users, users without a
// password, disabled users and wrong passwords get the same answer after the
// same work, so a guesser learns nothing from it.
func (p *Provider) checkPassword(r *http.Request, org *domain.Organization, userName, pw string) (*domain.User, int, string) {
	ctx := r.Context()
	ip := request.ClientIP(r)
	folded := domain.FoldUserName(userName)
	unavailable := func(what string, err error) (*domain.User, int, string) {
		p.Log.ErrorContext(ctx, what, "err", err)
		return nil, http.StatusServiceUnavailable, "Sign-in is unavailable right now. Try again in a moment."
	}
	userAddrBucket := "login:user-addr:" + org.ID + ":" + folded + ":" + ip
	for _, lim := range []struct {
		bucket string
		limit  throttle.Limit
	}{
		{"login:addr:" + ip, loginLimitAddr},
		{userAddrBucket, loginLimitUserAddr},
	} {
		ok, retry, err := p.Limiter.Hit(ctx, lim.bucket, lim.limit)
		if err != nil {
			return unavailable("rate limit", err)
		}
		if !ok {
			p.audit(r, org.ID, userName, "login.password", userName, "rate_limited", nil)
			mins := int(retry.Minutes()) + 1
			return nil, http.StatusTooManyRequests, fmt.Sprintf("Too many sign-in attempts. Try again in %d minute%s.", mins, plural(mins))
		}
	}
	// Counted, never refused: the count only slows attempts down.
	userBucket := "login:user:" + org.ID + ":" + folded
	n, err := p.Limiter.Count(ctx, userBucket, loginUserWindow)
	if err != nil {
		return unavailable("rate limit", err)
	}
	if d := loginDelay(n); d > 0 {
		if err := p.wait(ctx, d); err != nil {
			return nil, http.StatusServiceUnavailable, "Sign-in is unavailable right now. Try again in a moment."
		}
	}
	user, err := p.Store.GetUserByName(ctx, org.ID, userName)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return unavailable("load user", err)
	}
	if user == nil || user.PasswordHash == "" {
		password.VerifyNothingContext(ctx, pw)
		p.audit(r, org.ID, userName, "login.password", userName, "bad_credentials", nil)
		return nil, http.StatusUnauthorized, msgBadCredentials
	}
	match, err := password.VerifyContext(ctx, pw, user.PasswordHash)
	if err != nil && ctx.Err() != nil {
		return nil, http.StatusServiceUnavailable, "Sign-in is unavailable right now. Try again in a moment."
	}
	if err != nil {
		p.Log.ErrorContext(ctx, "verify password", "user", user.UserName, "err", err)
	}
	if !match {
		p.audit(r, org.ID, user.UserName, "login.password", user.UserName, "bad_credentials", nil)
		return nil, http.StatusUnauthorized, msgBadCredentials
	}
	if user.Disabled {
		// The audit log says why; the page must not, or it would confirm
		// to a guesser that the password was right.
		p.audit(r, org.ID, user.UserName, "login.password", user.UserName, "disabled", nil)
		return nil, http.StatusUnauthorized, msgBadCredentials
	}
	_ = p.Limiter.Reset(ctx, userAddrBucket)
	_ = p.Limiter.Reset(ctx, userBucket)
	return user, http.StatusOK, ""
}

// wait pauses a request for d (or less, when ctx ends first).
func (p *Provider) wait(ctx context.Context, d time.Duration) error {
	if p.Wait != nil {
		return p.Wait(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// audit records an event; a failure to record is logged, not fatal.
// auditEvent is the event audit appends, for a caller that stores it with
// the change it records.
func (p *Provider) auditEvent(r *http.Request, orgID, actor, action, target, result string, detail map[string]string) *domain.AuditEvent {
	return &domain.AuditEvent{
		OrgID: orgID, At: p.now(), Actor: actor, Action: action, Target: target, Result: result, ClientIP: request.ClientIP(r), Detail: detail,
	}
}

func (p *Provider) audit(r *http.Request, orgID, actor, action, target, result string, detail map[string]string) {
	ctx := r.Context()
	err := p.Store.AppendAudit(ctx, p.auditEvent(r, orgID, actor, action, target, result, detail))
	if err != nil {
		p.Log.ErrorContext(ctx, "append audit event", "action", action, "err", err)
	}
}
