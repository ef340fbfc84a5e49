package op

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/mfa"
	"github.com/latchkey/latchkey/internal/oauth"
	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/throttle"
	"github.com/latchkey/latchkey/web"
)

// The multi-factor part of hosted login: after a correct password, a user
// with a second factor is asked for it (and a user whose organization's
// policy requires one but who has none is taken through enrolment); an
// active session signed in with a password alone is stepped up when an
// application asks for acr_values=urn:latchkey:acr:mfa or the policy
// demands it; and a passkey alone signs in (discoverable credentials).
// Upstream and trusted-platform sessions are never asked: their own
// systems own the factors.

// mfaOn reports whether second factors are in use in org at all.
func (p *Provider) mfaOn(org *domain.Organization) bool {
	return p.MFA != nil && org.Settings.MFA != domain.MFAOff && org.Settings.LoginMethod == domain.LoginPassword
}

// passkeys reports whether org offers passkeys (sign-in and second factor).
func (p *Provider) passkeys(org *domain.Organization) bool {
	return p.mfaOn(org) && p.MFA.PasskeysAvailable()
}

// passwordless reports whether org offers "Sign in with a passkey".
func (p *Provider) passwordless(org *domain.Organization) bool { return p.passkeys(org) }

func (p *Provider) mfaScript(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(web.MFAScript())
}

// continueURL is where a finished login goes next.
func (p *Provider) continueURL(r *http.Request, reqID string) string {
	if reqID != "" {
		return request.Issuer(r.Context()) + "/authorize/continue?req=" + url.QueryEscape(reqID)
	}
	return request.Issuer(r.Context()) + "/account"
}

// passwordVerified continues a login after a correct password: straight
// into a session, or to the second factor, or to enrolment.
func (p *Provider) passwordVerified(w http.ResponseWriter, r *http.Request, org *domain.Organization, user *domain.User, req *domain.AuthRequest) {
	reqID := ""
	if req != nil {
		reqID = req.ID
	}
	if p.mfaOn(org) {
		f, err := p.MFA.UserFactors(r.Context(), org.ID, user.Sub)
		if err != nil {
			p.internalError(w, r, "load second factors", err)
			return
		}
		kind := ""
		switch {
		case f.Any():
			kind = domain.FlowSecondFactor
		case domain.MFARequiredFor(org.Settings.MFA, user):
			kind = domain.FlowEnrol
		}
		if kind != "" {
			p.startMFAFlow(w, r, org, &domain.MFAFlow{
				OrgID: org.ID, Kind: kind, UserSub: user.Sub, AMR: []string{domain.AMRPassword}, AuthTime: p.now(), Request: reqID,
			})
			return
		}
	}
	if _, err := p.Sessions.Login(r.Context(), w, r, org, user, []string{domain.AMRPassword}, nil); err != nil {
		p.internalError(w, r, "start session", err)
		return
	}
	http.Redirect(w, r, p.continueURL(r, reqID), http.StatusSeeOther)
}

func (p *Provider) startMFAFlow(w http.ResponseWriter, r *http.Request, org *domain.Organization, f *domain.MFAFlow) {
	tok, err := p.MFA.NewFlow(r.Context(), f, mfa.FlowLifetime)
	if err != nil {
		p.internalError(w, r, "start second factor", err)
		return
	}
	p.Sessions.SetMFA(w, org.ID, tok, mfa.FlowLifetime)
	next := "/login/factor"
	if f.Kind == domain.FlowEnrol {
		next = "/login/enrol"
	}
	http.Redirect(w, r, request.Issuer(r.Context())+next, http.StatusSeeOther)
}

