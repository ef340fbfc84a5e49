package op

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/bootstrap"
	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/oauth"
	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/web"
)

// fuzzProvider is a Provider over a real SQLite store with organization
// acme, a confidential and a public application.
type fuzzProvider struct {
	p        *Provider
	org      *domain.Organization
	conf     *domain.Application
	public   *domain.Application
	secret   string // conf's client secret
	env      *bootstrap.Env
	dbPath   string // the SQLite file
	idToken  string // a genuine id_token of acme for conf
	atJWT    string // a JWT access token of acme
	logoutJW string // a logout token of acme
}

func newFuzzProvider(f testing.TB) *fuzzProvider {
	dir := f.TempDir()
	cfg := config.Config{PublicURL: "https://sso.example", DataDir: dir, MasterKeyFile: filepath.Join(dir, "master.key"),
		Database: "sqlite:" + filepath.Join(dir, "latchkey.db")}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	env, err := bootstrap.Open(context.Background(), cfg, log, true)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = env.Close() })
	ctx := context.Background()
	actor := directory.Actor{Name: "fuzz"}
	org, _, err := env.Directory.CreateOrg(ctx, actor, "acme", "Acme")
	if err != nil {
		f.Fatal(err)
	}
	name, redirect := "Web", []string{"https://app.example/cb"}
	conf, confSecret, err := env.Directory.CreateApp(ctx, actor, "acme", false, directory.AppChanges{Name: &name, RedirectURIs: &redirect,
		PostLogoutRedirectURIs: &[]string{"https://app.example/bye"}})
	if err != nil {
		f.Fatal(err)
	}
	public, _, err := env.Directory.CreateApp(ctx, actor, "acme", true, directory.AppChanges{Name: &name, RedirectURIs: &redirect})
	if err != nil {
		f.Fatal(err)
	}
	sessions := &session.Sessions{Store: env.Store, Tokens: env.Store, CSRFKey: env.Master.Derive("csrf")}
	fp := &fuzzProvider{
		p: &Provider{Store: env.Store, Keys: env.Keys, Sessions: sessions, Templates: web.Templates(), Log: log,
			PublicURL: cfg.PublicURL, RequestID: func(context.Context) string { return "fuzz" }},
		org: org, conf: conf, public: public, secret: confSecret, env: env, dbPath: filepath.Join(dir, "latchkey.db"),
	}
	now := time.Now()
	claims := map[string]any{"iss": cfg.PublicURL + "/o/acme", "aud": conf.ClientID, "sub": "u1", "sid": "s1", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	sign := func(typ string, extra map[string]any) string {
		c := map[string]any{}
		for k, v := range claims {
			c[k] = v
		}
		for k, v := range extra {
			c[k] = v
		}
		tok, err := env.Keys.Sign(ctx, "acme", domain.AlgRS256, typ, c)
		if err != nil {
			f.Fatal(err)
		}
		return tok
	}
	fp.idToken = sign("JWT", nil)
	fp.atJWT = sign("at+jwt", map[string]any{"client_id": conf.ClientID, "jti": "x"})
	fp.logoutJW = sign("logout+jwt", map[string]any{"jti": "y", "events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}}})
	return fp
}

// FuzzAuthorizeRequest parses authorization requests (a raw query string)
// with the endpoint's own rules. Nothing panics; an accepted request has a
// registered redirect URI, the openid scope, S256 PKCE for a public client,
// and an error that may not be redirected comes without a request.
func FuzzAuthorizeRequest(f *testing.F) {
	fp := newFuzzProvider(f)
	base := url.Values{"response_type": {"code"}, "client_id": {fp.conf.ClientID}, "redirect_uri": {"https://app.example/cb"},
		"scope": {"openid profile"}, "state": {"s"}, "nonce": {"n"}}
	f.Add(base.Encode())
	pub := url.Values{"response_type": {"code"}, "client_id": {fp.public.ClientID}, "redirect_uri": {"https://app.example/cb"}, "scope": {"openid"},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}, "prompt": {"login consent"}, "max_age": {"0"}}
	f.Add(pub.Encode())
	for _, s := range []string{"client_id=nope", "client_id=" + fp.conf.ClientID + "&redirect_uri=https://evil.example/cb",
		base.Encode() + "&response_mode=fragment", base.Encode() + "&request=x", base.Encode() + "&prompt=none+login",
		base.Encode() + "&max_age=-1", base.Encode() + "&code_challenge_method=plain&code_challenge=abc", base.Encode() + "&scope=profile",
		base.Encode() + "&login_hint=" + strings.Repeat("a", 600), "%zz", "client_id=%ff", base.Encode() + "&client_id=" + fp.public.ClientID} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		r := httptest.NewRequest(http.MethodGet, "/o/acme/authorize", nil)
		r.URL.RawQuery = rawQuery
		params, perr := oauth.ParseQuery(r)
		if perr != nil {
			return
		}
		app, req, aerr, redirectable := fp.p.parseAuthRequest(r, fp.org, params)
		if !redirectable {
			if aerr == nil {
				t.Fatal("a request that may not be redirected came without an error")
			}
			return
		}
		if app == nil || req == nil {
			t.Fatalf("redirectable without app or request: %v", aerr)
		}
		if !slices.Contains(app.RedirectURIs, req.RedirectURI) || app.OrgID != "acme" {
			t.Fatalf("redirect URI %q is not registered", req.RedirectURI)
		}
		if aerr != nil {
			return
		}
		if !oauth.HasScope(req.Scope, oauth.ScopeOpenID) || (app.Public && req.CodeChallengeMethod != "S256") ||
			(req.CodeChallenge != "" && !oauth.ValidPKCEValue(req.CodeChallenge)) || len(req.LoginHint) > 2*domain.MaxUserNameLen {
			t.Fatalf("accepted %+v", req)
		}
	})
}

