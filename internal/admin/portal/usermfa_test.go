package portal_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

func TestUsers_SecondFactorsListedAndResetEndsSessions(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := start(t, backend)
			ctx := context.Background()
			bob, _ := e.d.GetUser(ctx, "acme", "bob")
			now := time.Now().UTC().Truncate(time.Second)
			st := e.d.Store
			e.signIn("acme", "bob") // a live session of bob's, before his factors exist
			if s, _ := e.d.ListUserSessions(ctx, "acme", "bob"); len(s) == 0 {
				t.Fatal("bob has no session")
			}
			if err := st.CreatePasskey(ctx, &domain.Passkey{OrgID: "acme", UserSub: bob.Sub, ID: []byte("cred-1"), Name: "Work laptop",
				PublicKey: []byte("pk"), Transports: []string{"internal"}, CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
			if err := st.PutTOTP(ctx, &domain.TOTPFactor{OrgID: "acme", UserSub: bob.Sub, Sealed: []byte("sealed"), CreatedAt: now, ConfirmedAt: now}); err != nil {
				t.Fatal(err)
			}
			var codes []*domain.RecoveryCode
			for _, h := range []string{"a", "b", "c"} {
				codes = append(codes, &domain.RecoveryCode{OrgID: "acme", UserSub: bob.Sub, Hash: []byte(h), CreatedAt: now})
			}
			if err := st.ReplaceRecoveryCodes(ctx, "acme", bob.Sub, codes); err != nil {
				t.Fatal(err)
			}

			b, _ := e.signIn("acme", "ada")
			page := e.portal("acme") + "/users/bob/"
			p := b.Get(page)
			expectContains(t, p, "Second factors", "<td>Work laptop</td><td>"+now.Format(time.RFC3339)+"</td><td>never</td>",
				"<dt>One-time code app</dt><dd>set up</dd>", "<dt>Recovery codes left</dt><dd>3</dd>",
				`<label for="confirm">Yes, reset the second factors of bob</label>`, "ends all of the user's sessions: the user must sign in again")

			// Without the confirmation nothing is removed.
			f := form(t, p, "/reset-mfa")
			f.Values.Del("confirm")
			p = b.Submit(f, nil)
			expectStatus(t, p, http.StatusBadRequest)
			if fieldError(p, "confirm") == "" {
				t.Fatalf("no message next to the confirmation:\n%s", p.Body)
			}
			expectContains(t, p, `aria-describedby="confirm-error confirm-hint"`)
			if m, _ := e.d.UserMFA(ctx, "acme", "bob"); len(m.Passkeys) != 1 || !m.TOTP || m.RecoveryCodesLeft != 3 {
				t.Fatalf("reset without confirmation: %+v", m)
			}

			p = submit(t, b, page, "/reset-mfa", map[string]string{"confirm": "yes"})
			expectStatus(t, p, http.StatusSeeOther)
			expectContains(t, b.Get(p.Location), "Second factors reset", "No passkeys.", "<dd>not set up</dd>", "<dt>Recovery codes left</dt><dd>0</dd>")
			if m, _ := e.d.UserMFA(ctx, "acme", "bob"); len(m.Passkeys) != 0 || m.TOTP || m.RecoveryCodesLeft != 0 {
				t.Fatalf("not reset: %+v", m)
			}
			if s, _ := e.d.ListUserSessions(ctx, "acme", "bob"); len(s) != 0 {
				t.Fatalf("%d sessions left after the reset", len(s))
			}
			events, _ := e.audit(ctx, 5)
			found := false
			for _, ev := range events {
				found = found || (ev.Action == "user.mfa.reset" && ev.Actor == "ada" && ev.Detail["passkeys"] == "1")
			}
			if !found {
				t.Fatal("reset not audited")
			}
			// Another organization's admin cannot reach bob.
			olga, _ := e.signIn("other", "olga")
			expectStatus(t, olga.Get(page), http.StatusNotFound)
		})
	}
}
