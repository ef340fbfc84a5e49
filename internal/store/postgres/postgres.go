// Package postgres is the production backend: PostgreSQL through a pgx
// connection pool. Migrations take a session advisory lock so that nodes
// starting together apply them once.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/latchkey/latchkey/internal/store/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

type dialect struct{}

func (dialect) Name() string             { return "postgres" }
func (dialect) Placeholder(n int) string { return "$" + strconv.Itoa(n) }
func (dialect) Migrations() fs.FS        { sub, _ := fs.Sub(migrations, "migrations"); return sub }
func (dialect) LockRow() string          { return " FOR UPDATE" }
func (dialect) ListAgg(expr, orderBy string) string {
	return "COALESCE(json_agg(" + expr + " ORDER BY " + orderBy + ")::text, '[]')"
}

func (dialect) IsUniqueViolation(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "23505"
}

// IsUnavailable recognizes a server that refuses, drops or cannot serve the
// connection: connection exceptions (class 08), shutdown and recovery
// (57P01–57P03), too many connections (53300), a read-only standby after a
// failover (25006), and pgx's own connect and closed-connection errors.
func (dialect) IsUnavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "08") ||
			slices.Contains([]string{"57P01", "57P02", "57P03", "53300", "25006"}, pgErr.Code)
	}
	var connectErr *pgconn.ConnectError
	return errors.As(err, &connectErr) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) ||
		strings.Contains(err.Error(), "conn closed")
}

// migrationLock is Latchkey's advisory lock id ("Latc" in the high bits),
// mixed with the schema name so that separate schemas (test runs) do not
// wait for each other.
const migrationLock = `(1281455203::bigint << 32) + hashtext(current_schema())`

func (dialect) LockMigrations(ctx context.Context, conn *sql.Conn) (func(), error) {
	const key = migrationLock
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(`+key+`)`); err != nil {
		return nil, err
	}
	return func() { _, _ = conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock(`+key+`)`) }, nil
}

// DefaultConnectTimeout bounds connecting and pinging when the database URL
// does not set connect_timeout.
const DefaultConnectTimeout = 5 * time.Second

// relaxedConns bounds the pool for commits without the WAL flush wait: the
// batching writer runs up to four batches at once.
const relaxedConns = 4

// Open connects to the database at url (postgres://…).
func Open(ctx context.Context, url string) (*sqldb.DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse database URL: %w", err)
	}
	if cfg.MaxConns < 10 {
		cfg.MaxConns = 10
	}
	// A database that does not answer must fail fast, not hold requests
	// for as long as a load balancer waits: bound connecting (unless the
	// URL sets connect_timeout), check idle connections often and ping
	// with a deadline, so connections to a failed primary are dropped.
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	if !strings.Contains(url, "pool_health_check_period") {
		cfg.HealthCheckPeriod = 10 * time.Second
	}
	if cfg.PingTimeout == 0 {
		cfg.PingTimeout = DefaultConnectTimeout
	}
	// Statements are prepared once per connection, and after five runs
	// PostgreSQL may keep one generic plan for good. Planned while a table
	// is nearly empty (a fresh deployment, tokens after a purge), that
	// plan can be a sequential scan that it then keeps as the table grows
	// to millions of rows: token lookups measured 25 times slower. Our
	// statements are key lookups that plan in microseconds, so each run is
	// planned for its own values (unless the URL says otherwise).
	if _, set := cfg.ConnConfig.RuntimeParams["plan_cache_mode"]; !set {
		cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	s := sqldb.New(db, dialect{}, pool.Close)
	s.ReportPool("main", poolStats(pool))
	// The hot key lookups keep one plan per connection (sqldb.SetKeyedPool):
	// migration 0015 leaves each of them a single index to use, and without
	// sequential scans a plan made before the tables grew cannot scan them
	// later (TestKeyedStatements_HaveOneSafePlan).
	keyed, closeKeyed, err := sidePool(ctx, s, "keyed", cfg, cfg.MaxConns, map[string]string{
		"plan_cache_mode": "force_generic_plan", "enable_seqscan": "off"})
	if err != nil {
		s.Close()
		return nil, err
	}
	s.SetKeyedPool(keyed, closeKeyed)
	if cfg.ConnConfig.RuntimeParams["synchronous_commit"] != "off" {
		// The rows a crash may lose are committed on connections that do
		// not wait for the WAL flush (docs/performance.md). The pool runs
		// the batching writer's INSERT … VALUES, whose plan has no choice
		// to make, and the rate-limit counts, whose table has one index:
		// planned once per connection, not per run, and without
		// sequential scans a plan made on a small table stays the index's
		// (TestKeyedStatements_HaveOneSafePlan).
		relaxed, closeRelaxed, err := sidePool(ctx, s, "relaxed", cfg, relaxedConns, map[string]string{
			"synchronous_commit": "off", "plan_cache_mode": "force_generic_plan", "enable_seqscan": "off"})
		if err != nil {
			s.Close()
			return nil, err
		}
		s.SetRelaxedPool(relaxed, closeRelaxed)
	}
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	return s, nil
}

// sidePool opens a pool like cfg's, of at most maxConns connections
// opened on demand, whose sessions set params.
func sidePool(ctx context.Context, s *sqldb.DB, name string, cfg *pgxpool.Config, maxConns int32, params map[string]string) (*sql.DB, func(), error) {
	c := cfg.Copy()
	c.MaxConns, c.MinConns = maxConns, 0
	maps.Copy(c.ConnConfig.RuntimeParams, params)
	p, err := pgxpool.NewWithConfig(ctx, c)
	if err != nil {
		return nil, nil, fmt.Errorf("postgres: %w", err)
	}
	s.ReportPool(name, poolStats(p))
	return stdlib.OpenDBFromPool(p), p.Close, nil
}

// poolStats reports a pgx pool: the connections database/sql uses are
// acquired from it, so it is where a request waits for one.
func poolStats(p *pgxpool.Pool) func() sqldb.PoolStats {
	return func() sqldb.PoolStats {
		st := p.Stat()
		return sqldb.PoolStats{Max: int(st.MaxConns()), InUse: int(st.AcquiredConns()), Idle: int(st.IdleConns()),
			Waits: st.EmptyAcquireCount(), WaitTime: st.EmptyAcquireWaitTime()}
	}
}
