// Package throttle limits how often something may happen per key (a user,
// a client address) with fixed windows counted in the database, so every
// node of a deployment shares the same counts.
package throttle

import (
	"context"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

// Limit is at most N events per Window.
type Limit struct {
	N      int
	Window time.Duration
}

// Limiter counts events in the store.
type Limiter struct {
	Store store.RateLimits
	Now   func() time.Time
}

// Hit counts one event for bucket and reports whether it is within l; when
// it is not, retryAfter says when the window ends.
func (t *Limiter) Hit(ctx context.Context, bucket string, l Limit) (ok bool, retryAfter time.Duration, err error) {
	now := time.Now()
	if t.Now != nil {
		now = t.Now()
	}
	window := now.Truncate(l.Window)
	n, err := t.Store.HitRateLimit(ctx, bucket, window, window.Add(-l.Window))
	if err != nil {
		return false, 0, err
	}
	if n > l.N {
		return false, window.Add(l.Window).Sub(now), nil
	}
	return true, 0, nil
}

// Reset forgets bucket's counts.
func (t *Limiter) Reset(ctx context.Context, bucket string) error {
	return t.Store.ResetRateLimit(ctx, bucket)
}
