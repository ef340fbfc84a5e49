package storetest

import (
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

var apiKeyTests = []test{
	{"FindAPIKeyFindsTheCurrentKeyAtAnyTime", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		_, key, _ := createOrg(t, s, "acme")
		for _, now := range []time.Time{t0, at(24 * 365 * 10 * time.Hour)} {
			got, err := s.FindAPIKey(ctx, "acme", key.Hash, now)
			ok(t, "FindAPIKey", err)
			equal(t, "FindAPIKey", got, key)
		}
	}},
	{"FindAPIKeyOfAnUnknownHashOrOrgIsNotFound", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		_, key, _ := createOrg(t, s, "acme")
		_, err := s.FindAPIKey(ctx, "acme", h("wrong key"), t0)
		wantErr(t, "FindAPIKey(wrong key)", err, store.ErrNotFound)
		_, err = s.FindAPIKey(ctx, "nope", key.Hash, t0)
		wantErr(t, "FindAPIKey(unknown org)", err, store.ErrNotFound)
		_, err = s.CurrentAPIKey(ctx, "nope")
		wantErr(t, "CurrentAPIKey(unknown org)", err, store.ErrNotFound)
	}},
	{"RotationKeepsTheOldKeyWorkingUntilTheOverlapEnds", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		_, k1, _ := createOrg(t, s, "acme")
		k2 := newAPIKey("acme", "second", at(time.Hour))
		overlapEnd := at(2 * time.Hour)
		ok(t, "RotateAPIKey", s.RotateAPIKey(ctx, "acme", k2, overlapEnd))

		cur, err := s.CurrentAPIKey(ctx, "acme")
		ok(t, "CurrentAPIKey", err)
		equal(t, "CurrentAPIKey after rotation", cur, k2)

		old, err := s.FindAPIKey(ctx, "acme", k1.Hash, overlapEnd.Add(-time.Microsecond))
		ok(t, "FindAPIKey(old) just before the overlap ends", err)
		wantOld := clone(k1)
		wantOld.ExpiresAt = overlapEnd
		equal(t, "old key during the overlap", old, wantOld)
		for _, now := range []time.Time{overlapEnd, overlapEnd.Add(time.Hour)} {
			_, err = s.FindAPIKey(ctx, "acme", k1.Hash, now)
			wantErr(t, "FindAPIKey(old) once the overlap ended", err, store.ErrNotFound)
		}
		got, err := s.FindAPIKey(ctx, "acme", k2.Hash, overlapEnd.Add(time.Hour))
		ok(t, "FindAPIKey(new) after the overlap", err)
		equal(t, "new key", got, k2)
	}},
	{"SecondRotationDropsTheOldestKeyAtOnce", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		_, k1, _ := createOrg(t, s, "acme")
		k2 := newAPIKey("acme", "second", at(time.Minute))
		ok(t, "RotateAPIKey to k2", s.RotateAPIKey(ctx, "acme", k2, at(time.Hour)))
		k3 := newAPIKey("acme", "third", at(2*time.Minute))
		ok(t, "RotateAPIKey to k3", s.RotateAPIKey(ctx, "acme", k3, at(3*time.Hour)))

		now := at(3 * time.Minute) // still inside k1's overlap had it been kept
		_, err := s.FindAPIKey(ctx, "acme", k1.Hash, now)
		wantErr(t, "FindAPIKey(k1) after the second rotation", err, store.ErrNotFound)
		got, err := s.FindAPIKey(ctx, "acme", k2.Hash, at(2*time.Hour))
		ok(t, "FindAPIKey(k2) inside its own overlap", err)
		equal(t, "k2's new expiry", got.ExpiresAt, at(3*time.Hour))
		_, err = s.FindAPIKey(ctx, "acme", k2.Hash, at(3*time.Hour))
		wantErr(t, "FindAPIKey(k2) after its overlap", err, store.ErrNotFound)
		cur, err := s.CurrentAPIKey(ctx, "acme")
		ok(t, "CurrentAPIKey", err)
		equal(t, "CurrentAPIKey is the newest", cur, k3)
	}},
	{"RotationWithoutOverlapDropsTheOldKeyAtOnce", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		for i, oldExpires := range []time.Time{{}, at(time.Hour), at(time.Minute)} {
			id := []string{"zero-time", "at-creation", "before-creation"}[i]
			_, k1, _ := createOrg(t, s, id)
			k2 := newAPIKey(id, id+"-next", at(time.Hour))
			ok(t, "RotateAPIKey", s.RotateAPIKey(ctx, id, k2, oldExpires))
			_, err := s.FindAPIKey(ctx, id, k1.Hash, at(time.Hour))
			wantErr(t, id+": FindAPIKey(old)", err, store.ErrNotFound)
			_, err = s.FindAPIKey(ctx, id, k1.Hash, t0)
			wantErr(t, id+": FindAPIKey(old) at a time before the rotation", err, store.ErrNotFound)
			cur, err := s.CurrentAPIKey(ctx, id)
			ok(t, id+": CurrentAPIKey", err)
			equal(t, id+": CurrentAPIKey", cur, k2)
		}
	}},
	{"RotateAPIKeyOfAnUnknownOrgIsNotFound", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		k := newAPIKey("nope", "k", t0)
		wantErr(t, "RotateAPIKey", s.RotateAPIKey(ctx, "nope", k, at(time.Hour)), store.ErrNotFound)
		_, err := s.FindAPIKey(ctx, "nope", k.Hash, t0)
		wantErr(t, "FindAPIKey after the refused rotation", err, store.ErrNotFound)
	}},
}

