package testkit_test

import (
	"net"
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
