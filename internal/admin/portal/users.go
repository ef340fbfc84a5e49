package portal

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
)

type usersData struct {
	Query string
	Users []*domain.User
	More  bool
}

const userPageSize = 100

func (p *Portal) userList(q *orgRequest) {
	query := strings.TrimSpace(q.r.URL.Query().Get("q"))
	users, err := p.Directory.ListUsers(q.r.Context(), q.org.ID, directory.UserFilter{Query: query, Limit: userPageSize + 1})
	// The query is shown back as valid text, whatever was sent.
	d := &usersData{Query: strings.ToValidUTF8(query, "\uFFFD")}
	v := p.newView(q.r, q.admin, q.org, "Users", "users")
	v.Data = d
	if fe, ok := domain.AsFieldError(err); ok {
		// A search that cannot be run is said next to the search field.
		v.Errors["q"] = "The search " + fe.Message + "."
		p.render(q.w, q.r, http.StatusBadRequest, "users", v)
		return
	}
	if err != nil {
		p.internalError(q.w, q.r, "list users", err)
		return
	}
	d.Users = users
	if len(users) > userPageSize {
		d.Users, d.More = users[:userPageSize], true
	}
	p.render(q.w, q.r, http.StatusOK, "users", v)
}

func roleOptions(cur string) []Option {
	return []Option{
		{Value: domain.RoleUser, Label: "User", Selected: cur != domain.RoleAdmin},
		{Value: domain.RoleAdmin, Label: "Administrator", Selected: cur == domain.RoleAdmin},
	}
}

func (p *Portal) userNew(q *orgRequest) {
	v := p.newView(q.r, q.admin, q.org, "Create user", "users")
	v.Data = roleOptions(domain.RoleUser)
	p.render(q.w, q.r, http.StatusOK, "usernew", v)
}

func (p *Portal) userCreate(q *orgRequest) {
	f := q.r.PostForm
	v := p.newView(q.r, q.admin, q.org, "Create user", "users")
	v.Form = f
	v.Data = roleOptions(f.Get("role"))
	str := func(name string) *string { s := strings.TrimSpace(f.Get(name)); return &s }
	ch := directory.UserChanges{Name: str("name"), Email: str("email"), Picture: str("picture"), Role: str("role")}
	if pw := f.Get("password"); pw != "" {
		ch.Password = &pw
	}
	userName := strings.TrimSpace(f.Get("userName"))
	u, err := p.Directory.CreateUser(q.r.Context(), q.admin.actor(q.r), q.org.ID, userName, ch)
	f.Set("password", "")
	if err != nil {
		if v.fail(err, nil) {
			p.render(q.w, q.r, http.StatusBadRequest, "usernew", v)
			return
		}
		p.internalError(q.w, q.r, "create user", err)
		return
	}
	p.redirectFlash(q.w, q.r, p.userURL(q, u.UserName), "User "+u.UserName+" created.")
}

func (p *Portal) userURL(q *orgRequest, userName string) string {
	return "/admin/o/" + q.org.ID + "/users/" + url.PathEscape(userName) + "/"
}

type userData struct {
	User     *domain.User
	Roles    []Option
	Sessions []*domain.Session
	MFA      *directory.UserMFA
	// Form names the form the kept input and errors belong to.
	Form string
}

func (p *Portal) userView(q *orgRequest, form string) (*view, *userData, bool) {
	ctx := q.r.Context()
	name := q.r.PathValue("user")
	u, err := p.Directory.GetUser(ctx, q.org.ID, name)
	if isNotFound(err) {
		p.notFound(q.w, q.r)
		return nil, nil, false
	}
	if err != nil {
		p.internalError(q.w, q.r, "load user", err)
		return nil, nil, false
	}
	sessions, err := p.Directory.ListUserSessions(ctx, q.org.ID, u.UserName)
	if err != nil {
		p.internalError(q.w, q.r, "list sessions", err)
		return nil, nil, false
	}
	mfa, err := p.Directory.UserMFA(ctx, q.org.ID, u.UserName)
	if err != nil {
		p.internalError(q.w, q.r, "second factors", err)
		return nil, nil, false
	}
	v := p.newView(q.r, q.admin, q.org, u.UserName, "users")
	d := &userData{User: u, Roles: roleOptions(u.Role), Sessions: sessions, MFA: mfa, Form: form}
	v.Data = d
	return v, d, true
}

func (p *Portal) userPage(q *orgRequest) {
	if v, _, ok := p.userView(q, ""); ok {
		p.render(q.w, q.r, http.StatusOK, "user", v)
	}
}

