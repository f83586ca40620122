package pool

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// Upkeep is a pool's background work in a running server. Every Interval it
// loads what other processes (another instance, the CLI) wrote to the store
// that this process holds in memory: the deny list, then each of Reload (the
// cookie and signing keys); and it writes the audit events the store could
// not take when they happened (FlushAudit). Every ten minutes it forgets rows past keeping:
// sign-in failures that no longer count, then each of Purge (a shared
// throttle's old counts), then audit events older than AuditRetention. All
// of it happens here, so that requests never wait for the store for it.
// Failures are logged and retried at the next tick; what was loaded stays in
// use meanwhile.
type Upkeep struct {
	Pool     *Pool
	Interval time.Duration
	// AuditRetention is how long audit events are kept; 0 keeps them.
	AuditRetention time.Duration
	Reload         []Task
	Purge          []Task
	Log            *zap.Logger

	// lastPurge is when the purges last ran (Run's goroutine only).
	lastPurge time.Time
}

// Task is one step of the upkeep, named for the log.
type Task struct {
	Name string
	Do   func(context.Context) error
}

// purgeInterval is how often the upkeep forgets rows past keeping; every
// instance does it, harmlessly.
const purgeInterval = 10 * time.Minute

// oneTimeMarkKeep is how long past its window's start a one-time mark is
// kept (see Once).
const oneTimeMarkKeep = 24 * time.Hour

// upkeepTimeout bounds one pass, so a store that stopped answering (rather
// than refusing connections) cannot stall the loop for good.
const upkeepTimeout = 10 * time.Second

// Run does the upkeep every Interval until ctx ends.
func (u *Upkeep) Run(ctx context.Context) {
	t := time.NewTicker(u.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			u.Once(ctx)
		}
	}
}

// Once does one pass, the purges included when purgeInterval has passed
// since the last (or none has run yet). Run calls it; so may a test.
func (u *Upkeep) Once(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, max(u.Interval, upkeepTimeout))
	defer cancel()
	do := func(t Task) {
		if err := t.Do(rctx); err != nil && ctx.Err() == nil && u.Log != nil {
			u.Log.Warn("refreshing "+t.Name+" failed", zap.Error(err))
		}
	}
	do(Task{"revocations", u.Pool.DenyList().Refresh})
	do(Task{"kept audit events", u.Pool.FlushAudit})
	for _, t := range u.Reload {
		do(t)
	}
	now := time.Now()
	if now.Sub(u.lastPurge) < purgeInterval {
		return
	}
	u.lastPurge = now
	do(Task{"old sign-in failures", u.Pool.ForgetOldFailures})
	// One-time marks (spent challenge sessions, federation flows, SAML
	// assertion ids, SigV4 signatures) are counts whose window starts
	// after the last moment the thing marked is accepted; a day past that
	// none matters, whatever the store (a shared throttle forgets sooner).
	do(Task{"old one-time marks", func(ctx context.Context) error { return u.Pool.store.PurgeHits(ctx, now.Add(-oneTimeMarkKeep)) }})
	for _, t := range u.Purge {
		do(t)
	}
	if keep := u.AuditRetention; keep > 0 {
		do(Task{"old audit events", func(ctx context.Context) error { return u.Pool.store.PurgeAudit(ctx, now.Add(-keep)) }})
	}
}
