package scim

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/latchkey/latchkey/internal/store"
)

// listQuery is a list request's parameters (RFC 7644 §3.4.2).
type listQuery struct {
	page       store.Page
	startIndex int
	attrs      projection
}

func readListQuery(r *http.Request, attrs resourceFilter, coreURN string) (*listQuery, error) {
	q := r.URL.Query()
	for k, vs := range q {
		if len(vs) > 1 {
			return nil, invalidValue("query parameter %q given more than once", k)
		}
	}
	lq := &listQuery{startIndex: 1}
	lq.page.Limit = DefaultCount
	if v := q.Get("startIndex"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, invalidValue("startIndex must be an integer (got %q)", v)
		}
		// Values below 1 are read as 1 (RFC 7644 §3.4.2.4).
		lq.startIndex = max(n, 1)
	}
	if v := q.Get("count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, invalidValue("count must be an integer (got %q)", v)
		}
		// Negative is read as 0; more than the maximum is cut to it.
		lq.page.Limit = min(max(n, 0), MaxResults)
	}
	lq.page.Offset = lq.startIndex - 1
	if _, has := q["filter"]; has {
		f, err := parseFilter(q.Get("filter"), attrs, coreURN)
		if err != nil {
			return nil, err
		}
		lq.page.Filter = f
	}
	p, err := readProjection(r)
	if err != nil {
		return nil, err
	}
	lq.attrs = p
	return lq, nil
}

// list answers a list request for resources of the kind coreURN names,
// filterable by attrs: search finds a page of them in the organization,
// render shows one.
func list[T any](c *call, attrs resourceFilter, coreURN string,
	search func(ctx context.Context, org string, p store.Page) ([]T, int, error), render func(T) (any, error)) (int, any, error) {
	lq, err := readListQuery(c.r, attrs, coreURN)
	if err != nil {
		return 0, nil, err
	}
	c.target = c.r.URL.Query().Get("filter")
	found, total, err := search(c.r.Context(), c.org, lq.page)
	if err != nil {
		return 0, nil, err
	}
	out := listResponse{Schemas: []string{URNListResponse}, TotalResults: total, StartIndex: lq.startIndex, Resources: []any{}}
	for _, v := range found {
		r, err := render(v)
		if err != nil {
			return 0, nil, err
		}
		if lq.attrs.empty() {
			out.Resources = append(out.Resources, r)
		} else {
			out.Resources = append(out.Resources, lq.attrs.apply(toMap(r)))
		}
	}
	out.ItemsPerPage = len(out.Resources)
	return http.StatusOK, out, nil
}

type listResponse struct {
	Schemas      []string `json:"schemas"`
	TotalResults int      `json:"totalResults"`
	ItemsPerPage int      `json:"itemsPerPage"`
	StartIndex   int      `json:"startIndex"`
	Resources    []any    `json:"Resources"`
}

// projection is the attributes / excludedAttributes query (RFC 7644
// §3.4.2.5), on top-level attributes.
type projection struct {
	only    map[string]bool
	exclude map[string]bool
}

func readProjection(r *http.Request) (projection, error) {
	var p projection
	split := func(v string) map[string]bool {
		if strings.TrimSpace(v) == "" {
			return nil
		}
		out := map[string]bool{}
		for _, a := range strings.Split(v, ",") {
			a = strings.ToLower(strings.TrimSpace(a))
			// urn:…:User:department → the extension; name.givenName → name.
			if i := strings.LastIndex(a, ":"); i >= 0 && strings.HasPrefix(a, "urn:") {
				prefix := a[:i]
				if !strings.EqualFold(prefix, URNUser) && !strings.EqualFold(prefix, URNGroup) {
					out[prefix] = true
					continue
				}
				a = a[i+1:]
			}
			a, _, _ = strings.Cut(a, ".")
			out[a] = true
		}
		return out
	}
	q := r.URL.Query()
	p.only, p.exclude = split(q.Get("attributes")), split(q.Get("excludedAttributes"))
	if len(q.Get("attributes")) > 4096 || len(q.Get("excludedAttributes")) > 4096 {
		return p, invalidValue("attributes lists are limited to 4096 bytes")
	}
	return p, nil
}

// apply prunes a rendered resource; id and schemas are always returned.
func (p projection) apply(res map[string]any) map[string]any {
	if p.only == nil && p.exclude == nil {
		return res
	}
	for k := range res {
		lk := strings.ToLower(k)
		if lk == "id" || lk == "schemas" {
			continue
		}
		if (p.only != nil && !p.only[lk]) || p.exclude[lk] {
			delete(res, k)
		}
	}
	return res
}

func (p projection) empty() bool { return p.only == nil && p.exclude == nil }
