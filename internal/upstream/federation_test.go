package upstream_test

import (
	"context"
	"html"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

// TestFederatedLogin_KnownUserSignsInThroughTheUpstreamIdP: an application
// of acme signs alice in through acme's upstream IdP, whether the upstream
// puts preferred_username in the id_token or only serves it at userinfo,
// on each store.
func TestFederatedLogin_KnownUserSignsInThroughTheUpstreamIdP(t *testing.T) {
	t.Parallel()
	for _, backend := range servertest.Backends {
		for _, v := range []struct {
			name            string
			claimsInIDToken bool
		}{{"username_in_id_token", true}, {"username_only_in_userinfo", false}} {
			t.Run(backend+"/"+v.name, func(t *testing.T) {
				t.Parallel()
				f := startFed(t, backend, fedOptions{ClaimsInIDToken: v.claimsInIDToken})
				acme, inst := f.acme(), f.inst
				ctx := context.Background()

				b := servertest.NewBrowser(t)
				tok, c := acme.app.login(t, b)

				// The application sees the Latchkey user, not the upstream one.
				if c.Subject != acme.fx.Sub || c.PreferredUsername != "alice" || !slices.Equal(c.AMR, []string{"fed"}) {
					t.Fatalf("application id_token: sub %q preferred_username %q amr %v; want %q alice [fed]",
						c.Subject, c.PreferredUsername, c.AMR, acme.fx.Sub)
				}
				ui, err := acme.app.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
				if err != nil || ui.Subject != acme.fx.Sub {
					t.Fatalf("userinfo: %+v %v", ui, err)
				}

				// What Latchkey asked the upstream for.
				req := f.up.LastAuthorizationRequest(t)
				for k, want := range map[string]string{
					"client_id": upstreamClientID("acme"), "redirect_uri": acme.iss + "/callback", "response_type": "code",
					"scope": "openid profile email", "code_challenge_method": "S256",
				} {
					if req[k] != want {
						t.Errorf("upstream authorization request %s = %q, want %q (all: %v)", k, req[k], want, req)
					}
				}
				for _, k := range []string{"state", "nonce", "code_challenge"} {
					if len(req[k]) < 22 {
						t.Errorf("upstream authorization request %s = %q: missing or short", k, req[k])
					}
				}
				if req["state"] == req["nonce"] {
					t.Errorf("state and nonce are the same value %q", req["state"])
				}
				if _, ok := req["login_hint"]; ok {
					t.Errorf("login_hint sent although the application sent none: %v", req)
				}
				if _, ok := req["prompt"]; ok {
					t.Errorf("prompt sent although the application sent none: %v", req)
				}
				firstState := req["state"]

				// The first federated login links alice to the upstream identity.
				u := user(t, inst, "acme", "alice")
				if u.UpstreamIssuer != f.up.Issuer || u.UpstreamSubject != "u1" {
					t.Fatalf("alice's upstream link = %q %q, want %q u1", u.UpstreamIssuer, u.UpstreamSubject, f.up.Issuer)
				}
				wantAudit(t, inst, "acme", "user.upstream_link", "ok", "alice")
				wantAudit(t, inst, "acme", "login.upstream", "ok", "alice")
				sessions, err := inst.Env.Store.ListUserSessions(ctx, "acme", acme.fx.Sub)
				if err != nil || len(sessions) != 1 || sessions[0].UpstreamSubject != "u1" || len(sessions[0].UpstreamIDToken) == 0 {
					t.Fatalf("sessions after the federated login: %+v %v", sessions, err)
				}
				if strings.Contains(string(sessions[0].UpstreamIDToken), "eyJ") {
					t.Fatal("the upstream id_token is stored in clear")
				}

				// It is a single sign-on session like any other.
				acme.app.wantSession(t, b)

				// login_hint and prompt=login of the application reach the
				// upstream; the upstream signs in again, Latchkey renews the session.
				_, c2 := acme.app.login(t, b, oauth2.SetAuthURLParam("login_hint", "alice"), oauth2.SetAuthURLParam("prompt", "login"))
				req = f.up.LastAuthorizationRequest(t)
				if req["login_hint"] != "alice" || req["prompt"] != "login" {
					t.Fatalf("upstream authorization request login_hint %q prompt %q, want alice, login (all: %v)", req["login_hint"], req["prompt"], req)
				}
				if req["state"] == firstState {
					t.Fatal("the upstream state was reused across logins")
				}
				if c2.Subject != acme.fx.Sub || c2.SID != c.SID || c2.AuthTime < c.AuthTime {
					t.Fatalf("second login: sub %q sid %q auth_time %d; first: sid %q auth_time %d", c2.Subject, c2.SID, c2.AuthTime, c.SID, c.AuthTime)
				}
				if n := activeSessions(t, inst, "acme", "alice"); n != 1 {
					t.Fatalf("%d active sessions after a second login in the same browser", n)
				}

				// Another browser: the link is reused, not made again.
				linkEvent := audit(t, inst, "acme", "user.upstream_link")
				_, c3 := acme.app.login(t, servertest.NewBrowser(t))
				if c3.Subject != acme.fx.Sub || c3.SID == c.SID {
					t.Fatalf("login in another browser: sub %q sid %q", c3.Subject, c3.SID)
				}
				if e := audit(t, inst, "acme", "user.upstream_link"); e.ID != linkEvent.ID {
					t.Fatalf("the upstream link was recorded again: %+v", e)
				}

				// Without a pending application request, the login ends on
				// the account page.
				b = servertest.NewBrowser(t)
				p := b.Follow(b.Get(acme.iss+"/login"), acme.iss+"/account")
				if p.Location != acme.iss+"/account" {
					t.Fatalf("login without a request ended at %q (%d at %s)", p.Location, p.Status, p.URL)
				}
				if p = b.Get(p.Location); p.Status != http.StatusOK || !strings.Contains(p.Body, "<strong>alice</strong>") {
					t.Fatalf("account page: %d\n%s", p.Status, p.Body)
				}

				// With password login, the login page offers the upstream as
				// a button, which completes the application's request.
				setLoginMethod(t, inst, "acme", domain.LoginPassword)
				defer setLoginMethod(t, inst, "acme", domain.LoginUpstream)
				b = servertest.NewBrowser(t)
				fl := acme.app.request()
				p = b.Follow(b.Get(fl.url), appRedirect)
				m := regexp.MustCompile(`href="([^"]*/login/upstream\?req=[^"]+)"`).FindStringSubmatch(p.Body)
				if p.Status != http.StatusOK || m == nil {
					t.Fatalf("login page without an upstream button: %d at %s\n%s", p.Status, p.URL, p.Body)
				}
				p = b.Follow(b.Get(html.UnescapeString(m[1])), appRedirect)
				if _, c4 := acme.app.finish(t, fl, p.Location); c4.Subject != acme.fx.Sub || !slices.Equal(c4.AMR, []string{"fed"}) {
					t.Fatalf("login through the button: %+v", c4)
				}
			})
		}
	}
}
