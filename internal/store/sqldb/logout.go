package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"maps"
	"slices"
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
		sess, err := scanSession(s.writes().queryRow(ctx, tx, s.q(s.sessionByID+s.dialect.LockRow()), orgID, sid))
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
		rows, err := s.writes().queryIn(ctx, tx, s.q(`SELECT `+prefixed("a.", appCols)+` FROM session_clients c JOIN apps a ON a.org_id = c.org_id AND a.client_id = c.client_id
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

// interruptedAttempt is the result given to an attempt that was claimed but
// never finished: its worker stopped or lost the lease before recording one.
const interruptedAttempt = "interrupted: the sending worker stopped before recording a result"

func (s *DB) ClaimBackchannel(ctx context.Context, c store.BackchannelClaim) ([]*domain.BackchannelDelivery, error) {
	if c.Limit <= 0 {
		return nil, nil
	}
	held := maps.Clone(c.Held)
	if held == nil {
		held = map[string]int{}
	}
	// Candidates come from every organization (the worker serves them all),
	// leaving out those the worker already holds its cap of; each is then
	// claimed by its own primary key.
	query := `SELECT ` + deliveryCols + ` FROM backchannel_deliveries
		WHERE delivered_at = 0 AND gave_up_at = 0 AND next_attempt_at <= ? AND locked_until <= ?`
	args := []any{ts(c.Now), ts(c.Now)}
	if c.PerOrg > 0 {
		for _, org := range slices.Sorted(maps.Keys(held)) {
			if held[org] >= c.PerOrg {
				query += ` AND org_id <> ?`
				args = append(args, org)
			}
		}
	}
	// Read more than the limit so that one organization's backlog does not
	// fill the whole window when it is capped.
	query += ` ORDER BY next_attempt_at LIMIT ?`
	args = append(args, 4*c.Limit)
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, err
	}
	candidates, err := collect(rows, scanDelivery)
	if err != nil {
		return nil, err
	}
	var claimed []*domain.BackchannelDelivery
	for _, d := range candidates {
		if len(claimed) == c.Limit {
			break
		}
		if c.PerOrg > 0 && held[d.OrgID] >= c.PerOrg {
			continue
		}
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			// The row must still be as read: a worker that claimed it since
			// moved attempts, and one that finished it moved the due time.
			if err := s.execOne(ctx, tx, `UPDATE backchannel_deliveries SET locked_until = ?, lease_owner = ?, attempts = attempts + 1
				WHERE org_id = ? AND id = ? AND delivered_at = 0 AND gave_up_at = 0 AND locked_until <= ? AND next_attempt_at <= ? AND attempts = ?`,
				ts(c.Now.Add(c.Lease)), c.Owner, d.OrgID, d.ID, ts(c.Now), ts(c.Now), d.Attempts); err != nil {
				return err
			}
			if _, err := s.exec(ctx, tx, `UPDATE backchannel_attempts SET error = ? WHERE org_id = ? AND delivery_id = ? AND status = 0 AND error = ''`,
				interruptedAttempt, d.OrgID, d.ID); err != nil {
				return err
			}
			_, err := s.exec(ctx, tx, `INSERT INTO backchannel_attempts (org_id, delivery_id, attempt, attempted_at, status, error) VALUES (?, ?, ?, ?, 0, '')`,
				d.OrgID, d.ID, d.Attempts+1, ts(c.Now))
			return err
		})
		if errors.Is(err, store.ErrNotFound) {
			continue // another worker took it
		}
		if err != nil {
			return claimed, err
		}
		d.Attempts++
		held[d.OrgID]++
		claimed = append(claimed, d)
	}
	return claimed, nil
}

func (s *DB) FinishBackchannelAttempt(ctx context.Context, owner string, d *domain.BackchannelDelivery, a *domain.BackchannelAttempt) error {
	lost := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// The result of a real send is always kept, even when the lease is gone.
		if err := s.execOne(ctx, tx, `UPDATE backchannel_attempts SET attempted_at = ?, status = ?, error = ? WHERE org_id = ? AND delivery_id = ? AND attempt = ?`,
			ts(a.At), a.Status, a.Error, a.OrgID, a.DeliveryID, a.Attempt); err != nil {
			return err
		}
		err := s.execOne(ctx, tx, `UPDATE backchannel_deliveries SET last_error = ?, next_attempt_at = ?, delivered_at = ?,
			gave_up_at = ?, locked_until = 0, lease_owner = '' WHERE org_id = ? AND id = ? AND lease_owner = ? AND attempts = ?`,
			d.LastError, ts(d.NextAttemptAt), ts(d.DeliveredAt), ts(d.GaveUpAt), d.OrgID, d.ID, owner, a.Attempt)
		if errors.Is(err, store.ErrNotFound) {
			lost = true
			return nil
		}
		return err
	})
	if err == nil && lost {
		return store.ErrLeaseLost
	}
	return err
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
