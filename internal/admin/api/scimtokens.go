package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/directory/resource"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/internal/store"
)

// scimTokenCreatedJSON is answered on create: the token, shown this once.
type scimTokenCreatedJSON struct {
	resource.SCIMToken
	Token   string `json:"token"`
	BaseURL string `json:"baseUrl"`
}

func (a *API) toSCIMTokenJSON(t *domain.SCIMToken) resource.SCIMToken {
	return resource.NewSCIMToken(t, a.now())
}

func (a *API) listSCIMTokens(c *call) (int, any, error) {
	ts, err := a.Directory.ListSCIMTokens(c.r.Context(), c.org.ID)
	if err != nil {
		return 0, nil, err
	}
	out := make([]resource.SCIMToken, 0, len(ts))
	for _, t := range ts {
		out = append(out, a.toSCIMTokenJSON(t))
	}
	return http.StatusOK, out, nil
}

// createSCIMToken takes {"description": "…", "expiresIn": seconds}; an
// expiresIn of 0 makes a token that never expires.
func (a *API) createSCIMToken(c *call) (int, any, error) {
	body, err := c.body(fieldSpec{writable: []string{"description", "expiresIn"},
		readOnly: []string{"id", "org", "state", "createdAt", "expiresAt", "lastUsedAt", "revokedAt", "token", "baseUrl"}}, true)
	if err != nil {
		return 0, nil, err
	}
	desc, err := body.str("description")
	if err != nil {
		return 0, nil, err
	}
	ttl := directory.DefaultSCIMTokenTTL
	if body.has("expiresIn") {
		secs, err := body.seconds("expiresIn")
		if err != nil {
			return 0, nil, err
		}
		if *secs < 0 || *secs > int64(directory.MaxSCIMTokenTTL/time.Second) {
			return 0, nil, domain.Invalid("expiresIn", "must be between 0 (never expires) and %d seconds", int64(directory.MaxSCIMTokenTTL/time.Second))
		}
		ttl = time.Duration(*secs) * time.Second
	}
	d := ""
	if desc != nil {
		d = *desc
	}
	t, plain, err := a.Directory.CreateSCIMToken(c.r.Context(), c.actor, c.org.ID, d, ttl)
	if err != nil {
		return 0, nil, err
	}
	c.target, c.changeAudited = t.ID, true
	return http.StatusCreated, scimTokenCreatedJSON{SCIMToken: a.toSCIMTokenJSON(t), Token: plain,
		BaseURL: request.Issuer(c.r.Context()) + "/scim/v2"}, nil
}

func (a *API) revokeSCIMToken(c *call) (int, any, error) {
	id := c.r.PathValue("id")
	c.target = id
	if err := a.Directory.RevokeSCIMToken(c.r.Context(), c.actor, c.org.ID, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return 0, nil, &apiError{status: http.StatusNotFound, code: "not_found",
				message: fmt.Sprintf("no active SCIM token %q in organization %q", id, c.org.ID)}
		}
		return 0, nil, err
	}
	c.changeAudited = true
	return http.StatusNoContent, nil, nil
}
