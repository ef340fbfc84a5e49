package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
)

// userJSON is a user as the API shows it; never the password hash.
type userJSON struct {
	UserName      string `json:"user_name"`
	Sub           string `json:"sub"`
	Name          string `json:"name"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	Picture       string `json:"picture"`
	Role          string `json:"role"`
	Disabled      bool   `json:"disabled"`
	HasPassword   bool   `json:"has_password"`
	CreatedAt     string `json:"created_at"`
	UpdatedAt     string `json:"updated_at"`
}

func toUserJSON(u *domain.User) userJSON {
	return userJSON{
		UserName: u.UserName, Sub: u.Sub, Name: u.Name, Email: u.Email, EmailVerified: u.EmailVerified,
		Picture: u.Picture, Role: u.Role, Disabled: u.Disabled, HasPassword: u.PasswordHash != "",
		CreatedAt: stamp(u.CreatedAt), UpdatedAt: stamp(u.UpdatedAt),
	}
}

var userSettings = []string{"name", "email", "email_verified", "picture", "role", "disabled", "password"}

var userReadOnly = []string{"sub", "has_password", "created_at", "updated_at"}

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
	if ch.EmailVerified, err = body.boolean("email_verified"); err != nil {
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

func (a *API) listUsers(c *call) (int, any, error) {
	f := directory.UserFilter{Query: c.query["query"]}
	if v, ok := c.query["limit"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > directory.MaxListUsers {
			return 0, nil, domain.Invalid("limit", "must be a whole number between 1 and %d (got %q)", directory.MaxListUsers, v)
		}
		f.Limit = n
	}
	users, err := a.Directory.ListUsers(c.r.Context(), c.org.ID, f)
	if err != nil {
		return 0, nil, err
	}
	out := make([]userJSON, 0, len(users))
	for _, u := range users {
		out = append(out, toUserJSON(u))
	}
	return http.StatusOK, out, nil
}

func (a *API) createUser(c *call) (int, any, error) {
	body, err := c.body(fieldSpec{writable: append([]string{"user_name"}, userSettings...), readOnly: userReadOnly}, false)
	if err != nil {
		return 0, nil, err
	}
	name, err := body.str("user_name")
	if err != nil {
		return 0, nil, err
	}
	if name == nil {
		return 0, nil, domain.Invalid("user_name", "is required")
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
	return http.StatusCreated, toUserJSON(u), nil
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
	return http.StatusOK, toUserJSON(u), nil
}

func (a *API) updateUser(c *call) (int, any, error) {
	if _, err := a.pathUser(c); err != nil {
		return 0, nil, err
	}
	body, err := c.body(fieldSpec{writable: userSettings, readOnly: userReadOnly,
		fixed: map[string]string{"user_name": "cannot change: applications know the user by it"}}, false)
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
	return http.StatusOK, toUserJSON(u), nil
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

// auditJSON is one audit event.
type auditJSON struct {
	ID       string            `json:"id"`
	At       string            `json:"at"`
	Actor    string            `json:"actor"`
	Action   string            `json:"action"`
	Target   string            `json:"target"`
	Result   string            `json:"result"`
	ClientIP string            `json:"client_ip"`
	Detail   map[string]string `json:"detail"`
}

func (a *API) listAudit(c *call) (int, any, error) {
	limit := 100
	if v, ok := c.query["limit"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return 0, nil, domain.Invalid("limit", "must be a whole number between 1 and 1000 (got %q)", v)
		}
		limit = n
	}
	page, err := a.Directory.ListAudit(c.r.Context(), c.org.ID, directory.AuditFilter{Limit: limit})
	if err != nil {
		return 0, nil, err
	}
	out := make([]auditJSON, 0, len(page.Events))
	for _, e := range page.Events {
		d := e.Detail
		if d == nil {
			d = map[string]string{}
		}
		out = append(out, auditJSON{ID: e.ID, At: e.At.UTC().Format(time.RFC3339Nano), Actor: e.Actor, Action: e.Action,
			Target: e.Target, Result: e.Result, ClientIP: e.ClientIP, Detail: d})
	}
	return http.StatusOK, out, nil
}
