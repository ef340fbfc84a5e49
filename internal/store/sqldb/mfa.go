package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

// --- passkeys ---

const passkeyCols = `org_id, id, user_sub, name, public_key, sign_count, transports, aaguid, flags, attestation_type, attestation_format, created_at, last_used_at`

func scanPasskey(row interface{ Scan(...any) error }) (*domain.Passkey, error) {
	var k domain.Passkey
	var transports string
	var count, flags, created, used int64
	if err := row.Scan(&k.OrgID, &k.ID, &k.UserSub, &k.Name, &k.PublicKey, &count, &transports, &k.AAGUID, &flags,
		&k.AttestationType, &k.AttestationFormat, &created, &used); err != nil {
		return nil, err
	}
	var err error
	if k.Transports, err = strList(transports); err != nil {
		return nil, err
	}
	k.SignCount, k.Flags = uint32(count), byte(flags)
	k.CreatedAt, k.LastUsedAt = tm(created), tm(used)
	return &k, nil
}

func (s *DB) CreatePasskey(ctx context.Context, k *domain.Passkey) error {
	aaguid := k.AAGUID
	if aaguid == nil {
		aaguid = []byte{}
	}
	_, err := s.exec(ctx, s.db, `INSERT INTO passkeys (`+passkeyCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.OrgID, k.ID, k.UserSub, k.Name, k.PublicKey, int64(k.SignCount), jsonText(nonNil(k.Transports)), aaguid, int64(k.Flags),
		k.AttestationType, k.AttestationFormat, ts(k.CreatedAt), ts(k.LastUsedAt))
	return s.classify(err)
}

func (s *DB) GetPasskey(ctx context.Context, orgID string, id []byte) (*domain.Passkey, error) {
	k, err := scanPasskey(s.db.QueryRowContext(ctx, s.q(`SELECT `+passkeyCols+` FROM passkeys WHERE org_id = ? AND id = ?`), orgID, id))
	return k, s.classify(err)
}

func (s *DB) ListPasskeys(ctx context.Context, orgID, sub string) ([]*domain.Passkey, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+passkeyCols+` FROM passkeys WHERE org_id = ? AND user_sub = ? ORDER BY created_at, id`), orgID, sub)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanPasskey)
}

func (s *DB) UsePasskey(ctx context.Context, orgID string, id []byte, signCount uint32, flags byte, at time.Time) error {
	// A counter of zero on both sides means the authenticator keeps none
	// (most synced passkeys); any other pair must strictly increase.
	err := s.execOne(ctx, s.db, `UPDATE passkeys SET sign_count = ?, flags = ?, last_used_at = ?
		WHERE org_id = ? AND id = ? AND (sign_count < ? OR (sign_count = 0 AND ? = 0))`,
		int64(signCount), int64(flags), ts(at), orgID, id, int64(signCount), int64(signCount))
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if _, err := s.GetPasskey(ctx, orgID, id); err != nil {
		return err
	}
	return store.ErrAlreadyUsed
}

func (s *DB) DeletePasskey(ctx context.Context, orgID, sub string, id []byte) error {
	return s.execOne(ctx, s.db, `DELETE FROM passkeys WHERE org_id = ? AND user_sub = ? AND id = ?`, orgID, sub, id)
}

// --- one-time codes ---

const totpCols = `org_id, user_sub, sealed, last_step, created_at, confirmed_at`

func scanTOTP(row interface{ Scan(...any) error }) (*domain.TOTPFactor, error) {
	var f domain.TOTPFactor
	var created, confirmed int64
	if err := row.Scan(&f.OrgID, &f.UserSub, &f.Sealed, &f.LastStep, &created, &confirmed); err != nil {
		return nil, err
	}
	f.CreatedAt, f.ConfirmedAt = tm(created), tm(confirmed)
	return &f, nil
}

func (s *DB) PutTOTP(ctx context.Context, f *domain.TOTPFactor) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, `DELETE FROM totp_factors WHERE org_id = ? AND user_sub = ?`, f.OrgID, f.UserSub); err != nil {
			return err
		}
		_, err := s.exec(ctx, tx, `INSERT INTO totp_factors (`+totpCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
			f.OrgID, f.UserSub, f.Sealed, f.LastStep, ts(f.CreatedAt), ts(f.ConfirmedAt))
		return err
	})
}

func (s *DB) GetTOTP(ctx context.Context, orgID, sub string) (*domain.TOTPFactor, error) {
	f, err := scanTOTP(s.db.QueryRowContext(ctx, s.q(`SELECT `+totpCols+` FROM totp_factors WHERE org_id = ? AND user_sub = ?`), orgID, sub))
	return f, s.classify(err)
}

func (s *DB) UseTOTPStep(ctx context.Context, orgID, sub string, step int64, confirm bool, at time.Time) error {
	q := `UPDATE totp_factors SET last_step = ? WHERE org_id = ? AND user_sub = ? AND last_step < ? AND confirmed_at <> 0`
	args := []any{step, orgID, sub, step}
	if confirm {
		q = `UPDATE totp_factors SET last_step = ?, confirmed_at = ? WHERE org_id = ? AND user_sub = ? AND last_step < ? AND confirmed_at = 0`
		args = []any{step, ts(at), orgID, sub, step}
	}
	err := s.execOne(ctx, s.db, q, args...)
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if _, err := s.GetTOTP(ctx, orgID, sub); err != nil {
		return err
	}
	return store.ErrAlreadyUsed
}

