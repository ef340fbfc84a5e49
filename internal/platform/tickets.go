package platform

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/platform/ticket"
	"github.com/latchkey/latchkey/internal/store"
)

const actionGenerate = "platform.ticket.generate"

// ticketResponse is generate-token's answer. The seed calls the login
// ticket a "refresh token"; it is no OAuth refresh token.
type ticketResponse struct {
	RefreshToken string `json:"refreshToken"`
	ExpiresIn    int64  `json:"expiresIn"`
	LoginURL     string `json:"loginUrl"`
}

// generateToken mints a one-time login ticket for an existing, enabled
// user. The call has no body; one that is sent is ignored.
func (a *API) generateToken(w http.ResponseWriter, r *http.Request) {
	c, ok := a.authenticate(w, r, actionGenerate)
	if !ok {
		return
	}
	ctx := r.Context()
	userName := r.PathValue("userName")
	fail := func(e *apiError, result string) {
		writeError(w, e)
		a.audit(ctx, c.org.ID, c.actor, actionGenerate, auditTarget(r), result, nil)
	}
	if err := domain.ValidateUserName(userName); err != nil {
		fe, _ := domain.AsFieldError(err)
		fail(invalid("userName", "userName "+fe.Message+"."), "invalid")
		return
	}
	u, err := a.Store.GetUserByName(ctx, c.org.ID, userName)
	if errors.Is(err, store.ErrNotFound) {
		fail(&apiError{Status: http.StatusNotFound, Code: "not_found", Field: "userName",
			Message: "No user named " + userName + " in this organization: create it with the update call first."}, "not_found")
		return
	}
	if err != nil {
		a.internalError(w, r, "load user", err)
		return
	}
	if u.Disabled {
		fail(&apiError{Status: http.StatusForbidden, Code: "user_disabled", Field: "userName",
			Message: "The user " + u.UserName + " is disabled and cannot sign in."}, "disabled")
		return
	}
	value, hash, err := ticket.New(a.rand(), c.org.ID)
	if err != nil {
		a.internalError(w, r, "mint ticket", err)
		return
	}
	now := a.now()
	life := ticketLifetime(c.org)
	// The ticket and its audit event are one commit.
	t := &domain.LoginTicket{OrgID: c.org.ID, Hash: hash, UserSub: u.Sub, CreatedAt: now, ExpiresAt: now.Add(life)}
	if err := a.Store.CreateTicket(ctx, t, a.event(c.org.ID, c.actor, actionGenerate, u.UserName, "ok", nil)); err != nil {
		a.internalError(w, r, "store ticket", err)
		return
	}
	a.Tickets.Put(t.OrgID, t.Hash, t, t.ExpiresAt, now)
	writeJSON(w, http.StatusOK, ticketResponse{
		RefreshToken: value,
		ExpiresIn:    int64(life.Seconds()),
		LoginURL:     a.PublicURL + "/?" + url.Values{"refresh-token": {value}}.Encode(),
	})
}
