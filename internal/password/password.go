// Package password hashes and verifies user passwords with argon2id
// (RFC 9106) in the PHC string format, so parameters can be raised later
// without breaking stored hashes.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	KeyLen  uint32
	SaltLen uint32
}

// Default is OWASP's recommended argon2id configuration (19 MiB, 2 passes,
// 1 lane): strong against offline guessing while keeping a password check
// to tens of milliseconds, so a burst of sign-ins cannot exhaust the CPU.
// Stored hashes carry their parameters; raising these later re-hashes
// nothing and breaks nothing.
var Default = Params{Memory: 19 * 1024, Time: 2, Threads: 1, KeyLen: 32, SaltLen: 16}

// Limits on a password.
const (
	MinLen = 8
	MaxLen = 1024 // bytes; argon2 of megabyte inputs is a cheap denial of service
)

// Validate checks a new password's length and encoding.
func Validate(pw string) error {
	if !utf8.ValidString(pw) {
		return errors.New("password must be valid UTF-8")
	}
	if utf8.RuneCountInString(pw) < MinLen {
		return fmt.Errorf("password must be at least %d characters", MinLen)
	}
	if len(pw) > MaxLen {
		return fmt.Errorf("password must be at most %d bytes", MaxLen)
	}
	return nil
}

// work admits one argon2id computation per core at a time. Each holds its
// whole memory cost (19 MiB with Default) while it runs, so without a bound
// a burst of sign-ins multiplies that by the number of requests in flight;
// with it, a burst waits its turn and memory stays at cores × cost.
var work = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))

// idKey runs argon2id once a slot is free, or gives up when ctx ends first.
func idKey(ctx context.Context, pw, salt []byte, p Params, keyLen uint32) ([]byte, error) {
	select {
	case work <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-work }()
	return argon2.IDKey(pw, salt, p.Time, p.Memory, p.Threads, keyLen), nil
}

// Hash returns the PHC string of pw under p.
func Hash(pw string, p Params) (string, error) {
	return HashContext(context.Background(), pw, p)
}

// HashContext is Hash that stops waiting for a free core when ctx ends.
func HashContext(ctx context.Context, pw string, p Params) (string, error) {
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key, err := idKey(ctx, []byte(pw), salt, p, p.KeyLen)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// ErrMalformed means a stored hash is not an argon2id PHC string.
var ErrMalformed = errors.New("password hash is not argon2id")

// Verify reports whether pw matches the PHC string encoded.
func Verify(pw, encoded string) (bool, error) {
	return VerifyContext(context.Background(), pw, encoded)
}

// VerifyContext is Verify that stops waiting for a free core when ctx ends
// (the error is then ctx's).
func VerifyContext(ctx context.Context, pw, encoded string) (bool, error) {
	p, salt, want, err := decode(encoded)
	if err != nil {
		return false, err
	}
	if len(pw) > MaxLen {
		return false, nil
	}
	got, err := idKey(ctx, []byte(pw), salt, p, uint32(len(want)))
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash is a valid hash, made once, that VerifyNothing checks against.
var dummyHash = sync.OnceValue(func() string {
	h, err := Hash("latchkey-timing-equalizer", Default)
	if err != nil {
		panic(err)
	}
	return h
})

// VerifyNothing spends as long as Verify does and returns nothing, so that
// an unknown user or a user without a password answers in the same time as a
// wrong password.
func VerifyNothing(pw string) {
	VerifyNothingContext(context.Background(), pw)
}

// VerifyNothingContext is VerifyNothing bounded by ctx like VerifyContext.
func VerifyNothingContext(ctx context.Context, pw string) {
	_, _ = VerifyContext(ctx, pw, dummyHash())
}

func decode(encoded string) (Params, []byte, []byte, error) {
	var p Params
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return p, nil, nil, ErrMalformed
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, ErrMalformed
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, ErrMalformed
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return p, nil, nil, ErrMalformed
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) == 0 {
		return p, nil, nil, ErrMalformed
	}
	if p.Memory == 0 || p.Time == 0 || p.Threads == 0 || p.Memory > 1<<22 || p.Time > 100 {
		return p, nil, nil, ErrMalformed
	}
	return p, salt, key, nil
}
