package directory

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/password"
	"github.com/latchkey/latchkey/internal/store"
)

// UserChanges are the fields a create or update sets; nil leaves a field as
// it is (on create: empty, role USER).
type UserChanges struct {
	// UserName renames the user (update only; the sub stays).
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
	// GivenName and FamilyName are the parts of the name, when known.
	GivenName  *string
	FamilyName *string
	// Enterprise replaces the enterprise extension attributes.
	Enterprise *domain.EnterpriseAttrs
}

// fieldNames lists the fields set, for the audit log (never a value: the
// password's is secret).
func (c UserChanges) fieldNames() string {
	return setFields("userName", c.UserName != nil, "name", c.Name != nil, "email", c.Email != nil,
		"email_verified", c.EmailVerified != nil, "picture", c.Picture != nil, "role", c.Role != nil,
		"disabled", c.Disabled != nil, "password", c.Password != nil || c.ClearPassword,
		"externalId", c.ExternalID != nil, "givenName", c.GivenName != nil, "familyName", c.FamilyName != nil,
		"enterprise", c.Enterprise != nil)
}

// hashPassword validates and hashes a new password before any transaction
// starts (argon2id takes a while; no row should stay locked meanwhile).
func (c UserChanges) hashPassword(params password.Params) (string, error) {
	if c.Password == nil {
		return "", nil
	}
	if err := password.Validate(*c.Password); err != nil {
		return "", domain.Invalid("password", "%s", err.Error())
	}
	return password.Hash(*c.Password, params)
}

func (c UserChanges) apply(u *domain.User, hash string) error {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&u.UserName, c.UserName)
	set(&u.Name, c.Name)
	set(&u.Email, c.Email)
	set(&u.Picture, c.Picture)
	set(&u.Role, c.Role)
	set(&u.ExternalID, c.ExternalID)
	set(&u.GivenName, c.GivenName)
	set(&u.FamilyName, c.FamilyName)
	if c.Enterprise != nil {
		u.Enterprise = *c.Enterprise
	}
	if c.EmailVerified != nil {
		u.EmailVerified = *c.EmailVerified
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
		u.PasswordHash = hash
	}
	return nil
}

func userTaken(userName, orgID string) error {
	return conflictf("userName", "a user named %q already exists in %q (userNames are case-insensitive)", userName, orgID)
}

// CreateUser creates a user with a new random sub. A taken userName is a
// *ConflictError.
func (d *Directory) CreateUser(ctx context.Context, a Actor, orgID, userName string, c UserChanges) (*domain.User, error) {
	now := d.now()
	u := &domain.User{OrgID: orgID, Sub: uuid.NewString(), UserName: userName, Role: domain.RoleUser, CreatedAt: now, UpdatedAt: now}
	c.UserName = nil
	if err := c.apply(u, ""); err != nil {
		return nil, err
	}
	hash, err := c.hashPassword(d.passwordParams())
	if err != nil {
		return nil, err
	}
	if c.Password != nil {
		u.PasswordHash = hash
	}
	if _, err := d.GetOrg(ctx, orgID); err != nil {
		return nil, err
	}
	if err := d.Store.CreateUser(ctx, u, d.event(orgID, a, "user.create", userName, nil)); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, userTaken(userName, orgID)
		}
		return nil, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

// GetUser returns the user named userName (any case).
func (d *Directory) GetUser(ctx context.Context, orgID, userName string) (*domain.User, error) {
	if domain.ValidateUserName(userName) != nil {
		return nil, notFoundf("user %q not found in organization %q", userName, orgID)
	}
	u, err := d.Store.GetUserByName(ctx, orgID, userName)
	if err != nil {
		return nil, notFound(err, "user %q in organization %q", userName, orgID)
	}
	return u, nil
}

// GetUserBySub returns the user with subject identifier sub.
func (d *Directory) GetUserBySub(ctx context.Context, orgID, sub string) (*domain.User, error) {
	u, err := d.Store.GetUser(ctx, orgID, sub)
	if err != nil {
		return nil, notFound(err, "user with sub %q in organization %q", sub, orgID)
	}
	return u, nil
}

