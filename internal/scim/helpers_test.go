package scim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/store"
)

// client speaks SCIM to one organization of a running Latchkey.
type client struct {
	t     testing.TB
	inst  *servertest.Instance
	org   string
	base  string
	token string
}

// newOrg creates org with a SCIM token and returns a client for it.
func newOrg(t testing.TB, inst *servertest.Instance, org string) *client {
	t.Helper()
	ctx := context.Background()
	if _, _, err := inst.Env.Directory.CreateOrg(ctx, inst.Actor, org, strings.ToUpper(org)); err != nil {
		t.Fatal(err)
	}
	_, tok, err := inst.Env.Directory.CreateSCIMToken(ctx, inst.Actor, org, "test directory", 0)
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, inst: inst, org: org, base: inst.Issuer(org) + "/scim/v2", token: tok}
}

// response is one SCIM answer.
type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// do sends body (a string is sent byte for byte, anything else as JSON).
func (c *client) do(method, path string, body any, header ...string) *response {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	url := path
	if !strings.HasPrefix(path, "http") {
		url = c.base + path
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if rd != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	r := &response{status: res.StatusCode, header: res.Header, raw: raw}
	if len(raw) > 0 {
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/scim+json") {
			c.t.Fatalf("%s %s: Content-Type %q, want application/scim+json\n%s", method, path, ct, raw)
		}
		if err := json.Unmarshal(raw, &r.body); err != nil {
			c.t.Fatalf("%s %s: answer is not a JSON object: %v\n%s", method, path, err, raw)
		}
	}
	return r
}

// want checks the status.
func (r *response) want(t testing.TB, status int) *response {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d\n%s", r.status, status, r.raw)
	}
	return r
}

// wantError checks an RFC 7644 §3.12 error body.
func (r *response) wantError(t testing.TB, status int, scimType string) {
	t.Helper()
	r.want(t, status)
	schemas, _ := r.body["schemas"].([]any)
	if len(schemas) != 1 || schemas[0] != "urn:ietf:params:scim:api:messages:2.0:Error" {
		t.Fatalf("error body schemas %v\n%s", r.body["schemas"], r.raw)
	}
	if r.body["status"] != fmt.Sprint(status) {
		t.Fatalf("error body status %v, want the string %q\n%s", r.body["status"], fmt.Sprint(status), r.raw)
	}
	if got, _ := r.body["scimType"].(string); got != scimType {
		t.Fatalf("scimType %q, want %q\n%s", got, scimType, r.raw)
	}
	if d, _ := r.body["detail"].(string); d == "" {
		t.Fatalf("error body without detail\n%s", r.raw)
	}
}

// get reads a dotted path ("name.formatted", "emails.0.value") of the
// body; a map key may itself hold dots (an extension's URN).
func (r *response) get(path string) any {
	var cur any = r.body
	for path != "" {
		switch v := cur.(type) {
		case map[string]any:
			key, rest, _ := strings.Cut(path, ".")
			for k := range v {
				if len(k) > len(key) && (path == k || strings.HasPrefix(path, k+".")) {
					key, rest = k, strings.TrimPrefix(path[len(k):], ".")
				}
			}
			cur, path = v[key], rest
		case []any:
			var part string
			part, path, _ = strings.Cut(path, ".")
			var i int
			if _, err := fmt.Sscan(part, &i); err != nil || i >= len(v) {
				return nil
			}
			cur = v[i]
		default:
			return nil
		}
	}
	return cur
}

func (r *response) str(path string) string {
	s, _ := r.get(path).(string)
	return s
}

// snapshot is everything SCIM can change in an organization, to prove a
// refused request changed nothing.
func snapshot(t testing.TB, inst *servertest.Instance, org string) string {
	t.Helper()
	ctx := context.Background()
	users, _, err := inst.Env.Store.SearchUsers(ctx, org, store.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	groups, _, err := inst.Env.Store.SearchGroups(ctx, org, store.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(map[string]any{"users": users, "groups": groups})
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// wantAudit checks that org's newest event with action came from an actor
// whose name starts with actorPrefix.
func wantAudit(t testing.TB, inst *servertest.Instance, org, action, actorPrefix string) {
	t.Helper()
	events, err := inst.Env.Store.ListAudit(context.Background(), org, store.AuditFilter{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if e.Action == action {
			if !strings.HasPrefix(e.Actor, actorPrefix) || e.Result != "ok" {
				t.Fatalf("newest %s audit event: actor %q result %q", action, e.Actor, e.Result)
			}
			return
		}
	}
	t.Fatalf("no %s audit event in %s", action, org)
}
