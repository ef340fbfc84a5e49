// Package testkit holds the small helpers Latchkey's tests share: skipping
// a test whose component (PostgreSQL, Node, Chromium, a tool) is missing —
// or failing it under CI=true —, waiting for a condition with a generous
// deadline, a loopback address nothing listens on, and Ptr. It imports
// nothing of Latchkey's, so the tests of every package can use it; starting
// a whole server lives in internal/server/servertest.
package testkit

import (
	"fmt"
	"net"
	"os"
	"testing"
	"time"
)

// Deadline is how long WaitFor waits: generous, because a busy machine
// slows every asynchronous effect.
const Deadline = 60 * time.Second

// InCI reports whether the tests run under CI=true, where every component
// the tests need is installed.
func InCI() bool { return os.Getenv("CI") == "true" }

// Unavailable ends t because a component it needs is missing: it skips
// with the reason on a developer's machine and fails under CI=true.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("%s; under CI=true a missing component is a failure", msg)
	}
	t.Skip(msg)
}

// WaitFor polls cond until it holds, failing t after Deadline.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	WaitWithin(t, Deadline, what, cond)
}

// WaitWithin polls cond until it holds, failing t after d.
func WaitWithin(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ClosedPort returns a loopback address ("127.0.0.1:port") nothing listens
// on: connections to it are refused.
func ClosedPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Ptr returns a pointer to a copy of v.
func Ptr[T any](v T) *T { return &v }
