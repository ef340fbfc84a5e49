package directory

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
	fe, _ := domain.AsFieldError(domain.Invalid("displayName", "a group named %q already exists (group names are case-insensitive)", name))
	return &ConflictError{fe}
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
	if err := d.Store.CreateGroup(ctx, g); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, groupNameTaken(g.DisplayName)
		}
		return nil, fmt.Errorf("create group: %w", err)
	}
	d.audit(ctx, orgID, a, "group.create", g.ID, "ok", map[string]string{"displayName": g.DisplayName, "members": fmt.Sprint(len(g.Members))})
	return g, nil
}

// GetGroup returns the group with its members; store.ErrNotFound if the
// organization has none with this id.
func (d *Directory) GetGroup(ctx context.Context, orgID, id string) (*domain.Group, error) {
	g, err := d.Store.GetGroup(ctx, orgID, id)
	if err != nil {
		return nil, fmt.Errorf("group %q: %w", id, err)
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

// UpdateGroup changes the given fields of a group.
func (d *Directory) UpdateGroup(ctx context.Context, a Actor, orgID, id string, c GroupChanges) (*domain.Group, error) {
	g, err := d.Store.GetGroup(ctx, orgID, id)
	if err != nil {
		return nil, fmt.Errorf("group %q: %w", id, err)
	}
	before := append([]string{}, g.Members...)
	c.apply(g)
	if err := g.Validate(); err != nil {
		return nil, err
	}
	if err := d.checkMembers(ctx, orgID, g.Members, before); err != nil {
		return nil, err
	}
	g.UpdatedAt = d.now()
	if err := d.Store.UpdateGroup(ctx, g); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, groupNameTaken(g.DisplayName)
		}
		return nil, fmt.Errorf("update group %q: %w", id, err)
	}
	d.audit(ctx, orgID, a, "group.update", id, "ok", map[string]string{"displayName": g.DisplayName, "members": fmt.Sprint(len(g.Members))})
	return g, nil
}

// DeleteGroup removes a group; its members stay.
func (d *Directory) DeleteGroup(ctx context.Context, a Actor, orgID, id string) error {
	if err := d.Store.DeleteGroup(ctx, orgID, id); err != nil {
		return fmt.Errorf("delete group %q: %w", id, err)
	}
	d.audit(ctx, orgID, a, "group.delete", id, "ok", nil)
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
