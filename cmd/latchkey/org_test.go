package main

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
)

func TestOrgCreate_PrintsIDNameIssuerAndAPIKey(t *testing.T) {
	c := newCLI(t)
	got := c.object("org", "create", "my-community", "--name", "My Community")
	wantKeys(t, "org create", got, "id", "name", "issuer", "apiKey")
	if got["id"] != "my-community" || got["name"] != "My Community" {
		t.Errorf("id, name = %v, %v", got["id"], got["name"])
	}
	if got["issuer"] != "https://sso.example.com/o/my-community" {
		t.Errorf("issuer = %v, want PUBLIC_URL/o/ID", got["issuer"])
	}
	key, _ := got["apiKey"].(string)
	if !strings.HasPrefix(key, "lk_org_") {
		t.Errorf("apiKey = %q, want an lk_org_ key", key)
	}
	if _, err := c.store().FindAPIKey(context.Background(), "my-community", secret.Hash(key), time.Now()); err != nil {
		t.Errorf("the printed API key is not the organization's: %v", err)
	}
}

func TestOrgCreate_HumanOutputShowsIssuerAndKey(t *testing.T) {
	c := newCLI(t)
	out := c.ok("org", "create", "acme", "--name", "Acme")
	for _, want := range []string{"acme", "https://sso.example.com/o/acme", "/.well-known/openid-configuration", "lk_org_"} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not mention %q:\n%s", want, out)
		}
	}
}

func TestOrgShowAndList_PrintSettingsAndTimestamps(t *testing.T) {
	c := newCLI(t)
	c.createOrg("acme")
	c.createOrg("beta")
	got := c.object("org", "show", "acme")
	wantKeys(t, "org show", got, "id", "name", "issuer", "settings", "createdAt", "updatedAt")
	settings, _ := got["settings"].(map[string]any)
	wantKeys(t, "org settings", settings, "ssoEnabled", "sessionLifetimeSeconds", "ticketLifetimeSeconds", "authRedirectUrl", "loginMethod", "mfa")
	if settings["ssoEnabled"] != true || settings["sessionLifetimeSeconds"] != 36000.0 || settings["loginMethod"] != "password" {
		t.Errorf("new organization settings = %v, want SSO on, 36000 s, password", settings)
	}
	if _, err := time.Parse(time.RFC3339, got["createdAt"].(string)); err != nil {
		t.Errorf("createdAt: %v", err)
	}

	var list []map[string]any
	c.json(&list, "org", "list")
	if len(list) != 2 || list[0]["id"] != "acme" || list[1]["id"] != "beta" {
		t.Fatalf("org list = %v, want acme and beta", list)
	}
	wantKeys(t, "org list item", list[0], "id", "name", "issuer", "settings", "createdAt", "updatedAt")
}

func TestOrgList_PrintsAnEmptyJSONArrayForNoOrganizations(t *testing.T) {
	c := newCLI(t)
	if out := strings.TrimSpace(c.ok("org", "list", "--json")); out != "[]" {
		t.Errorf("org list --json = %q, want []", out)
	}
}

func TestOrgUpdate_SessionLifetimeAcceptsThousandsSeparators(t *testing.T) {
	for _, in := range []string{"1.296.000", "1,296,000", "1 296 000", "1296000"} {
		t.Run(in, func(t *testing.T) {
			c := newCLI(t)
			c.createOrg("acme")
			out := c.ok("org", "update", "acme", "--session-lifetime", in)
			if !strings.Contains(out, "15 days") {
				t.Errorf("org update output does not say the lifetime in words (15 days):\n%s", out)
			}
			settings := c.object("org", "show", "acme")["settings"].(map[string]any)
			if settings["sessionLifetimeSeconds"] != 1296000.0 {
				t.Errorf("sessionLifetimeSeconds = %v, want 1296000", settings["sessionLifetimeSeconds"])
			}
		})
	}
}

