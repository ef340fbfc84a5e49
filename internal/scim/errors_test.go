package scim_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/store"
)

func patchBody(ops ...map[string]any) map[string]any {
	return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": ops}
}

func newUser(userName string) map[string]any {
	return map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": userName, "active": true}
}

// TestSCIM_ErrorTypes: each RFC 7644 §3.12 error the server answers, with
// its status and scimType, and nothing written.
func TestSCIM_ErrorTypes(t *testing.T) {
	t.Parallel()
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			inst := servertest.Start(t, backend)
			c := newOrg(t, inst, "acme")
			id := c.do("POST", "/Users", newUser("alice")).want(t, http.StatusCreated).str("id")
			c.do("POST", "/Users", newUser("carol")).want(t, http.StatusCreated)
			gid := c.do("POST", "/Groups", map[string]any{"displayName": "Staff"}).want(t, http.StatusCreated).str("id")
			before := snapshot(t, inst, "acme")
			etag := c.do("GET", "/Users/"+id, nil).header.Get("ETag")

			deep := strings.Repeat(`userName eq "x" or `, 60) + `userName eq "y"`
			for _, tc := range []struct {
				name         string
				method, path string
				body         any
				header       []string
				status       int
				scimType     string
			}{
				{"uniqueness: duplicate userName, other case", "POST", "/Users", newUser("ALICE"), nil, 409, "uniqueness"},
				{"uniqueness: rename onto another user", "PATCH", "/Users/" + id, patchBody(map[string]any{"op": "replace", "path": "userName", "value": "Carol"}), nil, 409, "uniqueness"},
				{"uniqueness: duplicate group displayName", "POST", "/Groups", map[string]any{"displayName": "staff"}, nil, 409, "uniqueness"},
				{"invalidFilter: syntax", "GET", "/Users?filter=" + url.QueryEscape(`userName eq`), nil, nil, 400, "invalidFilter"},
				{"invalidFilter: unknown attribute", "GET", "/Users?filter=" + url.QueryEscape(`password eq "x"`), nil, nil, 400, "invalidFilter"},
				{"invalidFilter: wrong value type", "GET", "/Users?filter=" + url.QueryEscape(`active eq "maybe"`), nil, nil, 400, "invalidFilter"},
				{"invalidFilter: bad date", "GET", "/Users?filter=" + url.QueryEscape(`meta.lastModified gt "yesterday"`), nil, nil, 400, "invalidFilter"},
				{"tooMany: filter with too many terms", "GET", "/Users?filter=" + url.QueryEscape(deep), nil, nil, 400, "tooMany"},
				{"tooMany: filter too long", "GET", "/Users?filter=" + url.QueryEscape(`userName eq "`+strings.Repeat("a", 5000)+`"`), nil, nil, 400, "tooMany"},
				{"invalidPath: unknown attribute", "PATCH", "/Users/" + id, patchBody(map[string]any{"op": "replace", "path": "shoeSize", "value": "44"}), nil, 400, "invalidPath"},
				{"invalidPath: unparsable", "PATCH", "/Users/" + id, patchBody(map[string]any{"op": "replace", "path": `emails[type eq`, "value": "x"}), nil, 400, "invalidPath"},
				{"invalidPath: unknown sub-attribute", "PATCH", "/Users/" + id, patchBody(map[string]any{"op": "replace", "path": "name.nick", "value": "x"}), nil, 400, "invalidPath"},
				{"noTarget: remove without path", "PATCH", "/Users/" + id, patchBody(map[string]any{"op": "remove"}), nil, 400, "noTarget"},
				{"invalidValue: userName not valid", "POST", "/Users", newUser("no spaces allowed"), nil, 400, "invalidValue"},
				{"invalidValue: active not a boolean", "PATCH", "/Users/" + id, patchBody(map[string]any{"op": "replace", "path": "active", "value": "perhaps"}), nil, 400, "invalidValue"},
				{"invalidValue: op unknown", "PATCH", "/Users/" + id, patchBody(map[string]any{"op": "merge", "path": "active", "value": true}), nil, 400, "invalidValue"},
				{"invalidValue: photo not a URL", "PATCH", "/Users/" + id, patchBody(map[string]any{"op": "add", "path": "photos", "value": []any{map[string]any{"value": "javascript:alert(1)"}}}), nil, 400, "invalidValue"},
				{"invalidValue: member of another org or none", "PATCH", "/Groups/" + gid, patchBody(map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": "no-such-user"}}}), nil, 400, "invalidValue"},
				{"mutability: change id by PATCH", "PATCH", "/Users/" + id, patchBody(map[string]any{"op": "replace", "path": "id", "value": "mine"}), nil, 400, "mutability"},
				{"mutability: change id by PUT", "PUT", "/Users/" + id, map[string]any{"id": "mine", "userName": "alice"}, nil, 400, "mutability"},
				{"mutability: meta", "PATCH", "/Users/" + id, patchBody(map[string]any{"op": "replace", "path": "meta.created", "value": "2000-01-01T00:00:00Z"}), nil, 400, "mutability"},
				{"invalidSyntax: not JSON", "POST", "/Users", `{"userName": "bob"`, nil, 400, "invalidSyntax"},
				{"invalidSyntax: unknown attribute", "POST", "/Users", map[string]any{"userName": "bob", "shoeSize": 44}, nil, 400, "invalidSyntax"},
				{"not found", "GET", "/Users/no-such-id", nil, nil, 404, ""},
				{"not found: group", "PATCH", "/Groups/no-such-id", patchBody(map[string]any{"op": "replace", "path": "displayName", "value": "x"}), nil, 404, ""},
				{"precondition failed: stale If-Match", "PUT", "/Users/" + id, newUser("alice2"), []string{"If-Match", `W/"1"`}, 412, ""},
				{"unsupported media type", "POST", "/Users", newUser("bob"), []string{"Content-Type", "text/plain"}, 415, "invalidSyntax"},
				{"body too large", "POST", "/Users", `{"userName": "bob", "displayName": "` + strings.Repeat("x", 1<<20) + `"}`, nil, 413, ""},
				{"method not allowed", "POST", "/Users/" + id, newUser("bob"), nil, 405, ""},
				{"bulk not supported", "POST", "/Bulk", map[string]any{}, nil, 501, ""},
			} {
				t.Run(tc.name, func(t *testing.T) {
					c.do(tc.method, tc.path, tc.body, tc.header...).wantError(t, tc.status, tc.scimType)
					if after := snapshot(t, inst, "acme"); after != before {
						t.Fatalf("a refused request changed the organization:\nbefore %s\nafter  %s", before, after)
					}
				})
			}
			// The current ETag does match.
			c.do("PATCH", "/Users/"+id, patchBody(map[string]any{"op": "replace", "path": "displayName", "value": "Alice"}), "If-Match", etag).want(t, http.StatusOK)

			// Without a token, with a wrong one, a revoked one or an expired one: 401.
			ctx := context.Background()
			for name, token := range map[string]string{
				"none": "", "garbage": "lk_scim_acme.nope", "admin-shaped": "lk_adm_acme.x",
			} {
				bad := *c
				bad.token = token
				r := bad.do("GET", "/Users", nil, "Authorization", map[bool]string{true: "", false: "Bearer " + token}[token == ""])
				r.wantError(t, http.StatusUnauthorized, "")
				if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("%s: WWW-Authenticate %q", name, r.header.Get("WWW-Authenticate"))
				}
			}
			tok, plain, err := inst.Env.Directory.CreateSCIMToken(ctx, inst.Actor, "acme", "short", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			short := *c
			short.token = plain
			short.do("GET", "/Users", nil).want(t, http.StatusOK)
			inst.Clock.Advance(2 * time.Hour)
			short.do("GET", "/Users", nil).wantError(t, http.StatusUnauthorized, "")
			if err := inst.Env.Directory.RevokeSCIMToken(ctx, inst.Actor, "acme", tok.ID); err != nil {
				t.Fatal(err)
			}
			short.do("GET", "/Users", nil).wantError(t, http.StatusUnauthorized, "")
			events, _ := inst.Env.Store.ListAudit(ctx, "acme", store.AuditFilter{Limit: 10})
			found := false
			for _, e := range events {
				if e.Actor == "scim-token:"+tok.ID && e.Result == "token_revoked" {
					found = true
				}
			}
			if !found {
				t.Errorf("the revoked token's use is not in the audit log")
			}
		})
	}
}

