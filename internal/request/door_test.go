package request_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/internal/store"
)

type orgs struct {
	calls int
	err   error
}

func (o *orgs) GetOrg(_ context.Context, id string) (*domain.Organization, error) {
	o.calls++
	if o.err != nil {
		return nil, o.err
	}
	if id != "acme" {
		return nil, store.ErrNotFound
	}
	return &domain.Organization{ID: "acme", Name: "Acme"}, nil
}

func serve(t *testing.T, o *orgs, path string) (*httptest.ResponseRecorder, *domain.Organization, string) {
	t.Helper()
	var gotOrg *domain.Organization
	var gotIss string
	mux := http.NewServeMux()
	iss := &request.Issuers{Mux: mux, Door: &request.Door{Orgs: o, PublicURL: "https://id.example"}}
	h := func(w http.ResponseWriter, r *http.Request) {
		gotOrg, gotIss = request.Org(r.Context()), request.Issuer(r.Context())
	}
	iss.HandleFunc("GET /keys", h)
	iss.HandleFunc("GET ", h)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
	return w, gotOrg, gotIss
}

func TestDoor_LoadsTheOrganizationOnceAndGivesItWithItsIssuer(t *testing.T) {
	for _, path := range []string{"/o/acme/keys", "/o/acme"} {
		o := &orgs{}
		w, org, iss := serve(t, o, path)
		if w.Code != http.StatusOK || org == nil || org.ID != "acme" || iss != "https://id.example/o/acme" || o.calls != 1 {
			t.Errorf("%s: status %d, org %+v, issuer %q, %d loads", path, w.Code, org, iss, o.calls)
		}
	}
}

func TestDoor_UnknownOrganizationIsTheMuxNotFound(t *testing.T) {
	for _, path := range []string{"/o/nope/keys", "/o/%00/keys", "/o/ACME!/keys"} {
		w, org, _ := serve(t, &orgs{}, path)
		if w.Code != http.StatusNotFound || w.Body.String() != "404 page not found\n" || org != nil {
			t.Errorf("%s: status %d body %q, handler ran: %v", path, w.Code, w.Body.String(), org != nil)
		}
	}
}

func TestDoor_AFailedLoadDoesNotReachTheHandler(t *testing.T) {
	w, org, _ := serve(t, &orgs{err: errors.New("boom")}, "/o/acme/keys")
	if w.Code != http.StatusInternalServerError || org != nil {
		t.Errorf("status %d, handler ran: %v", w.Code, org != nil)
	}
}

func TestDoor_AFailedLoadIsAnsweredByFail(t *testing.T) {
	var failed error
	mux := http.NewServeMux()
	iss := &request.Issuers{Mux: mux, Door: &request.Door{Orgs: &orgs{err: store.ErrUnavailable}, PublicURL: "https://id.example",
		Fail: func(w http.ResponseWriter, _ *http.Request, _ string, err error) {
			failed = err
			w.WriteHeader(http.StatusServiceUnavailable)
		}}}
	iss.HandleFunc("GET /keys", func(http.ResponseWriter, *http.Request) { t.Error("handler ran") })
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", "/o/acme/keys", nil))
	if w.Code != http.StatusServiceUnavailable || !errors.Is(failed, store.ErrUnavailable) {
		t.Errorf("status %d, Fail given %v", w.Code, failed)
	}
}

func TestDatabaseDown_MarksTheRequestForRetryAfter(t *testing.T) {
	ctx := store.TrackUnavailable(context.Background())
	if request.DatabaseDown(ctx, errors.New("boom")) || store.Unavailable(ctx) {
		t.Fatal("an ordinary failure counted as the database being down")
	}
	if !request.DatabaseDown(ctx, store.ErrUnavailable) || !store.Unavailable(ctx) {
		t.Fatal("ErrUnavailable not counted, or the request not marked")
	}
}
