package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/password"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
)

// The admin portal signs administrators in through their organization's
// own login, as an OpenID Connect client of the organization like any
// other: a built-in public application (PKCE) that every organization has
// and nobody can delete or change.
const (
	PortalClientID = "admin-portal"
	PortalAppName  = "Admin portal"
	// OperatorOrgID is the built-in organization whose ADMIN users are
	// operators: they manage every organization.
	OperatorOrgID = "admin"
	// SetupTokenLifetime bounds the first operator's setup link.
	SetupTokenLifetime = time.Hour
)

// IsPortalApp reports whether clientID names the built-in portal application.
func IsPortalApp(clientID string) bool { return clientID == PortalClientID }

func errPortalApp() error {
	return domain.Invalid("client_id", "%q is the built-in %s application; it cannot be changed or deleted", PortalClientID, PortalAppName)
}

// PortalURL is the base URL of an organization's admin portal.
func (d *Directory) PortalURL(orgID string) string { return d.PublicURL + "/admin/o/" + orgID }

// portalApp is what the built-in application of orgID must look like.
func (d *Directory) portalApp(orgID string, now time.Time) *domain.Application {
	base := d.PortalURL(orgID)
	a := &domain.Application{
		OrgID: orgID, ClientID: PortalClientID, Name: PortalAppName, Public: true,
		RedirectURIs:           []string{base + "/callback"},
		PostLogoutRedirectURIs: []string{base + "/signed-out"},
		BackchannelLogoutURI:   base + "/backchannel",
		GrantTypes:             []string{domain.GrantAuthorizationCode},
		CreatedAt:              now, UpdatedAt: now,
	}
	a.ApplyDefaults()
	return a
}

// EnsurePortalApp creates the organization's built-in portal application,
// or brings its URLs in line with the current public URL.
func (d *Directory) EnsurePortalApp(ctx context.Context, a Actor, orgID string) error {
	want := d.portalApp(orgID, d.now())
	cur, err := d.Store.GetApp(ctx, orgID, PortalClientID)
	if errors.Is(err, store.ErrNotFound) {
		err := d.Store.CreateApp(ctx, want, d.event(orgID, a, "app.create", PortalClientID, map[string]string{"name": PortalAppName}))
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("create the admin portal application of %q: %w", orgID, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("admin portal application of %q: %w", orgID, err)
	}
	if cur.Name == want.Name && cur.Public && slices.Equal(cur.RedirectURIs, want.RedirectURIs) &&
		slices.Equal(cur.PostLogoutRedirectURIs, want.PostLogoutRedirectURIs) && cur.BackchannelLogoutURI == want.BackchannelLogoutURI &&
		slices.Equal(cur.GrantTypes, want.GrantTypes) {
		return nil
	}
	_, err = d.Store.UpdateApp(ctx, orgID, PortalClientID, func(app *domain.Application) error {
		app.Name, app.Public, app.SecretHash = want.Name, true, nil
		app.RedirectURIs, app.PostLogoutRedirectURIs = want.RedirectURIs, want.PostLogoutRedirectURIs
		app.BackchannelLogoutURI, app.GrantTypes, app.UpdatedAt = want.BackchannelLogoutURI, want.GrantTypes, want.UpdatedAt
		return app.Validate()
	}, d.event(orgID, a, "app.update", PortalClientID, map[string]string{"changed": "redirect_uris post_logout_redirect_uris backchannel_logout_uri"}))
	if err != nil {
		return fmt.Errorf("update the admin portal application of %q: %w", orgID, err)
	}
	return nil
}

// EnsureBuiltins makes sure the operator organization exists and every
// organization has its portal application. While the operator
// organization has no administrator it returns a fresh one-time setup link
// (valid SetupTokenLifetime) for the first operator; else "".
func (d *Directory) EnsureBuiltins(ctx context.Context) (string, error) {
	if _, err := d.Store.GetOrg(ctx, OperatorOrgID); errors.Is(err, store.ErrNotFound) {
		if _, _, err := d.CreateOrg(ctx, Actor{Name: "latchkey"}, OperatorOrgID, "Operators"); err != nil && !IsConflict(err) {
			return "", err
		}
	} else if err != nil {
		return "", fmt.Errorf("operator organization: %w", err)
	}
	orgs, err := d.Store.ListOrgs(ctx)
	if err != nil {
		return "", fmt.Errorf("list organizations: %w", err)
	}
	for _, o := range orgs {
		if err := d.EnsurePortalApp(ctx, Actor{Name: "latchkey"}, o.ID); err != nil {
			return "", err
		}
	}
	has, err := d.hasOperator(ctx)
	if err != nil || has {
		return "", err
	}
	tok, err := d.token(32)
	if err != nil {
		return "", err
	}
	now := d.now()
	if err := d.Store.CreateSetupToken(ctx, &domain.SetupToken{
		OrgID: OperatorOrgID, Hash: secret.Hash(tok), CreatedAt: now, ExpiresAt: now.Add(SetupTokenLifetime),
	}); err != nil {
		return "", fmt.Errorf("create setup token: %w", err)
	}
	return d.PublicURL + "/admin/setup?token=" + tok, nil
}

func (d *Directory) hasOperator(ctx context.Context) (bool, error) {
	users, err := d.Store.ListUsers(ctx, OperatorOrgID, store.UserFilter{Limit: 1000})
	if err != nil {
		return false, fmt.Errorf("list operators: %w", err)
	}
	for _, u := range users {
		if u.Role == domain.RoleAdmin && !u.Disabled {
			return true, nil
		}
	}
	return false, nil
}

// ErrSetupTokenInvalid means a setup link is unknown, used or expired.
var ErrSetupTokenInvalid = errors.New("this setup link is invalid, expired or already used; restart latchkey for a new one")

// CompleteOperatorSetup uses a setup token to create the first operator
// with a password. Invalid input leaves the token usable; the token works
// once, and only while there is no operator yet.
func (d *Directory) CompleteOperatorSetup(ctx context.Context, a Actor, token, userName, pw string) (*domain.User, error) {
	if err := domain.ValidateUserName(userName); err != nil {
		return nil, err
	}
	if err := password.Validate(pw); err != nil {
		return nil, domain.Invalid("password", "%s", err.Error())
	}
	if has, err := d.hasOperator(ctx); err != nil {
		return nil, err
	} else if has {
		return nil, ErrSetupTokenInvalid
	}
	t, err := d.Store.ConsumeSetupToken(ctx, OperatorOrgID, secret.Hash(token), d.now())
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrAlreadyUsed) || (err == nil && !d.now().Before(t.ExpiresAt)) {
		return nil, ErrSetupTokenInvalid
	}
	if err != nil {
		return nil, fmt.Errorf("setup token: %w", err)
	}
	role := domain.RoleAdmin
	u, err := d.CreateUser(ctx, a, OperatorOrgID, userName, UserChanges{Role: &role, Password: &pw})
	if err != nil {
		return nil, err
	}
	if err := d.Record(ctx, OperatorOrgID, a, "operator.setup", u.UserName, "ok", nil); err != nil {
		return nil, err
	}
	return u, nil
}
