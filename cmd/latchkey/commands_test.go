package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
)

func TestUnknownOrganization_FailsWithExitCode1AndAClearMessage(t *testing.T) {
	tests := [][]string{
		{"org", "show", "nope"},
		{"org", "update", "nope", "--name", "X"},
		{"org", "delete", "nope", "--yes"},
		{"org", "api-key", "show", "nope"},
		{"org", "api-key", "rotate", "nope"},
		{"user", "create", "--org", "nope", "alice"},
		{"user", "list", "--org", "nope"},
		{"user", "show", "--org", "nope", "alice"},
		{"app", "create", "--org", "nope", "--name", "W", "--redirect-uri", "https://w.example/cb"},
		{"app", "list", "--org", "nope"},
		{"keys", "list", "--org", "nope"},
		{"keys", "rotate", "--org", "nope"},
	}
	c := newCLI(t)
	for _, args := range tests {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			wantFailure(t, c.run(args...), 1, `organization "nope" not found`)
		})
	}
	if n := c.count("org", "list"); n != 0 {
		t.Errorf("%d organizations appeared", n)
	}
}

func TestBadUsage_ExitsWith2AndSaysWhatIsWrong(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"unknown subcommand", []string{"org", "frobnicate"}, `unknown command "frobnicate"`},
		{"group without subcommand", []string{"user"}, "needs a subcommand"},
		{"unknown flag", []string{"org", "list", "--colour"}, "unknown flag"},
		{"missing argument", []string{"org", "create", "--name", "Acme"}, "needs ID"},
		{"extra argument", []string{"org", "show", "acme", "beta"}, `unexpected "beta"`},
		{"missing --org", []string{"user", "list"}, "--org is required"},
		{"bad --limit", []string{"user", "list", "--org", "acme", "--limit", "0"}, "--limit"},
		{"bad setting", []string{"org", "list", "--log-level", "loud"}, "log-level"},
		{"public flag on update", []string{"app", "update", "--org", "acme", "x", "--public"}, "unknown flag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCLI(t)
			wantFailure(t, c.run(tt.args...), 2, tt.want)
			if _, err := os.Stat(filepath.Join(c.dir, "latchkey.db")); err == nil {
				t.Error("a refused command created the database")
			}
		})
	}
}

func TestMasterKeyGenerate_WritesAPrivateKeyFileAndNeverOverwrites(t *testing.T) {
	c := newCLI(t)
	path := filepath.Join(c.dir, "keys", "master.key")
	c.ok("master-key", "generate", path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	before, _ := os.ReadFile(path)
	if _, err := secret.LoadMasterKeyFile(path); err != nil {
		t.Errorf("generated key does not load: %v", err)
	}
	wantFailure(t, c.run("master-key", "generate", path), 2, "already exists")
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("generate overwrote an existing master key")
	}
}

func TestMasterKeyFile_IsUsedWhenGiven(t *testing.T) {
	c := newCLI(t)
	path := filepath.Join(c.dir, "explicit.key")
	c.ok("master-key", "generate", path)
	c.flags = append(c.flags, "--master-key-file", path)
	c.createOrg("acme")
	c.ok("org", "api-key", "show", "acme")
	if _, err := os.Stat(filepath.Join(c.dir, "master.key")); err == nil {
		t.Error("a master key was generated in the data directory although --master-key-file was given")
	}
}

func TestVersion_PrintsVersionAndGoVersion(t *testing.T) {
	c := newCLI(t)
	out := c.ok("version")
	if !strings.Contains(out, "latchkey dev") || !strings.Contains(out, runtime.Version()) {
		t.Errorf("version = %q", out)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(c.ok("version", "--json")), &v); err != nil {
		t.Fatal(err)
	}
	if v["version"] != "dev" || v["go"] != runtime.Version() {
		t.Errorf("version --json = %v", v)
	}
}

func TestMigrate_CreatesAnUpToDateDatabase(t *testing.T) {
	c := newCLI(t)
	out := c.ok("migrate")
	if !strings.Contains(out, "up to date") {
		t.Errorf("migrate printed %q", out)
	}
	c.ok("migrate")
	// Only the built-in operator organization, created on first start.
	if n := c.count("org", "list"); n != 1 {
		t.Errorf("%d organizations in a fresh database, want 1 (admin)", n)
	}
}

func TestAudit_NamesTheCLIAsActor(t *testing.T) {
	c := newCLI(t)
	c.createOrg("acme")
	c.ok("user", "create", "--org", "acme", "alice")
	c.ok("org", "api-key", "show", "acme")
	events, err := c.store().ListAudit(context.Background(), "acme", store.AuditFilter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range events {
		if e.Actor != "cli" {
			t.Errorf("audit event %s has actor %q, want cli", e.Action, e.Actor)
		}
		seen[e.Action] = true
	}
	for _, action := range []string{"org.create", "user.create", "org.api_key.reveal"} {
		if !seen[action] {
			t.Errorf("no %s audit event in %v", action, seen)
		}
	}
}

func TestDataDir_HoldsTheDefaultDatabaseAndMasterKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"org", "create", "acme", "--name", "Acme", "--data-dir", dir}, strings.NewReader(""), &out, &errb)
	if code != 0 {
		t.Fatalf("org create with --data-dir: exit %d: %s", code, errb.String())
	}
	for _, name := range []string{"latchkey.db", "master.key"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s is not in --data-dir: %v", name, err)
		}
	}
	out.Reset()
	if code := run(context.Background(), []string{"org", "list", "--json", "--data-dir", dir}, strings.NewReader(""), &out, &errb); code != 0 || !strings.Contains(out.String(), `"acme"`) {
		t.Errorf("org list from the same --data-dir: exit %d, %s", code, out.String())
	}
}
