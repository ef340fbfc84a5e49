// Package servertest starts real Latchkey servers for tests: a real
// listener on 127.0.0.1, a real SQLite or PostgreSQL store, the full
// handler, and a controllable clock. It also gives tests a browser-like
// HTTP client that keeps cookies, follows redirects step by step and fills
// in Latchkey's HTML forms. It is imported only by tests.
package servertest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/bootstrap"
	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/password"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/server"
	"github.com/latchkey/latchkey/internal/store/testdb"
)

// Backends lists the stores every end-to-end test runs against.
var Backends = []string{"sqlite", "postgres"}

// Clock is a settable clock; the zero value follows real time.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
}

// Now is the current (possibly shifted) time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// Instance is a running Latchkey.
type Instance struct {
	URL   string
	Env   *bootstrap.Env
	Clock *Clock
	Actor directory.Actor
}

// Options tune Start.
type Options struct {
	// ServerOptions are passed to server.New.
	ServerOptions []server.Option
	// Log receives the server's log; nil discards it.
	Log io.Writer
	// Setup, if set, runs after the store is open and before server.New,
	// with the public URL Start chose (e.g. to provision the demo
	// organization); the options it returns are appended to ServerOptions.
	Setup func(env *bootstrap.Env, publicURL string) []server.Option
	// Host names the server in its public URL instead of 127.0.0.1
	// ("localhost" for WebAuthn, which refuses IP addresses).
	Host string
	// Database and MasterKeyFile, if set, make this server another node of
	// an existing one (same PostgreSQL schema and master key).
	Database, MasterKeyFile string
	// Config, if set, adjusts the configuration before the store opens.
	Config func(cfg *config.Config)
}

// Start runs Latchkey on backend ("sqlite" or "postgres") until the test
// ends. PostgreSQL tests skip without a server, except under CI=true.
func Start(t testing.TB, backend string, opts ...Options) *Instance {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	if o.Host != "" {
		base = "http://" + net.JoinHostPort(o.Host, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	}
	cfg := config.Config{
		Addr: ln.Addr().String(), PublicURL: base, DataDir: dir, MasterKeyFile: filepath.Join(dir, "master.key"),
		Database: "sqlite:" + filepath.Join(dir, "latchkey.db"), OutboundAllowLoopback: true,
	}
	switch {
	case o.Database != "":
		cfg.Database, cfg.MasterKeyFile, cfg.MasterKeyExplicit = o.Database, o.MasterKeyFile, true
	case backend == "postgres":
		cfg.Database = testdb.PostgresURL(t)
		cfg.MasterKeyExplicit = true
		if _, err := secret.CreateMasterKeyFile(cfg.MasterKeyFile); err != nil {
			t.Fatal(err)
		}
	}
	if o.Config != nil {
		o.Config(&cfg)
	}
	logOut := o.Log
	if logOut == nil {
		logOut = io.Discard
	}
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelDebug}))
	env, err := bootstrap.Open(context.Background(), cfg, log, true)
	if err != nil {
		ln.Close()
		t.Fatalf("servertest: open %s: %v", backend, err)
	}
	clock := &Clock{}
	env.Now = clock.Now
	// Tests create many users: a cheap argon2id keeps them fast. Stored
	// hashes carry their parameters, so verification is unaffected.
	env.Directory.Password = password.Params{Memory: 1024, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}
	serverOpts := o.ServerOptions
	if o.Setup != nil {
		serverOpts = append(append([]server.Option(nil), serverOpts...), o.Setup(env, base)...)
	}
	srv, err := server.New(env, serverOpts...)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	workers, stopWorkers := context.WithCancel(context.Background())
	srv.Start(workers)
	t.Cleanup(func() {
		stopWorkers()
		// Every request of the test has finished; Close also drops
		// connections that were opened but never used, which Shutdown
		// would wait for.
		_ = hs.Close()
		_ = env.Close()
	})
	return &Instance{URL: base, Env: env, Clock: clock, Actor: directory.Actor{Name: "test"}}
}

// Issuer is the issuer URL of org.
func (i *Instance) Issuer(org string) string { return i.URL + "/o/" + org }

// Fixture is an organization with a user and a confidential application.
type Fixture struct {
	Org          string
	APIKey       string
	UserName     string
	Password     string
	Sub          string
	ClientID     string
	ClientSecret string
	RedirectURI  string
}

// NewFixture creates org with user alice (password "correct horse battery")
// and a confidential application redirecting to redirectURI.
func (i *Instance) NewFixture(t testing.TB, org, redirectURI string) *Fixture {
	t.Helper()
	ctx := context.Background()
	d := i.Env.Directory
	_, apiKey, err := d.CreateOrg(ctx, i.Actor, org, "Org "+org)
	if err != nil {
		t.Fatal(err)
	}
	pw, name, email, verified := "correct horse battery", "Alice Example", "alice@example.com", true
	u, err := d.CreateUser(ctx, i.Actor, org, "alice", directory.UserChanges{Name: &name, Email: &email, EmailVerified: &verified, Password: &pw})
	if err != nil {
		t.Fatal(err)
	}
	appName := "Web"
	grants := []string{"authorization_code", "refresh_token", "client_credentials"}
	app, sec, err := d.CreateApp(ctx, i.Actor, org, false, directory.AppChanges{Name: &appName, RedirectURIs: &[]string{redirectURI}, GrantTypes: &grants})
	if err != nil {
		t.Fatal(err)
	}
	return &Fixture{Org: org, APIKey: apiKey, UserName: "alice", Password: pw, Sub: u.Sub, ClientID: app.ClientID, ClientSecret: sec, RedirectURI: redirectURI}
}
