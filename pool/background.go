package pool

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"
)

// The account flows that anyone may start for any address (sign-up, "send
// a new code", "forgot your password?") answer before they look at the
// address: what they do for it, and the mail they send, happen after the
// answer, here. So neither the page nor its timing says whether the address
// has an account, and a slow mail server holds no page up.
//
// At most backgroundWorkers jobs run at once and backgroundQueue wait; a
// caller that finds the queue full waits for room (as long as its request
// lasts), whatever the address, so a flood slows every answer alike instead
// of dropping mail. Close waits for what is pending when the pool goes.
const (
	backgroundWorkers = 4
	backgroundQueue   = 256
	// backgroundTimeout bounds one job: a few store writes and a mail
	// within its own timeout.
	backgroundTimeout = time.Minute
)

// ErrClosed: the pool is shutting down and takes no new background work.
var ErrClosed = errors.New("the pool is shutting down")

type background struct {
	slots chan struct{} // queued or running
	run   chan struct{} // running
	mu    sync.Mutex
	wg    sync.WaitGroup
	done  bool
	log   *zap.Logger
}

func newBackground(log *zap.Logger) *background {
	return &background{
		slots: make(chan struct{}, backgroundQueue+backgroundWorkers),
		run:   make(chan struct{}, backgroundWorkers),
		log:   log,
	}
}

// Later runs job once the request of ctx is over (afterAnswer), detached
// from ctx's cancellation but not from its values. what
// names the job in the log; job's error is logged, and must carry no
// secret (no code, no password). Later returns an error only when the job
// will not run: the pool is closing, or ctx ended while the queue was full.
func (p *Pool) Later(ctx context.Context, what string, job func(context.Context) error) error {
	b := p.bg
	select {
	case b.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	b.mu.Lock()
	if b.done {
		b.mu.Unlock()
		<-b.slots
		return ErrClosed
	}
	b.wg.Add(1)
	b.mu.Unlock()
	jctx := context.WithoutCancel(ctx)
	go func() {
		defer b.wg.Done()
		defer func() { <-b.slots }()
		afterAnswer(ctx)
		b.run <- struct{}{}
		defer func() { <-b.run }()
		ctx, cancel := context.WithTimeout(jctx, backgroundTimeout)
		defer cancel()
		if err := job(ctx); err != nil {
			b.log.Warn("background account work failed", zap.String("pool", p.name), zap.String("what", what), zap.Error(err))
		}
	}()
	return nil
}

// afterAnswer waits until the request of ctx is over: a job started
// while its answer is still being written would compete with it for the
// CPU, and make the answer slower for addresses that have more to do.
// The server ends a request's context as its handler returns, just before
// it writes the last of the answer out, hence the moment more. A context
// that never ends (a command, a test) starts the job at once; one that
// outlives its answer, within startBound.
func afterAnswer(ctx context.Context) {
	if ctx.Done() == nil {
		return
	}
	t := time.NewTimer(startBound)
	defer t.Stop()
	select {
	case <-ctx.Done():
		time.Sleep(time.Millisecond)
	case <-t.C:
	}
}

// startBound is the longest a job waits for its request to end.
const startBound = 2 * time.Second

// Flush waits until the background work queued so far is done, or ctx
// ends; tests use it to see what a flow did after its answer.
func (p *Pool) Flush(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		p.bg.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops taking background work and waits for what is pending (mail
// not yet sent), until ctx ends; then it gives up on the rest, which is
// logged. The store is the caller's to close, after Close.
func (p *Pool) Close(ctx context.Context) error {
	p.bg.mu.Lock()
	p.bg.done = true
	p.bg.mu.Unlock()
	if err := p.FlushAudit(ctx); err != nil {
		p.auditLog.Error("pool closed with audit events not stored (each was logged when it happened)",
			zap.String("pool", p.name), zap.Int("pending", p.PendingAudit()), zap.Error(err))
	}
	if err := p.Flush(ctx); err != nil {
		p.bg.log.Warn("pool closed with background account work pending (mail may not have been sent)",
			zap.String("pool", p.name), zap.Int("pending", len(p.bg.slots)))
		return err
	}
	return nil
}
