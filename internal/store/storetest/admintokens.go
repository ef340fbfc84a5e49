package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

func newAdminToken(orgID, id string) *domain.AdminToken {
	return &domain.AdminToken{
		OrgID:       orgID,
		ID:          id,
		Hash:        h("admin token " + orgID + "/" + id),
		Description: "automation token " + id,
		CreatedAt:   t0,
		ExpiresAt:   at(30 * 24 * time.Hour),
		LastUsedAt:  at(time.Minute),
	}
}

func createAdminToken(t testing.TB, s store.Store, orgID, id string) *domain.AdminToken {
	t.Helper()
	x := newAdminToken(orgID, id)
	ok(t, "CreateAdminToken", s.CreateAdminToken(t.Context(), x))
	return x
}

var adminTokenTests = []test{
	{"CreateAdminTokenKeepsEveryFieldFoundOnlyInItsScope", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		orgToken := createAdminToken(t, s, "acme", "tok-1")
		operator := newAdminToken("", "tok-op")
		operator.ExpiresAt, operator.LastUsedAt, operator.RevokedAt = time.Time{}, time.Time{}, at(time.Hour)
		ok(t, "CreateAdminToken operator", s.CreateAdminToken(ctx, operator))

		got, err := s.FindAdminToken(ctx, "acme", orgToken.Hash)
		ok(t, "FindAdminToken(acme)", err)
		equal(t, "org token", got, orgToken)
		got, err = s.FindAdminToken(ctx, "", operator.Hash)
		ok(t, "FindAdminToken(operator)", err)
		equal(t, "operator token", got, operator)
		_, err = s.FindAdminToken(ctx, "", orgToken.Hash)
		wantErr(t, "FindAdminToken(org token as operator)", err, store.ErrNotFound)
		_, err = s.FindAdminToken(ctx, "acme", operator.Hash)
		wantErr(t, "FindAdminToken(operator token in acme)", err, store.ErrNotFound)
		_, err = s.FindAdminToken(ctx, "acme", h("unknown"))
		wantErr(t, "FindAdminToken(unknown)", err, store.ErrNotFound)
	}},
	{"AdminTokenIDAndHashAreUniquePerScope", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		first := createAdminToken(t, s, "acme", "tok-1")
		sameID := newAdminToken("acme", "tok-1")
		sameID.Hash = h("other")
		wantErr(t, "CreateAdminToken same id", s.CreateAdminToken(ctx, sameID), store.ErrConflict)
		sameHash := newAdminToken("acme", "tok-2")
		sameHash.Hash = first.Hash
		wantErr(t, "CreateAdminToken same hash", s.CreateAdminToken(ctx, sameHash), store.ErrConflict)
		got, err := s.FindAdminToken(ctx, "acme", first.Hash)
		ok(t, "FindAdminToken", err)
		equal(t, "token after the refused duplicates", got, first)
		createAdminToken(t, s, "", "tok-1") // the operator scope is separate
	}},
	{"ListAdminTokensListsEveryScopeByOrgThenCreation", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createOrg(t, s, "globex")
		mk := func(orgID, id string, created time.Time) *domain.AdminToken {
			x := newAdminToken(orgID, id)
			x.CreatedAt = created
			ok(t, "CreateAdminToken", s.CreateAdminToken(ctx, x))
			return x
		}
		globex := mk("globex", "a", t0)
		acmeLate := mk("acme", "a", at(time.Hour))
		op := mk("", "z", at(2*time.Hour))
		acmeEarly := mk("acme", "b", t0)
		got, err := s.ListAdminTokens(ctx)
		ok(t, "ListAdminTokens", err)
		equal(t, "ListAdminTokens", got, []*domain.AdminToken{op, acmeEarly, acmeLate, globex})
	}},
	{"RevokeAdminTokenOnceThenNotFound", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		x := createAdminToken(t, s, "acme", "tok-1")
		other := createAdminToken(t, s, "acme", "tok-2")
		ok(t, "RevokeAdminToken", s.RevokeAdminToken(ctx, "acme", "tok-1", at(time.Hour)))
		wantErr(t, "RevokeAdminToken again", s.RevokeAdminToken(ctx, "acme", "tok-1", at(2*time.Hour)), store.ErrNotFound)
		wantErr(t, "RevokeAdminToken unknown", s.RevokeAdminToken(ctx, "acme", "tok-404", at(time.Hour)), store.ErrNotFound)
		wantErr(t, "RevokeAdminToken in the operator scope", s.RevokeAdminToken(ctx, "", "tok-2", at(time.Hour)), store.ErrNotFound)
		got, err := s.FindAdminToken(ctx, "acme", x.Hash)
		ok(t, "FindAdminToken", err)
		want := clone(x)
		want.RevokedAt = at(time.Hour)
		equal(t, "revoked token keeps the first revocation time", got, want)
		got, err = s.FindAdminToken(ctx, "acme", other.Hash)
		ok(t, "FindAdminToken other", err)
		equal(t, "the other token", got, other)
	}},
	{"TouchAdminTokenRecordsTheLastUse", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		x := createAdminToken(t, s, "acme", "tok-1")
		other := createAdminToken(t, s, "acme", "tok-2")
		ok(t, "TouchAdminToken", s.TouchAdminToken(ctx, "acme", "tok-1", at(5*time.Hour)))
		got, err := s.FindAdminToken(ctx, "acme", x.Hash)
		ok(t, "FindAdminToken", err)
		want := clone(x)
		want.LastUsedAt = at(5 * time.Hour)
		equal(t, "touched token", got, want)
		got, err = s.FindAdminToken(ctx, "acme", other.Hash)
		ok(t, "FindAdminToken other", err)
		equal(t, "the other token", got, other)
	}},
}

// adminTokensOf filters ListAdminTokens to one scope.
func adminTokensOf(t testing.TB, s store.Store, orgID string) []*domain.AdminToken {
	t.Helper()
	all, err := s.ListAdminTokens(t.Context())
	ok(t, "ListAdminTokens", err)
	return slices.DeleteFunc(all, func(x *domain.AdminToken) bool { return x.OrgID != orgID })
}
