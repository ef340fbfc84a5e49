package portal

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
)

func settingsTabs(base, current string) []tab {
	ts := []tab{
		{Label: "SSO Settings", Href: base + "/settings/sso"},
		{Label: "UX", Href: base + "/settings/ux"},
		{Label: "Integrations", Href: base + "/settings/integrations"},
		{Label: "Authentication", Href: base + "/settings/authentication"},
	}
	for i := range ts {
		ts[i].Current = ts[i].Label == current
	}
	return ts
}

func (p *Portal) settingsView(q *orgRequest, tabName string) *view {
	v := p.newView(q.r, q.admin, q.org, "Settings", "settings")
	v.Tabs = settingsTabs("/admin/o/"+q.org.ID, tabName)
	return v
}

func (p *Portal) settingsRedirect(q *orgRequest) {
	http.Redirect(q.w, q.r, "/admin/o/"+q.org.ID+"/settings/sso", http.StatusFound)
}

// ssoData shows the session lifetime in words.
type ssoData struct {
	LifetimeWords string
}

func (p *Portal) ssoSettings(q *orgRequest) {
	v := p.settingsView(q, "SSO Settings")
	v.Data = &ssoData{LifetimeWords: domain.DescribeSeconds(q.org.Settings.SessionLifetimeSeconds)}
	p.render(q.w, q.r, http.StatusOK, "sso", v)
}

// saveOrg applies change to a copy of the organization and saves it
// through the directory; on a field error the page is shown again with
// the input kept.
func (p *Portal) saveOrg(q *orgRequest, page string, v *view, c directory.OrgChanges) bool {
	if _, err := p.Directory.UpdateOrg(q.r.Context(), q.admin.actor(q.r), q.org.ID, c); err != nil {
		if v.fail(err, nil) {
			p.render(q.w, q.r, http.StatusBadRequest, page, v)
			return false
		}
		p.internalError(q.w, q.r, "update organization", err)
		return false
	}
	return true
}

func (p *Portal) ssoSettingsSave(q *orgRequest) {
	v := p.settingsView(q, "SSO Settings")
	v.Form = q.r.PostForm
	v.Data = &ssoData{LifetimeWords: domain.DescribeSeconds(q.org.Settings.SessionLifetimeSeconds)}
	secs, err := domain.ParseSeconds(q.r.PostFormValue("session_lifetime_seconds"))
	if err != nil {
		v.Errors["session_lifetime_seconds"] = "Session lifetime " + err.Error()
		p.render(q.w, q.r, http.StatusBadRequest, "sso", v)
		return
	}
	enabled := q.r.PostFormValue("sso_enabled") == "on"
	if !p.saveOrg(q, "sso", v, directory.OrgChanges{SSOEnabled: &enabled, SessionLifetimeSeconds: &secs}) {
		return
	}
	p.redirectFlash(q.w, q.r, "/admin/o/"+q.org.ID+"/settings/sso", "SSO settings saved. Session lifetime: "+domain.DescribeSeconds(secs)+".")
}

// loginMethods are the choices of "Login method".
func loginMethods(cur string) []Option {
	opts := []Option{
		{Value: domain.LoginPassword, Label: "Password (Latchkey's own login page)"},
		{Value: domain.LoginPlatform, Label: "Platform (send users to the Auth Redirect URL)"},
		{Value: domain.LoginUpstream, Label: "Upstream OpenID Connect provider"},
	}
	for i := range opts {
		opts[i].Selected = opts[i].Value == cur
	}
	return opts
}

func (p *Portal) uxSettings(q *orgRequest) {
	v := p.settingsView(q, "UX")
	v.Data = loginMethods(q.org.Settings.LoginMethod)
	p.render(q.w, q.r, http.StatusOK, "ux", v)
}

