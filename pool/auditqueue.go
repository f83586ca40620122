package pool

import (
	"context"
	"errors"
	"sync"

	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/store"
)

// maxPendingAudit bounds the audit events kept in memory while the store
// cannot take them: at most a few hundred kilobytes, and minutes of sign-ins
// on a busy pool. Past it the oldest go first; each was logged when it
// happened, and how many went is logged too.
const maxPendingAudit = 1000

// auditQueue holds the audit events the store could not take (it was down,
// hung, or locked past its timeout) until FlushAudit writes them. While it
// holds any, new events join it instead of waiting on the store in the
// request that made them, and are written in the order they happened.
type auditQueue struct {
	mu      sync.Mutex
	events  []pendingAudit
	seq     uint64
	dropped int
	max     int // maxPendingAudit; a test may lower it

	flushMu sync.Mutex // one flush at a time
}

type pendingAudit struct {
	seq uint64
	e   store.AuditEvent
}

// add keeps e, dropping the oldest past the bound.
func (q *auditQueue) add(e store.AuditEvent) {
	q.mu.Lock()
	defer q.mu.Unlock()
	limit := q.max
	if limit <= 0 {
		limit = maxPendingAudit
	}
	if len(q.events) >= limit {
		n := len(q.events) - limit + 1
		q.events = append(q.events[:0], q.events[n:]...)
		q.dropped += n
	}
	q.seq++
	q.events = append(q.events, pendingAudit{seq: q.seq, e: e})
}

// len is how many events wait.
func (q *auditQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.events)
}

// PendingAudit is how many audit events wait for the store.
func (p *Pool) PendingAudit() int { return p.pending.len() }

// FlushAudit writes the audit events kept while the store could not take
// them, oldest first, stopping at the first the store still cannot take (it
// is kept, and the error returned). An event the store refuses for another
// reason is logged and let go, so that one bad event cannot hold back the
// rest. How many events the bound dropped since the last flush is logged
// here. The pool's upkeep calls it every pass.
func (p *Pool) FlushAudit(ctx context.Context) error {
	q := &p.pending
	q.flushMu.Lock()
	defer q.flushMu.Unlock()
	q.mu.Lock()
	dropped, kept := q.dropped, len(q.events)
	q.dropped = 0
	q.mu.Unlock()
	if dropped > 0 {
		p.auditLog.Error("audit events dropped: the store was unavailable and too many were waiting (each was logged when it happened)",
			zap.String("pool", p.name), zap.Int("dropped", dropped), zap.Int("kept", kept))
	}
	written := 0
	defer func() {
		if written > 0 {
			p.auditLog.Info("audit events kept while the store was unavailable are stored",
				zap.String("pool", p.name), zap.Int("count", written))
		}
	}()
	for {
		q.mu.Lock()
		if len(q.events) == 0 {
			q.mu.Unlock()
			return nil
		}
		next := q.events[0]
		q.mu.Unlock()

		e := next.e
		if e.Login == "" && e.UserID != "" {
			if u, err := p.store.UserByID(ctx, e.UserID); err == nil {
				e.Login = u.Email
			}
		}
		err := p.store.AppendAudit(ctx, e)
		if err != nil && (errors.Is(err, store.ErrUnavailable) || ctx.Err() != nil) {
			return err
		}
		if err != nil {
			p.auditLog.Error("audit event not stored", zap.String("pool", p.name), zap.String("type", e.Type),
				zap.String("user_id", e.UserID), zap.Error(err))
		} else {
			written++
		}
		q.mu.Lock()
		// add may have dropped it meanwhile, as the oldest.
		if len(q.events) > 0 && q.events[0].seq == next.seq {
			q.events = q.events[1:]
		}
		q.mu.Unlock()
	}
}
