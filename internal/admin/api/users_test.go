package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/password"
)

var userKeys = []string{"userName", "sub", "name", "email", "emailVerified", "picture", "role", "disabled", "hasPassword", "createdAt", "updatedAt"}

func TestUsers_CreateReadUpdateDelete(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		const base = "/api/admin/orgs/acme/users"
		ctx := context.Background()
		created := s.ok(t, s.acmeTok, "POST", base, map[string]any{
			"userName": "Bob.Builder", "name": "Bob", "email": "bob@acme.example", "role": "ADMIN",
			"password": "a long enough password",
		}, http.StatusCreated).obj
		wantKeys(t, "user", created, userKeys...)
		if created["userName"] != "Bob.Builder" || created["role"] != "ADMIN" || created["disabled"] != false {
			t.Errorf("created user = %v", created)
		}
		if strings.Contains(created["sub"].(string), "Bob") {
			t.Errorf("sub %v reveals the user name", created["sub"])
		}
		u, err := s.inst.Env.Store.GetUserByName(ctx, "acme", "bob.builder")
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := password.Verify("a long enough password", u.PasswordHash); !ok {
			t.Error("the stored password does not verify")
		}

		// Case-insensitive lookup, case kept.
		got := s.ok(t, s.acmeTok, "GET", base+"/BOB.builder", nil, http.StatusOK).obj
		if got["userName"] != "Bob.Builder" || got["sub"] != created["sub"] {
			t.Errorf("GET by other case = %v", got)
		}
		wantError(t, s.do(t, s.acmeTok, "POST", base, map[string]any{"userName": "bob.BUILDER"}), http.StatusConflict, "conflict", "userName")

		updated := s.ok(t, s.acmeTok, "PATCH", base+"/bob.builder", map[string]any{
			"disabled": true, "emailVerified": true, "picture": "https://acme.example/bob.png",
		}, http.StatusOK).obj
		if updated["disabled"] != true || updated["emailVerified"] != true || updated["picture"] != "https://acme.example/bob.png" || updated["name"] != "Bob" {
			t.Errorf("after PATCH = %v", updated)
		}
		s.ok(t, s.acmeTok, "PATCH", base+"/bob.builder", map[string]any{"password": nil}, http.StatusOK)
		if cleared, err := s.inst.Env.Store.GetUserByName(ctx, "acme", "bob.builder"); err != nil || cleared.PasswordHash != "" {
			t.Errorf("\"password\": null left the password: %v", err)
		}

		found := s.ok(t, s.acmeTok, "GET", base+"?query=builder", nil, http.StatusOK).list
		if len(found) != 1 || found[0]["userName"] != "Bob.Builder" {
			t.Errorf("query=builder found %v", found)
		}
		if all := s.ok(t, s.acmeTok, "GET", base, nil, http.StatusOK).list; len(all) != 2 {
			t.Errorf("%d users listed, want 2", len(all))
		}
		if one := s.ok(t, s.acmeTok, "GET", base+"?limit=1", nil, http.StatusOK).list; len(one) != 1 {
			t.Errorf("limit=1 listed %d users", len(one))
		}
		wantError(t, s.do(t, s.acmeTok, "GET", base+"?limit=0", nil), http.StatusBadRequest, "invalid_request", "limit")
		wantError(t, s.do(t, s.acmeTok, "GET", base+"?q=bob", nil), http.StatusBadRequest, "invalid_request", "q")

		s.ok(t, s.acmeTok, "DELETE", base+"/Bob.Builder", nil, http.StatusNoContent)
		wantError(t, s.do(t, s.acmeTok, "GET", base+"/bob.builder", nil), http.StatusNotFound, "not_found", "")
		wantError(t, s.do(t, s.acmeTok, "DELETE", base+"/bob.builder", nil), http.StatusNotFound, "not_found", "")
	})
}

func TestUsers_RefuseInvalidInputAndChangeNothing(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		const path = "/api/admin/orgs/acme/users/alice"
		before := s.ok(t, s.operator, "GET", path, nil, http.StatusOK)
		tests := []struct {
			name  string
			body  any
			field string
		}{
			{"unknown role", map[string]any{"name": "Changed", "role": "ROOT"}, "role"},
			{"bad email", map[string]any{"email": "not an email"}, "email"},
			{"relative picture", map[string]any{"picture": "me.png"}, "picture"},
			{"short password", map[string]any{"name": "Changed", "password": "short"}, "password"},
			{"password as number", map[string]any{"password": 12345678901234}, "password"},
			{"disabled as string", map[string]any{"disabled": "true"}, "disabled"},
			{"user_name cannot change", map[string]any{"userName": "alicia"}, "userName"},
			{"sub is read-only", map[string]any{"sub": "x"}, "sub"},
			{"hasPassword is read-only", map[string]any{"hasPassword": true}, "hasPassword"},
			{"unknown field", map[string]any{"nickname": "al"}, "nickname"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				wantError(t, s.do(t, s.acmeTok, "PATCH", path, tt.body), http.StatusBadRequest, "invalid_request", tt.field)
				s.unchanged(t, path, before)
			})
		}
		u, err := s.inst.Env.Store.GetUserByName(context.Background(), "acme", "alice")
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := password.Verify("correct horse battery", u.PasswordHash); !ok {
			t.Error("alice's password changed")
		}

		list := s.ok(t, s.operator, "GET", "/api/admin/orgs/acme/users", nil, http.StatusOK)
		for _, body := range []map[string]any{
			{"userName": "bad name"},
			{"userName": "-dash"},
			{"name": "No user name"},
			{"userName": 7},
			{"userName": "carol", "role": "owner"},
		} {
			r := s.do(t, s.acmeTok, "POST", "/api/admin/orgs/acme/users", body)
			if r.status != http.StatusBadRequest || r.obj["field"] == nil {
				t.Errorf("POST %v: %d %s, want 400 naming a field", body, r.status, r.raw)
			}
		}
		wantError(t, s.do(t, s.acmeTok, "POST", "/api/admin/orgs/acme/users", map[string]any{"userName": "bad name"}), http.StatusBadRequest, "invalid_request", "userName")
		s.unchanged(t, "/api/admin/orgs/acme/users", list)
	})
}

func TestUsers_AnotherOrganizationsUserIsNotFound(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		name := "zed"
		s.ok(t, s.betaTok, "POST", "/api/admin/orgs/beta/users", map[string]any{"userName": name}, http.StatusCreated)
		path := "/api/admin/orgs/acme/users/" + name
		for _, tok := range []string{s.acmeTok, s.operator} {
			wantError(t, s.do(t, tok, "GET", path, nil), http.StatusNotFound, "not_found", "")
			wantError(t, s.do(t, tok, "PATCH", path, map[string]any{"role": "ADMIN"}), http.StatusNotFound, "not_found", "")
			wantError(t, s.do(t, tok, "DELETE", path, nil), http.StatusNotFound, "not_found", "")
		}
		u, err := s.inst.Env.Store.GetUserByName(context.Background(), "beta", name)
		if err != nil || u.Role != "USER" {
			t.Errorf("beta's user changed or vanished: %+v, %v", u, err)
		}
	})
}
