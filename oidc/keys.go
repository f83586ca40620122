package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
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

// KeyKind is the store.Key kind of a pool's ES256 signing keys.
const KeyKind = "es256"

// missReloadInterval bounds how often a request for an unknown kid may make
// ServePublicKey re-read the store: often enough that a key another instance
// just minted is served within seconds, rarely enough that a flood of random
// kids cannot turn into a flood of store queries.
const missReloadInterval = 5 * time.Second

// SigningKey is one ES256 key.
type SigningKey struct {
	// ID is the key's UUID, used as the `kid` of everything it signs.
	ID      string
	Private *ecdsa.PrivateKey
	Created time.Time
}

// KeySet is a pool's ES256 signing keys, read from its store. It is safe for
// concurrent use; Current and PublicKeyPEM never block, so the request path
// can call them freely.
//
//	keys, err := oidc.LoadKeySet(ctx, st)
//	...
//	k := keys.Current() // sign with k.Private, label with k.ID
type KeySet struct {
	store store.Store
	snap  atomic.Pointer[keySnapshot]

	// reloadMu orders reloads, so a slow reload cannot publish an older
	// view of the store over a newer one.
	reloadMu sync.Mutex
	// lastMissReload is when a request for an unknown kid last triggered a
	// reload (unix nanoseconds).
	lastMissReload atomic.Int64
}

// keySnapshot is one immutable view of the store's keys; a reload replaces
// it whole.
type keySnapshot struct {
	keys []*SigningKey // newest first, never empty
	pems map[string][]byte
}

// LoadKeySet reads the store's ES256 keys, creating the first one on a fresh
// store. Keys whose material does not parse are skipped; it is an error only
// if no usable key remains.
//
// NotAfter is not consulted: retiring keys belongs to rotation.
func LoadKeySet(ctx context.Context, s store.Store) (*KeySet, error) {
	stored, err := pool.EnsureKeys(ctx, s, KeyKind, generateKey)
	if err != nil {
		return nil, fmt.Errorf("oidc: load signing keys: %w", err)
	}
	snap, err := buildSnapshot(stored, nil)
	if err != nil {
		return nil, err
	}
	k := &KeySet{store: s}
	k.snap.Store(snap)
	return k, nil
}

// generateKey mints a new P-256 key as PKCS#8 DER, the form other tools
// (openssl pkey -inform DER) read without help.
func generateKey() (store.Key, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return store.Key{}, fmt.Errorf("oidc: generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.Key{}, fmt.Errorf("oidc: encode signing key: %w", err)
	}
	return store.Key{
		Kind:      KeyKind,
		ID:        uuid.NewString(),
		Material:  der,
		CreatedAt: time.Now().UTC(),
	}, nil
}

// buildSnapshot parses stored (newest first). Keys already parsed in prev are
// reused: kind+ID is unique and stored keys never change, so a reload only
// pays for keys it has not seen.
func buildSnapshot(stored []store.Key, prev *keySnapshot) (*keySnapshot, error) {
	var known map[string]*SigningKey
	if prev != nil {
		known = make(map[string]*SigningKey, len(prev.keys))
		for _, sk := range prev.keys {
			known[sk.ID] = sk
		}
	}
	snap := &keySnapshot{pems: make(map[string][]byte, len(stored))}
	var errs []error
	for _, sk := range stored {
		if _, dup := snap.pems[sk.ID]; dup {
			continue
		}
		if old, ok := known[sk.ID]; ok {
			snap.keys = append(snap.keys, old)
			snap.pems[sk.ID] = prev.pems[sk.ID]
			continue
		}
		key, pemBytes, err := parseKey(sk)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		snap.keys = append(snap.keys, key)
		snap.pems[sk.ID] = pemBytes
	}
	if len(snap.keys) == 0 {
		if len(errs) == 0 {
			return nil, errors.New("oidc: no signing keys in store")
		}
		return nil, fmt.Errorf("oidc: no usable signing key: %w", errors.Join(errs...))
	}
	return snap, nil
}

// parseKey turns one stored key into a SigningKey and its public key PEM.
func parseKey(sk store.Key) (*SigningKey, []byte, error) {
	parsed, err := x509.ParsePKCS8PrivateKey(sk.Material)
	if err != nil {
		return nil, nil, fmt.Errorf("oidc: signing key %q: %w", sk.ID, err)
	}
	priv, ok := parsed.(*ecdsa.PrivateKey)
	if !ok || priv.Curve != elliptic.P256() {
		return nil, nil, fmt.Errorf("oidc: signing key %q: not a P-256 ECDSA key", sk.ID)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, nil, fmt.Errorf("oidc: signing key %q: %w", sk.ID, err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	return &SigningKey{ID: sk.ID, Private: priv, Created: sk.CreatedAt}, pemBytes, nil
}

// Current returns the newest usable key, the one to sign with.
func (k *KeySet) Current() *SigningKey {
	return k.snap.Load().keys[0]
}

// PublicKeyPEM returns the PEM ("PUBLIC KEY", PKIX) of the key with that
// kid, and whether it is known. The slice is the caller's own.
func (k *KeySet) PublicKeyPEM(kid string) ([]byte, bool) {
	p, ok := k.snap.Load().pems[kid]
	return slices.Clone(p), ok
}

// Reload re-reads the store, picking up keys another process added. On error
// the keys already loaded stay in use.
func (k *KeySet) Reload(ctx context.Context) error {
	k.reloadMu.Lock()
	defer k.reloadMu.Unlock()
	stored, err := k.store.Keys(ctx, KeyKind)
	if err != nil {
		return fmt.Errorf("oidc: reload signing keys: %w", err)
	}
	snap, err := buildSnapshot(stored, k.snap.Load())
	if err != nil {
		return err
	}
	k.snap.Store(snap)
	return nil
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
