package op_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/mfa"
	"github.com/latchkey/latchkey/internal/mfa/mfatest"
	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/store"
)

// mfaService is a second handle on the server's factors, for setting them
// up the way the account page would.
func (s *opServer) mfaService() *mfa.Service {
	env := s.Inst.Env
	return &mfa.Service{Store: env.Store, Master: env.Master, PublicURL: env.Config.PublicURL, Now: env.Now}
}

// enrolTOTP gives alice a confirmed authenticator app and returns its key.
func (s *opServer) enrolTOTP(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	svc := s.mfaService()
	org, _ := s.Inst.Env.Store.GetOrg(ctx, s.Fx.Org)
	u, _ := s.Inst.Env.Store.GetUser(ctx, s.Fx.Org, s.Fx.Sub)
	e, err := svc.BeginTOTP(ctx, org, u)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.ConfirmTOTP(ctx, s.Fx.Org, s.Fx.Sub, totpCode(t, e.Secret, s.Inst.Clock.Now().Add(-30*time.Second))); err != nil {
		t.Fatal(err)
	}
	return e.Secret
}

func totpCode(t *testing.T, key string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(key, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (s *opServer) setPolicy(t *testing.T, policy string) {
	t.Helper()
	if _, err := s.Inst.Env.Directory.UpdateOrg(context.Background(), s.Inst.Actor, s.Fx.Org, directory.OrgChanges{MFA: &policy}); err != nil {
		t.Fatal(err)
	}
}

// formWith returns the page's form that has an input named field.
func formWith(t *testing.T, p *servertest.Page, id string) servertest.Form {
	t.Helper()
	for _, m := range regexp.MustCompile(`(?is)<form\b[^>]*id="`+id+`"[^>]*>.*?</form>`).FindAllString(p.Body, -1) {
		fs := (&servertest.Page{URL: p.URL, Body: m}).Forms()
		if len(fs) == 1 {
			return fs[0]
		}
	}
	t.Fatalf("no form #%s on %s (status %d):\n%s", id, p.URL, p.Status, p.Body)
	return servertest.Form{}
}

var jsonScript = regexp.MustCompile(`(?s)<script type="application/json">(.*?)</script>`)

// embeddedOptions returns the WebAuthn options a page's form carries.
func embeddedOptions(t *testing.T, p *servertest.Page, id string) []byte {
	t.Helper()
	m := regexp.MustCompile(`(?is)<form\b[^>]*id="` + id + `"[^>]*>.*?</form>`).FindString(p.Body)
	o := jsonScript.FindStringSubmatch(m)
	if o == nil {
		t.Fatalf("no WebAuthn options in form #%s:\n%s", id, p.Body)
	}
	return []byte(o[1])
}

// addPasskeyForm asks the account page's "Add a passkey" for its ceremony,
// as the page's script does, and returns the WebAuthn creation options
// and the form with the ceremony's flow filled in.
func addPasskeyForm(t *testing.T, b *servertest.Browser, acct *servertest.Page) ([]byte, servertest.Form) {
	t.Helper()
	m := regexp.MustCompile(`(?is)<form\b[^>]*id="add-passkey-form"[^>]*>`).FindString(acct.Body)
	o := regexp.MustCompile(`data-options="([^"]+)"`).FindStringSubmatch(m)
	if o == nil {
		t.Fatalf("no ceremony address on the add-passkey form:\n%s", acct.Body)
	}
	f := formWith(t, acct, "add-passkey-form")
	opts := b.PostForm(html.UnescapeString(o[1]), url.Values{"csrf_token": {f.Values.Get("csrf_token")}})
	if opts.Status != http.StatusOK {
		t.Fatalf("passkey registration options: %d %s", opts.Status, opts.Body)
	}
	var c struct {
		Options json.RawMessage `json:"options"`
		Flow    string          `json:"flow"`
	}
	mustJSON(t, opts.Body, &c)
	if len(c.Options) == 0 || c.Flow == "" {
		t.Fatalf("registration options without options or flow: %s", opts.Body)
	}
	f.Values.Set("flow", c.Flow)
	return c.Options, f
}

// passwordStep signs in at the login page for an authorize URL and returns
// the page after the password.
func (s *opServer) passwordStep(t *testing.T, b *servertest.Browser, authURL string) *servertest.Page {
	t.Helper()
	p := b.Follow(b.Get(authURL), servertest.OPRedirectURI)
	if p.Status != http.StatusOK {
		t.Fatalf("expected the login page, got %d at %s", p.Status, p.URL)
	}
	return b.Follow(b.Login(p, s.Fx.UserName, s.Fx.Password), servertest.OPRedirectURI)
}

// finishCode redeems the redirect at the end of a flow and returns the
// id_token's claims.
func (s *opServer) finishCode(t *testing.T, p *servertest.Page, c servertest.OPClient, verifier string) map[string]any {
	t.Helper()
	if !strings.HasPrefix(p.Location, c.RedirectURI) {
		t.Fatalf("did not return to the application: status %d at %s\n%s", p.Status, p.URL, p.Body)
	}
	u, _ := url.Parse(p.Location)
	tok := s.Exchange(t, c, servertest.AuthBasic, u.Query().Get("code"), verifier).Tokens(t)
	return servertest.JWTPart(t, tok.ID, 1)
}

func wantAuth(t *testing.T, claims map[string]any, acr string, amr ...string) {
	t.Helper()
	var got []string
	for _, v := range claims["amr"].([]any) {
		got = append(got, v.(string))
	}
	slices.Sort(got)
	slices.Sort(amr)
	if claims["acr"] != acr || !slices.Equal(got, amr) {
		t.Fatalf("acr = %v amr = %v, want %s %v", claims["acr"], got, acr, amr)
	}
}

func TestMFA_PasswordThenOneTimeCode_ClaimsSayMFA_AndACodeWorksOnce(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			s := startOP(t, backend)
			key := s.enrolTOTP(t)
			c := s.Client(s.Fx)
			b := servertest.NewBrowser(t)
			verifier, params := servertest.PKCE()
			p := s.passwordStep(t, b, s.AuthorizeURL(c, params))
			if !strings.Contains(p.URL.Path, "/login/factor") || !strings.Contains(p.Body, "Code from your authenticator app") {
				t.Fatalf("after the password: want the second-factor page, got %d at %s\n%s", p.Status, p.URL, p.Body)
			}
			f := formWith(t, p, "factor-totp")
			bad := b.Submit(f, map[string]string{"code": "000000"})
			if bad.Status != http.StatusUnauthorized || !strings.Contains(bad.Body, "did not work") {
				t.Fatalf("wrong code: status %d\n%s", bad.Status, bad.Body)
			}
			code := totpCode(t, key, s.Inst.Clock.Now())
			p = b.Follow(b.Submit(formWith(t, bad, "factor-totp"), map[string]string{"code": code}), servertest.OPRedirectURI)
			claims := s.finishCode(t, p, c, verifier)
			wantAuth(t, claims, domain.ACRMFA, "pwd", "otp", "mfa")

			// The same code in another browser, after the same password, is refused.
			b2 := servertest.NewBrowser(t)
			p = s.passwordStep(t, b2, s.AuthorizeURL(c, params))
			again := b2.Submit(formWith(t, p, "factor-totp"), map[string]string{"code": code})
			if again.Status != http.StatusUnauthorized || !strings.Contains(again.Body, "used already") {
				t.Fatalf("replayed code: status %d\n%s", again.Status, again.Body)
			}
			events, _ := s.Inst.Env.Store.ListAudit(context.Background(), s.Fx.Org, store.AuditFilter{Limit: 50})
			if !hasAudit(events, "login.second_factor", "replayed") || !hasAudit(events, "login.second_factor", "invalid") {
				t.Errorf("audit log lacks the refused codes: %v", auditActions(events))
			}
		})
	}
}

