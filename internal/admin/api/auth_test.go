package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/directory"
)

func TestAuth_RefusesMissingMalformedAndUnknownTokensWith401(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		tests := []struct {
			name   string
			header string
		}{
			{"no Authorization header", ""},
			{"Basic scheme", "Basic YWRtaW46YWRtaW4="},
			{"Bearer without token", "Bearer "},
			{"not an admin token", "Bearer " + s.acme.APIKey},
			{"unknown operator-shaped token", "Bearer lk_adm_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
			{"unknown token naming acme", "Bearer lk_adm_acme.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
			{"acme token relabelled for beta", "Bearer " + strings.Replace(s.acmeTok, "lk_adm_acme.", "lk_adm_beta.", 1)},
			{"token with a character changed", "Bearer " + s.operator[:len(s.operator)-1] + flip(s.operator[len(s.operator)-1])},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				for _, path := range []string{"/api/admin/orgs", "/api/admin/orgs/acme", "/api/admin/orgs/nope/users"} {
					req, _ := http.NewRequest("GET", s.inst.URL+path, nil)
					if tt.header != "" {
						req.Header.Set("Authorization", tt.header)
					}
					resp, err := s.http.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusUnauthorized {
						t.Errorf("GET %s: status %d, want 401", path, resp.StatusCode)
					}
					if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
						t.Errorf("GET %s: WWW-Authenticate = %q, want a Bearer challenge", path, got)
					}
				}
				r := s.do(t, "", "GET", "/api/admin/orgs/acme", nil)
				wantError(t, r, http.StatusUnauthorized, "unauthorized", "")
			})
		}
	})
}

func flip(b byte) string {
	if b == 'A' {
		return "B"
	}
	return "A"
}

func TestAuth_ExpiredTokenIsRefusedAndTheRefusalAudited(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		tok := s.newToken(t, "acme", time.Hour)
		s.ok(t, tok, "GET", "/api/admin/orgs/acme", nil, http.StatusOK)
		s.inst.Clock.Advance(time.Hour + time.Second)
		r := s.do(t, tok, "GET", "/api/admin/orgs/acme", nil)
		wantError(t, r, http.StatusUnauthorized, "unauthorized", "")
		if !strings.Contains(r.obj["message"].(string), "expired") {
			t.Errorf("message %q does not say the token expired", r.obj["message"])
		}
		if !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("WWW-Authenticate = %q, want error=\"invalid_token\"", r.header.Get("WWW-Authenticate"))
		}
		// The operator token never expires.
		s.ok(t, s.operator, "GET", "/api/admin/orgs/acme", nil, http.StatusOK)
		ev := findAudit(t, s, "acme", func(e map[string]any) bool { return e["result"] == "token_expired" })
		if ev == nil {
			t.Fatal("the refused use of the expired token is not in acme's audit log")
		}
		if ev["action"] != "org.read" || !strings.HasPrefix(ev["actor"].(string), "admin-token:") {
			t.Errorf("audit event %v, want action org.read by admin-token:…", ev)
		}
	})
}

func TestAuth_RevokedTokenIsRefused(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		ctx := context.Background()
		d := s.inst.Env.Directory
		rec, tok, err := d.CreateAdminToken(ctx, s.inst.Actor, "acme", "ci", 0)
		if err != nil {
			t.Fatal(err)
		}
		s.ok(t, tok, "GET", "/api/admin/orgs/acme/users", nil, http.StatusOK)
		if err := d.RevokeAdminToken(ctx, s.inst.Actor, "acme", rec.ID); err != nil {
			t.Fatal(err)
		}
		r := s.do(t, tok, "GET", "/api/admin/orgs/acme/users", nil)
		wantError(t, r, http.StatusUnauthorized, "unauthorized", "")
		if !strings.Contains(r.obj["message"].(string), "revoked") {
			t.Errorf("message %q does not say the token was revoked", r.obj["message"])
		}

		opRec, opTok, err := d.CreateAdminToken(ctx, s.inst.Actor, "", "ops", 0)
		if err != nil {
			t.Fatal(err)
		}
		s.ok(t, opTok, "GET", "/api/admin/orgs", nil, http.StatusOK)
		if err := d.RevokeAdminToken(ctx, s.inst.Actor, "", opRec.ID); err != nil {
			t.Fatal(err)
		}
		wantError(t, s.do(t, opTok, "GET", "/api/admin/orgs", nil), http.StatusUnauthorized, "unauthorized", "")
	})
}

