package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

// --- SCIM tokens ---

const scimTokenCols = `org_id, id, hash, description, created_at, expires_at, revoked_at, last_used_at`

func scanSCIMToken(row interface{ Scan(...any) error }) (*domain.SCIMToken, error) {
	var t domain.SCIMToken
	var created, expires, revoked, used int64
	if err := row.Scan(&t.OrgID, &t.ID, &t.Hash, &t.Description, &created, &expires, &revoked, &used); err != nil {
		return nil, err
	}
	t.CreatedAt, t.ExpiresAt, t.RevokedAt, t.LastUsedAt = tm(created), tm(expires), tm(revoked), tm(used)
	return &t, nil
}

func (s *DB) CreateSCIMToken(ctx context.Context, t *domain.SCIMToken, audit ...*domain.AuditEvent) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, `INSERT INTO scim_tokens (`+scimTokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			t.OrgID, t.ID, t.Hash, t.Description, ts(t.CreatedAt), ts(t.ExpiresAt), ts(t.RevokedAt), ts(t.LastUsedAt)); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, audit)
	})
}

func (s *DB) FindSCIMToken(ctx context.Context, orgID string, hash []byte) (*domain.SCIMToken, error) {
	t, err := scanSCIMToken(s.db.QueryRowContext(ctx, s.q(`SELECT `+scimTokenCols+` FROM scim_tokens WHERE org_id = ? AND hash = ?`), orgID, hash))
	return t, s.classify(err)
}

func (s *DB) ListSCIMTokens(ctx context.Context, orgID string) ([]*domain.SCIMToken, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+scimTokenCols+` FROM scim_tokens WHERE org_id = ? ORDER BY created_at, id`), orgID)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanSCIMToken)
}

func (s *DB) RevokeSCIMToken(ctx context.Context, orgID, id string, at time.Time, audit ...*domain.AuditEvent) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.execOne(ctx, tx, `UPDATE scim_tokens SET revoked_at = ? WHERE org_id = ? AND id = ? AND revoked_at = 0`, ts(at), orgID, id); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, audit)
	})
}

func (s *DB) TouchSCIMToken(ctx context.Context, orgID, id string, at time.Time) error {
	return s.execOne(ctx, s.db, `UPDATE scim_tokens SET last_used_at = ? WHERE org_id = ? AND id = ?`, ts(at), orgID, id)
}

// --- filters ---

type colKind int

const (
	kindText colKind = iota
	kindFold         // text compared case-insensitively: the column holds the folded value
	kindBool
	kindTime
	kindMember
)

// column is how one filter attribute maps onto a table.
type column struct {
	name string
	kind colKind
	// invert: the column holds the attribute's negation (active ↔ disabled).
	invert bool
}

var userColumns = map[string]column{
	store.AttrID:           {name: "sub", kind: kindText},
	store.AttrUserName:     {name: "user_name_fold", kind: kindFold},
	store.AttrExternalID:   {name: "external_id", kind: kindText},
	store.AttrEmail:        {name: "email_fold", kind: kindFold},
	store.AttrName:         {name: "name_fold", kind: kindFold},
	store.AttrActive:       {name: "disabled", kind: kindBool, invert: true},
	store.AttrCreated:      {name: "created_at", kind: kindTime},
	store.AttrLastModified: {name: "updated_at", kind: kindTime},
}

var groupColumns = map[string]column{
	store.AttrID:           {name: "id", kind: kindText},
	store.AttrDisplayName:  {name: "display_name_fold", kind: kindFold},
	store.AttrExternalID:   {name: "external_id", kind: kindText},
	store.AttrCreated:      {name: "created_at", kind: kindTime},
	store.AttrLastModified: {name: "updated_at", kind: kindTime},
	store.AttrMember:       {kind: kindMember},
}

// maxFilterNodes bounds the SQL a filter can become.
const maxFilterNodes = 200

// filterSQL builds a WHERE fragment for f; every value goes into args.
type filterSQL struct {
	orgID string
	cols  map[string]column
	args  []any
	nodes int
}

