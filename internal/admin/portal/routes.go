package portal

import (
	"net/http"

	"github.com/latchkey/latchkey/web"
)

func (p *Portal) routes(mux *http.ServeMux) {
	mux.Handle("GET /admin/static/", http.StripPrefix("/admin/static/", web.PortalStatic()))
	mux.HandleFunc("GET /admin/setup", p.setup)
	mux.HandleFunc("POST /admin/setup", p.setup)
	mux.HandleFunc("POST /admin/signout", p.signOut)

	// Operators.
	mux.HandleFunc("GET /admin/{$}", p.operatorPage(p.orgList))
	mux.HandleFunc("POST /admin/orgs", p.operatorPage(p.orgCreate))
	mux.HandleFunc("GET /admin/switch", p.operatorPage(p.orgSwitch))
	mux.HandleFunc("GET /admin/orgs/{org}/delete", p.operatorPage(p.orgDeleteForm))
	mux.HandleFunc("POST /admin/orgs/{org}/delete", p.operatorPage(p.orgDelete))

	// Sign-in of an organization's portal.
	mux.HandleFunc("GET /admin/o/{org}/callback", p.callback)
	mux.HandleFunc("POST /admin/o/{org}/backchannel", p.backchannel)
	mux.HandleFunc("GET /admin/o/{org}/signed-out", p.signedOut)

	o := func(pattern string, h func(*orgRequest)) { mux.HandleFunc(pattern, p.orgPage(h)) }
	o("GET /admin/o/{org}/{$}", p.overview)

	o("GET /admin/o/{org}/settings", p.settingsRedirect)
	o("GET /admin/o/{org}/settings/sso", p.ssoSettings)
	o("POST /admin/o/{org}/settings/sso", p.ssoSettingsSave)
	o("GET /admin/o/{org}/settings/ux", p.uxSettings)
	o("POST /admin/o/{org}/settings/ux", p.uxSettingsSave)
	o("GET /admin/o/{org}/settings/integrations", p.integrations)
	o("POST /admin/o/{org}/settings/integrations/reveal", p.apiKeyReveal)
	o("POST /admin/o/{org}/settings/integrations/rotate", p.apiKeyRotate)
	o("POST /admin/o/{org}/settings/integrations/scim-tokens", p.scimTokenCreate)
	o("POST /admin/o/{org}/settings/integrations/scim-tokens/revoke", p.scimTokenRevoke)
	o("GET /admin/o/{org}/settings/authentication", p.authentication)
	o("POST /admin/o/{org}/settings/authentication", p.authenticationSave)
	o("POST /admin/o/{org}/settings/authentication/mfa", p.authenticationMFA)
	o("POST /admin/o/{org}/settings/authentication/check", p.authenticationCheck)
	o("POST /admin/o/{org}/settings/authentication/remove", p.authenticationRemove)

	o("GET /admin/o/{org}/apps/{$}", p.appList)
	o("GET /admin/o/{org}/apps/new", p.appNew)
	o("POST /admin/o/{org}/apps/{$}", p.appCreate)
	o("GET /admin/o/{org}/apps/{client}/{$}", p.appOverview)
	o("GET /admin/o/{org}/apps/{client}/settings", p.appSettings)
	o("POST /admin/o/{org}/apps/{client}/settings", p.appSettingsSave)
	o("POST /admin/o/{org}/apps/{client}/rotate-secret", p.appRotateSecret)
	o("GET /admin/o/{org}/apps/{client}/delete", p.appDeleteForm)
	o("POST /admin/o/{org}/apps/{client}/delete", p.appDelete)

	o("GET /admin/o/{org}/users/{$}", p.userList)
	o("GET /admin/o/{org}/users/new", p.userNew)
	o("POST /admin/o/{org}/users/{$}", p.userCreate)
	o("GET /admin/o/{org}/users/{user}/{$}", p.userPage)
	o("POST /admin/o/{org}/users/{user}/profile", p.userSave)
	o("POST /admin/o/{org}/users/{user}/password", p.userPassword)
	o("POST /admin/o/{org}/users/{user}/clear-password", p.userClearPassword)
	o("POST /admin/o/{org}/users/{user}/disable", p.userDisable)
	o("POST /admin/o/{org}/users/{user}/enable", p.userEnable)
	o("POST /admin/o/{org}/users/{user}/sessions/revoke", p.userRevokeSession)
	o("POST /admin/o/{org}/users/{user}/sessions/revoke-all", p.userRevokeAll)
	o("POST /admin/o/{org}/users/{user}/unlink", p.userUnlink)
	o("POST /admin/o/{org}/users/{user}/reset-mfa", p.userResetMFA)

	o("GET /admin/o/{org}/audit", p.auditLog)

	mux.HandleFunc("/admin/", p.notFound)
}
