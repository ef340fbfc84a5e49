package storetest

import (
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

func newPasskey(orgID, sub, id string, count uint32) *domain.Passkey {
	return &domain.Passkey{
		OrgID: orgID, UserSub: sub, ID: []byte(id), Name: "Key " + id, PublicKey: []byte("pk-" + id), SignCount: count,
		Transports: []string{"internal", "hybrid"}, AAGUID: make([]byte, 16), Flags: 0x45, AttestationType: "none",
		AttestationFormat: "none", CreatedAt: t0,
	}
}

var factorTests = []test{
	{"PasskeyRoundTripsEveryFieldAndStaysInItsOrganization", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createOrg(t, s, "globex")
		createUser(t, s, "acme", "sub-1", "alice")
		createUser(t, s, "globex", "sub-1", "alice")
		k := newPasskey("acme", "sub-1", "cred-1", 7)
		ok(t, "CreatePasskey", s.CreatePasskey(ctx, k))
		wantErr(t, "CreatePasskey again", s.CreatePasskey(ctx, clone(k)), store.ErrConflict)
		got, err := s.GetPasskey(ctx, "acme", k.ID)
		ok(t, "GetPasskey", err)
		equal(t, "GetPasskey", got, k)
		_, err = s.GetPasskey(ctx, "globex", k.ID)
		wantErr(t, "GetPasskey at another organization", err, store.ErrNotFound)
		list, err := s.ListPasskeys(ctx, "globex", "sub-1")
		ok(t, "ListPasskeys(globex)", err)
		equal(t, "ListPasskeys(globex)", len(list), 0)
		list, err = s.ListPasskeys(ctx, "acme", "sub-1")
		ok(t, "ListPasskeys(acme)", err)
		equal(t, "ListPasskeys(acme)", list, []*domain.Passkey{k})
		wantErr(t, "UsePasskey at another organization", s.UsePasskey(ctx, "globex", k.ID, 8, 0x45, at(time.Minute)), store.ErrNotFound)
		wantErr(t, "DeletePasskey at another organization", s.DeletePasskey(ctx, "globex", "sub-1", k.ID), store.ErrNotFound)
		wantErr(t, "DeletePasskey of another user", s.DeletePasskey(ctx, "acme", "sub-2", k.ID), store.ErrNotFound)
		ok(t, "DeletePasskey", s.DeletePasskey(ctx, "acme", "sub-1", k.ID))
		_, err = s.GetPasskey(ctx, "acme", k.ID)
		wantErr(t, "GetPasskey after delete", err, store.ErrNotFound)
	}},
	{"PasskeySignCountOnlyMovesForwards", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		k := newPasskey("acme", "sub-1", "cred-1", 7)
		ok(t, "CreatePasskey", s.CreatePasskey(ctx, k))
		ok(t, "UsePasskey 8", s.UsePasskey(ctx, "acme", k.ID, 8, 0x45, at(time.Minute)))
		wantErr(t, "UsePasskey 8 again (replay or clone)", s.UsePasskey(ctx, "acme", k.ID, 8, 0x45, at(2*time.Minute)), store.ErrAlreadyUsed)
		wantErr(t, "UsePasskey 5 (count went backwards)", s.UsePasskey(ctx, "acme", k.ID, 5, 0x45, at(2*time.Minute)), store.ErrAlreadyUsed)
		got, _ := s.GetPasskey(ctx, "acme", k.ID)
		equal(t, "sign count after refusals", got.SignCount, uint32(8))
		equal(t, "last used after refusals", got.LastUsedAt, at(time.Minute))
		// Racing uses of the same count: exactly one wins.
		errs := race(racers, func(int) error { return s.UsePasskey(ctx, "acme", k.ID, 9, 0x45, at(3*time.Minute)) })
		wins := 0
		for _, err := range errs {
			if err == nil {
				wins++
			} else {
				wantErr(t, "racing UsePasskey", err, store.ErrAlreadyUsed)
			}
		}
		equal(t, "racing UsePasskey winners", wins, 1)
		// An authenticator without a counter (always 0) keeps working.
		z := newPasskey("acme", "sub-1", "cred-0", 0)
		ok(t, "CreatePasskey counterless", s.CreatePasskey(ctx, z))
		ok(t, "UsePasskey 0", s.UsePasskey(ctx, "acme", z.ID, 0, 0x45, at(time.Minute)))
		ok(t, "UsePasskey 0 again", s.UsePasskey(ctx, "acme", z.ID, 0, 0x45, at(2*time.Minute)))
		wantErr(t, "UsePasskey unknown", s.UsePasskey(ctx, "acme", []byte("nope"), 1, 0, at(time.Minute)), store.ErrNotFound)
	}},
	{"TOTPStepIsAcceptedOnceAndConfirmsOnce", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createOrg(t, s, "globex")
		f := &domain.TOTPFactor{OrgID: "acme", UserSub: "sub-1", Sealed: []byte("sealed"), CreatedAt: t0}
		ok(t, "PutTOTP", s.PutTOTP(ctx, f))
		got, err := s.GetTOTP(ctx, "acme", "sub-1")
		ok(t, "GetTOTP", err)
		equal(t, "GetTOTP", got, f)
		_, err = s.GetTOTP(ctx, "globex", "sub-1")
		wantErr(t, "GetTOTP at another organization", err, store.ErrNotFound)
		wantErr(t, "UseTOTPStep before confirmation", s.UseTOTPStep(ctx, "acme", "sub-1", 100, false, at(time.Second)), store.ErrAlreadyUsed)
		ok(t, "confirm with step 100", s.UseTOTPStep(ctx, "acme", "sub-1", 100, true, at(time.Second)))
		wantErr(t, "confirm twice", s.UseTOTPStep(ctx, "acme", "sub-1", 101, true, at(time.Second)), store.ErrAlreadyUsed)
		wantErr(t, "step 100 again", s.UseTOTPStep(ctx, "acme", "sub-1", 100, false, at(time.Second)), store.ErrAlreadyUsed)
		wantErr(t, "older step 99", s.UseTOTPStep(ctx, "acme", "sub-1", 99, false, at(time.Second)), store.ErrAlreadyUsed)
		errs := race(racers, func(int) error { return s.UseTOTPStep(ctx, "acme", "sub-1", 101, false, at(time.Second)) })
		wins := 0
		for _, err := range errs {
			if err == nil {
				wins++
			}
		}
		equal(t, "racing UseTOTPStep winners", wins, 1)
		got, _ = s.GetTOTP(ctx, "acme", "sub-1")
		equal(t, "confirmed at", got.ConfirmedAt, at(time.Second))
		equal(t, "last step", got.LastStep, int64(101))
		wantErr(t, "UseTOTPStep at another organization", s.UseTOTPStep(ctx, "globex", "sub-1", 200, false, at(time.Second)), store.ErrNotFound)
		// A new enrolment replaces the generator.
		ok(t, "PutTOTP again", s.PutTOTP(ctx, &domain.TOTPFactor{OrgID: "acme", UserSub: "sub-1", Sealed: []byte("new"), CreatedAt: at(time.Hour)}))
		got, _ = s.GetTOTP(ctx, "acme", "sub-1")
		equal(t, "replaced generator is unconfirmed", got.ConfirmedAt.IsZero(), true)
		ok(t, "DeleteTOTP", s.DeleteTOTP(ctx, "acme", "sub-1"))
		wantErr(t, "DeleteTOTP again", s.DeleteTOTP(ctx, "acme", "sub-1"), store.ErrNotFound)
	}},
	{"RecoveryCodesAreSingleUse", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createOrg(t, s, "globex")
		var codes []*domain.RecoveryCode
		for _, c := range []string{"r1", "r2", "r3"} {
			codes = append(codes, &domain.RecoveryCode{OrgID: "acme", UserSub: "sub-1", Hash: h(c), CreatedAt: t0})
		}
		ok(t, "ReplaceRecoveryCodes", s.ReplaceRecoveryCodes(ctx, "acme", "sub-1", codes))
		n, err := s.CountRecoveryCodes(ctx, "acme", "sub-1")
		ok(t, "CountRecoveryCodes", err)
		equal(t, "codes", n, 3)
		_, err = s.UseRecoveryCode(ctx, "globex", "sub-1", h("r1"), at(time.Second))
		wantErr(t, "UseRecoveryCode at another organization", err, store.ErrNotFound)
		_, err = s.UseRecoveryCode(ctx, "acme", "sub-2", h("r1"), at(time.Second))
		wantErr(t, "UseRecoveryCode of another user", err, store.ErrNotFound)
		errs := race(racers, func(int) error {
			_, err := s.UseRecoveryCode(ctx, "acme", "sub-1", h("r1"), at(time.Second))
			return err
		})
		wins := 0
		for _, err := range errs {
			if err == nil {
				wins++
			} else {
				wantErr(t, "racing UseRecoveryCode", err, store.ErrAlreadyUsed)
			}
		}
		equal(t, "racing UseRecoveryCode winners", wins, 1)
		left, err := s.UseRecoveryCode(ctx, "acme", "sub-1", h("r2"), at(time.Second))
		ok(t, "UseRecoveryCode r2", err)
		equal(t, "left after two", left, 1)
		_, err = s.UseRecoveryCode(ctx, "acme", "sub-1", h("nope"), at(time.Second))
		wantErr(t, "UseRecoveryCode unknown", err, store.ErrNotFound)
		ok(t, "ReplaceRecoveryCodes with none", s.ReplaceRecoveryCodes(ctx, "acme", "sub-1", nil))
		_, err = s.UseRecoveryCode(ctx, "acme", "sub-1", h("r3"), at(time.Second))
		wantErr(t, "UseRecoveryCode after replace", err, store.ErrNotFound)
	}},
	{"DeleteUserFactorsRemovesOnlyThatUsersFactors", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createOrg(t, s, "globex")
		for _, org := range []string{"acme", "globex"} {
			for _, sub := range []string{"sub-1", "sub-2"} {
				ok(t, "CreatePasskey", s.CreatePasskey(ctx, newPasskey(org, sub, org+sub, 1)))
				ok(t, "PutTOTP", s.PutTOTP(ctx, &domain.TOTPFactor{OrgID: org, UserSub: sub, Sealed: []byte("s"), CreatedAt: t0}))
				ok(t, "ReplaceRecoveryCodes", s.ReplaceRecoveryCodes(ctx, org, sub, []*domain.RecoveryCode{{OrgID: org, UserSub: sub, Hash: h(org + sub), CreatedAt: t0}}))
			}
		}
		ok(t, "DeleteUserFactors", s.DeleteUserFactors(ctx, "acme", "sub-1"))
		for _, c := range []struct {
			org, sub string
			want     int
		}{{"acme", "sub-1", 0}, {"acme", "sub-2", 1}, {"globex", "sub-1", 1}, {"globex", "sub-2", 1}} {
			keys, err := s.ListPasskeys(ctx, c.org, c.sub)
			ok(t, "ListPasskeys", err)
			n, err := s.CountRecoveryCodes(ctx, c.org, c.sub)
			ok(t, "CountRecoveryCodes", err)
			_, terr := s.GetTOTP(ctx, c.org, c.sub)
			totp := 1
			if terr != nil {
				totp = 0
			}
			equal(t, c.org+"/"+c.sub+" factors", []int{len(keys), n, totp}, []int{c.want, c.want, c.want})
		}
	}},
	{"CountFactorsCountsOnlyThatUsersFactors", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createOrg(t, s, "globex")
		count := func(org, sub string) store.FactorCounts {
			t.Helper()
			c, err := s.CountFactors(ctx, org, sub)
			ok(t, "CountFactors", err)
			return c
		}
		equal(t, "a user without factors", count("acme", "sub-1"), store.FactorCounts{})
		// Another organization's and another user's factors are not counted.
		for _, o := range []struct{ org, sub string }{{"globex", "sub-1"}, {"acme", "sub-2"}} {
			ok(t, "CreatePasskey", s.CreatePasskey(ctx, newPasskey(o.org, o.sub, o.org+o.sub, 1)))
			ok(t, "PutTOTP", s.PutTOTP(ctx, &domain.TOTPFactor{OrgID: o.org, UserSub: o.sub, Sealed: []byte("s"), CreatedAt: t0, ConfirmedAt: t0}))
			ok(t, "ReplaceRecoveryCodes", s.ReplaceRecoveryCodes(ctx, o.org, o.sub, []*domain.RecoveryCode{{OrgID: o.org, UserSub: o.sub, Hash: h(o.org + o.sub), CreatedAt: t0}}))
		}
		equal(t, "beside others' factors", count("acme", "sub-1"), store.FactorCounts{})
		// A generator counts once confirmed; used recovery codes do not count.
		ok(t, "PutTOTP", s.PutTOTP(ctx, &domain.TOTPFactor{OrgID: "acme", UserSub: "sub-1", Sealed: []byte("s"), CreatedAt: t0}))
		ok(t, "CreatePasskey", s.CreatePasskey(ctx, newPasskey("acme", "sub-1", "k1", 1)))
		ok(t, "CreatePasskey", s.CreatePasskey(ctx, newPasskey("acme", "sub-1", "k2", 1)))
		ok(t, "ReplaceRecoveryCodes", s.ReplaceRecoveryCodes(ctx, "acme", "sub-1", []*domain.RecoveryCode{
			{OrgID: "acme", UserSub: "sub-1", Hash: h("r1"), CreatedAt: t0}, {OrgID: "acme", UserSub: "sub-1", Hash: h("r2"), CreatedAt: t0},
			{OrgID: "acme", UserSub: "sub-1", Hash: h("r3"), CreatedAt: t0},
		}))
		_, err := s.UseRecoveryCode(ctx, "acme", "sub-1", h("r2"), at(time.Second))
		ok(t, "UseRecoveryCode", err)
		equal(t, "unconfirmed generator", count("acme", "sub-1"), store.FactorCounts{Passkeys: 2, RecoveryLeft: 2})
		ok(t, "UseTOTPStep confirm", s.UseTOTPStep(ctx, "acme", "sub-1", 5, true, at(time.Second)))
		equal(t, "confirmed generator", count("acme", "sub-1"), store.FactorCounts{Passkeys: 2, TOTP: true, RecoveryLeft: 2})
		ok(t, "DeleteUserFactors", s.DeleteUserFactors(ctx, "acme", "sub-1"))
		equal(t, "after DeleteUserFactors", count("acme", "sub-1"), store.FactorCounts{})
		equal(t, "the other user's", count("acme", "sub-2"), store.FactorCounts{Passkeys: 1, TOTP: true, RecoveryLeft: 1})
	}},
	{"MFAFlowIsConsumedOnceAndExpires", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createOrg(t, s, "globex")
		f := &domain.MFAFlow{OrgID: "acme", Hash: h("flow"), Kind: domain.FlowSecondFactor, UserSub: "sub-1", AMR: []string{"pwd"},
			AuthTime: t0, Request: "req-1", Data: "sid-1", CreatedAt: t0, ExpiresAt: at(10 * time.Minute)}
		ok(t, "CreateMFAFlow", s.CreateMFAFlow(ctx, f))
		got, err := s.GetMFAFlow(ctx, "acme", f.Hash, at(time.Minute))
		ok(t, "GetMFAFlow", err)
		equal(t, "GetMFAFlow", got, f)
		_, err = s.GetMFAFlow(ctx, "globex", f.Hash, at(time.Minute))
		wantErr(t, "GetMFAFlow at another organization", err, store.ErrNotFound)
		_, err = s.GetMFAFlow(ctx, "acme", f.Hash, at(11*time.Minute))
		wantErr(t, "GetMFAFlow after expiry", err, store.ErrNotFound)
		errs := race(racers, func(int) error {
			_, err := s.ConsumeMFAFlow(ctx, "acme", f.Hash, at(time.Minute))
			return err
		})
		wins := 0
		for _, err := range errs {
			if err == nil {
				wins++
			} else {
				wantErr(t, "racing ConsumeMFAFlow", err, store.ErrAlreadyUsed)
			}
		}
		equal(t, "racing ConsumeMFAFlow winners", wins, 1)
		_, err = s.GetMFAFlow(ctx, "acme", f.Hash, at(time.Minute))
		wantErr(t, "GetMFAFlow after use", err, store.ErrNotFound)
		n, err := s.PurgeExpired(ctx, at(time.Hour))
		ok(t, "PurgeExpired", err)
		if n < 1 {
			t.Errorf("PurgeExpired removed %d rows, want the expired flow", n)
		}
	}},
}
