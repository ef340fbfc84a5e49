package postgres_test

import (
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
		storetest.CheckMigrations(t, s.SQL(), "$1")
		s.Close()
	}
}

func TestMigrate_ConcurrentNodesApplyTheSchemaOnce(t *testing.T) {
	ctx := t.Context()
	url := testdb.PostgresURL(t)
	storetest.MigrateConcurrently(t, 4, func() (storetest.Migrator, error) { return postgres.Open(ctx, url) }, "$1")
}

func BenchmarkGetApp(b *testing.B)             { storetest.BenchGetApp(b, testdb.Postgres) }
func BenchmarkGetSessionByCookie(b *testing.B) { storetest.BenchGetSessionByCookie(b, testdb.Postgres) }
func BenchmarkConsumeCode(b *testing.B)        { storetest.BenchConsumeCode(b, testdb.Postgres) }
