package signer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/latchkey/latchkey/internal/domain"
)

// knownTypes are the "typ" headers Latchkey signs with; their protected
// headers are encoded once per key.
var knownTypes = []string{"JWT", "at+jwt", "logout+jwt"}

// jwsKey is a parsed private key ready to sign compact JWS (RFC 7515 §7.1)
// with its algorithm and kid.
type jwsKey struct {
	alg     string
	kid     string
	priv    crypto.Signer
	sigLen  int               // bytes of a signature
	headers map[string]string // typ → base64url protected header; read-only
}

func newJWSKey(alg, kid string, priv crypto.Signer) (*jwsKey, error) {
	jk := &jwsKey{alg: alg, kid: kid, priv: priv, headers: map[string]string{}}
	switch key := priv.(type) {
	case *rsa.PrivateKey:
		if alg == domain.AlgRS256 {
			jk.sigLen = key.Size()
		}
	case *ecdsa.PrivateKey:
		if alg == domain.AlgES256 && key.Curve == elliptic.P256() {
			jk.sigLen = 64
		}
	case ed25519.PrivateKey:
		if alg == domain.AlgEdDSA {
			jk.sigLen = ed25519.SignatureSize
		}
	}
	if jk.sigLen == 0 {
		return nil, fmt.Errorf("signing key %s is a %T, not a %s key", kid, priv, alg)
	}
	for _, typ := range knownTypes {
		jk.headers[typ] = jk.header(typ)
	}
	return jk, nil
}

// header is the base64url protected header for typ, with the members in
// the order a JWS library writes them (sorted by name).
func (jk *jwsKey) header(typ string) string {
	if h, ok := jk.headers[typ]; ok {
		return h
	}
	h, _ := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{jk.alg, jk.kid, typ})
	return base64.RawURLEncoding.EncodeToString(h)
}

// jwsBuffers are scratch buffers for building a JWS; a token is copied
// out as a string, so the buffer goes back at once.
var jwsBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// maxPooled keeps a rare huge token from pinning its buffer in the pool.
const maxPooled = 64 << 10

// sign returns header.payload.signature in the compact serialization.
func (jk *jwsKey) sign(typ string, payload []byte) (string, error) {
	if len(payload) == 0 || payload[0] != '{' {
		return "", errors.New("JWT claims must be a JSON object")
	}
	hdr := jk.header(typ)
	enc := base64.RawURLEncoding
	bp := jwsBuffers.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxPooled {
			jwsBuffers.Put(bp)
		}
	}()
	need := len(hdr) + 2 + enc.EncodedLen(len(payload)) + enc.EncodedLen(jk.sigLen)
	b := (*bp)[:0]
	if cap(b) < need {
		b = make([]byte, 0, need)
	}
	b = append(b, hdr...)
	b = append(b, '.')
	b = enc.AppendEncode(b, payload)
	input := b
	var sig []byte
	var err error
	switch key := jk.priv.(type) {
	case *rsa.PrivateKey:
		digest := sha256.Sum256(input)
		sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	case *ecdsa.PrivateKey:
		digest := sha256.Sum256(input)
		var der []byte
		if der, err = ecdsa.SignASN1(rand.Reader, key, digest[:]); err == nil {
			var raw [64]byte
			sig, err = raw[:], ecdsaRaw(der, raw[:])
		}
	case ed25519.PrivateKey:
		sig = ed25519.Sign(key, input)
	}
	if err != nil {
		return "", fmt.Errorf("sign with %s key %s: %w", jk.alg, jk.kid, err)
	}
	b = append(b, '.')
	b = enc.AppendEncode(b, sig)
	*bp = b
	return string(b), nil
}

// ecdsaRaw writes an ASN.1 ECDSA signature as the fixed-width r‖s a JWS
// carries (RFC 7518 §3.4).
func ecdsaRaw(der, out []byte) error {
	var seq cryptobyte.String
	var r, s cryptobyte.String
	in := cryptobyte.String(der)
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1(&r, cbasn1.INTEGER) || !seq.ReadASN1(&s, cbasn1.INTEGER) || !seq.Empty() {
		return errors.New("malformed ECDSA signature")
	}
	half := len(out) / 2
	for i, v := range [][]byte{r, s} {
		for len(v) > 0 && v[0] == 0 {
			v = v[1:]
		}
		if len(v) > half {
			return errors.New("malformed ECDSA signature")
		}
		dst := out[i*half : (i+1)*half]
		clear(dst)
		copy(dst[half-len(v):], v)
	}
	return nil
}
