package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/secret"
)

func hash(v string) []byte { return secret.Hash(v) }

func TestPatchOrg_ChangesSettingsAndSaysTheLifetimeInWords(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		got := s.ok(t, s.acmeTok, "GET", "/api/admin/orgs/acme", nil, http.StatusOK).obj
		if got["sso_enabled"] != true || got["session_lifetime_seconds"] != 36000.0 || got["session_lifetime_text"] != "10 hours" {
			t.Errorf("new organization = %v, want SSO on, 36000 s (10 hours)", got)
		}
		if got["issuer"] != s.inst.Issuer("acme") {
			t.Errorf("issuer = %v, want %s", got["issuer"], s.inst.Issuer("acme"))
		}

		tests := []struct {
			name string
			in   any
		}{
			{"dots", "1.296.000"},
			{"commas", "1,296,000"},
			{"spaces", "1 296 000"},
			{"digits string", "1296000"},
			{"number", 1296000},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				// Start from a different value so each case proves a change.
				s.ok(t, s.acmeTok, "PATCH", "/api/admin/orgs/acme", map[string]any{"session_lifetime_seconds": 3600 + i}, http.StatusOK)
				r := s.ok(t, s.acmeTok, "PATCH", "/api/admin/orgs/acme", map[string]any{"session_lifetime_seconds": tt.in}, http.StatusOK).obj
				if r["session_lifetime_seconds"] != 1296000.0 || r["session_lifetime_text"] != "15 days" {
					t.Errorf("PATCH answered %v, %v; want 1296000, 15 days", r["session_lifetime_seconds"], r["session_lifetime_text"])
				}
				again := s.ok(t, s.acmeTok, "GET", "/api/admin/orgs/acme", nil, http.StatusOK).obj
				if again["session_lifetime_seconds"] != 1296000.0 || again["session_lifetime_text"] != "15 days" {
					t.Errorf("GET after PATCH = %v, %v", again["session_lifetime_seconds"], again["session_lifetime_text"])
				}
			})
		}

		r := s.ok(t, s.acmeTok, "PATCH", "/api/admin/orgs/acme", map[string]any{
			"name": "Acme Corp", "sso_enabled": false, "ticket_lifetime_seconds": "600",
			"auth_redirect_url": "https://acme.example/login", "login_method": "platform",
		}, http.StatusOK).obj
		want := map[string]any{
			"name": "Acme Corp", "sso_enabled": false, "ticket_lifetime_seconds": 600.0, "ticket_lifetime_text": "10 minutes",
			"auth_redirect_url": "https://acme.example/login", "login_method": "platform", "session_lifetime_seconds": 1296000.0,
		}
		for k, v := range want {
			if r[k] != v {
				t.Errorf("%s = %v, want %v", k, r[k], v)
			}
		}
		o, err := s.inst.Env.Store.GetOrg(context.Background(), "acme")
		if err != nil {
			t.Fatal(err)
		}
		if o.Name != "Acme Corp" || o.Settings.SSOEnabled || o.Settings.LoginMethod != "platform" || o.Settings.SessionLifetimeSeconds != 1296000 {
			t.Errorf("stored organization = %+v", o)
		}
	})
}

