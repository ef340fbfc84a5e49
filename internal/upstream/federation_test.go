package upstream_test

import (
	"context"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/upstream/upstreamtest"
)

func TestFederatedLogin_KnownUserSignsInThroughTheUpstreamIdP(t *testing.T) {
	inst := servertest.Start(t, "sqlite")
	fx := inst.NewFixture(t, "acme", "http://127.0.0.1:9/cb")
	iss := inst.Issuer("acme")
	up := upstreamtest.Start(t, upstreamtest.Options{
		Clients: []upstreamtest.Client{{ID: "latchkey-acme", Secret: "upstream-secret", RedirectURIs: []string{iss + "/callback"},
			PostLogoutRedirectURIs: []string{iss + "/logout/callback"}}},
		Accounts:  map[string]map[string]any{"u1": {"preferred_username": "alice"}},
		AutoLogin: "u1",
	})
	ctx := context.Background()
	cfgURL, clientID, sec, method := up.Issuer, "latchkey-acme", "upstream-secret", domain.LoginUpstream
	if _, _, err := inst.Env.Directory.SetUpstream(ctx, inst.Actor, "acme", directory.UpstreamChanges{ConfigURL: &cfgURL, ClientID: &clientID, ClientSecret: &sec}); err != nil {
		t.Fatal(err)
	}
	org, _ := inst.Env.Store.GetOrg(ctx, "acme")
	org.Settings.LoginMethod = method
	if err := inst.Env.Directory.UpdateOrg(ctx, inst.Actor, org); err != nil {
		t.Fatal(err)
	}
	provider, err := oidc.NewProvider(ctx, iss)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &oauth2.Config{ClientID: fx.ClientID, ClientSecret: fx.ClientSecret, RedirectURL: fx.RedirectURI, Endpoint: provider.Endpoint(), Scopes: []string{"openid", "profile"}}
	b := servertest.NewBrowser(t)
	v := oauth2.GenerateVerifier()
	p := b.Follow(b.Get(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(v))), fx.RedirectURI)
	if !strings.HasPrefix(p.Location, fx.RedirectURI) {
		t.Fatalf("did not come back to the app: %d %s\n%s", p.Status, p.URL, p.Body)
	}
	t.Log(p.Location)
}
