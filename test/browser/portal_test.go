package browser_test

// The admin portal in a real headless Chromium against a real `latchkey
// serve`: each test starts its own server process (SQLite) and drives the
// portal by its visible labels and button names, the way an administrator
// does. Screenshots of every main page go to the test's artifacts
// directory; the best are committed under docs/images/.

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/latchkey/latchkey/internal/testkit"
	"github.com/latchkey/latchkey/internal/upstream/upstreamtest"
)

const portalPassword = "correct horse battery staple"

// byLabel is the form control that the <label> with this text is bound to.
func byLabel(text string) chromedp.Search {
	return chromedp.Search(fmt.Sprintf(`//*[@id=//label[normalize-space()=%q]/@for]`, text))
}

// fill replaces the value of the control labelled label.
func fill(label, value string) chromedp.Action[chromedp.Void] {
	return chromedp.SetValue(byLabel(label), value)
}

// tabNamed is the tab (in the page's tab list) with this name.
func tabNamed(text string) chromedp.Search {
	return chromedp.Search(fmt.Sprintf(`//nav[contains(@class, "tabs")]//a[normalize-space()=%q]`, text))
}

// waitMain waits until the page's main content contains text.
func waitMain(text string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.Search(fmt.Sprintf(`//main[contains(normalize-space(.), %q)]`, text)))
}

// signInAt completes the organization's identifier-first login page.
func (b *browser) signInAt(userName, password string) {
	b.t.Helper()
	b.do("enter the user name", chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), userName), chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("password")))
	b.do("enter the password", chromedp.SendKeys(chromedp.ID("password"), password), chromedp.Click(chromedp.CSS(`button[type="submit"]`)))
}

