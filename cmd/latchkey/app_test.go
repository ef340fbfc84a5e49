package main

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/secret"
)

var appKeys = []string{
	"clientId", "name", "public", "hasClientSecret", "redirectUris", "postLogoutRedirectUris", "backchannelLogoutUri", "grantTypes",
	"accessTokenLifetime", "idTokenLifetime", "refreshTokenLifetime", "idTokenAlg", "accessTokenFormat", "createdAt", "updatedAt",
	"refreshTokenReuseInterval", "groupsClaim",
}

// checkCreateOutput allows only the keys of the create contract.
func checkCreateOutput(t *testing.T, got map[string]any, withSecret bool) {
	t.Helper()
	for k := range got {
		if !slices.Contains([]string{"clientId", "clientSecret", "name", "orgId"}, k) {
			t.Errorf("app create printed unexpected key %q", k)
		}
	}
	if id, _ := got["clientId"].(string); id == "" {
		t.Errorf("clientId missing: %v", got)
	}
	if _, has := got["clientSecret"]; has != withSecret {
		t.Errorf("clientSecret present = %v, want %v: %v", has, withSecret, got)
	}
}

func TestAppCreate_PrintsClientIDAndSecretThatMatchesTheStore(t *testing.T) {
	c := newCLI(t)
	c.createOrg("acme")
	got := c.object("app", "create", "--org", "acme", "--name", "Wiki", "--redirect-uri", "https://wiki.acme.example/callback")
	checkCreateOutput(t, got, true)
	app, err := c.store().GetApp(context.Background(), "acme", got["clientId"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if !secret.MatchesHash(got["clientSecret"].(string), app.SecretHash) {
		t.Error("the printed client secret is not the application's")
	}
}

func TestAppCreate_PublicAppHasNoSecret(t *testing.T) {
	c := newCLI(t)
	c.createOrg("acme")
	got := c.object("app", "create", "--org", "acme", "--name", "Mobile", "--public", "--redirect-uri", "com.acme.app:/callback")
	checkCreateOutput(t, got, false)
	shown := c.object("app", "show", "--org", "acme", got["clientId"].(string))
	if shown["public"] != true {
		t.Errorf("public = %v", shown["public"])
	}
}

func TestAppShow_PrintsSettingsAndNeverASecret(t *testing.T) {
	c := newCLI(t)
	c.createOrg("acme")
	created := c.object("app", "create", "--org", "acme", "--name", "Wiki",
		"--redirect-uri", "https://wiki.acme.example/callback", "--redirect-uri", "http://localhost:3000/callback",
		"--post-logout-redirect-uri", "https://wiki.acme.example/", "--post-logout-redirect-uri", "https://wiki.acme.example/bye",
		"--backchannel-logout-uri", "https://wiki.acme.example/backchannel",
		"--id-token-alg", "ES256", "--grant-type", "authorization_code", "--grant-type", "client_credentials",
		"--access-token-format", "jwt", "--access-token-lifetime", "1.800", "--refresh-token-lifetime", "86,400", "--id-token-lifetime", "600",
		"--refresh-token-reuse-interval", "10")
	id := created["clientId"].(string)
	got := c.object("app", "show", "--org", "acme", id)
	wantKeys(t, "app show", got, appKeys...)
	want := map[string]any{
		"clientId": id, "name": "Wiki", "public": false,
		"redirectUris":           []any{"https://wiki.acme.example/callback", "http://localhost:3000/callback"},
		"postLogoutRedirectUris": []any{"https://wiki.acme.example/", "https://wiki.acme.example/bye"},
		"backchannelLogoutUri":   "https://wiki.acme.example/backchannel",
		"grantTypes":             []any{"authorization_code", "client_credentials"},
		"accessTokenLifetime":    1800.0, "refreshTokenLifetime": 86400.0, "idTokenLifetime": 600.0,
		"idTokenAlg": "ES256", "accessTokenFormat": "jwt", "refreshTokenReuseInterval": 10.0,
	}
	for k, v := range want {
		if !reflect.DeepEqual(got[k], v) {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	if out := c.ok("app", "show", "--org", "acme", id); strings.Contains(out, created["clientSecret"].(string)) {
		t.Error("app show printed the client secret")
	}
	var list []map[string]any
	c.json(&list, "app", "list", "--org", "acme")
	// The list also has the built-in Admin portal application.
	list = slices.DeleteFunc(list, func(a map[string]any) bool { return a["clientId"] == "admin-portal" })
	if len(list) != 1 || !reflect.DeepEqual(list[0], got) {
		t.Errorf("app list = %v, want [%v]", list, got)
	}
}

func TestAppCreate_UsesDefaultsForFlagsNotGiven(t *testing.T) {
	c := newCLI(t)
	c.createOrg("acme")
	id := c.object("app", "create", "--org", "acme", "--name", "Wiki", "--redirect-uri", "https://w.example/cb")["clientId"].(string)
	got := c.object("app", "show", "--org", "acme", id)
	if got["idTokenAlg"] != "RS256" || got["accessTokenFormat"] != "opaque" || got["accessTokenLifetime"] != 3600.0 ||
		!reflect.DeepEqual(got["grantTypes"], []any{"authorization_code", "refresh_token"}) ||
		!reflect.DeepEqual(got["postLogoutRedirectUris"], []any{}) {
		t.Errorf("defaults = %v", got)
	}
}

func TestAppCreate_RefusesBadInputNamingTheFieldAndWritesNothing(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		field string
	}{
		{"relative redirect URI", []string{"--name", "W", "--redirect-uri", "/callback"}, "redirect_uris"},
		{"redirect URI with fragment", []string{"--name", "W", "--redirect-uri", "https://w.example/cb#x"}, "redirect_uris"},
		{"no redirect URI for the code grant", []string{"--name", "W"}, "redirect_uris"},
		{"relative post-logout URI", []string{"--name", "W", "--redirect-uri", "https://w.example/cb", "--post-logout-redirect-uri", "bye"}, "post_logout_redirect_uris"},
		{"bad back-channel URI", []string{"--name", "W", "--redirect-uri", "https://w.example/cb", "--backchannel-logout-uri", "ftp://w.example/bc"}, "backchannel_logout_uri"},
		{"missing name", []string{"--redirect-uri", "https://w.example/cb"}, "name"},
		{"unknown alg", []string{"--name", "W", "--redirect-uri", "https://w.example/cb", "--id-token-alg", "HS256"}, "id_token_signed_response_alg"},
		{"unknown grant type", []string{"--name", "W", "--redirect-uri", "https://w.example/cb", "--grant-type", "password"}, "grant_types"},
		{"public client_credentials", []string{"--name", "W", "--public", "--redirect-uri", "https://w.example/cb", "--grant-type", "client_credentials"}, "grant_types"},
		{"unknown token format", []string{"--name", "W", "--redirect-uri", "https://w.example/cb", "--access-token-format", "saml"}, "access_token_format"},
		{"garbage lifetime", []string{"--name", "W", "--redirect-uri", "https://w.example/cb", "--access-token-lifetime", "1h"}, "access_token_lifetime"},
		{"lifetime too long", []string{"--name", "W", "--redirect-uri", "https://w.example/cb", "--id-token-lifetime", "1.000.000"}, "id_token_lifetime"},
		{"lifetime too short", []string{"--name", "W", "--redirect-uri", "https://w.example/cb", "--refresh-token-lifetime", "5"}, "refresh_token_lifetime"},
	}
	c := newCLI(t)
	c.createOrg("acme")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantFailure(t, c.run(append([]string{"app", "create", "--org", "acme"}, tt.args...)...), 2, tt.field)
			if n := c.count("app", "list", "--org", "acme"); n != 1 { // the built-in Admin portal
				t.Errorf("%d applications after a refused create, want 1", n)
			}
		})
	}
}

