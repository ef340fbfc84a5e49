package portal

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
)

func appTabs(base string, app *domain.Application, current string) []tab {
	b := base + "/apps/" + url.PathEscape(app.ClientID)
	return []tab{
		{Label: "Overview", Href: b + "/", Current: current == "Overview"},
		{Label: "Settings", Href: b + "/settings", Current: current == "Settings"},
	}
}

// appData is what the application pages show.
type appData struct {
	App      *domain.Application
	BuiltIn  bool
	Secret   string // shown once, after create or rotate
	Other    *overviewData
	Algs     []Option
	Formats  []Option
	Grants   []Option
	Lifetime map[string]string
	// GroupsClaim is the "Groups claim" checkbox (kept from the form on error).
	GroupsClaim bool
}

func (p *Portal) appList(q *orgRequest) {
	apps, err := p.Directory.ListApps(q.r.Context(), q.org.ID)
	if err != nil {
		p.internalError(q.w, q.r, "list applications", err)
		return
	}
	slices.SortFunc(apps, func(a, b *domain.Application) int {
		return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
	})
	v := p.newView(q.r, q.admin, q.org, "Applications", "apps")
	v.Data = apps
	p.render(q.w, q.r, http.StatusOK, "apps", v)
}

func (p *Portal) appNew(q *orgRequest) {
	v := p.newView(q.r, q.admin, q.org, "Create application", "apps")
	v.Form = url.Values{"type": {"confidential"}}
	v.Form.Del("type")
	p.render(q.w, q.r, http.StatusOK, "appnew", v)
}

// lines splits a textarea into its non-empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	if out == nil {
		out = []string{}
	}
	return out
}

func (p *Portal) appCreate(q *orgRequest) {
	v := p.newView(q.r, q.admin, q.org, "Create application", "apps")
	f := q.r.PostForm
	v.Form = f
	name := strings.TrimSpace(f.Get("name"))
	redirects, postLogout := lines(f.Get("redirect_uris")), lines(f.Get("post_logout_redirect_uris"))
	bc := strings.TrimSpace(f.Get("backchannel_logout_uri"))
	public := false
	switch f.Get("type") {
	case "public":
		public = true
	case "confidential":
	default:
		v.Errors["type"] = "choose confidential or public"
		f.Set("type", "")
		p.render(q.w, q.r, http.StatusBadRequest, "appnew", v)
		return
	}
	app, sec, err := p.Directory.CreateApp(q.r.Context(), q.admin.actor(q.r), q.org.ID, public, directory.AppChanges{
		Name: &name, RedirectURIs: &redirects, PostLogoutRedirectURIs: &postLogout, BackchannelLogoutURI: &bc,
	})
	if err != nil {
		if v.fail(err, nil) {
			p.render(q.w, q.r, http.StatusBadRequest, "appnew", v)
			return
		}
		p.internalError(q.w, q.r, "create application", err)
		return
	}
	p.showAppOverview(q, app, sec, "Application "+app.Name+" created.")
}

func (p *Portal) loadApp(q *orgRequest) (*domain.Application, bool) {
	app, err := p.Directory.GetApp(q.r.Context(), q.org.ID, q.r.PathValue("client"))
	if isNotFound(err) {
		p.notFound(q.w, q.r)
		return nil, false
	}
	if err != nil {
		p.internalError(q.w, q.r, "load application", err)
		return nil, false
	}
	return app, true
}

func (p *Portal) showAppOverview(q *orgRequest, app *domain.Application, secret, flash string) {
	other, err := p.discoveredEndpoints(q.r, q.org.ID)
	if err != nil {
		p.internalError(q.w, q.r, "discovery", err)
		return
	}
	v := p.newView(q.r, q.admin, q.org, app.Name, "apps")
	v.Tabs = appTabs("/admin/o/"+q.org.ID, app, "Overview")
	v.Data = &appData{App: app, BuiltIn: directory.IsPortalApp(app.ClientID), Secret: secret, Other: other}
	if secret != "" {
		v.Flash = flash
		noStore(q.w)
	}
	p.render(q.w, q.r, http.StatusOK, "appoverview", v)
}

func (p *Portal) appOverview(q *orgRequest) {
	if app, ok := p.loadApp(q); ok {
		p.showAppOverview(q, app, "", "")
	}
}

func options(values []string, cur string) []Option {
	out := make([]Option, len(values))
	for i, v := range values {
		out[i] = Option{Value: v, Label: v, Selected: v == cur}
	}
	return out
}

func grantOptions(selected []string) []Option {
	var out []Option
	for _, g := range []string{domain.GrantAuthorizationCode, domain.GrantRefreshToken, domain.GrantClientCredentials} {
		out = append(out, Option{Value: g, Label: g, Selected: slices.Contains(selected, g)})
	}
	return out
}

func (p *Portal) appSettingsView(q *orgRequest, app *domain.Application, algs, format string, grants []string) *view {
	v := p.newView(q.r, q.admin, q.org, app.Name, "apps")
	v.Tabs = appTabs("/admin/o/"+q.org.ID, app, "Settings")
	v.Data = &appData{
		App: app, BuiltIn: directory.IsPortalApp(app.ClientID),
		Algs:    options(domain.SigningAlgs, algs),
		Formats: options([]string{domain.AccessTokenOpaque, domain.AccessTokenJWT}, format),
		Grants:  grantOptions(grants),
		Lifetime: map[string]string{
			"access_token_lifetime":  domain.DescribeSeconds(app.AccessTokenLifetime),
			"id_token_lifetime":      domain.DescribeSeconds(app.IDTokenLifetime),
			"refresh_token_lifetime": domain.DescribeSeconds(app.RefreshTokenLifetime),
		},
		GroupsClaim: app.GroupsClaim,
	}
	return v
}

