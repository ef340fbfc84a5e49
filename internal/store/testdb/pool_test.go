package testdb

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

func schemaExists(t *testing.T, conn *pgx.Conn, name string) bool {
	t.Helper()
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT COUNT(*) FROM pg_namespace WHERE nspname = $1", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func TestSchemaPool_DropsTheSchemasOfGoneProcessesOnly(t *testing.T) {
	ctx := context.Background()
	admin := connect(ctx, t, baseURL())
	defer admin.Close(ctx)

	// A live process: its lock is held (by another connection).
	live := connect(ctx, t, baseURL())
	defer live.Close(ctx)
	if _, err := live.Exec(ctx, "SELECT pg_advisory_lock(hashtextextended($1, 0))", lockKey("live0000000a")); err != nil {
		t.Fatal(err)
	}
	liveSchema, goneSchema := poolPrefix+"live0000000a_1", poolPrefix+"gone0000000b_1"
	for _, s := range []string{liveSchema, goneSchema} {
		if _, err := admin.Exec(ctx, "CREATE SCHEMA "+s+"; CREATE TABLE "+s+".t (x int)"); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+liveSchema+" CASCADE") })

	var p schemaPool
	schema, _ := p.take(t)
	t.Cleanup(func() { p.drop(t, schema); p.owner.Close(context.Background()) })

	if schemaExists(t, admin, goneSchema) {
		t.Errorf("schema %s of a gone process survived the sweep", goneSchema)
	}
	if !schemaExists(t, admin, liveSchema) {
		t.Errorf("schema %s of a live process was dropped", liveSchema)
	}
	// The sweeper let go of the gone process's lock again.
	var free bool
	if err := admin.QueryRow(ctx, "SELECT pg_try_advisory_lock(hashtextextended($1, 0))", lockKey("gone0000000b")).Scan(&free); err != nil || !free {
		t.Errorf("lock of the gone process still held (%v)", err)
	}
	_, _ = admin.Exec(ctx, "SELECT pg_advisory_unlock_all()")
}

func TestSchemaPool_RecycledSchemaIsEmptyButMigrated(t *testing.T) {
	var p schemaPool
	schema, _ := p.take(t)
	t.Cleanup(func() { p.drop(t, schema); p.owner.Close(context.Background()) })
	ctx := context.Background()
	if _, err := p.owner.Exec(ctx, "CREATE TABLE "+schema+".schema_migrations (version text); INSERT INTO "+schema+".schema_migrations VALUES ('0001');"+
		"CREATE TABLE "+schema+".orgs (id text PRIMARY KEY); CREATE TABLE "+schema+".users (org_id text REFERENCES "+schema+".orgs (id));"+
		"INSERT INTO "+schema+".orgs VALUES ('acme'); INSERT INTO "+schema+".users VALUES ('acme')"); err != nil {
		t.Fatal(err)
	}
	p.put(t, schema)
	again, _ := p.take(t)
	if again != schema {
		t.Fatalf("take after put = %s, want the recycled %s", again, schema)
	}
	var orgs, users, versions int
	if err := p.owner.QueryRow(ctx, "SELECT (SELECT COUNT(*) FROM "+schema+".orgs), (SELECT COUNT(*) FROM "+schema+".users), (SELECT COUNT(*) FROM "+schema+".schema_migrations)").Scan(&orgs, &users, &versions); err != nil {
		t.Fatal(err)
	}
	if orgs != 0 || users != 0 || versions != 1 {
		t.Errorf("recycled schema has %d orgs, %d users, %d migrations; want 0, 0, 1", orgs, users, versions)
	}
}
