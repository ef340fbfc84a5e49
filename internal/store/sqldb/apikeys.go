package sqldb

import (
	"context"
	"database/sql"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
)

func (s *DB) insertAPIKey(ctx context.Context, x querier, k *domain.APIKey) error {
	_, err := s.exec(ctx, x, `INSERT INTO api_keys (org_id, id, hash, sealed, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
		k.OrgID, k.ID, k.Hash, k.Sealed, ts(k.CreatedAt), ts(k.ExpiresAt))
	return err
}

const apiKeyCols = `org_id, id, hash, sealed, created_at, expires_at`

func scanAPIKey(row interface{ Scan(...any) error }) (*domain.APIKey, error) {
	var k domain.APIKey
	var created, expires int64
	if err := row.Scan(&k.OrgID, &k.ID, &k.Hash, &k.Sealed, &created, &expires); err != nil {
		return nil, err
	}
	k.CreatedAt, k.ExpiresAt = tm(created), tm(expires)
	return &k, nil
}

func (s *DB) FindAPIKey(ctx context.Context, orgID string, hash []byte, now time.Time) (*domain.APIKey, error) {
	k, err := scanAPIKey(s.db.QueryRowContext(ctx, s.q(`SELECT `+apiKeyCols+` FROM api_keys WHERE org_id = ? AND hash = ? AND (expires_at = 0 OR expires_at > ?)`),
		orgID, hash, ts(now)))
	return k, s.classify(err)
}

func (s *DB) CurrentAPIKey(ctx context.Context, orgID string) (*domain.APIKey, error) {
	k, err := scanAPIKey(s.db.QueryRowContext(ctx, s.q(`SELECT `+apiKeyCols+` FROM api_keys WHERE org_id = ? AND expires_at = 0`), orgID))
	return k, s.classify(err)
}

func (s *DB) RotateAPIKey(ctx context.Context, orgID string, key *domain.APIKey, oldExpiresAt time.Time, audit ...*domain.AuditEvent) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		// Two rotations at once would each keep "the current key" alive.
		if err := s.lockOrg(ctx, tx, orgID); err != nil {
			return err
		}
		// Keys rotated out before stop now; the current one keeps working
		// for the overlap, or stops now when there is none.
		if _, err := s.exec(ctx, tx, `DELETE FROM api_keys WHERE org_id = ? AND expires_at <> 0`, orgID); err != nil {
			return err
		}
		if oldExpiresAt.After(key.CreatedAt) {
			_, err := s.exec(ctx, tx, `UPDATE api_keys SET expires_at = ? WHERE org_id = ? AND expires_at = 0`, ts(oldExpiresAt), orgID)
			if err != nil {
				return err
			}
		} else if _, err := s.exec(ctx, tx, `DELETE FROM api_keys WHERE org_id = ?`, orgID); err != nil {
			return err
		}
		if err := s.insertAPIKey(ctx, tx, key); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, audit)
	})
}