// TestSCIM_Pagination: totalResults counts every match, startIndex is
// 1-based, itemsPerPage is what this page holds, count is capped.
func TestSCIM_Pagination(t *testing.T) {
	t.Parallel()
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			inst := servertest.Start(t, backend)
			c := newOrg(t, inst, "acme")
			for i := range 7 {
				c.do("POST", "/Users", newUser(fmt.Sprintf("user%02d", i))).want(t, http.StatusCreated)
			}
			c.do("POST", "/Users", newUser("other")).want(t, http.StatusCreated)
			f := "&filter=" + url.QueryEscape(`userName sw "user"`)
			for _, tc := range []struct {
				query                    string
				total, items, startIndex int
				first                    string
			}{
				{"?startIndex=1&count=3" + f, 7, 3, 1, "user00"},
				{"?startIndex=4&count=3" + f, 7, 3, 4, "user03"},
				{"?startIndex=7&count=3" + f, 7, 1, 7, "user06"},
				{"?startIndex=8&count=3" + f, 7, 0, 8, ""},
				{"?startIndex=0&count=2" + f, 7, 2, 1, "user00"},
				{"?startIndex=-5" + f, 7, 7, 1, "user00"},
				{"?count=0" + f, 7, 0, 1, ""},
				{"?count=-1" + f, 7, 0, 1, ""},
				{"?count=100000", 8, 8, 1, "other"},
				{"", 8, 8, 1, "other"},
			} {
				r := c.do("GET", "/Users"+tc.query, nil).want(t, http.StatusOK)
				res, _ := r.body["Resources"].([]any)
				if r.get("totalResults") != float64(tc.total) || r.get("itemsPerPage") != float64(tc.items) ||
					r.get("startIndex") != float64(tc.startIndex) || len(res) != tc.items || r.str("Resources.0.userName") != tc.first {
					t.Errorf("%s: totalResults %v itemsPerPage %v startIndex %v (%d resources, first %q); want %d %d %d first %q",
						tc.query, r.get("totalResults"), r.get("itemsPerPage"), r.get("startIndex"), len(res), r.str("Resources.0.userName"),
						tc.total, tc.items, tc.startIndex, tc.first)
				}
				if schemas, _ := r.body["schemas"].([]any); len(schemas) != 1 || schemas[0] != "urn:ietf:params:scim:api:messages:2.0:ListResponse" {
					t.Errorf("list schemas %v", r.body["schemas"])
				}
			}
			c.do("GET", "/Users?count=ten", nil).wantError(t, http.StatusBadRequest, "invalidValue")
		})
	}
}

