package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"

	"github.com/latchkey/latchkey/internal/store/postgres"
	"github.com/latchkey/latchkey/internal/store/sqldb"
	"github.com/latchkey/latchkey/internal/store/storetest"
	"github.com/latchkey/latchkey/internal/store/testdb"
	"github.com/latchkey/latchkey/internal/testkit"
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
func BenchmarkCreateTokenParallel(b *testing.B) {
	storetest.BenchCreateTokenParallel(b, testdb.Postgres)
}
func BenchmarkRotateRefreshParallel(b *testing.B) {
	storetest.BenchRotateRefreshParallel(b, testdb.Postgres)
}

// With synchronous_commit on (the server's default), the rows a crash may
// lose are committed on connections with it off, and everything else on
// connections that keep it on.
func TestRelaxedCommits_OnlyForTheRowsACrashMayLose(t *testing.T) {
	ctx := t.Context()
	s := openMigrated(t, strings.Replace(testdb.PostgresURL(t), "synchronous_commit=off", "synchronous_commit=on", 1))
	if s.RelaxedSQL() == nil {
		t.Fatal("no pool for relaxed commits with synchronous_commit on")
	}
	for _, c := range []struct {
		db   *sql.DB
		want string
	}{{s.SQL(), "on"}, {s.RelaxedSQL(), "off"}} {
		var got string
		if err := c.db.QueryRowContext(ctx, "SHOW synchronous_commit").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("synchronous_commit = %q, want %q", got, c.want)
		}
	}
	// It runs inserts and the rate-limit counts, each planned once.
	wantGenericPlans(t, "relaxed", s.RelaxedSQL())
	storetest.CheckIssuedRows(t, s)
	// Rate-limit counts may be lost in a crash: they are counted on the
	// relaxed pool, and count as anywhere else.
	if s.RateLimitSQL() != s.RelaxedSQL() {
		t.Error("rate-limit counts are not written on the relaxed pool")
	}
	window := time.Now().Truncate(time.Minute)
	for want := 1; want <= 3; want++ {
		if n, err := s.HitRateLimit(ctx, "login:192.0.2.1", window, window.Add(-time.Minute)); err != nil || n != want {
			t.Fatalf("HitRateLimit = %d, %v; want %d", n, err, want)
		}
	}
	if err := s.ResetRateLimit(ctx, "login:192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.HitRateLimit(ctx, "login:192.0.2.1", window, window.Add(-time.Minute)); err != nil || n != 1 {
		t.Fatalf("HitRateLimit after the reset = %d, %v; want 1", n, err)
	}

	// A URL that turns it off for everything needs no second pool.
	off, err := postgres.Open(ctx, testdb.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	if off.RelaxedSQL() != nil {
		t.Error("a second pool with synchronous_commit already off")
	}
	if off.RateLimitSQL() != off.SQL() {
		t.Error("without a relaxed pool, rate-limit counts are not written on the main pool")
	}
}

