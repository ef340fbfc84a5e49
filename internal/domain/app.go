package domain

import (
	"slices"
	"time"
)

// Grant types an application may be allowed.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
)

// Signing algorithms for id_tokens and JWT access tokens.
const (
	AlgRS256 = "RS256"
	AlgES256 = "ES256"
	AlgEdDSA = "EdDSA"
)

// SigningAlgs lists the algorithms every organization has keys for, RS256
// (mandatory in OpenID Connect) first.
var SigningAlgs = []string{AlgRS256, AlgES256, AlgEdDSA}

// Access token formats.
const (
	AccessTokenOpaque = "opaque"
	AccessTokenJWT    = "jwt"
)

// Token lifetime defaults and bounds, in seconds.
const (
	DefaultAccessTokenLifetime  = 3600
	DefaultIDTokenLifetime      = 3600
	DefaultRefreshTokenLifetime = 30 * 24 * 3600
	MinTokenLifetime            = 60
	MaxAccessTokenLifetime      = 24 * 3600
	MaxRefreshTokenLifetime     = 365 * 24 * 3600
	// DefaultRefreshTokenReuseInterval is how long a rotated refresh token
	// may be presented again by its client (concurrent refreshes of one
	// token by a web server's parallel requests); 0 disables it.
	DefaultRefreshTokenReuseInterval = 30
	MaxRefreshTokenReuseInterval     = 300
)

// Application is an OpenID Connect client of one organization.
type Application struct {
	OrgID    string
	ClientID string
	Name     string
	// SecretHash is the SHA-256 of the client secret; nil for public clients.
	SecretHash             []byte
	Public                 bool
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	BackchannelLogoutURI   string
	GrantTypes             []string
	AccessTokenLifetime    int64
	IDTokenLifetime        int64
	RefreshTokenLifetime   int64
	IDTokenAlg             string
	AccessTokenFormat      string
	// RefreshTokenReuseInterval (seconds, 0 = off): within it after a
	// rotation, the rotated refresh token presented again by the same
	// client gets a new token of the same family instead of revoking it.
	RefreshTokenReuseInterval int64
	CreatedAt                 time.Time
	UpdatedAt                 time.Time
}

// ApplyDefaults fills unset lifetimes, algorithm, format and grant types.
func (a *Application) ApplyDefaults() {
	if a.AccessTokenLifetime == 0 {
		a.AccessTokenLifetime = DefaultAccessTokenLifetime
	}
	if a.IDTokenLifetime == 0 {
		a.IDTokenLifetime = DefaultIDTokenLifetime
	}
	if a.RefreshTokenLifetime == 0 {
		a.RefreshTokenLifetime = DefaultRefreshTokenLifetime
	}
	if a.IDTokenAlg == "" {
		a.IDTokenAlg = AlgRS256
	}
	if a.AccessTokenFormat == "" {
		a.AccessTokenFormat = AccessTokenOpaque
	}
	if len(a.GrantTypes) == 0 {
		a.GrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken}
	}
}

// AllowsGrant reports whether the application may use grant type g.
func (a *Application) AllowsGrant(g string) bool { return slices.Contains(a.GrantTypes, g) }

// Validate checks an application before it is stored.
func (a *Application) Validate() error {
	if a.ClientID == "" {
		return Invalid("client_id", "is required")
	}
	if err := checkText("name", a.Name, MaxNameLen, true); err != nil {
		return err
	}
	if err := checkURIList("redirect_uris", a.RedirectURIs); err != nil {
		return err
	}
	if err := checkURIList("post_logout_redirect_uris", a.PostLogoutRedirectURIs); err != nil {
		return err
	}
	if err := CheckHTTPURL("backchannel_logout_uri", a.BackchannelLogoutURI, false); err != nil {
		return err
	}
	if len(a.GrantTypes) == 0 {
		return Invalid("grant_types", "at least one grant type is required")
	}
	for _, g := range a.GrantTypes {
		switch g {
		case GrantAuthorizationCode, GrantRefreshToken:
		case GrantClientCredentials:
			if a.Public {
				return Invalid("grant_types", "a public application cannot use client_credentials")
			}
		default:
			return Invalid("grant_types", "unknown grant type %q (use authorization_code, refresh_token, client_credentials)", g)
		}
	}
	if a.AllowsGrant(GrantAuthorizationCode) && len(a.RedirectURIs) == 0 {
		return Invalid("redirect_uris", "at least one redirect URI is required for the authorization_code grant")
	}
	if !a.Public && len(a.SecretHash) == 0 {
		return Invalid("client_secret", "a confidential application needs a secret")
	}
	if a.Public && len(a.SecretHash) != 0 {
		return Invalid("client_secret", "a public application has no secret")
	}
	if err := checkLifetime("access_token_lifetime", a.AccessTokenLifetime, MaxAccessTokenLifetime); err != nil {
		return err
	}
	if err := checkLifetime("id_token_lifetime", a.IDTokenLifetime, MaxAccessTokenLifetime); err != nil {
		return err
	}
	if err := checkLifetime("refresh_token_lifetime", a.RefreshTokenLifetime, MaxRefreshTokenLifetime); err != nil {
		return err
	}
	if a.RefreshTokenReuseInterval < 0 || a.RefreshTokenReuseInterval > MaxRefreshTokenReuseInterval {
		return Invalid("refresh_token_reuse_interval", "must be between 0 (off) and %d seconds", MaxRefreshTokenReuseInterval)
	}
	if !slices.Contains(SigningAlgs, a.IDTokenAlg) {
		return Invalid("id_token_signed_response_alg", "must be RS256, ES256 or EdDSA (got %q)", a.IDTokenAlg)
	}
	if a.AccessTokenFormat != AccessTokenOpaque && a.AccessTokenFormat != AccessTokenJWT {
		return Invalid("access_token_format", "must be opaque or jwt (got %q)", a.AccessTokenFormat)
	}
	return nil
}

func checkLifetime(field string, v, max int64) error {
	if v < MinTokenLifetime || v > max {
		return Invalid(field, "must be between %d and %d seconds", MinTokenLifetime, max)
	}
	return nil
}