// stepUp answers an authorization request whose session is not strong
// enough: the policy requires a second factor the session lacks, or the
// application asked for acr urn:latchkey:acr:mfa. It reports whether it
// answered; if not, the session serves the request as it is (an
// application that asked for mfa then sees acr pwd and decides).
func (p *Provider) stepUp(w http.ResponseWriter, r *http.Request, org *domain.Organization, req *domain.AuthRequest, sess *domain.Session, user *domain.User) bool {
	if !p.mfaOn(org) || !slices.Contains(sess.AMR, domain.AMRPassword) || slices.Contains(sess.AMR, domain.AMRMFA) {
		return false
	}
	required := domain.MFARequiredFor(org.Settings.MFA, user)
	if !required && !slices.Contains(strings.Fields(req.ACRValues), domain.ACRMFA) {
		return false
	}
	ctx := r.Context()
	f, err := p.MFA.UserFactors(ctx, org.ID, user.Sub)
	if err != nil {
		p.internalError(w, r, "load second factors", err)
		return true
	}
	kind := domain.FlowStepUp
	if !f.Any() {
		if !required {
			return false
		}
		kind = domain.FlowEnrol
	}
	if req.Prompt == "none" {
		p.redirectError(w, r, org, req, &oauth.Error{Code: "interaction_required", Description: "a second factor is required"})
		return true
	}
	if req.ID == "" {
		req.ID = secret.MustToken()
		if err := p.Store.CreateAuthRequest(ctx, req); err != nil {
			p.internalError(w, r, "store authorization request", err)
			return true
		}
	}
	p.Sessions.SetPending(w, org.ID, req.ID, authRequestLifetime)
	p.startMFAFlow(w, r, org, &domain.MFAFlow{
		OrgID: org.ID, Kind: kind, UserSub: user.Sub, AMR: sess.AMR, AuthTime: sess.AuthTime, Request: req.ID, Data: sess.SID,
	})
	return true
}

// pendingFlow loads the browser's multi-factor step and its user; on
// failure it has answered with a page.
func (p *Provider) pendingFlow(w http.ResponseWriter, r *http.Request, org *domain.Organization, kinds ...string) (*domain.MFAFlow, *domain.User, bool) {
	if p.MFA == nil {
		http.NotFound(w, r)
		return nil, nil, false
	}
	f, err := p.MFA.Flow(r.Context(), org.ID, p.Sessions.MFA(r), "")
	if err == nil && !slices.Contains(kinds, f.Kind) {
		err = mfa.ErrExpired
	}
	var user *domain.User
	if err == nil {
		user, err = p.Store.GetUser(r.Context(), org.ID, f.UserSub)
		if err == nil && user.Disabled {
			err = mfa.ErrExpired
		}
	}
	if err != nil {
		p.Sessions.ClearMFA(w, org.ID)
		p.errorPage(w, r, org, http.StatusBadRequest, "Sign-in expired",
			"This sign-in took too long or has already finished. Start again from the sign-in page.")
		return nil, nil, false
	}
	return f, user, true
}

type factorPageData struct {
	pageData
	Action   string
	CSRF     string
	UserName string
	// Passkey is the WebAuthn ceremony for a passkey, if the user has one.
	Passkey     *mfa.Ceremony
	PasskeyJSON template.JS
	TOTP        bool
	Recovery    bool
	Error       string
	Script      string
}

func (d factorPageData) usesScript() bool { return d.Passkey != nil }

func (p *Provider) factorData(w http.ResponseWriter, r *http.Request, org *domain.Organization, user *domain.User) (factorPageData, error) {
	d := factorPageData{
		pageData: pageData{Title: "Confirm it's you", OrgName: org.Name},
		Action:   request.Issuer(r.Context()) + "/login/factor", CSRF: p.Sessions.CSRFToken(w, r, org.ID), UserName: user.UserName,
		Script: request.Issuer(r.Context()) + web.MFAScriptPath(),
	}
	f, err := p.MFA.UserFactors(r.Context(), org.ID, user.Sub)
	if err != nil {
		return d, err
	}
	d.TOTP, d.Recovery = f.TOTP, f.RecoveryLeft > 0
	if len(f.Passkeys) > 0 && p.passkeys(org) {
		c, err := p.MFA.BeginSecondFactor(r.Context(), org, user)
		if err != nil {
			return d, err
		}
		d.Passkey, d.PasskeyJSON = c, template.JS(c.Options)
	}
	return d, nil
}

func (p *Provider) factorPage(w http.ResponseWriter, r *http.Request) {
	org := request.Org(r.Context())
	_, user, ok := p.pendingFlow(w, r, org, domain.FlowSecondFactor, domain.FlowStepUp)
	if !ok {
		return
	}
	d, err := p.factorData(w, r, org, user)
	if err != nil {
		p.internalError(w, r, "prepare second factor", err)
		return
	}
	p.render(w, r, http.StatusOK, "mfa_factor", d)
}

