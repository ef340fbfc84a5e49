package directory

import (
	"context"
	"errors"
	"fmt"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

// UserSignout ends every session of a user with the normal single logout:
// tokens revoked, back-channel logout notifications queued.
type UserSignout interface {
	EndUserSessions(ctx context.Context, orgID, sub string) error
}

func (d *Directory) signout(ctx context.Context, orgID, sub string) error {
	if d.Signout == nil {
		return nil
	}
	if err := d.Signout.EndUserSessions(ctx, orgID, sub); err != nil {
		return fmt.Errorf("end sessions of %q: %w", sub, err)
	}
	return nil
}

// ConflictError is a FieldError about a value that must be unique and is
// taken; errors.Is(err, store.ErrConflict) holds for it, so surfaces that
// answer conflicts differently (SCIM's 409 uniqueness) can tell.
type ConflictError struct{ *domain.FieldError }

func (e *ConflictError) Unwrap() []error { return []error{e.FieldError, store.ErrConflict} }

func userNameTaken(orgID, userName string) error {
	fe, _ := domain.AsFieldError(domain.Invalid("userName", "a user named %q already exists in %q (userNames are case-insensitive)", userName, orgID))
	return &ConflictError{fe}
}

// GetUserBySub returns the user with this sub; store.ErrNotFound if the
// organization has none.
func (d *Directory) GetUserBySub(ctx context.Context, orgID, sub string) (*domain.User, error) {
	u, err := d.Store.GetUser(ctx, orgID, sub)
	if err != nil {
		return nil, fmt.Errorf("user %q: %w", sub, err)
	}
	return u, nil
}

// SearchUsers returns a page of the organization's users matching the
// page's filter, and how many match in all.
func (d *Directory) SearchUsers(ctx context.Context, orgID string, p store.Page) ([]*domain.User, int, error) {
	us, total, err := d.Store.SearchUsers(ctx, orgID, p)
	if err != nil {
		return nil, 0, fmt.Errorf("search users: %w", err)
	}
	return us, total, nil
}

// UpdateUserBySub changes the given fields of the user with this sub,
// renaming it when c.UserName is set. Disabling the user ends their
// sessions with the normal single logout.
func (d *Directory) UpdateUserBySub(ctx context.Context, a Actor, orgID, sub string, c UserChanges) (*domain.User, error) {
	u, err := d.Store.GetUser(ctx, orgID, sub)
	if err != nil {
		return nil, fmt.Errorf("user %q: %w", sub, err)
	}
	before := *u
	if err := c.apply(u, d.passwordParams()); err != nil {
		return nil, err
	}
	u.UpdatedAt = d.now()
	if err := d.Store.UpdateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, userNameTaken(orgID, u.UserName)
		}
		return nil, fmt.Errorf("update user %q: %w", sub, err)
	}
	detail := map[string]string{"sub": sub}
	if before.UserName != u.UserName {
		detail["renamed_from"] = before.UserName
	}
	if before.Disabled != u.Disabled {
		detail["enabled"] = fmt.Sprint(!u.Disabled)
	}
	d.audit(ctx, orgID, a, "user.update", u.UserName, "ok", detail)
	if u.Disabled && c.Disabled != nil {
		if err := d.signout(ctx, orgID, u.Sub); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// DeleteUserBySub ends the user's sessions with the normal single logout,
// then removes the user.
func (d *Directory) DeleteUserBySub(ctx context.Context, a Actor, orgID, sub string) error {
	u, err := d.Store.GetUser(ctx, orgID, sub)
	if err != nil {
		return fmt.Errorf("user %q: %w", sub, err)
	}
	if err := d.signout(ctx, orgID, sub); err != nil {
		return err
	}
	if err := d.Store.DeleteUser(ctx, orgID, sub); err != nil {
		return fmt.Errorf("delete user %q: %w", u.UserName, err)
	}
	d.audit(ctx, orgID, a, "user.delete", u.UserName, "ok", map[string]string{"sub": sub})
	return nil
}
