// Package mfatest is a software WebAuthn authenticator and a TOTP clock for
// tests: it answers the options Latchkey's pages and ceremonies produce
// with real ES256 signatures, so the server-side verification (package
// mfa, on go-webauthn) runs exactly as it does for a browser.
package mfatest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// Authenticator flags (WebAuthn §6.1).
const (
	flagUP = 0x01
	flagUV = 0x04
	flagBE = 0x08
	flagBS = 0x10
	flagAT = 0x40
)

var b64 = base64.RawURLEncoding

// Credential is one key pair the authenticator holds.
type Credential struct {
	ID         []byte
	Key        *ecdsa.PrivateKey
	RPID       string
	UserHandle []byte
	// Count is the signature counter; tests may turn it back to mimic a clone.
	Count uint32
}

// Authenticator is a platform authenticator with resident keys.
type Authenticator struct {
	// Origin is the web origin the "browser" reports.
	Origin string
	// UserVerified says whether it verifies the user (PIN, biometric).
	UserVerified bool
	// Synced marks keys backup eligible and backed up (a synced passkey).
	Synced bool
	// NoCounter keeps the signature counter at zero (as synced passkeys do).
	NoCounter bool

	mu    sync.Mutex
	creds []*Credential
}

// New returns an authenticator for origin that verifies the user.
func New(origin string) *Authenticator { return &Authenticator{Origin: origin, UserVerified: true} }

// Credentials returns the keys it holds.
func (a *Authenticator) Credentials() []*Credential {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*Credential(nil), a.creds...)
}

func (a *Authenticator) flags() byte {
	f := byte(flagUP)
	if a.UserVerified {
		f |= flagUV
	}
	if a.Synced {
		f |= flagBE | flagBS
	}
	return f
}

type creationOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	} `json:"publicKey"`
}

type requestOptions struct {
	PublicKey struct {
		Challenge        string `json:"challenge"`
		RPID             string `json:"rpId"`
		AllowCredentials []struct {
			ID string `json:"id"`
		} `json:"allowCredentials"`
	} `json:"publicKey"`
}

func (a *Authenticator) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.Origin, "crossOrigin": false})
	return b
}

// Create answers navigator.credentials.create options (JSON as Latchkey
// sends them) with a new credential, as the browser's JSON.
func (a *Authenticator) Create(options []byte) (string, error) {
	var o creationOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return "", fmt.Errorf("creation options: %w", err)
	}
	user, err := b64.DecodeString(o.PublicKey.User.ID)
	if err != nil {
		return "", fmt.Errorf("user id: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	id := make([]byte, 32)
	_, _ = rand.Read(id)
	c := &Credential{ID: id, Key: key, RPID: o.PublicKey.RP.ID, UserHandle: user}
	ecdh, err := key.PublicKey.ECDH()
	if err != nil {
		return "", err
	}
	raw := ecdh.Bytes() // 0x04 || X || Y
	cose, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: raw[1:33], -3: raw[33:65]})
	if err != nil {
		return "", err
	}
	rpHash := sha256.Sum256([]byte(c.RPID))
	auth := append([]byte{}, rpHash[:]...)
	auth = append(auth, a.flags()|flagAT)
	auth = binary.BigEndian.AppendUint32(auth, 0)
	auth = append(auth, make([]byte, 16)...) // AAGUID of a software authenticator: zero
	auth = binary.BigEndian.AppendUint16(auth, uint16(len(id)))
	auth = append(auth, id...)
	auth = append(auth, cose...)
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": auth})
	if err != nil {
		return "", err
	}
	a.mu.Lock()
	a.creds = append(a.creds, c)
	a.mu.Unlock()
	out, err := json.Marshal(map[string]any{
		"id": b64.EncodeToString(id), "rawId": b64.EncodeToString(id), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(a.clientData("webauthn.create", o.PublicKey.Challenge)),
			"attestationObject": b64.EncodeToString(att), "transports": []string{"internal"},
		},
	})
	return string(out), err
}

// Get answers navigator.credentials.get options with an assertion by the
// first credential allowed (any of the RP's, for a discoverable request).
func (a *Authenticator) Get(options []byte) (string, error) {
	var o requestOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return "", fmt.Errorf("request options: %w", err)
	}
	a.mu.Lock()
	var c *Credential
	for _, k := range a.creds {
		if k.RPID != o.PublicKey.RPID {
			continue
		}
		if len(o.PublicKey.AllowCredentials) == 0 {
			c = k
			break
		}
		for _, allow := range o.PublicKey.AllowCredentials {
			if allow.ID == b64.EncodeToString(k.ID) {
				c = k
			}
		}
		if c != nil {
			break
		}
	}
	if c != nil && !a.NoCounter {
		c.Count++
	}
	a.mu.Unlock()
	if c == nil {
		return "", fmt.Errorf("no credential for %q", o.PublicKey.RPID)
	}
	return a.Assert(c, o.PublicKey.Challenge)
}

// Assert signs an assertion by c for challenge at c's current count.
func (a *Authenticator) Assert(c *Credential, challenge string) (string, error) {
	rpHash := sha256.Sum256([]byte(c.RPID))
	auth := append([]byte{}, rpHash[:]...)
	auth = append(auth, a.flags())
	auth = binary.BigEndian.AppendUint32(auth, c.Count)
	cd := a.clientData("webauthn.get", challenge)
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, auth...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, c.Key, digest[:])
	if err != nil {
		return "", err
	}
	out, err := json.Marshal(map[string]any{
		"id": b64.EncodeToString(c.ID), "rawId": b64.EncodeToString(c.ID), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON": b64.EncodeToString(cd), "authenticatorData": b64.EncodeToString(auth),
			"signature": b64.EncodeToString(sig), "userHandle": b64.EncodeToString(c.UserHandle),
		},
	})
	return string(out), err
}
