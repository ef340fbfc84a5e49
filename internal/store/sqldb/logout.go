package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

// --- back-channel logout outbox ---

const deliveryCols = `org_id, id, client_id, user_sub, sid, created_at, next_attempt_at, attempts, last_error, delivered_at, gave_up_at`

func scanDelivery(row interface{ Scan(...any) error }) (*domain.BackchannelDelivery, error) {
	var d domain.BackchannelDelivery
	var created, next, delivered, gaveUp int64
	if err := row.Scan(&d.OrgID, &d.ID, &d.ClientID, &d.UserSub, &d.SID, &created, &next, &d.Attempts, &d.LastError, &delivered, &gaveUp); err != nil {
		return nil, err
	}
	d.CreatedAt, d.NextAttemptAt, d.DeliveredAt, d.GaveUpAt = tm(created), tm(next), tm(delivered), tm(gaveUp)
	return &d, nil
}

func (s *DB) EnqueueBackchannel(ctx context.Context, ds ...*domain.BackchannelDelivery) error {
	return s.inTx(ctx, func(tx *sql.Tx) error { return s.insertDeliveries(ctx, tx, ds) })
}

func (s *DB) insertDeliveries(ctx context.Context, x querier, ds []*domain.BackchannelDelivery) error {
	for _, d := range ds {
		if _, err := s.exec(ctx, x, `INSERT INTO backchannel_deliveries (`+deliveryCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			d.OrgID, d.ID, d.ClientID, d.UserSub, d.SID, ts(d.CreatedAt), ts(d.NextAttemptAt), d.Attempts, d.LastError,
			ts(d.DeliveredAt), ts(d.GaveUpAt)); err != nil {
			return err
		}
	}
	return nil
}

// EndSessionAndNotify locks the session row, so that of two nodes ending
// one session only the first queues notifications.
func (s *DB) EndSessionAndNotify(ctx context.Context, orgID, sid string, at time.Time, plan store.LogoutPlan) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		sess, err := scanSession(tx.QueryRowContext(ctx, s.q(`SELECT `+sessionCols+` FROM sessions WHERE org_id = ? AND sid = ?`+s.dialect.LockRow()), orgID, sid))
		if err != nil {
			return err
		}
		if !sess.EndedAt.IsZero() {
			return store.ErrNotFound
		}
		if err := s.execOne(ctx, tx, `UPDATE sessions SET ended_at = ? WHERE org_id = ? AND sid = ? AND ended_at = 0`, ts(at), orgID, sid); err != nil {
			return err
		}
		sess.EndedAt = at
		if err := s.revokeSessionTokens(ctx, tx, orgID, sid, at); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, s.q(`SELECT `+prefixed("a.", appCols)+` FROM session_clients c JOIN apps a ON a.org_id = c.org_id AND a.client_id = c.client_id
			WHERE c.org_id = ? AND c.sid = ? ORDER BY c.first_at, c.client_id`), orgID, sid)
		if err != nil {
			return err
		}
		apps, err := collect(rows, scanApp)
		if err != nil {
			return err
		}
		deliveries, event := plan(sess, apps)
		if err := s.insertDeliveries(ctx, tx, deliveries); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, []*domain.AuditEvent{event})
	})
}

// prefixed qualifies each column of a column list with p ("a.").
func prefixed(p, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

func (s *DB) ClaimBackchannel(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*domain.BackchannelDelivery, error) {
	// Candidates come from every organization (the worker serves them all);
	// each is then claimed by its own primary key.
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+deliveryCols+` FROM backchannel_deliveries
		WHERE delivered_at = 0 AND gave_up_at = 0 AND next_attempt_at <= ? AND locked_until <= ? ORDER BY next_attempt_at LIMIT ?`),
		ts(now), ts(now), limit)
	if err != nil {
		return nil, err
	}
	candidates, err := collect(rows, scanDelivery)
	if err != nil {
		return nil, err
	}
	var claimed []*domain.BackchannelDelivery
	for _, d := range candidates {
		// The row must still be as read: a worker that claimed and finished
		// it since has released the lock but moved attempts and the due time.
		err := s.execOne(ctx, s.db, `UPDATE backchannel_deliveries SET locked_until = ? WHERE org_id = ? AND id = ?
			AND delivered_at = 0 AND gave_up_at = 0 AND locked_until <= ? AND next_attempt_at <= ? AND attempts = ?`,
			ts(now.Add(lease)), d.OrgID, d.ID, ts(now), ts(now), d.Attempts)
		if errors.Is(err, store.ErrNotFound) {
			continue // another node took it
		}
		if err != nil {
			return nil, err
		}
		claimed = append(claimed, d)
	}
	return claimed, nil
}

func (s *DB) FinishBackchannelAttempt(ctx context.Context, d *domain.BackchannelDelivery, a *domain.BackchannelAttempt) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, `INSERT INTO backchannel_attempts (org_id, delivery_id, attempt, attempted_at, status, error) VALUES (?, ?, ?, ?, ?, ?)`,
			a.OrgID, a.DeliveryID, a.Attempt, ts(a.At), a.Status, a.Error); err != nil {
			return err
		}
		return s.execOne(ctx, tx, `UPDATE backchannel_deliveries SET attempts = ?, last_error = ?, next_attempt_at = ?, delivered_at = ?,
			gave_up_at = ?, locked_until = 0 WHERE org_id = ? AND id = ?`,
			d.Attempts, d.LastError, ts(d.NextAttemptAt), ts(d.DeliveredAt), ts(d.GaveUpAt), d.OrgID, d.ID)
	})
}

func (s *DB) ListBackchannel(ctx context.Context, orgID, sid string) ([]*domain.BackchannelDelivery, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+deliveryCols+` FROM backchannel_deliveries WHERE org_id = ? AND sid = ? ORDER BY created_at, id`), orgID, sid)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanDelivery)
}

func (s *DB) ListBackchannelAttempts(ctx context.Context, orgID, deliveryID string) ([]*domain.BackchannelAttempt, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT org_id, delivery_id, attempt, attempted_at, status, error FROM backchannel_attempts
		WHERE org_id = ? AND delivery_id = ? ORDER BY attempt`), orgID, deliveryID)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r interface{ Scan(...any) error }) (*domain.BackchannelAttempt, error) {
		var a domain.BackchannelAttempt
		var at int64
		if err := r.Scan(&a.OrgID, &a.DeliveryID, &a.Attempt, &at, &a.Status, &a.Error); err != nil {
			return nil, err
		}
		a.At = tm(at)
		return &a, nil
	})
}

// --- admin API tokens ---

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
