// Package outbound is the one HTTP client for requests whose target an
// organization admin can choose: back-channel logout URIs and the upstream
// IdP's discovery, token, userinfo and JWKS endpoints.
//
// Because an admin aims it, it must not become a way into the deployment's
// own network (SSRF): the address is checked when the connection is dialed
// (after DNS, so rebinding does not help), redirects to other hosts are not
// followed, every request has a deadline, and responses are size-limited.
// Private ranges stay allowed unless the operator denies them (a shared,
// multi-tenant deployment): company IdPs live there. An operator's allow
// list (--outbound-allow) lifts every ban for the ranges it names.
//
// Failures to reach a target (refused address, DNS, connect, timeout) are
// one generic "unreachable" for organization admins, so the client cannot
// be used to map the network; the exact reason is for the server log.
package outbound

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"syscall"
	"time"
)

// MaxResponseBytes bounds a response body read through the client.
const MaxResponseBytes = 1 << 20

// ErrForbiddenAddress is returned when a target resolves to an address
// outbound requests may not reach.
var ErrForbiddenAddress = errors.New("outbound request to a forbidden address")

// Policy says which addresses outbound requests may reach.
type Policy struct {
	// AllowLoopback lifts the loopback ban (development and tests).
	AllowLoopback bool
	// DenyPrivate also refuses RFC 1918, RFC 6598 (shared address space)
	// and unique-local IPv6 addresses.
	DenyPrivate bool
	// Allow lists ranges the operator permits whatever the other rules say.
	Allow []netip.Prefix
}

// Addresses no admin-aimed request may reach (besides the loopback,
// link-local, multicast and unspecified classes netip knows).
var (
	cloudMetadata = []netip.Addr{
		netip.MustParseAddr("169.254.169.254"), // AWS, GCP, Azure, OpenStack (link-local anyway)
		netip.MustParseAddr("fd00:ec2::254"),   // AWS IPv6 instance metadata
		netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud metadata
		netip.MustParseAddr("168.63.129.16"),   // Azure wire server
	}
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	broadcast   = netip.MustParseAddr("255.255.255.255")
	sharedSpace = netip.MustParsePrefix("100.64.0.0/10") // RFC 6598 carrier-grade NAT
	nat64       = []netip.Prefix{netip.MustParsePrefix("64:ff9b::/96"), netip.MustParsePrefix("64:ff9b:1::/48")}
	sixToFour   = netip.MustParsePrefix("2002::/16")
	teredo      = netip.MustParsePrefix("2001::/32")
	v4Compat    = netip.MustParsePrefix("::/96")
)

// CheckAddr reports whether ip may be dialed under the default policy
// (private ranges allowed).
func CheckAddr(ip netip.Addr, allowLoopback bool) error {
	return Policy{AllowLoopback: allowLoopback}.Check(ip)
}

// Check reports whether ip may be dialed. IPv6 forms that carry an IPv4
// address (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo) are judged by
// that IPv4 address as well.
func (p Policy) Check(ip netip.Addr) error {
	ip = ip.WithZone("")
	for _, pfx := range p.Allow {
		if pfx.Contains(ip) || pfx.Contains(ip.Unmap()) {
			return nil
		}
	}
	if err := p.check(ip.Unmap()); err != nil {
		return err
	}
	if v4, ok := embeddedIPv4(ip.Unmap()); ok {
		for _, pfx := range p.Allow {
			if pfx.Contains(v4) {
				return nil
			}
		}
		if err := p.check(v4); err != nil {
			return fmt.Errorf("%w (embedded in %s)", err, ip)
		}
	}
	return nil
}

func (p Policy) check(ip netip.Addr) error {
	switch {
	case ip.IsLoopback() && !p.AllowLoopback:
		return fmt.Errorf("%w: %s is a loopback address", ErrForbiddenAddress, ip)
	case ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast():
		return fmt.Errorf("%w: %s is link-local (cloud metadata lives here)", ErrForbiddenAddress, ip)
	case slices.Contains(cloudMetadata, ip):
		return fmt.Errorf("%w: %s is a cloud metadata address", ErrForbiddenAddress, ip)
	case ip.IsMulticast() || ip.IsInterfaceLocalMulticast() || ip == broadcast:
		return fmt.Errorf("%w: %s is multicast or broadcast", ErrForbiddenAddress, ip)
	case ip.IsUnspecified() || thisNetwork.Contains(ip):
		return fmt.Errorf("%w: %s is unspecified", ErrForbiddenAddress, ip)
	case p.DenyPrivate && (ip.IsPrivate() || sharedSpace.Contains(ip)):
		return fmt.Errorf("%w: %s is a private address (--outbound-deny-private)", ErrForbiddenAddress, ip)
	}
	return nil
}