func invalidFilter(format string, a ...any) error {
	return fmt.Errorf("%w: %s", store.ErrInvalidFilter, fmt.Sprintf(format, a...))
}

func (b *filterSQL) build(f store.Filter) (string, error) {
	b.nodes++
	if b.nodes > maxFilterNodes {
		return "", invalidFilter("more than %d conditions", maxFilterNodes)
	}
	switch f := f.(type) {
	case store.And:
		return b.pair(f.Left, f.Right, "AND")
	case store.Or:
		return b.pair(f.Left, f.Right, "OR")
	case store.Not:
		inner, err := b.build(f.Filter)
		if err != nil {
			return "", err
		}
		return "NOT (" + inner + ")", nil
	case store.Compare:
		return b.compare(f)
	}
	return "", invalidFilter("unknown filter node %T", f)
}

func (b *filterSQL) pair(l, r store.Filter, op string) (string, error) {
	ls, err := b.build(l)
	if err != nil {
		return "", err
	}
	rs, err := b.build(r)
	if err != nil {
		return "", err
	}
	return "(" + ls + " " + op + " " + rs + ")", nil
}

var sqlOps = map[string]string{"eq": "=", "ne": "<>", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}

func (b *filterSQL) compare(c store.Compare) (string, error) {
	col, ok := b.cols[c.Attr]
	if !ok {
		return "", invalidFilter("attribute %q cannot be filtered on", c.Attr)
	}
	if c.Op == "pr" {
		switch col.kind {
		case kindText, kindFold:
			return col.name + " <> ''", nil
		case kindMember:
			b.args = append(b.args, b.orgID)
			return "id IN (SELECT group_id FROM group_members WHERE org_id = ?)", nil
		}
		return "1 = 1", nil // always present
	}
	switch col.kind {
	case kindText, kindFold:
		v, ok := c.Value.(string)
		if !ok {
			return "", invalidFilter("%s takes a string", c.Attr)
		}
		if !storableKey(v) {
			return "", invalidFilter("%s: the value is not valid text", c.Attr)
		}
		if col.kind == kindFold {
			v = strings.ToLower(v)
		}
		if op, ok := sqlOps[c.Op]; ok {
			b.args = append(b.args, v)
			return col.name + " " + op + " ?", nil
		}
		var pattern string
		switch c.Op {
		case "co":
			pattern = "%" + likeEscape(v) + "%"
		case "sw":
			pattern = likeEscape(v) + "%"
		case "ew":
			pattern = "%" + likeEscape(v)
		default:
			return "", invalidFilter("operator %q is not supported", c.Op)
		}
		b.args = append(b.args, pattern)
		return col.name + ` LIKE ? ESCAPE '\'`, nil
	case kindBool:
		v, ok := c.Value.(bool)
		if !ok {
			return "", invalidFilter("%s takes true or false", c.Attr)
		}
		if c.Op != "eq" && c.Op != "ne" {
			return "", invalidFilter("%s supports only eq, ne and pr", c.Attr)
		}
		if col.invert {
			v = !v
		}
		b.args = append(b.args, v)
		return col.name + " " + sqlOps[c.Op] + " ?", nil
	case kindTime:
		v, ok := c.Value.(time.Time)
		if !ok {
			return "", invalidFilter("%s takes a date-time", c.Attr)
		}
		op, ok := sqlOps[c.Op]
		if !ok {
			return "", invalidFilter("%s supports eq, ne, gt, ge, lt, le and pr", c.Attr)
		}
		b.args = append(b.args, ts(v))
		return col.name + " " + op + " ?", nil
	case kindMember:
		v, ok := c.Value.(string)
		if !ok || c.Op != "eq" {
			return "", invalidFilter("members supports only eq with a user id")
		}
		b.args = append(b.args, b.orgID, v)
		return "id IN (SELECT group_id FROM group_members WHERE org_id = ? AND user_sub = ?)", nil
	}
	return "", invalidFilter("attribute %q cannot be filtered on", c.Attr)
}

