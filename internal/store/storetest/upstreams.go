package storetest

import (
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

func newUpstream(orgID string) *domain.UpstreamConnection {
	return &domain.UpstreamConnection{
		OrgID:              orgID,
		ConfigURL:          "https://idp." + orgID + ".example/.well-known/openid-configuration",
		ClientID:           "latchkey-" + orgID,
		ClientSecretSealed: []byte("sealed upstream secret of " + orgID),
		Scopes:             []string{"openid", "profile", "email", "groups"},
		UsernameClaim:      "upn",
		DisplayName:        "Sign in with " + orgID,
		LogoutURL:          "https://" + orgID + ".example/logged-out",
		EndUpstreamSession: true,
		CreatedAt:          t0,
		UpdatedAt:          at(time.Minute),
	}
}

func putUpstream(t testing.TB, s store.Store, orgID string) *domain.UpstreamConnection {
	t.Helper()
	c := newUpstream(orgID)
	ok(t, "PutUpstream "+orgID, s.PutUpstream(t.Context(), c))
	return c
}

var upstreamTests = []test{
	{"PutUpstreamKeepsEveryField", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		want := putUpstream(t, s, "acme")
		got, err := s.GetUpstream(ctx, "acme")
		ok(t, "GetUpstream", err)
		equal(t, "GetUpstream", got, want)
	}},
	{"PutUpstreamReplacesEveryFieldButCreatedAt", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		first := putUpstream(t, s, "acme")
		changed := &domain.UpstreamConnection{
			OrgID: "acme", ConfigURL: "http://idp.internal:8080/realms/acme", ClientID: "other-client",
			ClientSecretSealed: []byte("new sealed secret"), Scopes: []string{"openid"}, UsernameClaim: "preferred_username",
			DisplayName: "", LogoutURL: "", EndUpstreamSession: false,
			CreatedAt: at(time.Hour), UpdatedAt: at(2 * time.Hour),
		}
		ok(t, "PutUpstream again", s.PutUpstream(ctx, changed))
		got, err := s.GetUpstream(ctx, "acme")
		ok(t, "GetUpstream", err)
		want := clone(changed)
		want.CreatedAt = first.CreatedAt
		equal(t, "GetUpstream after the second put", got, want)
	}},
	{"UpstreamNotFound", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		_, err := s.GetUpstream(ctx, "acme")
		wantErr(t, "GetUpstream without a connection", err, store.ErrNotFound)
		_, err = s.GetUpstream(ctx, "nope")
		wantErr(t, "GetUpstream of an unknown org", err, store.ErrNotFound)
		wantErr(t, "DeleteUpstream without a connection", s.DeleteUpstream(ctx, "acme"), store.ErrNotFound)
		wantErr(t, "PutUpstream for an unknown org", s.PutUpstream(ctx, newUpstream("nope")), store.ErrNotFound)
		_, err = s.GetUpstream(ctx, "nope")
		wantErr(t, "GetUpstream after the refused put", err, store.ErrNotFound)
	}},
	{"UpstreamsAreKeptPerOrganization", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createOrg(t, s, "globex")
		createOrg(t, s, "initech")
		a := putUpstream(t, s, "acme")
		b := putUpstream(t, s, "globex")
		changed := clone(a)
		changed.ClientID, changed.UpdatedAt = "changed", at(time.Hour)
		ok(t, "PutUpstream acme again", s.PutUpstream(ctx, changed))
		got, err := s.GetUpstream(ctx, "globex")
		ok(t, "GetUpstream globex", err)
		equal(t, "globex after acme changed", got, b)
		_, err = s.GetUpstream(ctx, "initech")
		wantErr(t, "GetUpstream of the org without one", err, store.ErrNotFound)
		ok(t, "DeleteUpstream acme", s.DeleteUpstream(ctx, "acme"))
		got, err = s.GetUpstream(ctx, "globex")
		ok(t, "GetUpstream globex", err)
		equal(t, "globex after acme's was deleted", got, b)
	}},
	{"DeleteUpstreamRemovesIt", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		putUpstream(t, s, "acme")
		ok(t, "DeleteUpstream", s.DeleteUpstream(ctx, "acme"))
		_, err := s.GetUpstream(ctx, "acme")
		wantErr(t, "GetUpstream after delete", err, store.ErrNotFound)
		wantErr(t, "DeleteUpstream again", s.DeleteUpstream(ctx, "acme"), store.ErrNotFound)
		again := putUpstream(t, s, "acme")
		got, err := s.GetUpstream(ctx, "acme")
		ok(t, "GetUpstream after a new put", err)
		equal(t, "GetUpstream after a new put", got, again)
	}},
	{"DeleteOrgRemovesItsUpstream", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "doomed")
		createOrg(t, s, "keeper")
		putUpstream(t, s, "doomed")
		keep := putUpstream(t, s, "keeper")
		ok(t, "DeleteOrg", s.DeleteOrg(ctx, "doomed"))
		_, err := s.GetUpstream(ctx, "doomed")
		wantErr(t, "GetUpstream of the deleted org", err, store.ErrNotFound)
		got, err := s.GetUpstream(ctx, "keeper")
		ok(t, "GetUpstream keeper", err)
		equal(t, "keeper's connection", got, keep)
		createOrg(t, s, "doomed")
		_, err = s.GetUpstream(ctx, "doomed")
		wantErr(t, "GetUpstream of the re-created org", err, store.ErrNotFound)
	}},
	{"GetUserByUpstreamFindsTheLinkedUser", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createOrg(t, s, "globex")
		alice := createUser(t, s, "acme", "sub-1", "alice")
		createUser(t, s, "acme", "sub-2", "bob")
		plain := &domain.User{OrgID: "acme", Sub: "sub-3", UserName: "carol", Role: domain.RoleUser, CreatedAt: t0, UpdatedAt: t0}
		ok(t, "CreateUser unlinked", s.CreateUser(ctx, plain))
		// The same upstream identity in another organization is another user.
		other := createUser(t, s, "globex", "sub-9", "alice")
		other.UpstreamSubject = alice.UpstreamSubject
		ok(t, "UpdateUser globex", saveUser(ctx, s, other))

		got, err := s.GetUserByUpstream(ctx, "acme", alice.UpstreamIssuer, alice.UpstreamSubject)
		ok(t, "GetUserByUpstream", err)
		equal(t, "GetUserByUpstream", got, alice)
		got, err = s.GetUserByUpstream(ctx, "globex", alice.UpstreamIssuer, alice.UpstreamSubject)
		ok(t, "GetUserByUpstream globex", err)
		equal(t, "GetUserByUpstream globex", got, other)

		for _, q := range [][2]string{
			{alice.UpstreamIssuer, "upstream-nobody"},
			{"https://other-idp.example", alice.UpstreamSubject},
			{"", ""}, // unlinked users must never match
			{alice.UpstreamIssuer, ""},
		} {
			_, err := s.GetUserByUpstream(ctx, "acme", q[0], q[1])
			wantErr(t, "GetUserByUpstream "+q[0]+" "+q[1], err, store.ErrNotFound)
		}
		_, err = s.GetUserByUpstream(ctx, "initech", alice.UpstreamIssuer, alice.UpstreamSubject)
		wantErr(t, "GetUserByUpstream in an unknown org", err, store.ErrNotFound)
	}},
	{"GetUserByUpstreamRefusesAnIdentityLinkedTwice", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		alice := createUser(t, s, "acme", "sub-1", "alice")
		bob := createUser(t, s, "acme", "sub-2", "bob")
		bob.UpstreamSubject = alice.UpstreamSubject
		ok(t, "UpdateUser", saveUser(ctx, s, bob))
		_, err := s.GetUserByUpstream(ctx, "acme", alice.UpstreamIssuer, alice.UpstreamSubject)
		wantErr(t, "GetUserByUpstream of a twice-linked identity", err, store.ErrConflict)
	}},
}