// embeddedIPv4 returns the IPv4 address an IPv6 address carries by a
// translation or tunnelling convention, if any.
func embeddedIPv4(ip netip.Addr) (netip.Addr, bool) {
	if !ip.Is6() {
		return netip.Addr{}, false
	}
	b := ip.As16()
	switch {
	case nat64[0].Contains(ip), nat64[1].Contains(ip), v4Compat.Contains(ip) && !ip.IsUnspecified() && !ip.IsLoopback():
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	case teredo.Contains(ip): // the client's address, bit-inverted
		return netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]}), true
	}
	return netip.Addr{}, false
}

// Resolver finds a host's addresses (net.DefaultResolver in production).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Dialer opens connections (a net.Dialer in production).
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// Options tune NewGuardedClient; zero values are production defaults.
type Options struct {
	Resolver Resolver
	Dialer   Dialer
}

// NewClient returns the guarded client under the default policy.
// allowLoopback lifts the loopback ban (development and tests).
func NewClient(allowLoopback bool, timeout time.Duration) *http.Client {
	return NewGuardedClient(Policy{AllowLoopback: allowLoopback}, timeout, Options{})
}

// NewGuardedClient returns a client that reaches only what policy allows.
// Host names are resolved first and every address checked before one is
// dialed; the production dialer checks the address again at connect time.
func NewGuardedClient(policy Policy, timeout time.Duration, o Options) *http.Client {
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.Dialer == nil {
		o.Dialer = &net.Dialer{
			Timeout: 5 * time.Second,
			Control: func(_, address string, _ syscall.RawConn) error {
				host, _, err := net.SplitHostPort(address)
				if err != nil {
					return err
				}
				ip, err := netip.ParseAddr(host)
				if err != nil {
					return fmt.Errorf("%w: %q", ErrForbiddenAddress, host)
				}
				return policy.Check(ip)
			},
		}
	}
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(address)
		if err != nil {
			return nil, err
		}
		var addrs []netip.Addr
		if ip, perr := netip.ParseAddr(host); perr == nil {
			addrs = []netip.Addr{ip}
		} else {
			addrs, err = o.Resolver.LookupNetIP(ctx, "ip", host)
			if err != nil {
				return nil, err
			}
		}
		var firstErr error
		for _, ip := range addrs {
			if err := policy.Check(ip); err != nil {
				// One forbidden answer refuses the name: DNS answers that mix
				// public and internal addresses are a rebinding trick.
				return nil, &net.OpError{Op: "dial", Net: network, Err: err}
			}
		}
		for _, ip := range addrs {
			conn, err := o.Dialer.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
			if err == nil {
				return conn, nil
			}
			if firstErr == nil {
				firstErr = err
			}
		}
		if firstErr == nil {
			firstErr = &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
		}
		return nil, firstErr
	}
	tr := &http.Transport{
		Proxy:                 nil, // a proxy would dial on our behalf, past the check
		DialContext:           dial,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: timeout,
		MaxIdleConns:          50,
		IdleConnTimeout:       60 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Timeout:   timeout,
		Transport: limitedTransport{tr},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return errors.New("too many redirects")
			}
			if req.URL.Host != via[0].URL.Host {
				return fmt.Errorf("redirect to another host (%s) not followed", req.URL.Host)
			}
			return nil
		},
	}
}

// Unreachable reports whether err means the target could not be reached
// at all: a forbidden address, a DNS failure, a refused or failed
// connection, or no answer in time. Organization admins see only
// "unreachable" for these (see Public); the log gets err itself.
func Unreachable(err error) bool {
	var dnsErr *net.DNSError
	var netErr net.Error
	var opErr *net.OpError
	switch {
	case err == nil:
		return false
	case errors.Is(err, ErrForbiddenAddress), errors.As(err, &dnsErr), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout(),
		errors.As(err, &opErr) && opErr.Op == "dial":
		return true
	}
	return false
}

// UnreachableMessage is what an organization admin sees for any failure
// Unreachable reports.
const UnreachableMessage = "unreachable"

// Public is err as an organization admin may see it: "unreachable" for a
// target that could not be reached (whatever the reason), else err's text.
func Public(err error) string {
	if Unreachable(err) {
		return UnreachableMessage
	}
	return err.Error()
}

type limitedTransport struct{ next http.RoundTripper }

func (t limitedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != "http" && r.URL.Scheme != "https" {
		return nil, fmt.Errorf("outbound: scheme %q not allowed", r.URL.Scheme)
	}
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{rc: resp.Body, left: MaxResponseBytes}
	return resp, nil
}

// ErrTooLarge is returned when a response body exceeds MaxResponseBytes.
var ErrTooLarge = errors.New("outbound response larger than 1 MiB")

type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var one [1]byte
		if n, _ := b.rc.Read(one[:]); n > 0 {
			return 0, ErrTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
