package storetest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/gatehouse-auth/gatehouse/store"
)

func testSRP(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	hash := newUser("x", "x@example.com").PasswordHash

	t.Run("SaveReadReplace", func(t *testing.T) {
		s := open(t)
		mustCreate(t, s, newUser("u1", "u1@example.com"))
		mustCreate(t, s, newUser("u2", "u2@example.com"))
		if _, err := s.SRPVerifier(ctx, "u1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("no verifier yet: %v, want ErrNotFound", err)
		}
		if err := s.SaveSRPVerifier(ctx, store.SRPVerifier{UserID: "u1", Sealed: []byte{0, 1, 2}, PasswordHash: hash, CreatedAt: base}); err != nil {
			t.Fatal(err)
		}
		v, err := s.SRPVerifier(ctx, "u1")
		if err != nil || !bytes.Equal(v.Sealed, []byte{0, 1, 2}) || !v.CreatedAt.Equal(base) || v.UserID != "u1" {
			t.Fatalf("SRPVerifier = %+v, %v", v, err)
		}
		if err := s.SaveSRPVerifier(ctx, store.SRPVerifier{UserID: "u1", Sealed: []byte("second"), PasswordHash: hash}); err != nil {
			t.Fatal(err)
		}
		if v, _ := s.SRPVerifier(ctx, "u1"); v == nil || string(v.Sealed) != "second" || v.CreatedAt.IsZero() {
			t.Fatalf("not replaced: %+v", v)
		}
		if _, err := s.SRPVerifier(ctx, "u2"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("another user's verifier: %v", err)
		}
		if err := s.DeleteSRPVerifier(ctx, "u1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SRPVerifier(ctx, "u1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("after delete: %v", err)
		}
		if err := s.DeleteSRPVerifier(ctx, "u1"); err != nil {
			t.Fatalf("deleting none: %v", err)
		}
	})

	t.Run("Refusals", func(t *testing.T) {
		s := open(t)
		mustCreate(t, s, newUser("u1", "u1@example.com"))
		if err := s.SaveSRPVerifier(ctx, store.SRPVerifier{UserID: "nobody", Sealed: []byte{1}, PasswordHash: hash}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown user: %v, want ErrNotFound", err)
		}
		// Made from a password that is no longer the user's: refused.
		if err := s.SaveSRPVerifier(ctx, store.SRPVerifier{UserID: "u1", Sealed: []byte{1}, PasswordHash: hash + "x"}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("another password's verifier: %v, want ErrConflict", err)
		}
		for _, v := range []store.SRPVerifier{{Sealed: []byte{1}, PasswordHash: hash}, {UserID: "u1", PasswordHash: hash}, {UserID: "u1", Sealed: []byte{1}}} {
			if err := s.SaveSRPVerifier(ctx, v); err == nil {
				t.Errorf("SaveSRPVerifier(%+v) accepted", v)
			}
		}
		if _, err := s.SRPVerifier(ctx, "u1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a refused save stored something: %v", err)
		}
	})

	// A new password takes the old one's verifier with it, and so does
	// deleting the user.
	t.Run("GoesWithPasswordAndUser", func(t *testing.T) {
		s := open(t)
		mustCreate(t, s, newUser("u1", "u1@example.com"))
		mustCreate(t, s, newUser("u2", "u2@example.com"))
		for _, id := range []string{"u1", "u2"} {
			if err := s.SaveSRPVerifier(ctx, store.SRPVerifier{UserID: id, Sealed: []byte(id), PasswordHash: hash}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.UpdatePassword(ctx, "u1", "$argon2id$new", store.StatusConfirmed); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SRPVerifier(ctx, "u1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("verifier kept across a password change: %v", err)
		}
		if _, err := s.SRPVerifier(ctx, "u2"); err != nil {
			t.Fatalf("another user's verifier went too: %v", err)
		}
		if err := s.SaveSRPVerifier(ctx, store.SRPVerifier{UserID: "u1", Sealed: []byte("old"), PasswordHash: hash}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("a verifier of the old password saved after the change: %v", err)
		}
		if err := s.SaveSRPVerifier(ctx, store.SRPVerifier{UserID: "u1", Sealed: []byte("new"), PasswordHash: "$argon2id$new"}); err != nil {
			t.Fatal(err)
		}
		if err := s.UpdatePassword(ctx, "nobody", "h", store.StatusConfirmed); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("UpdatePassword of an unknown user: %v", err)
		}
		if err := s.DeleteUser(ctx, "u2"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SRPVerifier(ctx, "u2"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("verifier outlived its user: %v", err)
		}
		mustCreate(t, s, newUser("u2", "u2b@example.com"))
		if _, err := s.SRPVerifier(ctx, "u2"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a new user of the same id found the old verifier: %v", err)
		}
	})

	// Saves racing a password change: whatever the order, no verifier of
	// the old password is left once both are done.
	t.Run("RaceWithPasswordChange", func(t *testing.T) {
		s := open(t)
		for range 10 {
			mustCreate(t, s, newUser("u1", "u1@example.com"))
			var wg sync.WaitGroup
			wg.Add(2)
			go func() {
				defer wg.Done()
				_ = s.SaveSRPVerifier(ctx, store.SRPVerifier{UserID: "u1", Sealed: []byte("old"), PasswordHash: hash})
			}()
			go func() {
				defer wg.Done()
				if err := s.UpdatePassword(ctx, "u1", "$argon2id$new", store.StatusConfirmed); err != nil {
					t.Error(err)
				}
			}()
			wg.Wait()
			if v, err := s.SRPVerifier(ctx, "u1"); err == nil {
				t.Fatalf("the old password's verifier %q outlived the change", v.Sealed)
			}
			if err := s.DeleteUser(ctx, "u1"); err != nil {
				t.Fatal(err)
			}
		}
	})
}
