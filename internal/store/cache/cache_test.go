package cache_test

import (
	"context"
	"database/sql"
	"fmt"
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

func newUser(t *testing.T, c *cache.Store, sub string) *domain.User {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	u := &domain.User{OrgID: "acme", Sub: sub, UserName: "user-" + sub, Role: domain.RoleUser, CreatedAt: now, UpdatedAt: now}
	if err := c.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestCache_UsersAreServedAsCopiesAndDroppedWhenTheyChange(t *testing.T) {
	ctx := context.Background()
	raw := testdb.SQLite(t)
	_, c := newApp(t, raw)
	newUser(t, c, "sub-1")
	got, err := c.GetUser(ctx, "acme", "sub-1")
	if err != nil || !c.HasUser("acme", "sub-1") {
		t.Fatalf("GetUser: %v, cached %v", err, c.HasUser("acme", "sub-1"))
	}
	got.Disabled = true // a caller's copy is its own
	if again, _ := c.GetUser(ctx, "acme", "sub-1"); again.Disabled {
		t.Fatal("the cached user was changed through a returned copy")
	}

	// Disabled through the cache (this node): refused at once.
	if _, err := c.UpdateUser(ctx, "acme", "sub-1", func(u *domain.User) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if u, _ := c.GetUser(ctx, "acme", "sub-1"); !u.Disabled {
		t.Fatal("a user disabled through the cache is still served enabled")
	}

	// Changed behind the cache's back (another node): seen once announced.
	if _, err := raw.UpdateUser(ctx, "acme", "sub-1", func(u *domain.User) error { u.Disabled = false; return nil }); err != nil {
		t.Fatal(err)
	}
	if u, _ := c.GetUser(ctx, "acme", "sub-1"); !u.Disabled {
		t.Fatal("expected the cached user until the change is announced")
	}
	c.UserChanged("acme", "sub-1")
	if u, _ := c.GetUser(ctx, "acme", "sub-1"); u.Disabled {
		t.Fatal("the announced change is not seen")
	}
	// An organization's announcement drops its users too.
	if _, err := raw.UpdateUser(ctx, "acme", "sub-1", func(u *domain.User) error { u.Name = "Renamed"; return nil }); err != nil {
		t.Fatal(err)
	}
	c.Changed("acme", "")
	if u, _ := c.GetUser(ctx, "acme", "sub-1"); u.Name != "Renamed" {
		t.Fatalf("after the organization's announcement: %q", u.Name)
	}

	// Deleted through the cache: gone at once.
	if err := c.DeleteUser(ctx, "acme", "sub-1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetUser(ctx, "acme", "sub-1"); err != store.ErrNotFound {
		t.Fatalf("deleted user: %v", err)
	}
}

func TestCache_UserEntriesExpire(t *testing.T) {
	ctx := context.Background()
	raw := testdb.SQLite(t)
	_, c := newApp(t, raw)
	now := time.Now()
	c.SetClock(func() time.Time { return now })
	c.SetTTL(time.Second)
	newUser(t, c, "sub-1")
	if _, err := c.GetUser(ctx, "acme", "sub-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.UpdateUser(ctx, "acme", "sub-1", func(u *domain.User) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Second)
	if u, _ := c.GetUser(ctx, "acme", "sub-1"); !u.Disabled {
		t.Fatal("a user changed by another process is served past the time to live")
	}
}

func TestCache_HoldsAtMostMaxUsers(t *testing.T) {
	ctx := context.Background()
	raw := testdb.SQLite(t)
	_, c := newApp(t, raw)
	c.SetMaxUsers(5)
	for i := range 12 {
		sub := fmt.Sprintf("sub-%02d", i)
		newUser(t, c, sub)
		if _, err := c.GetUser(ctx, "acme", sub); err != nil {
			t.Fatal(err)
		}
		if n := c.CachedUsers(); n > 5 {
			t.Fatalf("%d users cached after %d reads, want at most 5", n, i+1)
		}
	}
	if !c.HasUser("acme", "sub-11") {
		t.Fatal("the last user read is not cached")
	}
}

// A userName leads to the user it named when read, and only while the user
// still bears it: renames, deletions and another user taking the name are
// seen once the change is (made here or) announced.
func TestCache_UsersByNameFollowRenamesDeletionsAndReplacements(t *testing.T) {
	ctx := context.Background()
	raw := testdb.SQLite(t)
	_, c := newApp(t, raw)
	newUser(t, c, "x") // user-x
	byName := func(name string) (string, error) {
		t.Helper()
		u, err := c.GetUserByName(ctx, "acme", name)
		if err != nil {
			return "", err
		}
		return u.Sub + "/" + u.UserName, nil
	}
	if got, err := byName("USER-X"); err != nil || got != "x/user-x" {
		t.Fatalf("by name: %q, %v", got, err)
	}
	if !c.HasUser("acme", "x") || c.CachedNames() != 1 {
		t.Fatalf("cached: user %v, %d names", c.HasUser("acme", "x"), c.CachedNames())
	}
	// Served from memory: a rename behind the cache's back is not seen ...
	rename := func(st store.Store, sub, name string) {
		t.Helper()
		if _, err := st.UpdateUser(ctx, "acme", sub, func(u *domain.User) error { u.UserName = name; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	rename(raw, "x", "alicia")
	if got, _ := byName("user-x"); got != "x/user-x" {
		t.Fatalf("before the announcement: %q", got)
	}
	// ... until it is announced: the old name then names nobody, the new one x.
	c.UserChanged("acme", "x")
	if got, err := byName("user-x"); err != store.ErrNotFound {
		t.Fatalf("the old name after the rename: %q, %v", got, err)
	}
	if got, _ := byName("alicia"); got != "x/alicia" {
		t.Fatalf("the new name: %q", got)
	}

	// Another user takes the name (x renamed through the cache, y created).
	rename(c, "x", "xavier")
	y := &domain.User{OrgID: "acme", Sub: "y", UserName: "Alicia", Role: domain.RoleUser, CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()}
	if err := c.CreateUser(ctx, y); err != nil {
		t.Fatal(err)
	}
	if got, _ := byName("alicia"); got != "y/Alicia" {
		t.Fatalf("the name taken over: %q", got)
	}
	// Deleted and replaced behind the cache's back, then announced.
	if err := raw.DeleteUser(ctx, "acme", "y", nil); err != nil {
		t.Fatal(err)
	}
	z := &domain.User{OrgID: "acme", Sub: "z", UserName: "alicia", Role: domain.RoleUser, CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()}
	if err := raw.CreateUser(ctx, z); err != nil {
		t.Fatal(err)
	}
	c.UserChanged("acme", "y")
	if got, _ := byName("ALICIA"); got != "z/alicia" {
		t.Fatalf("replaced behind the cache's back: %q", got)
	}
	// An unknown name is not remembered; an organization's announcement
	// drops its names.
	if _, err := byName("nobody"); err != store.ErrNotFound {
		t.Fatalf("unknown name: %v", err)
	}
	c.Changed("acme", "")
	if n := c.CachedNames(); n != 0 {
		t.Fatalf("%d names cached after the organization's announcement", n)
	}

	// Names are bounded like users.
	c.SetMaxUsers(3)
	for i := range 8 {
		sub := fmt.Sprintf("n%d", i)
		newUser(t, c, sub)
		if _, err := byName("user-" + sub); err != nil {
			t.Fatal(err)
		}
		if n := c.CachedNames(); n > 3 {
			t.Fatalf("%d names cached, want at most 3", n)
		}
	}
}

// API keys found are served from memory, within their expiry, until their
// organization changes: a rotation here drops them at once, one behind
// the cache's back once announced.
func TestCache_APIKeysAreServedUntilTheirOrganizationChanges(t *testing.T) {
	ctx := context.Background()
	raw := testdb.SQLite(t)
	_, c := newApp(t, raw)
	now := time.Now().UTC().Truncate(time.Microsecond)
	newKey := func(id string) *domain.APIKey {
		return &domain.APIKey{OrgID: "acme", ID: id, Hash: []byte("hash-of-" + id + "-padded-to-32-bytes!!")[:32], Sealed: []byte("sealed-" + id), CreatedAt: now}
	}
	first := newKey("k1")
	if err := c.RotateAPIKey(ctx, "acme", first, time.Time{}); err != nil {
		t.Fatal(err)
	}
	find := func(k *domain.APIKey, at time.Time) error {
		t.Helper()
		got, err := c.FindAPIKey(ctx, "acme", k.Hash, at)
		if err == nil && got.ID != k.ID {
			t.Fatalf("found %s for %s", got.ID, k.ID)
		}
		return err
	}
	if err := find(first, now); err != nil {
		t.Fatal(err)
	}
	// Served from memory: a deletion behind the cache's back is not seen ...
	if _, err := raw.(interface{ SQL() *sql.DB }).SQL().ExecContext(ctx, `DELETE FROM api_keys WHERE org_id = 'acme'`); err != nil {
		t.Fatal(err)
	}
	if err := find(first, now); err != nil {
		t.Fatalf("before the announcement: %v", err)
	}
	// ... until the organization's change is announced.
	c.Changed("acme", "")
	if err := find(first, now); err != store.ErrNotFound {
		t.Fatalf("a deleted key after the announcement: %v", err)
	}

	// Rotated here with an overlap: the old key works from memory until it
	// expires, the new one at once.
	if err := c.RotateAPIKey(ctx, "acme", first, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := find(first, now); err != nil {
		t.Fatal(err)
	}
	second := newKey("k2")
	if err := c.RotateAPIKey(ctx, "acme", second, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := find(first, now); err != nil {
		t.Fatalf("the old key within its overlap: %v", err)
	}
	if err := find(first, now.Add(time.Hour)); err != store.ErrNotFound {
		t.Fatalf("the old key once its overlap ended: %v", err)
	}
	if err := find(second, now.Add(2*time.Hour)); err != nil {
		t.Fatalf("the new key: %v", err)
	}
	// Rotated here without an overlap: the old key stops at once.
	if err := c.RotateAPIKey(ctx, "acme", newKey("k3"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := find(second, now); err != store.ErrNotFound {
		t.Fatalf("a key rotated out without overlap: %v", err)
	}
	// An unknown hash is never kept.
	if _, err := c.FindAPIKey(ctx, "acme", []byte("unknown-unknown-unknown-unknown!"), now); err != store.ErrNotFound {
		t.Fatalf("unknown hash: %v", err)
	}
	if n := c.CachedAPIKeys(); n != 0 {
		t.Fatalf("%d keys cached, want none (only unknown hashes were looked up since the rotation)", n)
	}
}

func TestCache_UpstreamConnectionsAndTheirAbsenceAreServedUntilTheirOrganizationChanges(t *testing.T) {
	ctx := context.Background()
	raw := testdb.SQLite(t)
	_, c := newApp(t, raw)
	rawSQL := raw.(interface{ SQL() *sql.DB }).SQL()
	get := func() (*domain.UpstreamConnection, error) {
		t.Helper()
		return c.GetUpstream(ctx, "acme")
	}
	// No connection: the absence is served from memory ...
	if _, err := get(); err != store.ErrNotFound {
		t.Fatalf("no connection yet: %v", err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	if _, err := rawSQL.ExecContext(ctx, `INSERT INTO upstream_connections (org_id, config_url, client_id, client_secret_sealed, scopes,
		username_claim, display_name, logout_url, end_upstream_session, created_at, updated_at)
		VALUES ('acme', 'https://idp.example', 'behind', x'00', '["openid"]', 'email', 'Behind', '', 0, 0, 0)`); err != nil {
		t.Fatal(err)
	}
	if _, err := get(); err != store.ErrNotFound {
		t.Fatalf("a connection added behind the cache's back was seen before its announcement: %v", err)
	}
	// ... until the organization's change is announced.
	c.Changed("acme", "")
	got, err := get()
	if err != nil || got.ClientID != "behind" {
		t.Fatalf("after the announcement: %+v, %v", got, err)
	}
	// Served as a copy.
	got.Scopes[0], got.ClientSecretSealed[0] = "changed", 1
	if again, _ := get(); again.Scopes[0] != "openid" || again.ClientSecretSealed[0] != 0 {
		t.Fatalf("a caller's change reached the cache: %+v", again)
	}
	// A change through the cache is seen at once.
	if _, _, err := c.UpdateUpstream(ctx, "acme", func(u *domain.UpstreamConnection, created bool) error {
		u.DisplayName, u.UpdatedAt = "Changed", now
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, err := get(); err != nil || got.DisplayName != "Changed" {
		t.Fatalf("after UpdateUpstream: %+v, %v", got, err)
	}
	if err := c.DeleteUpstream(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := get(); err != store.ErrNotFound {
		t.Fatalf("after DeleteUpstream: %v", err)
	}
	seeded := &domain.UpstreamConnection{OrgID: "acme", ConfigURL: "https://idp.example", ClientID: "seeded", ClientSecretSealed: []byte{0}, Scopes: []string{"openid"},
		UsernameClaim: "email", CreatedAt: now, UpdatedAt: now}
	if err := c.PutUpstream(ctx, seeded); err != nil {
		t.Fatal(err)
	}
	if got, err := get(); err != nil || got.ClientID != "seeded" {
		t.Fatalf("after PutUpstream: %+v, %v", got, err)
	}
	// Held to the time to live as well.
	c.SetTTL(time.Nanosecond)
	if _, err := rawSQL.ExecContext(ctx, `DELETE FROM upstream_connections`); err != nil {
		t.Fatal(err)
	}
	if _, err := get(); err != store.ErrNotFound {
		t.Fatalf("past its time to live, a connection deleted behind the cache's back is still served: %v", err)
	}
}
