package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/store/storetest"
)

// TestMFAAcrossStores stands for the server and the CLI on one file: each
// has its own connections, and the replay guard, recovery codes and failure
// counts still hold across them.
func TestMFAAcrossStores(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mfa.db")
	const n = 4
	stores := make([]store.Store, n)
	for i := range stores {
		stores[i] = openAt(t, path)
	}
	storetest.RunAcrossStores(t, stores)
}

// TestMFATimeBeyondYear9999 is SQLite's own bound: times are fixed-width
// text, so a factor created after year 9999 is refused, and not stored.
func TestMFATimeBeyondYear9999(t *testing.T) {
	ctx := context.Background()
	s := openAt(t, filepath.Join(t.TempDir(), "v.db"))
	if err := s.CreateUser(ctx, &store.User{ID: "u1", Email: "a@x.io"}); err != nil {
		t.Fatal(err)
	}
	err := s.AddMFAFactor(ctx, store.MFAFactor{ID: "f1", UserID: "u1", Kind: store.FactorTOTP, Secret: []byte("k"),
		CreatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err == nil || errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("AddMFAFactor past year 9999: %v, want a plain validation error", err)
	}
	if fs, _ := s.MFAFactors(ctx, "u1"); len(fs) != 0 {
		t.Errorf("%d factors stored by a rejected call", len(fs))
	}
}
