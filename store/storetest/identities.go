package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/gatehouse-auth/gatehouse/store"
)

func newIdentity(userID, provider, subject string) store.Identity {
	return store.Identity{UserID: userID, Provider: provider, ProviderType: "OIDC",
		Issuer: "https://" + provider + ".example", Subject: subject}
}

func mustLink(t *testing.T, s store.Store, id store.Identity) {
	t.Helper()
	if err := s.LinkIdentity(context.Background(), id); err != nil {
		t.Fatalf("LinkIdentity(%s, %s/%s): %v", id.UserID, id.Provider, id.Subject, err)
	}
}

func mustIdentities(t *testing.T, s store.Store, userID string) []store.Identity {
	t.Helper()
	ids, err := s.Identities(context.Background(), userID)
	if err != nil {
		t.Fatalf("Identities(%s): %v", userID, err)
	}
	if ids == nil {
		t.Fatalf("Identities(%s) is nil, want a non-nil slice", userID)
	}
	return ids
}

// identityKeys names identities as provider/subject (primary marked), in
// their order, for comparisons that print well.
func identityKeys(ids []store.Identity) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.Provider + "/" + id.Subject
		if id.Primary {
			out[i] += "*"
		}
	}
	return out
}

func sameIdentityKeys(t *testing.T, what string, got []store.Identity, want ...string) {
	t.Helper()
	if fmt.Sprint(identityKeys(got)) != fmt.Sprint(want) {
		t.Errorf("%s identities = %v, want %v", what, identityKeys(got), want)
	}
}

// noIdentityUser: nobody is linked to provider/subject.
func noIdentityUser(t *testing.T, s store.Store, provider, subject string) {
	t.Helper()
	if u, err := s.UserByIdentity(context.Background(), provider, subject); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UserByIdentity(%s, %s) = %v, %v; want ErrNotFound", provider, subject, u, err)
	}
}

