package portal_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

func (e *env) org(id string) *domain.Organization {
	e.t.Helper()
	o, err := e.d.Store.GetOrg(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return o
}

func TestSSOSettings_AcceptsThousandsSeparatorsAndShowsWords(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := start(t, backend)
			for _, in := range []string{"1.296.000", "1,296,000", "1296000"} {
				b, _ := e.signIn("acme", "ada")
				page := e.portal("acme") + "/settings/sso"
				p := submit(t, b, page, "/settings/sso", map[string]string{"session_lifetime_seconds": in, "sso_enabled": "on"})
				expectStatus(t, p, http.StatusSeeOther)
				p = b.Get(p.Location)
				expectContains(t, p, "15 days", "SSO settings saved")
				if got := e.org("acme").Settings.SessionLifetimeSeconds; got != 1296000 {
					t.Fatalf("%q saved %d", in, got)
				}
			}
			// Unchecking "Enable SSO" saves it off.
			b, _ := e.signIn("acme", "ada")
			f := form(t, b.Get(e.portal("acme")+"/settings/sso"), "/settings/sso")
			f.Values.Del("sso_enabled")
			expectStatus(t, b.Submit(f, map[string]string{"session_lifetime_seconds": "36000"}), http.StatusSeeOther)
			if e.org("acme").Settings.SSOEnabled {
				t.Fatal("SSO still enabled")
			}
		})
	}
}

func TestSSOSettings_InvalidLifetimeShownNextToFieldNothingSaved(t *testing.T) {
	e := start(t, "sqlite")
	b, _ := e.signIn("acme", "ada")
	before := e.org("acme").Settings
	for _, in := range []string{"abc", "12,34", "10", "99999999999", ""} {
		p := submit(t, b, e.portal("acme")+"/settings/sso", "/settings/sso", map[string]string{"session_lifetime_seconds": in, "sso_enabled": ""})
		expectStatus(t, p, http.StatusBadRequest)
		if msg := fieldError(p, "session_lifetime_seconds"); msg == "" {
			t.Fatalf("%q: no message next to the field:\n%s", in, p.Body)
		}
		expectContains(t, p, `aria-describedby="session_lifetime_seconds-error session_lifetime_seconds-hint"`, `value="`+in+`"`)
		if got := e.org("acme").Settings; got != before {
			t.Fatalf("%q changed the settings: %+v", in, got)
		}
	}
}

func TestUXSettings_AuthRedirectURLAndLoginMethod(t *testing.T) {
	e := start(t, "sqlite")
	b, _ := e.signIn("acme", "ada")
	page := e.portal("acme") + "/settings/ux"
	// Platform without an Auth Redirect URL: the directory refuses it.
	p := submit(t, b, page, "/settings/ux", map[string]string{"auth_redirect_url": "", "login_method": "platform"})
	expectStatus(t, p, http.StatusBadRequest)
	if fieldError(p, "login_method") == "" {
		t.Fatalf("no login method error:\n%s", p.Body)
	}
	p = submit(t, b, page, "/settings/ux", map[string]string{"auth_redirect_url": "javascript:alert(1)", "login_method": "password"})
	expectStatus(t, p, http.StatusBadRequest)
	if fieldError(p, "auth_redirect_url") == "" {
		t.Fatalf("no URL error:\n%s", p.Body)
	}
	p = submit(t, b, page, "/settings/ux", map[string]string{"auth_redirect_url": "https://platform.example/login", "login_method": "upstream"})
	expectStatus(t, p, http.StatusBadRequest)
	if fieldError(p, "login_method") == "" {
		t.Fatalf("upstream without a connection accepted:\n%s", p.Body)
	}
	if s := e.org("acme").Settings; s.AuthRedirectURL != "" || s.LoginMethod != "password" {
		t.Fatalf("saved on error: %+v", s)
	}
	p = submit(t, b, page, "/settings/ux", map[string]string{"auth_redirect_url": "https://platform.example/login", "login_method": "platform"})
	expectStatus(t, p, http.StatusSeeOther)
	if s := e.org("acme").Settings; s.AuthRedirectURL != "https://platform.example/login" || s.LoginMethod != "platform" {
		t.Fatalf("not saved: %+v", s)
	}
}

func TestIntegrations_RevealIsAuditedAndRotateShowsNewKey(t *testing.T) {
	e := start(t, "sqlite")
	b, _ := e.signIn("acme", "ada")
	page := e.portal("acme") + "/settings/integrations"
	p := b.Get(page)
	expectContains(t, p, `<label for="api-key">Organization API key</label>`)
	if strings.Contains(p.Body, "lk_org_") {
		t.Fatal("the key is shown before Reveal")
	}
	p = submit(t, b, page, "/integrations/reveal", nil)
	expectStatus(t, p, http.StatusOK)
	expectContains(t, p, "lk_org_")
	if cc := p.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("Cache-Control %q on a page with a secret", cc)
	}
	events, _ := e.audit(context.Background(), 10)
	if events[0].Action != "org.api_key.reveal" || events[0].Actor != "ada" {
		t.Fatalf("latest audit event %+v", events[0])
	}
	old, _ := e.d.RevealAPIKey(context.Background(), e.inst.Actor, "acme")
	p = submit(t, b, page, "/integrations/rotate", map[string]string{"overlap": "3600"})
	expectStatus(t, p, http.StatusOK)
	cur, _ := e.d.RevealAPIKey(context.Background(), e.inst.Actor, "acme")
	if cur == old || !strings.Contains(p.Body, cur) {
		t.Fatal("rotate did not show the new key")
	}
	p = submit(t, b, page, "/integrations/rotate", map[string]string{"overlap": "forever"})
	expectStatus(t, p, http.StatusBadRequest)
	if fieldError(p, "overlap") == "" {
		t.Fatalf("no overlap error:\n%s", p.Body)
	}
	p = submit(t, b, page, "/integrations/rotate", map[string]string{"overlap": "99999999"})
	expectStatus(t, p, http.StatusBadRequest)
	if again, _ := e.d.RevealAPIKey(context.Background(), e.inst.Actor, "acme"); again != cur {
		t.Fatal("a refused rotation changed the key")
	}
}

