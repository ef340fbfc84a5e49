package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/latchkey/latchkey/internal/bootstrap"
	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/server"
)

// defaultPostgresURL is used when LATCHKEY_TEST_DATABASE_URL is unset (the
// same server the tests use).
const defaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

const (
	orgID       = "load"
	redirectURI = "http://127.0.0.1:9/cb" // never fetched: the code is read from the Location header
	userPass    = "correct horse battery staple"
)

// instance is a running Latchkey with one provisioned organization.
type instance struct {
	backend string
	env     *bootstrap.Env
	base    string // PUBLIC_URL
	iss     string
	apiKey  string
	// The confidential application the relying parties use.
	clientID, clientSecret string
	provider               *oidc.Provider
	oauth                  *oauth2.Config
	// oauthES256 is a second relying party whose ID tokens are ES256;
	// service a client_credentials application (opaque access tokens).
	oauthES256 *oauth2.Config
	service    *clientcredentials.Config
	// rotate is set when browsers can dial from their own loopback addresses.
	rotate bool
	src    *sourceAddrs
	close  func()
}

// start runs Latchkey over backend. A PostgreSQL server that cannot be
// reached returns (nil, note, nil): the backend is skipped.
func start(ctx context.Context, backend string, log *slog.Logger) (inst *instance, note string, err error) {
	dir, err := os.MkdirTemp("", "latchkey-load-")
	if err != nil {
		return nil, "", err
	}
	var cleanups []func()
	cleanup := func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	cleanups = append(cleanups, func() { _ = os.RemoveAll(dir) })
	defer func() {
		if inst == nil {
			cleanup()
		}
	}()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	cleanups = append(cleanups, func() { _ = ln.Close() })
	base := "http://" + ln.Addr().String()
	cfg := config.Config{
		Addr: ln.Addr().String(), PublicURL: base, DataDir: dir,
		MasterKeyFile: filepath.Join(dir, "master.key"),
		Database:      "sqlite:" + filepath.Join(dir, "latchkey.db"),
	}
	if _, err := secret.CreateMasterKeyFile(cfg.MasterKeyFile); err != nil {
		return nil, "", err
	}
	if backend == "postgres" {
		dbURL, drop, skip, err := postgresSchema(ctx)
		if err != nil {
			return nil, "", err
		}
		if dbURL == "" {
			return nil, skip, nil
		}
		cleanups = append(cleanups, drop)
		cfg.Database = dbURL
		cfg.MasterKeyExplicit = true
	}

	// Goroutines the server starts (store writers, listeners, workers,
	// connections) are labelled as the server's in CPU profiles.
	onSide(ctx, "server")
	defer pprof.SetGoroutineLabels(ctx)
	env, err := bootstrap.Open(ctx, cfg, log, true)
	if err != nil {
		return nil, "", fmt.Errorf("open %s: %w", backend, err)
	}
	cleanups = append(cleanups, func() { _ = env.Close() })
	// env.Directory.Password stays zero: production argon2id parameters.
	srv, err := server.New(env)
	if err != nil {
		return nil, "", err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	workers, stopWorkers := context.WithCancel(context.Background())
	srv.Start(workers)
	cleanups = append(cleanups, func() {
		stopWorkers()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := hs.Shutdown(sctx); err != nil {
			_ = hs.Close()
		}
		if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("serve", "err", err)
		}
	})

	inst = &instance{backend: backend, env: env, base: base, iss: base + "/o/" + orgID, src: &sourceAddrs{}}
	if err := inst.provision(ctx); err != nil {
		inst = nil
		return nil, "", fmt.Errorf("provision: %w", err)
	}
	inst.rotate = inst.src.probe(ln.Addr().String())
	inst.close = cleanup
	if backend == "postgres" {
		return inst, "using a fresh schema at " + redact(cfg.Database), nil
	}
	return inst, "", nil
}

