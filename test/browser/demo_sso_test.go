// Package browser_test drives a real headless Chromium (the Debian package
// at /usr/bin/chromium) through Latchkey's demo: sign in to demo app 1 on
// the hosted login page, open demo app 2 and get in without a password
// (single sign-on), sign out of app 2 and see app 1 signed out too (OIDC
// back-channel logout), and check the accessibility basics of the login
// page on the way.
//
// Without /usr/bin/chromium the tests are skipped, except under CI=true,
// where that is a failure. Artifacts go to $LATCHKEY_TEST_ARTIFACTS/browser/
// (default: latchkey-artifacts/browser/ in the system temporary
// directory): <test>/chromium.log, and per backend <test>/<backend>/ with
// full-page PNG screenshots of the key steps (failure.png on a failure)
// and server.log. The test logs the paths.
package browser_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	neturl "net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/latchkey/latchkey/internal/bootstrap"
	"github.com/latchkey/latchkey/internal/demo"
	"github.com/latchkey/latchkey/internal/server"
	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/testkit"
)

// chromiumPath is where the Debian package installs Chromium (.ci/run
// installs it with apt).
const chromiumPath = "/usr/bin/chromium"

const (
	// stepTimeout bounds every single browser step.
	stepTimeout = 90 * time.Second
	// logoutTimeout bounds the wait for the back-channel logout, which the
	// server's worker delivers asynchronously.
	logoutTimeout = 90 * time.Second
	// browserLifetime bounds one test's whole browser.
	browserLifetime = 10 * time.Minute
)

// TestDemoSingleSignOnAndSingleLogout is the acceptance test of the demo:
// log in to demo app 1, open demo app 2 without a password prompt, sign
// out of app 2, and app 1 is signed out.
func TestDemoSingleSignOnAndSingleLogout(t *testing.T) {
	requireChromium(t)
	// One browser for both backends; each backend gets a fresh browser
	// context (its own cookies and storage) in a new tab.
	root := startBrowser(t, artifactsDir(t))
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) { testDemoSSO(t, root, backend) })
	}
}

