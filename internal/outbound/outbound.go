// Package outbound is the one HTTP client for requests whose target an
// organization admin can choose: back-channel logout URIs and the upstream
// IdP's discovery, token, userinfo and JWKS endpoints.
//
// Because an admin aims it, it must not become a way into the deployment's
// own network (SSRF): the address is checked when the connection is dialed
// (after DNS, so rebinding does not help), redirects to other hosts are not
// followed, every request has a deadline, and responses are size-limited.
// Private ranges stay allowed: company IdPs live there.
package outbound

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// MaxResponseBytes bounds a response body read through the client.
const MaxResponseBytes = 1 << 20

// ErrForbiddenAddress is returned when a target resolves to an address
// outbound requests may not reach.
var ErrForbiddenAddress = errors.New("outbound request to a forbidden address")

// CheckAddr reports whether ip may be dialed.
func CheckAddr(ip netip.Addr, allowLoopback bool) error {
	ip = ip.Unmap()
	switch {
	case ip.IsLoopback() && !allowLoopback:
		return fmt.Errorf("%w: %s is a loopback address", ErrForbiddenAddress, ip)
	case ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast():
		return fmt.Errorf("%w: %s is link-local (cloud metadata lives here)", ErrForbiddenAddress, ip)
	case ip.IsMulticast() || ip.IsInterfaceLocalMulticast():
		return fmt.Errorf("%w: %s is multicast", ErrForbiddenAddress, ip)
	case ip.IsUnspecified():
		return fmt.Errorf("%w: %s is unspecified", ErrForbiddenAddress, ip)
	}
	return nil
}

// NewClient returns the guarded client. allowLoopback lifts the loopback
// ban (development and tests).
func NewClient(allowLoopback bool, timeout time.Duration) *http.Client {
	dialer := &net.Dialer{
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
			return CheckAddr(ip, allowLoopback)
		},
	}
	tr := &http.Transport{
		Proxy:                 nil, // a proxy would dial on our behalf, past the check
		DialContext:           dialer.DialContext,
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
