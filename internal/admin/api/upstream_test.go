package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/testkit"
)

const (
	upstreamPath    = "/api/admin/orgs/acme/upstream"
	upstreamSecret1 = "upstream-client-secret-one"
	upstreamSecret2 = "upstream-client-secret-two"
)

var upstreamKeys = []string{
	"orgId", "configUrl", "clientId", "hasClientSecret", "scopes", "usernameClaim", "displayName", "logoutUrl",
	"endUpstreamSession", "redirectUri", "logoutCallbackUri", "createdAt", "updatedAt",
}

// storedSecret opens org's stored upstream client secret.
func (s *adminServer) storedSecret(t *testing.T, org string) string {
	t.Helper()
	u, err := s.inst.Env.Store.GetUpstream(context.Background(), org)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := s.inst.Env.Directory.OpenUpstreamSecret(u)
	if err != nil {
		t.Fatal(err)
	}
	return plain
}

// noSecret fails when an answer shows either upstream secret.
func noSecret(t *testing.T, r response) {
	t.Helper()
	for _, sec := range []string{upstreamSecret1, upstreamSecret2} {
		if strings.Contains(string(r.raw), sec) {
			t.Errorf("an answer shows the client secret: %s", r.raw)
		}
	}
}

// createUpstream gives acme a connection to configURL with upstreamSecret1.
func (s *adminServer) createUpstream(t *testing.T, configURL string) response {
	t.Helper()
	r := s.ok(t, s.acmeTok, "PUT", upstreamPath, map[string]any{
		"configUrl": configURL, "clientId": "latchkey", "clientSecret": upstreamSecret1,
	}, http.StatusCreated)
	noSecret(t, r)
	return r
}

