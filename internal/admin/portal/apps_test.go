package portal_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

func TestApps_CreateShowsSecretOnceAndSettingsSave(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := start(t, backend)
			ctx := context.Background()
			b, _ := e.signIn("acme", "ada")
			list := b.Get(e.portal("acme") + "/apps/")
			expectContains(t, list, "Admin portal", "Create application")

			// Invalid: a redirect URI with a fragment, kept in the form.
			p := submit(t, b, e.portal("acme")+"/apps/new", "/apps/", map[string]string{
				"name": "Web", "type": "confidential", "redirect_uris": "https://app.example/cb#frag",
			})
			expectStatus(t, p, http.StatusBadRequest)
			if fieldError(p, "redirect_uris") == "" {
				t.Fatalf("no redirect URI error:\n%s", p.Body)
			}
			expectContains(t, p, "https://app.example/cb#frag")
			if apps, _ := e.d.Store.ListApps(ctx, "acme"); len(apps) != 1 {
				t.Fatalf("%d apps after a refused create", len(apps))
			}

			p = submit(t, b, e.portal("acme")+"/apps/new", "/apps/", map[string]string{
				"name": "Web", "type": "confidential", "redirect_uris": "https://app.example/cb",
				"post_logout_redirect_uris": "https://app.example/\nhttps://app.example/bye",
			})
			expectStatus(t, p, http.StatusOK)
			expectContains(t, p, "Client secret", "Other endpoints", "Rotate secret")
			if p.Header.Get("Cache-Control") != "no-store" {
				t.Fatal("secret page is cacheable")
			}
			var app string
			apps, _ := e.d.Store.ListApps(ctx, "acme")
			for _, a := range apps {
				if a.Name == "Web" {
					app = a.ClientID
					if !slices.Equal(a.PostLogoutRedirectURIs, []string{"https://app.example/", "https://app.example/bye"}) {
						t.Fatalf("post logout URIs %q", a.PostLogoutRedirectURIs)
					}
				}
			}
			if app == "" {
				t.Fatal("app not created")
			}
			// The overview later does not show the secret.
			if ov := b.Get(e.portal("acme") + "/apps/" + app + "/"); strings.Contains(ov.Body, "client-secret") {
				t.Fatal("secret shown again")
			}

			settings := e.portal("acme") + "/apps/" + app + "/settings"
			for field, bad := range map[string]string{
				"access_token_lifetime":     "1.5",
				"id_token_lifetime":         "10",
				"refresh_token_lifetime":    "abc",
				"backchannel_logout_uri":    "ftp://x",
				"post_logout_redirect_uris": "not a uri",
				"name":                      "",
			} {
				p = submit(t, b, settings, "/settings", map[string]string{field: bad})
				expectStatus(t, p, http.StatusBadRequest)
				if fieldError(p, field) == "" {
					t.Fatalf("%s=%q: no message next to it:\n%s", field, bad, p.Body)
				}
			}
			if a, _ := e.d.Store.GetApp(ctx, "acme", app); a.Name != "Web" || a.AccessTokenLifetime != 3600 {
				t.Fatalf("saved on error: %+v", a)
			}
			p = submit(t, b, settings, "/settings", map[string]string{
				"name": "Web 2", "access_token_lifetime": "1.800", "id_token_signed_response_alg": "ES256",
				"access_token_format": "jwt", "backchannel_logout_uri": "https://app.example/bc",
			})
			expectStatus(t, p, http.StatusSeeOther)
			a, _ := e.d.Store.GetApp(ctx, "acme", app)
			if a.Name != "Web 2" || a.AccessTokenLifetime != 1800 || a.IDTokenAlg != "ES256" || a.AccessTokenFormat != "jwt" || a.BackchannelLogoutURI != "https://app.example/bc" {
				t.Fatalf("not saved: %+v", a)
			}

			// Rotate secret shows a new one.
			p = submit(t, b, e.portal("acme")+"/apps/"+app+"/", "/rotate-secret", nil)
			expectStatus(t, p, http.StatusOK)
			expectContains(t, p, "Client secret rotated")

			// Delete needs the confirmation box.
			del := e.portal("acme") + "/apps/" + app + "/delete"
			p = submit(t, b, del, "/delete", map[string]string{"confirm": ""})
			expectStatus(t, p, http.StatusBadRequest)
			if fieldError(p, "confirm") == "" {
				t.Fatal("no confirmation error")
			}
			expectStatus(t, submit(t, b, del, "/delete", map[string]string{"confirm": "yes"}), http.StatusSeeOther)
			if _, err := e.d.Store.GetApp(ctx, "acme", app); err == nil {
				t.Fatal("not deleted")
			}
		})
	}
}

func TestApps_PortalAppCannotBeChangedOrDeleted(t *testing.T) {
	e := start(t, "sqlite")
	b, _ := e.signIn("acme", "ada")
	base := e.portal("acme") + "/apps/" + directory.PortalClientID
	expectContains(t, b.Get(base+"/delete"), "cannot be deleted")
	f := form(t, b.Get(base+"/settings"), "/settings")
	p := b.Submit(f, map[string]string{"confirm": "yes"})
	expectStatus(t, p, http.StatusBadRequest)
	p = b.Submit(form(t, b.Get(e.portal("acme")+"/settings/sso"), "/settings/sso"), nil) // still signed in
	_ = p
	f.Action = base + "/delete"
	expectStatus(t, b.Submit(f, map[string]string{"confirm": "yes"}), http.StatusBadRequest)
	if _, err := e.d.Store.GetApp(context.Background(), "acme", directory.PortalClientID); err != nil {
		t.Fatal("the portal application is gone")
	}
}
