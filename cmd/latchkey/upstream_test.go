package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
)

var upstreamKeys = []string{
	"orgId", "configUrl", "clientId", "hasClientSecret", "scopes", "usernameClaim", "displayName", "logoutUrl", "endUpstreamSession",
	"redirectUri", "logoutCallbackUri", "createdAt", "updatedAt",
}

const upstreamSecret = "upstream-client-secret-1"

// setUpstream creates acme's connection to configURL with upstreamSecret.
func (c *testCLI) setUpstream(configURL string, extra ...string) map[string]any {
	c.t.Helper()
	args := append([]string{"upstream", "set", "--org", "acme", "--config-url", configURL, "--client-id", "latchkey",
		"--client-secret-stdin", "--json"}, extra...)
	r := c.runIn(upstreamSecret+"\n", args...)
	if r.code != 0 {
		c.t.Fatalf("upstream set: exit %d: %s", r.code, r.stderr)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		c.t.Fatalf("upstream set output: %v\n%s", err, r.stdout)
	}
	return m
}

// storedUpstream reads acme's connection straight from the database.
func (c *testCLI) storedUpstream() (*domain.UpstreamConnection, error) {
	c.t.Helper()
	return c.store().GetUpstream(context.Background(), "acme")
}

// openSecret opens a sealed upstream secret with the CLI's master key.
func (c *testCLI) openSecret(u *domain.UpstreamConnection) string {
	c.t.Helper()
	mk, err := secret.LoadMasterKeyFile(filepath.Join(c.dir, "master.key"))
	if err != nil {
		c.t.Fatal(err)
	}
	plain, err := mk.Open(u.ClientSecretSealed, "upstream-secret/"+u.OrgID)
	if err != nil {
		c.t.Fatalf("open the upstream secret: %v", err)
	}
	return string(plain)
}

