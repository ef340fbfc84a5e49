package outbound

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestCheckAddr_RefusesLoopbackLinkLocalMulticastUnspecified(t *testing.T) {
	for addr, allowed := range map[string]bool{
		"127.0.0.1": false, "::1": false, "169.254.169.254": false, "fe80::1": false, "224.0.0.1": false,
		"0.0.0.0": false, "::": false, "::ffff:127.0.0.1": false, "10.1.2.3": true, "192.168.1.1": true, "93.184.216.34": true,
	} {
		err := CheckAddr(netip.MustParseAddr(addr), false)
		if (err == nil) != allowed {
			t.Errorf("%s: err=%v, want allowed=%v", addr, err, allowed)
		}
	}
	if err := CheckAddr(netip.MustParseAddr("127.0.0.1"), true); err != nil {
		t.Errorf("loopback with allowLoopback: %v", err)
	}
}

func TestClient_RefusesLoopbackAtDialTime(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	defer srv.Close()
	if _, err := NewClient(false, 5*time.Second).Get(srv.URL); !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("loopback request: %v, want ErrForbiddenAddress", err)
	}
	resp, err := NewClient(true, 5*time.Second).Get(srv.URL)
	if err != nil {
		t.Fatalf("with loopback allowed: %v", err)
	}
	resp.Body.Close()
}

func TestClient_LimitsResponseSizeAndCrossHostRedirects(t *testing.T) {
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/away" {
			http.Redirect(w, r, "http://localhost:1/elsewhere", http.StatusFound)
			return
		}
		_, _ = io.WriteString(w, strings.Repeat("x", MaxResponseBytes+10))
	}))
	defer big.Close()
	c := NewClient(true, 5*time.Second)
	resp, err := c.Get(big.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("reading an oversized body: %v", err)
	}
	if _, err := c.Get(big.URL + "/away"); err == nil || !strings.Contains(err.Error(), "another host") {
		t.Fatalf("cross-host redirect followed: %v", err)
	}
}
