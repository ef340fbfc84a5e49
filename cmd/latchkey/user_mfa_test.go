package main

import (
	"strings"
	"testing"
)

func TestUserMFA_ListResetAndOrgPolicy(t *testing.T) {
	c := newCLI(t)
	c.createOrg("acme")
	c.ok("user", "create", "--org", "acme", "alice")
	org := c.object("org", "update", "acme", "--mfa", "admins")
	if s, _ := org["settings"].(map[string]any); s["mfa"] != "admins" {
		t.Fatalf("org update --mfa admins: %v", org)
	}
	if r := c.run("org", "update", "acme", "--mfa", "always"); r.code == 0 || !strings.Contains(r.stderr, "mfa") {
		t.Fatalf("org update --mfa always: code %d, stderr %q; want a refusal naming mfa", r.code, r.stderr)
	}
	m := c.object("user", "mfa", "list", "--org", "acme", "alice")
	wantKeys(t, "user mfa list", m, "userName", "passkeys", "totp", "recoveryCodesLeft", "policy", "required")
	if m["policy"] != "admins" || m["required"] != false || m["totp"] != false {
		t.Fatalf("user mfa list = %v", m)
	}
	out := c.ok("user", "mfa", "reset", "--org", "acme", "alice")
	if !strings.Contains(out, "Recovery codes left") {
		t.Fatalf("user mfa reset printed:\n%s", out)
	}
	if r := c.run("user", "mfa", "list", "--org", "acme", "nobody"); r.code == 0 || !strings.Contains(r.stderr, "nobody") {
		t.Fatalf("unknown user: code %d, stderr %q", r.code, r.stderr)
	}
}
