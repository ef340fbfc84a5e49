package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

func TestAdminTokenCreate_PrintsTheTokenOnceAndStoresOnlyItsHash(t *testing.T) {
	c := newCLI(t)
	c.createOrg("acme")
	ctx := context.Background()

	op := c.object("admin", "token", "create", "--description", "ops laptop")
	wantKeys(t, "admin token create", op, "id", "token", "org", "expiresAt")
	tok, _ := op["token"].(string)
	if !strings.HasPrefix(tok, "lk_adm_") || len(tok) < len("lk_adm_")+43 {
		t.Errorf("token = %q, want lk_adm_ and at least 256 bits", tok)
	}
	if op["org"] != nil {
		t.Errorf("org = %v, want null for an operator token", op["org"])
	}
	exp, err := time.Parse(time.RFC3339, op["expiresAt"].(string))
	if err != nil {
		t.Fatalf("expiresAt: %v", err)
	}
	if d := time.Until(exp); d < 30*24*time.Hour-time.Hour || d > 30*24*time.Hour+time.Hour {
		t.Errorf("expiresAt %v is not 30 days away (the default)", exp)
	}
	stored, err := c.store().FindAdminToken(ctx, "", secret.Hash(tok))
	if err != nil {
		t.Fatalf("the printed token is not stored by its hash: %v", err)
	}
	if stored.ID != op["id"] || stored.Description != "ops laptop" {
		t.Errorf("stored token = %+v", stored)
	}

	scoped := c.object("admin", "token", "create", "--org", "acme", "--expires", "12h")
	if scoped["org"] != "acme" {
		t.Errorf("org = %v, want acme", scoped["org"])
	}
	if _, err := c.store().FindAdminToken(ctx, "acme", secret.Hash(scoped["token"].(string))); err != nil {
		t.Errorf("organization token not stored for acme: %v", err)
	}
	exp, _ = time.Parse(time.RFC3339, scoped["expiresAt"].(string))
	if d := time.Until(exp); d < 11*time.Hour || d > 13*time.Hour {
		t.Errorf("--expires 12h gave expiresAt %v", exp)
	}

	for _, never := range []string{"never", "0"} {
		if got := c.object("admin", "token", "create", "--expires", never)["expiresAt"]; got != nil {
			t.Errorf("--expires %s gave expiresAt %v, want null", never, got)
		}
	}
	exp, _ = time.Parse(time.RFC3339, c.object("admin", "token", "create", "--expires", "1d12h")["expiresAt"].(string))
	if d := time.Until(exp); d < 35*time.Hour || d > 37*time.Hour {
		t.Errorf("--expires 1d12h gave expiresAt %v", exp)
	}
}

func TestAdminTokenCreate_RefusesALifeBeyondTheMaximum(t *testing.T) {
	c := newCLI(t)
	wantFailure(t, c.run("admin", "token", "create", "--expires", "3651d"), 2, "at most 3650 days")
	if n := c.count("admin", "token", "list"); n != 0 {
		t.Errorf("%d admin tokens after a refused create, want 0", n)
	}
	c.ok("admin", "token", "create", "--expires", "3650d")
}

func TestAdminTokenCreate_HumanOutputIsOnlyTheToken(t *testing.T) {
	c := newCLI(t)
	r := c.run("admin", "token", "create", "--expires", "7d")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "lk_adm_") {
		t.Errorf("stdout = %q, want the token alone", r.stdout)
	}
	if !strings.Contains(r.stderr, "shown only now") {
		t.Errorf("stderr does not warn that the token is shown once: %q", r.stderr)
	}
}

func TestAdminTokenCreate_RefusesBadInput(t *testing.T) {
	c := newCLI(t)
	c.createOrg("acme")
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--expires", "soon"}, 2, "expires"},
		{[]string{"--expires", "-1h"}, 2, "expires"},
		{[]string{"--expires", "0h"}, 2, "expires"},
		{[]string{"--expires", "99999d"}, 2, "expires"},
		{[]string{"--org", "Not_An_Org"}, 2, "org"},
		{[]string{"--org", "nope"}, 1, `organization "nope" not found`},
		{[]string{"--description", "bell\a"}, 2, "description"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			wantFailure(t, c.run(append([]string{"admin", "token", "create"}, tt.args...)...), tt.code, tt.want)
		})
	}
	if n := c.count("admin", "token", "list"); n != 0 {
		t.Errorf("%d tokens were created by refused commands", n)
	}
}

