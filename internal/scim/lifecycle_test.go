package scim_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// TestSCIM_UserLifecycle: create → filter → patch each way → replace →
// deactivate → reactivate → delete, on each store, with the user's row
// and the audit log checked along the way.
func TestSCIM_UserLifecycle(t *testing.T) {
	t.Parallel()
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			inst := servertest.Start(t, backend)
			c := newOrg(t, inst, "acme")
			ctx := context.Background()

			created := c.do("POST", "/Users", map[string]any{
				"schemas":    []string{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"},
				"userName":   "Bjorn.Jensen@example.com",
				"externalId": "ext-1",
				"name":       map[string]any{"givenName": "Bjørn", "familyName": "Jensen"},
				"emails":     []any{map[string]any{"value": "home@example.org", "type": "home"}, map[string]any{"value": "bjorn@example.com", "type": "work", "primary": true}},
				"photos":     []any{map[string]any{"value": "https://example.com/b.png", "type": "photo"}},
				"active":     true,
				"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{
					"employeeNumber": "701984", "department": "Tour Operations", "manager": map[string]any{"value": "mgr-26118915"},
				},
			}).want(t, http.StatusCreated)
			id := created.str("id")
			if id == "" || created.header.Get("Location") != c.base+"/Users/"+id || created.str("meta.location") != c.base+"/Users/"+id {
				t.Fatalf("created user: id %q Location %q meta %v", id, created.header.Get("Location"), created.get("meta"))
			}
			if created.header.Get("ETag") == "" || created.header.Get("ETag") != created.str("meta.version") {
				t.Fatalf("ETag %q, meta.version %q", created.header.Get("ETag"), created.str("meta.version"))
			}
			for path, want := range map[string]any{
				"userName": "Bjorn.Jensen@example.com", "externalId": "ext-1", "displayName": "Bjørn Jensen", "active": true,
				"emails.0.value": "bjorn@example.com", "photos.0.value": "https://example.com/b.png", "meta.resourceType": "User",
				"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.department": "Tour Operations",
			} {
				if got := created.get(path); got != want {
					t.Errorf("created %s = %v, want %v", path, got, want)
				}
			}
			u, err := inst.Env.Store.GetUser(ctx, "acme", id)
			if err != nil {
				t.Fatal(err)
			}
			if u.UserName != "Bjorn.Jensen@example.com" || u.Name != "Bjørn Jensen" || u.Email != "bjorn@example.com" || !u.EmailVerified ||
				u.Disabled || u.ExternalID != "ext-1" || u.Enterprise.EmployeeNumber != "701984" || u.Enterprise.Manager != "mgr-26118915" {
				t.Fatalf("stored user %+v", u)
			}
			wantAudit(t, inst, "acme", "user.create", "scim-token:")

			// The id is the user's OpenID Connect sub.
			got := c.do("GET", "/Users/"+id, nil).want(t, http.StatusOK)
			if got.str("id") != u.Sub || got.str("userName") != u.UserName {
				t.Fatalf("GET: %s", got.raw)
			}

			// Filters (userName compares case-insensitively).
			for _, f := range []string{
				`userName eq "bjorn.jensen@example.com"`, `externalId eq "ext-1"`, `emails.value co "@example.com"`,
				`emails[type eq "work" and value sw "bjorn"]`, `displayName ew "Jensen"`, `active eq true`,
				`meta.lastModified gt "2000-01-01T00:00:00Z"`, `not (userName eq "nobody") and (userName pr)`,
			} {
				l := c.do("GET", "/Users?filter="+url.QueryEscape(f), nil).want(t, http.StatusOK)
				if l.get("totalResults") != float64(1) || l.str("Resources.0.id") != id {
					t.Errorf("filter %s: %s", f, l.raw)
				}
			}
			if l := c.do("GET", "/Users?filter="+url.QueryEscape(`externalId eq "EXT-1"`), nil).want(t, http.StatusOK); l.get("totalResults") != float64(0) {
				t.Errorf("externalId is case-exact: %s", l.raw)
			}

			patch := func(ops ...map[string]any) *response {
				t.Helper()
				return c.do("PATCH", "/Users/"+id, map[string]any{
					"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": ops,
				}).want(t, http.StatusOK)
			}
			// replace with a path
			if r := patch(map[string]any{"op": "replace", "path": "displayName", "value": "B. Jensen"}); r.str("displayName") != "B. Jensen" {
				t.Fatalf("replace displayName: %s", r.raw)
			}
			// replace with a value filter
			r := patch(map[string]any{"op": "replace", "path": `emails[type eq "work"].value`, "value": "bj@example.com"})
			if r.str("emails.0.value") != "bj@example.com" {
				t.Fatalf("replace emails[type eq work].value: %s", r.raw)
			}
			// add without a path
			r = patch(map[string]any{"op": "add", "value": map[string]any{"externalId": "ext-2", "name.givenName": "Björn", "name.familyName": "J"}})
			if r.str("externalId") != "ext-2" || r.str("displayName") != "Björn J" {
				t.Fatalf("add without path: %s", r.raw)
			}
			// remove with a path
			r = patch(map[string]any{"op": "remove", "path": "photos"})
			if r.get("photos") != nil {
				t.Fatalf("remove photos: %s", r.raw)
			}
			// enterprise attribute by its full path
			r = patch(map[string]any{"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Sales"})
			if r.str("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.department") != "Sales" {
				t.Fatalf("replace enterprise department: %s", r.raw)
			}
			u, _ = inst.Env.Store.GetUser(ctx, "acme", id)
			if u.Email != "bj@example.com" || u.Picture != "" || u.ExternalID != "ext-2" || u.Name != "Björn J" || u.Enterprise.Department != "Sales" {
				t.Fatalf("stored after patches: %+v", u)
			}

			// PUT replaces the whole resource: what it leaves out is cleared.
			r = c.do("PUT", "/Users/"+id, map[string]any{
				"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "id": id,
				"userName": "bjensen", "displayName": "Bjørn Jensen", "active": true,
			}).want(t, http.StatusOK)
			u, _ = inst.Env.Store.GetUser(ctx, "acme", id)
			if r.str("userName") != "bjensen" || u.UserName != "bjensen" || u.Email != "" || u.ExternalID != "" || u.Enterprise.Department != "" || u.Sub != id {
				t.Fatalf("after PUT: %+v\n%s", u, r.raw)
			}

			// Deactivate, reactivate.
			r = patch(map[string]any{"op": "replace", "path": "active", "value": false})
			if u, _ = inst.Env.Store.GetUser(ctx, "acme", id); r.get("active") != false || !u.Disabled {
				t.Fatalf("deactivate: %+v %s", u, r.raw)
			}
			if l := c.do("GET", "/Users?filter="+url.QueryEscape("active eq false"), nil).want(t, http.StatusOK); l.get("totalResults") != float64(1) {
				t.Fatalf("active eq false: %s", l.raw)
			}
			r = patch(map[string]any{"op": "replace", "value": map[string]any{"active": true}})
			if u, _ = inst.Env.Store.GetUser(ctx, "acme", id); r.get("active") != true || u.Disabled {
				t.Fatalf("reactivate: %+v %s", u, r.raw)
			}

			// Delete: gone for GET, PATCH and DELETE alike.
			c.do("DELETE", "/Users/"+id, nil).want(t, http.StatusNoContent)
			c.do("GET", "/Users/"+id, nil).wantError(t, http.StatusNotFound, "")
			c.do("DELETE", "/Users/"+id, nil).wantError(t, http.StatusNotFound, "")
			if n := c.do("GET", "/Users", nil).want(t, http.StatusOK).get("totalResults"); n != float64(0) {
				t.Fatalf("users left: %v", n)
			}
			wantAudit(t, inst, "acme", "user.delete", "scim-token:")
		})
	}
}
