package portal_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/store"
)

// operator sets up the first operator with the setup link and signs in.
func (e *env) operator() *servertest.Browser {
	e.t.Helper()
	link, err := e.d.EnsureBuiltins(context.Background())
	if err != nil || link == "" {
		e.t.Fatalf("setup link %q, %v", link, err)
	}
	b := servertest.NewBrowser(e.t)
	p := b.Get(link)
	expectStatus(e.t, p, http.StatusOK)
	if p.Header.Get("Referrer-Policy") != "no-referrer" {
		e.t.Fatal("the setup page may leak its link as a referrer")
	}
	f := form(e.t, p, "/admin/setup")
	p = b.Submit(f, map[string]string{"userName": "root", "password": adminPassword, "password_confirm": "different"})
	expectStatus(e.t, p, http.StatusBadRequest)
	if fieldError(p, "password_confirm") == "" {
		e.t.Fatal("mismatched confirmation accepted")
	}
	p = b.Submit(f, map[string]string{"userName": "root", "password": adminPassword, "password_confirm": adminPassword})
	expectStatus(e.t, p, http.StatusSeeOther)
	// The link works once.
	p = b.Submit(f, map[string]string{"userName": "root2", "password": adminPassword, "password_confirm": adminPassword})
	expectStatus(e.t, p, http.StatusBadRequest)
	// Operators must use a second factor by default (policy "admins"); the
	// enrolment is the hosted login's and is tested there
	// (internal/op/mfa_test.go). These tests are about the portal.
	optional := domain.MFAOptional
	if _, err := e.d.UpdateOrg(context.Background(), directory.Actor{Name: "test"}, directory.OperatorOrgID, directory.OrgChanges{MFA: &optional}); err != nil {
		e.t.Fatal(err)
	}
	e.signInWith(b, directory.OperatorOrgID, "root")
	return b
}