func hasAudit(events []*domain.AuditEvent, action, result string) bool {
	for _, e := range events {
		if e.Action == action && e.Result == result {
			return true
		}
	}
	return false
}

func auditActions(events []*domain.AuditEvent) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Action+":"+e.Result)
	}
	return out
}

func TestMFA_SecondFactorFailuresCountTowardTheUserLimit(t *testing.T) {
	s := startOP(t, "sqlite")
	key := s.enrolTOTP(t)
	c := s.Client(s.Fx)
	b := servertest.NewBrowser(t)
	_, params := servertest.PKCE()
	p := s.passwordStep(t, b, s.AuthorizeURL(c, params))
	f := formWith(t, p, "factor-totp")
	limited := false
	for i := 0; i < 12 && !limited; i++ {
		p = b.Submit(f, map[string]string{"code": "000000"})
		limited = p.Status == http.StatusTooManyRequests
	}
	if !limited {
		t.Fatalf("twelve wrong codes were never rate limited; last status %d", p.Status)
	}
	// Even the right code is refused while limited.
	p = b.Submit(f, map[string]string{"code": totpCode(t, key, s.Inst.Clock.Now())})
	if p.Status != http.StatusTooManyRequests {
		t.Fatalf("right code while limited: status %d, want 429", p.Status)
	}
	// And so is the password at a fresh login: the limit is the user's.
	b2 := servertest.NewBrowser(t)
	login := b2.Follow(b2.Get(s.AuthorizeURL(c, params)), servertest.OPRedirectURI)
	if p := b2.Login(login, s.Fx.UserName, s.Fx.Password); p.Status != http.StatusTooManyRequests {
		t.Fatalf("password after second-factor failures: status %d, want 429", p.Status)
	}
}

