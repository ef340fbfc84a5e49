package op

import (
	"errors"
	"net/http"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/oauth"
	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
)

// introspection is an RFC 7662 response.
type introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	Username  string `json:"username,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Expiry    int64  `json:"exp,omitempty"`
	IssuedAt  int64  `json:"iat,omitempty"`
	Subject   string `json:"sub,omitempty"`
	Audience  string `json:"aud,omitempty"`
	Issuer    string `json:"iss,omitempty"`
	SID       string `json:"sid,omitempty"`
	AuthTime  int64  `json:"auth_time,omitempty"`
}

// introspect is the introspection endpoint (RFC 7662). Only confidential
// clients may ask, and only about their own tokens: anything else is
// simply inactive.
func (p *Provider) introspect(w http.ResponseWriter, r *http.Request) {
	org, app, params, ok := p.clientRequest(w, r, true)
	if !ok {
		return
	}
	raw := params.Get("token")
	if raw == "" {
		oauth.WriteError(w, oauth.InvalidRequest("token is required"), false)
		return
	}
	ctx := r.Context()
	tok, err := p.Store.GetToken(ctx, org.ID, secret.Hash(raw))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		p.internalError(w, r, "load token", err)
		return
	}
	inactive := introspection{Active: false}
	if tok == nil || tok.ClientID != app.ClientID || !tok.Usable(p.now()) {
		writeJSON(w, http.StatusOK, inactive.appendJSON)
		return
	}
	resp := introspection{
		Active: true, Scope: tok.Scope, ClientID: tok.ClientID, Expiry: tok.ExpiresAt.Unix(), IssuedAt: tok.CreatedAt.Unix(),
		Audience: tok.ClientID, Issuer: request.Issuer(r.Context()), SID: tok.SID, AuthTime: unix(tok.AuthTime), Subject: tok.ClientID,
	}
	if tok.Kind == domain.TokenAccess {
		resp.TokenType = "Bearer"
	} else {
		resp.TokenType = "refresh_token"
	}
	if tok.UserSub != "" {
		user, err := p.Store.GetUser(ctx, org.ID, tok.UserSub)
		if err != nil || user.Disabled {
			writeJSON(w, http.StatusOK, inactive.appendJSON)
			return
		}
		resp.Subject, resp.Username = user.Sub, user.UserName
	}
	writeJSON(w, http.StatusOK, resp.appendJSON)
}
