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
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "foreign_keys(1)", "synchronous(NORMAL)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	s := sqldb.New(db, dialect{})
	if err := s.Ping(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return s, nil
}
