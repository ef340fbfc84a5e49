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
	"client_id", "name", "public", "redirect_uris", "post_logout_redirect_uris", "backchannel_logout_uri", "grant_types",
	"access_token_lifetime", "id_token_lifetime", "refresh_token_lifetime", "id_token_signed_response_alg", "access_token_format",
	"created_at", "updated_at", "refreshTokenReuseInterval",
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
		list := s.ok(t, s.acmeTok, "POST", base, map[string]any{
			"name": "Wiki", "redirect_uris": []string{"https://wiki.example/cb"},
			"post_logout_redirect_uris": []string{"https://wiki.example/bye", "https://wiki.example/"},
			"access_token_lifetime":     "1.800", "id_token_signed_response_alg": "ES256",
		}, http.StatusCreated).obj
		wantKeys(t, "created app", list, append(slices.Clone(appKeys), "client_secret")...)
		if got := strs(list["post_logout_redirect_uris"]); !slices.Equal(got, []string{"https://wiki.example/bye", "https://wiki.example/"}) {
			t.Errorf("post_logout_redirect_uris = %v", got)
		}
		if list["access_token_lifetime"] != 1800.0 || list["id_token_signed_response_alg"] != "ES256" || list["public"] != false {
			t.Errorf("created app = %v", list)
		}
		id, sec := list["client_id"].(string), list["client_secret"].(string)
		stored, err := s.inst.Env.Store.GetApp(context.Background(), "acme", id)
		if err != nil {
			t.Fatal(err)
		}
		if !secret.MatchesHash(sec, stored.SecretHash) {
			t.Error("the client_secret answered is not the stored one")
		}

		lines := s.ok(t, s.acmeTok, "POST", base, map[string]any{
			"name": "Blog", "redirect_uris": []string{"https://blog.example/cb"},
			"post_logout_redirect_uris": "https://blog.example/bye\r\n\n  https://blog.example/  \n",
		}, http.StatusCreated).obj
		if got := strs(lines["post_logout_redirect_uris"]); !slices.Equal(got, []string{"https://blog.example/bye", "https://blog.example/"}) {
			t.Errorf("post_logout_redirect_uris from lines = %v", got)
		}

		public := s.ok(t, s.acmeTok, "POST", base, map[string]any{
			"name": "SPA", "public": true, "redirect_uris": []string{"https://spa.example/cb"},
		}, http.StatusCreated).obj
		if _, ok := public["client_secret"]; ok || public["public"] != true {
			t.Errorf("public app answer %v: want public and no client_secret", public)
		}

		shown := s.ok(t, s.acmeTok, "GET", base+"/"+id, nil, http.StatusOK).obj
		wantKeys(t, "app", shown, appKeys...)
		all := s.ok(t, s.acmeTok, "GET", base, nil, http.StatusOK).list
		if len(all) != 4 { // the fixture's, Wiki, Blog, SPA
			t.Errorf("%d applications listed, want 4", len(all))
		}
		for _, a := range all {
			if _, ok := a["client_secret"]; ok {
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
			"post_logout_redirect_uris": "https://app.example.com/bye\nhttps://app.example.com/",
			"backchannel_logout_uri":    "https://app.example.com/backchannel",
		}, http.StatusOK).obj
		if got := strs(r["post_logout_redirect_uris"]); !slices.Equal(got, []string{"https://app.example.com/bye", "https://app.example.com/"}) {
			t.Errorf("post_logout_redirect_uris = %v", got)
		}
		if r["name"] != before["name"] || !slices.Equal(strs(r["redirect_uris"]), strs(before["redirect_uris"])) || r["backchannel_logout_uri"] != "https://app.example.com/backchannel" {
			t.Errorf("after PATCH %v", r)
		}
		stored, err := s.inst.Env.Store.GetApp(context.Background(), "acme", s.acme.ClientID)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(stored.PostLogoutRedirectURIs, []string{"https://app.example.com/bye", "https://app.example.com/"}) {
			t.Errorf("stored post-logout URIs = %v", stored.PostLogoutRedirectURIs)
		}
		r = s.ok(t, s.acmeTok, "PATCH", path, map[string]any{"post_logout_redirect_uris": ""}, http.StatusOK).obj
		if got := r["post_logout_redirect_uris"].([]any); len(got) != 0 {
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
			{"relative post-logout URI", map[string]any{"post_logout_redirect_uris": "https://ok.example/\n/relative"}, "invalid_request", "post_logout_redirect_uris"},
			{"post-logout URI with fragment", map[string]any{"name": "Changed", "post_logout_redirect_uris": []string{"https://ok.example/#x"}}, "invalid_request", "post_logout_redirect_uris"},
			{"duplicate post-logout URI", map[string]any{"post_logout_redirect_uris": "https://ok.example/\nhttps://ok.example/"}, "invalid_request", "post_logout_redirect_uris"},
			{"post-logout URIs as a number", map[string]any{"post_logout_redirect_uris": 7}, "invalid_request", "post_logout_redirect_uris"},
			{"post-logout URIs array of numbers", map[string]any{"post_logout_redirect_uris": []int{7}}, "invalid_request", "post_logout_redirect_uris"},
			{"no redirect URIs", map[string]any{"redirect_uris": []string{}}, "invalid_request", "redirect_uris"},
			{"unknown grant", map[string]any{"grant_types": []string{"password"}}, "invalid_request", "grant_types"},
			{"lifetime too long", map[string]any{"access_token_lifetime": "86.401"}, "invalid_request", "access_token_lifetime"},
			{"unknown alg", map[string]any{"id_token_signed_response_alg": "HS256"}, "invalid_request", "id_token_signed_response_alg"},
			{"unknown format", map[string]any{"access_token_format": "saml"}, "invalid_request", "access_token_format"},
			{"reuse interval too long", map[string]any{"refreshTokenReuseInterval": 301}, "invalid_request", "refreshTokenReuseInterval"},
			{"reuse interval negative", map[string]any{"refreshTokenReuseInterval": -1}, "invalid_request", "refreshTokenReuseInterval"},
			{"reuse interval as a bool", map[string]any{"refreshTokenReuseInterval": true}, "invalid_request", "refreshTokenReuseInterval"},
			{"public cannot change", map[string]any{"public": true}, "invalid_request", "public"},
			{"client_id is read-only", map[string]any{"client_id": "other"}, "invalid_request", "client_id"},
			{"client_secret is read-only", map[string]any{"client_secret": "chosen"}, "invalid_request", "client_secret"},
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
		wantError(t, s.do(t, s.acmeTok, "POST", "/api/admin/orgs/acme/apps", map[string]any{"redirect_uris": []string{redirectURI}}), http.StatusBadRequest, "invalid_request", "name")
		wantError(t, s.do(t, s.acmeTok, "POST", "/api/admin/orgs/acme/apps", map[string]any{"name": "X", "public": true, "grant_types": []string{"client_credentials"}}), http.StatusBadRequest, "invalid_request", "grant_types")
		wantError(t, s.do(t, s.acmeTok, "POST", "/api/admin/orgs/acme/apps", map[string]any{"name": "X", "redirect_uris": []string{redirectURI}, "public": "yes"}), http.StatusBadRequest, "invalid_request", "public")
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
		wantKeys(t, "rotate-secret", r, "client_id", "client_secret")
		sec := r["client_secret"].(string)
		app, err := s.inst.Env.Store.GetApp(context.Background(), "acme", s.acme.ClientID)
		if err != nil {
			t.Fatal(err)
		}
		if sec == s.acme.ClientSecret || !secret.MatchesHash(sec, app.SecretHash) {
			t.Error("rotate-secret did not store the secret it answered")
		}

		spa := s.ok(t, s.acmeTok, "POST", "/api/admin/orgs/acme/apps", map[string]any{"name": "SPA", "public": true, "redirect_uris": []string{redirectURI}}, http.StatusCreated).obj
		wantError(t, s.do(t, s.acmeTok, "POST", "/api/admin/orgs/acme/apps/"+spa["client_id"].(string)+"/rotate-secret", nil), http.StatusBadRequest, "invalid_request", "client_secret")

		s.ok(t, s.acmeTok, "DELETE", path, nil, http.StatusNoContent)
		wantError(t, s.do(t, s.acmeTok, "GET", path, nil), http.StatusNotFound, "not_found", "")
		wantError(t, s.do(t, s.acmeTok, "DELETE", path, nil), http.StatusNotFound, "not_found", "")
	})
}
