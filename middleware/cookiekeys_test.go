package middleware

import (
	"net/http"
	"testing"
	"time"
)

// opens reports whether a codec holding only key opens value.
func opens(t *testing.T, key []byte, value string) bool {
	t.Helper()
	_, err := mustCodec(t, time.Hour, key).Decode(value)
	return err == nil
}

func mustSet(t *testing.T, ck *CookieKeys, keys ...CookieKey) {
	t.Helper()
	if err := ck.Set(keys); err != nil {
		t.Fatalf("Set: %v", err)
	}
}

// TestCookieKeyRotation walks one rotation as instances sharing a store see
// it: the new key is first only accepted, then seals, then the old one is
// removed; a codec made before all of it follows every step.
func TestCookieKeyRotation(t *testing.T) {
	k1, k2 := newCookieKey(t), newCookieKey(t)
	past := time.Now().Add(-time.Hour)
	ck, err := NewCookieKeys([]CookieKey{{Material: k1, ActiveFrom: past}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCodec(testCookieName, ck, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	old, err := c.Encode(sampleSession())
	if err != nil {
		t.Fatal(err)
	}

	// 1. k2 is announced, active in an hour: it opens cookies another
	// instance might already seal with it, but this one still seals with k1.
	mustSet(t, ck, CookieKey{Material: k1, ActiveFrom: past}, CookieKey{Material: k2, ActiveFrom: time.Now().Add(time.Hour)})
	v, err := c.Encode(sampleSession())
	if err != nil {
		t.Fatal(err)
	}
	if !opens(t, k1, v) || opens(t, k2, v) {
		t.Errorf("while k2 is pending: sealed with k1 %v, k2 %v; want k1 only", opens(t, k1, v), opens(t, k2, v))
	}
	fromElsewhere, err := mustCodec(t, time.Hour, k2).Encode(sampleSession())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Decode(fromElsewhere); err != nil {
		t.Errorf("a cookie sealed with the pending key: %v", err)
	}

	// 2. k2 is active: new cookies are sealed with it, old ones still open.
	mustSet(t, ck, CookieKey{Material: k1, ActiveFrom: past}, CookieKey{Material: k2, ActiveFrom: time.Now().Add(-time.Second)})
	if v, err = c.Encode(sampleSession()); err != nil {
		t.Fatal(err)
	}
	if opens(t, k1, v) || !opens(t, k2, v) {
		t.Errorf("once k2 is active: sealed with k1 %v, k2 %v; want k2 only", opens(t, k1, v), opens(t, k2, v))
	}
	if _, err := c.Decode(old); err != nil {
		t.Errorf("a cookie sealed with k1 before the rotation: %v", err)
	}

	// 3. k1 is removed: its cookies no longer open, k2's do.
	mustSet(t, ck, CookieKey{Material: k2, ActiveFrom: time.Now().Add(-time.Second)})
	if _, err := c.Decode(old); err == nil {
		t.Error("a cookie sealed with the removed key still opens")
	}
	if _, err := c.Decode(v); err != nil {
		t.Errorf("a cookie sealed with k2: %v", err)
	}

	// The hosted pages' other cookies follow the same keys.
	csrf := ck.SecureCookie(time.Hour)
	tok, err := csrf.Encode("gatehouse_csrf", "token")
	if err != nil {
		t.Fatal(err)
	}
	var got string
	if err := mustCodec(t, time.Hour, k2).Codecs()[0].Decode("gatehouse_csrf", tok, &got); err != nil || got != "token" {
		t.Errorf("CSRF cookie after the rotation: %q, %v; want sealed with k2", got, err)
	}
}

// TestCookieKeysAllPending seals with the earliest key when none is active
// yet (a clock behind the one that made them), rather than not at all.
func TestCookieKeysAllPending(t *testing.T) {
	k1, k2 := newCookieKey(t), newCookieKey(t)
	now := time.Now()
	ck, err := NewCookieKeys([]CookieKey{{Material: k2, ActiveFrom: now.Add(2 * time.Hour)}, {Material: k1, ActiveFrom: now.Add(time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCodec(testCookieName, ck, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.Encode(sampleSession())
	if err != nil {
		t.Fatal(err)
	}
	if !opens(t, k1, v) {
		t.Error("not sealed with the earliest key")
	}
}

// TestCookieKeysSet covers what Set refuses, and that it counts removals
// only: re-setting the same keys or adding one keeps cached sessions.
func TestCookieKeysSet(t *testing.T) {
	k1, k2 := newCookieKey(t), newCookieKey(t)
	ck, err := NewCookieKeys([]CookieKey{{Material: k1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewCookieKeys(nil); err == nil {
		t.Error("NewCookieKeys(nil): no error")
	}
	if err := ck.Set([]CookieKey{{Material: k1[:10]}}); err == nil {
		t.Error("Set with a short key: no error")
	}
	if got := ck.Keys(); len(got) != 1 || string(got[0].Material) != string(k1) {
		t.Errorf("a refused Set changed the keys: %d keys", len(got))
	}
	snap := ck.snap.Load()
	mustSet(t, ck, CookieKey{Material: k1})
	if ck.snap.Load() != snap {
		t.Error("setting the same keys made a new snapshot (every codec would rebuild)")
	}
	mustSet(t, ck, CookieKey{Material: k2, ActiveFrom: time.Now()}, CookieKey{Material: k1})
	if n := ck.snap.Load().removals; n != 0 {
		t.Errorf("after adding a key: %d removals, want 0", n)
	}
	mustSet(t, ck, CookieKey{Material: k2, ActiveFrom: time.Now()})
	if n := ck.snap.Load().removals; n != 1 {
		t.Errorf("after removing a key: %d removals, want 1", n)
	}
	// Keys returns copies.
	got := ck.Keys()
	got[0].Material[0] ^= 0xff
	if ck.Keys()[0].Material[0] == got[0].Material[0] {
		t.Error("Keys returned the set's own material")
	}
}

// TestGatewayDropsCachedSessionsOfRemovedKey: a session the gateway has
// already opened and cached stops working as soon as its key is removed,
// not when it happens to leave the cache.
func TestGatewayDropsCachedSessionsOfRemovedKey(t *testing.T) {
	k1, k2 := newCookieKey(t), newCookieKey(t)
	ck, err := NewCookieKeys([]CookieKey{{Material: k1}})
	if err != nil {
		t.Fatal(err)
	}
	f := newGatewayFixture(t, func(c *Config) {
		c.Codec, err = NewCodec("gatehouse_session", ck, gwSessionTimeout)
		if err != nil {
			t.Fatal(err)
		}
	})
	old := f.start(t)
	if ok, _, _ := f.guard(old, nil); !ok {
		t.Fatal("a fresh session is refused")
	}
	if f.gw.cache.len() != 1 {
		t.Fatalf("cache holds %d sessions, want 1", f.gw.cache.len())
	}

	mustSet(t, ck, CookieKey{Material: k2, ActiveFrom: time.Now()}, CookieKey{Material: k1})
	if ok, _, _ := f.guard(old, nil); !ok {
		t.Error("adding a key ended a session sealed with the old one")
	}
	fresh := f.start(t) // sealed with k2

	mustSet(t, ck, CookieKey{Material: k2, ActiveFrom: time.Now()})
	if ok, _, rec := f.guard(old, nil); ok || rec.Code != http.StatusUnauthorized {
		t.Errorf("the cached session of a removed key: passed %v, status %d; want 401", ok, rec.Code)
	}
	if ok, r, _ := f.guard(fresh, nil); !ok || r.Header.Get(HeaderIdentity) != f.user.ID {
		t.Errorf("a session sealed with the remaining key: passed %v, identity %q", ok, r.Header.Get(HeaderIdentity))
	}
}