// search runs a filtered, paged query on table: the count, then the page.
func search[T any](ctx context.Context, s *DB, table, cols, order string, columns map[string]column, orgID string, p store.Page,
	scan func(interface{ Scan(...any) error }) (T, error)) ([]T, int, error) {
	b := &filterSQL{orgID: orgID, cols: columns, args: []any{orgID}}
	where := "org_id = ?"
	if p.Filter != nil {
		cond, err := b.build(p.Filter)
		if err != nil {
			return nil, 0, err
		}
		where += " AND " + cond
	}
	var total int
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM `+table+` WHERE `+where), b.args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	if p.Limit <= 0 || p.Offset >= total {
		return nil, total, nil
	}
	args := append(b.args, p.Limit, max(p.Offset, 0))
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+cols+` FROM `+table+` WHERE `+where+` ORDER BY `+order+` LIMIT ? OFFSET ?`), args...)
	if err != nil {
		return nil, 0, err
	}
	out, err := collect(rows, scan)
	return out, total, err
}

func (s *DB) SearchUsers(ctx context.Context, orgID string, p store.Page) ([]*domain.User, int, error) {
	return search(ctx, s, "users", userCols, "user_name_fold", userColumns, orgID, p, scanUser)
}

// --- groups ---

const groupCols = `org_id, id, display_name, external_id, created_at, updated_at`

func scanGroup(row interface{ Scan(...any) error }) (*domain.Group, error) {
	var g domain.Group
	var created, updated int64
	if err := row.Scan(&g.OrgID, &g.ID, &g.DisplayName, &g.ExternalID, &created, &updated); err != nil {
		return nil, err
	}
	g.CreatedAt, g.UpdatedAt = tm(created), tm(updated)
	return &g, nil
}

// groupMembers reads a group's members through x: the pool's database or
// a transaction.
func (s *DB) groupMembers(ctx context.Context, x rowsQuerier, orgID, id string) ([]string, error) {
	p := s.db
	if _, ok := x.(*sql.Tx); ok {
		p = s.writes()
	}
	rows, err := p.queryIn(ctx, x, s.q(`SELECT user_sub FROM group_members WHERE org_id = ? AND group_id = ? ORDER BY user_sub`), orgID, id)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r interface{ Scan(...any) error }) (string, error) {
		var v string
		return v, r.Scan(&v)
	})
}

func (s *DB) CreateGroup(ctx context.Context, g *domain.Group, audit ...*domain.AuditEvent) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, `INSERT INTO user_groups (`+groupCols+`, display_name_fold) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			g.OrgID, g.ID, g.DisplayName, g.ExternalID, ts(g.CreatedAt), ts(g.UpdatedAt), strings.ToLower(g.DisplayName)); err != nil {
			return err
		}
		if err := s.addMembers(ctx, tx, g.OrgID, g.ID, g.Members); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, audit)
	})
}

func (s *DB) addMembers(ctx context.Context, tx *sql.Tx, orgID, id string, subs []string) error {
	for _, sub := range subs {
		if _, err := s.exec(ctx, tx, `INSERT INTO group_members (org_id, group_id, user_sub) VALUES (?, ?, ?)`, orgID, id, sub); err != nil {
			return err
		}
	}
	return nil
}

func (s *DB) GetGroup(ctx context.Context, orgID, id string) (*domain.Group, error) {
	g, err := scanGroup(s.db.QueryRowContext(ctx, s.q(`SELECT `+groupCols+` FROM user_groups WHERE org_id = ? AND id = ?`), orgID, id))
	if err != nil {
		return nil, s.classify(err)
	}
	if g.Members, err = s.groupMembers(ctx, s.db.raw, orgID, id); err != nil {
		return nil, err
	}
	return g, nil
}