func testDemoSSO(t *testing.T, root context.Context, backend string) {
	art := artifactsDir(t)
	serverLog := createArtifact(t, art, "server.log")

	var setup *demo.Setup
	inst := servertest.Start(t, backend, servertest.Options{
		Log: serverLog,
		Setup: func(env *bootstrap.Env, publicURL string) []server.Option {
			var err error
			setup, err = demo.Provision(context.Background(), env.Directory, publicURL, env.Logger)
			if err != nil {
				t.Fatalf("provision the demo: %v", err)
			}
			return []server.Option{server.WithHandler("/demo/", setup.Handler())}
		},
	})
	if len(setup.Apps) != 2 {
		t.Fatalf("demo has %d applications, want 2", len(setup.Apps))
	}
	issuer := inst.Issuer(demo.OrgID)
	if setup.Issuer != issuer {
		t.Fatalf("demo issuer %q, want %q", setup.Issuer, issuer)
	}
	app1, app2 := setup.Apps[0].BaseURL+"/", setup.Apps[1].BaseURL+"/"
	loginURL := issuer + "/login"

	b := newTab(t, root, art)

	// 1. App 1, not signed in yet.
	b.do("open app 1", chromedp.Navigate(app1), waitHeading("Not signed in"))
	b.expectTitle("Demo App One")
	b.screenshot("01-app1-signed-out")

	// 2. Sign in: Latchkey's identifier-first login page, username step.
	b.markNavigation()
	b.do("click Sign in on app 1", chromedp.Click(linkNamed("Sign in")), chromedp.WaitVisible(chromedp.ID("username")))
	b.expectLocationPrefix(loginURL)
	b.checkUsernameStep()
	b.screenshot("02-login-username")
	b.do("submit the username",
		chromedp.SendKeys(chromedp.ID("username"), demo.User),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("password")),
	)

	// 3. Password step.
	b.expectLocationPrefix(issuer + "/")
	b.checkPasswordStep()
	b.screenshot("03-login-password")
	b.do("submit the password",
		chromedp.SendKeys(chromedp.ID("password"), demo.UserPassword),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		waitHeading("Signed in as "+demo.User),
	)
	b.expectLocation(app1)
	nav := b.navigation()
	b.expectVisited(nav, issuer+"/authorize", setup.Apps[0].BaseURL+"/callback")
	b.expectVisited(nav, loginURL)
	// §4: the SSO session cookie is HttpOnly and SameSite=Lax.
	if c := b.cookie(issuer+"/authorize", "lk_session"); c == nil {
		b.fatalf("no lk_session cookie for %s after signing in", issuer)
	} else if !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax {
		b.fatalf("lk_session cookie: HttpOnly=%v SameSite=%q, want HttpOnly and Lax", c.HTTPOnly, c.SameSite)
	}
	b.screenshot("04-app1-signed-in")

	// 4. App 2 has no session of its own; signing in comes straight back
	// through Latchkey without a login page.
	b.do("open app 2", chromedp.Navigate(app2), waitHeading("Not signed in"))
	b.expectTitle("Demo App Two")
	b.screenshot("05-app2-signed-out")
	b.markNavigation()
	b.do("click Sign in on app 2", chromedp.Click(linkNamed("Sign in")), waitHeading("Signed in as "+demo.User))
	b.expectLocation(app2)
	nav = b.navigation()
	b.expectVisited(nav, issuer+"/authorize", setup.Apps[1].BaseURL+"/callback")
	b.expectNotVisited(nav, "the login page (SSO must not ask for a password)", loginURL)
	b.t.Logf("app 2 sign-in, documents loaded: %v", nav)
	if n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll('input[type="password"]').length`)); err != nil || n != 0 {
		b.fatalf("app 2 after SSO: %d password inputs on the page (err %v)", n, err)
	}
	b.screenshot("06-app2-signed-in-via-sso")

	// 5. Sign out of app 2: RP-initiated logout with id_token_hint, so no
	// confirmation page, straight back to app 2.
	b.markNavigation()
	b.do("click Sign out on app 2", chromedp.Click(buttonNamed("Sign out")), waitHeading("Not signed in"))
	b.expectLocationPrefix(app2)
	nav = b.navigation()
	b.expectVisited(nav, setup.Apps[1].BaseURL+"/logout", issuer+"/end_session")
	b.expectNotVisited(nav, "a logout confirmation page (the id_token_hint makes it unnecessary)", issuer+"/logout")
	b.expectNotVisited(nav, "the login page", loginURL)
	b.screenshot("07-app2-signed-out")

	// 6. App 1 learns of the logout over the back channel; the worker
	// delivers it asynchronously, so reload until it has. The browser
	// still holds app 1's own cookie: only the server side can end it.
	if b.cookie(app1, "demo_rp") == nil {
		b.fatalf("the browser lost app 1's session cookie; the test could not tell a back-channel logout")
	}
	start, reloads := time.Now(), 0
	deadline := start.Add(logoutTimeout)
	for {
		reloads++
		b.do("reload app 1", chromedp.Navigate(app1), chromedp.WaitVisible(chromedp.CSS("h1")))
		h, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("h1")))
		if err != nil {
			b.fatalf("read the heading of app 1: %v", err)
		}
		if strings.TrimSpace(h) == "Not signed in" {
			break
		}
		if time.Now().After(deadline) {
			b.fatalf("app 1 still shows %q %s after signing out of app 2: back-channel logout did not arrive", h, logoutTimeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.t.Logf("app 1 signed out %s after the sign-out of app 2 (%d load(s))", time.Since(start).Round(time.Millisecond), reloads)
	b.screenshot("08-app1-after-single-logout")

	// 7. The SSO session is gone too: signing in to app 1 asks again.
	b.markNavigation()
	b.do("click Sign in on app 1 after logout", chromedp.Click(linkNamed("Sign in")), chromedp.WaitVisible(chromedp.ID("username")))
	b.expectLocationPrefix(loginURL)
	b.expectVisited(b.navigation(), loginURL)
	b.screenshot("09-login-again-after-logout")

	b.expectNoErrorDocuments()
}

// requireChromium skips the test without Chromium, or fails it under CI.
func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		testkit.Unavailable(t, "headless Chromium is not installed at %s (%v); install the Debian package: apt-get install chromium", chromiumPath, err)
	}
}

// artifactsDir is a fresh directory for this test's screenshots and logs.
func artifactsDir(t *testing.T) string {
	t.Helper()
	root := os.Getenv("LATCHKEY_TEST_ARTIFACTS")
	if root == "" {
		root = filepath.Join(os.TempDir(), "latchkey-artifacts")
	}
	dir := filepath.Join(root, "browser")
	for _, part := range strings.Split(t.Name(), "/") {
		dir = filepath.Join(dir, regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(part, "_"))
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("artifacts: %s", dir)
	return dir
}

// createArtifact creates a file in dir that stays open until the test's
// other cleanups have run (register it before what writes to it).
func createArtifact(t *testing.T, dir, name string) io.Writer {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return &lockedWriter{w: f}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// browser is one headless Chromium with one tab.
type browser struct {
	t   *testing.T
	ctx context.Context
	dir string

	shots int

	mu sync.Mutex
	// docs are the document requests (every redirect hop included) since
	// the last markNavigation.
	docs []string
	// bad are document responses with an error status.
	bad []string
}

// startBrowser starts headless Chromium with a fresh profile until the
// test ends, and returns a context for newTab.
func startBrowser(t *testing.T, art string) context.Context {
	t.Helper()
	chromiumLog := createArtifact(t, art, "chromium.log")
	profile, err := os.MkdirTemp("", "latchkey-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	// Runs after the browser has exited (cleanups run last-in first-out).
	t.Cleanup(func() { _ = os.RemoveAll(profile) })

	parent, stop := context.WithTimeout(context.Background(), browserLifetime)
	t.Cleanup(stop)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(parent,
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		// Containers often have a tiny /dev/shm; Chromium crashes when it
		// fills up.
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1200, 900),
		chromedp.CombinedOutput(chromiumLog),
	)
	t.Cleanup(cancelAlloc) // waits for the browser process to exit

	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancel)
	start := time.Now()
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start %s: %v (see %s)", chromiumPath, err, filepath.Join(art, "chromium.log"))
	}
	if v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.userAgent`)); err == nil {
		t.Logf("browser started in %s: %s", time.Since(start).Round(time.Millisecond), v)
	}
	return ctx
}

