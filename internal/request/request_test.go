package request_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/latchkey/latchkey/internal/request"
)

func TestClientIP_IsTheHostOfRemoteAddr(t *testing.T) {
	for remote, want := range map[string]string{
		"192.0.2.7:51234":      "192.0.2.7",
		"[2001:db8::1]:443":    "2001:db8::1",
		"198.51.100.9:0":       "198.51.100.9",
		"not-an-address":       "not-an-address",
		"[2001:db8::1%eth0]:1": "2001:db8::1%eth0",
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		if got := request.ClientIP(r); got != want {
			t.Errorf("ClientIP(%q) = %q, want %q", remote, got, want)
		}
	}
}

func TestID_TravelsInTheContext(t *testing.T) {
	if got := request.ID(context.Background()); got != "" {
		t.Errorf("ID outside a request = %q", got)
	}
	if got := request.ID(request.WithID(context.Background(), "abc123")); got != "abc123" {
		t.Errorf("ID = %q, want abc123", got)
	}
}

func TestClientIP_PrefersTheAddressTheFrontDoorFound(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.1:5555"
	r = r.WithContext(request.Begin(r.Context(), "id1", "203.0.113.7"))
	if got := request.ClientIP(r); got != "203.0.113.7" {
		t.Errorf("ClientIP = %q, want 203.0.113.7", got)
	}
}

func TestBearer_TakesOneBearerHeaderOnly(t *testing.T) {
	for _, tc := range []struct {
		name    string
		headers []string
		want    string
		ok      bool
	}{
		{"bearer", []string{"Bearer abc"}, "abc", true},
		{"scheme is case-insensitive, spaces trimmed", []string{"  bearer   abc  "}, "abc", true},
		{"none", nil, "", false},
		{"basic", []string{"Basic YTpi"}, "", false},
		{"empty token", []string{"Bearer   "}, "", false},
		{"no token", []string{"Bearer"}, "", false},
		{"two headers", []string{"Bearer abc", "Bearer def"}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			for _, h := range tc.headers {
				r.Header.Add("Authorization", h)
			}
			got, ok := request.Bearer(r)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("Bearer = %q, %v; want %q, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}
