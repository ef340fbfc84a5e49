package portal_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

// env is a running Latchkey with organization "acme": admin "ada" (ADMIN),
// user "bob" (USER), and organization "other" with its own admin "olga".
type env struct {
	t    *testing.T
	inst *servertest.Instance
	d    *directory.Directory
}

const adminPassword = "correct horse battery"

func start(t *testing.T, backend string) *env {
	t.Helper()
	inst := servertest.Start(t, backend)
	e := &env{t: t, inst: inst, d: inst.Env.Directory}
	ctx := context.Background()
	for _, o := range []struct{ id, admin string }{{"acme", "ada"}, {"other", "olga"}} {
		if _, _, err := e.d.CreateOrg(ctx, inst.Actor, o.id, "Org "+o.id); err != nil {
			t.Fatal(err)
		}
		e.user(o.id, o.admin, domain.RoleAdmin)
	}
	e.user("acme", "bob", domain.RoleUser)
	return e
}

func (e *env) user(org, name, role string) *domain.User {
	e.t.Helper()
	pw := adminPassword
	u, err := e.d.CreateUser(context.Background(), e.inst.Actor, org, name, directory.UserChanges{Role: &role, Password: &pw})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

func (e *env) portal(org string) string { return e.inst.URL + "/admin/o/" + org }

// signIn opens the org's portal in a fresh browser, signs in through the
// org's login and returns the browser and the page it lands on.
func (e *env) signIn(org, userName string) (*servertest.Browser, *servertest.Page) {
	e.t.Helper()
	b := servertest.NewBrowser(e.t)
	return b, e.signInWith(b, org, userName)
}

func (e *env) signInWith(b *servertest.Browser, org, userName string) *servertest.Page {
	e.t.Helper()
	start := e.portal(org) + "/"
	if org == directory.OperatorOrgID {
		start = e.inst.URL + "/admin/"
	}
	p := b.Follow(b.Get(start), "")
	if !strings.Contains(p.URL.Path, "/login") {
		e.t.Fatalf("expected the org's login page, got %s (%d):\n%s", p.URL, p.Status, p.Body)
	}
	return b.Follow(b.Login(p, userName, adminPassword), "")
}

// form finds the form whose action ends with suffix.
func form(t *testing.T, p *servertest.Page, suffix string) servertest.Form {
	t.Helper()
	for _, f := range p.Forms() {
		if strings.HasSuffix(f.Action, suffix) {
			return f
		}
	}
	t.Fatalf("no form with action …%s on %s (%d):\n%s", suffix, p.URL, p.Status, p.Body)
	return servertest.Form{}
}

// submit posts a form found on the page at pageURL with fields set.
func submit(t *testing.T, b *servertest.Browser, pageURL, suffix string, set map[string]string) *servertest.Page {
	t.Helper()
	p := b.Get(pageURL)
	if p.Status != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", pageURL, p.Status, p.Body)
	}
	return b.Submit(form(t, p, suffix), set)
}

// post sends values as-is (no CSRF token unless given).
func post(b *servertest.Browser, u string, v url.Values) *servertest.Page { return b.PostForm(u, v) }

func expectStatus(t *testing.T, p *servertest.Page, want int) {
	t.Helper()
	if p.Status != want {
		t.Fatalf("%s: status %d, want %d\n%s", p.URL, p.Status, want, p.Body)
	}
}

func expectContains(t *testing.T, p *servertest.Page, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(p.Body, s) {
			t.Fatalf("%s: page lacks %q:\n%s", p.URL, s, p.Body)
		}
	}
}

// fieldError returns the message shown next to field name, or "".
func fieldError(p *servertest.Page, name string) string {
	marker := `id="` + name + `-error">`
	i := strings.Index(p.Body, marker)
	if i < 0 {
		return ""
	}
	rest := p.Body[i+len(marker):]
	return rest[:strings.Index(rest, "<")]
}

// audit is the newest n events of acme.
func (e *env) audit(ctx context.Context, n int) ([]*domain.AuditEvent, error) {
	page, err := e.d.ListAudit(ctx, "acme", directory.AuditFilter{Limit: n})
	if err != nil {
		return nil, err
	}
	return page.Events, nil
}
