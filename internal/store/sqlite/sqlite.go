// Package sqlite is the embedded SQLite backend (pure Go, modernc.org/sqlite):
// WAL journal, a busy timeout so writers wait for each other, foreign keys on.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/latchkey/latchkey/internal/store/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

type dialect struct{}

func (dialect) Name() string { return "sqlite" }

// PrepareStatements: the driver parses SQL text on every call unless it is
// prepared; the store prepares each statement once (sqldb.StatementPreparer).
func (dialect) PrepareStatements() bool { return true }
func (dialect) Placeholder(int) string  { return "?" }
func (dialect) Migrations() fs.FS       { sub, _ := fs.Sub(migrations, "migrations"); return sub }

// LockRow is empty: every transaction is BEGIN IMMEDIATE (_txlock), which
// takes the write lock before the first read.
func (dialect) LockRow() string { return "" }

// ListAgg uses the ORDER BY inside an aggregate (SQLite 3.44 and later).
func (dialect) ListAgg(expr, orderBy string) string {
	return "json_group_array(" + expr + " ORDER BY " + orderBy + ")"
}
func (dialect) LockMigrations(context.Context, *sql.Conn) (func(), error) {
	// The migration transaction is BEGIN IMMEDIATE (_txlock), which already
	// excludes every other writer of the file.
	return func() {}, nil
}

func (dialect) IsUniqueViolation(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// IsUnavailable: a database file that stays locked past the busy timeout.
func (dialect) IsUnavailable(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && (e.Code()&0xff == sqlite3.SQLITE_BUSY || e.Code()&0xff == sqlite3.SQLITE_LOCKED)
}

// Open opens (creating if needed) the database file at path.
func Open(ctx context.Context, path string) (*sqldb.DB, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("sqlite: create %s: %w", dir, err)
		}
	}
	// The file holds hashes and sealed keys: readable by its owner only.
	if f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600); err == nil {
		f.Close()
	}
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "foreign_keys(1)", "synchronous(NORMAL)",
		// Statement journals (a multi-row INSERT in a transaction keeps
		// one) in memory rather than in a temporary file.
		"temp_store(MEMORY)",
		// Commits copy the log into the database file only as a backstop
		// (64 MiB of log); the checkpointer below does it in the
		// background.
		fmt.Sprintf("wal_autocheckpoint(%d)", backstopPages)} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	cp := startCheckpointer(db, checkpointEvery)
	s := sqldb.New(db, dialect{}, cp.stop)
	// The batching writer's own connection (sqldb.DB.SetWriterPool).
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	s.SetWriterPool(w)
	s.ReportPool("main", sqldb.SQLPoolStats(db))
	s.ReportPool("writer", sqldb.SQLPoolStats(w))
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return s, nil
}

// Checkpoints.
//
// In WAL mode a commit appends pages to the log, and a checkpoint copies
// them into the database file. SQLite's default runs a checkpoint inside
// the commit that finds 1000 pages in the log: on a busy server that was a
// pause of the one writer every few dozen commits, with every queued token
// and code waiting behind it. Here a goroutine runs a PASSIVE checkpoint
// (it never waits for readers or the writer, it copies what it can) every
// checkpointEvery, and commits checkpoint themselves only past
// backstopPages. A page written many times between two checkpoints is
// copied once.
const (
	checkpointEvery = 200 * time.Millisecond
	backstopPages   = 16384
)

type checkpointer struct {
	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

func startCheckpointer(db *sql.DB, every time.Duration) *checkpointer {
	c := &checkpointer{done: make(chan struct{})}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-c.done:
				return
			case <-t.C:
				// Errors (a locked or closed file) are left to the next
				// tick and, past the backstop, to the commits.
				_, _ = db.Exec("PRAGMA wal_checkpoint(PASSIVE)")
			}
		}
	}()
	return c
}

// stop ends the checkpointer; it returns once the last checkpoint ended.
func (c *checkpointer) stop() {
	c.once.Do(func() { close(c.done) })
	c.wg.Wait()
}
