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

// settingsOf returns the settings object of an organization answer.
func settingsOf(org map[string]any) map[string]any {
	s, _ := org["settings"].(map[string]any)
	return s
}

func TestPatchOrg_ChangesSettings(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		got := s.ok(t, s.acmeTok, "GET", "/api/admin/orgs/acme", nil, http.StatusOK).obj
		wantKeys(t, "organization", got, "id", "name", "issuer", "settings", "createdAt", "updatedAt")
		if st := settingsOf(got); st["ssoEnabled"] != true || st["sessionLifetimeSeconds"] != 36000.0 {
			t.Errorf("new organization = %v, want SSO on, 36000 s", got)
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
				s.ok(t, s.acmeTok, "PATCH", "/api/admin/orgs/acme", map[string]any{"sessionLifetimeSeconds": 3600 + i}, http.StatusOK)
				r := s.ok(t, s.acmeTok, "PATCH", "/api/admin/orgs/acme", map[string]any{"sessionLifetimeSeconds": tt.in}, http.StatusOK).obj
				if got := settingsOf(r)["sessionLifetimeSeconds"]; got != 1296000.0 {
					t.Errorf("PATCH answered %v; want 1296000", got)
				}
				again := s.ok(t, s.acmeTok, "GET", "/api/admin/orgs/acme", nil, http.StatusOK).obj
				if got := settingsOf(again)["sessionLifetimeSeconds"]; got != 1296000.0 {
					t.Errorf("GET after PATCH = %v", got)
				}
			})
		}

		r := s.ok(t, s.acmeTok, "PATCH", "/api/admin/orgs/acme", map[string]any{
			"name": "Acme Corp", "ssoEnabled": false, "ticketLifetimeSeconds": "600",
			"authRedirectUrl": "https://acme.example/login", "loginMethod": "platform",
		}, http.StatusOK).obj
		if r["name"] != "Acme Corp" {
			t.Errorf("name = %v", r["name"])
		}
		want := map[string]any{
			"ssoEnabled": false, "ticketLifetimeSeconds": 600.0,
			"authRedirectUrl": "https://acme.example/login", "loginMethod": "platform", "sessionLifetimeSeconds": 1296000.0,
		}
		for k, v := range want {
			if settingsOf(r)[k] != v {
				t.Errorf("settings.%s = %v, want %v", k, settingsOf(r)[k], v)
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
			{"lifetime too short", map[string]any{"name": "Changed", "sessionLifetimeSeconds": 59}, "invalid_request", "sessionLifetimeSeconds"},
			{"lifetime too long", map[string]any{"sessionLifetimeSeconds": "31.536.001"}, "invalid_request", "sessionLifetimeSeconds"},
			{"lifetime with a decimal part", map[string]any{"sessionLifetimeSeconds": "1.5"}, "invalid_request", "sessionLifetimeSeconds"},
			{"lifetime mixing separators", map[string]any{"sessionLifetimeSeconds": "1.296,000"}, "invalid_request", "sessionLifetimeSeconds"},
			{"lifetime as a fraction", map[string]any{"sessionLifetimeSeconds": 3600.5}, "invalid_request", "sessionLifetimeSeconds"},
			{"lifetime in words", map[string]any{"sessionLifetimeSeconds": "15 days"}, "invalid_request", "sessionLifetimeSeconds"},
			{"negative lifetime", map[string]any{"sessionLifetimeSeconds": -60}, "invalid_request", "sessionLifetimeSeconds"},
			{"ticket lifetime", map[string]any{"ssoEnabled": false, "ticketLifetimeSeconds": 5}, "invalid_request", "ticketLifetimeSeconds"},
			{"empty name", map[string]any{"name": "  "}, "invalid_request", "name"},
			{"over-long name", map[string]any{"name": strings.Repeat("x", 201)}, "invalid_request", "name"},
			{"name with a control character", map[string]any{"name": "a\u0007b"}, "invalid_request", "name"},
			{"relative auth redirect URL", map[string]any{"authRedirectUrl": "/login"}, "invalid_request", "authRedirectUrl"},
			{"unknown login method", map[string]any{"loginMethod": "magic"}, "invalid_request", "loginMethod"},
			{"platform login without redirect URL", map[string]any{"loginMethod": "platform"}, "invalid_request", "loginMethod"},
			{"wrong type: bool as string", map[string]any{"ssoEnabled": "false"}, "invalid_request", "ssoEnabled"},
			{"wrong type: name as number", map[string]any{"name": 42}, "invalid_request", "name"},
			{"wrong type: lifetime as bool", map[string]any{"sessionLifetimeSeconds": true}, "invalid_request", "sessionLifetimeSeconds"},
			{"null", map[string]any{"name": nil}, "invalid_request", "name"},
			{"unknown field", map[string]any{"name": "Changed", "colour": "blue"}, "invalid_request", "colour"},
			{"read-only field", map[string]any{"id": "other"}, "invalid_request", "id"},
			{"read-only text", map[string]any{"sessionLifetimeText": "15 days"}, "invalid_request", "sessionLifetimeText"},
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
		wantKeys(t, "created organization", r, "id", "name", "issuer", "apiKey")
		if r["id"] != "gamma" || r["name"] != "Gamma" || r["issuer"] != s.inst.Issuer("gamma") {
			t.Errorf("created organization = %v", r)
		}
		key := r["apiKey"].(string)
		if _, err := s.inst.Env.Store.FindAPIKey(context.Background(), "gamma", hash(key), time.Now()); err != nil {
			t.Errorf("the api_key answered is not gamma's: %v", err)
		}
		if _, ok := s.ok(t, s.operator, "GET", "/api/admin/orgs/gamma", nil, http.StatusOK).obj["apiKey"]; ok {
			t.Error("GET shows the API key; it is shown only on create and reveal")
		}
	})
}