// newTab opens a tab in a new browser context of the browser of root,
// closed when the test ends.
func newTab(t *testing.T, root context.Context, art string) *browser {
	t.Helper()
	b := &browser{t: t, dir: art}
	ctx, cancel := chromedp.NewContext(root,
		chromedp.WithNewBrowserContext(),
		chromedp.WithListener(b.onEvent),
	)
	t.Cleanup(cancel)
	b.ctx = ctx
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return b
}

// onEvent runs in the tab's event loop: record, return fast.
func (b *browser) onEvent(ev any) {
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		if ev.Type == network.ResourceTypeDocument && ev.Request != nil {
			b.mu.Lock()
			b.docs = append(b.docs, ev.Request.Method+" "+ev.Request.URL)
			b.mu.Unlock()
		}
	case *network.EventResponseReceived:
		if ev.Type == network.ResourceTypeDocument && ev.Response != nil && ev.Response.Status >= 400 {
			b.mu.Lock()
			b.bad = append(b.bad, fmt.Sprintf("%d %s", ev.Response.Status, ev.Response.URL))
			b.mu.Unlock()
		}
	}
}

// markNavigation starts a new record of document requests.
func (b *browser) markNavigation() {
	b.mu.Lock()
	b.docs = nil
	b.mu.Unlock()
}

// navigation is the document requests since markNavigation.
func (b *browser) navigation() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.docs...)
}

// do runs steps with a timeout; on failure it saves a screenshot and
// stops the test with what the page shows.
func (b *browser) do(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("timed out after %s: %w", stepTimeout, err)
		}
		b.fatalf("%s: %v", step, err)
	}
}

// fatalf saves a failure screenshot and ends the test with the page state.
func (b *browser) fatalf(format string, args ...any) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		_ = os.WriteFile(filepath.Join(b.dir, "failure.png"), png, 0o644)
	}
	b.t.Fatalf("%s\n  page: %s\n  text: %q\n  documents since the last step: %v\n  artifacts: %s",
		fmt.Sprintf(format, args...), loc, truncate(text, 600), b.navigation(), b.dir)
}

// screenshot saves a full-page PNG named NN-name.png... as given.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		b.fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(b.dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.shots++
	b.t.Logf("screenshot %s", path)
}

