package upstream_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/internal/demo"
	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/testkit"
	"github.com/latchkey/latchkey/internal/upstream/upstreamtest"
)

// Names shared by the federation tests. Every test organization is "acme"
// (a second one is named where it is made), whose application redirects to
// appRedirect and returns after logout to appLoggedOut; neither is ever
// fetched: the test browser stops at them.
const (
	upstreamSecret = "upstream-client-secret"
	appRedirect    = "http://127.0.0.1:9/app/cb"
	appLoggedOut   = "http://127.0.0.1:9/app/bye"
)

func upstreamClientID(org string) string { return "latchkey-" + org }

// fedOptions shape one federated organization.
type fedOptions struct {
	// Accounts at the upstream; default u1 = alice.
	Accounts map[string]map[string]any
	// AutoLogin is the upstream account every login signs in; default u1.
	AutoLogin       string
	ClaimsInIDToken bool
	// UpstreamBackchannel registers ISS/backchannel at the upstream (with
	// sid in logout tokens when BackchannelSID).
	UpstreamBackchannel bool
	BackchannelSID      bool
	// Conn is applied after the required connection fields.
	Conn directory.UpstreamChanges
	// ExtraOrgs are further organizations of the same Latchkey, federated
	// to the same upstream (each with its own client there).
	ExtraOrgs []string
}

// fed is a Latchkey organization whose login method is an upstream IdP: a
// real oidc-provider, with an application signed in through go-oidc.
type fed struct {
	inst *servertest.Instance
	up   *upstreamtest.OP
	orgs map[string]*fedOrg
}

// fedOrg is one federated organization with its application.
type fedOrg struct {
	id  string
	iss string
	fx  *servertest.Fixture
	app *app
	// bc is the application's back-channel logout endpoint.
	bc *backchannelRP
}

// startFed starts Latchkey on backend and one upstream OP for acme (and
// opts.ExtraOrgs) and connects them.
func startFed(t *testing.T, backend string, opts fedOptions) *fed {
	t.Helper()
	if opts.Accounts == nil {
		opts.Accounts = map[string]map[string]any{"u1": {"preferred_username": "alice", "email": "alice@upstream.example"}}
	}
	if opts.AutoLogin == "" {
		opts.AutoLogin = "u1"
	}
	inst := servertest.Start(t, backend)
	f := &fed{inst: inst, orgs: map[string]*fedOrg{}}
	var clients []upstreamtest.Client
	for _, id := range append([]string{"acme"}, opts.ExtraOrgs...) {
		iss := inst.Issuer(id)
		c := upstreamtest.Client{
			ID: upstreamClientID(id), Secret: upstreamSecret,
			RedirectURIs: []string{iss + "/callback"}, PostLogoutRedirectURIs: []string{iss + "/logout/callback"},
		}
		if opts.UpstreamBackchannel {
			c.BackchannelLogoutURI = iss + "/backchannel"
			c.BackchannelLogoutSessionRequired = opts.BackchannelSID && id == "acme"
		}
		clients = append(clients, c)
		f.orgs[id] = &fedOrg{id: id, iss: iss, fx: inst.NewFixture(t, id, appRedirect)}
	}
	f.up = upstreamtest.Start(t, upstreamtest.Options{
		Clients: clients, Accounts: opts.Accounts, ClaimsInIDToken: opts.ClaimsInIDToken, AutoLogin: opts.AutoLogin,
	})
	for _, o := range f.orgs {
		ch := opts.Conn
		ch.ConfigURL, ch.ClientID, ch.ClientSecret = testkit.Ptr(f.up.Issuer), testkit.Ptr(upstreamClientID(o.id)), testkit.Ptr(upstreamSecret)
		setUpstream(t, inst, o.id, ch, true)
		o.bc = newBackchannelRP(t, func() *oidc.Provider { return o.app.provider }, o.fx.ClientID)
		if _, err := inst.Env.Directory.UpdateApp(context.Background(), inst.Actor, o.id, o.fx.ClientID, directory.AppChanges{
			PostLogoutRedirectURIs: &[]string{appLoggedOut}, BackchannelLogoutURI: testkit.Ptr(o.bc.srv.URL + "/bc"),
		}); err != nil {
			t.Fatal(err)
		}
		o.app = newApp(t, o.iss, o.fx)
	}
	return f
}

func (f *fed) acme() *fedOrg { return f.orgs["acme"] }

// setUpstream saves the organization's upstream connection and, with
// upstreamLogin, makes it the organization's login method.
func setUpstream(t *testing.T, inst *servertest.Instance, org string, ch directory.UpstreamChanges, upstreamLogin bool) {
	t.Helper()
	ctx := context.Background()
	if _, _, err := inst.Env.Directory.SetUpstream(ctx, inst.Actor, org, ch); err != nil {
		t.Fatalf("set upstream of %s: %v", org, err)
	}
	if upstreamLogin {
		setLoginMethod(t, inst, org, domain.LoginUpstream)
	}
}

