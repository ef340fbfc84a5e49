package scim_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

// BenchmarkSCIM_Create measures POST /Users against a running server
// (HTTP, token check, validation, insert with its audit event, answer).
func BenchmarkSCIM_Create(b *testing.B) {
	for _, backend := range servertest.Backends {
		b.Run(backend, func(b *testing.B) {
			inst := servertest.Start(b, backend)
			c := newOrg(b, inst, "acme")
			b.ResetTimer()
			for i := range b.N {
				c.do("POST", "/Users", map[string]any{
					"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": fmt.Sprintf("user%07d", i),
					"externalId": fmt.Sprintf("ext-%d", i), "name": map[string]any{"givenName": "Bench", "familyName": fmt.Sprint(i)},
					"emails": []any{map[string]any{"value": fmt.Sprintf("user%d@example.com", i), "primary": true}}, "active": true,
				}).want(b, http.StatusCreated)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
		})
	}
}

// BenchmarkSCIM_FilteredGet measures GET /Users?filter=userName eq "…"
// (what Entra ID and Okta send before every change) in an organization of
// 2,000 users.
func BenchmarkSCIM_FilteredGet(b *testing.B) {
	const users = 2000
	for _, backend := range servertest.Backends {
		b.Run(backend, func(b *testing.B) {
			inst := servertest.Start(b, backend)
			c := newOrg(b, inst, "acme")
			ctx := context.Background()
			for i := range users {
				email := fmt.Sprintf("user%d@example.com", i)
				if _, err := inst.Env.Directory.CreateUser(ctx, inst.Actor, "acme", fmt.Sprintf("user%05d", i), directory.UserChanges{Email: &email}); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := range b.N {
				r := c.do("GET", "/Users?filter="+url.QueryEscape(fmt.Sprintf(`userName eq "USER%05d"`, i%users)), nil).want(b, http.StatusOK)
				if r.get("totalResults") != float64(1) {
					b.Fatalf("filter found %v", r.get("totalResults"))
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "GETs/s")
		})
	}
}
