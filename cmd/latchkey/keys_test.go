package main

import (
	"strings"
	"testing"
)

func countKeys(keys []map[string]any, alg, state string) int {
	n := 0
	for _, k := range keys {
		if k["alg"] == alg && k["state"] == state {
			n++
		}
	}
	return n
}

func TestKeysList_ShowsEveryAlgorithmsActiveAndNextKeyWithoutPrivateMaterial(t *testing.T) {
	c := newCLI(t)
	c.createOrg("acme")
	var keys []map[string]any
	c.json(&keys, "keys", "list", "--org", "acme")
	if len(keys) != 6 {
		t.Fatalf("%d keys, want 6 (active and next for RS256, ES256, EdDSA)", len(keys))
	}
	for _, k := range keys {
		wantKeys(t, "keys list item", k, "kid", "alg", "state", "createdAt", "activatedAt", "expiresAt")
	}
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		if countKeys(keys, alg, "active") != 1 || countKeys(keys, alg, "next") != 1 {
			t.Errorf("%s: want one active and one next key in %v", alg, keys)
		}
	}
	if keys[0]["alg"] != "RS256" || keys[0]["state"] != "active" || keys[0]["activatedAt"] == nil {
		t.Errorf("first key = %v, want the active RS256 key", keys[0])
	}
	out := c.ok("keys", "list", "--org", "acme", "--json")
	for _, secretish := range []string{"\"d\"", "PRIVATE", "sealed"} {
		if strings.Contains(out, secretish) {
			t.Errorf("keys list output contains %s", secretish)
		}
	}
}

func TestKeysRotate_PromotesTheNextKeyAndRetiresTheActiveOne(t *testing.T) {
	c := newCLI(t)
	c.createOrg("acme")
	var before, after []map[string]any
	c.json(&before, "keys", "list", "--org", "acme")
	var nextES256 any
	for _, k := range before {
		if k["alg"] == "ES256" && k["state"] == "next" {
			nextES256 = k["kid"]
		}
	}
	c.json(&after, "keys", "rotate", "--org", "acme", "--alg", "ES256")
	if countKeys(after, "ES256", "active") != 1 || countKeys(after, "ES256", "next") != 1 || countKeys(after, "ES256", "retired") != 1 {
		t.Errorf("ES256 after rotate: want active, next and retired keys: %v", after)
	}
	for _, k := range after {
		if k["alg"] == "ES256" && k["state"] == "active" && k["kid"] != nextES256 {
			t.Errorf("the active ES256 key is %v, want the previously published next key %v", k["kid"], nextES256)
		}
		if k["state"] == "retired" && k["expiresAt"] == nil {
			t.Errorf("retired key %v has no expiry", k["kid"])
		}
	}
	if countKeys(after, "RS256", "retired") != 0 || len(after) != 7 {
		t.Errorf("rotating ES256 touched other algorithms: %v", after)
	}
	c.json(&after, "keys", "rotate", "--org", "acme")
	if countKeys(after, "RS256", "retired") != 1 || countKeys(after, "EdDSA", "retired") != 1 {
		t.Errorf("keys rotate without --alg should rotate every algorithm: %v", after)
	}
}

func TestKeysRotate_RefusesAnUnknownAlgorithm(t *testing.T) {
	c := newCLI(t)
	c.createOrg("acme")
	wantFailure(t, c.run("keys", "rotate", "--org", "acme", "--alg", "HS256"), 2, "alg")
	if n := c.count("keys", "list", "--org", "acme"); n != 6 {
		t.Errorf("%d keys after a refused rotate, want 6", n)
	}
}
