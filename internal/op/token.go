package op

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/oauth"
	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
)

// tokenRequest is a token endpoint request after client authentication.
type tokenRequest struct {
	org    *domain.Organization
	app    *domain.Application
	params oauth.Params
}

// token is the token endpoint (RFC 6749 §3.2): one function per grant type.
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	org, app, params, ok := p.clientRequest(w, r, false)
	if !ok {
		return
	}
	treq := &tokenRequest{org: org, app: app, params: params}
	var resp *tokenResponse
	var perr *oauth.Error
	switch gt := params.Get("grant_type"); gt {
	case domain.GrantAuthorizationCode:
		resp, perr = p.grantAuthorizationCode(r.Context(), treq)
	case domain.GrantRefreshToken:
		resp, perr = p.grantRefreshToken(r.Context(), treq)
	case domain.GrantClientCredentials:
		resp, perr = p.grantClientCredentials(r.Context(), treq)
	case "":
		perr = oauth.InvalidRequest("grant_type is required")
	default:
		perr = oauth.UnsupportedGrantType("grant_type %q is not supported", gt)
	}
	if perr != nil {
		if perr.Code == "server_error" {
			p.Log.ErrorContext(r.Context(), "token endpoint", "err", perr.Description)
			perr = oauth.ServerError("internal error (reference %s)", p.RequestID(r.Context()))
			if store.Unavailable(r.Context()) {
				perr = oauth.TemporarilyUnavailable("the database is unavailable; try again (reference %s)", p.RequestID(r.Context()))
			}
		}
		oauth.WriteError(w, perr, false)
		return
	}
	writeJSON(w, http.StatusOK, resp.appendJSON)
}

// clientRequest reads a back-channel request (token, revocation,
// introspection): the organization, the form, and the authenticated
// client. confidentialOnly refuses public clients. When it returns false
// it has answered the request.
func (p *Provider) clientRequest(w http.ResponseWriter, r *http.Request, confidentialOnly bool) (*domain.Organization, *domain.Application, oauth.Params, bool) {
	org := request.Org(r.Context())
	params, perr := oauth.ParseForm(w, r)
	if perr != nil {
		oauth.WriteError(w, perr, false)
		return nil, nil, nil, false
	}
	app, creds, perr := p.authenticateClient(r, org, params)
	if perr == nil && confidentialOnly && app.Public {
		perr = oauth.InvalidClient("public clients may not use this endpoint")
	}
	if perr != nil {
		oauth.WriteError(w, perr, creds.Method == "client_secret_basic")
		return nil, nil, nil, false
	}
	return org, app, params, true
}

// authenticateClient identifies and authenticates the client of a
// back-channel request. A confidential client must present its secret; a
// public client presents only its id.
func (p *Provider) authenticateClient(r *http.Request, org *domain.Organization, params oauth.Params) (*domain.Application, oauth.ClientCredentials, *oauth.Error) {
	creds, perr := oauth.ReadClientCredentials(r, params)
	if perr != nil {
		return nil, creds, perr
	}
	app, err := p.Store.GetApp(r.Context(), org.ID, creds.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		secret.MatchesHash(creds.Secret, make([]byte, 32)) // same work as a real check
		return nil, creds, oauth.InvalidClient("client authentication failed")
	}
	if err != nil {
		return nil, creds, oauth.ServerError("load client: %v", err)
	}
	switch {
	case app.Public && creds.Method != "none":
		return nil, creds, oauth.InvalidClient("a public client does not authenticate with a secret")
	case !app.Public && creds.Method == "none":
		return nil, creds, oauth.InvalidClient("client authentication is required")
	case !app.Public && !oauth.VerifySecret(creds.Secret, app.SecretHash):
		return nil, creds, oauth.InvalidClient("client authentication failed")
	}
	return app, creds, nil
}

func serverError(err error) *oauth.Error { return oauth.ServerError("%v", err) }

