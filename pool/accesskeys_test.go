package pool

import (
	"bytes"
	"errors"
	"regexp"
	"testing"

	"github.com/gatehouse-auth/gatehouse/store"
)

// TestAccessKeys makes, lists, reads and revokes access keys: the secret is
// shown once, kept sealed (the store holds no copy of it), opens only under
// its own id, and a revoked key is unknown at once.
func TestAccessKeys(t *testing.T) {
	t.Parallel()
	p := newTestPool(t)
	ctx := t.Context()
	rw, err := p.CreateAccessKey(ctx, "deploy scripts", false)
	if err != nil {
		t.Fatal(err)
	}
	ro, err := p.CreateAccessKey(ctx, "", true)
	if err != nil {
		t.Fatal(err)
	}
	idForm := regexp.MustCompile(`^GHAK[A-Z2-7]{16}$`)
	secretForm := regexp.MustCompile(`^[A-Za-z0-9+/]{40}$`)
	for _, k := range []*NewAccessKey{rw, ro} {
		if !idForm.MatchString(k.ID) || !secretForm.MatchString(k.SecretAccessKey) {
			t.Errorf("key %q secret %q: want GHAK+16 base32, 40 base64", k.ID, k.SecretAccessKey)
		}
	}
	if rw.ID == ro.ID || rw.SecretAccessKey == ro.SecretAccessKey {
		t.Fatal("two keys alike")
	}

	list, err := p.AccessKeys(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("AccessKeys: %v %v", list, err)
	}
	byID := map[string]AccessKey{}
	for _, k := range list {
		byID[k.ID] = k
	}
	if k := byID[rw.ID]; k.ReadOnly || k.Description != "deploy scripts" || k.Created.IsZero() {
		t.Errorf("listed %+v", k)
	}
	if k := byID[ro.ID]; !k.ReadOnly {
		t.Errorf("listed %+v, want read-only", k)
	}

	secret, readOnly, err := p.AccessKeySecret(ctx, ro.ID)
	if err != nil || string(secret) != ro.SecretAccessKey || !readOnly {
		t.Fatalf("AccessKeySecret: %q %v %v", secret, readOnly, err)
	}

	// The store keeps it sealed: no copy of the secret in the material.
	stored, err := p.store.Keys(ctx, AccessKeyKind)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range stored {
		if bytes.Contains(k.Material, []byte(rw.SecretAccessKey)) || bytes.Contains(k.Material, []byte(ro.SecretAccessKey)) {
			t.Fatalf("the store holds a secret in the clear: %s", k.Material)
		}
	}
	// Moved onto another id (a row copied by someone with the database),
	// the sealed secret does not open.
	var rwKey store.Key
	for _, k := range stored {
		if k.ID == rw.ID {
			rwKey = k
		}
	}
	forged := "GHAKAAAAAAAAAAAAAAAA"
	if err := p.store.AddKey(ctx, store.Key{Kind: AccessKeyKind, ID: forged, Material: rwKey.Material}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.AccessKeySecret(ctx, forged); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("a sealed secret moved to another id: %v, want it not to open", err)
	}

	for _, id := range []string{"", "AKIDEXAMPLE", "ghak" + rw.ID[4:], rw.ID + "A", "GHAK%"} {
		if _, _, err := p.AccessKeySecret(ctx, id); !errors.Is(err, ErrAccessKeyNotFound) {
			t.Errorf("AccessKeySecret(%q): %v, want ErrAccessKeyNotFound", id, err)
		}
	}

	if err := p.RevokeAccessKey(ctx, rw.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.AccessKeySecret(ctx, rw.ID); !errors.Is(err, ErrAccessKeyNotFound) || !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoked key: %v, want ErrAccessKeyNotFound", err)
	}
	if err := p.RevokeAccessKey(ctx, rw.ID); !errors.Is(err, ErrAccessKeyNotFound) {
		t.Errorf("revoked twice: %v", err)
	}

	if _, err := p.CreateAccessKey(ctx, string(make([]byte, maxDescription+1)), false); err == nil {
		t.Error("an over-long description was taken")
	}

	events, err := p.store.AuditEvents(ctx, store.AuditQuery{Types: []string{AuditAccessKeyCreated, AuditAccessKeyRevoked}})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 3 || events[0].Type != AuditAccessKeyRevoked || events[0].Detail["access_key_id"] != rw.ID {
		t.Errorf("audit: %+v, want two creations and a revocation", events)
	}
}

// TestAdminAuthFailedAudit records a refused signed call with its reason
// and key id, and the client's address from the context.
func TestAdminAuthFailedAudit(t *testing.T) {
	t.Parallel()
	p := newTestPool(t)
	ctx := WithClientIP(t.Context(), "192.0.2.7")
	p.AdminAuthFailed(ctx, "GHAKAAAAAAAAAAAAAAAA", "invalid_signature")
	p.AdminAuthFailed(ctx, "", "missing")
	events, err := p.store.AuditEvents(ctx, store.AuditQuery{Types: []string{AuditAdminAuthFailed}})
	if err != nil || len(events) != 2 {
		t.Fatalf("%+v %v", events, err)
	}
	if e := events[1]; e.Reason != "invalid_signature" || e.Detail["access_key_id"] != "GHAKAAAAAAAAAAAAAAAA" || e.IP != "192.0.2.7" {
		t.Errorf("%+v", e)
	}
	if e := events[0]; e.Reason != "missing" || len(e.Detail) != 0 {
		t.Errorf("%+v", e)
	}
}