func TestAuth_OrgTokenSeesOnlyItsOrganization(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		betaApp := "/api/admin/orgs/beta/apps/" + s.beta.ClientID
		for _, req := range []struct{ method, path string }{
			{"GET", "/api/admin/orgs/acme"},
			{"GET", "/api/admin/orgs/acme/apps"},
			{"GET", "/api/admin/orgs/acme/apps/" + s.acme.ClientID},
			{"GET", "/api/admin/orgs/acme/users"},
			{"GET", "/api/admin/orgs/acme/users/alice"},
			{"GET", "/api/admin/orgs/acme/audit"},
		} {
			s.ok(t, s.acmeTok, req.method, req.path, nil, http.StatusOK)
			s.ok(t, s.operator, req.method, req.path, nil, http.StatusOK)
		}
		before := s.ok(t, s.operator, "GET", "/api/admin/orgs/beta", nil, http.StatusOK)
		for _, req := range []struct {
			method, path string
			body         any
		}{
			{"GET", "/api/admin/orgs/beta", nil},
			{"PATCH", "/api/admin/orgs/beta", map[string]any{"name": "Taken"}},
			{"DELETE", "/api/admin/orgs/beta", nil},
			{"POST", "/api/admin/orgs/beta/api-key/reveal", nil},
			{"POST", "/api/admin/orgs/beta/api-key/rotate", nil},
			{"GET", "/api/admin/orgs/beta/apps", nil},
			{"POST", "/api/admin/orgs/beta/apps", map[string]any{"name": "X", "redirectUris": []string{redirectURI}}},
			{"GET", betaApp, nil},
			{"PATCH", betaApp, map[string]any{"name": "X"}},
			{"DELETE", betaApp, nil},
			{"POST", betaApp + "/rotate-secret", nil},
			{"GET", "/api/admin/orgs/beta/users", nil},
			{"POST", "/api/admin/orgs/beta/users", map[string]any{"userName": "mallory"}},
			{"GET", "/api/admin/orgs/beta/users/alice", nil},
			{"PATCH", "/api/admin/orgs/beta/users/alice", map[string]any{"role": "ADMIN"}},
			{"DELETE", "/api/admin/orgs/beta/users/alice", nil},
			{"GET", "/api/admin/orgs/beta/audit", nil},
		} {
			t.Run(req.method+" "+req.path, func(t *testing.T) {
				r := s.do(t, s.acmeTok, req.method, req.path, req.body)
				wantError(t, r, http.StatusNotFound, "not_found", "")
				// Exactly what an organization that does not exist answers.
				missing := s.do(t, s.acmeTok, req.method, strings.Replace(req.path, "/orgs/beta", "/orgs/nope", 1), req.body)
				if missing.status != r.status || missing.obj["error"] != r.obj["error"] {
					t.Errorf("another organization answers %d %v, a missing one %d %v", r.status, r.obj["error"], missing.status, missing.obj["error"])
				}
			})
		}
		s.unchanged(t, "/api/admin/orgs/beta", before)
		s.ok(t, s.operator, "GET", betaApp, nil, http.StatusOK)
		s.ok(t, s.operator, "GET", "/api/admin/orgs/beta/users/alice", nil, http.StatusOK)
		if n := len(s.ok(t, s.operator, "GET", "/api/admin/orgs/beta/apps", nil, http.StatusOK).list); n != 2 { // the fixture's and the built-in Admin portal
			t.Errorf("beta has %d applications, want 2", n)
		}
		if _, err := s.inst.Env.Store.FindAPIKey(context.Background(), "beta", hash(s.beta.APIKey), time.Now()); err != nil {
			t.Errorf("beta's API key stopped working: %v", err)
		}

		list := s.ok(t, s.acmeTok, "GET", "/api/admin/orgs", nil, http.StatusOK).list
		if len(list) != 1 || list[0]["id"] != "acme" {
			t.Errorf("acme token lists %v, want only acme", list)
		}
		all := s.ok(t, s.operator, "GET", "/api/admin/orgs", nil, http.StatusOK).list
		if len(all) != 2 || all[0]["id"] != "acme" || all[1]["id"] != "beta" {
			t.Errorf("operator token lists %v, want acme and beta", all)
		}
	})
}

