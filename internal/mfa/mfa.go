package mfa

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
)

// Errors a ceremony ends with. Callers show a generic message and audit
// the specific reason.
var (
	// ErrInvalid: the code, recovery code or assertion did not verify.
	ErrInvalid = errors.New("invalid second factor")
	// ErrReplay: a one-time code or recovery code was used before.
	ErrReplay = errors.New("one-time value used before")
	// ErrClone: a passkey's sign count went backwards (cloned authenticator).
	ErrClone = errors.New("passkey sign count did not increase")
	// ErrExpired: the ceremony's challenge is unknown, used or expired.
	ErrExpired = errors.New("ceremony expired or already finished")
	// ErrUnknownCredential: no passkey with this id in the organization.
	ErrUnknownCredential = errors.New("passkey not registered here")
)

// Lifetimes of the steps of a multi-factor sign-in.
const (
	// FlowLifetime bounds how long a password stays good for its second factor.
	FlowLifetime = 10 * time.Minute
	// CeremonyLifetime bounds a WebAuthn challenge.
	CeremonyLifetime = 5 * time.Minute
)

// Store is what the ceremonies need of the database.
type Store interface {
	store.Users
	store.Factors
	store.MFAFlows
}

// Service runs the second-factor ceremonies of every organization.
type Service struct {
	Store  Store
	Master *secret.MasterKey
	// PublicURL gives the WebAuthn Relying Party: its host is the RP ID and
	// its origin the only origin accepted.
	PublicURL string
	// Now and Rand may be nil (time.Now, crypto/rand).
	Now  func() time.Time
	Rand io.Reader
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) rand() io.Reader {
	if s.Rand != nil {
		return s.Rand
	}
	return rand.Reader
}

// rp returns the Relying Party ID (host) and origin of the public URL.
func (s *Service) rp() (id, origin string, err error) {
	u, err := url.Parse(s.PublicURL)
	if err != nil || u.Host == "" {
		return "", "", fmt.Errorf("public URL %q has no host", s.PublicURL)
	}
	return u.Hostname(), u.Scheme + "://" + u.Host, nil
}

// PasskeysAvailable reports whether the public URL can be a WebAuthn
// Relying Party: its host must be a domain name (localhost included), as
// WebAuthn refuses IP addresses.
func (s *Service) PasskeysAvailable() bool {
	id, _, err := s.rp()
	return err == nil && net.ParseIP(id) == nil
}

// Factors summarises what second factors a user has.
type Factors struct {
	Passkeys     []*domain.Passkey
	TOTP         bool
	RecoveryLeft int
}

// Any reports whether the user has a second factor to be asked for.
func (f *Factors) Any() bool { return len(f.Passkeys) > 0 || f.TOTP }

// UserFactors loads the user's factors: one read, and a second for the
// passkeys when the user has any (every password sign-in asks, and most
// users have none).
func (s *Service) UserFactors(ctx context.Context, orgID, sub string) (*Factors, error) {
	c, err := s.Store.CountFactors(ctx, orgID, sub)
	if err != nil {
		return nil, fmt.Errorf("count second factors: %w", err)
	}
	f := &Factors{TOTP: c.TOTP, RecoveryLeft: c.RecoveryLeft}
	if c.Passkeys > 0 {
		if f.Passkeys, err = s.Store.ListPasskeys(ctx, orgID, sub); err != nil {
			return nil, fmt.Errorf("list passkeys: %w", err)
		}
	}
	return f, nil
}

// NewFlow starts a step of multi-factor sign-in and returns the secret the
// browser keeps for it (only its hash is stored).
func (s *Service) NewFlow(ctx context.Context, f *domain.MFAFlow, ttl time.Duration) (string, error) {
	tok, err := secret.Token(s.rand(), 32)
	if err != nil {
		return "", err
	}
	now := s.now()
	f.Hash, f.CreatedAt, f.ExpiresAt = secret.Hash(tok), now, now.Add(ttl)
	if err := s.Store.CreateMFAFlow(ctx, f); err != nil {
		return "", fmt.Errorf("store sign-in step: %w", err)
	}
	return tok, nil
}

// Flow returns the unused, unexpired flow the browser's secret names.
func (s *Service) Flow(ctx context.Context, orgID, token, kind string) (*domain.MFAFlow, error) {
	if token == "" {
		return nil, ErrExpired
	}
	f, err := s.Store.GetMFAFlow(ctx, orgID, secret.Hash(token), s.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrExpired
	}
	if err != nil {
		return nil, err
	}
	if kind != "" && f.Kind != kind {
		return nil, ErrExpired
	}
	return f, nil
}

// FinishFlow consumes the flow; of racing finishers exactly one succeeds.
func (s *Service) FinishFlow(ctx context.Context, orgID, token string) (*domain.MFAFlow, error) {
	now := s.now()
	f, err := s.Store.ConsumeMFAFlow(ctx, orgID, secret.Hash(token), now)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrAlreadyUsed) {
		return nil, ErrExpired
	}
	if err != nil {
		return nil, err
	}
	if !now.Before(f.ExpiresAt) {
		return nil, ErrExpired
	}
	return f, nil
}
