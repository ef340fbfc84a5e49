package storetest

import (
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

// The fixtures fill every field with a distinct, non-zero value, so that a
// column the backend forgets to write or read shows up as a difference.

func newOrg(id string) *domain.Organization {
	return &domain.Organization{
		ID:   id,
		Name: "Organization " + id,
		Settings: domain.OrgSettings{
			SSOEnabled:             false,
			SessionLifetimeSeconds: 1296000,
			TicketLifetimeSeconds:  120,
			AuthRedirectURL:        "https://platform.example/" + id + "/login",
			LoginMethod:            domain.LoginPlatform,
		},
		CreatedAt: t0,
		UpdatedAt: at(time.Minute),
	}
}

func newAPIKey(orgID, secret string, created time.Time) *domain.APIKey {
	return &domain.APIKey{
		OrgID:     orgID,
		ID:        "key-" + secret,
		Hash:      h(secret),
		Sealed:    []byte("sealed:" + secret),
		CreatedAt: created,
	}
}

func newSigningKey(orgID, kid, alg, state string, created time.Time) *domain.SigningKey {
	k := &domain.SigningKey{
		OrgID:     orgID,
		KID:       kid,
		Alg:       alg,
		State:     state,
		Sealed:    []byte("sealed private key " + kid),
		PublicJWK: []byte(`{"kid":"` + kid + `","kty":"RSA"}`),
		CreatedAt: created,
	}
	if state != domain.KeyNext {
		k.ActivatedAt = created.Add(time.Second)
	}
	if state == domain.KeyRetired {
		k.ExpiresAt = created.Add(24 * time.Hour)
	}
	return k
}

// createOrg stores an organization with its API key (secret orgID+"-api-key")
// and an active RS256 and a next ES256 signing key.
func createOrg(t testing.TB, s store.Store, id string) (*domain.Organization, *domain.APIKey, []*domain.SigningKey) {
	t.Helper()
	o := newOrg(id)
	key := newAPIKey(id, id+"-api-key", t0)
	keys := []*domain.SigningKey{
		newSigningKey(id, "rs-1", domain.AlgRS256, domain.KeyActive, t0),
		newSigningKey(id, "es-1", domain.AlgES256, domain.KeyNext, at(time.Second)),
	}
	ok(t, "CreateOrg "+id, s.CreateOrg(t.Context(), o, key, keys))
	return o, key, keys
}

func newUser(orgID, sub, userName string) *domain.User {
	return &domain.User{
		OrgID:           orgID,
		Sub:             sub,
		UserName:        userName,
		Name:            "Name of " + userName,
		Email:           userName + "@mail.example",
		EmailVerified:   true,
		Picture:         "https://pics.example/" + sub + ".png",
		Role:            domain.RoleAdmin,
		PasswordHash:    "$argon2id$v=19$m=65536,t=3,p=2$c2FsdA$" + sub,
		Disabled:        true,
		UpstreamIssuer:  "https://idp.example",
		UpstreamSubject: "upstream-" + sub,
		CreatedAt:       t0,
		UpdatedAt:       at(time.Hour),
	}
}

func createUser(t testing.TB, s store.Store, orgID, sub, userName string) *domain.User {
	t.Helper()
	u := newUser(orgID, sub, userName)
	ok(t, "CreateUser "+userName, s.CreateUser(t.Context(), u))
	return u
}

func newApp(orgID, clientID string) *domain.Application {
	return &domain.Application{
		OrgID:                     orgID,
		ClientID:                  clientID,
		Name:                      "App " + clientID,
		SecretHash:                h("secret of " + clientID),
		Public:                    false,
		RedirectURIs:              []string{"https://" + clientID + ".example/cb", "https://" + clientID + ".example/cb2"},
		PostLogoutRedirectURIs:    []string{"https://" + clientID + ".example/bye", "https://" + clientID + ".example/"},
		BackchannelLogoutURI:      "https://" + clientID + ".example/backchannel",
		GrantTypes:                []string{domain.GrantAuthorizationCode, domain.GrantRefreshToken, domain.GrantClientCredentials},
		AccessTokenLifetime:       600,
		IDTokenLifetime:           900,
		RefreshTokenLifetime:      86400,
		RefreshTokenReuseInterval: 30,
		IDTokenAlg:                domain.AlgES256,
		AccessTokenFormat:         domain.AccessTokenJWT,
		CreatedAt:                 t0,
		UpdatedAt:                 at(2 * time.Hour),
	}
}

func createApp(t testing.TB, s store.Store, orgID, clientID string) *domain.Application {
	t.Helper()
	a := newApp(orgID, clientID)
	ok(t, "CreateApp "+clientID, s.CreateApp(t.Context(), a))
	return a
}

func newSession(orgID, sid, sub string) *domain.Session {
	return &domain.Session{
		OrgID:           orgID,
		SID:             sid,
		CookieHash:      h("cookie " + sid),
		UserSub:         sub,
		AuthTime:        at(-time.Minute),
		AMR:             []string{domain.AMRFederated, domain.AMRPassword},
		CreatedAt:       t0,
		ExpiresAt:       at(10 * time.Hour),
		UpstreamIDToken: []byte("sealed upstream id_token of " + sid),
	}
}

func createSession(t testing.TB, s store.Store, orgID, sid, sub string) *domain.Session {
	t.Helper()
	x := newSession(orgID, sid, sub)
	ok(t, "CreateSession "+sid, s.CreateSession(t.Context(), x))
	return x
}

func newAuthRequest(orgID, id string) *domain.AuthRequest {
	return &domain.AuthRequest{
		OrgID:               orgID,
		ID:                  id,
		ClientID:            "client-" + id,
		RedirectURI:         "https://app.example/cb?x=" + id,
		ResponseMode:        "form_post",
		Scope:               "openid profile email offline_access",
		State:               "state-" + id,
		Nonce:               "nonce-" + id,
		CodeChallenge:       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256",
		Prompt:              "login",
		MaxAge:              -1,
		LoginHint:           "alice@" + orgID,
		CreatedAt:           t0,
		ExpiresAt:           at(10 * time.Minute),
	}
}

// newCode is an authorization code whose secret is secret.
func newCode(orgID, secret, sub, sid string) *domain.AuthCode {
	return &domain.AuthCode{
		OrgID:         orgID,
		Hash:          h(secret),
		ClientID:      "client-1",
		RedirectURI:   "https://app.example/cb",
		UserSub:       sub,
		SID:           sid,
		Scope:         "openid email",
		Nonce:         "nonce-" + secret,
		CodeChallenge: "challenge-" + secret,
		AuthTime:      at(-time.Minute),
		AMR:           []string{domain.AMRPassword},
		CreatedAt:     t0,
		ExpiresAt:     at(time.Minute),
	}
}

func createCode(t testing.TB, s store.Store, orgID, secret, sub, sid string) *domain.AuthCode {
	t.Helper()
	c := newCode(orgID, secret, sub, sid)
	ok(t, "CreateCode", s.CreateCode(t.Context(), c))
	return c
}

// newToken is a token whose secret is secret, in family fam, issued from
// the code with secret code ("" for none).
func newToken(orgID, secret, kind, sid, fam, code string) *domain.Token {
	t := &domain.Token{
		OrgID:     orgID,
		Hash:      h(secret),
		Kind:      kind,
		ClientID:  "client-1",
		UserSub:   "sub-1",
		SID:       sid,
		Scope:     "openid profile",
		AuthTime:  at(-time.Minute),
		AMR:       []string{domain.AMRExternal},
		FamilyID:  fam,
		CreatedAt: t0,
		ExpiresAt: at(time.Hour),
	}
	if code != "" {
		t.CodeHash = h(code)
	}
	return t
}

func newTicket(orgID, secret, sub string) *domain.LoginTicket {
	return &domain.LoginTicket{
		OrgID:     orgID,
		Hash:      h(secret),
		UserSub:   sub,
		CreatedAt: t0,
		ExpiresAt: at(5 * time.Minute),
	}
}

func createTicket(t testing.TB, s store.Store, orgID, secret, sub string) *domain.LoginTicket {
	t.Helper()
	x := newTicket(orgID, secret, sub)
	ok(t, "CreateTicket", s.CreateTicket(t.Context(), x))
	return x
}

func clone[T any](v *T) *T {
	c := *v
	return &c
}