func TestAuth_OnlyOperatorsCreateAndDeleteOrganizations(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		r := s.do(t, s.acmeTok, "POST", "/api/admin/orgs", map[string]any{"id": "gamma", "name": "Gamma"})
		wantError(t, r, http.StatusForbidden, "forbidden", "")
		wantError(t, s.do(t, s.operator, "GET", "/api/admin/orgs/gamma", nil), http.StatusNotFound, "not_found", "")

		wantError(t, s.do(t, s.acmeTok, "DELETE", "/api/admin/orgs/acme", nil), http.StatusForbidden, "forbidden", "")
		s.ok(t, s.acmeTok, "GET", "/api/admin/orgs/acme", nil, http.StatusOK)

		created := s.ok(t, s.operator, "POST", "/api/admin/orgs", map[string]any{"id": "gamma", "name": "Gamma"}, http.StatusCreated)
		if key, _ := created.obj["apiKey"].(string); !strings.HasPrefix(key, "lk_org_") {
			t.Errorf("created organization has api_key %v, want an lk_org_ key", created.obj["apiKey"])
		}
		s.ok(t, s.operator, "DELETE", "/api/admin/orgs/gamma", nil, http.StatusNoContent)
		wantError(t, s.do(t, s.operator, "GET", "/api/admin/orgs/gamma", nil), http.StatusNotFound, "not_found", "")
	})
}

func TestAuth_RecordsEachUseOfAToken(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		ctx := context.Background()
		rec, tok, err := s.inst.Env.Directory.CreateAdminToken(ctx, s.inst.Actor, "acme", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		s.inst.Clock.Advance(time.Minute)
		s.ok(t, tok, "GET", "/api/admin/orgs/acme", nil, http.StatusOK)
		all, err := s.inst.Env.Directory.ListAdminTokens(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range all {
			if x.ID == rec.ID {
				if !x.LastUsedAt.After(rec.CreatedAt) {
					t.Errorf("last used at %v, want after its creation %v", x.LastUsedAt, rec.CreatedAt)
				}
				return
			}
		}
		t.Fatal("token not listed")
	})
}

func TestUnknownEndpoint_AnswersJSONAfterAuthentication(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		wantError(t, s.do(t, "", "GET", "/api/admin/nope", nil), http.StatusUnauthorized, "unauthorized", "")
		wantError(t, s.do(t, s.operator, "GET", "/api/admin/nope", nil), http.StatusNotFound, "not_found", "")
		r := s.do(t, s.operator, "PUT", "/api/admin/orgs/acme", map[string]any{"name": "X"})
		wantError(t, r, http.StatusMethodNotAllowed, "method_not_allowed", "")
		if allow := r.header.Get("Allow"); allow != "GET, PATCH, DELETE" {
			t.Errorf("Allow = %q, want GET, PATCH, DELETE", allow)
		}
	})
}

func TestAdminTokens_NameTheirOrganization(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		if org, ok := directory.AdminTokenOrg(s.acmeTok); !ok || org != "acme" {
			t.Errorf("AdminTokenOrg(acme token) = %q, %v", org, ok)
		}
		if org, ok := directory.AdminTokenOrg(s.operator); !ok || org != "" {
			t.Errorf("AdminTokenOrg(operator token) = %q, %v", org, ok)
		}
		// 256 bits of randomness: 43 base64url characters after the prefix.
		if n := len(strings.TrimPrefix(s.operator, directory.AdminTokenPrefix)); n < 43 {
			t.Errorf("operator token has %d random characters, want at least 43", n)
		}
	})
}
