package cluster_test

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/bootstrap"
	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/store/testdb"
	"github.com/latchkey/latchkey/internal/testkit"
)

var soak = flag.Bool("soak", false, "race many more tickets, codes and refresh tokens (make soak)")

// binary is the latchkey command built once for the whole package.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "latchkey-cluster-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "latchkey")
	build := exec.Command("go", "build", "-o", binary, "github.com/latchkey/latchkey/cmd/latchkey")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build latchkey:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// Timing of the cluster's nodes: short enough that the fault tests finish
// quickly, long enough for a busy two-core machine.
const (
	databaseTimeout = "2s"
	lease           = 3 * time.Second
)

// cluster is several `latchkey serve` processes on one PostgreSQL schema
// behind a round-robin reverse proxy, whose URL is the public URL.
type cluster struct {
	t       *testing.T
	URL     string // the proxy: PUBLIC_URL of every node
	env     *bootstrap.Env
	keyFile string
	dbURL   string // what the nodes connect to
	dataDir string
	lease   time.Duration
	nodes   []*node
	next    atomic.Uint64
	mu      sync.Mutex
	live    []*node // nodes the proxy sends to
}

type clusterOptions struct {
	nodes int
	// dbProxy puts a TCP proxy between the nodes and PostgreSQL.
	dbProxy *tcpProxy
	// lease is the nodes' back-channel lease (default: lease).
	lease time.Duration
}

func startCluster(t *testing.T, o clusterOptions) *cluster {
	t.Helper()
	dbURL := testdb.PostgresURL(t)
	dir := t.TempDir()
	c := &cluster{t: t, keyFile: filepath.Join(dir, "master.key"), dbURL: dbURL, dataDir: dir, lease: lease}
	if o.lease > 0 {
		c.lease = o.lease
	}
	if _, err := secret.CreateMasterKeyFile(c.keyFile); err != nil {
		t.Fatal(err)
	}
	proxy := httptest.NewServer(&httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			n := c.pick()
			pr.SetURL(&url.URL{Scheme: "http", Host: n.addr})
			pr.Out.Host = pr.In.Host
		},
		ErrorLog: nil,
	})
	t.Cleanup(proxy.Close)
	c.URL = proxy.URL
	// The test's own view of the schema: it migrates the schema and
	// provisions organizations as an operator would.
	env, err := bootstrap.Open(context.Background(), config.Config{
		PublicURL: c.URL, Database: dbURL, MasterKeyFile: c.keyFile, MasterKeyExplicit: true, DataDir: dir,
	}, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Close() })
	c.env = env
	if o.dbProxy != nil {
		u, err := url.Parse(dbURL)
		if err != nil {
			t.Fatal(err)
		}
		o.dbProxy.target = u.Host
		o.dbProxy.start(t)
		u.Host = o.dbProxy.addr
		c.dbURL = u.String()
	}
	for i := range max(o.nodes, 1) {
		c.nodes = append(c.nodes, c.startNode(i))
	}
	c.live = append([]*node(nil), c.nodes...)
	return c
}

func (c *cluster) pick() *node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.live[int(c.next.Add(1))%len(c.live)]
}

// remove takes n out of the proxy's rotation.
func (c *cluster) remove(n *node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.live {
		if x == n {
			c.live = append(c.live[:i:i], c.live[i+1:]...)
			return
		}
	}
}

// node is one `latchkey serve` process.
type node struct {
	i      int
	cmd    *exec.Cmd
	addr   string
	owner  string // its back-channel worker's lease owner token
	log    *logLines
	exited chan struct{}
	state  *os.ProcessState
}

type logLines struct {
	mu    sync.Mutex
	lines []map[string]any
	raw   strings.Builder
}

func (l *logLines) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.raw.WriteString(line + "\n")
	var m map[string]any
	if json.Unmarshal([]byte(line), &m) == nil {
		l.lines = append(l.lines, m)
	}
}

// find returns the first log record with msg whose key is set.
func (l *logLines) find(msg, key string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.lines {
		if m["msg"] == msg {
			if v, ok := m[key].(string); ok {
				return v
			}
		}
	}
	return ""
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.raw.String()
}

