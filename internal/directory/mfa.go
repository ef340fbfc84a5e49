package directory

import (
	"context"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/domain"
)

// SessionEnder ends a session everywhere (single logout); the server's
// logout service implements it.
type SessionEnder interface {
	EndSession(ctx context.Context, orgID, sid string) error
}

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
	o, err := d.Store.GetOrg(ctx, orgID)
	if err != nil {
		return nil, fmt.Errorf("organization %q: %w", orgID, err)
	}
	u, err := d.Store.GetUserByName(ctx, orgID, userName)
	if err != nil {
		return nil, fmt.Errorf("user %q: %w", userName, err)
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
// codes, recovery codes) and ends the user's sessions, so whoever holds
// them must sign in again, and enrol again where the policy requires it.
func (d *Directory) ResetUserMFA(ctx context.Context, a Actor, orgID, userName string) (*UserMFA, error) {
	before, err := d.UserMFA(ctx, orgID, userName)
	if err != nil {
		return nil, err
	}
	u, err := d.Store.GetUserByName(ctx, orgID, userName)
	if err != nil {
		return nil, fmt.Errorf("user %q: %w", userName, err)
	}
	if err := d.Store.DeleteUserFactors(ctx, orgID, u.Sub); err != nil {
		return nil, fmt.Errorf("reset second factors of %q: %w", userName, err)
	}
	ended, err := d.endUserSessions(ctx, orgID, u.Sub)
	if err != nil {
		return nil, fmt.Errorf("end sessions of %q: %w", userName, err)
	}
	d.audit(ctx, orgID, a, "user.mfa.reset", u.UserName, "ok", map[string]string{
		"passkeys": fmt.Sprint(len(before.Passkeys)), "totp": fmt.Sprint(before.TOTP),
		"recovery_codes": fmt.Sprint(before.RecoveryCodesLeft), "sessions_ended": fmt.Sprint(ended),
	})
	return d.UserMFA(ctx, orgID, userName)
}

// endUserSessions ends the user's active sessions through single logout
// when a SessionEnder is set, else in the store (tokens revoked as well).
func (d *Directory) endUserSessions(ctx context.Context, orgID, sub string) (int, error) {
	sessions, err := d.Store.ListUserSessions(ctx, orgID, sub)
	if err != nil {
		return 0, err
	}
	now, n := d.now(), 0
	for _, s := range sessions {
		if !s.Active(now) {
			continue
		}
		if d.Sessions != nil {
			err = d.Sessions.EndSession(ctx, orgID, s.SID)
		} else {
			if err = d.Store.EndSession(ctx, orgID, s.SID, now); err == nil {
				err = d.Store.RevokeSessionTokens(ctx, orgID, s.SID, now)
			}
		}
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// auditMFAPolicy records a change of an organization's policy.
func (d *Directory) auditMFAPolicy(ctx context.Context, a Actor, orgID, from, to string) {
	if from == to {
		return
	}
	d.audit(ctx, orgID, a, "org.mfa_policy", orgID, "ok", map[string]string{"from": from, "to": to})
}
