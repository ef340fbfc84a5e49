package storetest

import (
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

var purgeTests = []test{
	{"PurgeExpiredDeletesOnlyWhatEndedBeforeTheCutoff", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		cutoff := at(48 * time.Hour)
		old, live := at(time.Hour), at(72*time.Hour)

		oldCode, liveCode := newCode("acme", "old-code", "sub-1", "sid-old"), newCode("acme", "live-code", "sub-1", "sid-live")
		oldCode.ExpiresAt, liveCode.ExpiresAt = old, live
		ok(t, "CreateCode", s.CreateCode(ctx, oldCode))
		ok(t, "CreateCode", s.CreateCode(ctx, liveCode))
		oldTok, liveTok := newToken("acme", "old-tok", domain.TokenAccess, "sid-old", "f1", ""), newToken("acme", "live-tok", domain.TokenAccess, "sid-live", "f2", "")
		oldTok.ExpiresAt, liveTok.ExpiresAt = old, live
		ok(t, "CreateTokens", s.CreateTokens(ctx, oldTok, liveTok))
		oldTicket, liveTicket := newTicket("acme", "old-ticket", "sub-1"), newTicket("acme", "live-ticket", "sub-1")
		oldTicket.ExpiresAt, liveTicket.ExpiresAt = old, live
		ok(t, "CreateTicket", s.CreateTicket(ctx, oldTicket))
		ok(t, "CreateTicket", s.CreateTicket(ctx, liveTicket))

		expired, ended, alive := newSession("acme", "sid-old", "sub-1"), newSession("acme", "sid-ended", "sub-1"), newSession("acme", "sid-live", "sub-1")
		expired.CookieHash, ended.CookieHash, alive.CookieHash = h("c1"), h("c2"), h("c3")
		expired.ExpiresAt, ended.ExpiresAt, alive.ExpiresAt = old, live, live
		for _, x := range []*domain.Session{expired, ended, alive} {
			ok(t, "CreateSession", s.CreateSession(ctx, x))
			ok(t, "AddSessionClient", s.AddSessionClient(ctx, "acme", x.SID, "client-1", t0))
		}
		ok(t, "EndSession", s.EndSession(ctx, "acme", "sid-ended", old))

		n, err := s.PurgeExpired(ctx, cutoff)
		ok(t, "PurgeExpired", err)
		if n < 5 {
			t.Fatalf("PurgeExpired removed %d rows, want at least 5", n)
		}
		_, err = s.ConsumeCode(ctx, "acme", oldCode.Hash, cutoff)
		wantErr(t, "expired code", err, store.ErrNotFound)
		_, err = s.ConsumeCode(ctx, "acme", liveCode.Hash, cutoff)
		ok(t, "live code", err)
		_, err = s.GetToken(ctx, "acme", oldTok.Hash)
		wantErr(t, "expired token", err, store.ErrNotFound)
		_, err = s.GetToken(ctx, "acme", liveTok.Hash)
		ok(t, "live token", err)
		_, err = s.ConsumeTicket(ctx, "acme", oldTicket.Hash, cutoff)
		wantErr(t, "expired ticket", err, store.ErrNotFound)
		_, err = s.ConsumeTicket(ctx, "acme", liveTicket.Hash, cutoff)
		ok(t, "live ticket", err)
		for sid, want := range map[string]error{"sid-old": store.ErrNotFound, "sid-ended": store.ErrNotFound, "sid-live": nil} {
			_, err := s.GetSession(ctx, "acme", sid)
			wantErr(t, "session "+sid, err, want)
			clients, err := s.ListSessionClients(ctx, "acme", sid)
			ok(t, "ListSessionClients", err)
			equal(t, "clients of "+sid, len(clients), map[bool]int{true: 1, false: 0}[want == nil])
		}
	}},
}
