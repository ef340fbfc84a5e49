package scim

import (
	"context"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
)

type groupJSON struct {
	Schemas     []string  `json:"schemas"`
	ID          string    `json:"id"`
	ExternalID  string    `json:"externalId,omitempty"`
	DisplayName string    `json:"displayName"`
	Members     []refJSON `json:"members"`
	Meta        metaJSON  `json:"meta"`
}

func (s *Service) renderGroup(c *call, g *domain.Group) *groupJSON {
	loc := s.baseURL(c.org) + "/Groups/" + g.ID
	out := &groupJSON{
		Schemas: []string{URNGroup}, ID: g.ID, ExternalID: g.ExternalID, DisplayName: g.DisplayName, Members: []refJSON{},
		Meta: metaJSON{ResourceType: "Group", Created: stamp(g.CreatedAt), LastModified: stamp(g.UpdatedAt), Location: loc, Version: version(g.UpdatedAt)},
	}
	for _, sub := range g.Members {
		out.Members = append(out.Members, refJSON{Value: sub, Ref: s.baseURL(c.org) + "/Users/" + sub, Type: "User"})
	}
	return out
}

// groupFields reads a whole group resource (normalized) into directory
// changes.
func groupFields(m map[string]any) (directory.GroupChanges, error) {
	var ch directory.GroupChanges
	name, ok := getString(m, "displayName")
	if !ok || strings.TrimSpace(name) == "" {
		return ch, invalidValue("displayName is required")
	}
	ch.DisplayName = &name
	ext, _ := getString(m, "externalId")
	ch.ExternalID = &ext
	members := []string{}
	if list, ok := m["members"].([]any); ok {
		if len(list) > domain.MaxGroupMembers {
			return ch, tooMany("a group may have at most %d members", domain.MaxGroupMembers)
		}
		for i, e := range list {
			em, _ := e.(map[string]any)
			v, ok := getString(em, "value")
			if !ok || !plausibleID(v) {
				return ch, invalidValue("members[%d].value must be a user id", i)
			}
			if t, _ := getString(em, "type"); t != "" && !strings.EqualFold(t, "User") {
				return ch, invalidValue("members[%d]: only users can be members (got type %q)", i, t)
			}
			members = append(members, v)
		}
	}
	ch.Members = &members
	return ch, nil
}

func (s *Service) groupResponse(c *call, g *domain.Group, status int, p projection) (int, any, error) {
	out := s.renderGroup(c, g)
	return respond(c, out, out.Meta, status, p)
}

func (s *Service) createGroup(c *call) (int, any, error) {
	m, err := groupSchema.read(c)
	if err != nil {
		return 0, nil, err
	}
	ch, err := groupFields(m)
	if err != nil {
		return 0, nil, err
	}
	c.target = *ch.DisplayName
	g, err := s.Directory.CreateGroup(c.r.Context(), c.actor, c.org, ch)
	if err != nil {
		return 0, nil, err
	}
	return created(c, g.ID, g, s.groupResponse)
}

func (s *Service) pathGroup(c *call) (*domain.Group, error) {
	return inPath(c, "group", s.Directory.GetGroup)
}

func (s *Service) getGroup(c *call) (int, any, error) {
	return get(c, s.pathGroup, s.groupResponse)
}

func (s *Service) replaceGroup(c *call) (int, any, error) {
	g, body, err := change(c, s.pathGroup, func(g *domain.Group) time.Time { return g.UpdatedAt })
	if err != nil {
		return 0, nil, err
	}
	m, err := groupSchema.replacement(body, g.ID)
	if err != nil {
		return 0, nil, err
	}
	ch, err := groupFields(m)
	if err != nil {
		return 0, nil, err
	}
	return s.updateGroup(c, g, ch)
}

func (s *Service) updateGroup(c *call, g *domain.Group, ch directory.GroupChanges) (int, any, error) {
	ng, err := s.Directory.UpdateGroup(c.r.Context(), c.actor, c.org, g.ID, ch, ifMatchSince(c.r, g.UpdatedAt))
	return changed(c, "group", g.ID, ng, err, s.groupResponse)
}

func (s *Service) patchGroup(c *call) (int, any, error) {
	g, body, err := change(c, s.pathGroup, func(g *domain.Group) time.Time { return g.UpdatedAt })
	if err != nil {
		return 0, nil, err
	}
	ops, err := readPatch(body)
	if err != nil {
		return 0, nil, err
	}
	p := &patcher{schema: groupSchema, res: toMap(s.renderGroup(c, g)), touched: map[string]bool{}}
	if err := p.apply(ops); err != nil {
		return 0, nil, err
	}
	ch, err := groupFields(p.res)
	if err != nil {
		return 0, nil, err
	}
	return s.updateGroup(c, g, ch)
}

func (s *Service) deleteGroup(c *call) (int, any, error) {
	g, err := s.pathGroup(c)
	if err != nil {
		return 0, nil, err
	}
	return deleteResource(c, "group", g.ID, g.UpdatedAt, func(ctx context.Context) error {
		return s.Directory.DeleteGroup(ctx, c.actor, c.org, g.ID, ifMatchSince(c.r, g.UpdatedAt))
	})
}

func (s *Service) listGroups(c *call) (int, any, error) {
	return list(c, groupFilterAttrs, URNGroup, s.Directory.SearchGroups, func(g *domain.Group) (any, error) { return s.renderGroup(c, g), nil })
}
