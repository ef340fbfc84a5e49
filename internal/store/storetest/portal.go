package storetest

import (
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

var portalTests = []test{
	{"PortalSessionRoundTripTouchAndEnd", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createOrg(t, s, "globex")
		p := &domain.PortalSession{OrgID: "acme", Hash: h("cookie-1"), UserSub: "sub-1", UserName: "ada", SID: "sid-1",
			IDTokenSealed: []byte("sealed"), CSRF: "csrf", CreatedAt: t0, LastSeenAt: t0, ExpiresAt: at(time.Hour)}
		ok(t, "CreatePortalSession", s.CreatePortalSession(ctx, p))
		_, err := s.GetPortalSession(ctx, "globex", p.Hash)
		wantErr(t, "GetPortalSession at another organization", err, store.ErrNotFound)
		got, err := s.GetPortalSession(ctx, "acme", p.Hash)
		ok(t, "GetPortalSession", err)
		equal(t, "GetPortalSession", got, p)
		ok(t, "TouchPortalSession", s.TouchPortalSession(ctx, "acme", p.Hash, at(time.Minute)))
		got, _ = s.GetPortalSession(ctx, "acme", p.Hash)
		if !got.LastSeenAt.Equal(at(time.Minute)) {
			t.Fatalf("LastSeenAt %v after touch", got.LastSeenAt)
		}
		// Another session on the same SSO session, and one on another.
		p2 := clone(p)
		p2.Hash = h("cookie-2")
		p3 := clone(p)
		p3.Hash, p3.SID = h("cookie-3"), "sid-2"
		ok(t, "CreatePortalSession", s.CreatePortalSession(ctx, p2))
		ok(t, "CreatePortalSession", s.CreatePortalSession(ctx, p3))
		ok(t, "EndPortalSessionsBySID at another organization", s.EndPortalSessionsBySID(ctx, "globex", "sid-1", at(2*time.Minute)))
		if got, _ := s.GetPortalSession(ctx, "acme", p.Hash); !got.EndedAt.IsZero() {
			t.Fatal("another organization's call ended a session")
		}
		ok(t, "EndPortalSessionsBySID", s.EndPortalSessionsBySID(ctx, "acme", "sid-1", at(2*time.Minute)))
		for _, c := range []struct {
			hash  []byte
			ended bool
		}{{p.Hash, true}, {p2.Hash, true}, {p3.Hash, false}} {
			got, err := s.GetPortalSession(ctx, "acme", c.hash)
			ok(t, "GetPortalSession", err)
			if got.EndedAt.IsZero() == c.ended || got.Active(at(3*time.Minute), time.Hour) == c.ended {
				t.Fatalf("session %s ended=%v, want %v", got.SID, !got.EndedAt.IsZero(), c.ended)
			}
		}
		wantErr(t, "TouchPortalSession after end", s.TouchPortalSession(ctx, "acme", p.Hash, at(4*time.Minute)), store.ErrNotFound)
		ok(t, "EndPortalSession", s.EndPortalSession(ctx, "acme", p3.Hash, at(5*time.Minute)))
		if got, _ := s.GetPortalSession(ctx, "acme", p3.Hash); got.EndedAt.IsZero() {
			t.Fatal("EndPortalSession did not end it")
		}
	}},
	{"SetupTokenIsConsumedOnce", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		tok := &domain.SetupToken{OrgID: "acme", Hash: h("setup"), CreatedAt: t0, ExpiresAt: at(time.Hour)}
		ok(t, "CreateSetupToken", s.CreateSetupToken(ctx, tok))
		errs := race(racers, func(int) error {
			_, err := s.ConsumeSetupToken(ctx, "acme", tok.Hash, at(time.Second))
			return err
		})
		wins := 0
		for _, err := range errs {
			if err == nil {
				wins++
			} else {
				wantErr(t, "ConsumeSetupToken again", err, store.ErrAlreadyUsed)
			}
		}
		if wins != 1 {
			t.Fatalf("%d racers consumed the setup token, want 1", wins)
		}
		_, err := s.ConsumeSetupToken(ctx, "acme", h("unknown"), at(time.Second))
		wantErr(t, "ConsumeSetupToken unknown", err, store.ErrNotFound)
	}},
}
