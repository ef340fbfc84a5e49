package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/outbound"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/upstream"
)

// upstreamCheckTimeout bounds the whole discovery request of a check.
const upstreamCheckTimeout = 10 * time.Second

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

func upstreamNotFound(org string) error {
	return &apiError{status: http.StatusNotFound, code: "not_found",
		message: fmt.Sprintf("organization %q has no upstream connection (create one with PUT)", org)}
}

// loadUpstream returns the path organization's connection, or 404.
func (a *API) loadUpstream(c *call) (*domain.UpstreamConnection, error) {
	u, err := a.Directory.Store.GetUpstream(c.r.Context(), c.org.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, upstreamNotFound(c.org.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("upstream connection of %q: %w", c.org.ID, err)
	}
	return u, nil
}

func (a *API) getUpstream(c *call) (int, any, error) {
	u, err := a.loadUpstream(c)
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
	if _, err := a.loadUpstream(c); err != nil {
		return 0, nil, err
	}
	if c.org.Settings.LoginMethod == domain.LoginUpstream {
		return 0, nil, &apiError{status: http.StatusConflict, code: "conflict", field: "login_method",
			message: "login_method: the organization signs in through its upstream connection; change login_method first"}
	}
	if err := a.Directory.DeleteUpstream(c.r.Context(), c.actor, c.org.ID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return 0, nil, upstreamNotFound(c.org.ID)
		}
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
	configURL, err := body.str("config_url")
	if err != nil {
		return 0, nil, err
	}
	endSession, err := body.boolean("end_upstream_session")
	if err != nil {
		return 0, nil, err
	}
	if configURL != nil {
		if err := domain.CheckHTTPURL("config_url", *configURL, true); err != nil {
			return 0, nil, err
		}
	}
	if configURL == nil || endSession == nil {
		u, err := a.Directory.Store.GetUpstream(c.r.Context(), c.org.ID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			if configURL == nil {
				return 0, nil, upstreamNotFound(c.org.ID)
			}
		case err != nil:
			return 0, nil, fmt.Errorf("upstream connection of %q: %w", c.org.ID, err)
		default:
			if configURL == nil {
				configURL = &u.ConfigURL
			}
			if endSession == nil {
				endSession = &u.EndUpstreamSession
			}
		}
	}
	ctx, cancel := context.WithTimeout(c.r.Context(), upstreamCheckTimeout)
	defer cancel()
	m, derr := upstream.Discover(ctx, a.outboundClient(), *configURL)
	out := upstreamCheckJSON{OK: derr == nil, ConfigURL: *configURL, Warnings: []string{}}
	if derr != nil {
		ce, ok := upstream.AsCheckError(derr)
		if !ok {
			return 0, nil, derr
		}
		a.log().Info("admin api: upstream check failed", "org", c.org.ID, "kind", ce.Kind, "url", ce.URL, "reason", ce.Reason, "err", ce.Err,
			"request_id", a.requestID(c.r))
		out.Error = &upstreamErrorJSON{Kind: string(ce.Kind), Detail: ce.Detail, URL: ce.URL, Status: ce.Status}
		// The request succeeded; the audit log says how the check went.
		a.record(c, "upstream.check", "check_failed: "+string(ce.Kind))
		c.changeAudited = true
		return http.StatusOK, out, nil
	}
	out.upstreamFoundJSON = &upstreamFoundJSON{
		Issuer: m.Issuer, AuthorizationEndpoint: m.AuthorizationEndpoint, TokenEndpoint: m.TokenEndpoint,
		UserinfoEndpoint: m.UserinfoEndpoint, JWKSURI: m.JWKSURI, EndSessionEndpoint: m.EndSessionEndpoint,
		IDTokenSigningAlgValuesSupported:  nonNil(m.IDTokenSigningAlgValuesSupported),
		CodeChallengeMethodsSupported:     nonNil(m.CodeChallengeMethodsSupported),
		PKCES256:                          m.SupportsPKCE(),
		TokenEndpointAuthMethodsSupported: m.TokenEndpointAuthMethods(),
		BackchannelLogoutSupported:        m.BackchannelLogoutSupported,
	}
	out.Warnings = append(out.Warnings, m.Warnings(endSession != nil && *endSession)...)
	return http.StatusOK, out, nil
}

// outboundClient is the server's guarded client, or (when the API was
// built without one) a guarded client that never calls loopback.
func (a *API) outboundClient() *http.Client {
	if a.Outbound != nil {
		return a.Outbound
	}
	return outbound.NewClient(false, upstreamCheckTimeout)
}

// checkLoginMethod refuses switching to upstream login while the
// organization has no upstream connection to sign in through.
func (a *API) checkLoginMethod(c *call, body *object, o *domain.Organization) error {
	if !body.has("login_method") || o.Settings.LoginMethod != domain.LoginUpstream {
		return nil
	}
	_, err := a.Directory.Store.GetUpstream(c.r.Context(), o.ID)
	if errors.Is(err, store.ErrNotFound) {
		return domain.Invalid("login_method", "configure the upstream connection first (PUT /api/admin/orgs/%s/upstream)", o.ID)
	}
	if err != nil {
		return fmt.Errorf("upstream connection of %q: %w", o.ID, err)
	}
	return nil
}
