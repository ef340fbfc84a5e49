package directory

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
)

// AdminTokenPrefix starts every admin API token, so secret scanners and
// people recognise a leaked one.
const AdminTokenPrefix = "lk_adm_"

// adminTokenOrgSep separates the organization from the random part of an
// organization-scoped token ("lk_adm_acme.<random>"). Neither organization
// ids nor the base64url random part contain it, so an operator token
// ("lk_adm_<random>") never parses as scoped.
const adminTokenOrgSep = "."

// MaxAdminTokenDescriptionLen bounds a token's description.
const MaxAdminTokenDescriptionLen = 200

// Why an admin token was refused.
var (
	// ErrAdminTokenUnknown: no such token (or not an admin token at all).
	ErrAdminTokenUnknown = errors.New("unknown admin token")
	// ErrAdminTokenExpired: the token's expiry has passed.
	ErrAdminTokenExpired = errors.New("admin token expired")
	// ErrAdminTokenRevoked: the token was revoked.
	ErrAdminTokenRevoked = errors.New("admin token revoked")
)

// MaxAdminTokenTTL bounds an admin token's life; 0 (never expires) is
// allowed.
const MaxAdminTokenTTL = 3650 * 24 * time.Hour

// CreateAdminToken makes a bearer token for the admin JSON API, scoped to
// orgID or, with orgID "", to every organization (an operator token). A ttl
// of 0 means the token never expires. The token is returned in clear this
// once; only its SHA-256 is stored.
//
// An organization-scoped token names its organization in clear before the
// random part, so a request is checked against exactly one stored row and a
// token used on another organization's path is recognised as such.
func (d *Directory) CreateAdminToken(ctx context.Context, a Actor, orgID, description string, ttl time.Duration) (*domain.AdminToken, string, error) {
	if orgID != "" {
		if err := domain.ValidateOrgID(orgID); err != nil {
			fe, _ := domain.AsFieldError(err)
			return nil, "", domain.Invalid("org", "%s", fe.Message)
		}
	}
	if err := checkDescription(description); err != nil {
		return nil, "", err
	}
	if ttl < 0 {
		return nil, "", domain.Invalid("expires", "must not be negative (use 0 for a token that never expires)")
	}
	if ttl > MaxAdminTokenTTL {
		return nil, "", domain.Invalid("expires", "must be at most %d days; use never for a token that does not expire", int64(MaxAdminTokenTTL/(24*time.Hour)))
	}
	if orgID != "" {
		if _, err := d.GetOrg(ctx, orgID); err != nil {
			return nil, "", err
		}
	}
	random, err := d.token(32)
	if err != nil {
		return nil, "", err
	}
	plain := AdminTokenPrefix + random
	if orgID != "" {
		plain = AdminTokenPrefix + orgID + adminTokenOrgSep + random
	}
	id, err := d.adminTokenID()
	if err != nil {
		return nil, "", err
	}
	now := d.now()
	t := &domain.AdminToken{OrgID: orgID, ID: id, Hash: secret.Hash(plain), Description: description, CreatedAt: now}
	if ttl > 0 {
		t.ExpiresAt = now.Add(ttl)
	}
	var ev *domain.AuditEvent
	if orgID != "" {
		ev = d.event(orgID, a, "admin_token.create", id, map[string]string{"description": description})
	}
	if err := d.Store.CreateAdminToken(ctx, t, ev); err != nil {
		return nil, "", fmt.Errorf("create admin token: %w", err)
	}
	return t, plain, nil
}

// adminTokenID is a short random id, hex so that it never starts with '-'
// and reads well on a command line.
func (d *Directory) adminTokenID() (string, error) {
	r := d.Rand
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, 8)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func checkDescription(v string) error {
	if !utf8.ValidString(v) {
		return domain.Invalid("description", "must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(v); n > MaxAdminTokenDescriptionLen {
		return domain.Invalid("description", "must be at most %d characters (got %d)", MaxAdminTokenDescriptionLen, n)
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return domain.Invalid("description", "must not contain control characters")
		}
	}
	return nil
}

