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

func (t *Limiter) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

// Count counts one event for bucket in the current window of the given
// length and returns the window's count so far (this event included).
func (t *Limiter) Count(ctx context.Context, bucket string, window time.Duration) (int, error) {
	start := t.now().Truncate(window)
	return t.Store.HitRateLimit(ctx, bucket, start, start.Add(-window))
}

// Hit counts one event for bucket and reports whether it is within l; when
// it is not, retryAfter says when the window ends.
func (t *Limiter) Hit(ctx context.Context, bucket string, l Limit) (ok bool, retryAfter time.Duration, err error) {
	now := t.now()
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
