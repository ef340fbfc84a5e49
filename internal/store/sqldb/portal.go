package sqldb

import (
	"context"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

var (
	_ store.PortalSessions = (*DB)(nil)
	_ store.SetupTokens    = (*DB)(nil)
)

const portalSessionCols = `org_id, hash, user_sub, user_name, sid, id_token_sealed, csrf, created_at, last_seen_at, expires_at, ended_at`

func scanPortalSession(row interface{ Scan(...any) error }) (*domain.PortalSession, error) {
	var p domain.PortalSession
	var created, seen, expires, ended int64
	if err := row.Scan(&p.OrgID, &p.Hash, &p.UserSub, &p.UserName, &p.SID, &p.IDTokenSealed, &p.CSRF, &created, &seen, &expires, &ended); err != nil {
		return nil, err
	}
	p.CreatedAt, p.LastSeenAt, p.ExpiresAt, p.EndedAt = tm(created), tm(seen), tm(expires), tm(ended)
	return &p, nil
}

func (s *DB) CreatePortalSession(ctx context.Context, p *domain.PortalSession) error {
	_, err := s.exec(ctx, s.db, `INSERT INTO portal_sessions (`+portalSessionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.OrgID, p.Hash, p.UserSub, p.UserName, p.SID, p.IDTokenSealed, p.CSRF, ts(p.CreatedAt), ts(p.LastSeenAt), ts(p.ExpiresAt), ts(p.EndedAt))
	return s.classify(err)
}

func (s *DB) GetPortalSession(ctx context.Context, orgID string, hash []byte) (*domain.PortalSession, error) {
	p, err := scanPortalSession(s.db.QueryRowContext(ctx, s.q(`SELECT `+portalSessionCols+` FROM portal_sessions WHERE org_id = ? AND hash = ?`), orgID, hash))
	return p, s.classify(err)
}

func (s *DB) TouchPortalSession(ctx context.Context, orgID string, hash []byte, at time.Time) error {
	return s.execOne(ctx, s.db, `UPDATE portal_sessions SET last_seen_at = ? WHERE org_id = ? AND hash = ? AND ended_at = 0`, ts(at), orgID, hash)
}

func (s *DB) EndPortalSession(ctx context.Context, orgID string, hash []byte, at time.Time) error {
	_, err := s.exec(ctx, s.db, `UPDATE portal_sessions SET ended_at = ? WHERE org_id = ? AND hash = ? AND ended_at = 0`, ts(at), orgID, hash)
	return s.classify(err)
}

func (s *DB) EndPortalSessionsBySID(ctx context.Context, orgID, sid string, at time.Time) error {
	_, err := s.exec(ctx, s.db, `UPDATE portal_sessions SET ended_at = ? WHERE org_id = ? AND sid = ? AND ended_at = 0`, ts(at), orgID, sid)
	return s.classify(err)
}

const setupTokenCols = `org_id, hash, created_at, expires_at, used_at`

func scanSetupToken(row interface{ Scan(...any) error }) (*domain.SetupToken, error) {
	var t domain.SetupToken
	var created, expires, used int64
	if err := row.Scan(&t.OrgID, &t.Hash, &created, &expires, &used); err != nil {
		return nil, err
	}
	t.CreatedAt, t.ExpiresAt, t.UsedAt = tm(created), tm(expires), tm(used)
	return &t, nil
}

func (s *DB) CreateSetupToken(ctx context.Context, t *domain.SetupToken) error {
	_, err := s.exec(ctx, s.db, `INSERT INTO setup_tokens (`+setupTokenCols+`) VALUES (?, ?, ?, ?, ?)`,
		t.OrgID, t.Hash, ts(t.CreatedAt), ts(t.ExpiresAt), ts(t.UsedAt))
	return s.classify(err)
}

func (s *DB) ConsumeSetupToken(ctx context.Context, orgID string, hash []byte, at time.Time) (*domain.SetupToken, error) {
	return consume(ctx, s, "setup_tokens", setupTokenCols, scanSetupToken, orgID, hash, at)
}
