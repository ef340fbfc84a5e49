package platform_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/platform"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

func TestAuth_EveryFailureGetsTheSameBody(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			s := startPlatform(t, backend, "acme")
			otherKey := s.newOrg(t, "other")
			s.update(t, "johndoe", `{}`).want(t, http.StatusCreated)

			cases := []struct {
				name string
				org  string // in the path
				h    headers
			}{
				{"unknown org", "no-such-org", headers{"no-such-org", s.key}},
				{"unknown org, no headers", "no-such-org", headers{}},
				{"invalid org id", "NOT_AN_ORG", headers{"NOT_AN_ORG", s.key}},
				{"wrong key", "acme", headers{"acme", "lk_org_" + strings.Repeat("A", 43)}},
				{"another org's key", "acme", headers{"acme", otherKey}},
				{"missing key", "acme", headers{"acme", ""}},
				{"missing x-org-id", "acme", headers{"", s.key}},
				{"x-org-id of another org", "acme", headers{"other", s.key}},
				{"x-org-id and key of another org", "acme", headers{"other", otherKey}},
				{"x-org-id differs in case", "acme", headers{"ACME", s.key}},
			}
			var first string
			for _, c := range cases {
				for _, op := range []string{"update", "generate-token"} {
					r := s.raw(t, http.MethodPost, userPath(c.org, "johndoe", op), c.h, "application/json", strings.NewReader(`{"name":"x"}`))
					if r.Status != http.StatusUnauthorized {
						t.Fatalf("%s, %s: status %d\n%s", c.name, op, r.Status, r.Body)
					}
					if first == "" {
						first = r.Body
					}
					if r.Body != first {
						t.Fatalf("%s, %s: body differs:\n%s\nvs\n%s", c.name, op, r.Body, first)
					}
					if ct := r.Header.Get("Content-Type"); ct != "application/json" {
						t.Fatalf("Content-Type = %q", ct)
					}
				}
			}
			if u := s.user(t, "acme", "johndoe"); u.Name != "" {
				t.Fatalf("a rejected call changed the user: %+v", u)
			}
			// Failures are audited in the organization they were aimed at,
			// never with the key. The event is written after the answer is
			// on the wire (so its cost does not tell that the org exists):
			// wait for the last one.
			var events []*domain.AuditEvent
			deadline := time.Now().Add(10 * time.Second)
			for {
				events = s.audit(t, "acme")
				if countResult(events, "unauthorized") >= 14 || time.Now().After(deadline) {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			n := 0
			for _, e := range events {
				if e.Result == "unauthorized" {
					n++
					if e.Detail["reason"] == "" || e.ClientIP == "" {
						t.Fatalf("audit event lacks reason or address: %+v", e)
					}
				}
				for _, v := range []string{e.Actor, e.Target, e.Detail["reason"]} {
					if strings.Contains(v, s.key) || strings.Contains(v, otherKey) {
						t.Fatalf("audit event carries a key: %+v", e)
					}
				}
			}
			if n != 14 { // 7 cases aimed at acme × 2 calls
				t.Fatalf("%d failures audited in acme, want 14", n)
			}
		})
	}
}

func TestAuth_RotatedKeyWorksUntilTheOverlapEnds(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			s := startPlatform(t, backend, "acme")
			old := s.key
			newKey, err := s.inst.Env.Directory.RotateAPIKey(context.Background(), s.inst.Actor, "acme", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			with := func(key string) int {
				return s.raw(t, http.MethodPost, userPath("acme", "johndoe", "update"), headers{"acme", key}, "application/json", strings.NewReader(`{}`)).Status
			}
			if a, b := with(old), with(newKey); a != http.StatusCreated || b != http.StatusOK {
				t.Fatalf("during the overlap: old %d, new %d", a, b)
			}
			s.inst.Clock.Advance(time.Hour + time.Second)
			if a, b := with(old), with(newKey); a != http.StatusUnauthorized || b != http.StatusOK {
				t.Fatalf("after the overlap: old %d, new %d", a, b)
			}
			// Rotating without overlap retires the current key at once.
			newest, err := s.inst.Env.Directory.RotateAPIKey(context.Background(), s.inst.Actor, "acme", 0)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := with(newKey), with(newest); a != http.StatusUnauthorized || b != http.StatusOK {
				t.Fatalf("after a rotation without overlap: previous %d, newest %d", a, b)
			}
			// The audit tells which key a call used.
			actors := map[string]bool{}
			for _, e := range s.audit(t, "acme") {
				if strings.HasPrefix(e.Actor, "api-key:") {
					actors[e.Actor] = true
				}
			}
			if len(actors) != 3 {
				t.Fatalf("audited callers = %v, want the three keys told apart", actors)
			}
		})
	}
}

func TestAuth_FailedAttemptsAreLimitedPerAddress(t *testing.T) {
	s := startPlatform(t, "sqlite", "acme")
	wrong := headers{"acme", "lk_org_wrong"}
	for i := 0; i < platform.FailureLimit.N; i++ {
		s.raw(t, http.MethodPost, userPath("acme", "johndoe", "generate-token"), wrong, "", nil).want(t, http.StatusUnauthorized)
	}
	for _, path := range []string{userPath("acme", "johndoe", "generate-token"), userPath("no-such-org", "johndoe", "update")} {
		r := s.raw(t, http.MethodPost, path, wrong, "", nil).want(t, http.StatusTooManyRequests)
		secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil || secs < 1 || secs > int(platform.FailureLimit.Window.Seconds())+1 {
			t.Fatalf("Retry-After = %q", r.Header.Get("Retry-After"))
		}
		if r.Str(t, "error") != "rate_limited" {
			t.Fatalf("body = %s", r.Body)
		}
	}
	// Only failures count: the platform with its key is not locked out.
	s.update(t, "johndoe", `{}`).want(t, http.StatusCreated)
	// The window ends.
	s.inst.Clock.Advance(platform.FailureLimit.Window)
	s.raw(t, http.MethodPost, userPath("acme", "johndoe", "generate-token"), wrong, "", nil).want(t, http.StatusUnauthorized)
}

func countResult(events []*domain.AuditEvent, result string) int {
	n := 0
	for _, e := range events {
		if e.Result == result {
			n++
		}
	}
	return n
}
