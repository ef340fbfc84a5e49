// Package cache keeps organizations, applications, users (by sub and by
// userName), API keys and upstream connections — read on every protocol
// request or login page, changed rarely — in memory in front of a
// store.Store, and drops them the moment they change.
//
// Invalidation is what makes the cache safe: a rotated client secret, a
// deleted application or a changed organization must stop being served at
// once on this node and within a second on every other node, and so must a
// disabled or deleted user. Three layers:
//
//   - This node: every change that passes through the store (the
//     management service's updaters, creates and deletes) drops the entries
//     it touches before it returns, so a node always reads its own writes.
//   - Other nodes: the database announces every change of an
//     organization, an application or a user (on PostgreSQL triggers
//     NOTIFY inside the changing transaction, so no writer — not even
//     plain SQL — can forget it); each node LISTENs and drops the entries
//     named. While a node is
//     not listening (starting, or its listening connection is lost) it
//     serves nothing from the cache, and it flushes everything when it
//     listens again, so a notification missed while disconnected never
//     leaves a stale entry behind.
//   - A short time to live on every entry, as the safety net.
//
// Users are many where organizations and applications are few: at most
// maxUsers are kept, and a full cache first drops its expired entries,
// then everything. Parsed signing keys are cached by internal/signer.
package cache

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

// Times to live: the safety net behind announcements on PostgreSQL, and on
// SQLite the bound for changes made by another process on the same file.
const (
	AnnouncedTTL = 5 * time.Second
	LocalTTL     = time.Second
)

// maxUsers bounds the users kept: one organization's sign-ins could
// otherwise grow the cache without end.
const maxUsers = 10000

// Change names what changed: an organization (ClientID and UserSub "")
// with everything it owns, one application, or one user.
type Change struct {
	OrgID    string
	ClientID string
	UserSub  string
}

// Store is a store.Store whose GetOrg, GetApp, GetUser, GetUserByName,
// FindAPIKey and GetUpstream are served from memory.
type Store struct {
	store.Store
	ttl      time.Duration
	now      func() time.Time
	maxUsers int

	mu sync.Mutex
	// gen counts invalidations: a read that started before one must not
	// fill the cache with what it read.
	gen   uint64
	live  bool // notifications are flowing (or not needed)
	orgs  map[string]entry[domain.Organization]
	apps  map[Change]entry[domain.Application]
	users map[Change]entry[domain.User]
	// names leads a userName (folded) to the sub it belonged to when read;
	// a user found that way is served only if it still bears the name.
	names map[nameKey]entry[string]
	// keys holds the API keys found, by organization and hash (unknown
	// hashes are never kept).
	keys map[keyKey]entry[domain.APIKey]
	// upstreams holds each organization's upstream connection, or its
	// absence (an entry without a value).
	upstreams map[string]entry[domain.UpstreamConnection]

	metrics *metrics
}

// keyKey is an API key's hash in its organization.
type keyKey struct{ orgID, hash string }

// nameKey is a userName of an organization, folded (names are unique
// case-insensitively).
type nameKey struct{ orgID, fold string }

type entry[T any] struct {
	v  *T
	at time.Time
}

// New caches st's organizations, applications and users for ttl. When
// announced is true, another node may change the database: entries are
// served only between Listening and Lost, while announcements of changes
// are being delivered to Invalidate. When false (one process owns the
// database, as with SQLite) the cache is live at once.
func New(st store.Store, ttl time.Duration, announced bool) *Store {
	return &Store{Store: st, ttl: ttl, now: time.Now, live: !announced, maxUsers: maxUsers,
		orgs: map[string]entry[domain.Organization]{}, apps: map[Change]entry[domain.Application]{},
		users: map[Change]entry[domain.User]{}, names: map[nameKey]entry[string]{}, keys: map[keyKey]entry[domain.APIKey]{},
		upstreams: map[string]entry[domain.UpstreamConnection]{}, metrics: newMetrics()}
}

// Invalidate drops what c names: the organization with all of its
// applications and users, one application, or one user.
func (s *Store) Invalidate(c Change) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	switch {
	case c.ClientID != "":
		delete(s.apps, c)
	case c.UserSub != "":
		delete(s.users, c)
	default:
		delete(s.orgs, c.OrgID)
		dropOrg(s.apps, c.OrgID)
		dropOrg(s.users, c.OrgID)
		dropOrg(s.names, c.OrgID)
		dropOrg(s.keys, c.OrgID)
		delete(s.upstreams, c.OrgID)
	}
}

