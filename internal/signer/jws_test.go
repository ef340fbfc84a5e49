package signer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/latchkey/latchkey/internal/domain"
)

func testKeys(t testing.TB) map[string]crypto.Signer {
	t.Helper()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]crypto.Signer{domain.AlgRS256: rsaKey, domain.AlgES256: ecKey, domain.AlgEdDSA: edKey}
}

// The JWS carries the claims byte for byte as encoded (byte for byte the
// token a fresh go-jose signer makes, for the deterministic RS256 and
// EdDSA), with its kid and typ headers, and verifies with the public key.
func TestJWS_SignsTheEncodedClaimsAsGiven(t *testing.T) {
	payload := []byte(`{"aud":"app","exp":1767229200,"iat":1767225600,"iss":"https://sso.example/o/acme","name":"Zoë <&> \"q\"","sub":"u1"}`)
	for alg, priv := range testKeys(t) {
		for _, typ := range []string{"JWT", "at+jwt", "logout+jwt", "secevent+jwt"} {
			jk, err := newJWSKey(alg, "kid-"+alg, priv)
			if err != nil {
				t.Fatal(err)
			}
			got, err := jk.sign(typ, payload)
			if err != nil {
				t.Fatalf("%s %s: %v", alg, typ, err)
			}
			lib, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: jose.JSONWebKey{Key: priv, KeyID: "kid-" + alg}},
				(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
			if err != nil {
				t.Fatal(err)
			}
			obj, err := lib.Sign(payload)
			if err != nil {
				t.Fatal(err)
			}
			want, err := obj.CompactSerialize()
			if err != nil {
				t.Fatal(err)
			}
			if alg != domain.AlgES256 && got != want {
				t.Fatalf("%s %s:\n got %s\nwant %s", alg, typ, got, want)
			}
			parsed, err := jwt.ParseSigned(got, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatalf("%s %s: %v", alg, typ, err)
			}
			var claims map[string]any
			if err := parsed.Claims(priv.Public(), &claims); err != nil {
				t.Fatalf("%s %s: %v", alg, typ, err)
			}
			if parsed.Headers[0].KeyID != "kid-"+alg || parsed.Headers[0].ExtraHeaders[jose.HeaderType] != typ || claims["name"] != "Zoë <&> \"q\"" {
				t.Fatalf("%s %s: %+v %v", alg, typ, parsed.Headers[0], claims)
			}
		}
	}
}

func TestJWS_RefusesAKeyOfAnotherAlgorithm(t *testing.T) {
	keys := testKeys(t)
	if _, err := newJWSKey(domain.AlgRS256, "k", keys[domain.AlgES256]); err == nil {
		t.Fatal("an EC key was accepted for RS256")
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newJWSKey(domain.AlgES256, "k", p384); err == nil {
		t.Fatal("a P-384 key was accepted for ES256")
	}
	jk, err := newJWSKey(domain.AlgEdDSA, "k", keys[domain.AlgEdDSA])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jk.sign("JWT", []byte(`"not an object"`)); err == nil {
		t.Fatal("signed claims that are not a JSON object")
	}
}

// BenchmarkJWS measures building a compact JWS from encoded claims.
func BenchmarkJWS(b *testing.B) {
	payload := []byte(`{"acr":"urn:latchkey:pwd","amr":["pwd"],"at_hash":"x4Qq0n8nQ8kYx9oG5Z3gSg","aud":"3c1d8f5a","auth_time":1767225600,"azp":"3c1d8f5a","exp":1767229200,"iat":1767225600,"iss":"https://sso.example/o/acme","nonce":"n-0S6_WzA2Mj","sid":"9f1c2b7e","sub":"9f1c2b7e-2a7d-4a8e-9d6e-5c4b3a2f1e0d"}`)
	for alg, priv := range testKeys(b) {
		jk, err := newJWSKey(alg, "kid", priv)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := jk.sign("JWT", payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