// UserFilter narrows ListUsers.
type UserFilter struct {
	// Query matches part of the userName, name or email, in any case.
	Query string
	// Limit is 1 to MaxListUsers; 0 means MaxListUsers.
	Limit int
}

// MaxListUsers is the most users one ListUsers returns.
const MaxListUsers = 1000

// ListUsers lists the organization's users by userName.
func (d *Directory) ListUsers(ctx context.Context, orgID string, f UserFilter) ([]*domain.User, error) {
	if n := utf8.RuneCountInString(f.Query); n > domain.MaxNameLen || !utf8.ValidString(f.Query) {
		return nil, domain.Invalid("query", "must be valid UTF-8 of at most %d characters", domain.MaxNameLen)
	}
	if f.Limit == 0 {
		f.Limit = MaxListUsers
	}
	if f.Limit < 1 || f.Limit > MaxListUsers {
		return nil, domain.Invalid("limit", "must be between 1 and %d (got %d)", MaxListUsers, f.Limit)
	}
	if _, err := d.GetOrg(ctx, orgID); err != nil {
		return nil, err
	}
	users, err := d.Store.ListUsers(ctx, orgID, store.UserFilter{Query: f.Query, Limit: f.Limit})
	if err != nil {
		return nil, fmt.Errorf("list users of %q: %w", orgID, err)
	}
	return users, nil
}

// UpdateUser changes the given fields of the user named userName,
// atomically. Disabling a user ends every session they have, the way a
// logout does (applications are notified).
func (d *Directory) UpdateUser(ctx context.Context, a Actor, orgID, userName string, c UserChanges) (*domain.User, error) {
	cur, err := d.GetUser(ctx, orgID, userName)
	if err != nil {
		return nil, err
	}
	return d.UpdateUserBySub(ctx, a, orgID, cur.Sub, c, time.Time{})
}

// UpdateUserFrom is UpdateUser for a caller that has just read the user
// (cur), as the trusted platform's update call does before every ticket.
// When c would leave cur as it is, nothing is written: the call is
// audited ("user.update", result "unchanged") and cur is returned, as if
// the update had run the moment cur was read. A platform that sends its
// users' profile at every sign-in then costs a read, not a write.
func (d *Directory) UpdateUserFrom(ctx context.Context, a Actor, cur *domain.User, c UserChanges) (*domain.User, error) {
	if c.Password == nil && !c.ClearPassword {
		next := *cur
		if err := c.apply(&next, ""); err == nil && next == *cur {
			if err := d.Record(ctx, cur.OrgID, a, "user.update", cur.UserName, "unchanged",
				map[string]string{"changed": c.fieldNames(), "sub": cur.Sub}); err != nil {
				return nil, err
			}
			return cur, nil
		}
	}
	return d.UpdateUserBySub(ctx, a, cur.OrgID, cur.Sub, c, time.Time{})
}

// DeleteUser ends the user's sessions the way a logout does (applications
// are notified), then removes the user with their codes and tokens.
func (d *Directory) DeleteUser(ctx context.Context, a Actor, orgID, userName string) error {
	u, err := d.GetUser(ctx, orgID, userName)
	if err != nil {
		return err
	}
	return d.DeleteUserBySub(ctx, a, orgID, u.Sub, time.Time{})
}

// UnlinkUpstream forgets the upstream identity linked to the user, so that
// their next upstream login links again (for instance after the upstream
// account was recreated).
func (d *Directory) UnlinkUpstream(ctx context.Context, a Actor, orgID, userName string) (*domain.User, error) {
	cur, err := d.GetUser(ctx, orgID, userName)
	if err != nil {
		return nil, err
	}
	ev := d.event(orgID, a, "user.upstream_unlink", cur.UserName, map[string]string{})
	u, err := d.Store.UpdateUser(ctx, orgID, cur.Sub, func(u *domain.User) error {
		if u.UpstreamIssuer == "" && u.UpstreamSubject == "" {
			return domain.Invalid("upstream", "user %q is not linked to an upstream identity", u.UserName)
		}
		ev.Detail["issuer"], ev.Detail["subject"] = u.UpstreamIssuer, u.UpstreamSubject
		u.UpstreamIssuer, u.UpstreamSubject, u.UpdatedAt = "", "", d.now()
		return nil
	}, ev)
	if err != nil {
		return nil, notFound(err, "user %q in organization %q", userName, orgID)
	}
	return u, nil
}

