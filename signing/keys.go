// Package signing holds a pool's signing keys: ES256 always, RS256 when asked
// for, read from its store, rotated on a schedule and published as a JWKS and
// as ALB-style PEMs. The OpenID provider signs its tokens with them and the
// gateway signs its identity headers and verifies the pool's bearer tokens
// with them; neither owns them.
package signing

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// Signing algorithms a KeySet keeps keys for.
const (
	ES256 = "ES256"
	RS256 = "RS256"
)

// KeyKind is the store.Key kind of a pool's ES256 signing keys.
const KeyKind = "es256"

// RSAKeyKind is the store.Key kind of a pool's RS256 signing keys.
const RSAKeyKind = "rs256"

// MaxTokenTTL is the longest any token signed with a pool's keys may live.
// A replaced key stays in the JWKS for this long (plus a grace period) after
// its successor took over, so every token it signed can still be verified.
const MaxTokenTTL = 24 * time.Hour

// MinRotation is the shortest rotation period a pool may configure: a
// shorter one would publish more keys than it signs with.
const MinRotation = time.Hour

const (
	// rsaBits is the size of new RS256 keys; stored keys smaller than this
	// are refused.
	rsaBits = 2048
	// checkInterval is how often (by the key clock) a rotating KeySet
	// re-reads the store, so keys another instance minted are used and
	// published here within a minute.
	checkInterval = time.Minute
	// retireGrace covers instances that have not noticed a rotation yet
	// (at most checkInterval) and clocks slightly apart.
	retireGrace = 5 * time.Minute
)

// kinds maps an algorithm to the store.Key kind of its keys.
var kinds = map[string]string{ES256: KeyKind, RS256: RSAKeyKind}

// missReloadInterval bounds how often a request for an unknown kid may make
// ServePublicKey re-read the store: often enough that a key another instance
// just minted is served within seconds, rarely enough that a flood of random
// kids cannot turn into a flood of store queries.
const missReloadInterval = 5 * time.Second

// Key is one signing key of a pool.
type Key struct {
	// ID is the key's UUID, used as the `kid` of everything it signs.
	ID string
	// Alg is ES256 or RS256.
	Alg string
	// Private is the key of an ES256 Key; nil for RS256.
	Private *ecdsa.PrivateKey
	// RSA is the key of an RS256 Key; nil for ES256.
	RSA     *rsa.PrivateKey
	Created time.Time
}

// Signer returns the private key, whichever its algorithm.
func (k *Key) Signer() crypto.Signer {
	if k.RSA != nil {
		return k.RSA
	}
	return k.Private
}

// Policy is how Open manages a pool's keys.
type Policy struct {
	// Algs lists the algorithms to keep keys for; ES256 is always kept.
	Algs []string
	// Rotation is how long a key signs before a new one replaces it. Zero
	// never rotates (and never re-reads the store on its own).
	Rotation time.Duration
	// Now is the clock keys are created and retired by; default time.Now.
	Now func() time.Time
}

// KeySet is a pool's signing keys, read from its store: ES256 always, RS256
// when asked for. It is safe for concurrent use; Current, CurrentFor, Key
// and JWKS never block, so the request path can call them
// freely.
//
//	keys, err := signing.Open(ctx, st, signing.Policy{Algs: []string{signing.RS256}, Rotation: 30 * 24 * time.Hour})
//	...
//	_ = keys.Maintain(ctx)    // rotates when due; cheap otherwise
//	k := keys.CurrentFor(signing.RS256) // sign with k.Signer(), label with k.ID
//
// With a rotation period, each algorithm's newest key is replaced once it is
// that old; the replaced key stays published (JWKS) until MaxTokenTTL after
// its successor appeared, then it is retired: kept in the store, no longer
// published.
type KeySet struct {
	store    store.Store
	rotation time.Duration
	now      func() time.Time
	snap     atomic.Pointer[keySnapshot]

	// reloadMu orders reloads and rotations, so a slow reload cannot
	// publish an older view of the store over a newer one.
	reloadMu sync.Mutex
	// lastMissReload is when a request for an unknown kid last triggered a
	// reload (unix nanoseconds, wall clock).
	lastMissReload atomic.Int64
	// nextCheck is when (key clock, unix nanoseconds) a rotating set next
	// re-reads the store.
	nextCheck atomic.Int64
	// maintaining is set while Current's background maintenance runs.
	maintaining atomic.Bool
}

// keySnapshot is one immutable view of the store's keys; a reload replaces
// it whole.
type keySnapshot struct {
	algs  []string          // managed, ES256 first
	byAlg map[string][]*Key // newest first, never empty
	byID  map[string]*Key
	pems  map[string][]byte
	jwks  map[string]json.RawMessage
	// rotateAt is the earliest time (unix nanoseconds) one algorithm's
	// newest key is due for replacement; MaxInt64 when keys never rotate.
	rotateAt int64
}