func TestAppUpdate_ChangesOnlyTheFlagsGivenAndListsAreReplaced(t *testing.T) {
	c := newCLI(t)
	c.createOrg("acme")
	id := c.object("app", "create", "--org", "acme", "--name", "Wiki",
		"--redirect-uri", "https://a.example/cb", "--redirect-uri", "https://b.example/cb",
		"--post-logout-redirect-uri", "https://a.example/")["clientId"].(string)
	before := c.object("app", "show", "--org", "acme", id)
	got := c.object("app", "update", "--org", "acme", id, "--redirect-uri", "https://c.example/cb", "--access-token-lifetime", "7,200")
	if !reflect.DeepEqual(got["redirectUris"], []any{"https://c.example/cb"}) || got["accessTokenLifetime"] != 7200.0 {
		t.Errorf("after update: redirectUris %v, accessTokenLifetime %v", got["redirectUris"], got["accessTokenLifetime"])
	}
	for _, k := range []string{"name", "postLogoutRedirectUris", "grantTypes", "idTokenAlg", "createdAt"} {
		if !reflect.DeepEqual(got[k], before[k]) {
			t.Errorf("%s changed from %v to %v without its flag", k, before[k], got[k])
		}
	}
	got = c.object("app", "update", "--org", "acme", id, "--post-logout-redirect-uri", "")
	if !reflect.DeepEqual(got["postLogoutRedirectUris"], []any{}) {
		t.Errorf("--post-logout-redirect-uri \"\" should clear the list, got %v", got["postLogoutRedirectUris"])
	}
}

