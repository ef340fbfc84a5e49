package upstream_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/testkit"
)

const logoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// postLogoutToken POSTs a logout token to ISS/backchannel as an upstream
// would and returns the status.
func postLogoutToken(t *testing.T, iss string, form url.Values) int {
	t.Helper()
	resp, err := http.PostForm(iss+"/backchannel", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// signRS256 signs claims with a key the upstream never published.
func signRS256(t *testing.T, claims map[string]any) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("logout+jwt").WithHeader("kid", "not-the-upstreams"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// unsigned is claims as an alg "none" JWT.
func unsigned(claims map[string]any) string {
	enc := base64.RawURLEncoding.EncodeToString
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "logout+jwt"})
	p, _ := json.Marshal(claims)
	return enc(h) + "." + enc(p) + "."
}

// TestFederatedLogout_UpstreamBackchannelEndsTheSession: a Back-Channel
// Logout token from the upstream IdP ends the matching Latchkey session
// (and only it), which in turn notifies the organization's applications;
// a token the upstream did not sign ends nothing.
func TestFederatedLogout_UpstreamBackchannelEndsTheSession(t *testing.T) {
	t.Parallel()
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			// acme's upstream client asks for sid in logout tokens, beta's
			// does not (sub only).
			f := startFed(t, backend, fedOptions{
				UpstreamBackchannel: true, BackchannelSID: true, ExtraOrgs: []string{"beta"},
				Accounts: map[string]map[string]any{"u1": {"preferred_username": "alice"}, "u3": {"preferred_username": "carol"}},
			})
			acme, beta, inst := f.acme(), f.orgs["beta"], f.inst
			createUser(t, inst, "acme", "carol", false)

			t.Run("logout token with sid", func(t *testing.T) {
				alice := servertest.NewBrowser(t)
				tok, c := acme.app.login(t, alice)
				if s, err := inst.Env.Store.GetSession(context.Background(), "acme", c.SID); err != nil || s.UpstreamSID == "" {
					t.Fatalf("acme session lacks the upstream sid: %+v %v", s, err)
				}
				f.up.SetAutoLogin(t, "u3")
				carol := servertest.NewBrowser(t)
				carolTok, _ := acme.app.login(t, carol)
				f.up.SetAutoLogin(t, "u1")

				notified := f.up.BackchannelLogout(t, "u1", upstreamClientID("acme"))
				if len(notified) != 1 || notified[0].SID == "" {
					t.Fatalf("upstream notified %+v, want one token with a sid", notified)
				}
				// The upstream only returns once Latchkey answered 200: the
				// session is over now.
				acme.app.wantNoSession(t, alice)
				if acme.app.refreshWorks(tok) {
					t.Fatal("the refresh token survived the upstream logout")
				}
				e := wantAudit(t, inst, "acme", "logout.upstream_backchannel", "ok", "u1")
				if e.Detail["sessions"] != "1" {
					t.Fatalf("audit detail %v, want 1 session ended", e.Detail)
				}
				// The application gets a verified logout token for alice's session.
				testkit.WaitFor(t, "the application's logout token", func() bool { got, _ := acme.bc.got(); return len(got) == 1 })
				got, rejected := acme.bc.got()
				if got[0].Subject != acme.fx.Sub || got[0].SID != c.SID || len(rejected) != 0 {
					t.Fatalf("application logout token sub %q sid %q (rejected: %v), want %q %q", got[0].Subject, got[0].SID, rejected, acme.fx.Sub, c.SID)
				}
				// carol, signed in at the same upstream, is untouched.
				acme.app.wantSession(t, carol)
				if !acme.app.refreshWorks(carolTok) {
					t.Fatal("carol's refresh token died")
				}
			})

			t.Run("logout token with sub only", func(t *testing.T) {
				// alice at acme and at beta, both through u1; the upstream
				// logs u1 out of beta only.
				atAcme := servertest.NewBrowser(t)
				acme.app.login(t, atAcme)
				// alice also has a password session at beta, which is not
				// the upstream's to end.
				setLoginMethod(t, inst, "beta", domain.LoginPassword)
				withPassword := servertest.NewBrowser(t)
				fl := beta.app.request()
				cb, err := withPassword.AuthorizeAndLogin(fl.url, appRedirect, beta.fx.UserName, beta.fx.Password)
				if err != nil {
					t.Fatal(err)
				}
				pwTok, _ := beta.app.finish(t, fl, cb.String())
				setLoginMethod(t, inst, "beta", domain.LoginUpstream)
				atBeta := servertest.NewBrowser(t)
				betaTok, bc := beta.app.login(t, atBeta)
				// beta's upstream client did not ask for sid: Latchkey knows
				// only the upstream subject of this session.
				if s, err := inst.Env.Store.GetSession(context.Background(), "beta", bc.SID); err != nil || s.UpstreamSID != "" || s.UpstreamSubject != "u1" {
					t.Fatalf("beta session: %+v %v", s, err)
				}
				if notified := f.up.BackchannelLogout(t, "u1", upstreamClientID("beta")); len(notified) != 1 {
					t.Fatalf("upstream notified %+v, want one token", notified)
				}
				beta.app.wantNoSession(t, atBeta)
				if beta.app.refreshWorks(betaTok) {
					t.Fatal("beta's refresh token survived")
				}
				testkit.WaitFor(t, "beta's application's logout token", func() bool { got, _ := beta.bc.got(); return len(got) == 1 })
				if got, _ := beta.bc.got(); got[0].Subject != beta.fx.Sub {
					t.Fatalf("beta's logout token sub %q, want %q", got[0].Subject, beta.fx.Sub)
				}
				// Another organization's session of the same upstream user
				// stays, and so does alice's password session.
				acme.app.wantSession(t, atAcme)
				beta.app.wantSession(t, withPassword)
				if !beta.app.refreshWorks(pwTok) {
					t.Fatal("the password session's refresh token died")
				}
			})

			t.Run("forged logout tokens end nothing", func(t *testing.T) {
				b := servertest.NewBrowser(t)
				tok, c := acme.app.login(t, b)
				sess, err := inst.Env.Store.GetSession(context.Background(), "acme", c.SID)
				if err != nil {
					t.Fatal(err)
				}
				now := time.Now().Unix()
				claims := map[string]any{
					"iss": f.up.Issuer, "aud": upstreamClientID("acme"), "sub": "u1", "sid": sess.UpstreamSID,
					"iat": now, "exp": now + 120, "jti": "forged-1", "events": map[string]any{logoutEvent: map[string]any{}},
				}
				// A genuine upstream id_token for this very session: signed,
				// right iss and aud, but not a logout token.
				idToken, err := inst.Env.Master.Open(sess.UpstreamIDToken, "upstream-id-token/acme")
				if err != nil {
					t.Fatal(err)
				}
				eventless := signRS256(t, map[string]any{"iss": f.up.Issuer, "aud": upstreamClientID("acme"), "sub": "u1", "sid": sess.UpstreamSID, "iat": now, "exp": now + 120, "jti": "x"})
				for name, form := range map[string]url.Values{
					"no token":                   {},
					"not a JWT":                  {"logout_token": {"garbage"}},
					"unsigned":                   {"logout_token": {unsigned(claims)}},
					"signed with another key":    {"logout_token": {signRS256(t, claims)}},
					"an upstream id_token":       {"logout_token": {string(idToken)}},
					"eventless, another key":     {"logout_token": {eventless}},
					"twice":                      {"logout_token": {string(idToken), string(idToken)}},
					"for another org's audience": {"logout_token": {unsigned(map[string]any{"aud": upstreamClientID("beta")})}},
				} {
					if status := postLogoutToken(t, acme.iss, form); status != http.StatusBadRequest {
						t.Errorf("%s: status %d, want 400", name, status)
					}
				}
				acme.app.wantSession(t, b)
				if !acme.app.refreshWorks(tok) {
					t.Fatal("the refresh token died")
				}
				if got, _ := acme.bc.got(); len(got) != 1 {
					t.Fatalf("the application got %d logout tokens, want only the first test's", len(got))
				}
				// And a genuine one still works afterwards.
				f.up.BackchannelLogout(t, "u1", upstreamClientID("acme"))
				acme.app.wantNoSession(t, b)
			})

			t.Run("an organization without upstream refuses", func(t *testing.T) {
				inst.NewFixture(t, "plain", appRedirect)
				if status := postLogoutToken(t, inst.Issuer("plain"), url.Values{"logout_token": {unsigned(map[string]any{"sub": "u1"})}}); status != http.StatusBadRequest {
					t.Fatalf("status %d", status)
				}
				if status := postLogoutToken(t, inst.Issuer("no-such-org"), url.Values{"logout_token": {"x"}}); status != http.StatusNotFound {
					t.Fatalf("unknown org: status %d", status)
				}
			})
		})
	}
}
