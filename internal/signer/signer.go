// Package signer owns organizations' signing keys: it generates them, seals
// the private halves under the master key, rotates them (a next key is
// published before it signs; a retired key stays published until every token
// it signed has expired), signs JWTs and serves the JWKS.
//
// Private keys leave this package only as sealed bytes. Which key is active
// is read from the store (cached for a few seconds); parsed private keys are
// cached by kid, which is safe because a kid's key never changes.
//
// Signing is on every token response's path: the caller encodes the claims
// once, and go-jose signs those bytes as they are with a signer made once
// per key and type (jws.go).
package signer

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
)

// RetireGrace is how long a retired key stays in JWKS: longer than any token
// it can have signed lives.
const RetireGrace = time.Duration(domain.MaxAccessTokenLifetime)*time.Second + time.Hour

// listTTL bounds how stale this node's view of which key is active may be.
const listTTL = 5 * time.Second

// Keys signs and publishes per-organization keys.
type Keys struct {
	store  store.SigningKeys
	master *secret.MasterKey
	now    func() time.Time

	mu      sync.Mutex
	lists   map[string]*cachedList
	private map[string]map[string]*jwsKey // by org, then kid
}

// cachedList is an organization's keys as read at a moment.
type cachedList struct {
	keys []*domain.SigningKey
	at   time.Time
	// active is the prepared active key per algorithm, filled on first
	// use (guarded by Keys.mu).
	active map[string]*jwsKey
	// public are the keys' parsed public JWKs in the order of keys, filled
	// on first use (guarded by Keys.mu).
	public []jose.JSONWebKey
}

// New returns Keys over st, sealing with master. now may be nil (time.Now).
func New(st store.SigningKeys, master *secret.MasterKey, now func() time.Time) *Keys {
	if now == nil {
		now = time.Now
	}
	return &Keys{store: st, master: master, now: now, lists: map[string]*cachedList{}, private: map[string]map[string]*jwsKey{}}
}

func aad(orgID, kid string) string { return "signing-key/" + orgID + "/" + kid }

// Generate makes a new key of alg for orgID in the given state.
func (k *Keys) Generate(orgID, alg, state string) (*domain.SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case domain.AlgRS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case domain.AlgES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case domain.AlgEdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("unsupported signing algorithm %q", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", alg, err)
	}
	pub := jose.JSONWebKey{Key: priv.Public(), Algorithm: alg, Use: "sig"}
	thumb, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, err
	}
	pub.KeyID = base64.RawURLEncoding.EncodeToString(thumb)
	pubJSON, err := pub.MarshalJSON()
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	sealed, err := k.master.Seal(der, aad(orgID, pub.KeyID))
	if err != nil {
		return nil, err
	}
	now := k.now().UTC()
	key := &domain.SigningKey{OrgID: orgID, KID: pub.KeyID, Alg: alg, State: state, Sealed: sealed, PublicJWK: pubJSON, CreatedAt: now}
	if state == domain.KeyActive {
		key.ActivatedAt = now
	}
	return key, nil
}

// InitialKeys makes a new organization's keys: for every algorithm an
// active key and the next one.
func (k *Keys) InitialKeys(orgID string) ([]*domain.SigningKey, error) {
	var out []*domain.SigningKey
	for _, alg := range domain.SigningAlgs {
		for _, state := range []string{domain.KeyActive, domain.KeyNext} {
			key, err := k.Generate(orgID, alg, state)
			if err != nil {
				return nil, err
			}
			out = append(out, key)
		}
	}
	return out, nil
}