// LinkUpstream records the upstream identity (issuer, subject) that signed
// the user in for the first time. It is what a federated login calls;
// linking a user already linked to another identity is refused.
func (d *Directory) LinkUpstream(ctx context.Context, a Actor, orgID, sub, issuer, subject string) (*domain.User, error) {
	ev := d.event(orgID, a, "user.upstream_link", sub, map[string]string{"issuer": issuer, "subject": subject})
	u, err := d.Store.UpdateUser(ctx, orgID, sub, func(u *domain.User) error {
		if u.UpstreamSubject != "" && (u.UpstreamIssuer != issuer || u.UpstreamSubject != subject) {
			return domain.Invalid("upstream", "user %q is linked to another upstream identity", u.UserName)
		}
		u.UpstreamIssuer, u.UpstreamSubject, u.UpdatedAt = issuer, subject, d.now()
		ev.Target = u.UserName
		return nil
	}, ev)
	if err != nil {
		return nil, notFound(err, "user with sub %q in organization %q", sub, orgID)
	}
	return u, nil
}

// ListUserSessions lists the user's active single sign-on sessions, newest
// first.
func (d *Directory) ListUserSessions(ctx context.Context, orgID, userName string) ([]*domain.Session, error) {
	u, err := d.GetUser(ctx, orgID, userName)
	if err != nil {
		return nil, err
	}
	return d.activeSessions(ctx, u)
}

func (d *Directory) activeSessions(ctx context.Context, u *domain.User) ([]*domain.Session, error) {
	all, err := d.Store.ListUserSessions(ctx, u.OrgID, u.Sub)
	if err != nil {
		return nil, fmt.Errorf("sessions of %q: %w", u.UserName, err)
	}
	now := d.now()
	out := []*domain.Session{}
	for _, s := range all {
		if s.Active(now) {
			out = append(out, s)
		}
	}
	return out, nil
}

// EndUserSession ends one of the user's sessions the way a logout does:
// its tokens are revoked and its applications notified.
func (d *Directory) EndUserSession(ctx context.Context, a Actor, orgID, userName, sid string) error {
	u, err := d.GetUser(ctx, orgID, userName)
	if err != nil {
		return err
	}
	sessions, err := d.activeSessions(ctx, u)
	if err != nil {
		return err
	}
	for _, s := range sessions {
		if s.SID == sid {
			return d.endSession(ctx, a, orgID, sid)
		}
	}
	return notFoundf("no active session %q of user %q in organization %q", sid, u.UserName, orgID)
}

// EndUserSessions ends every active session of the user the way a logout
// does, and returns how many it ended.
func (d *Directory) EndUserSessions(ctx context.Context, a Actor, orgID, userName string) (int, error) {
	u, err := d.GetUser(ctx, orgID, userName)
	if err != nil {
		return 0, err
	}
	return d.endSessions(ctx, a, u)
}

func (d *Directory) endSessions(ctx context.Context, a Actor, u *domain.User) (int, error) {
	sessions, err := d.activeSessions(ctx, u)
	if err != nil {
		return 0, err
	}
	for i, s := range sessions {
		if err := d.endSession(ctx, a, u.OrgID, s.SID); err != nil {
			return i, err
		}
	}
	return len(sessions), nil
}

func (d *Directory) endSession(ctx context.Context, a Actor, orgID, sid string) error {
	if d.Logout == nil {
		return errors.New("directory: no session ender configured")
	}
	if err := d.Logout.EndSessionBy(ctx, orgID, sid, a.Name, a.ClientIP); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}