// mfaLimited counts a second-factor attempt against the same limits as a
// password: per address, per (user, address), and the per-user count that
// slows attempts down. It reports a refusal, if any.
func (p *Provider) mfaLimited(r *http.Request, org *domain.Organization, user *domain.User) (int, string) {
	ctx := r.Context()
	userAddr, userBucket := loginBuckets(org.ID, user.UserName, request.ClientIP(r))
	for _, lim := range []struct {
		bucket string
		limit  throttle.Limit
	}{
		{"login:addr:" + request.ClientIP(r), loginLimitAddr},
		{userAddr, loginLimitUserAddr},
	} {
		ok, retry, err := p.Limiter.Hit(ctx, lim.bucket, lim.limit)
		if err != nil {
			p.Log.ErrorContext(ctx, "rate limit", "err", err)
			return http.StatusServiceUnavailable, "Sign-in is unavailable right now. Try again in a moment."
		}
		if !ok {
			p.audit(r, org.ID, user.UserName, "login.second_factor", user.UserName, "rate_limited", nil)
			mins := int(retry.Minutes()) + 1
			return http.StatusTooManyRequests, fmt.Sprintf("Too many sign-in attempts. Try again in %d minute%s.", mins, plural(mins))
		}
	}
	n, err := p.Limiter.Count(ctx, userBucket, loginUserWindow)
	if err == nil {
		if d := loginDelay(n); d > 0 {
			err = p.wait(ctx, d)
		}
	}
	if err != nil {
		return http.StatusServiceUnavailable, "Sign-in is unavailable right now. Try again in a moment."
	}
	return 0, ""
}

// loginBuckets names the (user, address) and per-user rate-limit buckets
// password and second-factor attempts share.
func loginBuckets(orgID, userName, ip string) (userAddr, user string) {
	folded := domain.FoldUserName(userName)
	return "login:user-addr:" + orgID + ":" + folded + ":" + ip, "login:user:" + orgID + ":" + folded
}

// mfaFailure names a failed factor for the audit log and the user.
func (p *Provider) mfaFailure(r *http.Request, org *domain.Organization, user *domain.User, action string, err error, detail map[string]string) (int, string) {
	result, msg, status := "invalid", "That did not work. Try again.", http.StatusUnauthorized
	switch {
	case errors.Is(err, mfa.ErrReplay):
		result, msg = "replayed", "That code was used already. Wait for the next one."
	case errors.Is(err, mfa.ErrClone):
		result, msg, status = "clone_detected", "This passkey cannot be used: it looks copied. Use another factor and tell your administrator.", http.StatusForbidden
	case errors.Is(err, mfa.ErrExpired):
		result, msg, status = "expired", "The passkey request expired. Try again.", http.StatusBadRequest
	case errors.Is(err, mfa.ErrUnknownCredential):
		result, msg = "unknown_passkey", "That passkey is not registered for this account."
	case errors.Is(err, mfa.ErrInvalid):
	default:
		p.Log.ErrorContext(r.Context(), action, "err", err)
		return http.StatusServiceUnavailable, "Sign-in is unavailable right now. Try again in a moment."
	}
	p.audit(r, org.ID, user.UserName, action, user.UserName, result, detail)
	return status, msg
}

func (p *Provider) factorSubmit(w http.ResponseWriter, r *http.Request) {
	org, form, ok := p.signInForm(w, r)
	if !ok {
		return
	}
	flow, user, ok := p.pendingFlow(w, r, org, domain.FlowSecondFactor, domain.FlowStepUp)
	if !ok {
		return
	}
	ctx := r.Context()
	fail := func(status int, msg string) {
		d, err := p.factorData(w, r, org, user)
		if err != nil {
			p.internalError(w, r, "prepare second factor", err)
			return
		}
		d.Error = msg
		p.render(w, r, status, "mfa_factor", d)
	}
	if status, msg := p.mfaLimited(r, org, user); status != 0 {
		fail(status, msg)
		return
	}
	var amr []string
	var detail map[string]string
	switch form.Get("method") {
	case "totp":
		if err := p.MFA.CheckTOTP(ctx, org.ID, user.Sub, form.Get("code")); err != nil {
			fail(p.mfaFailure(r, org, user, "login.second_factor", err, map[string]string{"method": "totp"}))
			return
		}
		amr = []string{domain.AMROTP}
		detail = map[string]string{"method": "totp"}
	case "recovery":
		left, err := p.MFA.UseRecoveryCode(ctx, org.ID, user.Sub, form.Get("code"))
		if err != nil {
			fail(p.mfaFailure(r, org, user, "login.second_factor", err, map[string]string{"method": "recovery_code"}))
			return
		}
		amr = []string{domain.AMROTP}
		detail = map[string]string{"method": "recovery_code", "remaining": fmt.Sprint(left)}
		p.audit(r, org.ID, user.UserName, "mfa.recovery_code.use", user.UserName, "ok", map[string]string{"remaining": fmt.Sprint(left)})
	case "passkey":
		a, err := p.MFA.FinishSecondFactor(ctx, org, user, form.Get("flow"), form.Get("credential"))
		if err != nil {
			fail(p.passkeyFailure(r, org, user, a, err))
			return
		}
		amr = a.AMR
		detail = map[string]string{"method": "passkey", "passkey": a.Passkey.Name}
	default:
		fail(http.StatusBadRequest, "Choose how to confirm it's you.")
		return
	}
	if next, ok := p.completeMFA(w, r, org, user, flow, amr, detail); ok {
		http.Redirect(w, r, next, http.StatusSeeOther)
	}
}