func TestAdminTokenListAndRevoke(t *testing.T) {
	c := newCLI(t)
	c.createOrg("acme")
	c.createOrg("beta")
	op := c.object("admin", "token", "create", "--description", "ops")
	acme := c.object("admin", "token", "create", "--org", "acme")
	c.object("admin", "token", "create", "--org", "beta")

	out := c.ok("admin", "token", "list", "--json")
	for _, secretValue := range []string{op["token"].(string), acme["token"].(string)} {
		if strings.Contains(out, secretValue) || strings.Contains(out, strings.TrimPrefix(secretValue, "lk_adm_")) {
			t.Fatal("token list shows a token")
		}
	}
	var list []map[string]any
	c.json(&list, "admin", "token", "list")
	if len(list) != 3 {
		t.Fatalf("%d tokens listed, want 3", len(list))
	}
	for _, item := range list {
		wantKeys(t, "admin token list item", item, "id", "org", "description", "state", "createdAt", "expiresAt", "lastUsedAt", "revokedAt")
		if item["state"] != "active" {
			t.Errorf("new token state %v", item["state"])
		}
	}
	if n := c.count("admin", "token", "list", "--org", "acme"); n != 1 {
		t.Errorf("--org acme listed %d tokens, want 1", n)
	}
	human := c.ok("admin", "token", "list")
	if !strings.Contains(human, "(all)") || !strings.Contains(human, "ops") {
		t.Errorf("human list does not show the operator token's scope and description:\n%s", human)
	}

	got := c.object("admin", "token", "revoke", acme["id"].(string))
	if got["revoked"] != true || got["org"] != "acme" {
		t.Errorf("revoke answered %v", got)
	}
	c.ok("admin", "token", "revoke", op["id"].(string), "--json")
	var after []map[string]any
	c.json(&after, "admin", "token", "list")
	states := map[string]any{}
	for _, item := range after {
		states[item["id"].(string)] = item["state"]
		if item["state"] == "revoked" && item["revokedAt"] == nil {
			t.Errorf("revoked token without revokedAt: %v", item)
		}
	}
	if states[acme["id"].(string)] != "revoked" || states[op["id"].(string)] != "revoked" {
		t.Errorf("states after revoke = %v", states)
	}

	wantFailure(t, c.run("admin", "token", "revoke", acme["id"].(string)), 1, "already revoked")
	wantFailure(t, c.run("admin", "token", "revoke", "0000000000000000"), 1, "not found")
	wantFailure(t, c.run("admin", "token", "revoke", acme["id"].(string), "--org", "beta"), 1, "not found")
	wantFailure(t, c.run("admin", "token", "revoke"), 2, "needs ID")
}

// TestAdminToken_WorksAgainstARunningServerUntilRevoked creates a token with
// the CLI on a running server's database and uses it over HTTP.
func TestAdminToken_WorksAgainstARunningServerUntilRevoked(t *testing.T) {
	inst := servertest.Start(t, "sqlite")
	inst.NewFixture(t, "acme", "https://app.example.com/cb")
	cfg := inst.Env.Config
	c := &testCLI{t: t, dir: cfg.DataDir, flags: []string{
		"--database", cfg.Database, "--data-dir", cfg.DataDir, "--master-key-file", cfg.MasterKeyFile, "--public-url", cfg.PublicURL,
	}}
	created := c.object("admin", "token", "create", "--org", "acme", "--expires", "1h")

	get := func(path string) int {
		req, _ := http.NewRequest("GET", inst.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+created["token"].(string))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("/api/admin/orgs/acme/users"); code != http.StatusOK {
		t.Fatalf("GET with the new token: %d, want 200", code)
	}
	var list []map[string]any
	c.json(&list, "admin", "token", "list")
	if len(list) != 1 || list[0]["lastUsedAt"] == nil {
		t.Errorf("list after use = %v, want lastUsedAt set", list)
	}
	c.ok("admin", "token", "revoke", created["id"].(string))
	if code := get("/api/admin/orgs/acme/users"); code != http.StatusUnauthorized {
		t.Errorf("GET after revoke: %d, want 401", code)
	}
}

func TestParseExpires(t *testing.T) {
	good := map[string]time.Duration{
		"30d": 30 * 24 * time.Hour, "12h": 12 * time.Hour, "90m": 90 * time.Minute, "1d12h": 36 * time.Hour,
		" 7D ": 7 * 24 * time.Hour, "never": 0, "0": 0, "NEVER": 0,
	}
	for in, want := range good {
		if got, err := parseExpires(in); err != nil || got != want {
			t.Errorf("parseExpires(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "30", "-5d", "1d-1h", "1.5d", "tomorrow", "0s", "999999999d", "106751d24h"} {
		if got, err := parseExpires(in); err == nil {
			t.Errorf("parseExpires(%q) = %v, want an error", in, got)
		}
	}
}
