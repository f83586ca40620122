package module_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/middleware"
	"github.com/gatehouse-auth/gatehouse/module"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// openTwice opens one pool twice on one SQLite file: two instances, or an
// instance and the CLI.
func openTwice(t *testing.T) (a, b *module.Pool) {
	t.Helper()
	cfg := &module.PoolConfig{
		Store:        module.StoreConfig{Driver: "sqlite", Path: filepath.Join(t.TempDir(), "gatehouse.db")},
		PasswordHash: pool.HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1},
	}
	open := func() *module.Pool {
		p, err := module.OpenPool(context.Background(), "default", cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	return open(), open()
}

// sealing is the cookie key p seals new sessions with now: the one with the
// latest ActiveFrom not in the future (see middleware.CookieKeys).
func sealing(t *testing.T, p *module.Pool) []byte {
	t.Helper()
	now := time.Now()
	for _, k := range p.CookieKeyRing.Keys() { // latest ActiveFrom first
		if !k.ActiveFrom.After(now) {
			return k.Material
		}
	}
	t.Fatal("no cookie key is active")
	return nil
}

func addCookieKey(t *testing.T, p *module.Pool, id string, activeFrom time.Time) []byte {
	t.Helper()
	material := make([]byte, middleware.CookieKeyLen)
	rand.Read(material)
	if err := p.Store.AddKey(context.Background(), store.Key{Kind: module.CookieKeyKind, ID: id, Material: material, CreatedAt: activeFrom}); err != nil {
		t.Fatal(err)
	}
	return material
}

// TestPoolKeysShared: two openings of one store hold the same keys, and the
// marker key of the OpenID provider stays the same through a cookie key
// rotation, so instances started before and after it check each other's
// markers.
func TestPoolKeysShared(t *testing.T) {
	t.Parallel() // no Caddy, so it may overlap the other tests that start none
	a, b := openTwice(t)
	if !bytes.Equal(sealing(t, a), sealing(t, b)) || a.Keys.Current().ID != b.Keys.Current().ID {
		t.Fatal("two openings of one store have different cookie or signing keys")
	}
	if len(a.MarkerKey) < 32 || !bytes.Equal(a.MarkerKey, b.MarkerKey) {
		t.Fatalf("marker keys: %d and %d bytes, equal %v", len(a.MarkerKey), len(b.MarkerKey), bytes.Equal(a.MarkerKey, b.MarkerKey))
	}
	if bytes.Contains(sealing(t, a), a.MarkerKey[:32]) {
		t.Error("the marker key is part of a cookie key")
	}
	fresh := addCookieKey(t, a, "2", time.Now()) // active now, after key "1"
	c, _ := openTwice(t)                         // another store: its own marker key
	if bytes.Equal(c.MarkerKey, a.MarkerKey) {
		t.Error("two stores share a marker key")
	}
	cfg := *a.Config
	later, err := module.OpenPool(context.Background(), "default", &cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer later.Close()
	if !bytes.Equal(sealing(t, later), fresh) {
		t.Error("an opening after the rotation does not seal with the new cookie key")
	}
	if !bytes.Equal(later.MarkerKey, a.MarkerKey) {
		t.Error("the marker key changed with the cookie key rotation")
	}
}

// TestPoolRunReloadsCookieKeys: an instance's background refresh picks up
// a cookie key another process added, and drops one it removed.
func TestPoolRunReloadsCookieKeys(t *testing.T) {
	t.Parallel() // no Caddy, so it may overlap the other tests that start none
	a, b := openTwice(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Upkeep(20*time.Millisecond, zap.NewNop()).Run(ctx)

	wait := func(what string, ok func([]middleware.CookieKey) bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !ok(a.CookieKeyRing.Keys()) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not seen within 5s (keys held: %d)", what, len(a.CookieKeyRing.Keys()))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	activeFrom := time.Now().Add(time.Hour)
	fresh := addCookieKey(t, b, "2", activeFrom)
	wait("a key added elsewhere", func(keys []middleware.CookieKey) bool {
		return len(keys) == 2 && bytes.Equal(keys[0].Material, fresh) && keys[0].ActiveFrom.Equal(activeFrom.UTC().Truncate(time.Nanosecond))
	})
	if err := b.Store.DeleteKey(context.Background(), module.CookieKeyKind, "1"); err != nil {
		t.Fatal(err)
	}
	wait("a key removed elsewhere", func(keys []middleware.CookieKey) bool {
		return len(keys) == 1 && bytes.Equal(keys[0].Material, fresh)
	})
	// A store left without a usable key is an operator's mistake: the
	// keys loaded stay in use.
	if err := b.Store.DeleteKey(context.Background(), module.CookieKeyKind, "2"); err != nil {
		t.Fatal(err)
	}
	if err := a.ReloadCookieKeys(context.Background()); err == nil {
		t.Error("ReloadCookieKeys on a store without cookie keys: no error")
	}
	if keys := a.CookieKeyRing.Keys(); len(keys) != 1 || !bytes.Equal(keys[0].Material, fresh) {
		t.Errorf("after the last key was removed from the store, %d keys held", len(keys))
	}
}
