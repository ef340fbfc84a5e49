// Package bootstrap turns a validated configuration into the parts a
// Latchkey process runs on: the store, the master key, the signing keys and
// the directory. The CLI and the server both start here, so they agree on
// where data and keys live.
package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/logout"
	"github.com/latchkey/latchkey/internal/outbound"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/signer"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/cache"
	"github.com/latchkey/latchkey/internal/store/postgres"
	"github.com/latchkey/latchkey/internal/store/sqldb"
	"github.com/latchkey/latchkey/internal/store/sqlite"
)

// Env is an opened Latchkey environment.
type Env struct {
	Config    config.Config
	Store     store.Store
	Master    *secret.MasterKey
	Keys      *signer.Keys
	Directory *directory.Directory
	// Logout ends sessions with single logout and delivers back-channel
	// notifications (the server runs its worker).
	Logout *logout.Service
	// Outbound is the guarded client for every admin-aimed request.
	Outbound *http.Client
	Logger   *slog.Logger
	// Now is the clock every component uses; tests may replace it before
	// building the server.
	Now func() time.Time
}

// Close closes the store.
func (e *Env) Close() error { return e.Store.Close() }

// OpenStore opens the configured database without migrating it.
func OpenStore(ctx context.Context, cfg config.Config) (store.Store, error) {
	var st *sqldb.DB
	var err error
	if cfg.DatabaseKind() == "postgres" {
		st, err = postgres.Open(ctx, cfg.Database)
	} else {
		st, err = sqlite.Open(ctx, cfg.SQLitePath())
	}
	if err != nil {
		return nil, err
	}
	st.SetTimeout(cfg.DatabaseTimeout)
	if cfg.DatabaseKind() == "postgres" {
		// Other nodes change the database: cache only while following
		// their announcements (Env.FollowChanges).
		return cache.New(st, cache.AnnouncedTTL, true), nil
	}
	// Changes from this process are seen at once; those of another
	// process on the same file (a CLI command) within the TTL.
	return cache.New(st, cache.LocalTTL, false), nil
}

// FollowChanges keeps the cache of organizations, applications and users
// in step with other nodes' changes until ctx ends (PostgreSQL; nothing to
// do on SQLite). Without it a PostgreSQL node reads them from the database.
func (e *Env) FollowChanges(ctx context.Context) {
	c, ok := e.Store.(*cache.Store)
	if !ok || e.Config.DatabaseKind() != "postgres" {
		return
	}
	go postgres.FollowChanges(ctx, e.Config.Database, c, e.Logger)
}

// LoadMasterKey reads the master key file. With SQLite and no explicit key
// file, a missing key is generated (0600) into the data directory, so a
// first `latchkey demo` needs no setup. PostgreSQL deployments are shared
// and long-lived: there the operator must name the key file.
func LoadMasterKey(cfg config.Config, log *slog.Logger) (*secret.MasterKey, error) {
	if cfg.DatabaseKind() == "postgres" && !cfg.MasterKeyExplicit {
		return nil, domain.Invalid("master-key-file", "PostgreSQL needs an explicit master key file (--master-key-file or LATCHKEY_MASTER_KEY_FILE); create one with `latchkey master-key generate FILE`")
	}
	k, err := secret.LoadMasterKeyFile(cfg.MasterKeyFile)
	if err == nil {
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) || cfg.MasterKeyExplicit {
		return nil, err
	}
	k, err = secret.CreateMasterKeyFile(cfg.MasterKeyFile)
	if err != nil {
		return nil, err
	}
	log.Warn("generated a new master key; back it up — without it sealed keys cannot be read", "file", cfg.MasterKeyFile)
	return k, nil
}

// Open opens the store (migrating it when migrate is set), loads the master
// key and builds the signer and directory.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger, migrate bool) (*Env, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	master, err := LoadMasterKey(cfg, log)
	if err != nil {
		return nil, err
	}
	st, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if migrate {
		if err := st.Migrate(ctx); err != nil {
			st.Close()
			return nil, fmt.Errorf("migrate %s: %w", cfg.Redacted(), err)
		}
	}
	env := &Env{Config: cfg, Store: st, Master: master, Logger: log, Now: time.Now}
	// Components read the clock through env, so a test can replace env.Now.
	clock := func() time.Time { return env.Now() }
	env.Keys = signer.New(st, master, clock)
	env.Outbound = outbound.NewGuardedClient(outbound.Policy{
		AllowLoopback: cfg.OutboundAllowLoopback, DenyPrivate: cfg.OutboundDenyPrivate, Allow: cfg.OutboundAllow,
	}, 15*time.Second, outbound.Options{})
	env.Logout = &logout.Service{Store: st, Keys: env.Keys, Client: env.Outbound, Log: log, PublicURL: cfg.PublicURL, Now: clock,
		Lease: cfg.BackchannelLease, Senders: cfg.BackchannelSenders, PerOrg: cfg.BackchannelPerOrg}
	env.Directory = &directory.Directory{
		Store: st, Keys: env.Keys, Master: master, PublicURL: cfg.PublicURL, Logout: env.Logout, Outbound: env.Outbound, Now: clock,
	}
	return env, nil
}

// NewLogger makes the process logger: text on a terminal, JSON otherwise,
// unless the configuration says which.
func NewLogger(cfg config.Config, w *os.File) *slog.Logger {
	format := cfg.LogFormat
	if format == "" {
		format = "json"
		if fi, err := w.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			format = "text"
		}
	}
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// EnsureBuiltins creates the operator organization and every
// organization's admin portal application if they are missing. While no
// operator exists it logs (and returns) a one-time setup link for the
// first one.
func EnsureBuiltins(ctx context.Context, env *Env) (string, error) {
	link, err := env.Directory.EnsureBuiltins(ctx)
	if err != nil {
		return "", fmt.Errorf("built-in organization and applications: %w", err)
	}
	if link != "" {
		env.Logger.Warn("no operator yet: open this one-time link (valid 1 hour) to set up the first operator of the admin portal",
			"setup_url", link)
	}
	return link, nil
}
