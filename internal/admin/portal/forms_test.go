package portal_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/directory"
)

// Every form of an organization's portal refuses, and changes nothing
// for: a request without the session's token, a forged token, an admin of
// another organization (404, as for a missing org), a signed-in non-admin
// and an expired portal session.
func TestForms_EveryFormRefusesWithoutAValidAdminSession(t *testing.T) {
	e := start(t, "sqlite")
	ctx := context.Background()
	name := "Web"
	app, _, err := e.d.CreateApp(ctx, e.inst.Actor, "acme", false, directory.AppChanges{Name: &name, RedirectURIs: &[]string{"https://app.example/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	scim, _, err := e.d.CreateSCIMToken(ctx, e.inst.Actor, "acme", "Okta", 0)
	if err != nil {
		t.Fatal(err)
	}
	forms := map[string]url.Values{
		"/settings/sso":                             {"session_lifetime_seconds": {"1296000"}, "sso_enabled": {"on"}},
		"/settings/ux":                              {"auth_redirect_url": {"https://p.example/"}, "login_method": {"platform"}},
		"/settings/integrations/reveal":             {},
		"/settings/integrations/rotate":             {"overlap": {"0"}},
		"/settings/integrations/scim-tokens":        {"scim_description": {"Entra"}, "scim_expires": {"30"}},
		"/settings/integrations/scim-tokens/revoke": {"id": {scim.ID}},
		"/settings/authentication/mfa":              {"mfa": {"required"}},
		"/settings/authentication":                  {"config_url": {"https://idp.example/.well-known/openid-configuration"}, "client_id": {"c"}, "client_secret": {"secret-value"}},
		"/settings/authentication/check":            {"config_url": {"https://idp.example/.well-known/openid-configuration"}},
		"/settings/authentication/remove":           {},
		"/apps/":                                    {"name": {"X"}, "type": {"public"}, "redirect_uris": {"https://x.example/cb"}},
		"/apps/" + app.ClientID + "/settings":       {"name": {"Renamed"}, "access_token_lifetime": {"60"}, "id_token_lifetime": {"60"}, "refresh_token_lifetime": {"60"}},
		"/apps/" + app.ClientID + "/rotate-secret":  {},
		"/apps/" + app.ClientID + "/delete":         {"confirm": {"yes"}},
		"/users/":                                   {"userName": {"mallory"}, "role": {"ADMIN"}},
		"/users/bob/profile":                        {"role": {"ADMIN"}},
		"/users/bob/password":                       {"password": {"a long enough password"}},
		"/users/bob/clear-password":                 {},
		"/users/bob/disable":                        {},
		"/users/bob/enable":                         {},
		"/users/bob/sessions/revoke-all":            {},
		"/users/bob/sessions/revoke":                {"sid": {"x"}},
		"/users/bob/unlink":                         {},
		"/users/bob/reset-mfa":                      {},
	}
	auditCount := func() int {
		events, err := e.audit(ctx, 1000)
		if err != nil {
			t.Fatal(err)
		}
		return len(events)
	}
	ada, _ := e.signIn("acme", "ada")
	olga, _ := e.signIn("other", "olga")
	olgaToken := form(t, olga.Get(e.portal("other")+"/settings/sso"), "/settings/sso").Values.Get("csrf")
	bob, _ := e.signIn("acme", "bob")
	stale, _ := e.signIn("acme", "ada")
	staleToken := form(t, stale.Get(e.portal("acme")+"/settings/sso"), "/settings/sso").Values.Get("csrf")
	before := auditCount() // sign-ins are audited too

	for path, v := range forms {
		u := e.portal("acme") + path
		with := func(token string) url.Values {
			out := url.Values{}
			for k, vs := range v {
				out[k] = vs
			}
			if token != "" {
				out.Set("csrf", token)
			}
			return out
		}
		expectStatus(t, post(ada, u, with("")), http.StatusForbidden)
		expectStatus(t, post(ada, u, with("forged-token")), http.StatusForbidden)
		expectStatus(t, post(olga, u, with(olgaToken)), http.StatusNotFound)
		expectStatus(t, post(bob, u, with("")), http.StatusUnauthorized)
	}
	e.inst.Clock.Advance(31 * time.Minute)
	for path, v := range forms {
		v = url.Values(v)
		v.Set("csrf", staleToken)
		expectStatus(t, post(stale, e.portal("acme")+path, v), http.StatusUnauthorized)
	}
	if after := auditCount(); after != before {
		t.Fatalf("refused requests changed something: %d audit events, want %d", after, before)
	}
	if o := e.org("acme"); o.Settings.SessionLifetimeSeconds != 36000 || o.Settings.LoginMethod != "password" || o.Settings.MFA == "required" {
		t.Fatalf("settings changed: %+v", o.Settings)
	}
	if ts, err := e.d.ListSCIMTokens(ctx, "acme"); err != nil || len(ts) != 1 || !ts[0].RevokedAt.IsZero() {
		t.Fatalf("SCIM tokens changed: %+v, %v", ts, err)
	}
}
