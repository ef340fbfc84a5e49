package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
)

// The first release's snake_case member names keep working for one more
// release, flagged with a Deprecation header (RFC 9745).
func TestLegacySnakeCaseMembers_AreAcceptedWithADeprecationHeader(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		r := s.ok(t, s.acmeTok, "PATCH", "/api/admin/orgs/acme", map[string]any{"session_lifetime_seconds": "1.296.000", "sso_enabled": false}, http.StatusOK)
		if got := r.header.Get("Deprecation"); !strings.HasPrefix(got, "@") {
			t.Errorf("Deprecation = %q for snake_case members, want @<unix time>", got)
		}
		if st := settingsOf(r.obj); st["sessionLifetimeSeconds"] != 1296000.0 || st["ssoEnabled"] != false {
			t.Errorf("settings after a snake_case PATCH = %v", st)
		}
		r = s.ok(t, s.acmeTok, "PATCH", "/api/admin/orgs/acme", map[string]any{"sessionLifetimeSeconds": 3600}, http.StatusOK)
		if got := r.header.Get("Deprecation"); got != "" {
			t.Errorf("Deprecation = %q for camelCase members, want none", got)
		}

		created := s.ok(t, s.acmeTok, "POST", "/api/admin/orgs/acme/apps", map[string]any{
			"name": "Legacy", "redirect_uris": []string{"https://legacy.example/cb"}, "id_token_signed_response_alg": "ES256",
		}, http.StatusCreated)
		if created.header.Get("Deprecation") == "" {
			t.Error("no Deprecation header for snake_case application members")
		}
		app := s.ok(t, s.acmeTok, "GET", "/api/admin/orgs/acme/apps/"+created.obj["clientId"].(string), nil, http.StatusOK).obj
		if app["idTokenAlg"] != "ES256" || strs(app["redirectUris"])[0] != "https://legacy.example/cb" {
			t.Errorf("application created with snake_case members = %v", app)
		}

		user := s.ok(t, s.acmeTok, "POST", "/api/admin/orgs/acme/users", map[string]any{"user_name": "carol", "email_verified": true}, http.StatusCreated)
		if user.obj["userName"] != "carol" || user.obj["emailVerified"] != true || user.header.Get("Deprecation") == "" {
			t.Errorf("user created with snake_case members = %v (Deprecation %q)", user.obj, user.header.Get("Deprecation"))
		}

		// One member under both names is ambiguous: refused, nothing changes.
		before := s.ok(t, s.acmeTok, "GET", "/api/admin/orgs/acme", nil, http.StatusOK)
		wantError(t, s.do(t, s.acmeTok, "PATCH", "/api/admin/orgs/acme", map[string]any{"ssoEnabled": true, "sso_enabled": false}),
			http.StatusBadRequest, "invalid_request", "ssoEnabled")
		s.unchanged(t, "/api/admin/orgs/acme", before)
	})
}

func TestUserSessions_ListAndEndWithSingleLogout(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		ctx := context.Background()
		now := s.inst.Env.Now()
		for _, sid := range []string{"sid-a", "sid-b"} {
			if err := s.inst.Env.Store.CreateSession(ctx, &domain.Session{OrgID: "acme", SID: sid, CookieHash: []byte(sid), UserSub: s.acme.Sub,
				AuthTime: now, AMR: []string{"pwd"}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}
		path := "/api/admin/orgs/acme/users/alice/sessions"
		list := s.ok(t, s.acmeTok, "GET", path, nil, http.StatusOK).list
		if len(list) != 2 {
			t.Fatalf("%d sessions listed, want 2", len(list))
		}
		wantKeys(t, "session", list[0], "sid", "authTime", "amr", "createdAt", "expiresAt", "upstream")
		wantError(t, s.do(t, s.betaTok, "GET", path, nil), http.StatusNotFound, "not_found", "")
		wantError(t, s.do(t, s.acmeTok, "DELETE", path+"/sid-unknown", nil), http.StatusNotFound, "not_found", "")

		s.ok(t, s.acmeTok, "DELETE", path+"/sid-a", nil, http.StatusNoContent)
		if left := s.ok(t, s.acmeTok, "GET", path, nil, http.StatusOK).list; len(left) != 1 || left[0]["sid"] != "sid-b" {
			t.Errorf("sessions after ending sid-a = %v", left)
		}
		s.ok(t, s.acmeTok, "DELETE", path, nil, http.StatusNoContent)
		if left := s.ok(t, s.acmeTok, "GET", path, nil, http.StatusOK).list; len(left) != 0 {
			t.Errorf("sessions after ending all = %v", left)
		}
		events := s.ok(t, s.acmeTok, "GET", "/api/admin/orgs/acme/audit?action=logout", nil, http.StatusOK).list
		if len(events) != 2 || !strings.HasPrefix(events[0]["actor"].(string), "admin-token:") {
			t.Errorf("logout events = %v, want two by the admin token", events)
		}
	})
}

