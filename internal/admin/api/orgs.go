package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

// orgJSON is an organization with its settings, lifetimes also in words.
type orgJSON struct {
	ID                     string `json:"id"`
	Name                   string `json:"name"`
	Issuer                 string `json:"issuer"`
	SSOEnabled             bool   `json:"sso_enabled"`
	SessionLifetimeSeconds int64  `json:"session_lifetime_seconds"`
	SessionLifetimeText    string `json:"session_lifetime_text"`
	TicketLifetimeSeconds  int64  `json:"ticket_lifetime_seconds"`
	TicketLifetimeText     string `json:"ticket_lifetime_text"`
	AuthRedirectURL        string `json:"auth_redirect_url"`
	LoginMethod            string `json:"login_method"`
	MFA                    string `json:"mfa"`
	CreatedAt              string `json:"created_at"`
	UpdatedAt              string `json:"updated_at"`
}

// orgCreatedJSON is answered once, on create: it carries the API key.
type orgCreatedJSON struct {
	orgJSON
	APIKey string `json:"api_key"`
}

type apiKeyJSON struct {
	APIKey string `json:"api_key"`
	// PreviousKeyExpiresAt is set on rotate with an overlap.
	PreviousKeyExpiresAt string `json:"previous_key_expires_at,omitempty"`
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func (a *API) toOrgJSON(o *domain.Organization) orgJSON {
	s := o.Settings
	return orgJSON{
		ID: o.ID, Name: o.Name, Issuer: a.Directory.Issuer(o.ID),
		SSOEnabled:             s.SSOEnabled,
		SessionLifetimeSeconds: s.SessionLifetimeSeconds, SessionLifetimeText: domain.DescribeSeconds(s.SessionLifetimeSeconds),
		TicketLifetimeSeconds: s.TicketLifetimeSeconds, TicketLifetimeText: domain.DescribeSeconds(s.TicketLifetimeSeconds),
		AuthRedirectURL: s.AuthRedirectURL, LoginMethod: s.LoginMethod, MFA: s.MFA,
		CreatedAt: stamp(o.CreatedAt), UpdatedAt: stamp(o.UpdatedAt),
	}
}

var forbiddenForOrgToken = &apiError{status: http.StatusForbidden, code: "forbidden",
	message: "only an operator token (latchkey admin token create without --org) may do this"}

// listOrgs lists every organization for an operator, the token's own for
// an organization token.
func (a *API) listOrgs(c *call) (int, any, error) {
	ctx := c.r.Context()
	out := []orgJSON{}
	if !c.operator() {
		o, err := a.Directory.GetOrg(ctx, c.token.OrgID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return 0, nil, err
		}
		if o != nil {
			out = append(out, a.toOrgJSON(o))
		}
		return http.StatusOK, out, nil
	}
	orgs, err := a.Directory.ListOrgs(ctx)
	if err != nil {
		return 0, nil, err
	}
	for _, o := range orgs {
		out = append(out, a.toOrgJSON(o))
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
	return http.StatusCreated, orgCreatedJSON{orgJSON: a.toOrgJSON(o), APIKey: key}, nil
}

func (a *API) getOrg(c *call) (int, any, error) {
	return http.StatusOK, a.toOrgJSON(c.org), nil
}

var orgFields = fieldSpec{
	writable: []string{"name", "sso_enabled", "session_lifetime_seconds", "ticket_lifetime_seconds", "auth_redirect_url", "login_method", "mfa"},
	readOnly: []string{"id", "issuer", "session_lifetime_text", "ticket_lifetime_text", "created_at", "updated_at"},
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
	return http.StatusOK, a.toOrgJSON(o), nil
}

// orgChanges decodes the members the body gave.
func orgChanges(body *object) (directory.OrgChanges, error) {
	var ch directory.OrgChanges
	var err error
	if ch.Name, err = body.str("name"); err != nil {
		return ch, err
	}
	if ch.SSOEnabled, err = body.boolean("sso_enabled"); err != nil {
		return ch, err
	}
	if ch.SessionLifetimeSeconds, err = body.seconds("session_lifetime_seconds"); err != nil {
		return ch, err
	}
	if ch.TicketLifetimeSeconds, err = body.seconds("ticket_lifetime_seconds"); err != nil {
		return ch, err
	}
	if ch.AuthRedirectURL, err = body.str("auth_redirect_url"); err != nil {
		return ch, err
	}
	if ch.LoginMethod, err = body.str("login_method"); err != nil {
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
	if err := a.Directory.DeleteOrg(c.r.Context(), c.org.ID); err != nil {
		return 0, nil, err
	}
	// The organization's audit log went with it: log the deletion instead.
	c.auditOrg = ""
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
	return http.StatusOK, apiKeyJSON{APIKey: key}, nil
}

// defaultAPIKeyOverlap is how long a rotated-out API key keeps working
// unless the request says otherwise.
const defaultAPIKeyOverlap = 86400

func (a *API) rotateAPIKey(c *call) (int, any, error) {
	body, err := c.body(fieldSpec{writable: []string{"overlap_seconds"}}, true)
	if err != nil {
		return 0, nil, err
	}
	overlap := int64(defaultAPIKeyOverlap)
	if v, err := body.seconds("overlap_seconds"); err != nil {
		return 0, nil, err
	} else if v != nil {
		overlap = *v
	}
	if maxOverlap := int64(directory.MaxAPIKeyOverlap / time.Second); overlap < 0 || overlap > maxOverlap {
		return 0, nil, domain.Invalid("overlap_seconds", "must be between 0 and %d seconds (30 days)", maxOverlap)
	}
	started := a.now()
	key, err := a.Directory.RotateAPIKey(c.r.Context(), c.actor, c.org.ID, time.Duration(overlap)*time.Second)
	if err != nil {
		return 0, nil, err
	}
	c.changeAudited = true
	out := apiKeyJSON{APIKey: key}
	if overlap > 0 {
		out.PreviousKeyExpiresAt = stamp(started.Add(time.Duration(overlap) * time.Second))
	}
	return http.StatusOK, out, nil
}
