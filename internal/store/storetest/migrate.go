package storetest

import (
	"context"
	"database/sql"
	"io/fs"
	"os"
	"sync"
	"testing"
)

// Migrator is a backend store as its own tests see it.
type Migrator interface {
	Migrate(ctx context.Context) error
	SQL() *sql.DB
	Close() error
}

// MigrateConcurrently opens n stores on one database with open and has
// them all migrate at once, as nodes starting together do; every call must
// succeed and each migration file must be applied exactly once.
// placeholder is the dialect's first bind parameter ("?" or "$1").
func MigrateConcurrently(t *testing.T, n int, open func() (Migrator, error), placeholder string) {
	t.Helper()
	ctx := t.Context()
	var stores []Migrator
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		s, err := open()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores = append(stores, s)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = s.Migrate(ctx)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate #%d: %v", i, err)
		}
	}
	CheckMigrations(t, stores[0].SQL(), placeholder)
}

// CheckMigrations checks that schema_migrations lists each file of the
// test's ./migrations directory once, and nothing else.
func CheckMigrations(t *testing.T, db *sql.DB, placeholder string) {
	t.Helper()
	files, err := fs.Glob(os.DirFS("migrations"), "*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no migration files found (%v)", err)
	}
	for _, f := range files {
		var n int
		version := f[:len(f)-len(".sql")]
		if err := db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM schema_migrations WHERE version = `+placeholder, version).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("migration %s recorded %d times, want once", version, n)
		}
	}
	var total int
	if err := db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM schema_migrations`).Scan(&total); err != nil {
		t.Fatal(err)
	}
	if total != len(files) {
		t.Errorf("schema_migrations has %d rows, want %d", total, len(files))
	}
}