func TestAudit_FiltersAndPagesWithALinkHeader(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		for range 5 {
			s.ok(t, s.acmeTok, "GET", "/api/admin/orgs/acme", nil, http.StatusOK)
		}
		path := "/api/admin/orgs/acme/audit?action=org.read&limit=2"
		var seen []string
		for range 10 {
			r := s.ok(t, s.acmeTok, "GET", path, nil, http.StatusOK)
			for _, e := range r.list {
				if e["action"] != "org.read" {
					t.Fatalf("action filter let through %v", e)
				}
				seen = append(seen, e["id"].(string))
			}
			link := r.header.Get("Link")
			if link == "" {
				break
			}
			if !strings.HasSuffix(link, `>; rel="next"`) || !strings.HasPrefix(link, "</api/admin/orgs/acme/audit?") {
				t.Fatalf("Link = %q", link)
			}
			path = strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
		}
		if len(seen) != 5 {
			t.Errorf("paging saw %d org.read events, want 5", len(seen))
		}
		wantError(t, s.do(t, s.acmeTok, "GET", "/api/admin/orgs/acme/audit?since=yesterday", nil), http.StatusBadRequest, "invalid_request", "since")
		future := s.inst.Env.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		if got := s.ok(t, s.acmeTok, "GET", "/api/admin/orgs/acme/audit?since="+future, nil, http.StatusOK).list; len(got) != 0 {
			t.Errorf("events since the future: %v", got)
		}
	})
}

// hasPassword and hasClientSecret, which the first release answered, are
// back (camelCase): they say whether there is one, never what it is.
func TestHasPasswordAndHasClientSecret_SayWhetherThereIsOne(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		const users, apps = "/api/admin/orgs/acme/users", "/api/admin/orgs/acme/apps"
		pw := "correct horse battery staple"
		with := s.ok(t, s.acmeTok, "POST", users, map[string]any{"userName": "dora", "password": pw}, http.StatusCreated)
		without := s.ok(t, s.acmeTok, "POST", users, map[string]any{"userName": "eve"}, http.StatusCreated)
		if with.obj["hasPassword"] != true || without.obj["hasPassword"] != false {
			t.Errorf("hasPassword: with a password %v, without %v", with.obj["hasPassword"], without.obj["hasPassword"])
		}
		if strings.Contains(string(with.raw), pw) || strings.Contains(string(with.raw), "argon2") {
			t.Errorf("the user answer shows the password or its hash: %s", with.raw)
		}
		cleared := s.ok(t, s.acmeTok, "PATCH", users+"/dora", map[string]any{"password": nil}, http.StatusOK)
		if cleared.obj["hasPassword"] != false {
			t.Errorf("hasPassword after removing the password = %v", cleared.obj["hasPassword"])
		}

		conf := s.ok(t, s.acmeTok, "POST", apps, map[string]any{"name": "Wiki", "redirectUris": []string{"https://wiki.example/cb"}}, http.StatusCreated).obj
		pub := s.ok(t, s.acmeTok, "POST", apps, map[string]any{"name": "Mobile", "public": true, "redirectUris": []string{"com.acme.app:/cb"}}, http.StatusCreated).obj
		shownConf := s.ok(t, s.acmeTok, "GET", apps+"/"+conf["clientId"].(string), nil, http.StatusOK)
		shownPub := s.ok(t, s.acmeTok, "GET", apps+"/"+pub["clientId"].(string), nil, http.StatusOK)
		if shownConf.obj["hasClientSecret"] != true || shownPub.obj["hasClientSecret"] != false {
			t.Errorf("hasClientSecret: confidential %v, public %v", shownConf.obj["hasClientSecret"], shownPub.obj["hasClientSecret"])
		}
		if strings.Contains(string(shownConf.raw), conf["clientSecret"].(string)) {
			t.Errorf("the application answer shows its secret: %s", shownConf.raw)
		}
	})
}

