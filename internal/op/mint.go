package op

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/oauth"
	"github.com/latchkey/latchkey/internal/secret"
)

// grant is what a token response is issued for: who, to which
// application, with which scope, in which session.
type grant struct {
	org      *domain.Organization
	app      *domain.Application
	user     *domain.User // nil for client_credentials
	scope    string
	sid      string
	nonce    string
	authTime time.Time
	amr      []string
	familyID string
	codeHash []byte
	// refresh asks for a refresh token; refreshExpires caps its life.
	refresh        bool
	refreshExpires time.Time
	idToken        bool
}

// tokenResponse is the token endpoint's success body (RFC 6749 §5.1).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// idTokenClaims are the claims of an id_token (OIDC Core §2, §5.1).
type idTokenClaims struct {
	Issuer            string   `json:"iss"`
	Subject           string   `json:"sub"`
	Audience          string   `json:"aud"`
	Expiry            int64    `json:"exp"`
	IssuedAt          int64    `json:"iat"`
	AuthTime          int64    `json:"auth_time,omitempty"`
	Nonce             string   `json:"nonce,omitempty"`
	SID               string   `json:"sid,omitempty"`
	AccessTokenHash   string   `json:"at_hash,omitempty"`
	AMR               []string `json:"amr,omitempty"`
	ACR               string   `json:"acr,omitempty"`
	AuthorizedParty   string   `json:"azp"`
	PreferredUsername string   `json:"preferred_username,omitempty"`
	Name              string   `json:"name,omitempty"`
	GivenName         string   `json:"given_name,omitempty"`
	FamilyName        string   `json:"family_name,omitempty"`
	Picture           string   `json:"picture,omitempty"`
	Email             string   `json:"email,omitempty"`
	EmailVerified     *bool    `json:"email_verified,omitempty"`
	Role              string   `json:"role,omitempty"`
	// Groups is set (possibly empty) when the application opted in to
	// the groups claim and the scope includes groups.
	Groups *[]string `json:"groups,omitempty"`
}

// accessTokenClaims are a JWT access token's claims (RFC 9068 §2.2).
type accessTokenClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience string   `json:"aud"`
	Expiry   int64    `json:"exp"`
	IssuedAt int64    `json:"iat"`
	JTI      string   `json:"jti"`
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope,omitempty"`
	AuthTime int64    `json:"auth_time,omitempty"`
	AMR      []string `json:"amr,omitempty"`
	ACR      string   `json:"acr,omitempty"`
	SID      string   `json:"sid,omitempty"`
}

// userClaims fills the profile and email claims the scope allows.
func userClaims(u *domain.User, scope string, c *idTokenClaims) {
	if oauth.HasScope(scope, oauth.ScopeProfile) {
		c.PreferredUsername, c.Name, c.Picture, c.Role = u.UserName, u.Name, u.Picture, u.Role
		c.GivenName, c.FamilyName = u.GivenName, u.FamilyName
	}
	if oauth.HasScope(scope, oauth.ScopeEmail) && u.Email != "" {
		v := u.EmailVerified
		c.Email, c.EmailVerified = u.Email, &v
	}
}

// atHash is the at_hash of an access token for alg (OIDC Core §3.1.3.6):
// the left half of the hash the signature algorithm uses.
func atHash(alg, accessToken string) string {
	var half []byte
	if alg == domain.AlgEdDSA { // Ed25519 signs with SHA-512
		sum := sha512.Sum512(stringBytes(accessToken))
		half = sum[:sha512.Size/2]
	} else {
		sum := sha256.Sum256(stringBytes(accessToken))
		half = sum[:sha256.Size/2]
	}
	var out [43]byte // base64url of at most 32 bytes, unpadded
	n := base64.RawURLEncoding.EncodedLen(len(half))
	base64.RawURLEncoding.Encode(out[:n], half)
	return string(out[:n])
}

