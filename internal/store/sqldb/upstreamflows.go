package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

const upstreamLoginCols = `org_id, hash, browser_hash, auth_request_id, nonce, verifier_sealed, created_at, expires_at, used_at`

func scanUpstreamLogin(row interface{ Scan(...any) error }) (*domain.UpstreamLogin, error) {
	var l domain.UpstreamLogin
	var created, expires, used int64
	if err := row.Scan(&l.OrgID, &l.Hash, &l.BrowserHash, &l.AuthRequestID, &l.Nonce, &l.VerifierSealed, &created, &expires, &used); err != nil {
		return nil, err
	}
	l.CreatedAt, l.ExpiresAt, l.UsedAt = tm(created), tm(expires), tm(used)
	return &l, nil
}

func (s *DB) CreateUpstreamLogin(ctx context.Context, l *domain.UpstreamLogin) error {
	_, err := s.exec(ctx, s.db, `INSERT INTO upstream_logins (`+upstreamLoginCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		l.OrgID, l.Hash, l.BrowserHash, l.AuthRequestID, l.Nonce, l.VerifierSealed, ts(l.CreatedAt), ts(l.ExpiresAt), ts(l.UsedAt))
	return s.classify(err)
}

func (s *DB) ConsumeUpstreamLogin(ctx context.Context, orgID string, hash []byte, at time.Time) (*domain.UpstreamLogin, error) {
	return consume(ctx, s, "upstream_logins", upstreamLoginCols, scanUpstreamLogin, orgID, hash, at)
}

const upstreamLogoutCols = `org_id, hash, redirect_uri, created_at, expires_at, used_at`

func scanUpstreamLogout(row interface{ Scan(...any) error }) (*domain.UpstreamLogout, error) {
	var l domain.UpstreamLogout
	var created, expires, used int64
	if err := row.Scan(&l.OrgID, &l.Hash, &l.RedirectURI, &created, &expires, &used); err != nil {
		return nil, err
	}
	l.CreatedAt, l.ExpiresAt, l.UsedAt = tm(created), tm(expires), tm(used)
	return &l, nil
}

func (s *DB) CreateUpstreamLogout(ctx context.Context, l *domain.UpstreamLogout) error {
	_, err := s.exec(ctx, s.db, `INSERT INTO upstream_logouts (`+upstreamLogoutCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		l.OrgID, l.Hash, l.RedirectURI, ts(l.CreatedAt), ts(l.ExpiresAt), ts(l.UsedAt))
	return s.classify(err)
}

func (s *DB) ConsumeUpstreamLogout(ctx context.Context, orgID string, hash []byte, at time.Time) (*domain.UpstreamLogout, error) {
	return consume(ctx, s, "upstream_logouts", upstreamLogoutCols, scanUpstreamLogout, orgID, hash, at)
}

func (s *DB) RememberLogoutToken(ctx context.Context, orgID string, hash []byte, expiresAt, now time.Time) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, `DELETE FROM seen_logout_tokens WHERE org_id = ? AND hash = ? AND expires_at < ?`, orgID, hash, ts(now)); err != nil {
			return err
		}
		_, err := s.exec(ctx, tx, `INSERT INTO seen_logout_tokens (org_id, hash, expires_at) VALUES (?, ?, ?)`, orgID, hash, ts(expiresAt))
		return err
	})
	if errors.Is(err, store.ErrConflict) {
		return store.ErrAlreadyUsed
	}
	return err
}

func (s *DB) ForgetLogoutToken(ctx context.Context, orgID string, hash []byte) error {
	_, err := s.exec(ctx, s.db, `DELETE FROM seen_logout_tokens WHERE org_id = ? AND hash = ?`, orgID, hash)
	return s.classify(err)
}

func (s *DB) ListSessionsByUpstreamSID(ctx context.Context, orgID, upstreamSID string) ([]*domain.Session, error) {
	if upstreamSID == "" {
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+s.sessionRead+` FROM sessions WHERE org_id = ? AND upstream_sid = ? ORDER BY created_at`), orgID, upstreamSID)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanSession)
}