func TestUpstreamSet_CreatesTheConnectionAndNeverPrintsTheSecret(t *testing.T) {
	c := newCLI(t)
	c.createOrg("acme")
	got := c.setUpstream("https://idp.acme.example/.well-known/openid-configuration",
		"--logout-url", "https://acme.example/signed-out", "--display-name", "Acme Okta")
	wantKeys(t, "upstream set", got, upstreamKeys...)
	want := map[string]any{
		"orgId": "acme", "configUrl": "https://idp.acme.example/.well-known/openid-configuration", "clientId": "latchkey",
		"scopes": []any{"openid", "profile", "email"}, "usernameClaim": "preferred_username", "displayName": "Acme Okta",
		"logoutUrl": "https://acme.example/signed-out", "endUpstreamSession": false, "hasClientSecret": true,
		"redirectUri":       "https://sso.example.com/o/acme/callback",
		"logoutCallbackUri": "https://sso.example.com/o/acme/logout/callback",
	}
	for k, v := range want {
		if !reflect.DeepEqual(got[k], v) {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	shown := c.object("upstream", "show", "--org", "acme")
	if !reflect.DeepEqual(shown, got) {
		t.Errorf("upstream show = %v\nwant what set printed: %v", shown, got)
	}
	human := c.ok("upstream", "show", "--org", "acme")
	for _, w := range []string{"https://sso.example.com/o/acme/callback", "https://sso.example.com/o/acme/logout/callback", "never shown"} {
		if !strings.Contains(human, w) {
			t.Errorf("upstream show does not mention %q:\n%s", w, human)
		}
	}
	if strings.Contains(human, upstreamSecret) {
		t.Error("upstream show printed the client secret")
	}

	u, err := c.storedUpstream()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(u.ClientSecretSealed), upstreamSecret) {
		t.Fatal("the client secret is stored in clear")
	}
	if s := c.openSecret(u); s != upstreamSecret {
		t.Errorf("stored secret = %q", s)
	}
}

func TestUpstreamSet_UpdateChangesOnlyTheGivenFlagsAndKeepsTheSecret(t *testing.T) {
	c := newCLI(t)
	c.createOrg("acme")
	first := c.setUpstream("https://idp.acme.example/", "--logout-url", "https://acme.example/bye")
	before, _ := c.storedUpstream()

	got := c.object("upstream", "set", "--org", "acme", "--scopes", "openid email groups", "--end-upstream-session",
		"--username-claim", "upn")
	for k, v := range map[string]any{
		"scopes": []any{"openid", "email", "groups"}, "endUpstreamSession": true, "usernameClaim": "upn",
		"configUrl": first["configUrl"], "clientId": "latchkey", "logoutUrl": "https://acme.example/bye", "createdAt": first["createdAt"],
	} {
		if !reflect.DeepEqual(got[k], v) {
			t.Errorf("after update %s = %#v, want %#v", k, got[k], v)
		}
	}
	after, _ := c.storedUpstream()
	if string(after.ClientSecretSealed) != string(before.ClientSecretSealed) {
		t.Error("an update without --client-secret-stdin changed the secret")
	}

	// A new secret replaces the old one; "" clears the logout URL.
	r := c.runIn("upstream-client-secret-2\n", "upstream", "set", "--org", "acme", "--client-secret-stdin", "--logout-url", "")
	if r.code != 0 {
		t.Fatalf("set a new secret: %s", r.stderr)
	}
	if strings.Contains(r.stdout, "upstream-client-secret-2") {
		t.Error("upstream set printed the client secret")
	}
	after, _ = c.storedUpstream()
	if s := c.openSecret(after); s != "upstream-client-secret-2" {
		t.Errorf("secret after rotation = %q", s)
	}
	if after.LogoutURL != "" || !after.EndUpstreamSession {
		t.Errorf("after the second update: %+v", after)
	}
	if c.object("upstream", "set", "--org", "acme", "--end-upstream-session=false")["endUpstreamSession"] != false {
		t.Error("--end-upstream-session=false did not turn it off")
	}
}

func TestUpstreamSet_RefusesBadInputNamingTheFieldAndWritesNothing(t *testing.T) {
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  []string
	}{
		{"first set without a secret", "", []string{"--config-url", "https://idp.example/", "--client-id", "x"},
			[]string{"client_secret", "--client-secret-stdin"}},
		{"first set without a client id", "s\n", []string{"--config-url", "https://idp.example/", "--client-secret-stdin"},
			[]string{"client_id", "--client-id"}},
		{"first set without a config URL", "s\n", []string{"--client-id", "x", "--client-secret-stdin"},
			[]string{"config_url", "--config-url"}},
		{"relative config URL", "s\n", []string{"--config-url", "idp.example", "--client-id", "x", "--client-secret-stdin"},
			[]string{"config_url", "--config-url"}},
		{"ftp config URL", "s\n", []string{"--config-url", "ftp://idp.example/", "--client-id", "x", "--client-secret-stdin"},
			[]string{"config_url"}},
		{"empty secret on stdin", "\n", []string{"--config-url", "https://idp.example/", "--client-id", "x", "--client-secret-stdin"},
			[]string{"client_secret", "empty"}},
		{"scopes without openid", "s\n", []string{"--config-url", "https://idp.example/", "--client-id", "x", "--client-secret-stdin",
			"--scopes", "profile email"}, []string{"scopes", "--scopes", "openid"}},
		{"bad logout URL", "s\n", []string{"--config-url", "https://idp.example/", "--client-id", "x", "--client-secret-stdin",
			"--logout-url", "javascript:alert(1)"}, []string{"logout_url", "--logout-url"}},
		{"bad username claim", "s\n", []string{"--config-url", "https://idp.example/", "--client-id", "x", "--client-secret-stdin",
			"--username-claim", "user name"}, []string{"username_claim"}},
		{"long client id", "s\n", []string{"--config-url", "https://idp.example/", "--client-id", strings.Repeat("x", 256), "--client-secret-stdin"},
			[]string{"client_id"}},
		{"nothing to set", "", nil, []string{"nothing to set"}},
		{"bad org", "", []string{"--org", "Acme!", "--client-id", "x"}, []string{"org"}},
	}
	c := newCLI(t)
	c.createOrg("acme")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"upstream", "set"}, tc.args...)
			if !strings.Contains(strings.Join(tc.args, " "), "--org") {
				args = append(args, "--org", "acme")
			}
			wantFailure(t, c.runIn(tc.stdin, args...), 2, tc.want...)
			if _, err := c.storedUpstream(); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("a refused set stored a connection (err %v)", err)
			}
		})
	}

	// A refused update leaves the connection as it was.
	c.setUpstream("https://idp.acme.example/")
	before, _ := c.storedUpstream()
	wantFailure(t, c.run("upstream", "set", "--org", "acme", "--client-id", "y", "--config-url", ""), 2, "config_url")
	wantFailure(t, c.run("upstream", "set", "--org", "acme", "--display-name", "a\x01b"), 2, "display_name")
	after, _ := c.storedUpstream()
	if !reflect.DeepEqual(before, after) {
		t.Errorf("a refused update changed the connection:\n%+v\n%+v", before, after)
	}
}

