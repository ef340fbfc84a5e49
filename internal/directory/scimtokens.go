package directory

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/secret"
)

// SCIMTokenPrefix starts every SCIM token, so secret scanners and people
// recognise a leaked one. The organization follows in clear
// ("lk_scim_acme.<random>"), so a request is checked against exactly one
// organization's tokens.
const SCIMTokenPrefix = "lk_scim_"

// DefaultSCIMTokenTTL is the life surfaces give a new SCIM token unless told
// otherwise: directories are set up once and run for months.
const DefaultSCIMTokenTTL = 365 * 24 * time.Hour

// MaxSCIMTokenTTL bounds a SCIM token's life; 0 (never expires) is allowed.
const MaxSCIMTokenTTL = 5 * 365 * 24 * time.Hour

// Why a SCIM token was refused.
var (
	ErrSCIMTokenUnknown = errors.New("unknown SCIM token")
	ErrSCIMTokenExpired = errors.New("SCIM token expired")
	ErrSCIMTokenRevoked = errors.New("SCIM token revoked")
)

// CreateSCIMToken makes a bearer token for orgID's SCIM endpoint. A ttl of
// 0 means it never expires. The token is returned in clear this once; only
// its SHA-256 is stored.
func (d *Directory) CreateSCIMToken(ctx context.Context, a Actor, orgID, description string, ttl time.Duration) (*domain.SCIMToken, string, error) {
	if err := domain.ValidateOrgID(orgID); err != nil {
		fe, _ := domain.AsFieldError(err)
		return nil, "", domain.Invalid("org", "%s", fe.Message)
	}
	if err := checkDescription(description); err != nil {
		return nil, "", err
	}
	if ttl < 0 || ttl > MaxSCIMTokenTTL {
		return nil, "", domain.Invalid("expires", "must be between 0 (never) and %d days", int(MaxSCIMTokenTTL.Hours()/24))
	}
	if _, err := d.GetOrg(ctx, orgID); err != nil {
		return nil, "", err
	}
	random, err := d.token(32)
	if err != nil {
		return nil, "", err
	}
	plain := SCIMTokenPrefix + orgID + "." + random
	id, err := d.adminTokenID()
	if err != nil {
		return nil, "", err
	}
	now := d.now()
	t := &domain.SCIMToken{OrgID: orgID, ID: id, Hash: secret.Hash(plain), Description: description, CreatedAt: now}
	if ttl > 0 {
		t.ExpiresAt = now.Add(ttl)
	}
	detail := map[string]string{"description": description}
	if ttl > 0 {
		detail["expires"] = t.ExpiresAt.Format(time.RFC3339)
	}
	if err := d.Store.CreateSCIMToken(ctx, t, d.event(orgID, a, "scim_token.create", id, detail)); err != nil {
		return nil, "", fmt.Errorf("create SCIM token: %w", err)
	}
	return t, plain, nil
}

// ListSCIMTokens lists orgID's SCIM tokens, revoked and expired ones included.
func (d *Directory) ListSCIMTokens(ctx context.Context, orgID string) ([]*domain.SCIMToken, error) {
	if _, err := d.GetOrg(ctx, orgID); err != nil {
		return nil, err
	}
	ts, err := d.Store.ListSCIMTokens(ctx, orgID)
	if err != nil {
		return nil, fmt.Errorf("list SCIM tokens: %w", err)
	}
	return ts, nil
}

// RevokeSCIMToken revokes orgID's SCIM token id at once. store.ErrNotFound
// if there is no such unrevoked token.
func (d *Directory) RevokeSCIMToken(ctx context.Context, a Actor, orgID, id string) error {
	if err := d.Store.RevokeSCIMToken(ctx, orgID, id, d.now(), d.event(orgID, a, "scim_token.revoke", id, nil)); err != nil {
		return notFound(err, "active SCIM token %q in organization %q", id, orgID)
	}
	return nil
}

// AuthenticateSCIMToken checks plain against orgID's SCIM tokens. It
// returns ErrSCIMTokenUnknown (also for another organization's token),
// ErrSCIMTokenRevoked or ErrSCIMTokenExpired (with the token, so the
// refusal can be audited), or a store error. A successful use is recorded
// on the token.
func (d *Directory) AuthenticateSCIMToken(ctx context.Context, orgID, plain string) (*domain.SCIMToken, error) {
	rest, ok := strings.CutPrefix(plain, SCIMTokenPrefix+orgID+".")
	if !ok || rest == "" {
		return nil, ErrSCIMTokenUnknown
	}
	t, err := d.Store.FindSCIMToken(ctx, orgID, secret.Hash(plain))
	now := d.now()
	if t, err := checkToken(scimTokenRefusals, t, err, func(t *domain.SCIMToken) string { return SCIMTokenState(t, now) }); err != nil {
		return t, err
	}
	if err := d.Store.TouchSCIMToken(ctx, orgID, t.ID, now); err != nil {
		return nil, fmt.Errorf("record SCIM token use: %w", err)
	}
	t.LastUsedAt = now
	return t, nil
}

// SCIMTokenState says whether t is active, expired or revoked at now.
func SCIMTokenState(t *domain.SCIMToken, now time.Time) string {
	return tokenState(t.RevokedAt, t.ExpiresAt, now)
}

var scimTokenRefusals = tokenRefusals{"SCIM token", ErrSCIMTokenUnknown, ErrSCIMTokenRevoked, ErrSCIMTokenExpired}
