// Package directory is the management layer over organizations, users and
// applications: it creates them with their secrets and keys, applies partial
// updates, validates everything before anything is written, and audits every
// change. The CLI, the admin API and the trusted-platform API all go through
// it, so a rule holds the same wherever a change comes from.
//
// It never stores a secret in clear: client secrets and API keys are hashed
// (and the API key also sealed for reveal); passwords are argon2id.
package directory

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/password"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/signer"
	"github.com/latchkey/latchkey/internal/store"
)

// Directory manages organizations, users and applications.
type Directory struct {
	Store     store.Store
	Keys      *signer.Keys
	Master    *secret.MasterKey
	PublicURL string
	// Now and Rand may be nil (time.Now, crypto/rand).
	Now  func() time.Time
	Rand io.Reader
	// Password sets argon2id cost; zero means password.Default.
	Password password.Params
	// Sessions ends sessions with single logout; nil ends them in the
	// store only (back-channel notifications are then not sent).
	Sessions SessionEnder
}

func (d *Directory) now() time.Time {
	if d.Now != nil {
		return d.Now().UTC()
	}
	return time.Now().UTC()
}

func (d *Directory) token(n int) (string, error) {
	r := d.Rand
	if r == nil {
		r = rand.Reader
	}
	return secret.Token(r, n)
}

func (d *Directory) passwordParams() password.Params {
	if d.Password.Memory == 0 {
		return password.Default
	}
	return d.Password
}

// Issuer is the organization's issuer URL.
func (d *Directory) Issuer(orgID string) string { return d.PublicURL + "/o/" + orgID }

// Actor names who makes a change, for the audit log ("cli", "admin:alice" …).
type Actor struct {
	Name     string
	ClientIP string
}

func (d *Directory) audit(ctx context.Context, orgID string, a Actor, action, target, result string, detail map[string]string) {
	// Audit failures must not undo a change that was made; they are rare
	// (the same database just accepted the change) and surface in the log
	// of the caller through the store's own errors on the next call.
	_ = d.Store.AppendAudit(ctx, &domain.AuditEvent{
		OrgID: orgID, At: d.now(), Actor: a.Name, Action: action, Target: target, Result: result, ClientIP: a.ClientIP, Detail: detail,
	})
}

// --- organizations ---

// APIKeyPrefix marks Latchkey organization API keys, so secret scanners and
// people recognise a leaked one.
const APIKeyPrefix = "lk_org_"

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
// and its first API key, which is returned in clear.
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
	if err := d.Store.CreateOrg(ctx, o, key, keys); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, "", domain.Invalid("id", "organization %q already exists", id)
		}
		return nil, "", fmt.Errorf("create organization %q: %w", id, err)
	}
	d.audit(ctx, id, a, "org.create", id, "ok", nil)
	return o, plain, nil
}

// UpdateOrg saves a changed name and settings after validating them.
func (d *Directory) UpdateOrg(ctx context.Context, a Actor, o *domain.Organization) error {
	if err := o.Validate(); err != nil {
		return err
	}
	// Upstream login without a connection would lock every user out.
	if o.Settings.LoginMethod == domain.LoginUpstream {
		if _, err := d.Store.GetUpstream(ctx, o.ID); errors.Is(err, store.ErrNotFound) {
			return domain.Invalid("login_method", "configure the upstream connection first (latchkey upstream set)")
		} else if err != nil {
			return fmt.Errorf("organization %q: %w", o.ID, err)
		}
	}
	old, err := d.Store.GetOrg(ctx, o.ID)
	if err != nil {
		return fmt.Errorf("organization %q: %w", o.ID, err)
	}
	o.UpdatedAt = d.now()
	if err := d.Store.UpdateOrg(ctx, o); err != nil {
		return fmt.Errorf("update organization %q: %w", o.ID, err)
	}
	d.audit(ctx, o.ID, a, "org.update", o.ID, "ok", nil)
	d.auditMFAPolicy(ctx, a, o.ID, old.Settings.MFA, o.Settings.MFA)
	return nil
}

// RevealAPIKey opens the organization's current API key. Every reveal is audited.
func (d *Directory) RevealAPIKey(ctx context.Context, a Actor, orgID string) (string, error) {
	k, err := d.Store.CurrentAPIKey(ctx, orgID)
	if err != nil {
		return "", fmt.Errorf("API key of %q: %w", orgID, err)
	}
	plain, err := d.Master.Open(k.Sealed, apiKeyAAD(orgID, k.ID))
	if err != nil {
		return "", fmt.Errorf("API key of %q: %w", orgID, err)
	}
	d.audit(ctx, orgID, a, "org.api_key.reveal", orgID, "ok", nil)
	return string(plain), nil
}

// RotateAPIKey makes a new API key; the previous one keeps working for overlap.
func (d *Directory) RotateAPIKey(ctx context.Context, a Actor, orgID string, overlap time.Duration) (string, error) {
	if overlap < 0 || overlap > 30*24*time.Hour {
		return "", domain.Invalid("overlap", "must be between 0 and 720h")
	}
	key, plain, err := d.newAPIKey(orgID)
	if err != nil {
		return "", err
	}
	var oldExpires time.Time
	if overlap > 0 {
		oldExpires = key.CreatedAt.Add(overlap)
	}
	if err := d.Store.RotateAPIKey(ctx, orgID, key, oldExpires); err != nil {
		return "", fmt.Errorf("rotate API key of %q: %w", orgID, err)
	}
	d.audit(ctx, orgID, a, "org.api_key.rotate", orgID, "ok", map[string]string{"overlap": overlap.String()})
	return plain, nil
}

// DeleteOrg removes the organization and everything it owns.
func (d *Directory) DeleteOrg(ctx context.Context, id string) error {
	if err := d.Store.DeleteOrg(ctx, id); err != nil {
		return fmt.Errorf("delete organization %q: %w", id, err)
	}
	return nil
}
