package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

// orgTables lists every organization-owned table, children first, so that
// DeleteOrg works whether or not the engine cascades foreign keys.
var orgTables = []string{
	"session_clients", "sessions", "auth_requests", "auth_codes", "tokens",
	"login_tickets", "audit_events", "signing_keys", "apps", "users", "api_keys",
	"backchannel_attempts", "backchannel_deliveries", "admin_tokens", "upstream_logins", "upstream_logouts",
	"upstream_connections",
}

func (s *DB) CreateOrg(ctx context.Context, o *domain.Organization, key *domain.APIKey, keys []*domain.SigningKey, audit ...*domain.AuditEvent) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, `INSERT INTO orgs (id, name, settings, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
			o.ID, o.Name, jsonText(o.Settings), ts(o.CreatedAt), ts(o.UpdatedAt)); err != nil {
			return err
		}
		if key != nil {
			if err := s.insertAPIKey(ctx, tx, key); err != nil {
				return err
			}
		}
		for _, k := range keys {
			if err := s.upsertSigningKey(ctx, tx, k); err != nil {
				return err
			}
		}
		return s.appendAudit(ctx, tx, audit)
	})
}

const orgCols = `id, name, settings, created_at, updated_at`

func scanOrg(row interface{ Scan(...any) error }) (*domain.Organization, error) {
	var o domain.Organization
	var settings string
	var created, updated int64
	if err := row.Scan(&o.ID, &o.Name, &settings, &created, &updated); err != nil {
		return nil, err
	}
	o.Settings = domain.DefaultOrgSettings()
	if err := json.Unmarshal([]byte(settings), &o.Settings); err != nil {
		return nil, fmt.Errorf("decode settings of org %q: %w", o.ID, err)
	}
	o.CreatedAt, o.UpdatedAt = tm(created), tm(updated)
	return &o, nil
}

func (s *DB) GetOrg(ctx context.Context, id string) (*domain.Organization, error) {
	if !storableKey(id) {
		return nil, store.ErrNotFound
	}
	o, err := scanOrg(s.db.QueryRowContext(ctx, s.q(`SELECT `+orgCols+` FROM orgs WHERE id = ?`), id))
	return o, s.classify(err)
}

func (s *DB) ListOrgs(ctx context.Context) ([]*domain.Organization, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+orgCols+` FROM orgs ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanOrg)
}

func (s *DB) UpdateOrg(ctx context.Context, id string, fn func(o *domain.Organization) error, audit ...*domain.AuditEvent) (*domain.Organization, error) {
	return update(ctx, s, func(tx *sql.Tx) (*domain.Organization, error) {
		return scanOrg(s.db.queryRow(ctx, tx, s.q(`SELECT `+orgCols+` FROM orgs WHERE id = ?`+s.dialect.LockRow()), id))
	}, func(o *domain.Organization) error {
		if err := fn(o); err != nil {
			return err
		}
		o.ID = id
		return nil
	}, func(tx *sql.Tx, o *domain.Organization) error {
		return s.execOne(ctx, tx, `UPDATE orgs SET name = ?, settings = ?, updated_at = ? WHERE id = ?`,
			o.Name, jsonText(o.Settings), ts(o.UpdatedAt), o.ID)
	}, audit)
}

// lockOrg locks the organization's row until tx ends; ErrNotFound if there
// is none.
func (s *DB) lockOrg(ctx context.Context, tx *sql.Tx, id string) error {
	var got string
	return s.db.queryRow(ctx, tx, s.q(`SELECT id FROM orgs WHERE id = ?`+s.dialect.LockRow()), id).Scan(&got)
}

func (s *DB) DeleteOrg(ctx context.Context, id string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for _, t := range orgTables {
			if _, err := s.exec(ctx, tx, `DELETE FROM `+t+` WHERE org_id = ?`, id); err != nil {
				return err
			}
		}
		return s.execOne(ctx, tx, `DELETE FROM orgs WHERE id = ?`, id)
	})
}

