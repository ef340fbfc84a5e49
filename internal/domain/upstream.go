package domain

import (
	"regexp"
	"slices"
	"time"
	"unicode/utf8"
)

// Defaults of an upstream connection (DESIGN.md §1).
const (
	DefaultUpstreamUsernameClaim = "preferred_username"
	// MaxUpstreamClientIDLen bounds the upstream client ID.
	MaxUpstreamClientIDLen = 255
	// MaxUpstreamSecretLen bounds the upstream client secret (in clear).
	MaxUpstreamSecretLen = 1024
	// MaxUpstreamScopes bounds how many scopes a connection requests.
	MaxUpstreamScopes = 30
	maxScopeLen       = 128
	maxClaimNameLen   = 128
)

// DefaultUpstreamScopes returns the scopes a new connection requests.
func DefaultUpstreamScopes() []string { return []string{"openid", "profile", "email"} }

// UpstreamConnection is an organization's upstream OpenID Connect identity
// provider: where its users actually sign in when the login method is
// "upstream". An organization has at most one.
type UpstreamConnection struct {
	OrgID string
	// ConfigURL is the discovery document's URL (or the issuer, to which
	// /.well-known/openid-configuration is appended).
	ConfigURL string
	ClientID  string
	// ClientSecretSealed is the client secret sealed under the master key;
	// Latchkey must send it in clear, so it cannot be hashed.
	ClientSecretSealed []byte
	Scopes             []string
	// UsernameClaim names the claim (id_token, else userinfo) that holds
	// the userName of an existing user.
	UsernameClaim string
	// DisplayName labels the login button; empty means a generic label.
	DisplayName string
	// LogoutURL is the organization's logout page, where users land after
	// signing out; empty for none.
	LogoutURL string
	// EndUpstreamSession chains a logout through the upstream IdP's
	// end_session_endpoint when it has one.
	EndUpstreamSession bool
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// ApplyDefaults fills unset scopes and username claim.
func (c *UpstreamConnection) ApplyDefaults() {
	if len(c.Scopes) == 0 {
		c.Scopes = DefaultUpstreamScopes()
	}
	if c.UsernameClaim == "" {
		c.UsernameClaim = DefaultUpstreamUsernameClaim
	}
}

// Validate checks a connection before it is stored and names the first
// invalid field.
func (c *UpstreamConnection) Validate() error {
	if err := ValidateOrgID(c.OrgID); err != nil {
		fe, _ := AsFieldError(err)
		return Invalid("org", "%s", fe.Message)
	}
	if err := CheckHTTPURL("config_url", c.ConfigURL, true); err != nil {
		return err
	}
	if err := checkUpstreamClientID(c.ClientID); err != nil {
		return err
	}
	if len(c.ClientSecretSealed) == 0 {
		return Invalid("client_secret", "is required")
	}
	if err := checkScopes("scopes", c.Scopes); err != nil {
		return err
	}
	if err := checkClaimName("username_claim", c.UsernameClaim); err != nil {
		return err
	}
	if err := checkText("display_name", c.DisplayName, MaxNameLen, false); err != nil {
		return err
	}
	return CheckHTTPURL("logout_url", c.LogoutURL, false)
}

// ValidateUpstreamClientSecret checks a client secret given in clear,
// before it is sealed.
func ValidateUpstreamClientSecret(v string) error {
	if v == "" {
		return Invalid("client_secret", "is required")
	}
	if !utf8.ValidString(v) {
		return Invalid("client_secret", "must be valid UTF-8")
	}
	if len(v) > MaxUpstreamSecretLen {
		return Invalid("client_secret", "must be at most %d bytes", MaxUpstreamSecretLen)
	}
	for _, r := range v {
		if r < ' ' || r == 0x7f {
			return Invalid("client_secret", "must not contain control characters")
		}
	}
	return nil
}

// checkUpstreamClientID accepts what RFC 6749 allows in a client_id
// (VSCHAR: printable ASCII including space), without surrounding spaces.
func checkUpstreamClientID(v string) error {
	if v == "" {
		return Invalid("client_id", "is required")
	}
	if len(v) > MaxUpstreamClientIDLen {
		return Invalid("client_id", "must be at most %d characters", MaxUpstreamClientIDLen)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return Invalid("client_id", "must be printable ASCII")
		}
	}
	if v[0] == ' ' || v[len(v)-1] == ' ' {
		return Invalid("client_id", "must not start or end with a space")
	}
	return nil
}

// isScopeToken reports whether v is an RFC 6749 §3.3 scope-token:
// printable ASCII except space, '"' and '\'.
func isScopeToken(v string) bool {
	if v == "" || len(v) > maxScopeLen {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func checkScopes(field string, scopes []string) error {
	if len(scopes) > MaxUpstreamScopes {
		return Invalid(field, "at most %d scopes", MaxUpstreamScopes)
	}
	seen := make(map[string]bool, len(scopes))
	for _, s := range scopes {
		if !isScopeToken(s) {
			return Invalid(field, "%q is not a scope (printable ASCII without spaces, quotes or backslashes, at most %d characters)", s, maxScopeLen)
		}
		if seen[s] {
			return Invalid(field, "lists %q twice", s)
		}
		seen[s] = true
	}
	if !slices.Contains(scopes, "openid") {
		return Invalid(field, "must include openid (got %q)", scopes)
	}
	return nil
}

// claimNamePattern admits the claim names real IdPs use: simple names
// (preferred_username, upn), and namespaced ones
// (https://example.com/claims/username, urn:oid:0.9.2342.19200300.100.1.1).
var claimNamePattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.:/#-]*$`)

func checkClaimName(field, v string) error {
	if v == "" {
		return Invalid(field, "is required")
	}
	if len(v) > maxClaimNameLen {
		return Invalid(field, "must be at most %d characters", maxClaimNameLen)
	}
	if !claimNamePattern.MatchString(v) {
		return Invalid(field, "must be a claim name like preferred_username (letters, digits and _ . : / # -; got %q)", v)
	}
	return nil
}

// UpstreamLogin is a login sent to the upstream IdP and not yet back: its
// state (hashed), the browser it belongs to, and what the callback needs.
type UpstreamLogin struct {
	OrgID string
	// Hash is the SHA-256 of the state parameter.
	Hash []byte
	// BrowserHash is the SHA-256 of the browser-binding cookie.
	BrowserHash   []byte
	AuthRequestID string
	Nonce         string
	// VerifierSealed is the PKCE code verifier, sealed; nil without PKCE.
	VerifierSealed []byte
	CreatedAt      time.Time
	ExpiresAt      time.Time
	UsedAt         time.Time
}

// UpstreamLogout is a logout chained through the upstream IdP: where to
// send the browser when it comes back.
type UpstreamLogout struct {
	OrgID       string
	Hash        []byte
	RedirectURI string
	CreatedAt   time.Time
	ExpiresAt   time.Time
	UsedAt      time.Time
}
