// Package ratelimit throttles events per key (a client address, say) with
// one token bucket per key, in bounded memory.
//
//	lim := ratelimit.New(ratelimit.Limits{Rate: 1.0 / 6, Burst: 10})
//	...
//	if ok, wait := lim.Allow(ctx, ratelimit.ClientKey(ip)); !ok {
//		w.Header().Set("Retry-After", ...) // wait, rounded up
//		w.WriteHeader(http.StatusTooManyRequests)
//		return
//	}
//
// The buckets live in this process only: with several gateway instances a
// client gets each instance's allowance. Shared (shared.go) counts in a
// store instead, so that one allowance holds for all of them.
package ratelimit

import (
	"context"
	"hash/maphash"
	"math"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults for the zero fields of Limits.
const (
	// DefaultRate refills 10 events a minute.
	DefaultRate = 10.0 / 60
	// DefaultBurst is how many events a key may spend at once.
	DefaultBurst = 10
	// DefaultMaxKeys bounds memory to some 15-25 MB: about 150 bytes a key,
	// more while keys churn.
	DefaultMaxKeys = 100_000
)

// numShards splits the keys so that concurrent callers rarely share a lock.
const numShards = 16

// Limits configure a Limiter. A zero or negative field takes its default.
type Limits struct {
	// Rate is how many events per second each key regains; math.Inf(1)
	// turns limiting off.
	Rate float64
	// Burst is the most events a key may spend at once, and what a new key
	// starts with.
	Burst int
	// MaxKeys bounds how many keys hold a bucket. When the limiter is full,
	// buckets that refilled are forgotten first (they equal a new one); if
	// that is not enough, others are, which gives those keys a fresh burst.
	MaxKeys int
	// Now is the clock Allow reads; default time.Now. Tests set it.
	Now func() time.Time
}

// Limiter is a set of token buckets, one per key. It is safe for concurrent
// use.
type Limiter struct {
	limit rate.Limit
	burst int
	// perToken is how long a key takes to regain one token, in nanoseconds.
	perToken int64
	now      func() time.Time
	seed     maphash.Seed
	shards   []shard
}

type shard struct {
	mu      sync.Mutex
	buckets map[string]bucket
	// max is this shard's part of MaxKeys; room is how many buckets a full
	// shard frees at once, so that the sweep runs once per room new keys
	// rather than on every one.
	max, room int
	// deleted counts deletions since buckets was last rebuilt.
	deleted int
	// Keeps neighbouring shards' locks off one cache line.
	_ [64]byte
}

// bucket is a key's token bucket and when it will be full again, kept in
// the map itself so that a sweep for idle buckets reads no other memory.
type bucket struct {
	lim *rate.Limiter
	// fullAt (Unix nanoseconds) only grows, by perToken for each event
	// allowed from max(fullAt, now): the bucket's deficit expressed as time.
	fullAt int64
}

// New makes a Limiter of l, with defaults for its zero fields.
func New(l Limits) *Limiter {
	if !(l.Rate > 0) { // also NaN
		l.Rate = DefaultRate
	}
	if l.Burst <= 0 {
		l.Burst = DefaultBurst
	}
	if l.MaxKeys <= 0 {
		l.MaxKeys = DefaultMaxKeys
	}
	if l.Now == nil {
		l.Now = time.Now
	}
	lim := &Limiter{
		limit: rate.Limit(l.Rate),
		burst: l.Burst,
		now:   l.Now,
		seed:  maphash.MakeSeed(),
	}
	if math.IsInf(l.Rate, 1) {
		lim.limit = rate.Inf
	}
	lim.perToken = int64(min(float64(time.Second)/l.Rate, 1<<62))
	// Shard i holds at most MaxKeys/n keys, the first MaxKeys%n one more,
	// so the shards together never exceed MaxKeys.
	n := min(numShards, l.MaxKeys)
	lim.shards = make([]shard, n)
	for i := range lim.shards {
		s := &lim.shards[i]
		s.max = l.MaxKeys / n
		if i < l.MaxKeys%n {
			s.max++
		}
		s.room = max(1, s.max/16)
		s.buckets = make(map[string]bucket)
	}
	return lim
}

// Throttle is what a caller asks before an event: may key go on now, and
// if not, how long until it may. Limiter and Shared are Throttles.
type Throttle interface {
	Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration)
}

