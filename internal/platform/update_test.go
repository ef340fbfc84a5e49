package platform_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

func TestUpdate_RejectsBadInputNamingTheFieldAndWritesNothing(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			s := startPlatform(t, backend, "acme")
			s.update(t, "johndoe", `{"name":"John Doe","role":"USER","picture":"https://example.com/a.jpg","email":"john@example.com"}`).
				want(t, http.StatusCreated)
			before := s.user(t, "acme", "johndoe")
			auditBefore := len(s.audit(t, "acme"))

			huge := `{"name":"` + strings.Repeat("a", 70<<10) + `"}`
			cases := []struct {
				name        string
				userName    string
				contentType string
				body        string
				status      int
				field       string
				message     string
			}{
				{"invalid JSON", "", "", `{"name": "John",`, 400, "body", "not valid JSON"},
				{"truncated JSON", "", "", `{"name": "Jo`, 400, "body", "not valid JSON"},
				{"not an object", "", "", `["name"]`, 400, "body", "JSON object"},
				{"a bare string", "", "", `"John"`, 400, "body", "JSON object"},
				{"data after the object", "", "", `{"name":"A"} {"name":"B"}`, 400, "body", "nothing after it"},
				{"name is a number", "", "", `{"name": 5}`, 400, "name", "must be a string or null, not a number"},
				{"name is a boolean", "", "", `{"name": true}`, 400, "name", "not a boolean"},
				{"role is an object", "", "", `{"role": {"is": "ADMIN"}}`, 400, "role", "not an object"},
				{"email is an array", "", "", `{"email": ["a@b.c"]}`, 400, "email", "not an array"},
				{"unknown role", "", "", `{"role": "OWNER"}`, 400, "role", "USER or ADMIN"},
				{"role in lower case", "", "", `{"role": "admin"}`, 400, "role", "USER or ADMIN"},
				{"empty role", "", "", `{"role": ""}`, 400, "role", "USER or ADMIN"},
				{"relative picture", "", "", `{"picture": "/avatar.jpg"}`, 400, "picture", "absolute URL"},
				{"ftp picture", "", "", `{"picture": "ftp://example.com/a.jpg"}`, 400, "picture", "http or https"},
				{"javascript picture", "", "", `{"picture": "javascript:alert(1)"}`, 400, "picture", "http or https"},
				{"picture with credentials", "", "", `{"picture": "https://u:p@example.com/a.jpg"}`, 400, "picture", "credentials"},
				{"picture too long", "", "", `{"picture": "https://example.com/` + strings.Repeat("a", 2100) + `"}`, 400, "picture", "at most 2048"},
				{"name too long", "", "", `{"name": "` + strings.Repeat("é", 201) + `"}`, 400, "name", "at most 200"},
				{"name with a control character", "", "", `{"name": "John\u0007"}`, 400, "name", "control characters"},
				{"email without @", "", "", `{"email": "john.example.com"}`, 400, "email", "email address"},
				{"email too long", "", "", `{"email": "` + strings.Repeat("a", 250) + `@example.com"}`, 400, "email", "at most 254"},
				{"invalid UTF-8 in a field", "", "", "{\"name\": \"Jo\xffhn\"}", 400, "name", "valid UTF-8"},
				{"invalid UTF-8 in an ignored field", "", "", "{\"bio\": \"\xc3\x28\"}", 400, "body", "valid UTF-8"},
				{"a field given twice", "", "", `{"name": "A", "name": "B"}`, 400, "name", "more than once"},
				{"a lone surrogate in a field", "", "", `{"name": "Jo\ud800hn"}`, 400, "name", "surrogate"},
				{"a lone low surrogate in a field", "", "", `{"email": "\udc00@example.com"}`, 400, "email", "surrogate"},
				{"a lone surrogate in an ignored field", "", "", `{"bio": "\udbff"}`, 400, "body", "surrogate"},
				{"valid fields before an invalid one", "", "", `{"name": "Changed", "picture": "nope"}`, 400, "picture", "absolute URL"},
				{"userName with a space", "john%20doe", "", `{}`, 400, "userName", "letters, digits"},
				{"userName starting with a dot", ".john", "", `{}`, 400, "userName", "start with a letter or digit"},
				{"userName too long", strings.Repeat("j", 129), "", `{}`, 400, "userName", "at most 128"},
				{"body over 64 KiB", "", "", huge, 413, "body", "larger than 65536 bytes"},
				{"form content type", "", "application/x-www-form-urlencoded", `name=John`, 415, "", "application/json"},
				{"text content type", "", "text/plain", `{"name":"John"}`, 415, "", "application/json"},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					userName := c.userName
					if userName == "" {
						userName = "johndoe"
					}
					ct := c.contentType
					if ct == "" {
						ct = "application/json"
					}
					r := s.raw(t, http.MethodPost, userPath("acme", userName, "update"), s.auth(), ct, strings.NewReader(c.body))
					if r.Status != c.status {
						t.Fatalf("status %d, want %d\n%s", r.Status, c.status, r.Body)
					}
					m := r.JSON(t)
					if m["error"] != "invalid_request" || !strings.Contains(m["message"].(string), c.message) {
						t.Fatalf("body = %s, want invalid_request mentioning %q", r.Body, c.message)
					}
					if got, _ := m["field"].(string); got != c.field {
						t.Fatalf("field = %q, want %q (%s)", got, c.field, r.Body)
					}
					if !reflect.DeepEqual(s.user(t, "acme", "johndoe"), before) {
						t.Fatalf("the user changed:\n%+v\nwas\n%+v", s.user(t, "acme", "johndoe"), before)
					}
				})
			}
			if users, err := s.inst.Env.Store.ListUsers(context.Background(), "acme", storeFilterAll()); err != nil || len(users) != 1 {
				t.Fatalf("users = %d (%v), want only johndoe", len(users), err)
			}
			// Each rejected call is audited, naming the field, not the input.
			invalid := 0
			for _, e := range s.audit(t, "acme")[:len(s.audit(t, "acme"))-auditBefore] {
				if e.Action == "platform.user.update" && e.Result == "invalid" {
					invalid++
				}
				if strings.Contains(e.Detail["field"], "John") {
					t.Fatalf("audit carries input: %+v", e)
				}
			}
			if invalid != len(cases) {
				t.Fatalf("%d rejected calls audited, want %d", invalid, len(cases))
			}
		})
	}
}

