// Package testdb gives tests real, migrated stores: SQLite in a temporary
// directory, and PostgreSQL in a fresh schema of the test server that is
// dropped when the test ends. It is imported only by tests.
//
// PostgreSQL is found through LATCHKEY_TEST_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable). When it cannot be
// reached the test is skipped, except under CI=true, where a missing database
// is a failure.
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/postgres"
	"github.com/latchkey/latchkey/internal/store/sqlite"
	"github.com/latchkey/latchkey/internal/testkit"
)

// DefaultPostgresURL is used when LATCHKEY_TEST_DATABASE_URL is unset.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// SchemaPrefix starts the name of every schema PostgresURL creates.
const SchemaPrefix = "lk_test_"

// connectTimeout bounds how long a test waits for an absent server.
const connectTimeout = 3 * time.Second

// SQLite returns a migrated SQLite store in t.TempDir(), closed when the test ends.
func SQLite(t testing.TB) store.Store {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "latchkey.db"))
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("testdb: migrate sqlite: %v", err)
	}
	return s
}

// Postgres returns a migrated PostgreSQL store with empty tables, closed
// when the test ends. Creating and migrating a schema costs far more than
// the average test, so a test process recycles its schemas: when a test
// ends its tables are emptied and the next test gets the schema.
func Postgres(t testing.TB) store.Store {
	t.Helper()
	ctx := context.Background()
	schema, url := schemas.take(t)
	s, err := postgres.Open(ctx, url)
	if err != nil {
		schemas.drop(t, schema)
		t.Fatalf("testdb: %v", err)
	}
	t.Cleanup(func() {
		_ = s.Close()
		schemas.put(t, schema)
	})
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("testdb: migrate postgres: %v", err)
	}
	return s
}

// PostgresURL creates an empty schema for this test and returns a database
// URL whose connections use it (search_path). The schema is dropped with
// everything in it when the test ends.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := baseURL()
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	conn := connect(ctx, t, base)
	defer conn.Close(context.Background())

	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("testdb: %v", err)
	}
	schema := SchemaPrefix + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("testdb: create schema %s: %v", schema, err)
	}
	t.Cleanup(func() { dropSchema(t, base, schema) })
	return withSearchPath(t, base, schema)
}

func baseURL() string {
	if v := os.Getenv("LATCHKEY_TEST_DATABASE_URL"); v != "" {
		return v
	}
	return DefaultPostgresURL
}

// unreachable remembers that the server did not answer, so that the
// process's other tests skip at once instead of each waiting for a timeout.
var unreachable struct {
	sync.Mutex
	msg string
}

// connect connects to the test server, or skips the test when there is
// none (fails it under CI=true).
func connect(ctx context.Context, t testing.TB, base string) *pgx.Conn {
	t.Helper()
	unreachable.Lock()
	msg := unreachable.msg
	unreachable.Unlock()
	if msg == "" {
		conn, err := pgx.Connect(ctx, base)
		if err == nil {
			return conn
		}
		msg = fmt.Sprintf("PostgreSQL not reachable at %s: %v (set LATCHKEY_TEST_DATABASE_URL)", redact(base), err)
		unreachable.Lock()
		unreachable.msg = msg
		unreachable.Unlock()
	}
	testkit.Unavailable(t, "testdb: %s", msg)
	return nil
}

func dropSchema(t testing.TB, base, schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Errorf("testdb: drop schema %s: %v", schema, err)
		return
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
		t.Errorf("testdb: drop schema %s: %v", schema, err)
	}
}