var signingKeyTests = []test{
	{"SaveSigningKeysAddsUpdatesAndRemovesInOneCall", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		_, _, keys := createOrg(t, s, "acme")
		rs, es := clone(keys[0]), clone(keys[1])
		rs.State, rs.ExpiresAt = domain.KeyRetired, at(30*24*time.Hour)
		es.State, es.ActivatedAt = domain.KeyActive, at(time.Hour)
		ed := newSigningKey("acme", "ed-1", domain.AlgEdDSA, domain.KeyNext, at(time.Hour))
		ok(t, "SaveSigningKeys", s.SaveSigningKeys(ctx, "acme", []*domain.SigningKey{rs, es, ed}, nil))
		got, err := s.ListSigningKeys(ctx, "acme")
		ok(t, "ListSigningKeys", err)
		equal(t, "keys after update", got, []*domain.SigningKey{rs, es, ed})

		ok(t, "SaveSigningKeys remove", s.SaveSigningKeys(ctx, "acme", nil, []string{rs.KID, "never-existed"}))
		got, err = s.ListSigningKeys(ctx, "acme")
		ok(t, "ListSigningKeys", err)
		equal(t, "keys after removal", got, []*domain.SigningKey{es, ed})
	}},
	{"ListSigningKeysIsOrderedByCreation", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		o := newOrg("acme")
		late := newSigningKey("acme", "a-late", domain.AlgRS256, domain.KeyNext, at(time.Hour))
		early := newSigningKey("acme", "z-early", domain.AlgRS256, domain.KeyActive, t0)
		ok(t, "CreateOrg", s.CreateOrg(ctx, o, nil, []*domain.SigningKey{late, early}))
		got, err := s.ListSigningKeys(ctx, "acme")
		ok(t, "ListSigningKeys", err)
		equal(t, "ListSigningKeys", got, []*domain.SigningKey{early, late})
	}},
	{"SaveSigningKeysIsAllOrNothing", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		_, _, keys := createOrg(t, s, "acme")
		createOrg(t, s, "other")
		fresh := newSigningKey("acme", "fresh", domain.AlgRS256, domain.KeyNext, at(time.Hour))
		stray := newSigningKey("other", "stray", domain.AlgRS256, domain.KeyNext, at(time.Hour))
		if err := s.SaveSigningKeys(ctx, "acme", []*domain.SigningKey{fresh, stray}, []string{keys[0].KID}); err == nil {
			t.Fatal("SaveSigningKeys accepted a key of another organization")
		}
		got, err := s.ListSigningKeys(ctx, "acme")
		ok(t, "ListSigningKeys", err)
		equal(t, "keys after the refused save", got, keys)
		other, err := s.ListSigningKeys(ctx, "other")
		ok(t, "ListSigningKeys(other)", err)
		for _, k := range other {
			if k.KID == stray.KID {
				t.Error("the refused key was stored in the other organization")
			}
		}
	}},
}
