package directory

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
)

// AppChanges are the application fields a create or update sets; nil leaves
// a field as it is (on create: the defaults).
type AppChanges struct {
	Name                   *string
	RedirectURIs           *[]string
	PostLogoutRedirectURIs *[]string
	BackchannelLogoutURI   *string
	GrantTypes             *[]string
	AccessTokenLifetime    *int64
	IDTokenLifetime        *int64
	RefreshTokenLifetime   *int64
	IDTokenAlg             *string
	AccessTokenFormat      *string
	// GroupsClaim sends the user's groups to the application (scope groups).
	GroupsClaim *bool
}

func (c AppChanges) apply(a *domain.Application) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	setList := func(dst *[]string, v *[]string) {
		if v != nil {
			*dst = append([]string{}, (*v)...)
		}
	}
	setInt := func(dst *int64, v *int64) {
		if v != nil {
			*dst = *v
		}
	}
	set(&a.Name, c.Name)
	setList(&a.RedirectURIs, c.RedirectURIs)
	setList(&a.PostLogoutRedirectURIs, c.PostLogoutRedirectURIs)
	set(&a.BackchannelLogoutURI, c.BackchannelLogoutURI)
	setList(&a.GrantTypes, c.GrantTypes)
	setInt(&a.AccessTokenLifetime, c.AccessTokenLifetime)
	setInt(&a.IDTokenLifetime, c.IDTokenLifetime)
	setInt(&a.RefreshTokenLifetime, c.RefreshTokenLifetime)
	set(&a.IDTokenAlg, c.IDTokenAlg)
	set(&a.AccessTokenFormat, c.AccessTokenFormat)
	if c.GroupsClaim != nil {
		a.GroupsClaim = *c.GroupsClaim
	}
}

// newClientID draws a random client ID. One starting with '-' would read as
// a flag on command lines (latchkey app show --org acme -x…), so it is drawn
// again.
func (d *Directory) newClientID() (string, error) {
	for range 32 {
		id, err := d.token(18)
		if err != nil || !strings.HasPrefix(id, "-") {
			return id, err
		}
	}
	return "", errors.New("random source keeps producing client IDs that start with '-'")
}

// CreateApp registers an application. For a confidential application the
// client secret is returned in clear, this once.
func (d *Directory) CreateApp(ctx context.Context, a Actor, orgID string, public bool, c AppChanges) (*domain.Application, string, error) {
	id, err := d.newClientID()
	if err != nil {
		return nil, "", err
	}
	now := d.now()
	app := &domain.Application{OrgID: orgID, ClientID: id, Public: public, CreatedAt: now, UpdatedAt: now}
	c.apply(app)
	app.ApplyDefaults()
	var plain string
	if !public {
		if plain, err = d.token(32); err != nil {
			return nil, "", err
		}
		app.SecretHash = secret.Hash(plain)
	}
	if err := app.Validate(); err != nil {
		return nil, "", err
	}
	if _, err := d.Store.GetOrg(ctx, orgID); err != nil {
		return nil, "", fmt.Errorf("organization %q: %w", orgID, err)
	}
	if err := d.Store.CreateApp(ctx, app); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, "", fmt.Errorf("client id collision, try again: %w", err)
		}
		return nil, "", fmt.Errorf("create application: %w", err)
	}
	d.audit(ctx, orgID, a, "app.create", app.ClientID, "ok", map[string]string{"name": app.Name})
	return app, plain, nil
}

// UpdateApp changes the given fields of an application.
func (d *Directory) UpdateApp(ctx context.Context, a Actor, orgID, clientID string, c AppChanges) (*domain.Application, error) {
	app, err := d.Store.GetApp(ctx, orgID, clientID)
	if err != nil {
		return nil, fmt.Errorf("application %q: %w", clientID, err)
	}
	c.apply(app)
	if err := app.Validate(); err != nil {
		return nil, err
	}
	app.UpdatedAt = d.now()
	if err := d.Store.UpdateApp(ctx, app); err != nil {
		return nil, fmt.Errorf("update application %q: %w", clientID, err)
	}
	d.audit(ctx, orgID, a, "app.update", clientID, "ok", nil)
	return app, nil
}

// RotateAppSecret gives a confidential application a new secret; the old
// one stops working at once.
func (d *Directory) RotateAppSecret(ctx context.Context, a Actor, orgID, clientID string) (string, error) {
	app, err := d.Store.GetApp(ctx, orgID, clientID)
	if err != nil {
		return "", fmt.Errorf("application %q: %w", clientID, err)
	}
	if app.Public {
		return "", domain.Invalid("client_secret", "a public application has no secret")
	}
	plain, err := d.token(32)
	if err != nil {
		return "", err
	}
	app.SecretHash, app.UpdatedAt = secret.Hash(plain), d.now()
	if err := d.Store.UpdateApp(ctx, app); err != nil {
		return "", fmt.Errorf("rotate secret of %q: %w", clientID, err)
	}
	d.audit(ctx, orgID, a, "app.rotate_secret", clientID, "ok", nil)
	return plain, nil
}

// DeleteApp removes an application and the codes and tokens issued to it.
func (d *Directory) DeleteApp(ctx context.Context, a Actor, orgID, clientID string) error {
	if err := d.Store.DeleteApp(ctx, orgID, clientID); err != nil {
		return fmt.Errorf("delete application %q: %w", clientID, err)
	}
	d.audit(ctx, orgID, a, "app.delete", clientID, "ok", nil)
	return nil
}
