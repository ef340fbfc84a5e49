package api

import (
	"net/http"
	"strings"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
)

// upstreamJSON is an organization's upstream connection as the API shows
// it: never the client secret, only that there is one.
type upstreamJSON struct {
	ConfigURL          string   `json:"config_url"`
	ClientID           string   `json:"client_id"`
	HasClientSecret    bool     `json:"has_client_secret"`
	Scopes             []string `json:"scopes"`
	UsernameClaim      string   `json:"username_claim"`
	DisplayName        string   `json:"display_name"`
	LogoutURL          string   `json:"logout_url"`
	EndUpstreamSession bool     `json:"end_upstream_session"`
	// RedirectURI and LogoutCallbackURI are what the admin registers at
	// the upstream IdP.
	RedirectURI       string `json:"redirect_uri"`
	LogoutCallbackURI string `json:"logout_callback_uri"`
	CreatedAt         string `json:"created_at"`
	UpdatedAt         string `json:"updated_at"`
}

func (a *API) toUpstreamJSON(u *domain.UpstreamConnection) upstreamJSON {
	return upstreamJSON{
		ConfigURL: u.ConfigURL, ClientID: u.ClientID, HasClientSecret: len(u.ClientSecretSealed) > 0,
		Scopes: nonNil(u.Scopes), UsernameClaim: u.UsernameClaim, DisplayName: u.DisplayName,
		LogoutURL: u.LogoutURL, EndUpstreamSession: u.EndUpstreamSession,
		RedirectURI:       a.Directory.UpstreamRedirectURI(u.OrgID),
		LogoutCallbackURI: a.Directory.UpstreamLogoutCallbackURI(u.OrgID),
		CreatedAt:         stamp(u.CreatedAt), UpdatedAt: stamp(u.UpdatedAt),
	}
}

// upstreamCheckJSON answers a check: ok with what the discovery document
// offers and warnings, or not ok with why (the check itself succeeded).
type upstreamCheckJSON struct {
	OK        bool   `json:"ok"`
	ConfigURL string `json:"config_url"`
	*upstreamFoundJSON
	Warnings []string           `json:"warnings"`
	Error    *upstreamErrorJSON `json:"error,omitempty"`
}

