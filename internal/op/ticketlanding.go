package op

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/oauth"
	"github.com/latchkey/latchkey/internal/platform/ticket"
	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/web"
)

// The organization's own platform as its login (DESIGN.md §5): browsers
// that must sign in are sent to its Auth Redirect URL, and come back with
// a one-time login ticket at PUBLIC_URL/?refresh-token= or ISS/?refresh-token=.

// ticketParam is the query parameter a login ticket arrives in.
const ticketParam = "refresh-token"

// ticketAction is the audit action of a login ticket's landing.
const ticketAction = "login.ticket"

// platformLogin sends a browser that must sign in to the organization's
// platform, when that is the organization's login method, and reports
// whether it did. return_to resumes the pending request (or shows the
// account page); login_hint and prompt=login pass on what the application
// asked for.
func (p *Provider) platformLogin(w http.ResponseWriter, r *http.Request, org *domain.Organization, req *domain.AuthRequest) bool {
	if org.Settings.LoginMethod != domain.LoginPlatform || org.Settings.AuthRedirectURL == "" {
		return false
	}
	u, err := url.Parse(org.Settings.AuthRedirectURL)
	if err != nil { // validated when saved
		p.internalError(w, r, "parse auth redirect URL", err)
		return true
	}
	q := u.Query()
	returnTo := request.Issuer(r.Context()) + "/account"
	if req != nil {
		returnTo = request.Issuer(r.Context()) + "/authorize/continue?req=" + url.QueryEscape(req.ID)
		if req.LoginHint != "" {
			q.Set("login_hint", req.LoginHint)
		}
		if req.Prompt == "login" {
			q.Set("prompt", "login")
		}
	}
	q.Set("return_to", returnTo)
	u.RawQuery = q.Encode()
	noStoreNoReferrer(w)
	http.Redirect(w, r, u.String(), http.StatusFound)
	return true
}

func noStoreNoReferrer(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
}

// TicketLanding serves PUBLIC_URL/: with ?refresh-token= it passes the
// ticket on to its organization's issuer, where the browser sends the
// organization's cookies (they are scoped to /o/{org}/), so the login can
// renew the browser's session or end another user's. Without a ticket
// there is nothing here.
func (p *Provider) TicketLanding(w http.ResponseWriter, r *http.Request) {
	vals, ok := r.URL.Query()[ticketParam]
	if !ok {
		http.NotFound(w, r)
		return
	}
	noStoreNoReferrer(w)
	if len(vals) == 1 {
		if orgID, ok := ticket.Org(vals[0]); ok {
			if _, err := p.Store.GetOrg(r.Context(), orgID); err == nil {
				http.Redirect(w, r, p.Issuer(orgID)+"/?"+url.Values{ticketParam: vals}.Encode(), http.StatusSeeOther)
				return
			} else if !errors.Is(err, store.ErrNotFound) {
				p.internalError(w, r, "load organization", err)
				return
			}
		}
	}
	p.ticketError(w, r, nil, "This sign-in link is not valid",
		"The link you followed is not a Latchkey sign-in link, or it was cut short. Go back to the site you came from and sign in again.")
}

// issuerHome serves ISS/: with ?refresh-token= it redeems a login ticket;
// without, it shows the account page.
func (p *Provider) issuerHome(w http.ResponseWriter, r *http.Request) {
	org := request.Org(r.Context())
	if !strings.HasSuffix(r.URL.Path, "/") { // cookies are scoped to ISS/
		u := *r.URL
		u.Path += "/"
		noStoreNoReferrer(w)
		http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
		return
	}
	vals, ok := r.URL.Query()[ticketParam]
	if !ok {
		http.Redirect(w, r, request.Issuer(r.Context())+"/account", http.StatusFound)
		return
	}
	noStoreNoReferrer(w)
	if r.Method == http.MethodHead { // link checkers must not use up the ticket
		w.WriteHeader(http.StatusOK)
		return
	}
	if p.confirmTicketUser(w, r, org, vals) {
		return
	}
	p.redeemTicket(w, r, org, vals)
}

type ticketConfirmData struct {
	pageData
	// UserName is who the link signs in; Current who is signed in now.
	UserName  string
	Current   string
	Action    string
	CSRF      string
	Ticket    string
	CancelURL string
}