func (p *Provider) grantAuthorizationCode(ctx context.Context, t *tokenRequest) (*tokenResponse, *oauth.Error) {
	if !t.app.AllowsGrant(domain.GrantAuthorizationCode) {
		return nil, oauth.UnauthorizedClient("the application may not use the authorization_code grant")
	}
	code := t.params.Get("code")
	if code == "" {
		return nil, oauth.InvalidRequest("code is required")
	}
	now := p.now()
	hash := secret.Hash(code)
	// A code this node issued is redeemed without reading it back, unless
	// it or its session changed since (issued.go).
	if held, ok := p.issued.Take(t.org.ID, hash); ok && held.code.ClientID == t.app.ClientID {
		if resp, perr, decided := p.redeemIssued(ctx, t, held, hash, now); decided {
			return resp, perr
		}
	}
	// Look before using up: a code presented by another client of the
	// organization (a leaked code, or a confused client) must not use it
	// up for its own client; a used one is a replay. Its session comes in
	// the same read.
	c, sess, err := p.Store.GetCodeAndSession(ctx, t.org.ID, hash)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, oauth.InvalidGrant("the authorization code is invalid")
	case err != nil:
		return nil, serverError(err)
	case c.ClientID != t.app.ClientID:
		return nil, oauth.InvalidGrant("the authorization code was issued to another client")
	case !c.UsedAt.IsZero():
		return nil, p.codeReplayed(ctx, t.org.ID, hash, now)
	}
	g, perr := p.codeGrant(ctx, t, c, sess, hash, now)
	if perr != nil {
		// A refused exchange uses the code up all the same.
		_, err := p.Store.ConsumeCode(ctx, t.org.ID, hash, now)
		switch {
		case errors.Is(err, store.ErrAlreadyUsed):
			return nil, p.codeReplayed(ctx, t.org.ID, hash, now)
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return nil, serverError(err)
		}
		return nil, perr
	}
	resp, tokens, err := p.mint(ctx, g)
	if err != nil {
		return nil, serverError(err)
	}
	// The code is used up and its tokens stored in one transaction, so a
	// replay that finds the code used finds its tokens to revoke.
	err = p.Store.RedeemCode(ctx, t.org.ID, hash, now, tokens...)
	switch {
	case errors.Is(err, store.ErrAlreadyUsed):
		return nil, p.codeReplayed(ctx, t.org.ID, hash, now)
	case errors.Is(err, store.ErrNotFound):
		return nil, oauth.InvalidGrant("the authorization code is invalid")
	case err != nil:
		return nil, serverError(err)
	}
	return resp, nil
}

// redeemIssued redeems a code this node issued, as it was issued: it
// decides only when the code and its session are as held and everything
// checks out; anything else (a refusal, a change) is left undecided, for
// the path that reads the code and its session to decide and report.
func (p *Provider) redeemIssued(ctx context.Context, t *tokenRequest, held issuedCode, hash []byte, now time.Time) (*tokenResponse, *oauth.Error, bool) {
	c := held.code
	// The session as it was when the code was issued; RedeemIssuedCode
	// stores nothing unless it still is.
	sess := &domain.Session{OrgID: c.OrgID, SID: c.SID, UserSub: c.UserSub, AuthTime: c.AuthTime, AMR: c.AMR, ExpiresAt: held.sessionExpires}
	g, perr := p.codeGrant(ctx, t, c, sess, hash, now)
	if perr != nil {
		return nil, nil, false
	}
	resp, tokens, err := p.mint(ctx, g)
	if err != nil {
		return nil, serverError(err), true
	}
	switch err := p.Store.RedeemIssuedCode(ctx, t.org.ID, hash, held.sessionExpires, now, tokens...); {
	case errors.Is(err, store.ErrStale):
		return nil, nil, false
	case err != nil:
		return nil, serverError(err), true
	}
	return resp, nil, true
}

// codeReplayed answers a used code presented again by its client: it may
// be stolen, so what it yielded is revoked (RFC 9700 §4.5).
func (p *Provider) codeReplayed(ctx context.Context, orgID string, hash []byte, now time.Time) *oauth.Error {
	if err := p.Store.MarkCodeReplayed(ctx, orgID, hash, now); err != nil {
		return serverError(err)
	}
	if err := p.Store.RevokeTokensFromCode(ctx, orgID, hash, now); err != nil {
		return serverError(err)
	}
	return oauth.InvalidGrant("the authorization code was already used")
}

