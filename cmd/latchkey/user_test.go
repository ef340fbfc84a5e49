package main

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/password"
)

var userKeys = []string{"userName", "sub", "name", "email", "emailVerified", "picture", "role", "disabled", "hasPassword", "createdAt", "updatedAt"}

func TestUserCreate_PrintsTheUserWithSubAndNoPasswordHash(t *testing.T) {
	c := newCLI(t)
	c.createOrg("acme")
	got := c.object("user", "create", "--org", "acme", "Alice.Liddell",
		"--name", "Alice Liddell", "--email", "alice@acme.example", "--picture", "https://acme.example/a.png", "--role", "ADMIN")
	wantKeys(t, "user create", got, userKeys...)
	want := map[string]any{
		"userName": "Alice.Liddell", "name": "Alice Liddell", "email": "alice@acme.example", "emailVerified": false,
		"picture": "https://acme.example/a.png", "role": "ADMIN", "disabled": false,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	sub, _ := got["sub"].(string)
	if sub == "" || strings.Contains(strings.ToLower(sub), "alice") {
		t.Errorf("sub = %q, want a random id that does not reveal the userName", sub)
	}
	if shown := c.object("user", "show", "--org", "acme", "alice.liddell"); !reflect.DeepEqual(shown, got) {
		t.Errorf("user show (any case) = %v, want %v", shown, got)
	}
}

func TestUserCreate_DefaultsToRoleUserWithoutPassword(t *testing.T) {
	c := newCLI(t)
	c.createOrg("acme")
	got := c.object("user", "create", "--org", "acme", "bob")
	if got["role"] != "USER" || got["name"] != "" {
		t.Errorf("user = %v, want role USER and empty name", got)
	}
	u, err := c.store().GetUserByName(context.Background(), "acme", "bob")
	if err != nil || u.PasswordHash != "" {
		t.Errorf("user bob: %v, password hash %q; want no password", err, u.PasswordHash)
	}
}

func TestUserPasswordStdin_SetsAPasswordThatVerifies(t *testing.T) {
	c := newCLI(t)
	c.createOrg("acme")
	verify := func(pw string) bool {
		t.Helper()
		u, err := c.store().GetUserByName(context.Background(), "acme", "alice")
		if err != nil {
			t.Fatal(err)
		}
		ok, err := password.Verify(pw, u.PasswordHash)
		if err != nil {
			t.Fatalf("stored password hash: %v", err)
		}
		return ok
	}
	r := c.runIn("correct horse battery staple\n", "user", "create", "--org", "acme", "alice", "--password-stdin", "--json")
	if r.code != 0 {
		t.Fatalf("user create --password-stdin: exit %d: %s", r.code, r.stderr)
	}
	// Only hasPassword may name it: whether there is one, never which.
	if strings.Contains(r.stdout, "argon2") || strings.Contains(strings.ToLower(strings.ReplaceAll(r.stdout, `"hasPassword": true`, "")), "password") {
		t.Errorf("output mentions the password: %s", r.stdout)
	}
	if !verify("correct horse battery staple") {
		t.Error("the password read from stdin does not verify (was the newline trimmed?)")
	}
	if verify("correct horse battery staple\n") {
		t.Error("the trailing newline became part of the password")
	}

	if r := c.runIn("a new passphrase\r\n", "user", "update", "--org", "acme", "alice", "--password-stdin"); r.code != 0 {
		t.Fatalf("user update --password-stdin: exit %d: %s", r.code, r.stderr)
	}
	if !verify("a new passphrase") || verify("correct horse battery staple") {
		t.Error("user update --password-stdin did not replace the password")
	}
}

func TestUserCreate_RefusesBadInputNamingTheFieldAndWritesNothing(t *testing.T) {
	tests := []struct {
		name  string
		stdin string
		args  []string
		field string
	}{
		{"duplicate userName in another case", "", []string{"ALICE"}, "userName"},
		{"invalid userName", "", []string{"al ice"}, "userName"},
		{"userName with a slash", "", []string{"a/b"}, "userName"},
		{"unknown role", "", []string{"bob", "--role", "OWNER"}, "role"},
		{"lower-case role", "", []string{"bob", "--role", "admin"}, "role"},
		{"bad email", "", []string{"bob", "--email", "bob"}, "email"},
		{"relative picture URL", "", []string{"bob", "--picture", "/me.png"}, "picture"},
		{"name with a control character", "", []string{"bob", "--name", "Bob\x07"}, "name"},
		{"empty password on stdin", "\n", []string{"bob", "--password-stdin"}, "password"},
		{"too short password", "short\n", []string{"bob", "--password-stdin"}, "password"},
		{"invalid org id", "", []string{"bob", "--org", "Not_An_Org"}, "org"},
	}
	c := newCLI(t)
	c.createOrg("acme")
	c.ok("user", "create", "--org", "acme", "alice")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"user", "create", "--org", "acme"}, tt.args...)
			wantFailure(t, c.runIn(tt.stdin, args...), 2, tt.field)
			if n := c.count("user", "list", "--org", "acme"); n != 1 {
				t.Errorf("%d users after a refused create, want 1", n)
			}
		})
	}
}

