package scim_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// TestSCIM_BadInput: malformed JSON, unknown attributes, wrong types,
// filter injection attempts, huge filters and invalid UTF-8 each get the
// right SCIM error (or, for a filter that is valid but hostile, an honest
// empty result), and change no row.
func TestSCIM_BadInput(t *testing.T) {
	t.Parallel()
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			inst := servertest.Start(t, backend)
			c := newOrg(t, inst, "acme")
			id := c.do("POST", "/Users", newUser("alice")).want(t, http.StatusCreated).str("id")
			c.do("POST", "/Users", newUser("bob")).want(t, http.StatusCreated)
			gid := c.do("POST", "/Groups", map[string]any{"displayName": "Staff"}).want(t, http.StatusCreated).str("id")
			before := snapshot(t, inst, "acme")
			user := "/Users/" + id

			filter := func(f string) string { return "/Users?filter=" + url.QueryEscape(f) }
			for _, tc := range []struct {
				name         string
				method, path string
				body         any
				status       int
				scimType     string
			}{
				// Malformed JSON.
				{"empty body", "POST", "/Users", "", 400, "invalidSyntax"},
				{"truncated", "POST", "/Users", `{"userName":"x"`, 400, "invalidSyntax"},
				{"trailing garbage", "POST", "/Users", `{"userName":"x"} {}`, 400, "invalidSyntax"},
				{"array body", "POST", "/Users", `[{"userName":"x"}]`, 400, "invalidSyntax"},
				{"string body", "PUT", user, `"alice"`, 400, "invalidSyntax"},
				{"patch not JSON", "PATCH", user, `{"Operations": [`, 400, "invalidSyntax"},
				{"deeply nested", "POST", "/Users", strings.Repeat(`{"a":`, 100000) + "1" + strings.Repeat("}", 100000), 400, "invalidSyntax"},
				// Invalid UTF-8.
				{"invalid UTF-8 in body", "POST", "/Users", "{\"userName\":\"x\xff\xfe\"}", 400, "invalidSyntax"},
				{"invalid UTF-8 in filter", "GET", "/Users?filter=userName%20eq%20%22%ff%22", nil, 400, "invalidFilter"},
				// Unknown attributes.
				{"unknown top-level attribute", "POST", "/Users", `{"userName":"x","isAdmin":true}`, 400, "invalidSyntax"},
				{"unknown sub-attribute", "POST", "/Users", `{"userName":"x","name":{"nick":"y"}}`, 400, "invalidSyntax"},
				{"unknown extension schema", "POST", "/Users", `{"schemas":["urn:example:evil"],"userName":"x"}`, 400, "invalidValue"},
				{"unknown extension attribute", "POST", "/Users", `{"userName":"x","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"salary":1}}`, 400, "invalidSyntax"},
				{"unknown patch member", "PATCH", user, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"displayName","value":"x","when":"now"}]}`, 400, "invalidSyntax"},
				{"unknown group attribute", "POST", "/Groups", `{"displayName":"x","owner":"me"}`, 400, "invalidSyntax"},
				// Wrong types.
				{"userName a number", "POST", "/Users", `{"userName":42}`, 400, "invalidValue"},
				{"userName null", "POST", "/Users", `{"userName":null}`, 400, "invalidValue"},
				{"userName missing", "POST", "/Users", `{"displayName":"x"}`, 400, "invalidValue"},
				{"active a number", "POST", "/Users", `{"userName":"x","active":1}`, 400, "invalidValue"},
				{"emails an object", "POST", "/Users", `{"userName":"x","emails":{"value":"x@example.com"}}`, 400, "invalidValue"},
				{"email value a number", "POST", "/Users", `{"userName":"x","emails":[{"value":5}]}`, 400, "invalidValue"},
				{"name a string", "POST", "/Users", `{"userName":"x","name":"X"}`, 400, "invalidValue"},
				{"Operations an object", "PATCH", user, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":{"op":"add"}}`, 400, "invalidValue"},
				{"path a number", "PATCH", user, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":5,"value":"x"}]}`, 400, "invalidPath"},
				{"members not a list", "PATCH", "/Groups/" + gid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":"x"}]}`, 400, "invalidValue"},
				{"group without displayName", "POST", "/Groups", `{"members":[]}`, 400, "invalidValue"},
				{"over-long displayName", "PATCH", user, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"displayName","value":"` + strings.Repeat("x", 201) + `"}]}`, 400, "invalidValue"},
				{"control character", "POST", "/Users", `{"userName":"x","displayName":"a\u0000b"}`, 400, "invalidValue"},
				{"member id with NUL", "PATCH", "/Groups/" + gid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"a\u0000b"}]}]}`, 400, "invalidValue"},
				{"id with NUL", "GET", "/Users/a%00b", nil, 404, ""},
				{"id not UTF-8", "DELETE", "/Users/%ff%fe", nil, 404, ""},
				{"group id not UTF-8", "PUT", "/Groups/%ff", `{"displayName":"x"}`, 404, ""},
				// Filter injection attempts and huge filters.
				{"filter with SQL", "GET", filter(`userName eq "x" OR 1=1 --`), nil, 400, "invalidFilter"},
				{"filter with a semicolon statement", "GET", filter(`userName eq "x"; DROP TABLE users`), nil, 400, "invalidFilter"},
				{"filter naming a column", "GET", filter(`password_hash pr`), nil, 400, "invalidFilter"},
				{"filter with NUL", "GET", filter(`externalId eq "\u0000"`), nil, 400, "invalidFilter"},
				{"filter naming an org", "GET", filter(`org_id eq "globex"`), nil, 400, "invalidFilter"},
				{"huge filter", "GET", filter(strings.Repeat(`(`, 3000) + `userName pr` + strings.Repeat(`)`, 3000)), nil, 400, "tooMany"},
				{"many terms", "GET", filter(strings.Repeat(`userName eq "a" and `, 100) + `userName pr`), nil, 400, "tooMany"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					c.do(tc.method, tc.path, tc.body).wantError(t, tc.status, tc.scimType)
					if after := snapshot(t, inst, "acme"); after != before {
						t.Fatalf("changed rows:\nbefore %s\nafter  %s", before, after)
					}
				})
			}

			// Valid filters carrying SQL or LIKE syntax match it literally.
			for _, f := range []string{
				`userName eq "alice' OR '1'='1"`, `userName eq "alice\" or \"1\" eq \"1"`, `userName co "%"`, `userName sw "_"`,
				`userName ew "\\"`, `displayName co "'); DELETE FROM users; --"`,
			} {
				r := c.do("GET", filter(f), nil).want(t, http.StatusOK)
				if r.get("totalResults") != float64(0) {
					t.Errorf("filter %s matched: %s", f, r.raw)
				}
			}
			if after := snapshot(t, inst, "acme"); after != before {
				t.Fatalf("filters changed rows")
			}
		})
	}
}
