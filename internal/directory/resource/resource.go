// Package resource is the JSON shape of management objects: organizations,
// users, applications, the upstream connection and its check, API keys,
// admin tokens, sessions and audit events. The CLI's --json and the admin
// JSON API print these same values, so a script can move from one to the
// other without renaming a field.
//
// Names are camelCase, like the trusted-platform API's; the OpenID
// endpoints keep the snake_case their standards define. Fields may be
// added; none is ever renamed or removed, and none carries a secret or
// hash except the one-time values of the *Created and rotate shapes.
package resource

import (
	"time"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
)

// Stamp is how times are written: RFC 3339 in UTC, to the second.
func Stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// OptStamp is nil for the zero time, so JSON says null rather than year 1.
func OptStamp(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := Stamp(t)
	return &s
}

// NonNil makes an absent list print as [] rather than null.
func NonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// Org is an organization with its settings.
type Org struct {
	ID        string      `json:"id"`
	Name      string      `json:"name"`
	Issuer    string      `json:"issuer"`
	Settings  OrgSettings `json:"settings"`
	CreatedAt string      `json:"createdAt"`
	UpdatedAt string      `json:"updatedAt"`
}

// OrgSettings is an organization's settings. Its members are named as the
// admin API's update request names them (sessionLifetimeSeconds …); the
// first release's snake_case names (session_lifetime_seconds …) are still
// accepted in requests for one release, never printed.
type OrgSettings struct {
	SSOEnabled             bool   `json:"ssoEnabled"`
	SessionLifetimeSeconds int64  `json:"sessionLifetimeSeconds"`
	TicketLifetimeSeconds  int64  `json:"ticketLifetimeSeconds"`
	AuthRedirectURL        string `json:"authRedirectUrl"`
	LoginMethod            string `json:"loginMethod"`
	MFA                    string `json:"mfa"`
}

// NewOrgSettings shows s.
func NewOrgSettings(s domain.OrgSettings) OrgSettings {
	return OrgSettings{SSOEnabled: s.SSOEnabled, SessionLifetimeSeconds: s.SessionLifetimeSeconds, TicketLifetimeSeconds: s.TicketLifetimeSeconds,
		AuthRedirectURL: s.AuthRedirectURL, LoginMethod: s.LoginMethod, MFA: s.MFA}
}

// NewOrg shows o, whose issuer URL is issuer.
func NewOrg(o *domain.Organization, issuer string) Org {
	return Org{ID: o.ID, Name: o.Name, Issuer: issuer, Settings: NewOrgSettings(o.Settings), CreatedAt: Stamp(o.CreatedAt), UpdatedAt: Stamp(o.UpdatedAt)}
}

// OrgCreated is shown once, on create: it carries the API key.
type OrgCreated struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Issuer string `json:"issuer"`
	APIKey string `json:"apiKey"`
}

// APIKey is an organization's API key, revealed or just rotated.
type APIKey struct {
	ID     string `json:"id"`
	APIKey string `json:"apiKey"`
	// PreviousKeyExpiresAt is set on rotate with an overlap: until then
	// the previous key works too.
	PreviousKeyExpiresAt *string `json:"previousKeyExpiresAt,omitempty"`
}

// User is a user; never the password or its hash, only whether there is one.
type User struct {
	UserName      string `json:"userName"`
	Sub           string `json:"sub"`
	Name          string `json:"name"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"emailVerified"`
	Picture       string `json:"picture"`
	Role          string `json:"role"`
	Disabled      bool   `json:"disabled"`
	// HasPassword says whether the user can sign in with a password.
	HasPassword bool   `json:"hasPassword"`
	CreatedAt   string `json:"createdAt"`
	UpdatedAt   string `json:"updatedAt"`
}

