package interop_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/testdb"
	"github.com/latchkey/latchkey/internal/testkit"
	"github.com/latchkey/latchkey/internal/upstream/upstreamtest"
)

// TestOpenIDClientFederated runs rp.mjs's code-flow and rp-logout
// scenarios against an organization whose login method is its upstream
// OpenID Provider (a real oidc-provider that signs alice in without a
// form): openid-client's browser goes Latchkey → upstream → Latchkey →
// application with its own cookie jar, and on logout Latchkey →
// upstream end_session → ISS/logout/callback → application.
func TestOpenIDClientFederated(t *testing.T) {
	node := requireNode(t)
	backends := []struct {
		name     string
		database func(t *testing.T, dir string) (url string, explicitKey bool)
	}{
		{"sqlite", func(t *testing.T, dir string) (string, bool) {
			return "sqlite:" + filepath.Join(dir, "latchkey.db"), false
		}},
		{"postgres", func(t *testing.T, dir string) (string, bool) {
			return testdb.PostgresURL(t), true
		}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dir := t.TempDir()
			database, explicitKey := b.database(t, dir)
			lk := startLatchkey(t, dir, database, explicitKey)
			ctx := context.Background()
			actor := directory.Actor{Name: "interop-test"}

			// The upstream's client registers ISS/backchannel, so that an
			// upstream logout shows in Latchkey's audit log.
			up := upstreamtest.Start(t, upstreamtest.Options{
				Clients: []upstreamtest.Client{{
					ID: "latchkey-acme", Secret: "upstream-secret",
					RedirectURIs:           []string{lk.issuer + "/callback"},
					PostLogoutRedirectURIs: []string{lk.issuer + "/logout/callback"},
					BackchannelLogoutURI:   lk.issuer + "/backchannel", BackchannelLogoutSessionRequired: true,
				}},
				Accounts:  map[string]map[string]any{"u1": {"preferred_username": userName, "email": "alice@upstream.example"}},
				AutoLogin: "u1",
			})
			cfg, id, sec, end := up.Issuer, "latchkey-acme", "upstream-secret", true
			if _, _, err := lk.env.Directory.SetUpstream(ctx, actor, orgID, directory.UpstreamChanges{
				ConfigURL: &cfg, ClientID: &id, ClientSecret: &sec, EndUpstreamSession: &end,
			}); err != nil {
				t.Fatal(err)
			}
			method := domain.LoginUpstream
			if _, err := lk.env.Directory.UpdateOrg(ctx, actor, orgID, directory.OrgChanges{LoginMethod: &method}); err != nil {
				t.Fatal(err)
			}
			clientID, clientSecret := lk.createApp(t, false)
			rp := func(t *testing.T, scenario string) rpResult {
				return runRP(t, node, map[string]string{
					"ISSUER": lk.issuer, "CLIENT_ID": clientID, "CLIENT_SECRET": clientSecret,
					"CLIENT_AUTH": "client_secret_basic", "REDIRECT_URI": redirectURI,
					// No Latchkey form is ever shown: rp.mjs fails if one is.
					"USERNAME": userName, "PASSWORD": "never-asked-for", "SCENARIO": scenario,
					"POST_LOGOUT_REDIRECT_URI": postLogoutRedirectURI,
				})
			}
			newest := func(action string) *domain.AuditEvent {
				events, err := lk.env.Store.ListAudit(ctx, orgID, store.AuditFilter{Limit: 100})
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range events {
					if e.Action == action {
						return e
					}
				}
				return nil
			}

			t.Run("code-flow", func(t *testing.T) {
				res := rp(t, "code-flow")
				if res.Sub != lk.sub || !strings.EqualFold(res.PreferredUsername, userName) {
					t.Errorf("sub %q preferred_username %q, want alice's %q", res.Sub, res.PreferredUsername, lk.sub)
				}
				// It was a federated login.
				if e := newest("login.upstream"); e == nil || e.Result != "ok" || e.Actor != userName {
					t.Errorf("login.upstream audit event: %+v", e)
				}
				if req := up.LastAuthorizationRequest(t); req["client_id"] != "latchkey-acme" || req["redirect_uri"] != lk.issuer+"/callback" {
					t.Errorf("upstream authorization request: %v", req)
				}
				u, err := lk.env.Store.GetUserByName(ctx, orgID, userName)
				if err != nil || u.UpstreamIssuer != up.Issuer || u.UpstreamSubject != "u1" {
					t.Errorf("alice's upstream link: %+v %v", u, err)
				}
				t.Logf("steps: %s", strings.Join(res.Steps, ", "))
			})

			t.Run("rp-logout through the upstream", func(t *testing.T) {
				before := newest("logout.upstream_backchannel")
				res := rp(t, "rp-logout")
				// The upstream session ended too: its end_session sent
				// Latchkey a logout token for it.
				testkit.WaitWithin(t, 90*time.Second, "the upstream's back-channel logout (its session ending too)", func() bool {
					e := newest("logout.upstream_backchannel")
					return e != nil && (before == nil || e.ID != before.ID)
				})
				t.Logf("steps: %s", strings.Join(res.Steps, ", "))
			})
		})
	}
}
