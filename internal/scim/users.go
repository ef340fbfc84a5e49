package scim

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

type nameJSON struct {
	Formatted  string `json:"formatted,omitempty"`
	FamilyName string `json:"familyName,omitempty"`
	GivenName  string `json:"givenName,omitempty"`
}

type multiJSON struct {
	Value   string `json:"value"`
	Type    string `json:"type,omitempty"`
	Primary bool   `json:"primary,omitempty"`
}

type refJSON struct {
	Value   string `json:"value"`
	Ref     string `json:"$ref,omitempty"`
	Display string `json:"display,omitempty"`
	Type    string `json:"type,omitempty"`
}

type managerJSON struct {
	Value string `json:"value"`
	Ref   string `json:"$ref,omitempty"`
}

type enterpriseJSON struct {
	EmployeeNumber string       `json:"employeeNumber,omitempty"`
	Department     string       `json:"department,omitempty"`
	Manager        *managerJSON `json:"manager,omitempty"`
}

type metaJSON struct {
	ResourceType string `json:"resourceType"`
	Created      string `json:"created"`
	LastModified string `json:"lastModified"`
	Location     string `json:"location"`
	Version      string `json:"version"`
}

type userJSON struct {
	Schemas     []string        `json:"schemas"`
	ID          string          `json:"id"`
	ExternalID  string          `json:"externalId,omitempty"`
	UserName    string          `json:"userName"`
	Name        *nameJSON       `json:"name,omitempty"`
	DisplayName string          `json:"displayName,omitempty"`
	Active      bool            `json:"active"`
	Emails      []multiJSON     `json:"emails,omitempty"`
	Photos      []multiJSON     `json:"photos,omitempty"`
	Groups      []refJSON       `json:"groups,omitempty"`
	Enterprise  *enterpriseJSON `json:"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User,omitempty"`
	Meta        metaJSON        `json:"meta"`
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

// version is a resource's entity tag: its last change, to the microsecond.
func version(t time.Time) string { return `W/"` + strconv.FormatInt(t.UnixMicro(), 10) + `"` }

func (s *Service) renderUser(c *call, u *domain.User) (*userJSON, error) {
	loc := s.baseURL(c.org) + "/Users/" + u.Sub
	out := &userJSON{
		Schemas: []string{URNUser}, ID: u.Sub, ExternalID: u.ExternalID, UserName: u.UserName, DisplayName: u.Name, Active: !u.Disabled,
		Meta: metaJSON{ResourceType: "User", Created: stamp(u.CreatedAt), LastModified: stamp(u.UpdatedAt), Location: loc, Version: version(u.UpdatedAt)},
	}
	if u.Name != "" || u.GivenName != "" || u.FamilyName != "" {
		out.Name = &nameJSON{Formatted: u.Name, GivenName: u.GivenName, FamilyName: u.FamilyName}
	}
	if u.Email != "" {
		out.Emails = []multiJSON{{Value: u.Email, Type: "work", Primary: true}}
	}
	if u.Picture != "" {
		out.Photos = []multiJSON{{Value: u.Picture, Type: "photo", Primary: true}}
	}
	if e := u.Enterprise; e != (domain.EnterpriseAttrs{}) {
		out.Schemas = append(out.Schemas, URNEnterpriseUser)
		out.Enterprise = &enterpriseJSON{EmployeeNumber: e.EmployeeNumber, Department: e.Department}
		if e.Manager != "" {
			out.Enterprise.Manager = &managerJSON{Value: e.Manager, Ref: s.baseURL(c.org) + "/Users/" + e.Manager}
		}
	}
	groups, err := s.Directory.UserGroups(c.r.Context(), c.org, u.Sub)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		out.Groups = append(out.Groups, refJSON{Value: g.ID, Ref: s.baseURL(c.org) + "/Groups/" + g.ID, Display: g.DisplayName, Type: "direct"})
	}
	return out, nil
}