// NewUser shows u.
func NewUser(u *domain.User) User {
	return User{
		UserName: u.UserName, Sub: u.Sub, Name: u.Name, Email: u.Email, EmailVerified: u.EmailVerified,
		Picture: u.Picture, Role: u.Role, Disabled: u.Disabled, HasPassword: u.PasswordHash != "", CreatedAt: Stamp(u.CreatedAt), UpdatedAt: Stamp(u.UpdatedAt),
	}
}

// App is an application; never its secret or hash, only whether there is
// one.
type App struct {
	ClientID string `json:"clientId"`
	Name     string `json:"name"`
	Public   bool   `json:"public"`
	// HasClientSecret is true for a confidential application, false for a
	// public one.
	HasClientSecret        bool     `json:"hasClientSecret"`
	RedirectURIs           []string `json:"redirectUris"`
	PostLogoutRedirectURIs []string `json:"postLogoutRedirectUris"`
	BackchannelLogoutURI   string   `json:"backchannelLogoutUri"`
	GrantTypes             []string `json:"grantTypes"`
	AccessTokenLifetime    int64    `json:"accessTokenLifetime"`
	IDTokenLifetime        int64    `json:"idTokenLifetime"`
	RefreshTokenLifetime   int64    `json:"refreshTokenLifetime"`
	// RefreshTokenReuseInterval is in seconds; 0 is off.
	RefreshTokenReuseInterval int64  `json:"refreshTokenReuseInterval"`
	IDTokenAlg                string `json:"idTokenAlg"`
	AccessTokenFormat         string `json:"accessTokenFormat"`
	GroupsClaim               bool   `json:"groupsClaim"`
	CreatedAt                 string `json:"createdAt"`
	UpdatedAt                 string `json:"updatedAt"`
}

// NewApp shows a.
func NewApp(a *domain.Application) App {
	return App{
		ClientID: a.ClientID, Name: a.Name, Public: a.Public, HasClientSecret: len(a.SecretHash) > 0,
		RedirectURIs: NonNil(a.RedirectURIs), PostLogoutRedirectURIs: NonNil(a.PostLogoutRedirectURIs),
		BackchannelLogoutURI: a.BackchannelLogoutURI, GrantTypes: NonNil(a.GrantTypes),
		AccessTokenLifetime: a.AccessTokenLifetime, IDTokenLifetime: a.IDTokenLifetime, RefreshTokenLifetime: a.RefreshTokenLifetime,
		RefreshTokenReuseInterval: a.RefreshTokenReuseInterval,
		IDTokenAlg:                a.IDTokenAlg, AccessTokenFormat: a.AccessTokenFormat, GroupsClaim: a.GroupsClaim,
		CreatedAt: Stamp(a.CreatedAt), UpdatedAt: Stamp(a.UpdatedAt),
	}
}

// AppCreated is shown on create: the client ID and secret, the secret this
// once (absent for a public application).
type AppCreated struct {
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret,omitempty"`
	Name         string `json:"name"`
	OrgID        string `json:"orgId"`
}

// AppSecret is a confidential application's new secret, shown once.
type AppSecret struct {
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
}

// Upstream is an organization's upstream connection: never the client
// secret (a connection always has one).
type Upstream struct {
	OrgID     string `json:"orgId"`
	ConfigURL string `json:"configUrl"`
	ClientID  string `json:"clientId"`
	// HasClientSecret says that a client secret is stored; the secret
	// itself is never shown.
	HasClientSecret    bool     `json:"hasClientSecret"`
	Scopes             []string `json:"scopes"`
	UsernameClaim      string   `json:"usernameClaim"`
	DisplayName        string   `json:"displayName"`
	LogoutURL          string   `json:"logoutUrl"`
	EndUpstreamSession bool     `json:"endUpstreamSession"`
	// RedirectURI and LogoutCallbackURI are what the admin registers at
	// the upstream IdP.
	RedirectURI       string `json:"redirectUri"`
	LogoutCallbackURI string `json:"logoutCallbackUri"`
	CreatedAt         string `json:"createdAt"`
	UpdatedAt         string `json:"updatedAt"`
}