// Allow is AllowAt at the Limiter's clock.
func (l *Limiter) Allow(_ context.Context, key string) (ok bool, retryAfter time.Duration) {
	return l.AllowAt(key, l.now())
}

// AllowAt spends one of key's tokens at now and reports true, or, when key
// has none left, spends nothing and reports false and how long until it has
// one again.
func (l *Limiter) AllowAt(key string, now time.Time) (ok bool, retryAfter time.Duration) {
	if l.limit == rate.Inf {
		return true, 0
	}
	s := l.shardFor(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	b, found := s.buckets[key]
	if !found {
		if len(s.buckets) >= s.max {
			s.makeRoom(now.UnixNano())
		}
		b.lim = rate.NewLimiter(l.limit, l.burst)
	}
	// AllowN changes nothing when it refuses, so a refused call costs the
	// key nothing and waiting retryAfter is always enough.
	if b.lim.AllowN(now, 1) {
		b.fullAt = max(b.fullAt, now.UnixNano())
		if b.fullAt <= math.MaxInt64-l.perToken {
			b.fullAt += l.perToken
		}
		s.buckets[key] = b
		return true, 0
	}
	// Only a known key can be refused: a new bucket holds Burst >= 1 tokens.
	// The float arithmetic may land a hair either side of the exact wait:
	// rounding keeps whole values whole (30s, not 30s+1ns, which a caller
	// would round up to 31s), and the bucket itself confirms the result, so
	// that AllowAt(now+retryAfter) succeeds.
	wait := time.Duration(min(math.Round((1-b.lim.TokensAt(now))/float64(l.limit)*float64(time.Second)), math.MaxInt64/2))
	for i := 0; i < 4 && b.lim.TokensAt(now.Add(wait)) < 1; i++ {
		wait++
	}
	return false, wait
}

// Len reports how many keys hold a bucket, at most Limits.MaxKeys.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.buckets)
		s.mu.Unlock()
	}
	return n
}

func (l *Limiter) shardFor(key string) *shard {
	return &l.shards[maphash.String(l.seed, key)%uint64(len(l.shards))]
}

// makeRoom frees at least s.room places in a full shard: first the buckets
// that refilled to burst, which are the same as no bucket, then whichever
// map iteration (which starts at a random place) yields first.
func (s *shard) makeRoom(now int64) {
	n := len(s.buckets)
	for k, b := range s.buckets {
		if b.fullAt <= now {
			delete(s.buckets, k)
		}
	}
	for k := range s.buckets {
		if len(s.buckets) <= s.max-s.room {
			break
		}
		delete(s.buckets, k)
	}
	// A Go map never shrinks, and under churn the tombstones that deletes
	// leave make it grow slowly without bound. Copying it to a new one now
	// and then keeps its memory proportional to max.
	s.deleted += n - len(s.buckets)
	if s.deleted >= 4*s.max {
		fresh := make(map[string]bucket, s.max)
		for k, b := range s.buckets {
			fresh[k] = b
		}
		s.buckets, s.deleted = fresh, 0
	}
}

// ClientKey is the key to throttle a client by: an IPv4 address as it is,
// an IPv6 address as its /64 (what one subscriber usually gets, so one
// client cannot take a fresh bucket per address), an IPv4-mapped IPv6
// address as the IPv4 address, and anything that does not parse as given.
func ClientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	switch {
	case err != nil:
		return ip
	case a.Is4():
		return ip
	case a.Is4In6():
		return a.Unmap().String()
	}
	return netip.PrefixFrom(a.WithZone(""), 64).Masked().String()
}
