package directory

import (
	"context"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/domain"
)

// PasskeyInfo describes one passkey to an administrator (never its key).
type PasskeyInfo struct {
	Name       string   `json:"name"`
	ID         string   `json:"id"`
	AAGUID     string   `json:"aaguid,omitempty"`
	Transports []string `json:"transports"`
	Synced     bool     `json:"synced"`
	SignCount  uint32   `json:"signCount"`
	CreatedAt  string   `json:"createdAt"`
	LastUsedAt string   `json:"lastUsedAt,omitempty"`
}

// UserMFA is what second factors a user has.
type UserMFA struct {
	UserName string        `json:"userName"`
	Passkeys []PasskeyInfo `json:"passkeys"`
	// TOTP is true once an authenticator app was confirmed.
	TOTP bool `json:"totp"`
	// RecoveryCodesLeft counts unused recovery codes.
	RecoveryCodesLeft int `json:"recoveryCodesLeft"`
	// Policy is the organization's policy and Required whether it applies
	// to this user.
	Policy   string `json:"policy"`
	Required bool   `json:"required"`
}

func stampOf(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// UserMFA lists the user's second factors.
func (d *Directory) UserMFA(ctx context.Context, orgID, userName string) (*UserMFA, error) {
	o, err := d.GetOrg(ctx, orgID)
	if err != nil {
		return nil, err
	}
	u, err := d.GetUser(ctx, orgID, userName)
	if err != nil {
		return nil, err
	}
	out := &UserMFA{UserName: u.UserName, Passkeys: []PasskeyInfo{}, Policy: o.Settings.MFA, Required: domain.MFARequiredFor(o.Settings.MFA, u)}
	keys, err := d.Store.ListPasskeys(ctx, orgID, u.Sub)
	if err != nil {
		return nil, fmt.Errorf("passkeys of %q: %w", userName, err)
	}
	for _, k := range keys {
		info := PasskeyInfo{
			Name: k.Name, ID: base64.RawURLEncoding.EncodeToString(k.ID), Transports: k.Transports, SignCount: k.SignCount,
			Synced: k.Flags&0x08 != 0, CreatedAt: stampOf(k.CreatedAt), LastUsedAt: stampOf(k.LastUsedAt),
		}
		if info.Transports == nil {
			info.Transports = []string{}
		}
		if id, err := uuid.FromBytes(k.AAGUID); err == nil && id != uuid.Nil {
			info.AAGUID = id.String()
		}
		out.Passkeys = append(out.Passkeys, info)
	}
	if t, err := d.Store.GetTOTP(ctx, orgID, u.Sub); err == nil {
		out.TOTP = !t.ConfirmedAt.IsZero()
	}
	if out.RecoveryCodesLeft, err = d.Store.CountRecoveryCodes(ctx, orgID, u.Sub); err != nil {
		return nil, fmt.Errorf("recovery codes of %q: %w", userName, err)
	}
	return out, nil
}

// ResetUserMFA removes every second factor of the user (passkeys, one-time
// codes, recovery codes), audited in the same transaction, and ends the
// user's sessions through single logout, so whoever holds them must sign
// in again, and enrol again where the policy requires it.
func (d *Directory) ResetUserMFA(ctx context.Context, a Actor, orgID, userName string) (*UserMFA, error) {
	before, err := d.UserMFA(ctx, orgID, userName)
	if err != nil {
		return nil, err
	}
	u, err := d.GetUser(ctx, orgID, userName)
	if err != nil {
		return nil, err
	}
	ev := d.event(orgID, a, "user.mfa.reset", u.UserName, map[string]string{
		"passkeys": fmt.Sprint(len(before.Passkeys)), "totp": fmt.Sprint(before.TOTP),
		"recovery_codes": fmt.Sprint(before.RecoveryCodesLeft),
	})
	if err := d.Store.DeleteUserFactors(ctx, orgID, u.Sub, ev); err != nil {
		return nil, fmt.Errorf("reset second factors of %q: %w", userName, err)
	}
	if _, err := d.endSessions(ctx, a, u); err != nil {
		return nil, fmt.Errorf("end sessions of %q: %w", userName, err)
	}
	return d.UserMFA(ctx, orgID, userName)
}
