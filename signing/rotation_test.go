package signing

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"math/big"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/store"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Add(d time.Duration) { c.ns.Add(int64(d)) }
func (c *fakeClock) Set(t time.Time)     { c.ns.Store(t.UnixNano()) }

type jwk struct {
	Kty, Crv, X, Y, N, E, Kid, Alg, Use string
}

func jwksOf(t *testing.T, ks *KeySet) []jwk {
	t.Helper()
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(ks.JWKS(), &set); err != nil {
		t.Fatalf("JWKS is not JSON: %v", err)
	}
	return set.Keys
}

func kidsOf(t *testing.T, ks *KeySet) []string {
	t.Helper()
	var out []string
	for _, k := range jwksOf(t, ks) {
		out = append(out, k.Kid)
	}
	return out
}

func TestOpenKeySetBothAlgorithms(t *testing.T) {
	s := openKeyStore(t, "")
	ks, err := Open(t.Context(), s, Policy{Algs: []string{RS256}})
	if err != nil {
		t.Fatal(err)
	}
	for kind, n := range map[string]int{KeyKind: 1, RSAKeyKind: 1} {
		stored, err := s.Keys(t.Context(), kind)
		if err != nil || len(stored) != n {
			t.Fatalf("store holds %d %s keys (%v), want %d", len(stored), kind, err, n)
		}
	}
	es, rs := ks.CurrentFor(ES256), ks.CurrentFor(RS256)
	if es == nil || es.Alg != ES256 || es.Private == nil || es != ks.Current() {
		t.Fatalf("ES256 key = %+v", es)
	}
	if rs == nil || rs.Alg != RS256 || rs.RSA == nil || rs.RSA.N.BitLen() < 2048 {
		t.Fatalf("RS256 key = %+v", rs)
	}
	if !slices.Equal(ks.Algs(), []string{ES256, RS256}) {
		t.Errorf("Algs() = %v", ks.Algs())
	}
	keys := jwksOf(t, ks)
	if len(keys) != 2 {
		t.Fatalf("JWKS has %d keys, want 2", len(keys))
	}
	for _, k := range keys {
		if k.Use != "sig" {
			t.Errorf("key %s use %q", k.Kid, k.Use)
		}
		switch k.Kid {
		case es.ID:
			point, _ := es.Private.PublicKey.Bytes()
			if k.Kty != "EC" || k.Crv != "P-256" || k.Alg != ES256 || k.X != b64(point[1:33]) || k.Y != b64(point[33:]) {
				t.Errorf("EC JWK %+v does not describe the ES256 key", k)
			}
		case rs.ID:
			n, _ := decodeB64(k.N)
			e, _ := decodeB64(k.E)
			if k.Kty != "RSA" || k.Alg != RS256 || new(big.Int).SetBytes(n).Cmp(rs.RSA.N) != 0 || new(big.Int).SetBytes(e).Int64() != int64(rs.RSA.E) {
				t.Errorf("RSA JWK %+v does not describe the RS256 key", k)
			}
		default:
			t.Errorf("JWKS has an unknown kid %s", k.Kid)
		}
	}
	// Ensure is idempotent and an ES256-only Open on the same store still works
	// as before: ES256 only.
	if err := ks.Ensure(t.Context(), RS256); err != nil || ks.CurrentFor(RS256) != rs {
		t.Errorf("Ensure(RS256) again: %v, key changed: %v", err, ks.CurrentFor(RS256) != rs)
	}
	legacy, err := Open(t.Context(), s, Policy{})
	if err != nil || legacy.Current().ID != es.ID || legacy.CurrentFor(RS256) != nil {
		t.Errorf("Open without RS256 on a store with both kinds: %v", err)
	}
}

func TestOpenKeySetRefusesSmallRSAKeys(t *testing.T) {
	s := openKeyStore(t, "")
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	badID := uuid.NewString()
	if err := s.AddKey(t.Context(), store.Key{Kind: RSAKeyKind, ID: badID, Material: pkcs8(t, small)}); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(t.Context(), s, Policy{Algs: []string{RS256}}); err == nil {
		t.Fatal("Open accepted a 1024-bit RSA key as the only RS256 key")
	}
	if _, err := Open(t.Context(), s, Policy{Algs: []string{"HS256"}}); err == nil {
		t.Fatal("Open accepted an unknown algorithm")
	}
}

