package module

import (
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// TestKeyPolicy: a pool's key_rotation is its signing keys' rotation
// period, 30 days when unset. (Rotation itself, driven by a clock passed in
// the key policy, is oidc's TestSigningKeyRotation.)
func TestKeyPolicy(t *testing.T) {
	t.Parallel() // no Caddy, so it may overlap the other tests that start none
	if got := keyPolicy(&PoolConfig{KeyRotation: caddy.Duration(48 * time.Hour)}).Rotation; got != 48*time.Hour {
		t.Errorf("key_rotation 48h: rotation %s", got)
	}
	if got := keyPolicy(&PoolConfig{}).Rotation; got != 30*24*time.Hour {
		t.Errorf("no key_rotation: rotation %s, want 30 days", got)
	}
}