// userFields reads a whole user resource (normalized) into directory
// changes. current is nil on create. Read-only attributes are ignored.
func userFields(m map[string]any, current *domain.User) (string, directory.UserChanges, error) {
	var ch directory.UserChanges
	userName, ok := getString(m, "userName")
	if !ok || strings.TrimSpace(userName) == "" {
		return "", ch, invalidValue("userName is required")
	}
	ext, _ := getString(m, "externalId")
	ch.ExternalID = &ext

	name, _ := getString(m, "displayName")
	var given, family string
	if n, ok := m["name"].(map[string]any); ok {
		given, _ = getString(n, "givenName")
		family, _ = getString(n, "familyName")
		if f, _ := getString(n, "formatted"); name == "" && f != "" {
			name = f
		}
	}
	if name == "" {
		name = strings.TrimSpace(given + " " + family)
	}
	ch.Name, ch.GivenName, ch.FamilyName = &name, &given, &family

	email := ""
	if list, ok := m["emails"].([]any); ok {
		if e := pickPrimary(list); e != nil {
			email, _ = getString(e, "value")
		}
	}
	ch.Email = &email
	// The organization's directory vouches for the addresses it sends.
	if current == nil || !strings.EqualFold(current.Email, email) {
		verified := email != ""
		ch.EmailVerified = &verified
	}

	picture := ""
	if list, ok := m["photos"].([]any); ok {
		if e := pickPrimary(list); e != nil {
			picture, _ = getString(e, "value")
		}
	}
	ch.Picture = &picture

	if v, has := m["active"]; has && v != nil {
		disabled := !v.(bool) // normalize made it a bool
		ch.Disabled = &disabled
	} else if current == nil {
		enabled := false
		ch.Disabled = &enabled
	}

	var ent domain.EnterpriseAttrs
	if e, ok := m[URNEnterpriseUser].(map[string]any); ok {
		ent.EmployeeNumber, _ = getString(e, "employeeNumber")
		ent.Department, _ = getString(e, "department")
		if mgr, ok := e["manager"].(map[string]any); ok {
			ent.Manager, _ = getString(mgr, "value")
		}
	}
	ch.Enterprise = &ent
	return userName, ch, nil
}

func (s *Service) userResponse(c *call, u *domain.User, status int, p projection) (int, any, error) {
	out, err := s.renderUser(c, u)
	if err != nil {
		return 0, nil, err
	}
	return respond(c, out, out.Meta, status, p)
}

// respond answers with the resource out, whose meta is m: its version as
// the ETag, its location when it was created, the attributes p asks for.
func respond(c *call, out any, m metaJSON, status int, p projection) (int, any, error) {
	c.w.Header().Set("ETag", m.Version)
	if status == http.StatusCreated {
		c.w.Header().Set("Location", m.Location)
	}
	if p.empty() {
		return status, out, nil
	}
	return status, p.apply(toMap(out)), nil
}

func (s *Service) createUser(c *call) (int, any, error) {
	m, err := userSchema.read(c)
	if err != nil {
		return 0, nil, err
	}
	userName, ch, err := userFields(m, nil)
	if err != nil {
		return 0, nil, err
	}
	c.target = userName
	u, err := s.Directory.CreateUser(c.r.Context(), c.actor, c.org, userName, ch)
	if err != nil {
		return 0, nil, err
	}
	return created(c, u.Sub, u, s.userResponse)
}

// created answers the creation of the resource v, whose id is id, shown by
// respond.
func created[T any](c *call, id string, v T, respond func(*call, T, int, projection) (int, any, error)) (int, any, error) {
	c.changed, c.target = true, id
	p, _ := readProjection(c.r)
	return respond(c, v, http.StatusCreated, p)
}

// pathUser loads the user in the path; another organization's user is as
// absent as a missing one.
func (s *Service) pathUser(c *call) (*domain.User, error) {
	return inPath(c, "user", s.Directory.GetUserBySub)
}

// inPath loads, with get, the resource of the kind named whose id is in
// the path.
func inPath[T any](c *call, kind string, get func(ctx context.Context, org, id string) (T, error)) (T, error) {
	var none T
	id := c.r.PathValue("id")
	if !plausibleID(id) {
		return none, notFound(kind, "")
	}
	c.target = id
	v, err := get(c.r.Context(), c.org, id)
	if errors.Is(err, store.ErrNotFound) {
		return none, notFound(kind, id)
	}
	return v, err
}

// ifMatchSince is the last change a change must still find, checked where
// the change is made: updated (the version If-Match was checked against)
// when the request has an If-Match other than "*", else none (zero).
func ifMatchSince(r *http.Request, updated time.Time) time.Time {
	if h := strings.TrimSpace(r.Header.Get("If-Match")); h == "" || h == "*" {
		return time.Time{}
	}
	return updated
}

// preconditionFailed says that the resource changed since the version
// If-Match named (it is now current).
func preconditionFailed(r *http.Request, current string) error {
	return &Error{Status: http.StatusPreconditionFailed, Detail: "the resource changed since version " + r.Header.Get("If-Match") + " (now " + current + ")"}
}

// checkIfMatch honours If-Match against the resource's version.
func checkIfMatch(r *http.Request, current string) error {
	h := r.Header.Get("If-Match")
	if h == "" || strings.TrimSpace(h) == "*" {
		return nil
	}
	for _, tag := range strings.Split(h, ",") {
		tag = strings.TrimSpace(tag)
		if tag == current || "W/"+tag == current {
			return nil
		}
	}
	return preconditionFailed(r, current)
}

func (s *Service) getUser(c *call) (int, any, error) {
	return get(c, s.pathUser, s.userResponse)
}

// get answers a GET of the resource load finds, shown by respond.
func get[T any](c *call, load func(*call) (T, error), respond func(*call, T, int, projection) (int, any, error)) (int, any, error) {
	v, err := load(c)
	if err != nil {
		return 0, nil, err
	}
	p, err := readProjection(c.r)
	if err != nil {
		return 0, nil, err
	}
	return respond(c, v, http.StatusOK, p)
}