// cookie is the browser's cookie name sent to url, or nil.
func (b *browser) cookie(url, name string) *network.Cookie {
	b.t.Helper()
	res, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	if err != nil {
		b.fatalf("read the cookies of %s: %v", url, err)
	}
	for _, c := range res.Cookies {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (b *browser) location() string {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.fatalf("read the location: %v", err)
	}
	return loc
}

func (b *browser) expectLocation(want string) {
	b.t.Helper()
	if got := b.location(); got != want {
		b.fatalf("location is %s, want %s", got, want)
	}
}

func (b *browser) expectLocationPrefix(prefix string) {
	b.t.Helper()
	if got := b.location(); !strings.HasPrefix(got, prefix) {
		b.fatalf("location is %s, want %s…", got, prefix)
	}
}

func (b *browser) expectTitle(want string) {
	b.t.Helper()
	got, err := chromedp.Run(b.ctx, chromedp.Title())
	if err != nil || got != want {
		b.fatalf("title is %q (err %v), want %q", got, err, want)
	}
}

// expectVisited checks that a document was requested at each URL prefix
// (query strings aside) during the recorded navigation.
func (b *browser) expectVisited(nav []string, prefixes ...string) {
	b.t.Helper()
	for _, p := range prefixes {
		if !visited(nav, p) {
			b.fatalf("the browser never loaded %s; documents: %v", p, nav)
		}
	}
}

func (b *browser) expectNotVisited(nav []string, what, prefix string) {
	b.t.Helper()
	if visited(nav, prefix) {
		b.fatalf("the browser loaded %s (%s); documents: %v", what, prefix, nav)
	}
}

func visited(nav []string, prefix string) bool {
	for _, d := range nav {
		_, u, _ := strings.Cut(d, " ")
		if pu, err := neturl.Parse(u); err == nil {
			pu.RawQuery, pu.Fragment = "", ""
			u = pu.String()
		}
		if u == prefix || strings.HasPrefix(u, strings.TrimSuffix(prefix, "/")+"/") || strings.HasPrefix(u, prefix+"?") {
			return true
		}
	}
	return false
}

func (b *browser) expectNoErrorDocuments() {
	b.t.Helper()
	b.mu.Lock()
	bad := append([]string(nil), b.bad...)
	b.mu.Unlock()
	if len(bad) > 0 {
		b.t.Errorf("pages answered with an error status: %v", bad)
	}
}

// field is what the accessibility checks read about a form input.
type field struct {
	Present      bool   `json:"present"`
	Type         string `json:"type"`
	Autocomplete string `json:"autocomplete"`
	Labels       int    `json:"labels"`
	LabelFor     bool   `json:"labelFor"`
	LabelText    string `json:"labelText"`
	Required     bool   `json:"required"`
	Lang         string `json:"lang"`
	Title        string `json:"title"`
	Focused      bool   `json:"focused"`
}

func (b *browser) field(id string) field {
	b.t.Helper()
	js := fmt.Sprintf(`(() => {
  const id = %q, el = document.getElementById(id);
  const lf = document.querySelector('label[for="' + id + '"]');
  return {
    present: !!el,
    type: el ? el.type : "",
    autocomplete: el ? (el.getAttribute("autocomplete") || "") : "",
    labels: el && el.labels ? el.labels.length : 0,
    labelFor: !!lf,
    labelText: lf ? lf.textContent.trim() : "",
    required: el ? el.required : false,
    lang: document.documentElement.lang || "",
    title: document.title || "",
    focused: document.activeElement === el,
  };
})()`, id)
	f, err := chromedp.Run(b.ctx, chromedp.Evaluate[field](js))
	if err != nil {
		b.fatalf("inspect #%s: %v", id, err)
	}
	return f
}

// checkUsernameStep: the identifier step has a labelled username field.
func (b *browser) checkUsernameStep() {
	b.t.Helper()
	f := b.field("username")
	switch {
	case !f.Present:
		b.fatalf("login page: no input#username")
	case !f.LabelFor:
		b.fatalf(`login page: no <label for="username">`)
	case f.Labels == 0:
		b.fatalf("login page: input#username has no associated label")
	case f.LabelText == "":
		b.fatalf(`login page: <label for="username"> is empty`)
	case f.Type != "text" && f.Type != "email":
		b.fatalf("login page: input#username has type %q", f.Type)
	case f.Autocomplete != "username":
		b.fatalf(`login page: input#username has autocomplete=%q, want "username"`, f.Autocomplete)
	case f.Lang == "":
		b.fatalf("login page: <html> has no lang")
	case f.Title == "":
		b.fatalf("login page: empty <title>")
	}
	if n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll('input[type="password"]').length`)); err != nil || n != 0 {
		b.fatalf("identifier step shows %d password inputs (err %v), want none", n, err)
	}
	b.t.Logf("login page, username step: label %q, autocomplete=%q, focused=%v, lang=%q, title=%q", f.LabelText, f.Autocomplete, f.Focused, f.Lang, f.Title)
}

// checkPasswordStep: the password field is labelled and lets password
// managers fill it in.
func (b *browser) checkPasswordStep() {
	b.t.Helper()
	f := b.field("password")
	switch {
	case !f.Present:
		b.fatalf("login page: no input#password")
	case f.Type != "password":
		b.fatalf("login page: input#password has type %q", f.Type)
	case f.Autocomplete != "current-password":
		b.fatalf(`login page: input#password has autocomplete=%q, want "current-password"`, f.Autocomplete)
	case !f.LabelFor || f.Labels == 0 || f.LabelText == "":
		b.fatalf("login page: input#password has no (non-empty) label: %+v", f)
	}
	who, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil || !strings.Contains(who, demo.User) {
		b.fatalf("password step does not show who signs in (%q): %q", demo.User, truncate(who, 300))
	}
	b.t.Logf("login page, password step: label %q, autocomplete=%q, focused=%v", f.LabelText, f.Autocomplete, f.Focused)
}

// waitHeading waits for an <h1> with exactly this text.
func waitHeading(text string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.Search(fmt.Sprintf(`//h1[normalize-space()=%q]`, text)))
}

func linkNamed(text string) chromedp.Search {
	return chromedp.Search(fmt.Sprintf(`//a[normalize-space()=%q]`, text))
}

func buttonNamed(text string) chromedp.Search {
	return chromedp.Search(fmt.Sprintf(`//button[normalize-space()=%q]`, text))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
