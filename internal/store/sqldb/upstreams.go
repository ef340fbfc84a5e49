package sqldb

import (
	"context"
	"database/sql"
	"errors"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

var _ store.Upstreams = (*DB)(nil)

const upstreamCols = `org_id, config_url, client_id, client_secret_sealed, scopes, username_claim, display_name, logout_url,
	end_upstream_session, created_at, updated_at`

func scanUpstream(row interface{ Scan(...any) error }) (*domain.UpstreamConnection, error) {
	var c domain.UpstreamConnection
	var scopes string
	var created, updated int64
	if err := row.Scan(&c.OrgID, &c.ConfigURL, &c.ClientID, &c.ClientSecretSealed, &scopes, &c.UsernameClaim, &c.DisplayName,
		&c.LogoutURL, &c.EndUpstreamSession, &created, &updated); err != nil {
		return nil, err
	}
	var err error
	if c.Scopes, err = strList(scopes); err != nil {
		return nil, err
	}
	c.CreatedAt, c.UpdatedAt = tm(created), tm(updated)
	return &c, nil
}

func (s *DB) GetUpstream(ctx context.Context, orgID string) (*domain.UpstreamConnection, error) {
	c, err := scanUpstream(s.db.QueryRowContext(ctx, s.q(`SELECT `+upstreamCols+` FROM upstream_connections WHERE org_id = ?`), orgID))
	return c, s.classify(err)
}

// PutUpstream upserts with INSERT … ON CONFLICT, which SQLite and
// PostgreSQL share, so two first saves racing cannot both insert.
func (s *DB) PutUpstream(ctx context.Context, c *domain.UpstreamConnection) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := s.writes().queryRow(ctx, tx, s.q(`SELECT COUNT(*) FROM orgs WHERE id = ?`), c.OrgID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return store.ErrNotFound
		}
		return s.putUpstream(ctx, tx, c)
	})
}

func (s *DB) putUpstream(ctx context.Context, tx *sql.Tx, c *domain.UpstreamConnection) error {
	_, err := s.exec(ctx, tx, `INSERT INTO upstream_connections (`+upstreamCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (org_id) DO UPDATE SET config_url = excluded.config_url, client_id = excluded.client_id,
		client_secret_sealed = excluded.client_secret_sealed, scopes = excluded.scopes, username_claim = excluded.username_claim,
		display_name = excluded.display_name, logout_url = excluded.logout_url,
		end_upstream_session = excluded.end_upstream_session, updated_at = excluded.updated_at`,
		c.OrgID, c.ConfigURL, c.ClientID, c.ClientSecretSealed, jsonText(nonNil(c.Scopes)), c.UsernameClaim, c.DisplayName,
		c.LogoutURL, c.EndUpstreamSession, ts(c.CreatedAt), ts(c.UpdatedAt))
	return err
}

// UpdateUpstream locks the organization's row, so that it serializes with
// a first save too, when there is no connection row to lock yet.
func (s *DB) UpdateUpstream(ctx context.Context, orgID string, fn func(c *domain.UpstreamConnection, created bool) error, audit ...*domain.AuditEvent) (*domain.UpstreamConnection, bool, error) {
	var created bool
	c, err := update(ctx, s, func(tx *sql.Tx) (*domain.UpstreamConnection, error) {
		if err := s.lockOrg(ctx, tx, orgID); err != nil {
			return nil, err
		}
		c, err := scanUpstream(s.writes().queryRow(ctx, tx, s.q(`SELECT `+upstreamCols+` FROM upstream_connections WHERE org_id = ?`), orgID))
		if errors.Is(err, sql.ErrNoRows) {
			created = true
			return &domain.UpstreamConnection{OrgID: orgID}, nil
		}
		return c, err
	}, func(c *domain.UpstreamConnection) error {
		createdAt := c.CreatedAt
		if err := fn(c, created); err != nil {
			return err
		}
		c.OrgID = orgID
		if !created {
			c.CreatedAt = createdAt
		}
		return nil
	}, func(tx *sql.Tx, c *domain.UpstreamConnection) error {
		return s.putUpstream(ctx, tx, c)
	}, audit)
	if err != nil {
		return nil, false, err
	}
	return c, created, nil
}

func (s *DB) DeleteUpstream(ctx context.Context, orgID string, audit ...*domain.AuditEvent) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.execOne(ctx, tx, `DELETE FROM upstream_connections WHERE org_id = ?`, orgID); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, audit)
	})
}

// GetUserByUpstream reads up to two rows so that an identity linked to
// two users is reported, never resolved by chance.
func (s *DB) GetUserByUpstream(ctx context.Context, orgID, issuer, subject string) (*domain.User, error) {
	if issuer == "" || subject == "" {
		return nil, store.ErrNotFound
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+userCols+` FROM users WHERE org_id = ? AND upstream_issuer = ? AND upstream_subject = ?
		ORDER BY sub LIMIT 2`), orgID, issuer, subject)
	if err != nil {
		return nil, err
	}
	users, err := collect(rows, scanUser)
	switch {
	case err != nil:
		return nil, err
	case len(users) == 0:
		return nil, store.ErrNotFound
	case len(users) > 1:
		return nil, store.ErrConflict
	}
	return users[0], nil
}
