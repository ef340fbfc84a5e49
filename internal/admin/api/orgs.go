package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/directory/resource"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

func (a *API) org(o *domain.Organization) resource.Org {
	return resource.NewOrg(o, a.Directory.Issuer(o.ID))
}

var forbiddenForOrgToken = &apiError{status: http.StatusForbidden, code: "forbidden",
	message: "only an operator token (latchkey admin token create without --org) may do this"}

// listOrgs lists every organization for an operator, the token's own for
// an organization token.
func (a *API) listOrgs(c *call) (int, any, error) {
	ctx := c.r.Context()
	out := []resource.Org{}
	if !c.operator() {
		o, err := a.Directory.GetOrg(ctx, c.token.OrgID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return 0, nil, err
		}
		if o != nil {
			out = append(out, a.org(o))
		}
		return http.StatusOK, out, nil
	}
	orgs, err := a.Directory.ListOrgs(ctx)
	if err != nil {
		return 0, nil, err
	}
	for _, o := range orgs {
		out = append(out, a.org(o))
	}
	return http.StatusOK, out, nil
}

func (a *API) createOrg(c *call) (int, any, error) {
	if !c.operator() {
		return 0, nil, forbiddenForOrgToken
	}
	body, err := c.body(fieldSpec{writable: []string{"id", "name"}}, false)
	if err != nil {
		return 0, nil, err
	}
	id, err := body.str("id")
	if err != nil {
		return 0, nil, err
	}
	name, err := body.str("name")
	if err != nil {
		return 0, nil, err
	}
	if id == nil {
		return 0, nil, domain.Invalid("id", "is required")
	}
	if name == nil {
		name = new(string) // the domain's rule names the missing field
	}
	c.target = *id
	o, key, err := a.Directory.CreateOrg(c.r.Context(), c.actor, *id, *name)
	if err != nil {
		return 0, nil, err
	}
	// The directory audited the creation in the new organization's log.
	c.changeAudited = true
	return http.StatusCreated, resource.OrgCreated{ID: o.ID, Name: o.Name, Issuer: a.Directory.Issuer(o.ID), APIKey: key}, nil
}

func (a *API) getOrg(c *call) (int, any, error) {
	return http.StatusOK, a.org(c.org), nil
}

// orgSettings are the members of an organization's settings: given at the
// top level of an update, or inside "settings" as answers show them.
var orgSettings = []string{"ssoEnabled", "sessionLifetimeSeconds", "ticketLifetimeSeconds", "authRedirectUrl", "loginMethod", "mfa"}

var orgFields = fieldSpec{
	writable: append([]string{"name"}, orgSettings...),
	readOnly: []string{"id", "issuer", "createdAt", "updatedAt"},
	nested:   map[string][]string{"settings": orgSettings},
}

func (a *API) updateOrg(c *call) (int, any, error) {
	body, err := c.body(orgFields, false)
	if err != nil {
		return 0, nil, err
	}
	ch, err := orgChanges(body)
	if err != nil {
		return 0, nil, err
	}
	o, err := a.Directory.UpdateOrg(c.r.Context(), c.actor, c.org.ID, ch)
	if err != nil {
		return 0, nil, err
	}
	c.changeAudited = true
	return http.StatusOK, a.org(o), nil
}

// orgChanges decodes the members the body gave.
func orgChanges(body *object) (directory.OrgChanges, error) {
	var ch directory.OrgChanges
	var err error
	if ch.Name, err = body.str("name"); err != nil {
		return ch, err
	}
	if ch.SSOEnabled, err = body.boolean("ssoEnabled"); err != nil {
		return ch, err
	}
	if ch.SessionLifetimeSeconds, err = body.seconds("sessionLifetimeSeconds"); err != nil {
		return ch, err
	}
	if ch.TicketLifetimeSeconds, err = body.seconds("ticketLifetimeSeconds"); err != nil {
		return ch, err
	}
	if ch.AuthRedirectURL, err = body.str("authRedirectUrl"); err != nil {
		return ch, err
	}
	if ch.LoginMethod, err = body.str("loginMethod"); err != nil {
		return ch, err
	}
	if ch.MFA, err = body.str("mfa"); err != nil {
		return ch, err
	}
	return ch, nil
}

func (a *API) deleteOrg(c *call) (int, any, error) {
	if !c.operator() {
		return 0, nil, forbiddenForOrgToken
	}
	if err := a.Directory.DeleteOrg(c.r.Context(), c.actor, c.org.ID); err != nil {
		return 0, nil, err
	}
	c.changeAudited = true
	return http.StatusNoContent, nil, nil
}

func (a *API) revealAPIKey(c *call) (int, any, error) {
	if _, err := c.body(fieldSpec{}, true); err != nil {
		return 0, nil, err
	}
	key, err := a.Directory.RevealAPIKey(c.r.Context(), c.actor, c.org.ID)
	if err != nil {
		return 0, nil, err
	}
	c.changeAudited = true
	return http.StatusOK, resource.APIKey{ID: c.org.ID, APIKey: key}, nil
}

func (a *API) rotateAPIKey(c *call) (int, any, error) {
	body, err := c.body(fieldSpec{writable: []string{"overlapSeconds"}}, true)
	if err != nil {
		return 0, nil, err
	}
	overlap := directory.DefaultAPIKeyOverlap
	if v, err := body.seconds("overlapSeconds"); err != nil {
		return 0, nil, err
	} else if v != nil {
		if most := int64(directory.MaxAPIKeyOverlap / time.Second); *v < 0 || *v > most {
			return 0, nil, domain.Invalid("overlapSeconds", "must be between 0 and %d seconds (30 days)", most)
		}
		overlap = time.Duration(*v) * time.Second
	}
	started := a.now()
	key, err := a.Directory.RotateAPIKey(c.r.Context(), c.actor, c.org.ID, overlap)
	if err != nil {
		return 0, nil, err
	}
	c.changeAudited = true
	out := resource.APIKey{ID: c.org.ID, APIKey: key}
	if overlap > 0 {
		out.PreviousKeyExpiresAt = resource.OptStamp(started.Add(overlap))
	}
	return http.StatusOK, out, nil
}