func TestPatchOrg_RefusesInvalidInputNamingTheFieldAndChangesNothing(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		const path = "/api/admin/orgs/acme"
		before := s.ok(t, s.operator, "GET", path, nil, http.StatusOK)
		tests := []struct {
			name  string
			body  any
			code  string
			field string
		}{
			{"lifetime too short", map[string]any{"name": "Changed", "session_lifetime_seconds": 59}, "invalid_request", "session_lifetime_seconds"},
			{"lifetime too long", map[string]any{"session_lifetime_seconds": "31.536.001"}, "invalid_request", "session_lifetime_seconds"},
			{"lifetime with a decimal part", map[string]any{"session_lifetime_seconds": "1.5"}, "invalid_request", "session_lifetime_seconds"},
			{"lifetime mixing separators", map[string]any{"session_lifetime_seconds": "1.296,000"}, "invalid_request", "session_lifetime_seconds"},
			{"lifetime as a fraction", map[string]any{"session_lifetime_seconds": 3600.5}, "invalid_request", "session_lifetime_seconds"},
			{"lifetime in words", map[string]any{"session_lifetime_seconds": "15 days"}, "invalid_request", "session_lifetime_seconds"},
			{"negative lifetime", map[string]any{"session_lifetime_seconds": -60}, "invalid_request", "session_lifetime_seconds"},
			{"ticket lifetime", map[string]any{"sso_enabled": false, "ticket_lifetime_seconds": 5}, "invalid_request", "ticket_lifetime_seconds"},
			{"empty name", map[string]any{"name": "  "}, "invalid_request", "name"},
			{"over-long name", map[string]any{"name": strings.Repeat("x", 201)}, "invalid_request", "name"},
			{"name with a control character", map[string]any{"name": "a\u0007b"}, "invalid_request", "name"},
			{"relative auth redirect URL", map[string]any{"auth_redirect_url": "/login"}, "invalid_request", "auth_redirect_url"},
			{"unknown login method", map[string]any{"login_method": "magic"}, "invalid_request", "login_method"},
			{"platform login without redirect URL", map[string]any{"login_method": "platform"}, "invalid_request", "login_method"},
			{"wrong type: bool as string", map[string]any{"sso_enabled": "false"}, "invalid_request", "sso_enabled"},
			{"wrong type: name as number", map[string]any{"name": 42}, "invalid_request", "name"},
			{"wrong type: lifetime as bool", map[string]any{"session_lifetime_seconds": true}, "invalid_request", "session_lifetime_seconds"},
			{"null", map[string]any{"name": nil}, "invalid_request", "name"},
			{"unknown field", map[string]any{"name": "Changed", "colour": "blue"}, "invalid_request", "colour"},
			{"read-only field", map[string]any{"id": "other"}, "invalid_request", "id"},
			{"read-only text", map[string]any{"session_lifetime_text": "15 days"}, "invalid_request", "session_lifetime_text"},
			{"malformed JSON", rawBody(`{"name": "Changed",`), "invalid_json", ""},
			{"not an object", rawBody(`["name"]`), "invalid_json", ""},
			{"trailing data", rawBody(`{"name": "Changed"} {"name": "Again"}`), "invalid_json", ""},
			{"duplicate member", rawBody(`{"name": "Changed", "name": "Again"}`), "invalid_request", "name"},
			{"empty body", rawBody(``), "invalid_json", ""},
			{"invalid UTF-8", rawBody("{\"name\": \"Acme \xff\xfe\"}"), "invalid_request", ""},
			{"lone surrogate", rawBody(`{"name": "Acme \ud800"}`), "invalid_request", "name"},
			{"lone surrogate in a member name", rawBody(`{"na\udc00me": "Acme"}`), "invalid_json", ""},
			{"body over 64 KiB", rawBody(`{"name": "` + strings.Repeat("x", 64<<10) + `"}`), "request_too_large", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := s.do(t, s.acmeTok, "PATCH", path, tt.body)
				wantError(t, r, http.StatusBadRequest, tt.code, tt.field)
				s.unchanged(t, path, before)
			})
		}
	})
}

func TestPatchOrg_RefusesOtherContentTypes(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		before := s.ok(t, s.operator, "GET", "/api/admin/orgs/acme", nil, http.StatusOK)
		req, _ := http.NewRequest("PATCH", s.inst.URL+"/api/admin/orgs/acme", strings.NewReader(`{"name":"Changed"}`))
		req.Header.Set("Authorization", "Bearer "+s.acmeTok)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := s.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("status %d, want 415", resp.StatusCode)
		}
		s.unchanged(t, "/api/admin/orgs/acme", before)
	})
}

func TestCreateOrg_ValidatesAndRefusesDuplicates(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		before := s.ok(t, s.operator, "GET", "/api/admin/orgs", nil, http.StatusOK)
		wantError(t, s.do(t, s.operator, "POST", "/api/admin/orgs", map[string]any{"id": "Bad_Id", "name": "X"}), http.StatusBadRequest, "invalid_request", "id")
		wantError(t, s.do(t, s.operator, "POST", "/api/admin/orgs", map[string]any{"name": "X"}), http.StatusBadRequest, "invalid_request", "id")
		wantError(t, s.do(t, s.operator, "POST", "/api/admin/orgs", map[string]any{"id": "gamma"}), http.StatusBadRequest, "invalid_request", "name")
		wantError(t, s.do(t, s.operator, "POST", "/api/admin/orgs", map[string]any{"id": "gamma", "name": "G", "sso": true}), http.StatusBadRequest, "invalid_request", "sso")
		wantError(t, s.do(t, s.operator, "POST", "/api/admin/orgs", map[string]any{"id": "acme", "name": "Again"}), http.StatusConflict, "conflict", "id")
		s.unchanged(t, "/api/admin/orgs", before)

		r := s.ok(t, s.operator, "POST", "/api/admin/orgs", map[string]any{"id": "gamma", "name": "Gamma"}, http.StatusCreated).obj
		if r["id"] != "gamma" || r["name"] != "Gamma" || r["issuer"] != s.inst.Issuer("gamma") || r["session_lifetime_text"] != "10 hours" {
			t.Errorf("created organization = %v", r)
		}
		key := r["api_key"].(string)
		if _, err := s.inst.Env.Store.FindAPIKey(context.Background(), "gamma", hash(key), time.Now()); err != nil {
			t.Errorf("the api_key answered is not gamma's: %v", err)
		}
		if _, ok := s.ok(t, s.operator, "GET", "/api/admin/orgs/gamma", nil, http.StatusOK).obj["api_key"]; ok {
			t.Error("GET shows the API key; it is shown only on create and reveal")
		}
	})
}

