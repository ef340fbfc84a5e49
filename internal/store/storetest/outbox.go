package storetest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

func newDelivery(orgID, id, sid string, due time.Time) *domain.BackchannelDelivery {
	return &domain.BackchannelDelivery{
		OrgID:         orgID,
		ID:            id,
		ClientID:      "client-" + id,
		UserSub:       "sub-1",
		SID:           sid,
		CreatedAt:     t0,
		NextAttemptAt: due,
	}
}

func ids(ds []*domain.BackchannelDelivery) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, d.OrgID+"/"+d.ID)
	}
	return out
}

const owner = "worker-1"

func claimAs(t testing.TB, s store.Store, who string, now time.Time, lease time.Duration, limit int) []string {
	t.Helper()
	ds, err := s.ClaimBackchannel(t.Context(), store.BackchannelClaim{Owner: who, Now: now, Lease: lease, Limit: limit})
	ok(t, "ClaimBackchannel", err)
	return ids(ds)
}

func claim(t testing.TB, s store.Store, now time.Time, lease time.Duration, limit int) []string {
	t.Helper()
	return claimAs(t, s, owner, now, lease, limit)
}

// pending is the record of an attempt claimed and not finished yet.
func pending(orgID, deliveryID string, n int, claimed time.Time) *domain.BackchannelAttempt {
	return &domain.BackchannelAttempt{OrgID: orgID, DeliveryID: deliveryID, Attempt: n, At: claimed}
}

func attemptsOf(t testing.TB, s store.Store, orgID, deliveryID string) []*domain.BackchannelAttempt {
	t.Helper()
	got, err := s.ListBackchannelAttempts(t.Context(), orgID, deliveryID)
	ok(t, "ListBackchannelAttempts", err)
	return got
}

func deliveriesOf(t testing.TB, s store.Store, orgID, sid string) []*domain.BackchannelDelivery {
	t.Helper()
	got, err := s.ListBackchannel(t.Context(), orgID, sid)
	ok(t, "ListBackchannel", err)
	return got
}

