package server_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// dumpTables returns every row of every table as text, sorted, except the
// tables a refused request legitimately writes: the audit log (refusals are
// audited) and rate-limit counters (refusals are counted). Admin tokens'
// last use is left out for the same reason.
func dumpTables(t *testing.T, inst *servertest.Instance, backend string) map[string][]string {
	t.Helper()
	db := inst.Env.Store.(interface{ SQL() *sql.DB }).SQL()
	ctx := context.Background()
	q := `SELECT name FROM sqlite_master WHERE type = 'table'`
	if backend == "postgres" {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	}
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	out := map[string][]string{}
	for _, table := range tables {
		if table == "audit_events" || table == "rate_limits" || strings.HasPrefix(table, "sqlite_") {
			continue
		}
		rows, err := db.QueryContext(ctx, `SELECT * FROM `+table)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		var lines []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for i, c := range cols {
				if table == "admin_tokens" && c == "last_used_at" {
					continue
				}
				fmt.Fprintf(&b, "%s=%v;", c, vals[i])
			}
			lines = append(lines, b.String())
		}
		rows.Close()
		sort.Strings(lines)
		out[table] = lines
	}
	return out
}

// badRequest is one hostile request of the corpus.
type badRequest struct {
	method, path, query, contentType, body string
	header                                 map[string]string
}

// TestBadInput_EveryEndpointAnswersBelow500AndChangesNothing sends a corpus
// of malformed, oversized, invalid UTF-8, NUL, duplicate-parameter,
// other-organization and huge-header requests to every endpoint of a
// running server, with and without valid credentials, and checks that no
// answer is a 5xx and no row changed.
func TestBadInput_EveryEndpointAnswersBelow500AndChangesNothing(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			inst := servertest.Start(t, backend)
			acme := inst.NewFixture(t, "acme", servertest.OPRedirectURI)
			globex := inst.NewFixture(t, "globex", servertest.OPRedirectURI)
			ctx := context.Background()
			_, adminTok, err := inst.Env.Directory.CreateAdminToken(ctx, inst.Actor, "acme", "corpus", 0)
			if err != nil {
				t.Fatal(err)
			}
			// A live login ticket of globex: presented at acme it must stay unused.
			s := servertest.NewOP(t, inst, acme)
			req, _ := http.NewRequest(http.MethodPost, inst.URL+"/api/organization/globex/user/alice/generate-token", nil)
			req.Header.Set("x-org-id", "globex")
			req.Header.Set("x-api-key", globex.APIKey)
			globexTicket := s.Send(t, req).Str(t, "refreshToken")
			if globexTicket == "" {
				t.Fatal("no globex ticket")
			}

			corpus := buildCorpus(acme.ClientID, globex.ClientID, globex.Sub, globexTicket)
			creds := []struct {
				name   string
				header map[string]string
			}{
				{"anonymous", nil},
				{"acme credentials", map[string]string{
					"Authorization": "Bearer " + adminTok, "x-org-id": "acme", "x-api-key": acme.APIKey,
				}},
				{"acme client", map[string]string{"Authorization": "Basic " + servertest.BasicAuth(acme.ClientID, acme.ClientSecret)}},
			}
			before := dumpTables(t, inst, backend)
			sent, fivexx := 0, 0
			client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 60 * time.Second}
			for _, cr := range creds {
				for _, br := range corpus {
					u := inst.URL + br.path
					if br.query != "" {
						u += "?" + br.query
					}
					r, err := http.NewRequest(br.method, u, strings.NewReader(br.body))
					if err != nil {
						t.Fatalf("%s %s: %v", br.method, u, err)
					}
					if br.contentType != "" {
						r.Header.Set("Content-Type", br.contentType)
					}
					for k, v := range cr.header {
						r.Header.Set(k, v)
					}
					for k, v := range br.header {
						r.Header.Set(k, v)
					}
					resp, err := client.Do(r)
					if err != nil {
						t.Fatalf("%s %s (%s): %v", br.method, br.path, cr.name, err)
					}
					body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
					resp.Body.Close()
					sent++
					if resp.StatusCode >= 500 {
						fivexx++
						t.Errorf("%s %s?%.80s (%s, %d-byte body): %d\n%.300s", br.method, br.path, br.query, cr.name, len(br.body), resp.StatusCode, body)
					}
				}
			}
			after := dumpTables(t, inst, backend)
			changed := 0
			for table, rows := range before {
				if strings.Join(rows, "\n") != strings.Join(after[table], "\n") {
					changed++
					t.Errorf("table %s changed:\nbefore %q\nafter  %q", table, rows, after[table])
				}
			}
			t.Logf("%d hostile requests (%d corpus entries × %d credential sets): %d answers ≥ 500, %d tables changed", sent, len(corpus), len(creds), fivexx, changed)
		})
	}
}

