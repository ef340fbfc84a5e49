package sqlite_test

import (
	"context"
	"database/sql"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/latchkey/latchkey/internal/store/sqlite"
	"github.com/latchkey/latchkey/internal/store/storetest"
	"github.com/latchkey/latchkey/internal/store/testdb"
)

func TestSQLiteStore(t *testing.T) {
	storetest.Run(t, testdb.SQLite)
}

func TestMigrate_IsIdempotent(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "latchkey.db")
	for range 2 { // a second process start finds the schema in place
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
		}
		checkMigrations(t, s.SQL())
		s.Close()
	}
}

func TestMigrate_ConcurrentStoresOnOneFileApplyTheSchemaOnce(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "latchkey.db")
	const n = 4
	var stores []*sql.DB
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores = append(stores, s.SQL())
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
	checkMigrations(t, stores[0])
}

// checkMigrations checks that schema_migrations lists each migration file once.
func checkMigrations(t *testing.T, db *sql.DB) {
	t.Helper()
	files, err := fs.Glob(os.DirFS("migrations"), "*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no migration files found (%v)", err)
	}
	for _, f := range files {
		var n int
		version := f[:len(f)-len(".sql")]
		if err := db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
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

func BenchmarkGetApp(b *testing.B)             { storetest.BenchGetApp(b, testdb.SQLite) }
func BenchmarkGetSessionByCookie(b *testing.B) { storetest.BenchGetSessionByCookie(b, testdb.SQLite) }
func BenchmarkConsumeCode(b *testing.B)        { storetest.BenchConsumeCode(b, testdb.SQLite) }