// confirmTicketUser guards against login CSRF: a sign-in link is a GET
// anyone can make a browser follow, so a link for one user must not
// silently replace another user's live session in this browser. It asks
// "Continue as NAME?" (a POST with a CSRF token) and reports whether it
// did. The ticket is only looked at, not used up.
func (p *Provider) confirmTicketUser(w http.ResponseWriter, r *http.Request, org *domain.Organization, vals []string) bool {
	ctx := r.Context()
	if len(vals) != 1 {
		return false
	}
	if orgID, ok := ticket.Org(vals[0]); !ok || orgID != org.ID {
		return false
	}
	sess, err := p.Sessions.Current(ctx, r, org.ID)
	if err != nil || sess == nil {
		return false
	}
	t, err := p.Store.GetTicket(ctx, org.ID, ticket.Hash(vals[0]))
	if err != nil || !t.UsedAt.IsZero() || !p.now().Before(t.ExpiresAt) || t.UserSub == sess.UserSub {
		return false // redeemTicket explains what is wrong, or renews the session
	}
	user, err := p.Store.GetUser(ctx, org.ID, t.UserSub)
	if err != nil || user.Disabled {
		return false
	}
	current, err := p.Store.GetUser(ctx, org.ID, sess.UserSub)
	if err != nil {
		return false
	}
	p.audit(r, org.ID, current.UserName, ticketAction, user.UserName, "confirm_switch", nil)
	p.render(w, r, http.StatusOK, "ticket_confirm", ticketConfirmData{
		pageData: pageData{Title: "Continue as " + user.UserName + "?", OrgName: org.Name},
		UserName: user.UserName, Current: current.UserName,
		Action: request.Issuer(r.Context()) + "/", CSRF: p.Sessions.CSRFToken(w, r, org.ID), Ticket: vals[0],
		CancelURL: request.Issuer(r.Context()) + "/account",
	})
	return true
}

// issuerHomeSubmit (POST ISS/) is the confirmed switch to the user of a
// sign-in link, from the "Continue as NAME?" page.
func (p *Provider) issuerHomeSubmit(w http.ResponseWriter, r *http.Request) {
	org := request.Org(r.Context())
	noStoreNoReferrer(w)
	form, perr := oauth.ParseForm(w, r)
	if perr != nil {
		p.ticketError(w, r, org, "This sign-in link is not valid", "The form could not be read: "+perr.Description)
		return
	}
	if !p.Sessions.CheckCSRF(r, org.ID, form.Get("csrf_token")) {
		p.errorPage(w, r, org, http.StatusForbidden, "Sign-in form expired",
			"This page was open too long or came from somewhere else. Go back and follow the sign-in link again.")
		return
	}
	var vals []string
	if v, ok := form[ticketParam]; ok {
		vals = []string{v}
	}
	p.redeemTicket(w, r, org, vals)
}