func (p *Portal) uxSettingsSave(q *orgRequest) {
	v := p.settingsView(q, "UX")
	v.Form = q.r.PostForm
	method := q.r.PostFormValue("login_method")
	v.Data = loginMethods(method)
	redirect := strings.TrimSpace(q.r.PostFormValue("auth_redirect_url"))
	if !p.saveOrg(q, "ux", v, directory.OrgChanges{AuthRedirectURL: &redirect, LoginMethod: &method}) {
		return
	}
	p.redirectFlash(q.w, q.r, "/admin/o/"+q.org.ID+"/settings/ux", "UX settings saved.")
}

// integrationsData is the Integrations tab: the API key only when just
// revealed or rotated.
type integrationsData struct {
	APIKey  string
	Rotated bool
	Overlap []Option
	// SCIM provisioning: the endpoint, the tokens and, once, a new token.
	SCIMBaseURL  string
	SCIMTokens   []scimTokenRow
	SCIMExpires  []Option
	NewSCIMToken string
}

// scimTokenRow is one SCIM token as listed.
type scimTokenRow struct {
	ID, Description, State           string
	CreatedAt, ExpiresAt, LastUsedAt time.Time
}

// defaultSCIMExpiry is the preselected "Expires in": the directory's
// default life of a SCIM token, in days (one of scimExpiries).
var defaultSCIMExpiry = strconv.Itoa(int(directory.DefaultSCIMTokenTTL / (24 * time.Hour)))

// defaultOverlap is the preselected overlap of an API key rotation, in
// seconds (one of overlaps).
var defaultOverlap = strconv.FormatInt(int64(directory.DefaultAPIKeyOverlap/time.Second), 10)

// scimExpiries are the choices of "Expires in" (days; 0 is never).
var scimExpiries = []struct{ value, label string }{
	{"30", "30 days"}, {"90", "90 days"}, {"365", "365 days"}, {"0", "Never"},
}

func scimExpiryOptions(cur string) []Option {
	var out []Option
	for _, o := range scimExpiries {
		out = append(out, Option{Value: o.value, Label: o.label, Selected: o.value == cur})
	}
	return out
}

// integrationsView builds the Integrations tab with the SCIM section
// filled in; false when the tokens could not be listed (already answered).
func (p *Portal) integrationsView(q *orgRequest, expires string) (*view, *integrationsData, bool) {
	v := p.settingsView(q, "Integrations")
	d := &integrationsData{Overlap: overlapOptions(defaultOverlap), SCIMBaseURL: p.Directory.Issuer(q.org.ID) + "/scim/v2",
		SCIMExpires: scimExpiryOptions(expires)}
	ts, err := p.Directory.ListSCIMTokens(q.r.Context(), q.org.ID)
	if err != nil {
		p.internalError(q.w, q.r, "list SCIM tokens", err)
		return nil, nil, false
	}
	now := p.now()
	for _, t := range ts {
		d.SCIMTokens = append(d.SCIMTokens, scimTokenRow{ID: t.ID, Description: t.Description,
			State: directory.SCIMTokenState(t, now), CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt})
	}
	v.Data = d
	return v, d, true
}

var overlaps = []struct {
	value string
	label string
	d     time.Duration
}{
	{"0", "None: the old key stops working now", 0},
	{"3600", "1 hour", time.Hour},
	{"86400", "24 hours", 24 * time.Hour},
	{"604800", "7 days", 7 * 24 * time.Hour},
}

func overlapOptions(cur string) []Option {
	var out []Option
	for _, o := range overlaps {
		out = append(out, Option{Value: o.value, Label: o.label, Selected: o.value == cur})
	}
	return out
}

func (p *Portal) integrations(q *orgRequest) {
	if v, _, ok := p.integrationsView(q, defaultSCIMExpiry); ok {
		p.render(q.w, q.r, http.StatusOK, "integrations", v)
	}
}