func TestKeySetRotationAndRetirement(t *testing.T) {
	const rotation = 30 * 24 * time.Hour
	clock := newFakeClock()
	s := openKeyStore(t, "")
	ks, err := Open(t.Context(), s, Policy{Algs: []string{RS256}, Rotation: rotation, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	es1, rs1 := ks.CurrentFor(ES256), ks.CurrentFor(RS256)
	count := func(kind string) int {
		keys, err := s.Keys(t.Context(), kind)
		if err != nil {
			t.Fatal(err)
		}
		return len(keys)
	}

	clock.Add(rotation - time.Minute) // not yet due
	if err := ks.Maintain(t.Context()); err != nil {
		t.Fatal(err)
	}
	if count(KeyKind) != 1 || count(RSAKeyKind) != 1 || ks.CurrentFor(ES256) != es1 {
		t.Fatal("keys rotated before their time")
	}

	clock.Add(time.Minute) // due
	if err := ks.Maintain(t.Context()); err != nil {
		t.Fatal(err)
	}
	es2, rs2 := ks.CurrentFor(ES256), ks.CurrentFor(RS256)
	if es2.ID == es1.ID || rs2.ID == rs1.ID || count(KeyKind) != 2 || count(RSAKeyKind) != 2 {
		t.Fatalf("no rotation at the rotation time: ES256 %s -> %s, RS256 %s -> %s", es1.ID, es2.ID, rs1.ID, rs2.ID)
	}
	if !es2.Created.Equal(clock.Now()) {
		t.Errorf("new key created %v, want the key clock's %v", es2.Created, clock.Now())
	}
	if got := kidsOf(t, ks); !slices.Equal(got, []string{es2.ID, es1.ID, rs2.ID, rs1.ID}) {
		t.Errorf("JWKS after rotation = %v, want new and previous of each", got)
	}
	// A second Maintain at the same time rotates nothing more.
	if err := ks.Maintain(t.Context()); err != nil || count(KeyKind) != 2 {
		t.Fatalf("Maintain again: %v, %d ES256 keys", err, count(KeyKind))
	}

	retireAt := es2.Created.Add(MaxTokenTTL + retireGrace)
	clock.Set(retireAt.Add(-time.Second))
	if got := kidsOf(t, ks); !slices.Contains(got, es1.ID) || !slices.Contains(got, rs1.ID) {
		t.Errorf("previous keys retired early: %v", got)
	}
	clock.Set(retireAt)
	if got := kidsOf(t, ks); !slices.Equal(got, []string{es2.ID, rs2.ID}) {
		t.Errorf("JWKS after retirement = %v, want only %s and %s", got, es2.ID, rs2.ID)
	}
	// Retired keys still verify what they signed (id_token_hint), and
	// their PEM is still served (ALB data).
	if k, ok := ks.Key(es1.ID); !ok || k != es1 {
		t.Error("a retired key can no longer be looked up")
	}
	if _, ok := ks.PublicKeyPEM(es1.ID); !ok {
		t.Error("a retired key's PEM is no longer served")
	}

	// Rotate forces new keys whatever their age.
	if err := ks.Rotate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if ks.CurrentFor(ES256).ID == es2.ID || count(KeyKind) != 3 {
		t.Error("Rotate did not add a key")
	}
}

// TestKeySetRetirementFollowsTheSuccessor checks that a key replaced late
// (the server was down at its rotation time) stays published until
// MaxTokenTTL after it actually stopped signing, not after it was due to.
func TestKeySetRetirementFollowsTheSuccessor(t *testing.T) {
	const rotation = 24 * time.Hour
	clock := newFakeClock()
	s := openKeyStore(t, "")
	ks, err := Open(t.Context(), s, Policy{Rotation: rotation, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	old := ks.Current()
	clock.Add(10 * rotation) // down for days
	if err := ks.Maintain(t.Context()); err != nil {
		t.Fatal(err)
	}
	clock.Add(MaxTokenTTL - time.Minute)
	if got := kidsOf(t, ks); !slices.Contains(got, old.ID) {
		t.Errorf("a key that signed until %s minus a minute ago is no longer published", MaxTokenTTL)
	}
}

func TestMaintainUsesAnotherInstancesRotation(t *testing.T) {
	const rotation = 30 * 24 * time.Hour
	clock := newFakeClock()
	s := openKeyStore(t, "")
	a, err := Open(t.Context(), s, Policy{Rotation: rotation, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(t.Context(), s, Policy{Rotation: rotation, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	clock.Add(rotation)
	if err := a.Maintain(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := b.Maintain(t.Context()); err != nil {
		t.Fatal(err)
	}
	keys, _ := s.Keys(t.Context(), KeyKind)
	if len(keys) != 2 {
		t.Fatalf("two instances made %d keys at one rotation, want 2 in all", len(keys))
	}
	if a.Current().ID != b.Current().ID || a.Current().ID != keys[0].ID {
		t.Errorf("instances sign with %s and %s, want both the newest %s", a.Current().ID, b.Current().ID, keys[0].ID)
	}

	// Without a rotation due, an instance still notices a new key within a
	// check interval.
	added := addSigningKey(t, s, clock.Now().Add(time.Second))
	if err := b.Maintain(t.Context()); err != nil || b.Current().ID == added.ID {
		t.Fatalf("key noticed before the check interval: %v", err)
	}
	clock.Add(checkInterval)
	if err := b.Maintain(t.Context()); err != nil || b.Current().ID != added.ID {
		t.Errorf("after a check interval Current = %s, want %s (%v)", b.Current().ID, added.ID, err)
	}
}

func TestCurrentRotatesInTheBackground(t *testing.T) {
	const rotation = 30 * 24 * time.Hour
	clock := newFakeClock()
	ks, err := Open(t.Context(), openKeyStore(t, ""), Policy{Rotation: rotation, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	old := ks.Current()
	clock.Add(rotation)
	if ks.Current() != old {
		t.Fatal("Current blocked for a rotation instead of returning the key it had")
	}
	deadline := time.Now().Add(5 * time.Second)
	for ks.Current().ID == old.ID {
		if time.Now().After(deadline) {
			t.Fatal("Current never rotated the key in the background")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for ks.maintaining.Load() { // let the goroutine finish before the store closes
		time.Sleep(time.Millisecond)
	}
}

func TestNonRotatingSetDoesNoMaintenance(t *testing.T) {
	cs := &countingStore{Store: openKeyStore(t, "")}
	ks, err := Open(t.Context(), cs, Policy{})
	if err != nil {
		t.Fatal(err)
	}
	before := cs.keysCalls.Load()
	for range 3 {
		if err := ks.Maintain(t.Context()); err != nil {
			t.Fatal(err)
		}
		ks.Current()
	}
	if n := cs.keysCalls.Load() - before; n != 0 {
		t.Errorf("a set without rotation read the store %d times", n)
	}
}