func setLoginMethod(t *testing.T, inst *servertest.Instance, org, method string) {
	t.Helper()
	ctx := context.Background()
	if _, err := inst.Env.Directory.UpdateOrg(ctx, inst.Actor, org, directory.OrgChanges{LoginMethod: &method}); err != nil {
		t.Fatal(err)
	}
}

// app is an OpenID Connect application of a Latchkey organization, built
// on go-oidc and x/oauth2.
type app struct {
	provider *oidc.Provider
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
	iss      string
}

func newApp(t testing.TB, iss string, fx *servertest.Fixture) *app {
	t.Helper()
	provider, err := oidc.NewProvider(context.Background(), iss)
	if err != nil {
		t.Fatalf("discovery of %s: %v", iss, err)
	}
	return &app{
		provider: provider, iss: iss,
		oauth: &oauth2.Config{
			ClientID: fx.ClientID, ClientSecret: fx.ClientSecret, RedirectURL: fx.RedirectURI,
			Endpoint: provider.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "profile", "email"},
		},
		verifier: provider.Verifier(&oidc.Config{ClientID: fx.ClientID}),
	}
}

// appClaims are the id_token claims the tests look at.
type appClaims struct {
	Subject           string   `json:"sub"`
	PreferredUsername string   `json:"preferred_username"`
	AMR               []string `json:"amr"`
	SID               string   `json:"sid"`
	AuthTime          int64    `json:"auth_time"`
	Nonce             string   `json:"nonce"`
}

// flow is one authorization request of the application.
type flow struct {
	url, state, nonce, verifier string
}

func (a *app) request(extra ...oauth2.AuthCodeOption) flow {
	f := flow{state: oauth2.GenerateVerifier()[:16], nonce: oauth2.GenerateVerifier()[:16], verifier: oauth2.GenerateVerifier()}
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(f.verifier), oidc.Nonce(f.nonce)}, extra...)
	f.url = a.oauth.AuthCodeURL(f.state, opts...)
	return f
}

