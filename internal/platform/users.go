package platform

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

const actionUpdate = "platform.user.update"

// userJSON is a user as the API returns it.
type userJSON struct {
	UserName  string `json:"userName"`
	Sub       string `json:"sub"`
	Name      string `json:"name"`
	Role      string `json:"role"`
	Picture   string `json:"picture"`
	Email     string `json:"email"`
	Disabled  bool   `json:"disabled"`
	CreatedAt string `json:"createdAt"`
	UpdatedAt string `json:"updatedAt"`
}

// rfc3339Millis is RFC 3339 in UTC with milliseconds, the precision every
// backend keeps (so a value read back later prints the same).
const rfc3339Millis = "2006-01-02T15:04:05.000Z07:00"

func toJSON(u *domain.User) userJSON {
	return userJSON{
		UserName: u.UserName, Sub: u.Sub, Name: u.Name, Role: u.Role, Picture: u.Picture, Email: u.Email, Disabled: u.Disabled,
		CreatedAt: u.CreatedAt.UTC().Format(rfc3339Millis), UpdatedAt: u.UpdatedAt.UTC().Format(rfc3339Millis),
	}
}

// update creates the user named in the path (201) or changes the given
// fields of the existing one (200), and returns it.
func (a *API) update(w http.ResponseWriter, r *http.Request) {
	c, ok := a.authenticate(w, r, actionUpdate)
	if !ok {
		return
	}
	ctx := r.Context()
	userName := r.PathValue("userName")
	reject := func(e *apiError) {
		writeError(w, e)
		a.audit(ctx, c.org.ID, c.actor, actionUpdate, auditTarget(r), "invalid", map[string]string{"field": e.Field})
	}
	if err := domain.ValidateUserName(userName); err != nil {
		fe, _ := domain.AsFieldError(err)
		reject(invalid("userName", "userName "+fe.Message+"."))
		return
	}
	f, e := readUserFields(w, r)
	if e != nil {
		reject(e)
		return
	}
	changes := directory.UserChanges{Name: f.Name, Role: f.Role, Picture: f.Picture, Email: f.Email}
	u, created, err := a.upsert(ctx, c, userName, f, changes)
	if fe, ok := domain.AsFieldError(err); ok {
		reject(invalid(fe.Field, fe.Field+" "+fe.Message+"."))
		return
	}
	if err != nil {
		a.internalError(w, r, "save user", err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, toJSON(u))
}

// upsert creates or updates; directory validates before it writes and
// audits the change under the caller's key.
func (a *API) upsert(ctx context.Context, c *caller, userName string, f *userFields, changes directory.UserChanges) (*domain.User, bool, error) {
	for attempt := 0; ; attempt++ {
		cur, err := a.Store.GetUserByName(ctx, c.org.ID, userName)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, false, err
		}
		if cur == nil {
			u, err := a.Directory.CreateUser(ctx, c.actor, c.org.ID, userName, changes)
			if fe, ok := domain.AsFieldError(err); ok && fe.Field == "userName" && attempt == 0 {
				continue // created by a concurrent call a moment ago: update it instead
			}
			return u, err == nil, err
		}
		// A new address is not one anybody verified.
		if f.Email != nil && *f.Email != cur.Email {
			unverified := false
			changes.EmailVerified = &unverified
		}
		u, err := a.Directory.UpdateUserFrom(ctx, c.actor, cur, changes)
		return u, false, err
	}
}

// ticketLifetime is the organization's login ticket lifetime.
func ticketLifetime(org *domain.Organization) time.Duration {
	s := org.Settings.TicketLifetimeSeconds
	if s <= 0 {
		s = domain.DefaultTicketLifetime
	}
	return time.Duration(s) * time.Second
}