// AdminTokenOrg returns the organization an admin token names, "" for an
// operator token, and false when plain is not shaped like an admin token.
func AdminTokenOrg(plain string) (string, bool) {
	rest, ok := strings.CutPrefix(plain, AdminTokenPrefix)
	if !ok || rest == "" {
		return "", false
	}
	org, random, scoped := strings.Cut(rest, adminTokenOrgSep)
	if !scoped {
		return "", true
	}
	if random == "" || domain.ValidateOrgID(org) != nil {
		return "", false
	}
	return org, true
}

// AuthenticateAdminToken finds the stored token for plain and checks that
// it is neither revoked nor expired. It returns ErrAdminTokenUnknown,
// ErrAdminTokenRevoked or ErrAdminTokenExpired (with the token for the
// latter two, so the refusal can be audited), or a store error.
func (d *Directory) AuthenticateAdminToken(ctx context.Context, plain string) (*domain.AdminToken, error) {
	org, ok := AdminTokenOrg(plain)
	if !ok {
		return nil, ErrAdminTokenUnknown
	}
	t, err := d.Store.FindAdminToken(ctx, org, secret.Hash(plain))
	now := d.now()
	return checkToken(adminTokenRefusals, t, err, func(t *domain.AdminToken) string { return AdminTokenState(t, now) })
}

var adminTokenRefusals = tokenRefusals{"admin token", ErrAdminTokenUnknown, ErrAdminTokenRevoked, ErrAdminTokenExpired}

// tokenRefusals are how one kind of bearer token is refused.
type tokenRefusals struct {
	what                      string
	unknown, revoked, expired error
}

// checkToken checks a bearer token the store looked up by its hash (t,
// err): refused as unknown when there is none, as revoked or expired (with
// the token, so the refusal can be audited) by its state.
func checkToken[T any](r tokenRefusals, t T, err error, state func(T) string) (T, error) {
	var none T
	if errors.Is(err, store.ErrNotFound) {
		return none, r.unknown
	}
	if err != nil {
		return none, fmt.Errorf("find %s: %w", r.what, err)
	}
	switch state(t) {
	case "revoked":
		return t, r.revoked
	case "expired":
		return t, r.expired
	}
	return t, nil
}

// tokenState is "revoked", "expired" or "active".
func tokenState(revokedAt, expiresAt, now time.Time) string {
	switch {
	case !revokedAt.IsZero():
		return "revoked"
	case !expiresAt.IsZero() && !now.Before(expiresAt):
		return "expired"
	}
	return "active"
}

// TouchAdminToken records that t was just used. A failure is returned for
// the caller to log; it must not fail the request.
func (d *Directory) TouchAdminToken(ctx context.Context, t *domain.AdminToken) error {
	return d.Store.TouchAdminToken(ctx, t.OrgID, t.ID, d.now())
}

// ListAdminTokens lists every admin token, revoked and expired ones included.
func (d *Directory) ListAdminTokens(ctx context.Context) ([]*domain.AdminToken, error) {
	ts, err := d.Store.ListAdminTokens(ctx)
	if err != nil {
		return nil, fmt.Errorf("list admin tokens: %w", err)
	}
	return ts, nil
}

// RevokeAdminToken revokes the token id of orgID ("" for operator tokens)
// at once. store.ErrNotFound if there is no such active token.
func (d *Directory) RevokeAdminToken(ctx context.Context, a Actor, orgID, id string) error {
	var ev *domain.AuditEvent
	if orgID != "" {
		ev = d.event(orgID, a, "admin_token.revoke", id, nil)
	}
	if err := d.Store.RevokeAdminToken(ctx, orgID, id, d.now(), ev); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return notFoundf("admin token %q not found (or already revoked)", id)
		}
		return fmt.Errorf("revoke admin token %q: %w", id, err)
	}
	return nil
}

// AdminTokenState says whether t is active, expired or revoked at now.
func AdminTokenState(t *domain.AdminToken, now time.Time) string {
	return tokenState(t.RevokedAt, t.ExpiresAt, now)
}
