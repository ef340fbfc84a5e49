package demo

import (
	"context"
	"errors"
	"fmt"

	"github.com/coreos/go-oidc/v3/oidc"
)

// BackchannelLogoutEvent is the events member a logout token must carry
// (OpenID Connect Back-Channel Logout 1.0 §2.4).
const BackchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// LogoutClaims are the claims of a verified logout token.
type LogoutClaims struct {
	Subject  string                    `json:"sub"`
	SID      string                    `json:"sid"`
	JTI      string                    `json:"jti"`
	IssuedAt int64                     `json:"iat"`
	Events   map[string]map[string]any `json:"events"`
	Nonce    *string                   `json:"nonce"`
}

// VerifyLogoutToken validates a logout token as a relying party must
// (§2.6): signature, iss, aud and exp through go-oidc, then iat, jti, the
// logout event, sub or sid, and no nonce.
func VerifyLogoutToken(ctx context.Context, p *oidc.Provider, clientID, raw string) (*LogoutClaims, error) {
	if raw == "" {
		return nil, errors.New("logout_token is missing")
	}
	tok, err := p.Verifier(&oidc.Config{ClientID: clientID, SupportedSigningAlgs: []string{"RS256", "ES256", "EdDSA"}}).Verify(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("verify logout token: %w", err)
	}
	var c LogoutClaims
	if err := tok.Claims(&c); err != nil {
		return nil, err
	}
	switch {
	case c.IssuedAt == 0:
		return nil, errors.New("logout token has no iat")
	case c.JTI == "":
		return nil, errors.New("logout token has no jti")
	case c.Events == nil || c.Events[BackchannelLogoutEvent] == nil:
		return nil, errors.New("logout token lacks the back-channel logout event")
	case c.Subject == "" && c.SID == "":
		return nil, errors.New("logout token names neither sub nor sid")
	case c.Nonce != nil:
		return nil, errors.New("logout token must not contain a nonce")
	}
	return &c, nil
}
