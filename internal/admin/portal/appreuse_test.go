package portal_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

func TestAppSettings_RefreshTokenReuseIntervalAndGroupsClaim(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := start(t, backend)
			ctx := context.Background()
			name, uris, alg := "Web", []string{"https://app.example/cb"}, "RS256"
			app, _, err := e.d.CreateApp(ctx, e.inst.Actor, "acme", false, directory.AppChanges{Name: &name, RedirectURIs: &uris, IDTokenAlg: &alg})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := e.signIn("acme", "ada")
			settings := e.portal("acme") + "/apps/" + app.ClientID + "/settings"
			p := b.Get(settings)
			expectContains(t, p, `<label for="refresh_token_reuse_interval">Refresh token reuse interval</label>`,
				`id="refresh_token_reuse_interval" name="refresh_token_reuse_interval" type="text" value="30"`,
				`<label for="groups_claim">Groups claim</label>`)

			// Refused values are shown next to the field; nothing is saved,
			// and the checkbox keeps what was submitted.
			for _, bad := range []string{"301", "-1", "abc", ""} {
				p = submit(t, b, settings, "/settings", map[string]string{"refresh_token_reuse_interval": bad, "groups_claim": "on", "id_token_signed_response_alg": "RS256", "access_token_format": "opaque"})
				expectStatus(t, p, http.StatusBadRequest)
				if fieldError(p, "refresh_token_reuse_interval") == "" {
					t.Fatalf("%q: no message next to the field:\n%s", bad, p.Body)
				}
				expectContains(t, p, `aria-describedby="refresh_token_reuse_interval-error refresh_token_reuse_interval-hint"`,
					`id="groups_claim" name="groups_claim" type="checkbox" checked`)
				got, _ := e.d.GetApp(ctx, "acme", app.ClientID)
				if got.RefreshTokenReuseInterval != domain.DefaultRefreshTokenReuseInterval || got.GroupsClaim {
					t.Fatalf("%q saved: %d %v", bad, got.RefreshTokenReuseInterval, got.GroupsClaim)
				}
			}

			p = submit(t, b, settings, "/settings", map[string]string{"refresh_token_reuse_interval": "0", "groups_claim": "on", "id_token_signed_response_alg": "RS256", "access_token_format": "opaque"})
			expectStatus(t, p, http.StatusSeeOther)
			got, _ := e.d.GetApp(ctx, "acme", app.ClientID)
			if got.RefreshTokenReuseInterval != 0 || !got.GroupsClaim {
				t.Fatalf("not saved: %d %v", got.RefreshTokenReuseInterval, got.GroupsClaim)
			}
			expectContains(t, b.Get(settings), `name="refresh_token_reuse_interval" type="text" value="0"`, `type="checkbox" checked aria-describedby="groups_claim-hint"`)

			// Unchecking turns the claim off.
			f := form(t, b.Get(settings), "/settings")
			f.Values.Del("groups_claim")
			expectStatus(t, b.Submit(f, map[string]string{"refresh_token_reuse_interval": "1,2", "id_token_signed_response_alg": "RS256", "access_token_format": "opaque"}), http.StatusBadRequest)
			expectStatus(t, b.Submit(f, map[string]string{"refresh_token_reuse_interval": "120", "id_token_signed_response_alg": "RS256", "access_token_format": "opaque"}), http.StatusSeeOther)
			got, _ = e.d.GetApp(ctx, "acme", app.ClientID)
			if got.RefreshTokenReuseInterval != 120 || got.GroupsClaim {
				t.Fatalf("not saved: %d %v", got.RefreshTokenReuseInterval, got.GroupsClaim)
			}
		})
	}
}
