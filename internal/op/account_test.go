package op_test

import (
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// The account page names the applications the session has signed in to,
// as the session's read lists them, on both backends.
func TestAccount_ListsTheApplicationsOfTheSession(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			s := startOPHost(t, backend, "localhost")
			b := servertest.NewBrowser(t)
			acct := b.Get(s.Inst.Issuer(s.Fx.Org) + "/account")
			if strings.Contains(acct.Body, "Applications in this session") {
				t.Fatalf("the account page lists applications before any sign-in:\n%s", acct.Body)
			}
			_, params := servertest.PKCE()
			if p := s.passwordStep(t, b, s.AuthorizeURL(s.Client(s.Fx), params)); !strings.HasPrefix(p.Location, servertest.OPRedirectURI) {
				t.Fatalf("the sign-in did not return to the application: %d at %s", p.Status, p.URL)
			}
			acct = b.Get(s.Inst.Issuer(s.Fx.Org) + "/account")
			if !strings.Contains(acct.Body, "Applications in this session") || !strings.Contains(acct.Body, "<li>Web</li>") {
				t.Fatalf("the account page does not list the application signed in to:\n%s", acct.Body)
			}
		})
	}
}