// openMigrated opens the store at url with its schema applied; it is
// closed when the test ends, after the test's own deferred calls.
func openMigrated(t *testing.T, url string) *sqldb.DB {
	t.Helper()
	s, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

// A statement that cannot finish within the timeout (here it waits for a
// lock another session holds, as it would on a frozen primary) fails as
// store.ErrUnavailable and marks the request's context, instead of waiting.
func TestTimeout_AStatementWithoutAnswerFailsAsUnavailable(t *testing.T) {
	ctx := t.Context()
	s := openMigrated(t, testdb.PostgresURL(t))
	tx, err := s.SQL().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Released before s.Close, which waits for every connection, also
	// when the test fails while holding the lock.
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `LOCK TABLE orgs, tokens IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	s.SetTimeout(300 * time.Millisecond)
	req := store.TrackUnavailable(ctx)
	if _, err := s.GetOrg(req, "acme"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("GetOrg behind a lock: %v, want ErrUnavailable", err)
	}
	// The keyed pool's statements have the same deadline (a caller's own
	// deadline, far longer, only bounds this test if they had none).
	bounded, cancelBounded := context.WithTimeout(store.TrackUnavailable(ctx), 30*time.Second)
	defer cancelBounded()
	if _, err := s.GetToken(bounded, "acme", []byte("hash-of-a-token-behind-a-lock-32")); !errors.Is(err, store.ErrUnavailable) || bounded.Err() != nil {
		t.Fatalf("GetToken behind a lock: %v (caller's deadline: %v), want ErrUnavailable within the store's timeout", err, bounded.Err())
	}
	if !store.Unavailable(req) {
		t.Error("the request's context was not marked")
	}
	if _, err := s.UpdateOrg(ctx, "acme", func(*domain.Organization) error { return nil }); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("UpdateOrg behind a lock: %v, want ErrUnavailable", err)
	}
	_ = tx.Rollback()
	if _, err := s.GetOrg(ctx, "acme"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetOrg after the lock: %v, want ErrNotFound", err)
	}
	// A caller that gives up is not told the database is unavailable.
	gone, cancel := context.WithCancel(store.TrackUnavailable(ctx))
	cancel()
	if _, err := s.GetOrg(gone, "acme"); errors.Is(err, store.ErrUnavailable) || store.Unavailable(gone) {
		t.Fatalf("GetOrg with a canceled context: %v (unavailable marked: %v)", err, store.Unavailable(gone))
	}
}

// A database that cannot be reached fails as store.ErrUnavailable.
func TestTimeout_AnUnreachableDatabaseIsUnavailable(t *testing.T) {
	ctx := t.Context()
	testdb.PostgresURL(t) // skips without PostgreSQL, like the other tests
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	_, err = postgres.Open(ctx, "postgres://postgres@"+addr+"/test?sslmode=disable")
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Open of an unreachable database: %v, want ErrUnavailable", err)
	}
}

// Every connection plans each statement for its own values: a generic
// plan made while a table was nearly empty could keep scanning it whole.
func TestConnections_PlanEachStatementForItsValues(t *testing.T) {
	ctx := t.Context()
	s, err := postgres.Open(ctx, testdb.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got string
	if err := s.SQL().QueryRowContext(ctx, "SHOW plan_cache_mode").Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != "force_custom_plan" {
		t.Fatalf("plan_cache_mode = %q, want force_custom_plan", got)
	}
}

// wantGenericPlans checks that pool's connections keep one plan per
// statement and never scan a table.
func wantGenericPlans(t *testing.T, name string, pool *sql.DB) {
	t.Helper()
	for setting, want := range map[string]string{"plan_cache_mode": "force_generic_plan", "enable_seqscan": "off"} {
		var got string
		if err := pool.QueryRowContext(t.Context(), "SHOW "+setting).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("%s pool: %s = %q, want %q", name, setting, got, want)
		}
	}
}

// The keyed statements run with one generic plan per connection; each
// such plan, made on an empty database and again on a small analyzed
// one, must find its rows through the index of its key and never scan a
// table or another index (migration 0015).
func TestKeyedStatements_HaveOneSafePlan(t *testing.T) {
	ctx := t.Context()
	s := openMigrated(t, testdb.PostgresURL(t))
	wantGenericPlans(t, "keyed", s.KeyedSQL())
	conn, err := s.SQL().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []string{"SET plan_cache_mode = force_generic_plan", "SET enable_seqscan = off"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	statements := s.KeyedStatements()
	if len(statements) == 0 {
		t.Fatal("no keyed statements")
	}
	check := func(when string) {
		t.Helper()
		n := 0
		for q, indexes := range statements {
			n++
			name := fmt.Sprintf("keyed_%d", n)
			if _, err := conn.ExecContext(ctx, "PREPARE "+name+" AS "+q); err != nil {
				t.Fatalf("prepare %s: %v", q, err)
			}
			params := strings.Count(q, "$") // $1 … $n, each once or more
			maxParam := 0
			for i := 1; i <= params; i++ {
				if strings.Contains(q, fmt.Sprintf("$%d", i)) {
					maxParam = i
				}
			}
			nulls := strings.TrimSuffix(strings.Repeat("NULL, ", maxParam), ", ")
			rows, err := conn.QueryContext(ctx, "EXPLAIN EXECUTE "+name+"("+nulls+")")
			if err != nil {
				t.Fatalf("explain %s: %v", q, err)
			}
			var plan strings.Builder
			for rows.Next() {
				var line string
				if err := rows.Scan(&line); err != nil {
					t.Fatal(err)
				}
				plan.WriteString(line + "\n")
			}
			rows.Close()
			if _, err := conn.ExecContext(ctx, "DEALLOCATE "+name); err != nil {
				t.Fatal(err)
			}
			text := plan.String()
			if strings.Contains(text, "Seq Scan") {
				t.Errorf("%s: the generic plan scans a table:\n%s\n%s", when, q, text)
			}
			want := strings.Fields(indexes)
			for _, index := range want {
				if !strings.Contains(text, " using "+index+" on ") && !strings.Contains(text, "Bitmap Index Scan on "+index+" ") {
					t.Errorf("%s: the generic plan does not use %s:\n%s\n%s", when, index, q, text)
				}
			}
			for _, line := range strings.Split(text, "\n") {
				used := ""
				if i := strings.Index(line, " using "); i >= 0 {
					used = strings.Fields(line[i+len(" using "):])[0]
				} else if i := strings.Index(line, "Bitmap Index Scan on "); i >= 0 {
					used = strings.Fields(line[i+len("Bitmap Index Scan on "):])[0]
				}
				if used != "" {
					if !slices.Contains(want, used) && !strings.HasPrefix(used, "session_clients_pkey") {
						t.Errorf("%s: the generic plan uses %s, not its key's index:\n%s\n%s", when, used, q, text)
					}
				}
			}
		}
	}
	check("on an empty database")

	// A few rows, analyzed: the size at which a generic plan picked
	// another index before migration 0015.
	storetest.SeedGrants(t, s, 20)
	if _, err := conn.ExecContext(ctx, "ANALYZE"); err != nil {
		t.Fatal(err)
	}
	check("on a small analyzed database")
}

// follower records what FollowChanges passes on.
type follower struct {
	mu        sync.Mutex
	listening bool
	orgs      []string
	users     []string
}

func (f *follower) Changed(orgID, clientID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if clientID == "" {
		f.orgs = append(f.orgs, orgID)
	}
}

func (f *follower) UserChanged(orgID, sub string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users = append(f.users, orgID+"/"+sub)
}

func (f *follower) Listening() { f.mu.Lock(); f.listening = true; f.mu.Unlock() }
func (f *follower) Lost()      { f.mu.Lock(); f.listening = false; f.mu.Unlock() }

func (f *follower) seen() (listening bool, orgs, users []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.listening, slices.Clone(f.orgs), slices.Clone(f.users)
}

// A user's change is announced by the database itself, even made with
// plain SQL; a statement that changes many users (an organization's
// deletion) announces their organization once instead of each user.
func TestAnnouncements_NameEachChangedUserOrTheirOrganization(t *testing.T) {
	ctx := t.Context()
	url := testdb.PostgresURL(t)
	s := openMigrated(t, url)
	f := &follower{}
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	go postgres.FollowChanges(lctx, url, f, slog.New(slog.DiscardHandler))
	testkit.WaitFor(t, "the announcements to be followed", func() bool { l, _, _ := f.seen(); return l })

	now := time.Now().UTC().Truncate(time.Microsecond)
	if err := s.CreateOrg(ctx, &domain.Organization{ID: "many", Name: "Many", Settings: domain.DefaultOrgSettings(), CreatedAt: now, UpdatedAt: now}, nil, nil); err != nil {
		t.Fatal(err)
	}
	for i := range 101 {
		u := &domain.User{OrgID: "many", Sub: fmt.Sprintf("sub-%03d", i), UserName: fmt.Sprintf("user-%03d", i), Role: domain.RoleUser, CreatedAt: now, UpdatedAt: now}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.SQL().ExecContext(ctx, `UPDATE users SET name = 'By SQL' WHERE org_id = 'many' AND sub = 'sub-007'`); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "every user's creation and the SQL update to be announced", func() bool {
		_, _, users := f.seen()
		return len(users) == 102 && users[101] == "many/sub-007"
	})

	_, orgsBefore, _ := f.seen()
	if err := s.DeleteOrg(ctx, "many"); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the organization's deletion to be announced", func() bool {
		_, orgs, _ := f.seen()
		return len(orgs) > len(orgsBefore)
	})
	// The orgs trigger announces the deletion too; what matters is that
	// the 101 users' rows were not announced one by one.
	if _, _, users := f.seen(); len(users) != 102 {
		t.Fatalf("%d user announcements after deleting an organization of 101 users, want none beyond the 102 before", len(users))
	}
}

// CreateOrg removes sessions left behind by a deleted organization of the
// same id, but no index of sessions begins with org_id: the table is
// scanned only for an id DeleteOrg removed, never for a new one.
func TestCreateOrg_ScansSessionsOnlyUnderADeletedID(t *testing.T) {
	ctx := t.Context()
	s := openMigrated(t, testdb.PostgresURL(t))
	storetest.SeedGrants(t, s, 20)
	if _, err := s.SQL().ExecContext(ctx, "ANALYZE"); err != nil {
		t.Fatal(err)
	}
	plan := func(id string, deleted bool) string {
		t.Helper()
		tx, err := s.SQL().BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback() }()
		if deleted {
			if _, err := tx.ExecContext(ctx, "INSERT INTO deleted_orgs (id) VALUES ($1)", id); err != nil {
				t.Fatal(err)
			}
		}
		rows, err := tx.QueryContext(ctx, "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) "+s.SessionsOfDeletedOrg(), id, id)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var b strings.Builder
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			b.WriteString(line + "\n")
		}
		return b.String()
	}
	if p := plan("fresh-org", false); !strings.Contains(p, "on sessions (never executed)") {
		t.Errorf("a new id scanned sessions:\n%s", p)
	}
	if p := plan("reused-org", true); strings.Contains(p, "never executed") || !strings.Contains(p, "on sessions") {
		t.Errorf("a deleted id did not look for its sessions:\n%s", p)
	}
}
