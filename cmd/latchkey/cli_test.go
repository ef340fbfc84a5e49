package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/sqlite"
)

// testCLI runs the CLI in-process against one database in a temporary
// directory, as an operator would from a shell.
type testCLI struct {
	t     *testing.T
	dir   string
	flags []string
}

func newCLI(t *testing.T) *testCLI {
	t.Helper()
	dir := t.TempDir()
	return &testCLI{t: t, dir: dir, flags: []string{
		"--database", "sqlite:" + filepath.Join(dir, "latchkey.db"),
		"--data-dir", dir,
		"--public-url", "https://sso.example.com",
	}}
}

type result struct {
	stdout, stderr string
	code           int
}

// runIn runs one command line with stdin, the database flags appended.
func (c *testCLI) runIn(stdin string, args ...string) result {
	c.t.Helper()
	var out, errb bytes.Buffer
	all := append(append([]string{}, args...), c.flags...)
	code := run(context.Background(), all, strings.NewReader(stdin), &out, &errb)
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

func (c *testCLI) run(args ...string) result {
	c.t.Helper()
	return c.runIn("", args...)
}

// ok runs a command that must succeed and returns its stdout.
func (c *testCLI) ok(args ...string) string {
	c.t.Helper()
	r := c.run(args...)
	if r.code != 0 {
		c.t.Fatalf("latchkey %s: exit %d\nstderr: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// json runs a command with --json that must succeed and decodes its output.
func (c *testCLI) json(v any, args ...string) {
	c.t.Helper()
	out := c.ok(append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("latchkey %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// object runs a command with --json and returns its output as a JSON object.
func (c *testCLI) object(args ...string) map[string]any {
	c.t.Helper()
	var m map[string]any
	c.json(&m, args...)
	return m
}

// count returns how many items a list command prints.
func (c *testCLI) count(args ...string) int {
	c.t.Helper()
	var items []map[string]any
	c.json(&items, args...)
	return len(items)
}

// store opens the CLI's database directly, for what the CLI does not show.
func (c *testCLI) store() store.Store {
	c.t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(c.dir, "latchkey.db"))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { s.Close() })
	return s
}

// createOrg makes organization id and returns its API key.
func (c *testCLI) createOrg(id string) string {
	c.t.Helper()
	return c.object("org", "create", id, "--name", "Org "+id)["apiKey"].(string)
}

// wantFailure checks exit code and that stderr mentions every word in want.
func wantFailure(t *testing.T, r result, code int, want ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr %q does not mention %q", r.stderr, w)
		}
	}
	if r.stdout != "" {
		t.Errorf("a failed command printed to stdout: %q", r.stdout)
	}
}

// wantKeys checks that a JSON object has exactly the given keys.
func wantKeys(t *testing.T, what string, m map[string]any, keys ...string) {
	t.Helper()
	got := make([]string, 0, len(m))
	for k := range m {
		got = append(got, k)
	}
	sort.Strings(got)
	want := slices.Clone(keys)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s JSON keys = %v, want exactly %v", what, got, want)
	}
}