func TestUpstream_CreateUpdateAndKeepTheSecretWithoutEverShowingIt(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		wantError(t, s.do(t, s.acmeTok, "GET", upstreamPath, nil), http.StatusNotFound, "not_found", "")

		r := s.ok(t, s.acmeTok, "PUT", upstreamPath, map[string]any{
			"configUrl": "https://idp.acme.example/.well-known/openid-configuration", "clientId": "latchkey",
			"clientSecret": upstreamSecret1, "scopes": "openid  email groups", "displayName": "Acme Okta",
			"logoutUrl": "https://acme.example/signed-out",
		}, http.StatusCreated)
		noSecret(t, r)
		wantKeys(t, "created upstream", r.obj, upstreamKeys...)
		want := map[string]any{
			"configUrl": "https://idp.acme.example/.well-known/openid-configuration", "clientId": "latchkey",
			"scopes": []any{"openid", "email", "groups"}, "usernameClaim": "preferred_username",
			"displayName": "Acme Okta", "logoutUrl": "https://acme.example/signed-out", "endUpstreamSession": false,
			"hasClientSecret": true, "redirectUri": s.inst.Issuer("acme") + "/callback",
			"logoutCallbackUri": s.inst.Issuer("acme") + "/logout/callback",
		}
		for k, v := range want {
			if !reflect.DeepEqual(r.obj[k], v) {
				t.Errorf("%s = %#v, want %#v", k, r.obj[k], v)
			}
		}
		if got := s.storedSecret(t, "acme"); got != upstreamSecret1 {
			t.Errorf("stored secret = %q, want the one given", got)
		}
		shown := s.ok(t, s.acmeTok, "GET", upstreamPath, nil, http.StatusOK)
		noSecret(t, shown)
		if !reflect.DeepEqual(shown.obj, r.obj) {
			t.Errorf("GET = %s\nPUT answered %s", shown.raw, r.raw)
		}

		// A later PUT changes only what it gives and keeps the secret.
		s.inst.Clock.Advance(2 * time.Second)
		r = s.ok(t, s.acmeTok, "PUT", upstreamPath, map[string]any{
			"scopes": []string{"openid", "profile"}, "endUpstreamSession": true, "logoutUrl": "",
		}, http.StatusOK)
		noSecret(t, r)
		if r.obj["configUrl"] != want["configUrl"] || r.obj["clientId"] != "latchkey" || r.obj["displayName"] != "Acme Okta" ||
			!reflect.DeepEqual(r.obj["scopes"], []any{"openid", "profile"}) || r.obj["endUpstreamSession"] != true ||
			r.obj["logoutUrl"] != "" {
			t.Errorf("update answered %s", r.raw)
		}
		if r.obj["createdAt"] != shown.obj["createdAt"] || r.obj["updatedAt"] == shown.obj["updatedAt"] {
			t.Errorf("created_at/updated_at after update = %v/%v, before %v/%v",
				r.obj["createdAt"], r.obj["updatedAt"], shown.obj["createdAt"], shown.obj["updatedAt"])
		}
		if got := s.storedSecret(t, "acme"); got != upstreamSecret1 {
			t.Errorf("an update without client_secret changed the stored secret to %q", got)
		}

		// Empty scopes and username claim go back to the defaults.
		r = s.ok(t, s.acmeTok, "PUT", upstreamPath, map[string]any{"scopes": "", "usernameClaim": ""}, http.StatusOK)
		if !reflect.DeepEqual(r.obj["scopes"], []any{"openid", "profile", "email"}) || r.obj["usernameClaim"] != "preferred_username" {
			t.Errorf("reset to defaults answered %s", r.raw)
		}

		r = s.ok(t, s.acmeTok, "PUT", upstreamPath, map[string]any{"clientSecret": upstreamSecret2, "usernameClaim": "email"}, http.StatusOK)
		noSecret(t, r)
		if got := s.storedSecret(t, "acme"); got != upstreamSecret2 {
			t.Errorf("stored secret after replacing it = %q, want the new one", got)
		}
		if r.obj["usernameClaim"] != "email" {
			t.Errorf("username_claim = %v", r.obj["usernameClaim"])
		}
		noSecret(t, s.ok(t, s.operator, "GET", upstreamPath, nil, http.StatusOK))

		// The directory audited each change, without the secret.
		events, err := s.inst.Env.Store.ListAudit(context.Background(), "acme", store.AuditFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for i := len(events) - 1; i >= 0; i-- {
			e := events[i]
			if strings.HasPrefix(e.Action, "upstream.") {
				actions = append(actions, e.Action+" "+e.Result)
			}
			data, _ := json.Marshal(e)
			if strings.Contains(string(data), upstreamSecret1) || strings.Contains(string(data), upstreamSecret2) {
				t.Errorf("audit event shows the secret: %s", data)
			}
		}
		wantActions := []string{
			"upstream.read not_found", "upstream.create ok", "upstream.read ok", "upstream.update ok",
			"upstream.update ok", "upstream.update ok", "upstream.read ok",
		}
		if !reflect.DeepEqual(actions, wantActions) {
			t.Errorf("audit actions = %q, want %q", actions, wantActions)
		}
	})
}

