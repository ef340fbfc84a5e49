package storetest

import (
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

var orgTests = []test{
	{"CreateOrgKeepsEveryFieldWithItsAPIKeyAndSigningKeys", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		o, key, keys := createOrg(t, s, "acme")
		got, err := s.GetOrg(ctx, "acme")
		ok(t, "GetOrg", err)
		equal(t, "GetOrg", got, o)
		cur, err := s.CurrentAPIKey(ctx, "acme")
		ok(t, "CurrentAPIKey", err)
		equal(t, "CurrentAPIKey", cur, key)
		gotKeys, err := s.ListSigningKeys(ctx, "acme")
		ok(t, "ListSigningKeys", err)
		equal(t, "ListSigningKeys", gotKeys, keys)
	}},
	{"CreateOrgWithoutKeysStoresJustTheOrg", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		o := newOrg("bare")
		o.Settings = domain.DefaultOrgSettings()
		ok(t, "CreateOrg", s.CreateOrg(ctx, o, nil, nil))
		got, err := s.GetOrg(ctx, "bare")
		ok(t, "GetOrg", err)
		equal(t, "GetOrg", got, o)
		_, err = s.CurrentAPIKey(ctx, "bare")
		wantErr(t, "CurrentAPIKey", err, store.ErrNotFound)
		keys, err := s.ListSigningKeys(ctx, "bare")
		ok(t, "ListSigningKeys", err)
		if len(keys) != 0 {
			t.Errorf("ListSigningKeys = %s, want none", show(keys))
		}
	}},
	{"AnOrganizationCreatedAgainUnderItsIDStartsWithoutTheOldTokensAndCodes", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createCode(t, s, "acme", "code-old", "sub-1", "sid-1")
		old := newToken("acme", "at-old", domain.TokenAccess, "", "", "")
		ok(t, "CreateTokens", s.CreateTokens(ctx, old))
		ok(t, "DeleteOrg", s.DeleteOrg(ctx, "acme"))
		// A grant in flight while the organization was deleted writes
		// after the deletion: where the engine keeps a foreign key it is
		// refused, else it stays behind, out of reach.
		late := newToken("acme", "at-late", domain.TokenAccess, "", "", "")
		lateErr := s.CreateTokens(ctx, late)
		lateCode := newCode("acme", "code-late", "sub-1", "sid-1")
		lateCodeErr := s.CreateCode(ctx, lateCode)
		createOrg(t, s, "acme")
		for _, x := range []*domain.Token{old, late} {
			_, err := s.GetToken(ctx, "acme", x.Hash)
			wantErr(t, "GetToken in the new acme of a token of the old one", err, store.ErrNotFound)
		}
		for _, c := range []*domain.AuthCode{lateCode} {
			_, err := s.GetCode(ctx, "acme", c.Hash)
			wantErr(t, "GetCode in the new acme of a code of the old one", err, store.ErrNotFound)
		}
		_, err := s.GetCode(ctx, "acme", h("code-old"))
		wantErr(t, "GetCode in the new acme of the old one's code", err, store.ErrNotFound)
		t.Logf("late writes after the deletion: token %v, code %v", lateErr, lateCodeErr)
	}},
	{"AnOrganizationCreatedAgainUnderItsIDStartsWithoutTheOldSignInRows", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		ok(t, "DeleteOrg", s.DeleteOrg(ctx, "acme"))
		// A sign-in in flight while the organization was deleted writes
		// its audit event, ticket, pending request, multi-factor step and
		// upstream sign-in after the deletion: refused where the engine
		// keeps a foreign key, else left behind out of reach.
		late := map[string]error{
			"audit":   s.AppendAudit(ctx, &domain.AuditEvent{OrgID: "acme", At: t0, Actor: "late", Action: "login.ticket", Result: "ok"}),
			"ticket":  s.CreateTicket(ctx, newTicket("acme", "ticket-late", "sub-1")),
			"request": s.CreateAuthRequest(ctx, newAuthRequest("acme", "req-late")),
			"mfa": s.CreateMFAFlow(ctx, &domain.MFAFlow{OrgID: "acme", Hash: h("flow-late"), Kind: domain.FlowSecondFactor,
				UserSub: "sub-1", CreatedAt: t0, ExpiresAt: at(10 * time.Minute)}),
			"upstream": s.CreateUpstreamLogin(ctx, &domain.UpstreamLogin{OrgID: "acme", Hash: h("state-late"), BrowserHash: h("browser"),
				AuthRequestID: "req-late", Nonce: "n", CreatedAt: t0, ExpiresAt: at(10 * time.Minute)}),
			"session": s.CreateSession(ctx, newSession("acme", "sid-late", "sub-1")),
		}
		createOrg(t, s, "acme")
		events, err := s.ListAudit(ctx, "acme", store.AuditFilter{Limit: 100})
		ok(t, "ListAudit", err)
		for _, e := range events {
			if e.Actor == "late" {
				t.Errorf("the new acme's audit shows the old one's event %+v", e)
			}
		}
		_, err = s.GetTicket(ctx, "acme", h("ticket-late"))
		wantErr(t, "GetTicket in the new acme of the old one's ticket", err, store.ErrNotFound)
		_, err = s.GetAuthRequest(ctx, "acme", "req-late", at(time.Second))
		wantErr(t, "GetAuthRequest in the new acme of the old one's request", err, store.ErrNotFound)
		_, err = s.GetMFAFlow(ctx, "acme", h("flow-late"), at(time.Second))
		wantErr(t, "GetMFAFlow in the new acme of the old one's step", err, store.ErrNotFound)
		_, err = s.ConsumeUpstreamLogin(ctx, "acme", h("state-late"), at(time.Second))
		wantErr(t, "ConsumeUpstreamLogin in the new acme of the old one's", err, store.ErrNotFound)
		_, err = s.GetSession(ctx, "acme", "sid-late")
		wantErr(t, "GetSession in the new acme of the old one's session", err, store.ErrNotFound)
		_, err = s.GetSessionByCookie(ctx, "acme", h("cookie sid-late"))
		wantErr(t, "GetSessionByCookie in the new acme of the old one's session", err, store.ErrNotFound)
		t.Logf("late writes after the deletion: %v", late)
	}},
	{"CreateOrgWithATakenIDConflictsAndWritesNothing", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		first, firstKey, firstKeys := createOrg(t, s, "acme")
		// The refused creation leaves the existing organization's grants.
		kept := createCode(t, s, "acme", "code-kept", "sub-1", "sid-1")
		keptToken := newToken("acme", "at-kept", domain.TokenAccess, "", "", "")
		ok(t, "CreateTokens", s.CreateTokens(ctx, keptToken))
		defer func() {
			_, err := s.GetCode(ctx, "acme", kept.Hash)
			ok(t, "GetCode after the refused creation", err)
			_, err = s.GetToken(ctx, "acme", keptToken.Hash)
			ok(t, "GetToken after the refused creation", err)
		}()
		dup := newOrg("acme")
		dup.Name = "Impostor"
		dupKey := newAPIKey("acme", "impostor-key", t0)
		dupKeys := []*domain.SigningKey{newSigningKey("acme", "impostor-kid", domain.AlgRS256, domain.KeyActive, t0)}
		wantErr(t, "CreateOrg again", s.CreateOrg(ctx, dup, dupKey, dupKeys), store.ErrConflict)

		got, err := s.GetOrg(ctx, "acme")
		ok(t, "GetOrg", err)
		equal(t, "GetOrg after conflict", got, first)
		_, err = s.FindAPIKey(ctx, "acme", dupKey.Hash, t0)
		wantErr(t, "FindAPIKey of the refused org's key", err, store.ErrNotFound)
		cur, err := s.CurrentAPIKey(ctx, "acme")
		ok(t, "CurrentAPIKey", err)
		equal(t, "CurrentAPIKey after conflict", cur, firstKey)
		keys, err := s.ListSigningKeys(ctx, "acme")
		ok(t, "ListSigningKeys", err)
		equal(t, "ListSigningKeys after conflict", keys, firstKeys)
	}},
	{"MissingOrgIsNotFound", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		_, err := s.GetOrg(ctx, "nope")
		wantErr(t, "GetOrg", err, store.ErrNotFound)
		wantErr(t, "UpdateOrg", saveOrg(ctx, s, newOrg("nope")), store.ErrNotFound)
		wantErr(t, "DeleteOrg", s.DeleteOrg(ctx, "nope"), store.ErrNotFound)
		_, err = s.GetOrg(ctx, "acme")
		ok(t, "GetOrg of the org that exists", err)
	}},
	{"UpdateOrgSavesNameAndSettingsOnly", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		o, _, _ := createOrg(t, s, "acme")
		createOrg(t, s, "other")
		changed := clone(o)
		changed.Name = "Acme Renamed"
		changed.Settings = domain.OrgSettings{
			SSOEnabled:             true,
			SessionLifetimeSeconds: 60,
			TicketLifetimeSeconds:  3600,
			AuthRedirectURL:        "",
			LoginMethod:            domain.LoginUpstream,
		}
		changed.UpdatedAt = at(48 * time.Hour)
		ok(t, "UpdateOrg", saveOrg(ctx, s, changed))
		got, err := s.GetOrg(ctx, "acme")
		ok(t, "GetOrg", err)
		equal(t, "GetOrg after update", got, changed)
		other, err := s.GetOrg(ctx, "other")
		ok(t, "GetOrg other", err)
		equal(t, "the other org", other, newOrg("other"))
	}},
	{"ListOrgsIsOrderedByID", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		empty, err := s.ListOrgs(ctx)
		ok(t, "ListOrgs", err)
		if len(empty) != 0 {
			t.Fatalf("ListOrgs on an empty store = %s", show(empty))
		}
		var want []*domain.Organization
		for _, id := range []string{"org-c", "org-a", "org-b", "a1"} {
			o, _, _ := createOrg(t, s, id)
			want = append(want, o)
		}
		want = []*domain.Organization{want[3], want[1], want[2], want[0]}
		got, err := s.ListOrgs(ctx)
		ok(t, "ListOrgs", err)
		equal(t, "ListOrgs", got, want)
	}},
	{"DeleteOrgRemovesEverythingItOwnsAndLeavesOtherOrgsIntact", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		a := seed(t, s, "doomed")
		b := seed(t, s, "keeper")
		operator := createAdminToken(t, s, "", "operator")
		ok(t, "DeleteOrg", s.DeleteOrg(ctx, a.org.ID))
		checkGone(t, s, a)
		checkIntact(t, s, b)
		equal(t, "operator tokens", adminTokensOf(t, s, ""), []*domain.AdminToken{operator})
		wantErr(t, "DeleteOrg again", s.DeleteOrg(ctx, a.org.ID), store.ErrNotFound)

		// Nothing lingers that would stop the id being used again.
		again := seed(t, s, "doomed")
		checkIntact(t, s, again)
	}},
}