// checkLabels fails if a visible form control of the page has no bound label.
func (b *browser) checkLabels(page string) {
	b.t.Helper()
	unlabelled, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea'))
  .filter(el => !el.labels || el.labels.length === 0 || !el.labels[0].textContent.trim())
  .map(el => el.outerHTML.slice(0, 120))`))
	if err != nil {
		b.fatalf("%s: inspect labels: %v", page, err)
	}
	if len(unlabelled) > 0 {
		b.fatalf("%s: controls without a label: %v", page, unlabelled)
	}
}

func (b *browser) value(label string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Value(byLabel(label)))
	if err != nil {
		b.fatalf("read %q: %v", label, err)
	}
	return v
}

// Scenario 1: first start. The operator opens the setup link from the
// log, sets a password, signs in through the operator organization's
// login, creates an organization, an application with two post-logout
// redirect URIs and a user.
func TestPortal_OperatorFirstStart(t *testing.T) {
	requireChromium(t)
	art := artifactsDir(t)
	root := startBrowser(t, art)
	srv := newServe(t, testkit.ClosedPort(t))
	srv.start(createArtifact(t, art, "server.log"))
	b := newTab(t, root, art)

	b.do("open the setup link", chromedp.Navigate(srv.setupURL()), waitHeading("Set up the first operator"))
	b.checkLabels("setup")
	b.screenshot("01-operator-setup")
	b.do("choose the operator's credentials",
		fill("User name", "root"), fill("Password", portalPassword), fill("Confirm password", portalPassword),
		chromedp.Click(buttonNamed("Create operator")), chromedp.WaitVisible(chromedp.ID("username")))
	b.expectLocationPrefix(srv.URL + "/o/admin/login")
	b.signInAt("root", portalPassword)
	// Operators must use a second factor (the operator organization's
	// policy is "admins"): the first sign-in enrols one. The key is read
	// from the page and the code computed here, as an authenticator app would.
	b.do("reach the second-factor enrolment", waitHeading("Set up a second factor"), chromedp.WaitVisible(chromedp.ID("totp-secret")))
	b.screenshot("01b-operator-second-factor")
	code, err := totp.GenerateCodeCustom(b.text("#totp-secret"), time.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	b.do("turn on one-time codes", fill("First code from the app", code),
		chromedp.Click(buttonNamed("Turn on one-time codes")), waitHeading("Save your recovery codes"))
	b.do("continue past the recovery codes", chromedp.Click(chromedp.ID("codes-continue")), waitHeading("Organizations"))
	b.expectLocation(srv.URL + "/admin/")

	b.do("create an organization", fill("Organization ID", "acme"), fill("Name", "Acme Corporation"),
		chromedp.Click(buttonNamed("Create organization")), waitMain("API key of Acme Corporation"))
	if key := b.value("Organization API key"); !strings.HasPrefix(key, "lk_org_") {
		b.fatalf("new organization's API key %q", key)
	}
	b.screenshot("02-organizations-created")

	b.do("open the new organization's portal", chromedp.Click(linkNamed("Open the portal of Acme Corporation")), waitHeading("Overview"))
	b.do("open Applications", chromedp.Click(linkNamed("Applications")), waitHeading("Applications"), waitMain("Admin portal"))
	b.do("start Create application", chromedp.Click(linkNamed("Create application")), waitHeading("Create application"))
	b.checkLabels("create application")
	b.do("create the application", fill("Name", "Team Wiki"), fill("Redirect URIs", "https://wiki.acme.example/callback"),
		fill("Post logout redirect URIs", "https://wiki.acme.example/\nhttps://wiki.acme.example/signed-out"),
		chromedp.Click(buttonNamed("Create application")), waitHeading("Team Wiki"), waitMain("Client secret"))
	b.screenshot("03-application-created")
	b.do("open the application's Settings tab", chromedp.Click(tabNamed("Settings")), waitMain("Post logout redirect URIs"))
	if got := b.value("Post logout redirect URIs"); got != "https://wiki.acme.example/\nhttps://wiki.acme.example/signed-out" {
		b.fatalf("Post logout redirect URIs show %q", got)
	}
	b.checkLabels("application settings")
	b.screenshot("04-application-settings")

	b.do("open Users", chromedp.Click(linkNamed("Users")), waitHeading("Users"))
	b.do("start Create user", chromedp.Click(linkNamed("Create user")), waitHeading("Create user"))
	b.do("create the user", fill("User name", "ada"), fill("Name", "Ada Lovelace"), fill("Email", "ada@acme.example"),
		chromedp.SetValue(byLabel("Role"), "ADMIN"), fill("Password", portalPassword),
		chromedp.Click(buttonNamed("Create user")), waitHeading("ada"), waitMain("User ada created"))
	b.screenshot("05-user-created")
	b.expectNoErrorDocuments()
}

// Scenario 2: an organization's admin signs in through the organization's
// own login and changes the settings the seeds describe.
func TestPortal_OrgAdminSettings(t *testing.T) {
	requireChromium(t)
	art := artifactsDir(t)
	root := startBrowser(t, art)
	srv := newServe(t, testkit.ClosedPort(t))
	srv.provisionOrg("acme", "ada", "", portalPassword)
	srv.start(createArtifact(t, art, "server.log"))
	b := newTab(t, root, art)

	b.do("open the portal", chromedp.Navigate(srv.URL+"/admin/o/acme/"), chromedp.WaitVisible(chromedp.ID("username")))
	b.expectLocationPrefix(srv.URL + "/o/acme/login")
	b.signInAt("ada", portalPassword)
	b.do("reach the overview", waitHeading("Overview"), waitMain("Other endpoints"))
	b.expectLocation(srv.URL + "/admin/o/acme/")
	if v := b.value("End session endpoint"); v != srv.URL+"/o/acme/end_session" {
		b.fatalf("End session endpoint shows %q", v)
	}
	b.screenshot("01-overview")

	b.do("open Settings", chromedp.Click(linkNamed("Settings")), waitHeading("Settings"), waitMain("Enable SSO"))
	b.checkLabels("SSO Settings")
	b.do("set the session lifetime", fill("Session lifetime", "1.296.000"), chromedp.Click(buttonNamed("Save")),
		waitMain("SSO settings saved"), waitMain("15 days"))
	if v := b.value("Session lifetime"); v != "1296000" {
		b.fatalf("Session lifetime shows %q after saving", v)
	}
	b.screenshot("02-sso-settings")

	b.do("open the UX tab", chromedp.Click(tabNamed("UX")), waitMain("Auth Redirect URL"))
	b.do("set Auth Redirect URL and login method", fill("Auth Redirect URL", "https://community.acme.example/sso"),
		chromedp.SetValue(byLabel("Login method"), "platform"), chromedp.Click(buttonNamed("Save")), waitMain("UX settings saved"))
	if v := b.value("Login method"); v != "platform" {
		b.fatalf("Login method shows %q", v)
	}
	b.screenshot("03-ux-settings")

	b.do("open the Integrations tab", chromedp.Click(tabNamed("Integrations")), waitMain("Organization API key"))
	if v := b.value("Organization API key"); strings.HasPrefix(v, "lk_org_") {
		b.fatalf("the API key is shown before Reveal")
	}
	b.checkLabels("Integrations")
	keyShown := chromedp.WaitVisible(chromedp.Search(`//input[@id="api-key" and starts-with(@value, "lk_org_")]`))
	b.do("reveal the API key", chromedp.Click(buttonNamed("Reveal")), keyShown)
	first := b.value("Organization API key")
	b.screenshot("04-api-key-revealed")
	b.do("rotate the API key", chromedp.SetValue(byLabel("Old key keeps working for"), "3600"), chromedp.Click(buttonNamed("Rotate")),
		waitMain("API key rotated"), keyShown)
	if second := b.value("Organization API key"); second == first {
		b.fatalf("Rotate showed the old key")
	}
	b.do("create a SCIM token", fill("Description", "Okta"), chromedp.Click(buttonNamed("Create SCIM token")),
		waitMain("SCIM token created"), chromedp.WaitVisible(chromedp.Search(`//input[@id="scim-token" and starts-with(@value, "lk_scim_acme.")]`)))
	if v := b.value("SCIM base URL"); !strings.HasSuffix(v, "/o/acme/scim/v2") {
		b.fatalf("SCIM base URL shows %q", v)
	}
	b.do("open the Audit log", chromedp.Click(linkNamed("Audit log")), waitHeading("Audit log"), waitMain("org.api_key.reveal"), waitMain("org.api_key.rotate"))
	b.screenshot("05-audit-log")
	b.expectNoErrorDocuments()
}