// NewUpstream shows u with the URIs d says to register upstream.
func NewUpstream(d *directory.Directory, u *domain.UpstreamConnection) Upstream {
	return Upstream{
		OrgID: u.OrgID, ConfigURL: u.ConfigURL, ClientID: u.ClientID, HasClientSecret: len(u.ClientSecretSealed) > 0,
		Scopes: NonNil(u.Scopes), UsernameClaim: u.UsernameClaim, DisplayName: u.DisplayName,
		LogoutURL: u.LogoutURL, EndUpstreamSession: u.EndUpstreamSession,
		RedirectURI: d.UpstreamRedirectURI(u.OrgID), LogoutCallbackURI: d.UpstreamLogoutCallbackURI(u.OrgID),
		CreatedAt: Stamp(u.CreatedAt), UpdatedAt: Stamp(u.UpdatedAt),
	}
}

// UpstreamCheck is how an upstream check went: ok with what the discovery
// document offers (found) and warnings, or not ok with why (error).
type UpstreamCheck struct {
	OrgID     string              `json:"orgId"`
	ConfigURL string              `json:"configUrl"`
	OK        bool                `json:"ok"`
	Found     *UpstreamFound      `json:"found,omitempty"`
	Warnings  []string            `json:"warnings"`
	Error     *UpstreamCheckError `json:"error,omitempty"`
}

// UpstreamFound is what the upstream's discovery document offers.
type UpstreamFound struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorizationEndpoint"`
	TokenEndpoint                     string   `json:"tokenEndpoint"`
	UserinfoEndpoint                  string   `json:"userinfoEndpoint"`
	JWKSURI                           string   `json:"jwksUri"`
	EndSessionEndpoint                string   `json:"endSessionEndpoint"`
	IDTokenSigningAlgValuesSupported  []string `json:"idTokenSigningAlgValuesSupported"`
	CodeChallengeMethodsSupported     []string `json:"codeChallengeMethodsSupported"`
	PKCES256                          bool     `json:"pkceS256"`
	TokenEndpointAuthMethodsSupported []string `json:"tokenEndpointAuthMethodsSupported"`
	BackchannelLogoutSupported        bool     `json:"backchannelLogoutSupported"`
}

// UpstreamCheckError says why the upstream cannot be used: kind is one of
// package discovery's kinds (unreachable, tls, http_status …).
type UpstreamCheckError struct {
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
	URL    string `json:"url,omitempty"`
	Status int    `json:"status,omitempty"`
	// Reason is the exact cause of an unreachable upstream. It is never
	// answered over HTTP (an organization admin must not learn how the
	// server's network looks); the CLI, run by the operator, prints it.
	Reason string `json:"-"`
}

// NewUpstreamCheck shows c.
func NewUpstreamCheck(c *directory.UpstreamCheck) UpstreamCheck {
	out := UpstreamCheck{OrgID: c.OrgID, ConfigURL: c.ConfigURL, OK: c.OK, Warnings: NonNil(c.Warnings)}
	if ce := c.Error; ce != nil {
		out.Error = &UpstreamCheckError{Kind: string(ce.Kind), Detail: ce.Detail, URL: ce.URL, Status: ce.Status, Reason: ce.Reason}
	}
	if m := c.Found; m != nil {
		out.Found = &UpstreamFound{
			Issuer: m.Issuer, AuthorizationEndpoint: m.AuthorizationEndpoint, TokenEndpoint: m.TokenEndpoint,
			UserinfoEndpoint: m.UserinfoEndpoint, JWKSURI: m.JWKSURI, EndSessionEndpoint: m.EndSessionEndpoint,
			IDTokenSigningAlgValuesSupported:  NonNil(m.IDTokenSigningAlgValuesSupported),
			CodeChallengeMethodsSupported:     NonNil(m.CodeChallengeMethodsSupported),
			PKCES256:                          m.SupportsPKCE(),
			TokenEndpointAuthMethodsSupported: m.TokenEndpointAuthMethods(),
			BackchannelLogoutSupported:        m.BackchannelLogoutSupported,
		}
	}
	return out
}

