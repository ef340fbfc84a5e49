package server_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/store"
)

// TestSecrets_NeverInTheLogTheAuditLogOrTheDatabase runs every flow with
// debug logging — password sign-in, code exchange, refresh, userinfo,
// introspection, revocation, the platform API and its login ticket, the
// admin API, RP-initiated logout — and then looks for each secret it used
// in the server's log, in the audit log and in every table.
func TestSecrets_NeverInTheLogTheAuditLogOrTheDatabase(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			logs := &syncBuffer{}
			inst := servertest.Start(t, backend, servertest.Options{Log: logs})
			fx := inst.NewFixture(t, "acme", servertest.OPRedirectURI)
			s := servertest.NewOP(t, inst, fx)
			c := s.Client(fx)
			ctx := context.Background()
			secrets := map[string]string{"password": fx.Password, "client secret": fx.ClientSecret, "API key": fx.APIKey}

			// Password sign-in, a wrong password first.
			b := servertest.NewBrowser(t)
			wrong := "a wrong password for the log " + fmt.Sprint(time.Now().UnixNano())
			secrets["wrong password"] = wrong
			servertest.SubmitLogin(t, b, s.LoginPage(t, b, c, nil), fx.UserName, wrong)
			code, verifier := s.Code(t, b, c)
			secrets["code"], secrets["code verifier"] = code, verifier
			for _, ck := range b.Client.Jar.Cookies(mustURL(t, inst.Issuer("acme")+"/")) {
				secrets["cookie "+ck.Name] = ck.Value
			}
			tok := s.Exchange(t, c, servertest.AuthBasic, code, verifier).Tokens(t)
			secrets["access token"], secrets["refresh token"] = tok.Access, tok.Refresh
			// The refresh token, userinfo, introspection.
			next := s.Refresh(t, c, tok.Refresh).Tokens(t)
			secrets["rotated refresh token"], secrets["second access token"] = next.Refresh, next.Access
			s.WantUserinfo(t, "acme", next.Access, http.StatusOK)
			s.Introspect(t, c, next.Access)
			cc := s.BackChannel(t, c, "/token", servertest.AuthPost, url.Values{"grant_type": {"client_credentials"}}).Tokens(t)
			secrets["client credentials token"] = cc.Access
			s.Revoke(t, c, servertest.AuthBasic, cc.Access)

			// Trusted platform: upsert, ticket, landing.
			platform := func(op, body string) *servertest.OPResponse {
				req, _ := http.NewRequest(http.MethodPost, inst.URL+"/api/organization/acme/user/johndoe/"+op, strings.NewReader(body))
				req.Header.Set("x-org-id", "acme")
				req.Header.Set("x-api-key", fx.APIKey)
				req.Header.Set("Content-Type", "application/json")
				return s.Send(t, req)
			}
			if r := platform("update", `{"name":"John Doe"}`); r.Status != http.StatusCreated {
				t.Fatalf("update: %d %s", r.Status, r.Body)
			}
			ticket := platform("generate-token", "").Str(t, "refreshToken")
			secrets["login ticket"] = ticket
			tb := servertest.NewBrowser(t)
			tb.Follow(tb.Get(inst.URL+"/?refresh-token="+url.QueryEscape(ticket)), "")
			tb.Get(inst.URL + "/?refresh-token=" + url.QueryEscape(ticket)) // used again

			// Admin API with a token, including a refused use.
			_, adminTok, err := inst.Env.Directory.CreateAdminToken(ctx, inst.Actor, "acme", "secrets test", 0)
			if err != nil {
				t.Fatal(err)
			}
			secrets["admin token"] = adminTok
			for _, path := range []string{"/api/admin/orgs/acme/users", "/api/admin/orgs/other/users"} {
				req, _ := http.NewRequest(http.MethodGet, inst.URL+path, nil)
				req.Header.Set("Authorization", "Bearer "+adminTok)
				s.Send(t, req)
			}
			req, _ := http.NewRequest(http.MethodPost, inst.URL+"/api/admin/orgs/acme/users", strings.NewReader(`{"user_name":"carol","password":"carol's secret password"}`))
			req.Header.Set("Authorization", "Bearer "+adminTok)
			req.Header.Set("Content-Type", "application/json")
			s.Send(t, req)
			secrets["admin-set password"] = "carol's secret password"

			// RP-initiated logout with the id_token.
			s.EndSessionCall(t, "acme", url.Values{"id_token_hint": {next.ID}})
			// And the code again: a replay.
			s.Exchange(t, c, servertest.AuthBasic, code, verifier)

			var audit strings.Builder
			events, err := inst.Env.Store.ListAudit(ctx, "acme", store.AuditFilter{Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range events {
				fmt.Fprintf(&audit, "%+v\n", *e)
			}
			db := dumpAll(t, inst, backend)
			log := logs.String()
			if !strings.Contains(log, "level=DEBUG") || len(events) < 5 {
				t.Fatalf("the run logged too little to mean anything (%d bytes, %d audit events)", len(log), len(events))
			}
			for name, v := range secrets {
				if len(v) < 8 {
					t.Fatalf("secret %s is too short to search for: %q", name, v)
				}
				for where, text := range map[string]string{"server log": log, "audit log": audit.String(), "database": db} {
					if strings.Contains(text, v) || strings.Contains(text, url.QueryEscape(v)) {
						t.Errorf("the %s contains the %s", where, name)
					}
				}
			}
			t.Logf("%d secrets checked against %d bytes of debug log, %d audit events and the database", len(secrets), len(log), len(events))
		})
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// dumpAll is every row of every table as text (secrets must be hashed or
// sealed there).
func dumpAll(t *testing.T, inst *servertest.Instance, backend string) string {
	t.Helper()
	db := inst.Env.Store.(interface{ SQL() *sql.DB }).SQL()
	var b strings.Builder
	q := `SELECT name FROM sqlite_master WHERE type = 'table'`
	if backend == "postgres" {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	}
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		_ = rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	for _, table := range tables {
		rows, err := db.Query(`SELECT * FROM ` + table)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			_ = rows.Scan(ptrs...)
			for _, v := range vals {
				if bs, ok := v.([]byte); ok {
					v = string(bs)
				}
				fmt.Fprintf(&b, "%v\t", v)
			}
			b.WriteString("\n")
		}
		rows.Close()
	}
	return b.String()
}
