// Package upstreamtest runs a real upstream OpenID Provider for Latchkey's
// federation tests (DESIGN.md §6, §9): panva's Node package oidc-provider,
// driven by test/upstream-op/op.mjs, as a child process on a free loopback
// port, one per Start.
//
// The provider signs users in without any HTML: its login interaction signs
// in the "auto-login" account and its consent grants everything, all through
// 303 redirects, so an http.Client with a cookie jar that follows redirects
// goes from the authorization endpoint straight to the client's
// redirect_uri. RP-Initiated Logout needs no click either: the end_session
// endpoint redirects to the post_logout_redirect_uri after ending the whole
// upstream session (and sending Back-Channel Logout tokens to every client
// of the session that registered a backchannel_logout_uri). Note that
// oidc-provider ends a browser's upstream session the same way (Logout
// Tokens included) when a login signs in a different account than that
// session's, e.g. after SetAutoLogin with prompt=login.
//
// It needs node (20 or newer) and `npm ci` in test/upstream-op. Without
// them Start skips the test, except under CI=true, where that is a failure.
package upstreamtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testkit"
)

// readyTimeout bounds how long Start waits for the provider's ready line.
// Node takes seconds to load oidc-provider on an idle machine and far longer
// on a busy one; the bound only has to catch a provider that will never start.
const readyTimeout = 3 * time.Minute

// Client is one client registered at the upstream provider, in OAuth
// client metadata terms (RFC 7591 / OIDC Registration).
type Client struct {
	ID     string
	Secret string
	// RedirectURIs may be http:// (127.0.0.1 included): web clients of the
	// code flow may register those with oidc-provider.
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	// TokenEndpointAuthMethod is client_secret_basic (the default) or
	// client_secret_post (or anything else oidc-provider supports).
	TokenEndpointAuthMethod string
	// BackchannelLogoutURI receives Logout Tokens; empty for none.
	BackchannelLogoutURI string
	// BackchannelLogoutSessionRequired puts sid in Logout Tokens (and in
	// id_tokens).
	BackchannelLogoutSessionRequired bool
	// Metadata holds any further client metadata, merged last.
	Metadata map[string]any
}

// MarshalJSON renders the client as oidc-provider client metadata.
func (c Client) MarshalJSON() ([]byte, error) {
	m := map[string]any{
		"client_id":     c.ID,
		"redirect_uris": c.RedirectURIs,
	}
	if c.RedirectURIs == nil {
		m["redirect_uris"] = []string{}
	}
	if c.Secret != "" {
		m["client_secret"] = c.Secret
	}
	if len(c.PostLogoutRedirectURIs) > 0 {
		m["post_logout_redirect_uris"] = c.PostLogoutRedirectURIs
	}
	if c.TokenEndpointAuthMethod != "" {
		m["token_endpoint_auth_method"] = c.TokenEndpointAuthMethod
	}
	if c.BackchannelLogoutURI != "" {
		m["backchannel_logout_uri"] = c.BackchannelLogoutURI
	}
	if c.BackchannelLogoutSessionRequired {
		m["backchannel_logout_session_required"] = true
	}
	for k, v := range c.Metadata {
		m[k] = v
	}
	return json.Marshal(m)
}

// Options configure one upstream provider.
type Options struct {
	Clients []Client
	// Accounts maps an account id, which is also the subject (sub), to its
	// claims, e.g. {"u1": {"preferred_username": "alice", "email": ...}}.
	// Standard OIDC claims are released by their scope (profile, email,
	// phone, address); any other claim name found here is released with
	// the profile scope.
	Accounts map[string]map[string]any
	// ClaimsInIDToken puts the claims requested by scope in the id_token
	// too; otherwise (the OIDC Core default for the code flow) they are only
	// at the userinfo endpoint and the id_token carries just sub and the
	// protocol claims.
	ClaimsInIDToken bool
	// AutoLogin is the account every login signs in. Empty: the provider
	// shows a minimal login form (POST field "login" = account id).
	AutoLogin string
	// ScopeClaims adds claims to scopes (or new scopes), merged into the
	// standard table; needed for a custom claim name that no initial
	// account carries but that SetAccount introduces later.
	ScopeClaims map[string][]string
}