func (s *Service) replaceUser(c *call) (int, any, error) {
	u, body, err := change(c, s.pathUser, func(u *domain.User) time.Time { return u.UpdatedAt })
	if err != nil {
		return 0, nil, err
	}
	m, err := userSchema.replacement(body, u.Sub)
	if err != nil {
		return 0, nil, err
	}
	userName, ch, err := userFields(m, u)
	if err != nil {
		return 0, nil, err
	}
	ch.UserName = &userName
	return s.updateUser(c, u, ch)
}

func (s *Service) updateUser(c *call, u *domain.User, ch directory.UserChanges) (int, any, error) {
	nu, err := s.Directory.UpdateUserBySub(c.r.Context(), c.actor, c.org, u.Sub, ch, ifMatchSince(c.r, u.UpdatedAt))
	return changed(c, "user", u.Sub, nu, err, s.userResponse)
}

// changed answers a change to the resource of the kind named, id: 404 when
// it was gone (err), else the resource as it is now (v), shown by respond.
func changed[T any](c *call, kind, id string, v T, err error, respond func(*call, T, int, projection) (int, any, error)) (int, any, error) {
	var ce *directory.ChangedError
	if errors.As(err, &ce) {
		return 0, nil, preconditionFailed(c.r, version(ce.UpdatedAt))
	}
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, notFound(kind, id)
	}
	if err != nil {
		return 0, nil, err
	}
	c.changed = true
	p, _ := readProjection(c.r)
	return respond(c, v, http.StatusOK, p)
}

func (s *Service) patchUser(c *call) (int, any, error) {
	u, body, err := change(c, s.pathUser, func(u *domain.User) time.Time { return u.UpdatedAt })
	if err != nil {
		return 0, nil, err
	}
	ops, err := readPatch(body)
	if err != nil {
		return 0, nil, err
	}
	current, err := s.renderUser(c, u)
	if err != nil {
		return 0, nil, err
	}
	p := &patcher{schema: userSchema, res: toMap(current), touched: map[string]bool{}}
	if err := p.apply(ops); err != nil {
		return 0, nil, err
	}
	// One name, several sources: the one the operations changed wins.
	if !p.touched["displayname"] && (p.touched["name"] || p.touched["name.formatted"] || p.touched["name.givenname"] || p.touched["name.familyname"]) {
		delete(p.res, "displayName")
		if n, ok := p.res["name"].(map[string]any); ok && !p.touched["name.formatted"] && !p.touched["name"] {
			delete(n, "formatted")
		}
	}
	userName, ch, err := userFields(p.res, u)
	if err != nil {
		return 0, nil, err
	}
	if _, has := p.res["active"]; !has || !p.touched["active"] {
		ch.Disabled = nil // active is changed only by an operation on it
	}
	ch.UserName = &userName
	return s.updateUser(c, u, ch)
}

func (s *Service) deleteUser(c *call) (int, any, error) {
	u, err := s.pathUser(c)
	if err != nil {
		return 0, nil, err
	}
	return deleteResource(c, "user", u.Sub, u.UpdatedAt, func(ctx context.Context) error {
		return s.Directory.DeleteUserBySub(ctx, c.actor, c.org, u.Sub, ifMatchSince(c.r, u.UpdatedAt))
	})
}

// deleteResource deletes, with del, the resource of the kind named, id,
// last updated at updated, once If-Match allows it.
func deleteResource(c *call, kind, id string, updated time.Time, del func(ctx context.Context) error) (int, any, error) {
	if err := checkIfMatch(c.r, version(updated)); err != nil {
		return 0, nil, err
	}
	if err := del(c.r.Context()); err != nil {
		var ce *directory.ChangedError
		if errors.As(err, &ce) {
			return 0, nil, preconditionFailed(c.r, version(ce.UpdatedAt))
		}
		if errors.Is(err, store.ErrNotFound) {
			return 0, nil, notFound(kind, id)
		}
		return 0, nil, err
	}
	c.changed = true
	return http.StatusNoContent, nil, nil
}

// change loads the resource a PUT or PATCH changes, with load, and reads
// the request body once If-Match allows the change (updated says when the
// resource last changed).
func change[T any](c *call, load func(*call) (T, error), updated func(T) time.Time) (T, map[string]any, error) {
	v, err := load(c)
	if err != nil {
		return v, nil, err
	}
	body, err := readBody(c)
	if err != nil {
		return v, nil, err
	}
	return v, body, checkIfMatch(c.r, version(updated(v)))
}

func (s *Service) listUsers(c *call) (int, any, error) {
	return list(c, userFilterAttrs, URNUser, s.Directory.SearchUsers, func(u *domain.User) (any, error) { return s.renderUser(c, u) })
}

// plausibleID reports whether id could name a resource: ids are printable
// UTF-8 of bounded length; anything else is simply not found.
func plausibleID(id string) bool {
	if id == "" || len(id) > 256 || !utf8.ValidString(id) {
		return false
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}
