package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/gatehouse-auth/gatehouse/store"
)

// importedUser is a user with a group, an identity and a factor, dated.
func importedUser(id, email string) store.ImportedUser {
	u := newUser(id, email)
	u.Groups = []string{"imported", "g-" + id}
	u.Identities = []store.Identity{newIdentity(id, "github", "gh-"+id)}
	u.CreatedAt, u.UpdatedAt = base, base.Add(1e6)
	u.Identities[0].CreatedAt = base
	return store.ImportedUser{User: u, Factors: []store.MFAFactor{newFactor("f-"+id, id)}}
}

func testImport(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()

	t.Run("WritesEverything", func(t *testing.T) {
		s := open(t)
		var batch []store.ImportedUser
		// More than one multi-row INSERT's worth (200), few enough to
		// stay well inside the store's timeout under -race.
		for i := range 210 {
			batch = append(batch, importedUser(fmt.Sprintf("u%03d", i), fmt.Sprintf("u%03d@example.com", i)))
		}
		created, err := s.ImportUsers(ctx, batch)
		if err != nil {
			t.Fatalf("ImportUsers: %v", err)
		}
		if len(created) != len(batch) || created[0] != "u000" || created[209] != "u209" {
			t.Fatalf("created %d ids (%v...), want 210 in order", len(created), created[:min(3, len(created))])
		}
		for _, i := range []int{0, 199, 200, 209} {
			want := batch[i]
			got := mustUser(t, s, want.User.ID)
			sameUser(t, got, want.User)
			sameGroups(t, got.Groups, []string{"g-" + want.User.ID, "imported"})
			if !got.CreatedAt.Equal(base) || !got.UpdatedAt.Equal(base.Add(1e6)) {
				t.Errorf("%s dates = %v, %v; want the imported ones", got.ID, got.CreatedAt, got.UpdatedAt)
			}
			sameIdentityKeys(t, "identities", got.Identities, "github/gh-"+want.User.ID)
			fs := mustFactors(t, s, want.User.ID)
			if len(fs) != 1 || fs[0].ID != "f-"+want.User.ID || string(fs[0].Secret) != "secret of f-"+want.User.ID || !fs[0].CreatedAt.Equal(base) {
				t.Errorf("%s factors = %+v", got.ID, fs)
			}
		}
		if u, err := s.UserByIdentity(ctx, "github", "gh-u150"); err != nil || u.ID != "u150" {
			t.Errorf("UserByIdentity = %v, %v", u, err)
		}
		members, err := s.ListUsersInGroup(ctx, "imported", store.Page{Limit: 1000})
		if err != nil || len(members) != 210 {
			t.Errorf("members of imported = %d, %v; want 210", len(members), err)
		}
	})

	t.Run("ExistingIDSkipped", func(t *testing.T) {
		s := open(t)
		mustCreate(t, s, newUser("old", "old@example.com"))
		again := importedUser("old", "other@example.com")
		fresh := importedUser("new", "new@example.com")
		created, err := s.ImportUsers(ctx, []store.ImportedUser{again, fresh})
		if err != nil || !slices.Equal(created, []string{"new"}) {
			t.Fatalf("ImportUsers = %v, %v; want [new]", created, err)
		}
		if got := mustUser(t, s, "old"); got.Email != "old@example.com" || len(got.Groups) != 0 || len(got.Identities) != 0 {
			t.Errorf("existing user changed: %+v", got)
		}
		// The same call again writes nothing.
		created, err = s.ImportUsers(ctx, []store.ImportedUser{again, fresh})
		if err != nil || len(created) != 0 {
			t.Errorf("second ImportUsers = %v, %v; want nothing created", created, err)
		}
	})

	t.Run("ConflictWritesNothing", func(t *testing.T) {
		s := open(t)
		mustCreate(t, s, newUser("old", "taken@example.com"))
		mustLink(t, s, newIdentity("old", "github", "gh-taken"))
		byEmail := importedUser("b", "taken@example.com")
		byIdentity := importedUser("c", "c@example.com")
		byIdentity.User.Identities[0].Subject = "gh-taken"
		for _, c := range []struct {
			name  string
			users []store.ImportedUser
			index int
			what  string
		}{
			{"email of the store", []store.ImportedUser{importedUser("a", "a@example.com"), byEmail}, 1, "email"},
			{"identity of the store", []store.ImportedUser{importedUser("a", "a@example.com"), byIdentity}, 1, "identity github"},
			{"email twice in the call", []store.ImportedUser{importedUser("a", "a@example.com"), importedUser("a2", "a@example.com")}, 1, "email"},
		} {
			_, err := s.ImportUsers(ctx, c.users)
			var ce *store.ImportConflictError
			if !errors.As(err, &ce) || ce.Index != c.index || ce.What != c.what || !errors.Is(err, store.ErrConflict) {
				t.Errorf("%s: err = %v, want conflict of user %d (%s)", c.name, err, c.index, c.what)
			}
			if _, err := s.UserByID(ctx, "a"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s: user a written although the call failed (%v)", c.name, err)
			}
		}
		if _, err := s.GroupByName(ctx, "imported"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("group of a failed import made: %v", err)
		}
	})

	t.Run("InvalidInput", func(t *testing.T) {
		s := open(t)
		noEmail := importedUser("a", "")
		noSubject := importedUser("b", "b@example.com")
		noSubject.User.Identities[0].Subject = ""
		tooMany := make([]store.ImportedUser, store.MaxImportBatch+1)
		for i := range tooMany {
			tooMany[i] = importedUser(fmt.Sprint(i), fmt.Sprint(i, "@example.com"))
		}
		for name, users := range map[string][]store.ImportedUser{
			"no email":     {noEmail},
			"no subject":   {noSubject},
			"nil user":     {{}},
			"id twice":     {importedUser("x", "x1@example.com"), importedUser("x", "x2@example.com")},
			"over a batch": tooMany,
		} {
			if created, err := s.ImportUsers(ctx, users); err == nil {
				t.Errorf("%s: ImportUsers = %v, want an error", name, created)
			}
		}
		if us, _ := s.ListUsers(ctx, store.ListOptions{}); len(us) != 0 {
			t.Errorf("%d users written by refused imports", len(us))
		}
	})
}