// provision creates the organization (keeping its API key) and the
// confidential application, and discovers the issuer like a relying party.
func (i *instance) provision(ctx context.Context) error {
	d := i.env.Directory
	actor := directory.Actor{Name: "load-generator"}
	_, key, err := d.CreateOrg(ctx, actor, orgID, "Load Test")
	if err != nil {
		return err
	}
	i.apiKey = key
	name := "Load RP"
	app, sec, err := d.CreateApp(ctx, actor, orgID, false, directory.AppChanges{
		Name: &name, RedirectURIs: &[]string{redirectURI},
		GrantTypes: &[]string{"authorization_code", "refresh_token"},
	})
	if err != nil {
		return err
	}
	i.clientID, i.clientSecret = app.ClientID, sec
	rp := newClient(nil, nil)
	defer rp.CloseIdleConnections()
	i.provider, err = oidc.NewProvider(oidc.ClientContext(ctx, rp), i.iss)
	if err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	ep := i.provider.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInHeader // client_secret_basic, without oauth2's probing
	i.oauth = &oauth2.Config{ClientID: i.clientID, ClientSecret: i.clientSecret, RedirectURL: redirectURI,
		Endpoint: ep, Scopes: []string{oidc.ScopeOpenID, "profile", "email"}}

	esName, es256 := "Load RP (ES256)", "ES256"
	esApp, esSecret, err := d.CreateApp(ctx, actor, orgID, false, directory.AppChanges{
		Name: &esName, RedirectURIs: &[]string{redirectURI}, IDTokenAlg: &es256,
		GrantTypes: &[]string{"authorization_code", "refresh_token"},
	})
	if err != nil {
		return err
	}
	i.oauthES256 = &oauth2.Config{ClientID: esApp.ClientID, ClientSecret: esSecret, RedirectURL: redirectURI,
		Endpoint: ep, Scopes: []string{oidc.ScopeOpenID, "profile", "email"}}

	svcName := "Load service"
	svc, svcSecret, err := d.CreateApp(ctx, actor, orgID, false, directory.AppChanges{
		Name: &svcName, GrantTypes: &[]string{"client_credentials"},
	})
	if err != nil {
		return err
	}
	i.service = &clientcredentials.Config{ClientID: svc.ClientID, ClientSecret: svcSecret, TokenURL: ep.TokenURL,
		AuthStyle: oauth2.AuthStyleInHeader}
	return nil
}

// createUser creates a user with the load password (production argon2id).
func (i *instance) createUser(ctx context.Context, userName string) error {
	name, email, verified, pw := "Load "+userName, userName+"@example.com", true, userPass
	_, err := i.env.Directory.CreateUser(ctx, directory.Actor{Name: "load-generator"}, orgID, userName,
		directory.UserChanges{Name: &name, Email: &email, EmailVerified: &verified, Password: &pw})
	return err
}

// postgresSchema creates a fresh schema lk_load_<random> on the test
// server and returns a URL whose connections use it, and a function that
// drops it. An unreachable server returns an empty URL and a note.
func postgresSchema(ctx context.Context) (dbURL string, drop func(), note string, err error) {
	base := os.Getenv("LATCHKEY_TEST_DATABASE_URL")
	if base == "" {
		base = defaultPostgresURL
	}
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, base)
	if err != nil {
		msg := strings.Join(strings.Fields(err.Error()), " ")
		return "", nil, fmt.Sprintf("PostgreSQL not reachable at %s (%s): skipped; set LATCHKEY_TEST_DATABASE_URL", redact(base), msg), nil
	}
	defer conn.Close(context.Background())
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, "", err
	}
	schema := "lk_load_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(cctx, "CREATE SCHEMA "+schema); err != nil {
		return "", nil, "", fmt.Errorf("create schema %s: %w", schema, err)
	}
	drop = func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(dctx, base)
		if err == nil {
			_, err = c.Exec(dctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
			c.Close(context.Background())
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "load: could not drop schema %s: %v\n", schema, err)
		}
	}
	u, err := withSearchPath(base, schema)
	if err != nil {
		drop()
		return "", nil, "", err
	}
	return u, drop, "", nil
}

// withSearchPath adds search_path to a URL or keyword/value connection
// string (pgx sends parameters it does not know as run-time parameters).
// Unlike the tests, synchronous_commit is left as the server has it.
func withSearchPath(base, schema string) (string, error) {
	if !strings.Contains(base, "://") {
		return base + " search_path=" + schema, nil
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("parse LATCHKEY_TEST_DATABASE_URL: %w", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// redact hides a password in a database URL.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}