// orgKey is a cache key of something an organization owns.
type orgKey interface {
	comparable
	org() string
}

func (c Change) org() string  { return c.OrgID }
func (k nameKey) org() string { return k.orgID }
func (k keyKey) org() string  { return k.orgID }

// dropOrg drops every entry of m that belongs to orgID.
func dropOrg[K orgKey, T any](m map[K]entry[T], orgID string) {
	for k := range m {
		if k.org() == orgID {
			delete(m, k)
		}
	}
}

// Listening is called once announcements flow: everything cached before
// (possibly missing announcements) is dropped and the cache serves again.
func (s *Store) Listening() { s.reset(true) }

// Lost is called when announcements may be missed: the cache stops serving
// until Listening.
func (s *Store) Lost() { s.reset(false) }

func (s *Store) reset(live bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	s.live = live
	clear(s.orgs)
	clear(s.apps)
	clear(s.users)
	clear(s.names)
	clear(s.keys)
	clear(s.upstreams)
}

// lookup returns a fresh entry, or the generation a fill must match.
func lookup[K comparable, T any](s *Store, m map[K]entry[T], k K) (*T, uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := m[k]; ok && s.live {
		if age := s.now().Sub(e.at); age >= 0 && age < s.ttl {
			return e.v, s.gen, true
		}
		delete(m, k)
	}
	return nil, s.gen, false
}

// generation is the count of invalidations so far, for a fill after a read.
func (s *Store) generation() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

// fill caches v unless an invalidation happened since gen was read.
func fill[K comparable, T any](s *Store, m map[K]entry[T], k K, v *T, gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live && s.gen == gen {
		m[k] = entry[T]{v: v, at: s.now()}
	}
}

// makeRoom drops expired users (and names), or all of them, when the
// cache is full.
func (s *Store) makeRoom() {
	s.mu.Lock()
	defer s.mu.Unlock()
	makeRoom(s, s.users)
	makeRoom(s, s.names)
}

func makeRoom[K comparable, T any](s *Store, m map[K]entry[T]) {
	if len(m) < s.maxUsers {
		return
	}
	now := s.now()
	for k, e := range m {
		if age := now.Sub(e.at); age < 0 || age >= s.ttl {
			delete(m, k)
		}
	}
	if len(m) >= s.maxUsers {
		clear(m)
	}
}

// Callers may change what they get, so each gets its own copy.
func cloneOrg(o *domain.Organization) *domain.Organization {
	c := *o
	return &c
}

func cloneApp(a *domain.Application) *domain.Application {
	c := *a
	c.SecretHash = slices.Clone(a.SecretHash)
	c.RedirectURIs = slices.Clone(a.RedirectURIs)
	c.PostLogoutRedirectURIs = slices.Clone(a.PostLogoutRedirectURIs)
	c.GrantTypes = slices.Clone(a.GrantTypes)
	return &c
}

// GetOrg serves the organization from memory when it can.
func (s *Store) GetOrg(ctx context.Context, id string) (*domain.Organization, error) {
	v, gen, ok := lookup(s, s.orgs, id)
	s.metrics.count(kindOrg, ok)
	if ok {
		return cloneOrg(v), nil
	}
	o, err := s.Store.GetOrg(ctx, id)
	if err != nil {
		return nil, err
	}
	fill(s, s.orgs, id, cloneOrg(o), gen)
	return o, nil
}

// GetApp serves the application from memory when it can.
func (s *Store) GetApp(ctx context.Context, orgID, clientID string) (*domain.Application, error) {
	k := Change{OrgID: orgID, ClientID: clientID}
	v, gen, ok := lookup(s, s.apps, k)
	s.metrics.count(kindApp, ok)
	if ok {
		return cloneApp(v), nil
	}
	a, err := s.Store.GetApp(ctx, orgID, clientID)
	if err != nil {
		return nil, err
	}
	fill(s, s.apps, k, cloneApp(a), gen)
	return a, nil
}

// GetUser serves the user from memory when it can.
func (s *Store) GetUser(ctx context.Context, orgID, sub string) (*domain.User, error) {
	k := Change{OrgID: orgID, UserSub: sub}
	v, gen, ok := lookup(s, s.users, k)
	s.metrics.count(kindUser, ok)
	if ok {
		c := *v
		return &c, nil
	}
	u, err := s.Store.GetUser(ctx, orgID, sub)
	if err != nil {
		return nil, err
	}
	s.makeRoom()
	c := *u
	fill(s, s.users, k, &c, gen)
	return u, nil
}

