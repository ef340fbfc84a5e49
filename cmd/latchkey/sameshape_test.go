package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/testkit"
)

// The CLI's --json and the admin API print the same object for the same
// organization, user, application and upstream connection, to the byte
// (once the CLI's indentation is taken out).
func TestCLIJSONAndAdminAPI_PrintTheSameBytes(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			inst := servertest.Start(t, backend)
			fx := inst.NewFixture(t, "acme", "https://app.example.com/<callback>?a=1&b=2")
			ctx := context.Background()
			secretValue := "upstream-secret"
			if _, _, err := inst.Env.Directory.SetUpstream(ctx, inst.Actor, "acme", directory.UpstreamChanges{
				ConfigURL: testkit.Ptr("https://idp.example.com/"), ClientID: testkit.Ptr("latchkey"), ClientSecret: &secretValue,
				DisplayName: testkit.Ptr("Acme & Co <SSO>"),
			}); err != nil {
				t.Fatal(err)
			}
			_, token, err := inst.Env.Directory.CreateAdminToken(ctx, inst.Actor, "", "same shape", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			cfg := inst.Env.Config
			c := &testCLI{t: t, dir: t.TempDir(), flags: []string{
				"--database", cfg.Database, "--master-key-file", cfg.MasterKeyFile, "--public-url", cfg.PublicURL,
			}}

			api := func(path string) []byte {
				t.Helper()
				req, _ := http.NewRequest(http.MethodGet, inst.URL+"/api/admin"+path, nil)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
				}
				return compact(t, body)
			}
			cli := func(args ...string) []byte {
				t.Helper()
				return compact(t, []byte(c.ok(append(args, "--json")...)))
			}
			for _, tc := range []struct {
				what     string
				cli, api []byte
			}{
				{"organization", cli("org", "show", "acme"), api("/orgs/acme")},
				{"organizations", cli("org", "list"), api("/orgs")},
				{"user", cli("user", "show", "--org", "acme", fx.UserName), api("/orgs/acme/users/" + fx.UserName)},
				{"users", cli("user", "list", "--org", "acme"), api("/orgs/acme/users")},
				{"application", cli("app", "show", "--org", "acme", fx.ClientID), api("/orgs/acme/apps/" + fx.ClientID)},
				{"applications", cli("app", "list", "--org", "acme"), api("/orgs/acme/apps")},
				{"upstream connection", cli("upstream", "show", "--org", "acme"), api("/orgs/acme/upstream")},
			} {
				if !bytes.Equal(tc.cli, tc.api) {
					t.Errorf("%s:\nCLI %s\nAPI %s", tc.what, tc.cli, tc.api)
				}
				if !bytes.Contains(tc.cli, []byte(`"`)) || strings.Contains(string(tc.cli), `\u0026`) {
					t.Errorf("%s: unexpected output %s", tc.what, tc.cli)
				}
			}
		})
	}
}

func compact(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	return out.Bytes()
}
