// Package interop_test proves that independent OpenID Connect client
// libraries work against a real Latchkey: the Node package openid-client
// (rp.mjs) signs in through the hosted login page, exchanges the code,
// calls userinfo and rotates refresh tokens, against Latchkey on SQLite
// and on PostgreSQL.
//
// It needs node (≥ 20) and `npm ci` in this directory. Without them the
// tests are skipped, except under CI=true, where that is a failure.
// RP_TRACE=1 logs every HTTP exchange rp.mjs makes.
package interop_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/bootstrap"
	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/server"
	"github.com/latchkey/latchkey/internal/store/testdb"
	"github.com/latchkey/latchkey/internal/testkit"
)

const (
	orgID       = "acme"
	userName    = "alice"
	password    = "correct horse battery"
	redirectURI = "http://127.0.0.1:9/cb"
	// postLogoutRedirectURI is registered for RP-Initiated Logout; like
	// redirectURI it is never fetched: the browser stops at it.
	postLogoutRedirectURI = "http://127.0.0.1:9/signed-out"
	rpTimeout             = 60 * time.Second
)

// latchkey is one running Latchkey server with a seeded organization.
type latchkey struct {
	issuer string
	sub    string // alice's sub
	env    *bootstrap.Env
}

// rpResult is the JSON line rp.mjs prints last.
type rpResult struct {
	OK                bool     `json:"ok"`
	Sub               string   `json:"sub"`
	PreferredUsername string   `json:"preferred_username"`
	Steps             []string `json:"steps"`
	Error             string   `json:"error"`
	Step              string   `json:"step"`
}

// TestOpenIDClient runs rp.mjs's scenarios for a confidential client (both
// secret methods) and a public PKCE client, on each database.
func TestOpenIDClient(t *testing.T) {
	node := requireNode(t)
	backends := []struct {
		name     string
		database func(t *testing.T, dir string) (url string, explicitKey bool)
	}{
		{"sqlite", func(t *testing.T, dir string) (string, bool) {
			return "sqlite:" + filepath.Join(dir, "latchkey.db"), false
		}},
		{"postgres", func(t *testing.T, dir string) (string, bool) {
			return testdb.PostgresURL(t), true
		}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dir := t.TempDir()
			database, explicitKey := b.database(t, dir)
			lk := startLatchkey(t, dir, database, explicitKey)

			clients := []struct {
				name       string
				public     bool
				clientAuth string
			}{
				{name: "confidential_client_secret_basic", clientAuth: "client_secret_basic"},
				{name: "confidential_client_secret_post", clientAuth: "client_secret_post"},
				{name: "public_pkce", public: true},
			}
			for _, c := range clients {
				t.Run(c.name, func(t *testing.T) {
					clientID, clientSecret := lk.createApp(t, c.public)
					rp := func(t *testing.T, scenario string) rpResult {
						return runRP(t, node, map[string]string{
							"ISSUER":                   lk.issuer,
							"CLIENT_ID":                clientID,
							"CLIENT_SECRET":            clientSecret,
							"CLIENT_AUTH":              c.clientAuth,
							"REDIRECT_URI":             redirectURI,
							"USERNAME":                 userName,
							"PASSWORD":                 password,
							"SCENARIO":                 scenario,
							"POST_LOGOUT_REDIRECT_URI": postLogoutRedirectURI,
						})
					}
					t.Run("code-flow", func(t *testing.T) {
						res := rp(t, "code-flow")
						if res.Sub != lk.sub {
							t.Errorf("sub = %q, want alice's sub %q", res.Sub, lk.sub)
						}
						if !strings.EqualFold(res.PreferredUsername, userName) {
							t.Errorf("preferred_username = %q, want %q", res.PreferredUsername, userName)
						}
						t.Logf("steps: %s", strings.Join(res.Steps, ", "))
					})
					t.Run("rp-logout", func(t *testing.T) {
						res := rp(t, "rp-logout")
						t.Logf("steps: %s", strings.Join(res.Steps, ", "))
					})
					t.Run("prompt-none", func(t *testing.T) {
						res := rp(t, "prompt-none")
						t.Logf("steps: %s", strings.Join(res.Steps, ", "))
					})
				})
			}
			// acr_values and step-up, with a user of its own (it sets up a
			// second factor, which the other scenarios' user must not have).
			t.Run("acr-mfa", func(t *testing.T) {
				const mfaUser = "carol"
				if _, err := lk.env.Directory.CreateUser(context.Background(), directory.Actor{Name: "interop-test"}, orgID, mfaUser,
					directory.UserChanges{Password: testkit.Ptr(password)}); err != nil {
					t.Fatal(err)
				}
				clientID, clientSecret := lk.createApp(t, false)
				res := runRP(t, node, map[string]string{
					"ISSUER": lk.issuer, "CLIENT_ID": clientID, "CLIENT_SECRET": clientSecret, "CLIENT_AUTH": "client_secret_basic",
					"REDIRECT_URI": redirectURI, "USERNAME": mfaUser, "PASSWORD": password, "SCENARIO": "acr-mfa",
				})
				t.Logf("steps: %s", strings.Join(res.Steps, ", "))
			})
		})
	}
}

