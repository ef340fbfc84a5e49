package demo

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
)

// Demo credentials, printed by `latchkey demo`.
const (
	OrgID         = "demo"
	AdminUser     = "admin"
	AdminPassword = "admin-password"
	User          = "alice"
	UserPassword  = "wonderland"
)

// Setup is what Provision created.
type Setup struct {
	Issuer string
	APIKey string
	Apps   []*App
}

// Provision creates the demo organization, its users and the two demo
// applications, and returns the applications ready to mount.
func Provision(ctx context.Context, d *directory.Directory, publicURL string, log *slog.Logger) (*Setup, error) {
	actor := directory.Actor{Name: "demo"}
	_, apiKey, err := d.CreateOrg(ctx, actor, OrgID, "Demo Organization")
	if err != nil {
		return nil, err
	}
	admin, user := domain.RoleAdmin, domain.RoleUser
	for _, u := range []struct{ name, full, email, role, pw string }{
		{AdminUser, "Ada Admin", "admin@demo.example", admin, AdminPassword},
		{User, "Alice Liddell", "alice@demo.example", user, UserPassword},
	} {
		pw, verified := u.pw, true
		if _, err := d.CreateUser(ctx, actor, OrgID, u.name, directory.UserChanges{
			Name: &u.full, Email: &u.email, EmailVerified: &verified, Role: &u.role, Password: &pw,
		}); err != nil {
			return nil, fmt.Errorf("demo user %s: %w", u.name, err)
		}
	}
	s := &Setup{Issuer: d.Issuer(OrgID), APIKey: apiKey}
	for i, spec := range []struct{ name, color string }{{"Demo App One", "#2f5bea"}, {"Demo App Two", "#0f8a5f"}} {
		path := fmt.Sprintf("/demo/app%d", i+1)
		base := publicURL + path
		name := spec.name
		app, secret, err := d.CreateApp(ctx, actor, OrgID, false, directory.AppChanges{
			Name:                   &name,
			RedirectURIs:           &[]string{base + "/callback"},
			PostLogoutRedirectURIs: &[]string{base + "/"},
			BackchannelLogoutURI:   ptr(base + "/backchannel"),
		})
		if err != nil {
			return nil, fmt.Errorf("demo application %s: %w", name, err)
		}
		s.Apps = append(s.Apps, &App{
			Name: name, Path: path, Issuer: s.Issuer, ClientID: app.ClientID, ClientSecret: secret,
			BaseURL: base, Color: spec.color, Log: log,
		})
	}
	return s, nil
}

func ptr[T any](v T) *T { return &v }

// Handler serves every demo application and an index page at /demo/.
func (s *Setup) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, a := range s.Apps {
		mux.Handle(a.Path+"/", a.Handler())
	}
	mux.HandleFunc("GET /demo/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = indexPage.Execute(w, s)
	})
	return mux
}