// Every POST of the portal needs the session's token and a same-origin
// request; without them nothing changes.
func TestForms_CSRF(t *testing.T) {
	e := start(t, "sqlite")
	b, _ := e.signIn("acme", "ada")
	target := e.portal("acme") + "/settings/sso"
	v := url.Values{"session_lifetime_seconds": {"1296000"}, "sso_enabled": {"on"}}
	expectStatus(t, post(b, target, v), http.StatusForbidden)
	v.Set("csrf", "forged")
	expectStatus(t, post(b, target, v), http.StatusForbidden)
	// A valid token from another session does not work either.
	_, _ = e.signIn("acme", "ada")
	f := form(t, b.Get(target), "/settings/sso")
	req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(url.Values{"csrf": {f.Values.Get("csrf")}, "session_lifetime_seconds": {"1296000"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	resp, err := b.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin POST: %d", resp.StatusCode)
	}
	if got := e.org("acme").Settings.SessionLifetimeSeconds; got != domain.DefaultSessionLifetime {
		t.Fatalf("saved without a valid token: %d", got)
	}
}

func TestForms_NonAdminAndOtherOrgAdminCannotPost(t *testing.T) {
	e := start(t, "sqlite")
	b, _ := e.signIn("other", "olga")
	f := form(t, b.Get(e.portal("other")+"/settings/sso"), "/settings/sso")
	// Olga's valid token, aimed at acme.
	p := post(b, e.portal("acme")+"/settings/sso", url.Values{"csrf": {f.Values.Get("csrf")}, "session_lifetime_seconds": {"1296000"}})
	expectStatus(t, p, http.StatusNotFound)
	bob, _ := e.signIn("acme", "bob")
	p = post(bob, e.portal("acme")+"/settings/sso", url.Values{"session_lifetime_seconds": {"1296000"}})
	expectStatus(t, p, http.StatusUnauthorized)
	if got := e.org("acme").Settings.SessionLifetimeSeconds; got != domain.DefaultSessionLifetime {
		t.Fatalf("saved: %d", got)
	}
}

func TestSession_IdleTimeoutEndsPortalSession(t *testing.T) {
	e := start(t, "sqlite")
	b, _ := e.signIn("acme", "ada")
	f := form(t, b.Get(e.portal("acme")+"/settings/sso"), "/settings/sso")
	e.inst.Clock.Advance(31 * time.Minute)
	p := b.Submit(f, map[string]string{"session_lifetime_seconds": "1296000"})
	expectStatus(t, p, http.StatusUnauthorized)
	if got := e.org("acme").Settings.SessionLifetimeSeconds; got != domain.DefaultSessionLifetime {
		t.Fatalf("saved after the session expired: %d", got)
	}
	// A page load starts a new sign-in at the org's authorization endpoint.
	p = b.Get(e.portal("acme") + "/settings/sso")
	expectStatus(t, p, http.StatusFound)
	if !strings.HasPrefix(p.Location, e.inst.Issuer("acme")+"/authorize?") {
		t.Fatalf("redirect to %s", p.Location)
	}
}

func TestSession_EndsWithTheSSOSession(t *testing.T) {
	e := start(t, "sqlite")
	b, _ := e.signIn("acme", "ada")
	expectStatus(t, b.Get(e.portal("acme")+"/"), http.StatusOK)
	// Signing out of Latchkey itself (the account page's sign-out) ends
	// the SSO session; the portal notices on the next request.
	acct := b.Get(e.inst.Issuer("acme") + "/account")
	expectStatus(t, acct, http.StatusOK)
	out := b.Follow(b.Submit(acct.Form(t), nil), "")
	_ = out
	p := b.Get(e.portal("acme") + "/")
	expectStatus(t, p, http.StatusFound)
}

func TestSignOut_RunsRPInitiatedLogout(t *testing.T) {
	e := start(t, "sqlite")
	b, p := e.signIn("acme", "ada")
	p = b.Submit(form(t, p, "/admin/signout"), nil)
	expectStatus(t, p, http.StatusSeeOther)
	if !strings.HasPrefix(p.Location, e.inst.Issuer("acme")+"/end_session?") || !strings.Contains(p.Location, "id_token_hint=") {
		t.Fatalf("sign-out went to %s", p.Location)
	}
	p = b.Follow(p, "")
	expectStatus(t, p, http.StatusOK)
	if !strings.HasSuffix(p.URL.Path, "/admin/o/acme/signed-out") {
		t.Fatalf("ended at %s", p.URL)
	}
	expectContains(t, p, "Sign in again")
	// The SSO session is gone: the portal asks for the password again.
	p = b.Follow(b.Get(e.portal("acme")+"/"), "")
	if !strings.Contains(p.URL.Path, "/login") {
		t.Fatalf("after sign-out the portal reached %s", p.URL)
	}
}
