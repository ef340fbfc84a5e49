package sqldb

import (
	"context"
	"time"
)

// purges lists what PurgeExpired deletes, children before parents. Each
// statement takes the cutoff for every ? it has.
var purges = []string{
	`DELETE FROM auth_requests WHERE expires_at < ?`,
	`DELETE FROM auth_codes WHERE expires_at < ?`,
	`DELETE FROM tokens WHERE expires_at < ?`,
	`DELETE FROM login_tickets WHERE expires_at < ?`,
	`DELETE FROM upstream_logins WHERE expires_at < ?`,
	`DELETE FROM upstream_logouts WHERE expires_at < ?`,
	`DELETE FROM mfa_flows WHERE expires_at < ?`,
	`DELETE FROM seen_logout_tokens WHERE expires_at < ?`,
	`DELETE FROM portal_sessions WHERE expires_at < ? OR (ended_at <> 0 AND ended_at < ?) OR last_seen_at < ?`,
	`DELETE FROM setup_tokens WHERE expires_at < ?`,
	`DELETE FROM rate_limits WHERE window_start < ?`,
	`DELETE FROM backchannel_attempts WHERE attempted_at < ?`,
	`DELETE FROM backchannel_deliveries WHERE (delivered_at <> 0 AND delivered_at < ?) OR (gave_up_at <> 0 AND gave_up_at < ?)`,
	`DELETE FROM session_clients WHERE EXISTS (SELECT 1 FROM sessions s WHERE s.org_id = session_clients.org_id AND s.sid = session_clients.sid
		AND (s.expires_at < ? OR (s.ended_at <> 0 AND s.ended_at < ?)))`,
	`DELETE FROM sessions WHERE expires_at < ? OR (ended_at <> 0 AND ended_at < ?)`,
}

// purgeTimeout bounds each purge statement instead of the request timeout:
// a day's expired rows of a busy deployment take longer than a request may.
const purgeTimeout = 10 * time.Minute

func (s *DB) PurgeExpired(ctx context.Context, before time.Time) (int64, error) {
	p := *s.writes()
	if p.timeout > 0 {
		p.timeout = purgeTimeout
	}
	var total int64
	cutoff := ts(before)
	for _, q := range purges {
		args := make([]any, 0, 2)
		for i := 0; i < len(q); i++ {
			if q[i] == '?' {
				args = append(args, cutoff)
			}
		}
		res, err := s.exec(ctx, &p, q, args...)
		if err != nil {
			return total, err
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, nil
}
