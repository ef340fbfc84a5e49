package op

import (
	"errors"
	"net/http"
	"strings"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/oauth"
	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
)

// bearerToken reads the access token from the Authorization header, or
// from a POST form body (RFC 6750 §2.1–2.2); never from the query.
func bearerToken(w http.ResponseWriter, r *http.Request) (string, *oauth.Error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			return "", oauth.InvalidRequest("use the Bearer authorization scheme")
		}
		return strings.TrimSpace(tok), nil
	}
	if r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		form, perr := oauth.ParseForm(w, r)
		if perr != nil {
			return "", perr
		}
		if tok := form.Get("access_token"); tok != "" {
			return tok, nil
		}
	}
	return "", &oauth.Error{Status: http.StatusUnauthorized}
}

// userinfo is the UserInfo endpoint (OIDC Core §5.3).
func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	org := request.Org(r.Context())
	w.Header().Set("Access-Control-Allow-Origin", "*")
	raw, perr := bearerToken(w, r)
	if perr != nil {
		oauth.WriteBearerError(w, perr)
		return
	}
	ctx := r.Context()
	tok, err := p.Store.GetToken(ctx, org.ID, secret.Hash(raw))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		p.internalError(w, r, "load access token", err)
		return
	}
	if tok == nil || tok.Kind != domain.TokenAccess || !tok.Usable(p.now()) {
		oauth.WriteBearerError(w, oauth.InvalidToken("the access token is invalid, expired or revoked"))
		return
	}
	if tok.UserSub == "" || !oauth.HasScope(tok.Scope, oauth.ScopeOpenID) {
		oauth.WriteBearerError(w, oauth.InsufficientScope("the access token was not issued with the openid scope"))
		return
	}
	user, err := p.Store.GetUser(ctx, org.ID, tok.UserSub)
	if errors.Is(err, store.ErrNotFound) || (err == nil && user.Disabled) {
		oauth.WriteBearerError(w, oauth.InvalidToken("the user is no longer active"))
		return
	}
	if err != nil {
		p.internalError(w, r, "load user", err)
		return
	}
	var c idTokenClaims
	userClaims(user, tok.Scope, &c)
	if oauth.HasScope(tok.Scope, oauth.ScopeGroups) {
		app, err := p.Store.GetApp(ctx, org.ID, tok.ClientID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			p.internalError(w, r, "load application", err)
			return
		}
		if app != nil {
			if err := p.groupsClaim(ctx, app, user, tok.Scope, &c); err != nil {
				p.internalError(w, r, "load groups", err)
				return
			}
		}
	}
	writeJSON(w, http.StatusOK, func(b []byte) []byte { return appendUserInfo(b, user.Sub, &c) })
}