// Scenario 3: the organization signs in through its company's OpenID
// Connect provider. The admin configures the connection, checks it, and
// switches the login method; a user then signs in to an application
// through the provider.
func TestPortal_UpstreamConnection(t *testing.T) {
	requireChromium(t)
	art := artifactsDir(t)
	addr := testkit.ClosedPort(t)
	iss := "http://" + addr + "/o/acme"
	op := upstreamtest.Start(t, upstreamtest.Options{
		Clients: []upstreamtest.Client{{ID: "latchkey-acme", Secret: "upstream-secret-0123456789",
			RedirectURIs: []string{iss + "/callback"}, PostLogoutRedirectURIs: []string{iss + "/logout/callback"}}},
		Accounts:  map[string]map[string]any{"u-bob": {"preferred_username": "bob", "name": "Bob Upstream"}},
		AutoLogin: "u-bob",
	})
	root := startBrowser(t, art)
	srv := newServe(t, addr)
	srv.provisionOrg("acme", "ada", "bob", portalPassword)
	app := newTestApp(t)
	created := srv.cli("", "app", "create", "--org", "acme", "--name", "Test app", "--redirect-uri", app.URL()+"/cb")
	app.issuer, app.ID, app.Secret = iss, fmt.Sprint(created["clientId"]), fmt.Sprint(created["clientSecret"])
	srv.start(createArtifact(t, art, "server.log"))

	b := newTab(t, root, art)
	b.do("open the portal's Authentication settings", chromedp.Navigate(srv.URL+"/admin/o/acme/settings/authentication"),
		chromedp.WaitVisible(chromedp.ID("username")))
	b.signInAt("ada", portalPassword)
	b.do("reach Authentication", waitHeading("Settings"), waitMain("Configuration URL"))
	if v := b.value("Redirect URI"); v != iss+"/callback" {
		b.fatalf("Redirect URI shows %q", v)
	}
	b.checkLabels("Authentication")
	b.do("fill in the connection", fill("Configuration URL", op.Issuer+"/.well-known/openid-configuration"),
		fill("Client ID", "latchkey-acme"), fill("Client Secret", "upstream-secret-0123456789"), fill("Display name", "Acme SSO"))
	b.do("press Check", chromedp.Click(buttonNamed("Check")), waitMain("Discovery works"), waitMain(op.Issuer))
	b.screenshot("01-upstream-check")
	b.do("save the connection", fill("Client Secret", "upstream-secret-0123456789"), chromedp.Click(buttonNamed("Save")),
		waitMain("Upstream connection saved"))
	if v := b.value("Client Secret"); v != "" {
		b.fatalf("the client secret is shown back: %q", v)
	}
	b.screenshot("02-upstream-saved")
	b.do("switch the login method to upstream", chromedp.Click(tabNamed("UX")), waitMain("Login method"),
		chromedp.SetValue(byLabel("Login method"), "upstream"), chromedp.Click(buttonNamed("Save")), waitMain("UX settings saved"))

	user := newTab(t, root, art)
	user.markNavigation()
	user.do("sign in to the test app through the upstream provider", chromedp.Navigate(app.URL()+"/login"), waitHeading("Signed in as bob"))
	user.expectVisited(user.navigation(), iss+"/authorize", op.Issuer, iss+"/callback", app.URL()+"/cb")
	user.screenshot("03-app-signed-in-upstream")
	b.expectNoErrorDocuments()
}

