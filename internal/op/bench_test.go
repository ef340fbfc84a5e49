package op

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/secret"
)

// The benchmarks here measure the work of minting and answering without
// HTTP transport: handlers are called directly with a writer that
// discards the body. Store reads (SQLite) are part of the endpoint figures.

// discardWriter is a ResponseWriter that keeps only the status.
type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *discardWriter) Header() http.Header { return w.h }

func (w *discardWriter) WriteHeader(code int) { w.code = code }

func (w *discardWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	w.n += len(b)
	return len(b), nil
}

func (w *discardWriter) reset() {
	clear(w.h)
	w.code, w.n = 0, 0
}

// benchEnv is the fuzz provider with a user and an access token of hers.
type benchEnv struct {
	*fuzzProvider
	user   *domain.User
	access string
}

func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	fp := newFuzzProvider(b)
	ctx := context.Background()
	name, email, verified := "Zoë Ørsted", "zoe@example.com", true
	u, err := fp.env.Directory.CreateUser(ctx, directory.Actor{Name: "bench"}, "acme", "zoe",
		directory.UserChanges{Name: &name, Email: &email, EmailVerified: &verified})
	if err != nil {
		b.Fatal(err)
	}
	access := secret.MustToken()
	now := time.Now()
	tok := &domain.Token{OrgID: "acme", Hash: secret.Hash(access), Kind: domain.TokenAccess, ClientID: fp.conf.ClientID, UserSub: u.Sub,
		SID: "sid-1", Scope: "openid profile email", AuthTime: now, AMR: []string{"pwd"}, FamilyID: secret.MustToken(), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := fp.p.Store.CreateTokens(ctx, tok); err != nil {
		b.Fatal(err)
	}
	return &benchEnv{fuzzProvider: fp, user: u, access: access}
}

// BenchmarkMint measures minting a code exchange's tokens (opaque access
// token, refresh token, id_token) per signing algorithm, and a
// client_credentials token. Nothing is stored.
func BenchmarkMint(b *testing.B) {
	e := newBenchEnv(b)
	ctx := context.Background()
	for _, alg := range domain.SigningAlgs {
		app := *e.conf
		app.IDTokenAlg = alg
		b.Run("id_token/"+alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				g := &grant{org: e.org, app: &app, user: e.user, scope: "openid profile email", sid: "sid-1", nonce: "n-0S6_WzA2Mj",
					authTime: time.Now(), amr: []string{"pwd"}, refresh: true, idToken: true}
				if _, _, err := e.p.mint(ctx, g); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("client_credentials", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := e.p.mint(ctx, &grant{org: e.org, app: e.conf}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkIntrospect is one introspection of an active token by its
// client: client authentication, the token and its user read, the answer.
func BenchmarkIntrospect(b *testing.B) {
	e := newBenchEnv(b)
	body := url.Values{"token": {e.access}, "client_id": {e.conf.ClientID}, "client_secret": {e.secret}}.Encode()
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/o/acme/introspect", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetPathValue("org", "acme")
		w.reset()
		e.p.introspect(w, r)
		if w.code != http.StatusOK || w.n < 100 {
			b.Fatalf("introspect: %d, %d bytes", w.code, w.n)
		}
	}
}

// BenchmarkUserInfo is one UserInfo request with a bearer token.
func BenchmarkUserInfo(b *testing.B) {
	e := newBenchEnv(b)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodGet, "/o/acme/userinfo", nil)
		r.Header.Set("Authorization", "Bearer "+e.access)
		r.SetPathValue("org", "acme")
		w.reset()
		e.p.userinfo(w, r)
		if w.code != http.StatusOK || w.n < 50 {
			b.Fatalf("userinfo: %d, %d bytes", w.code, w.n)
		}
	}
}
