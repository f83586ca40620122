package middleware

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"
)

// A session's claims are refreshed once per cached session, not once per
// request. Every request that shows the old cookie after its refresh time
// (a page's parallel loads, requests already in flight when the new cookie
// was set, a client that ignores Set-Cookie) shares one refresh and then its
// outcome. A busy session so costs one store read and one signature per
// claims_refresh interval, however many requests it makes.

// renewal is the outcome of refreshing one cached session; its fields are
// set before done is closed and never after.
type renewal struct {
	done chan struct{}
	// next is the refreshed session and raw its cookie value; nil when the
	// session ended or the source could not answer.
	next *cacheEntry
	raw  string
	// ended: the source said the session is over.
	ended bool
	// retryAt: after a failure, when a refresh may be tried again (unix
	// nanoseconds); until then the old claims are used.
	retryAt int64
}

// renewals is what a cacheEntry keeps of its refresh.
type renewals struct {
	mu  sync.Mutex
	ren *renewal
}

// Outcomes of a claims refresh, for Config.ClaimsRefreshed.
const (
	ClaimsRefreshOK     = "ok"     // the claims were re-read and re-signed
	ClaimsRefreshEnded  = "ended"  // the source said the session is over
	ClaimsRefreshFailed = "failed" // the source did not answer, or signing failed; the old claims stand
)

// refreshRetry is how long a session keeps its old claims after its refresh
// failed (store or outside issuer unreachable) before the next try, so that
// an outage is not met with one more query per request.
const refreshRetry = 10 * time.Second

// refreshTimeout bounds one refresh. It does not end with the request that
// started it: other requests wait for the same result.
const refreshTimeout = 10 * time.Second

// claim returns e's renewal to wait for or use, and whether the caller must
// run it. It returns nil when a refresh would have to start but may not
// (mayRun false), or when an earlier one failed less than refreshRetry ago:
// the current claims stand.
func (e *cacheEntry) claim(now int64, mayRun bool) (rn *renewal, run bool) {
	e.renew.mu.Lock()
	defer e.renew.mu.Unlock()
	if rn := e.renew.ren; rn != nil {
		select {
		case <-rn.done:
			if rn.next != nil || rn.ended {
				return rn, false
			}
			if now < rn.retryAt {
				return nil, false
			}
		default:
			return rn, false // in flight
		}
	}
	if !mayRun {
		return nil, false
	}
	e.renew.ren = &renewal{done: make(chan struct{})}
	return e.renew.ren, true
}

// renew gives a request whose session is due for a refresh the refreshed
// session, refreshing it if no other request has, and sets the renewed
// cookie on its response. A cookie several refreshes old walks through
// their outcomes; one request runs at most one refresh. It returns the
// current session while the source cannot answer (an outage should not
// sign everyone out) and nil when the session has ended.
func (g *Gateway) renew(w http.ResponseWriter, r *http.Request, e *cacheEntry) *cacheEntry {
	var raw string // the newest cookie value reached, set once at the end
	ran := false
walk:
	for g.now().UnixNano() >= e.s.RefreshAt {
		rn, run := e.claim(g.now().UnixNano(), !ran)
		if rn == nil {
			break
		}
		if run {
			ran = true
			g.refresh(r.Context(), e, rn)
		} else {
			select {
			case <-rn.done:
			case <-r.Context().Done():
				return e // the client has gone; nothing it gets matters
			}
		}
		switch {
		case rn.ended:
			g.cfg.Codec.Clear(w, r, g.cfg.Secure(r))
			return nil
		case rn.next == nil:
			break walk
		}
		raw, e = rn.raw, rn.next
	}
	if raw != "" {
		if err := g.cfg.Codec.Write(w, r, raw, time.Unix(0, e.s.Expires), g.cfg.Secure(r)); err != nil {
			// seal checked the size; nothing else makes Write fail.
			g.cfg.Logger.Error("setting the renewed session cookie failed", zap.String("user_id", e.s.UserID), zap.Error(err))
		}
	}
	return e
}

// refresh asks the source for e's user as they are now, re-signs the
// session and records the outcome in rn, then closes rn.done.
func (g *Gateway) refresh(ctx context.Context, e *cacheEntry, rn *renewal) {
	defer close(rn.done)
	if g.cfg.ClaimsRefreshed != nil {
		defer func() {
			switch {
			case rn.ended:
				g.cfg.ClaimsRefreshed(ClaimsRefreshEnded)
			case rn.next == nil:
				g.cfg.ClaimsRefreshed(ClaimsRefreshFailed)
			default:
				g.cfg.ClaimsRefreshed(ClaimsRefreshOK)
			}
		}()
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
	defer cancel()
	failed := func(msg string, err error) {
		g.cfg.Logger.Warn(msg, zap.String("user_id", e.s.UserID), zap.Error(err))
		rn.retryAt = g.now().Add(refreshRetry).UnixNano()
	}
	id, err := g.cfg.Source.Refresh(ctx, e.s)
	if err == nil && id.Subject != e.s.UserID {
		err = fmt.Errorf("%w: the source returned another subject", ErrSessionEnded)
	}
	if errors.Is(err, ErrSessionEnded) {
		g.cfg.Logger.Info("session ended at refresh", zap.String("user_id", e.s.UserID), zap.Error(err))
		rn.ended = true
		return
	}
	if err != nil {
		failed("session refresh failed; keeping the session", err)
		return
	}
	s := *e.s
	if err := g.build(&s, id, g.now()); err != nil {
		failed("signing refreshed session failed", err)
		return
	}
	raw, next, err := g.seal(&s)
	if err != nil {
		failed("encoding refreshed session failed", err)
		return
	}
	rn.next, rn.raw = next, raw
}