func (p *Portal) apiKeyReveal(q *orgRequest) {
	key, err := p.Directory.RevealAPIKey(q.r.Context(), q.admin.actor(q.r), q.org.ID)
	if err != nil {
		p.internalError(q.w, q.r, "reveal API key", err)
		return
	}
	v, d, ok := p.integrationsView(q, defaultSCIMExpiry)
	if !ok {
		return
	}
	d.APIKey = key
	noStore(q.w)
	p.render(q.w, q.r, http.StatusOK, "integrations", v)
}

func (p *Portal) apiKeyRotate(q *orgRequest) {
	v, d, ok := p.integrationsView(q, defaultSCIMExpiry)
	if !ok {
		return
	}
	v.Form = q.r.PostForm
	d.Overlap = overlapOptions(q.r.PostFormValue("overlap"))
	secs, err := strconv.ParseInt(q.r.PostFormValue("overlap"), 10, 64)
	if err != nil {
		v.Errors["overlap"] = "choose how long the old key keeps working"
		p.render(q.w, q.r, http.StatusBadRequest, "integrations", v)
		return
	}
	key, err := p.Directory.RotateAPIKey(q.r.Context(), q.admin.actor(q.r), q.org.ID, time.Duration(secs)*time.Second)
	if err != nil {
		if v.fail(err, nil) {
			p.render(q.w, q.r, http.StatusBadRequest, "integrations", v)
			return
		}
		p.internalError(q.w, q.r, "rotate API key", err)
		return
	}
	v.Form = nil
	d.APIKey, d.Rotated, d.Overlap = key, true, overlapOptions(defaultOverlap)
	v.Flash = "API key rotated."
	noStore(q.w)
	p.render(q.w, q.r, http.StatusOK, "integrations", v)
}

// scimTokenCreate makes a SCIM token and shows it this once.
func (p *Portal) scimTokenCreate(q *orgRequest) {
	expires := q.r.PostFormValue("scim_expires")
	v, _, ok := p.integrationsView(q, expires)
	if !ok {
		return
	}
	v.Form = q.r.PostForm
	days, err := strconv.Atoi(expires)
	known := false
	for _, o := range scimExpiries {
		known = known || o.value == expires
	}
	if err != nil || !known {
		v.Errors["scim_expires"] = "choose when the token expires"
		p.render(q.w, q.r, http.StatusBadRequest, "integrations", v)
		return
	}
	desc := strings.TrimSpace(q.r.PostFormValue("scim_description"))
	_, plain, err := p.Directory.CreateSCIMToken(q.r.Context(), q.admin.actor(q.r), q.org.ID, desc, time.Duration(days)*24*time.Hour)
	if err != nil {
		if v.fail(err, map[string]string{"description": "scim_description", "expires": "scim_expires"}) {
			p.render(q.w, q.r, http.StatusBadRequest, "integrations", v)
			return
		}
		p.internalError(q.w, q.r, "create SCIM token", err)
		return
	}
	v, d, ok := p.integrationsView(q, defaultSCIMExpiry)
	if !ok {
		return
	}
	d.NewSCIMToken = plain
	v.Flash = "SCIM token created."
	noStore(q.w)
	p.render(q.w, q.r, http.StatusOK, "integrations", v)
}

func (p *Portal) scimTokenRevoke(q *orgRequest) {
	err := p.Directory.RevokeSCIMToken(q.r.Context(), q.admin.actor(q.r), q.org.ID, q.r.PostFormValue("id"))
	switch {
	case isNotFound(err):
		p.errorPage(q.w, q.r, http.StatusNotFound, "Not found", "There is no such active SCIM token.")
		return
	case err != nil:
		p.internalError(q.w, q.r, "revoke SCIM token", err)
		return
	}
	p.redirectFlash(q.w, q.r, "/admin/o/"+q.org.ID+"/settings/integrations", "SCIM token revoked.")
}

