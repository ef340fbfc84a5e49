package main

import (
	"context"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"time"
)

// target is the only host the load generator talks to.
const target = "127.0.0.1"

// sourceAddrs hands out loopback source addresses 127.1.0.0, 127.1.0.1, …
// so that every browser looks like its own client to Latchkey's
// per-address limits. On Linux all of 127.0.0.0/8 is local; elsewhere
// probe fails and browsers dial from the default address.
type sourceAddrs struct {
	n atomic.Uint32
}

// next is a fresh source address (never 127.0.0.1).
func (s *sourceAddrs) next() *net.TCPAddr {
	i := s.n.Add(1) - 1
	ip := net.IPv4(127, byte(1+(i>>16)%254), byte(i>>8), byte(i))
	return &net.TCPAddr{IP: ip}
}

// probe reports whether a connection to addr can come from another
// loopback address.
func (s *sourceAddrs) probe(addr string) bool {
	d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 255, 255, 254)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// newClient is an HTTP client of its own (own transport, so own
// connections) that dials from local (nil: the system's choice), keeps
// cookies in jar (nil: none), never follows redirects, never uses a proxy
// and refuses to connect anywhere but 127.0.0.1.
func newClient(local *net.TCPAddr, jar http.CookieJar) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	if local != nil {
		d.LocalAddr = local
	}
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil || host != target {
				return nil, fmt.Errorf("load: refusing to connect to %s: only %s is allowed", addr, target)
			}
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{
		Transport:     tr,
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// browser is a cookie-keeping client that sees every redirect hop.
type browser struct {
	c *http.Client
}

// newBrowser is a browser with an empty cookie jar and its own
// connections, from a source address of its own when rotate is set.
func (i *instance) newBrowser() *browser {
	jar, _ := cookiejar.New(nil) // never fails without options
	var local *net.TCPAddr
	if i.rotate {
		local = i.src.next()
	}
	return &browser{c: newClient(local, jar)}
}

// close drops the browser's connections.
func (b *browser) close() { b.c.CloseIdleConnections() }

// page is a response with its body read.
type page struct {
	url      *url.URL
	status   int
	body     string
	location string // absolute
}

func (b *browser) do(ctx context.Context, method, rawURL string, form url.Values) (*page, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, body)
	if err != nil {
		return nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, req.URL.Path, err)
	}
	p := &page{url: req.URL, status: resp.StatusCode, body: string(data)}
	if loc := resp.Header.Get("Location"); loc != "" {
		u, err := req.URL.Parse(loc)
		if err != nil {
			return nil, fmt.Errorf("bad Location %q: %w", loc, err)
		}
		p.location = u.String()
	}
	return p, nil
}

func (b *browser) get(ctx context.Context, rawURL string) (*page, error) {
	return b.do(ctx, http.MethodGet, rawURL, nil)
}

// follow follows redirects from p until a response is not a redirect or
// its Location starts with stop (returned without being fetched; "" never
// stops). Redirects are fetched with GET, as browsers do after 302/303.
func (b *browser) follow(ctx context.Context, p *page, stop string) (*page, error) {
	for range 20 {
		if p.location == "" || (stop != "" && strings.HasPrefix(p.location, stop)) {
			return p, nil
		}
		var err error
		if p, err = b.get(ctx, p.location); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("too many redirects, last at %s", p.url.Path)
}

// form is an HTML form of a page.
type form struct {
	action string
	values url.Values
	fields map[string]bool
}

var (
	formRe  = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form>`)
	inputRe = regexp.MustCompile(`(?is)<input\b([^>]*)>`)
	attrRe  = regexp.MustCompile(`(?is)([a-z_:-]+)\s*=\s*("([^"]*)"|'([^']*)'|([^\s>]+))`)
)

func attrs(s string) map[string]string {
	out := map[string]string{}
	for _, m := range attrRe.FindAllStringSubmatch(s, -1) {
		out[strings.ToLower(m[1])] = html.UnescapeString(m[3] + m[4] + m[5])
	}
	return out
}

// firstForm parses the page's first form with its inputs (hidden ones
// such as csrf_token and req carry their values).
func (p *page) firstForm() (*form, error) {
	m := formRe.FindStringSubmatch(p.body)
	if m == nil {
		return nil, fmt.Errorf("no form at %s (status %d)", p.url.Path, p.status)
	}
	a := attrs(m[1])
	action, err := p.url.Parse(a["action"])
	if err != nil {
		return nil, fmt.Errorf("bad form action %q: %w", a["action"], err)
	}
	f := &form{action: action.String(), values: url.Values{}, fields: map[string]bool{}}
	for _, in := range inputRe.FindAllStringSubmatch(m[2], -1) {
		ia := attrs(in[1])
		if name := ia["name"]; name != "" {
			f.fields[name] = true
			f.values.Set(name, ia["value"])
		}
	}
	return f, nil
}

// submit posts f with the given fields set.
func (b *browser) submit(ctx context.Context, f *form, set map[string]string) (*page, error) {
	v := url.Values{}
	for k, vs := range f.values {
		v[k] = append([]string(nil), vs...)
	}
	for k, val := range set {
		v.Set(k, val)
	}
	return b.do(ctx, http.MethodPost, f.action, v)
}