func TestAppUpdate_RefusesBadInputAndChangesNothing(t *testing.T) {
	c := newCLI(t)
	c.createOrg("acme")
	id := c.object("app", "create", "--org", "acme", "--name", "Wiki", "--redirect-uri", "https://a.example/cb")["clientId"].(string)
	before := c.object("app", "show", "--org", "acme", id)
	for _, tt := range []struct {
		args  []string
		field string
	}{
		{[]string{"--name", "New", "--redirect-uri", "relative"}, "redirect_uris"},
		{[]string{"--redirect-uri", ""}, "redirect_uris"},
		{[]string{"--id-token-alg", "none"}, "id_token_signed_response_alg"},
		{[]string{"--refresh-token-lifetime", "1,0"}, "refresh_token_lifetime"},
	} {
		wantFailure(t, c.run(append([]string{"app", "update", "--org", "acme", id}, tt.args...)...), 2, tt.field)
	}
	wantFailure(t, c.run("app", "update", "--org", "acme", id), 2, "nothing to change")
	if after := c.object("app", "show", "--org", "acme", id); !reflect.DeepEqual(after, before) {
		t.Errorf("application changed by refused updates:\nbefore %v\nafter  %v", before, after)
	}
}

func TestAppRotateSecret_ReplacesTheSecret(t *testing.T) {
	c := newCLI(t)
	c.createOrg("acme")
	created := c.object("app", "create", "--org", "acme", "--name", "Wiki", "--redirect-uri", "https://a.example/cb")
	id := created["clientId"].(string)
	got := c.object("app", "rotate-secret", "--org", "acme", id)
	wantKeys(t, "app rotate-secret", got, "clientId", "clientSecret")
	if got["clientId"] != id || got["clientSecret"] == created["clientSecret"] {
		t.Fatalf("rotate-secret = %v", got)
	}
	app, err := c.store().GetApp(context.Background(), "acme", id)
	if err != nil {
		t.Fatal(err)
	}
	if !secret.MatchesHash(got["clientSecret"].(string), app.SecretHash) || secret.MatchesHash(created["clientSecret"].(string), app.SecretHash) {
		t.Error("the stored secret is not the rotated one")
	}

	public := c.object("app", "create", "--org", "acme", "--name", "SPA", "--public", "--redirect-uri", "https://spa.example/cb")
	wantFailure(t, c.run("app", "rotate-secret", "--org", "acme", public["clientId"].(string)), 2, "client_secret")
}

func TestAppDelete_NeedsYes(t *testing.T) {
	c := newCLI(t)
	c.createOrg("acme")
	id := c.object("app", "create", "--org", "acme", "--name", "Wiki", "--redirect-uri", "https://a.example/cb")["clientId"].(string)
	wantFailure(t, c.run("app", "delete", "--org", "acme", id), 2, "--yes")
	if n := c.count("app", "list", "--org", "acme"); n != 2 { // with the built-in Admin portal
		t.Fatal("application gone after a refused delete")
	}
	c.ok("app", "delete", "--org", "acme", id, "--yes")
	if n := c.count("app", "list", "--org", "acme"); n != 1 {
		t.Fatalf("%d applications after delete --yes", n)
	}
	wantFailure(t, c.run("app", "show", "--org", "acme", id), 1, "not found")
	wantFailure(t, c.run("app", "delete", "--org", "acme", id, "--yes"), 1, "not found")
}

func TestAppUpdate_RefreshTokenReuseInterval(t *testing.T) {
	c := newCLI(t)
	c.createOrg("acme")
	id := c.object("app", "create", "--org", "acme", "--name", "Wiki", "--redirect-uri", "https://wiki.acme.example/cb")["clientId"].(string)
	if got := c.object("app", "show", "--org", "acme", id)["refreshTokenReuseInterval"]; got != 30.0 {
		t.Fatalf("default refreshTokenReuseInterval = %v, want 30", got)
	}
	if got := c.object("app", "update", "--org", "acme", id, "--refresh-token-reuse-interval", "0")["refreshTokenReuseInterval"]; got != 0.0 {
		t.Fatalf("after --refresh-token-reuse-interval 0: %v", got)
	}
	if out := c.ok("app", "show", "--org", "acme", id); !strings.Contains(out, "Refresh token reuse interval") {
		t.Errorf("app show does not show the reuse interval:\n%s", out)
	}
	wantFailure(t, c.run("app", "update", "--org", "acme", id, "--refresh-token-reuse-interval", "301"), 2,
		"refresh_token_reuse_interval (--refresh-token-reuse-interval)", "300")
	wantFailure(t, c.run("app", "update", "--org", "acme", id, "--refresh-token-reuse-interval", "-1"), 2, "--refresh-token-reuse-interval")
	if got := c.object("app", "show", "--org", "acme", id)["refreshTokenReuseInterval"]; got != 0.0 {
		t.Fatalf("a refused update changed the interval: %v", got)
	}
}
