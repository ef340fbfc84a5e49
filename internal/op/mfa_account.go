package op

import (
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/mfa"
	"github.com/latchkey/latchkey/internal/oauth"
	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/web"
)

// Enrolment during sign-in (the policy requires a factor the user lacks)
// and the account page's own management of passkeys, one-time codes and
// recovery codes.

type passkeyView struct {
	ID       string
	Name     string
	Created  string
	LastUsed string
	Synced   bool
}

// factorsView is the account page's "Sign-in methods" section.
type factorsView struct {
	CSRF         string
	Base         string
	Passkeys     []passkeyView
	TOTP         bool
	RecoveryLeft int
	Policy       string
	Required     bool
	// CanAdd offers "Add a passkey": its ceremony starts when the user
	// asks for it (accountPasskeyOptions), not with every view of the page.
	CanAdd bool
	Notice string
	Error  string
}

func fmtTime(t interface{ IsZero() bool }, s string) string {
	if t.IsZero() {
		return "never"
	}
	return s
}

func (p *Provider) factorsView(w http.ResponseWriter, r *http.Request, org *domain.Organization, user *domain.User) (*factorsView, error) {
	if !p.mfaOn(org) {
		return nil, nil
	}
	f, err := p.MFA.UserFactors(r.Context(), org.ID, user.Sub)
	if err != nil {
		return nil, err
	}
	v := &factorsView{
		CSRF: p.Sessions.CSRFToken(w, r, org.ID), Base: request.Issuer(r.Context()), TOTP: f.TOTP, RecoveryLeft: f.RecoveryLeft,
		Policy: org.Settings.MFA, Required: domain.MFARequiredFor(org.Settings.MFA, user),
	}
	for _, k := range f.Passkeys {
		v.Passkeys = append(v.Passkeys, passkeyView{
			ID: base64.RawURLEncoding.EncodeToString(k.ID), Name: k.Name, Created: k.CreatedAt.Format("2006-01-02"),
			LastUsed: fmtTime(k.LastUsedAt, k.LastUsedAt.Format("2006-01-02 15:04 MST")), Synced: k.Flags&0x08 != 0,
		})
	}
	v.CanAdd = len(f.Passkeys) < domain.MaxPasskeys && p.passkeys(org)
	return v, nil
}

// accountPasskeyOptions begins adding a passkey for the signed-in user
// (the account page's "Add a passkey"): it answers the WebAuthn creation
// options and the secret naming the ceremony's challenge, as JSON.
func (p *Provider) accountPasskeyOptions(w http.ResponseWriter, r *http.Request) {
	org := request.Org(r.Context())
	if _, ok := p.ceremonyForm(w, r, org, p.passkeys(org), "passkeys are not available here"); !ok {
		return
	}
	_, user, ok := p.sessionUser(w, r, org)
	if !ok {
		return
	}
	if user == nil {
		oauth.WriteJSON(w, http.StatusUnauthorized, oauth.LoginRequired("you are not signed in; sign in again"))
		return
	}
	c, err := p.MFA.BeginRegistration(r.Context(), org, user)
	if err != nil {
		var fe *domain.FieldError
		if errors.As(err, &fe) {
			oauth.WriteJSON(w, http.StatusConflict, oauth.InvalidRequest("%s", fe.Error()))
			return
		}
		p.internalError(w, r, "begin passkey registration", err)
		return
	}
	oauth.WriteJSON(w, http.StatusOK, map[string]any{"options": c.Options, "flow": c.Token})
}

// signedIn loads the browser's session user for an account action; on
// failure it has answered.
func (p *Provider) signedIn(w http.ResponseWriter, r *http.Request, org *domain.Organization) (*domain.Session, *domain.User, bool) {
	if !p.mfaOn(org) {
		http.NotFound(w, r)
		return nil, nil, false
	}
	sess, user, ok := p.sessionUser(w, r, org)
	if !ok {
		return nil, nil, false
	}
	if user == nil {
		http.Redirect(w, r, request.Issuer(r.Context())+"/login", http.StatusSeeOther)
		return nil, nil, false
	}
	return sess, user, true
}

// sessionUser loads the browser's session in org and its user; user is
// nil when nobody is signed in or the user is gone or disabled. On a
// failure to load them it has answered.
func (p *Provider) sessionUser(w http.ResponseWriter, r *http.Request, org *domain.Organization) (*domain.Session, *domain.User, bool) {
	sess, err := p.Sessions.Current(r.Context(), r, org.ID)
	if err != nil {
		p.internalError(w, r, "load session", err)
		return nil, nil, false
	}
	if sess == nil {
		return nil, nil, true
	}
	user, err := p.Store.GetUser(r.Context(), org.ID, sess.UserSub)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		p.internalError(w, r, "load user", err)
		return nil, nil, false
	}
	if user == nil || user.Disabled {
		return sess, nil, true
	}
	return sess, user, true
}

