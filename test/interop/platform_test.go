package interop_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
)

// TestOpenIDClient_TrustedPlatformLogin runs openid-client's code flow
// against an organization whose login is its own platform: Latchkey sends
// the browser to the platform, which (as the seed describes) calls the
// update and generate-token API with its API key and sends the browser to
// loginUrl; openid-client then receives the code and a verified id_token
// for the platform's user.
func TestOpenIDClient_TrustedPlatformLogin(t *testing.T) {
	node := requireNode(t)
	dir := t.TempDir()
	lk := startLatchkey(t, dir, "sqlite:"+filepath.Join(dir, "latchkey.db"), false)
	ctx := context.Background()
	d := lk.env.Directory
	actor := directory.Actor{Name: "interop-test"}
	const org = "community"
	_, apiKey, err := d.CreateOrg(ctx, actor, org, "Community")
	if err != nil {
		t.Fatal(err)
	}
	base := strings.TrimSuffix(lk.issuer, "/o/"+orgID)

	var (
		mu            sync.Mutex
		platformCalls []string
	)
	platform := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The platform signs its user in (here: at once), then uses the
		// two API calls exactly as the seed does.
		call := func(path, body string) map[string]any {
			req, _ := http.NewRequest(http.MethodPost, base+"/api/organization/"+org+"/user/johndoe/"+path, strings.NewReader(body))
			if body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			req.Header.Set("x-org-id", org)
			req.Header.Set("x-api-key", apiKey)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Errorf("%s: %v", path, err)
				return nil
			}
			defer resp.Body.Close()
			var out map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&out)
			mu.Lock()
			platformCalls = append(platformCalls, path+" "+resp.Status)
			mu.Unlock()
			return out
		}
		if r.URL.Query().Get("return_to") == "" {
			http.Error(w, "no return_to", http.StatusBadRequest)
			return
		}
		call("update", `{"name": "John Doe", "role": "USER", "picture": "https://example.com/avatar.jpg"}`)
		tok := call("generate-token", "")
		loginURL, _ := tok["loginUrl"].(string)
		if loginURL == "" {
			http.Error(w, "no loginUrl", http.StatusBadGateway)
			return
		}
		http.Redirect(w, r, loginURL, http.StatusFound)
	}))
	defer platform.Close()

	authURL, method := platform.URL+"/sso", domain.LoginPlatform
	if _, err := d.UpdateOrg(ctx, actor, org, directory.OrgChanges{AuthRedirectURL: &authURL, LoginMethod: &method}); err != nil {
		t.Fatal(err)
	}
	name := "interop platform app"
	app, secret, err := d.CreateApp(ctx, actor, org, false, directory.AppChanges{Name: &name, RedirectURIs: &[]string{redirectURI}, RefreshTokenReuseInterval: &noReuseInterval})
	if err != nil {
		t.Fatal(err)
	}
	res := runRP(t, node, map[string]string{
		"ISSUER": base + "/o/" + org, "CLIENT_ID": app.ClientID, "CLIENT_SECRET": secret, "REDIRECT_URI": redirectURI,
		"USERNAME": "johndoe", "PASSWORD": "unused: the platform signs the user in", "SCENARIO": "code-flow",
	})
	user, err := lk.env.Store.GetUserByName(ctx, org, "johndoe")
	if err != nil {
		t.Fatalf("the platform's update call did not create the user: %v", err)
	}
	if res.Sub != user.Sub || res.PreferredUsername != "johndoe" {
		t.Fatalf("sub/preferred_username = %q/%q, want %q/johndoe", res.Sub, res.PreferredUsername, user.Sub)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(platformCalls) != 2 || !strings.HasPrefix(platformCalls[0], "update 201") || !strings.HasPrefix(platformCalls[1], "generate-token 200") {
		t.Fatalf("platform calls: %v", platformCalls)
	}
	t.Logf("steps: %s", strings.Join(res.Steps, ", "))
}
