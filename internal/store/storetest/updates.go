package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

// updateTests prove the updaters atomic: a read-modify-write never loses a
// concurrent writer's change, a refused change leaves neither a change nor
// an audit event, and a change is never without its audit event.
var updateTests = []test{
	{"ConcurrentUpdatesOfDifferentFieldsOfOneUserAllSurvive", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		u := createUser(t, s, "acme", "sub-1", "alice")
		fields := []func(u *domain.User) *string{
			func(u *domain.User) *string { return &u.Name },
			func(u *domain.User) *string { return &u.Email },
			func(u *domain.User) *string { return &u.Picture },
			func(u *domain.User) *string { return &u.UpstreamSubject },
		}
		errs := race(racers, func(i int) error {
			_, err := s.UpdateUser(ctx, "acme", u.Sub, func(u *domain.User) error {
				f := fields[i%len(fields)](u)
				*f += fmt.Sprintf(" #%d", i)
				return nil
			}, &domain.AuditEvent{OrgID: "acme", At: at(time.Duration(i) * time.Second), Actor: "admin", Action: "user.update", Target: "alice", Result: "ok"})
			return err
		})
		for i, err := range errs {
			ok(t, fmt.Sprintf("UpdateUser %d", i), err)
		}
		got, err := s.GetUser(ctx, "acme", u.Sub)
		ok(t, "GetUser", err)
		all := strings.Join([]string{got.Name, got.Email, got.Picture, got.UpstreamSubject}, " ") + " "
		for i := range racers {
			if n := strings.Count(all, fmt.Sprintf(" #%d ", i)); n != 1 {
				t.Errorf("update %d is in the user %d times, want once (a lost update): %q", i, n, all)
			}
		}
		events, err := s.ListAudit(ctx, "acme", store.AuditFilter{Limit: 1000})
		ok(t, "ListAudit", err)
		if len(events) != racers {
			t.Errorf("%d audit events, want one per update (%d)", len(events), racers)
		}
	}},
	{"ConcurrentUpdatesOfOneOrgAppAndUpstreamAllSurvive", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createApp(t, s, "acme", "web")
		ok(t, "PutUpstream", s.PutUpstream(ctx, newUpstream("acme")))
		const n = 20
		errs := race(3*n, func(i int) error {
			tag := fmt.Sprintf(" #%d", i/3)
			switch i % 3 {
			case 0:
				_, err := s.UpdateOrg(ctx, "acme", func(o *domain.Organization) error { o.Name += tag; return nil })
				return err
			case 1:
				_, err := s.UpdateApp(ctx, "acme", "web", func(a *domain.Application) error { a.Name += tag; return nil })
				return err
			default:
				_, _, err := s.UpdateUpstream(ctx, "acme", func(c *domain.UpstreamConnection, created bool) error {
					if created {
						return errors.New("the connection exists; created must be false")
					}
					c.DisplayName += tag
					return nil
				})
				return err
			}
		})
		for i, err := range errs {
			ok(t, fmt.Sprintf("update %d", i), err)
		}
		o, err := s.GetOrg(ctx, "acme")
		ok(t, "GetOrg", err)
		a, err := s.GetApp(ctx, "acme", "web")
		ok(t, "GetApp", err)
		c, err := s.GetUpstream(ctx, "acme")
		ok(t, "GetUpstream", err)
		for what, v := range map[string]string{"organization name": o.Name, "application name": a.Name, "upstream display name": c.DisplayName} {
			for i := range n {
				if strings.Count(v+" ", fmt.Sprintf(" #%d ", i)) != 1 {
					t.Errorf("%s %q lost update %d", what, v, i)
				}
			}
		}
	}},
	{"FirstUpstreamSavesRacingCreateOnce", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		var created atomic.Int32
		errs := race(racers, func(i int) error {
			_, c, err := s.UpdateUpstream(ctx, "acme", func(c *domain.UpstreamConnection, created bool) error {
				if created {
					*c = *newUpstream("acme")
					c.Scopes = []string{"openid"}
				}
				c.Scopes = append(c.Scopes, fmt.Sprintf("s%d", i))
				return nil
			})
			if c {
				created.Add(1)
			}
			return err
		})
		for i, err := range errs {
			ok(t, fmt.Sprintf("UpdateUpstream %d", i), err)
		}
		if n := created.Load(); n != 1 {
			t.Fatalf("%d updates created the connection, want 1", n)
		}
		c, err := s.GetUpstream(ctx, "acme")
		ok(t, "GetUpstream", err)
		if len(c.Scopes) != racers+1 {
			t.Errorf("scopes = %v, want openid and one per update", c.Scopes)
		}
		_, _, err = s.UpdateUpstream(ctx, "nope", func(*domain.UpstreamConnection, bool) error { return nil })
		wantErr(t, "UpdateUpstream of an unknown org", err, store.ErrNotFound)
	}},
	{"RefusedUpdateChangesNothingAndLeavesNoAuditEvent", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		alice := createUser(t, s, "acme", "sub-1", "alice")
		createUser(t, s, "acme", "sub-2", "bob")
		app := createApp(t, s, "acme", "web")
		refused := errors.New("refused by the caller")
		ev := func() *domain.AuditEvent {
			return &domain.AuditEvent{OrgID: "acme", At: t0, Actor: "admin", Action: "x.update", Result: "ok"}
		}
		_, err := s.UpdateUser(ctx, "acme", alice.Sub, func(u *domain.User) error { u.Name = "changed"; return refused }, ev())
		wantErr(t, "UpdateUser refused by its function", err, refused)
		_, err = s.UpdateUser(ctx, "acme", alice.Sub, func(u *domain.User) error { u.UserName = "BOB"; return nil }, ev())
		wantErr(t, "UpdateUser renaming onto bob", err, store.ErrConflict)
		_, err = s.UpdateApp(ctx, "acme", "web", func(a *domain.Application) error { a.Name = "changed"; return refused }, ev())
		wantErr(t, "UpdateApp refused", err, refused)
		_, err = s.UpdateOrg(ctx, "acme", func(o *domain.Organization) error { o.Name = "changed"; return refused }, ev())
		wantErr(t, "UpdateOrg refused", err, refused)
		_, _, err = s.UpdateUpstream(ctx, "acme", func(c *domain.UpstreamConnection, _ bool) error { c.ClientID = "x"; return refused }, ev())
		wantErr(t, "UpdateUpstream refused", err, refused)
		called := false
		_, err = s.UpdateUser(ctx, "acme", "sub-404", func(*domain.User) error { called = true; return nil }, ev())
		wantErr(t, "UpdateUser of an unknown user", err, store.ErrNotFound)
		if called {
			t.Error("the update function ran for a user that does not exist")
		}

		got, err := s.GetUser(ctx, "acme", alice.Sub)
		ok(t, "GetUser", err)
		equal(t, "user after refused updates", got, alice)
		gotApp, err := s.GetApp(ctx, "acme", "web")
		ok(t, "GetApp", err)
		equal(t, "application after a refused update", gotApp, app)
		_, err = s.GetUpstream(ctx, "acme")
		wantErr(t, "upstream after a refused first save", err, store.ErrNotFound)
		events, err := s.ListAudit(ctx, "acme", store.AuditFilter{})
		ok(t, "ListAudit", err)
		if len(events) != 0 {
			t.Errorf("refused updates left audit events: %s", show(events))
		}
	}},
	{"ChangesWriteTheirAuditEventWithThem", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		o := newOrg("acme")
		n := 0
		ev := func(action string) *domain.AuditEvent {
			n++
			return &domain.AuditEvent{OrgID: "acme", At: at(time.Duration(n) * time.Second), Actor: "admin", Action: action, Target: "t", Result: "ok", Detail: map[string]string{}}
		}
		ok(t, "CreateOrg", s.CreateOrg(ctx, o, nil, nil, ev("org.create")))
		ok(t, "CreateUser", s.CreateUser(ctx, newUser("acme", "sub-1", "alice"), ev("user.create")))
		ok(t, "CreateApp", s.CreateApp(ctx, newApp("acme", "web"), ev("app.create")))
		_, err := s.UpdateUser(ctx, "acme", "sub-1", func(u *domain.User) error { u.Name = "Alice"; return nil }, ev("user.update"))
		ok(t, "UpdateUser", err)
		_, err = s.UpdateApp(ctx, "acme", "web", func(a *domain.Application) error { a.Name = "Web"; return nil }, ev("app.update"))
		ok(t, "UpdateApp", err)
		_, err = s.UpdateOrg(ctx, "acme", func(o *domain.Organization) error { o.Name = "Acme"; return nil }, ev("org.update"))
		ok(t, "UpdateOrg", err)
		_, _, err = s.UpdateUpstream(ctx, "acme", func(c *domain.UpstreamConnection, _ bool) error {
			*c = *newUpstream("acme")
			return nil
		}, ev("upstream.create"))
		ok(t, "UpdateUpstream", err)
		ok(t, "RotateAPIKey", s.RotateAPIKey(ctx, "acme", newAPIKey("acme", "k2", at(time.Hour)), time.Time{}, ev("org.api_key.rotate")))
		ok(t, "DeleteUpstream", s.DeleteUpstream(ctx, "acme", ev("upstream.delete")))
		ok(t, "DeleteApp", s.DeleteApp(ctx, "acme", "web", ev("app.delete")))
		ok(t, "DeleteUser", s.DeleteUser(ctx, "acme", "sub-1", nil, ev("user.delete")))
		wantErr(t, "DeleteUser again", s.DeleteUser(ctx, "acme", "sub-1", nil, ev("user.delete")), store.ErrNotFound)
		ok(t, "CreateUser", s.CreateUser(ctx, newUser("acme", "sub-9", "acme-x"), ev("user.create")))
		wantErr(t, "CreateUser duplicate", s.CreateUser(ctx, newUser("acme", "sub-9", "ACME-X"), ev("user.create")), store.ErrConflict)
		events, err := s.ListAudit(ctx, "acme", store.AuditFilter{Limit: 1000})
		ok(t, "ListAudit", err)
		var actions []string
		for _, e := range events {
			actions = append([]string{e.Action}, actions...)
		}
		want := "org.create user.create app.create user.update app.update org.update upstream.create org.api_key.rotate upstream.delete app.delete user.delete user.create"
		if got := strings.Join(actions, " "); got != want {
			t.Errorf("audit actions, oldest first:\n got %s\nwant %s", got, want)
		}
	}},
	{"EndSessionAndNotifyEndsRevokesQueuesAndAuditsAtOnce", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createUser(t, s, "acme", "sub-1", "alice")
		web := newApp("acme", "web")
		web.BackchannelLogoutURI = "https://web.example/bc"
		ok(t, "CreateApp web", s.CreateApp(ctx, web))
		cli := newApp("acme", "cli")
		cli.BackchannelLogoutURI = ""
		ok(t, "CreateApp cli", s.CreateApp(ctx, cli))
		createSession(t, s, "acme", "sid-1", "sub-1")
		ok(t, "AddSessionClient web", s.AddSessionClient(ctx, "acme", "sid-1", "web", t0))
		ok(t, "AddSessionClient cli", s.AddSessionClient(ctx, "acme", "sid-1", "cli", at(time.Second)))
		access := newToken("acme", "access-1", domain.TokenAccess, "sid-1", "fam-1", "")
		ok(t, "CreateTokens", s.CreateTokens(ctx, access))

		var plans atomic.Int32
		plan := func(sess *domain.Session, apps []*domain.Application) ([]*domain.BackchannelDelivery, *domain.AuditEvent) {
			plans.Add(1)
			var ds []*domain.BackchannelDelivery
			for _, a := range apps {
				if a.BackchannelLogoutURI != "" {
					ds = append(ds, &domain.BackchannelDelivery{OrgID: "acme", ID: "d-" + a.ClientID, ClientID: a.ClientID,
						UserSub: sess.UserSub, SID: sess.SID, CreatedAt: at(time.Hour), NextAttemptAt: at(time.Hour)})
				}
			}
			if len(apps) != 2 || apps[0].ClientID != "web" || apps[1].ClientID != "cli" {
				t.Errorf("plan got applications %s, want web and cli in the order they joined", show(apps))
			}
			return ds, &domain.AuditEvent{OrgID: "acme", At: at(time.Hour), Actor: sess.UserSub, Action: "logout", Target: sess.SID, Result: "ok"}
		}
		errs := race(racers, func(int) error { return s.EndSessionAndNotify(ctx, "acme", "sid-1", at(time.Hour), plan) })
		winners := 0
		for i, err := range errs {
			switch {
			case err == nil:
				winners++
			case !errors.Is(err, store.ErrNotFound):
				t.Fatalf("EndSessionAndNotify %d: %v", i, err)
			}
		}
		if winners != 1 || plans.Load() != 1 {
			t.Fatalf("%d callers ended the session and %d plans ran, want 1 and 1", winners, plans.Load())
		}
		sess, err := s.GetSession(ctx, "acme", "sid-1")
		ok(t, "GetSession", err)
		if !sess.EndedAt.Equal(at(time.Hour)) {
			t.Errorf("session ended at %v, want %v", sess.EndedAt, at(time.Hour))
		}
		tok, err := s.GetToken(ctx, "acme", access.Hash)
		ok(t, "GetToken", err)
		if tok.RevokedAt.IsZero() {
			t.Error("the session's access token was not revoked")
		}
		ds, err := s.ListBackchannel(ctx, "acme", "sid-1")
		ok(t, "ListBackchannel", err)
		if len(ds) != 1 || ds[0].ClientID != "web" {
			t.Errorf("queued deliveries %s, want one to web", show(ds))
		}
		events, err := s.ListAudit(ctx, "acme", store.AuditFilter{Action: "logout"})
		ok(t, "ListAudit", err)
		if len(events) != 1 {
			t.Errorf("%d logout events, want 1", len(events))
		}
		wantErr(t, "EndSessionAndNotify of an unknown session", s.EndSessionAndNotify(ctx, "acme", "sid-404", t0, plan), store.ErrNotFound)
	}},
	{"EndSessionAndNotifyIsAllOrNothing", func(t *testing.T, s store.Store) {
		// The notifications cannot be queued (two deliveries share an id):
		// the session must not end either, so a retry queues them.
		ctx := t.Context()
		createOrg(t, s, "acme")
		createUser(t, s, "acme", "sub-1", "alice")
		createSession(t, s, "acme", "sid-1", "sub-1")
		access := newToken("acme", "access-1", domain.TokenAccess, "sid-1", "fam-1", "")
		ok(t, "CreateTokens", s.CreateTokens(ctx, access))
		bad := func(sess *domain.Session, _ []*domain.Application) ([]*domain.BackchannelDelivery, *domain.AuditEvent) {
			d := &domain.BackchannelDelivery{OrgID: "acme", ID: "same", ClientID: "web", UserSub: sess.UserSub, SID: sess.SID, CreatedAt: t0, NextAttemptAt: t0}
			dup := *d
			return []*domain.BackchannelDelivery{d, &dup}, &domain.AuditEvent{OrgID: "acme", At: t0, Action: "logout", Result: "ok"}
		}
		if err := s.EndSessionAndNotify(ctx, "acme", "sid-1", at(time.Hour), bad); err == nil {
			t.Fatal("EndSessionAndNotify succeeded though its deliveries could not be stored")
		}
		sess, err := s.GetSession(ctx, "acme", "sid-1")
		ok(t, "GetSession", err)
		if !sess.EndedAt.IsZero() {
			t.Error("the session ended though its notifications were not queued")
		}
		tok, err := s.GetToken(ctx, "acme", access.Hash)
		ok(t, "GetToken", err)
		if !tok.RevokedAt.IsZero() {
			t.Error("the session's token was revoked though the logout was rolled back")
		}
		events, err := s.ListAudit(ctx, "acme", store.AuditFilter{})
		ok(t, "ListAudit", err)
		if len(events) != 0 {
			t.Errorf("the rolled-back logout left audit events: %s", show(events))
		}
	}},
	{"ListAuditFiltersAndPages", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		var all []*domain.AuditEvent // oldest first
		for i := range 30 {
			e := &domain.AuditEvent{OrgID: "acme", At: at(time.Duration(i/2) * time.Minute), Actor: []string{"cli", "admin-token:1", "alice"}[i%3],
				Action: []string{"user.update", "app.create"}[i%2], Target: fmt.Sprint(i), Result: "ok", Detail: map[string]string{}}
			ok(t, "AppendAudit", s.AppendAudit(ctx, e))
			all = append(all, e)
		}
		pick := func(keep func(e *domain.AuditEvent) bool) []*domain.AuditEvent {
			var out []*domain.AuditEvent
			for _, e := range all {
				if keep(e) {
					out = append(out, e)
				}
			}
			// Newest first; events of one instant in id order, as the
			// store promises.
			slices.SortFunc(out, func(a, b *domain.AuditEvent) int {
				if c := b.At.Compare(a.At); c != 0 {
					return c
				}
				return strings.Compare(b.ID, a.ID)
			})
			return out
		}
		got, err := s.ListAudit(ctx, "acme", store.AuditFilter{Action: "app.create"})
		ok(t, "ListAudit by action", err)
		equal(t, "by action", got, pick(func(e *domain.AuditEvent) bool { return e.Action == "app.create" }))
		got, err = s.ListAudit(ctx, "acme", store.AuditFilter{Actor: "alice", Action: "user.update"})
		ok(t, "ListAudit by actor and action", err)
		equal(t, "by actor and action", got, pick(func(e *domain.AuditEvent) bool { return e.Actor == "alice" && e.Action == "user.update" }))
		got, err = s.ListAudit(ctx, "acme", store.AuditFilter{Since: at(3 * time.Minute), Until: at(6 * time.Minute)})
		ok(t, "ListAudit by time", err)
		equal(t, "by time", got, pick(func(e *domain.AuditEvent) bool {
			return !e.At.Before(at(3*time.Minute)) && e.At.Before(at(6*time.Minute))
		}))
		// Pages of 7 walk the whole log once, newest first, though events
		// share timestamps in pairs.
		var walked []*domain.AuditEvent
		cursor := ""
		for range 10 {
			page, err := s.ListAudit(ctx, "acme", store.AuditFilter{Limit: 7, Before: cursor})
			ok(t, "ListAudit page", err)
			walked = append(walked, page...)
			if len(page) < 7 {
				break
			}
			cursor = page[len(page)-1].ID
		}
		equal(t, "paged walk", walked, pick(func(*domain.AuditEvent) bool { return true }))
		got, err = s.ListAudit(ctx, "acme", store.AuditFilter{Before: "no-such-event"})
		ok(t, "ListAudit with an unknown cursor", err)
		if len(got) != 0 {
			t.Errorf("an unknown cursor selected %d events, want none", len(got))
		}
	}},
}
