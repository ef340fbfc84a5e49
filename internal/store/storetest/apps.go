package storetest

import (
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

var appTests = []test{
	{"CreateAppKeepsEveryField", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		confidential := createApp(t, s, "acme", "web")
		got, err := s.GetApp(ctx, "acme", "web")
		ok(t, "GetApp", err)
		equal(t, "confidential app", got, confidential)
	}},
	{"PublicAppHasNoSecretAndEmptyListsStayEmpty", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		spa := newApp("acme", "spa")
		spa.Public, spa.SecretHash = true, nil
		spa.PostLogoutRedirectURIs, spa.BackchannelLogoutURI = nil, ""
		ok(t, "CreateApp", s.CreateApp(ctx, spa))
		got, err := s.GetApp(ctx, "acme", "spa")
		ok(t, "GetApp", err)
		if got.SecretHash != nil {
			t.Errorf("SecretHash = %x, want nil for a public app", got.SecretHash)
		}
		if len(got.PostLogoutRedirectURIs) != 0 {
			t.Errorf("PostLogoutRedirectURIs = %q, want none", got.PostLogoutRedirectURIs)
		}
		got.PostLogoutRedirectURIs = nil
		equal(t, "public app", got, spa)
	}},
	{"ClientIDIsUniquePerOrg", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createOrg(t, s, "globex")
		first := createApp(t, s, "acme", "web")
		dup := newApp("acme", "web")
		dup.Name = "Impostor"
		wantErr(t, "CreateApp same client id", s.CreateApp(ctx, dup), store.ErrConflict)
		got, err := s.GetApp(ctx, "acme", "web")
		ok(t, "GetApp", err)
		equal(t, "app after the refused duplicate", got, first)
		createApp(t, s, "globex", "web") // another org may use the same client ID
	}},
	{"UpdateAppSavesEveryField", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		a := createApp(t, s, "acme", "web")
		other := createApp(t, s, "acme", "other")
		changed := &domain.Application{
			OrgID: "acme", ClientID: "web", Name: "Web (renamed)", SecretHash: nil, Public: true,
			RedirectURIs:           []string{"com.example.app:/cb"},
			PostLogoutRedirectURIs: []string{"https://web.example/a", "https://web.example/b", "https://web.example/c"},
			BackchannelLogoutURI:   "",
			GrantTypes:             []string{domain.GrantAuthorizationCode},
			AccessTokenLifetime:    60, IDTokenLifetime: 61, RefreshTokenLifetime: 62,
			IDTokenAlg: domain.AlgEdDSA, AccessTokenFormat: domain.AccessTokenOpaque, RefreshTokenReuseInterval: 17,
			CreatedAt: a.CreatedAt, UpdatedAt: at(99 * time.Hour),
		}
		ok(t, "UpdateApp", saveApp(ctx, s, changed))
		got, err := s.GetApp(ctx, "acme", "web")
		ok(t, "GetApp", err)
		equal(t, "app after update", got, changed)
		got, err = s.GetApp(ctx, "acme", "other")
		ok(t, "GetApp other", err)
		equal(t, "the other app", got, other)
	}},
	{"MissingAppIsNotFound", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createApp(t, s, "acme", "web")
		_, err := s.GetApp(ctx, "acme", "nope")
		wantErr(t, "GetApp", err, store.ErrNotFound)
		wantErr(t, "UpdateApp", saveApp(ctx, s, newApp("acme", "nope")), store.ErrNotFound)
		wantErr(t, "DeleteApp", s.DeleteApp(ctx, "acme", "nope"), store.ErrNotFound)
		_, err = s.GetApp(ctx, "acme", "nope")
		wantErr(t, "GetApp after the refused update", err, store.ErrNotFound)
	}},
	{"DeleteAppRemovesItWithItsCodesAndTokens", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createApp(t, s, "acme", "web")
		keep := createApp(t, s, "acme", "keep")
		c := newCode("acme", "code-web", "sub-1", "sid-1")
		c.ClientID = "web"
		ok(t, "CreateCode", s.CreateCode(ctx, c))
		tk := newToken("acme", "rt-web", domain.TokenRefresh, "sid-1", "fam-1", "")
		tk.ClientID = "web"
		keepTk := newToken("acme", "rt-keep", domain.TokenRefresh, "sid-1", "fam-2", "")
		keepTk.ClientID = "keep"
		ok(t, "CreateTokens", s.CreateTokens(ctx, tk, keepTk))

		ok(t, "DeleteApp", s.DeleteApp(ctx, "acme", "web"))
		_, err := s.GetApp(ctx, "acme", "web")
		wantErr(t, "GetApp", err, store.ErrNotFound)
		_, err = s.GetToken(ctx, "acme", tk.Hash)
		wantErr(t, "GetToken of the deleted app", err, store.ErrNotFound)
		_, err = s.ConsumeCode(ctx, "acme", c.Hash, t0)
		wantErr(t, "ConsumeCode of the deleted app", err, store.ErrNotFound)
		wantErr(t, "DeleteApp again", s.DeleteApp(ctx, "acme", "web"), store.ErrNotFound)

		got, err := s.GetApp(ctx, "acme", "keep")
		ok(t, "GetApp keep", err)
		equal(t, "the other app", got, keep)
		gotTk, err := s.GetToken(ctx, "acme", keepTk.Hash)
		ok(t, "GetToken keep", err)
		equal(t, "the other app's token", gotTk, keepTk)
	}},
	{"ListAppsIsOrderedByNameThenClientID", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createOrg(t, s, "other")
		empty, err := s.ListApps(ctx, "acme")
		ok(t, "ListApps", err)
		if len(empty) != 0 {
			t.Fatalf("ListApps of an org without apps = %s", show(empty))
		}
		mk := func(clientID, name string) *domain.Application {
			a := newApp("acme", clientID)
			a.Name = name
			ok(t, "CreateApp", s.CreateApp(ctx, a))
			return a
		}
		zeta := mk("c1", "Zeta")
		alpha2 := mk("c2", "Alpha")
		alpha0 := mk("c0", "Alpha")
		beta := mk("a9", "Beta")
		createApp(t, s, "other", "c3")
		got, err := s.ListApps(ctx, "acme")
		ok(t, "ListApps", err)
		equal(t, "ListApps", got, []*domain.Application{alpha0, alpha2, beta, zeta})
	}},
}