// Scenario 4: an admin revokes a user's session on the Users page; the
// application the user signed in to receives its back-channel logout.
func TestPortal_RevokeSessionSendsBackChannelLogout(t *testing.T) {
	requireChromium(t)
	art := artifactsDir(t)
	root := startBrowser(t, art)
	srv := newServe(t, testkit.ClosedPort(t))
	srv.provisionOrg("acme", "ada", "bob", portalPassword)
	app := newTestApp(t)
	created := srv.cli("", "app", "create", "--org", "acme", "--name", "Test app", "--redirect-uri", app.URL()+"/cb",
		"--backchannel-logout-uri", app.URL()+"/bc")
	app.issuer, app.ID, app.Secret = srv.URL+"/o/acme", fmt.Sprint(created["clientId"]), fmt.Sprint(created["clientSecret"])
	srv.start(createArtifact(t, art, "server.log"))

	user := newTab(t, root, art)
	user.do("open the test app's sign-in", chromedp.Navigate(app.URL()+"/login"), chromedp.WaitVisible(chromedp.ID("username")))
	user.signInAt("bob", portalPassword)
	user.do("reach the app", waitHeading("Signed in as bob"))
	sids := app.sids()
	if len(sids) != 1 || sids[0] == "" {
		t.Fatalf("the app's sessions: %v", sids)
	}

	b := newTab(t, root, art)
	b.do("open the portal's Users", chromedp.Navigate(srv.URL+"/admin/o/acme/users/"), chromedp.WaitVisible(chromedp.ID("username")))
	b.signInAt("ada", portalPassword)
	b.do("search for bob", waitHeading("Users"), fill("Search users", "bob"), chromedp.Click(buttonNamed("Search")), waitMain("Bob User"))
	b.screenshot("01-users")
	b.do("open bob", chromedp.Click(linkNamed("bob")), waitHeading("bob"), waitMain("Revoke all sessions"))
	b.checkLabels("user")
	b.screenshot("02-user-sessions")
	b.do("revoke bob's session", chromedp.Click(chromedp.Search(`//button[normalize-space()="Revoke"]`)), waitMain("Session revoked"), waitMain("No live sessions"))

	deadline := time.Now().Add(30 * time.Second)
	for !slices.Contains(app.logoutTokens(), sids[0]) {
		if time.Now().After(deadline) {
			t.Fatalf("no back-channel logout for sid %s within 30s; got %v", sids[0], app.logoutTokens())
		}
		time.Sleep(100 * time.Millisecond)
	}
	user.do("reload the app", chromedp.Navigate(app.URL()+"/"), waitHeading("Not signed in"))
	b.screenshot("03-session-revoked")
	b.expectNoErrorDocuments()
}
