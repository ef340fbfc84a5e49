package sqldb

import (
	"context"
	"database/sql"
	"errors"

	"github.com/latchkey/latchkey/internal/domain"
)

const keyCols = `org_id, kid, alg, state, sealed, public_jwk, created_at, activated_at, expires_at`

func scanKey(row interface{ Scan(...any) error }) (*domain.SigningKey, error) {
	var k domain.SigningKey
	var jwk string
	var created, activated, expires int64
	if err := row.Scan(&k.OrgID, &k.KID, &k.Alg, &k.State, &k.Sealed, &jwk, &created, &activated, &expires); err != nil {
		return nil, err
	}
	k.PublicJWK = []byte(jwk)
	k.CreatedAt, k.ActivatedAt, k.ExpiresAt = tm(created), tm(activated), tm(expires)
	return &k, nil
}

func (s *DB) ListSigningKeys(ctx context.Context, orgID string) ([]*domain.SigningKey, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+keyCols+` FROM signing_keys WHERE org_id = ? ORDER BY created_at, kid`), orgID)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanKey)
}

func (s *DB) upsertSigningKey(ctx context.Context, x querier, k *domain.SigningKey) error {
	res, err := s.exec(ctx, x, `UPDATE signing_keys SET state = ?, activated_at = ?, expires_at = ? WHERE org_id = ? AND kid = ?`,
		k.State, ts(k.ActivatedAt), ts(k.ExpiresAt), k.OrgID, k.KID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	_, err = s.exec(ctx, x, `INSERT INTO signing_keys (`+keyCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.OrgID, k.KID, k.Alg, k.State, k.Sealed, string(k.PublicJWK), ts(k.CreatedAt), ts(k.ActivatedAt), ts(k.ExpiresAt))
	return err
}

func (s *DB) SaveSigningKeys(ctx context.Context, orgID string, keys []*domain.SigningKey, remove []string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for _, k := range keys {
			if k.OrgID != orgID {
				return errors.New("signing key of another organization")
			}
			if err := s.upsertSigningKey(ctx, tx, k); err != nil {
				return err
			}
		}
		for _, kid := range remove {
			if _, err := s.exec(ctx, tx, `DELETE FROM signing_keys WHERE org_id = ? AND kid = ?`, orgID, kid); err != nil {
				return err
			}
		}
		return nil
	})
}