func TestOrgUpdate_ChangesOnlyTheFlagsGiven(t *testing.T) {
	c := newCLI(t)
	c.createOrg("acme")
	got := c.object("org", "update", "acme", "--sso=off", "--ticket-lifetime", "120",
		"--auth-redirect-url", "https://acme.example/login", "--login-method", "platform")
	s := got["settings"].(map[string]any)
	if s["ssoEnabled"] != false || s["ticketLifetimeSeconds"] != 120.0 || s["authRedirectUrl"] != "https://acme.example/login" || s["loginMethod"] != "platform" {
		t.Errorf("settings after update = %v", s)
	}
	if got["name"] != "Org acme" || s["sessionLifetimeSeconds"] != 36000.0 {
		t.Errorf("flags not given changed: name %v, session lifetime %v", got["name"], s["sessionLifetimeSeconds"])
	}
	got = c.object("org", "update", "acme", "--name", "Acme Inc", "--sso")
	if got["name"] != "Acme Inc" || got["settings"].(map[string]any)["ssoEnabled"] != true {
		t.Errorf("after --name and bare --sso: %v", got)
	}
}

func TestOrgUpdate_RefusesBadInputNamingTheFieldAndChangesNothing(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		field string
	}{
		{"garbage lifetime", []string{"--session-lifetime", "fifteen days"}, "session_lifetime_seconds"},
		{"decimal lifetime", []string{"--session-lifetime", "1.5"}, "session_lifetime_seconds"},
		{"irregular groups", []string{"--session-lifetime", "12,96,000"}, "session_lifetime_seconds"},
		{"negative lifetime", []string{"--session-lifetime", "-60"}, "session_lifetime_seconds"},
		{"lifetime too short", []string{"--session-lifetime", "59"}, "session_lifetime_seconds"},
		{"lifetime too long", []string{"--session-lifetime", "31.536.001"}, "session_lifetime_seconds"},
		{"ticket lifetime out of range", []string{"--ticket-lifetime", "5"}, "ticket_lifetime_seconds"},
		{"sso neither on nor off", []string{"--sso=maybe"}, "sso_enabled"},
		{"unknown login method", []string{"--login-method", "magic"}, "login_method"},
		{"platform login without redirect URL", []string{"--login-method", "platform"}, "login_method"},
		{"relative auth redirect URL", []string{"--auth-redirect-url", "/login"}, "auth_redirect_url"},
		{"empty name", []string{"--name", " "}, "name"},
		{"one bad flag among good ones", []string{"--name", "New", "--session-lifetime", "1.296.000", "--login-method", "x"}, "login_method"},
	}
	c := newCLI(t)
	c.createOrg("acme")
	before := c.object("org", "show", "acme")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.run(append([]string{"org", "update", "acme"}, tt.args...)...)
			wantFailure(t, r, 2, tt.field)
			if after := c.object("org", "show", "acme"); !reflect.DeepEqual(after, before) {
				t.Errorf("organization changed by a refused update:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

func TestOrgUpdate_RefusesWhenNothingIsGiven(t *testing.T) {
	c := newCLI(t)
	c.createOrg("acme")
	wantFailure(t, c.run("org", "update", "acme"), 2, "nothing to change")
}

func TestOrgCreate_RefusesInvalidOrDuplicateIDAndWritesNothing(t *testing.T) {
	tests := []struct {
		name, id, orgName, field string
	}{
		{"upper case", "Acme", "Acme", "id"},
		{"underscore", "my_org", "Acme", "id"},
		{"one character", "a", "Acme", "id"},
		{"space inside", "ac me", "Acme", "id"},
		{"too long", strings.Repeat("a", 64), "Acme", "id"},
		{"duplicate", "taken", "Acme", "id"},
		{"missing name", "acme", "", "name"},
	}
	c := newCLI(t)
	c.createOrg("taken")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantFailure(t, c.run("org", "create", tt.id, "--name", tt.orgName), 2, tt.field)
			if n := c.count("org", "list"); n != 1 {
				t.Errorf("%d organizations after a refused create, want 1", n)
			}
		})
	}
}

