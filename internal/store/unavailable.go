package store

import (
	"context"
	"sync/atomic"
)

type outageKey struct{}

// TrackUnavailable returns a context in which backends report meeting an
// unavailable database (see MarkUnavailable and Unavailable). The HTTP
// server tracks every request this way, so that any failure the database
// caused answers 503 with Retry-After, whichever handler met it and however
// the error was wrapped on the way.
func TrackUnavailable(ctx context.Context) context.Context {
	return context.WithValue(ctx, outageKey{}, new(atomic.Bool))
}

// MarkUnavailable records in ctx, if it is tracked, that the database was
// unavailable. Backends call it with every ErrUnavailable they return.
func MarkUnavailable(ctx context.Context) {
	if hit, ok := ctx.Value(outageKey{}).(*atomic.Bool); ok {
		hit.Store(true)
	}
}

// Unavailable reports whether work done under ctx met an unavailable database.
func Unavailable(ctx context.Context) bool {
	hit, ok := ctx.Value(outageKey{}).(*atomic.Bool)
	return ok && hit.Load()
}