// collect scans every row with scan and closes rows.
func collect[T any](rows *rows, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// --- API keys ---

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

// --- users ---

const userCols = `org_id, sub, user_name, name, email, email_verified, picture, role, password_hash, disabled, upstream_issuer, upstream_subject, created_at, updated_at`

func scanUser(row interface{ Scan(...any) error }) (*domain.User, error) {
	var u domain.User
	var created, updated int64
	if err := row.Scan(&u.OrgID, &u.Sub, &u.UserName, &u.Name, &u.Email, &u.EmailVerified, &u.Picture, &u.Role,
		&u.PasswordHash, &u.Disabled, &u.UpstreamIssuer, &u.UpstreamSubject, &created, &updated); err != nil {
		return nil, err
	}
	u.CreatedAt, u.UpdatedAt = tm(created), tm(updated)
	return &u, nil
}

func (s *DB) CreateUser(ctx context.Context, u *domain.User, audit ...*domain.AuditEvent) error {
	if len(audit) == 0 {
		return s.insertUser(ctx, s.db, u)
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.insertUser(ctx, tx, u); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, audit)
	})
}

func (s *DB) insertUser(ctx context.Context, x querier, u *domain.User) error {
	_, err := s.exec(ctx, x, `INSERT INTO users (`+userCols+`, user_name_fold, search_fold) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.OrgID, u.Sub, u.UserName, u.Name, u.Email, u.EmailVerified, u.Picture, u.Role, u.PasswordHash, u.Disabled,
		u.UpstreamIssuer, u.UpstreamSubject, ts(u.CreatedAt), ts(u.UpdatedAt), domain.FoldUserName(u.UserName), searchFold(u))
	return s.classify(err)
}

func (s *DB) GetUser(ctx context.Context, orgID, sub string) (*domain.User, error) {
	if !storableKey(sub, orgID) {
		return nil, store.ErrNotFound
	}
	u, err := scanUser(s.db.QueryRowContext(ctx, s.q(`SELECT `+userCols+` FROM users WHERE org_id = ? AND sub = ?`), orgID, sub))
	return u, s.classify(err)
}

func (s *DB) GetUserByName(ctx context.Context, orgID, userName string) (*domain.User, error) {
	if !storableKey(userName, orgID) {
		return nil, store.ErrNotFound
	}
	u, err := scanUser(s.db.QueryRowContext(ctx, s.q(`SELECT `+userCols+` FROM users WHERE org_id = ? AND user_name_fold = ?`),
		orgID, domain.FoldUserName(userName)))
	return u, s.classify(err)
}

func (s *DB) ListUsers(ctx context.Context, orgID string, f store.UserFilter) ([]*domain.User, error) {
	limit := f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	query := `SELECT ` + userCols + ` FROM users WHERE org_id = ?`
	args := []any{orgID}
	if f.Query != "" {
		if strings.Contains(f.Query, "\n") { // the field separator: no field holds it
			return nil, nil
		}
		query += ` AND search_fold LIKE ? ESCAPE '\'`
		args = append(args, "%"+likeEscape(strings.ToLower(f.Query))+"%")
	}
	query += ` ORDER BY user_name_fold LIMIT ?`
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanUser)
}

// searchFold is what user search matches: userName, name and email,
// lower-cased by Go so every script folds alike on every backend. The
// separators keep a query from matching across two fields.
func searchFold(u *domain.User) string {
	return strings.ToLower(u.UserName + "\n" + u.Name + "\n" + u.Email)
}

func likeEscape(v string) string {
	out := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '%' || c == '_' || c == '\\' {
			out = append(out, '\\')
		}
		out = append(out, v[i])
	}
	return string(out)
}

func (s *DB) UpdateUser(ctx context.Context, orgID, sub string, fn func(u *domain.User) error, audit ...*domain.AuditEvent) (*domain.User, error) {
	return update(ctx, s, func(tx *sql.Tx) (*domain.User, error) {
		return scanUser(s.db.queryRow(ctx, tx, s.q(`SELECT `+userCols+` FROM users WHERE org_id = ? AND sub = ?`+s.dialect.LockRow()), orgID, sub))
	}, func(u *domain.User) error {
		if err := fn(u); err != nil {
			return err
		}
		u.OrgID, u.Sub = orgID, sub
		return nil
	}, func(tx *sql.Tx, u *domain.User) error {
		return s.saveUser(ctx, tx, u)
	}, audit)
}

