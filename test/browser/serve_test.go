package browser_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// binary is `latchkey` built once per test run from this checkout.
var binary struct {
	once sync.Once
	path string
	err  error
}

func latchkeyBinary(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		dir, err := os.MkdirTemp("", "latchkey-bin-")
		if err != nil {
			binary.err = err
			return
		}
		binary.path = filepath.Join(dir, "latchkey")
		cmd := exec.Command("go", "build", "-o", binary.path, "./cmd/latchkey")
		cmd.Dir = filepath.Join("..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			binary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// served is a `latchkey serve` child process on SQLite.
type served struct {
	t   *testing.T
	URL string
	env []string
	bin string

	mu  sync.Mutex
	log bytes.Buffer
}

// newServe prepares a data directory for a server at addr; cli runs
// management commands against it before start.
func newServe(t *testing.T, addr string) *served {
	t.Helper()
	dir := t.TempDir()
	s := &served{t: t, URL: "http://" + addr, bin: latchkeyBinary(t)}
	s.env = append(os.Environ(),
		"LATCHKEY_ADDR="+addr, "LATCHKEY_PUBLIC_URL="+s.URL, "LATCHKEY_DATA_DIR="+dir,
		"LATCHKEY_DATABASE=sqlite:"+filepath.Join(dir, "latchkey.db"), "LATCHKEY_OUTBOUND_ALLOW_LOOPBACK=true",
		"LATCHKEY_LOG_FORMAT=text", "LATCHKEY_LOG_LEVEL=info",
	)
	return s
}

// cli runs `latchkey ARGS --json` and decodes its output.
func (s *served) cli(stdin string, args ...string) map[string]any {
	s.t.Helper()
	cmd := exec.Command(s.bin, append(args, "--json")...)
	cmd.Env = s.env
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		s.t.Fatalf("latchkey %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	var m map[string]any
	_ = json.Unmarshal(out, &m)
	return m
}

// start runs `latchkey serve` until the test ends and waits until it is ready.
func (s *served) start(logFile io.Writer) {
	s.t.Helper()
	cmd := exec.Command(s.bin, "serve")
	cmd.Env = s.env
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text() + "\n"
			s.mu.Lock()
			s.log.WriteString(line)
			s.mu.Unlock()
			_, _ = io.WriteString(logFile, line)
		}
	}()
	s.t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		pw.Close()
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("latchkey serve not ready at %s after 60s; log:\n%s", s.URL, s.logText())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *served) logText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

var setupURLRe = regexp.MustCompile(`setup_url=(\S+)`)

// setupURL is the first-operator link serve printed to its log.
func (s *served) setupURL() string {
	s.t.Helper()
	m := setupURLRe.FindStringSubmatch(s.logText())
	if m == nil {
		s.t.Fatalf("serve printed no setup link; log:\n%s", s.logText())
	}
	return strings.Trim(m[1], `"`)
}

// provisionOrg creates an organization with an ADMIN and a USER through
// the CLI (before serve starts).
func (s *served) provisionOrg(org, admin, user, password string) {
	s.t.Helper()
	s.cli("", "org", "create", org, "--name", "Acme Corporation")
	s.cli(password+"\n", "user", "create", "--org", org, admin, "--name", "Ada Admin", "--email", admin+"@acme.example", "--role", "ADMIN", "--password-stdin")
	if user != "" {
		s.cli(password+"\n", "user", "create", "--org", org, user, "--name", "Bob User", "--email", user+"@acme.example", "--password-stdin")
	}
}

var _ = context.Background