// An update may give the settings as answers show them, inside "settings";
// their first-release snake_case names are accepted there too, with the
// Deprecation header.
func TestOrgUpdate_AcceptsTheSettingsObjectWithOldOrNewNames(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		const path = "/api/admin/orgs/acme"
		r := s.ok(t, s.acmeTok, "PATCH", path, map[string]any{"settings": map[string]any{"session_lifetime_seconds": "7 200", "login_method": "password"}}, http.StatusOK)
		if got := r.header.Get("Deprecation"); !strings.HasPrefix(got, "@") {
			t.Errorf("Deprecation = %q for snake_case settings members, want @<unix time>", got)
		}
		if st := settingsOf(r.obj); st["sessionLifetimeSeconds"] != 7200.0 || st["session_lifetime_seconds"] != nil {
			t.Errorf("settings after a snake_case settings PATCH = %v", st)
		}
		r = s.ok(t, s.acmeTok, "PATCH", path, map[string]any{"name": "Acme", "settings": map[string]any{"sessionLifetimeSeconds": 3600, "ssoEnabled": false}}, http.StatusOK)
		if got := r.header.Get("Deprecation"); got != "" {
			t.Errorf("Deprecation = %q for camelCase settings members, want none", got)
		}
		if st := settingsOf(r.obj); st["sessionLifetimeSeconds"] != 3600.0 || st["ssoEnabled"] != false || r.obj["name"] != "Acme" {
			t.Errorf("organization after a camelCase settings PATCH = %v", r.obj)
		}

		before := s.ok(t, s.acmeTok, "GET", path, nil, http.StatusOK)
		for _, tc := range []struct {
			name  string
			body  any
			field string
		}{
			{"not an object", map[string]any{"settings": 5}, "settings"},
			{"unknown member", map[string]any{"settings": map[string]any{"issuer": "x"}}, "settings.issuer"},
			{"name is not a setting", map[string]any{"settings": map[string]any{"name": "x"}}, "settings.name"},
			{"given inside and outside", map[string]any{"ssoEnabled": true, "settings": map[string]any{"ssoEnabled": false}}, "ssoEnabled"},
			{"old and new name inside", map[string]any{"settings": map[string]any{"ssoEnabled": true, "sso_enabled": false}}, "ssoEnabled"},
			{"bad value inside", map[string]any{"settings": map[string]any{"sessionLifetimeSeconds": "1.5"}}, "sessionLifetimeSeconds"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantError(t, s.do(t, s.acmeTok, "PATCH", path, tc.body), http.StatusBadRequest, "invalid_request", tc.field)
				s.unchanged(t, path, before)
			})
		}
	})
}

func TestAnsweredOnlyMembers_AreRefusedAsReadOnly(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		for _, tt := range []struct{ method, path, member string }{
			{"PATCH", "/api/admin/orgs/acme/users/alice", "hasPassword"},
			{"PATCH", "/api/admin/orgs/acme/users/alice", "has_password"},
			{"PATCH", "/api/admin/orgs/acme/apps/" + s.acme.ClientID, "hasClientSecret"},
			{"PATCH", "/api/admin/orgs/acme/apps/" + s.acme.ClientID, "has_client_secret"},
			{"PUT", upstreamPath, "hasClientSecret"},
			{"PUT", upstreamPath, "has_client_secret"},
		} {
			r := s.do(t, s.acmeTok, tt.method, tt.path, map[string]any{tt.member: true})
			wantError(t, r, http.StatusBadRequest, "invalid_request", "")
			if msg, _ := r.obj["message"].(string); !strings.Contains(msg, "is read-only") {
				t.Errorf("%s %s with %s: message %q, want it to say the member is read-only", tt.method, tt.path, tt.member, msg)
			}
		}
	})
}