// passkeyFailure audits a failed passkey use; a clone is audited on its own.
func (p *Provider) passkeyFailure(r *http.Request, org *domain.Organization, user *domain.User, a *mfa.Assertion, err error) (int, string) {
	if errors.Is(err, mfa.ErrClone) && a != nil {
		p.audit(r, org.ID, a.User.UserName, "mfa.passkey.clone_detected", a.User.UserName, "refused",
			map[string]string{"passkey": a.Passkey.Name, "sign_count": fmt.Sprint(a.Passkey.SignCount)})
		user = a.User
	}
	if user == nil {
		user = &domain.User{}
	}
	return p.mfaFailure(r, org, user, "login.passkey", err, map[string]string{"method": "passkey"})
}

// completeMFA turns a finished second factor into a session: a new one
// after a password, or the same session stepped up (auth_time kept). It
// returns where the browser goes next; if !ok it has answered.
func (p *Provider) completeMFA(w http.ResponseWriter, r *http.Request, org *domain.Organization, user *domain.User, flow *domain.MFAFlow, amr []string, detail map[string]string) (string, bool) {
	ctx := r.Context()
	if _, err := p.MFA.FinishFlow(ctx, org.ID, p.Sessions.MFA(r)); err != nil {
		p.Sessions.ClearMFA(w, org.ID)
		p.errorPage(w, r, org, http.StatusBadRequest, "Sign-in expired", "This sign-in has already finished. Start again from the sign-in page.")
		return "", false
	}
	p.Sessions.ClearMFA(w, org.ID)
	all := mergeAMR(flow.AMR, amr)
	if flow.Data != "" { // step-up of an existing session
		sess, err := p.Sessions.Current(ctx, r, org.ID)
		if err != nil {
			p.internalError(w, r, "load session", err)
			return "", false
		}
		if sess == nil || sess.SID != flow.Data {
			p.errorPage(w, r, org, http.StatusBadRequest, "Session ended", "You were signed out meanwhile. Sign in again.")
			return "", false
		}
		if err := p.Sessions.StepUp(ctx, w, org, sess, all); err != nil {
			p.internalError(w, r, "step up session", err)
			return "", false
		}
		p.audit(r, org.ID, user.UserName, "login.step_up", user.UserName, "ok", detail)
	} else {
		if _, err := p.Sessions.Login(ctx, w, r, org, user, all, nil); err != nil {
			p.internalError(w, r, "start session", err)
			return "", false
		}
		p.audit(r, org.ID, user.UserName, "login.second_factor", user.UserName, "ok", detail)
	}
	userAddr, userBucket := loginBuckets(org.ID, user.UserName, request.ClientIP(r))
	_ = p.Limiter.Reset(ctx, userAddr)
	_ = p.Limiter.Reset(ctx, userBucket)
	return p.continueURL(r, flow.Request), true
}

