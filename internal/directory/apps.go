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
	// RefreshTokenReuseInterval is in seconds; 0 turns reuse off.
	RefreshTokenReuseInterval *int64
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
	setInt(&a.RefreshTokenReuseInterval, c.RefreshTokenReuseInterval)
	set(&a.IDTokenAlg, c.IDTokenAlg)
	set(&a.AccessTokenFormat, c.AccessTokenFormat)
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
	app := &domain.Application{OrgID: orgID, ClientID: id, Public: public, CreatedAt: now, UpdatedAt: now,
		RefreshTokenReuseInterval: domain.DefaultRefreshTokenReuseInterval}
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
	if _, err := d.GetOrg(ctx, orgID); err != nil {
		return nil, "", err
	}
	if err := d.Store.CreateApp(ctx, app, d.event(orgID, a, "app.create", app.ClientID, map[string]string{"name": app.Name})); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, "", fmt.Errorf("client id collision, try again: %w", err)
		}
		return nil, "", fmt.Errorf("create application: %w", err)
	}
	return app, plain, nil
}

// GetApp returns the application.
func (d *Directory) GetApp(ctx context.Context, orgID, clientID string) (*domain.Application, error) {
	app, err := d.Store.GetApp(ctx, orgID, clientID)
	if err != nil {
		return nil, notFound(err, "application %q in organization %q", clientID, orgID)
	}
	return app, nil
}

// ListApps lists the organization's applications by name.
func (d *Directory) ListApps(ctx context.Context, orgID string) ([]*domain.Application, error) {
	if _, err := d.GetOrg(ctx, orgID); err != nil {
		return nil, err
	}
	apps, err := d.Store.ListApps(ctx, orgID)
	if err != nil {
		return nil, fmt.Errorf("list applications of %q: %w", orgID, err)
	}
	return apps, nil
}

// UpdateApp changes the given fields of an application, atomically.
func (d *Directory) UpdateApp(ctx context.Context, a Actor, orgID, clientID string, c AppChanges) (*domain.Application, error) {
	app, err := d.Store.UpdateApp(ctx, orgID, clientID, func(app *domain.Application) error {
		c.apply(app)
		if err := app.Validate(); err != nil {
			return err
		}
		app.UpdatedAt = d.now()
		return nil
	}, d.event(orgID, a, "app.update", clientID, map[string]string{"changed": c.fieldNames()}))
	if err != nil {
		return nil, notFound(err, "application %q in organization %q", clientID, orgID)
	}
	return app, nil
}

// fieldNames lists the fields set, for the audit log.
func (c AppChanges) fieldNames() string {
	return setFields("name", c.Name != nil, "redirect_uris", c.RedirectURIs != nil,
		"post_logout_redirect_uris", c.PostLogoutRedirectURIs != nil, "backchannel_logout_uri", c.BackchannelLogoutURI != nil,
		"grant_types", c.GrantTypes != nil, "access_token_lifetime", c.AccessTokenLifetime != nil,
		"id_token_lifetime", c.IDTokenLifetime != nil, "refresh_token_lifetime", c.RefreshTokenLifetime != nil,
		"id_token_signed_response_alg", c.IDTokenAlg != nil, "access_token_format", c.AccessTokenFormat != nil)
}

// RotateAppSecret gives a confidential application a new secret; the old
// one stops working at once.
func (d *Directory) RotateAppSecret(ctx context.Context, a Actor, orgID, clientID string) (string, error) {
	plain, err := d.token(32)
	if err != nil {
		return "", err
	}
	_, err = d.Store.UpdateApp(ctx, orgID, clientID, func(app *domain.Application) error {
		if app.Public {
			return domain.Invalid("client_secret", "a public application has no secret")
		}
		app.SecretHash, app.UpdatedAt = secret.Hash(plain), d.now()
		return nil
	}, d.event(orgID, a, "app.rotate_secret", clientID, nil))
	if err != nil {
		return "", notFound(err, "application %q in organization %q", clientID, orgID)
	}
	return plain, nil
}

// DeleteApp removes an application and the codes and tokens issued to it.
func (d *Directory) DeleteApp(ctx context.Context, a Actor, orgID, clientID string) error {
	if err := d.Store.DeleteApp(ctx, orgID, clientID, d.event(orgID, a, "app.delete", clientID, nil)); err != nil {
		return notFound(err, "application %q in organization %q", clientID, orgID)
	}
	return nil
}