func (c *cluster) startNode(i int) *node {
	t := c.t
	t.Helper()
	cmd := exec.Command(binary, "serve", "--addr", "127.0.0.1:0", "--public-url", c.URL, "--database", c.dbURL,
		"--master-key-file", c.keyFile, "--data-dir", filepath.Join(c.dataDir, fmt.Sprint("node", i)),
		"--outbound-allow-loopback", "--log-format", "json", "--log-level", "info",
		"--database-timeout", databaseTimeout, "--backchannel-lease", c.lease.String())
	cmd.Env = cleanEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	n := &node{i: i, cmd: cmd, log: &logLines{}, exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			n.log.add(sc.Text())
		}
		_ = cmd.Wait()
		n.state = cmd.ProcessState
		close(n.exited)
	}()
	t.Cleanup(func() {
		if n.running() {
			_ = cmd.Process.Kill()
			<-n.exited
		}
		if t.Failed() {
			t.Logf("node %d log:\n%s", i, n.log)
		}
	})
	waitFor(t, fmt.Sprintf("node %d to listen", i), func() bool {
		if !n.running() {
			t.Fatalf("node %d exited: %s\n%s", i, n.state, n.log)
		}
		n.addr = n.log.find("latchkey listening", "addr")
		return n.addr != ""
	})
	n.owner = n.log.find("back-channel logout worker started", "owner")
	waitFor(t, fmt.Sprintf("node %d to be ready", i), func() bool { return statusOf(n.URL()+"/readyz") == http.StatusOK })
	return n
}

func (n *node) URL() string { return "http://" + n.addr }

func (n *node) running() bool {
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// cleanEnv is the test's environment without LATCHKEY_ settings, so that
// the nodes run on their flags alone.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LATCHKEY_") {
			out = append(out, kv)
		}
	}
	return out
}

// pinned is a transport that sends every request to one node, whatever
// host the URL names: the flows use the public URL, and a test chooses
// which node serves each step.
type pinned struct {
	addr string
	base http.RoundTripper
}

func (p pinned) RoundTrip(r *http.Request) (*http.Response, error) {
	out := r.Clone(r.Context())
	out.URL.Host = p.addr
	out.Host = r.URL.Host
	return p.base.RoundTrip(out)
}

func (n *node) client() *http.Client {
	return &http.Client{Transport: pinned{addr: n.addr, base: http.DefaultTransport}, Timeout: 60 * time.Second}
}

// fixture provisions an organization with a user and an application.
func (c *cluster) fixture(org, redirectURI string) *servertest.Fixture {
	inst := &servertest.Instance{URL: c.URL, Env: c.env, Actor: directory.Actor{Name: "cluster-test"}}
	return inst.NewFixture(c.t, org, redirectURI)
}

func statusOf(u string) int {
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get(u)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// waitFor polls cond for up to 90 s: longer than testkit.Deadline, since
// several nodes and a database share the machine.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testkit.WaitWithin(t, 90*time.Second, what, cond)
}

// tcpProxy forwards connections to PostgreSQL. down closes its listener
// and every connection (the database is unreachable: connections are
// refused); freeze keeps accepting and holding connections but passes no
// byte (a hung primary); up restores it on the same address.
type tcpProxy struct {
	target string
	addr   string

	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
	frozen bool
}

func (p *tcpProxy) start(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.conns = map[net.Conn]bool{}
	p.serve(ln)
	t.Cleanup(p.down)
}

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			frozen := p.frozen
			p.conns[in] = true
			p.mu.Unlock()
			if frozen {
				continue // held open, never answered
			}
			out, err := net.Dial("tcp", p.target)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns[out] = true
			p.mu.Unlock()
			go p.pipe(in, out)
			go p.pipe(out, in)
		}
	}()
}

func (p *tcpProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			frozen := p.frozen
			p.mu.Unlock()
			if frozen {
				// A frozen server reads nothing and answers nothing: hold
				// the bytes until the connection is closed.
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
}

// down makes the database unreachable: no listener, every connection reset.
func (p *tcpProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

// freeze makes the database hang: connections stay open, nothing answers.
func (p *tcpProxy) freeze() {
	p.mu.Lock()
	p.frozen = true
	p.mu.Unlock()
}

// up brings the database back on the same address.
func (p *tcpProxy) up(t *testing.T) {
	t.Helper()
	p.down()
	p.mu.Lock()
	p.frozen = false
	p.mu.Unlock()
	var ln net.Listener
	waitFor(t, "the database address to be free again", func() bool {
		var err error
		ln, err = net.Listen("tcp", p.addr)
		return err == nil
	})
	p.serve(ln)
}

// sigterm asks n to stop and returns its exit.
func (n *node) sigterm(t *testing.T) *os.ProcessState {
	t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-n.exited:
	case <-time.After(90 * time.Second):
		t.Fatalf("node %d did not exit after SIGTERM", n.i)
	}
	return n.state
}