func TestUserUpdate_ChangesOnlyTheFlagsGiven(t *testing.T) {
	c := newCLI(t)
	c.createOrg("acme")
	before := c.object("user", "create", "--org", "acme", "alice", "--name", "Alice", "--email", "alice@acme.example")
	got := c.object("user", "update", "--org", "acme", "alice", "--role", "ADMIN", "--email-verified=true")
	if got["role"] != "ADMIN" || got["emailVerified"] != true {
		t.Errorf("after update: %v", got)
	}
	for _, k := range []string{"userName", "sub", "name", "email", "picture", "disabled", "createdAt"} {
		if got[k] != before[k] {
			t.Errorf("%s changed from %v to %v without its flag", k, before[k], got[k])
		}
	}
	got = c.object("user", "update", "--org", "acme", "alice", "--email", "")
	if got["email"] != "" || got["name"] != "Alice" {
		t.Errorf("--email \"\" should clear only the email: %v", got)
	}
}

func TestUserUpdate_RefusesBadInputAndChangesNothing(t *testing.T) {
	c := newCLI(t)
	c.createOrg("acme")
	c.ok("user", "create", "--org", "acme", "alice", "--name", "Alice")
	before := c.object("user", "show", "--org", "acme", "alice")
	for _, args := range [][]string{
		{"--role", "ROOT"},
		{"--name", "New", "--picture", "not a url"},
		{"--email-verified=maybe"},
		{},
	} {
		r := c.run(append([]string{"user", "update", "--org", "acme", "alice"}, args...)...)
		if r.code != 2 {
			t.Errorf("user update %v: exit %d, want 2 (%s)", args, r.code, r.stderr)
		}
	}
	if after := c.object("user", "show", "--org", "acme", "alice"); !reflect.DeepEqual(after, before) {
		t.Errorf("user changed by refused updates:\nbefore %v\nafter  %v", before, after)
	}
}

func TestUserDisableEnableDelete(t *testing.T) {
	c := newCLI(t)
	c.createOrg("acme")
	c.ok("user", "create", "--org", "acme", "alice")
	if got := c.object("user", "disable", "--org", "acme", "alice"); got["disabled"] != true {
		t.Errorf("after disable: disabled = %v", got["disabled"])
	}
	if got := c.object("user", "enable", "--org", "acme", "Alice"); got["disabled"] != false {
		t.Errorf("after enable: disabled = %v", got["disabled"])
	}
	wantFailure(t, c.run("user", "delete", "--org", "acme", "alice"), 2, "--yes")
	if n := c.count("user", "list", "--org", "acme"); n != 1 {
		t.Fatalf("user gone after a refused delete")
	}
	c.ok("user", "delete", "--org", "acme", "alice", "--yes")
	wantFailure(t, c.run("user", "show", "--org", "acme", "alice"), 1, `user "alice"`, "not found")
	wantFailure(t, c.run("user", "disable", "--org", "acme", "alice"), 1, `user "alice"`, "not found")
	wantFailure(t, c.run("user", "delete", "--org", "acme", "alice", "--yes"), 1, `user "alice"`, "not found")
}

