package directory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

// SearchUsers returns a page of the organization's users matching the
// page's filter, and how many match in all.
func (d *Directory) SearchUsers(ctx context.Context, orgID string, p store.Page) ([]*domain.User, int, error) {
	us, total, err := d.Store.SearchUsers(ctx, orgID, p)
	if err != nil {
		return nil, 0, fmt.Errorf("search users: %w", err)
	}
	return us, total, nil
}

// ChangedError refuses a change made on condition that the resource was
// still the version the caller had read: it changed since (UpdatedAt is
// its last change now).
type ChangedError struct{ UpdatedAt time.Time }

func (e *ChangedError) Error() string {
	return "the resource changed since the version the change was based on"
}

// checkUnchanged is nil when since is zero (no condition) or when updated,
// the resource's last change as stored, is still since (to the
// microsecond, as versions are shown).
func checkUnchanged(since, updated time.Time) error {
	if since.IsZero() || since.UnixMicro() == updated.UnixMicro() {
		return nil
	}
	return &ChangedError{UpdatedAt: updated}
}

// UpdateUserBySub changes the given fields of the user with this sub,
// atomically, renaming it when c.UserName is set. With since set, the
// change is made only if the user's last change is still since, checked
// in the change's transaction (else a *ChangedError). Disabling the user
// ends every session they have, the way a logout does (applications are
// notified).
func (d *Directory) UpdateUserBySub(ctx context.Context, a Actor, orgID, sub string, c UserChanges, since time.Time) (*domain.User, error) {
	hash, err := c.hashPassword(d.passwordParams())
	if err != nil {
		return nil, err
	}
	ev := d.event(orgID, a, "user.update", sub, map[string]string{"changed": c.fieldNames(), "sub": sub})
	u, err := d.Store.UpdateUser(ctx, orgID, sub, func(u *domain.User) error {
		if err := checkUnchanged(since, u.UpdatedAt); err != nil {
			return err
		}
		if c.UserName != nil && *c.UserName != u.UserName {
			ev.Detail["renamed_from"] = u.UserName
		}
		if c.Disabled != nil && *c.Disabled != u.Disabled {
			ev.Detail["enabled"] = fmt.Sprint(!*c.Disabled)
		}
		if err := c.apply(u, hash); err != nil {
			return err
		}
		u.UpdatedAt = d.now()
		ev.Target = u.UserName
		return nil
	}, ev)
	var changed *ChangedError
	switch {
	case errors.As(err, &changed):
		return nil, err
	case errors.Is(err, store.ErrConflict) && c.UserName != nil:
		return nil, userTaken(*c.UserName, orgID)
	case err != nil:
		return nil, notFound(err, "user with sub %q in organization %q", sub, orgID)
	}
	if c.Disabled != nil && *c.Disabled {
		if _, err := d.endSessions(ctx, a, u); err != nil {
			return u, fmt.Errorf("user %q was disabled, but ending their sessions failed: %w", u.UserName, err)
		}
	}
	return u, nil
}

// DeleteUserBySub ends the user's sessions the way a logout does
// (applications are notified), then removes the user. With since set, the
// user is removed only if their last change is still since, checked before
// the sessions end and again in the deletion's transaction (else a
// *ChangedError).
func (d *Directory) DeleteUserBySub(ctx context.Context, a Actor, orgID, sub string, since time.Time) error {
	u, err := d.GetUserBySub(ctx, orgID, sub)
	if err != nil {
		return err
	}
	if err := checkUnchanged(since, u.UpdatedAt); err != nil {
		return err
	}
	if _, err := d.endSessions(ctx, a, u); err != nil {
		return fmt.Errorf("delete user %q: end sessions: %w", u.UserName, err)
	}
	var check func(*domain.User) error
	if !since.IsZero() {
		check = func(u *domain.User) error { return checkUnchanged(since, u.UpdatedAt) }
	}
	err = d.Store.DeleteUser(ctx, orgID, sub, check, d.event(orgID, a, "user.delete", u.UserName, map[string]string{"sub": sub}))
	var changed *ChangedError
	if errors.As(err, &changed) {
		return err
	}
	if err != nil {
		return notFound(err, "user with sub %q in organization %q", sub, orgID)
	}
	return nil
}