// finish exchanges the code of the application's callback URL and
// verifies the id_token, nonce included.
func (a *app) finish(t *testing.T, fl flow, callback string) (*oauth2.Token, appClaims) {
	t.Helper()
	cb, err := url.Parse(callback)
	if err != nil || !strings.HasPrefix(callback, appRedirect) {
		t.Fatalf("not the application's callback: %q", callback)
	}
	q := cb.Query()
	if q.Get("state") != fl.state || q.Get("code") == "" || q.Get("iss") != a.iss {
		t.Fatalf("callback lacks code, state or iss: %s", callback)
	}
	tok, err := a.oauth.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(fl.verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := a.verifier.Verify(context.Background(), raw)
	if err != nil {
		t.Fatalf("verify id_token: %v", err)
	}
	var c appClaims
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	if c.Nonce != fl.nonce {
		t.Fatalf("id_token nonce %q, want %q", c.Nonce, fl.nonce)
	}
	return tok, c
}

// login signs the browser in through the upstream and returns the
// application's tokens and id_token claims.
func (a *app) login(t *testing.T, b *servertest.Browser, extra ...oauth2.AuthCodeOption) (*oauth2.Token, appClaims) {
	t.Helper()
	fl := a.request(extra...)
	p := b.Follow(b.Get(fl.url), appRedirect)
	if !strings.HasPrefix(p.Location, appRedirect) {
		t.Fatalf("federated login did not come back to the application: %d at %s\n%s", p.Status, p.URL, p.Body)
	}
	return a.finish(t, fl, p.Location)
}

// toCallback starts a federated login and stops at the redirect to
// ISS/callback, which it returns unfetched.
func (a *app) toCallback(t *testing.T, b *servertest.Browser, extra ...oauth2.AuthCodeOption) (flow, *servertest.Page) {
	t.Helper()
	fl := a.request(extra...)
	p := b.Follow(b.Get(fl.url), a.iss+"/callback")
	if !strings.HasPrefix(p.Location, a.iss+"/callback") {
		t.Fatalf("did not get to %s/callback: %d at %s\n%s", a.iss, p.Status, p.URL, p.Body)
	}
	return fl, p
}

// silent is a prompt=none request; it returns where Latchkey sent the
// browser.
func (a *app) silent(t *testing.T, b *servertest.Browser) string {
	t.Helper()
	fl := a.request(oauth2.SetAuthURLParam("prompt", "none"))
	p := b.Follow(b.Get(fl.url), appRedirect)
	if !strings.HasPrefix(p.Location, appRedirect) {
		t.Fatalf("prompt=none did not return to the application: %d at %s\n%s", p.Status, p.URL, p.Body)
	}
	return p.Location
}

// wantNoSession checks that the browser has no session: prompt=none gets
// login_required.
func (a *app) wantNoSession(t *testing.T, b *servertest.Browser) {
	t.Helper()
	if loc := a.silent(t, b); !strings.Contains(loc, "error=login_required") {
		t.Fatalf("the browser has a session (prompt=none answered %s)", loc)
	}
}

// wantSession checks that the browser has a session: prompt=none gets a code.
func (a *app) wantSession(t *testing.T, b *servertest.Browser) {
	t.Helper()
	if loc := a.silent(t, b); !strings.Contains(loc, "code=") {
		t.Fatalf("the browser has no session (prompt=none answered %s)", loc)
	}
}

// refreshWorks reports whether the refresh token still gets tokens.
func (a *app) refreshWorks(tok *oauth2.Token) bool {
	_, err := a.oauth.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	return err == nil
}

// wantErrorPage checks a clear error page: status, no redirect, the
// message, and the request's reference id.
func wantErrorPage(t *testing.T, p *servertest.Page, status int, text string) {
	t.Helper()
	ref := p.Header.Get("X-Request-Id")
	switch {
	case p.Status != status:
		t.Fatalf("status %d, want %d (at %s, to %q)\n%s", p.Status, status, p.URL, p.Location, p.Body)
	case p.Location != "":
		t.Fatalf("redirected to %s instead of showing an error page", p.Location)
	case !strings.Contains(p.Body, text):
		t.Fatalf("error page lacks %q:\n%s", text, p.Body)
	case ref == "" || !strings.Contains(p.Body, "Reference: <code>"+ref+"</code>"):
		t.Fatalf("error page lacks the reference %q:\n%s", ref, p.Body)
	case !strings.HasPrefix(p.Header.Get("Content-Type"), "text/html"):
		t.Fatalf("error page content type %q", p.Header.Get("Content-Type"))
	}
}

// audit returns the newest audit event of org with action, or nil.
func audit(t *testing.T, inst *servertest.Instance, org, action string) *domain.AuditEvent {
	t.Helper()
	events, err := inst.Env.Store.ListAudit(context.Background(), org, store.AuditFilter{Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if e.Action == action {
			return e
		}
	}
	return nil
}

// wantAudit checks that the newest event with action has result (and the
// actor, when actor is not "-").
func wantAudit(t *testing.T, inst *servertest.Instance, org, action, result, actor string) *domain.AuditEvent {
	t.Helper()
	e := audit(t, inst, org, action)
	if e == nil {
		t.Fatalf("no %s audit event in %s", action, org)
	}
	if e.Result != result || (actor != "-" && e.Actor != actor) {
		t.Fatalf("newest %s audit event: result %q actor %q, want %q %q (%+v)", action, e.Result, e.Actor, result, actor, e)
	}
	return e
}

// activeSessions counts the user's live sessions.
func activeSessions(t *testing.T, inst *servertest.Instance, org, userName string) int {
	t.Helper()
	ctx := context.Background()
	u := user(t, inst, org, userName)
	ss, err := inst.Env.Store.ListUserSessions(ctx, org, u.Sub)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range ss {
		if s.Active(inst.Clock.Now()) {
			n++
		}
	}
	return n
}

func user(t *testing.T, inst *servertest.Instance, org, userName string) *domain.User {
	t.Helper()
	u, err := inst.Env.Store.GetUserByName(context.Background(), org, userName)
	if err != nil {
		t.Fatalf("user %s of %s: %v", userName, org, err)
	}
	return u
}

func userExists(t *testing.T, inst *servertest.Instance, org, userName string) bool {
	t.Helper()
	_, err := inst.Env.Store.GetUserByName(context.Background(), org, userName)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

func createUser(t *testing.T, inst *servertest.Instance, org, userName string, disabled bool) *domain.User {
	t.Helper()
	u, err := inst.Env.Directory.CreateUser(context.Background(), inst.Actor, org, userName, directory.UserChanges{Disabled: &disabled})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// backchannelRP is an application's back-channel logout endpoint that
// verifies logout tokens as a relying party must (demo.VerifyLogoutToken).
type backchannelRP struct {
	srv      *httptest.Server
	mu       sync.Mutex
	received []*demo.LogoutClaims
	rejected []string
}

func newBackchannelRP(t *testing.T, provider func() *oidc.Provider, clientID string) *backchannelRP {
	b := &backchannelRP{}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		c, err := demo.VerifyLogoutToken(r.Context(), provider(), clientID, r.PostForm.Get("logout_token"))
		b.mu.Lock()
		defer b.mu.Unlock()
		if err != nil {
			b.rejected = append(b.rejected, err.Error())
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		b.received = append(b.received, c)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *backchannelRP) got() ([]*demo.LogoutClaims, []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*demo.LogoutClaims(nil), b.received...), append([]string(nil), b.rejected...)
}

// withQuery returns rawURL with its query changed by edit.
func withQuery(t *testing.T, rawURL string, edit func(q url.Values)) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	edit(q)
	u.RawQuery = q.Encode()
	return u.String()
}
