package request

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

// OrgReader reads an organization; the server gives the cached store.
type OrgReader interface {
	GetOrg(ctx context.Context, id string) (*domain.Organization, error)
}

// Door is the front door of every organization's issuer: each route under
// /o/{org}/… passes through it, and it loads the organization in the path
// once and puts it, with its issuer URL, into the request's context (read
// them with Org and Issuer). An unknown organization, or a path segment no
// organization could have, is answered 404 (the plain "404 page not found"
// of net/http) before any handler runs.
type Door struct {
	Orgs      OrgReader
	PublicURL string
	// Fail answers a request whose organization could not be read (the
	// database failed); nil answers a plain 500.
	Fail func(w http.ResponseWriter, r *http.Request, what string, err error)
}

// IssuerPrefix is where every organization's issuer lives.
const IssuerPrefix = "/o/{org}"

// Wrap puts the door in front of next, a handler of an /o/{org}/… route.
func (d *Door) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("org")
		if domain.ValidateOrgID(id) != nil {
			http.NotFound(w, r)
			return
		}
		org, err := d.Orgs.GetOrg(r.Context(), id)
		if errors.Is(err, store.ErrNotFound) {
			http.NotFound(w, r)
			return
		}
		if err != nil {
			if d.Fail != nil {
				d.Fail(w, r, "load organization", err)
			} else {
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
			return
		}
		next.ServeHTTP(w, r.WithContext(WithOrg(r.Context(), d.PublicURL, org)))
	})
}

// Issuers mounts the routes of every organization's issuer on a mux,
// each behind the door.
type Issuers struct {
	Mux  *http.ServeMux
	Door *Door
}

// HandleFunc mounts h at pattern ("METHOD /path") below /o/{org}:
// "GET /keys" serves GET /o/{org}/keys, and "GET " the issuer itself.
func (s *Issuers) HandleFunc(pattern string, h http.HandlerFunc) {
	method, path, _ := strings.Cut(pattern, " ")
	s.Mux.Handle(method+" "+IssuerPrefix+path, s.Door.Wrap(h))
}

// DatabaseDown reports whether a request that failed with err failed
// because the database is unavailable; it then marks the request so the
// server answers 503 with Retry-After. Every surface's failure answer asks
// it before choosing between "try again" (503) and "internal error" (500).
func DatabaseDown(ctx context.Context, err error) bool {
	if errors.Is(err, store.ErrUnavailable) || store.Unavailable(ctx) {
		store.MarkUnavailable(ctx)
		return true
	}
	return false
}