// withSearchPath adds search_path to a URL or keyword/value connection
// string; pgx sends parameters it does not know as run-time parameters. It
// also turns synchronous_commit off unless the URL sets it: commits then do
// not wait for the WAL to reach the disk, which makes a busy test machine
// several times faster and changes nothing a test can observe short of a
// server crash.
func withSearchPath(t testing.TB, base, schema string) string {
	if !strings.Contains(base, "://") {
		out := base + " search_path=" + schema
		if !strings.Contains(base, "synchronous_commit") {
			out += " synchronous_commit=off"
		}
		return out
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("testdb: parse LATCHKEY_TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	if !q.Has("synchronous_commit") {
		q.Set("synchronous_commit", "off")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// redact hides a password in a database URL for messages.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}

// Backend names a store backend and opens fresh, migrated stores of it.
type Backend struct {
	Name string
	Open func(testing.TB) store.Store
}

// Backends lists every backend the store suite runs against.
var Backends = []Backend{
	{Name: "sqlite", Open: SQLite},
	{Name: "postgres", Open: Postgres},
}

// Each runs fn as one subtest per backend, named after it.
func Each(t *testing.T, fn func(t *testing.T, open func(testing.TB) store.Store)) {
	t.Helper()
	for _, b := range Backends {
		t.Run(b.Name, func(t *testing.T) { fn(t, b.Open) })
	}
}

// schemas is this test process's pool of migrated PostgreSQL schemas.
var schemas schemaPool

// poolPrefix starts the names of recycled schemas: poolPrefix + process
// tag + "_" + number.
const poolPrefix = SchemaPrefix + "pool_"

// schemaPool hands out migrated schemas and takes them back emptied. The
// schemas outlive the tests, so the pool's connection holds an advisory lock
// named after the process's tag for as long as the process lives; whoever
// can take the lock of a tag knows its process is gone and drops its schemas.
type schemaPool struct {
	mu    sync.Mutex
	owner *pgx.Conn
	base  string
	tag   string
	n     int
	free  []string
}

func lockKey(tag string) string { return poolPrefix + tag }

func (p *schemaPool) take(t testing.TB) (schema, url string) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if p.owner == nil || p.owner.IsClosed() {
		p.start(t)
	}
	if n := len(p.free); n > 0 {
		schema = p.free[n-1]
		p.free = p.free[:n-1]
		return schema, withSearchPath(t, p.base, schema)
	}
	p.n++
	schema = fmt.Sprintf("%s%s_%d", poolPrefix, p.tag, p.n)
	if _, err := p.owner.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("testdb: create schema %s: %v", schema, err)
	}
	return schema, withSearchPath(t, p.base, schema)
}

// start connects the pool, takes its process lock and drops the schemas of
// test processes that are gone.
func (p *schemaPool) start(t testing.TB) {
	t.Helper()
	p.base = baseURL()
	cctx, ccancel := context.WithTimeout(context.Background(), connectTimeout)
	defer ccancel()
	conn := connect(cctx, t, p.base)
	// The sweep may drop many schemas while other test processes load the
	// server: it gets far longer than connecting.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("testdb: %v", err)
	}
	tag := hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(hashtextextended($1, 0))", lockKey(tag)); err != nil {
		conn.Close(context.Background())
		t.Fatalf("testdb: lock schema pool: %v", err)
	}
	p.owner, p.tag, p.n, p.free = conn, tag, 0, nil

	rows, err := conn.Query(ctx, "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)", poolPrefix)
	if err != nil {
		t.Fatalf("testdb: list schemas: %v", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("testdb: list schemas: %v", err)
	}
	gone := map[string]bool{}
	for _, name := range names {
		other, _, ok := strings.Cut(strings.TrimPrefix(name, poolPrefix), "_")
		if !ok || other == tag {
			continue
		}
		free, seen := gone[other]
		if !seen {
			if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock(hashtextextended($1, 0))", lockKey(other)).Scan(&free); err != nil {
				t.Fatalf("testdb: %v", err)
			}
			gone[other] = free
		}
		if free {
			_, _ = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+name+" CASCADE")
		}
	}
	for other, free := range gone {
		if free {
			_, _ = conn.Exec(ctx, "SELECT pg_advisory_unlock(hashtextextended($1, 0))", lockKey(other))
		}
	}
}

// put empties the schema's tables (keeping its migration record) and
// gives it to the next test; a schema that cannot be emptied is dropped.
// DELETE, children first, costs far less than TRUNCATE on tables this small.
func (p *schemaPool) put(t testing.TB, schema string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.owner == nil || p.owner.IsClosed() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.empty(ctx, schema); err != nil {
		t.Logf("testdb: empty schema %s: %v; dropping it", schema, err)
		p.dropLocked(t, schema)
		return
	}
	p.free = append(p.free, schema)
}

func (p *schemaPool) empty(ctx context.Context, schema string) error {
	rows, err := p.owner.Query(ctx, `SELECT c.relname, COALESCE(array_agg(f.confrelid::regclass::text) FILTER (WHERE f.oid IS NOT NULL), '{}')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		LEFT JOIN pg_constraint f ON f.conrelid = c.oid AND f.contype = 'f'
		WHERE n.nspname = $1 AND c.relkind = 'r' AND c.relname <> 'schema_migrations'
		GROUP BY c.relname`, schema)
	if err != nil {
		return err
	}
	parents := map[string][]string{} // table → tables it references
	for rows.Next() {
		var name string
		var refs []string
		if err := rows.Scan(&name, &refs); err != nil {
			rows.Close()
			return err
		}
		for i, r := range refs {
			_, refs[i], _ = strings.Cut(r, ".") // regclass text is schema-qualified here
		}
		parents[name] = refs
	}
	if err := rows.Err(); err != nil {
		return err
	}
	// Delete a table only once every table referencing it is done.
	var order []string
	done := map[string]bool{}
	for len(done) < len(parents) {
		progress := false
		for name := range parents {
			if done[name] {
				continue
			}
			referenced := false
			for child, refs := range parents {
				if !done[child] && child != name && slices.Contains(refs, name) {
					referenced = true
					break
				}
			}
			if !referenced {
				order = append(order, name)
				done[name] = true
				progress = true
			}
		}
		if !progress {
			return fmt.Errorf("foreign keys form a cycle")
		}
	}
	var b strings.Builder
	b.WriteString("BEGIN;")
	for _, name := range order {
		fmt.Fprintf(&b, "DELETE FROM %s.%s;", schema, name)
	}
	b.WriteString("COMMIT;")
	_, err = p.owner.Exec(ctx, b.String())
	return err
}

func (p *schemaPool) drop(t testing.TB, schema string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dropLocked(t, schema)
}

func (p *schemaPool) dropLocked(t testing.TB, schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := p.owner.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
		t.Errorf("testdb: drop schema %s: %v", schema, err)
	}
}
