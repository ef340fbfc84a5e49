package scim_test

import (
	"net/http"
	"testing"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// TestSCIM_DiscoveryIsTruthful: ServiceProviderConfig says what the server
// does (patch, filter with its maximum, etag; no bulk, sort or password
// change), and ResourceTypes and Schemas describe Users, Groups and the
// enterprise extension.
func TestSCIM_DiscoveryIsTruthful(t *testing.T) {
	t.Parallel()
	inst := servertest.Start(t, "sqlite")
	c := newOrg(t, inst, "acme")
	cfg := c.do("GET", "/ServiceProviderConfig", nil).want(t, http.StatusOK)
	for path, want := range map[string]any{
		"patch.supported": true, "bulk.supported": false, "filter.supported": true, "filter.maxResults": float64(200),
		"changePassword.supported": false, "sort.supported": false, "etag.supported": true,
		"authenticationSchemes.0.type": "oauthbearertoken", "meta.location": c.base + "/ServiceProviderConfig",
	} {
		if got := cfg.get(path); got != want {
			t.Errorf("ServiceProviderConfig %s = %v, want %v", path, got, want)
		}
	}
	rts := c.do("GET", "/ResourceTypes", nil).want(t, http.StatusOK)
	if rts.get("totalResults") != float64(2) || rts.str("Resources.0.endpoint") != "/Users" || rts.str("Resources.1.endpoint") != "/Groups" ||
		rts.str("Resources.0.schemaExtensions.0.schema") != "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User" {
		t.Errorf("ResourceTypes: %s", rts.raw)
	}
	c.do("GET", "/ResourceTypes/User", nil).want(t, http.StatusOK)
	c.do("GET", "/ResourceTypes/Device", nil).wantError(t, http.StatusNotFound, "")

	schemas := c.do("GET", "/Schemas", nil).want(t, http.StatusOK)
	if schemas.get("totalResults") != float64(3) {
		t.Fatalf("Schemas: %s", schemas.raw)
	}
	user := c.do("GET", "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", nil).want(t, http.StatusOK)
	attrs, _ := user.body["attributes"].([]any)
	names := map[string]map[string]any{}
	for _, a := range attrs {
		m := a.(map[string]any)
		names[m["name"].(string)] = m
	}
	for _, want := range []string{"id", "externalId", "userName", "name", "displayName", "active", "emails", "photos", "groups"} {
		if names[want] == nil {
			t.Errorf("User schema lacks %s", want)
		}
	}
	for _, notKept := range []string{"password", "phoneNumbers", "title"} {
		if names[notKept] != nil {
			t.Errorf("User schema advertises %s, which is not kept", notKept)
		}
	}
	if u := names["userName"]; u["uniqueness"] != "server" || u["required"] != true || u["caseExact"] != false {
		t.Errorf("userName attribute %v", u)
	}
	if id := names["id"]; id["mutability"] != "readOnly" {
		t.Errorf("id attribute %v", id)
	}
	c.do("GET", "/Schemas/urn:example:nothing", nil).wantError(t, http.StatusNotFound, "")
}
