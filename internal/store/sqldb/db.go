// Package sqldb implements store.Store once, on database/sql, for every SQL
// backend. A Dialect supplies what differs: placeholders, how a unique
// violation looks, how migrations are locked, and the migration files.
//
// Queries stay inside the portable subset of SQL that SQLite, PostgreSQL and
// the PostgreSQL-compatible distributed engines share: every statement on an
// organization-owned table filters by org_id, and none joins across
// organizations.
package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

// Dialect is what a backend tells the shared implementation.
type Dialect interface {
	// Name is "sqlite" or "postgres".
	Name() string
	// Placeholder returns the n-th (1-based) bind parameter marker.
	Placeholder(n int) string
	// IsUniqueViolation reports whether err is a unique or primary key violation.
	IsUniqueViolation(err error) bool
	// LockMigrations takes the cross-process migration lock on conn and
	// returns its release; it is called before the migration transaction.
	LockMigrations(ctx context.Context, conn *sql.Conn) (release func(), err error)
	// Migrations holds NNNN_name.sql files, applied in name order.
	Migrations() fs.FS
	// IsUnavailable reports whether err means the database could not be
	// reached or stopped answering (beyond the network errors every
	// driver shares), so that the call fails with store.ErrUnavailable.
	IsUnavailable(err error) bool
	// LockRow is appended to the SELECT of an updater to lock the row it
	// reads until the transaction ends: " FOR UPDATE" on PostgreSQL, ""
	// where the transaction itself excludes other writers (SQLite's
	// BEGIN IMMEDIATE).
	LockRow() string
	// ListAgg aggregates expr over a subquery's rows, in the order of
	// orderBy, into the text of a JSON array ("[]" when there are none).
	ListAgg(expr, orderBy string) string
}

// DB is a store.Store on a *sql.DB.
type DB struct {
	db *pool
	// relaxed, when set, is a pool whose commits do not wait for the WAL
	// flush (PostgreSQL synchronous_commit off), for the rows a crash may
	// lose (docs/performance.md).
	relaxed *pool
	// keyed, when set, runs the hot key lookups and guarded redemptions
	// with plans kept per connection (PostgreSQL; see SetKeyedPool).
	keyed *pool
	// writer, when set, is a pool of one connection that every write
	// runs on: the batching writer's batches, transactions and single
	// statements (SQLite; see SetWriterPool and writes).
	writer  *pool
	batch   *batcher
	metrics *writerMetrics
	// pools are the backend's connection pools, for /metrics (ReportPool).
	pools   []namedPool
	dialect Dialect
	queries sync.Map // query with ? → dialect form
	// sessionRead is what a session read selects: sessionCols and
	// sessionClients; sessionByID and sessionByCookie read one session.
	sessionRead, sessionByID, sessionByCookie string
	// codeWithSession and tokenWithSession read a code or a token and its
	// session at once (withSessionQuery).
	codeWithSession, tokenWithSession string

	onClose []func()
}

var _ store.Store = (*DB)(nil)

// New wraps db. The caller has configured the pool; Close closes it and
// then runs onClose.
func New(db *sql.DB, d Dialect, onClose ...func()) *DB {
	p := &pool{raw: db, unavailable: d.IsUnavailable}
	if sp, ok := d.(StatementPreparer); ok && sp.PrepareStatements() {
		p.stmts = &statements{}
	}
	read := sessionCols + ", " + sessionClients(d)
	s := &DB{db: p, dialect: d, onClose: onClose, sessionRead: read,
		sessionByID:     `SELECT ` + read + ` FROM sessions WHERE org_id = ? AND sid = ?`,
		sessionByCookie: `SELECT ` + read + ` FROM sessions WHERE org_id = ? AND cookie_hash = ?`,
		codeWithSession: withSessionQuery(d, "auth_codes", codeCols), tokenWithSession: withSessionQuery(d, "tokens", tokenCols)}
	s.metrics = newWriterMetrics()
	s.batch = &batcher{write: s.writeBatch, maxRunning: 1}
	if d.Name() != "sqlite" {
		// SQLite has one writer at a time; PostgreSQL commits concurrent
		// batches side by side.
		s.batch.maxRunning = 4
	}
	return s
}

