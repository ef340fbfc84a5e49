package op

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/oauth"
	"github.com/latchkey/latchkey/internal/password"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/throttle"
)

// Password sign-in limits: attempts per user and per client address in a
// 15-minute window. Counts live in the database, so every node shares them.
var (
	loginLimitUser = throttle.Limit{N: 10, Window: 15 * time.Minute}
	loginLimitAddr = throttle.Limit{N: 100, Window: 15 * time.Minute}
)

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

// ClientIP is the address a request came from (the direct peer).
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

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
	org, ok := p.org(w, r)
	if !ok {
		return
	}
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
		Action:   p.Issuer(org.ID) + "/login",
		CSRF:     p.Sessions.CSRFToken(w, r, org.ID),
	}
	change := url.Values{"change": {"1"}}
	if req != nil {
		d.Request = req.ID
		change.Set("req", req.ID)
	}
	d.ChangeUserURL = p.Issuer(org.ID) + "/login?" + change.Encode()
	if p.passwordless(org) {
		d.Passkey = p.Issuer(org.ID) + "/mfa.js"
	}
	if p.Upstream != nil {
		if label, ok := p.Upstream.Available(r.Context(), org); ok {
			up := url.Values{}
			if req != nil {
				up.Set("req", req.ID)
			}
			d.UpstreamURL, d.UpstreamLabel = p.Issuer(org.ID)+"/login/upstream?"+up.Encode(), label
		}
	}
	return d
}

func (p *Provider) loginSubmit(w http.ResponseWriter, r *http.Request) {
	org, ok := p.org(w, r)
	if !ok {
		return
	}
	form, perr := oauth.ParseForm(w, r)
	if perr != nil {
		p.errorPage(w, r, org, http.StatusBadRequest, "Sign-in failed", "The form could not be read: "+perr.Description)
		return
	}
	if !p.Sessions.CheckCSRF(r, org.ID, form.Get("csrf_token")) {
		p.errorPage(w, r, org, http.StatusForbidden, "Sign-in form expired",
			"This page was open too long or came from somewhere else. Go back, reload the page and try again.")
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
// password and wrong passwords get the same message after the same work.
func (p *Provider) checkPassword(r *http.Request, org *domain.Organization, userName, pw string) (*domain.User, int, string) {
	ctx := r.Context()
	ip := ClientIP(r)
	for _, lim := range []struct {
		bucket string
		limit  throttle.Limit
	}{
		{"login:addr:" + ip, loginLimitAddr},
		{"login:user:" + org.ID + ":" + domain.FoldUserName(userName), loginLimitUser},
	} {
		ok, retry, err := p.Limiter.Hit(ctx, lim.bucket, lim.limit)
		if err != nil {
			p.Log.Error("rate limit", "request_id", p.RequestID(ctx), "err", err)
			return nil, http.StatusServiceUnavailable, "Sign-in is unavailable right now. Try again in a moment."
		}
		if !ok {
			p.audit(r, org.ID, userName, "login.password", userName, "rate_limited", nil)
			mins := int(retry.Minutes()) + 1
			return nil, http.StatusTooManyRequests, fmt.Sprintf("Too many sign-in attempts. Try again in %d minute%s.", mins, plural(mins))
		}
	}
	user, err := p.Store.GetUserByName(ctx, org.ID, userName)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		p.Log.Error("load user", "request_id", p.RequestID(ctx), "err", err)
		return nil, http.StatusServiceUnavailable, "Sign-in is unavailable right now. Try again in a moment."
	}
	if user == nil || user.PasswordHash == "" {
		password.VerifyNothing(pw)
		p.audit(r, org.ID, userName, "login.password", userName, "bad_credentials", nil)
		return nil, http.StatusUnauthorized, msgBadCredentials
	}
	match, err := password.Verify(pw, user.PasswordHash)
	if err != nil {
		p.Log.Error("verify password", "request_id", p.RequestID(ctx), "user", user.UserName, "err", err)
	}
	if !match {
		p.audit(r, org.ID, user.UserName, "login.password", user.UserName, "bad_credentials", nil)
		return nil, http.StatusUnauthorized, msgBadCredentials
	}
	if user.Disabled {
		p.audit(r, org.ID, user.UserName, "login.password", user.UserName, "disabled", nil)
		return nil, http.StatusForbidden, "This account is disabled. Contact your organization's administrator."
	}
	_ = p.Limiter.Reset(ctx, "login:user:"+org.ID+":"+domain.FoldUserName(userName))
	return user, http.StatusOK, ""
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// audit records an event; a failure to record is logged, not fatal.
func (p *Provider) audit(r *http.Request, orgID, actor, action, target, result string, detail map[string]string) {
	ctx := r.Context()
	err := p.Store.AppendAudit(ctx, &domain.AuditEvent{
		OrgID: orgID, At: p.now(), Actor: actor, Action: action, Target: target, Result: result, ClientIP: ClientIP(r), Detail: detail,
	})
	if err != nil {
		p.Log.Error("append audit event", "request_id", p.RequestID(ctx), "action", action, "err", err)
	}
}