// stringBytes is s as bytes for hashing, copied on the stack when it is
// as short as an opaque token.
func stringBytes(s string) []byte {
	if len(s) <= 64 {
		var buf [64]byte
		return append(buf[:0], s...)
	}
	return []byte(s)
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// mint issues the tokens of g, stores them (hashed) and returns the response.
func (p *Provider) mint(ctx context.Context, g *grant) (*tokenResponse, []*domain.Token, error) {
	now := p.now()
	iss := p.Issuer(g.org.ID)
	if g.familyID == "" {
		g.familyID = secret.MustToken()
	}
	sub := g.app.ClientID
	if g.user != nil {
		sub = g.user.Sub
	}
	atExp := now.Add(time.Duration(g.app.AccessTokenLifetime) * time.Second)
	var access string
	if g.app.AccessTokenFormat == domain.AccessTokenJWT {
		var err error
		claims := accessTokenClaims{
			Issuer: iss, Subject: sub, Audience: g.app.ClientID, Expiry: atExp.Unix(), IssuedAt: now.Unix(),
			JTI: secret.MustToken(), ClientID: g.app.ClientID, Scope: g.scope, AuthTime: unix(g.authTime), AMR: g.amr, ACR: domain.ACR(g.amr), SID: g.sid,
		}
		if access, err = p.signClaims(ctx, g.org.ID, g.app.IDTokenAlg, "at+jwt", claims.appendJSON); err != nil {
			return nil, nil, err
		}
	} else {
		access = secret.MustToken()
	}
	userSub := ""
	if g.user != nil {
		userSub = g.user.Sub
	}
	offline := oauth.HasScope(g.scope, oauth.ScopeOfflineAccess)
	base := domain.Token{
		OrgID: g.org.ID, ClientID: g.app.ClientID, UserSub: userSub, SID: g.sid, Scope: g.scope, AuthTime: g.authTime,
		AMR: g.amr, FamilyID: g.familyID, CodeHash: g.codeHash, Offline: offline, CreatedAt: now,
	}
	at := base
	at.Hash, at.Kind, at.ExpiresAt = secret.Hash(access), domain.TokenAccess, atExp
	tokens := make([]*domain.Token, 1, 2)
	tokens[0] = &at
	resp := &tokenResponse{AccessToken: access, TokenType: "Bearer", ExpiresIn: int64(atExp.Sub(now).Seconds()), Scope: g.scope}

	if g.refresh {
		refresh := secret.MustToken()
		rt := base
		rt.Hash, rt.Kind, rt.ExpiresAt = secret.Hash(refresh), domain.TokenRefresh, now.Add(time.Duration(g.app.RefreshTokenLifetime)*time.Second)
		if !g.refreshExpires.IsZero() && g.refreshExpires.Before(rt.ExpiresAt) {
			rt.ExpiresAt = g.refreshExpires
		}
		tokens = append(tokens, &rt)
		resp.RefreshToken = refresh
	}
	if g.idToken && g.user != nil {
		claims := idTokenClaims{
			Issuer: iss, Subject: g.user.Sub, Audience: g.app.ClientID, AuthorizedParty: g.app.ClientID,
			IssuedAt: now.Unix(), Expiry: now.Add(time.Duration(g.app.IDTokenLifetime) * time.Second).Unix(),
			AuthTime: unix(g.authTime), Nonce: g.nonce, SID: g.sid, AMR: g.amr, ACR: domain.ACR(g.amr), AccessTokenHash: atHash(g.app.IDTokenAlg, access),
		}
		userClaims(g.user, g.scope, &claims)
		if err := p.groupsClaim(ctx, g.app, g.user, g.scope, &claims); err != nil {
			return nil, nil, err
		}
		idt, err := p.signClaims(ctx, g.org.ID, g.app.IDTokenAlg, "JWT", claims.appendJSON)
		if err != nil {
			return nil, nil, err
		}
		resp.IDToken = idt
	}
	return resp, tokens, nil
}

// signClaims signs the claims encode appends, encoded once in a pooled
// buffer.
func (p *Provider) signClaims(ctx context.Context, orgID, alg, typ string, encode func([]byte) []byte) (string, error) {
	bp := getJSONBuffer()
	*bp = encode((*bp)[:0])
	tok, err := p.Keys.SignJSON(ctx, orgID, alg, typ, *bp)
	putJSONBuffer(bp)
	return tok, err
}

// groupsClaim fills the groups claim for an application that opted in to
// it, when the scope asks for it: the names of the user's groups.
func (p *Provider) groupsClaim(ctx context.Context, app *domain.Application, u *domain.User, scope string, c *idTokenClaims) error {
	if !app.GroupsClaim || !oauth.HasScope(scope, oauth.ScopeGroups) {
		return nil
	}
	groups, err := p.Store.ListUserGroups(ctx, u.OrgID, u.Sub)
	if err != nil {
		return fmt.Errorf("groups of %s: %w", u.Sub, err)
	}
	names := make([]string, 0, len(groups))
	for _, g := range groups {
		names = append(names, g.DisplayName)
	}
	c.Groups = &names
	return nil
}
