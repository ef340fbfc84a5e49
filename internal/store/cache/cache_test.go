package cache_test

import (
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/cache"
	"github.com/latchkey/latchkey/internal/store/storetest"
	"github.com/latchkey/latchkey/internal/store/testdb"
)

// The cached store is a store: the whole conformance suite passes through
// it, with entries that would live for an hour, so every read-after-write
// in the suite proves the in-process invalidation.
func TestCachedStore_Conformance(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		storetest.Run(t, func(t testing.TB) store.Store {
			return cache.New(testdb.SQLite(t), time.Hour, false)
		})
	})
	t.Run("postgres", func(t *testing.T) {
		storetest.Run(t, func(t testing.TB) store.Store {
			c := cache.New(testdb.Postgres(t), time.Hour, true)
			c.Listening() // this process is the only writer here
			return c
		})
	})
}

func newApp(t *testing.T, st store.Store) (*domain.Application, *cache.Store) {
	t.Helper()
	ctx := context.Background()
	c := cache.New(st, time.Hour, false)
	now := time.Now().UTC().Truncate(time.Microsecond)
	if err := c.CreateOrg(ctx, &domain.Organization{ID: "acme", Name: "Acme", Settings: domain.DefaultOrgSettings(), CreatedAt: now, UpdatedAt: now}, nil, nil); err != nil {
		t.Fatal(err)
	}
	a := &domain.Application{OrgID: "acme", ClientID: "app1", Name: "App", SecretHash: []byte("old-hash-old-hash-old-hash-old-h"),
		RedirectURIs: []string{"https://app.example/cb"}, CreatedAt: now, UpdatedAt: now}
	a.ApplyDefaults()
	if err := c.CreateApp(ctx, a); err != nil {
		t.Fatal(err)
	}
	return a, c
}

func TestCache_ServesCopiesAndDropsWhatChanges(t *testing.T) {
	ctx := context.Background()
	raw := testdb.SQLite(t)
	_, c := newApp(t, raw)
	got, err := c.GetApp(ctx, "acme", "app1")
	if err != nil || !c.HasApp("acme", "app1") {
		t.Fatalf("GetApp: %v, cached %v", err, c.HasApp("acme", "app1"))
	}
	// A caller changing what it got changes nobody else's copy.
	got.RedirectURIs[0] = "https://evil.example/cb"
	again, _ := c.GetApp(ctx, "acme", "app1")
	if again.RedirectURIs[0] != "https://app.example/cb" {
		t.Fatalf("the cached application was changed through a returned copy: %v", again.RedirectURIs)
	}

	// A change behind the cache's back (another process) is not seen ...
	if _, err := raw.UpdateApp(ctx, "acme", "app1", func(a *domain.Application) error { a.Name = "Renamed"; return nil }); err != nil {
		t.Fatal(err)
	}
	if a, _ := c.GetApp(ctx, "acme", "app1"); a.Name != "App" {
		t.Fatalf("expected the cached name until invalidated, got %q", a.Name)
	}
	// ... until it is announced.
	c.Changed("acme", "app1")
	if a, _ := c.GetApp(ctx, "acme", "app1"); a.Name != "Renamed" {
		t.Fatalf("after the announcement: %q", a.Name)
	}
	// An organization's announcement drops its applications too.
	if _, err := raw.UpdateApp(ctx, "acme", "app1", func(a *domain.Application) error { a.Name = "Again"; return nil }); err != nil {
		t.Fatal(err)
	}
	c.Changed("acme", "")
	if a, _ := c.GetApp(ctx, "acme", "app1"); a.Name != "Again" {
		t.Fatalf("after the organization's announcement: %q", a.Name)
	}
	// Changes through the cache are seen at once.
	if err := c.DeleteApp(ctx, "acme", "app1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetApp(ctx, "acme", "app1"); err != store.ErrNotFound {
		t.Fatalf("deleted application: %v", err)
	}
}

func TestCache_ServesNothingWhileAnnouncementsAreNotFollowed(t *testing.T) {
	ctx := context.Background()
	raw := testdb.SQLite(t)
	_, local := newApp(t, raw)
	_ = local
	c := cache.New(raw, time.Hour, true)
	if c.Live() {
		t.Fatal("an announced cache is live before it listens")
	}
	if _, err := c.GetApp(ctx, "acme", "app1"); err != nil || c.HasApp("acme", "app1") {
		t.Fatalf("cached before listening: %v", err)
	}
	c.Listening()
	if _, err := c.GetApp(ctx, "acme", "app1"); err != nil || !c.HasApp("acme", "app1") {
		t.Fatalf("not cached while listening: %v", err)
	}
	c.Lost()
	if c.HasApp("acme", "app1") || c.Live() {
		t.Fatal("entries survived a lost connection")
	}
	if _, err := raw.UpdateApp(ctx, "acme", "app1", func(a *domain.Application) error { a.Name = "Missed"; return nil }); err != nil {
		t.Fatal(err)
	}
	if a, _ := c.GetApp(ctx, "acme", "app1"); a.Name != "Missed" || c.HasApp("acme", "app1") {
		t.Fatalf("while not listening: %q, cached %v", a.Name, c.HasApp("acme", "app1"))
	}
}