// fakeIdP serves a discovery document naming its own URL as issuer.
func fakeIdP(t *testing.T) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/openid-configuration" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": srv.URL, "authorization_endpoint": srv.URL + "/authorize", "token_endpoint": srv.URL + "/token",
			"jwks_uri": srv.URL + "/keys", "userinfo_endpoint": srv.URL + "/userinfo",
			"id_token_signing_alg_values_supported": []string{"RS256"}, "code_challenge_methods_supported": []string{"S256"},
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestUpstreamCheck_ShowsWhatTheUpstreamOffers(t *testing.T) {
	idp := fakeIdP(t)
	c := newCLI(t)
	c.createOrg("acme")
	c.setUpstream(idp.URL + "/.well-known/openid-configuration")

	got := c.object("upstream", "check", "--org", "acme", "--outbound-allow-loopback")
	wantKeys(t, "upstream check", got, "orgId", "configUrl", "ok", "found", "warnings")
	found := got["found"].(map[string]any)
	if got["ok"] != true || found["issuer"] != idp.URL || found["tokenEndpoint"] != idp.URL+"/token" || found["pkceS256"] != true ||
		!reflect.DeepEqual(found["tokenEndpointAuthMethodsSupported"], []any{"client_secret_basic"}) {
		t.Errorf("check = %v", got)
	}
	if !reflect.DeepEqual(got["warnings"], []any{}) {
		t.Errorf("warnings = %v", got["warnings"])
	}
	human := c.ok("upstream", "check", "--org", "acme", "--outbound-allow-loopback")
	for _, w := range []string{"usable", idp.URL + "/authorize", "PKCE S256:", "yes"} {
		if !strings.Contains(human, w) {
			t.Errorf("check output does not mention %q:\n%s", w, human)
		}
	}

	// End upstream session without an end_session_endpoint is a warning.
	c.ok("upstream", "set", "--org", "acme", "--end-upstream-session")
	got = c.object("upstream", "check", "--org", "acme", "--outbound-allow-loopback")
	if w, _ := got["warnings"].([]any); len(w) != 1 || !strings.Contains(w[0].(string), "end_session_endpoint") {
		t.Errorf("warnings = %v", got["warnings"])
	}
}

func TestUpstreamCheck_FailsWithTheCategorizedReason(t *testing.T) {
	idp := fakeIdP(t)
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html>login</html>"))
	}))
	defer broken.Close()
	c := newCLI(t)
	c.createOrg("acme")
	c.setUpstream(idp.URL + "/.well-known/openid-configuration")

	// Loopback is refused unless the operator allowed it.
	wantFailure(t, c.run("upstream", "check", "--org", "acme"), 1, "unreachable", "--outbound-allow-loopback")

	c.ok("upstream", "set", "--org", "acme", "--config-url", broken.URL+"/.well-known/openid-configuration")
	r := c.run("upstream", "check", "--org", "acme", "--outbound-allow-loopback", "--json")
	if r.code != 1 || !strings.Contains(r.stderr, "not_json") {
		t.Fatalf("check of an HTML page: exit %d, stderr %q", r.code, r.stderr)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("check --json printed no JSON on failure: %v\n%s", err, r.stdout)
	}
	wantKeys(t, "failed upstream check", got, "orgId", "configUrl", "ok", "warnings", "error")
	e := got["error"].(map[string]any)
	if got["ok"] != false || e["kind"] != "not_json" || !strings.Contains(e["detail"].(string), "text/html") {
		t.Errorf("failed check = %v", got)
	}
}

func TestUpstream_ShowCheckDeleteNeedAConnection(t *testing.T) {
	c := newCLI(t)
	c.createOrg("acme")
	for _, args := range [][]string{
		{"upstream", "show", "--org", "acme"},
		{"upstream", "check", "--org", "acme"},
		{"upstream", "delete", "--org", "acme", "--yes"},
	} {
		wantFailure(t, c.run(args...), 1, "no upstream connection")
	}
	for _, args := range [][]string{
		{"upstream", "show", "--org", "nope"},
		{"upstream", "check", "--org", "nope"},
		{"upstream", "delete", "--org", "nope", "--yes"},
		{"upstream", "set", "--org", "nope", "--client-id", "x"},
	} {
		wantFailure(t, c.run(args...), 1, `organization "nope" not found`)
	}
	wantFailure(t, c.run("upstream", "show"), 2, "--org is required")
}

func TestUpstreamDelete_NeedsConfirmationAndRemovesTheConnection(t *testing.T) {
	c := newCLI(t)
	c.createOrg("acme")
	c.setUpstream("https://idp.acme.example/")
	wantFailure(t, c.run("upstream", "delete", "--org", "acme"), 2, "--yes")
	if _, err := c.storedUpstream(); err != nil {
		t.Fatalf("delete without --yes removed the connection: %v", err)
	}
	got := c.object("upstream", "delete", "--org", "acme", "--yes")
	if !reflect.DeepEqual(got, map[string]any{"orgId": "acme", "deleted": true}) {
		t.Errorf("delete = %v", got)
	}
	if _, err := c.storedUpstream(); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
	wantFailure(t, c.run("upstream", "show", "--org", "acme"), 1, "no upstream connection")
}

func TestPostgres_UpstreamCommandsWork(t *testing.T) {
	c := newPostgresCLI(t)
	c.createOrg("acme")
	got := c.setUpstream("https://idp.acme.example/", "--end-upstream-session")
	wantKeys(t, "upstream set", got, upstreamKeys...)
	if shown := c.object("upstream", "show", "--org", "acme"); !reflect.DeepEqual(shown, got) || shown["endUpstreamSession"] != true {
		t.Errorf("upstream show = %v, want %v", shown, got)
	}
	wantFailure(t, c.run("upstream", "set", "--org", "acme", "--scopes", "email"), 2, "scopes")
	c.ok("upstream", "delete", "--org", "acme", "--yes")
	wantFailure(t, c.run("upstream", "show", "--org", "acme"), 1, "no upstream connection")
}
