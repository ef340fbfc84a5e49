package op

import (
	"errors"
	"net/http"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/oauth"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
)

// revoke is the revocation endpoint (RFC 7009). Revoking a refresh token
// revokes every token of its grant; revoking an access token revokes that
// token. Unknown tokens, and tokens of other clients, get the same 200 so
// the endpoint reveals nothing.
func (p *Provider) revoke(w http.ResponseWriter, r *http.Request) {
	org, app, params, ok := p.clientRequest(w, r, false)
	if !ok {
		return
	}
	raw := params.Get("token")
	if raw == "" {
		oauth.WriteError(w, oauth.InvalidRequest("token is required"), false)
		return
	}
	switch hint := params.Get("token_type_hint"); hint {
	case "", "access_token", "refresh_token":
	default:
		oauth.WriteError(w, oauth.UnsupportedTokenType("token_type_hint %q is not supported", hint), false)
		return
	}
	ctx := r.Context()
	hash := secret.Hash(raw)
	tok, err := p.Store.GetToken(ctx, org.ID, hash)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		p.internalError(w, r, "load token", err)
		return
	}
	if tok != nil && tok.ClientID == app.ClientID {
		now := p.now()
		if tok.Kind == domain.TokenRefresh {
			err = p.Store.RevokeTokenFamily(ctx, org.ID, tok.FamilyID, now)
		} else {
			err = p.Store.RevokeToken(ctx, org.ID, hash, now)
		}
		if err != nil {
			p.internalError(w, r, "revoke token", err)
			return
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}
