package browser_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/latchkey/latchkey/internal/bootstrap"
	"github.com/latchkey/latchkey/internal/demo"
	"github.com/latchkey/latchkey/internal/server"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

// TestPasskeysOneTimeCodesAndStepUp drives the second factors through
// Chromium with a virtual authenticator (CTAP2, resident keys, user
// verification): a passkey added on the account page, a step-up demanded
// by an application with acr_values and served to a second application by
// SSO, one-time codes set up from the secret on the page, passwordless
// sign-in with the passkey, and password plus a passkey or a code.
// WebAuthn refuses IP addresses as Relying Party ID, so the server's
// public URL names localhost (a secure context for Chromium over http).
func TestPasskeysOneTimeCodesAndStepUp(t *testing.T) {
	requireChromium(t)
	root := startBrowser(t, artifactsDir(t))
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) { testMFA(t, root, backend) })
	}
}

// claims reads the id_token claims a demo application shows.
func (b *browser) claims() map[string]any {
	b.t.Helper()
	raw, err := chromedp.Run(b.ctx, chromedp.TextContent(chromedp.CSS("pre")))
	if err != nil {
		b.fatalf("read the claims: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		b.fatalf("claims are not JSON: %v\n%s", err, raw)
	}
	return m
}

func (b *browser) expectAuth(c map[string]any, acr string, amr ...string) {
	b.t.Helper()
	var got []string
	list, _ := c["amr"].([]any)
	for _, v := range list {
		s, _ := v.(string)
		got = append(got, s)
	}
	slices.Sort(got)
	slices.Sort(amr)
	if c["acr"] != acr || !slices.Equal(got, amr) {
		b.fatalf("id_token acr %v amr %v, want %s %v", c["acr"], got, acr, amr)
	}
}

func (b *browser) virtualAuthenticator() cdpwebauthn.AuthenticatorID {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, cdpwebauthn.Enable, cdpwebauthn.EnableParams{}); err != nil {
		b.fatalf("WebAuthn.enable: %v", err)
	}
	res, err := chromedp.Call(ctx, cdpwebauthn.AddVirtualAuthenticator, cdpwebauthn.AddVirtualAuthenticatorParams{
		Options: &cdpwebauthn.VirtualAuthenticatorOptions{
			Protocol: cdpwebauthn.AuthenticatorProtocolCtap2, Transport: cdpwebauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		},
	})
	if err != nil {
		b.fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	return res.AuthenticatorID
}

// presence turns the authenticator's automatic user presence on or off.
// Off, a request waits (as a person would before touching it): the
// browser's passkey autofill then does not sign in by itself.
func (b *browser) presence(id cdpwebauthn.AuthenticatorID, on bool) {
	b.t.Helper()
	if _, err := chromedp.Call(b.ctx, cdpwebauthn.SetAutomaticPresenceSimulation,
		cdpwebauthn.SetAutomaticPresenceSimulationParams{AuthenticatorID: id, Enabled: on}); err != nil {
		b.fatalf("WebAuthn.setAutomaticPresenceSimulation: %v", err)
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		b.fatalf("read %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func testMFA(t *testing.T, root context.Context, backend string) {
	art := artifactsDir(t)
	serverLog := createArtifact(t, art, "server.log")
	var setup *demo.Setup
	inst := servertest.Start(t, backend, servertest.Options{
		Log: serverLog, Host: "localhost",
		Setup: func(env *bootstrap.Env, publicURL string) []server.Option {
			var err error
			setup, err = demo.Provision(context.Background(), env.Directory, publicURL, env.Logger)
			if err != nil {
				t.Fatalf("provision the demo: %v", err)
			}
			return []server.Option{server.WithHandler("/demo/", setup.Handler())}
		},
	})
	issuer := inst.Issuer(demo.OrgID)
	app1, app2 := setup.Apps[0].BaseURL, setup.Apps[1].BaseURL
	b := newTab(t, root, art)
	auth := b.virtualAuthenticator()

	// 1. A password-only session through app 1.
	b.do("open app 1 and sign in", chromedp.Navigate(app1+"/login"), chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), demo.User), chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("password")))
	b.do("password", chromedp.SendKeys(chromedp.ID("password"), demo.UserPassword),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)), waitHeading("Signed in as "+demo.User))
	first := b.claims()
	b.expectAuth(first, "urn:latchkey:acr:pwd", "pwd")

	// 2. Add a passkey on the account page; the first factor brings recovery codes.
	b.do("open the account page", chromedp.Navigate(issuer+"/account"), chromedp.WaitVisible(chromedp.ID("add-passkey")))
	b.screenshot("01-account-add-passkey")
	b.do("add a passkey", chromedp.SendKeys(chromedp.ID("passkey-name"), "Test laptop"),
		chromedp.Click(chromedp.ID("add-passkey")), waitHeading("Save your recovery codes"))
	if codes := b.text("#recovery-codes"); strings.Count(codes, "-") != 30 {
		b.fatalf("recovery codes shown: %q, want ten", codes)
	}
	b.screenshot("02-recovery-codes")
	b.do("continue to the account page", chromedp.Click(chromedp.ID("codes-continue")), chromedp.WaitVisible(chromedp.ID("passkeys")))
	if !strings.Contains(b.text("#passkeys"), "Test laptop") {
		b.fatalf("the account page does not list the passkey")
	}

	// 3. App 2 demands a second factor: the session is stepped up with the
	// passkey, no password asked, auth_time kept.
	b.markNavigation()
	b.do("app 2 asks for mfa", chromedp.Navigate(app2+"/login?acr_values=urn:latchkey:acr:mfa"), chromedp.WaitVisible(chromedp.ID("use-passkey")))
	b.expectLocationPrefix(issuer + "/login/factor")
	b.screenshot("03-step-up-second-factor")
	b.do("use the passkey", chromedp.Click(chromedp.ID("use-passkey")), waitHeading("Signed in as "+demo.User))
	for _, d := range b.navigation() {
		if _, u, _ := strings.Cut(d, " "); strings.HasPrefix(u, issuer+"/login?") || u == issuer+"/login" {
			b.fatalf("step-up went through the password page: %v", b.navigation())
		}
	}
	second := b.claims()
	b.expectAuth(second, "urn:latchkey:acr:mfa", "pwd", "hwk", "mfa")
	if second["auth_time"] != first["auth_time"] {
		b.fatalf("step-up changed auth_time: %v → %v", first["auth_time"], second["auth_time"])
	}
	// 4. App 1 signs in again by SSO, at the stepped-up level.
	b.markNavigation()
	b.do("app 1 again", chromedp.Navigate(app1+"/login"), waitHeading("Signed in as "+demo.User))
	b.expectNotVisited(b.navigation(), "a sign-in page (SSO)", issuer+"/login")
	b.expectAuth(b.claims(), "urn:latchkey:acr:mfa", "pwd", "hwk", "mfa")

	// 5. One-time codes: the secret is read from the page, the code computed here.
	b.do("open the code setup", chromedp.Navigate(issuer+"/account/totp"), chromedp.WaitVisible(chromedp.ID("totp-secret")))
	key := b.text("#totp-secret")
	b.screenshot("04-one-time-code-setup")
	code := func(at time.Time) string {
		c, err := totp.GenerateCodeCustom(key, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	b.do("confirm the first code", chromedp.SendKeys(chromedp.ID("code"), code(time.Now())),
		chromedp.Click(chromedp.CSS(`#totp-form button[type="submit"]`)), chromedp.WaitVisible(chromedp.ID("remove-totp")))

	// 6. Sign out, then sign in with the passkey alone: "Sign in with a
	// passkey" on the sign-in page. (With presence off, the page's request
	// to the browser's passkey autofill waits, as for a person who has not
	// picked a passkey yet; the button cancels it and asks directly.)
	b.do("sign out", chromedp.Click(buttonNamed("Sign out of all applications")), waitHeading("Signed out"))
	b.presence(auth, false)
	b.do("open the sign-in page", chromedp.Navigate(app1+"/login"), chromedp.WaitVisible(chromedp.ID("passkey-signin")))
	b.screenshot("05-sign-in-with-a-passkey")
	b.presence(auth, true)
	b.do("click Sign in with a passkey", chromedp.Click(chromedp.ID("passkey-signin")), waitHeading("Signed in as "+demo.User))
	b.expectAuth(b.claims(), "urn:latchkey:acr:mfa", "hwk", "mfa")

	// The browser's passkey autofill (conditional mediation) signs in too:
	// the authenticator answers at once, as when the person picks the passkey.
	b.do("sign out", chromedp.Navigate(issuer+"/account"), chromedp.Click(buttonNamed("Sign out of all applications")), waitHeading("Signed out"))
	b.markNavigation()
	b.do("passkey autofill on the sign-in page", chromedp.Navigate(app1+"/login"), waitHeading("Signed in as "+demo.User))
	b.expectVisited(b.navigation(), issuer+"/login", issuer+"/login/passkey")
	b.expectAuth(b.claims(), "urn:latchkey:acr:mfa", "hwk", "mfa")

	// 7. Password, then the passkey as the second factor.
	passwordStep := func(until string) {
		b.do("sign out", chromedp.Navigate(issuer+"/account"), chromedp.Click(buttonNamed("Sign out of all applications")), waitHeading("Signed out"))
		b.presence(auth, false) // a person typing a password ignores the autofill
		b.do("password again", chromedp.Navigate(app1+"/login"), chromedp.WaitVisible(chromedp.ID("username")),
			chromedp.SendKeys(chromedp.ID("username"), demo.User), chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.ID("password")), chromedp.SendKeys(chromedp.ID("password"), demo.UserPassword),
			chromedp.Click(chromedp.CSS(`button[type="submit"]`)), chromedp.WaitVisible(chromedp.ID(until)))
		b.presence(auth, true)
	}
	passwordStep("use-passkey")
	b.screenshot("06-second-factor-choice")
	b.do("use the passkey", chromedp.Click(chromedp.ID("use-passkey")), waitHeading("Signed in as "+demo.User))
	b.expectAuth(b.claims(), "urn:latchkey:acr:mfa", "pwd", "hwk", "mfa")

	// 8. Password, then a one-time code (the next step's: the confirming code is spent).
	passwordStep("code")
	b.do("enter a code", chromedp.SendKeys(chromedp.ID("code"), code(time.Now().Add(30*time.Second))),
		chromedp.Click(chromedp.CSS(`#factor-totp button[type="submit"]`)), waitHeading("Signed in as "+demo.User))
	b.expectAuth(b.claims(), "urn:latchkey:acr:mfa", "pwd", "otp", "mfa")
	b.expectNoErrorDocuments()
}