// OP is a running upstream provider.
type OP struct {
	// Issuer is the provider's issuer, http://127.0.0.1:PORT; discovery is
	// at Issuer + "/.well-known/openid-configuration".
	Issuer string

	cmd     *exec.Cmd
	cancel  context.CancelFunc
	exited  chan struct{}
	waitErr error
	stdin   io.WriteCloser
	logs    *syncBuffer
	control *http.Client
	stop    sync.Once
}

// Start runs a provider for the test and stops it when the test ends.
func Start(t testing.TB, opts Options) *OP {
	t.Helper()
	dir := requireHarness(t)

	clients, err := json.Marshal(nonNil(opts.Clients))
	if err != nil {
		t.Fatalf("upstreamtest: clients: %v", err)
	}
	accounts, err := json.Marshal(nonNilMap(opts.Accounts))
	if err != nil {
		t.Fatalf("upstreamtest: accounts: %v", err)
	}
	scopeClaims, err := json.Marshal(nonNilMap(opts.ScopeClaims))
	if err != nil {
		t.Fatalf("upstreamtest: scope claims: %v", err)
	}
	if opts.AutoLogin != "" {
		if _, ok := opts.Accounts[opts.AutoLogin]; !ok {
			t.Fatalf("upstreamtest: AutoLogin %q is not one of the Accounts", opts.AutoLogin)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "node", "op.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"PORT=0",
		"ISSUER=",
		"CLIENTS="+string(clients),
		"ACCOUNTS="+string(accounts),
		"SCOPE_CLAIMS="+string(scopeClaims),
		fmt.Sprintf("CLAIMS_IN_ID_TOKEN=%t", opts.ClaimsInIDToken),
		"AUTO_LOGIN_ACCOUNT="+opts.AutoLogin,
		// The process dies with this one: it exits when the stdin pipe
		// (held open by us) closes.
		"EXIT_ON_STDIN_EOF=1",
	)
	// Ask nicely first, then kill.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 3 * time.Second

	op := &OP{
		cmd:     cmd,
		cancel:  cancel,
		exited:  make(chan struct{}),
		logs:    &syncBuffer{},
		control: &http.Client{Timeout: 15 * time.Second},
	}
	ready := make(chan string, 1)
	cmd.Stdout = &readyWriter{logs: op.logs, ready: ready}
	cmd.Stderr = op.logs
	if op.stdin, err = cmd.StdinPipe(); err != nil {
		cancel()
		t.Fatalf("upstreamtest: stdin: %v", err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("upstreamtest: start node op.mjs in %s: %v", dir, err)
	}
	go func() {
		op.waitErr = cmd.Wait()
		close(op.exited)
	}()
	t.Cleanup(func() {
		op.Stop()
		if t.Failed() {
			t.Logf("upstream OP (%s) output:\n%s", op.Issuer, op.logs.String())
		}
	})

	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case issuer := <-ready:
		op.Issuer = issuer
	case <-op.exited:
		t.Fatalf("upstreamtest: node op.mjs exited before it was ready (%v):\n%s", op.waitErr, op.logs.String())
	case <-timer.C:
		op.Stop()
		t.Fatalf("upstreamtest: node op.mjs not ready after %s:\n%s", readyTimeout, op.logs.String())
	}
	return op
}

// Stop ends the provider; the test's cleanup calls it too. It is safe to
// call more than once.
func (op *OP) Stop() {
	op.stop.Do(func() {
		_ = op.stdin.Close()
		select {
		case <-op.exited:
		case <-time.After(2 * time.Second):
		}
		op.cancel()
		<-op.exited
	})
}

// SetAccount creates the account or replaces its claims. A claim name
// outside the standard table, Options.ScopeClaims and the initial accounts
// is stored but not released.
func (op *OP) SetAccount(t testing.TB, id string, claims map[string]any) {
	t.Helper()
	op.post(t, "/__test/account", map[string]any{"id": id, "claims": nonNilMap(claims)}, nil)
}

// SetAutoLogin makes id the account every later login signs in; "" shows
// the login form instead.
func (op *OP) SetAutoLogin(t testing.TB, id string) {
	t.Helper()
	op.post(t, "/__test/login", map[string]any{"autoLogin": id}, nil)
}

// DenyLogins makes every later authorization that needs a login or a
// consent end with error=access_denied at the client's redirect_uri (or
// stops doing so).
func (op *OP) DenyLogins(t testing.TB, deny bool) {
	t.Helper()
	op.post(t, "/__test/login", map[string]any{"deny": deny}, nil)
}

// Notified is one Logout Token the provider delivered.
type Notified struct {
	ClientID string `json:"clientId"`
	Sub      string `json:"sub"`
	// SID is the session id of the client's login; it is in the Logout
	// Token only when the client set BackchannelLogoutSessionRequired.
	SID string `json:"sid"`
}

// BackchannelLogout logs the account out upstream, as an admin or another
// application would: for each upstream session of the account in which the
// client signed in, oidc-provider signs a Logout Token and POSTs it to the
// client's backchannel_logout_uri (which must answer 200 or 204 before this
// returns), revokes the client's grant and removes the client from the
// session. With clientID "" every client of the account's sessions that
// has a backchannel_logout_uri is notified and the sessions end.
//
// The test fails when the account has no session (with that client) or
// when a client's endpoint did not accept the token.
func (op *OP) BackchannelLogout(t testing.TB, accountID, clientID string) []Notified {
	t.Helper()
	var out struct {
		Notified []Notified `json:"notified"`
	}
	body := map[string]any{"accountId": accountID}
	if clientID != "" {
		body["clientId"] = clientID
	}
	op.post(t, "/__test/backchannel-logout", body, &out)
	return out.Notified
}

// LastAuthorizationRequest returns the parameters of the last
// authorization request the provider handled (client_id, scope, state,
// nonce, login_hint, prompt, code_challenge_method, ...), so a test can
// check what Latchkey sent upstream.
func (op *OP) LastAuthorizationRequest(t testing.TB) map[string]string {
	t.Helper()
	var out struct {
		Params map[string]any `json:"params"`
	}
	op.do(t, http.MethodGet, "/__test/last-authorization", nil, &out)
	params := make(map[string]string, len(out.Params))
	for k, v := range out.Params {
		if s, ok := v.(string); ok {
			params[k] = s
		} else {
			b, _ := json.Marshal(v)
			params[k] = string(b)
		}
	}
	return params
}

func (op *OP) post(t testing.TB, path string, body, out any) {
	t.Helper()
	op.do(t, http.MethodPost, path, body, out)
}

func (op *OP) do(t testing.TB, method, path string, body, out any) {
	t.Helper()
	var reader io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatalf("upstreamtest: %s %s: %v", method, path, err)
		}
		reader = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, op.Issuer+path, reader)
	if err != nil {
		t.Fatalf("upstreamtest: %s %s: %v", method, path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := op.control.Do(req)
	if err != nil {
		t.Fatalf("upstreamtest: %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("upstreamtest: %s %s: read: %v", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("upstreamtest: %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(raw))
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("upstreamtest: %s %s: decode %q: %v", method, path, raw, err)
		}
	}
}