func (s *DB) saveUser(ctx context.Context, x querier, u *domain.User) error {
	return s.execOne(ctx, x, `UPDATE users SET user_name = ?, user_name_fold = ?, search_fold = ?, name = ?, email = ?, email_verified = ?, picture = ?, role = ?,
		password_hash = ?, disabled = ?, upstream_issuer = ?, upstream_subject = ?, updated_at = ? WHERE org_id = ? AND sub = ?`,
		u.UserName, domain.FoldUserName(u.UserName), searchFold(u), u.Name, u.Email, u.EmailVerified, u.Picture, u.Role,
		u.PasswordHash, u.Disabled, u.UpstreamIssuer, u.UpstreamSubject, ts(u.UpdatedAt), u.OrgID, u.Sub)
}

// DeleteUser removes the user with their sessions, codes, tokens and tickets.
func (s *DB) DeleteUser(ctx context.Context, orgID, sub string, audit ...*domain.AuditEvent) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{
			`DELETE FROM session_clients WHERE org_id = ? AND sid IN (SELECT sid FROM sessions WHERE org_id = ? AND user_sub = ?)`,
		} {
			if _, err := s.exec(ctx, tx, q, orgID, orgID, sub); err != nil {
				return err
			}
		}
		for _, t := range []string{"sessions", "auth_codes", "tokens", "login_tickets"} {
			if _, err := s.exec(ctx, tx, `DELETE FROM `+t+` WHERE org_id = ? AND user_sub = ?`, orgID, sub); err != nil {
				return err
			}
		}
		if err := s.execOne(ctx, tx, `DELETE FROM users WHERE org_id = ? AND sub = ?`, orgID, sub); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, audit)
	})
}

// --- applications ---

const appCols = `org_id, client_id, name, secret_hash, public, redirect_uris, post_logout_redirect_uris, backchannel_logout_uri,
	grant_types, access_token_lifetime, id_token_lifetime, refresh_token_lifetime, id_token_alg, access_token_format, created_at, updated_at,
	refresh_token_reuse_interval`

func scanApp(row interface{ Scan(...any) error }) (*domain.Application, error) {
	var a domain.Application
	var redirects, postLogout, grants string
	var created, updated int64
	if err := row.Scan(&a.OrgID, &a.ClientID, &a.Name, &a.SecretHash, &a.Public, &redirects, &postLogout, &a.BackchannelLogoutURI,
		&grants, &a.AccessTokenLifetime, &a.IDTokenLifetime, &a.RefreshTokenLifetime, &a.IDTokenAlg, &a.AccessTokenFormat,
		&created, &updated, &a.RefreshTokenReuseInterval); err != nil {
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
	_, err := s.exec(ctx, x, `INSERT INTO apps (`+appCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.OrgID, a.ClientID, a.Name, a.SecretHash, a.Public, jsonText(nonNil(a.RedirectURIs)), jsonText(nonNil(a.PostLogoutRedirectURIs)),
		a.BackchannelLogoutURI, jsonText(nonNil(a.GrantTypes)), a.AccessTokenLifetime, a.IDTokenLifetime, a.RefreshTokenLifetime,
		a.IDTokenAlg, a.AccessTokenFormat, ts(a.CreatedAt), ts(a.UpdatedAt), a.RefreshTokenReuseInterval)
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
		return scanApp(s.db.queryRow(ctx, tx, s.q(`SELECT `+appCols+` FROM apps WHERE org_id = ? AND client_id = ?`+s.dialect.LockRow()), orgID, clientID))
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
		id_token_alg = ?, access_token_format = ?, updated_at = ?, refresh_token_reuse_interval = ? WHERE org_id = ? AND client_id = ?`,
		a.Name, a.SecretHash, a.Public, jsonText(nonNil(a.RedirectURIs)), jsonText(nonNil(a.PostLogoutRedirectURIs)),
		a.BackchannelLogoutURI, jsonText(nonNil(a.GrantTypes)), a.AccessTokenLifetime, a.IDTokenLifetime, a.RefreshTokenLifetime,
		a.IDTokenAlg, a.AccessTokenFormat, ts(a.UpdatedAt), a.RefreshTokenReuseInterval, a.OrgID, a.ClientID)
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

// --- signing keys ---

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