func testIdentities(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()

	t.Run("CreateWithIdentity", func(t *testing.T) {
		s := open(t)
		u := newUser("u1", "ada@example.com")
		u.PasswordHash, u.Status = "", store.StatusExternalProvider
		id := newIdentity("", "google", "1234567890")
		id.Primary = true
		clk := startClock()
		if err := s.CreateUserWithIdentity(ctx, u, id); err != nil {
			t.Fatal(err)
		}
		clk.stop()
		clk.check(t, "user CreatedAt", u.CreatedAt)
		for what, read := range map[string]func() (*store.User, error){
			"UserByID":       func() (*store.User, error) { return s.UserByID(ctx, "u1") },
			"UserByEmail":    func() (*store.User, error) { return s.UserByEmail(ctx, "ada@example.com") },
			"UserByIdentity": func() (*store.User, error) { return s.UserByIdentity(ctx, "google", "1234567890") },
		} {
			got, err := read()
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			sameUser(t, got, u)
			sameIdentityKeys(t, what, got.Identities, "google/1234567890*")
			if len(got.Identities) == 1 {
				g := got.Identities[0]
				if g.UserID != "u1" || g.ProviderType != "OIDC" || g.Issuer != "https://google.example" {
					t.Errorf("%s identity = %+v", what, g)
				}
				clk.check(t, what+" identity CreatedAt", g.CreatedAt)
			}
		}
		ids := mustIdentities(t, s, "u1")
		sameIdentityKeys(t, "Identities", ids, "google/1234567890*")
		if len(ids) == 1 {
			if got, _ := s.UserByID(ctx, "u1"); got != nil && len(got.Identities) == 1 && !got.Identities[0].CreatedAt.Equal(ids[0].CreatedAt) {
				t.Errorf("CreatedAt read with the user %v, by Identities %v", got.Identities[0].CreatedAt, ids[0].CreatedAt)
			}
		}
		list, err := s.ListUsers(ctx, store.ListOptions{})
		if err != nil || len(list) != 1 {
			t.Fatalf("ListUsers = %v, %v", list, err)
		}
		sameIdentityKeys(t, "ListUsers", list[0].Identities, "google/1234567890*")
	})

	t.Run("UserWithoutIdentities", func(t *testing.T) {
		s := open(t)
		mustCreate(t, s, newUser("u1", "ada@example.com"))
		got := mustUser(t, s, "u1")
		if got.Identities == nil || len(got.Identities) != 0 {
			t.Errorf("Identities of a native user = %#v, want empty and non-nil", got.Identities)
		}
		if ids := mustIdentities(t, s, "nobody"); len(ids) != 0 {
			t.Errorf("Identities of an unknown user = %v", ids)
		}
		noIdentityUser(t, s, "google", "u1")
	})

	t.Run("CreateIsAtomic", func(t *testing.T) {
		s := open(t)
		mustCreate(t, s, newUser("u1", "ada@example.com"))
		// The email is taken: no user and no identity.
		err := s.CreateUserWithIdentity(ctx, newUser("u2", "ada@example.com"), newIdentity("", "google", "g-ada"))
		wantErr(t, "email taken", err, store.ErrConflict)
		noIdentityUser(t, s, "google", "g-ada")
		// The id is taken.
		err = s.CreateUserWithIdentity(ctx, newUser("u1", "other@example.com"), newIdentity("", "google", "g-other"))
		wantErr(t, "id taken", err, store.ErrConflict)
		noIdentityUser(t, s, "google", "g-other")
		sameIdentityKeys(t, "u1", mustUser(t, s, "u1").Identities)
		// The identity is taken: no user.
		if err := s.CreateUserWithIdentity(ctx, newUser("u3", "bob@example.com"), newIdentity("", "google", "g-bob")); err != nil {
			t.Fatal(err)
		}
		err = s.CreateUserWithIdentity(ctx, newUser("u4", "eve@example.com"), newIdentity("", "google", "g-bob"))
		wantErr(t, "identity taken", err, store.ErrConflict)
		if _, err := s.UserByEmail(ctx, "eve@example.com"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the user of a refused identity was kept: %v", err)
		}
		if u, err := s.UserByIdentity(ctx, "google", "g-bob"); err != nil || u.ID != "u3" {
			t.Errorf("UserByIdentity(g-bob) = %v, %v; want u3", u, err)
		}
		// After the refusals, the free identity is still free.
		if err := s.CreateUserWithIdentity(ctx, newUser("u5", "ada2@example.com"), newIdentity("", "google", "g-ada")); err != nil {
			t.Errorf("the identity a refused create named: %v", err)
		}
	})

	t.Run("Link", func(t *testing.T) {
		s := open(t)
		mustCreate(t, s, newUser("u1", "ada@example.com"))
		mustCreate(t, s, newUser("u2", "bob@example.com"))
		mustLink(t, s, newIdentity("u1", "google", "same"))
		mustLink(t, s, newIdentity("u1", "github", "42"))
		// The same subject at another provider is another identity.
		mustLink(t, s, newIdentity("u2", "github", "same"))

		wantErr(t, "subject linked to another user",
			s.LinkIdentity(ctx, newIdentity("u2", "google", "same")), store.ErrConflict)
		wantErr(t, "subject linked to the same user again",
			s.LinkIdentity(ctx, newIdentity("u1", "google", "same")), store.ErrConflict)
		wantErr(t, "second identity of one provider",
			s.LinkIdentity(ctx, newIdentity("u1", "google", "other")), store.ErrConflict)
		wantErr(t, "unknown user", s.LinkIdentity(ctx, newIdentity("nobody", "corp", "x")), store.ErrNotFound)
		noIdentityUser(t, s, "corp", "x")
		noIdentityUser(t, s, "google", "other")

		sameIdentityKeys(t, "u1", mustIdentities(t, s, "u1"), "google/same", "github/42")
		sameIdentityKeys(t, "u1 read", mustUser(t, s, "u1").Identities, "google/same", "github/42")
		sameIdentityKeys(t, "u2", mustIdentities(t, s, "u2"), "github/same")
		if u, err := s.UserByIdentity(ctx, "github", "same"); err != nil || u.ID != "u2" {
			t.Errorf("UserByIdentity(github, same) = %v, %v; want u2", u, err)
		}
		if u, err := s.UserByIdentity(ctx, "google", "same"); err != nil || u.ID != "u1" {
			t.Errorf("UserByIdentity(google, same) = %v, %v; want u1", u, err)
		}
		noIdentityUser(t, s, "GOOGLE", "same") // names are compared exactly
	})

	t.Run("Unlink", func(t *testing.T) {
		s := open(t)
		u := newUser("u1", "ada@example.com")
		id := newIdentity("", "google", "g1")
		id.Primary = true
		if err := s.CreateUserWithIdentity(ctx, u, id); err != nil {
			t.Fatal(err)
		}
		mustLink(t, s, newIdentity("u1", "github", "42"))
		if err := s.UnlinkIdentity(ctx, "u1", "google"); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "unlink twice", s.UnlinkIdentity(ctx, "u1", "google"), store.ErrNotFound)
		wantErr(t, "unlink unknown provider", s.UnlinkIdentity(ctx, "u1", "corp"), store.ErrNotFound)
		wantErr(t, "unlink of an unknown user", s.UnlinkIdentity(ctx, "nobody", "github"), store.ErrNotFound)
		noIdentityUser(t, s, "google", "g1")
		sameIdentityKeys(t, "u1", mustUser(t, s, "u1").Identities, "github/42")
		// The subject is free again, for anyone.
		mustCreate(t, s, newUser("u2", "bob@example.com"))
		mustLink(t, s, newIdentity("u2", "google", "g1"))
		if u, err := s.UserByIdentity(ctx, "google", "g1"); err != nil || u.ID != "u2" {
			t.Errorf("UserByIdentity after relinking = %v, %v; want u2", u, err)
		}
	})

	t.Run("DeleteUserRemovesIdentities", func(t *testing.T) {
		s := open(t)
		if err := s.CreateUserWithIdentity(ctx, newUser("u1", "ada@example.com"), newIdentity("", "google", "g1")); err != nil {
			t.Fatal(err)
		}
		mustLink(t, s, newIdentity("u1", "github", "42"))
		if err := s.DeleteUser(ctx, "u1"); err != nil {
			t.Fatal(err)
		}
		noIdentityUser(t, s, "google", "g1")
		noIdentityUser(t, s, "github", "42")
		if ids := mustIdentities(t, s, "u1"); len(ids) != 0 {
			t.Errorf("identities of a deleted user = %v", identityKeys(ids))
		}
		// A new user of the same id starts with none, and the subjects are
		// free.
		mustCreate(t, s, newUser("u1", "ada@example.com"))
		sameIdentityKeys(t, "new u1", mustUser(t, s, "u1").Identities)
		if err := s.CreateUserWithIdentity(ctx, newUser("u2", "bob@example.com"), newIdentity("", "google", "g1")); err != nil {
			t.Errorf("an identity of a deleted user: %v", err)
		}
	})

	t.Run("InvalidInput", func(t *testing.T) {
		s := open(t)
		mustCreate(t, s, newUser("u1", "ada@example.com"))
		for name, id := range map[string]store.Identity{
			"no provider": newIdentity("u1", "", "s"),
			"no subject":  newIdentity("u1", "google", ""),
			"no user":     newIdentity("", "google", "s"),
		} {
			if err := s.LinkIdentity(ctx, id); err == nil || errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
				t.Errorf("LinkIdentity, %s: %v, want a validation error", name, err)
			}
		}
		if err := s.CreateUserWithIdentity(ctx, newUser("u2", "bob@example.com"), newIdentity("u9", "google", "s")); err == nil {
			t.Error("CreateUserWithIdentity with an identity of another user succeeded")
		}
		if err := s.CreateUserWithIdentity(ctx, newUser("u2", "bob@example.com"), newIdentity("", "google", "")); err == nil {
			t.Error("CreateUserWithIdentity without a subject succeeded")
		}
		if _, err := s.UserByEmail(ctx, "bob@example.com"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a refused CreateUserWithIdentity stored its user: %v", err)
		}
	})

	t.Run("ConcurrentCreateOneIdentity", func(t *testing.T) {
		s := open(t)
		const n = 8
		errs := raceN(n, func(i int) error {
			return s.CreateUserWithIdentity(ctx, newUser(fmt.Sprintf("u%d", i), fmt.Sprintf("user%d@example.com", i)),
				newIdentity("", "google", "the-one"))
		})
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Errorf("both u%d and u%d got the identity", winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, store.ErrConflict):
				t.Errorf("u%d: %v, want ErrConflict", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("no create succeeded")
		}
		u, err := s.UserByIdentity(ctx, "google", "the-one")
		if err != nil || u.ID != fmt.Sprintf("u%d", winner) {
			t.Errorf("UserByIdentity = %v, %v; want u%d", u, err, winner)
		}
		list, err := s.ListUsers(ctx, store.ListOptions{})
		if err != nil || len(list) != 1 {
			t.Errorf("%d users stored (%v), want 1: the losers' users must not stay", len(list), err)
		}
	})
}