func TestUpstream_TokensReachOnlyTheirOrganization(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		s.createUpstream(t, "https://idp.acme.example/")
		s.ok(t, s.acmeTok, "GET", upstreamPath, nil, http.StatusOK)
		s.ok(t, s.operator, "GET", upstreamPath, nil, http.StatusOK)

		beta := "/api/admin/orgs/beta/upstream"
		body := map[string]any{"configUrl": "https://idp.beta.example/", "clientId": "x", "clientSecret": "y"}
		for _, req := range []struct {
			method, path string
			body         any
		}{
			{"GET", beta, nil}, {"PUT", beta, body}, {"DELETE", beta, nil}, {"POST", beta + "/check", nil},
		} {
			wantError(t, s.do(t, s.acmeTok, req.method, req.path, req.body), http.StatusNotFound, "not_found", "")
		}
		if _, err := s.inst.Env.Store.GetUpstream(context.Background(), "beta"); err == nil {
			t.Error("acme's token created beta's upstream connection")
		}
		wantError(t, s.do(t, s.betaTok, "DELETE", upstreamPath, nil), http.StatusNotFound, "not_found", "")
		s.ok(t, s.acmeTok, "GET", upstreamPath, nil, http.StatusOK)

		s.ok(t, s.operator, "PUT", beta, body, http.StatusCreated)
		s.ok(t, s.betaTok, "GET", beta, nil, http.StatusOK)
		wantError(t, s.do(t, "", "GET", upstreamPath, nil), http.StatusUnauthorized, "unauthorized", "")

		// POST on the connection itself is not a method it takes.
		r := s.do(t, s.acmeTok, "POST", upstreamPath, map[string]any{})
		wantError(t, r, http.StatusMethodNotAllowed, "method_not_allowed", "")
		if got := r.header.Get("Allow"); got != "GET, PUT, DELETE" {
			t.Errorf("Allow = %q, want GET, PUT, DELETE", got)
		}
	})
}

func TestUpstream_RefusesInvalidInputNamingTheFieldAndChangesNothing(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		valid := map[string]any{"configUrl": "https://idp.acme.example/", "clientId": "latchkey", "clientSecret": upstreamSecret2}
		with := func(changes map[string]any, drop ...string) map[string]any {
			out := map[string]any{}
			for k, v := range valid {
				out[k] = v
			}
			for _, k := range drop {
				delete(out, k)
			}
			for k, v := range changes {
				out[k] = v
			}
			return out
		}
		t.Run("create", func(t *testing.T) {
			tests := []struct {
				name  string
				body  any
				code  string
				field string
			}{
				{"missing config_url", with(nil, "configUrl"), "invalid_request", "configUrl"},
				{"missing client_id", with(nil, "clientId"), "invalid_request", "clientId"},
				{"missing client_secret", with(nil, "clientSecret"), "invalid_request", "clientSecret"},
				{"empty client_secret", with(map[string]any{"clientSecret": ""}), "invalid_request", "clientSecret"},
				{"config_url not http", with(map[string]any{"configUrl": "ftp://idp.acme.example/"}), "invalid_request", "configUrl"},
				{"scopes without openid", with(map[string]any{"scopes": "profile email"}), "invalid_request", "scopes"},
				{"unknown field", with(map[string]any{"issuer": "https://idp.acme.example/"}), "invalid_request", "issuer"},
				{"wrong type", with(map[string]any{"clientId": 42}), "invalid_request", "clientId"},
				{"empty body", rawBody(``), "invalid_json", ""},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					r := s.do(t, s.acmeTok, "PUT", upstreamPath, tt.body)
					wantError(t, r, http.StatusBadRequest, tt.code, tt.field)
					noSecret(t, r)
					wantError(t, s.do(t, s.acmeTok, "GET", upstreamPath, nil), http.StatusNotFound, "not_found", "")
				})
			}
		})

		s.createUpstream(t, "https://idp.acme.example/.well-known/openid-configuration")
		before := s.ok(t, s.operator, "GET", upstreamPath, nil, http.StatusOK)
		t.Run("update", func(t *testing.T) {
			tests := []struct {
				name  string
				body  any
				code  string
				field string
			}{
				{"bad config_url", map[string]any{"clientId": "other", "configUrl": "not a url"}, "invalid_request", "configUrl"},
				{"relative config_url", map[string]any{"configUrl": "/.well-known/openid-configuration"}, "invalid_request", "configUrl"},
				{"empty config_url", map[string]any{"configUrl": ""}, "invalid_request", "configUrl"},
				{"empty client_id", map[string]any{"clientId": ""}, "invalid_request", "clientId"},
				{"client_id with a newline", map[string]any{"clientId": "a\nb"}, "invalid_request", "clientId"},
				{"client_secret with a control character", map[string]any{"clientSecret": "a\u0001b"}, "invalid_request", "clientSecret"},
				{"empty client_secret", map[string]any{"clientSecret": ""}, "invalid_request", "clientSecret"},
				{"scopes without openid (array)", map[string]any{"scopes": []string{"profile", "email"}}, "invalid_request", "scopes"},
				{"scopes without openid (string)", map[string]any{"displayName": "New", "scopes": "profile email"}, "invalid_request", "scopes"},
				{"scope listed twice", map[string]any{"scopes": "openid email email"}, "invalid_request", "scopes"},
				{"scopes as a number", map[string]any{"scopes": 7}, "invalid_request", "scopes"},
				{"scopes with a number", map[string]any{"scopes": []any{"openid", 7}}, "invalid_request", "scopes"},
				{"bad username claim", map[string]any{"usernameClaim": "user name"}, "invalid_request", "usernameClaim"},
				{"relative logout_url", map[string]any{"logoutUrl": "/signed-out"}, "invalid_request", "logoutUrl"},
				{"display_name with a control character", map[string]any{"displayName": "a\u0007b"}, "invalid_request", "displayName"},
				{"wrong type: bool as string", map[string]any{"endUpstreamSession": "true"}, "invalid_request", "endUpstreamSession"},
				{"wrong type: client_id as number", map[string]any{"clientId": 42}, "invalid_request", "clientId"},
				{"null", map[string]any{"displayName": nil}, "invalid_request", "displayName"},
				{"unknown field", map[string]any{"displayName": "New", "client_name": "x"}, "invalid_request", "client_name"},
				{"read-only field", map[string]any{"redirectUri": "https://elsewhere.example/callback"}, "invalid_request", "redirectUri"},
				{"hasClientSecret is read-only", map[string]any{"hasClientSecret": false}, "invalid_request", "hasClientSecret"},
				{"nothing to set", map[string]any{}, "invalid_request", ""},
				{"malformed JSON", rawBody(`{"clientId": "other",`), "invalid_json", ""},
				{"duplicate member", rawBody(`{"clientId": "a", "clientId": "b"}`), "invalid_request", "clientId"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					r := s.do(t, s.acmeTok, "PUT", upstreamPath, tt.body)
					wantError(t, r, http.StatusBadRequest, tt.code, tt.field)
					noSecret(t, r)
					s.unchanged(t, upstreamPath, before)
					if got := s.storedSecret(t, "acme"); got != upstreamSecret1 {
						t.Errorf("stored secret changed to %q", got)
					}
				})
			}
		})
	})
}

