package mfa

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
)

// TOTP parameters: the ones every authenticator app understands.
const (
	totpPeriod = 30
	totpDigits = otp.DigitsSix
	// totpSkew accepts the previous and the next step too (clock drift).
	totpSkew = 1
)

func totpAAD(orgID, sub string) string { return "totp/" + orgID + "/" + sub }

// TOTPEnrolment is what the user sees once when setting up codes.
type TOTPEnrolment struct {
	// Secret is the base32 key, for typing into an app by hand.
	Secret string
	// URL is the otpauth:// URL the QR code carries.
	URL string
	// QR is the QR code as a data: URL of a PNG image.
	QR string
}

// BeginTOTP makes a new secret for the user and stores it sealed and
// unconfirmed, replacing an earlier unconfirmed one. A confirmed generator
// keeps working until the new one is confirmed.
func (s *Service) BeginTOTP(ctx context.Context, org *domain.Organization, u *domain.User) (*TOTPEnrolment, error) {
	if cur, err := s.Store.GetTOTP(ctx, org.ID, u.Sub); err == nil && !cur.ConfirmedAt.IsZero() {
		return nil, domain.Invalid("totp", "one-time codes are set up already; remove them first")
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: org.Name, AccountName: u.UserName, Period: totpPeriod, Digits: totpDigits,
		Algorithm: otp.AlgorithmSHA1, SecretSize: 20, Rand: s.rand(),
	})
	if err != nil {
		return nil, fmt.Errorf("generate one-time code secret: %w", err)
	}
	sealed, err := s.Master.Seal([]byte(key.Secret()), totpAAD(org.ID, u.Sub))
	if err != nil {
		return nil, err
	}
	if err := s.Store.PutTOTP(ctx, &domain.TOTPFactor{OrgID: org.ID, UserSub: u.Sub, Sealed: sealed, CreatedAt: s.now()}); err != nil {
		return nil, fmt.Errorf("store one-time code secret: %w", err)
	}
	img, err := key.Image(240, 240)
	if err != nil {
		return nil, fmt.Errorf("draw QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return &TOTPEnrolment{
		Secret: key.Secret(), URL: key.URL(),
		QR: "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()),
	}, nil
}

// ConfirmTOTP completes an enrolment with the first code from the app.
func (s *Service) ConfirmTOTP(ctx context.Context, orgID, sub, code string) error {
	return s.checkTOTP(ctx, orgID, sub, code, true)
}

// CheckTOTP verifies a code of a confirmed generator. Each time step is
// accepted once: a code seen before (or older than one seen) is refused.
func (s *Service) CheckTOTP(ctx context.Context, orgID, sub, code string) error {
	return s.checkTOTP(ctx, orgID, sub, code, false)
}

func (s *Service) checkTOTP(ctx context.Context, orgID, sub, code string, confirm bool) error {
	f, err := s.Store.GetTOTP(ctx, orgID, sub)
	if errors.Is(err, store.ErrNotFound) {
		return ErrInvalid
	}
	if err != nil {
		return err
	}
	if confirm != f.ConfirmedAt.IsZero() {
		return ErrInvalid
	}
	code = strings.Join(strings.Fields(code), "")
	if len(code) != totpDigits.Length() {
		return ErrInvalid
	}
	key, err := s.Master.Open(f.Sealed, totpAAD(orgID, sub))
	if err != nil {
		return fmt.Errorf("open one-time code secret: %w", err)
	}
	now := s.now()
	step, ok := matchStep(string(key), code, now)
	if !ok {
		return ErrInvalid
	}
	err = s.Store.UseTOTPStep(ctx, orgID, sub, step, confirm, now)
	if errors.Is(err, store.ErrAlreadyUsed) {
		return ErrReplay
	}
	return err
}

// matchStep finds the time step within the skew whose code is code,
// comparing every candidate in constant time.
func matchStep(key, code string, now time.Time) (int64, bool) {
	opts := totp.ValidateOpts{Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1}
	cur := now.Unix() / totpPeriod
	var found int64
	ok := false
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		step := cur + d
		want, err := totp.GenerateCodeCustom(key, time.Unix(step*totpPeriod, 0), opts)
		if err != nil {
			return 0, false
		}
		if secret.Equal([]byte(want), []byte(code)) {
			found, ok = step, true
		}
	}
	return found, ok
}

// RemoveTOTP removes the user's generator.
func (s *Service) RemoveTOTP(ctx context.Context, orgID, sub string) error {
	if err := s.Store.DeleteTOTP(ctx, orgID, sub); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// recoveryEncoding writes recovery codes in lower-case base32 (no 0/1/8/9
// look-alikes to confuse with letters).
var recoveryEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NormalizeRecoveryCode folds what a user typed into the stored form.
func NormalizeRecoveryCode(code string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(code) {
		if r == '-' || r == ' ' || r == '\t' {
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// NewRecoveryCodes replaces the user's recovery codes with ten new ones,
// returned in clear once (each carries 80 random bits; only hashes are kept).
func (s *Service) NewRecoveryCodes(ctx context.Context, orgID, sub string) ([]string, error) {
	now := s.now()
	plain := make([]string, domain.RecoveryCodeCount)
	rows := make([]*domain.RecoveryCode, domain.RecoveryCodeCount)
	for i := range plain {
		raw := make([]byte, 10)
		if _, err := s.rand().Read(raw); err != nil {
			return nil, err
		}
		c := strings.ToLower(recoveryEncoding.EncodeToString(raw)) // 16 characters
		plain[i] = c[0:4] + "-" + c[4:8] + "-" + c[8:12] + "-" + c[12:16]
		rows[i] = &domain.RecoveryCode{OrgID: orgID, UserSub: sub, Hash: secret.Hash(c), CreatedAt: now}
	}
	if err := s.Store.ReplaceRecoveryCodes(ctx, orgID, sub, rows); err != nil {
		return nil, fmt.Errorf("store recovery codes: %w", err)
	}
	return plain, nil
}

// UseRecoveryCode consumes one recovery code and returns how many remain.
func (s *Service) UseRecoveryCode(ctx context.Context, orgID, sub, code string) (int, error) {
	c := NormalizeRecoveryCode(code)
	if len(c) != 16 {
		return 0, ErrInvalid
	}
	left, err := s.Store.UseRecoveryCode(ctx, orgID, sub, secret.Hash(c), s.now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return 0, ErrInvalid
	case errors.Is(err, store.ErrAlreadyUsed):
		return 0, ErrReplay
	}
	return left, err
}