func TestMFA_StepUpByACRValuesKeepsAuthTimeAndServesOtherAppsBySSO(t *testing.T) {
	s := startOP(t, "sqlite")
	c1 := s.Client(s.Fx)
	c2 := s.NewApp(t, s.Fx.Org, false, directory.AppChanges{})
	b := servertest.NewBrowser(t)
	// A password-only session (alice has no factor yet).
	v1, p1 := servertest.PKCE()
	first := s.finishCode(t, s.passwordStep(t, b, s.AuthorizeURL(c1, p1)), c1, v1)
	wantAuth(t, first, domain.ACRPassword, "pwd")
	key := s.enrolTOTP(t)
	s.Inst.Clock.Advance(2 * time.Minute)

	// App 2 demands mfa: the code alone is asked, no password.
	v2, p2 := servertest.PKCE()
	p2.Set("acr_values", domain.ACRMFA)
	p := b.Follow(b.Get(s.AuthorizeURL(c2, p2)), servertest.OPRedirectURI)
	if !strings.Contains(p.URL.Path, "/login/factor") || strings.Contains(p.Body, `name="password"`) {
		t.Fatalf("step-up: want the second-factor page without a password, got %d at %s\n%s", p.Status, p.URL, p.Body)
	}
	p = b.Follow(b.Submit(formWith(t, p, "factor-totp"), map[string]string{"code": totpCode(t, key, s.Inst.Clock.Now())}), servertest.OPRedirectURI)
	second := s.finishCode(t, p, c2, v2)
	wantAuth(t, second, domain.ACRMFA, "pwd", "otp", "mfa")
	if second["auth_time"] != first["auth_time"] {
		t.Errorf("step-up changed auth_time: %v → %v", first["auth_time"], second["auth_time"])
	}
	// App 1 now gets the stepped-up session by SSO, without any page.
	v3, p3 := servertest.PKCE()
	p = b.Follow(b.Get(s.AuthorizeURL(c1, p3)), servertest.OPRedirectURI)
	wantAuth(t, s.finishCode(t, p, c1, v3), domain.ACRMFA, "pwd", "otp", "mfa")
	// prompt=login asks for everything again: password, then the code.
	v4, p4 := servertest.PKCE()
	p4.Set("prompt", "login")
	p = s.passwordStep(t, b, s.AuthorizeURL(c1, p4))
	if !strings.Contains(p.URL.Path, "/login/factor") {
		t.Fatalf("prompt=login: after the password want the second factor, got %d at %s", p.Status, p.URL)
	}
	s.Inst.Clock.Advance(time.Minute)
	p = b.Follow(b.Submit(formWith(t, p, "factor-totp"), map[string]string{"code": totpCode(t, key, s.Inst.Clock.Now())}), servertest.OPRedirectURI)
	fourth := s.finishCode(t, p, c1, v4)
	wantAuth(t, fourth, domain.ACRMFA, "pwd", "otp", "mfa")
	if fourth["auth_time"] == first["auth_time"] {
		t.Error("prompt=login kept the old auth_time")
	}
}

