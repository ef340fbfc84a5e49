package directory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
)

// APIKeyPrefix marks Latchkey organization API keys, so secret scanners and
// people recognise a leaked one.
const APIKeyPrefix = "lk_org_"

// MaxAPIKeyOverlap bounds how long a rotated-out API key keeps working.
const MaxAPIKeyOverlap = 30 * 24 * time.Hour

// DefaultAPIKeyOverlap is the overlap surfaces offer unless told otherwise,
// so the platform can switch over without a failed call.
const DefaultAPIKeyOverlap = 24 * time.Hour

func apiKeyAAD(orgID, id string) string { return "api-key/" + orgID + "/" + id }

func (d *Directory) newAPIKey(orgID string) (*domain.APIKey, string, error) {
	tok, err := d.token(32)
	if err != nil {
		return nil, "", err
	}
	plain := APIKeyPrefix + tok
	id := uuid.NewString()
	sealed, err := d.Master.Seal([]byte(plain), apiKeyAAD(orgID, id))
	if err != nil {
		return nil, "", err
	}
	return &domain.APIKey{OrgID: orgID, ID: id, Hash: secret.Hash(plain), Sealed: sealed, CreatedAt: d.now()}, plain, nil
}

// CreateOrg creates an organization with default settings, its signing keys
// and its first API key, which is returned in clear. An existing id is a
// *ConflictError on field "id".
func (d *Directory) CreateOrg(ctx context.Context, a Actor, id, name string) (*domain.Organization, string, error) {
	now := d.now()
	o := &domain.Organization{ID: id, Name: name, Settings: domain.DefaultOrgSettings(), CreatedAt: now, UpdatedAt: now}
	o.Settings.MFA = domain.DefaultMFAPolicy(id)
	if err := o.Validate(); err != nil {
		return nil, "", err
	}
	key, plain, err := d.newAPIKey(id)
	if err != nil {
		return nil, "", err
	}
	keys, err := d.Keys.InitialKeys(id)
	if err != nil {
		return nil, "", err
	}
	if err := d.Store.CreateOrg(ctx, o, key, keys, d.event(id, a, "org.create", id, nil)); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, "", conflictf("id", "organization %q already exists", id)
		}
		return nil, "", fmt.Errorf("create organization %q: %w", id, err)
	}
	if err := d.EnsurePortalApp(ctx, a, id); err != nil {
		return nil, "", err
	}
	return o, plain, nil
}

// GetOrg returns the organization; a *NotFoundError if there is none.
func (d *Directory) GetOrg(ctx context.Context, id string) (*domain.Organization, error) {
	if domain.ValidateOrgID(id) != nil {
		return nil, notFoundf("organization %q not found", id)
	}
	o, err := d.Store.GetOrg(ctx, id)
	if err != nil {
		return nil, notFound(err, "organization %q", id)
	}
	return o, nil
}

// ListOrgs lists every organization by id.
func (d *Directory) ListOrgs(ctx context.Context) ([]*domain.Organization, error) {
	orgs, err := d.Store.ListOrgs(ctx)
	if err != nil {
		return nil, fmt.Errorf("list organizations: %w", err)
	}
	return orgs, nil
}

// OrgChanges are the organization fields an update sets; nil leaves a
// field as it is.
type OrgChanges struct {
	Name                   *string
	SSOEnabled             *bool
	SessionLifetimeSeconds *int64
	TicketLifetimeSeconds  *int64
	AuthRedirectURL        *string
	LoginMethod            *string
	// MFA is the second-factor policy (off, optional, admins, required).
	MFA *string
}

// IsZero reports whether no field is set.
func (c OrgChanges) IsZero() bool { return c == (OrgChanges{}) }

func (c OrgChanges) apply(o *domain.Organization) {
	if c.Name != nil {
		o.Name = *c.Name
	}
	if c.SSOEnabled != nil {
		o.Settings.SSOEnabled = *c.SSOEnabled
	}
	if c.SessionLifetimeSeconds != nil {
		o.Settings.SessionLifetimeSeconds = *c.SessionLifetimeSeconds
	}
	if c.TicketLifetimeSeconds != nil {
		o.Settings.TicketLifetimeSeconds = *c.TicketLifetimeSeconds
	}
	if c.AuthRedirectURL != nil {
		o.Settings.AuthRedirectURL = *c.AuthRedirectURL
	}
	if c.LoginMethod != nil {
		o.Settings.LoginMethod = *c.LoginMethod
	}
	if c.MFA != nil {
		o.Settings.MFA = *c.MFA
	}
}

// fieldNames lists the fields set, for the audit log.
func (c OrgChanges) fieldNames() string {
	return setFields(
		"name", c.Name != nil, "sso_enabled", c.SSOEnabled != nil,
		"session_lifetime_seconds", c.SessionLifetimeSeconds != nil, "ticket_lifetime_seconds", c.TicketLifetimeSeconds != nil,
		"auth_redirect_url", c.AuthRedirectURL != nil, "login_method", c.LoginMethod != nil, "mfa", c.MFA != nil)
}

