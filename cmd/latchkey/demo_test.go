package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is written by the command's goroutine and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestDemo_TakenPortFailsBeforeTheWelcome(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"demo", "--addr", busy.Addr().String()}, strings.NewReader(""), &out, &errb)
	if code == 0 {
		t.Fatal("demo succeeded on a taken port")
	}
	if out.Len() != 0 {
		t.Errorf("demo printed before failing:\n%s", out.String())
	}
	if msg := errb.String(); !strings.Contains(msg, "already in use") || !strings.Contains(msg, "--addr 127.0.0.1:0") {
		t.Errorf("error = %q, want it to say the address is in use and how to take a free port", msg)
	}
}

func TestDemo_PortZeroTakesAFreePortAndPrintsIt(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out, errb := &lockedBuffer{}, &lockedBuffer{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"demo", "--addr", "127.0.0.1:0"}, strings.NewReader(""), out, errb) }()
	defer func() {
		cancel()
		<-done
	}()
	running := regexp.MustCompile(`running at (http://127\.0\.0\.1:[1-9][0-9]*)\n`)
	deadline := time.Now().Add(60 * time.Second)
	var url string
	for url == "" {
		if m := running.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
			break
		}
		select {
		case code := <-done:
			t.Fatalf("demo exited %d: %s", code, errb.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo did not say where it runs:\n%s\n%s", out.String(), errb.String())
		}
	}
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatalf("the printed URL does not answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s/healthz = %d", url, resp.StatusCode)
	}
}