var backchannelTests = []test{
	{"EnqueueKeepsEveryFieldListedPerSessionInOrder", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		late := newDelivery("acme", "d-a-late", "sid-1", t0) // first by id, last by creation
		late.CreatedAt = at(time.Second)
		full := newDelivery("acme", "d-full", "sid-1", at(time.Minute))
		full.Attempts, full.LastError = 3, "HTTP 503 from https://app.example/bc"
		full.DeliveredAt, full.GaveUpAt = at(2*time.Minute), at(3*time.Minute)
		b := newDelivery("acme", "d-b", "sid-1", t0)
		otherSession := newDelivery("acme", "d-other", "sid-2", t0)
		ok(t, "EnqueueBackchannel", s.EnqueueBackchannel(ctx, late, full, b, otherSession))
		equal(t, "ListBackchannel", deliveriesOf(t, s, "acme", "sid-1"), []*domain.BackchannelDelivery{b, full, late})
		if none := deliveriesOf(t, s, "acme", "sid-404"); len(none) != 0 {
			t.Errorf("ListBackchannel(unknown sid) = %s", show(none))
		}
	}},
	{"EnqueueIsAllOrNothing", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		first := newDelivery("acme", "d-1", "sid-1", t0)
		ok(t, "EnqueueBackchannel", s.EnqueueBackchannel(ctx, first))
		dup := newDelivery("acme", "d-1", "sid-1", t0)
		dup.ClientID = "other"
		fresh := newDelivery("acme", "d-2", "sid-1", t0)
		wantErr(t, "EnqueueBackchannel with a taken id", s.EnqueueBackchannel(ctx, fresh, dup), store.ErrConflict)
		equal(t, "deliveries after the refused batch", deliveriesOf(t, s, "acme", "sid-1"), []*domain.BackchannelDelivery{first})
	}},
	{"ClaimReturnsDueDeliveriesOldestFirstAndHoldsThemForTheLease", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createOrg(t, s, "globex")
		delivered := newDelivery("acme", "delivered", "sid-1", at(-time.Hour))
		delivered.DeliveredAt = at(-time.Hour)
		gaveUp := newDelivery("acme", "gave-up", "sid-1", at(-time.Hour))
		gaveUp.GaveUpAt = at(-time.Hour)
		ok(t, "EnqueueBackchannel", s.EnqueueBackchannel(ctx,
			newDelivery("acme", "due-1m", "sid-1", at(-time.Minute)),
			newDelivery("acme", "due-now", "sid-1", t0),
			newDelivery("acme", "later", "sid-1", at(time.Minute)),
			delivered, gaveUp,
		))
		ok(t, "EnqueueBackchannel globex", s.EnqueueBackchannel(ctx, newDelivery("globex", "due-2m", "sid-9", at(-2*time.Minute))))

		lease := 10 * time.Minute
		equal(t, "first claim", claim(t, s, t0, lease, 2), []string{"globex/due-2m", "acme/due-1m"})
		equal(t, "second claim", claimAs(t, s, "worker-2", t0, lease, 10), []string{"acme/due-now"})
		equal(t, "claim while all are held", claim(t, s, at(time.Minute), lease, 10), []string{"acme/later"})
		equal(t, "claim before the leases end", claimAs(t, s, "worker-2", at(lease-time.Microsecond), lease, 10), []string{})
		equal(t, "claim once the leases ended", claimAs(t, s, "worker-2", at(lease), lease, 10), []string{"globex/due-2m", "acme/due-1m", "acme/due-now"})
	}},
	{"ClaimHoldsOnlyTheClaimedOrgsDelivery", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createOrg(t, s, "globex")
		ok(t, "EnqueueBackchannel", s.EnqueueBackchannel(ctx, newDelivery("acme", "same-id", "sid-1", at(-time.Minute))))
		ok(t, "EnqueueBackchannel", s.EnqueueBackchannel(ctx, newDelivery("globex", "same-id", "sid-1", t0)))
		equal(t, "first claim", claim(t, s, t0, time.Hour, 1), []string{"acme/same-id"})
		equal(t, "second claim", claim(t, s, t0, time.Hour, 1), []string{"globex/same-id"})
	}},
	{"ClaimReturnsTheStoredDeliveryForItsNextAttempt", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		d := newDelivery("acme", "d-1", "sid-1", t0)
		d.Attempts, d.LastError = 2, "timeout"
		ok(t, "EnqueueBackchannel", s.EnqueueBackchannel(ctx, d))
		got, err := s.ClaimBackchannel(ctx, store.BackchannelClaim{Owner: owner, Now: t0, Lease: time.Minute, Limit: 10})
		ok(t, "ClaimBackchannel", err)
		want := clone(d)
		want.Attempts = 3
		equal(t, "claimed delivery", got, []*domain.BackchannelDelivery{want})
		equal(t, "stored delivery", deliveriesOf(t, s, "acme", "sid-1"), []*domain.BackchannelDelivery{want})
	}},
	{"ClaimRecordsTheAttemptAtOnceAndMarksAnUnfinishedOneInterrupted", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		ok(t, "EnqueueBackchannel", s.EnqueueBackchannel(ctx, newDelivery("acme", "d-1", "sid-1", t0)))
		claim(t, s, t0, time.Minute, 10)
		equal(t, "attempts after the claim", attemptsOf(t, s, "acme", "d-1"), []*domain.BackchannelAttempt{pending("acme", "d-1", 1, t0)})
		// The first worker died without a result; the lease runs out and
		// another worker claims the delivery again.
		equal(t, "claim after the lease", claimAs(t, s, "worker-2", at(time.Minute), time.Minute, 10), []string{"acme/d-1"})
		interrupted := pending("acme", "d-1", 1, t0)
		interrupted.Error = attemptsOf(t, s, "acme", "d-1")[0].Error
		if !strings.Contains(interrupted.Error, "interrupted") {
			t.Errorf("unfinished attempt error = %q, want it marked interrupted", interrupted.Error)
		}
		equal(t, "attempts after the second claim", attemptsOf(t, s, "acme", "d-1"),
			[]*domain.BackchannelAttempt{interrupted, pending("acme", "d-1", 2, at(time.Minute))})
	}},
	{"ClaimKeepsToThePerOrganizationCap", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createOrg(t, s, "globex")
		for i := range 5 {
			ok(t, "EnqueueBackchannel", s.EnqueueBackchannel(ctx, newDelivery("acme", fmt.Sprintf("a-%d", i), "sid-1", at(-time.Hour+time.Duration(i)*time.Second))))
		}
		ok(t, "EnqueueBackchannel", s.EnqueueBackchannel(ctx, newDelivery("globex", "g-0", "sid-1", t0), newDelivery("globex", "g-1", "sid-1", t0)))
		c := store.BackchannelClaim{Owner: owner, Now: t0, Lease: time.Minute, Limit: 10, PerOrg: 2, Held: map[string]int{"acme": 1}}
		got, err := s.ClaimBackchannel(ctx, c)
		ok(t, "ClaimBackchannel", err)
		if n := len(got); n != 3 || got[0].OrgID+"/"+got[0].ID != "acme/a-0" || got[1].OrgID != "globex" || got[2].OrgID != "globex" {
			t.Errorf("claim with acme holding 1 of 2 = %v, want acme/a-0 and globex's two", ids(got))
		}
		c.Held = map[string]int{"acme": 2, "globex": 2}
		equal(t, "claim with both organizations at the cap", func() []string {
			got, err := s.ClaimBackchannel(ctx, c)
			ok(t, "ClaimBackchannel", err)
			return ids(got)
		}(), []string{})
		c.Held = map[string]int{"globex": 2}
		got, err = s.ClaimBackchannel(ctx, c)
		ok(t, "ClaimBackchannel", err)
		equal(t, "claim with globex at the cap", ids(got), []string{"acme/a-1", "acme/a-2"})
	}},
	{"FinishRecordsTheAttemptAndReleasesTheDelivery", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		d := newDelivery("acme", "d-1", "sid-1", t0)
		ok(t, "EnqueueBackchannel", s.EnqueueBackchannel(ctx, d))
		equal(t, "claim", claim(t, s, t0, time.Hour, 10), []string{"acme/d-1"})

		retry := clone(d)
		retry.Attempts, retry.LastError, retry.NextAttemptAt = 1, "HTTP 502", at(time.Minute)
		first := &domain.BackchannelAttempt{OrgID: "acme", DeliveryID: "d-1", Attempt: 1, At: at(time.Second), Status: 502, Error: "HTTP 502"}
		ok(t, "FinishBackchannelAttempt", s.FinishBackchannelAttempt(ctx, owner, retry, first))
		equal(t, "delivery after a failed attempt", deliveriesOf(t, s, "acme", "sid-1"), []*domain.BackchannelDelivery{retry})
		equal(t, "claim before the retry is due", claim(t, s, at(time.Minute-time.Microsecond), time.Hour, 10), []string{})
		// Released: due again at its retry time although the first lease runs for an hour.
		equal(t, "claim when the retry is due", claimAs(t, s, "worker-2", at(time.Minute), time.Hour, 10), []string{"acme/d-1"})

		done := clone(retry)
		done.Attempts, done.LastError, done.DeliveredAt = 2, "", at(time.Minute)
		second := &domain.BackchannelAttempt{OrgID: "acme", DeliveryID: "d-1", Attempt: 2, At: at(time.Minute), Status: 200}
		ok(t, "FinishBackchannelAttempt", s.FinishBackchannelAttempt(ctx, "worker-2", done, second))
		equal(t, "claim after delivery", claim(t, s, at(24*time.Hour), time.Hour, 10), []string{})
		equal(t, "attempts", attemptsOf(t, s, "acme", "d-1"), []*domain.BackchannelAttempt{first, second})
		equal(t, "delivered delivery", deliveriesOf(t, s, "acme", "sid-1"), []*domain.BackchannelDelivery{done})
	}},
	{"FinishAfterTheLeaseWasTakenRecordsTheSendButLeavesTheDelivery", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		d := newDelivery("acme", "d-1", "sid-1", t0)
		ok(t, "EnqueueBackchannel", s.EnqueueBackchannel(ctx, d))
		claim(t, s, t0, time.Minute, 10)
		equal(t, "the second worker's claim after the lease", claimAs(t, s, "worker-2", at(time.Minute), time.Minute, 10), []string{"acme/d-1"})

		late := clone(d)
		late.Attempts, late.DeliveredAt = 1, at(90*time.Second)
		sent := &domain.BackchannelAttempt{OrgID: "acme", DeliveryID: "d-1", Attempt: 1, At: at(90 * time.Second), Status: 200}
		wantErr(t, "FinishBackchannelAttempt under a lost lease", s.FinishBackchannelAttempt(ctx, owner, late, sent), store.ErrLeaseLost)
		held := clone(d)
		held.Attempts = 2
		equal(t, "delivery still held by the second worker", deliveriesOf(t, s, "acme", "sid-1"), []*domain.BackchannelDelivery{held})
		equal(t, "nobody claims it during the second lease", claim(t, s, at(2*time.Minute-time.Microsecond), time.Minute, 10), []string{})
		equal(t, "both attempts recorded", attemptsOf(t, s, "acme", "d-1"), []*domain.BackchannelAttempt{sent, pending("acme", "d-1", 2, at(time.Minute))})

	}},
	{"GivenUpDeliveryIsNotClaimedAgain", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		d := newDelivery("acme", "d-1", "sid-1", t0)
		ok(t, "EnqueueBackchannel", s.EnqueueBackchannel(ctx, d))
		claim(t, s, t0, time.Minute, 10)
		d.Attempts, d.GaveUpAt, d.NextAttemptAt = 1, t0, t0
		ok(t, "FinishBackchannelAttempt", s.FinishBackchannelAttempt(ctx, owner, d,
			&domain.BackchannelAttempt{OrgID: "acme", DeliveryID: "d-1", Attempt: 1, At: t0, Error: "connection refused"}))
		equal(t, "claim after giving up", claim(t, s, at(time.Hour), time.Minute, 10), []string{})
	}},
	{"FinishOfAnUnclaimedAttemptIsNotFoundAndRecordsNothing", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		d := newDelivery("acme", "d-404", "sid-1", t0)
		a := &domain.BackchannelAttempt{OrgID: "acme", DeliveryID: "d-404", Attempt: 1, At: t0, Status: 200}
		wantErr(t, "FinishBackchannelAttempt", s.FinishBackchannelAttempt(ctx, owner, d, a), store.ErrNotFound)
		if attempts := attemptsOf(t, s, "acme", "d-404"); len(attempts) != 0 {
			t.Errorf("the refused attempt was recorded: %s", show(attempts))
		}
		queued := newDelivery("acme", "d-1", "sid-1", t0)
		ok(t, "EnqueueBackchannel", s.EnqueueBackchannel(ctx, queued))
		a.DeliveryID = "d-1"
		wantErr(t, "FinishBackchannelAttempt before a claim", s.FinishBackchannelAttempt(ctx, owner, queued, a), store.ErrNotFound)
		equal(t, "delivery after the refused finish", deliveriesOf(t, s, "acme", "sid-1"), []*domain.BackchannelDelivery{queued})
	}},
	{"ConcurrentWorkersClaimEachDueDeliveryOnce", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createOrg(t, s, "globex")
		const deliveries, workers = 60, 8
		var all []string
		for i := range deliveries {
			org := []string{"acme", "globex"}[i%2]
			d := newDelivery(org, fmt.Sprintf("d-%02d", i), "sid-1", at(-time.Duration(i)*time.Second))
			ok(t, "EnqueueBackchannel", s.EnqueueBackchannel(ctx, d))
			all = append(all, org+"/"+d.ID)
		}
		// Each worker attempts what it claims and schedules a retry for
		// later, the way a failing endpoint makes it; nothing is due again
		// at t0, so every delivery must be claimed exactly once.
		var mu sync.Mutex
		claims := map[string]int{}
		errs := race(workers, func(w int) error {
			who := fmt.Sprintf("worker-%d", w)
			for {
				ds, err := s.ClaimBackchannel(ctx, store.BackchannelClaim{Owner: who, Now: t0, Lease: time.Minute, Limit: 3, PerOrg: 2})
				if err != nil || len(ds) == 0 {
					return err
				}
				for _, d := range ds {
					mu.Lock()
					claims[d.OrgID+"/"+d.ID]++
					mu.Unlock()
					d.LastError, d.NextAttemptAt = "HTTP 500", at(time.Hour)
					a := &domain.BackchannelAttempt{OrgID: d.OrgID, DeliveryID: d.ID, Attempt: d.Attempts, At: t0, Status: 500}
					if err := s.FinishBackchannelAttempt(ctx, who, d, a); err != nil {
						return fmt.Errorf("finish %s/%s attempt %d: %w", d.OrgID, d.ID, d.Attempts, err)
					}
				}
			}
		})
		for i, err := range errs {
			ok(t, fmt.Sprintf("worker %d", i), err)
		}
		for _, id := range all {
			if claims[id] != 1 {
				t.Errorf("delivery %s was claimed %d times, want once", id, claims[id])
			}
		}
	}},
}
