package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// adminServer is a running Latchkey with organizations acme and beta (each
// with user alice and one application) and three admin tokens: an
// operator's and one per organization.
type adminServer struct {
	t        *testing.T
	inst     *servertest.Instance
	acme     *servertest.Fixture
	beta     *servertest.Fixture
	operator string
	acmeTok  string
	betaTok  string
	http     *http.Client
}

const redirectURI = "https://app.example.com/callback"

// eachBackend runs f against a fresh server on every store backend. Each
// test has its own servers and databases, so they all run in parallel.
func eachBackend(t *testing.T, f func(t *testing.T, s *adminServer)) {
	t.Parallel()
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			f(t, startAdmin(t, backend))
		})
	}
}

func startAdmin(t *testing.T, backend string) *adminServer {
	t.Helper()
	inst := servertest.Start(t, backend)
	s := &adminServer{t: t, inst: inst, http: &http.Client{Timeout: 30 * time.Second}}
	s.acme = inst.NewFixture(t, "acme", redirectURI)
	s.beta = inst.NewFixture(t, "beta", redirectURI)
	s.operator = s.newToken(t, "", 0)
	s.acmeTok = s.newToken(t, "acme", 0)
	s.betaTok = s.newToken(t, "beta", 0)
	return s
}

// newToken creates an admin token for org ("" for an operator token).
func (s *adminServer) newToken(t *testing.T, org string, ttl time.Duration) string {
	t.Helper()
	_, tok, err := s.inst.Env.Directory.CreateAdminToken(context.Background(), s.inst.Actor, org, "test", ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// response is an answer with its body decoded when it is JSON.
type response struct {
	status int
	header http.Header
	raw    []byte
	obj    map[string]any
	list   []map[string]any
}

// rawBody is sent as the request body byte for byte.
type rawBody string

// do sends method path with token (none when "") and body: nil for none,
// rawBody as is, anything else as JSON.
func (s *adminServer) do(t *testing.T, token, method, path string, body any) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case rawBody:
		rd = strings.NewReader(string(b))
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, s.inst.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := response{status: resp.StatusCode, header: resp.Header}
	if r.raw, err = io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	if len(r.raw) > 0 {
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("%s %s: Content-Type %q, want JSON; body %s", method, path, resp.Header.Get("Content-Type"), r.raw)
		}
		switch r.raw[0] {
		case '{':
			err = json.Unmarshal(r.raw, &r.obj)
		case '[':
			err = json.Unmarshal(r.raw, &r.list)
		}
		if err != nil {
			t.Fatalf("%s %s: body is not JSON: %v\n%s", method, path, err, r.raw)
		}
	}
	return r
}

// ok sends a request that must answer status and returns the answer.
func (s *adminServer) ok(t *testing.T, token, method, path string, body any, status int) response {
	t.Helper()
	r := s.do(t, token, method, path, body)
	if r.status != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.status, status, r.raw)
	}
	return r
}

// wantError checks an error answer: status, error code and (when field is
// not "") the field named.
func wantError(t *testing.T, r response, status int, code, field string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.raw)
	}
	if r.obj == nil {
		t.Fatalf("error answer is not a JSON object: %s", r.raw)
	}
	if r.obj["error"] != code {
		t.Errorf("error = %v, want %q; body %s", r.obj["error"], code, r.raw)
	}
	if msg, _ := r.obj["message"].(string); msg == "" {
		t.Errorf("error answer has no message: %s", r.raw)
	}
	if field != "" && r.obj["field"] != field {
		t.Errorf("field = %v, want %q; body %s", r.obj["field"], field, r.raw)
	}
	for k := range r.obj {
		if k != "error" && k != "message" && k != "field" {
			t.Errorf("error answer has member %q besides error, message, field: %s", k, r.raw)
		}
	}
}

// unchanged fetches path and checks it equals before.
func (s *adminServer) unchanged(t *testing.T, path string, before response) {
	t.Helper()
	after := s.ok(t, s.operator, "GET", path, nil, http.StatusOK)
	if !reflect.DeepEqual(before.obj, after.obj) || !reflect.DeepEqual(before.list, after.list) {
		t.Errorf("%s changed:\nbefore %s\nafter  %s", path, before.raw, after.raw)
	}
}
