package directory

import (
	"context"
	"errors"
	"fmt"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

// SessionEnder runs the normal single logout of one SSO session (tokens
// revoked, back-channel logout queued for every participating application).
type SessionEnder interface {
	EndSession(ctx context.Context, orgID, sid string) error
}

// ListUserSessions returns the user's sessions that are still active.
func (d *Directory) ListUserSessions(ctx context.Context, orgID, userName string) ([]*domain.Session, error) {
	u, err := d.Store.GetUserByName(ctx, orgID, userName)
	if err != nil {
		return nil, fmt.Errorf("user %q: %w", userName, err)
	}
	all, err := d.Store.ListUserSessions(ctx, orgID, u.Sub)
	if err != nil {
		return nil, fmt.Errorf("sessions of %q: %w", userName, err)
	}
	now := d.now()
	var out []*domain.Session
	for _, s := range all {
		if s.Active(now) {
			out = append(out, s)
		}
	}
	return out, nil
}

// EndUserSession ends one of the user's sessions through the normal
// logout. A sid that is not the user's is ErrNotFound.
func (d *Directory) EndUserSession(ctx context.Context, a Actor, end SessionEnder, orgID, userName, sid string) error {
	u, err := d.Store.GetUserByName(ctx, orgID, userName)
	if err != nil {
		return fmt.Errorf("user %q: %w", userName, err)
	}
	s, err := d.Store.GetSession(ctx, orgID, sid)
	if err != nil || s.UserSub != u.Sub {
		return fmt.Errorf("session of %q: %w", userName, store.ErrNotFound)
	}
	if err := end.EndSession(ctx, orgID, sid); err != nil {
		return fmt.Errorf("end session of %q: %w", userName, err)
	}
	d.audit(ctx, orgID, a, "user.session.end", u.UserName, "ok", map[string]string{"sid": sid})
	return nil
}

// EndUserSessions ends every active session of the user; it returns how many.
func (d *Directory) EndUserSessions(ctx context.Context, a Actor, end SessionEnder, orgID, userName string) (int, error) {
	sessions, err := d.ListUserSessions(ctx, orgID, userName)
	if err != nil {
		return 0, err
	}
	for _, s := range sessions {
		if err := end.EndSession(ctx, orgID, s.SID); err != nil {
			return 0, fmt.Errorf("end session of %q: %w", userName, err)
		}
	}
	d.audit(ctx, orgID, a, "user.session.end_all", userName, "ok", map[string]string{"sessions": fmt.Sprint(len(sessions))})
	return len(sessions), nil
}

// UnlinkUpstream forgets the upstream identity linked to the user, so the
// next federated login links whichever upstream subject signs in.
func (d *Directory) UnlinkUpstream(ctx context.Context, a Actor, orgID, userName string) (*domain.User, error) {
	u, err := d.Store.GetUserByName(ctx, orgID, userName)
	if err != nil {
		return nil, fmt.Errorf("user %q: %w", userName, err)
	}
	if u.UpstreamIssuer == "" && u.UpstreamSubject == "" {
		return nil, domain.Invalid("upstream", "%q has no upstream link", u.UserName)
	}
	old := u.UpstreamIssuer + " " + u.UpstreamSubject
	u.UpstreamIssuer, u.UpstreamSubject, u.UpdatedAt = "", "", d.now()
	if err := d.Store.UpdateUser(ctx, u); err != nil {
		return nil, fmt.Errorf("unlink %q: %w", userName, err)
	}
	d.audit(ctx, orgID, a, "user.upstream.unlink", u.UserName, "ok", map[string]string{"was": old})
	return u, nil
}

var _ = errors.Is
