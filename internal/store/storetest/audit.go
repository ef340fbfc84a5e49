package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

var auditTests = []test{
	{"ListAuditReturnsEveryFieldNewestFirst", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		createOrg(t, s, "other")
		var events []*domain.AuditEvent
		for i, action := range []string{"login", "token", "logout", "user.update"} {
			e := &domain.AuditEvent{
				OrgID:    "acme",
				At:       at(time.Duration([]int{0, 3, 1, 2}[i]) * time.Second),
				Actor:    "sub-1",
				Action:   action,
				Target:   "client-" + action,
				Result:   "ok",
				ClientIP: "2001:db8::1",
				Detail:   map[string]string{"action": action, "n": fmt.Sprint(i), "quote": `"<&>"`},
			}
			ok(t, "AppendAudit", s.AppendAudit(ctx, e))
			if e.ID == "" {
				t.Fatal("AppendAudit left the event without an id")
			}
			events = append(events, e)
		}
		ok(t, "AppendAudit other", s.AppendAudit(ctx, &domain.AuditEvent{OrgID: "other", At: at(time.Hour), Action: "login"}))
		newestFirst := []*domain.AuditEvent{events[1], events[3], events[2], events[0]}
		got, err := s.ListAudit(ctx, "acme", store.AuditFilter{Limit: 100})
		ok(t, "ListAudit", err)
		equal(t, "ListAudit", got, newestFirst)
		got, err = s.ListAudit(ctx, "acme", store.AuditFilter{Limit: 2})
		ok(t, "ListAudit limit 2", err)
		equal(t, "ListAudit limit 2", got, newestFirst[:2])
		for _, f := range []store.AuditFilter{{Action: "lo\x00gin"}, {Actor: "\x00"}, {Before: "\x00"}} {
			got, err = s.ListAudit(ctx, "acme", f)
			ok(t, "ListAudit with NUL", err)
			equal(t, "ListAudit with NUL", len(got), 0)
		}
	}},
	{"AuditEventWithoutDetailListsAnEmptyDetail", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		e := &domain.AuditEvent{OrgID: "acme", ID: "given-id", At: t0, Action: "login", Result: "bad password"}
		ok(t, "AppendAudit", s.AppendAudit(ctx, e))
		got, err := s.ListAudit(ctx, "acme", store.AuditFilter{Limit: 10})
		ok(t, "ListAudit", err)
		if len(got) != 1 {
			t.Fatalf("ListAudit = %s, want one event", show(got))
		}
		if len(got[0].Detail) != 0 {
			t.Errorf("Detail = %v, want empty", got[0].Detail)
		}
		got[0].Detail = nil
		equal(t, "event", got[0], e)
	}},
	{"AuditEventFromHostileInputIsStoredSanitizedEvenAfterTheRequestIsGone", func(t *testing.T, s store.Store) {
		createOrg(t, s, "acme")
		// The client went away: the event is recorded all the same.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		e := &domain.AuditEvent{OrgID: "acme", At: t0, Actor: "bad\xffactor", Action: "user.get", Target: "\xff\x00users/" + strings.Repeat("x", 5000),
			Result: "invalid_request", Detail: map[string]string{"field\xff": "v\x00\xfe"}}
		ok(t, "AppendAudit with a canceled context and raw bytes", s.AppendAudit(ctx, e))
		got, err := s.ListAudit(t.Context(), "acme", store.AuditFilter{Limit: 10})
		ok(t, "ListAudit", err)
		if len(got) != 1 {
			t.Fatalf("ListAudit = %s, want one event", show(got))
		}
		g := got[0]
		for _, v := range []string{g.Actor, g.Target, g.Detail["field\uFFFD"]} {
			if !utf8.ValidString(v) || strings.ContainsAny(v, "\x00") || len(v) > domain.MaxAuditText+len("…") {
				t.Errorf("stored %q", v)
			}
		}
		if !strings.HasPrefix(g.Target, "\uFFFD\uFFFDusers/xxx") || !strings.HasSuffix(g.Target, "…") || g.Detail["field\uFFFD"] != "v\uFFFD\uFFFD" {
			t.Errorf("stored target %q detail %v", g.Target, g.Detail)
		}
	}},
	{"EventsAtTheSameMicrosecondAreAllKept", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createOrg(t, s, "acme")
		for range 5 {
			ok(t, "AppendAudit", s.AppendAudit(ctx, &domain.AuditEvent{OrgID: "acme", At: t0, Action: "login"}))
		}
		got, err := s.ListAudit(ctx, "acme", store.AuditFilter{Limit: 10})
		ok(t, "ListAudit", err)
		if len(got) != 5 {
			t.Fatalf("ListAudit returned %d events, want 5", len(got))
		}
	}},
}
