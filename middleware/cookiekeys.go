package middleware

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/securecookie"
)

// CookieKey is one key that seals session cookies (and the hosted pages'
// other cookies).
type CookieKey struct {
	// Material is CookieKeyLen bytes: a 64-byte HMAC-SHA-256 key followed
	// by a 32-byte AES-256 key.
	Material []byte
	// ActiveFrom is when the key starts sealing new cookies. Before that it
	// only opens them: a key added to a shared store with an ActiveFrom a
	// little ahead reaches every instance before any of them seals with it,
	// so no instance sees a cookie it cannot open.
	ActiveFrom time.Time
}

// CookieKeys is the set of cookie keys a pool's codecs use, replaceable
// while they use it: instances sharing a store reload it (Set) to follow a
// rotation made elsewhere. Reads are one atomic load; Set builds a new
// snapshot.
//
// The key that seals is the one with the latest ActiveFrom not in the future
// (when every key is in the future, the earliest); every key opens.
type CookieKeys struct {
	mu   sync.Mutex // serializes Set
	snap atomic.Pointer[cookieKeySnapshot]
}

type cookieKeySnapshot struct {
	keys []CookieKey // latest ActiveFrom first
	// removals counts the Sets that dropped a key: a decoded session cached
	// under an older count may have been opened by a key that is gone.
	removals uint64
}

// NewCookieKeys returns a set holding keys (at least one).
func NewCookieKeys(keys []CookieKey) (*CookieKeys, error) {
	k := &CookieKeys{}
	if err := k.Set(keys); err != nil {
		return nil, err
	}
	return k, nil
}

// Set replaces the keys (at least one, each CookieKeyLen bytes). Setting the
// keys already held changes nothing; dropping a key makes every cookie it
// sealed invalid at once, including sessions a gateway has cached.
func (k *CookieKeys) Set(keys []CookieKey) error {
	if len(keys) == 0 {
		return errors.New("no cookie keys")
	}
	next := make([]CookieKey, len(keys))
	for i, key := range keys {
		if len(key.Material) != CookieKeyLen {
			return fmt.Errorf("cookie key %d has %d bytes, want %d", i, len(key.Material), CookieKeyLen)
		}
		next[i] = CookieKey{Material: slices.Clone(key.Material), ActiveFrom: key.ActiveFrom}
	}
	slices.SortStableFunc(next, func(a, b CookieKey) int { return b.ActiveFrom.Compare(a.ActiveFrom) })

	k.mu.Lock()
	defer k.mu.Unlock()
	old := k.snap.Load()
	snap := &cookieKeySnapshot{keys: next}
	if old != nil {
		if slices.EqualFunc(old.keys, next, sameCookieKey) {
			return nil
		}
		snap.removals = old.removals
		for _, o := range old.keys {
			if !slices.ContainsFunc(next, func(n CookieKey) bool { return string(n.Material) == string(o.Material) }) {
				snap.removals++
				break
			}
		}
	}
	k.snap.Store(snap)
	return nil
}

func sameCookieKey(a, b CookieKey) bool {
	return string(a.Material) == string(b.Material) && a.ActiveFrom.Equal(b.ActiveFrom)
}

// Keys returns the keys held, latest ActiveFrom first.
func (k *CookieKeys) Keys() []CookieKey {
	keys := k.snap.Load().keys
	out := make([]CookieKey, len(keys))
	for i, key := range keys {
		out[i] = CookieKey{Material: slices.Clone(key.Material), ActiveFrom: key.ActiveFrom}
	}
	return out
}

// SecureCookie returns a securecookie.Codec for other cookies sealed with
// these keys (the hosted pages' CSRF cookie, an outside issuer's sign-in
// flow), refusing values older than maxAge. It follows Set as the session
// codec does, so such a cookie made on one instance opens on another after a
// rotation too.
func (k *CookieKeys) SecureCookie(maxAge time.Duration) securecookie.Codec {
	return &ringCodec{keys: k, maxAge: maxAge, maxLength: 4096}
}

// ringCodec is a securecookie.Codec over the current snapshot of a
// CookieKeys: it seals with the active key and opens with any key held.
type ringCodec struct {
	keys   *CookieKeys
	maxAge time.Duration
	// maxLength is securecookie's bound on a value's length; 0 for none.
	maxLength int
	built     atomic.Pointer[codecSet]
}

// codecSet is one securecookie codec per key of one snapshot, in its order.
type codecSet struct {
	snap   *cookieKeySnapshot
	codecs []securecookie.Codec
}

// current returns the codecs of the keys' current snapshot, building them
// on the first use after a Set.
func (r *ringCodec) current() *codecSet {
	snap := r.keys.snap.Load()
	if cs := r.built.Load(); cs != nil && cs.snap == snap {
		return cs
	}
	cs := &codecSet{snap: snap, codecs: make([]securecookie.Codec, len(snap.keys))}
	for i, key := range snap.keys {
		sc := securecookie.New(key.Material[:64], key.Material[64:])
		sc.MaxAge(int(r.maxAge / time.Second))
		sc.MaxLength(r.maxLength)
		sc.SetSerializer(securecookie.JSONEncoder{})
		cs.codecs[i] = sc
	}
	// Two callers racing here build the same thing; either may win.
	r.built.Store(cs)
	return cs
}

// sealer returns the codec of the key that seals at now.
func (cs *codecSet) sealer(now time.Time) securecookie.Codec {
	for i, key := range cs.snap.keys {
		if !key.ActiveFrom.After(now) {
			return cs.codecs[i]
		}
	}
	return cs.codecs[len(cs.codecs)-1]
}

// Encode seals value under name with the active key.
func (r *ringCodec) Encode(name string, value any) (string, error) {
	return r.current().sealer(time.Now()).Encode(name, value)
}

// Decode opens value with whichever key held sealed it.
func (r *ringCodec) Decode(name, value string, dst any) error {
	return securecookie.DecodeMulti(name, value, dst, r.current().codecs...)
}

// removals is the current snapshot's count of removals (see Set).
func (r *ringCodec) removals() uint64 { return r.keys.snap.Load().removals }

var _ securecookie.Codec = (*ringCodec)(nil)
