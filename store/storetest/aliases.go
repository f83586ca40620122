package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/gatehouse-auth/gatehouse/store"
)

// withAttrs is newUser with the attributes given.
func withAttrs(id, email string, attrs map[string]string) *store.User {
	u := newUser(id, email)
	u.Attributes = attrs
	return u
}

func aliasOf(t *testing.T, s store.Store, kind, key string) string {
	t.Helper()
	u, err := s.UserByAlias(context.Background(), kind, key)
	if errors.Is(err, store.ErrNotFound) {
		return ""
	}
	if err != nil {
		t.Fatalf("UserByAlias(%s, %q): %v", kind, key, err)
	}
	return u.ID
}

func keep(t *testing.T, s store.Store, kinds ...string) []string {
	t.Helper()
	skipped, err := s.KeepAliases(context.Background(), kinds)
	if err != nil {
		t.Fatalf("KeepAliases(%v): %v", kinds, err)
	}
	return skipped
}

func testAliases(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	both := []string{store.AliasUsername, store.AliasPhone}

	t.Run("UsernameUniqueFolded", func(t *testing.T) {
		s := open(t)
		keep(t, s, both...)
		mustCreate(t, s, withAttrs("u1", "u1@example.com", map[string]string{"preferred_username": "Ada.L"}))
		if got := aliasOf(t, s, store.AliasUsername, "ada.l"); got != "u1" {
			t.Fatalf("folded lookup = %q, want u1", got)
		}
		if got := aliasOf(t, s, store.AliasUsername, "Ada.L"); got != "" {
			t.Fatalf("the store compares the folded key byte for byte; unfolded found %q", got)
		}
		err := s.CreateUser(ctx, withAttrs("u2", "u2@example.com", map[string]string{"preferred_username": "ADA.l"}))
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("same username in other case: %v, want ErrConflict", err)
		}
		mustCreate(t, s, withAttrs("u2", "u2@example.com", map[string]string{"preferred_username": "grace"}))
		err = s.UpdateUser(ctx, "u2", store.UserUpdate{SetAttributes: map[string]string{"preferred_username": "ADA.L"}})
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("update to a taken username: %v, want ErrConflict", err)
		}
		if u, _ := s.UserByID(ctx, "u2"); u.Attributes["preferred_username"] != "grace" {
			t.Fatalf("a refused update changed the attribute: %v", u.Attributes)
		}
		// Renaming frees the old name; an update of other attributes
		// leaves the key alone.
		if err := s.UpdateUser(ctx, "u1", store.UserUpdate{SetAttributes: map[string]string{"preferred_username": "lovelace"}}); err != nil {
			t.Fatal(err)
		}
		if err := s.UpdateUser(ctx, "u2", store.UserUpdate{SetAttributes: map[string]string{"preferred_username": "Ada.L"}}); err != nil {
			t.Fatalf("a freed username: %v", err)
		}
		if err := s.UpdateUser(ctx, "u1", store.UserUpdate{SetAttributes: map[string]string{"given_name": "A"}}); err != nil {
			t.Fatal(err)
		}
		if a, b := aliasOf(t, s, store.AliasUsername, "ada.l"), aliasOf(t, s, store.AliasUsername, "lovelace"); a != "u2" || b != "u1" {
			t.Fatalf("after renames: ada.l=%q lovelace=%q", a, b)
		}
		if err := s.UpdateUser(ctx, "u1", store.UserUpdate{DeleteAttributes: []string{"preferred_username"}}); err != nil {
			t.Fatal(err)
		}
		if got := aliasOf(t, s, store.AliasUsername, "lovelace"); got != "" {
			t.Fatalf("deleted username still finds %q", got)
		}
		if err := s.DeleteUser(ctx, "u2"); err != nil {
			t.Fatal(err)
		}
		mustCreate(t, s, withAttrs("u3", "u3@example.com", map[string]string{"preferred_username": "ada.L"}))
		if got := aliasOf(t, s, store.AliasUsername, "ada.l"); got != "u3" {
			t.Fatalf("a deleted user's username: %q, want u3", got)
		}
	})

	t.Run("PhoneVerifiedOnly", func(t *testing.T) {
		s := open(t)
		keep(t, s, both...)
		const num = "+15555550100"
		mustCreate(t, s, withAttrs("u1", "u1@example.com", map[string]string{"phone_number": num}))
		mustCreate(t, s, withAttrs("u2", "u2@example.com", map[string]string{"phone_number": num}))
		if got := aliasOf(t, s, store.AliasPhone, num); got != "" {
			t.Fatalf("an unverified number found %q", got)
		}
		if err := s.UpdateUser(ctx, "u1", store.UserUpdate{SetAttributes: map[string]string{"phone_number_verified": "true"}}); err != nil {
			t.Fatal(err)
		}
		if got := aliasOf(t, s, store.AliasPhone, num); got != "u1" {
			t.Fatalf("verified number = %q, want u1", got)
		}
		err := s.UpdateUser(ctx, "u2", store.UserUpdate{SetAttributes: map[string]string{"phone_number_verified": "true"}})
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("verifying a number another user verified: %v, want ErrConflict", err)
		}
		err = s.CreateUser(ctx, withAttrs("u3", "u3@example.com", map[string]string{"phone_number": num, "phone_number_verified": "true"}))
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("creating with a verified number another has: %v, want ErrConflict", err)
		}
		// A new number is unverified again: the old one is free.
		if err := s.UpdateUser(ctx, "u1", store.UserUpdate{SetAttributes: map[string]string{"phone_number": "+15555550199", "phone_number_verified": "false"}}); err != nil {
			t.Fatal(err)
		}
		if err := s.UpdateUser(ctx, "u2", store.UserUpdate{SetAttributes: map[string]string{"phone_number_verified": "true"}}); err != nil {
			t.Fatalf("verifying a freed number: %v", err)
		}
		if a, b := aliasOf(t, s, store.AliasPhone, num), aliasOf(t, s, store.AliasPhone, "+15555550199"); a != "u2" || b != "" {
			t.Fatalf("after the change: %q %q", a, b)
		}
	})

	t.Run("KindsOffAndBackfill", func(t *testing.T) {
		s := open(t)
		// Made while no kind is kept: free attributes, duplicates allowed.
		mustCreate(t, s, withAttrs("old", "old@example.com", map[string]string{"preferred_username": "Ada", "phone_number": "+15555550100", "phone_number_verified": "true"}))
		mustCreate(t, s, withAttrs("dup", "dup@example.com", map[string]string{"preferred_username": "ADA", "phone_number": "+15555550100", "phone_number_verified": "true"}))
		mustCreate(t, s, withAttrs("bob", "bob@example.com", map[string]string{"preferred_username": "bob"}))
		if got := aliasOf(t, s, store.AliasUsername, "bob"); got != "" {
			t.Fatalf("a kind not kept found %q", got)
		}
		skipped := keep(t, s, both...)
		slices.Sort(skipped)
		if !slices.Equal(skipped, []string{"dup", "dup"}) {
			t.Fatalf("skipped = %v, want dup for both kinds (the older user keeps them)", skipped)
		}
		if a, b, c := aliasOf(t, s, store.AliasUsername, "ada"), aliasOf(t, s, store.AliasUsername, "bob"), aliasOf(t, s, store.AliasPhone, "+15555550100"); a != "old" || b != "bob" || c != "old" {
			t.Fatalf("backfilled: ada=%q bob=%q phone=%q", a, b, c)
		}
		if again := keep(t, s, both...); len(again) != 0 {
			t.Fatalf("a second KeepAliases redid the backfill: %v", again)
		}
		// Off finds nobody by the kind; on again fills in what was
		// written meanwhile, the older holder keeping a contested name.
		keep(t, s, store.AliasPhone)
		if got := aliasOf(t, s, store.AliasUsername, "bob"); got != "" {
			t.Fatalf("username off still finds %q", got)
		}
		mustCreate(t, s, withAttrs("bob2", "bob2@example.com", map[string]string{"preferred_username": "BOB"}))
		keep(t, s, both...)
		if got := aliasOf(t, s, store.AliasUsername, "bob"); got != "bob" {
			t.Fatalf("refilled bob = %q", got)
		}
		if _, err := s.KeepAliases(ctx, []string{"email"}); err == nil {
			t.Fatal("an unknown kind was accepted")
		}
	})

	t.Run("ImportLeavesTakenAliases", func(t *testing.T) {
		s := open(t)
		keep(t, s, both...)
		mustCreate(t, s, withAttrs("u1", "u1@example.com", map[string]string{"preferred_username": "ada"}))
		created, err := s.ImportUsers(ctx, []store.ImportedUser{
			{User: withAttrs("i1", "i1@example.com", map[string]string{"preferred_username": "Ada"})},
			{User: withAttrs("i2", "i2@example.com", map[string]string{"preferred_username": "grace", "phone_number": "+15555550100", "phone_number_verified": "true"})},
			{User: withAttrs("i3", "i3@example.com", map[string]string{"preferred_username": "GRACE"})},
		})
		if err != nil || len(created) != 3 {
			t.Fatalf("import: %v %v", created, err)
		}
		if a, g, p := aliasOf(t, s, store.AliasUsername, "ada"), aliasOf(t, s, store.AliasUsername, "grace"), aliasOf(t, s, store.AliasPhone, "+15555550100"); a != "u1" || g != "i2" || p != "i2" {
			t.Fatalf("after import: ada=%q grace=%q phone=%q", a, g, p)
		}
	})
}
