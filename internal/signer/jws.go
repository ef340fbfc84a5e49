package signer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/latchkey/latchkey/internal/domain"
)

// knownTypes are the "typ" headers Latchkey signs with; a signer for each
// is made once per key.
var knownTypes = []string{"JWT", "at+jwt", "logout+jwt"}

// jwsKey is a parsed private key ready to sign compact JWS (RFC 7515 §7.1)
// with its algorithm and kid. The JWS itself is built by go-jose from
// claims encoded once by the caller: nothing is re-encoded on the way.
type jwsKey struct {
	alg     string
	kid     string
	priv    crypto.Signer
	signers map[string]jose.Signer // by typ; read-only after newJWSKey
}

func newJWSKey(alg, kid string, priv crypto.Signer) (*jwsKey, error) {
	ok := false
	switch key := priv.(type) {
	case *rsa.PrivateKey:
		ok = alg == domain.AlgRS256
	case *ecdsa.PrivateKey:
		ok = alg == domain.AlgES256 && key.Curve == elliptic.P256()
	case ed25519.PrivateKey:
		ok = alg == domain.AlgEdDSA
	}
	if !ok {
		return nil, fmt.Errorf("signing key %s is a %T, not a %s key", kid, priv, alg)
	}
	jk := &jwsKey{alg: alg, kid: kid, priv: priv, signers: map[string]jose.Signer{}}
	for _, typ := range knownTypes {
		s, err := jk.newSigner(typ)
		if err != nil {
			return nil, err
		}
		jk.signers[typ] = s
	}
	return jk, nil
}

func (jk *jwsKey) newSigner(typ string) (jose.Signer, error) {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(jk.alg), Key: jose.JSONWebKey{Key: jk.priv, KeyID: jk.kid}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		return nil, fmt.Errorf("signer for key %s: %w", jk.kid, err)
	}
	return s, nil
}

// sign returns header.payload.signature in the compact serialization.
func (jk *jwsKey) sign(typ string, payload []byte) (string, error) {
	if len(payload) == 0 || payload[0] != '{' {
		return "", errors.New("JWT claims must be a JSON object")
	}
	s, ok := jk.signers[typ]
	if !ok {
		var err error
		if s, err = jk.newSigner(typ); err != nil {
			return "", err
		}
	}
	obj, err := s.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign with %s key %s: %w", jk.alg, jk.kid, err)
	}
	return obj.CompactSerialize()
}