// requireHarness returns test/upstream-op, or skips the test (fails it
// under CI=true) when node or the installed packages are missing.
func requireHarness(t testing.TB) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		testkit.Unavailable(t, "upstreamtest: %v", err)
	}
	dir := filepath.Join(root, "test", "upstream-op")
	if _, err := exec.LookPath("node"); err != nil {
		testkit.Unavailable(t, "upstreamtest: node (20 or newer) not found on PATH: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider", "package.json")); err != nil {
		testkit.Unavailable(t, "upstreamtest: oidc-provider is not installed: run `make deps` or `npm ci` in %s (%v)", dir, err)
	}
	return dir
}

// moduleRoot walks up from the working directory to the go.mod of
// github.com/latchkey/latchkey.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/latchkey/latchkey\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod of github.com/latchkey/latchkey above the working directory")
		}
		dir = parent
	}
}

// readyWriter copies the provider's stdout to the log and reports the
// issuer of its first {"ready":true,...} line.
type readyWriter struct {
	logs  *syncBuffer
	ready chan<- string
	line  []byte
	done  bool
}

func (w *readyWriter) Write(p []byte) (int, error) {
	_, _ = w.logs.Write(p)
	if w.done {
		return len(p), nil
	}
	w.line = append(w.line, p...)
	for {
		i := bytes.IndexByte(w.line, '\n')
		if i < 0 {
			return len(p), nil
		}
		var msg struct {
			Ready  bool   `json:"ready"`
			Issuer string `json:"issuer"`
		}
		if json.Unmarshal(w.line[:i], &msg) == nil && msg.Ready && msg.Issuer != "" {
			w.done, w.line = true, nil
			w.ready <- msg.Issuer
			return len(p), nil
		}
		w.line = w.line[i+1:]
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func nonNilMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return map[K]V{}
	}
	return m
}
