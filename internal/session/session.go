// Package session alone owns the browser side of Latchkey: the single
// sign-on session cookie of each organization, the cookie that ties a
// pending authorization request to the browser that made it, and the CSRF
// tokens of every form.
//
// Cookie values are 256-bit random secrets; only their SHA-256 reaches the
// database. Each organization's cookies are scoped to its issuer path, so a
// cookie of organization A is never even sent to organization B.
package session

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
)

// Cookie names (the path scopes them to one organization).
const (
	sessionCookie = "lk_session"
	pendingCookie = "lk_auth"
	csrfCookie    = "lk_csrf"
)

// Sessions manages SSO sessions and their cookies.
type Sessions struct {
	Store  store.Sessions
	Tokens store.Tokens
	// Secure marks cookies Secure (PUBLIC_URL is https).
	Secure bool
	// CSRFKey signs CSRF tokens; derive it from the master key.
	CSRFKey []byte
	Now     func() time.Time
	// Logout ends a session that a login of another user replaces, the
	// way a logout does (its applications are notified); nil falls back
	// to End, which notifies no one.
	Logout Ender
}

// Ender ends a single sign-on session for every application; package
// logout's Service is the one the server gives.
type Ender interface {
	EndSession(ctx context.Context, orgID, sid string) error
}

func (s *Sessions) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// CookiePath scopes an organization's cookies to its issuer path.
func CookiePath(orgID string) string { return "/o/" + orgID + "/" }

func (s *Sessions) setCookie(w http.ResponseWriter, orgID, name, value string, maxAge time.Duration) {
	c := &http.Cookie{
		Name: name, Value: value, Path: CookiePath(orgID),
		HttpOnly: true, Secure: s.Secure, SameSite: http.SameSiteLaxMode,
	}
	if maxAge > 0 {
		c.MaxAge = int(maxAge.Seconds())
	} else if maxAge < 0 || value == "" {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

// Current returns the browser's active session with the organization, or
// nil when there is none (no cookie, unknown, ended or expired).
func (s *Sessions) Current(ctx context.Context, r *http.Request, orgID string) (*domain.Session, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	sess, err := s.Store.GetSessionByCookie(ctx, orgID, secret.Hash(c.Value))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load session: %w", err)
	}
	if !sess.Active(s.now()) {
		return nil, nil
	}
	return sess, nil
}

// Upstream is what a federated login keeps of the upstream session.
type Upstream struct {
	// IDToken is the upstream id_token, sealed (for upstream logout).
	IDToken []byte
	SID     string
	Subject string
}

// Login records that user signed in with methods amr: the browser's session
// with the organization is renewed if it belongs to the same user, else a
// new one starts (ending the other user's). Either way the cookie gets a new
// value, so a session id planted before login is worthless after it.
func (s *Sessions) Login(ctx context.Context, w http.ResponseWriter, r *http.Request, org *domain.Organization, user *domain.User, amr []string, up *Upstream) (*domain.Session, error) {
	cur, err := s.Current(ctx, r, org.ID)
	if err != nil {
		return nil, err
	}
	n := s.New(org, user, amr, up)
	if cur != nil && cur.UserSub == user.Sub {
		renewed := *cur
		renewed.CookieHash, renewed.AuthTime, renewed.AMR, renewed.ExpiresAt = n.Session.CookieHash, n.Session.AuthTime, amr, n.Session.ExpiresAt
		renewed.UpstreamIDToken, renewed.UpstreamSID, renewed.UpstreamSubject = n.Session.UpstreamIDToken, n.Session.UpstreamSID, n.Session.UpstreamSubject
		if err := s.Store.RenewSession(ctx, &renewed); err == nil {
			n.Session = &renewed
			n.SetCookie(w)
			return &renewed, nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("renew session: %w", err)
		}
	} else if cur != nil {
		end := s.End
		if s.Logout != nil {
			end = s.Logout.EndSession
		}
		if err := end(ctx, org.ID, cur.SID); err != nil {
			return nil, err
		}
	}
	if err := s.Store.CreateSession(ctx, n.Session); err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	n.SetCookie(w)
	return n.Session, nil
}

// NewSession is a session that has not been stored yet, and its cookie.
type NewSession struct {
	Session  *domain.Session
	s        *Sessions
	cookie   string
	lifetime time.Duration
}

// New is the session a login of user starts in a browser that has none
// with org (Current is nil), for a caller that stores it itself, in one
// step with what the login rests on (a login ticket used up, its audit
// event), and then sets its cookie. Login is the usual way.
func (s *Sessions) New(org *domain.Organization, user *domain.User, amr []string, up *Upstream) *NewSession {
	if up == nil {
		up = &Upstream{}
	}
	now := s.now()
	cookie := secret.MustToken()
	lifetime := time.Duration(org.Settings.SessionLifetimeSeconds) * time.Second
	return &NewSession{
		Session: &domain.Session{
			OrgID: org.ID, SID: secret.MustToken(), CookieHash: secret.Hash(cookie), UserSub: user.Sub,
			AuthTime: now, AMR: amr, CreatedAt: now, ExpiresAt: now.Add(lifetime),
			UpstreamIDToken: up.IDToken, UpstreamSID: up.SID, UpstreamSubject: up.Subject,
		},
		s: s, cookie: cookie, lifetime: lifetime,
	}
}

// SetCookie gives the browser the session's cookie, once it is stored.
func (n *NewSession) SetCookie(w http.ResponseWriter) {
	n.s.setCookie(w, n.Session.OrgID, sessionCookie, n.cookie, n.lifetime)
}

// End ends a session and revokes the tokens bound to it.
func (s *Sessions) End(ctx context.Context, orgID, sid string) error {
	now := s.now()
	if err := s.Store.EndSession(ctx, orgID, sid, now); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("end session: %w", err)
	}
	if err := s.Tokens.RevokeSessionTokens(ctx, orgID, sid, now); err != nil {
		return fmt.Errorf("revoke session tokens: %w", err)
	}
	return nil
}