func TestMFA_RequiredPolicyTakesUsersThroughEnrolment(t *testing.T) {
	s := startOP(t, "sqlite")
	s.setPolicy(t, domain.MFARequired)
	c := s.Client(s.Fx)
	b := servertest.NewBrowser(t)
	verifier, params := servertest.PKCE()
	p := s.passwordStep(t, b, s.AuthorizeURL(c, params))
	if !strings.Contains(p.URL.Path, "/login/enrol") {
		t.Fatalf("required policy, no factor: want enrolment, got %d at %s\n%s", p.Status, p.URL, p.Body)
	}
	m := regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`).FindStringSubmatch(p.Body)
	if m == nil || !strings.Contains(p.Body, `src="data:image/png;base64,`) {
		t.Fatalf("enrolment page shows no secret or QR code:\n%s", p.Body)
	}
	p = b.Submit(formWith(t, p, "totp-form"), map[string]string{"code": totpCode(t, html.UnescapeString(m[1]), s.Inst.Clock.Now())})
	codes := regexp.MustCompile(`<li>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</li>`).FindAllStringSubmatch(p.Body, -1)
	if p.Status != http.StatusOK || len(codes) != 10 {
		t.Fatalf("after enrolment: want ten recovery codes, got status %d\n%s", p.Status, p.Body)
	}
	next := regexp.MustCompile(`id="codes-continue"|href="([^"]+)" id="codes-continue"`).FindStringSubmatch(p.Body)
	if next == nil || next[1] == "" {
		t.Fatalf("no continue link:\n%s", p.Body)
	}
	p = b.Follow(b.Get(html.UnescapeString(next[1])), servertest.OPRedirectURI)
	wantAuth(t, s.finishCode(t, p, c, verifier), domain.ACRMFA, "pwd", "otp", "mfa")

	// A recovery code signs in once and says how many remain.
	b2 := servertest.NewBrowser(t)
	_, params = servertest.PKCE()
	p = s.passwordStep(t, b2, s.AuthorizeURL(c, params))
	rec := formWith(t, p, "factor-recovery")
	p = b2.Follow(b2.Submit(rec, map[string]string{"code": codes[0][1]}), servertest.OPRedirectURI)
	if !strings.HasPrefix(p.Location, servertest.OPRedirectURI) {
		t.Fatalf("recovery code did not sign in: %d\n%s", p.Status, p.Body)
	}
	b3 := servertest.NewBrowser(t)
	p = s.passwordStep(t, b3, s.AuthorizeURL(c, params))
	if p = b3.Submit(formWith(t, p, "factor-recovery"), map[string]string{"code": codes[0][1]}); p.Status != http.StatusUnauthorized {
		t.Fatalf("recovery code reused: status %d", p.Status)
	}
	ctx := context.Background()
	m2, err := s.Inst.Env.Directory.UserMFA(ctx, s.Fx.Org, "alice")
	if err != nil || !m2.TOTP || m2.RecoveryCodesLeft != 9 || !m2.Required {
		t.Fatalf("UserMFA = %+v, %v; want totp on, 9 codes left, required", m2, err)
	}
	events, _ := s.Inst.Env.Store.ListAudit(ctx, s.Fx.Org, store.AuditFilter{Limit: 50})
	found := false
	for _, e := range events {
		if e.Action == "mfa.recovery_code.use" && e.Detail["remaining"] == "9" {
			found = true
		}
	}
	if !found {
		t.Errorf("recovery code use not audited with the count left: %v", auditActions(events))
	}

	// Reset: factors gone, sessions ended, audited; the next login enrols again.
	if _, err := s.Inst.Env.Directory.ResetUserMFA(ctx, s.Inst.Actor, s.Fx.Org, "alice"); err != nil {
		t.Fatal(err)
	}
	if acct := b.Get(s.Inst.Issuer(s.Fx.Org) + "/account"); !strings.Contains(acct.Body, "Not signed in") {
		t.Fatalf("account page after reset still signed in:\n%s", acct.Body)
	}
	events, _ = s.Inst.Env.Store.ListAudit(ctx, s.Fx.Org, store.AuditFilter{Limit: 50})
	if !hasAudit(events, "user.mfa.reset", "ok") {
		t.Errorf("reset not audited: %v", auditActions(events))
	}
	_, params = servertest.PKCE()
	if p := s.passwordStep(t, servertest.NewBrowser(t), s.AuthorizeURL(c, params)); !strings.Contains(p.URL.Path, "/login/enrol") {
		t.Fatalf("after reset: want enrolment again, got %d at %s", p.Status, p.URL)
	}
}