// buildCorpus makes the hostile requests: every endpoint crossed with the
// mutations that make sense for it.
func buildCorpus(acmeClient, globexClient, globexSub, globexTicket string) []badRequest {
	huge := strings.Repeat("A", 70<<10)
	bigBody := strings.Repeat("x", 2<<20)
	queries := []string{
		"%zz%", "a=%ff%fe", "a=%00", "client_id=" + acmeClient + "&client_id=" + acmeClient, "state=" + strings.Repeat("s", 9000),
		"client_id=" + globexClient + "&redirect_uri=" + url.QueryEscape(servertest.OPRedirectURI) + "&response_type=code&scope=openid",
		"refresh-token=" + url.QueryEscape(globexTicket), "refresh-token=a&refresh-token=b", "refresh-token=%00",
		"id_token_hint=eyJhbGciOiJub25lIn0.e30.&post_logout_redirect_uri=https%3A%2F%2Fevil.example", "limit=-1", "limit=%ff",
		"limit=99999999999999999999", "req=%00", "req=%ff", "state=%e2%80%ae&code=x&iss=%ff", "client_id=%00&redirect_uri=%00&response_type=code",
		"client_id=a%00b&scope=openid", "error=access_denied&state=%00",
	}
	forms := []string{
		"%zz", "grant_type=authorization_code&code=%ff", "grant_type=refresh_token&refresh_token=" + url.QueryEscape(globexTicket),
		"grant_type=client_credentials&client_id=" + globexClient + "&client_secret=x", "token=a&token=b", "csrf_token=x&username=%00&password=x",
		"logout_token=" + huge, "a=" + strings.Repeat("%ff", 100), "grant_type=authorization_code&grant_type=refresh_token",
		"refresh-token=" + url.QueryEscape(globexTicket) + "&csrf_token=forged",
	}
	jsons := []string{
		`{"name":`, `["x"]`, `{"name":"\ud800"}`, "{\"name\":\"\xff\"}", "{\"name\":\"a\x00b\"}", `{"name":"a","name":"b"}`,
		`{"role":"OWNER"}`, `{"sso_enabled":"yes"}`, `{"redirect_uris":[5]}`, `{"session_lifetime_seconds":"1.5"}`, `{"unknown":1}`,
		`{"user_name":"x y"}`, `{"config_url":"http://169.254.169.254/"}`, `null`, `1`,
	}
	iss := "/o/acme"
	type ep struct {
		method, path string
		kind         string // query, form, json
	}
	eps := []ep{
		{"GET", iss + "/.well-known/openid-configuration", "query"}, {"GET", iss + "/keys", "query"},
		{"GET", iss + "/authorize", "query"}, {"POST", iss + "/authorize", "form"}, {"GET", iss + "/authorize/continue", "query"},
		{"GET", iss + "/login", "query"}, {"POST", iss + "/login", "form"}, {"POST", iss + "/token", "form"},
		{"GET", iss + "/userinfo", "query"}, {"POST", iss + "/userinfo", "form"}, {"POST", iss + "/revoke", "form"},
		{"POST", iss + "/introspect", "form"}, {"GET", iss + "/account", "query"}, {"GET", iss + "/", "query"}, {"POST", iss + "/", "form"},
		{"GET", iss + "/end_session", "query"}, {"POST", iss + "/end_session", "form"}, {"GET", iss + "/logout", "query"},
		{"POST", iss + "/logout", "form"}, {"GET", iss + "/callback", "query"}, {"GET", iss + "/logout/callback", "query"},
		{"POST", iss + "/backchannel", "form"}, {"GET", iss + "/login/upstream", "query"}, {"GET", "/", "query"},
		{"GET", "/o/no-such-org/authorize", "query"}, {"GET", "/o/%ff/keys", "query"}, {"POST", "/o/globex/token", "form"},
		{"POST", "/api/organization/acme/user/alice/update", "json"}, {"POST", "/api/organization/acme/user/%ff/update", "json"},
		{"POST", "/api/organization/globex/user/alice/update", "json"}, {"POST", "/api/organization/acme/user/nobody%00/generate-token", "form"},
		{"POST", "/api/organization/globex/user/alice/generate-token", "form"}, {"POST", "/api/organization/acme/user/%ff/generate-token", "form"},
		{"POST", "/api/admin/orgs", "json"}, {"PATCH", "/api/admin/orgs/acme", "json"}, {"PATCH", "/api/admin/orgs/globex", "json"},
		{"POST", "/api/admin/orgs/acme/apps", "json"}, {"PATCH", "/api/admin/orgs/acme/apps/" + acmeClient, "json"},
		{"PATCH", "/api/admin/orgs/acme/apps/" + globexClient, "json"}, {"DELETE", "/api/admin/orgs/acme/apps/" + globexClient, "query"},
		{"POST", "/api/admin/orgs/acme/apps/" + acmeClient + "/rotate-secret", "json"}, {"POST", "/api/admin/orgs/acme/users", "json"},
		{"PATCH", "/api/admin/orgs/acme/users/alice", "json"}, {"GET", "/api/admin/orgs/acme/users/%ff", "query"},
		{"DELETE", "/api/admin/orgs/globex/users/alice", "query"}, {"GET", "/api/admin/orgs/acme/users/" + globexSub, "query"},
		{"PUT", "/api/admin/orgs/acme/upstream", "json"}, {"POST", "/api/admin/orgs/acme/upstream/check", "json"},
		{"POST", "/api/admin/orgs/acme/api-key/rotate", "json"}, {"POST", "/api/admin/orgs/acme/api-key/reveal", "json"},
		{"GET", "/api/admin/orgs/acme/audit", "query"}, {"GET", "/healthz", "query"}, {"GET", "/readyz", "query"},
	}
	var out []badRequest
	for _, e := range eps {
		// Query variants carry a body the endpoint refuses too, so that
		// only the hostile part decides (an empty body is a valid request
		// for some writes, such as rotating a secret).
		for _, q := range queries {
			br := badRequest{method: e.method, path: e.path, query: q}
			switch e.kind {
			case "json":
				br.contentType, br.body = "application/json", refusedJSON(e.path)
			case "form":
				br.contentType, br.body = "application/x-www-form-urlencoded", "dup=1&dup=2"
			}
			out = append(out, br)
		}
		switch e.kind {
		case "form":
			for _, f := range forms {
				out = append(out, badRequest{method: e.method, path: e.path, contentType: "application/x-www-form-urlencoded", body: f})
			}
			out = append(out, badRequest{method: e.method, path: e.path, contentType: "application/x-www-form-urlencoded", body: bigBody})
			out = append(out, badRequest{method: e.method, path: e.path, contentType: "application/json", body: `{"a":1}`})
		case "json":
			for _, j := range jsons {
				if strings.HasPrefix(e.path, "/api/organization/") && strings.Contains(j, `{"`) && !strings.Contains(j, `"name"`) && !strings.Contains(j, `"role"`) {
					// The platform API ignores members it does not know
					// (platforms send extra data): that body is no bad input there.
					continue
				}
				out = append(out, badRequest{method: e.method, path: e.path, contentType: "application/json", body: j})
			}
			out = append(out, badRequest{method: e.method, path: e.path, contentType: "application/json", body: `{"name":"` + bigBody + `"}`})
			out = append(out, badRequest{method: e.method, path: e.path, contentType: "text/xml", body: `<a/>`})
		}
		ct, body := "", ""
		switch e.kind {
		case "json":
			ct, body = "application/json", refusedJSON(e.path)
		case "form":
			ct, body = "application/x-www-form-urlencoded", "dup=1&dup=2"
		}
		out = append(out,
			badRequest{method: e.method, path: e.path, contentType: ct, body: body, header: map[string]string{"Cookie": "lk_session=" + huge + "; lk_csrf=\xff\xfe"}},
			badRequest{method: e.method, path: e.path, contentType: ct, body: body, header: map[string]string{"Authorization": "Bearer " + huge}},
			badRequest{method: e.method, path: e.path, contentType: ct, body: body, header: map[string]string{"Authorization": "Basic %%%", "X-Forwarded-For": huge, "x-org-id": "globex"}},
		)
	}
	return out
}

// refusedJSON is a body the endpoint at path refuses: the admin API refuses
// unknown members, the platform API (which ignores them) a mistyped name.
func refusedJSON(path string) string {
	if strings.HasPrefix(path, "/api/organization/") {
		return `{"name":5}`
	}
	return `{"unknown":1}`
}