// AuditEvent is one entry of an organization's audit log.
type AuditEvent struct {
	ID       string            `json:"id"`
	At       string            `json:"at"`
	Actor    string            `json:"actor"`
	Action   string            `json:"action"`
	Target   string            `json:"target"`
	Result   string            `json:"result"`
	ClientIP string            `json:"clientIp"`
	Detail   map[string]string `json:"detail"`
}

// NewAuditEvent shows e; its time keeps sub-second precision.
func NewAuditEvent(e *domain.AuditEvent) AuditEvent {
	d := e.Detail
	if d == nil {
		d = map[string]string{}
	}
	return AuditEvent{ID: e.ID, At: e.At.UTC().Format(time.RFC3339Nano), Actor: e.Actor, Action: e.Action,
		Target: e.Target, Result: e.Result, ClientIP: e.ClientIP, Detail: d}
}

// Session is one of a user's single sign-on sessions; never its cookie.
type Session struct {
	SID       string   `json:"sid"`
	AuthTime  string   `json:"authTime"`
	AMR       []string `json:"amr"`
	CreatedAt string   `json:"createdAt"`
	ExpiresAt string   `json:"expiresAt"`
	Upstream  bool     `json:"upstream"`
}

// NewSession shows s.
func NewSession(s *domain.Session) Session {
	return Session{SID: s.SID, AuthTime: Stamp(s.AuthTime), AMR: NonNil(s.AMR), CreatedAt: Stamp(s.CreatedAt),
		ExpiresAt: Stamp(s.ExpiresAt), Upstream: s.UpstreamSubject != ""}
}

// AdminToken describes an admin API token without the token or its hash.
type AdminToken struct {
	ID string `json:"id"`
	// Org is null for an operator token, valid for every organization.
	Org *string `json:"org"`
	TokenLife
}

// TokenLife is what a bearer token is for and where it stands.
type TokenLife struct {
	Description string  `json:"description"`
	State       string  `json:"state"`
	CreatedAt   string  `json:"createdAt"`
	ExpiresAt   *string `json:"expiresAt"`
	LastUsedAt  *string `json:"lastUsedAt"`
	RevokedAt   *string `json:"revokedAt"`
}

func newTokenLife(description, state string, created, expires, lastUsed, revoked time.Time) TokenLife {
	return TokenLife{Description: description, State: state,
		CreatedAt: Stamp(created), ExpiresAt: OptStamp(expires), LastUsedAt: OptStamp(lastUsed), RevokedAt: OptStamp(revoked)}
}

// NewAdminToken shows t as it stands at now.
func NewAdminToken(t *domain.AdminToken, now time.Time) AdminToken {
	var org *string
	if t.OrgID != "" {
		org = &t.OrgID
	}
	return AdminToken{ID: t.ID, Org: org,
		TokenLife: newTokenLife(t.Description, directory.AdminTokenState(t, now), t.CreatedAt, t.ExpiresAt, t.LastUsedAt, t.RevokedAt)}
}

// SCIMToken describes an organization's SCIM token without the token or
// its hash.
type SCIMToken struct {
	ID  string `json:"id"`
	Org string `json:"org"`
	TokenLife
}

// NewSCIMToken shows t as it stands at now.
func NewSCIMToken(t *domain.SCIMToken, now time.Time) SCIMToken {
	return SCIMToken{ID: t.ID, Org: t.OrgID,
		TokenLife: newTokenLife(t.Description, directory.SCIMTokenState(t, now), t.CreatedAt, t.ExpiresAt, t.LastUsedAt, t.RevokedAt)}
}