// ClearSessionCookie removes the browser's session cookie for orgID.
func (s *Sessions) ClearSessionCookie(w http.ResponseWriter, orgID string) {
	s.setCookie(w, orgID, sessionCookie, "", -1)
}

// SetPending remembers in the browser which authorization request waits for
// its login.
func (s *Sessions) SetPending(w http.ResponseWriter, orgID, requestID string, ttl time.Duration) {
	s.setCookie(w, orgID, pendingCookie, requestID, ttl)
}

// Pending returns the id of the browser's pending authorization request.
func (s *Sessions) Pending(r *http.Request) string {
	if c, err := r.Cookie(pendingCookie); err == nil {
		return c.Value
	}
	return ""
}

// ClearPending forgets the pending request.
func (s *Sessions) ClearPending(w http.ResponseWriter, orgID string) {
	s.setCookie(w, orgID, pendingCookie, "", -1)
}

// CSRFToken returns the token to embed in a form of orgID, setting the
// browser's CSRF cookie first if it has none. The token is an HMAC of the
// cookie, so a forged form needs both the cookie and the server's key.
func (s *Sessions) CSRFToken(w http.ResponseWriter, r *http.Request, orgID string) string {
	v := ""
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 32 {
		v = c.Value
	} else {
		v = secret.MustToken()
		s.setCookie(w, orgID, csrfCookie, v, 0)
	}
	return s.csrfMAC(orgID, v)
}

func (s *Sessions) csrfMAC(orgID, cookie string) string {
	m := hmac.New(sha256.New, s.CSRFKey)
	m.Write([]byte(orgID + "\x00" + cookie))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// CheckCSRF verifies a submitted form's token against the browser's cookie.
func (s *Sessions) CheckCSRF(r *http.Request, orgID, token string) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || c.Value == "" || token == "" {
		return false
	}
	return hmac.Equal([]byte(s.csrfMAC(orgID, c.Value)), []byte(token))
}