func TestOrgDelete_RefusesWithoutYes(t *testing.T) {
	c := newCLI(t)
	c.createOrg("acme")
	wantFailure(t, c.run("org", "delete", "acme"), 2, "--yes")
	if n := c.count("org", "list"); n != 1 {
		t.Fatalf("organization gone after a refused delete (%d left)", n)
	}
	c.ok("org", "delete", "acme", "--yes")
	if n := c.count("org", "list"); n != 0 {
		t.Fatalf("%d organizations after delete --yes, want 0", n)
	}
	wantFailure(t, c.run("org", "show", "acme"), 1, `organization "acme" not found`)
}

func TestOrgDelete_IsAuditedInTheOperatorOrganization(t *testing.T) {
	c := newCLI(t)
	c.ok("migrate")
	c.createOrg("acme")
	c.ok("org", "delete", "acme", "--yes")
	events, err := c.store().ListAudit(context.Background(), directory.OperatorOrgID, store.AuditFilter{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if e.Action == "org.delete" {
			if e.Target != "acme" || e.Actor != "cli" || e.Result != "ok" {
				t.Errorf("org.delete event = %+v", e)
			}
			return
		}
	}
	t.Errorf("no org.delete audit event in the operator organization")
}

func TestOrgAPIKeyRotate_OldKeyWorksUntilTheOverlapEnds(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		overlap time.Duration
	}{
		{"default overlap of 24h", nil, 24 * time.Hour},
		{"chosen overlap", []string{"--overlap", "90m"}, 90 * time.Minute},
		{"no overlap", []string{"--overlap", "0"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCLI(t)
			oldKey := c.createOrg("acme")
			rotated := time.Now()
			got := c.object(append([]string{"org", "api-key", "rotate", "acme"}, tt.args...)...)
			newKey, _ := got["apiKey"].(string)
			if newKey == "" || newKey == oldKey {
				t.Fatalf("rotate printed %v, want a new key", got)
			}
			if shown := c.object("org", "api-key", "show", "acme")["apiKey"]; shown != newKey {
				t.Errorf("api-key show = %v after rotate, want the new key", shown)
			}
			st, ctx := c.store(), context.Background()
			found := func(key string, at time.Time) bool {
				_, err := st.FindAPIKey(ctx, "acme", secret.Hash(key), at)
				return err == nil
			}
			if tt.overlap > 0 && !found(oldKey, rotated.Add(tt.overlap-time.Minute)) {
				t.Error("old key rejected during the overlap")
			}
			if found(oldKey, rotated.Add(tt.overlap+time.Minute)) {
				t.Error("old key still accepted after the overlap")
			}
			if !found(newKey, rotated.Add(tt.overlap+time.Hour)) {
				t.Error("new key rejected")
			}
		})
	}
}

func TestOrgAPIKey_HumanOutputIsJustTheKey(t *testing.T) {
	c := newCLI(t)
	c.createOrg("acme")
	rotated := c.run("org", "api-key", "rotate", "acme")
	shown := c.ok("org", "api-key", "show", "acme")
	if rotated.code != 0 || strings.TrimSpace(rotated.stdout) != strings.TrimSpace(shown) || !strings.HasPrefix(shown, "lk_org_") {
		t.Errorf("rotate printed %q, show printed %q; want the same bare key", rotated.stdout, shown)
	}
	if !strings.Contains(rotated.stderr, "1 day") {
		t.Errorf("rotate did not say how long the old key keeps working: %q", rotated.stderr)
	}
}

func TestOrgAPIKeyRotate_RefusesAnOverlapOutOfRange(t *testing.T) {
	c := newCLI(t)
	key := c.createOrg("acme")
	wantFailure(t, c.run("org", "api-key", "rotate", "acme", "--overlap", "-1h"), 2, "overlap")
	wantFailure(t, c.run("org", "api-key", "rotate", "acme", "--overlap", "tomorrow"), 2, "overlap")
	if shown := c.object("org", "api-key", "show", "acme")["apiKey"]; shown != key {
		t.Error("a refused rotate changed the API key")
	}
}
