package postgres

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// ChangeChannel is where the triggers of migrations 0012 and 0013
// announce every change of an organization, an application or a user.
const ChangeChannel = "latchkey_changes"

// ChangeFollower is told of announced changes (internal/store/cache).
type ChangeFollower interface {
	// Changed: the organization (clientID "") or one of its applications changed.
	Changed(orgID, clientID string)
	// UserChanged: one of the organization's users changed.
	UserChanged(orgID, sub string)
	// Listening: from now on every change is announced.
	Listening()
	// Lost: changes may go unannounced until the next Listening.
	Lost()
}

// FollowChanges listens on ChangeChannel over its own connection to url
// until ctx ends, passing this schema's announcements to f. A lost
// connection is reported (Lost) and re-established every second.
func FollowChanges(ctx context.Context, url string, f ChangeFollower, log *slog.Logger) {
	defer f.Lost()
	for ctx.Err() == nil {
		err := listen(ctx, url, f)
		f.Lost()
		if ctx.Err() != nil {
			return
		}
		log.Warn("lost the database's change announcements; serving organizations, applications and users uncached until they are back", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func listen(ctx context.Context, url string, f ChangeFollower) error {
	cctx, cancel := context.WithTimeout(ctx, DefaultConnectTimeout)
	conn, err := pgx.Connect(cctx, url)
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var schema string
	if err := conn.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+ChangeChannel); err != nil {
		return err
	}
	f.Listening()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		var c struct{ Schema, Org, App, User string }
		if json.Unmarshal([]byte(n.Payload), &c) != nil || c.Schema != schema {
			continue
		}
		if c.User != "" {
			f.UserChanged(c.Org, c.User)
			continue
		}
		f.Changed(c.Org, c.App)
	}
}