// Rotate promotes each algorithm's next key to active, retires the active
// one (kept in JWKS for RetireGrace), publishes a new next key and drops
// retired keys whose grace has passed. algs limits the rotation (nil: all).
func (k *Keys) Rotate(ctx context.Context, orgID string, algs []string) ([]*domain.SigningKey, error) {
	keys, err := k.store.ListSigningKeys(ctx, orgID)
	if err != nil {
		return nil, err
	}
	if len(algs) == 0 {
		algs = domain.SigningAlgs
	}
	now := k.now().UTC()
	var save []*domain.SigningKey
	var remove []string
	for _, key := range keys {
		if key.State == domain.KeyRetired && !now.Before(key.ExpiresAt) {
			remove = append(remove, key.KID)
		}
	}
	for _, alg := range algs {
		if !slices.Contains(domain.SigningAlgs, alg) {
			return nil, domain.Invalid("alg", "must be RS256, ES256 or EdDSA (got %q)", alg)
		}
		var next *domain.SigningKey
		for _, key := range keys {
			if key.Alg != alg {
				continue
			}
			switch key.State {
			case domain.KeyActive:
				key.State, key.ExpiresAt = domain.KeyRetired, now.Add(RetireGrace)
				save = append(save, key)
			case domain.KeyNext:
				next = key
			}
		}
		if next == nil { // no pre-published key: activate a fresh one at once
			if next, err = k.Generate(orgID, alg, domain.KeyNext); err != nil {
				return nil, err
			}
		}
		next.State, next.ActivatedAt = domain.KeyActive, now
		newNext, err := k.Generate(orgID, alg, domain.KeyNext)
		if err != nil {
			return nil, err
		}
		save = append(save, next, newNext)
	}
	if err := k.store.SaveSigningKeys(ctx, orgID, save, remove); err != nil {
		return nil, fmt.Errorf("rotate keys of %q: %w", orgID, err)
	}
	k.forget(orgID)
	return k.store.ListSigningKeys(ctx, orgID)
}

func (k *Keys) forget(orgID string) {
	k.mu.Lock()
	delete(k.lists, orgID)
	k.mu.Unlock()
}

// list returns the organization's keys, cached for listTTL.
func (k *Keys) list(ctx context.Context, orgID string) (*cachedList, error) {
	now := k.now()
	k.mu.Lock()
	c, ok := k.lists[orgID]
	k.mu.Unlock()
	if ok && now.Sub(c.at) < listTTL && !now.Before(c.at) {
		return c, nil
	}
	keys, err := k.store.ListSigningKeys(ctx, orgID)
	if err != nil {
		return nil, err
	}
	c = &cachedList{keys: keys, at: now, active: map[string]*jwsKey{}}
	k.mu.Lock()
	k.lists[orgID] = c
	// Parsed keys that rotation has deleted are dropped with the list.
	if old := k.private[orgID]; len(old) > 0 {
		kept := make(map[string]*jwsKey, len(keys))
		for _, sk := range keys {
			if jk, ok := old[sk.KID]; ok {
				kept[sk.KID] = jk
			}
		}
		k.private[orgID] = kept
	}
	k.mu.Unlock()
	return c, nil
}

// ErrNoKey means the organization has no active key for an algorithm.
var ErrNoKey = errors.New("no active signing key")

// active returns the organization's active key for alg, ready to sign.
func (k *Keys) active(ctx context.Context, orgID, alg string) (*jwsKey, error) {
	c, err := k.list(ctx, orgID)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	jk := c.active[alg]
	k.mu.Unlock()
	if jk != nil {
		return jk, nil
	}
	var key *domain.SigningKey
	for _, sk := range c.keys {
		if sk.Alg == alg && sk.State == domain.KeyActive && (key == nil || sk.ActivatedAt.After(key.ActivatedAt)) {
			key = sk
		}
	}
	if key == nil {
		return nil, fmt.Errorf("%w for %s in organization %q", ErrNoKey, alg, orgID)
	}
	if jk, err = k.prepare(key); err != nil {
		return nil, err
	}
	k.mu.Lock()
	c.active[alg] = jk
	k.mu.Unlock()
	return jk, nil
}

