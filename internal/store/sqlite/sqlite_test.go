package sqlite_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/latchkey/latchkey/internal/store/sqldb"
	"github.com/latchkey/latchkey/internal/store/sqlite"
	"github.com/latchkey/latchkey/internal/store/storetest"
	"github.com/latchkey/latchkey/internal/store/testdb"
	"github.com/latchkey/latchkey/internal/testkit"
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

func openMigrated(t *testing.T, path string) *sqldb.DB {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

// Batches are committed on one connection of their own, whose page cache
// stays warm from one batch to the next.
func TestWriter_BatchesCommitOnAConnectionOfTheirOwn(t *testing.T) {
	s := openMigrated(t, filepath.Join(t.TempDir(), "latchkey.db"))
	w := s.WriterSQL()
	if w == nil {
		t.Fatal("the SQLite store has no writer pool")
	}
	storetest.IssueConcurrently(t, s, 200)
	st := w.Stats()
	if st.MaxOpenConnections != 1 || st.OpenConnections != 1 {
		t.Fatalf("writer pool: %d open of at most %d connections, want 1 of 1", st.OpenConnections, st.MaxOpenConnections)
	}
}

// The log is copied into the database file in the background: commits
// only do it past 64 MiB of log, so without the checkpointer the file
// would not grow here.
func TestCheckpointer_CopiesTheLogIntoTheDatabaseFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latchkey.db")
	s := openMigrated(t, path)
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	storetest.IssueConcurrently(t, s, 2000)
	testkit.WaitFor(t, "the database file to take the issued tokens", func() bool { return size() > before+512<<10 })
}