// mergeAMR adds methods to what was proved before, and mfa when the
// methods now span more than one factor.
func mergeAMR(before, added []string) []string {
	out := slices.Clone(before)
	for _, m := range added {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	factors := 0
	for _, m := range out {
		switch m {
		case domain.AMRPassword, domain.AMROTP, domain.AMRHardwareKey, domain.AMRSoftwareKey:
			factors++
		}
	}
	if factors >= 2 && !slices.Contains(out, domain.AMRMFA) {
		out = append(out, domain.AMRMFA)
	}
	return out
}

// --- passwordless ---

// ceremonyForm reads the form the passkey script posts to begin a
// ceremony, checks its CSRF token and that the ceremony is on (else off
// says why); on failure it has answered with a JSON error.
func (p *Provider) ceremonyForm(w http.ResponseWriter, r *http.Request, org *domain.Organization, on bool, off string) (oauth.Params, bool) {
	form, perr := oauth.ParseForm(w, r)
	if perr != nil {
		oauth.WriteJSON(w, http.StatusBadRequest, perr)
		return nil, false
	}
	if !p.Sessions.CheckCSRF(r, org.ID, form.Get("csrf_token")) {
		oauth.WriteJSON(w, http.StatusForbidden, oauth.AccessDenied("the form expired; reload the page"))
		return nil, false
	}
	if !on {
		oauth.WriteJSON(w, http.StatusForbidden, oauth.AccessDenied("%s", off))
		return nil, false
	}
	return form, true
}

func (p *Provider) passkeyOptions(w http.ResponseWriter, r *http.Request) {
	org := request.Org(r.Context())
	form, ok := p.ceremonyForm(w, r, org, p.passwordless(org), "passkey sign-in is off for this organization")
	if !ok {
		return
	}
	c, err := p.MFA.BeginPasswordless(r.Context(), org, form.Get("conditional") == "1")
	if err != nil {
		p.internalError(w, r, "begin passkey sign-in", err)
		return
	}
	oauth.WriteJSON(w, http.StatusOK, map[string]any{"options": c.Options, "flow": c.Token})
}

func (p *Provider) passkeySubmit(w http.ResponseWriter, r *http.Request) {
	org, form, ok := p.signInForm(w, r)
	if !ok {
		return
	}
	req, appName := p.loginContext(r.Context(), org, form.Get("req"))
	d := p.newLoginData(w, r, org, req, appName)
	if !p.passwordless(org) {
		p.errorPage(w, r, org, http.StatusForbidden, "Passkey sign-in is off", org.Name+" does not offer passkey sign-in.")
		return
	}
	ok, retry, err := p.Limiter.Hit(r.Context(), "login:addr:"+request.ClientIP(r), loginLimitAddr)
	if err != nil {
		p.Log.ErrorContext(r.Context(), "rate limit", "err", err)
		d.Error = "Sign-in is unavailable right now. Try again in a moment."
		p.render(w, r, http.StatusServiceUnavailable, "login", d)
		return
	}
	if !ok {
		mins := int(retry.Minutes()) + 1
		d.Error = fmt.Sprintf("Too many sign-in attempts. Try again in %d minute%s.", mins, plural(mins))
		p.render(w, r, http.StatusTooManyRequests, "login", d)
		return
	}
	a, err := p.MFA.FinishPasswordless(r.Context(), org, form.Get("flow"), form.Get("credential"))
	if err == nil && a.User.Disabled {
		p.audit(r, org.ID, a.User.UserName, "login.passkey", a.User.UserName, "disabled", nil)
		d.Error = "This account is disabled. Contact your organization's administrator."
		p.render(w, r, http.StatusForbidden, "login", d)
		return
	}
	if err != nil {
		var user *domain.User
		if a != nil {
			user = a.User
		}
		status, msg := p.passkeyFailure(r, org, user, a, err)
		d.Error = msg
		p.render(w, r, status, "login", d)
		return
	}
	// Passwordless sign-in requires user verification: the passkey is
	// something held and something known or inherent, so two factors.
	amr := a.AMR
	if a.UserVerified {
		amr = append(amr, domain.AMRMFA)
	}
	if _, err := p.Sessions.Login(r.Context(), w, r, org, a.User, amr, nil); err != nil {
		p.internalError(w, r, "start session", err)
		return
	}
	p.audit(r, org.ID, a.User.UserName, "login.passkey", a.User.UserName, "ok", map[string]string{"passkey": a.Passkey.Name})
	reqID := ""
	if req != nil {
		reqID = req.ID
	}
	http.Redirect(w, r, p.continueURL(r, reqID), http.StatusSeeOther)
}