// prepare opens and parses a key once per node: a kid's key never changes.
func (k *Keys) prepare(key *domain.SigningKey) (*jwsKey, error) {
	k.mu.Lock()
	jk, ok := k.private[key.OrgID][key.KID]
	k.mu.Unlock()
	if ok {
		return jk, nil
	}
	der, err := k.master.Open(key.Sealed, aad(key.OrgID, key.KID))
	if err != nil {
		return nil, fmt.Errorf("open signing key %s: %w", key.KID, err)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse signing key %s: %w", key.KID, err)
	}
	priv, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("signing key %s is not a signer", key.KID)
	}
	if jk, err = newJWSKey(key.Alg, key.KID, priv); err != nil {
		return nil, err
	}
	k.mu.Lock()
	if k.private[key.OrgID] == nil {
		k.private[key.OrgID] = map[string]*jwsKey{}
	}
	k.private[key.OrgID][key.KID] = jk
	k.mu.Unlock()
	return jk, nil
}

// Sign serializes claims as a compact JWS with the organization's active
// key for alg and the given typ header ("JWT", "at+jwt", "logout+jwt").
func (k *Keys) Sign(ctx context.Context, orgID, alg, typ string, claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encode claims: %w", err)
	}
	return k.SignJSON(ctx, orgID, alg, typ, payload)
}

// SignJSON is Sign for claims the caller has already encoded as a JSON
// object: the payload is signed as it is, never decoded or encoded again.
func (k *Keys) SignJSON(ctx context.Context, orgID, alg, typ string, payload []byte) (string, error) {
	jk, err := k.active(ctx, orgID, alg)
	if err != nil {
		return "", err
	}
	return jk.sign(typ, payload)
}

// JWKS returns the public keys a verifier may meet: next, active and
// retired keys still in their grace period.
func (k *Keys) JWKS(ctx context.Context, orgID string) (*jose.JSONWebKeySet, error) {
	c, err := k.list(ctx, orgID)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	public := c.public
	k.mu.Unlock()
	if public == nil {
		public = make([]jose.JSONWebKey, len(c.keys))
		for i, key := range c.keys {
			if err := json.Unmarshal(key.PublicJWK, &public[i]); err != nil {
				return nil, fmt.Errorf("decode public key %s: %w", key.KID, err)
			}
		}
		k.mu.Lock()
		c.public = public
		k.mu.Unlock()
	}
	now := k.now()
	set := &jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(public))}
	for i, key := range c.keys {
		if key.State == domain.KeyRetired && !now.Before(key.ExpiresAt) {
			continue
		}
		set.Keys = append(set.Keys, public[i])
	}
	return set, nil
}

// ErrBadSignature means a token was not signed by one of the organization's
// published keys.
var ErrBadSignature = errors.New("token signature does not verify with the organization's keys")

// Verify checks that token was signed by one of the organization's
// published keys and decodes its claims into out. It checks nothing else:
// issuer, audience and time are the caller's rules.
func (k *Keys) Verify(ctx context.Context, orgID, token string, out any) error {
	_, err := k.VerifyType(ctx, orgID, token, out)
	return err
}

// VerifyType is Verify that also returns the token's "typ" header ("JWT"
// for id_tokens, "at+jwt" for access tokens, "logout+jwt" for logout
// tokens), so a caller can refuse one kind of token posing as another.
func (k *Keys) VerifyType(ctx context.Context, orgID, token string, out any) (string, error) {
	parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if len(parsed.Headers) != 1 {
		return "", ErrBadSignature
	}
	set, err := k.JWKS(ctx, orgID)
	if err != nil {
		return "", err
	}
	h := parsed.Headers[0]
	for _, jwk := range set.Key(h.KeyID) {
		if jwk.Algorithm != h.Algorithm {
			continue
		}
		if err := parsed.Claims(jwk.Key, out); err == nil {
			typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
			return typ, nil
		}
	}
	return "", ErrBadSignature
}
