package directory_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/logout"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/testdb"
)

func TestMFAPolicy_DefaultsValidationAndAuditedTransitions(t *testing.T) {
	testdb.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		st := open(t)
		d, _ := newUpstreamDirectory(t, st)
		ctx := t.Context()
		o, err := st.GetOrg(ctx, "acme")
		if err != nil || o.Settings.MFA != domain.MFAOptional {
			t.Fatalf("new organization policy = %q (%v), want optional", o.Settings.MFA, err)
		}
		admin, _, err := d.CreateOrg(ctx, actor, domain.OperatorOrgID, "Operators")
		if err != nil || admin.Settings.MFA != domain.MFAAdmins {
			t.Fatalf("operators' organization policy = %q (%v), want admins", admin.Settings.MFA, err)
		}
		for _, bad := range []string{"", "on", "REQUIRED", "admins "} {
			_, err := d.UpdateOrg(ctx, actor, "acme", directory.OrgChanges{MFA: &bad})
			var fe *domain.FieldError
			if !errors.As(err, &fe) || fe.Field != "mfa" {
				t.Errorf("policy %q: err = %v, want a field error on mfa", bad, err)
			}
		}
		if got, _ := st.GetOrg(ctx, "acme"); got.Settings.MFA != domain.MFAOptional {
			t.Fatalf("a refused policy was saved: %q", got.Settings.MFA)
		}
		for _, p := range []string{domain.MFARequired, domain.MFAAdmins, domain.MFAOff, domain.MFAOptional} {
			if _, err := d.UpdateOrg(ctx, actor, "acme", directory.OrgChanges{MFA: &p}); err != nil {
				t.Fatalf("policy %q: %v", p, err)
			}
		}
		// A name change leaves the policy and records no transition.
		name := "Acme"
		if _, err := d.UpdateOrg(ctx, actor, "acme", directory.OrgChanges{Name: &name}); err != nil {
			t.Fatal(err)
		}
		events, _ := st.ListAudit(ctx, "acme", store.AuditFilter{Limit: 100})
		var seen []string
		for _, e := range events {
			if e.Action == "org.update" && e.Detail["mfa_to"] != "" {
				seen = append(seen, e.Detail["mfa_from"]+">"+e.Detail["mfa_to"])
			}
		}
		// The test clock stands still, so the events share a time: compare as sets.
		want := []string{"admins>off", "off>optional", "optional>required", "required>admins"}
		slices.Sort(seen)
		if !slices.Equal(seen, want) {
			t.Fatalf("policy transitions audited = %v, want %v", seen, want)
		}
	})
}

func TestMFARequiredFor_FollowsPolicyAndRole(t *testing.T) {
	user, admin := &domain.User{Role: domain.RoleUser}, &domain.User{Role: domain.RoleAdmin}
	for _, c := range []struct {
		policy            string
		forUser, forAdmin bool
	}{
		{domain.MFAOff, false, false},
		{domain.MFAOptional, false, false},
		{domain.MFAAdmins, false, true},
		{domain.MFARequired, true, true},
	} {
		if got := domain.MFARequiredFor(c.policy, user); got != c.forUser {
			t.Errorf("%s: required for USER = %v", c.policy, got)
		}
		if got := domain.MFARequiredFor(c.policy, admin); got != c.forAdmin {
			t.Errorf("%s: required for ADMIN = %v", c.policy, got)
		}
	}
}

func TestResetUserMFA_RemovesFactorsEndsSessionsAndStaysInItsOrganization(t *testing.T) {
	testdb.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		st := open(t)
		d, now := newUpstreamDirectory(t, st)
		d.Logout = &logout.Service{Store: st, Keys: d.Keys, PublicURL: d.PublicURL, Now: func() time.Time { return *now }}
		ctx := t.Context()
		for _, org := range []string{"acme", "globex"} {
			u, err := d.CreateUser(ctx, actor, org, "alice", directory.UserChanges{})
			if err != nil {
				t.Fatal(err)
			}
			if err := st.CreatePasskey(ctx, &domain.Passkey{OrgID: org, UserSub: u.Sub, ID: []byte(org), Name: "Key", PublicKey: []byte("k"), CreatedAt: *now}); err != nil {
				t.Fatal(err)
			}
			if err := st.CreateSession(ctx, &domain.Session{OrgID: org, SID: "sid-" + org, CookieHash: []byte(org), UserSub: u.Sub,
				AuthTime: *now, CreatedAt: *now, ExpiresAt: now.Add(1e12)}); err != nil {
				t.Fatal(err)
			}
		}
		before, err := d.UserMFA(ctx, "acme", "ALICE")
		if err != nil || len(before.Passkeys) != 1 || before.Passkeys[0].Name != "Key" {
			t.Fatalf("UserMFA before = %+v, %v", before, err)
		}
		after, err := d.ResetUserMFA(ctx, actor, "acme", "alice")
		if err != nil || len(after.Passkeys) != 0 || after.TOTP || after.RecoveryCodesLeft != 0 {
			t.Fatalf("ResetUserMFA = %+v, %v", after, err)
		}
		if s, _ := st.GetSession(ctx, "acme", "sid-acme"); s.EndedAt.IsZero() {
			t.Error("reset left the user's session active")
		}
		if s, _ := st.GetSession(ctx, "globex", "sid-globex"); !s.EndedAt.IsZero() {
			t.Error("reset ended another organization's session")
		}
		if other, _ := d.UserMFA(ctx, "globex", "alice"); len(other.Passkeys) != 1 {
			t.Error("reset removed another organization's passkey")
		}
		events, _ := st.ListAudit(ctx, "acme", store.AuditFilter{Limit: 20})
		ok := false
		for _, e := range events {
			if e.Action == "user.mfa.reset" && e.Detail["passkeys"] == "1" {
				ok = true
			}
		}
		if !ok {
			t.Errorf("reset not audited with what it removed")
		}
		if _, err := d.ResetUserMFA(ctx, actor, "acme", "nobody"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("reset of an unknown user: err = %v, want not found", err)
		}
	})
}