type upstreamFoundJSON struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	UserinfoEndpoint                  string   `json:"userinfo_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	EndSessionEndpoint                string   `json:"end_session_endpoint"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
	PKCES256                          bool     `json:"pkce_s256"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	BackchannelLogoutSupported        bool     `json:"backchannel_logout_supported"`
}

type upstreamErrorJSON struct {
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
	URL    string `json:"url,omitempty"`
	Status int    `json:"status,omitempty"`
}

// upstreamSettings are the members PUT takes.
var upstreamSettings = []string{
	"config_url", "client_id", "client_secret", "scopes", "username_claim", "display_name", "logout_url", "end_upstream_session",
}

var upstreamReadOnly = []string{"has_client_secret", "redirect_uri", "logout_callback_uri", "created_at", "updated_at"}

func (a *API) getUpstream(c *call) (int, any, error) {
	u, err := a.Directory.GetUpstream(c.r.Context(), c.org.ID)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, a.toUpstreamJSON(u), nil
}

// scopeList returns scopes given as an array of strings or as one string
// of space-separated scopes (what a form field sends), nil when absent.
func (o *object) scopeList(name string) (*[]string, error) {
	raw, ok := o.fields[name]
	if !ok {
		return nil, nil
	}
	if kind(raw) != "a string" {
		v, err := o.stringList(name)
		if err != nil {
			return nil, domain.Invalid(name, "must be an array of scopes or a string of space-separated scopes (got %s)", kind(raw))
		}
		return v, nil
	}
	s, err := o.str(name)
	if err != nil {
		return nil, err
	}
	v := strings.Fields(*s)
	return &v, nil
}

// upstreamChanges decodes the settings the body gave.
func upstreamChanges(body *object) (directory.UpstreamChanges, error) {
	var ch directory.UpstreamChanges
	var err error
	for _, f := range []struct {
		name string
		dst  **string
	}{
		{"config_url", &ch.ConfigURL}, {"client_id", &ch.ClientID}, {"client_secret", &ch.ClientSecret},
		{"username_claim", &ch.UsernameClaim}, {"display_name", &ch.DisplayName}, {"logout_url", &ch.LogoutURL},
	} {
		if *f.dst, err = body.str(f.name); err != nil {
			return ch, err
		}
	}
	if ch.Scopes, err = body.scopeList("scopes"); err != nil {
		return ch, err
	}
	if ch.EndUpstreamSession, err = body.boolean("end_upstream_session"); err != nil {
		return ch, err
	}
	return ch, nil
}

// putUpstream creates the connection (201) or changes the members given
// (200); an omitted client_secret keeps the stored one. The first save
// needs config_url, client_id and client_secret.
func (a *API) putUpstream(c *call) (int, any, error) {
	body, err := c.body(fieldSpec{writable: upstreamSettings, readOnly: upstreamReadOnly}, false)
	if err != nil {
		return 0, nil, err
	}
	ch, err := upstreamChanges(body)
	if err != nil {
		return 0, nil, err
	}
	if ch.IsZero() {
		return 0, nil, &apiError{status: http.StatusBadRequest, code: "invalid_request",
			message: "nothing to set: give at least one of " + strings.Join(upstreamSettings, ", ")}
	}
	u, created, err := a.Directory.SetUpstream(c.r.Context(), c.actor, c.org.ID, ch)
	if err != nil {
		return 0, nil, err
	}
	c.changeAudited = true
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return status, a.toUpstreamJSON(u), nil
}

// deleteUpstream removes the connection. While the organization signs in
// through it, that would lock its users out, so it is refused.
func (a *API) deleteUpstream(c *call) (int, any, error) {
	if err := a.Directory.DeleteUpstream(c.r.Context(), c.actor, c.org.ID); err != nil {
		return 0, nil, err
	}
	c.changeAudited = true
	return http.StatusNoContent, nil, nil
}

// checkUpstream fetches the discovery document through the guarded
// outbound client and reports what it offers or why it cannot be used.
// The body may give config_url (and end_upstream_session) to check
// settings before they are saved; without it the saved connection is
// checked.
func (a *API) checkUpstream(c *call) (int, any, error) {
	body, err := c.body(fieldSpec{writable: []string{"config_url", "end_upstream_session"}}, true)
	if err != nil {
		return 0, nil, err
	}
	var probe directory.UpstreamProbe
	if probe.ConfigURL, err = body.str("config_url"); err != nil {
		return 0, nil, err
	}
	if probe.EndUpstreamSession, err = body.boolean("end_upstream_session"); err != nil {
		return 0, nil, err
	}
	check, err := a.Directory.CheckUpstream(c.r.Context(), c.actor, c.org.ID, probe)
	if err != nil {
		return 0, nil, err
	}
	c.changeAudited = true
	out := upstreamCheckJSON{OK: check.OK, ConfigURL: check.ConfigURL, Warnings: check.Warnings}
	if ce := check.Error; ce != nil {
		a.log().Info("admin api: upstream check failed", "org", c.org.ID, "kind", ce.Kind, "url", ce.URL, "reason", ce.Reason, "err", ce.Err,
			"request_id", a.requestID(c.r))
		out.Error = &upstreamErrorJSON{Kind: string(ce.Kind), Detail: ce.Detail, URL: ce.URL, Status: ce.Status}
		return http.StatusOK, out, nil
	}
	m := check.Found
	out.upstreamFoundJSON = &upstreamFoundJSON{
		Issuer: m.Issuer, AuthorizationEndpoint: m.AuthorizationEndpoint, TokenEndpoint: m.TokenEndpoint,
		UserinfoEndpoint: m.UserinfoEndpoint, JWKSURI: m.JWKSURI, EndSessionEndpoint: m.EndSessionEndpoint,
		IDTokenSigningAlgValuesSupported:  nonNil(m.IDTokenSigningAlgValuesSupported),
		CodeChallengeMethodsSupported:     nonNil(m.CodeChallengeMethodsSupported),
		PKCES256:                          m.SupportsPKCE(),
		TokenEndpointAuthMethodsSupported: m.TokenEndpointAuthMethods(),
		BackchannelLogoutSupported:        m.BackchannelLogoutSupported,
	}
	return http.StatusOK, out, nil
}
