package upstream

import (
	"errors"
	"net/http"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/store"
)

// Register mounts the upstream endpoints of every organization's issuer;
// the front door has loaded the organization when they run.
func (f *Federation) Register(iss *request.Issuers) {
	iss.HandleFunc("GET /login/upstream", f.start)
	iss.HandleFunc("GET /callback", f.callback)
	iss.HandleFunc("GET /logout/callback", f.logoutCallback)
	iss.HandleFunc("POST /backchannel", f.backchannel)
}

// start is the "sign in with …" button of the login page.
func (f *Federation) start(w http.ResponseWriter, r *http.Request) {
	org := request.Org(r.Context())
	var req *domain.AuthRequest
	if id := r.URL.Query().Get("req"); id != "" {
		if got, err := f.Store.GetAuthRequest(r.Context(), org.ID, id, f.now()); err == nil {
			req = got
		}
	}
	f.Begin(w, r, org, req)
}

// callback is the redirect URI registered at the upstream IdP (ISS/callback).
func (f *Federation) callback(w http.ResponseWriter, r *http.Request) {
	org := request.Org(r.Context())
	ctx := r.Context()
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" || len(q["state"]) > 1 {
		f.audit(r, org.ID, "", "login.upstream", "bad_state", nil)
		f.fail(w, r, org, http.StatusBadRequest, "Sign-in failed", "The identity provider's answer is missing its state.", nil)
		return
	}
	login, err := f.Store.ConsumeUpstreamLogin(ctx, org.ID, secret.Hash(state), f.now())
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrAlreadyUsed):
		f.audit(r, org.ID, "", "login.upstream", "bad_state", nil)
		f.fail(w, r, org, http.StatusBadRequest, "Sign-in failed",
			"This sign-in is unknown or already finished. Go back to the application and sign in again.", nil)
		return
	case err != nil:
		f.fail(w, r, org, http.StatusInternalServerError, "Sign-in failed", "Latchkey could not complete the sign-in.", err)
		return
	}
	if !f.now().Before(login.ExpiresAt) {
		f.fail(w, r, org, http.StatusBadRequest, "Sign-in expired", "The sign-in took too long. Go back to the application and sign in again.", nil)
		return
	}
	c, err := r.Cookie(bindingCookie)
	if err != nil || !secret.MatchesHash(c.Value, login.BrowserHash) {
		f.audit(r, org.ID, "", "login.upstream", "bad_state", map[string]string{"reason": "browser mismatch"})
		f.fail(w, r, org, http.StatusBadRequest, "Sign-in failed",
			"This sign-in was started in another browser. Go back to the application and sign in again.", nil)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: bindingCookie, Value: "", Path: session.CookiePath(org.ID), MaxAge: -1,
		HttpOnly: true, Secure: f.Sessions.Secure, SameSite: http.SameSiteLaxMode})
	if e := q.Get("error"); e != "" {
		f.audit(r, org.ID, "", "login.upstream", "upstream_error", map[string]string{"error": e})
		msg := "Your organization's identity provider did not sign you in."
		if e == "access_denied" {
			msg = "Your organization's identity provider denied the sign-in (access_denied)."
		}
		f.fail(w, r, org, http.StatusForbidden, "Sign-in refused", msg, errors.New(e+": "+q.Get("error_description")))
		return
	}
	code := q.Get("code")
	if code == "" {
		f.fail(w, r, org, http.StatusBadRequest, "Sign-in failed", "The identity provider's answer has no authorization code.", nil)
		return
	}
	conn, err := f.Store.GetUpstream(ctx, org.ID)
	if err != nil {
		f.fail(w, r, org, http.StatusInternalServerError, "Sign-in failed", "The identity provider is no longer configured.", err)
		return
	}
	prov, err := f.provider(ctx, conn)
	if err != nil {
		f.fail(w, r, org, http.StatusBadGateway, "Identity provider unreachable", "Latchkey could not reach your organization's identity provider.", err)
		return
	}
	secretValue, err := f.Directory.OpenUpstreamSecret(conn)
	if err != nil {
		f.fail(w, r, org, http.StatusInternalServerError, "Sign-in failed", "Latchkey could not read the identity provider settings.", err)
		return
	}
	var opts []oauth2.AuthCodeOption
	if login.VerifierSealed != nil {
		v, err := f.Master.Open(login.VerifierSealed, verifierAAD(org.ID, login.Hash))
		if err != nil {
			f.fail(w, r, org, http.StatusInternalServerError, "Sign-in failed", "Latchkey could not complete the sign-in.", err)
			return
		}
		opts = append(opts, oauth2.VerifierOption(string(v)))
	}
	octx := f.clientCtx(ctx)
	tok, err := f.oauthConfig(conn, prov, secretValue).Exchange(octx, code, opts...)
	if err != nil {
		f.audit(r, org.ID, "", "login.upstream", "exchange_failed", nil)
		f.fail(w, r, org, http.StatusBadGateway, "Sign-in failed", "The identity provider did not accept Latchkey's code exchange.", err)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		f.fail(w, r, org, http.StatusBadGateway, "Sign-in failed", "The identity provider returned no id_token.", nil)
		return
	}
	idt, err := prov.provider.Verifier(&oidc.Config{ClientID: conn.ClientID}).Verify(octx, raw)
	if err != nil {
		f.audit(r, org.ID, "", "login.upstream", "bad_id_token", nil)
		f.fail(w, r, org, http.StatusBadGateway, "Sign-in failed", "The identity provider's id_token did not verify.", err)
		return
	}
	if !secret.Equal([]byte(idt.Nonce), []byte(login.Nonce)) {
		f.audit(r, org.ID, "", "login.upstream", "bad_nonce", nil)
		f.fail(w, r, org, http.StatusBadRequest, "Sign-in failed", "The identity provider's id_token is not for this sign-in (nonce mismatch).", nil)
		return
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		f.fail(w, r, org, http.StatusBadGateway, "Sign-in failed", "The identity provider's id_token could not be read.", err)
		return
	}
	userName, _ := claims[conn.UsernameClaim].(string)
	if userName == "" && prov.meta.UserinfoEndpoint != "" {
		ui, err := prov.provider.UserInfo(octx, oauth2.StaticTokenSource(tok))
		if err != nil {
			f.fail(w, r, org, http.StatusBadGateway, "Sign-in failed", "Latchkey could not read your profile from the identity provider.", err)
			return
		}
		if ui.Subject != idt.Subject {
			f.audit(r, org.ID, "", "login.upstream", "userinfo_subject_mismatch", nil)
			f.fail(w, r, org, http.StatusBadGateway, "Sign-in failed", "The identity provider's profile belongs to another user.", nil)
			return
		}
		uc := map[string]any{}
		if err := ui.Claims(&uc); err == nil {
			userName, _ = uc[conn.UsernameClaim].(string)
		}
	}
	if userName == "" {
		f.audit(r, org.ID, "", "login.upstream", "no_username", map[string]string{"claim": conn.UsernameClaim})
		f.fail(w, r, org, http.StatusForbidden, "Sign-in refused",
			"The identity provider did not say who you are (no "+conn.UsernameClaim+" claim).", nil)
		return
	}
	user, ok := f.knownUser(w, r, org, userName, idt.Issuer, idt.Subject)
	if !ok {
		return
	}
	sealed, err := f.Master.Seal([]byte(raw), "upstream-id-token/"+org.ID)
	if err != nil {
		f.fail(w, r, org, http.StatusInternalServerError, "Sign-in failed", "Latchkey could not complete the sign-in.", err)
		return
	}
	upSID, _ := claims["sid"].(string)
	if _, err := f.Sessions.Login(ctx, w, r, org, user, []string{domain.AMRFederated},
		&session.Upstream{IDToken: sealed, SID: upSID, Subject: idt.Subject}); err != nil {
		f.fail(w, r, org, http.StatusInternalServerError, "Sign-in failed", "Latchkey could not start your session.", err)
		return
	}
	f.audit(r, org.ID, user.UserName, "login.upstream", "ok", map[string]string{"issuer": idt.Issuer})
	f.resume(w, r, org.ID, login.AuthRequestID)
}

