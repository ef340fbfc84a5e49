package scim_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// exchange is one recorded request and what its answer must contain.
type exchange struct {
	title   string
	line    int
	method  string
	path    string
	header  []string
	body    string
	status  int
	expect  string
	capture map[string]string // variable → top-level member of the answer
}

var requestLine = regexp.MustCompile(`^(GET|POST|PUT|PATCH|DELETE) (\S+)$`)

// readRecording parses a testdata recording: "METHOD PATH", headers, a
// blank line, the body (sent byte for byte), "<<< STATUS", the expected
// answer (a JSON subset, one line) and ">>> name = member" captures.
func readRecording(t *testing.T, file string) []*exchange {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []*exchange
	var cur *exchange
	var title string
	state := "idle"
	var body []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case state == "idle" || state == "expect":
			switch {
			case strings.HasPrefix(line, "### "):
				title, state = strings.TrimPrefix(line, "### "), "idle"
			case strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "":
				if state == "expect" && strings.TrimSpace(line) == "" {
					state = "idle"
				}
			case strings.HasPrefix(line, ">>> ") && cur != nil:
				name, member, ok := strings.Cut(strings.TrimPrefix(line, ">>> "), " = ")
				if !ok {
					t.Fatalf("%s:%d: capture must read >>> name = member", file, n)
				}
				cur.capture[strings.TrimSpace(name)] = strings.TrimSpace(member)
			case state == "expect":
				cur.expect += line
			case requestLine.MatchString(line):
				m := requestLine.FindStringSubmatch(line)
				cur = &exchange{title: title, line: n, method: m[1], path: m[2], capture: map[string]string{}}
				out = append(out, cur)
				state, body = "headers", nil
			default:
				t.Fatalf("%s:%d: unexpected line %q", file, n, line)
			}
		case state == "headers":
			if line == "" {
				state = "body"
				continue
			}
			k, v, ok := strings.Cut(line, ": ")
			if !ok {
				t.Fatalf("%s:%d: header line %q", file, n, line)
			}
			cur.header = append(cur.header, k, v)
		case state == "body":
			if rest, ok := strings.CutPrefix(line, "<<< "); ok {
				cur.body = strings.Join(body, "\n")
				if cur.status, err = strconv.Atoi(rest); err != nil {
					t.Fatalf("%s:%d: status %q", file, n, rest)
				}
				state = "expect"
				continue
			}
			body = append(body, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

var placeholder = regexp.MustCompile(`\{\{(\w+)\}\}`)

// fill replaces {{name}} by captured values; {{absent}} stays for match.
func fill(t *testing.T, s string, vars map[string]string) string {
	return placeholder.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-2]
		if name == "absent" {
			return m
		}
		v, ok := vars[name]
		if !ok {
			t.Fatalf("%s is not captured yet", m)
		}
		return v
	})
}

// contains reports where got lacks something of want: every member of an
// expected object must be there and match; arrays match element-wise and
// in length; "{{absent}}" requires the member to be missing.
func contains(got, want any, at string) error {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: got %v, want an object", at, got)
		}
		for k, wv := range w {
			gv, has := g[k]
			if wv == "{{absent}}" {
				if has {
					return fmt.Errorf("%s.%s: present (%v), want absent", at, k, gv)
				}
				continue
			}
			if !has {
				return fmt.Errorf("%s.%s: missing", at, k)
			}
			if err := contains(gv, wv, at+"."+k); err != nil {
				return err
			}
		}
		return nil
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Errorf("%s: got %v, want %d elements like %v", at, got, len(w), w)
		}
		for i := range w {
			if err := contains(g[i], w[i], fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
		return nil
	}
	if got != want {
		return fmt.Errorf("%s: got %v, want %v", at, got, want)
	}
	return nil
}

// replay sends a recording to a fresh organization on each store.
func replay(t *testing.T, file string) {
	exchanges := readRecording(t, file)
	if len(exchanges) < 10 {
		t.Fatalf("%s: only %d exchanges", file, len(exchanges))
	}
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			inst := servertest.Start(t, backend)
			c := newOrg(t, inst, "acme")
			vars := map[string]string{}
			for _, x := range exchanges {
				where := fmt.Sprintf("%s:%d (%s)", file, x.line, x.title)
				var body any
				if x.body != "" {
					body = fill(t, x.body, vars)
				}
				r := c.do(x.method, fill(t, x.path, vars), body, x.header...)
				if r.status != x.status {
					t.Fatalf("%s: %s %s: status %d, want %d\n%s", where, x.method, x.path, r.status, x.status, r.raw)
				}
				if x.expect != "" {
					var want any
					if err := json.Unmarshal([]byte(fill(t, x.expect, vars)), &want); err != nil {
						t.Fatalf("%s: expected answer is not JSON: %v", where, err)
					}
					if err := contains(r.body, want, "answer"); err != nil {
						t.Fatalf("%s: %v\n%s", where, err, r.raw)
					}
				}
				for name, member := range x.capture {
					v, ok := r.body[member].(string)
					if !ok || v == "" {
						t.Fatalf("%s: no %q to capture as %s", where, member, name)
					}
					vars[name] = v
				}
			}
		})
	}
}

// TestSCIM_ReplayEntraID replays a provisioning cycle recorded in Microsoft
// Entra ID's request shapes.
func TestSCIM_ReplayEntraID(t *testing.T) {
	t.Parallel()
	replay(t, "testdata/entra-id.txt")
}

// TestSCIM_ReplayOkta replays a provisioning cycle recorded in Okta's
// request shapes.
func TestSCIM_ReplayOkta(t *testing.T) {
	t.Parallel()
	replay(t, "testdata/okta.txt")
}
