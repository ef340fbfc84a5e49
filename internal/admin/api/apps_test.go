package api_test

import (
	"context"
	"net/http"
	"slices"
	"sort"
	"testing"

	"github.com/latchkey/latchkey/internal/secret"
)

var appKeys = []string{
	"clientId", "name", "public", "hasClientSecret", "redirectUris", "postLogoutRedirectUris", "backchannelLogoutUri", "grantTypes",
	"accessTokenLifetime", "idTokenLifetime", "refreshTokenLifetime", "idTokenAlg", "accessTokenFormat",
	"createdAt", "updatedAt", "refreshTokenReuseInterval", "groupsClaim",
}

func wantKeys(t *testing.T, what string, m map[string]any, keys ...string) {
	t.Helper()
	got := make([]string, 0, len(m))
	for k := range m {
		got = append(got, k)
	}
	sort.Strings(got)
	want := slices.Clone(keys)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s members = %v, want %v", what, got, want)
	}
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func TestApps_CreateShowsTheSecretOnceAndAcceptsPostLogoutURIsAsListOrLines(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		const base = "/api/admin/orgs/acme/apps"
		created := s.ok(t, s.acmeTok, "POST", base, map[string]any{
			"name": "Wiki", "redirectUris": []string{"https://wiki.example/cb"},
			"postLogoutRedirectUris": []string{"https://wiki.example/bye", "https://wiki.example/"},
			"accessTokenLifetime":    "1.800", "idTokenAlg": "ES256",
		}, http.StatusCreated).obj
		// The same object `latchkey app create --json` prints.
		wantKeys(t, "created app", created, "clientId", "clientSecret", "name", "orgId")
		if created["name"] != "Wiki" || created["orgId"] != "acme" {
			t.Errorf("created app = %v", created)
		}
		id, sec := created["clientId"].(string), created["clientSecret"].(string)
		list := s.ok(t, s.acmeTok, "GET", base+"/"+id, nil, http.StatusOK).obj
		if got := strs(list["postLogoutRedirectUris"]); !slices.Equal(got, []string{"https://wiki.example/bye", "https://wiki.example/"}) {
			t.Errorf("post_logout_redirect_uris = %v", got)
		}
		if list["accessTokenLifetime"] != 1800.0 || list["idTokenAlg"] != "ES256" || list["public"] != false {
			t.Errorf("created app = %v", list)
		}
		stored, err := s.inst.Env.Store.GetApp(context.Background(), "acme", id)
		if err != nil {
			t.Fatal(err)
		}
		if !secret.MatchesHash(sec, stored.SecretHash) {
			t.Error("the client_secret answered is not the stored one")
		}

		blog := s.ok(t, s.acmeTok, "POST", base, map[string]any{
			"name": "Blog", "redirectUris": []string{"https://blog.example/cb"},
			"postLogoutRedirectUris": "https://blog.example/bye\r\n\n  https://blog.example/  \n",
		}, http.StatusCreated).obj
		lines := s.ok(t, s.acmeTok, "GET", base+"/"+blog["clientId"].(string), nil, http.StatusOK).obj
		if got := strs(lines["postLogoutRedirectUris"]); !slices.Equal(got, []string{"https://blog.example/bye", "https://blog.example/"}) {
			t.Errorf("post_logout_redirect_uris from lines = %v", got)
		}

		public := s.ok(t, s.acmeTok, "POST", base, map[string]any{
			"name": "SPA", "public": true, "redirectUris": []string{"https://spa.example/cb"},
		}, http.StatusCreated).obj
		public = s.ok(t, s.acmeTok, "GET", base+"/"+public["clientId"].(string), nil, http.StatusOK).obj
		if _, ok := public["clientSecret"]; ok || public["public"] != true {
			t.Errorf("public app answer %v: want public and no client_secret", public)
		}

		shown := s.ok(t, s.acmeTok, "GET", base+"/"+id, nil, http.StatusOK).obj
		wantKeys(t, "app", shown, appKeys...)
		all := s.ok(t, s.acmeTok, "GET", base, nil, http.StatusOK).list
		if len(all) != 5 { // the built-in Admin portal, the fixture's, Wiki, Blog, SPA
			t.Errorf("%d applications listed, want 5", len(all))
		}
		for _, a := range all {
			if _, ok := a["clientSecret"]; ok {
				t.Errorf("list shows a client_secret: %v", a)
			}
		}
	})
}

