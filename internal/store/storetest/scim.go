package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

var scimTokenTests = []test{
	{"RoundTripFindRevokeTouch", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createOrg(t, s, "globex")
		tok := &domain.SCIMToken{OrgID: "acme", ID: "t1", Hash: h("scim-1"), Description: "Entra ID", CreatedAt: t0, ExpiresAt: at(time.Hour)}
		ok(t, "CreateSCIMToken", s.CreateSCIMToken(ctx, tok))
		got, err := s.FindSCIMToken(ctx, "acme", h("scim-1"))
		ok(t, "FindSCIMToken", err)
		equal(t, "token", got, tok)
		_, err = s.FindSCIMToken(ctx, "globex", h("scim-1"))
		wantErr(t, "another organization's token", err, store.ErrNotFound)
		ok(t, "TouchSCIMToken", s.TouchSCIMToken(ctx, "acme", "t1", at(time.Minute)))
		ok(t, "RevokeSCIMToken", s.RevokeSCIMToken(ctx, "acme", "t1", at(2*time.Minute)))
		wantErr(t, "second revoke", s.RevokeSCIMToken(ctx, "acme", "t1", at(3*time.Minute)), store.ErrNotFound)
		wantErr(t, "revoke in another organization", s.RevokeSCIMToken(ctx, "globex", "t1", at(3*time.Minute)), store.ErrNotFound)
		list, err := s.ListSCIMTokens(ctx, "acme")
		ok(t, "ListSCIMTokens", err)
		tok.LastUsedAt, tok.RevokedAt = at(time.Minute), at(2*time.Minute)
		equal(t, "listed", list, []*domain.SCIMToken{tok})
		other, err := s.ListSCIMTokens(ctx, "globex")
		ok(t, "ListSCIMTokens globex", err)
		equal(t, "globex's tokens", len(other), 0)
	}},
}

var groupTests = []test{
	{"MembersNamesAndUserDeletion", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createOrg(t, s, "globex")
		for _, n := range []string{"a", "b", "c"} {
			createUser(t, s, "acme", "sub-"+n, "user-"+n)
		}
		g := &domain.Group{OrgID: "acme", ID: "g1", DisplayName: "Engineering", ExternalID: "ext-g1", Members: []string{"sub-a", "sub-b"}, CreatedAt: t0, UpdatedAt: t0}
		ok(t, "CreateGroup", s.CreateGroup(ctx, g))
		wantErr(t, "same name in another case", s.CreateGroup(ctx, &domain.Group{OrgID: "acme", ID: "g2", DisplayName: "ENGINEERING", CreatedAt: t0, UpdatedAt: t0}), store.ErrConflict)
		ok(t, "same name in another organization", s.CreateGroup(ctx, &domain.Group{OrgID: "globex", ID: "g1", DisplayName: "Engineering", CreatedAt: t0, UpdatedAt: t0}))
		got, err := s.GetGroup(ctx, "acme", "g1")
		ok(t, "GetGroup", err)
		equal(t, "group", got, g)

		g.DisplayName, g.Members, g.UpdatedAt = "Eng", []string{"sub-b", "sub-c"}, at(time.Minute)
		updated, err := s.UpdateGroup(ctx, "acme", "g1", func(cur *domain.Group) error {
			cur.DisplayName, cur.Members, cur.UpdatedAt = g.DisplayName, g.Members, g.UpdatedAt
			return nil
		}, &domain.AuditEvent{OrgID: "acme", At: at(time.Minute), Actor: "test", Action: "group.update", Target: "g1", Result: "ok"})
		ok(t, "UpdateGroup", err)
		equal(t, "UpdateGroup's answer", updated, g)
		_, err = s.UpdateGroup(ctx, "globex", "nope", func(*domain.Group) error { return nil })
		wantErr(t, "update a missing group", err, store.ErrNotFound)
		got, _ = s.GetGroup(ctx, "acme", "g1")
		equal(t, "updated group", got, g)
		names, err := s.ListUserGroups(ctx, "acme", "sub-c")
		ok(t, "ListUserGroups", err)
		equal(t, "groups of c", len(names), 1)
		equal(t, "group of c", names[0].DisplayName, "Eng")

		ok(t, "DeleteUser", s.DeleteUser(ctx, "acme", "sub-b", nil))
		got, _ = s.GetGroup(ctx, "acme", "g1")
		equal(t, "members after deleting b", got.Members, []string{"sub-c"})

		refused := errors.New("refused by check")
		wantErr(t, "DeleteGroup refused by its check", s.DeleteGroup(ctx, "acme", "g1", func(*domain.Group) error { return refused }), refused)
		_, err = s.GetGroup(ctx, "acme", "g1")
		ok(t, "group after a refused DeleteGroup", err)
		ok(t, "DeleteGroup", s.DeleteGroup(ctx, "acme", "g1", nil))
		_, err = s.GetGroup(ctx, "acme", "g1")
		wantErr(t, "deleted group", err, store.ErrNotFound)
		wantErr(t, "delete again", s.DeleteGroup(ctx, "acme", "g1", nil), store.ErrNotFound)
		_, err = s.GetGroup(ctx, "globex", "g1")
		ok(t, "globex's group is untouched", err)
	}},
}

