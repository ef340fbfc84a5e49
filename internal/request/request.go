// Package request is what the server's front door learns about a request
// and hands to every handler through the request itself: the request id
// (in the context) and the client's address (RemoteAddr, which the front
// door has already replaced with the X-Forwarded-For client when the peer
// is a trusted proxy, see --trusted-proxies). Handlers read these here
// instead of each parsing them again.
package request

import (
	"context"
	"net"
	"net/http"
)

type ctxKey int

const idKey ctxKey = 0

// WithID returns ctx carrying the request id id.
func WithID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, idKey, id)
}

// ID returns the id the server gave the request ("" outside one).
func ID(ctx context.Context) string {
	id, _ := ctx.Value(idKey).(string)
	return id
}

// ClientIP is the address the request came from: the direct peer, or the
// client a trusted proxy named.
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
