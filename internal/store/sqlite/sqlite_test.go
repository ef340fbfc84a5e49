package sqlite_test

import (
	"path/filepath"
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
		storetest.CheckMigrations(t, s.SQL(), "?")
		s.Close()
	}
}

func TestMigrate_ConcurrentStoresOnOneFileApplyTheSchemaOnce(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "latchkey.db")
	storetest.MigrateConcurrently(t, 4, func() (storetest.Migrator, error) { return sqlite.Open(ctx, path) }, "?")
}

func BenchmarkGetApp(b *testing.B)              { storetest.BenchGetApp(b, testdb.SQLite) }
func BenchmarkGetSessionByCookie(b *testing.B)  { storetest.BenchGetSessionByCookie(b, testdb.SQLite) }
func BenchmarkConsumeCode(b *testing.B)         { storetest.BenchConsumeCode(b, testdb.SQLite) }
func BenchmarkCreateTokenParallel(b *testing.B) { storetest.BenchCreateTokenParallel(b, testdb.SQLite) }
func BenchmarkRotateRefreshParallel(b *testing.B) {
	storetest.BenchRotateRefreshParallel(b, testdb.SQLite)
}

func TestStatements_PreparedOncePerPool(t *testing.T) {
	ctx := t.Context()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "latchkey.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	before := s.PreparedStatements()
	for range 5 {
		if _, err := s.GetOrg(ctx, "nobody"); err == nil {
			t.Fatal("GetOrg of a missing organization succeeded")
		}
	}
	if got := s.PreparedStatements(); got != before+1 {
		t.Fatalf("five GetOrg calls left %d prepared statements (from %d), want one more", got, before)
	}
}
