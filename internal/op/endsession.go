package op

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/oauth"
	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/internal/signer"
	"github.com/latchkey/latchkey/internal/store"
)

// logoutRequest is a validated RP-Initiated Logout request.
type logoutRequest struct {
	app                   *domain.Application
	postLogoutRedirectURI string
	state                 string
	// hint is the verified id_token_hint, nil without one.
	hint *hintClaims
}

type hintClaims struct {
	Issuer   string          `json:"iss"`
	Subject  string          `json:"sub"`
	SID      string          `json:"sid"`
	Audience json.RawMessage `json:"aud"`
	Expiry   int64           `json:"exp"`
	// Events is set only in logout tokens, which are no id_token.
	Events json.RawMessage `json:"events"`
}

// expired reports whether the hint's id_token had expired at now.
func (h *hintClaims) expired(now time.Time) bool {
	return h.Expiry == 0 || !now.Before(time.Unix(h.Expiry, 0))
}

func (h *hintClaims) audiences() []string {
	var one string
	if json.Unmarshal(h.Audience, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(h.Audience, &many)
	return many
}

// parseLogoutRequest validates the parameters of RP-Initiated Logout 1.0
// §2. A non-empty problem means: show it, redirect nowhere, end nothing.
// An error is the server's own failure (the keys or the application could
// not be read), never the caller's.
func (p *Provider) parseLogoutRequest(ctx context.Context, org *domain.Organization, params oauth.Params) (*logoutRequest, string, error) {
	lr := &logoutRequest{postLogoutRedirectURI: params.Get("post_logout_redirect_uri"), state: params.Get("state")}
	clientID := params.Get("client_id")
	notFound := "The application named in the sign-out request is not registered with " + org.Name + "."
	if raw := params.Get("id_token_hint"); raw != "" {
		var h hintClaims
		// An expired hint is still a hint (§2); what it may end depends on
		// its expiry and the browser's cookie (see endSession).
		typ, err := p.Keys.VerifyType(ctx, org.ID, raw, &h)
		if errors.Is(err, signer.ErrBadSignature) {
			return nil, "The sign-out request carries an id_token_hint that " + org.Name + " did not issue.", nil
		}
		if err != nil {
			return nil, "", err
		}
		// Only an id_token is a hint: an access token (at+jwt) or a logout
		// token (logout+jwt) of the same keys must not end a session.
		if (typ != "" && !strings.EqualFold(typ, "JWT")) || len(h.Events) > 0 {
			return nil, "The id_token_hint is not an ID token.", nil
		}
		if h.Issuer != request.Issuer(ctx) {
			return nil, "The sign-out request carries an id_token_hint from another issuer.", nil
		}
		auds := h.audiences()
		if len(auds) == 0 {
			return nil, "The id_token_hint names no application.", nil
		}
		hintApp := "The id_token_hint was not issued to an application of " + org.Name + "."
		switch {
		case clientID == "" || clientID == auds[0]:
			// The application is loaded once, below.
			clientID, notFound = auds[0], hintApp
		case !slices.Contains(auds, clientID):
			return nil, "client_id does not match the id_token_hint.", nil
		default:
			if _, err := p.Store.GetApp(ctx, org.ID, auds[0]); errors.Is(err, store.ErrNotFound) {
				return nil, hintApp, nil
			} else if err != nil {
				return nil, "", err
			}
		}
		lr.hint = &h
	}
	if clientID != "" {
		app, err := p.Store.GetApp(ctx, org.ID, clientID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, notFound, nil
		}
		if err != nil {
			return nil, "", err
		}
		lr.app = app
	}
	if lr.postLogoutRedirectURI != "" {
		if lr.app == nil {
			return nil, "The sign-out request names a return address but not the application (send id_token_hint or client_id).", nil
		}
		if !slices.Contains(lr.app.PostLogoutRedirectURIs, lr.postLogoutRedirectURI) {
			return nil, "The return address " + lr.postLogoutRedirectURI + " is not registered as a post-logout redirect URI of " + lr.app.Name + ".", nil
		}
	}
	return lr, "", nil
}

// logoutRequest reads a sign-out request: the RP-Initiated Logout
// parameters sent to end_session, or (confirmed) the confirmation form
// posted to ISS/logout, which must carry its CSRF token and whose hint is
// ignored (it carries only what was validated before). It validates them
// and finds the browser's session (nil without one); when it returns false
// it has answered the request.
func (p *Provider) logoutRequest(w http.ResponseWriter, r *http.Request, confirmed bool) (*domain.Organization, *logoutRequest, *domain.Session, bool) {
	org := request.Org(r.Context())
	read, title := oauth.ParseRequest, "Invalid sign-out request"
	if confirmed {
		read, title = oauth.ParseForm, "Sign-out failed"
	}
	params, perr := read(w, r)
	if perr != nil {
		p.errorPage(w, r, org, http.StatusBadRequest, title, perr.Description)
		return nil, nil, nil, false
	}
	if confirmed {
		if !p.Sessions.CheckCSRF(r, org.ID, params.Get("csrf_token")) {
			p.errorPage(w, r, org, http.StatusForbidden, "Sign-out form expired", "Go back, reload the page and try again.")
			return nil, nil, nil, false
		}
		delete(params, "id_token_hint")
	}
	lr, problem, err := p.parseLogoutRequest(r.Context(), org, params)
	if err != nil {
		p.internalError(w, r, "read sign-out request", err)
		return nil, nil, nil, false
	}
	if problem != "" {
		p.errorPage(w, r, org, http.StatusBadRequest, "Invalid sign-out request", problem)
		return nil, nil, nil, false
	}
	sess, err := p.Sessions.Current(r.Context(), r, org.ID)
	if err != nil {
		p.internalError(w, r, "load session", err)
		return nil, nil, nil, false
	}
	return org, lr, sess, true
}

// endSession is the end_session endpoint (RP-Initiated Logout 1.0).
func (p *Provider) endSession(w http.ResponseWriter, r *http.Request) {
	org, lr, sess, ok := p.logoutRequest(w, r, false)
	if !ok {
		return
	}
	switch {
	case sess != nil && lr.hint != nil && lr.hint.SID != "" && lr.hint.SID == sess.SID:
		// The browser's own session, named by its own id_token.
		p.finishLogout(w, r, org, sess, lr)
	case sess != nil:
		// No hint, or a hint for another session: could be logout CSRF.
		p.confirmLogout(w, r, org, sess, lr)
	case lr.hint != nil && !lr.hint.expired(p.now()):
		// No cookie: a server-side call (a proxy's back-end logout) or a
		// cross-site POST. A live id_token names the session to end.
		p.finishLogout(w, r, org, nil, lr)
	case lr.hint != nil:
		// An expired id_token proves little: whoever holds the browser
		// confirms (the form is same-site, so it carries the cookie).
		p.confirmLogout(w, r, org, nil, lr)
	default:
		p.finishLogout(w, r, org, nil, lr)
	}
}

type logoutPageData struct {
	pageData
	UserName              string
	AppName               string
	Action                string
	CSRF                  string
	ClientID              string
	PostLogoutRedirectURI string
	State                 string
	CancelURL             string
	Link                  string
	LinkText              string
}

func (p *Provider) confirmLogout(w http.ResponseWriter, r *http.Request, org *domain.Organization, sess *domain.Session, lr *logoutRequest) {
	d := logoutPageData{
		pageData: pageData{Title: "Sign out", OrgName: org.Name},
		Action:   request.Issuer(r.Context()) + "/logout", CSRF: p.Sessions.CSRFToken(w, r, org.ID),
		PostLogoutRedirectURI: lr.postLogoutRedirectURI, State: lr.state, CancelURL: request.Issuer(r.Context()) + "/account",
	}
	if lr.app != nil {
		d.AppName, d.ClientID = lr.app.Name, lr.app.ClientID
	}
	if sess != nil {
		if u, err := p.Store.GetUser(r.Context(), org.ID, sess.UserSub); err == nil {
			d.UserName = u.UserName
		}
	}
	p.render(w, r, http.StatusOK, "logout_confirm", d)
}

// logoutPage (GET ISS/logout) asks the signed-in user to confirm.
func (p *Provider) logoutPage(w http.ResponseWriter, r *http.Request) {
	org := request.Org(r.Context())
	sess, err := p.Sessions.Current(r.Context(), r, org.ID)
	if err != nil {
		p.internalError(w, r, "load session", err)
		return
	}
	if sess == nil {
		p.finishLogout(w, r, org, nil, &logoutRequest{})
		return
	}
	p.confirmLogout(w, r, org, sess, &logoutRequest{})
}

// logoutSubmit (POST ISS/logout) is the confirmed sign-out, from the
// confirmation page or the account page.
func (p *Provider) logoutSubmit(w http.ResponseWriter, r *http.Request) {
	org, lr, sess, ok := p.logoutRequest(w, r, true)
	if !ok {
		return
	}
	p.finishLogout(w, r, org, sess, lr)
}

// finishLogout ends the browser's session and the hint's session, then
// returns to the application or shows the signed-out page.
func (p *Provider) finishLogout(w http.ResponseWriter, r *http.Request, org *domain.Organization, sess *domain.Session, lr *logoutRequest) {
	ctx := r.Context()
	var ended []*domain.Session
	if sess != nil {
		ended = append(ended, sess)
	}
	if lr.hint != nil && lr.hint.SID != "" && (sess == nil || sess.SID != lr.hint.SID) {
		// The browser may not have sent its cookie (a cross-site POST); the
		// verified hint names the session to end, if it is the hint's user's.
		hs, err := p.Store.GetSession(ctx, org.ID, lr.hint.SID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			p.internalError(w, r, "load session", err)
			return
		}
		if hs != nil && hs.UserSub == lr.hint.Subject {
			ended = append(ended, hs)
		}
	}
	for _, s := range ended {
		if err := p.Logout.EndSession(ctx, org.ID, s.SID); err != nil {
			p.internalError(w, r, "end session", err)
			return
		}
	}
	p.Sessions.ClearSessionCookie(w, org.ID)
	final := ""
	if lr.postLogoutRedirectURI != "" {
		u, err := url.Parse(lr.postLogoutRedirectURI)
		if err != nil {
			p.internalError(w, r, "parse post-logout redirect URI", err)
			return
		}
		if lr.state != "" {
			q := u.Query()
			q.Set("state", lr.state)
			u.RawQuery = q.Encode()
		}
		final = u.String()
	}
	// A federated session may end at the upstream IdP too, or the
	// organization may have its own logout page.
	if p.Upstream != nil {
		var federated *domain.Session
		for _, s := range ended {
			if len(s.UpstreamIDToken) > 0 {
				federated = s
			}
		}
		if p.Upstream.AfterLogout(w, r, org, federated, final) {
			return
		}
	}
	if final != "" {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		http.Redirect(w, r, final, http.StatusFound)
		return
	}
	p.render(w, r, http.StatusOK, "logged_out", logoutPageData{pageData: pageData{Title: "Signed out", OrgName: org.Name},
		Link: request.Issuer(r.Context()) + "/account", LinkText: "Sign in again"})
}
