// Package request is what the server's front door learns about a request
// and hands to every handler through the request's context: the request
// id, the client's address (the direct peer, or the X-Forwarded-For client
// when the peer is a trusted proxy, see --trusted-proxies) and, for every
// route of an organization's issuer (/o/{org}/…), the organization and its
// issuer URL, loaded once by Door. Handlers read these here instead of
// each parsing, loading or building them again, and LogHandler puts the
// request id and the organization on every log line of the request.
package request

import (
	"context"
	"net"
	"net/http"
	"strings"

	"github.com/latchkey/latchkey/internal/domain"
)

type ctxKey int

const infoKey ctxKey = 0

// info is one request's facts. The server's outermost handler creates it;
// Door fills in the organization later, so that even the access log line,
// written with the outer context, names it.
type info struct {
	id       string
	clientIP string
	org      *domain.Organization
	issuer   string
}

func from(ctx context.Context) *info {
	i, _ := ctx.Value(infoKey).(*info)
	return i
}

// Begin returns ctx carrying the request id and the client's address
// (a host, without port). The server calls it once per request.
func Begin(ctx context.Context, id, clientIP string) context.Context {
	return context.WithValue(ctx, infoKey, &info{id: id, clientIP: clientIP})
}

// WithID returns ctx carrying the request id id.
func WithID(ctx context.Context, id string) context.Context {
	i := info{id: id}
	if old := from(ctx); old != nil {
		i = *old
		i.id = id
	}
	return context.WithValue(ctx, infoKey, &i)
}

// ID returns the id the server gave the request ("" outside one).
func ID(ctx context.Context) string {
	if i := from(ctx); i != nil {
		return i.id
	}
	return ""
}

// ClientIP is the address the request came from: the direct peer, or the
// client a trusted proxy named.
func ClientIP(r *http.Request) string {
	if i := from(r.Context()); i != nil && i.clientIP != "" {
		return i.clientIP
	}
	return hostOf(r.RemoteAddr)
}

// hostOf is the host of a host:port address (the address itself if it
// has no port).
func hostOf(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}

// Org is the organization of the issuer the request is addressed to (nil
// outside the /o/{org}/… routes).
func Org(ctx context.Context) *domain.Organization {
	if i := from(ctx); i != nil {
		return i.org
	}
	return nil
}

// Issuer is the issuer URL of the request's organization ("" outside the
// /o/{org}/… routes).
func Issuer(ctx context.Context) string {
	if i := from(ctx); i != nil {
		return i.issuer
	}
	return ""
}

// WithOrg returns ctx carrying org and its issuer URL under publicURL. Door
// is what calls it for real requests; tests of a single handler may too.
func WithOrg(ctx context.Context, publicURL string, org *domain.Organization) context.Context {
	i := from(ctx)
	if i == nil {
		i = &info{}
		ctx = context.WithValue(ctx, infoKey, i)
	}
	i.org, i.issuer = org, domain.IssuerURL(publicURL, org.ID)
	return ctx
}

// Bearer returns the token of the request's one `Authorization: Bearer`
// header (RFC 6750 §2.1). Two Authorization headers, another scheme or an
// empty token are no token.
func Bearer(r *http.Request) (string, bool) {
	vals := r.Header.Values("Authorization")
	if len(vals) != 1 {
		return "", false
	}
	scheme, tok, ok := strings.Cut(strings.TrimSpace(vals[0]), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}