// FuzzIDTokenHint parses RP-Initiated Logout requests. Nothing panics; an
// accepted id_token_hint is an id_token (never an access or logout token)
// of one of acme's applications, and a post-logout redirect URI is
// accepted only when registered for the request's application.
func FuzzIDTokenHint(f *testing.F) {
	fp := newFuzzProvider(f)
	f.Add(fp.idToken, "", "https://app.example/bye")
	f.Add(fp.idToken, fp.conf.ClientID, "https://evil.example/")
	f.Add(fp.atJWT, "", "")
	f.Add(fp.logoutJW, "", "")
	f.Add(fp.idToken[:len(fp.idToken)-2]+"AA", "", "")
	f.Add("eyJhbGciOiJub25lIn0.eyJhdWQiOiJ4In0.", "", "")
	f.Add("", fp.public.ClientID, "https://app.example/bye")
	f.Add("a.b.c.d.e", "x", "\xff")
	ctx := request.WithOrg(context.Background(), fp.p.PublicURL, fp.org)
	// The seed id_token with a registered URI is accepted, so the property
	// below is checked on accepted hints, not only on refusals.
	if lr, problem, err := fp.p.parseLogoutRequest(ctx, fp.org, oauth.Params{"id_token_hint": fp.idToken, "post_logout_redirect_uri": "https://app.example/bye"}); err != nil || problem != "" || lr.hint == nil {
		f.Fatalf("valid id_token_hint refused: %q %v", problem, err)
	}
	f.Fuzz(func(t *testing.T, hint, clientID, postLogout string) {
		params := oauth.Params{}
		for k, v := range map[string]string{"id_token_hint": hint, "client_id": clientID, "post_logout_redirect_uri": postLogout} {
			if v != "" {
				params[k] = v
			}
		}
		lr, problem, err := fp.p.parseLogoutRequest(ctx, fp.org, params)
		if err != nil {
			t.Fatalf("the server failed on a sign-out request: %v", err)
		}
		if problem != "" {
			return
		}
		if hint != "" {
			if lr.hint == nil || lr.app == nil || lr.app.OrgID != "acme" {
				t.Fatalf("accepted hint without its application: %+v", lr)
			}
			if hint == fp.atJWT || hint == fp.logoutJW {
				t.Fatal("accepted a token that is not an id_token")
			}
		}
		if postLogout != "" && (lr.app == nil || !slices.Contains(lr.app.PostLogoutRedirectURIs, postLogout)) {
			t.Fatalf("accepted unregistered post-logout URI %q", postLogout)
		}
	})
}

// FuzzSessionCookies sends arbitrary Cookie headers and CSRF tokens.
// Nothing panics, no session is found for a cookie Latchkey never set, and
// a CSRF token is accepted only when it is the MAC of the browser's cookie.
func FuzzSessionCookies(f *testing.F) {
	fp := newFuzzProvider(f)
	f.Add("lk_session=abc; lk_csrf=0123456789abcdef0123456789abcdef; lk_auth=req", "token")
	f.Add("lk_session=; lk_session=x", "")
	f.Add("lk_csrf=\xff\x00; lk_session=\"quoted\"", "\xff")
	f.Add(strings.Repeat("a=b; ", 200), strings.Repeat("A", 43))
	f.Add("lk_csrf=0123456789abcdef0123456789abcdef", fp.p.Sessions.CSRFToken(httptest.NewRecorder(), &http.Request{Header: http.Header{"Cookie": {"lk_csrf=0123456789abcdef0123456789abcdef"}}}, "acme"))
	f.Fuzz(func(t *testing.T, cookie, token string) {
		r := httptest.NewRequest(http.MethodGet, "/o/acme/account", nil)
		r.Header.Set("Cookie", cookie)
		sess, err := fp.p.Sessions.Current(context.Background(), r, "acme")
		if err != nil || sess != nil {
			t.Fatalf("cookie %q: session %+v err %v", cookie, sess, err)
		}
		_ = fp.p.Sessions.Pending(r)
		if fp.p.Sessions.CheckCSRF(r, "acme", token) {
			c, err := r.Cookie("lk_csrf")
			if err != nil || c.Value == "" || (len(c.Value) >= 32 && fp.p.Sessions.CSRFToken(httptest.NewRecorder(), r, "acme") != token) {
				t.Fatalf("CSRF token %q accepted for cookie %q", token, cookie)
			}
		}
	})
}