// userChange saves ch for the user named in the path, then back to the
// user's page with msg; a field error shows the page with the input kept.
func (p *Portal) userChange(q *orgRequest, form string, ch directory.UserChanges, msg string) {
	v, d, ok := p.userView(q, form)
	if !ok {
		return
	}
	v.Form = q.r.PostForm
	if form == "profile" {
		d.Roles = roleOptions(q.r.PostFormValue("role"))
	}
	u, err := p.Directory.UpdateUser(q.r.Context(), q.admin.actor(q.r), q.org.ID, d.User.UserName, ch)
	if err != nil {
		v.Form.Set("password", "")
		if v.fail(err, nil) {
			p.render(q.w, q.r, http.StatusBadRequest, "user", v)
			return
		}
		p.internalError(q.w, q.r, "update user", err)
		return
	}
	p.redirectFlash(q.w, q.r, p.userURL(q, u.UserName), msg)
}

func (p *Portal) userSave(q *orgRequest) {
	f := q.r.PostForm
	str := func(name string) *string { s := strings.TrimSpace(f.Get(name)); return &s }
	p.userChange(q, "profile", directory.UserChanges{Name: str("name"), Email: str("email"), Picture: str("picture"), Role: str("role")}, "User saved.")
}

func (p *Portal) userPassword(q *orgRequest) {
	pw := q.r.PostFormValue("password")
	p.userChange(q, "password", directory.UserChanges{Password: &pw}, "Password set.")
}

func (p *Portal) userClearPassword(q *orgRequest) {
	p.userChange(q, "", directory.UserChanges{ClearPassword: true}, "Password cleared: the user can no longer sign in with a password.")
}

func (p *Portal) userDisable(q *orgRequest) {
	t := true
	p.userChange(q, "", directory.UserChanges{Disabled: &t}, "User disabled.")
}

func (p *Portal) userEnable(q *orgRequest) {
	f := false
	p.userChange(q, "", directory.UserChanges{Disabled: &f}, "User enabled.")
}

func (p *Portal) userRevokeSession(q *orgRequest) {
	name := q.r.PathValue("user")
	err := p.Directory.EndUserSession(q.r.Context(), q.admin.actor(q.r), q.org.ID, name, q.r.PostFormValue("sid"))
	if isNotFound(err) {
		p.redirectFlash(q.w, q.r, p.userURL(q, name), "That session had already ended.")
		return
	}
	if err != nil {
		p.internalError(q.w, q.r, "end session", err)
		return
	}
	p.redirectFlash(q.w, q.r, p.userURL(q, name), "Session revoked: the user is signed out of every application of that session.")
}

func (p *Portal) userRevokeAll(q *orgRequest) {
	name := q.r.PathValue("user")
	n, err := p.Directory.EndUserSessions(q.r.Context(), q.admin.actor(q.r), q.org.ID, name)
	if isNotFound(err) {
		p.notFound(q.w, q.r)
		return
	}
	if err != nil {
		p.internalError(q.w, q.r, "end sessions", err)
		return
	}
	p.redirectFlash(q.w, q.r, p.userURL(q, name), "All sessions revoked ("+itoa(n)+").")
}

// userResetMFA removes every second factor of the user and ends the
// user's sessions, once the confirmation box is ticked.
func (p *Portal) userResetMFA(q *orgRequest) {
	if q.r.PostFormValue("confirm") != "yes" {
		v, _, ok := p.userView(q, "mfa")
		if !ok {
			return
		}
		v.Form = q.r.PostForm
		v.Errors["confirm"] = "tick the box to confirm the reset"
		p.render(q.w, q.r, http.StatusBadRequest, "user", v)
		return
	}
	name := q.r.PathValue("user")
	_, err := p.Directory.ResetUserMFA(q.r.Context(), q.admin.actor(q.r), q.org.ID, name)
	if isNotFound(err) {
		p.notFound(q.w, q.r)
		return
	}
	if err != nil {
		p.internalError(q.w, q.r, "reset second factors", err)
		return
	}
	p.redirectFlash(q.w, q.r, p.userURL(q, name), "Second factors reset; the user's sessions were ended.")
}

func (p *Portal) userUnlink(q *orgRequest) {
	name := q.r.PathValue("user")
	_, err := p.Directory.UnlinkUpstream(q.r.Context(), q.admin.actor(q.r), q.org.ID, name)
	if err != nil {
		if fe, ok := domain.AsFieldError(err); ok {
			p.redirectFlash(q.w, q.r, p.userURL(q, name), fe.Message)
			return
		}
		if isNotFound(err) {
			p.notFound(q.w, q.r)
			return
		}
		p.internalError(q.w, q.r, "unlink upstream", err)
		return
	}
	p.redirectFlash(q.w, q.r, p.userURL(q, name), "Upstream link removed.")
}
