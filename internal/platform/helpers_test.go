package platform_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/store"
)

// Helpers shared by this package's tests: a running Latchkey with one
// organization, and raw calls to the trusted-platform API so tests see
// exact status codes, headers and bodies.

type platformServer struct {
	inst *servertest.Instance
	org  string
	key  string
	http *http.Client
}

// startPlatform runs Latchkey on backend with organization org.
func startPlatform(t testing.TB, backend, org string) *platformServer {
	t.Helper()
	inst := servertest.Start(t, backend)
	s := &platformServer{inst: inst, org: org, http: &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}}
	s.key = s.newOrg(t, org)
	return s
}

// newOrg creates another organization and returns its API key.
func (s *platformServer) newOrg(t testing.TB, org string) string {
	t.Helper()
	_, key, err := s.inst.Env.Directory.CreateOrg(context.Background(), s.inst.Actor, org, "Org "+org)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// setOrg changes org's settings.
func (s *platformServer) setOrg(t testing.TB, org string, change func(*domain.OrgSettings)) {
	t.Helper()
	ctx := context.Background()
	o, err := s.inst.Env.Store.GetOrg(ctx, org)
	if err != nil {
		t.Fatal(err)
	}
	change(&o.Settings)
	st := o.Settings
	ch := directory.OrgChanges{SSOEnabled: &st.SSOEnabled, SessionLifetimeSeconds: &st.SessionLifetimeSeconds,
		TicketLifetimeSeconds: &st.TicketLifetimeSeconds, AuthRedirectURL: &st.AuthRedirectURL, LoginMethod: &st.LoginMethod}
	if _, err := s.inst.Env.Directory.UpdateOrg(ctx, s.inst.Actor, org, ch); err != nil {
		t.Fatal(err)
	}
}

type apiResponse struct {
	Status int
	Header http.Header
	Body   string
}

func (r *apiResponse) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.Body), &m); err != nil {
		t.Fatalf("status %d: body is not a JSON object: %v\n%s", r.Status, err, r.Body)
	}
	return m
}

func (r *apiResponse) Str(t testing.TB, k string) string {
	t.Helper()
	v, _ := r.JSON(t)[k].(string)
	return v
}

// want fails unless the status is status.
func (r *apiResponse) want(t testing.TB, status int) *apiResponse {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status = %d, want %d\n%s", r.Status, status, r.Body)
	}
	return r
}

// headers are a call's x-org-id and x-api-key; an empty value is not sent.
type headers struct{ org, key string }

func (s *platformServer) auth() headers { return headers{s.org, s.key} }

// raw sends one request with the given headers, content type and body.
func (s *platformServer) raw(t testing.TB, method, path string, h headers, contentType string, body io.Reader) *apiResponse {
	t.Helper()
	req, err := http.NewRequest(method, s.inst.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if h.org != "" {
		req.Header.Set("x-org-id", h.org)
	}
	if h.key != "" {
		req.Header.Set("x-api-key", h.key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &apiResponse{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

func userPath(org, userName, op string) string {
	return "/api/organization/" + org + "/user/" + userName + "/" + op
}

// update calls the update API of s's organization as its platform.
func (s *platformServer) update(t testing.TB, userName, body string) *apiResponse {
	t.Helper()
	return s.raw(t, http.MethodPost, userPath(s.org, userName, "update"), s.auth(), "application/json", strings.NewReader(body))
}

// generate calls generate-token as the seed does: no body, no Content-Type.
func (s *platformServer) generate(t testing.TB, userName string) *apiResponse {
	t.Helper()
	return s.raw(t, http.MethodPost, userPath(s.org, userName, "generate-token"), s.auth(), "", nil)
}

// loginURL mints a ticket for an existing user and returns the loginUrl.
func (s *platformServer) loginURL(t testing.TB, userName string) string {
	t.Helper()
	r := s.generate(t, userName).want(t, http.StatusOK)
	return r.Str(t, "loginUrl")
}

// user reads a user straight from the store.
func (s *platformServer) user(t testing.TB, org, userName string) *domain.User {
	t.Helper()
	u, err := s.inst.Env.Store.GetUserByName(context.Background(), org, userName)
	if err != nil {
		t.Fatalf("user %s: %v", userName, err)
	}
	return u
}

// sessions lists the user's SSO sessions.
func (s *platformServer) sessions(t testing.TB, org, sub string) []*domain.Session {
	t.Helper()
	ss, err := s.inst.Env.Store.ListUserSessions(context.Background(), org, sub)
	if err != nil {
		t.Fatal(err)
	}
	return ss
}

// audit returns org's audit log, newest first.
func (s *platformServer) audit(t testing.TB, org string) []*domain.AuditEvent {
	t.Helper()
	es, err := s.inst.Env.Store.ListAudit(context.Background(), org, store.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func decodeJSON(resp *http.Response, v any) error {
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}

func storeFilterAll() store.UserFilter { return store.UserFilter{Limit: 1000} }