// signedIn starts a server whose passkeys work (on localhost) and signs
// alice in with her password in a new browser.
func signedIn(t *testing.T) (*opServer, *servertest.Browser) {
	t.Helper()
	s := startOPHost(t, "sqlite", "localhost")
	b := servertest.NewBrowser(t)
	_, params := servertest.PKCE()
	s.passwordStep(t, b, s.AuthorizeURL(s.Client(s.Fx), params))
	return s, b
}

func TestMFA_PasskeyFromTheAccountPageSignsInWithoutPassword(t *testing.T) {
	s, b := signedIn(t)
	c := s.Client(s.Fx)
	acct := b.Get(s.Inst.Issuer(s.Fx.Org) + "/account")
	if !strings.Contains(acct.Body, "Add a passkey") {
		t.Fatalf("account page offers no passkey:\n%s", acct.Body)
	}
	auth := mfatest.New(s.Inst.URL)
	regOpts, add := addPasskeyForm(t, b, acct)
	resp, err := auth.Create(regOpts)
	if err != nil {
		t.Fatal(err)
	}
	p := b.Submit(add, map[string]string{"name": "Test key", "credential": resp})
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "Save your recovery codes") {
		t.Fatalf("adding the first passkey: want recovery codes, got %d\n%s", p.Status, p.Body)
	}
	acct = b.Get(s.Inst.Issuer(s.Fx.Org) + "/account")
	if !strings.Contains(acct.Body, "Test key") {
		t.Fatalf("account page does not list the passkey:\n%s", acct.Body)
	}

	// A new browser signs in with the passkey alone.
	b2 := servertest.NewBrowser(t)
	verifier, params := servertest.PKCE()
	login := b2.Follow(b2.Get(s.AuthorizeURL(c, params)), servertest.OPRedirectURI)
	lf := formWith(t, login, "passkey-login")
	opts := b2.PostForm(s.Inst.Issuer(s.Fx.Org)+"/login/passkey/options", url.Values{"csrf_token": {lf.Values.Get("csrf_token")}})
	if opts.Status != http.StatusOK {
		t.Fatalf("passkey options: %d %s", opts.Status, opts.Body)
	}
	var o struct {
		Options map[string]any `json:"options"`
		Flow    string         `json:"flow"`
	}
	mustJSON(t, opts.Body, &o)
	assertion, err := auth.Get(mustMarshal(t, o.Options))
	if err != nil {
		t.Fatal(err)
	}
	p = b2.Follow(b2.Submit(lf, map[string]string{"flow": o.Flow, "credential": assertion}), servertest.OPRedirectURI)
	wantAuth(t, s.finishCode(t, p, c, verifier), domain.ACRMFA, "hwk", "mfa")

	// The same assertion again (its challenge is spent) is refused.
	if p := b2.Submit(lf, map[string]string{"flow": o.Flow, "credential": assertion}); p.Status == http.StatusSeeOther {
		t.Fatalf("replayed passkey assertion signed in")
	}
	// After a password, the passkey is now asked as the second factor.
	b3 := servertest.NewBrowser(t)
	verifier, params = servertest.PKCE()
	p = s.passwordStep(t, b3, s.AuthorizeURL(c, params))
	if !strings.Contains(p.Body, "Use a passkey") {
		t.Fatalf("second-factor page offers no passkey:\n%s", p.Body)
	}
	assertion, err = auth.Get(embeddedOptions(t, p, "factor-passkey"))
	if err != nil {
		t.Fatal(err)
	}
	p = b3.Follow(b3.Submit(formWith(t, p, "factor-passkey"), map[string]string{"credential": assertion}), servertest.OPRedirectURI)
	wantAuth(t, s.finishCode(t, p, c, verifier), domain.ACRMFA, "pwd", "hwk", "mfa")
}

