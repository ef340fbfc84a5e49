package upstream_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// TestFederatedLogin_OnlyKnownUsersGetIn: the upstream vouches for an
// identity, but only an existing, enabled user of the organization gets
// in, and a userName once linked to one upstream subject cannot be taken
// by another (DESIGN §6). A refused login writes no session and no link.
func TestFederatedLogin_OnlyKnownUsersGetIn(t *testing.T) {
	t.Parallel()
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			f := startFed(t, backend, fedOptions{Accounts: map[string]map[string]any{
				"u1":    {"preferred_username": "alice"},
				"u2":    {"preferred_username": "alice"}, // a reassigned username
				"ghost": {"preferred_username": "nobody"},
				"u-bob": {"preferred_username": "bob"},
				"anon":  {"name": "No Username"},
				"evil":  {"preferred_username": `<script>alert(1)</script>`},
			}})
			acme, inst, up := f.acme(), f.inst, f.up
			createUser(t, inst, "acme", "bob", true)
			createUser(t, inst, "acme", "carol", false)

			refused := func(t *testing.T, account, text, result, actor string) {
				t.Helper()
				up.SetAutoLogin(t, account)
				b := servertest.NewBrowser(t)
				fl := acme.app.request()
				p := b.Follow(b.Get(fl.url), appRedirect)
				wantErrorPage(t, p, http.StatusForbidden, text)
				if p.URL.Path != "/o/acme/callback" {
					t.Fatalf("refused at %s, want the callback", p.URL)
				}
				wantAudit(t, inst, "acme", "login.upstream", result, actor)
				acme.app.wantNoSession(t, b)
			}

			t.Run("unknown username", func(t *testing.T) {
				refused(t, "ghost", "not known", "unknown_user", "nobody")
				e := audit(t, inst, "acme", "login.upstream")
				if e.Detail["issuer"] != up.Issuer || e.Detail["subject"] != "ghost" {
					t.Fatalf("audit detail %v lacks the upstream identity", e.Detail)
				}
				if userExists(t, inst, "acme", "nobody") {
					t.Fatal("a federated login created a user")
				}
			})

			t.Run("markup in the username is shown as text", func(t *testing.T) {
				refused(t, "evil", "not known", "unknown_user", `<script>alert(1)</script>`)
				up.SetAutoLogin(t, "evil")
				b := servertest.NewBrowser(t)
				p := b.Follow(b.Get(acme.app.request().url), appRedirect)
				if strings.Contains(p.Body, "<script>alert") || !strings.Contains(p.Body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
					t.Fatalf("the upstream's username is not escaped:\n%s", p.Body)
				}
			})

			t.Run("no username claim", func(t *testing.T) {
				refused(t, "anon", "preferred_username", "no_username", "")
			})

			t.Run("disabled user", func(t *testing.T) {
				refused(t, "u-bob", "disabled", "disabled", "bob")
				if u := user(t, inst, "acme", "bob"); u.UpstreamIssuer != "" || u.UpstreamSubject != "" {
					t.Fatalf("disabled bob got linked: %q %q", u.UpstreamIssuer, u.UpstreamSubject)
				}
				if n := activeSessions(t, inst, "acme", "bob"); n != 0 {
					t.Fatalf("bob has %d sessions", n)
				}
			})

			t.Run("username reassigned upstream", func(t *testing.T) {
				// u1 signs in first and links alice to itself.
				up.SetAutoLogin(t, "u1")
				if _, c := acme.app.login(t, servertest.NewBrowser(t)); c.Subject != acme.fx.Sub {
					t.Fatalf("alice signed in as %q", c.Subject)
				}
				before := activeSessions(t, inst, "acme", "alice")
				// u2 now claims the same username: refused.
				refused(t, "u2", "linked to another identity", "subject_mismatch", "alice")
				if u := user(t, inst, "acme", "alice"); u.UpstreamIssuer != up.Issuer || u.UpstreamSubject != "u1" {
					t.Fatalf("alice's link changed to %q %q", u.UpstreamIssuer, u.UpstreamSubject)
				}
				if n := activeSessions(t, inst, "acme", "alice"); n != before {
					t.Fatalf("alice has %d sessions, had %d", n, before)
				}

				// The linked subject with its username in another case is still alice.
				up.SetAccount(t, "u1", map[string]any{"preferred_username": "ALICE"})
				up.SetAutoLogin(t, "u1")
				if _, c := acme.app.login(t, servertest.NewBrowser(t)); c.Subject != acme.fx.Sub {
					t.Fatalf("ALICE signed in as %q", c.Subject)
				}
			})

			t.Run("linked subject claims another username", func(t *testing.T) {
				// u1 is linked to alice; now it says it is carol.
				up.SetAccount(t, "u1", map[string]any{"preferred_username": "carol"})
				defer up.SetAccount(t, "u1", map[string]any{"preferred_username": "alice"})
				refused(t, "u1", "linked to another account", "subject_mismatch", "carol")
				if u := user(t, inst, "acme", "carol"); u.UpstreamIssuer != "" || u.UpstreamSubject != "" {
					t.Fatalf("carol got linked: %q %q", u.UpstreamIssuer, u.UpstreamSubject)
				}
				if n := activeSessions(t, inst, "acme", "carol"); n != 0 {
					t.Fatalf("carol has %d sessions", n)
				}
			})
		})
	}
}