// requireNode returns the node binary, or skips (fails under CI=true) when
// node or this directory's node_modules are missing.
func requireNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		testkit.Unavailable(t, "node not found on PATH: %v", err)
	}
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		testkit.Unavailable(t, "node --version: %v", err)
	}
	version := strings.TrimSpace(string(out))
	major, _ := strconv.Atoi(strings.SplitN(strings.TrimPrefix(version, "v"), ".", 2)[0])
	if major < 20 {
		testkit.Unavailable(t, "node %s is too old: openid-client v6 needs node 20 or newer", version)
	}
	if _, err := os.Stat(filepath.Join("node_modules", "openid-client", "package.json")); err != nil {
		testkit.Unavailable(t, "openid-client is not installed: run `npm ci` in test/interop (%v)", err)
	}
	return node
}

// startLatchkey runs a real Latchkey server on a loopback port over the
// given database and seeds org acme with user alice.
func startLatchkey(t *testing.T, dir, database string, explicitKey bool) *latchkey {
	t.Helper()
	ctx := context.Background()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	cfg := config.Config{
		Addr:                  ln.Addr().String(),
		PublicURL:             base,
		Database:              database,
		DataDir:               dir,
		MasterKeyFile:         filepath.Join(dir, "master.key"),
		OutboundAllowLoopback: true,
		MasterKeyExplicit:     explicitKey,
	}
	if explicitKey {
		if _, err := secret.CreateMasterKeyFile(cfg.MasterKeyFile); err != nil {
			t.Fatal(err)
		}
	}

	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Latchkey log:\n%s", logs.String())
		}
	})

	env, err := bootstrap.Open(ctx, cfg, logger, true)
	if err != nil {
		ln.Close()
		t.Fatalf("bootstrap: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Close(); err != nil {
			t.Errorf("close env: %v", err)
		}
	})
	srv, err := server.New(env)
	if err != nil {
		ln.Close()
		t.Fatalf("server: %v", err)
	}
	if c, ok := any(srv).(io.Closer); ok {
		t.Cleanup(func() { _ = c.Close() })
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := hs.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})

	actor := directory.Actor{Name: "interop-test"}
	if _, _, err := env.Directory.CreateOrg(ctx, actor, orgID, "Acme"); err != nil {
		t.Fatalf("create org: %v", err)
	}
	name, email, pw := "Alice Example", "alice@example.com", password
	user, err := env.Directory.CreateUser(ctx, actor, orgID, userName, directory.UserChanges{Name: &name, Email: &email, Password: &pw})
	if err != nil {
		t.Fatalf("create user: %v", err)
	}
	return &latchkey{issuer: base + "/o/" + orgID, sub: user.Sub, env: env}
}

// noReuseInterval turns off the refresh-token reuse interval.
var noReuseInterval int64

// createApp registers an application redirecting to redirectURI and returns
// its client ID and secret ("" for a public client).
func (lk *latchkey) createApp(t *testing.T, public bool) (clientID, clientSecret string) {
	t.Helper()
	name := "interop " + t.Name()
	app, secret, err := lk.env.Directory.CreateApp(context.Background(), directory.Actor{Name: "interop-test"}, orgID, public, directory.AppChanges{
		Name:                   &name,
		RedirectURIs:           &[]string{redirectURI},
		PostLogoutRedirectURIs: &[]string{postLogoutRedirectURI},
		GrantTypes:             &[]string{"authorization_code", "refresh_token"},
		// rp.mjs checks strict rotation: with the reuse interval off, the
		// first reuse of a rotated refresh token revokes its family. The
		// interval itself is tested in internal/op.
		RefreshTokenReuseInterval: &noReuseInterval,
	})
	if err != nil {
		t.Fatalf("create app: %v", err)
	}
	return app.ClientID, secret
}

// runRP runs rp.mjs with vars (and nothing else of this process's
// environment that could change its behaviour) and returns its result,
// failing the test with its output when it did not succeed.
func runRP(t *testing.T, node string, vars map[string]string) rpResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), rpTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "rp.mjs")
	cmd.Dir = "." // go test runs in the package directory: test/interop
	cmd.Env = []string{"NODE_NO_WARNINGS=1"}
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "LANG", "SYSTEMROOT", "RP_TRACE"} {
		if v, ok := os.LookupEnv(k); ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	for k, v := range vars {
		if v != "" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	runErr := cmd.Run()

	output := func() string {
		return fmt.Sprintf("--- stdout\n%s--- stderr\n%s", stdout.String(), stderr.String())
	}
	if ctx.Err() != nil {
		t.Fatalf("rp.mjs did not finish within %s\n%s", rpTimeout, output())
	}
	var res rpResult
	line := lastLine(stdout.String())
	if err := json.Unmarshal([]byte(line), &res); err != nil {
		t.Fatalf("rp.mjs: %v; its last line is not JSON (%v)\n%s", runErr, err, output())
	}
	if !res.OK || runErr != nil {
		t.Fatalf("rp.mjs failed at step %q: %s\n(exit: %v; steps passed: %s)\n%s",
			res.Step, res.Error, runErr, strings.Join(res.Steps, ", "), output())
	}
	if os.Getenv("RP_TRACE") == "1" {
		t.Logf("rp.mjs trace:\n%s", stderr.String())
	}
	return res
}

func lastLine(s string) string {
	var last string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			last = l
		}
	}
	return last
}

// logBuffer collects the server's log, shown only when a test fails.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
