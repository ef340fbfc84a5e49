// Package ticket is the format of login tickets, the one-time secrets the
// trusted-platform API mints and a browser brings back as ?refresh-token=.
//
// A ticket reads "<org>.<secret>": the organization id (not secret) so that
// PUBLIC_URL/?refresh-token= knows which issuer the ticket belongs to without
// a lookup across organizations, then 256 random bits. Only the SHA-256 of
// the whole value is stored. Minting lives in package platform, redemption
// in package op; both agree on the format through this package alone.
package ticket

import (
	"io"
	"strings"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/secret"
)

// randomBytes is the entropy of a ticket: 256 bits.
const randomBytes = 32

// secretLen is the length of the random part (unpadded base64url).
const secretLen = (randomBytes*8 + 5) / 6

// MaxLen bounds a ticket value: the longest organization id, the dot and the secret.
const MaxLen = 63 + 1 + secretLen

// New mints a ticket for orgID and returns it with its storage hash.
func New(r io.Reader, orgID string) (value string, hash []byte, err error) {
	tok, err := secret.Token(r, randomBytes)
	if err != nil {
		return "", nil, err
	}
	value = orgID + "." + tok
	return value, secret.Hash(value), nil
}

// Org returns the organization a ticket value names, and false when the
// value does not have a ticket's shape (then it cannot be one).
func Org(value string) (string, bool) {
	if len(value) > MaxLen {
		return "", false
	}
	org, tok, ok := strings.Cut(value, ".")
	if !ok || len(tok) != secretLen || domain.ValidateOrgID(org) != nil {
		return "", false
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return "", false
		}
	}
	return org, true
}

// Hash is the lookup hash of a ticket value.
func Hash(value string) []byte { return secret.Hash(value) }
