package sdnotify

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

// listen opens a notification socket as systemd would.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func receive(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no notification: %v", err)
	}
	return string(buf[:n])
}

func TestNotify_SendsTheStateToAPathSocket(t *testing.T) {
	name := filepath.Join(t.TempDir(), "notify")
	conn := listen(t, name)
	sent, err := Notify(name, "READY=1\nSTATUS=listening")
	if err != nil || !sent {
		t.Fatalf("Notify = %v, %v; want true, nil", sent, err)
	}
	if got := receive(t, conn); got != "READY=1\nSTATUS=listening" {
		t.Errorf("received %q", got)
	}
}

func TestNotify_SendsTheStateToAnAbstractSocket(t *testing.T) {
	name := "@latchkey-sdnotify-test-" + time.Now().Format("150405.000000000")
	conn := listen(t, name)
	if sent, err := Notify(name, "STOPPING=1"); err != nil || !sent {
		t.Fatalf("Notify = %v, %v; want true, nil", sent, err)
	}
	if got := receive(t, conn); got != "STOPPING=1" {
		t.Errorf("received %q", got)
	}
}

func TestNotify_DoesNothingOutsideSystemd(t *testing.T) {
	if sent, err := Notify("", "READY=1"); sent || err != nil {
		t.Errorf("Notify without a socket = %v, %v; want false, nil", sent, err)
	}
}

func TestNotify_FailsOnABadSocket(t *testing.T) {
	if _, err := Notify("relative/notify", "READY=1"); err == nil {
		t.Error("relative socket name accepted")
	}
	if _, err := Notify(filepath.Join(t.TempDir(), "missing"), "READY=1"); err == nil {
		t.Error("missing socket accepted")
	}
}