// redeemTicket consumes the ticket (one winner however many browsers or
// nodes race), starts the browser's SSO session as the ticket's user and
// sends it on — without the ticket in the URL — to the request it had
// pending at this organization, else to the account page.
func (p *Provider) redeemTicket(w http.ResponseWriter, r *http.Request, org *domain.Organization, vals []string) {
	ctx := r.Context()
	invalid := func() {
		p.audit(r, org.ID, "", ticketAction, "", "unknown_ticket", nil)
		p.ticketError(w, r, org, "This sign-in link is not valid",
			"The link you followed is not a valid sign-in link for "+org.Name+". Go back and sign in again.")
	}
	if len(vals) != 1 {
		invalid()
		return
	}
	// A ticket of another organization is unknown here: it is not even
	// looked up, let alone used up.
	if orgID, ok := ticket.Org(vals[0]); !ok || orgID != org.ID {
		invalid()
		return
	}
	now, hash := p.now(), ticket.Hash(vals[0])
	// A ticket this node minted is not read back: the guarded writes
	// below use it up only if it is still unused (package held).
	t, ok := p.Tickets.Take(org.ID, hash)
	var err error
	if !ok {
		t, err = p.Store.GetTicket(ctx, org.ID, hash)
	}
	if err == nil && t.UsedAt.IsZero() && now.Before(t.ExpiresAt) {
		var user *domain.User
		user, err = p.Store.GetUser(ctx, org.ID, t.UserSub)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			p.internalError(w, r, "load user", err)
			return
		}
		if user != nil && !user.Disabled {
			err = p.startTicketSession(w, r, org, user, hash, now)
			if err == nil {
				http.Redirect(w, r, request.Issuer(r.Context())+"/authorize/continue", http.StatusSeeOther)
				return
			}
		} else {
			// The link is used up all the same: it cannot sign the user
			// in later, should the account be enabled again.
			_, err = p.Store.ConsumeTicket(ctx, org.ID, hash, now)
			if err == nil {
				p.audit(r, org.ID, "", ticketAction, t.UserSub, "user_unavailable", nil)
				p.ticketError(w, r, org, "This account cannot sign in",
					"The account this link was made for is disabled or no longer exists. Contact your organization's administrator.")
				return
			}
		}
		if !errors.Is(err, store.ErrStale) && !errors.Is(err, store.ErrAlreadyUsed) && !errors.Is(err, store.ErrNotFound) {
			p.internalError(w, r, "use login ticket", err)
			return
		}
		// Another request used the ticket up meanwhile: read it again to
		// say so.
		t, err = p.Store.GetTicket(ctx, org.ID, hash)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		invalid()
	case err != nil:
		p.internalError(w, r, "read login ticket", err)
	case !t.UsedAt.IsZero():
		p.audit(r, org.ID, "", ticketAction, t.UserSub, "already_used", nil)
		p.ticketError(w, r, org, "This sign-in link was already used",
			"Each sign-in link works only once. Go back and sign in again to get a new one.")
	default:
		p.audit(r, org.ID, "", ticketAction, t.UserSub, "expired", nil)
		p.ticketError(w, r, org, "This sign-in link has expired",
			"Sign-in links work for a few minutes only. Go back and sign in again to get a new one.")
	}
}

// startTicketSession signs user in with the login ticket (hash), read
// unused a moment ago. In a browser without a session of the organization
// (the usual case) using the ticket up, storing the new session and its
// audit event are one atomic step (RedeemTicket); else the ticket is used
// up first, and then the browser's session renewed, or another user's
// ended, as at any login. A ticket used up meanwhile by another request
// is ErrStale, ErrAlreadyUsed or ErrNotFound, and signs no one in.
func (p *Provider) startTicketSession(w http.ResponseWriter, r *http.Request, org *domain.Organization, user *domain.User, hash []byte, now time.Time) error {
	ctx := r.Context()
	amr := []string{domain.AMRExternal}
	cur, err := p.Sessions.Current(ctx, r, org.ID)
	if err != nil {
		return err
	}
	if cur == nil {
		n := p.Sessions.New(org, user, amr, nil)
		if err := p.Store.RedeemTicket(ctx, org.ID, hash, now, n.Session,
			p.auditEvent(r, org.ID, user.UserName, ticketAction, user.UserName, "ok", nil)); err != nil {
			return err
		}
		n.SetCookie(w)
		return nil
	}
	if _, err := p.Store.ConsumeTicket(ctx, org.ID, hash, now); err != nil {
		return err
	}
	if _, err := p.Sessions.Login(ctx, w, r, org, user, amr, nil); err != nil {
		return fmt.Errorf("start session: %w", err)
	}
	p.audit(r, org.ID, user.UserName, ticketAction, user.UserName, "ok", nil)
	return nil
}

// ticketError shows why a sign-in link did not work, with a way back to
// where the user signs in: the organization's platform when it has one.
func (p *Provider) ticketError(w http.ResponseWriter, r *http.Request, org *domain.Organization, title, message string) {
	d := web.ErrorPage{Title: title, Message: message, Reference: p.RequestID(r.Context())}
	if org != nil {
		d.OrgName = org.Name
		if org.Settings.AuthRedirectURL != "" {
			d.Link, d.LinkText = org.Settings.AuthRedirectURL, "Sign in again at "+platformHost(org.Settings.AuthRedirectURL)
		} else {
			d.Link, d.LinkText = request.Issuer(r.Context())+"/login", "Sign in to "+org.Name
		}
	}
	p.renderError(w, r, http.StatusBadRequest, d)
}

func platformHost(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Host
	}
	return "your organization's site"
}