var userSearchTests = []test{
	{"FiltersOrderAndPages", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createOrg(t, s, "globex")
		for i, n := range []string{"Émile", "bob", "carol_x", "dave%"} {
			u := newUser("acme", fmt.Sprintf("sub-%d", i), n)
			u.Disabled = i%2 == 1
			u.CreatedAt, u.UpdatedAt = at(time.Duration(i)*time.Hour), at(time.Duration(i)*time.Hour)
			ok(t, "CreateUser", s.CreateUser(ctx, u))
		}
		createUser(t, s, "globex", "sub-g", "bob")
		c := func(attr, op string, v any) store.Filter { return store.Compare{Attr: attr, Op: op, Value: v} }
		for _, tc := range []struct {
			name   string
			filter store.Filter
			want   []string
		}{
			{"all", nil, []string{"bob", "carol_x", "dave%", "Émile"}},
			{"userName eq folds case", c(store.AttrUserName, "eq", "ÉMILE"), []string{"Émile"}},
			{"ne", c(store.AttrUserName, "ne", "bob"), []string{"carol_x", "dave%", "Émile"}},
			{"co takes _ literally", c(store.AttrUserName, "co", "_"), []string{"carol_x"}},
			{"ew takes % literally", c(store.AttrUserName, "ew", "%"), []string{"dave%"}},
			{"sw", c(store.AttrEmail, "sw", "BOB@"), []string{"bob"}},
			{"name co", c(store.AttrName, "co", "of car"), []string{"carol_x"}},
			{"externalId is case-exact", c(store.AttrExternalID, "eq", "EXT-SUB-0"), nil},
			{"externalId eq", c(store.AttrExternalID, "eq", "ext-sub-0"), []string{"Émile"}},
			{"active", c(store.AttrActive, "eq", true), []string{"carol_x", "Émile"}},
			{"not active", store.Not{Filter: c(store.AttrActive, "eq", true)}, []string{"bob", "dave%"}},
			{"lastModified ge", c(store.AttrLastModified, "ge", at(2*time.Hour)), []string{"carol_x", "dave%"}},
			{"created lt", c(store.AttrCreated, "lt", at(time.Hour)), []string{"Émile"}},
			{"and/or", store.Or{Left: store.And{Left: c(store.AttrUserName, "sw", "b"), Right: c(store.AttrActive, "eq", false)}, Right: c(store.AttrID, "eq", "sub-3")},
				[]string{"bob", "dave%"}},
			{"pr", c(store.AttrEmail, "pr", nil), []string{"bob", "carol_x", "dave%", "Émile"}},
		} {
			us, total, err := s.SearchUsers(ctx, "acme", store.Page{Filter: tc.filter, Limit: 10})
			ok(t, tc.name, err)
			var names []string
			for _, u := range us {
				names = append(names, u.UserName)
			}
			equal(t, tc.name, names, tc.want)
			equal(t, tc.name+" total", total, len(tc.want))
		}
		page, total, err := s.SearchUsers(ctx, "acme", store.Page{Offset: 1, Limit: 2})
		ok(t, "page", err)
		equal(t, "page total", total, 4)
		equal(t, "page size", len(page), 2)
		equal(t, "page start", page[0].UserName, "carol_x")
		_, _, err = s.SearchUsers(ctx, "acme", store.Page{Filter: c("password_hash", "eq", "x"), Limit: 1})
		wantErr(t, "unknown attribute", err, store.ErrInvalidFilter)
		_, _, err = s.SearchUsers(ctx, "acme", store.Page{Filter: c(store.AttrActive, "co", true), Limit: 1})
		wantErr(t, "co on a boolean", err, store.ErrInvalidFilter)
		_, _, err = s.SearchUsers(ctx, "acme", store.Page{Filter: c(store.AttrUserName, "eq", 5), Limit: 1})
		wantErr(t, "wrong value type", err, store.ErrInvalidFilter)
		_, _, err = s.SearchUsers(ctx, "acme", store.Page{Filter: c(store.AttrUserName, "eq", "bo\x00b"), Limit: 1})
		wantErr(t, "a value with NUL", err, store.ErrInvalidFilter)
	}},
}
