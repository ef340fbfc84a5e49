package store

import (
	"context"
	"errors"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
)

// ErrInvalidFilter: a Filter names an attribute or operator the resource
// does not support, or a value of the wrong type.
var ErrInvalidFilter = errors.New("invalid filter")

// Filter is a condition on one resource type's attributes, already parsed
// and checked by the caller (SCIM's filter language, RFC 7644 §3.4.2.2).
// Backends translate it into their query language with every value bound
// as a parameter, never spliced into the query text.
type Filter interface{ filter() }

// Compare is one comparison. Op is eq, ne, co, sw, ew, gt, ge, lt, le or
// pr. Value is a string, a bool or a time.Time (nil for pr).
type Compare struct {
	Attr  string
	Op    string
	Value any
}

// And, Or and Not combine filters.
type (
	And struct{ Left, Right Filter }
	Or  struct{ Left, Right Filter }
	Not struct{ Filter Filter }
)

func (Compare) filter() {}
func (And) filter()     {}
func (Or) filter()      {}
func (Not) filter()     {}

// Attributes a Filter may name. Users: every one but AttrDisplayName and
// AttrMember; groups: AttrID, AttrExternalID, AttrDisplayName, AttrMember,
// AttrCreated, AttrLastModified. Text comparisons on AttrUserName,
// AttrEmail, AttrName and AttrDisplayName ignore case; on AttrID and
// AttrExternalID they do not.
const (
	AttrID           = "id"
	AttrUserName     = "userName"
	AttrExternalID   = "externalId"
	AttrEmail        = "email"
	AttrName         = "name"
	AttrActive       = "active"
	AttrCreated      = "created"
	AttrLastModified = "lastModified"
	AttrDisplayName  = "displayName"
	// AttrMember compares a group's members' subs (eq only).
	AttrMember = "member"
)

// Page selects a window of the resources matching Filter (nil: all), in a
// stable order. Limit 0 counts without returning rows.
type Page struct {
	Filter Filter
	Offset int
	Limit  int
}

// UserSearch finds an organization's users by filter.
type UserSearch interface {
	// SearchUsers returns the page's users, ordered by folded userName,
	// and how many match in all.
	SearchUsers(ctx context.Context, orgID string, p Page) ([]*domain.User, int, error)
}

// SCIMTokens stores organizations' SCIM bearer tokens.
type SCIMTokens interface {
	CreateSCIMToken(ctx context.Context, t *domain.SCIMToken, audit ...*domain.AuditEvent) error
	FindSCIMToken(ctx context.Context, orgID string, hash []byte) (*domain.SCIMToken, error)
	ListSCIMTokens(ctx context.Context, orgID string) ([]*domain.SCIMToken, error)
	// RevokeSCIMToken revokes an unrevoked token; ErrNotFound otherwise.
	RevokeSCIMToken(ctx context.Context, orgID, id string, at time.Time, audit ...*domain.AuditEvent) error
	TouchSCIMToken(ctx context.Context, orgID, id string, at time.Time) error
}

// Groups stores organizations' groups. displayName is unique per
// organization, compared case-insensitively (ErrConflict).
type Groups interface {
	// CreateGroup stores the group with its members.
	CreateGroup(ctx context.Context, g *domain.Group, audit ...*domain.AuditEvent) error
	GetGroup(ctx context.Context, orgID, id string) (*domain.Group, error)
	// SearchGroups returns the page's groups (with members), ordered by
	// folded displayName, and how many match in all.
	SearchGroups(ctx context.Context, orgID string, p Page) ([]*domain.Group, int, error)
	// UpdateGroup changes the group (members included) through update, in
	// one transaction with the row locked (id and organization stay).
	UpdateGroup(ctx context.Context, orgID, id string, update func(g *domain.Group) error, audit ...*domain.AuditEvent) (*domain.Group, error)
	// check, when not nil, sees the group (without members) read locked in
	// the deletion's transaction; its error refuses the deletion and is
	// returned as is.
	DeleteGroup(ctx context.Context, orgID, id string, check func(g *domain.Group) error, audit ...*domain.AuditEvent) error
	// ListUserGroups returns the user's groups (without their members),
	// ordered by folded displayName.
	ListUserGroups(ctx context.Context, orgID, sub string) ([]*domain.Group, error)
}