// Open reads the store's keys of every algorithm in pol (and ES256),
// creating the first key of each on a fresh store.
func Open(ctx context.Context, s store.Store, pol Policy) (*KeySet, error) {
	if pol.Rotation < 0 {
		return nil, errors.New("signing: key rotation period must not be negative")
	}
	algs := []string{ES256}
	for _, a := range pol.Algs {
		if _, ok := kinds[a]; !ok {
			return nil, fmt.Errorf("signing: unknown signing algorithm %q (known: ES256, RS256)", a)
		}
		if !slices.Contains(algs, a) {
			algs = append(algs, a)
		}
	}
	k := &KeySet{store: s, rotation: pol.Rotation, now: pol.Now}
	if k.now == nil {
		k.now = time.Now
	}
	k.reloadMu.Lock()
	defer k.reloadMu.Unlock()
	if err := k.loadLocked(ctx, algs, true); err != nil {
		return nil, err
	}
	k.nextCheck.Store(k.now().Add(checkInterval).UnixNano())
	return k, nil
}

// Ensure starts keeping keys for alg too, creating its first key if the
// store has none. Keeping an algorithm already kept is not an error.
func (k *KeySet) Ensure(ctx context.Context, alg string) error {
	if _, ok := kinds[alg]; !ok {
		return fmt.Errorf("signing: unknown signing algorithm %q (known: ES256, RS256)", alg)
	}
	k.reloadMu.Lock()
	defer k.reloadMu.Unlock()
	snap := k.snap.Load()
	if slices.Contains(snap.algs, alg) {
		return nil
	}
	return k.loadLocked(ctx, append(slices.Clone(snap.algs), alg), true)
}

// loadLocked reads the keys of algs (creating the first of each when create
// is set) and publishes the new snapshot. k.reloadMu must be held.
func (k *KeySet) loadLocked(ctx context.Context, algs []string, create bool) error {
	stored := make(map[string][]store.Key, len(algs))
	for _, alg := range algs {
		var (
			keys []store.Key
			err  error
		)
		if create {
			keys, err = pool.EnsureKeys(ctx, k.store, kinds[alg], func() (store.Key, error) {
				return generateKeyFor(alg, k.now())
			})
			if err != nil {
				return fmt.Errorf("signing: load signing keys: %w", err)
			}
		} else if keys, err = k.store.Keys(ctx, kinds[alg]); err != nil {
			return fmt.Errorf("signing: reload signing keys: %w", err)
		}
		stored[alg] = keys
	}
	snap, err := buildSnapshot(algs, stored, k.snap.Load(), k.rotation)
	if err != nil {
		return err
	}
	k.snap.Store(snap)
	return nil
}

// generateKeyFor mints a new key for alg, created at now, as PKCS#8 DER.
func generateKeyFor(alg string, now time.Time) (store.Key, error) {
	var (
		priv any
		err  error
	)
	switch alg {
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, rsaBits)
	default:
		return store.Key{}, fmt.Errorf("signing: unknown signing algorithm %q", alg)
	}
	if err != nil {
		return store.Key{}, fmt.Errorf("signing: generate %s signing key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.Key{}, fmt.Errorf("signing: encode signing key: %w", err)
	}
	return store.Key{
		Kind:      kinds[alg],
		ID:        uuid.NewString(),
		Material:  der,
		CreatedAt: now.UTC(),
	}, nil
}

// buildSnapshot parses stored (per algorithm, newest first). Keys already
// parsed in prev are reused: kind+ID is unique and stored keys never change,
// so a reload only pays for keys it has not seen.
func buildSnapshot(algs []string, stored map[string][]store.Key, prev *keySnapshot, rotation time.Duration) (*keySnapshot, error) {
	snap := &keySnapshot{
		algs:     algs,
		byAlg:    make(map[string][]*Key, len(algs)),
		byID:     map[string]*Key{},
		pems:     map[string][]byte{},
		jwks:     map[string]json.RawMessage{},
		rotateAt: math.MaxInt64,
	}
	for _, alg := range algs {
		var errs []error
		for _, sk := range stored[alg] {
			if _, dup := snap.byID[sk.ID]; dup {
				continue
			}
			if prev != nil {
				if old, ok := prev.byID[sk.ID]; ok && old.Alg == alg {
					snap.add(old, prev.pems[sk.ID], prev.jwks[sk.ID])
					continue
				}
			}
			key, pemBytes, jwk, err := parseKey(alg, sk)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			snap.add(key, pemBytes, jwk)
		}
		if len(snap.byAlg[alg]) == 0 {
			if len(errs) == 0 {
				return nil, fmt.Errorf("signing: no %s signing keys in store", alg)
			}
			return nil, fmt.Errorf("signing: no usable %s signing key: %w", alg, errors.Join(errs...))
		}
		if rotation > 0 {
			at := snap.byAlg[alg][0].Created.Add(rotation).UnixNano()
			snap.rotateAt = min(snap.rotateAt, at)
		}
	}
	return snap, nil
}

