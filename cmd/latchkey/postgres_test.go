package main

import (
	"path/filepath"
	"testing"

	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store/testdb"
)

// newPostgresCLI runs the CLI against a fresh PostgreSQL schema with an
// explicit master key, as a production node would.
func newPostgresCLI(t *testing.T) *testCLI {
	t.Helper()
	url := testdb.PostgresURL(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "master.key")
	if _, err := secret.CreateMasterKeyFile(keyFile); err != nil {
		t.Fatal(err)
	}
	return &testCLI{t: t, dir: dir, flags: []string{
		"--database", url,
		"--data-dir", dir,
		"--master-key-file", keyFile,
		"--public-url", "https://sso.example.com",
	}}
}

func TestPostgres_ManagementCommandsWork(t *testing.T) {
	c := newPostgresCLI(t)
	c.ok("migrate")
	org := c.object("org", "create", "acme", "--name", "Acme")
	wantKeys(t, "org create", org, "id", "name", "issuer", "apiKey")
	if shown := c.object("org", "api-key", "show", "acme")["apiKey"]; shown != org["apiKey"] {
		t.Errorf("api-key show = %v, want the key printed on create", shown)
	}
	c.ok("org", "update", "acme", "--session-lifetime", "1 296 000")
	if s := c.object("org", "show", "acme")["settings"].(map[string]any); s["sessionLifetimeSeconds"] != 1296000.0 {
		t.Errorf("session lifetime = %v", s["sessionLifetimeSeconds"])
	}

	user := c.runIn("a long enough password\n", "user", "create", "--org", "acme", "alice", "--email", "alice@acme.example", "--password-stdin", "--json")
	if user.code != 0 {
		t.Fatalf("user create: %s", user.stderr)
	}
	wantFailure(t, c.run("user", "create", "--org", "acme", "ALICE"), 2, "userName")
	if n := c.count("user", "list", "--org", "acme"); n != 1 {
		t.Errorf("%d users, want 1", n)
	}

	app := c.object("app", "create", "--org", "acme", "--name", "Wiki", "--redirect-uri", "https://wiki.acme.example/callback")
	checkCreateOutput(t, app, true)
	wantKeys(t, "app show", c.object("app", "show", "--org", "acme", app["clientId"].(string)), appKeys...)
	wantFailure(t, c.run("app", "create", "--org", "acme", "--name", "Bad", "--redirect-uri", "callback"), 2, "redirect_uris")
	if n := c.count("app", "list", "--org", "acme"); n != 2 { // Wiki and the built-in Admin portal
		t.Errorf("%d applications, want 2", n)
	}

	c.ok("keys", "rotate", "--org", "acme", "--alg", "RS256")
	if n := c.count("keys", "list", "--org", "acme"); n != 7 {
		t.Errorf("%d keys after one rotation, want 7", n)
	}
	c.ok("org", "delete", "acme", "--yes")
	if n := c.count("org", "list"); n != 1 { // the operator organization stays
		t.Errorf("%d organizations after delete", n)
	}
}

func TestPostgres_RefusesToRunWithoutAnExplicitMasterKeyFile(t *testing.T) {
	c := newPostgresCLI(t)
	withKey := c.flags
	c.flags = withKey[:4] // --database and --data-dir only
	wantFailure(t, c.run("org", "create", "acme", "--name", "Acme"), 2, "master-key-file", "latchkey master-key generate")
	c.flags = withKey
	if n := c.count("org", "list"); n != 0 {
		t.Errorf("%d organizations after the refusal, want 0", n)
	}
}
