package upstream_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/testkit"
)

// TestFederatedLogout_UpstreamLogoutTokenFromTheFutureOrReplayedIsRefused:
// organization corp is acme's upstream; logout tokens signed with corp's
// real keys are refused when issued in the future, and a token is accepted
// once only (its jti is remembered in the database).
func TestFederatedLogout_UpstreamLogoutTokenFromTheFutureOrReplayedIsRefused(t *testing.T) {
	t.Parallel()
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			inst := servertest.Start(t, backend)
			ctx := context.Background()
			acmeISS, corpISS := inst.Issuer("acme"), inst.Issuer("corp")
			corp := inst.NewFixture(t, "corp", acmeISS+"/callback")
			acme := inst.NewFixture(t, "acme", appRedirect)
			var a *app
			bc := newBackchannelRP(t, func() *oidc.Provider { return a.provider }, acme.ClientID)
			if _, err := inst.Env.Directory.UpdateApp(ctx, inst.Actor, "acme", acme.ClientID, directory.AppChanges{BackchannelLogoutURI: testkit.Ptr(bc.srv.URL + "/bc")}); err != nil {
				t.Fatal(err)
			}
			setUpstream(t, inst, "acme", directory.UpstreamChanges{
				ConfigURL: testkit.Ptr(corpISS), ClientID: testkit.Ptr(corp.ClientID), ClientSecret: testkit.Ptr(corp.ClientSecret), DisplayName: testkit.Ptr("Corp"),
			}, true)
			a = newApp(t, acmeISS, acme)
			b := servertest.NewBrowser(t)
			fl := a.request()
			p := b.Follow(b.Get(fl.url), appRedirect)
			if p.Status != http.StatusOK || !strings.HasPrefix(p.URL.String(), corpISS+"/login") {
				t.Fatalf("expected corp's login page, got %d at %s", p.Status, p.URL)
			}
			_, c := a.finish(t, fl, b.Follow(b.Login(p, corp.UserName, corp.Password), appRedirect).Location)
			sess, err := inst.Env.Store.GetSession(ctx, "acme", c.SID)
			if err != nil || sess.UpstreamSID == "" {
				t.Fatalf("acme session %+v %v", sess, err)
			}
			logoutToken := func(iat time.Time, jti string) string {
				tok, err := inst.Env.Keys.Sign(ctx, "corp", "RS256", "logout+jwt", map[string]any{
					"iss": corpISS, "aud": corp.ClientID, "sub": corp.Sub, "sid": sess.UpstreamSID, "iat": iat.Unix(),
					"exp": iat.Add(2 * time.Minute).Unix(), "jti": jti, "events": map[string]any{logoutEvent: map[string]any{}},
				})
				if err != nil {
					t.Fatal(err)
				}
				return tok
			}
			if status := postLogoutToken(t, acmeISS, url.Values{"logout_token": {logoutToken(time.Now().Add(10*time.Minute), "from-the-future")}}); status != http.StatusBadRequest {
				t.Fatalf("a logout token issued in ten minutes: status %d, want 400", status)
			}
			if status := postLogoutToken(t, acmeISS, url.Values{"logout_token": {logoutToken(time.Now(), "")}}); status != http.StatusBadRequest {
				t.Fatalf("a logout token without jti: status %d, want 400", status)
			}
			a.wantSession(t, b)
			tok := logoutToken(time.Now(), "once-only")
			if status := postLogoutToken(t, acmeISS, url.Values{"logout_token": {tok}}); status != http.StatusOK {
				t.Fatalf("a genuine logout token: status %d", status)
			}
			a.wantNoSession(t, b)
			if status := postLogoutToken(t, acmeISS, url.Values{"logout_token": {tok}}); status != http.StatusBadRequest {
				t.Fatalf("the same logout token again: status %d, want 400", status)
			}
		})
	}
}
