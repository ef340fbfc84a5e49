package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

var userTests = []test{
	{"CreateUserKeepsEveryField", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		u := createUser(t, s, "acme", "sub-1", "Alice")
		plain := &domain.User{OrgID: "acme", Sub: "sub-2", UserName: "bob", Role: domain.RoleUser, CreatedAt: t0, UpdatedAt: t0}
		ok(t, "CreateUser plain", s.CreateUser(ctx, plain))
		for _, want := range []*domain.User{u, plain} {
			got, err := s.GetUser(ctx, "acme", want.Sub)
			ok(t, "GetUser", err)
			equal(t, "GetUser", got, want)
			got, err = s.GetUserByName(ctx, "acme", want.UserName)
			ok(t, "GetUserByName", err)
			equal(t, "GetUserByName", got, want)
		}
	}},
	{"UserNameIsUniqueIgnoringCaseAndKeepsItsCase", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		alice := createUser(t, s, "acme", "sub-1", "Alice")
		for _, name := range []string{"alice", "ALICE", "Alice"} {
			wantErr(t, "CreateUser "+name, s.CreateUser(ctx, newUser("acme", "sub-"+name, name)), store.ErrConflict)
		}
		for _, name := range []string{"ALICE", "alice", "aLiCe"} {
			got, err := s.GetUserByName(ctx, "acme", name)
			ok(t, "GetUserByName "+name, err)
			equal(t, "GetUserByName "+name, got, alice)
		}
		users, err := s.ListUsers(ctx, "acme", store.UserFilter{})
		ok(t, "ListUsers", err)
		equal(t, "ListUsers after the refused duplicates", users, []*domain.User{alice})
	}},
	{"CreateUserWithATakenSubConflicts", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		first := createUser(t, s, "acme", "sub-1", "alice")
		wantErr(t, "CreateUser same sub", s.CreateUser(ctx, newUser("acme", "sub-1", "bob")), store.ErrConflict)
		got, err := s.GetUser(ctx, "acme", "sub-1")
		ok(t, "GetUser", err)
		equal(t, "GetUser", got, first)
		_, err = s.GetUserByName(ctx, "acme", "bob")
		wantErr(t, "GetUserByName of the refused user", err, store.ErrNotFound)
	}},
	{"SameUserNameInTwoOrgsIsAllowed", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createOrg(t, s, "globex")
		a := createUser(t, s, "acme", "sub-1", "alice")
		b := createUser(t, s, "globex", "sub-1", "ALICE")
		got, err := s.GetUserByName(ctx, "globex", "alice")
		ok(t, "GetUserByName(globex)", err)
		equal(t, "globex's alice", got, b)
		got, err = s.GetUserByName(ctx, "acme", "alice")
		ok(t, "GetUserByName(acme)", err)
		equal(t, "acme's alice", got, a)
	}},
	{"UpdateUserSavesEveryField", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		u := createUser(t, s, "acme", "sub-1", "alice")
		other := createUser(t, s, "acme", "sub-2", "bob")
		changed := &domain.User{
			OrgID: "acme", Sub: "sub-1", UserName: "Alice.Smith", Name: "Alice Smith", Email: "alice@smith.example",
			EmailVerified: false, Picture: "https://pics.example/new.png", Role: domain.RoleUser, PasswordHash: "",
			Disabled: false, UpstreamIssuer: "https://other-idp.example", UpstreamSubject: "u-9",
			CreatedAt: u.CreatedAt, UpdatedAt: at(72 * time.Hour),
		}
		ok(t, "UpdateUser", saveUser(ctx, s, changed))
		got, err := s.GetUser(ctx, "acme", "sub-1")
		ok(t, "GetUser", err)
		equal(t, "GetUser after update", got, changed)
		got, err = s.GetUser(ctx, "acme", "sub-2")
		ok(t, "GetUser other", err)
		equal(t, "the other user", got, other)
	}},
	{"RenamingFreesTheOldNameAndTakesTheNewOne", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		u := createUser(t, s, "acme", "sub-1", "alice")
		renamed := clone(u)
		renamed.UserName = "Carol"
		ok(t, "UpdateUser rename", saveUser(ctx, s, renamed))
		_, err := s.GetUserByName(ctx, "acme", "alice")
		wantErr(t, "GetUserByName(old name)", err, store.ErrNotFound)
		got, err := s.GetUserByName(ctx, "acme", "CAROL")
		ok(t, "GetUserByName(new name, other case)", err)
		equal(t, "renamed user", got, renamed)
		createUser(t, s, "acme", "sub-2", "ALICE")
		wantErr(t, "CreateUser carol", s.CreateUser(ctx, newUser("acme", "sub-3", "carol")), store.ErrConflict)
	}},
	{"RenamingToAnotherCaseOfTheSameNameIsAllowed", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		u := createUser(t, s, "acme", "sub-1", "alice")
		renamed := clone(u)
		renamed.UserName = "ALICE"
		ok(t, "UpdateUser", saveUser(ctx, s, renamed))
		got, err := s.GetUserByName(ctx, "acme", "alice")
		ok(t, "GetUserByName", err)
		equal(t, "GetUserByName keeps the new case", got.UserName, "ALICE")
	}},
	{"RenamingOntoAnotherUsersNameConflicts", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		alice := createUser(t, s, "acme", "sub-1", "Alice")
		bob := createUser(t, s, "acme", "sub-2", "bob")
		taker := clone(bob)
		taker.UserName, taker.Name = "aLICE", "Changed"
		wantErr(t, "UpdateUser onto Alice", saveUser(ctx, s, taker), store.ErrConflict)
		for _, want := range []*domain.User{alice, bob} {
			got, err := s.GetUser(ctx, "acme", want.Sub)
			ok(t, "GetUser", err)
			equal(t, "user after the refused rename", got, want)
		}
	}},
	{"MissingUserIsNotFound", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createUser(t, s, "acme", "sub-1", "alice")
		_, err := s.GetUser(ctx, "acme", "sub-404")
		wantErr(t, "GetUser", err, store.ErrNotFound)
		_, err = s.GetUserByName(ctx, "acme", "nobody")
		wantErr(t, "GetUserByName", err, store.ErrNotFound)
		wantErr(t, "UpdateUser", saveUser(ctx, s, newUser("acme", "sub-404", "nobody")), store.ErrNotFound)
		wantErr(t, "DeleteUser", s.DeleteUser(ctx, "acme", "sub-404", nil), store.ErrNotFound)
		_, err = s.GetUserByName(ctx, "acme", "nobody")
		wantErr(t, "GetUserByName after the refused update", err, store.ErrNotFound)
	}},
	{"DeleteUserRemovesTheUserWithTheirSessionsTokensCodesAndTickets", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createUser(t, s, "acme", "sub-1", "alice")
		bob := createUser(t, s, "acme", "sub-2", "bob")
		createSession(t, s, "acme", "sid-1", "sub-1")
		bobSession := createSession(t, s, "acme", "sid-2", "sub-2")
		createCode(t, s, "acme", "code-1", "sub-1", "sid-1")
		createTicket(t, s, "acme", "ticket-1", "sub-1")
		tk := newToken("acme", "rt-1", domain.TokenRefresh, "sid-1", "fam-1", "")
		bobTk := newToken("acme", "rt-2", domain.TokenRefresh, "sid-2", "fam-2", "")
		bobTk.UserSub = "sub-2"
		ok(t, "CreateTokens", s.CreateTokens(ctx, tk, bobTk))

		refused := errors.New("refused by check")
		var seen string
		err := s.DeleteUser(ctx, "acme", "sub-1", func(u *domain.User) error { seen = u.UserName; return refused })
		wantErr(t, "DeleteUser refused by its check", err, refused)
		equal(t, "user the check saw", seen, "alice")
		_, err = s.GetSession(ctx, "acme", "sid-1")
		ok(t, "GetSession after a refused DeleteUser", err)
		ok(t, "DeleteUser", s.DeleteUser(ctx, "acme", "sub-1", func(*domain.User) error { return nil }))
		_, err = s.GetUser(ctx, "acme", "sub-1")
		wantErr(t, "GetUser", err, store.ErrNotFound)
		_, err = s.GetUserByName(ctx, "acme", "alice")
		wantErr(t, "GetUserByName", err, store.ErrNotFound)
		_, err = s.GetSession(ctx, "acme", "sid-1")
		wantErr(t, "GetSession", err, store.ErrNotFound)
		_, err = s.GetToken(ctx, "acme", tk.Hash)
		wantErr(t, "GetToken", err, store.ErrNotFound)
		_, err = s.ConsumeCode(ctx, "acme", h("code-1"), t0)
		wantErr(t, "ConsumeCode", err, store.ErrNotFound)
		_, err = s.ConsumeTicket(ctx, "acme", h("ticket-1"), t0)
		wantErr(t, "ConsumeTicket", err, store.ErrNotFound)
		wantErr(t, "DeleteUser again", s.DeleteUser(ctx, "acme", "sub-1", nil), store.ErrNotFound)

		got, err := s.GetUser(ctx, "acme", "sub-2")
		ok(t, "GetUser(bob)", err)
		equal(t, "bob", got, bob)
		gotSession, err := s.GetSession(ctx, "acme", "sid-2")
		ok(t, "GetSession(bob)", err)
		equal(t, "bob's session", gotSession, bobSession)
		gotTk, err := s.GetToken(ctx, "acme", bobTk.Hash)
		ok(t, "GetToken(bob)", err)
		equal(t, "bob's token", gotTk, bobTk)

		createUser(t, s, "acme", "sub-3", "Alice") // the name is free again
	}},
	{"ListUsersFiltersBySubstringOfUserNameNameOrEmail", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createOrg(t, s, "other")
		mk := func(sub, userName, name, email string) *domain.User {
			u := newUser("acme", sub, userName)
			u.Name, u.Email = name, email
			ok(t, "CreateUser "+userName, s.CreateUser(ctx, u))
			return u
		}
		frank := mk("s1", "Frank", "Frank Castle", "frank@castle.example")
		alice := mk("s2", "alice", "Alice Liddell", "alice@wonderland.example")
		bob := mk("s3", "bob", "Bob 100% Sure", "bob@mail.example")
		carol := mk("s4", "carol_x", "Carol", "carol@mail.example")
		eve := mk("s5", "eve", `Eve \ Backslash`, "")
		emile := mk("s6", "emile", "Émile Zola", "emile@paris.example")
		createUser(t, s, "other", "s9", "alice-elsewhere")

		all := []*domain.User{alice, bob, carol, emile, eve, frank}
		cases := []struct {
			query string
			want  []*domain.User
		}{
			{"", all},
			{"FRANK", []*domain.User{frank}},
			{"lidd", []*domain.User{alice}},
			{"WONDERLAND.EX", []*domain.User{alice}},
			{"mail.example", []*domain.User{bob, carol}},
			{"e", all},
			{"émile z", []*domain.User{emile}}, // non-ASCII folds alike on every backend
			{"ÉMILE", []*domain.User{emile}},
			{"zolaemile", nil}, // no match across two fields
			{"%", []*domain.User{bob}},
			{"100%", []*domain.User{bob}},
			{"_", []*domain.User{carol}},
			{"l_x", []*domain.User{carol}},
			{"a_o", nil},
			{"r%l", nil},
			{`\`, []*domain.User{eve}},
			{"nobody", nil},
			{"Castle\nfrank", nil},
			{"bo\x00b", nil}, // no text holds NUL
			{"elsewhere", nil},
		}
		for _, c := range cases {
			got, err := s.ListUsers(ctx, "acme", store.UserFilter{Query: c.query})
			ok(t, "ListUsers "+c.query, err)
			if len(c.want) == 0 && len(got) == 0 {
				continue
			}
			equal(t, "ListUsers(Query: "+c.query+")", got, c.want)
		}
	}},
	{"ListUsersStopsAtTheLimit", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		var all []*domain.User
		for _, name := range []string{"dave", "Carol", "bob", "alice"} {
			all = append(all, createUser(t, s, "acme", "sub-"+name, name))
		}
		all = sortedUsers(all)
		for _, limit := range []int{1, 3} {
			got, err := s.ListUsers(ctx, "acme", store.UserFilter{Limit: limit})
			ok(t, "ListUsers", err)
			equal(t, "ListUsers with a limit", got, all[:limit])
		}
		// "c" is in alice and Carol only (the fixtures' names and emails have none).
		got, err := s.ListUsers(ctx, "acme", store.UserFilter{Query: "c", Limit: 1})
		ok(t, "ListUsers", err)
		equal(t, "ListUsers with query and limit", got, all[:1])
		got, err = s.ListUsers(ctx, "acme", store.UserFilter{Query: "c", Limit: 5})
		ok(t, "ListUsers", err)
		equal(t, "ListUsers with query", got, []*domain.User{all[0], all[2]})
		got, err = s.ListUsers(ctx, "acme", store.UserFilter{Limit: 0})
		ok(t, "ListUsers", err)
		equal(t, "ListUsers without a limit", got, all)
	}},
}