func (s *keySnapshot) add(k *Key, pemBytes []byte, jwk json.RawMessage) {
	s.byAlg[k.Alg] = append(s.byAlg[k.Alg], k)
	s.byID[k.ID] = k
	s.pems[k.ID] = pemBytes
	s.jwks[k.ID] = jwk
}

// parseKey turns one stored key into a Key, its public key PEM and
// its public JWK.
func parseKey(alg string, sk store.Key) (*Key, []byte, json.RawMessage, error) {
	parsed, err := x509.ParsePKCS8PrivateKey(sk.Material)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("signing: signing key %q: %w", sk.ID, err)
	}
	key := &Key{ID: sk.ID, Alg: alg, Created: sk.CreatedAt}
	var (
		pub any
		jwk map[string]string
	)
	switch alg {
	case ES256:
		priv, ok := parsed.(*ecdsa.PrivateKey)
		if !ok || priv.Curve != elliptic.P256() {
			return nil, nil, nil, fmt.Errorf("signing: signing key %q: not a P-256 ECDSA key", sk.ID)
		}
		point, err := priv.PublicKey.Bytes() // 0x04 || X || Y, 32 bytes each
		if err != nil {
			return nil, nil, nil, fmt.Errorf("signing: signing key %q: %w", sk.ID, err)
		}
		key.Private, pub = priv, &priv.PublicKey
		jwk = map[string]string{"kty": "EC", "crv": "P-256", "x": b64(point[1:33]), "y": b64(point[33:])}
	case RS256:
		priv, ok := parsed.(*rsa.PrivateKey)
		if !ok || priv.N.BitLen() < rsaBits {
			return nil, nil, nil, fmt.Errorf("signing: signing key %q: not an RSA key of at least %d bits", sk.ID, rsaBits)
		}
		key.RSA, pub = priv, &priv.PublicKey
		jwk = map[string]string{"kty": "RSA", "n": b64(priv.N.Bytes()), "e": b64(big.NewInt(int64(priv.E)).Bytes())}
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("signing: signing key %q: %w", sk.ID, err)
	}
	jwk["kid"], jwk["alg"], jwk["use"] = sk.ID, alg, "sig"
	raw, err := json.Marshal(jwk)
	if err != nil {
		return nil, nil, nil, err
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	return key, pemBytes, raw, nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// Current returns the newest usable ES256 key, the one to sign with. When a
// rotating set is due for a check, Current starts it in the background and
// returns the key it has.
func (k *KeySet) Current() *Key {
	snap := k.snap.Load()
	if k.due(snap) && k.maintaining.CompareAndSwap(false, true) {
		go func() {
			defer k.maintaining.Store(false)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			// A failure is retried at the next check; the keys loaded
			// stay in use meanwhile.
			_ = k.Maintain(ctx)
		}()
	}
	return snap.byAlg[ES256][0]
}

// CurrentFor returns the newest usable key of alg, or nil if the set does
// not keep alg (see Ensure). Call Maintain first on paths that may wait for
// the store, so a key due for rotation is replaced before it signs again.
func (k *KeySet) CurrentFor(alg string) *Key {
	keys := k.snap.Load().byAlg[alg]
	if len(keys) == 0 {
		return nil
	}
	return keys[0]
}

// Key returns the key with that kid, retired or not; for verifying tokens
// this pool signed.
func (k *KeySet) Key(kid string) (*Key, bool) {
	key, ok := k.snap.Load().byID[kid]
	return key, ok
}

// Find returns the key with that kid like Key, but when the kid is unknown
// it first re-reads the store, at most once per missReloadInterval for all
// callers together (ServePublicKey's misses included): perhaps another
// instance signed with a key it has just made.
func (k *KeySet) Find(ctx context.Context, kid string) (*Key, bool) {
	key, ok := k.Key(kid)
	if !ok && kid != "" && k.mayReloadOnMiss() {
		// On error the old keys stay in use and the kid stays unknown.
		_ = k.Reload(ctx)
		key, ok = k.Key(kid)
	}
	return key, ok
}

// Algs returns the algorithms the set keeps keys for, ES256 first.
func (k *KeySet) Algs() []string { return slices.Clone(k.snap.Load().algs) }

// Maintain re-reads the store and replaces every key due for rotation, when
// a check is due (every minute by the key clock, and whenever a key reaches
// its rotation time); otherwise it returns at once. On error the keys
// already loaded stay in use.
func (k *KeySet) Maintain(ctx context.Context) error {
	if !k.due(k.snap.Load()) {
		return nil
	}
	k.reloadMu.Lock()
	defer k.reloadMu.Unlock()
	if !k.due(k.snap.Load()) { // another caller just did it
		return nil
	}
	return k.rotateLocked(ctx, false)
}

// Rotate adds a new key for every algorithm the set keeps, now, whatever
// their age; the keys they replace stay published as rotation keeps them.
func (k *KeySet) Rotate(ctx context.Context) error {
	k.reloadMu.Lock()
	defer k.reloadMu.Unlock()
	return k.rotateLocked(ctx, true)
}

// rotateLocked re-reads the store, first, so that a key another instance
// minted counts, then adds a key for each algorithm whose newest key is due
// (or all, when force is set). k.reloadMu must be held.
func (k *KeySet) rotateLocked(ctx context.Context, force bool) error {
	now := k.now()
	k.nextCheck.Store(now.Add(checkInterval).UnixNano())
	algs := k.snap.Load().algs
	if err := k.loadLocked(ctx, algs, false); err != nil {
		return err
	}
	snap := k.snap.Load()
	added := false
	for _, alg := range algs {
		newest := snap.byAlg[alg][0]
		if !force && (k.rotation <= 0 || now.Before(newest.Created.Add(k.rotation))) {
			continue
		}
		sk, err := generateKeyFor(alg, now)
		if err != nil {
			return err
		}
		if err := k.store.AddKey(ctx, sk); err != nil {
			return fmt.Errorf("signing: rotate %s key: %w", alg, err)
		}
		added = true
	}
	if !added {
		return nil
	}
	return k.loadLocked(ctx, algs, false)
}

// due reports whether a rotating set should re-read the store now.
func (k *KeySet) due(snap *keySnapshot) bool {
	if k.rotation <= 0 {
		return false
	}
	now := k.now().UnixNano()
	return now >= k.nextCheck.Load() || now >= snap.rotateAt
}

// JWKS returns the JSON Web Key Set to publish: every algorithm's current
// key, and each replaced key until MaxTokenTTL (plus a grace period) after
// its successor was created, by when every token it signed has expired.
func (k *KeySet) JWKS() []byte {
	snap := k.snap.Load()
	now := k.now()
	keys := []json.RawMessage{}
	for _, alg := range snap.algs {
		list := snap.byAlg[alg]
		for i, key := range list {
			if i > 0 && !now.Before(list[i-1].Created.Add(MaxTokenTTL+retireGrace)) {
				break // retired, and so is every older key
			}
			keys = append(keys, snap.jwks[key.ID])
		}
	}
	out, _ := json.Marshal(map[string]any{"keys": keys}) // raw messages only: cannot fail
	return out
}

// Reload re-reads the store, picking up keys another process added. On error
// the keys already loaded stay in use.
func (k *KeySet) Reload(ctx context.Context) error {
	k.reloadMu.Lock()
	defer k.reloadMu.Unlock()
	return k.loadLocked(ctx, k.snap.Load().algs, false)
}

// ServePublicKey answers a request for the public key kid as ALB's
// public-keys endpoint does: the bare PEM text, cacheable for a day since a
// kid never names a different key. A kid that is not a UUID is refused
// without a store lookup; an unknown UUID may trigger one throttled reload,
// so a key another instance has just started signing with is found.
func (k *KeySet) ServePublicKey(w http.ResponseWriter, r *http.Request, kid string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if len(kid) != 36 || uuid.Validate(kid) != nil {
		notFoundKey(w)
		return
	}
	p, ok := k.snap.Load().pems[kid]
	if !ok && k.mayReloadOnMiss() {
		// The error is deliberately dropped: the old keys stay in use and
		// the answer is the same 404 as for a kid that does not exist.
		_ = k.Reload(r.Context())
		p, ok = k.snap.Load().pems[kid]
	}
	if !ok {
		notFoundKey(w)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(p)))
	h.Set("Cache-Control", "public, max-age=86400")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(p)
	}
}

// mayReloadOnMiss reports whether this miss may reload; at most one miss per
// missReloadInterval wins, however many arrive at once.
func (k *KeySet) mayReloadOnMiss() bool {
	now := time.Now().UnixNano()
	last := k.lastMissReload.Load()
	if now-last < int64(missReloadInterval) {
		return false
	}
	return k.lastMissReload.CompareAndSwap(last, now)
}

func notFoundKey(w http.ResponseWriter) {
	// A key may appear later (minted by another instance), so the miss
	// must not be cached.
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, "unknown key", http.StatusNotFound)
}