func TestMFA_DiscoveryAdvertisesACRValues(t *testing.T) {
	s := startOP(t, "sqlite")
	req, _ := http.NewRequest(http.MethodGet, s.Inst.Issuer(s.Fx.Org)+"/.well-known/openid-configuration", nil)
	m := s.Send(t, req).JSON(t)
	got, _ := m["acr_values_supported"].([]any)
	if len(got) != 2 || got[0] != domain.ACRPassword || got[1] != domain.ACRMFA {
		t.Fatalf("acr_values_supported = %v", m["acr_values_supported"])
	}
}

// startOPHost is startOP with the public URL on host (WebAuthn needs a name).
func startOPHost(t *testing.T, backend, host string) *opServer {
	t.Helper()
	inst := servertest.Start(t, backend, servertest.Options{Host: host})
	fx := inst.NewFixture(t, "acme", servertest.OPRedirectURI)
	return &opServer{servertest.NewOP(t, inst, fx)}
}

func mustJSON(t *testing.T, body string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, body)
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMFA_BadInputGetsClearAnswersAndChangesNothing(t *testing.T) {
	s := startOPHost(t, "sqlite", "localhost")
	c := s.Client(s.Fx)
	iss := s.Inst.Issuer(s.Fx.Org)
	b := servertest.NewBrowser(t)
	_, params := servertest.PKCE()
	login := b.Follow(b.Get(s.AuthorizeURL(c, params)), servertest.OPRedirectURI)
	lf := formWith(t, login, "passkey-login")
	csrf := lf.Values.Get("csrf_token")

	// Passwordless: unknown challenge, garbage answers, no CSRF token.
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
	}{
		{"no CSRF token", url.Values{"flow": {"x"}, "credential": {"{}"}}, http.StatusForbidden},
		{"unknown challenge", url.Values{"csrf_token": {csrf}, "flow": {"nope"}, "credential": {"{}"}}, http.StatusBadRequest},
	} {
		if p := b.PostForm(iss+"/login/passkey", tc.form); p.Status != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, p.Status, tc.status)
		}
	}
	for _, junk := range []string{"", "not json", `{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{}}`, "\xff\xfe"} {
		flow := newPasskeyChallenge(t, b, iss, csrf) // a fresh challenge each time: an answer spends it
		p := b.PostForm(iss+"/login/passkey", url.Values{"csrf_token": {csrf}, "flow": {flow}, "credential": {junk}})
		if p.Status < 400 || p.Status >= 500 || !strings.Contains(p.Body, "Sign") {
			t.Errorf("credential %q: status %d, want a sign-in page with a 4xx", junk, p.Status)
		}
	}
	if p := b.PostForm(iss+"/login/passkey/options", url.Values{}); p.Status != http.StatusForbidden {
		t.Errorf("options without CSRF: status %d, want 403", p.Status)
	}
	// The second-factor and enrolment steps without a pending sign-in.
	for _, path := range []string{"/login/factor", "/login/enrol"} {
		if p := b.Get(iss + path); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "Sign-in expired") {
			t.Errorf("GET %s without a pending sign-in: status %d", path, p.Status)
		}
	}
	// Account actions need a session and valid input.
	s.passwordStep(t, b, s.AuthorizeURL(c, params))
	acct := b.Get(iss + "/account")
	add := formWith(t, acct, "add-passkey-form")
	for _, name := range []string{"", strings.Repeat("n", 65), "bad\xffname"} {
		p := b.Submit(add, map[string]string{"name": name, "credential": "{}"})
		if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "name") {
			t.Errorf("passkey name %q: status %d, want 400 naming the name", name, p.Status)
		}
	}
	remove := url.Values{"csrf_token": {add.Values.Get("csrf_token")}, "id": {"!!notbase64"}}
	if p := b.PostForm(iss+"/account/passkey/remove", remove); p.Status != http.StatusBadRequest {
		t.Errorf("remove with a bad id: status %d, want 400", p.Status)
	}
	if keys, _ := s.Inst.Env.Store.ListPasskeys(context.Background(), s.Fx.Org, s.Fx.Sub); len(keys) != 0 {
		t.Errorf("bad input stored passkeys: %d", len(keys))
	}
	// prompt=none cannot step up: interaction_required at the application.
	s.enrolTOTP(t)
	_, p2 := servertest.PKCE()
	p2.Set("prompt", "none")
	p2.Set("acr_values", domain.ACRMFA)
	p := b.Get(s.AuthorizeURL(c, p2))
	if u, _ := url.Parse(p.Location); u == nil || u.Query().Get("error") != "interaction_required" {
		t.Errorf("prompt=none needing a step-up: redirect %q, want error=interaction_required", p.Location)
	}
}

