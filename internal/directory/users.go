package directory

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/password"
	"github.com/latchkey/latchkey/internal/store"
)

// UserChanges are the fields a create or update sets; nil leaves a field as
// it is (on create: empty, role USER).
type UserChanges struct {
	// UserName renames the user (update only; create takes the name apart).
	UserName      *string
	Name          *string
	Email         *string
	EmailVerified *bool
	Picture       *string
	Role          *string
	Disabled      *bool
	// Password is a new password in clear; it is validated and hashed.
	Password *string
	// ClearPassword removes the password (the user can then only sign in
	// through the platform or an upstream IdP).
	ClearPassword bool
	// ExternalID is the provisioning directory's id for the user.
	ExternalID *string
	// Enterprise replaces the enterprise extension attributes.
	Enterprise *domain.EnterpriseAttrs
	// GivenName and FamilyName are the parts of the name, when known.
	GivenName  *string
	FamilyName *string
}

func (c UserChanges) apply(u *domain.User, params password.Params) error {
	if c.UserName != nil {
		u.UserName = *c.UserName
	}
	if c.ExternalID != nil {
		u.ExternalID = *c.ExternalID
	}
	if c.Enterprise != nil {
		u.Enterprise = *c.Enterprise
	}
	if c.GivenName != nil {
		u.GivenName = *c.GivenName
	}
	if c.FamilyName != nil {
		u.FamilyName = *c.FamilyName
	}
	if c.Name != nil {
		u.Name = *c.Name
	}
	if c.Email != nil {
		u.Email = *c.Email
	}
	if c.EmailVerified != nil {
		u.EmailVerified = *c.EmailVerified
	}
	if c.Picture != nil {
		u.Picture = *c.Picture
	}
	if c.Role != nil {
		u.Role = *c.Role
	}
	if c.Disabled != nil {
		u.Disabled = *c.Disabled
	}
	if err := u.Validate(); err != nil {
		return err
	}
	if c.ClearPassword {
		u.PasswordHash = ""
	}
	if c.Password != nil {
		if err := password.Validate(*c.Password); err != nil {
			return domain.Invalid("password", "%s", err.Error())
		}
		h, err := password.Hash(*c.Password, params)
		if err != nil {
			return err
		}
		u.PasswordHash = h
	}
	return nil
}

// CreateUser creates a user with a new random sub.
func (d *Directory) CreateUser(ctx context.Context, a Actor, orgID, userName string, c UserChanges) (*domain.User, error) {
	now := d.now()
	u := &domain.User{OrgID: orgID, Sub: uuid.NewString(), UserName: userName, Role: domain.RoleUser, CreatedAt: now, UpdatedAt: now}
	if err := c.apply(u, d.passwordParams()); err != nil {
		return nil, err
	}
	if _, err := d.Store.GetOrg(ctx, orgID); err != nil {
		return nil, fmt.Errorf("organization %q: %w", orgID, err)
	}
	if err := d.Store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, userNameTaken(orgID, userName)
		}
		return nil, fmt.Errorf("create user: %w", err)
	}
	d.audit(ctx, orgID, a, "user.create", userName, "ok", nil)
	return u, nil
}

// UpdateUser changes the given fields of the user named userName.
func (d *Directory) UpdateUser(ctx context.Context, a Actor, orgID, userName string, c UserChanges) (*domain.User, error) {
	u, err := d.Store.GetUserByName(ctx, orgID, userName)
	if err != nil {
		return nil, fmt.Errorf("user %q: %w", userName, err)
	}
	if err := c.apply(u, d.passwordParams()); err != nil {
		return nil, err
	}
	u.UpdatedAt = d.now()
	if err := d.Store.UpdateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, userNameTaken(orgID, u.UserName)
		}
		return nil, fmt.Errorf("update user %q: %w", userName, err)
	}
	d.audit(ctx, orgID, a, "user.update", u.UserName, "ok", nil)
	if u.Disabled && c.Disabled != nil {
		if err := d.signout(ctx, orgID, u.Sub); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// DeleteUser removes the user and their sessions, codes and tokens.
func (d *Directory) DeleteUser(ctx context.Context, a Actor, orgID, userName string) error {
	u, err := d.Store.GetUserByName(ctx, orgID, userName)
	if err != nil {
		return fmt.Errorf("user %q: %w", userName, err)
	}
	if err := d.signout(ctx, orgID, u.Sub); err != nil {
		return err
	}
	if err := d.Store.DeleteUser(ctx, orgID, u.Sub); err != nil {
		return fmt.Errorf("delete user %q: %w", userName, err)
	}
	d.audit(ctx, orgID, a, "user.delete", u.UserName, "ok", nil)
	return nil
}
