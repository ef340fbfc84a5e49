package scim

import (
	"errors"
	"net/http"
	"strings"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
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
	c.w.Header().Set("ETag", out.Meta.Version)
	if status == http.StatusCreated {
		c.w.Header().Set("Location", out.Meta.Location)
	}
	if p.empty() {
		return status, out, nil
	}
	return status, p.apply(toMap(out)), nil
}

func (s *Service) createGroup(c *call) (int, any, error) {
	body, err := readBody(c)
	if err != nil {
		return 0, nil, err
	}
	m, err := groupSchema.normalize(body)
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
	c.changed, c.target = true, g.ID
	p, _ := readProjection(c.r)
	return s.groupResponse(c, g, http.StatusCreated, p)
}

func (s *Service) pathGroup(c *call) (*domain.Group, error) {
	id := c.r.PathValue("id")
	if !plausibleID(id) {
		return nil, notFound("group", "")
	}
	c.target = id
	g, err := s.Directory.GetGroup(c.r.Context(), c.org, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("group", id)
	}
	return g, err
}

func (s *Service) getGroup(c *call) (int, any, error) {
	g, err := s.pathGroup(c)
	if err != nil {
		return 0, nil, err
	}
	p, err := readProjection(c.r)
	if err != nil {
		return 0, nil, err
	}
	return s.groupResponse(c, g, http.StatusOK, p)
}

func (s *Service) replaceGroup(c *call) (int, any, error) {
	g, err := s.pathGroup(c)
	if err != nil {
		return 0, nil, err
	}
	body, err := readBody(c)
	if err != nil {
		return 0, nil, err
	}
	if err := checkIfMatch(c.r, version(g.UpdatedAt)); err != nil {
		return 0, nil, err
	}
	m, err := groupSchema.normalize(body)
	if err != nil {
		return 0, nil, err
	}
	if id, has := m["id"]; has && id != g.ID {
		return 0, nil, mutability("id is read-only: it is %q", g.ID)
	}
	ch, err := groupFields(m)
	if err != nil {
		return 0, nil, err
	}
	return s.updateGroup(c, g, ch)
}

func (s *Service) updateGroup(c *call, g *domain.Group, ch directory.GroupChanges) (int, any, error) {
	ng, err := s.Directory.UpdateGroup(c.r.Context(), c.actor, c.org, g.ID, ch)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, notFound("group", g.ID)
	}
	if err != nil {
		return 0, nil, err
	}
	c.changed = true
	p, _ := readProjection(c.r)
	return s.groupResponse(c, ng, http.StatusOK, p)
}

func (s *Service) patchGroup(c *call) (int, any, error) {
	g, err := s.pathGroup(c)
	if err != nil {
		return 0, nil, err
	}
	body, err := readBody(c)
	if err != nil {
		return 0, nil, err
	}
	if err := checkIfMatch(c.r, version(g.UpdatedAt)); err != nil {
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
	if err := checkIfMatch(c.r, version(g.UpdatedAt)); err != nil {
		return 0, nil, err
	}
	if err := s.Directory.DeleteGroup(c.r.Context(), c.actor, c.org, g.ID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return 0, nil, notFound("group", g.ID)
		}
		return 0, nil, err
	}
	c.changed = true
	return http.StatusNoContent, nil, nil
}

func (s *Service) listGroups(c *call) (int, any, error) {
	lq, err := readListQuery(c.r, groupFilterAttrs, URNGroup)
	if err != nil {
		return 0, nil, err
	}
	c.target = c.r.URL.Query().Get("filter")
	groups, total, err := s.Directory.SearchGroups(c.r.Context(), c.org, lq.page)
	if err != nil {
		return 0, nil, err
	}
	out := listResponse{Schemas: []string{URNListResponse}, TotalResults: total, StartIndex: lq.startIndex, Resources: []any{}}
	for _, g := range groups {
		r := s.renderGroup(c, g)
		if lq.attrs.empty() {
			out.Resources = append(out.Resources, r)
		} else {
			out.Resources = append(out.Resources, lq.attrs.apply(toMap(r)))
		}
	}
	out.ItemsPerPage = len(out.Resources)
	return http.StatusOK, out, nil
}
