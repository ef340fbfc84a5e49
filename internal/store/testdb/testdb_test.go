package testdb_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/testdb"
)

func TestPostgresURL_ConnectsIntoAFreshSchemaDroppedAfterTheTest(t *testing.T) {
	ctx := context.Background()
	var url, schema string
	t.Run("inner", func(t *testing.T) {
		url = testdb.PostgresURL(t)
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if err := conn.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(schema, testdb.SchemaPrefix) {
			t.Fatalf("current_schema() = %q, want the test schema (%s…); is search_path passed on?", schema, testdb.SchemaPrefix)
		}
		var syncCommit string
		if err := conn.QueryRow(ctx, "SHOW synchronous_commit").Scan(&syncCommit); err != nil {
			t.Fatal(err)
		}
		if syncCommit != "off" && !strings.Contains(os.Getenv("LATCHKEY_TEST_DATABASE_URL"), "synchronous_commit") {
			t.Errorf("synchronous_commit = %q, want off for tests", syncCommit)
		}
		var tables int
		if err := conn.QueryRow(ctx, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = $1", schema).Scan(&tables); err != nil {
			t.Fatal(err)
		}
		if tables != 0 {
			t.Fatalf("fresh schema has %d tables, want 0", tables)
		}
		if _, err := conn.Exec(ctx, "CREATE TABLE probe (x int)"); err != nil {
			t.Fatal(err)
		}
		var where string
		if err := conn.QueryRow(ctx, "SELECT table_schema FROM information_schema.tables WHERE table_name = 'probe' AND table_schema = $1", schema).Scan(&where); err != nil {
			t.Fatalf("unqualified CREATE TABLE did not land in %s: %v", schema, err)
		}
	})
	if schema == "" {
		t.Skip("postgres not available")
	}
	base := os.Getenv("LATCHKEY_TEST_DATABASE_URL")
	if base == "" {
		base = testdb.DefaultPostgresURL
	}
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT COUNT(*) FROM pg_namespace WHERE nspname = $1", schema).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("schema %s still exists after its test ended", schema)
	}
}

func TestPostgresURL_GivesEachTestItsOwnSchema(t *testing.T) {
	a, b := testdb.PostgresURL(t), testdb.PostgresURL(t)
	if a == b {
		t.Fatalf("two calls returned the same URL %q", a)
	}
}

func TestEach_OpensAWorkingMigratedStorePerBackend(t *testing.T) {
	var ran []string
	testdb.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ran = append(ran, t.Name())
		s := open(t)
		if err := s.Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
		orgs, err := s.ListOrgs(context.Background())
		if err != nil {
			t.Fatalf("ListOrgs on a migrated store: %v", err)
		}
		if len(orgs) != 0 {
			t.Fatalf("fresh store has %d orgs", len(orgs))
		}
	})
	if len(ran) != 2 {
		t.Fatalf("Each ran %v, want one subtest per backend", ran)
	}
}

func TestPostgres_EveryTestStartsWithEmptyTables(t *testing.T) {
	for i := range 3 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			s := testdb.Postgres(t)
			orgs, err := s.ListOrgs(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(orgs) != 0 {
				t.Fatalf("store starts with orgs %v left by an earlier test", orgs)
			}
			o := &domain.Organization{ID: "acme", Name: "Acme", Settings: domain.DefaultOrgSettings()}
			if err := s.CreateOrg(t.Context(), o, nil, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestPostgres_StoresHeldAtOnceAreSeparate(t *testing.T) {
	a, b := testdb.Postgres(t), testdb.Postgres(t)
	for _, s := range []store.Store{a, b} {
		o := &domain.Organization{ID: "acme", Name: "Acme", Settings: domain.DefaultOrgSettings()}
		if err := s.CreateOrg(t.Context(), o, nil, nil); err != nil {
			t.Fatalf("CreateOrg in the second store: %v", err)
		}
	}
}