func (s *DB) DeleteTOTP(ctx context.Context, orgID, sub string) error {
	return s.execOne(ctx, s.db, `DELETE FROM totp_factors WHERE org_id = ? AND user_sub = ?`, orgID, sub)
}

// --- recovery codes ---

func (s *DB) ReplaceRecoveryCodes(ctx context.Context, orgID, sub string, codes []*domain.RecoveryCode) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, `DELETE FROM recovery_codes WHERE org_id = ? AND user_sub = ?`, orgID, sub); err != nil {
			return err
		}
		for _, c := range codes {
			if _, err := s.exec(ctx, tx, `INSERT INTO recovery_codes (org_id, user_sub, hash, created_at, used_at) VALUES (?, ?, ?, ?, ?)`,
				orgID, sub, c.Hash, ts(c.CreatedAt), ts(c.UsedAt)); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *DB) UseRecoveryCode(ctx context.Context, orgID, sub string, hash []byte, at time.Time) (int, error) {
	err := s.execOne(ctx, s.db, `UPDATE recovery_codes SET used_at = ? WHERE org_id = ? AND user_sub = ? AND hash = ? AND used_at = 0`,
		ts(at), orgID, sub, hash)
	if errors.Is(err, store.ErrNotFound) {
		var n int
		if err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM recovery_codes WHERE org_id = ? AND user_sub = ? AND hash = ?`),
			orgID, sub, hash).Scan(&n); err != nil {
			return 0, err
		}
		if n == 0 {
			return 0, store.ErrNotFound
		}
		return 0, store.ErrAlreadyUsed
	}
	if err != nil {
		return 0, err
	}
	return s.CountRecoveryCodes(ctx, orgID, sub)
}

func (s *DB) CountRecoveryCodes(ctx context.Context, orgID, sub string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM recovery_codes WHERE org_id = ? AND user_sub = ? AND used_at = 0`), orgID, sub).Scan(&n)
	return n, err
}

// countFactors asks the three tables at once; each subquery reads only the
// user's rows through its table's (org_id, user_sub) index.
const countFactors = `SELECT
	(SELECT COUNT(*) FROM passkeys WHERE org_id = ? AND user_sub = ?),
	(SELECT COUNT(*) FROM totp_factors WHERE org_id = ? AND user_sub = ? AND confirmed_at <> 0),
	(SELECT COUNT(*) FROM recovery_codes WHERE org_id = ? AND user_sub = ? AND used_at = 0)`

func (s *DB) CountFactors(ctx context.Context, orgID, sub string) (store.FactorCounts, error) {
	var c store.FactorCounts
	var totp int
	err := s.keyedPool().QueryRowContext(ctx, s.q(countFactors), orgID, sub, orgID, sub, orgID, sub).Scan(&c.Passkeys, &totp, &c.RecoveryLeft)
	c.TOTP = totp > 0
	return c, err
}

func (s *DB) DeleteUserFactors(ctx context.Context, orgID, sub string, audit ...*domain.AuditEvent) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for _, t := range []string{"passkeys", "totp_factors", "recovery_codes", "mfa_flows"} {
			if _, err := s.exec(ctx, tx, `DELETE FROM `+t+` WHERE org_id = ? AND user_sub = ?`, orgID, sub); err != nil {
				return err
			}
		}
		return s.appendAudit(ctx, tx, audit)
	})
}

// --- multi-factor sign-in steps ---

const mfaFlowCols = `org_id, hash, kind, user_sub, amr, auth_time, request, data, created_at, expires_at, used_at`

func scanMFAFlow(row interface{ Scan(...any) error }) (*domain.MFAFlow, error) {
	var f domain.MFAFlow
	var amr string
	var authTime, created, expires, used int64
	if err := row.Scan(&f.OrgID, &f.Hash, &f.Kind, &f.UserSub, &amr, &authTime, &f.Request, &f.Data, &created, &expires, &used); err != nil {
		return nil, err
	}
	var err error
	if f.AMR, err = strList(amr); err != nil {
		return nil, err
	}
	f.AuthTime, f.CreatedAt, f.ExpiresAt, f.UsedAt = tm(authTime), tm(created), tm(expires), tm(used)
	return &f, nil
}

func (s *DB) CreateMFAFlow(ctx context.Context, f *domain.MFAFlow) error {
	// Relaxed, like a pending authorization request: a step lost in a
	// crash of the database makes the user start it again.
	return s.insert(ctx, "mfa_flows", mfaFlowCols, true,
		[]any{f.OrgID, f.Hash, f.Kind, f.UserSub, jsonText(nonNil(f.AMR)), ts(f.AuthTime), f.Request, f.Data, ts(f.CreatedAt), ts(f.ExpiresAt), ts(f.UsedAt)})
}

func (s *DB) GetMFAFlow(ctx context.Context, orgID string, hash []byte, now time.Time) (*domain.MFAFlow, error) {
	f, err := scanMFAFlow(s.db.QueryRowContext(ctx, s.q(`SELECT `+mfaFlowCols+` FROM mfa_flows WHERE org_id = ? AND hash = ? AND used_at = 0 AND expires_at > ?`),
		orgID, hash, ts(now)))
	return f, s.classify(err)
}

func (s *DB) ConsumeMFAFlow(ctx context.Context, orgID string, hash []byte, at time.Time) (*domain.MFAFlow, error) {
	return consume(ctx, s, "mfa_flows", mfaFlowCols, scanMFAFlow, orgID, hash, at)
}
