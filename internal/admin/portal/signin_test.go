package portal_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

func TestSignIn_AdminGetsOverview(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := start(t, backend)
			_, p := e.signIn("acme", "ada")
			expectStatus(t, p, http.StatusOK)
			expectContains(t, p, "Other endpoints", e.inst.Issuer("acme")+"/end_session", e.inst.Issuer("acme")+"/callback", "ada")
			if csp := p.Header.Get("Content-Security-Policy"); csp == "" || !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
				t.Fatalf("CSP %q", csp)
			}
			if got := p.Header.Get("Referrer-Policy"); got != "same-origin" {
				t.Fatalf("Referrer-Policy %q", got)
			}
		})
	}
}

func TestSignIn_NonAdminIsRefused(t *testing.T) {
	e := start(t, "sqlite")
	_, p := e.signIn("acme", "bob")
	expectStatus(t, p, http.StatusForbidden)
	expectContains(t, p, "not an administrator of Org acme")
}

func TestSignIn_AdminOfAnotherOrgGets404(t *testing.T) {
	e := start(t, "sqlite")
	b, _ := e.signIn("other", "olga")
	for _, path := range []string{"/", "/settings/sso", "/apps/", "/users/", "/audit"} {
		expectStatus(t, b.Get(e.portal("acme")+path), http.StatusNotFound)
	}
	expectStatus(t, b.Get(e.inst.URL+"/admin/o/missing/"), http.StatusNotFound)
	_ = context.Background()
}

// With SSO off every sign-in asks for credentials, the portal's included;
// it still works and its session still rides on the new SSO session.
func TestSignIn_WorksWithSSOOff(t *testing.T) {
	e := start(t, "sqlite")
	off := false
	if _, err := e.d.UpdateOrg(context.Background(), e.inst.Actor, "acme", directory.OrgChanges{SSOEnabled: &off}); err != nil {
		t.Fatal(err)
	}
	b, p := e.signIn("acme", "ada")
	expectStatus(t, p, http.StatusOK)
	expectContains(t, p, "Other endpoints")
	expectStatus(t, b.Get(e.portal("acme")+"/users/"), http.StatusOK)
}