// TestSCIM_OrganizationIsolation: acme's token sees and changes nothing of
// globex; globex's ids are as missing as unknown ones.
func TestSCIM_OrganizationIsolation(t *testing.T) {
	t.Parallel()
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			inst := servertest.Start(t, backend)
			acme, globex := newOrg(t, inst, "acme"), newOrg(t, inst, "globex")
			theirs := globex.do("POST", "/Users", newUser("bob")).want(t, http.StatusCreated).str("id")
			theirGroup := globex.do("POST", "/Groups", map[string]any{"displayName": "Globex staff", "members": []any{map[string]any{"value": theirs}}}).
				want(t, http.StatusCreated).str("id")
			before := snapshot(t, inst, "globex")

			// acme's token on globex's URLs: refused as unknown.
			stolen := *globex
			stolen.token = acme.token
			stolen.do("GET", "/Users", nil).wantError(t, http.StatusUnauthorized, "")
			stolen.do("DELETE", "/Users/"+theirs, nil).wantError(t, http.StatusUnauthorized, "")

			// globex's ids through acme's endpoint: not found, never changed.
			acme.do("GET", "/Users/"+theirs, nil).wantError(t, http.StatusNotFound, "")
			acme.do("PUT", "/Users/"+theirs, newUser("bob")).wantError(t, http.StatusNotFound, "")
			acme.do("PATCH", "/Users/"+theirs, patchBody(map[string]any{"op": "replace", "path": "active", "value": false})).wantError(t, http.StatusNotFound, "")
			acme.do("DELETE", "/Users/"+theirs, nil).wantError(t, http.StatusNotFound, "")
			acme.do("GET", "/Groups/"+theirGroup, nil).wantError(t, http.StatusNotFound, "")
			acme.do("DELETE", "/Groups/"+theirGroup, nil).wantError(t, http.StatusNotFound, "")
			// Nor can acme put globex's user in its own group.
			acme.do("POST", "/Groups", map[string]any{"displayName": "Spies", "members": []any{map[string]any{"value": theirs}}}).
				wantError(t, http.StatusBadRequest, "invalidValue")
			// Filters and lists see acme only; the same userName is free in acme.
			if r := acme.do("GET", "/Users?filter="+url.QueryEscape(`userName eq "bob"`), nil).want(t, http.StatusOK); r.get("totalResults") != float64(0) {
				t.Fatalf("acme sees globex's bob: %s", r.raw)
			}
			if r := acme.do("GET", "/Groups", nil).want(t, http.StatusOK); r.get("totalResults") != float64(0) {
				t.Fatalf("acme sees globex's groups: %s", r.raw)
			}
			acme.do("POST", "/Users", newUser("bob")).want(t, http.StatusCreated)
			if after := snapshot(t, inst, "globex"); after != before {
				t.Fatalf("acme changed globex:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}
