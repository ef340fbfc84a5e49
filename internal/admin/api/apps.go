package api

import (
	"net/http"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/directory/resource"
	"github.com/latchkey/latchkey/internal/domain"
)

// appSettings are the members create and update both take.
var appSettings = []string{
	"name", "redirectUris", "postLogoutRedirectUris", "backchannelLogoutUri", "grantTypes",
	"accessTokenLifetime", "idTokenLifetime", "refreshTokenLifetime", "idTokenAlg", "accessTokenFormat",
	"refreshTokenReuseInterval", "groupsClaim",
}

var appReadOnly = []string{"clientId", "clientSecret", "hasClientSecret", "orgId", "createdAt", "updatedAt"}

// appChanges decodes the settings the body gave.
func appChanges(body *object) (directory.AppChanges, error) {
	var ch directory.AppChanges
	var err error
	if ch.Name, err = body.str("name"); err != nil {
		return ch, err
	}
	if ch.RedirectURIs, err = body.uriList("redirectUris"); err != nil {
		return ch, err
	}
	if ch.PostLogoutRedirectURIs, err = body.uriList("postLogoutRedirectUris"); err != nil {
		return ch, err
	}
	if ch.BackchannelLogoutURI, err = body.str("backchannelLogoutUri"); err != nil {
		return ch, err
	}
	if ch.GrantTypes, err = body.stringList("grantTypes"); err != nil {
		return ch, err
	}
	if ch.AccessTokenLifetime, err = body.seconds("accessTokenLifetime"); err != nil {
		return ch, err
	}
	if ch.IDTokenLifetime, err = body.seconds("idTokenLifetime"); err != nil {
		return ch, err
	}
	if ch.RefreshTokenLifetime, err = body.seconds("refreshTokenLifetime"); err != nil {
		return ch, err
	}
	if ch.IDTokenAlg, err = body.str("idTokenAlg"); err != nil {
		return ch, err
	}
	if ch.AccessTokenFormat, err = body.str("accessTokenFormat"); err != nil {
		return ch, err
	}
	if ch.RefreshTokenReuseInterval, err = body.seconds("refreshTokenReuseInterval"); err != nil {
		return ch, err
	}
	if ch.GroupsClaim, err = body.boolean("groupsClaim"); err != nil {
		return ch, err
	}
	return ch, nil
}

func (a *API) listApps(c *call) (int, any, error) {
	apps, err := a.Directory.ListApps(c.r.Context(), c.org.ID)
	if err != nil {
		return 0, nil, err
	}
	out := make([]resource.App, 0, len(apps))
	for _, app := range apps {
		out = append(out, resource.NewApp(app))
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
	return http.StatusCreated, resource.AppCreated{ClientID: app.ClientID, ClientSecret: sec, Name: app.Name, OrgID: c.org.ID}, nil
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
	return http.StatusOK, resource.NewApp(app), nil
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
	return http.StatusOK, resource.NewApp(app), nil
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
	return http.StatusOK, resource.AppSecret{ClientID: c.target, ClientSecret: sec}, nil
}