// codeGrant checks an unused code of the client against the request and
// the live user and session (sess, nil if gone), and returns the grant it
// yields.
func (p *Provider) codeGrant(ctx context.Context, t *tokenRequest, c *domain.AuthCode, sess *domain.Session, hash []byte, now time.Time) (*grant, *oauth.Error) {
	if !now.Before(c.ExpiresAt) {
		return nil, oauth.InvalidGrant("the authorization code has expired")
	}
	if t.params.Get("redirect_uri") != c.RedirectURI {
		return nil, oauth.InvalidGrant("redirect_uri does not match the authorization request")
	}
	verifier, hasVerifier := t.params["code_verifier"]
	switch {
	case c.CodeChallenge != "" && !hasVerifier:
		return nil, oauth.InvalidGrant("code_verifier is required")
	case c.CodeChallenge != "" && !oauth.VerifyPKCE(verifier, c.CodeChallenge):
		return nil, oauth.InvalidGrant("code_verifier does not match the code_challenge")
	case c.CodeChallenge == "" && hasVerifier:
		return nil, oauth.InvalidGrant("code_verifier sent but the authorization request had no code_challenge")
	}
	user, perr := p.liveSubject(ctx, t.org, c.UserSub, sess)
	if perr != nil {
		return nil, perr
	}
	if !sess.Active(now) {
		return nil, oauth.InvalidGrant("the session has ended")
	}
	g := &grant{
		org: t.org, app: t.app, user: user, scope: c.Scope, sid: c.SID, nonce: c.Nonce, authTime: c.AuthTime, amr: c.AMR,
		codeHash: hash, idToken: oauth.HasScope(c.Scope, oauth.ScopeOpenID),
		refresh: t.app.AllowsGrant(domain.GrantRefreshToken),
	}
	if !oauth.HasScope(c.Scope, oauth.ScopeOfflineAccess) {
		g.refreshExpires = sess.ExpiresAt
	}
	return g, nil
}

// liveSubject loads the user a grant is for and refuses if the user was
// disabled or removed, or the grant's session (sess, as read with the
// grant; nil if gone) no longer exists.
func (p *Provider) liveSubject(ctx context.Context, org *domain.Organization, sub string, sess *domain.Session) (*domain.User, *oauth.Error) {
	user, err := p.Store.GetUser(ctx, org.ID, sub)
	if errors.Is(err, store.ErrNotFound) {
		return nil, oauth.InvalidGrant("the user no longer exists")
	}
	if err != nil {
		return nil, serverError(err)
	}
	if user.Disabled {
		return nil, oauth.InvalidGrant("the user is disabled")
	}
	if sess == nil {
		return nil, oauth.InvalidGrant("the session has ended")
	}
	return user, nil
}

// issue mints and stores the tokens of g.
func (p *Provider) issue(ctx context.Context, g *grant) (*tokenResponse, *oauth.Error) {
	resp, tokens, err := p.mint(ctx, g)
	if err != nil {
		return nil, serverError(err)
	}
	if err := p.Store.CreateTokens(ctx, tokens...); err != nil {
		return nil, serverError(err)
	}
	return resp, nil
}

func (p *Provider) grantRefreshToken(ctx context.Context, t *tokenRequest) (*tokenResponse, *oauth.Error) {
	if !t.app.AllowsGrant(domain.GrantRefreshToken) {
		return nil, oauth.UnauthorizedClient("the application may not use the refresh_token grant")
	}
	presented := t.params.Get("refresh_token")
	if presented == "" {
		return nil, oauth.InvalidRequest("refresh_token is required")
	}
	now := p.now()
	hash := secret.Hash(presented)
	old, sess, err := p.Store.GetTokenAndSession(ctx, t.org.ID, hash)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (old.Kind != domain.TokenRefresh || old.ClientID != t.app.ClientID)) {
		return nil, oauth.InvalidGrant("the refresh token is invalid")
	}
	if err != nil {
		return nil, serverError(err)
	}
	// sibling: the token was rotated a moment ago and its client presents
	// it again within the application's reuse interval (parallel requests
	// of one web server refreshing at once): answer with a new token of the
	// same family instead of treating it as theft.
	sibling := false
	if !old.RotatedAt.IsZero() {
		if !p.withinReuseInterval(t.app, old, now) {
			return nil, p.refreshReused(ctx, t.org.ID, old)
		}
		sibling = true
	}
	if !old.Usable(now) && !(sibling && old.RevokedAt.IsZero() && now.Before(old.ExpiresAt)) {
		return nil, oauth.InvalidGrant("the refresh token has expired or was revoked")
	}
	scope := old.Scope
	if asked, ok := t.params["scope"]; ok {
		// A refresh may narrow the scope, never widen it (RFC 6749 §6).
		granted := strings.Fields(old.Scope)
		var narrowed []string
		for _, s := range strings.Fields(asked) {
			if !slices.Contains(granted, s) {
				return nil, oauth.InvalidScope("scope %q was not granted originally", s)
			}
			if !slices.Contains(narrowed, s) {
				narrowed = append(narrowed, s)
			}
		}
		scope = strings.Join(narrowed, " ")
	}
	user, perr := p.liveSubject(ctx, t.org, old.UserSub, sess)
	if perr != nil {
		return nil, perr
	}
	if !old.Offline && !sess.Active(now) {
		return nil, oauth.InvalidGrant("the session this refresh token belongs to has ended")
	}
	g := &grant{
		org: t.org, app: t.app, user: user, scope: scope, sid: old.SID, authTime: old.AuthTime, amr: old.AMR,
		familyID: old.FamilyID, codeHash: old.CodeHash, refresh: true, idToken: oauth.HasScope(scope, oauth.ScopeOpenID),
		refreshExpires: old.ExpiresAt,
	}
	if !old.Offline && sess.ExpiresAt.Before(g.refreshExpires) {
		g.refreshExpires = sess.ExpiresAt
	}
	resp, tokens, err := p.mint(ctx, g)
	if err != nil {
		return nil, serverError(err)
	}
	// Offline status follows the original grant, even if the scope was narrowed.
	for _, tok := range tokens {
		tok.Offline = old.Offline
	}
	if !sibling {
		err = p.Store.RotateRefreshToken(ctx, t.org.ID, hash, now, tokens...)
		if !errors.Is(err, store.ErrAlreadyUsed) {
			if err != nil {
				return nil, serverError(err)
			}
			return resp, nil
		}
		// Another request rotated it first (or it was revoked meanwhile).
		if old, err = p.Store.GetToken(ctx, t.org.ID, hash); err != nil {
			return nil, serverError(err)
		}
		if !old.RevokedAt.IsZero() || !p.withinReuseInterval(t.app, old, now) {
			return nil, p.refreshReused(ctx, t.org.ID, old)
		}
	}
	return p.issueSibling(ctx, t.org.ID, hash, resp, tokens)
}

