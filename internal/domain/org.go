package domain

import (
	"regexp"
	"time"
)

// Organization is the tenant: its own issuer, keys, users and applications.
type Organization struct {
	ID        string
	Name      string
	Settings  OrgSettings
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Login methods an organization can choose for browsers that need to sign in.
const (
	LoginPassword = "password"
	LoginPlatform = "platform"
	LoginUpstream = "upstream"
)

// Limits and defaults of organization settings (DESIGN.md §4–5).
const (
	DefaultSessionLifetime = 36000
	MinSessionLifetime     = 60
	MaxSessionLifetime     = 31536000
	DefaultTicketLifetime  = 300
	MinTicketLifetime      = 10
	MaxTicketLifetime      = 3600
)

// OrgSettings are the per-organization switches. The zero value is not
// valid; start from DefaultOrgSettings.
type OrgSettings struct {
	SSOEnabled             bool   `json:"sso_enabled"`
	SessionLifetimeSeconds int64  `json:"session_lifetime_seconds"`
	TicketLifetimeSeconds  int64  `json:"ticket_lifetime_seconds"`
	AuthRedirectURL        string `json:"auth_redirect_url"`
	LoginMethod            string `json:"login_method"`
}

// DefaultOrgSettings returns the settings a new organization starts with.
func DefaultOrgSettings() OrgSettings {
	return OrgSettings{
		SSOEnabled:             true,
		SessionLifetimeSeconds: DefaultSessionLifetime,
		TicketLifetimeSeconds:  DefaultTicketLifetime,
		LoginMethod:            LoginPassword,
	}
}

// Validate checks every setting and names the first invalid one.
func (s OrgSettings) Validate() error {
	if s.SessionLifetimeSeconds < MinSessionLifetime || s.SessionLifetimeSeconds > MaxSessionLifetime {
		return Invalid("session_lifetime_seconds", "must be between %d and %d seconds", MinSessionLifetime, MaxSessionLifetime)
	}
	if s.TicketLifetimeSeconds < MinTicketLifetime || s.TicketLifetimeSeconds > MaxTicketLifetime {
		return Invalid("ticket_lifetime_seconds", "must be between %d and %d seconds", MinTicketLifetime, MaxTicketLifetime)
	}
	if err := CheckHTTPURL("auth_redirect_url", s.AuthRedirectURL, false); err != nil {
		return err
	}
	switch s.LoginMethod {
	case LoginPassword, LoginUpstream:
	case LoginPlatform:
		if s.AuthRedirectURL == "" {
			return Invalid("login_method", "platform login needs auth_redirect_url to be set first")
		}
	default:
		return Invalid("login_method", "must be one of password, platform, upstream (got %q)", s.LoginMethod)
	}
	return nil
}

var orgIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,62}$`)

// IssuerURL is the organization's issuer: PUBLIC_URL/o/{org}. Every
// component that names an issuer (tokens, discovery, logout tokens, the
// management surfaces) builds it here.
func IssuerURL(publicURL, orgID string) string { return publicURL + "/o/" + orgID }

// ValidateOrgID checks the slug form of an organization id.
func ValidateOrgID(id string) error {
	if !orgIDPattern.MatchString(id) {
		return Invalid("id", "must be 2–63 characters of a-z, 0-9 and '-', starting with a letter or digit (got %q)", id)
	}
	return nil
}

// Validate checks an organization before it is stored.
func (o *Organization) Validate() error {
	if err := ValidateOrgID(o.ID); err != nil {
		return err
	}
	if err := checkText("name", o.Name, MaxNameLen, true); err != nil {
		return err
	}
	return o.Settings.Validate()
}

// APIKey is one of an organization's trusted-platform API keys. The key
// itself is never stored in clear: Hash finds it, Sealed reveals it.
type APIKey struct {
	OrgID     string
	ID        string
	Hash      []byte
	Sealed    []byte
	CreatedAt time.Time
	// ExpiresAt is zero for the current key; a rotated-out key works until then.
	ExpiresAt time.Time
}