// accountForm reads and checks an account page form.
func (p *Provider) accountForm(w http.ResponseWriter, r *http.Request) (*domain.Organization, *domain.User, oauth.Params, bool) {
	org := request.Org(r.Context())
	form, perr := oauth.ParseForm(w, r)
	if perr != nil {
		p.errorPage(w, r, org, http.StatusBadRequest, "Change failed", "The form could not be read: "+perr.Description)
		return nil, nil, nil, false
	}
	if !p.Sessions.CheckCSRF(r, org.ID, form.Get("csrf_token")) {
		p.errorPage(w, r, org, http.StatusForbidden, "Form expired", "Go back, reload the page and try again.")
		return nil, nil, nil, false
	}
	_, user, ok := p.signedIn(w, r, org)
	if !ok {
		return nil, nil, nil, false
	}
	return org, user, form, true
}

// accountAgain shows the account page with a message.
func (p *Provider) accountAgain(w http.ResponseWriter, r *http.Request, status int, notice, problem string) {
	p.renderAccount(w, r, status, notice, problem)
}

type codesPageData struct {
	pageData
	Codes    []string
	Continue string
	Intro    string
}

// showRecoveryCodes makes new recovery codes and shows them once.
func (p *Provider) showRecoveryCodes(w http.ResponseWriter, r *http.Request, org *domain.Organization, user *domain.User, next, intro string) {
	codes, err := p.MFA.NewRecoveryCodes(r.Context(), org.ID, user.Sub)
	if err != nil {
		p.internalError(w, r, "make recovery codes", err)
		return
	}
	p.audit(r, org.ID, user.UserName, "mfa.recovery_codes.create", user.UserName, "ok", nil)
	p.render(w, r, http.StatusOK, "mfa_codes", codesPageData{
		pageData: pageData{Title: "Save your recovery codes", OrgName: org.Name}, Codes: codes, Continue: next, Intro: intro,
	})
}

