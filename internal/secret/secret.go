// Package secret makes and protects Latchkey's secrets: high-entropy random
// values (client secrets, API keys, codes, tokens, tickets, cookies), their
// SHA-256 lookup hashes, constant-time comparison, and the master key that
// seals values Latchkey must read back in clear (private signing keys, API
// keys for reveal, upstream client secrets) with AES-256-GCM.
//
// It never logs, prints or returns a key in an error message.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Token returns a URL-safe random string carrying nBytes of entropy.
func Token(r io.Reader, nBytes int) (string, error) {
	b := make([]byte, nBytes)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// MustToken is Token on crypto/rand with 32 bytes (256 bits); crypto/rand
// does not fail on supported platforms.
func MustToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Errorf("random: %w", err))
	}
	var out [43]byte // base64url of 32 bytes, unpadded
	base64.RawURLEncoding.Encode(out[:], b[:])
	return string(out[:])
}

// Hash is the SHA-256 lookup hash of a high-entropy secret. (Passwords are
// low-entropy and use argon2id instead; see package password.)
func Hash(v string) []byte {
	var buf [64]byte // tokens are hashed on every request: no copy on the heap
	in := buf[:0]
	if len(v) > len(buf) {
		in = make([]byte, 0, len(v))
	}
	h := sha256.Sum256(append(in, v...))
	return h[:]
}

// Equal compares two secrets in constant time (for equal lengths).
func Equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// MatchesHash reports whether v hashes to want, in constant time.
func MatchesHash(v string, want []byte) bool { return Equal(Hash(v), want) }

// KeySize is the master key size: AES-256.
const KeySize = 32

// MasterKey seals and opens values with AES-256-GCM. The associated data
// binds a sealed value to where it belongs (e.g. "signing-key/acme/kid"), so
// a ciphertext copied to another row does not open.
type MasterKey struct {
	aead cipher.AEAD
	raw  []byte
}

// NewMasterKey makes a MasterKey from 32 raw bytes.
func NewMasterKey(key []byte) (*MasterKey, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("master key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &MasterKey{aead: aead, raw: append([]byte(nil), key...)}, nil
}

// sealVersion prefixes every sealed value so the format can evolve.
const sealVersion = 1

// Seal encrypts plaintext; the result is version || nonce || ciphertext.
func (k *MasterKey) Seal(plaintext []byte, aad string) ([]byte, error) {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := append([]byte{sealVersion}, nonce...)
	return k.aead.Seal(out, nonce, plaintext, []byte(aad)), nil
}

// ErrCannotOpen means a sealed value is damaged, belongs elsewhere, or was
// sealed under another master key.
var ErrCannotOpen = errors.New("sealed value cannot be opened (wrong master key or damaged data)")

// Open decrypts a value made by Seal with the same aad.
func (k *MasterKey) Open(sealed []byte, aad string) ([]byte, error) {
	ns := k.aead.NonceSize()
	if len(sealed) < 1+ns+k.aead.Overhead() || sealed[0] != sealVersion {
		return nil, ErrCannotOpen
	}
	pt, err := k.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], []byte(aad))
	if err != nil {
		return nil, ErrCannotOpen
	}
	return pt, nil
}

// EncodeKey renders a master key for its file: hex, one line.
func EncodeKey(key []byte) string { return hex.EncodeToString(key) + "\n" }

// LoadMasterKeyFile reads a master key file (64 hex characters, or base64 of
// 32 bytes). The file must not be readable by others, nor by its group,
// except that a file owned by root may be readable (not writable) by its
// group: that is how a Kubernetes Secret volume with an fsGroup presents it
// to a non-root process (root-owned, mode 0440), and the same rule
// PostgreSQL applies to its TLS key.
func LoadMasterKeyFile(path string) (*MasterKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("master key file: %w", err)
	}
	shared := fs.FileMode(0o077)
	if ownedByRoot(fi) {
		shared = 0o037
	}
	if fi.Mode().Perm()&shared != 0 {
		return nil, fmt.Errorf("master key file %s is readable by others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("master key file: %w", err)
	}
	key, err := decodeKey(strings.TrimSpace(string(raw)))
	if err != nil {
		return nil, fmt.Errorf("master key file %s: %w", path, err)
	}
	return NewMasterKey(key)
}

func decodeKey(s string) ([]byte, error) {
	if b, err := hex.DecodeString(s); err == nil && len(b) == KeySize {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == KeySize {
			return b, nil
		}
	}
	return nil, fmt.Errorf("want %d bytes as 64 hex characters or base64", KeySize)
}

// CreateMasterKeyFile writes a new random master key to path with mode 0600,
// refusing to overwrite an existing file.
func CreateMasterKeyFile(path string) (*MasterKey, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("master key file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("master key file: %w", err)
	}
	if _, err := f.WriteString(EncodeKey(key)); err != nil {
		f.Close()
		return nil, fmt.Errorf("master key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("master key file: %w", err)
	}
	return NewMasterKey(key)
}

// Derive returns a 32-byte key for one purpose (e.g. "csrf"), derived from
// the master key with HKDF-SHA256, so purposes never share key material.
func (k *MasterKey) Derive(purpose string) []byte {
	out, err := hkdf.Key(sha256.New, k.raw, nil, "latchkey/"+purpose, 32)
	if err != nil {
		panic(err) // only for lengths HKDF cannot produce
	}
	return out
}
