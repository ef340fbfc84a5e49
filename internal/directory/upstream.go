package directory

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

// UpstreamChanges are the fields a save of the upstream connection sets;
// nil leaves a field as it is (on the first save: the defaults). An empty
// Scopes or UsernameClaim goes back to the default.
type UpstreamChanges struct {
	ConfigURL *string
	ClientID  *string
	// ClientSecret is given in clear and sealed before it is stored; nil
	// keeps the stored secret.
	ClientSecret       *string
	Scopes             *[]string
	UsernameClaim      *string
	DisplayName        *string
	LogoutURL          *string
	EndUpstreamSession *bool
}

// IsZero reports whether no field is set.
func (c UpstreamChanges) IsZero() bool { return c == (UpstreamChanges{}) }

func (c UpstreamChanges) apply(u *domain.UpstreamConnection) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&u.ConfigURL, c.ConfigURL)
	set(&u.ClientID, c.ClientID)
	set(&u.UsernameClaim, c.UsernameClaim)
	set(&u.DisplayName, c.DisplayName)
	set(&u.LogoutURL, c.LogoutURL)
	if c.Scopes != nil {
		u.Scopes = append([]string{}, (*c.Scopes)...)
	}
	if c.EndUpstreamSession != nil {
		u.EndUpstreamSession = *c.EndUpstreamSession
	}
	u.ApplyDefaults()
}

// Check validates the fields that are set, on their own, so callers can
// refuse bad input before they open anything. SetUpstream validates the
// whole connection again.
func (c UpstreamChanges) Check() error {
	if c.ClientSecret != nil {
		if err := domain.ValidateUpstreamClientSecret(*c.ClientSecret); err != nil {
			return err
		}
	}
	probe := &domain.UpstreamConnection{
		OrgID: "probe", ConfigURL: "https://idp.example/", ClientID: "probe", ClientSecretSealed: []byte{1},
	}
	c.apply(probe)
	return probe.Validate()
}

// upstreamSecretAAD binds a sealed upstream secret to its organization, so
// a row copied into another organization cannot be opened there.
func upstreamSecretAAD(orgID string) string { return "upstream-secret/" + orgID }

// UpstreamRedirectURI is the redirect URI the organization registers at
// its upstream IdP.
func (d *Directory) UpstreamRedirectURI(orgID string) string { return d.Issuer(orgID) + "/callback" }

// UpstreamLogoutCallbackURI is where the upstream IdP returns after an
// upstream logout (its post-logout redirect URI).
func (d *Directory) UpstreamLogoutCallbackURI(orgID string) string {
	return d.Issuer(orgID) + "/logout/callback"
}

// GetUpstream returns the organization's upstream connection (its secret
// still sealed).
func (d *Directory) GetUpstream(ctx context.Context, orgID string) (*domain.UpstreamConnection, error) {
	if _, err := d.GetOrg(ctx, orgID); err != nil {
		return nil, err
	}
	c, err := d.Store.GetUpstream(ctx, orgID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFoundf("organization %q has no upstream connection", orgID)
	}
	if err != nil {
		return nil, fmt.Errorf("upstream connection of %q: %w", orgID, err)
	}
	return c, nil
}

// SetUpstream creates the organization's upstream connection or changes
// the given fields of it, atomically. The first save needs a configuration
// URL, a client ID and a client secret. It reports whether the connection
// was created.
func (d *Directory) SetUpstream(ctx context.Context, a Actor, orgID string, ch UpstreamChanges) (*domain.UpstreamConnection, bool, error) {
	if err := ch.Check(); err != nil {
		return nil, false, err
	}
	if domain.ValidateOrgID(orgID) != nil {
		return nil, false, notFoundf("organization %q not found", orgID)
	}
	var sealed []byte
	if ch.ClientSecret != nil {
		var err error
		if sealed, err = d.Master.Seal([]byte(*ch.ClientSecret), upstreamSecretAAD(orgID)); err != nil {
			return nil, false, err
		}
	}
	ev := d.event(orgID, a, "upstream.update", orgID, nil)
	c, created, err := d.Store.UpdateUpstream(ctx, orgID, func(c *domain.UpstreamConnection, created bool) error {
		now := d.now()
		if created {
			c.CreatedAt = now
		}
		ch.apply(c)
		if sealed != nil {
			c.ClientSecretSealed = sealed
		}
		if err := c.Validate(); err != nil {
			return err
		}
		c.UpdatedAt = now
		secretNote := "kept"
		if ch.ClientSecret != nil {
			secretNote = "set"
		}
		if created {
			ev.Action = "upstream.create"
		}
		ev.Detail = map[string]string{
			"config_url": c.ConfigURL, "client_id": c.ClientID, "scopes": strings.Join(c.Scopes, " "),
			"username_claim": c.UsernameClaim, "client_secret": secretNote, "changed": strings.Join(ch.fieldNames(), " "),
		}
		return nil
	}, ev)
	if err != nil {
		return nil, false, notFound(err, "organization %q", orgID)
	}
	return c, created, nil
}

// fieldNames lists the fields set, for the audit log.
func (c UpstreamChanges) fieldNames() []string {
	var out []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"config_url", c.ConfigURL != nil}, {"client_id", c.ClientID != nil}, {"client_secret", c.ClientSecret != nil},
		{"scopes", c.Scopes != nil}, {"username_claim", c.UsernameClaim != nil}, {"display_name", c.DisplayName != nil},
		{"logout_url", c.LogoutURL != nil}, {"end_upstream_session", c.EndUpstreamSession != nil},
	} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}

// DeleteUpstream removes the organization's upstream connection. While the
// organization signs users in through it, that would lock them out: it is
// refused with a *ConflictError on login_method.
func (d *Directory) DeleteUpstream(ctx context.Context, a Actor, orgID string) error {
	o, err := d.GetOrg(ctx, orgID)
	if err != nil {
		return err
	}
	if _, err := d.GetUpstream(ctx, orgID); err != nil {
		return err
	}
	if o.Settings.LoginMethod == domain.LoginUpstream {
		return conflictf("login_method", "the organization signs users in through its upstream connection; change its login method first")
	}
	if err := d.Store.DeleteUpstream(ctx, orgID, d.event(orgID, a, "upstream.delete", orgID, nil)); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return notFoundf("organization %q has no upstream connection", orgID)
		}
		return fmt.Errorf("delete upstream connection of %q: %w", orgID, err)
	}
	return nil
}

// OpenUpstreamSecret returns the connection's client secret in clear, for
// the token request of a federated login. It is not audited: no person
// sees it, and the login it serves is audited.
func (d *Directory) OpenUpstreamSecret(c *domain.UpstreamConnection) (string, error) {
	plain, err := d.Master.Open(c.ClientSecretSealed, upstreamSecretAAD(c.OrgID))
	if err != nil {
		return "", fmt.Errorf("upstream client secret of %q: %w", c.OrgID, err)
	}
	return string(plain), nil
}
