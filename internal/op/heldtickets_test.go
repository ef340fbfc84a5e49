package op

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/held"
	"github.com/latchkey/latchkey/internal/platform/ticket"
	"github.com/latchkey/latchkey/internal/request"
)

// TestHeldTickets_AreRedeemedWithoutAReadUnlessUsedElsewhere drives the
// landing of login tickets (redeemTicket) on one Provider over a real
// SQLite store, with tickets held as this node's platform API holds
// those it mints.
func TestHeldTickets_AreRedeemedWithoutAReadUnlessUsedElsewhere(t *testing.T) {
	fp := newFuzzProvider(t)
	p := fp.p
	counting := &readCounting{Store: p.Store}
	p.Store = counting
	p.Tickets = &held.Memory[*domain.LoginTicket]{}
	ctx := context.Background()
	actor := directory.Actor{Name: "test"}
	ada, err := fp.env.Directory.CreateUser(ctx, actor, "acme", "ada", directory.UserChanges{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	p.Now = func() time.Time { return now }
	// mint stores a ticket for sub, and holds it when hold is set.
	mint := func(t *testing.T, sub string, hold bool) (string, *domain.LoginTicket) {
		t.Helper()
		value, hash, err := ticket.New(rand.Reader, "acme")
		if err != nil {
			t.Fatal(err)
		}
		x := &domain.LoginTicket{OrgID: "acme", Hash: hash, UserSub: sub, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
		if err := fp.env.Store.CreateTicket(ctx, x); err != nil {
			t.Fatal(err)
		}
		if hold {
			p.Tickets.Put("acme", hash, x, x.ExpiresAt, now)
		}
		return value, x
	}
	land := func(value string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/o/acme/?refresh-token="+value, nil)
		r = r.WithContext(request.WithOrg(r.Context(), p.PublicURL, fp.org))
		w := httptest.NewRecorder()
		p.redeemTicket(w, r, fp.org, []string{value})
		return w
	}
	wantReads := func(t *testing.T, want int32) {
		t.Helper()
		if got := counting.ticketReads.Swap(0); got != want {
			t.Errorf("the landing read the ticket %d times, want %d", got, want)
		}
	}
	signedIn := func(t *testing.T, w *httptest.ResponseRecorder) {
		t.Helper()
		if w.Code != http.StatusSeeOther || !strings.HasSuffix(w.Header().Get("Location"), "/authorize/continue") ||
			!strings.Contains(w.Header().Get("Set-Cookie"), "lk_session=") {
			t.Fatalf("landing: %d → %q, cookies %q; want signed in\n%s", w.Code, w.Header().Get("Location"), w.Header().Values("Set-Cookie"), w.Body)
		}
	}
	refused := func(t *testing.T, w *httptest.ResponseRecorder, why string) {
		t.Helper()
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), why) || strings.Contains(w.Header().Get("Set-Cookie"), "lk_session=") {
			t.Fatalf("landing: %d, cookies %q, want refused as %q\n%s", w.Code, w.Header().Values("Set-Cookie"), why, w.Body)
		}
	}
	used := func(t *testing.T, x *domain.LoginTicket) bool {
		t.Helper()
		got, err := fp.env.Store.GetTicket(ctx, "acme", x.Hash)
		if err != nil {
			t.Fatal(err)
		}
		return !got.UsedAt.IsZero()
	}
	sessions := func(t *testing.T) int {
		t.Helper()
		ss, err := fp.env.Store.ListUserSessions(ctx, "acme", ada.Sub)
		if err != nil {
			t.Fatal(err)
		}
		return len(ss)
	}

	t.Run("a ticket minted by this node is not read back", func(t *testing.T) {
		value, x := mint(t, ada.Sub, true)
		before := sessions(t)
		signedIn(t, land(value))
		wantReads(t, 0)
		if !used(t, x) || sessions(t) != before+1 {
			t.Fatalf("used %v, sessions %d → %d; want the ticket used and one session more", used(t, x), before, sessions(t))
		}
		if n := p.Tickets.Len(); n != 0 {
			t.Errorf("%d tickets still held after their redemption", n)
		}
		// Presented again: read, and refused as used.
		refused(t, land(value), "already used")
		wantReads(t, 1)
	})
	t.Run("a ticket not held is read", func(t *testing.T) {
		value, x := mint(t, ada.Sub, false)
		signedIn(t, land(value))
		wantReads(t, 1)
		if !used(t, x) {
			t.Fatal("the ticket is not used up")
		}
	})
	t.Run("a held ticket used up through another node is refused", func(t *testing.T) {
		value, x := mint(t, ada.Sub, true)
		if _, err := fp.env.Store.ConsumeTicket(ctx, "acme", x.Hash, now); err != nil {
			t.Fatal(err)
		}
		before := sessions(t)
		refused(t, land(value), "already used")
		wantReads(t, 1)
		if sessions(t) != before {
			t.Fatal("a used ticket started a session")
		}
	})
	t.Run("a held ticket whose user was disabled is refused and used up", func(t *testing.T) {
		bob, err := fp.env.Directory.CreateUser(ctx, actor, "acme", "bob", directory.UserChanges{})
		if err != nil {
			t.Fatal(err)
		}
		value, x := mint(t, bob.Sub, true)
		yes := true
		if _, err := fp.env.Directory.UpdateUser(ctx, actor, "acme", "bob", directory.UserChanges{Disabled: &yes}); err != nil {
			t.Fatal(err)
		}
		refused(t, land(value), "cannot sign in")
		wantReads(t, 0)
		if !used(t, x) {
			t.Fatal("the disabled user's ticket was not used up")
		}
	})
	t.Run("a held ticket deleted with its user is unknown", func(t *testing.T) {
		carol, err := fp.env.Directory.CreateUser(ctx, actor, "acme", "carol", directory.UserChanges{})
		if err != nil {
			t.Fatal(err)
		}
		value, _ := mint(t, carol.Sub, true)
		if err := fp.env.Directory.DeleteUser(ctx, actor, "acme", "carol"); err != nil {
			t.Fatal(err)
		}
		refused(t, land(value), "not valid")
		wantReads(t, 1)
	})
	t.Run("a held ticket expired is refused as expired without a write", func(t *testing.T) {
		value, x := mint(t, ada.Sub, true)
		later := now.Add(2 * time.Minute)
		p.Now = func() time.Time { return later }
		defer func() { p.Now = func() time.Time { return now } }()
		refused(t, land(value), "expired")
		wantReads(t, 0)
		if used(t, x) {
			t.Fatal("an expired ticket was written")
		}
	})
}