// authData is the Authentication tab.
type authData struct {
	Connected       bool
	HasSecret       bool
	RedirectURI     string
	LogoutCallback  string
	Check           *checkResult
	EndUpstream     bool
	ConfigURL       string
	ClientID        string
	LogoutURL       string
	DisplayName     string
	Scopes          string
	UsernameClaim   string
	UpstreamDefault string
	MFA             []Option
}

// mfaPolicies are the choices of "Second factor (MFA)".
func mfaPolicies(cur string) []Option {
	opts := []Option{
		{Value: domain.MFAOff, Label: "Off: no second factor, no passkey sign-in"},
		{Value: domain.MFAOptional, Label: "Optional: users who set one up are asked for it"},
		{Value: domain.MFAAdmins, Label: "Admins: required for users with role ADMIN"},
		{Value: domain.MFARequired, Label: "Required: everyone signing in with a password"},
	}
	for i := range opts {
		opts[i].Selected = opts[i].Value == cur
	}
	return opts
}

type checkResult struct {
	OK       bool
	Issuer   string
	Found    []endpoint
	PKCE     bool
	Warnings []string
	Problem  string
}

func (p *Portal) authView(q *orgRequest) (*view, *authData, bool) {
	v := p.settingsView(q, "Authentication")
	d := &authData{
		RedirectURI: p.Directory.UpstreamRedirectURI(q.org.ID), LogoutCallback: p.Directory.UpstreamLogoutCallbackURI(q.org.ID),
		Scopes: strings.Join(domain.DefaultUpstreamScopes(), " "), UsernameClaim: domain.DefaultUpstreamUsernameClaim,
		MFA: mfaPolicies(q.org.Settings.MFA),
	}
	u, err := p.Directory.GetUpstream(q.r.Context(), q.org.ID)
	switch {
	case isNotFound(err):
	case err != nil:
		p.internalError(q.w, q.r, "upstream connection", err)
		return nil, nil, false
	default:
		d.Connected, d.HasSecret = true, len(u.ClientSecretSealed) > 0
		d.ConfigURL, d.ClientID, d.LogoutURL, d.DisplayName = u.ConfigURL, u.ClientID, u.LogoutURL, u.DisplayName
		d.Scopes, d.UsernameClaim, d.EndUpstream = strings.Join(u.Scopes, " "), u.UsernameClaim, u.EndUpstreamSession
	}
	v.Data = d
	return v, d, true
}

func (p *Portal) authentication(q *orgRequest) {
	if v, _, ok := p.authView(q); ok {
		p.render(q.w, q.r, http.StatusOK, "authentication", v)
	}
}

func (p *Portal) authenticationSave(q *orgRequest) {
	v, d, ok := p.authView(q)
	if !ok {
		return
	}
	f := q.r.PostForm
	secret := f.Get("client_secret")
	v.Form = f
	str := func(name string) *string { s := strings.TrimSpace(f.Get(name)); return &s }
	scopes := strings.Fields(f.Get("scopes"))
	end := f.Get("end_upstream_session") == "on"
	d.EndUpstream = end
	ch := directory.UpstreamChanges{
		ConfigURL: str("config_url"), ClientID: str("client_id"), Scopes: &scopes, UsernameClaim: str("username_claim"),
		DisplayName: str("display_name"), LogoutURL: str("logout_url"), EndUpstreamSession: &end,
	}
	if secret != "" {
		ch.ClientSecret = &secret
	}
	// The secret is write-only: never shown back, but its (empty) entry
	// lets its error show next to it.
	f["client_secret"] = []string{""}
	_, _, err := p.Directory.SetUpstream(q.r.Context(), q.admin.actor(q.r), q.org.ID, ch)
	if err != nil {
		if v.fail(err, nil) {
			p.render(q.w, q.r, http.StatusBadRequest, "authentication", v)
			return
		}
		p.internalError(q.w, q.r, "save upstream connection", err)
		return
	}
	p.redirectFlash(q.w, q.r, "/admin/o/"+q.org.ID+"/settings/authentication", "Upstream connection saved.")
}