func TestAPIKey_RevealIsAuditedAndRotateKeepsTheOldKeyForTheOverlap(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		ctx := context.Background()
		st := s.inst.Env.Store
		revealed := s.ok(t, s.acmeTok, "POST", "/api/admin/orgs/acme/api-key/reveal", nil, http.StatusOK).obj["apiKey"]
		if revealed != s.acme.APIKey {
			t.Fatalf("revealed %v, want the key made on create", revealed)
		}
		if findAudit(t, s, "acme", func(e map[string]any) bool { return e["action"] == "org.api_key.reveal" }) == nil {
			t.Error("the reveal is not in the audit log")
		}

		rotated := s.ok(t, s.acmeTok, "POST", "/api/admin/orgs/acme/api-key/rotate", nil, http.StatusOK).obj
		newKey := rotated["apiKey"].(string)
		if newKey == s.acme.APIKey || !strings.HasPrefix(newKey, "lk_org_") {
			t.Fatalf("rotated key %q", newKey)
		}
		if _, ok := rotated["previousKeyExpiresAt"]; !ok {
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
		if got := s.ok(t, s.acmeTok, "POST", "/api/admin/orgs/acme/api-key/reveal", rawBody("{}"), http.StatusOK).obj["apiKey"]; got != newKey {
			t.Errorf("reveal after rotate = %v, want the new key", got)
		}

		third := s.ok(t, s.acmeTok, "POST", "/api/admin/orgs/acme/api-key/rotate", map[string]any{"overlapSeconds": "3.600"}, http.StatusOK).obj["apiKey"].(string)
		if _, err := st.FindAPIKey(ctx, "acme", hash(newKey), now.Add(59*time.Minute)); err != nil {
			t.Errorf("previous key does not work within the 3600 s overlap: %v", err)
		}
		if _, err := st.FindAPIKey(ctx, "acme", hash(newKey), now.Add(61*time.Minute)); err == nil {
			t.Error("previous key works after the 3600 s overlap")
		}

		wantError(t, s.do(t, s.acmeTok, "POST", "/api/admin/orgs/acme/api-key/rotate", map[string]any{"overlapSeconds": -1}), http.StatusBadRequest, "invalid_request", "overlapSeconds")
		wantError(t, s.do(t, s.acmeTok, "POST", "/api/admin/orgs/acme/api-key/rotate", map[string]any{"overlapSeconds": "31 days"}), http.StatusBadRequest, "invalid_request", "overlapSeconds")
		wantError(t, s.do(t, s.acmeTok, "POST", "/api/admin/orgs/acme/api-key/rotate", map[string]any{"overlap": 60}), http.StatusBadRequest, "invalid_request", "overlap")
		if got := s.ok(t, s.acmeTok, "POST", "/api/admin/orgs/acme/api-key/reveal", nil, http.StatusOK).obj["apiKey"]; got != third {
			t.Errorf("a refused rotation changed the key")
		}

		s.ok(t, s.acmeTok, "POST", "/api/admin/orgs/acme/api-key/rotate", map[string]any{"overlapSeconds": 0}, http.StatusOK)
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
