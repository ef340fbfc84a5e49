package demo_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/bootstrap"
	"github.com/latchkey/latchkey/internal/demo"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/server"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

// startDemo runs Latchkey with the demo organization, its applications and
// the community platform mounted, as `latchkey demo` does.
func startDemo(t *testing.T) (*servertest.Instance, *demo.Platform) {
	t.Helper()
	var plat *demo.Platform
	inst := servertest.Start(t, "sqlite", servertest.Options{Setup: func(env *bootstrap.Env, publicURL string) []server.Option {
		ctx := context.Background()
		setup, err := demo.Provision(ctx, env.Directory, publicURL, env.Logger)
		if err != nil {
			t.Fatal(err)
		}
		if plat, err = demo.NewPlatform(ctx, env.Directory, setup, publicURL, env.Logger); err != nil {
			t.Fatal(err)
		}
		return []server.Option{server.WithHandler("/demo/", setup.Handler()), server.WithHandler(plat.Path+"/", plat.Handler())}
	}})
	return inst, plat
}

func TestDemoPlatform_SignsInThroughTheTicketFlowAndGivesSSOToTheApps(t *testing.T) {
	inst, plat := startDemo(t)
	ctx := context.Background()
	org, err := inst.Env.Store.GetOrg(ctx, demo.OrgID)
	if err != nil {
		t.Fatal(err)
	}
	if org.Settings.AuthRedirectURL != plat.BaseURL+"/" || org.Settings.LoginMethod != domain.LoginPassword {
		t.Fatalf("demo org settings = %+v", org.Settings)
	}

	b := servertest.NewBrowser(t)
	p := b.Get(plat.BaseURL + "/")
	f := p.Form(t)
	if p.Status != http.StatusOK || !f.Has("username") || !f.Has("password") {
		t.Fatalf("platform page: %d\n%s", p.Status, p.Body)
	}
	if p = b.Submit(f, map[string]string{"username": "johndoe", "password": "wrong"}); p.Status != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", p.Status)
	}
	if _, err := inst.Env.Store.GetUserByName(ctx, demo.OrgID, "johndoe"); err == nil {
		t.Fatal("a failed platform sign-in created the user in Latchkey")
	}

	p = b.Submit(f, map[string]string{"username": "johndoe", "password": "john-password"})
	if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, inst.URL+"/?refresh-token=") {
		t.Fatalf("sign-in: %d → %s\n%s", p.Status, p.Location, p.Body)
	}
	p = b.Follow(p, "")
	if !strings.HasSuffix(p.URL.Path, "/o/demo/account") || !strings.Contains(p.Body, "johndoe") {
		t.Fatalf("after the ticket: %s\n%s", p.URL, p.Body)
	}
	u, err := inst.Env.Store.GetUserByName(ctx, demo.OrgID, "johndoe")
	if err != nil || u.Name != "John Doe" || u.Role != domain.RoleUser || u.PasswordHash != "" {
		t.Fatalf("johndoe in Latchkey = %+v, %v", u, err)
	}

	// Single sign-on: Demo App One signs in without a login page.
	p = b.Follow(b.Get(inst.URL+"/demo/app1/login"), "")
	if !strings.Contains(p.Body, "Signed in as johndoe") || !strings.Contains(p.Body, `&#34;role&#34;: &#34;USER&#34;`) {
		t.Fatalf("demo app: %s\n%s", p.URL, p.Body)
	}

	// Jane is the platform's admin: an ADMIN in Latchkey.
	b2 := servertest.NewBrowser(t)
	b2.Follow(b2.Submit(b2.Get(plat.BaseURL+"/").Form(t), map[string]string{"username": "jane", "password": "jane-password"}), "")
	if u, err := inst.Env.Store.GetUserByName(ctx, demo.OrgID, "jane"); err != nil || u.Role != domain.RoleAdmin {
		t.Fatalf("jane = %+v, %v", u, err)
	}
}

func TestDemoPlatform_ShowsWhatLatchkeySentIt(t *testing.T) {
	_, plat := startDemo(t)
	b := servertest.NewBrowser(t)
	p := b.Get(plat.BaseURL + "/?return_to=http%3A%2F%2Fx%2Fo%2Fdemo%2Fauthorize%2Fcontinue%3Freq%3Dabc&login_hint=jane&prompt=login")
	f := p.Form(t)
	if f.Values.Get("username") != "jane" || f.Values.Get("return_to") == "" || !strings.Contains(p.Body, "sign in again") {
		t.Fatalf("platform page with return_to:\n%s", p.Body)
	}
}
