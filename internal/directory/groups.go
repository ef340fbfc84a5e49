package directory

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

// GroupChanges are the fields a group create or update sets; nil leaves a
// field as it is. Members replaces the whole list; AddMembers and
// RemoveMembers change it by difference (applied after Members).
type GroupChanges struct {
	DisplayName   *string
	ExternalID    *string
	Members       *[]string
	AddMembers    []string
	RemoveMembers []string
}

func (c GroupChanges) apply(g *domain.Group) {
	if c.DisplayName != nil {
		g.DisplayName = *c.DisplayName
	}
	if c.ExternalID != nil {
		g.ExternalID = *c.ExternalID
	}
	if c.Members != nil {
		g.Members = append([]string{}, (*c.Members)...)
	}
	g.Members = append(g.Members, c.AddMembers...)
	if len(c.RemoveMembers) > 0 {
		drop := make(map[string]bool, len(c.RemoveMembers))
		for _, sub := range c.RemoveMembers {
			drop[sub] = true
		}
		kept := g.Members[:0]
		for _, sub := range g.Members {
			if !drop[sub] {
				kept = append(kept, sub)
			}
		}
		g.Members = kept
	}
	seen := make(map[string]bool, len(g.Members))
	uniq := g.Members[:0]
	for _, sub := range g.Members {
		if !seen[sub] {
			seen[sub] = true
			uniq = append(uniq, sub)
		}
	}
	g.Members = uniq
}

// checkMembers makes sure every member not in known is a user of orgID.
func (d *Directory) checkMembers(ctx context.Context, orgID string, members, known []string) error {
	had := make(map[string]bool, len(known))
	for _, sub := range known {
		had[sub] = true
	}
	for _, sub := range members {
		if had[sub] {
			continue
		}
		if sub == "" || len(sub) > 256 || !utf8.ValidString(sub) || strings.ContainsRune(sub, 0) {
			return domain.Invalid("members", "%q is not a user id", sub)
		}
		if _, err := d.Store.GetUser(ctx, orgID, sub); errors.Is(err, store.ErrNotFound) {
			return domain.Invalid("members", "no user with id %q in this organization", sub)
		} else if err != nil {
			return fmt.Errorf("member %q: %w", sub, err)
		}
	}
	return nil
}

func groupNameTaken(name string) error {
	return conflictf("displayName", "a group named %q already exists (group names are case-insensitive)", name)
}

// CreateGroup creates a group with a new random id.
func (d *Directory) CreateGroup(ctx context.Context, a Actor, orgID string, c GroupChanges) (*domain.Group, error) {
	now := d.now()
	g := &domain.Group{OrgID: orgID, ID: uuid.NewString(), CreatedAt: now, UpdatedAt: now}
	c.apply(g)
	if err := g.Validate(); err != nil {
		return nil, err
	}
	if err := d.checkMembers(ctx, orgID, g.Members, nil); err != nil {
		return nil, err
	}
	if _, err := d.GetOrg(ctx, orgID); err != nil {
		return nil, err
	}
	ev := d.event(orgID, a, "group.create", g.ID, map[string]string{"displayName": g.DisplayName, "members": fmt.Sprint(len(g.Members))})
	if err := d.Store.CreateGroup(ctx, g, ev); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, groupNameTaken(g.DisplayName)
		}
		return nil, fmt.Errorf("create group: %w", err)
	}
	return g, nil
}

// GetGroup returns the group with its members; store.ErrNotFound if the
// organization has none with this id.
func (d *Directory) GetGroup(ctx context.Context, orgID, id string) (*domain.Group, error) {
	g, err := d.Store.GetGroup(ctx, orgID, id)
	if err != nil {
		return nil, notFound(err, "group %q in organization %q", id, orgID)
	}
	return g, nil
}

// SearchGroups returns a page of the organization's groups matching the
// page's filter, and how many match in all.
func (d *Directory) SearchGroups(ctx context.Context, orgID string, p store.Page) ([]*domain.Group, int, error) {
	gs, total, err := d.Store.SearchGroups(ctx, orgID, p)
	if err != nil {
		return nil, 0, fmt.Errorf("search groups: %w", err)
	}
	return gs, total, nil
}

// UpdateGroup changes the given fields of a group, atomically. New
// members must be users of the organization. With since set, the change
// is made only if the group's last change is still since, checked in the
// change's transaction (else a *ChangedError).
func (d *Directory) UpdateGroup(ctx context.Context, a Actor, orgID, id string, c GroupChanges, since time.Time) (*domain.Group, error) {
	cur, err := d.GetGroup(ctx, orgID, id)
	if err != nil {
		return nil, err
	}
	if err := checkUnchanged(since, cur.UpdatedAt); err != nil {
		return nil, err
	}
	next := *cur
	next.Members = append([]string(nil), cur.Members...)
	c.apply(&next)
	if err := next.Validate(); err != nil {
		return nil, err
	}
	if err := d.checkMembers(ctx, orgID, next.Members, cur.Members); err != nil {
		return nil, err
	}
	ev := d.event(orgID, a, "group.update", id, map[string]string{})
	g, err := d.Store.UpdateGroup(ctx, orgID, id, func(g *domain.Group) error {
		if err := checkUnchanged(since, g.UpdatedAt); err != nil {
			return err
		}
		c.apply(g)
		if err := g.Validate(); err != nil {
			return err
		}
		g.UpdatedAt = d.now()
		ev.Detail["displayName"], ev.Detail["members"] = g.DisplayName, fmt.Sprint(len(g.Members))
		return nil
	}, ev)
	var changed *ChangedError
	switch {
	case errors.As(err, &changed):
		return nil, err
	case errors.Is(err, store.ErrConflict):
		return nil, groupNameTaken(next.DisplayName)
	case err != nil:
		return nil, notFound(err, "group %q in organization %q", id, orgID)
	}
	return g, nil
}

// DeleteGroup removes a group; its members stay. With since set, the
// group is removed only if its last change is still since, checked in the
// deletion's transaction (else a *ChangedError).
func (d *Directory) DeleteGroup(ctx context.Context, a Actor, orgID, id string, since time.Time) error {
	var check func(*domain.Group) error
	if !since.IsZero() {
		check = func(g *domain.Group) error { return checkUnchanged(since, g.UpdatedAt) }
	}
	err := d.Store.DeleteGroup(ctx, orgID, id, check, d.event(orgID, a, "group.delete", id, nil))
	var changed *ChangedError
	if errors.As(err, &changed) {
		return err
	}
	if err != nil {
		return notFound(err, "group %q in organization %q", id, orgID)
	}
	return nil
}

// UserGroups returns the user's groups (without their members), ordered
// by name.
func (d *Directory) UserGroups(ctx context.Context, orgID, sub string) ([]*domain.Group, error) {
	gs, err := d.Store.ListUserGroups(ctx, orgID, sub)
	if err != nil {
		return nil, fmt.Errorf("groups of %q: %w", sub, err)
	}
	return gs, nil
}

// UserGroupNames returns the names of the user's groups, for the groups claim.
func (d *Directory) UserGroupNames(ctx context.Context, orgID, sub string) ([]string, error) {
	gs, err := d.UserGroups(ctx, orgID, sub)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(gs))
	for _, g := range gs {
		names = append(names, g.DisplayName)
	}
	return names, nil
}