// UpdateOrg changes the given fields of the organization, atomically, after
// validating the result. Switching to upstream login needs an upstream
// connection: without one every user would be locked out.
func (d *Directory) UpdateOrg(ctx context.Context, a Actor, id string, c OrgChanges) (*domain.Organization, error) {
	if domain.ValidateOrgID(id) != nil {
		return nil, notFoundf("organization %q not found", id)
	}
	ev := d.event(id, a, "org.update", id, map[string]string{"changed": c.fieldNames()})
	o, err := d.Store.UpdateOrg(ctx, id, func(o *domain.Organization) error {
		before := o.Settings.MFA
		c.apply(o)
		if err := o.Validate(); err != nil {
			return err
		}
		// A change of the second-factor policy is recorded with both ends.
		if before != o.Settings.MFA {
			ev.Detail["mfa_from"], ev.Detail["mfa_to"] = before, o.Settings.MFA
		}
		if o.Settings.LoginMethod == domain.LoginUpstream {
			if _, err := d.Store.GetUpstream(ctx, id); errors.Is(err, store.ErrNotFound) {
				return domain.Invalid("login_method", "configure the upstream connection first")
			} else if err != nil {
				return fmt.Errorf("upstream connection of %q: %w", id, err)
			}
		}
		o.UpdatedAt = d.now()
		return nil
	}, ev)
	if err != nil {
		return nil, notFound(err, "organization %q", id)
	}
	return o, nil
}

// DeleteOrg removes the organization and everything it owns, its audit log
// included. The deletion is recorded as org.delete in the operator
// organization's audit log, in the same transaction (once the operator
// organization exists; before that there is no log to write to).
func (d *Directory) DeleteOrg(ctx context.Context, a Actor, id string) error {
	if id == OperatorOrgID {
		return domain.Invalid("id", "%q is the built-in operator organization; it cannot be deleted", id)
	}
	if domain.ValidateOrgID(id) != nil {
		return notFoundf("organization %q not found", id)
	}
	var ev *domain.AuditEvent
	if _, err := d.Store.GetOrg(ctx, OperatorOrgID); err == nil {
		ev = d.event(OperatorOrgID, a, "org.delete", id, nil)
	} else if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("operator organization: %w", err)
	}
	if err := d.Store.DeleteOrg(ctx, id, ev); err != nil {
		return notFound(err, "organization %q", id)
	}
	return nil
}

// RevealAPIKey opens the organization's current API key. Every reveal is audited.
func (d *Directory) RevealAPIKey(ctx context.Context, a Actor, orgID string) (string, error) {
	if _, err := d.GetOrg(ctx, orgID); err != nil {
		return "", err
	}
	k, err := d.Store.CurrentAPIKey(ctx, orgID)
	if err != nil {
		return "", fmt.Errorf("API key of %q: %w", orgID, err)
	}
	plain, err := d.Master.Open(k.Sealed, apiKeyAAD(orgID, k.ID))
	if err != nil {
		return "", fmt.Errorf("API key of %q: %w", orgID, err)
	}
	// A reveal changes nothing, so its event stands alone.
	if err := d.Store.AppendAudit(ctx, d.event(orgID, a, "org.api_key.reveal", orgID, nil)); err != nil {
		return "", fmt.Errorf("audit API key reveal: %w", err)
	}
	return string(plain), nil
}

// RotateAPIKey makes a new API key, returned in clear this once; the
// previous one keeps working for overlap (0 to MaxAPIKeyOverlap) from now.
func (d *Directory) RotateAPIKey(ctx context.Context, a Actor, orgID string, overlap time.Duration) (string, error) {
	if overlap < 0 || overlap > MaxAPIKeyOverlap {
		return "", domain.Invalid("overlap", "must be between 0 and 720h (got %s)", overlap)
	}
	if domain.ValidateOrgID(orgID) != nil {
		return "", notFoundf("organization %q not found", orgID)
	}
	key, plain, err := d.newAPIKey(orgID)
	if err != nil {
		return "", err
	}
	var oldExpires time.Time
	if overlap > 0 {
		oldExpires = key.CreatedAt.Add(overlap)
	}
	ev := d.event(orgID, a, "org.api_key.rotate", orgID, map[string]string{"overlap": overlap.String()})
	if err := d.Store.RotateAPIKey(ctx, orgID, key, oldExpires, ev); err != nil {
		return "", notFound(err, "organization %q", orgID)
	}
	return plain, nil
}

// setFields joins the names whose flag is set: name1, set1, name2, set2 …
func setFields(pairs ...any) string {
	out := ""
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1].(bool) {
			if out != "" {
				out += " "
			}
			out += pairs[i].(string)
		}
	}
	return out
}