// ensureRecoveryCodes shows new recovery codes after a user's first factor;
// otherwise it goes on to next.
func (p *Provider) afterFactorAdded(w http.ResponseWriter, r *http.Request, org *domain.Organization, user *domain.User, next, what string) {
	n, err := p.Store.CountRecoveryCodes(r.Context(), org.ID, user.Sub)
	if err != nil {
		p.internalError(w, r, "count recovery codes", err)
		return
	}
	if n == 0 {
		p.showRecoveryCodes(w, r, org, user, next, what+" If you lose it, each of these codes signs you in once instead.")
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (p *Provider) accountAddPasskey(w http.ResponseWriter, r *http.Request) {
	org, user, form, ok := p.accountForm(w, r)
	if !ok {
		return
	}
	if !p.passkeys(org) {
		p.accountAgain(w, r, http.StatusForbidden, "", "Passkeys are not available here.")
		return
	}
	k, err := p.MFA.FinishRegistration(r.Context(), org, user, form.Get("flow"), form.Get("name"), form.Get("credential"))
	if err != nil {
		status, notice, problem := p.registrationFailure(r, org, user, err)
		p.accountAgain(w, r, status, notice, problem)
		return
	}
	p.audit(r, org.ID, user.UserName, "mfa.passkey.add", user.UserName, "ok", map[string]string{"passkey": k.Name})
	p.afterFactorAdded(w, r, org, user, request.Issuer(r.Context())+"/account", "Your passkey \""+k.Name+"\" was added.")
}

// registrationFailure audits a refused passkey registration.
func (p *Provider) registrationFailure(r *http.Request, org *domain.Organization, user *domain.User, err error) (int, string, string) {
	var fe *domain.FieldError
	switch {
	case errors.As(err, &fe):
		return http.StatusBadRequest, "", fe.Error()
	case errors.Is(err, mfa.ErrExpired):
		return http.StatusBadRequest, "", "The passkey request expired. Try again."
	case errors.Is(err, mfa.ErrInvalid):
		p.audit(r, org.ID, user.UserName, "mfa.passkey.add", user.UserName, "invalid", nil)
		return http.StatusBadRequest, "", "The passkey could not be verified. Try again."
	}
	p.Log.ErrorContext(r.Context(), "add passkey", "err", err)
	return http.StatusServiceUnavailable, "", "Passkeys are unavailable right now. Try again in a moment."
}

// lastFactor reports whether removing one factor would leave a user whose
// policy requires a second factor without any.
func (p *Provider) lastFactor(r *http.Request, org *domain.Organization, user *domain.User) (bool, error) {
	if !domain.MFARequiredFor(org.Settings.MFA, user) {
		return false, nil
	}
	f, err := p.MFA.UserFactors(r.Context(), org.ID, user.Sub)
	if err != nil {
		return false, err
	}
	n := len(f.Passkeys)
	if f.TOTP {
		n++
	}
	return n <= 1, nil
}

func (p *Provider) accountRemovePasskey(w http.ResponseWriter, r *http.Request) {
	org, user, form, ok := p.accountForm(w, r)
	if !ok {
		return
	}
	id, err := base64.RawURLEncoding.DecodeString(form.Get("id"))
	if err != nil || len(id) == 0 || len(id) > 1023 {
		p.accountAgain(w, r, http.StatusBadRequest, "", "That passkey is not one of yours.")
		return
	}
	if last, err := p.lastFactor(r, org, user); err != nil {
		p.internalError(w, r, "load second factors", err)
		return
	} else if last {
		p.accountAgain(w, r, http.StatusConflict, "", org.Name+" requires a second factor: add another one before removing this passkey.")
		return
	}
	k, err := p.Store.GetPasskey(r.Context(), org.ID, id)
	if err != nil || k.UserSub != user.Sub {
		p.accountAgain(w, r, http.StatusNotFound, "", "That passkey is not one of yours.")
		return
	}
	if err := p.MFA.RemovePasskey(r.Context(), org.ID, user.Sub, id); err != nil {
		p.accountAgain(w, r, http.StatusNotFound, "", "That passkey is not one of yours.")
		return
	}
	p.audit(r, org.ID, user.UserName, "mfa.passkey.remove", user.UserName, "ok", map[string]string{"passkey": k.Name})
	p.accountAgain(w, r, http.StatusOK, "Passkey \""+k.Name+"\" removed.", "")
}

type totpPageData struct {
	pageData
	Action string
	CSRF   string
	Setup  *mfa.TOTPEnrolment
	Error  string
	// Passkey offers a passkey instead (enrolment during sign-in).
	Passkey     *mfa.Ceremony
	PasskeyJSON template.JS
	Script      string
	Enrol       bool
	// QR is the QR code image (a data: URL Latchkey made itself).
	QR template.URL
}

func (d totpPageData) usesScript() bool { return d.Passkey != nil }

func (p *Provider) totpPage(w http.ResponseWriter, r *http.Request, org *domain.Organization, user *domain.User, action string, enrol bool, status int, problem string) {
	setup, err := p.MFA.BeginTOTP(r.Context(), org, user)
	if err != nil {
		var fe *domain.FieldError
		if errors.As(err, &fe) {
			p.accountAgain(w, r, http.StatusConflict, "", fe.Error())
			return
		}
		p.internalError(w, r, "begin one-time codes", err)
		return
	}
	d := totpPageData{
		pageData: pageData{Title: "Set up a second factor", OrgName: org.Name},
		Action:   action, CSRF: p.Sessions.CSRFToken(w, r, org.ID), Setup: setup, Error: problem, Enrol: enrol,
		Script: request.Issuer(r.Context()) + web.MFAScriptPath(), QR: template.URL(setup.QR),
	}
	if !enrol {
		d.Title = "Set up one-time codes"
	}
	if enrol && p.passkeys(org) {
		c, err := p.MFA.BeginRegistration(r.Context(), org, user)
		if err != nil {
			p.internalError(w, r, "begin passkey registration", err)
			return
		}
		d.Passkey, d.PasskeyJSON = c, template.JS(c.Options)
	}
	p.render(w, r, status, "mfa_totp", d)
}

func (p *Provider) accountTOTPPage(w http.ResponseWriter, r *http.Request) {
	org := request.Org(r.Context())
	_, user, ok := p.signedIn(w, r, org)
	if !ok {
		return
	}
	p.totpPage(w, r, org, user, request.Issuer(r.Context())+"/account/totp", false, http.StatusOK, "")
}

func (p *Provider) accountTOTPSubmit(w http.ResponseWriter, r *http.Request) {
	org, user, form, ok := p.accountForm(w, r)
	if !ok {
		return
	}
	if status, msg := p.mfaLimited(r, org, user); status != 0 {
		p.totpPage(w, r, org, user, request.Issuer(r.Context())+"/account/totp", false, status, msg)
		return
	}
	if err := p.MFA.ConfirmTOTP(r.Context(), org.ID, user.Sub, form.Get("code")); err != nil {
		status, msg := p.mfaFailure(r, org, user, "mfa.totp.add", err, nil)
		// A new secret is shown: the app must be set up again with it.
		p.totpPage(w, r, org, user, request.Issuer(r.Context())+"/account/totp", false, status, msg+" Scan the new code below.")
		return
	}
	p.audit(r, org.ID, user.UserName, "mfa.totp.add", user.UserName, "ok", nil)
	p.afterFactorAdded(w, r, org, user, request.Issuer(r.Context())+"/account", "One-time codes are set up.")
}

func (p *Provider) accountRemoveTOTP(w http.ResponseWriter, r *http.Request) {
	org, user, _, ok := p.accountForm(w, r)
	if !ok {
		return
	}
	if last, err := p.lastFactor(r, org, user); err != nil {
		p.internalError(w, r, "load second factors", err)
		return
	} else if last {
		p.accountAgain(w, r, http.StatusConflict, "", org.Name+" requires a second factor: add a passkey before removing one-time codes.")
		return
	}
	if err := p.MFA.RemoveTOTP(r.Context(), org.ID, user.Sub); err != nil {
		p.internalError(w, r, "remove one-time codes", err)
		return
	}
	p.audit(r, org.ID, user.UserName, "mfa.totp.remove", user.UserName, "ok", nil)
	p.accountAgain(w, r, http.StatusOK, "One-time codes removed.", "")
}

func (p *Provider) accountNewRecoveryCodes(w http.ResponseWriter, r *http.Request) {
	org, user, _, ok := p.accountForm(w, r)
	if !ok {
		return
	}
	p.showRecoveryCodes(w, r, org, user, request.Issuer(r.Context())+"/account", "Your earlier recovery codes no longer work.")
}

// --- enrolment during sign-in ---

func (p *Provider) enrolPage(w http.ResponseWriter, r *http.Request) {
	org := request.Org(r.Context())
	_, user, ok := p.pendingFlow(w, r, org, domain.FlowEnrol)
	if !ok {
		return
	}
	p.totpPage(w, r, org, user, request.Issuer(r.Context())+"/login/enrol", true, http.StatusOK, "")
}

func (p *Provider) enrolSubmit(w http.ResponseWriter, r *http.Request) {
	org, form, ok := p.signInForm(w, r)
	if !ok {
		return
	}
	flow, user, ok := p.pendingFlow(w, r, org, domain.FlowEnrol)
	if !ok {
		return
	}
	action := request.Issuer(r.Context()) + "/login/enrol"
	ctx := r.Context()
	var amr []string
	var what string
	switch form.Get("method") {
	case "totp":
		if status, msg := p.mfaLimited(r, org, user); status != 0 {
			p.totpPage(w, r, org, user, action, true, status, msg)
			return
		}
		if err := p.MFA.ConfirmTOTP(ctx, org.ID, user.Sub, form.Get("code")); err != nil {
			status, msg := p.mfaFailure(r, org, user, "mfa.totp.add", err, nil)
			p.totpPage(w, r, org, user, action, true, status, msg+" Scan the new code below.")
			return
		}
		p.audit(r, org.ID, user.UserName, "mfa.totp.add", user.UserName, "ok", nil)
		amr, what = []string{domain.AMROTP}, "One-time codes are set up."
	case "passkey":
		k, err := p.MFA.FinishRegistration(ctx, org, user, form.Get("flow"), form.Get("name"), form.Get("credential"))
		if err != nil {
			status, _, msg := p.registrationFailure(r, org, user, err)
			p.totpPage(w, r, org, user, action, true, status, msg)
			return
		}
		p.audit(r, org.ID, user.UserName, "mfa.passkey.add", user.UserName, "ok", map[string]string{"passkey": k.Name})
		amr, what = []string{domain.AMRHardwareKey}, "Your passkey \""+k.Name+"\" was added."
		if k.Flags&0x08 != 0 {
			amr = []string{domain.AMRSoftwareKey}
		}
	default:
		p.totpPage(w, r, org, user, action, true, http.StatusBadRequest, "Choose a second factor to set up.")
		return
	}
	next, ok := p.completeMFA(w, r, org, user, flow, amr, map[string]string{"method": "enrolment"})
	if !ok {
		return
	}
	p.showRecoveryCodes(w, r, org, user, next, fmt.Sprintf("%s If you lose it, each of these codes signs you in once instead.", what))
}
