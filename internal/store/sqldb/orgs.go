package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

// orgTables lists every organization-owned table, children first, so that
// DeleteOrg works whether or not the engine cascades foreign keys.
var orgTables = []string{
	"session_clients", "sessions", "auth_requests", "auth_codes", "tokens",
	"login_tickets", "audit_events", "signing_keys", "apps", "users", "api_keys",
	"backchannel_attempts", "backchannel_deliveries", "admin_tokens", "upstream_logins", "upstream_logouts",
	"upstream_connections", "scim_tokens", "group_members", "user_groups", "passkeys", "totp_factors", "recovery_codes", "mfa_flows",
	"seen_logout_tokens", "portal_sessions", "setup_tokens",
}

// unkeyedTables carry an org_id without a foreign key on PostgreSQL (its
// migrations 0014 and 0017): a row written in a race with its
// organization's deletion outlives it, unreachable, until it expires (all
// but audit events do) or an organization is created under the same id,
// which removes it first. Each table's primary key begins with org_id.
// Sessions (0019) are unkeyed too, but CreateOrg finds them another way.
var unkeyedTables = []string{"auth_codes", "tokens", "audit_events", "login_tickets", "auth_requests", "mfa_flows", "upstream_logins"}

// sessionsOfDeletedOrg deletes the sessions of an organization id (both
// arguments) only if DeleteOrg removed an organization under that id.
const sessionsOfDeletedOrg = `DELETE FROM sessions WHERE org_id = ? AND EXISTS (SELECT 1 FROM deleted_orgs WHERE id = ?)`

// SessionsOfDeletedOrg is CreateOrg's sweep of sessions, in the dialect's
// form, for tests that check its plan.
func (s *DB) SessionsOfDeletedOrg() string { return s.q(sessionsOfDeletedOrg) }

func (s *DB) CreateOrg(ctx context.Context, o *domain.Organization, key *domain.APIKey, keys []*domain.SigningKey, audit ...*domain.AuditEvent) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, `INSERT INTO orgs (id, name, settings, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
			o.ID, o.Name, jsonText(o.Settings), ts(o.CreatedAt), ts(o.UpdatedAt)); err != nil {
			return err
		}
		// Only a new organization gets here (a taken id failed above).
		for _, t := range unkeyedTables {
			if _, err := s.exec(ctx, tx, `DELETE FROM `+t+` WHERE org_id = ?`, o.ID); err != nil {
				return err
			}
		}
		// Sessions too, but no index of theirs begins with org_id: the
		// table is scanned only when the id is one DeleteOrg removed (the
		// EXISTS is decided once, before the scan).
		if _, err := s.exec(ctx, tx, sessionsOfDeletedOrg, o.ID, o.ID); err != nil {
			return err
		}
		if _, err := s.exec(ctx, tx, `DELETE FROM deleted_orgs WHERE id = ?`, o.ID); err != nil {
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
		return scanOrg(s.writes().queryRow(ctx, tx, s.q(`SELECT `+orgCols+` FROM orgs WHERE id = ?`+s.dialect.LockRow()), id))
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
	return s.writes().queryRow(ctx, tx, s.q(`SELECT id FROM orgs WHERE id = ?`+s.dialect.LockRow()), id).Scan(&got)
}

func (s *DB) DeleteOrg(ctx context.Context, id string, audit ...*domain.AuditEvent) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for _, t := range orgTables {
			if _, err := s.exec(ctx, tx, `DELETE FROM `+t+` WHERE org_id = ?`, id); err != nil {
				return err
			}
		}
		if err := s.execOne(ctx, tx, `DELETE FROM orgs WHERE id = ?`, id); err != nil {
			return err
		}
		if _, err := s.exec(ctx, tx, `INSERT INTO deleted_orgs (id) VALUES (?) ON CONFLICT (id) DO NOTHING`, id); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, audit)
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
