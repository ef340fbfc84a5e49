package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// runCommand runs one command line in-process with no database flags added.
func runCommand(ctx context.Context, args ...string) result {
	var out, errb bytes.Buffer
	code := run(ctx, args, strings.NewReader(""), &out, &errb)
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

func TestHealthcheck_ExitsZeroWhenTheServerIsReady(t *testing.T) {
	inst := servertest.Start(t, "sqlite")
	r := runCommand(context.Background(), "healthcheck", "--url", inst.URL+"/readyz")
	if r.code != 0 || !strings.Contains(r.stdout, "ready") {
		t.Fatalf("healthcheck --url: exit %d, stdout %q, stderr %q; want 0 and ready", r.code, r.stdout, r.stderr)
	}
}

func TestHealthcheck_ProbesTheConfiguredAddressByDefault(t *testing.T) {
	inst := servertest.Start(t, "sqlite")
	_, port, _ := net.SplitHostPort(inst.Env.Config.Addr)
	// A wildcard listen address is probed on loopback, as in the image.
	t.Setenv("LATCHKEY_ADDR", "0.0.0.0:"+port)
	r := runCommand(context.Background(), "healthcheck")
	if r.code != 0 || !strings.Contains(r.stdout, "http://127.0.0.1:"+port+"/readyz") {
		t.Fatalf("healthcheck with LATCHKEY_ADDR: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := runCommand(context.Background(), "healthcheck", "--addr", inst.Env.Config.Addr); r.code != 0 {
		t.Fatalf("healthcheck --addr: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestHealthcheck_FailsWhenTheDatabaseIsUnavailable(t *testing.T) {
	inst := servertest.Start(t, "sqlite")
	if err := inst.Env.Store.Close(); err != nil {
		t.Fatal(err)
	}
	r := runCommand(context.Background(), "healthcheck", "--url", inst.URL+"/readyz")
	wantFailure(t, r, 1, "not ready", "503", "database unavailable")
}

func TestHealthcheck_FailsWhenNothingListens(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	wantFailure(t, runCommand(context.Background(), "healthcheck", "--url", "http://"+addr+"/readyz"), 1, "not ready")
}

func TestHealthcheck_DoesNotFollowRedirects(t *testing.T) {
	inst := servertest.Start(t, "sqlite")
	// A proxy answering with a redirect to a ready server is not ready itself.
	redirect := httptest.NewServer(http.RedirectHandler(inst.URL+"/readyz", http.StatusFound))
	defer redirect.Close()
	wantFailure(t, runCommand(context.Background(), "healthcheck", "--url", redirect.URL+"/readyz"), 1, "not ready", "302")
}

func TestHealthcheck_RefusesBadFlags(t *testing.T) {
	wantFailure(t, runCommand(context.Background(), "healthcheck", "--url", "ftp://127.0.0.1/readyz"), 2, "--url")
	wantFailure(t, runCommand(context.Background(), "healthcheck", "--url", "127.0.0.1:8080"), 2, "--url")
	wantFailure(t, runCommand(context.Background(), "healthcheck", "--timeout", "0s"), 2, "--timeout")
	wantFailure(t, runCommand(context.Background(), "healthcheck", "extra"), 2, "unexpected")
}

func TestReadyzURL(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:8080":  "http://127.0.0.1:8080/readyz",
		"0.0.0.0:8080":    "http://127.0.0.1:8080/readyz",
		":8080":           "http://127.0.0.1:8080/readyz",
		"[::]:8080":       "http://[::1]:8080/readyz",
		"sso.internal:80": "http://sso.internal:80/readyz",
	} {
		if got := readyzURL(addr); got != want {
			t.Errorf("readyzURL(%q) = %q, want %q", addr, got, want)
		}
	}
}

// TestServe_NotifiesSystemdWhenReadyAndPassesItsOwnHealthcheck runs
// `latchkey serve` as a Type=notify unit would: it must report READY=1 with
// its address only once it answers, pass `latchkey healthcheck`, and report
// STOPPING=1 when told to stop.
func TestServe_NotifiesSystemdWhenReadyAndPassesItsOwnHealthcheck(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify")
	notifications, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notifications.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("LATCHKEY_LOG_FORMAT", "text")

	// A free loopback port for --debug-addr (the listener opens before READY=1).
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	debugAddr := free.Addr().String()
	free.Close()

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan result, 1)
	go func() {
		done <- runCommand(ctx, "serve", "--addr", "127.0.0.1:0", "--debug-addr", debugAddr, "--database", "sqlite:"+filepath.Join(dir, "latchkey.db"), "--data-dir", dir, "--log-level", "error")
	}()
	receive := func() string {
		t.Helper()
		if err := notifications.SetReadDeadline(time.Now().Add(2 * time.Minute)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		n, err := notifications.Read(buf)
		if err != nil {
			select {
			case r := <-done:
				t.Fatalf("serve exited %d without notifying: %s", r.code, r.stderr)
			default:
			}
			t.Fatalf("no notification from serve: %v", err)
		}
		return string(buf[:n])
	}

	ready := receive()
	addr, ok := strings.CutPrefix(ready, "READY=1\nSTATUS=listening on ")
	if !ok {
		t.Fatalf("first notification = %q, want READY=1 with the address", ready)
	}
	if r := runCommand(context.Background(), "healthcheck", "--addr", addr); r.code != 0 {
		t.Fatalf("healthcheck right after READY=1: exit %d, stderr %q", r.code, r.stderr)
	}
	for _, probe := range []struct {
		url  string
		want int
	}{
		{"http://" + debugAddr + "/debug/vars", http.StatusOK},
		{"http://" + debugAddr + "/debug/pprof/goroutine", http.StatusOK},
		{"http://" + addr + "/debug/pprof/", http.StatusNotFound},
	} {
		resp, err := http.Get(probe.url)
		if err != nil {
			t.Fatalf("GET %s: %v", probe.url, err)
		}
		resp.Body.Close()
		if resp.StatusCode != probe.want {
			t.Errorf("GET %s: %d, want %d", probe.url, resp.StatusCode, probe.want)
		}
	}
	stop()
	if got := receive(); got != "STOPPING=1" {
		t.Errorf("notification on stop = %q, want STOPPING=1", got)
	}
	if r := <-done; r.code != 0 {
		t.Errorf("serve exited %d: %s", r.code, r.stderr)
	}
}

func TestServe_RefusesADebugAddressOtherMachinesCouldReach(t *testing.T) {
	dir := t.TempDir()
	r := runCommand(context.Background(), "serve", "--addr", "127.0.0.1:0", "--debug-addr", "0.0.0.0:0",
		"--database", "sqlite:"+filepath.Join(dir, "latchkey.db"), "--data-dir", dir, "--log-level", "error")
	if r.code == 0 || !strings.Contains(r.stderr, "debug-addr") || !strings.Contains(r.stderr, "loopback") {
		t.Fatalf("serve --debug-addr 0.0.0.0:0: exit %d, stderr %q; want a refusal naming debug-addr", r.code, r.stderr)
	}
}