func TestApps_PatchChangesOnlyTheGivenFields(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		path := "/api/admin/orgs/acme/apps/" + s.acme.ClientID
		before := s.ok(t, s.acmeTok, "GET", path, nil, http.StatusOK).obj
		r := s.ok(t, s.acmeTok, "PATCH", path, map[string]any{
			"postLogoutRedirectUris": "https://app.example.com/bye\nhttps://app.example.com/",
			"backchannelLogoutUri":   "https://app.example.com/backchannel",
		}, http.StatusOK).obj
		if got := strs(r["postLogoutRedirectUris"]); !slices.Equal(got, []string{"https://app.example.com/bye", "https://app.example.com/"}) {
			t.Errorf("post_logout_redirect_uris = %v", got)
		}
		if r["name"] != before["name"] || !slices.Equal(strs(r["redirectUris"]), strs(before["redirectUris"])) || r["backchannelLogoutUri"] != "https://app.example.com/backchannel" {
			t.Errorf("after PATCH %v", r)
		}
		stored, err := s.inst.Env.Store.GetApp(context.Background(), "acme", s.acme.ClientID)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(stored.PostLogoutRedirectURIs, []string{"https://app.example.com/bye", "https://app.example.com/"}) {
			t.Errorf("stored post-logout URIs = %v", stored.PostLogoutRedirectURIs)
		}
		r = s.ok(t, s.acmeTok, "PATCH", path, map[string]any{"postLogoutRedirectUris": ""}, http.StatusOK).obj
		if got := r["postLogoutRedirectUris"].([]any); len(got) != 0 {
			t.Errorf("an empty string left post-logout URIs %v", got)
		}
		// The refresh-token reuse interval: 30 s by default, 0 turns it off.
		if before["refreshTokenReuseInterval"] != 30.0 {
			t.Errorf("default refreshTokenReuseInterval = %v", before["refreshTokenReuseInterval"])
		}
		r = s.ok(t, s.acmeTok, "PATCH", path, map[string]any{"refreshTokenReuseInterval": 0}, http.StatusOK).obj
		if stored, _ := s.inst.Env.Store.GetApp(context.Background(), "acme", s.acme.ClientID); r["refreshTokenReuseInterval"] != 0.0 || stored.RefreshTokenReuseInterval != 0 {
			t.Errorf("after PATCH refreshTokenReuseInterval 0: %v", r["refreshTokenReuseInterval"])
		}
	})
}

func TestApps_RefuseInvalidInputAndChangeNothing(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		path := "/api/admin/orgs/acme/apps/" + s.acme.ClientID
		before := s.ok(t, s.operator, "GET", path, nil, http.StatusOK)
		tests := []struct {
			name  string
			body  any
			code  string
			field string
		}{
			{"relative post-logout URI", map[string]any{"postLogoutRedirectUris": "https://ok.example/\n/relative"}, "invalid_request", "postLogoutRedirectUris"},
			{"post-logout URI with fragment", map[string]any{"name": "Changed", "postLogoutRedirectUris": []string{"https://ok.example/#x"}}, "invalid_request", "postLogoutRedirectUris"},
			{"duplicate post-logout URI", map[string]any{"postLogoutRedirectUris": "https://ok.example/\nhttps://ok.example/"}, "invalid_request", "postLogoutRedirectUris"},
			{"post-logout URIs as a number", map[string]any{"postLogoutRedirectUris": 7}, "invalid_request", "postLogoutRedirectUris"},
			{"post-logout URIs array of numbers", map[string]any{"postLogoutRedirectUris": []int{7}}, "invalid_request", "postLogoutRedirectUris"},
			{"no redirect URIs", map[string]any{"redirectUris": []string{}}, "invalid_request", "redirectUris"},
			{"unknown grant", map[string]any{"grantTypes": []string{"password"}}, "invalid_request", "grantTypes"},
			{"lifetime too long", map[string]any{"accessTokenLifetime": "86.401"}, "invalid_request", "accessTokenLifetime"},
			{"unknown alg", map[string]any{"idTokenAlg": "HS256"}, "invalid_request", "idTokenAlg"},
			{"unknown format", map[string]any{"accessTokenFormat": "saml"}, "invalid_request", "accessTokenFormat"},
			{"reuse interval too long", map[string]any{"refreshTokenReuseInterval": 301}, "invalid_request", "refreshTokenReuseInterval"},
			{"reuse interval negative", map[string]any{"refreshTokenReuseInterval": -1}, "invalid_request", "refreshTokenReuseInterval"},
			{"reuse interval as a bool", map[string]any{"refreshTokenReuseInterval": true}, "invalid_request", "refreshTokenReuseInterval"},
			{"public cannot change", map[string]any{"public": true}, "invalid_request", "public"},
			{"client_id is read-only", map[string]any{"clientId": "other"}, "invalid_request", "clientId"},
			{"client_secret is read-only", map[string]any{"clientSecret": "chosen"}, "invalid_request", "clientSecret"},
			{"hasClientSecret is read-only", map[string]any{"hasClientSecret": false}, "invalid_request", "hasClientSecret"},
			{"unknown field", map[string]any{"logo_uri": "https://x.example/logo.png"}, "invalid_request", "logo_uri"},
			{"malformed JSON", rawBody(`{"name": }`), "invalid_json", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				wantError(t, s.do(t, s.acmeTok, "PATCH", path, tt.body), http.StatusBadRequest, tt.code, tt.field)
				s.unchanged(t, path, before)
			})
		}
		apps := s.ok(t, s.operator, "GET", "/api/admin/orgs/acme/apps", nil, http.StatusOK)
		wantError(t, s.do(t, s.acmeTok, "POST", "/api/admin/orgs/acme/apps", map[string]any{"redirectUris": []string{redirectURI}}), http.StatusBadRequest, "invalid_request", "name")
		wantError(t, s.do(t, s.acmeTok, "POST", "/api/admin/orgs/acme/apps", map[string]any{"name": "X", "public": true, "grantTypes": []string{"client_credentials"}}), http.StatusBadRequest, "invalid_request", "grantTypes")
		wantError(t, s.do(t, s.acmeTok, "POST", "/api/admin/orgs/acme/apps", map[string]any{"name": "X", "redirectUris": []string{redirectURI}, "public": "yes"}), http.StatusBadRequest, "invalid_request", "public")
		s.unchanged(t, "/api/admin/orgs/acme/apps", apps)
	})
}

