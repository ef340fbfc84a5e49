package api

import (
	"net/http"
	"strings"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/directory/resource"
	"github.com/latchkey/latchkey/internal/domain"
)

// upstreamSettings are the members PUT takes.
var upstreamSettings = []string{
	"configUrl", "clientId", "clientSecret", "scopes", "usernameClaim", "displayName", "logoutUrl", "endUpstreamSession",
}

var upstreamReadOnly = []string{"orgId", "hasClientSecret", "redirectUri", "logoutCallbackUri", "createdAt", "updatedAt"}

func (a *API) getUpstream(c *call) (int, any, error) {
	u, err := a.Directory.GetUpstream(c.r.Context(), c.org.ID)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, resource.NewUpstream(a.Directory, u), nil
}

// scopeList returns scopes given as an array of strings or as one string
// of space-separated scopes (what a form field sends), nil when absent.
func (o *object) scopeList(name string) (*[]string, error) {
	raw, ok := o.fields[name]
	if !ok {
		return nil, nil
	}
	if kind(raw) != "a string" {
		v, err := o.stringList(name)
		if err != nil {
			return nil, domain.Invalid(name, "must be an array of scopes or a string of space-separated scopes (got %s)", kind(raw))
		}
		return v, nil
	}
	s, err := o.str(name)
	if err != nil {
		return nil, err
	}
	v := strings.Fields(*s)
	return &v, nil
}

// upstreamChanges decodes the settings the body gave.
func upstreamChanges(body *object) (directory.UpstreamChanges, error) {
	var ch directory.UpstreamChanges
	var err error
	for _, f := range []struct {
		name string
		dst  **string
	}{
		{"configUrl", &ch.ConfigURL}, {"clientId", &ch.ClientID}, {"clientSecret", &ch.ClientSecret},
		{"usernameClaim", &ch.UsernameClaim}, {"displayName", &ch.DisplayName}, {"logoutUrl", &ch.LogoutURL},
	} {
		if *f.dst, err = body.str(f.name); err != nil {
			return ch, err
		}
	}
	if ch.Scopes, err = body.scopeList("scopes"); err != nil {
		return ch, err
	}
	if ch.EndUpstreamSession, err = body.boolean("endUpstreamSession"); err != nil {
		return ch, err
	}
	return ch, nil
}

// putUpstream creates the connection (201) or changes the members given
// (200); an omitted client_secret keeps the stored one. The first save
// needs config_url, client_id and client_secret.
func (a *API) putUpstream(c *call) (int, any, error) {
	body, err := c.body(fieldSpec{writable: upstreamSettings, readOnly: upstreamReadOnly}, false)
	if err != nil {
		return 0, nil, err
	}
	ch, err := upstreamChanges(body)
	if err != nil {
		return 0, nil, err
	}
	if ch.IsZero() {
		return 0, nil, &apiError{status: http.StatusBadRequest, code: "invalid_request",
			message: "nothing to set: give at least one of " + strings.Join(upstreamSettings, ", ")}
	}
	u, created, err := a.Directory.SetUpstream(c.r.Context(), c.actor, c.org.ID, ch)
	if err != nil {
		return 0, nil, err
	}
	c.changeAudited = true
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return status, resource.NewUpstream(a.Directory, u), nil
}

// deleteUpstream removes the connection. While the organization signs in
// through it, that would lock its users out, so it is refused.
func (a *API) deleteUpstream(c *call) (int, any, error) {
	if err := a.Directory.DeleteUpstream(c.r.Context(), c.actor, c.org.ID); err != nil {
		return 0, nil, err
	}
	c.changeAudited = true
	return http.StatusNoContent, nil, nil
}

// checkUpstream fetches the discovery document through the guarded
// outbound client and reports what it offers or why it cannot be used.
// The body may give configUrl (and endUpstreamSession) to check settings
// before they are saved; without it the saved connection is checked.
func (a *API) checkUpstream(c *call) (int, any, error) {
	body, err := c.body(fieldSpec{writable: []string{"configUrl", "endUpstreamSession"}}, true)
	if err != nil {
		return 0, nil, err
	}
	var probe directory.UpstreamProbe
	if probe.ConfigURL, err = body.str("configUrl"); err != nil {
		return 0, nil, err
	}
	if probe.EndUpstreamSession, err = body.boolean("endUpstreamSession"); err != nil {
		return 0, nil, err
	}
	check, err := a.Directory.CheckUpstream(c.r.Context(), c.actor, c.org.ID, probe)
	if err != nil {
		return 0, nil, err
	}
	c.changeAudited = true
	if ce := check.Error; ce != nil {
		a.log().InfoContext(c.r.Context(), "admin api: upstream check failed", "kind", ce.Kind, "url", ce.URL, "reason", ce.Reason, "err", ce.Err)
	}
	return http.StatusOK, resource.NewUpstreamCheck(check), nil
}
