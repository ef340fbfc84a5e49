package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// benchEnv is a signed-in browser and a relying party on a fresh server.
type benchEnv struct {
	inst *servertest.Instance
	fx   *servertest.Fixture
	rp   *rp
	b    *servertest.Browser
	tok  *oauth2.Token
}

func newBenchEnv(b *testing.B, backend string) *benchEnv {
	b.Helper()
	inst := servertest.Start(b, backend)
	fx := inst.NewFixture(b, "acme", "http://127.0.0.1:9/cb")
	r := newRP(b, inst, fx)
	br := servertest.NewBrowser(b)
	cb, err := br.AuthorizeAndLogin(r.oauth.AuthCodeURL("s", oauth2.S256ChallengeOption("x"+strings.Repeat("v", 50))), fx.RedirectURI, fx.UserName, fx.Password)
	if err != nil {
		b.Fatal(err)
	}
	tok, err := r.oauth.Exchange(context.Background(), cb.Query().Get("code"), oauth2.VerifierOption("x"+strings.Repeat("v", 50)))
	if err != nil {
		b.Fatal(err)
	}
	return &benchEnv{inst: inst, fx: fx, rp: r, b: br, tok: tok}
}

// code runs a silent authorization request and returns the code.
func (e *benchEnv) code(b *testing.B, verifier string) string {
	p := e.b.Get(e.rp.oauth.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
	if p.Status != http.StatusFound || !strings.HasPrefix(p.Location, e.fx.RedirectURI) {
		b.Fatalf("silent authorize: %d %s", p.Status, p.Location)
	}
	u, _ := url.Parse(p.Location)
	return u.Query().Get("code")
}

// BenchmarkTokenEndpoint measures each grant and userinfo over real HTTP.
func BenchmarkTokenEndpoint(b *testing.B) {
	for _, backend := range servertest.Backends {
		b.Run(backend, func(b *testing.B) {
			e := newBenchEnv(b, backend)
			ctx := context.Background()
			verifier := oauth2.GenerateVerifier()
			b.Run("code_exchange", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					b.StopTimer()
					code := e.code(b, verifier)
					b.StartTimer()
					if _, err := e.rp.oauth.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("refresh", func(b *testing.B) {
				b.ReportAllocs()
				rt := e.tok.RefreshToken
				for b.Loop() {
					tok, err := e.rp.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
					if err != nil {
						b.Fatal(err)
					}
					rt = tok.RefreshToken
				}
			})
			b.Run("client_credentials", func(b *testing.B) {
				b.ReportAllocs()
				cc := clientCredentials(e)
				for b.Loop() {
					if _, err := cc.Token(ctx); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("userinfo", func(b *testing.B) {
				b.ReportAllocs()
				src := oauth2.StaticTokenSource(e.tok)
				for b.Loop() {
					if _, err := e.rp.provider.UserInfo(ctx, src); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

func clientCredentials(e *benchEnv) *clientcredentials.Config {
	return &clientcredentials.Config{ClientID: e.fx.ClientID, ClientSecret: e.fx.ClientSecret, TokenURL: e.rp.provider.Endpoint().TokenURL}
}

// BenchmarkSilentSSOFlow is one whole single sign-on round for an
// application: authorize with a live session → code → token → userinfo.
func BenchmarkSilentSSOFlow(b *testing.B) {
	for _, backend := range servertest.Backends {
		b.Run(backend, func(b *testing.B) {
			e := newBenchEnv(b, backend)
			ctx := context.Background()
			verifier := oauth2.GenerateVerifier()
			b.ReportAllocs()
			for b.Loop() {
				tok, err := e.rp.oauth.Exchange(ctx, e.code(b, verifier), oauth2.VerifierOption(verifier))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := e.rp.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
