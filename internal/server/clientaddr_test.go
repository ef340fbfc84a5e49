package server

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/latchkey/latchkey/internal/bootstrap"
	"github.com/latchkey/latchkey/internal/config"
)

func TestClientAddr_BelievesForwardedForOnlyFromTrustedProxies(t *testing.T) {
	s := &Server{env: &bootstrap.Env{Config: config.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}}}
	for _, tc := range []struct {
		peer, xff, want string
	}{
		{"10.1.2.3:5555", "203.0.113.7", "203.0.113.7:0"},
		{"10.1.2.3:5555", "198.51.100.1, 203.0.113.7, 10.9.9.9", "203.0.113.7:0"}, // right-most untrusted hop
		{"192.0.2.50:5555", "203.0.113.7", ""},                                    // untrusted peer: spoofable header ignored
		{"10.1.2.3:5555", "", ""},
		{"10.1.2.3:5555", "not-an-ip", ""},
		{"10.1.2.3:5555", "10.2.2.2", ""}, // only proxies in the chain
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.peer
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := s.clientAddr(r); got != tc.want {
			t.Errorf("peer %s, X-Forwarded-For %q: got %q, want %q", tc.peer, tc.xff, got, tc.want)
		}
	}
	none := &Server{env: &bootstrap.Env{}}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Forwarded-For", "203.0.113.7")
	if got := none.clientAddr(r); got != "" {
		t.Errorf("without trusted proxies X-Forwarded-For was believed: %q", got)
	}
}
