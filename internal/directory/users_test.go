package directory_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/logout"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/testdb"
	"github.com/latchkey/latchkey/internal/testkit"
)

// newLogoutDirectory is newUpstreamDirectory with the real single logout
// wired in, and a user alice in acme with two sessions in an application
// that takes back-channel logout.
func newLogoutDirectory(t *testing.T, st store.Store) (*directory.Directory, *domain.User, *domain.Application) {
	t.Helper()
	ctx := t.Context()
	d, now := newUpstreamDirectory(t, st)
	d.Logout = &logout.Service{Store: st, Keys: d.Keys, PublicURL: d.PublicURL, Now: func() time.Time { return *now }}
	u, err := d.CreateUser(ctx, actor, "acme", "alice", directory.UserChanges{})
	if err != nil {
		t.Fatal(err)
	}
	app, _, err := d.CreateApp(ctx, actor, "acme", false, directory.AppChanges{
		Name: testkit.Ptr("Wiki"), RedirectURIs: &[]string{"https://wiki.example/cb"}, BackchannelLogoutURI: testkit.Ptr("https://wiki.example/bc"),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, sid := range []string{"sid-1", "sid-2"} {
		s := &domain.Session{OrgID: "acme", SID: sid, CookieHash: []byte(sid), UserSub: u.Sub, AuthTime: *now, CreatedAt: *now,
			ExpiresAt: now.Add(time.Hour)}
		if err := st.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		if err := st.AddSessionClient(ctx, "acme", sid, app.ClientID, *now); err != nil {
			t.Fatal(err)
		}
	}
	return d, u, app
}

// wantLoggedOut checks that sid ended with its back-channel notification queued.
func wantLoggedOut(t *testing.T, st store.Store, sid, clientID string) {
	t.Helper()
	s, err := st.GetSession(context.Background(), "acme", sid)
	if err != nil {
		t.Fatal(err)
	}
	if s.EndedAt.IsZero() {
		t.Errorf("session %s is still active", sid)
	}
	ds, err := st.ListBackchannel(context.Background(), "acme", sid)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].ClientID != clientID {
		t.Errorf("back-channel deliveries of %s: %+v, want one to %s", sid, ds, clientID)
	}
}

func TestDisableUser_EndsEverySessionWithSingleLogout(t *testing.T) {
	testdb.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		st := open(t)
		d, _, app := newLogoutDirectory(t, st)
		if _, err := d.UpdateUser(t.Context(), actor, "acme", "ALICE", directory.UserChanges{Disabled: testkit.Ptr(true)}); err != nil {
			t.Fatal(err)
		}
		wantLoggedOut(t, st, "sid-1", app.ClientID)
		wantLoggedOut(t, st, "sid-2", app.ClientID)
		left, err := d.ListUserSessions(t.Context(), "acme", "alice")
		if err != nil || len(left) != 0 {
			t.Errorf("ListUserSessions after disable = %d sessions, %v; want none", len(left), err)
		}
	})
}

func TestDeleteUser_EndsSessionsWithSingleLogoutBeforeRemovingTheUser(t *testing.T) {
	st := testdb.SQLite(t)
	d, _, app := newLogoutDirectory(t, st)
	if err := d.DeleteUser(t.Context(), actor, "acme", "alice"); err != nil {
		t.Fatal(err)
	}
	for _, sid := range []string{"sid-1", "sid-2"} {
		ds, err := st.ListBackchannel(t.Context(), "acme", sid)
		if err != nil || len(ds) != 1 || ds[0].ClientID != app.ClientID {
			t.Errorf("deliveries of %s after delete: %+v, %v", sid, ds, err)
		}
	}
	if _, err := d.GetUser(t.Context(), "acme", "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUser after delete: %v, want not found", err)
	}
}

func TestEndUserSession_EndsOnlyThatSessionAndAuditsTheAdmin(t *testing.T) {
	st := testdb.SQLite(t)
	d, _, app := newLogoutDirectory(t, st)
	admin := directory.Actor{Name: "portal:root", ClientIP: "192.0.2.7"}
	if err := d.EndUserSession(t.Context(), admin, "acme", "alice", "sid-1"); err != nil {
		t.Fatal(err)
	}
	wantLoggedOut(t, st, "sid-1", app.ClientID)
	left, err := d.ListUserSessions(t.Context(), "acme", "alice")
	if err != nil || len(left) != 1 || left[0].SID != "sid-2" {
		t.Fatalf("sessions left: %+v, %v; want sid-2", left, err)
	}
	err = d.EndUserSession(t.Context(), admin, "acme", "alice", "sid-1")
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ending an ended session: %v, want not found", err)
	}
	// Another organization's user cannot be reached through acme.
	if err := d.EndUserSession(t.Context(), admin, "globex", "alice", "sid-2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("EndUserSession through globex: %v, want not found", err)
	}
	page, err := d.ListAudit(t.Context(), "acme", directory.AuditFilter{Action: "logout"})
	if err != nil || len(page.Events) != 1 {
		t.Fatalf("logout events: %+v, %v", page, err)
	}
	if e := page.Events[0]; e.Actor != admin.Name || e.ClientIP != admin.ClientIP || e.Target != "sid-1" {
		t.Errorf("logout event %+v, want actor %s from %s on sid-1", e, admin.Name, admin.ClientIP)
	}
	n, err := d.EndUserSessions(t.Context(), admin, "acme", "alice")
	if err != nil || n != 1 {
		t.Errorf("EndUserSessions = %d, %v; want 1", n, err)
	}
}

