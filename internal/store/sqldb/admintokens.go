package sqldb

import (
	"context"
	"database/sql"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
)

const adminTokenCols = `org_id, id, hash, description, created_at, expires_at, revoked_at, last_used_at`

func scanAdminToken(row interface{ Scan(...any) error }) (*domain.AdminToken, error) {
	var t domain.AdminToken
	var created, expires, revoked, used int64
	if err := row.Scan(&t.OrgID, &t.ID, &t.Hash, &t.Description, &created, &expires, &revoked, &used); err != nil {
		return nil, err
	}
	t.CreatedAt, t.ExpiresAt, t.RevokedAt, t.LastUsedAt = tm(created), tm(expires), tm(revoked), tm(used)
	return &t, nil
}

func (s *DB) CreateAdminToken(ctx context.Context, t *domain.AdminToken, audit ...*domain.AuditEvent) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, `INSERT INTO admin_tokens (`+adminTokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			t.OrgID, t.ID, t.Hash, t.Description, ts(t.CreatedAt), ts(t.ExpiresAt), ts(t.RevokedAt), ts(t.LastUsedAt)); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, audit)
	})
}

func (s *DB) FindAdminToken(ctx context.Context, orgID string, hash []byte) (*domain.AdminToken, error) {
	t, err := scanAdminToken(s.db.QueryRowContext(ctx, s.q(`SELECT `+adminTokenCols+` FROM admin_tokens WHERE org_id = ? AND hash = ?`), orgID, hash))
	return t, s.classify(err)
}

func (s *DB) ListAdminTokens(ctx context.Context) ([]*domain.AdminToken, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+adminTokenCols+` FROM admin_tokens ORDER BY org_id, created_at`)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanAdminToken)
}

func (s *DB) RevokeAdminToken(ctx context.Context, orgID, id string, at time.Time, audit ...*domain.AuditEvent) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.execOne(ctx, tx, `UPDATE admin_tokens SET revoked_at = ? WHERE org_id = ? AND id = ? AND revoked_at = 0`, ts(at), orgID, id); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, audit)
	})
}

func (s *DB) TouchAdminToken(ctx context.Context, orgID, id string, at time.Time) error {
	_, err := s.exec(ctx, s.db, `UPDATE admin_tokens SET last_used_at = ? WHERE org_id = ? AND id = ?`, ts(at), orgID, id)
	return err
}