func TestUpstream_DeleteAndLoginMethod(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		const orgPath = "/api/admin/orgs/acme"
		wantError(t, s.do(t, s.acmeTok, "DELETE", upstreamPath, nil), http.StatusNotFound, "not_found", "")

		// Upstream login needs a connection to sign in through.
		before := s.ok(t, s.acmeTok, "GET", orgPath, nil, http.StatusOK)
		r := s.do(t, s.acmeTok, "PATCH", orgPath, map[string]any{"name": "Changed", "loginMethod": "upstream"})
		wantError(t, r, http.StatusBadRequest, "invalid_request", "loginMethod")
		if !strings.Contains(r.obj["message"].(string), "configure the upstream connection first") {
			t.Errorf("message = %q", r.obj["message"])
		}
		s.unchanged(t, orgPath, before)

		s.createUpstream(t, "https://idp.acme.example/")
		if got := s.ok(t, s.acmeTok, "PATCH", orgPath, map[string]any{"loginMethod": "upstream"}, http.StatusOK).obj; settingsOf(got)["loginMethod"] != "upstream" {
			t.Errorf("loginMethod = %v", settingsOf(got)["loginMethod"])
		}
		// Other settings still change while upstream login is on.
		s.ok(t, s.acmeTok, "PATCH", orgPath, map[string]any{"name": "Acme Corp"}, http.StatusOK)

		// The connection the organization signs in through stays.
		before = s.ok(t, s.acmeTok, "GET", upstreamPath, nil, http.StatusOK)
		wantError(t, s.do(t, s.acmeTok, "DELETE", upstreamPath, nil), http.StatusConflict, "conflict", "loginMethod")
		s.unchanged(t, upstreamPath, before)

		s.ok(t, s.acmeTok, "PATCH", orgPath, map[string]any{"loginMethod": "password"}, http.StatusOK)
		if r := s.ok(t, s.acmeTok, "DELETE", upstreamPath, nil, http.StatusNoContent); len(r.raw) != 0 {
			t.Errorf("DELETE answered a body: %s", r.raw)
		}
		wantError(t, s.do(t, s.acmeTok, "GET", upstreamPath, nil), http.StatusNotFound, "not_found", "")
		wantError(t, s.do(t, s.acmeTok, "DELETE", upstreamPath, nil), http.StatusNotFound, "not_found", "")
		if _, err := s.inst.Env.Store.GetUpstream(context.Background(), "acme"); err == nil {
			t.Error("the connection is still stored")
		}
		// A new connection starts afresh: the first PUT needs everything again.
		wantError(t, s.do(t, s.acmeTok, "PUT", upstreamPath, map[string]any{"clientId": "x", "clientSecret": "y"}),
			http.StatusBadRequest, "invalid_request", "configUrl")
		s.createUpstream(t, "https://idp.acme.example/")
	})
}

