package testkit_test

import (
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testkit"
)

func TestWaitFor_ReturnsOnceTheConditionHolds(t *testing.T) {
	n := 0
	testkit.WaitFor(t, "the third poll", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("polled %d times, want 3", n)
	}
}

func TestClosedPort_RefusesConnections(t *testing.T) {
	addr := testkit.ClosedPort(t)
	if c, err := net.DialTimeout("tcp", addr, 10*time.Second); err == nil {
		c.Close()
		t.Fatalf("%s accepted a connection", addr)
	}
}

func TestPtr_PointsToACopy(t *testing.T) {
	v := "a"
	p := testkit.Ptr(v)
	v = "b"
	if *p != "a" {
		t.Fatalf("*Ptr = %q, want a", *p)
	}
}

// TestUnavailable_SkipsOnADevelopersMachineAndFailsUnderCI runs
// TestUnavailableHelper in a child process with and without CI=true.
func TestUnavailable_SkipsOnADevelopersMachineAndFailsUnderCI(t *testing.T) {
	for _, ci := range []string{"", "true"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestUnavailableHelper$", "-test.v")
		cmd.Env = append(os.Environ(), "TESTKIT_HELPER=1", "CI="+ci)
		out, err := cmd.CombinedOutput()
		switch {
		case ci == "" && (err != nil || !strings.Contains(string(out), "--- SKIP") || !strings.Contains(string(out), "no widget here")):
			t.Errorf("without CI: err %v, want a skip with the reason:\n%s", err, out)
		case ci == "true" && (err == nil || !strings.Contains(string(out), "--- FAIL") || !strings.Contains(string(out), "no widget here")):
			t.Errorf("under CI=true: err %v, want a failure with the reason:\n%s", err, out)
		}
	}
}

func TestUnavailableHelper(t *testing.T) {
	if os.Getenv("TESTKIT_HELPER") != "1" {
		t.Skip("run by TestUnavailable_SkipsOnADevelopersMachineAndFailsUnderCI")
	}
	testkit.Unavailable(t, "no %s here", "widget")
}