// authenticationMFA saves the organization's second-factor policy.
func (p *Portal) authenticationMFA(q *orgRequest) {
	v, d, ok := p.authView(q)
	if !ok {
		return
	}
	v.Form = url.Values{"mfa": {q.r.PostFormValue("mfa")}}
	policy := q.r.PostFormValue("mfa")
	d.MFA = mfaPolicies(policy)
	if !p.saveOrg(q, "authentication", v, directory.OrgChanges{MFA: &policy}) {
		return
	}
	p.redirectFlash(q.w, q.r, "/admin/o/"+q.org.ID+"/settings/authentication", "Second factor policy saved: "+policy+".")
}

// authenticationCheck fetches the discovery document of the Configuration
// URL in the form (else the saved one) and shows what it found or why it
// cannot be used. Nothing is saved.
func (p *Portal) authenticationCheck(q *orgRequest) {
	v, d, ok := p.authView(q)
	if !ok {
		return
	}
	v.Form = q.r.PostForm
	v.Form.Del("client_secret")
	configURL := strings.TrimSpace(q.r.PostFormValue("config_url"))
	if configURL == "" {
		configURL = d.ConfigURL
	}
	if _, has := q.r.PostForm["end_upstream_session"]; has || q.r.PostForm.Has("config_url") {
		d.EndUpstream = q.r.PostFormValue("end_upstream_session") == "on"
	}
	if err := domain.CheckHTTPURL("config_url", configURL, true); err != nil {
		v.Form.Set("config_url", configURL)
		v.fail(err, nil)
		p.render(q.w, q.r, http.StatusBadRequest, "authentication", v)
		return
	}
	res, err := p.Directory.CheckUpstream(q.r.Context(), q.admin.actor(q.r), q.org.ID,
		directory.UpstreamProbe{ConfigURL: &configURL, EndUpstreamSession: &d.EndUpstream})
	if err != nil {
		if v.fail(err, nil) {
			p.render(q.w, q.r, http.StatusBadRequest, "authentication", v)
			return
		}
		p.internalError(q.w, q.r, "check upstream", err)
		return
	}
	d.Check = checkView(res)
	p.render(q.w, q.r, http.StatusOK, "authentication", v)
}

// checkView turns the directory's check into what the page shows.
func checkView(c *directory.UpstreamCheck) *checkResult {
	if !c.OK {
		res := &checkResult{Problem: "the check did not complete"}
		if c.Error != nil {
			res.Problem = c.Error.Detail
			if c.Error.URL != "" {
				res.Problem += " (" + c.Error.URL + ")"
			}
		}
		return res
	}
	m := c.Found
	res := &checkResult{OK: true, Issuer: m.Issuer, PKCE: m.SupportsPKCE(), Warnings: c.Warnings}
	for _, e := range []endpoint{
		{"Authorization endpoint", m.AuthorizationEndpoint}, {"Token endpoint", m.TokenEndpoint},
		{"UserInfo endpoint", m.UserinfoEndpoint}, {"JWKS URI", m.JWKSURI}, {"End session endpoint", m.EndSessionEndpoint},
	} {
		if e.URL != "" {
			res.Found = append(res.Found, e)
		}
	}
	return res
}

func (p *Portal) authenticationRemove(q *orgRequest) {
	if err := p.Directory.DeleteUpstream(q.r.Context(), q.admin.actor(q.r), q.org.ID); err != nil {
		if v, _, ok := p.authView(q); ok {
			v.Form = url.Values{}
			if v.fail(err, nil) {
				p.render(q.w, q.r, http.StatusBadRequest, "authentication", v)
				return
			}
		}
		if !isNotFound(err) {
			p.internalError(q.w, q.r, "remove upstream connection", err)
			return
		}
	}
	p.redirectFlash(q.w, q.r, "/admin/o/"+q.org.ID+"/settings/authentication", "Upstream connection removed.")
}
