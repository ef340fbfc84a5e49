package session

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/secret"
)

// mfaCookie holds the secret of the browser's pending multi-factor step
// (a password checked, a second factor still due).
const mfaCookie = "lk_mfa"

// SetMFA remembers the browser's pending multi-factor step.
func (s *Sessions) SetMFA(w http.ResponseWriter, orgID, token string, ttl time.Duration) {
	s.setCookie(w, orgID, mfaCookie, token, ttl)
}

// MFA returns the secret of the browser's pending multi-factor step.
func (s *Sessions) MFA(r *http.Request) string {
	if c, err := r.Cookie(mfaCookie); err == nil {
		return c.Value
	}
	return ""
}

// ClearMFA forgets the pending multi-factor step.
func (s *Sessions) ClearMFA(w http.ResponseWriter, orgID string) {
	s.setCookie(w, orgID, mfaCookie, "", -1)
}

// StepUp records that the user of sess proved more factors (amr) without
// signing in again: auth_time and expiry stay, the methods grow, and the
// cookie gets a new value as on every change of what a session may do.
func (s *Sessions) StepUp(ctx context.Context, w http.ResponseWriter, org *domain.Organization, sess *domain.Session, amr []string) error {
	cookie := secret.MustToken()
	sess.CookieHash, sess.AMR = secret.Hash(cookie), amr
	if err := s.Store.RenewSession(ctx, sess); err != nil {
		return fmt.Errorf("step up session: %w", err)
	}
	s.setCookie(w, org.ID, sessionCookie, cookie, sess.ExpiresAt.Sub(s.now()))
	return nil
}