// newPasskeyChallenge starts a passwordless ceremony and returns its challenge's secret.
func newPasskeyChallenge(t *testing.T, b *servertest.Browser, iss, csrf string) string {
	t.Helper()
	var o struct {
		Flow string `json:"flow"`
	}
	mustJSON(t, b.PostForm(iss+"/login/passkey/options", url.Values{"csrf_token": {csrf}}).Body, &o)
	return o.Flow
}

func TestMFA_TheLastFactorCannotBeRemovedWhileThePolicyRequiresOne(t *testing.T) {
	s, b := signedIn(t)
	iss := s.Inst.Issuer(s.Fx.Org)
	acct := b.Get(iss + "/account")
	auth := mfatest.New(s.Inst.URL)
	opts, add := addPasskeyForm(t, b, acct)
	resp, err := auth.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	if p := b.Submit(add, map[string]string{"name": "Only key", "credential": resp}); p.Status != http.StatusOK {
		t.Fatalf("add passkey: %d\n%s", p.Status, p.Body)
	}
	s.setPolicy(t, domain.MFARequired)
	acct = b.Get(iss + "/account")
	remove := regexp.MustCompile(`(?s)<form method="post" action="[^"]*/account/passkey/remove".*?</form>`).FindString(acct.Body)
	rf := (&servertest.Page{URL: acct.URL, Body: remove}).Form(t)
	if p := b.Submit(rf, nil); p.Status != http.StatusConflict || !strings.Contains(p.Body, "requires a second factor") {
		t.Fatalf("removing the only factor under required: status %d\n%s", p.Status, p.Body)
	}
	// With one-time codes as well, the passkey may go.
	s.enrolTOTP(t)
	if p := b.Submit(rf, nil); p.Status != http.StatusOK || !strings.Contains(p.Body, "removed") {
		t.Fatalf("removing one of two factors: status %d\n%s", p.Status, p.Body)
	}
	if keys, _ := s.Inst.Env.Store.ListPasskeys(context.Background(), s.Fx.Org, s.Fx.Sub); len(keys) != 0 {
		t.Fatalf("passkey still stored after removal")
	}
	events, _ := s.Inst.Env.Store.ListAudit(context.Background(), s.Fx.Org, store.AuditFilter{Limit: 50})
	if !hasAudit(events, "mfa.passkey.add", "ok") || !hasAudit(events, "mfa.passkey.remove", "ok") {
		t.Errorf("passkey changes not audited: %v", auditActions(events))
	}
}

