package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

func TestMFA_PolicyListAndResetThroughTheAdminAPI(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		ctx := context.Background()
		org := s.ok(t, s.acmeTok, "PATCH", "/api/admin/orgs/acme", map[string]any{"mfa": "required"}, http.StatusOK).obj
		if settings, _ := org["settings"].(map[string]any); settings["mfa"] != "required" {
			t.Fatalf("PATCH mfa: %v", org)
		}
		wantError(t, s.do(t, s.acmeTok, "PATCH", "/api/admin/orgs/acme", map[string]any{"mfa": "sometimes"}), http.StatusBadRequest, "invalid_request", "mfa")
		wantError(t, s.do(t, s.acmeTok, "PATCH", "/api/admin/orgs/acme", map[string]any{"mfa": 1}), http.StatusBadRequest, "invalid_request", "mfa")
		if o, _ := s.inst.Env.Store.GetOrg(ctx, "acme"); o.Settings.MFA != domain.MFARequired {
			t.Fatalf("policy after refused changes = %q", o.Settings.MFA)
		}

		now := time.Now()
		if err := s.inst.Env.Store.CreatePasskey(ctx, &domain.Passkey{OrgID: "acme", UserSub: s.acme.Sub, ID: []byte("cred"), Name: "Laptop",
			PublicKey: []byte("k"), Transports: []string{"internal"}, AAGUID: make([]byte, 16), CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := s.inst.Env.Store.CreateSession(ctx, &domain.Session{OrgID: "acme", SID: "s1", CookieHash: []byte("c"), UserSub: s.acme.Sub,
			AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		m := s.ok(t, s.acmeTok, "GET", "/api/admin/orgs/acme/users/alice/mfa", nil, http.StatusOK).obj
		wantKeys(t, "user mfa", m, "userName", "passkeys", "totp", "recoveryCodesLeft", "policy", "required")
		keys, _ := m["passkeys"].([]any)
		if len(keys) != 1 || keys[0].(map[string]any)["name"] != "Laptop" || m["required"] != true {
			t.Fatalf("user mfa = %v", m)
		}
		// Another organization's token and another organization's user are not found.
		wantError(t, s.do(t, s.betaTok, "GET", "/api/admin/orgs/acme/users/alice/mfa", nil), http.StatusNotFound, "not_found", "")
		wantError(t, s.do(t, s.acmeTok, "POST", "/api/admin/orgs/acme/users/nobody/mfa/reset", nil), http.StatusNotFound, "not_found", "")
		wantError(t, s.do(t, s.acmeTok, "POST", "/api/admin/orgs/acme/users/alice/mfa/reset", map[string]any{"x": 1}), http.StatusBadRequest, "invalid_request", "x")

		m = s.ok(t, s.acmeTok, "POST", "/api/admin/orgs/acme/users/alice/mfa/reset", nil, http.StatusOK).obj
		if keys, _ := m["passkeys"].([]any); len(keys) != 0 {
			t.Fatalf("after reset: %v", m)
		}
		if sess, _ := s.inst.Env.Store.GetSession(ctx, "acme", "s1"); sess.EndedAt.IsZero() {
			t.Error("reset left the user's session active")
		}
		if k, _ := s.inst.Env.Store.ListPasskeys(ctx, "beta", s.beta.Sub); len(k) != 0 {
			t.Error("unexpected passkeys at beta")
		}
		events, _ := s.inst.Env.Store.ListAudit(ctx, "acme", store.AuditFilter{Limit: 50})
		found := false
		for _, e := range events {
			if e.Action == "user.mfa.reset" && e.Target == "alice" && e.Result == "ok" {
				found = true
			}
		}
		if !found {
			t.Error("reset not audited")
		}
	})
}