// discoveryServer serves a discovery document naming its own URL as issuer,
// without PKCE or a userinfo endpoint (two warnings).
func discoveryServer(t *testing.T) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/openid-configuration" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": srv.URL, "authorization_endpoint": srv.URL + "/authorize", "token_endpoint": srv.URL + "/token",
			"jwks_uri": srv.URL + "/keys", "id_token_signing_alg_values_supported": []string{"RS256"},
			"token_endpoint_auth_methods_supported": []string{"client_secret_post"},
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestUpstreamCheck_ReportsWhatTheUpstreamOffersOrWhyItCannotBeUsed(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *adminServer) {
		const checkPath = upstreamPath + "/check"
		wantError(t, s.do(t, s.acmeTok, "POST", checkPath, nil), http.StatusNotFound, "not_found", "")

		idp := discoveryServer(t)
		s.createUpstream(t, idp.URL)
		r := s.ok(t, s.acmeTok, "POST", checkPath, nil, http.StatusOK)
		noSecret(t, r)
		wantKeys(t, "upstream check", r.obj, "orgId", "ok", "configUrl", "found", "warnings")
		found, _ := r.obj["found"].(map[string]any)
		wantKeys(t, "upstream check found", found, "issuer", "authorizationEndpoint", "tokenEndpoint",
			"userinfoEndpoint", "jwksUri", "endSessionEndpoint", "idTokenSigningAlgValuesSupported",
			"codeChallengeMethodsSupported", "pkceS256", "tokenEndpointAuthMethodsSupported", "backchannelLogoutSupported")
		if r.obj["ok"] != true || r.obj["configUrl"] != idp.URL || r.obj["orgId"] != "acme" {
			t.Errorf("upstream check = %s", r.raw)
		}
		want := map[string]any{
			"issuer": idp.URL, "authorizationEndpoint": idp.URL + "/authorize",
			"tokenEndpoint": idp.URL + "/token", "jwksUri": idp.URL + "/keys", "userinfoEndpoint": "", "pkceS256": false,
			"codeChallengeMethodsSupported": []any{}, "tokenEndpointAuthMethodsSupported": []any{"client_secret_post"},
		}
		for k, v := range want {
			if !reflect.DeepEqual(found[k], v) {
				t.Errorf("found.%s = %#v, want %#v", k, found[k], v)
			}
		}
		warnings := strs(r.obj["warnings"])
		if len(warnings) != 2 || !strings.Contains(warnings[0], "PKCE") || !strings.Contains(warnings[1], "userinfo_endpoint") {
			t.Errorf("warnings = %q, want the PKCE and userinfo ones", warnings)
		}

		// The saved end_upstream_session setting counts towards the warnings;
		// the body may try another before saving it.
		s.ok(t, s.acmeTok, "PUT", upstreamPath, map[string]any{"endUpstreamSession": true}, http.StatusOK)
		if w := strs(s.ok(t, s.acmeTok, "POST", checkPath, map[string]any{}, http.StatusOK).obj["warnings"]); len(w) != 3 ||
			!strings.Contains(w[2], "end_session_endpoint") {
			t.Errorf("warnings with end_upstream_session = %q", w)
		}
		if w := strs(s.ok(t, s.acmeTok, "POST", checkPath, map[string]any{"endUpstreamSession": false}, http.StatusOK).obj["warnings"]); len(w) != 2 {
			t.Errorf("warnings with end_upstream_session false in the body = %q", w)
		}

		// Nothing listening: the check works, the upstream does not.
		down := "http://" + testkit.ClosedPort(t)
		r = s.ok(t, s.acmeTok, "POST", checkPath, map[string]any{"configUrl": down}, http.StatusOK)
		wantKeys(t, "failed upstream check", r.obj, "orgId", "ok", "configUrl", "warnings", "error")
		e, _ := r.obj["error"].(map[string]any)
		if r.obj["ok"] != false || e["kind"] != "unreachable" || e["url"] != down+"/.well-known/openid-configuration" || e["detail"] == "" {
			t.Errorf("check of a closed port = %s", r.raw)
		}
		// Checking another URL saved nothing.
		if got := s.ok(t, s.acmeTok, "GET", upstreamPath, nil, http.StatusOK).obj["configUrl"]; got != idp.URL {
			t.Errorf("config_url after checking another = %v", got)
		}

		s.ok(t, s.acmeTok, "PUT", upstreamPath, map[string]any{"configUrl": idp.URL + "/missing"}, http.StatusOK)
		r = s.ok(t, s.acmeTok, "POST", checkPath, nil, http.StatusOK)
		e, _ = r.obj["error"].(map[string]any)
		if r.obj["ok"] != false || e["kind"] != "http_status" || e["status"] != 404.0 {
			t.Errorf("check of a missing document = %s", r.raw)
		}

		wantError(t, s.do(t, s.acmeTok, "POST", checkPath, map[string]any{"configUrl": "idp.example"}), http.StatusBadRequest, "invalid_request", "configUrl")
		wantError(t, s.do(t, s.acmeTok, "POST", checkPath, map[string]any{"clientId": "x"}), http.StatusBadRequest, "invalid_request", "clientId")

		// A check before any connection exists may name the URL to check.
		beta := s.ok(t, s.betaTok, "POST", "/api/admin/orgs/beta/upstream/check", map[string]any{"configUrl": idp.URL}, http.StatusOK)
		if found, _ := beta.obj["found"].(map[string]any); beta.obj["ok"] != true || found["issuer"] != idp.URL {
			t.Errorf("check of an unsaved URL = %s", beta.raw)
		}

		events, err := s.inst.Env.Store.ListAudit(context.Background(), "acme", store.AuditFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		var checks []string
		for i := len(events) - 1; i >= 0; i-- {
			if events[i].Action == "upstream.check" {
				checks = append(checks, events[i].Result)
			}
		}
		wantChecks := []string{"not_found", "ok", "ok", "ok", "check_failed: unreachable", "check_failed: http_status",
			"invalid_request: configUrl", "invalid_request: clientId"}
		if !reflect.DeepEqual(checks, wantChecks) {
			t.Errorf("audited checks = %q, want %q", checks, wantChecks)
		}
	})
}