func TestMFA_TheAccountPageBeginsAPasskeyCeremonyOnlyWhenAsked(t *testing.T) {
	s, b := signedIn(t)
	iss := s.Inst.Issuer(s.Fx.Org)
	db, err := sql.Open("sqlite", strings.TrimPrefix(s.Inst.Env.Config.Database, "sqlite:"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	flows := func() int {
		t.Helper()
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM mfa_flows`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := flows()

	// Viewing the page offers a passkey and stores nothing.
	var acct *servertest.Page
	for range 3 {
		if acct = b.Get(iss + "/account"); acct.Status != http.StatusOK || !strings.Contains(acct.Body, "Add a passkey") {
			t.Fatalf("account page: %d, no passkey offered\n%s", acct.Status, acct.Body)
		}
	}
	if n := flows(); n != before {
		t.Fatalf("three views of the account page stored %d passkey ceremonies, want none", n-before)
	}
	if !regexp.MustCompile(`<script src="[^"]*/mfa\.js\?v=[0-9a-f]{12}">`).MatchString(acct.Body) {
		t.Errorf("the account page does not load a versioned script:\n%s", acct.Body)
	}

	// The page may sit open longer than a ceremony lives: the ceremony
	// begins when asked for. Each request begins one of its own.
	s.Inst.Clock.Advance(2 * mfa.CeremonyLifetime)
	opts, first := addPasskeyForm(t, b, acct)
	_, second := addPasskeyForm(t, b, acct)
	if n := flows(); n != before+2 {
		t.Fatalf("two requests stored %d ceremonies, want 2", n-before)
	}
	if first.Values.Get("flow") == second.Values.Get("flow") {
		t.Fatal("two requests were given the same ceremony")
	}
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			User      struct {
				Name string `json:"name"`
			} `json:"user"`
			AuthenticatorSelection struct {
				ResidentKey string `json:"residentKey"`
			} `json:"authenticatorSelection"`
		} `json:"publicKey"`
	}
	mustJSON(t, string(opts), &o)
	if o.PublicKey.Challenge == "" || o.PublicKey.User.Name != s.Fx.UserName || o.PublicKey.AuthenticatorSelection.ResidentKey != "required" {
		t.Errorf("creation options: %s", opts)
	}

	resp, err := mfatest.New(s.Inst.URL).Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	if p := b.Submit(first, map[string]string{"name": "Left open", "credential": resp}); p.Status != http.StatusOK || !strings.Contains(p.Body, "Save your recovery codes") {
		t.Fatalf("adding a passkey from a page left open: %d\n%s", p.Status, p.Body)
	}
	before = flows() // the first ceremony is used up

	// Refused without the form's token, and for a user no longer signed in;
	// nothing is stored.
	optionsURL := iss + "/account/passkey/options"
	for _, v := range []url.Values{{}, {"csrf_token": {"forged"}}} {
		p := b.PostForm(optionsURL, v)
		var e struct{ Error string }
		mustJSON(t, p.Body, &e)
		if p.Status != http.StatusForbidden || e.Error != "access_denied" {
			t.Errorf("options with csrf_token %q: %d %s, want 403 access_denied", v.Get("csrf_token"), p.Status, p.Body)
		}
	}
	// A user who has the most passkeys allowed is told so.
	keys, err := s.Inst.Env.Store.ListPasskeys(context.Background(), s.Fx.Org, s.Fx.Sub)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(keys); i < domain.MaxPasskeys; i++ {
		k := &domain.Passkey{OrgID: s.Fx.Org, UserSub: s.Fx.Sub, ID: []byte(fmt.Sprintf("full-%d", i)), Name: fmt.Sprintf("Key %d", i),
			PublicKey: []byte("pk"), AAGUID: make([]byte, 16), CreatedAt: s.Inst.Clock.Now()}
		if err := s.Inst.Env.Store.CreatePasskey(context.Background(), k); err != nil {
			t.Fatal(err)
		}
	}
	full := b.PostForm(optionsURL, url.Values{"csrf_token": {first.Values.Get("csrf_token")}})
	var fe struct {
		Error       string
		Description string `json:"error_description"`
	}
	mustJSON(t, full.Body, &fe)
	if full.Status != http.StatusConflict || fe.Error != "invalid_request" || !strings.Contains(fe.Description, "most allowed") {
		t.Errorf("options with %d passkeys: %d %s, want 409 naming the limit", domain.MaxPasskeys, full.Status, full.Body)
	}
	if acct := b.Get(iss + "/account"); strings.Contains(acct.Body, "add-passkey-form") {
		t.Error("the account page offers another passkey beyond the limit")
	}
	disabled := true
	if _, err := s.Inst.Env.Directory.UpdateUser(context.Background(), s.Inst.Actor, s.Fx.Org, s.Fx.UserName, directory.UserChanges{Disabled: &disabled}); err != nil {
		t.Fatal(err)
	}
	p := b.PostForm(optionsURL, url.Values{"csrf_token": {first.Values.Get("csrf_token")}})
	var e struct{ Error string }
	mustJSON(t, p.Body, &e)
	if p.Status != http.StatusUnauthorized || e.Error != "login_required" {
		t.Errorf("options for a disabled user: %d %s, want 401 login_required", p.Status, p.Body)
	}
	if n := flows(); n != before {
		t.Errorf("refused requests stored %d ceremonies", n-before)
	}
}