// SetRelaxedPool gives the store a pool whose commits do not wait for the
// WAL flush, for the rows a crash may lose: a just-issued access token, an
// authorization code, a pending authorization request. Close closes it
// and then runs onClose.
func (s *DB) SetRelaxedPool(db *sql.DB, onClose ...func()) {
	s.relaxed = &pool{raw: db, timeout: s.db.timeout, unavailable: s.dialect.IsUnavailable}
	s.onClose = append(append([]func(){func() { _ = db.Close() }}, onClose...), s.onClose...)
}

// SetKeyedPool gives the store a pool for the statements of a sign-in
// that look rows up by their whole key (KeyedStatements): a session by
// id or cookie, a code or token by hash, the guarded redemptions and the
// uses of single-use rows (consume). On
// PostgreSQL its connections keep one generic plan per statement instead
// of planning every run, which the schema makes safe (postgres migration
// 0015: each such lookup has exactly one index it can use). Close closes
// it and then runs onClose.
func (s *DB) SetKeyedPool(db *sql.DB, onClose ...func()) {
	s.keyed = &pool{raw: db, timeout: s.db.timeout, unavailable: s.dialect.IsUnavailable}
	s.onClose = append(append([]func(){func() { _ = db.Close() }}, onClose...), s.onClose...)
}

// keyedPool is the pool of the keyed statements.
func (s *DB) keyedPool() *pool {
	if s.keyed != nil {
		return s.keyed
	}
	return s.db
}

// KeyedStatements are the statements that scan an index with a plan kept
// per connection (those of the keyed pool, and the rate-limit sweeps of the
// relaxed pool), in the dialect's form, with the names of the index each
// must use, for tests that check their plans.
func (s *DB) KeyedStatements() map[string]string {
	out := map[string]string{}
	for q, index := range map[string]string{
		s.sessionByID:                                        "sessions_pkey",
		s.sessionByCookie:                                    "sessions_cookie",
		tokenByHash:                                          "tokens_pkey",
		s.codeWithSession:                                    "auth_codes_pkey sessions_pkey",
		s.tokenWithSession:                                   "tokens_pkey sessions_pkey",
		guardedTokenInsert(codeUseGuard, 2):                  "auth_codes_pkey",
		guardedTokenInsert(issuedCodeUseGuard, 2):            "auth_codes_pkey sessions_pkey",
		guardedTokenInsert(refreshRotateGuard, 2):            "tokens_pkey",
		countFactors:                                         "passkeys_user totp_factors_pkey recovery_codes_pkey",
		consumeQuery("auth_codes", codeCols):                 "auth_codes_pkey",
		consumeQuery("login_tickets", ticketCols):            "login_tickets_pkey",
		ticketByHash:                                         "login_tickets_pkey",
		ticketRedemption:                                     "login_tickets_pkey",
		consumeQuery("mfa_flows", mfaFlowCols):               "mfa_flows_pkey",
		consumeQuery("setup_tokens", setupTokenCols):         "setup_tokens_pkey",
		consumeQuery("upstream_logins", upstreamLoginCols):   "upstream_logins_pkey",
		consumeQuery("upstream_logouts", upstreamLogoutCols): "upstream_logouts_pkey",
		// Run on the relaxed pool, with its generic plans.
		rateLimitSweep: "rate_limits_pkey",
		rateLimitReset: "rate_limits_pkey",
	} {
		out[s.q(q)] = index
	}
	return out
}

// SetWriterPool gives the writes a pool of their own, of one connection
// (SQLite, where there is one writer at a time anyway): the batching
// writer's batches, every transaction and every single write (see
// writes). A SQLite connection drops its page cache whenever another
// connection has written since its last transaction; batches written on
// whichever pool connection was free therefore started cold and read
// their pages back from the file, while a connection that writes every
// batch keeps its cache across them. Close closes it.
func (s *DB) SetWriterPool(db *sql.DB) {
	s.writer = &pool{raw: db, timeout: s.db.timeout, unavailable: s.dialect.IsUnavailable}
	if s.db.stmts != nil {
		s.writer.stmts = &statements{}
	}
}

