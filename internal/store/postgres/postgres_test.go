package postgres_test

import (
	"context"
	"database/sql"
	"io/fs"
	"os"
	"sync"
	"testing"

	"github.com/latchkey/latchkey/internal/store/postgres"
	"github.com/latchkey/latchkey/internal/store/storetest"
	"github.com/latchkey/latchkey/internal/store/testdb"
)

func TestPostgresStore(t *testing.T) {
	storetest.Run(t, testdb.Postgres)
}

func TestMigrate_IsIdempotent(t *testing.T) {
	ctx := t.Context()
	url := testdb.PostgresURL(t)
	for range 2 { // a second node start finds the schema in place
		s, err := postgres.Open(ctx, url)
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

func TestMigrate_ConcurrentNodesApplyTheSchemaOnce(t *testing.T) {
	ctx := t.Context()
	url := testdb.PostgresURL(t)
	const n = 4
	var dbs []*sql.DB
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		s, err := postgres.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		dbs = append(dbs, s.SQL())
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
	checkMigrations(t, dbs[0])
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
		if err := db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, version).Scan(&n); err != nil {
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

func BenchmarkGetApp(b *testing.B)             { storetest.BenchGetApp(b, testdb.Postgres) }
func BenchmarkGetSessionByCookie(b *testing.B) { storetest.BenchGetSessionByCookie(b, testdb.Postgres) }
func BenchmarkConsumeCode(b *testing.B)        { storetest.BenchConsumeCode(b, testdb.Postgres) }
