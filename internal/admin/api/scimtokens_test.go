package api_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestSCIMTokens_CreateListRevokeThroughTheAPI(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		created := s.ok(t, s.acmeTok, "POST", "/api/admin/orgs/acme/scim/tokens", map[string]any{"description": "Okta", "expiresIn": 3600}, http.StatusCreated)
		tok, _ := created.obj["token"].(string)
		if !strings.HasPrefix(tok, "lk_scim_acme.") || created.obj["baseUrl"] != s.inst.Issuer("acme")+"/scim/v2" || created.obj["state"] != "active" {
			t.Fatalf("created %s", created.raw)
		}
		scim := func() int {
			req, _ := http.NewRequest("GET", s.inst.Issuer("acme")+"/scim/v2/Users", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := s.http.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		if code := scim(); code != http.StatusOK {
			t.Fatalf("SCIM with the new token: %d", code)
		}
		list := s.ok(t, s.acmeTok, "GET", "/api/admin/orgs/acme/scim/tokens", nil, http.StatusOK)
		if len(list.list) != 1 || list.list[0]["description"] != "Okta" || list.list[0]["token"] != nil || list.list[0]["lastUsedAt"] == nil {
			t.Fatalf("list %s", list.raw)
		}
		// Another organization's admin token sees none of it and cannot revoke it.
		wantError(t, s.do(t, s.betaTok, "GET", "/api/admin/orgs/acme/scim/tokens", nil), http.StatusNotFound, "not_found", "")
		id := created.obj["id"].(string)
		wantError(t, s.do(t, s.betaTok, "DELETE", "/api/admin/orgs/beta/scim/tokens/"+id, nil), http.StatusNotFound, "not_found", "")
		if code := scim(); code != http.StatusOK {
			t.Fatalf("the token stopped working after another organization's revoke: %d", code)
		}
		// Bad input changes nothing.
		for _, body := range []any{
			map[string]any{"expiresIn": -1}, map[string]any{"expiresIn": "soon"}, map[string]any{"description": strings.Repeat("x", 201)},
			map[string]any{"token": "mine"}, map[string]any{"scope": "all"}, rawBody(`{"description":`),
		} {
			r := s.do(t, s.acmeTok, "POST", "/api/admin/orgs/acme/scim/tokens", body)
			if r.status != http.StatusBadRequest {
				t.Errorf("create with %v: %d %s", body, r.status, r.raw)
			}
		}
		if n := len(s.ok(t, s.acmeTok, "GET", "/api/admin/orgs/acme/scim/tokens", nil, http.StatusOK).list); n != 1 {
			t.Fatalf("%d tokens after refused creates", n)
		}
		s.ok(t, s.acmeTok, "DELETE", "/api/admin/orgs/acme/scim/tokens/"+id, nil, http.StatusNoContent)
		if code := scim(); code != http.StatusUnauthorized {
			t.Fatalf("SCIM after revoke: %d", code)
		}
		wantError(t, s.do(t, s.acmeTok, "DELETE", "/api/admin/orgs/acme/scim/tokens/"+id, nil), http.StatusNotFound, "not_found", "")
	})
}

func TestApps_GroupsClaimSetting(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		path := "/api/admin/orgs/acme/apps/" + s.acme.ClientID
		if r := s.ok(t, s.acmeTok, "GET", path, nil, http.StatusOK); r.obj["groupsClaim"] != false {
			t.Fatalf("default groupsClaim: %s", r.raw)
		}
		if r := s.ok(t, s.acmeTok, "PATCH", path, map[string]any{"groupsClaim": true}, http.StatusOK); r.obj["groupsClaim"] != true {
			t.Fatalf("after PATCH: %s", r.raw)
		}
		wantError(t, s.do(t, s.acmeTok, "PATCH", path, map[string]any{"groupsClaim": "yes"}), http.StatusBadRequest, "invalid_request", "groupsClaim")
	})
}
