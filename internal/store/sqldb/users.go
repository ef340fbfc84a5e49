package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

const userCols = `org_id, sub, user_name, name, email, email_verified, picture, role, password_hash, disabled, upstream_issuer, upstream_subject, created_at, updated_at, external_id, profile`

func scanUser(row interface{ Scan(...any) error }) (*domain.User, error) {
	var u domain.User
	var created, updated int64
	var profile string
	if err := row.Scan(&u.OrgID, &u.Sub, &u.UserName, &u.Name, &u.Email, &u.EmailVerified, &u.Picture, &u.Role,
		&u.PasswordHash, &u.Disabled, &u.UpstreamIssuer, &u.UpstreamSubject, &created, &updated, &u.ExternalID, &profile); err != nil {
		return nil, err
	}
	var p userProfile
	if err := json.Unmarshal([]byte(profile), &p); err != nil {
		return nil, fmt.Errorf("decode profile of user %q: %w", u.Sub, err)
	}
	u.GivenName, u.FamilyName, u.Enterprise = p.GivenName, p.FamilyName, p.EnterpriseAttrs
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
	_, err := s.exec(ctx, x, `INSERT INTO users (`+userCols+`, user_name_fold, search_fold, name_fold, email_fold)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.OrgID, u.Sub, u.UserName, u.Name, u.Email, u.EmailVerified, u.Picture, u.Role, u.PasswordHash, u.Disabled,
		u.UpstreamIssuer, u.UpstreamSubject, ts(u.CreatedAt), ts(u.UpdatedAt), u.ExternalID, jsonText(profileOf(u)),
		domain.FoldUserName(u.UserName), searchFold(u), strings.ToLower(u.Name), strings.ToLower(u.Email))
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
		// "\n" is the field separator and no field holds it; no text
		// holds NUL (PostgreSQL refuses it in a parameter).
		if strings.Contains(f.Query, "\n") || !storableKey(f.Query) {
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

// userProfile is the profile column: what a directory sends beyond the
// columns every surface uses.
type userProfile struct {
	GivenName  string `json:"givenName,omitempty"`
	FamilyName string `json:"familyName,omitempty"`
	domain.EnterpriseAttrs
}

func profileOf(u *domain.User) userProfile {
	return userProfile{GivenName: u.GivenName, FamilyName: u.FamilyName, EnterpriseAttrs: u.Enterprise}
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
		return scanUser(s.writes().queryRow(ctx, tx, s.q(`SELECT `+userCols+` FROM users WHERE org_id = ? AND sub = ?`+s.dialect.LockRow()), orgID, sub))
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
		password_hash = ?, disabled = ?, upstream_issuer = ?, upstream_subject = ?, updated_at = ?,
		external_id = ?, profile = ?, name_fold = ?, email_fold = ? WHERE org_id = ? AND sub = ?`,
		u.UserName, domain.FoldUserName(u.UserName), searchFold(u), u.Name, u.Email, u.EmailVerified, u.Picture, u.Role,
		u.PasswordHash, u.Disabled, u.UpstreamIssuer, u.UpstreamSubject, ts(u.UpdatedAt),
		u.ExternalID, jsonText(profileOf(u)), strings.ToLower(u.Name), strings.ToLower(u.Email), u.OrgID, u.Sub)
}

// DeleteUser removes the user with their sessions, codes, tokens and tickets.
func (s *DB) DeleteUser(ctx context.Context, orgID, sub string, check func(u *domain.User) error, audit ...*domain.AuditEvent) error {
	return checkedError(s.inTx(ctx, func(tx *sql.Tx) error {
		if check != nil {
			u, err := scanUser(s.writes().queryRow(ctx, tx, s.q(`SELECT `+userCols+` FROM users WHERE org_id = ? AND sub = ?`+s.dialect.LockRow()), orgID, sub))
			if err != nil {
				return err
			}
			if err := check(u); err != nil {
				return &updateError{err}
			}
		}
		for _, q := range []string{
			`DELETE FROM session_clients WHERE org_id = ? AND sid IN (SELECT sid FROM sessions WHERE org_id = ? AND user_sub = ?)`,
		} {
			if _, err := s.exec(ctx, tx, q, orgID, orgID, sub); err != nil {
				return err
			}
		}
		for _, t := range []string{"sessions", "auth_codes", "tokens", "login_tickets", "group_members", "passkeys", "totp_factors", "recovery_codes", "mfa_flows"} {
			if _, err := s.exec(ctx, tx, `DELETE FROM `+t+` WHERE org_id = ? AND user_sub = ?`, orgID, sub); err != nil {
				return err
			}
		}
		if err := s.execOne(ctx, tx, `DELETE FROM users WHERE org_id = ? AND sub = ?`, orgID, sub); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, audit)
	}))
}