// writes is the pool every write and every transaction runs on: the
// writer's one connection when there is one (SQLite), else the main pool.
//
// SQLite has one writer at a time, and every transaction there begins
// IMMEDIATE (takes the write lock at once). Writes on several connections
// therefore waited for each other inside SQLite, whose busy handler
// sleeps (1, 2, 5, 10 … ms) between tries however soon the lock is free,
// and each started with a page cache emptied by the other connections'
// writes. On the writer's connection they queue in database/sql instead,
// each taking the connection the moment the previous one returns it, and
// its cache stays warm.
func (s *DB) writes() *pool {
	if s.writer != nil {
		return s.writer
	}
	return s.db
}

// SQL exposes the pool to backend tests that must read raw rows.
func (s *DB) SQL() *sql.DB { return s.db.raw }

// WriterSQL exposes the batching writer's own pool (nil when there is
// none) to backend tests.
func (s *DB) WriterSQL() *sql.DB {
	if s.writer == nil {
		return nil
	}
	return s.writer.raw
}

// KeyedSQL exposes the keyed pool (nil when there is none) to backend tests.
func (s *DB) KeyedSQL() *sql.DB {
	if s.keyed == nil {
		return nil
	}
	return s.keyed.raw
}

// RelaxedSQL exposes the pool of relaxed commits (nil when there is none)
// to backend tests.
func (s *DB) RelaxedSQL() *sql.DB {
	if s.relaxed == nil {
		return nil
	}
	return s.relaxed.raw
}

// RateLimitSQL exposes the pool rate-limit counts are written on to
// backend tests.
func (s *DB) RateLimitSQL() *sql.DB { return s.rateLimits().raw }

// Close closes the pool.
func (s *DB) Close() error {
	if s.db.stmts != nil {
		s.db.stmts.close()
	}
	err := s.db.raw.Close()
	if s.writer != nil {
		if s.writer.stmts != nil {
			s.writer.stmts.close()
		}
		_ = s.writer.raw.Close()
	}
	for _, f := range s.onClose {
		f()
	}
	return err
}

// Ping checks that the database answers.
func (s *DB) Ping(ctx context.Context) error {
	var one int
	return s.db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// q rewrites ? placeholders into the dialect's form, once per query text.
func (s *DB) q(query string) string {
	if v, ok := s.queries.Load(query); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteString(s.dialect.Placeholder(n))
			continue
		}
		b.WriteByte(query[i])
	}
	out := b.String()
	s.queries.Store(query, out)
	return out
}

// querier runs statements: the pool, or a transaction (*sql.Tx).
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// exec runs a statement that returns no rows: a write. Outside a
// transaction (x is the main pool) it runs on the pool of writes.
func (s *DB) exec(ctx context.Context, x querier, query string, args ...any) (sql.Result, error) {
	switch v := x.(type) {
	case *sql.Tx:
		x = txExec{tx: v, p: s.writes()}
	case *pool:
		if v == s.db {
			x = s.writes()
		}
	}
	return x.ExecContext(ctx, s.q(query), args...)
}