// knownUser maps the upstream identity to an existing, enabled user. Only
// known users get in, and a userName once linked to one upstream subject
// cannot be taken over by another.
func (f *Federation) knownUser(w http.ResponseWriter, r *http.Request, org *domain.Organization, userName, iss, sub string) (*domain.User, bool) {
	ctx := r.Context()
	refuse := func(result, message string) (*domain.User, bool) {
		f.audit(r, org.ID, userName, "login.upstream", result, map[string]string{"issuer": iss, "subject": sub})
		f.fail(w, r, org, http.StatusForbidden, "Sign-in refused", message, nil)
		return nil, false
	}
	user, err := f.Store.GetUserByName(ctx, org.ID, userName)
	if errors.Is(err, store.ErrNotFound) || domain.ValidateUserName(userName) != nil {
		return refuse("unknown_user", "The account "+userName+" is not known to this organization. Ask an administrator to add you.")
	}
	if err != nil {
		f.fail(w, r, org, http.StatusInternalServerError, "Sign-in failed", "Latchkey could not look up your account.", err)
		return nil, false
	}
	if user.Disabled {
		return refuse("disabled", "Your account in this organization is disabled.")
	}
	if user.UpstreamIssuer != "" && (user.UpstreamIssuer != iss || user.UpstreamSubject != sub) {
		return refuse("subject_mismatch", "The account "+user.UserName+" is linked to another identity at your identity provider.")
	}
	linked, err := f.Store.GetUserByUpstream(ctx, org.ID, iss, sub)
	switch {
	case errors.Is(err, store.ErrConflict):
		return refuse("subject_mismatch", "Your identity is linked to more than one account; ask an administrator.")
	case err == nil && linked.Sub != user.Sub:
		return refuse("subject_mismatch", "Your identity at the identity provider is linked to another account of this organization.")
	case err != nil && !errors.Is(err, store.ErrNotFound):
		f.fail(w, r, org, http.StatusInternalServerError, "Sign-in failed", "Latchkey could not look up your account.", err)
		return nil, false
	}
	if user.UpstreamIssuer == "" {
		// The directory re-checks the link inside its transaction, so two
		// first logins racing cannot link two identities.
		linked, err := f.Directory.LinkUpstream(ctx, directory.Actor{Name: user.UserName, ClientIP: request.ClientIP(r)}, org.ID, user.Sub, iss, sub)
		if _, ok := domain.AsFieldError(err); ok {
			return refuse("subject_mismatch", "The account "+user.UserName+" is linked to another identity at your identity provider.")
		}
		if err != nil {
			f.fail(w, r, org, http.StatusInternalServerError, "Sign-in failed", "Latchkey could not link your account.", err)
			return nil, false
		}
		user = linked
	}
	return user, true
}