func TestUpdateUser_ConcurrentChangesOfDifferentFieldsAllSurvive(t *testing.T) {
	st := testdb.SQLite(t)
	d, _, _ := newLogoutDirectory(t, st)
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for _, ch := range []directory.UserChanges{{Name: testkit.Ptr("Alice Liddell")}, {Email: testkit.Ptr("alice@wonderland.example")}, {Role: testkit.Ptr(domain.RoleAdmin)}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := d.UpdateUser(t.Context(), actor, "acme", "alice", ch)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	u, err := d.GetUser(t.Context(), "acme", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "Alice Liddell" || u.Email != "alice@wonderland.example" || u.Role != domain.RoleAdmin {
		t.Errorf("user after three concurrent updates: %+v", u)
	}
}

func TestUpdateUser_RefusedChangeLeavesNoAuditEvent(t *testing.T) {
	st := testdb.SQLite(t)
	d, _, _ := newLogoutDirectory(t, st)
	before, _ := d.ListAudit(t.Context(), "acme", directory.AuditFilter{Action: "user.update"})
	if _, err := d.UpdateUser(t.Context(), actor, "acme", "alice", directory.UserChanges{Role: testkit.Ptr("OWNER")}); err == nil {
		t.Fatal("an invalid role was accepted")
	}
	if _, err := d.CreateUser(t.Context(), actor, "acme", "Alice", directory.UserChanges{}); !directory.IsConflict(err) {
		t.Errorf("CreateUser of a taken userName: %v, want a conflict", err)
	}
	after, _ := d.ListAudit(t.Context(), "acme", directory.AuditFilter{Action: "user.update"})
	if len(after.Events) != len(before.Events) {
		t.Errorf("a refused update wrote an audit event")
	}
}

func TestUpdateOrg_UpstreamLoginNeedsAConnection(t *testing.T) {
	d, _ := newUpstreamDirectory(t, testdb.SQLite(t))
	_, err := d.UpdateOrg(t.Context(), actor, "acme", directory.OrgChanges{LoginMethod: testkit.Ptr(domain.LoginUpstream)})
	if fe, ok := domain.AsFieldError(err); !ok || fe.Field != "login_method" {
		t.Fatalf("UpdateOrg to upstream without a connection: %v", err)
	}
	if _, _, err := d.SetUpstream(t.Context(), actor, "acme", firstUpstream()); err != nil {
		t.Fatal(err)
	}
	o, err := d.UpdateOrg(t.Context(), actor, "acme", directory.OrgChanges{LoginMethod: testkit.Ptr(domain.LoginUpstream), Name: testkit.Ptr("Acme")})
	if err != nil || o.Settings.LoginMethod != domain.LoginUpstream || o.Name != "Acme" {
		t.Fatalf("UpdateOrg: %+v, %v", o, err)
	}
	if err := d.DeleteUpstream(t.Context(), actor, "acme"); !directory.IsConflict(err) {
		t.Errorf("DeleteUpstream while logins use it: %v, want a conflict", err)
	}
	if _, err := d.UpdateOrg(t.Context(), actor, "nope", directory.OrgChanges{Name: testkit.Ptr("x")}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateOrg of an unknown organization: %v", err)
	}
}

func TestListAudit_PagesNewestFirstWithFilters(t *testing.T) {
	d, now := newUpstreamDirectory(t, testdb.SQLite(t))
	for i := range 25 {
		*now = now.Add(time.Second)
		if _, err := d.CreateUser(t.Context(), directory.Actor{Name: fmt.Sprint("admin-", i%2)}, "acme", fmt.Sprint("user", i), directory.UserChanges{}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	cursor := ""
	for {
		page, err := d.ListAudit(t.Context(), "acme", directory.AuditFilter{Action: "user.create", Actor: "admin-0", Cursor: cursor, Limit: 5})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Events {
			names = append(names, e.Target)
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if len(names) != 13 || names[0] != "user24" || names[12] != "user0" {
		t.Errorf("paged user.create events of admin-0: %v", names)
	}
	if _, err := d.ListAudit(t.Context(), "acme", directory.AuditFilter{Limit: 5000}); err == nil {
		t.Error("a page of 5000 was accepted")
	}
}

// A change conditioned on the version read (SCIM If-Match) is refused when
// another change came between that read and the write, and leaves the
// other change in place.
func TestUpdateBySub_RefusesAChangeBasedOnAnOlderVersion(t *testing.T) {
	testdb.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := t.Context()
		d, now := newUpstreamDirectory(t, open(t))
		read, err := d.CreateUser(ctx, actor, "acme", "alice", directory.UserChanges{Name: testkit.Ptr("Alice")})
		if err != nil {
			t.Fatal(err)
		}
		*now = now.Add(time.Second)
		between, err := d.UpdateUserBySub(ctx, actor, "acme", read.Sub, directory.UserChanges{Name: testkit.Ptr("Between")}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		*now = now.Add(time.Second)
		_, err = d.UpdateUserBySub(ctx, actor, "acme", read.Sub, directory.UserChanges{Name: testkit.Ptr("Stale")}, read.UpdatedAt)
		var ce *directory.ChangedError
		if !errors.As(err, &ce) || !ce.UpdatedAt.Equal(between.UpdatedAt) {
			t.Fatalf("update based on the older version: %v, want a ChangedError at %v", err, between.UpdatedAt)
		}
		if u, _ := d.GetUserBySub(ctx, "acme", read.Sub); u.Name != "Between" {
			t.Fatalf("name = %q after a refused change, want the change made in between", u.Name)
		}
		if u, err := d.UpdateUserBySub(ctx, actor, "acme", read.Sub, directory.UserChanges{Name: testkit.Ptr("Fresh")}, between.UpdatedAt); err != nil || u.Name != "Fresh" {
			t.Fatalf("update based on the current version: %v, %v", u, err)
		}

		g, err := d.CreateGroup(ctx, actor, "acme", directory.GroupChanges{DisplayName: testkit.Ptr("Staff")})
		if err != nil {
			t.Fatal(err)
		}
		*now = now.Add(time.Second)
		if _, err := d.UpdateGroup(ctx, actor, "acme", g.ID, directory.GroupChanges{DisplayName: testkit.Ptr("Team")}, time.Time{}); err != nil {
			t.Fatal(err)
		}
		_, err = d.UpdateGroup(ctx, actor, "acme", g.ID, directory.GroupChanges{DisplayName: testkit.Ptr("Stale")}, g.UpdatedAt)
		if !errors.As(err, &ce) {
			t.Fatalf("group update based on the older version: %v, want a ChangedError", err)
		}
		if cur, _ := d.GetGroup(ctx, "acme", g.ID); cur.DisplayName != "Team" {
			t.Fatalf("group name = %q after a refused change", cur.DisplayName)
		}
	})
}

// A deletion conditioned on the version read is refused when the resource
// changed since, and the resource stays.
func TestDeleteBySub_RefusesADeletionBasedOnAnOlderVersion(t *testing.T) {
	testdb.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := t.Context()
		d, now := newUpstreamDirectory(t, open(t))
		read, err := d.CreateUser(ctx, actor, "acme", "alice", directory.UserChanges{})
		if err != nil {
			t.Fatal(err)
		}
		g, err := d.CreateGroup(ctx, actor, "acme", directory.GroupChanges{DisplayName: testkit.Ptr("Staff")})
		if err != nil {
			t.Fatal(err)
		}
		*now = now.Add(time.Second)
		between, err := d.UpdateUserBySub(ctx, actor, "acme", read.Sub, directory.UserChanges{Name: testkit.Ptr("Between")}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		gBetween, err := d.UpdateGroup(ctx, actor, "acme", g.ID, directory.GroupChanges{DisplayName: testkit.Ptr("Team")}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		var ce *directory.ChangedError
		if err := d.DeleteUserBySub(ctx, actor, "acme", read.Sub, read.UpdatedAt); !errors.As(err, &ce) {
			t.Fatalf("user deletion based on the older version: %v, want a ChangedError", err)
		}
		if err := d.DeleteGroup(ctx, actor, "acme", g.ID, g.UpdatedAt); !errors.As(err, &ce) {
			t.Fatalf("group deletion based on the older version: %v, want a ChangedError", err)
		}
		if _, err := d.GetUserBySub(ctx, "acme", read.Sub); err != nil {
			t.Fatalf("user gone after a refused deletion: %v", err)
		}
		if _, err := d.GetGroup(ctx, "acme", g.ID); err != nil {
			t.Fatalf("group gone after a refused deletion: %v", err)
		}
		if err := d.DeleteUserBySub(ctx, actor, "acme", read.Sub, between.UpdatedAt); err != nil {
			t.Fatal(err)
		}
		if err := d.DeleteGroup(ctx, actor, "acme", g.ID, gBetween.UpdatedAt); err != nil {
			t.Fatal(err)
		}
	})
}
