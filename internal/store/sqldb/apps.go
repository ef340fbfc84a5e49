package sqldb

import (
	"context"
	"database/sql"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

const appCols = `org_id, client_id, name, secret_hash, public, redirect_uris, post_logout_redirect_uris, backchannel_logout_uri,
	grant_types, access_token_lifetime, id_token_lifetime, refresh_token_lifetime, id_token_alg, access_token_format, created_at, updated_at,
	refresh_token_reuse_interval, groups_claim`

func scanApp(row interface{ Scan(...any) error }) (*domain.Application, error) {
	var a domain.Application
	var redirects, postLogout, grants string
	var created, updated int64
	if err := row.Scan(&a.OrgID, &a.ClientID, &a.Name, &a.SecretHash, &a.Public, &redirects, &postLogout, &a.BackchannelLogoutURI,
		&grants, &a.AccessTokenLifetime, &a.IDTokenLifetime, &a.RefreshTokenLifetime, &a.IDTokenAlg, &a.AccessTokenFormat,
		&created, &updated, &a.RefreshTokenReuseInterval, &a.GroupsClaim); err != nil {
		return nil, err
	}
	var err error
	if a.RedirectURIs, err = strList(redirects); err != nil {
		return nil, err
	}
	if a.PostLogoutRedirectURIs, err = strList(postLogout); err != nil {
		return nil, err
	}
	if a.GrantTypes, err = strList(grants); err != nil {
		return nil, err
	}
	a.CreatedAt, a.UpdatedAt = tm(created), tm(updated)
	return &a, nil
}

func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

func (s *DB) CreateApp(ctx context.Context, a *domain.Application, audit ...*domain.AuditEvent) error {
	if len(audit) == 0 {
		return s.insertApp(ctx, s.db, a)
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.insertApp(ctx, tx, a); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, audit)
	})
}

func (s *DB) insertApp(ctx context.Context, x querier, a *domain.Application) error {
	_, err := s.exec(ctx, x, `INSERT INTO apps (`+appCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.OrgID, a.ClientID, a.Name, a.SecretHash, a.Public, jsonText(nonNil(a.RedirectURIs)), jsonText(nonNil(a.PostLogoutRedirectURIs)),
		a.BackchannelLogoutURI, jsonText(nonNil(a.GrantTypes)), a.AccessTokenLifetime, a.IDTokenLifetime, a.RefreshTokenLifetime,
		a.IDTokenAlg, a.AccessTokenFormat, ts(a.CreatedAt), ts(a.UpdatedAt), a.RefreshTokenReuseInterval, a.GroupsClaim)
	return s.classify(err)
}

func (s *DB) GetApp(ctx context.Context, orgID, clientID string) (*domain.Application, error) {
	if !storableKey(clientID, orgID) {
		return nil, store.ErrNotFound
	}
	a, err := scanApp(s.db.QueryRowContext(ctx, s.q(`SELECT `+appCols+` FROM apps WHERE org_id = ? AND client_id = ?`), orgID, clientID))
	return a, s.classify(err)
}

func (s *DB) ListApps(ctx context.Context, orgID string) ([]*domain.Application, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+appCols+` FROM apps WHERE org_id = ? ORDER BY name, client_id`), orgID)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanApp)
}

func (s *DB) UpdateApp(ctx context.Context, orgID, clientID string, fn func(a *domain.Application) error, audit ...*domain.AuditEvent) (*domain.Application, error) {
	return update(ctx, s, func(tx *sql.Tx) (*domain.Application, error) {
		return scanApp(s.writes().queryRow(ctx, tx, s.q(`SELECT `+appCols+` FROM apps WHERE org_id = ? AND client_id = ?`+s.dialect.LockRow()), orgID, clientID))
	}, func(a *domain.Application) error {
		if err := fn(a); err != nil {
			return err
		}
		a.OrgID, a.ClientID = orgID, clientID
		return nil
	}, func(tx *sql.Tx, a *domain.Application) error {
		return s.saveApp(ctx, tx, a)
	}, audit)
}

func (s *DB) saveApp(ctx context.Context, x querier, a *domain.Application) error {
	return s.execOne(ctx, x, `UPDATE apps SET name = ?, secret_hash = ?, public = ?, redirect_uris = ?, post_logout_redirect_uris = ?,
		backchannel_logout_uri = ?, grant_types = ?, access_token_lifetime = ?, id_token_lifetime = ?, refresh_token_lifetime = ?,
		id_token_alg = ?, access_token_format = ?, updated_at = ?, refresh_token_reuse_interval = ?, groups_claim = ? WHERE org_id = ? AND client_id = ?`,
		a.Name, a.SecretHash, a.Public, jsonText(nonNil(a.RedirectURIs)), jsonText(nonNil(a.PostLogoutRedirectURIs)),
		a.BackchannelLogoutURI, jsonText(nonNil(a.GrantTypes)), a.AccessTokenLifetime, a.IDTokenLifetime, a.RefreshTokenLifetime,
		a.IDTokenAlg, a.AccessTokenFormat, ts(a.UpdatedAt), a.RefreshTokenReuseInterval, a.GroupsClaim, a.OrgID, a.ClientID)
}

// DeleteApp removes the application and the codes and tokens issued to it.
func (s *DB) DeleteApp(ctx context.Context, orgID, clientID string, audit ...*domain.AuditEvent) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for _, t := range []string{"auth_codes", "tokens", "session_clients"} {
			if _, err := s.exec(ctx, tx, `DELETE FROM `+t+` WHERE org_id = ? AND client_id = ?`, orgID, clientID); err != nil {
				return err
			}
		}
		if err := s.execOne(ctx, tx, `DELETE FROM apps WHERE org_id = ? AND client_id = ?`, orgID, clientID); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, audit)
	})
}