func TestAPIKey_RevealIsAuditedAndRotateKeepsTheOldKeyForTheOverlap(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		ctx := context.Background()
		st := s.inst.Env.Store
		revealed := s.ok(t, s.acmeTok, "POST", "/api/admin/orgs/acme/api-key/reveal", nil, http.StatusOK).obj["api_key"]
		if revealed != s.acme.APIKey {
			t.Fatalf("revealed %v, want the key made on create", revealed)
		}
		if findAudit(t, s, "acme", func(e map[string]any) bool { return e["action"] == "org.api_key.reveal" }) == nil {
			t.Error("the reveal is not in the audit log")
		}

		rotated := s.ok(t, s.acmeTok, "POST", "/api/admin/orgs/acme/api-key/rotate", nil, http.StatusOK).obj
		newKey := rotated["api_key"].(string)
		if newKey == s.acme.APIKey || !strings.HasPrefix(newKey, "lk_org_") {
			t.Fatalf("rotated key %q", newKey)
		}
		if _, ok := rotated["previous_key_expires_at"]; !ok {
			t.Errorf("rotate answer %v lacks previous_key_expires_at", rotated)
		}
		now := s.inst.Clock.Now()
		for name, key := range map[string]string{"old": s.acme.APIKey, "new": newKey} {
			if _, err := st.FindAPIKey(ctx, "acme", hash(key), now); err != nil {
				t.Errorf("%s key does not work during the overlap: %v", name, err)
			}
		}
		if _, err := st.FindAPIKey(ctx, "acme", hash(s.acme.APIKey), now.Add(86400*time.Second+time.Minute)); err == nil {
			t.Error("old key still works after the default overlap of 86400 s")
		}
		if got := s.ok(t, s.acmeTok, "POST", "/api/admin/orgs/acme/api-key/reveal", rawBody("{}"), http.StatusOK).obj["api_key"]; got != newKey {
			t.Errorf("reveal after rotate = %v, want the new key", got)
		}

		third := s.ok(t, s.acmeTok, "POST", "/api/admin/orgs/acme/api-key/rotate", map[string]any{"overlap_seconds": "3.600"}, http.StatusOK).obj["api_key"].(string)
		if _, err := st.FindAPIKey(ctx, "acme", hash(newKey), now.Add(59*time.Minute)); err != nil {
			t.Errorf("previous key does not work within the 3600 s overlap: %v", err)
		}
		if _, err := st.FindAPIKey(ctx, "acme", hash(newKey), now.Add(61*time.Minute)); err == nil {
			t.Error("previous key works after the 3600 s overlap")
		}

		wantError(t, s.do(t, s.acmeTok, "POST", "/api/admin/orgs/acme/api-key/rotate", map[string]any{"overlap_seconds": -1}), http.StatusBadRequest, "invalid_request", "overlap_seconds")
		wantError(t, s.do(t, s.acmeTok, "POST", "/api/admin/orgs/acme/api-key/rotate", map[string]any{"overlap_seconds": "31 days"}), http.StatusBadRequest, "invalid_request", "overlap_seconds")
		wantError(t, s.do(t, s.acmeTok, "POST", "/api/admin/orgs/acme/api-key/rotate", map[string]any{"overlap": 60}), http.StatusBadRequest, "invalid_request", "overlap")
		if got := s.ok(t, s.acmeTok, "POST", "/api/admin/orgs/acme/api-key/reveal", nil, http.StatusOK).obj["api_key"]; got != third {
			t.Errorf("a refused rotation changed the key")
		}

		s.ok(t, s.acmeTok, "POST", "/api/admin/orgs/acme/api-key/rotate", map[string]any{"overlap_seconds": 0}, http.StatusOK)
		if _, err := st.FindAPIKey(ctx, "acme", hash(third), s.inst.Clock.Now()); err == nil {
			t.Error("with overlap 0 the previous key still works")
		}
	})
}

// findAudit returns the newest audit event of org that match accepts.
func findAudit(t *testing.T, s *adminServer, org string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	for _, e := range s.ok(t, s.operator, "GET", "/api/admin/orgs/"+org+"/audit?limit=1000", nil, http.StatusOK).list {
		if match(e) {
			return e
		}
	}
	return nil
}
