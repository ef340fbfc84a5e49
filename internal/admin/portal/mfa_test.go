package portal_test

import (
	"net/http"
	"testing"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

func TestAuthenticationSettings_MFAPolicySavedAndInvalidShownNextToIt(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := start(t, backend)
			b, _ := e.signIn("acme", "ada")
			page := e.portal("acme") + "/settings/authentication"
			p := b.Get(page)
			expectContains(t, p, `<label for="mfa">Second factor (MFA)</label>`, `<option value="optional" selected>`)
			for _, bad := range []string{"sometimes", "", "OFF"} {
				p = submit(t, b, page, "/authentication/mfa", map[string]string{"mfa": bad})
				expectStatus(t, p, http.StatusBadRequest)
				if fieldError(p, "mfa") == "" {
					t.Fatalf("%q: no message next to the select:\n%s", bad, p.Body)
				}
				expectContains(t, p, `aria-describedby="mfa-error mfa-hint"`)
				if got := e.org("acme").Settings.MFA; got != domain.MFAOptional {
					t.Fatalf("%q saved: %q", bad, got)
				}
			}
			for _, policy := range []string{domain.MFARequired, domain.MFAAdmins, domain.MFAOff} {
				p = submit(t, b, page, "/authentication/mfa", map[string]string{"mfa": policy})
				expectStatus(t, p, http.StatusSeeOther)
				if got := e.org("acme").Settings.MFA; got != policy {
					t.Fatalf("saved %q, want %q", got, policy)
				}
				expectContains(t, b.Get(p.Location), "Second factor policy saved", `<option value="`+policy+`" selected>`)
			}
			events, _ := e.audit(t.Context(), 1)
			if events[0].Action != "org.update" || events[0].Detail["mfa_to"] != domain.MFAOff {
				t.Fatalf("latest audit event %+v", events[0])
			}
		})
	}
}