func TestUserList_FiltersByQuery(t *testing.T) {
	c := newCLI(t)
	c.createOrg("acme")
	c.ok("user", "create", "--org", "acme", "alice", "--email", "alice@wonder.example")
	c.ok("user", "create", "--org", "acme", "bob", "--name", "Bob Wonder")
	c.ok("user", "create", "--org", "acme", "carol")
	var users []map[string]any
	c.json(&users, "user", "list", "--org", "acme", "--query", "WONDER")
	if len(users) != 2 || users[0]["userName"] != "alice" || users[1]["userName"] != "bob" {
		t.Errorf("user list --query WONDER = %v, want alice and bob", users)
	}
	if len(users) > 0 {
		wantKeys(t, "user list item", users[0], userKeys...)
	}
	out := c.ok("user", "list", "--org", "acme")
	for _, want := range []string{"USERNAME", "alice", "bob", "carol"} {
		if !strings.Contains(out, want) {
			t.Errorf("user list does not show %q:\n%s", want, out)
		}
	}
}

func TestUserCommands_KeepOrganizationsApart(t *testing.T) {
	c := newCLI(t)
	c.createOrg("acme")
	c.createOrg("beta")
	c.ok("user", "create", "--org", "acme", "alice")
	c.ok("user", "create", "--org", "beta", "alice")
	if n := c.count("user", "list", "--org", "beta"); n != 1 {
		t.Errorf("beta has %d users, want 1", n)
	}
	c.ok("user", "delete", "--org", "beta", "alice", "--yes")
	c.ok("user", "show", "--org", "acme", "alice")
}

// --json says whether a user has a password and whether an application has
// a client secret, never either of them.
func TestShowJSON_SaysWhetherThereIsAPasswordOrSecretNeverWhich(t *testing.T) {
	c := newCLI(t)
	c.createOrg("acme")
	if got := c.object("user", "create", "--org", "acme", "bob"); got["hasPassword"] != false {
		t.Errorf("user without a password: hasPassword = %v, want false", got["hasPassword"])
	}
	res := c.runIn("a long enough password\n", "user", "create", "--org", "acme", "alice", "--password-stdin", "--json")
	if res.code != 0 || !strings.Contains(res.stdout, `"hasPassword": true`) || strings.Contains(res.stdout, "argon2") || strings.Contains(res.stdout, "long enough") {
		t.Errorf("user with a password: %d %s", res.code, res.stdout)
	}
	if got := c.object("user", "show", "--org", "acme", "alice"); got["hasPassword"] != true {
		t.Errorf("user show: hasPassword = %v, want true", got["hasPassword"])
	}

	conf := c.object("app", "create", "--org", "acme", "--name", "Wiki", "--redirect-uri", "https://wiki.acme.example/cb")
	pub := c.object("app", "create", "--org", "acme", "--name", "Mobile", "--public", "--redirect-uri", "com.acme.app:/cb")
	for id, want := range map[string]bool{conf["clientId"].(string): true, pub["clientId"].(string): false} {
		out := c.ok("app", "show", "--org", "acme", id, "--json")
		got := c.object("app", "show", "--org", "acme", id)
		if got["hasClientSecret"] != want {
			t.Errorf("app %s: hasClientSecret = %v, want %v", id, got["hasClientSecret"], want)
		}
		if secret, _ := conf["clientSecret"].(string); secret == "" || strings.Contains(out, secret) {
			t.Errorf("app show printed the secret (or create gave none): %s", out)
		}
	}
}