func TestApps_AnotherOrganizationsApplicationIsNotFound(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		// beta's client ID on acme's path, even with an operator token.
		path := "/api/admin/orgs/acme/apps/" + s.beta.ClientID
		for _, tok := range []string{s.acmeTok, s.operator} {
			wantError(t, s.do(t, tok, "GET", path, nil), http.StatusNotFound, "not_found", "")
			wantError(t, s.do(t, tok, "PATCH", path, map[string]any{"name": "Stolen"}), http.StatusNotFound, "not_found", "")
			wantError(t, s.do(t, tok, "POST", path+"/rotate-secret", nil), http.StatusNotFound, "not_found", "")
			wantError(t, s.do(t, tok, "DELETE", path, nil), http.StatusNotFound, "not_found", "")
		}
		app, err := s.inst.Env.Store.GetApp(context.Background(), "beta", s.beta.ClientID)
		if err != nil {
			t.Fatalf("beta's application is gone: %v", err)
		}
		if app.Name != "Web" || !secret.MatchesHash(s.beta.ClientSecret, app.SecretHash) {
			t.Errorf("beta's application changed: %+v", app)
		}
	})
}

func TestApps_RotateSecretAndDelete(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		path := "/api/admin/orgs/acme/apps/" + s.acme.ClientID
		r := s.ok(t, s.acmeTok, "POST", path+"/rotate-secret", nil, http.StatusOK).obj
		wantKeys(t, "rotate-secret", r, "clientId", "clientSecret")
		sec := r["clientSecret"].(string)
		app, err := s.inst.Env.Store.GetApp(context.Background(), "acme", s.acme.ClientID)
		if err != nil {
			t.Fatal(err)
		}
		if sec == s.acme.ClientSecret || !secret.MatchesHash(sec, app.SecretHash) {
			t.Error("rotate-secret did not store the secret it answered")
		}

		spa := s.ok(t, s.acmeTok, "POST", "/api/admin/orgs/acme/apps", map[string]any{"name": "SPA", "public": true, "redirectUris": []string{redirectURI}}, http.StatusCreated).obj
		wantError(t, s.do(t, s.acmeTok, "POST", "/api/admin/orgs/acme/apps/"+spa["clientId"].(string)+"/rotate-secret", nil), http.StatusBadRequest, "invalid_request", "clientSecret")

		s.ok(t, s.acmeTok, "DELETE", path, nil, http.StatusNoContent)
		wantError(t, s.do(t, s.acmeTok, "GET", path, nil), http.StatusNotFound, "not_found", "")
		wantError(t, s.do(t, s.acmeTok, "DELETE", path, nil), http.StatusNotFound, "not_found", "")
	})
}
