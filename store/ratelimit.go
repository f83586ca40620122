package store

import (
	"context"
	"time"
)

// RateStore counts requests per key in fixed windows, so that a limit
// holds across every instance on one store (the hosted pages' per-IP
// throttle on PostgreSQL). A window is named by its start; its length is
// the caller's.
type RateStore interface {
	// CountHit adds one to key's count in the window starting at start
	// and returns that count, with key's count in the window before it
	// (starting at start-length; 0 if none). Concurrent hits are all
	// counted, each told a different count.
	CountHit(ctx context.Context, key string, start time.Time, length time.Duration) (cur, prev int64, err error)
	// PurgeHits forgets the windows that started before before.
	PurgeHits(ctx context.Context, before time.Time) error
}
