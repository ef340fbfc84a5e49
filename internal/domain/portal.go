package domain

import "time"

// PortalSession is an administrator's signed-in session with the admin
// portal of one organization (the operator organization for operators).
// It rides on the administrator's SSO session SID: when that ends, so does
// this one.
type PortalSession struct {
	OrgID string
	// Hash is the SHA-256 of the portal cookie.
	Hash     []byte
	UserSub  string
	UserName string
	SID      string
	// IDTokenSealed is the id_token (sealed), the hint for RP-initiated logout.
	IDTokenSealed []byte
	// CSRF is the per-session form token.
	CSRF       string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	EndedAt    time.Time
}

// Active reports whether the portal session is usable at now with the
// given idle timeout.
func (s *PortalSession) Active(now time.Time, idle time.Duration) bool {
	return s.EndedAt.IsZero() && now.Before(s.ExpiresAt) && now.Before(s.LastSeenAt.Add(idle))
}

// SetupToken is a one-time secret that lets the first operator set a password.
type SetupToken struct {
	OrgID     string
	Hash      []byte
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time
}
