package ratelimit

import (
	"context"
	"time"
)

// Counter counts events per key in fixed windows somewhere every instance
// sees (store.RateStore is one).
type Counter interface {
	CountHit(ctx context.Context, key string, start time.Time, length time.Duration) (cur, prev int64, err error)
	// PurgeHits forgets the windows that started before before.
	PurgeHits(ctx context.Context, before time.Time) error
}

// countTimeout bounds the store round trip of one Allow.
const countTimeout = 2 * time.Second

// Shared limits events per key to Limit per Per across every process that
// counts in the same Counter. It estimates a sliding window from two fixed
// ones: the current window's count plus the previous one's, weighted by how
// much of it still lies within Per of now. Every call is one round trip to
// the counter, so it suits events that cost as much anyway (a sign-in
// form), not the authenticated request path.
type Shared struct {
	counter Counter
	limit   float64
	per     time.Duration
	now     func() time.Time
	onError func(error)
}

// NewShared returns a Shared limiter of limit events per per. onError, if
// set, hears of counter failures; the event is then allowed, since a
// throttle that fails closed would lock everyone out with the store.
func NewShared(c Counter, limit int, per time.Duration, onError func(error)) *Shared {
	return &Shared{counter: c, limit: float64(limit), per: per, now: time.Now, onError: onError}
}

// Allow counts one event of key and reports whether it is within the
// limit; if not, retryAfter is when enough of the window will have passed.
func (s *Shared) Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration) {
	now := s.now()
	start := now.Truncate(s.per)
	// A store that hangs must not hold the page up: past this, let it by.
	ctx, cancel := context.WithTimeout(ctx, countTimeout)
	defer cancel()
	cur, prev, err := s.counter.CountHit(ctx, key, start, s.per)
	if err != nil {
		if s.onError != nil {
			s.onError(err)
		}
		return true, 0
	}
	into := float64(now.Sub(start)) / float64(s.per)
	if float64(prev)*(1-into)+float64(cur) <= s.limit {
		return true, 0
	}
	// Refused events count too, so a client that keeps trying stays out.
	// The estimate falls as the previous window slides out: the next event
	// fits once prev*(1-x) + cur+1 <= limit, x being how far into this
	// window; when this window alone is full, only its end helps.
	wait := start.Add(s.per).Sub(now)
	if next := float64(cur + 1); prev > 0 && next <= s.limit {
		x := 1 - (s.limit-next)/float64(prev)
		wait = time.Duration(x*float64(s.per)) - now.Sub(start)
	}
	return false, max(wait, time.Second)
}

// Forget drops the counts that no longer weigh: the estimate reads the
// current window and the one before, so anything older than two windows is
// dead weight in the counter. A running server calls it now and then (see
// pool.Upkeep).
func (s *Shared) Forget(ctx context.Context) error {
	return s.counter.PurgeHits(ctx, s.now().Add(-2*s.per))
}
