package portal

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

type orgsData struct {
	Orgs []*domain.Organization
	// NewOrg and NewAPIKey: the organization just created and its API key,
	// shown this once.
	NewOrg    *domain.Organization
	NewAPIKey string
}

func (p *Portal) orgsView(w http.ResponseWriter, r *http.Request, a *admin, form url.Values) (*view, bool) {
	v := p.newView(r, a, nil, "Organizations", "orgs")
	v.Form = form
	orgs, err := p.Directory.ListOrgs(r.Context())
	if err != nil {
		p.internalError(w, r, "list organizations", err)
		return nil, false
	}
	sort.Slice(orgs, func(i, j int) bool { return orgs[i].ID < orgs[j].ID })
	v.Data = &orgsData{Orgs: orgs}
	return v, true
}

func (p *Portal) orgList(w http.ResponseWriter, r *http.Request, a *admin) {
	if v, ok := p.orgsView(w, r, a, nil); ok {
		p.render(w, r, http.StatusOK, "orgs", v)
	}
}

func (p *Portal) orgCreate(w http.ResponseWriter, r *http.Request, a *admin) {
	id, name := strings.TrimSpace(r.PostFormValue("id")), strings.TrimSpace(r.PostFormValue("name"))
	o, key, err := p.Directory.CreateOrg(r.Context(), a.actor(r), id, name)
	v, ok := p.orgsView(w, r, a, r.PostForm)
	if !ok {
		return
	}
	if err != nil {
		if v.fail(err, nil) {
			p.render(w, r, http.StatusBadRequest, "orgs", v)
			return
		}
		p.internalError(w, r, "create organization", err)
		return
	}
	v.Form = nil
	d := v.Data.(*orgsData)
	d.NewOrg, d.NewAPIKey = o, key
	v.Flash = "Organization " + o.ID + " created."
	noStore(w)
	p.render(w, r, http.StatusOK, "orgs", v)
}

func (p *Portal) orgDeleteForm(w http.ResponseWriter, r *http.Request, a *admin) {
	o, err := p.Directory.GetOrg(r.Context(), r.PathValue("org"))
	if err != nil {
		p.notFound(w, r)
		return
	}
	v := p.newView(r, a, nil, "Delete organization "+o.ID, "orgs")
	v.Data = o
	p.render(w, r, http.StatusOK, "orgdelete", v)
}

func (p *Portal) orgDelete(w http.ResponseWriter, r *http.Request, a *admin) {
	o, err := p.Directory.GetOrg(r.Context(), r.PathValue("org"))
	if err != nil {
		p.notFound(w, r)
		return
	}
	v := p.newView(r, a, nil, "Delete organization "+o.ID, "orgs")
	v.Data, v.Form = o, r.PostForm
	if r.PostFormValue("confirm") != o.ID {
		v.Errors["confirm"] = "type the organization ID " + o.ID + " exactly to confirm"
		p.render(w, r, http.StatusBadRequest, "orgdelete", v)
		return
	}
	if err := p.Directory.DeleteOrg(r.Context(), a.actor(r), o.ID); err != nil {
		if v.fail(err, map[string]string{"id": "confirm", "org": "confirm"}) {
			p.render(w, r, http.StatusBadRequest, "orgdelete", v)
			return
		}
		p.internalError(w, r, "delete organization", err)
		return
	}
	p.redirectFlash(w, r, "/admin/", "Organization "+o.ID+" deleted.")
}

// endpoint is one labelled URL with a copy button.
type endpoint struct {
	Label, URL string
}

type overviewData struct {
	Issuer    string
	Discovery string
	Endpoints []endpoint
	Upstream  []endpoint
	PortalURL string
}

// discoveredEndpoints reads the organization's discovery document (served
// by this server, in-process) and lists every endpoint it names.
func (p *Portal) discoveredEndpoints(r *http.Request, orgID string) (*overviewData, error) {
	iss := p.issuer(orgID)
	d := &overviewData{Issuer: iss, Discovery: iss + "/.well-known/openid-configuration", PortalURL: p.Directory.PortalURL(orgID) + "/"}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, d.Discovery, nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.backChannelClient().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, errors.New("discovery answered " + resp.Status)
	}
	var doc map[string]any
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc); err != nil {
		return nil, err
	}
	labels := []struct{ key, label string }{
		{"authorization_endpoint", "Authorization endpoint"},
		{"token_endpoint", "Token endpoint"},
		{"userinfo_endpoint", "UserInfo endpoint"},
		{"jwks_uri", "JWKS URI"},
		{"end_session_endpoint", "End session endpoint"},
		{"revocation_endpoint", "Revocation endpoint"},
		{"introspection_endpoint", "Introspection endpoint"},
	}
	seen := map[string]bool{}
	for _, l := range labels {
		if s, ok := doc[l.key].(string); ok {
			d.Endpoints = append(d.Endpoints, endpoint{l.label, s})
		}
		seen[l.key] = true
	}
	var extra []string
	for k, val := range doc {
		if _, ok := val.(string); ok && !seen[k] && (strings.HasSuffix(k, "_endpoint") || strings.HasSuffix(k, "_uri")) {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		d.Endpoints = append(d.Endpoints, endpoint{k, doc[k].(string)})
	}
	d.Upstream = []endpoint{
		{"Upstream redirect URI", p.Directory.UpstreamRedirectURI(orgID)},
		{"Upstream logout callback URI", p.Directory.UpstreamLogoutCallbackURI(orgID)},
	}
	return d, nil
}

func (p *Portal) overview(q *orgRequest) {
	d, err := p.discoveredEndpoints(q.r, q.org.ID)
	if err != nil {
		p.internalError(q.w, q.r, "discovery", err)
		return
	}
	v := p.newView(q.r, q.admin, q.org, "Overview", "overview")
	v.Data = d
	p.render(q.w, q.r, http.StatusOK, "overview", v)
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// orgSwitch opens the organization chosen in the operator's switcher.
func (p *Portal) orgSwitch(w http.ResponseWriter, r *http.Request, _ *admin) {
	id := r.URL.Query().Get("org")
	if domain.ValidateOrgID(id) != nil {
		p.notFound(w, r)
		return
	}
	if id == directory.OperatorOrgID {
		http.Redirect(w, r, "/admin/", http.StatusFound)
		return
	}
	http.Redirect(w, r, "/admin/o/"+id+"/", http.StatusFound)
}