func TestUpdate_ChangesOnlyTheGivenFields(t *testing.T) {
	s := startPlatform(t, "sqlite", "acme")
	created := s.update(t, "JohnDoe", `{"name":"John Doe","role":"ADMIN","picture":"https://example.com/a.jpg","email":"john@example.com"}`).
		want(t, http.StatusCreated).JSON(t)
	if created["userName"] != "JohnDoe" || created["role"] != "ADMIN" {
		t.Fatalf("created = %v", created)
	}
	sub := created["sub"]

	steps := []struct {
		body string
		want map[string]any
	}{
		// Only name: the rest stays.
		{`{"name":"Johnny"}`, map[string]any{"name": "Johnny", "role": "ADMIN", "picture": "https://example.com/a.jpg", "email": "john@example.com"}},
		// null is "not given"; unknown fields are ignored, whatever their type.
		{`{"name":null,"role":null,"picture":null,"email":null,"karma":5,"tags":["a"],"profile":{"x":1}}`,
			map[string]any{"name": "Johnny", "role": "ADMIN", "picture": "https://example.com/a.jpg", "email": "john@example.com"}},
		// Empty strings clear.
		{`{"picture":"","email":""}`, map[string]any{"name": "Johnny", "role": "ADMIN", "picture": "", "email": ""}},
		{`{"role":"USER"}`, map[string]any{"name": "Johnny", "role": "USER"}},
		// An empty body changes nothing.
		{``, map[string]any{"name": "Johnny", "role": "USER"}},
		// A field named in another case is not that field.
		{`{"Name":"Other"}`, map[string]any{"name": "Johnny"}},
	}
	for _, st := range steps {
		// The userName is matched case-insensitively; the case given first is kept.
		m := s.update(t, "johndoe", st.body).want(t, http.StatusOK).JSON(t)
		if m["sub"] != sub || m["userName"] != "JohnDoe" || m["disabled"] != false {
			t.Fatalf("%s: %v", st.body, m)
		}
		for k, v := range st.want {
			if m[k] != v {
				t.Fatalf("%s: %s = %v, want %v (%v)", st.body, k, m[k], v, m)
			}
		}
	}
	u := s.user(t, "acme", "johndoe")
	if u.Name != "Johnny" || u.Role != "USER" || u.Picture != "" || u.Email != "" {
		t.Fatalf("stored = %+v", u)
	}
	// A missing Content-Type with a JSON body is tolerated; so is a charset.
	r := s.raw(t, http.MethodPost, userPath("acme", "johndoe", "update"), s.auth(), "", strings.NewReader(`{"name":"No Type"}`))
	if r.want(t, http.StatusOK).Str(t, "name") != "No Type" {
		t.Fatal(r.Body)
	}
	r = s.raw(t, http.MethodPost, userPath("acme", "johndoe", "update"), s.auth(), "application/json; charset=utf-8", strings.NewReader(`{"name":"Charset"}`))
	if r.want(t, http.StatusOK).Str(t, "name") != "Charset" {
		t.Fatal(r.Body)
	}
	// The update API never touches what it has no field for.
	yes := true
	if _, err := s.inst.Env.Directory.UpdateUser(context.Background(), s.inst.Actor, "acme", "johndoe", directory.UserChanges{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	if m := s.update(t, "johndoe", `{"name":"Still Disabled","disabled":false}`).want(t, http.StatusOK).JSON(t); m["disabled"] != true {
		t.Fatalf("update re-enabled the user: %v", m)
	}
}

// A platform sends its user's profile before every ticket: when nothing
// in it changed, nothing is written, and the call is still audited.
func TestUpdate_TheSameProfileAgainWritesNothingAndIsAudited(t *testing.T) {
	s := startPlatform(t, "sqlite", "acme")
	const profile = `{"name":"John Doe","role":"USER","picture":"https://example.com/a.jpg","email":"john@example.com"}`
	s.update(t, "JohnDoe", profile).want(t, http.StatusCreated)
	yes := true
	if _, err := s.inst.Env.Directory.UpdateUser(context.Background(), s.inst.Actor, "acme", "johndoe", directory.UserChanges{EmailVerified: &yes}); err != nil {
		t.Fatal(err)
	}
	before := s.user(t, "acme", "johndoe")
	lastUpdate := func() (result string, n int) {
		for _, e := range s.audit(t, "acme") {
			if e.Action == "user.update" && strings.HasPrefix(e.Actor, "api-key:") {
				if n == 0 {
					result = e.Result
				}
				n++
			}
		}
		return result, n
	}
	_, calls := lastUpdate()

	for i, body := range []string{profile, `{"name":"John Doe"}`, ``} {
		m := s.update(t, "johndoe", body).want(t, http.StatusOK).JSON(t)
		if m["updatedAt"] != before.UpdatedAt.UTC().Format("2006-01-02T15:04:05.000Z07:00") || m["name"] != "John Doe" {
			t.Fatalf("%s: answer %v, want the user as it was (%+v)", body, m, before)
		}
		if after := s.user(t, "acme", "johndoe"); *after != *before {
			t.Fatalf("%s: stored user changed:\n%+v\n%+v", body, after, before)
		}
		if result, n := lastUpdate(); result != "unchanged" || n != calls+i+1 {
			t.Fatalf("%s: last update audited %q, %d calls audited (want \"unchanged\", %d)", body, result, n, calls+i+1)
		}
	}

	// A change is written and audited as one; the address it keeps stays verified.
	m := s.update(t, "johndoe", `{"name":"Johnny","email":"john@example.com"}`).want(t, http.StatusOK).JSON(t)
	after := s.user(t, "acme", "johndoe")
	if m["name"] != "Johnny" || after.Name != "Johnny" || !after.UpdatedAt.After(before.UpdatedAt) || !after.EmailVerified {
		t.Fatalf("changed: answer %v, stored %+v", m, after)
	}
	if result, _ := lastUpdate(); result != "ok" {
		t.Fatalf("a change audited %q, want ok", result)
	}
}

func TestUpdate_BodyExactlyAtTheLimitIsRead(t *testing.T) {
	s := startPlatform(t, "sqlite", "acme")
	prefix, suffix := `{"name":"John","pad":"`, `"}`
	body := prefix + strings.Repeat("x", 64<<10-len(prefix)-len(suffix)) + suffix
	r := s.raw(t, http.MethodPost, userPath("acme", "johndoe", "update"), s.auth(), "application/json", bytes.NewReader([]byte(body)))
	r.want(t, http.StatusCreated)
	r = s.raw(t, http.MethodPost, userPath("acme", "johndoe", "update"), s.auth(), "application/json", io.MultiReader(strings.NewReader(body), strings.NewReader(" ")))
	r.want(t, http.StatusRequestEntityTooLarge)
}

func TestGenerateToken_NeedsAnExistingEnabledUser(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			s := startPlatform(t, backend, "acme")
			r := s.generate(t, "nobody").want(t, http.StatusNotFound)
			if r.Str(t, "error") != "not_found" || r.Str(t, "field") != "userName" {
				t.Fatalf("body = %s", r.Body)
			}
			s.update(t, "johndoe", `{}`).want(t, http.StatusCreated)
			yes := true
			if _, err := s.inst.Env.Directory.UpdateUser(context.Background(), s.inst.Actor, "acme", "johndoe", directory.UserChanges{Disabled: &yes}); err != nil {
				t.Fatal(err)
			}
			r = s.generate(t, "johndoe").want(t, http.StatusForbidden)
			if r.Str(t, "error") != "user_disabled" {
				t.Fatalf("body = %s", r.Body)
			}
			r = s.generate(t, "-bad").want(t, http.StatusBadRequest)
			if r.Str(t, "field") != "userName" {
				t.Fatalf("body = %s", r.Body)
			}
			// A body, if one is sent, is ignored.
			no := false
			if _, err := s.inst.Env.Directory.UpdateUser(context.Background(), s.inst.Actor, "acme", "johndoe", directory.UserChanges{Disabled: &no}); err != nil {
				t.Fatal(err)
			}
			r = s.raw(t, http.MethodPost, userPath("acme", "JOHNDOE", "generate-token"), s.auth(), "application/json", strings.NewReader(`{"ignored":true}`))
			if r.want(t, http.StatusOK).Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("headers = %v", r.Header)
			}
			results := map[string]int{}
			for _, e := range s.audit(t, "acme") {
				if e.Action == "platform.ticket.generate" {
					results[e.Result]++
					if strings.Contains(e.Target+e.Actor, r.Str(t, "refreshToken")) {
						t.Fatalf("audit carries the ticket: %+v", e)
					}
				}
			}
			if results["not_found"] != 1 || results["disabled"] != 1 || results["invalid"] != 1 || results["ok"] != 1 {
				t.Fatalf("audited generate-token results = %v", results)
			}
		})
	}
}