func TestOperator_SetupCreateAndDeleteOrganization(t *testing.T) {
	e := start(t, "sqlite")
	ctx := context.Background()
	b := e.operator()
	home := e.inst.URL + "/admin/"
	p := b.Get(home)
	expectStatus(t, p, http.StatusOK)
	expectContains(t, p, "Create organization", "acme", "other")

	p = submit(t, b, home, "/admin/orgs", map[string]string{"id": "Bad ID", "name": "x"})
	expectStatus(t, p, http.StatusBadRequest)
	if fieldError(p, "id") == "" {
		t.Fatalf("no id error:\n%s", p.Body)
	}
	p = submit(t, b, home, "/admin/orgs", map[string]string{"id": "acme", "name": "dup"})
	expectStatus(t, p, http.StatusBadRequest)
	p = submit(t, b, home, "/admin/orgs", map[string]string{"id": "newco", "name": "New Co"})
	expectStatus(t, p, http.StatusOK)
	expectContains(t, p, "lk_org_")
	if _, err := e.d.Store.GetApp(ctx, "newco", directory.PortalClientID); err != nil {
		t.Fatal("new organization has no Admin portal application")
	}
	// Operators open any organization's portal.
	expectStatus(t, b.Get(e.portal("acme")+"/settings/sso"), http.StatusOK)

	del := e.inst.URL + "/admin/orgs/newco/delete"
	p = submit(t, b, del, "/delete", map[string]string{"confirm": "newc"})
	expectStatus(t, p, http.StatusBadRequest)
	if fieldError(p, "confirm") == "" {
		t.Fatal("wrong confirmation accepted")
	}
	expectStatus(t, submit(t, b, del, "/delete", map[string]string{"confirm": "newco"}), http.StatusSeeOther)
	if _, err := e.d.Store.GetOrg(ctx, "newco"); err == nil {
		t.Fatal("not deleted")
	}
	events, err := e.d.Store.ListAudit(ctx, directory.OperatorOrgID, store.AuditFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	audited := false
	for _, ev := range events {
		if ev.Action == "org.delete" && ev.Target == "newco" && strings.HasPrefix(ev.Actor, directory.OperatorOrgID+":") {
			audited = true
		}
	}
	if !audited {
		t.Errorf("no org.delete audit event for newco in the operator organization: %+v", events)
	}
	// An org admin is no operator.
	ada, _ := e.signIn("acme", "ada")
	expectStatus(t, ada.Get(e.inst.URL+"/admin/orgs/acme/delete"), http.StatusNotFound)
	expectStatus(t, post(ada, e.inst.URL+"/admin/orgs", url.Values{"id": {"x1"}, "name": {"x"}}), http.StatusNotFound)
}

func TestAuthentication_SaveCheckRemove(t *testing.T) {
	e := start(t, "sqlite")
	ctx := context.Background()
	b, _ := e.signIn("acme", "ada")
	page := e.portal("acme") + "/settings/authentication"
	p := submit(t, b, page, "/settings/authentication", map[string]string{"config_url": "not a url", "client_id": "c", "client_secret": "s3cret-value"})
	expectStatus(t, p, http.StatusBadRequest)
	if fieldError(p, "config_url") == "" {
		t.Fatalf("no config URL error:\n%s", p.Body)
	}
	if strings.Contains(p.Body, "s3cret-value") {
		t.Fatal("the client secret is shown back")
	}
	p = submit(t, b, page, "/settings/authentication", map[string]string{"config_url": "https://idp.example/.well-known/openid-configuration", "client_id": "c"})
	expectStatus(t, p, http.StatusBadRequest)
	if fieldError(p, "client_secret") == "" {
		t.Fatalf("no client secret error:\n%s", p.Body)
	}
	if _, err := e.d.Store.GetUpstream(ctx, "acme"); err == nil {
		t.Fatal("saved on error")
	}
	p = submit(t, b, page, "/settings/authentication", map[string]string{"config_url": "https://idp.example/.well-known/openid-configuration",
		"client_id": "c", "client_secret": "s3cret-value", "display_name": "Acme SSO"})
	expectStatus(t, p, http.StatusSeeOther)
	p = b.Get(page)
	expectContains(t, p, "A secret is saved", "Remove connection")
	if strings.Contains(p.Body, "s3cret-value") {
		t.Fatal("the client secret is shown back")
	}
	// Check reports why discovery failed (nothing listens there).
	f := form(t, b.Get(page), "/settings/authentication")
	f.Action = page + "/check" // the Check button's formaction
	p = b.Submit(f, map[string]string{"config_url": "http://127.0.0.1:1/.well-known/openid-configuration"})
	expectStatus(t, p, http.StatusOK)
	expectContains(t, p, "The check failed")
	expectStatus(t, submit(t, b, page, "/authentication/remove", nil), http.StatusSeeOther)
	if _, err := e.d.Store.GetUpstream(ctx, "acme"); err == nil {
		t.Fatal("not removed")
	}
}

func TestAuditLog_FiltersAndPages(t *testing.T) {
	e := start(t, "sqlite")
	b, _ := e.signIn("acme", "ada")
	for i := 0; i < 60; i++ {
		_, _ = e.d.RevealAPIKey(context.Background(), e.inst.Actor, "acme")
	}
	page := e.portal("acme") + "/audit"
	p := b.Get(page + "?action=org.api_key.reveal")
	expectStatus(t, p, http.StatusOK)
	if n := strings.Count(p.Body, "<code>org.api_key.reveal</code>"); n != 50 {
		t.Fatalf("%d events on page 1, want 50", n)
	}
	i := strings.Index(p.Body, `rel="next"`)
	if i < 0 {
		t.Fatalf("no link to older events:\n%s", p.Body)
	}
	href := p.Body[strings.LastIndex(p.Body[:i], `href="`)+6:]
	href = strings.ReplaceAll(href[:strings.Index(href, `"`)], "&amp;", "&")
	p = b.Get(page + href)
	if n := strings.Count(p.Body, "<code>org.api_key.reveal</code>"); n != 10 {
		t.Fatalf("%d events on page 2, want 10", n)
	}
	expectContains(t, p, "Newest")
	p = b.Get(page + "?actor=nobody")
	expectContains(t, p, "No events.")
	p = b.Get(page + "?from=yesterday")
	expectStatus(t, p, http.StatusBadRequest)
	if fieldError(p, "from") == "" {
		t.Fatal("no date error")
	}
	tomorrow := time.Now().Add(48 * time.Hour).Format("2006-01-02")
	expectContains(t, b.Get(page+"?from="+tomorrow), "No events.")
}

func TestBackchannel_RefusesForgedLogoutTokens(t *testing.T) {
	e := start(t, "sqlite")
	b, _ := e.signIn("acme", "ada")
	u := e.portal("acme") + "/backchannel"
	expectStatus(t, post(servertest.NewBrowser(t), u, url.Values{"logout_token": {"eyJhbGciOiJub25lIn0.e30."}}), http.StatusBadRequest)
	expectStatus(t, post(servertest.NewBrowser(t), u, nil), http.StatusBadRequest)
	expectStatus(t, b.Get(e.portal("acme")+"/"), http.StatusOK)
}