// GetUserByName serves the user from memory when it can: the name leads
// to the sub it belonged to when last read, and the user cached under that
// sub (held to the same bounds as GetUser's) is served only if it still
// bears the name. A user renamed, deleted or replaced by another of the
// same name is read from the store again.
func (s *Store) GetUserByName(ctx context.Context, orgID, userName string) (*domain.User, error) {
	k := nameKey{orgID: orgID, fold: domain.FoldUserName(userName)}
	if sub, _, ok := lookup(s, s.names, k); ok {
		u, err := s.GetUser(ctx, orgID, *sub)
		switch {
		case err == nil && domain.FoldUserName(u.UserName) == k.fold:
			s.metrics.count(kindUserName, true)
			return u, nil
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
	}
	s.metrics.count(kindUserName, false)
	gen := s.generation()
	u, err := s.Store.GetUserByName(ctx, orgID, userName)
	if err != nil {
		return nil, err
	}
	s.makeRoom()
	c, sub := *u, u.Sub
	fill(s, s.users, Change{OrgID: orgID, UserSub: u.Sub}, &c, gen)
	fill(s, s.names, k, &sub, gen)
	return u, nil
}

// FindAPIKey serves an organization's API key from memory when it can, as
// long as it has not expired at now. Keys change only with their
// organization's announcement (a rotation, a deletion), so a key rotated
// out or deleted is held to the organization's bounds.
func (s *Store) FindAPIKey(ctx context.Context, orgID string, hash []byte, now time.Time) (*domain.APIKey, error) {
	k := keyKey{orgID: orgID, hash: string(hash)}
	v, _, ok := lookup(s, s.keys, k)
	s.metrics.count(kindAPIKey, ok)
	if ok {
		if !v.ExpiresAt.IsZero() && !v.ExpiresAt.After(now) {
			return nil, store.ErrNotFound
		}
		return cloneAPIKey(v), nil
	}
	gen := s.generation()
	key, err := s.Store.FindAPIKey(ctx, orgID, hash, now)
	if err != nil {
		return nil, err
	}
	fill(s, s.keys, k, cloneAPIKey(key), gen)
	return key, nil
}

// GetUpstream serves the organization's upstream connection, or its
// absence, from memory when it can: the login page asks for it on every
// view, and most organizations have none. A connection changes only with
// its organization's announcement (PostgreSQL migration 0018), so it is
// held to the organization's bounds.
func (s *Store) GetUpstream(ctx context.Context, orgID string) (*domain.UpstreamConnection, error) {
	v, gen, ok := lookup(s, s.upstreams, orgID)
	s.metrics.count(kindUpstream, ok)
	if ok {
		if v == nil {
			return nil, store.ErrNotFound
		}
		return cloneUpstream(v), nil
	}
	c, err := s.Store.GetUpstream(ctx, orgID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Callers ask for organizations they have loaded, so absences are
		// bounded like the organizations themselves.
		fill(s, s.upstreams, orgID, nil, gen)
		return nil, err
	case err != nil:
		return nil, err
	}
	fill(s, s.upstreams, orgID, cloneUpstream(c), gen)
	return c, nil
}

func cloneUpstream(c *domain.UpstreamConnection) *domain.UpstreamConnection {
	x := *c
	x.ClientSecretSealed = slices.Clone(c.ClientSecretSealed)
	x.Scopes = slices.Clone(c.Scopes)
	return &x
}

func (s *Store) UpdateUpstream(ctx context.Context, orgID string, update func(c *domain.UpstreamConnection, created bool) error, audit ...*domain.AuditEvent) (*domain.UpstreamConnection, bool, error) {
	defer s.Invalidate(Change{OrgID: orgID})
	return s.Store.UpdateUpstream(ctx, orgID, update, audit...)
}

func (s *Store) PutUpstream(ctx context.Context, c *domain.UpstreamConnection) error {
	defer s.Invalidate(Change{OrgID: c.OrgID})
	return s.Store.PutUpstream(ctx, c)
}

func (s *Store) DeleteUpstream(ctx context.Context, orgID string, audit ...*domain.AuditEvent) error {
	defer s.Invalidate(Change{OrgID: orgID})
	return s.Store.DeleteUpstream(ctx, orgID, audit...)
}

func cloneAPIKey(k *domain.APIKey) *domain.APIKey {
	c := *k
	c.Hash = slices.Clone(k.Hash)
	c.Sealed = slices.Clone(k.Sealed)
	return &c
}

func (s *Store) RotateAPIKey(ctx context.Context, orgID string, key *domain.APIKey, oldExpiresAt time.Time, audit ...*domain.AuditEvent) error {
	defer s.Invalidate(Change{OrgID: orgID})
	return s.Store.RotateAPIKey(ctx, orgID, key, oldExpiresAt, audit...)
}

// The changes below drop what they touch on this node once the database
// has them (and, on error, too: a failed commit may still have landed).

func (s *Store) CreateOrg(ctx context.Context, o *domain.Organization, key *domain.APIKey, keys []*domain.SigningKey, audit ...*domain.AuditEvent) error {
	defer s.Invalidate(Change{OrgID: o.ID})
	return s.Store.CreateOrg(ctx, o, key, keys, audit...)
}

func (s *Store) UpdateOrg(ctx context.Context, id string, update func(o *domain.Organization) error, audit ...*domain.AuditEvent) (*domain.Organization, error) {
	defer s.Invalidate(Change{OrgID: id})
	return s.Store.UpdateOrg(ctx, id, update, audit...)
}

func (s *Store) DeleteOrg(ctx context.Context, id string, audit ...*domain.AuditEvent) error {
	defer s.Invalidate(Change{OrgID: id})
	return s.Store.DeleteOrg(ctx, id, audit...)
}

func (s *Store) CreateApp(ctx context.Context, a *domain.Application, audit ...*domain.AuditEvent) error {
	defer s.Invalidate(Change{OrgID: a.OrgID, ClientID: a.ClientID})
	return s.Store.CreateApp(ctx, a, audit...)
}

func (s *Store) UpdateApp(ctx context.Context, orgID, clientID string, update func(a *domain.Application) error, audit ...*domain.AuditEvent) (*domain.Application, error) {
	defer s.Invalidate(Change{OrgID: orgID, ClientID: clientID})
	return s.Store.UpdateApp(ctx, orgID, clientID, update, audit...)
}

func (s *Store) DeleteApp(ctx context.Context, orgID, clientID string, audit ...*domain.AuditEvent) error {
	defer s.Invalidate(Change{OrgID: orgID, ClientID: clientID})
	return s.Store.DeleteApp(ctx, orgID, clientID, audit...)
}

func (s *Store) CreateUser(ctx context.Context, u *domain.User, audit ...*domain.AuditEvent) error {
	defer s.Invalidate(Change{OrgID: u.OrgID, UserSub: u.Sub})
	return s.Store.CreateUser(ctx, u, audit...)
}

func (s *Store) UpdateUser(ctx context.Context, orgID, sub string, fn func(u *domain.User) error, audit ...*domain.AuditEvent) (*domain.User, error) {
	defer s.Invalidate(Change{OrgID: orgID, UserSub: sub})
	return s.Store.UpdateUser(ctx, orgID, sub, fn, audit...)
}

func (s *Store) DeleteUser(ctx context.Context, orgID, sub string, check func(u *domain.User) error, audit ...*domain.AuditEvent) error {
	defer s.Invalidate(Change{OrgID: orgID, UserSub: sub})
	return s.Store.DeleteUser(ctx, orgID, sub, check, audit...)
}

// SetTTL changes the time to live of entries cached from now on (tests
// use a long one to prove that announcements alone keep nodes in step).
func (s *Store) SetTTL(d time.Duration) {
	s.mu.Lock()
	s.ttl = d
	s.mu.Unlock()
}

// Live reports whether the cache serves entries: always on a store only
// this process changes, else while announcements are followed.
func (s *Store) Live() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live
}

// HasApp reports whether the application is cached.
func (s *Store) HasApp(orgID, clientID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.apps[Change{OrgID: orgID, ClientID: clientID}]
	return ok
}

// HasUser reports whether the user is cached.
func (s *Store) HasUser(orgID, sub string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.users[Change{OrgID: orgID, UserSub: sub}]
	return ok
}

// CachedAPIKeys is how many API keys are cached.
func (s *Store) CachedAPIKeys() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys)
}

// Changed is Invalidate for announcements from the database.
func (s *Store) Changed(orgID, clientID string) {
	s.Invalidate(Change{OrgID: orgID, ClientID: clientID})
}

// UserChanged is Invalidate for a user's announcement from the database.
func (s *Store) UserChanged(orgID, sub string) {
	s.Invalidate(Change{OrgID: orgID, UserSub: sub})
}

// SQL exposes the wrapped pool to tests that read raw rows.
func (s *Store) SQL() *sql.DB {
	if x, ok := s.Store.(interface{ SQL() *sql.DB }); ok {
		return x.SQL()
	}
	return nil
}