// execOne runs a statement that must affect exactly one row, else ErrNotFound.
func (s *DB) execOne(ctx context.Context, x querier, query string, args ...any) error {
	res, err := s.exec(ctx, x, query, args...)
	if err != nil {
		return s.classify(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// classify maps driver errors onto store errors.
func (s *DB) classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return store.ErrNotFound
	case s.dialect.IsUniqueViolation(err):
		return fmt.Errorf("%w: %v", store.ErrConflict, err)
	}
	return err
}

// storableKey reports whether every key could be stored at all: a lookup by
// a value with a NUL byte or invalid UTF-8 (straight from a request) finds
// nothing, rather than making PostgreSQL fail the query.
func storableKey(keys ...string) bool {
	for _, k := range keys {
		if !utf8.ValidString(k) || strings.IndexByte(k, 0) >= 0 {
			return false
		}
	}
	return true
}

// inTx runs fn in a transaction on the pool of writes, committing when it
// returns nil. The whole transaction, and each of its statements, is
// bounded by the timeout. Statements of fn that read through a pool's
// helpers take the transaction's pool, s.writes().
func (s *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.inTxOn(ctx, s.writes(), fn)
}

// inTxOn is inTx on the pool p.
func (s *DB) inTxOn(ctx context.Context, p *pool, fn func(tx *sql.Tx) error) error {
	bctx, cancel := p.bound(ctx)
	defer cancel()
	tx, err := p.raw.BeginTx(bctx, nil)
	if err != nil {
		return s.classify(p.wrap(ctx, err))
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		if bctx.Err() != nil && !errors.Is(err, store.ErrUnavailable) {
			// The transaction's deadline ended it under a statement.
			err = p.wrap(ctx, fmt.Errorf("%w: %v", context.DeadlineExceeded, err))
		}
		return s.classify(err)
	}
	return s.classify(p.wrap(ctx, tx.Commit()))
}

// appendAudit writes events in tx; nil events are skipped.
func (s *DB) appendAudit(ctx context.Context, x querier, events []*domain.AuditEvent) error {
	for _, e := range events {
		if e == nil {
			continue
		}
		if err := s.insertAudit(ctx, x, e); err != nil {
			return fmt.Errorf("audit event %s: %w", e.Action, err)
		}
	}
	return nil
}

// update is the shape of every updater: read the row locked, let fn change
// it, write it back, audit, commit.
func update[T any](ctx context.Context, s *DB, read func(tx *sql.Tx) (T, error), fn func(T) error, write func(tx *sql.Tx, v T) error, audit []*domain.AuditEvent) (T, error) {
	var out T
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		v, err := read(tx)
		if err != nil {
			return err
		}
		if err := fn(v); err != nil {
			return &updateError{err}
		}
		if err := write(tx, v); err != nil {
			return err
		}
		if err := s.appendAudit(ctx, tx, audit); err != nil {
			return err
		}
		out = v
		return nil
	})
	var ue *updateError
	if errors.As(err, &ue) {
		return out, ue.err
	}
	return out, err
}

// checkedError is err, or the caller's own error an updateError carried.
func checkedError(err error) error {
	var ue *updateError
	if errors.As(err, &ue) {
		return ue.err
	}
	return err
}

// updateError carries an updater function's own error past classify.
type updateError struct{ err error }

func (e *updateError) Error() string { return e.err.Error() }
func (e *updateError) Unwrap() error { return e.err }

// Times are stored as unix microseconds; 0 means unset.
func ts(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func tm(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("sqldb: marshal %T: %v", v, err)) // only plain slices and maps reach here
	}
	return string(b)
}

func strList(s string) ([]string, error) {
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("decode list column: %w", err)
	}
	return out, nil
}

// Migrate applies the dialect's pending migrations in one transaction,
// holding the migration lock so nodes that start together take turns.
func (s *DB) Migrate(ctx context.Context) error {
	conn, err := s.db.raw.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	release, err := s.dialect.LockMigrations(ctx, conn)
	if err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	defer release()

	files, err := fs.Glob(s.dialect.Migrations(), "*.sql")
	if err != nil {
		return err
	}
	sort.Strings(files)

	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	applied := map[string]bool{}
	rows, err := tx.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return err
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, f := range files {
		version := strings.TrimSuffix(f, ".sql")
		if applied[version] {
			continue
		}
		body, err := fs.ReadFile(s.dialect.Migrations(), f)
		if err != nil {
			return err
		}
		for _, stmt := range splitStatements(string(body)) {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("migrate %s: %w", version, err)
			}
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`), version, time.Now().UnixMicro()); err != nil {
			return fmt.Errorf("migrate %s: %w", version, err)
		}
	}
	return tx.Commit()
}

// splitStatements splits a migration file at semicolons that end a line,
// dropping comment-only lines. Migration files keep semicolons out of strings.
func splitStatements(body string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(body, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trimmed, ";") {
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		}
	}
	if strings.TrimSpace(cur.String()) != "" {
		out = append(out, strings.TrimSpace(cur.String()))
	}
	return out
}
