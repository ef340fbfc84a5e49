package upstream_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/upstream/upstreamtest"
)

// BenchmarkLogin compares a whole browser sign-in, from the application's
// authorization request to its code, with Latchkey's own password and
// through an upstream IdP (Node oidc-provider on loopback, which signs the
// account in without a form). The difference is the federation overhead.
func BenchmarkLogin(b *testing.B) {
	inst := servertest.Start(b, "sqlite")
	fx := inst.NewFixture(b, "acme", "http://127.0.0.1:9/cb")
	fed := inst.NewFixture(b, "fed", "http://127.0.0.1:9/cb")
	iss := inst.Issuer("fed")
	up := upstreamtest.Start(b, upstreamtest.Options{
		Clients:   []upstreamtest.Client{{ID: "latchkey", Secret: "upstream-secret", RedirectURIs: []string{iss + "/callback"}}},
		Accounts:  map[string]map[string]any{"u1": {"preferred_username": "alice"}},
		AutoLogin: "u1",
	})
	ctx := context.Background()
	cfgURL, clientID, sec := up.Issuer, "latchkey", "upstream-secret"
	if _, _, err := inst.Env.Directory.SetUpstream(ctx, inst.Actor, "fed", directory.UpstreamChanges{ConfigURL: &cfgURL, ClientID: &clientID, ClientSecret: &sec}); err != nil {
		b.Fatal(err)
	}
	method := domain.LoginUpstream
	if _, err := inst.Env.Directory.UpdateOrg(ctx, inst.Actor, "fed", directory.OrgChanges{LoginMethod: &method}); err != nil {
		b.Fatal(err)
	}
	authURL := func(f *servertest.Fixture) string {
		cfg := &oauth2.Config{ClientID: f.ClientID, RedirectURL: f.RedirectURI, Scopes: []string{"openid"},
			Endpoint: oauth2.Endpoint{AuthURL: inst.Issuer(f.Org) + "/authorize"}}
		return cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	}
	b.Run("password", func(b *testing.B) {
		for b.Loop() {
			br := servertest.NewBrowser(b)
			if _, err := br.AuthorizeAndLogin(authURL(fx), fx.RedirectURI, fx.UserName, fx.Password); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("federated", func(b *testing.B) {
		for b.Loop() {
			// The upstream round trip crosses hosts: follow every redirect
			// with a real cookie jar and stop at the application.
			jar, _ := cookiejar.New(nil)
			c := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
				if strings.HasPrefix(req.URL.String(), fed.RedirectURI) {
					return http.ErrUseLastResponse
				}
				return nil
			}}
			resp, err := c.Get(authURL(fed))
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			if loc := resp.Header.Get("Location"); !strings.Contains(loc, "code=") {
				b.Fatalf("federated login did not reach the application: %d %s", resp.StatusCode, loc)
			}
		}
	})
}
