package domain

import "time"

// Signing key states. A next key is published in JWKS before it signs; a
// retired key stays published until ExpiresAt so tokens it signed still verify.
const (
	KeyNext    = "next"
	KeyActive  = "active"
	KeyRetired = "retired"
)

// SigningKey is one of an organization's token signing keys.
type SigningKey struct {
	OrgID string
	KID   string
	Alg   string
	State string
	// Sealed is the PKCS#8 private key encrypted under the master key.
	Sealed []byte
	// PublicJWK is the public key as a JSON Web Key.
	PublicJWK   []byte
	CreatedAt   time.Time
	ActivatedAt time.Time
	// ExpiresAt is set on retired keys: after it the key leaves JWKS.
	ExpiresAt time.Time
}

// Authentication methods (RFC 8176 values, plus "ext" for a trusted platform).
const (
	AMRPassword  = "pwd"
	AMRFederated = "fed"
	AMRExternal  = "ext"
)

// Session is a browser's single sign-on session with one organization.
type Session struct {
	OrgID string
	// SID is the public session id, sent as the sid claim.
	SID string
	// CookieHash is the SHA-256 of the secret cookie value.
	CookieHash []byte
	UserSub    string
	AuthTime   time.Time
	AMR        []string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	// EndedAt is set once the session was logged out.
	EndedAt time.Time
	// UpstreamIDToken is the sealed upstream id_token of a federated login.
	UpstreamIDToken []byte
	// UpstreamSID and UpstreamSubject identify the upstream session and
	// user of a federated login (for upstream back-channel logout).
	UpstreamSID     string
	UpstreamSubject string
	// Clients are the applications taking part in the session (client
	// ids, in the order they joined), as read from the store; the store
	// records them with AddSessionClient, not with the session.
	Clients []string
}

// Active reports whether the session can still be used at now.
func (s *Session) Active(now time.Time) bool {
	return s.EndedAt.IsZero() && now.Before(s.ExpiresAt)
}

// AuthRequest is an authorization request waiting for the browser to sign in.
type AuthRequest struct {
	OrgID               string `json:"-"`
	ID                  string `json:"-"`
	ClientID            string `json:"client_id"`
	RedirectURI         string `json:"redirect_uri"`
	ResponseMode        string `json:"response_mode,omitempty"`
	Scope               string `json:"scope"`
	State               string `json:"state,omitempty"`
	Nonce               string `json:"nonce,omitempty"`
	CodeChallenge       string `json:"code_challenge,omitempty"`
	CodeChallengeMethod string `json:"code_challenge_method,omitempty"`
	Prompt              string `json:"prompt,omitempty"`
	MaxAge              int64  `json:"max_age"` // -1 when absent
	LoginHint           string `json:"login_hint,omitempty"`
	// ACRValues are the requested context classes, space separated.
	ACRValues string    `json:"acr_values,omitempty"`
	CreatedAt time.Time `json:"-"`
	ExpiresAt time.Time `json:"-"`
}

// AuthCode is an issued authorization code (stored by hash, single use).
type AuthCode struct {
	OrgID         string
	Hash          []byte
	ClientID      string
	RedirectURI   string
	UserSub       string
	SID           string
	Scope         string
	Nonce         string
	CodeChallenge string
	AuthTime      time.Time
	AMR           []string
	CreatedAt     time.Time
	ExpiresAt     time.Time
	UsedAt        time.Time
}

// Token kinds.
const (
	TokenAccess  = "access"
	TokenRefresh = "refresh"
)

// Token is an issued access or refresh token, stored by hash.
type Token struct {
	OrgID    string
	Hash     []byte
	Kind     string
	ClientID string
	// UserSub is empty for client_credentials tokens.
	UserSub  string
	SID      string
	Scope    string
	AuthTime time.Time
	AMR      []string
	// FamilyID groups a refresh token with every token rotated from it.
	FamilyID string
	// CodeHash is the authorization code the family started from, if any.
	CodeHash []byte
	// Offline tokens (offline_access granted) outlive the SSO session.
	Offline   bool
	CreatedAt time.Time
	ExpiresAt time.Time
	RevokedAt time.Time
	// RotatedAt is set on a refresh token once it was exchanged.
	RotatedAt time.Time
}

// Usable reports whether the token is neither expired, revoked nor rotated.
func (t *Token) Usable(now time.Time) bool {
	return t.RevokedAt.IsZero() && t.RotatedAt.IsZero() && now.Before(t.ExpiresAt)
}

// LoginTicket is a one-time login secret minted by the trusted-platform API.
type LoginTicket struct {
	OrgID     string
	Hash      []byte
	UserSub   string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time
}

// AuditEvent records something that happened in an organization.
type AuditEvent struct {
	OrgID  string
	ID     string
	At     time.Time
	Actor  string
	Action string
	Target string
	// Result is "ok" or a short failure reason.
	Result   string
	ClientIP string
	Detail   map[string]string
}