func (s *DB) SearchGroups(ctx context.Context, orgID string, p store.Page) ([]*domain.Group, int, error) {
	gs, total, err := search(ctx, s, "user_groups", groupCols, "display_name_fold", groupColumns, orgID, p, scanGroup)
	if err != nil {
		return nil, 0, err
	}
	for _, g := range gs {
		if g.Members, err = s.groupMembers(ctx, s.db.raw, orgID, g.ID); err != nil {
			return nil, 0, err
		}
	}
	return gs, total, nil
}

func (s *DB) UpdateGroup(ctx context.Context, orgID, id string, fn func(g *domain.Group) error, audit ...*domain.AuditEvent) (*domain.Group, error) {
	var old []string
	return update(ctx, s, func(tx *sql.Tx) (*domain.Group, error) {
		g, err := scanGroup(s.writes().queryRow(ctx, tx, s.q(`SELECT `+groupCols+` FROM user_groups WHERE org_id = ? AND id = ?`+s.dialect.LockRow()), orgID, id))
		if err != nil {
			return nil, err
		}
		if g.Members, err = s.groupMembers(ctx, tx, orgID, id); err != nil {
			return nil, err
		}
		old = append([]string(nil), g.Members...)
		return g, nil
	}, func(g *domain.Group) error {
		if err := fn(g); err != nil {
			return err
		}
		g.OrgID, g.ID = orgID, id
		return nil
	}, func(tx *sql.Tx, g *domain.Group) error {
		if err := s.execOne(ctx, tx, `UPDATE user_groups SET display_name = ?, display_name_fold = ?, external_id = ?, updated_at = ? WHERE org_id = ? AND id = ?`,
			g.DisplayName, strings.ToLower(g.DisplayName), g.ExternalID, ts(g.UpdatedAt), orgID, id); err != nil {
			return err
		}
		return s.replaceMembers(ctx, tx, orgID, id, old, g.Members)
	}, audit)
}

// replaceMembers changes the stored members from old to members, row by
// row for the difference only (a group may be large; changes are small).
func (s *DB) replaceMembers(ctx context.Context, tx *sql.Tx, orgID, id string, old, members []string) error {
	had := make(map[string]bool, len(old))
	for _, sub := range old {
		had[sub] = true
	}
	keep := make(map[string]bool, len(members))
	var add []string
	for _, sub := range members {
		if !had[sub] && !keep[sub] {
			add = append(add, sub)
		}
		keep[sub] = true
	}
	for _, sub := range old {
		if !keep[sub] {
			if _, err := s.exec(ctx, tx, `DELETE FROM group_members WHERE org_id = ? AND group_id = ? AND user_sub = ?`, orgID, id, sub); err != nil {
				return err
			}
		}
	}
	return s.addMembers(ctx, tx, orgID, id, add)
}

func (s *DB) DeleteGroup(ctx context.Context, orgID, id string, check func(g *domain.Group) error, audit ...*domain.AuditEvent) error {
	return checkedError(s.inTx(ctx, func(tx *sql.Tx) error {
		if check != nil {
			g, err := scanGroup(s.writes().queryRow(ctx, tx, s.q(`SELECT `+groupCols+` FROM user_groups WHERE org_id = ? AND id = ?`+s.dialect.LockRow()), orgID, id))
			if err != nil {
				return err
			}
			if err := check(g); err != nil {
				return &updateError{err}
			}
		}
		if _, err := s.exec(ctx, tx, `DELETE FROM group_members WHERE org_id = ? AND group_id = ?`, orgID, id); err != nil {
			return err
		}
		if err := s.execOne(ctx, tx, `DELETE FROM user_groups WHERE org_id = ? AND id = ?`, orgID, id); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, audit)
	}))
}

func (s *DB) ListUserGroups(ctx context.Context, orgID, sub string) ([]*domain.Group, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+groupCols+` FROM user_groups WHERE org_id = ? AND id IN
		(SELECT group_id FROM group_members WHERE org_id = ? AND user_sub = ?) ORDER BY display_name_fold`), orgID, orgID, sub)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanGroup)
}
