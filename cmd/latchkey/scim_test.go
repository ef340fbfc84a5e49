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

func TestSCIMToken_CreateListRevokeAgainstARunningServer(t *testing.T) {
	inst := servertest.Start(t, "sqlite")
	inst.NewFixture(t, "acme", "https://app.example.com/cb")
	cfg := inst.Env.Config
	c := &testCLI{t: t, dir: cfg.DataDir, flags: []string{
		"--database", cfg.Database, "--data-dir", cfg.DataDir, "--master-key-file", cfg.MasterKeyFile, "--public-url", cfg.PublicURL,
	}}
	created := c.object("scim", "token", "create", "--org", "acme", "--expires", "90d", "--description", "Microsoft Entra ID")
	wantKeys(t, "scim token create", created, "id", "token", "org", "baseUrl", "expiresAt")
	tok, _ := created["token"].(string)
	if !strings.HasPrefix(tok, "lk_scim_acme.") || len(tok) < len("lk_scim_acme.")+43 {
		t.Fatalf("token %q, want lk_scim_acme. and at least 256 bits", tok)
	}
	if created["baseUrl"] != inst.Issuer("acme")+"/scim/v2" {
		t.Errorf("baseUrl %v", created["baseUrl"])
	}
	exp, err := time.Parse(time.RFC3339, created["expiresAt"].(string))
	if err != nil || time.Until(exp) < 89*24*time.Hour || time.Until(exp) > 91*24*time.Hour {
		t.Errorf("expiresAt %v (%v), want 90 days away", created["expiresAt"], err)
	}
	if _, err := inst.Env.Store.FindSCIMToken(context.Background(), "acme", secret.Hash(tok)); err != nil {
		t.Fatalf("the printed token is not stored by its hash: %v", err)
	}

	get := func() int {
		req, _ := http.NewRequest("GET", inst.Issuer("acme")+"/scim/v2/Users", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(); code != http.StatusOK {
		t.Fatalf("GET /Users with the new token: %d", code)
	}
	var list []map[string]any
	c.json(&list, "scim", "token", "list", "--org", "acme")
	if len(list) != 1 || list[0]["lastUsedAt"] == nil || list[0]["description"] != "Microsoft Entra ID" || list[0]["state"] != "active" || list[0]["token"] != nil {
		t.Fatalf("list after use = %v", list)
	}
	c.ok("scim", "token", "revoke", created["id"].(string), "--org", "acme")
	if code := get(); code != http.StatusUnauthorized {
		t.Errorf("GET after revoke: %d, want 401", code)
	}
	if r := c.run("scim", "token", "revoke", created["id"].(string), "--org", "acme"); r.code == 0 {
		t.Errorf("a second revoke succeeded")
	}
	for _, bad := range [][]string{
		{"scim", "token", "create"},
		{"scim", "token", "create", "--org", "nope"},
		{"scim", "token", "create", "--org", "acme", "--expires", "tomorrow"},
		{"scim", "token", "create", "--org", "acme", "--description", strings.Repeat("x", 201)},
	} {
		if r := c.run(bad...); r.code == 0 {
			t.Errorf("%v succeeded", bad)
		}
	}
	r := c.run("scim", "token", "create", "--org", "acme", "--expires", "never")
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); r.code != 0 || len(lines) != 1 || !strings.HasPrefix(lines[0], "lk_scim_acme.") {
		t.Errorf("human output %q (exit %d), want the token alone", r.stdout, r.code)
	}
	if !strings.Contains(r.stderr, "/o/acme/scim/v2") {
		t.Errorf("stderr does not show the SCIM base URL: %q", r.stderr)
	}
}

func TestAppGroupsClaimFlag(t *testing.T) {
	c := newCLI(t)
	c.createOrg("acme")
	app := c.object("app", "create", "--org", "acme", "--name", "Wiki", "--redirect-uri", "https://wiki.example/cb", "--groups-claim")
	if app["clientId"] == nil {
		t.Fatalf("app create: %v", app)
	}
	shown := c.object("app", "show", "--org", "acme", app["clientId"].(string))
	if shown["groupsClaim"] != true {
		t.Fatalf("groupsClaim = %v, want true", shown["groupsClaim"])
	}
	c.ok("app", "update", "--org", "acme", app["clientId"].(string), "--groups-claim=false")
	if shown = c.object("app", "show", "--org", "acme", app["clientId"].(string)); shown["groupsClaim"] != false {
		t.Fatalf("groupsClaim = %v after --groups-claim=false", shown["groupsClaim"])
	}
}