// withinReuseInterval reports whether a rotated refresh token may still be
// presented by its client (the application's reuse interval since its
// rotation, and neither it nor its family revoked).
func (p *Provider) withinReuseInterval(app *domain.Application, old *domain.Token, now time.Time) bool {
	window := time.Duration(app.RefreshTokenReuseInterval) * time.Second
	return window > 0 && old.RevokedAt.IsZero() && !old.RotatedAt.IsZero() && now.Sub(old.RotatedAt) <= window
}

// issueSibling stores tokens minted for a reuse within the interval: new
// tokens of the same family, next to the successor the first rotation
// made. If the family was revoked meanwhile (a logout, a reuse after the
// interval), they are revoked with it and the request fails.
func (p *Provider) issueSibling(ctx context.Context, orgID string, hash []byte, resp *tokenResponse, tokens []*domain.Token) (*tokenResponse, *oauth.Error) {
	if err := p.Store.CreateTokens(ctx, tokens...); err != nil {
		return nil, serverError(err)
	}
	old, err := p.Store.GetToken(ctx, orgID, hash)
	if err != nil {
		return nil, serverError(err)
	}
	if !old.RevokedAt.IsZero() {
		if err := p.Store.RevokeTokenFamily(ctx, orgID, old.FamilyID, p.now()); err != nil {
			return nil, serverError(err)
		}
		return nil, oauth.InvalidGrant("the refresh token was already used")
	}
	return resp, nil
}

// refreshReused handles a rotated refresh token presented again: someone
// holds a copy, so the whole family is revoked (RFC 9700 §4.14.2).
func (p *Provider) refreshReused(ctx context.Context, orgID string, old *domain.Token) *oauth.Error {
	if err := p.Store.RevokeTokenFamily(ctx, orgID, old.FamilyID, p.now()); err != nil {
		return serverError(err)
	}
	p.Log.WarnContext(ctx, "refresh token reuse: token family revoked", "client_id", old.ClientID)
	return oauth.InvalidGrant("the refresh token was already used")
}

func (p *Provider) grantClientCredentials(ctx context.Context, t *tokenRequest) (*tokenResponse, *oauth.Error) {
	if t.app.Public || !t.app.AllowsGrant(domain.GrantClientCredentials) {
		return nil, oauth.UnauthorizedClient("the application may not use the client_credentials grant")
	}
	// Client credentials act for the application itself: no user scopes.
	for _, s := range strings.Fields(t.params.Get("scope")) {
		if slices.Contains(oauth.SupportedScopes, s) {
			return nil, oauth.InvalidScope("scope %q needs a user; client_credentials tokens act for the application", s)
		}
	}
	return p.issue(ctx, &grant{org: t.org, app: t.app})
}
