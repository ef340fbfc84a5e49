package api

import (
	"net/http"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
)

// appJSON is an application as the API shows it; never its secret hash.
type appJSON struct {
	ClientID               string   `json:"client_id"`
	Name                   string   `json:"name"`
	Public                 bool     `json:"public"`
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	BackchannelLogoutURI   string   `json:"backchannel_logout_uri"`
	GrantTypes             []string `json:"grant_types"`
	AccessTokenLifetime    int64    `json:"access_token_lifetime"`
	IDTokenLifetime        int64    `json:"id_token_lifetime"`
	RefreshTokenLifetime   int64    `json:"refresh_token_lifetime"`
	IDTokenAlg             string   `json:"id_token_signed_response_alg"`
	AccessTokenFormat      string   `json:"access_token_format"`
	// RefreshTokenReuseInterval is in seconds (0 = off).
	RefreshTokenReuseInterval int64  `json:"refreshTokenReuseInterval"`
	CreatedAt                 string `json:"created_at"`
	UpdatedAt                 string `json:"updated_at"`
}

// appCreatedJSON is answered on create: the client secret, shown this once
// (absent for public applications).
type appCreatedJSON struct {
	appJSON
	ClientSecret string `json:"client_secret,omitempty"`
}

type appSecretJSON struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

func toAppJSON(a *domain.Application) appJSON {
	return appJSON{
		ClientID: a.ClientID, Name: a.Name, Public: a.Public,
		RedirectURIs: nonNil(a.RedirectURIs), PostLogoutRedirectURIs: nonNil(a.PostLogoutRedirectURIs),
		BackchannelLogoutURI: a.BackchannelLogoutURI, GrantTypes: nonNil(a.GrantTypes),
		AccessTokenLifetime: a.AccessTokenLifetime, IDTokenLifetime: a.IDTokenLifetime, RefreshTokenLifetime: a.RefreshTokenLifetime,
		IDTokenAlg: a.IDTokenAlg, AccessTokenFormat: a.AccessTokenFormat, RefreshTokenReuseInterval: a.RefreshTokenReuseInterval,
		CreatedAt: stamp(a.CreatedAt), UpdatedAt: stamp(a.UpdatedAt),
	}
}

// appSettings are the members create and update both take.
var appSettings = []string{
	"name", "redirect_uris", "post_logout_redirect_uris", "backchannel_logout_uri", "grant_types",
	"access_token_lifetime", "id_token_lifetime", "refresh_token_lifetime", "id_token_signed_response_alg", "access_token_format",
	"refreshTokenReuseInterval",
}

var appReadOnly = []string{"client_id", "client_secret", "created_at", "updated_at"}

// appChanges decodes the settings the body gave.
func appChanges(body *object) (directory.AppChanges, error) {
	var ch directory.AppChanges
	var err error
	if ch.Name, err = body.str("name"); err != nil {
		return ch, err
	}
	if ch.RedirectURIs, err = body.uriList("redirect_uris"); err != nil {
		return ch, err
	}
	if ch.PostLogoutRedirectURIs, err = body.uriList("post_logout_redirect_uris"); err != nil {
		return ch, err
	}
	if ch.BackchannelLogoutURI, err = body.str("backchannel_logout_uri"); err != nil {
		return ch, err
	}
	if ch.GrantTypes, err = body.stringList("grant_types"); err != nil {
		return ch, err
	}
	if ch.AccessTokenLifetime, err = body.seconds("access_token_lifetime"); err != nil {
		return ch, err
	}
	if ch.IDTokenLifetime, err = body.seconds("id_token_lifetime"); err != nil {
		return ch, err
	}
	if ch.RefreshTokenLifetime, err = body.seconds("refresh_token_lifetime"); err != nil {
		return ch, err
	}
	if ch.IDTokenAlg, err = body.str("id_token_signed_response_alg"); err != nil {
		return ch, err
	}
	if ch.AccessTokenFormat, err = body.str("access_token_format"); err != nil {
		return ch, err
	}
	if ch.RefreshTokenReuseInterval, err = body.seconds("refreshTokenReuseInterval"); err != nil {
		return ch, err
	}
	return ch, nil
}

func (a *API) listApps(c *call) (int, any, error) {
	apps, err := a.Directory.ListApps(c.r.Context(), c.org.ID)
	if err != nil {
		return 0, nil, err
	}
	out := make([]appJSON, 0, len(apps))
	for _, app := range apps {
		out = append(out, toAppJSON(app))
	}
	return http.StatusOK, out, nil
}

func (a *API) createApp(c *call) (int, any, error) {
	body, err := c.body(fieldSpec{writable: append([]string{"public"}, appSettings...), readOnly: appReadOnly}, false)
	if err != nil {
		return 0, nil, err
	}
	public, err := body.boolean("public")
	if err != nil {
		return 0, nil, err
	}
	ch, err := appChanges(body)
	if err != nil {
		return 0, nil, err
	}
	app, sec, err := a.Directory.CreateApp(c.r.Context(), c.actor, c.org.ID, public != nil && *public, ch)
	if err != nil {
		return 0, nil, err
	}
	c.target, c.changeAudited = app.ClientID, true
	return http.StatusCreated, appCreatedJSON{appJSON: toAppJSON(app), ClientSecret: sec}, nil
}

// pathApp loads the application in the path, within the path's organization.
func (a *API) pathApp(c *call) (*domain.Application, error) {
	id := c.r.PathValue("client_id")
	c.target = id
	return a.Directory.GetApp(c.r.Context(), c.org.ID, id)
}

func (a *API) getApp(c *call) (int, any, error) {
	app, err := a.pathApp(c)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toAppJSON(app), nil
}

func (a *API) updateApp(c *call) (int, any, error) {
	if _, err := a.pathApp(c); err != nil {
		return 0, nil, err
	}
	body, err := c.body(fieldSpec{writable: appSettings, readOnly: appReadOnly,
		fixed: map[string]string{"public": "cannot change after creation; create a new application instead"}}, false)
	if err != nil {
		return 0, nil, err
	}
	ch, err := appChanges(body)
	if err != nil {
		return 0, nil, err
	}
	app, err := a.Directory.UpdateApp(c.r.Context(), c.actor, c.org.ID, c.target, ch)
	if err != nil {
		return 0, nil, err
	}
	c.changeAudited = true
	return http.StatusOK, toAppJSON(app), nil
}

func (a *API) deleteApp(c *call) (int, any, error) {
	if _, err := a.pathApp(c); err != nil {
		return 0, nil, err
	}
	if err := a.Directory.DeleteApp(c.r.Context(), c.actor, c.org.ID, c.target); err != nil {
		return 0, nil, err
	}
	c.changeAudited = true
	return http.StatusNoContent, nil, nil
}

func (a *API) rotateAppSecret(c *call) (int, any, error) {
	if _, err := a.pathApp(c); err != nil {
		return 0, nil, err
	}
	if _, err := c.body(fieldSpec{}, true); err != nil {
		return 0, nil, err
	}
	sec, err := a.Directory.RotateAppSecret(c.r.Context(), c.actor, c.org.ID, c.target)
	if err != nil {
		return 0, nil, err
	}
	c.changeAudited = true
	return http.StatusOK, appSecretJSON{ClientID: c.target, ClientSecret: sec}, nil
}
