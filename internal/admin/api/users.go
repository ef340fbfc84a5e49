package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/directory/resource"
	"github.com/latchkey/latchkey/internal/domain"
)

var userSettings = []string{"name", "email", "emailVerified", "picture", "role", "disabled", "password"}

var userReadOnly = []string{"sub", "hasPassword", "createdAt", "updatedAt"}

// userChanges decodes the fields the body gave. "password": null removes
// the password when allowed (updates).
func userChanges(body *object, clearAllowed bool) (directory.UserChanges, error) {
	var ch directory.UserChanges
	var err error
	if ch.Name, err = body.str("name"); err != nil {
		return ch, err
	}
	if ch.Email, err = body.str("email"); err != nil {
		return ch, err
	}
	if ch.EmailVerified, err = body.boolean("emailVerified"); err != nil {
		return ch, err
	}
	if ch.Picture, err = body.str("picture"); err != nil {
		return ch, err
	}
	if ch.Role, err = body.str("role"); err != nil {
		return ch, err
	}
	if ch.Disabled, err = body.boolean("disabled"); err != nil {
		return ch, err
	}
	if clearAllowed && body.has("password") && isNull(body.fields["password"]) {
		ch.ClearPassword = true
	} else if ch.Password, err = body.str("password"); err != nil {
		return ch, err
	}
	return ch, nil
}

// limitParam reads the limit query parameter: 1 to most, def when absent.
func limitParam(c *call, def, most int) (int, error) {
	v, ok := c.query["limit"]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > most {
		return 0, domain.Invalid("limit", "must be a whole number between 1 and %d (got %q)", most, v)
	}
	return n, nil
}

func (a *API) listUsers(c *call) (int, any, error) {
	limit, err := limitParam(c, directory.MaxListUsers, directory.MaxListUsers)
	if err != nil {
		return 0, nil, err
	}
	users, err := a.Directory.ListUsers(c.r.Context(), c.org.ID, directory.UserFilter{Query: c.query["query"], Limit: limit})
	if err != nil {
		return 0, nil, err
	}
	out := make([]resource.User, 0, len(users))
	for _, u := range users {
		out = append(out, resource.NewUser(u))
	}
	return http.StatusOK, out, nil
}

func (a *API) createUser(c *call) (int, any, error) {
	body, err := c.body(fieldSpec{writable: append([]string{"userName"}, userSettings...), readOnly: userReadOnly}, false)
	if err != nil {
		return 0, nil, err
	}
	name, err := body.str("userName")
	if err != nil {
		return 0, nil, err
	}
	if name == nil {
		return 0, nil, domain.Invalid("userName", "is required")
	}
	ch, err := userChanges(body, false)
	if err != nil {
		return 0, nil, err
	}
	c.target = *name
	u, err := a.Directory.CreateUser(c.r.Context(), c.actor, c.org.ID, *name, ch)
	if err != nil {
		return 0, nil, err
	}
	c.changeAudited = true
	return http.StatusCreated, resource.NewUser(u), nil
}

// pathUser loads the user in the path, within the path's organization.
func (a *API) pathUser(c *call) (*domain.User, error) {
	name := c.r.PathValue("user_name")
	c.target = name
	return a.Directory.GetUser(c.r.Context(), c.org.ID, name)
}

func (a *API) getUser(c *call) (int, any, error) {
	u, err := a.pathUser(c)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, resource.NewUser(u), nil
}

func (a *API) updateUser(c *call) (int, any, error) {
	if _, err := a.pathUser(c); err != nil {
		return 0, nil, err
	}
	body, err := c.body(fieldSpec{writable: userSettings, readOnly: userReadOnly,
		fixed: map[string]string{"userName": "cannot change: applications know the user by it"}}, false)
	if err != nil {
		return 0, nil, err
	}
	ch, err := userChanges(body, true)
	if err != nil {
		return 0, nil, err
	}
	u, err := a.Directory.UpdateUser(c.r.Context(), c.actor, c.org.ID, c.target, ch)
	if err != nil {
		return 0, nil, err
	}
	c.changeAudited = true
	return http.StatusOK, resource.NewUser(u), nil
}

func (a *API) deleteUser(c *call) (int, any, error) {
	if _, err := a.pathUser(c); err != nil {
		return 0, nil, err
	}
	if err := a.Directory.DeleteUser(c.r.Context(), c.actor, c.org.ID, c.target); err != nil {
		return 0, nil, err
	}
	c.changeAudited = true
	return http.StatusNoContent, nil, nil
}

func (a *API) listUserSessions(c *call) (int, any, error) {
	u, err := a.pathUser(c)
	if err != nil {
		return 0, nil, err
	}
	sessions, err := a.Directory.ListUserSessions(c.r.Context(), c.org.ID, u.UserName)
	if err != nil {
		return 0, nil, err
	}
	out := make([]resource.Session, 0, len(sessions))
	for _, s := range sessions {
		out = append(out, resource.NewSession(s))
	}
	return http.StatusOK, out, nil
}

// endUserSessions ends every session of the user, each with single logout.
func (a *API) endUserSessions(c *call) (int, any, error) {
	if _, err := a.pathUser(c); err != nil {
		return 0, nil, err
	}
	if _, err := a.Directory.EndUserSessions(c.r.Context(), c.actor, c.org.ID, c.target); err != nil {
		return 0, nil, err
	}
	c.changeAudited = true
	return http.StatusNoContent, nil, nil
}

func (a *API) endUserSession(c *call) (int, any, error) {
	if _, err := a.pathUser(c); err != nil {
		return 0, nil, err
	}
	if err := a.Directory.EndUserSession(c.r.Context(), c.actor, c.org.ID, c.target, c.r.PathValue("sid")); err != nil {
		return 0, nil, err
	}
	c.changeAudited = true
	return http.StatusNoContent, nil, nil
}

// timeParam reads an RFC 3339 time query parameter; zero when absent.
func timeParam(c *call, name string) (time.Time, error) {
	v, ok := c.query[name]
	if !ok {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, domain.Invalid(name, "must be an RFC 3339 time such as 2026-12-01T10:00:00Z (got %q)", v)
	}
	return t, nil
}

// listAudit answers one page of the audit log, newest first. A Link
// header with rel="next" points at the next page, as long as there is one.
func (a *API) listAudit(c *call) (int, any, error) {
	f := directory.AuditFilter{Action: c.query["action"], Actor: c.query["actor"], Cursor: c.query["cursor"]}
	var err error
	if f.Limit, err = limitParam(c, directory.DefaultAuditPage, directory.MaxAuditPage); err != nil {
		return 0, nil, err
	}
	if f.Since, err = timeParam(c, "since"); err != nil {
		return 0, nil, err
	}
	if f.Until, err = timeParam(c, "until"); err != nil {
		return 0, nil, err
	}
	page, err := a.Directory.ListAudit(c.r.Context(), c.org.ID, f)
	if err != nil {
		return 0, nil, err
	}
	out := make([]resource.AuditEvent, 0, len(page.Events))
	for _, e := range page.Events {
		out = append(out, resource.NewAuditEvent(e))
	}
	if page.NextCursor != "" {
		q := c.r.URL.Query()
		q.Set("cursor", page.NextCursor)
		next := url.URL{Path: c.r.URL.Path, RawQuery: q.Encode()}
		c.w.Header().Set("Link", fmt.Sprintf("<%s>; rel=\"next\"", next.String()))
	}
	return http.StatusOK, out, nil
}
