package middleware

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"go.uber.org/zap"
)

// Discovery of an outside issuer is tried on first need, with a back-off
// from discoveryMinWait to discoveryMaxWait after failures, so Caddy starts
// while an issuer is down.
const (
	discoveryTimeout = 5 * time.Second
	discoveryMinWait = time.Second
	discoveryMaxWait = time.Minute
)

// jwksMinRefresh bounds how often an outside issuer's key set is fetched:
// an unknown kid (a rotation) fetches it again, but a flood of tokens with
// made-up kids or bad signatures costs the issuer at most one request per
// interval. A fetch made for any token updates the keys for all.
const jwksMinRefresh = 10 * time.Second

// remoteKeys is an outside issuer's key set: found by discovery on first
// need, then kept and refreshed by go-oidc's RemoteKeySet (on an unknown
// kid), at most once per jwksMinRefresh.
type remoteKeys struct {
	issuer string
	client *http.Client
	log    *zap.Logger

	ks    atomic.Pointer[gooidc.RemoteKeySet]
	mu    sync.Mutex
	retry time.Time
	wait  time.Duration
}

// keySet returns the issuer's key set, discovering it if no attempt has
// succeeded yet and the back-off allows one. Concurrent callers share one
// attempt; afterwards this is one atomic load.
func (rk *remoteKeys) keySet(ctx context.Context) (*gooidc.RemoteKeySet, error) {
	if ks := rk.ks.Load(); ks != nil {
		return ks, nil
	}
	rk.mu.Lock()
	defer rk.mu.Unlock()
	if ks := rk.ks.Load(); ks != nil {
		return ks, nil
	}
	now := time.Now()
	if now.Before(rk.retry) {
		return nil, errors.New("issuer discovery is backing off")
	}
	// The attempt serves every waiter: one client going away must not
	// cancel it.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), discoveryTimeout)
	defer cancel()
	ks, err := rk.discover(dctx)
	if err != nil {
		rk.wait = min(max(2*rk.wait, discoveryMinWait), discoveryMaxWait)
		rk.retry = now.Add(rk.wait)
		rk.log.Warn("jwt_issuer discovery failed", zap.String("issuer", rk.issuer), zap.Duration("retry_in", rk.wait), zap.Error(err))
		return nil, err
	}
	rk.ks.Store(ks)
	rk.log.Info("jwt_issuer discovered", zap.String("issuer", rk.issuer))
	return ks, nil
}

func (rk *remoteKeys) discover(ctx context.Context) (*gooidc.RemoteKeySet, error) {
	// go-oidc checks that the document's issuer is exactly ours.
	p, err := gooidc.NewProvider(gooidc.ClientContext(ctx, rk.client), rk.issuer)
	if err != nil {
		return nil, err
	}
	var meta struct {
		JWKS string `json:"jwks_uri"`
	}
	if err := p.Claims(&meta); err != nil {
		return nil, err
	}
	if meta.JWKS == "" {
		return nil, errors.New("the discovery document has no jwks_uri")
	}
	base := rk.client.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	limited := &http.Client{Timeout: rk.client.Timeout, Transport: &refreshLimiter{base: base, every: jwksMinRefresh}}
	// The key set lives as long as the gateway: go-oidc keeps only the
	// context's values (the client), not its deadline.
	return gooidc.NewRemoteKeySet(gooidc.ClientContext(context.Background(), limited), meta.JWKS), nil
}

// errRefreshLimited is what a key-set fetch inside jwksMinRefresh of the
// previous one gets; go-oidc then keeps the keys it has.
var errRefreshLimited = fmt.Errorf("jwks: fetched less than %s ago", jwksMinRefresh)

// refreshLimiter lets through at most one request per interval: go-oidc's
// RemoteKeySet fetches again whenever a token's key is not in its cache,
// which a client could otherwise trigger at will.
type refreshLimiter struct {
	base  http.RoundTripper
	every time.Duration
	last  atomic.Int64
}

func (l *refreshLimiter) RoundTrip(req *http.Request) (*http.Response, error) {
	now := time.Now().UnixNano()
	last := l.last.Load()
	if last != 0 && now-last < int64(l.every) || !l.last.CompareAndSwap(last, now) {
		return nil, errRefreshLimited
	}
	return l.base.RoundTrip(req)
}
