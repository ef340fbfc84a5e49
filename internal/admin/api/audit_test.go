package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/store"
)

func TestAudit_EveryUseOfATokenIsRecorded(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		ctx := context.Background()
		rec, tok, err := s.inst.Env.Directory.CreateAdminToken(ctx, s.inst.Actor, "acme", "audit test", 0)
		if err != nil {
			t.Fatal(err)
		}
		actor := "admin-token:" + rec.ID
		s.ok(t, tok, "GET", "/api/admin/orgs/acme", nil, http.StatusOK)
		s.ok(t, tok, "PATCH", "/api/admin/orgs/acme", map[string]any{"sessionLifetimeSeconds": "1.296.000"}, http.StatusOK)
		s.do(t, tok, "PATCH", "/api/admin/orgs/acme", map[string]any{"sessionLifetimeSeconds": 1})
		s.ok(t, tok, "GET", "/api/admin/orgs/acme/users/alice", nil, http.StatusOK)
		s.do(t, tok, "GET", "/api/admin/orgs/acme/users/nobody", nil)
		s.ok(t, tok, "POST", "/api/admin/orgs/acme/api-key/reveal", nil, http.StatusOK)

		events, err := s.inst.Env.Store.ListAudit(ctx, "acme", store.AuditFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for i := len(events) - 1; i >= 0; i-- { // oldest first
			e := events[i]
			if e.Actor == actor {
				got = append(got, e.Action+" "+e.Target+" "+e.Result)
				if e.ClientIP != "127.0.0.1" {
					t.Errorf("event %s has client IP %q", e.Action, e.ClientIP)
				}
			}
		}
		want := []string{
			"org.read acme ok",
			"org.update acme ok",
			"org.update acme invalid_request: sessionLifetimeSeconds",
			"user.read alice ok",
			"user.read nobody not_found",
			"org.api_key.reveal acme ok",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("audit events of %s:\n%s\nwant:\n%s", actor, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}

		list := s.ok(t, s.acmeTok, "GET", "/api/admin/orgs/acme/audit?limit=3", nil, http.StatusOK).list
		if len(list) != 3 {
			t.Fatalf("limit=3 gave %d events", len(list))
		}
		wantKeys(t, "audit event", list[0], "id", "at", "actor", "action", "target", "result", "clientIp", "detail")
		if list[0]["action"] != "org.api_key.reveal" || list[0]["actor"] != actor {
			t.Errorf("newest event = %v, want the reveal by %s", list[0], actor)
		}
		wantError(t, s.do(t, s.acmeTok, "GET", "/api/admin/orgs/acme/audit?limit=abc", nil), http.StatusBadRequest, "invalid_request", "limit")
		wantError(t, s.do(t, s.acmeTok, "GET", "/api/admin/orgs/acme/audit?limit=5000", nil), http.StatusBadRequest, "invalid_request", "limit")
	})
}
