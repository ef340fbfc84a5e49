package outbound

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"syscall"
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

func TestPolicy_RefusesMetadataTranslatedAndMappedForms(t *testing.T) {
	def := Policy{}
	strict := Policy{DenyPrivate: true}
	for _, tc := range []struct {
		addr          string
		def, isStrict bool // allowed under the default policy, under --outbound-deny-private
	}{
		{"fd00:ec2::254", false, false},
		{"100.100.100.200", false, false},
		{"::ffff:100.100.100.200", false, false},
		{"::ffff:169.254.169.254", false, false},
		{"168.63.129.16", false, false},
		{"64:ff9b::a9fe:a9fe", false, false},                   // NAT64 of 169.254.169.254
		{"64:ff9b::7f00:1", false, false},                      // NAT64 of 127.0.0.1
		{"64:ff9b::6464:64c8", false, false},                   // NAT64 of 100.100.100.200
		{"64:ff9b:1::7f00:1", false, false},                    // local-use NAT64 prefix
		{"2002:a9fe:a9fe::1", false, false},                    // 6to4 of 169.254.169.254
		{"2002:7f00:1::", false, false},                        // 6to4 of 127.0.0.1
		{"2002:e000:1::", false, false},                        // 6to4 of 224.0.0.1
		{"::7f00:1", false, false},                             // IPv4-compatible 127.0.0.1
		{"2001:0:4136:e378:8000:63bf:80ff:fffe", false, false}, // Teredo, client 127.0.0.1
		{"0.1.2.3", false, false},
		{"255.255.255.255", false, false},
		{"10.1.2.3", true, false},
		{"172.16.5.4", true, false},
		{"192.168.1.1", true, false},
		{"::ffff:10.1.2.3", true, false},
		{"64:ff9b::a01:203", true, false}, // NAT64 of 10.1.2.3
		{"2002:c0a8:101::1", true, false}, // 6to4 of 192.168.1.1
		{"fd12:3456::1", true, false},     // unique local
		{"100.64.1.1", true, false},       // shared address space
		{"93.184.216.34", true, true},
		{"64:ff9b::5db8:d822", true, true}, // NAT64 of a public address
		{"2606:4700::1111", true, true},
	} {
		ip := netip.MustParseAddr(tc.addr)
		if err := def.Check(ip); (err == nil) != tc.def || (err != nil && !errors.Is(err, ErrForbiddenAddress)) {
			t.Errorf("default policy, %s: err=%v, want allowed=%v", tc.addr, err, tc.def)
		}
		if err := strict.Check(ip); (err == nil) != tc.isStrict {
			t.Errorf("deny-private, %s: err=%v, want allowed=%v", tc.addr, err, tc.isStrict)
		}
	}
	allow := Policy{DenyPrivate: true, Allow: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16"), netip.MustParsePrefix("fd00:1::/32")}}
	for addr, ok := range map[string]bool{"10.9.1.1": true, "::ffff:10.9.1.1": true, "64:ff9b::a09:101": true, "10.8.1.1": false, "fd00:1::5": true, "fd00:2::5": false} {
		if err := allow.Check(netip.MustParseAddr(addr)); (err == nil) != ok {
			t.Errorf("allow list, %s: err=%v, want allowed=%v", addr, err, ok)
		}
	}
}

// fakeNet answers DNS from a table and records every dial; it never sends
// a packet anywhere.
type fakeNet struct {
	hosts  map[string][]netip.Addr
	dialed []string
}

func (f *fakeNet) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f.hosts[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (f *fakeNet) DialContext(_ context.Context, _, address string) (net.Conn, error) {
	f.dialed = append(f.dialed, address)
	return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
}

func TestClient_ChecksEveryResolvedAddressBeforeDialing(t *testing.T) {
	fake := &fakeNet{hosts: map[string][]netip.Addr{
		"metadata.example":   {netip.MustParseAddr("100.100.100.200")},
		"aws6.example":       {netip.MustParseAddr("fd00:ec2::254")},
		"nat64.example":      {netip.MustParseAddr("64:ff9b::a9fe:a9fe")},
		"sixtofour.example":  {netip.MustParseAddr("2002:7f00:1::1")},
		"rebind.example":     {netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("::ffff:169.254.169.254")},
		"intranet.example":   {netip.MustParseAddr("10.1.2.3")},
		"public.example":     {netip.MustParseAddr("93.184.216.34")},
		"allowed-10.example": {netip.MustParseAddr("10.9.1.1")},
	}}
	policy := Policy{DenyPrivate: true, Allow: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")}}
	c := NewGuardedClient(policy, 5*time.Second, Options{Resolver: fake, Dialer: fake})
	for _, host := range []string{"metadata.example", "aws6.example", "nat64.example", "sixtofour.example", "rebind.example", "intranet.example",
		"100.100.100.200", "[fd00:ec2::254]", "[::ffff:100.100.100.200]", "[64:ff9b::7f00:1]", "[2002:a9fe:a9fe::]", "192.168.0.1"} {
		fake.dialed = nil
		_, err := c.Get("http://" + host + "/")
		if !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("%s: err=%v, want ErrForbiddenAddress", host, err)
		}
		if len(fake.dialed) != 0 {
			t.Errorf("%s: dialed %v", host, fake.dialed)
		}
		if Public(err) != UnreachableMessage {
			t.Errorf("%s: admins see %q", host, Public(err))
		}
	}
	for _, host := range []string{"public.example", "allowed-10.example"} {
		fake.dialed = nil
		_, err := c.Get("http://" + host + ":8443/")
		if len(fake.dialed) != 1 || errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("%s: dialed %v, err %v; want one dial", host, fake.dialed, err)
		}
		if Public(err) != UnreachableMessage { // the fake refuses the connection
			t.Errorf("%s: a refused connection shows %q", host, Public(err))
		}
	}
	_, err := c.Get("http://no-such-host.example/")
	if Public(err) != UnreachableMessage {
		t.Errorf("DNS failure shows %q", Public(err))
	}
}