func (p *Portal) appSettings(q *orgRequest) {
	app, ok := p.loadApp(q)
	if !ok {
		return
	}
	v := p.appSettingsView(q, app, app.IDTokenAlg, app.AccessTokenFormat, app.GrantTypes)
	p.render(q.w, q.r, http.StatusOK, "appsettings", v)
}

var lifetimeLabels = map[string]string{
	"access_token_lifetime":  "Access token lifetime",
	"id_token_lifetime":      "ID token lifetime",
	"refresh_token_lifetime": "Refresh token lifetime",
	// The reuse interval is parsed like the lifetimes; 0 is allowed (off).
	"refresh_token_reuse_interval": "Refresh token reuse interval",
}

func (p *Portal) appSettingsSave(q *orgRequest) {
	app, ok := p.loadApp(q)
	if !ok {
		return
	}
	f := q.r.PostForm
	grants := f["grant_types"]
	if grants == nil {
		grants = []string{}
	}
	v := p.appSettingsView(q, app, f.Get("id_token_signed_response_alg"), f.Get("access_token_format"), grants)
	v.Form = f
	f["grant_types"] = grants
	lifetimes := map[string]*int64{}
	groups := f.Get("groups_claim") == "on"
	v.Data.(*appData).GroupsClaim = groups
	for _, name := range []string{"access_token_lifetime", "id_token_lifetime", "refresh_token_lifetime", "refresh_token_reuse_interval"} {
		n, err := domain.ParseSeconds(f.Get(name))
		if err != nil {
			v.Errors[name] = lifetimeLabels[name] + " " + err.Error()
			continue
		}
		lifetimes[name] = &n
	}
	if len(v.Errors) > 0 {
		p.render(q.w, q.r, http.StatusBadRequest, "appsettings", v)
		return
	}
	name := strings.TrimSpace(f.Get("name"))
	redirects, postLogout := lines(f.Get("redirect_uris")), lines(f.Get("post_logout_redirect_uris"))
	bc := strings.TrimSpace(f.Get("backchannel_logout_uri"))
	alg, format := f.Get("id_token_signed_response_alg"), f.Get("access_token_format")
	_, err := p.Directory.UpdateApp(q.r.Context(), q.admin.actor(q.r), q.org.ID, app.ClientID, directory.AppChanges{
		Name: &name, RedirectURIs: &redirects, PostLogoutRedirectURIs: &postLogout, BackchannelLogoutURI: &bc,
		GrantTypes: &grants, AccessTokenLifetime: lifetimes["access_token_lifetime"], IDTokenLifetime: lifetimes["id_token_lifetime"],
		RefreshTokenLifetime: lifetimes["refresh_token_lifetime"], IDTokenAlg: &alg, AccessTokenFormat: &format,
		RefreshTokenReuseInterval: lifetimes["refresh_token_reuse_interval"], GroupsClaim: &groups,
	})
	if err != nil {
		if v.fail(err, map[string]string{"client_id": "name"}) {
			p.render(q.w, q.r, http.StatusBadRequest, "appsettings", v)
			return
		}
		p.internalError(q.w, q.r, "update application", err)
		return
	}
	p.redirectFlash(q.w, q.r, "/admin/o/"+q.org.ID+"/apps/"+url.PathEscape(app.ClientID)+"/settings", "Settings of "+name+" saved.")
}

func (p *Portal) appRotateSecret(q *orgRequest) {
	app, ok := p.loadApp(q)
	if !ok {
		return
	}
	sec, err := p.Directory.RotateAppSecret(q.r.Context(), q.admin.actor(q.r), q.org.ID, app.ClientID)
	if err != nil {
		if _, ok := domain.AsFieldError(err); ok {
			p.errorPage(q.w, q.r, http.StatusBadRequest, "Secret not rotated", err.Error())
			return
		}
		p.internalError(q.w, q.r, "rotate client secret", err)
		return
	}
	p.showAppOverview(q, app, sec, "Client secret rotated. The old secret no longer works.")
}

func (p *Portal) appDeleteForm(q *orgRequest) {
	app, ok := p.loadApp(q)
	if !ok {
		return
	}
	v := p.newView(q.r, q.admin, q.org, "Delete application", "apps")
	v.Data = &appData{App: app, BuiltIn: directory.IsPortalApp(app.ClientID)}
	p.render(q.w, q.r, http.StatusOK, "appdelete", v)
}

func (p *Portal) appDelete(q *orgRequest) {
	app, ok := p.loadApp(q)
	if !ok {
		return
	}
	v := p.newView(q.r, q.admin, q.org, "Delete application", "apps")
	v.Data = &appData{App: app, BuiltIn: directory.IsPortalApp(app.ClientID)}
	v.Form = q.r.PostForm
	if q.r.PostFormValue("confirm") != "yes" {
		v.Errors["confirm"] = "tick the box to confirm"
		p.render(q.w, q.r, http.StatusBadRequest, "appdelete", v)
		return
	}
	if err := p.Directory.DeleteApp(q.r.Context(), q.admin.actor(q.r), q.org.ID, app.ClientID); err != nil {
		if v.fail(err, map[string]string{"client_id": "confirm"}) {
			p.render(q.w, q.r, http.StatusBadRequest, "appdelete", v)
			return
		}
		p.internalError(q.w, q.r, "delete application", err)
		return
	}
	p.redirectFlash(q.w, q.r, "/admin/o/"+q.org.ID+"/apps/", "Application "+app.Name+" deleted.")
}

var _ = strconv.Itoa
