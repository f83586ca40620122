package filter_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gatehouse-auth/gatehouse/cognito/filter"
	"github.com/gatehouse-auth/gatehouse/cognito/usertype"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/store/sqlite"
)

// TestListUsersThroughThePool drives the whole way a ListUsers call takes:
// the filter parsed, the pool's pages, the store's query, the users
// written as Cognito's UserType. The usernames ListUsers writes are the
// usernames its filter finds.
func TestListUsersThroughThePool(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	p, err := pool.New(ctx, st, pool.Config{Name: "test", Hash: pool.HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1}})
	if err != nil {
		t.Fatal(err)
	}
	ada, err := p.CreateUser(ctx, pool.NewUser{Email: "Ada@Example.com", Password: "correct horse battery staple",
		Name: "Ada Lovelace", Attributes: map[string]string{"given_name": "Ada"}})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := p.CreateUser(ctx, pool.NewUser{Email: "bob@example.com", Password: "correct horse battery staple", Name: "Bob"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetEnabled(ctx, bob.ID, false); err != nil {
		t.Fatal(err)
	}
	fed := &store.User{ID: "3d4c0000-0000-4000-8000-00000000fed1", Email: "grace@navy.example", EmailVerified: true,
		Status: store.StatusExternalProvider, Enabled: true}
	if err := st.CreateUserWithIdentity(ctx, fed, store.Identity{Provider: "Google", ProviderType: "Google",
		Subject: "1098", Primary: true}); err != nil {
		t.Fatal(err)
	}

	list := func(expr string) []string {
		t.Helper()
		f, err := filter.Parse(expr)
		if err != nil {
			t.Fatalf("Parse(%q): %v", expr, err)
		}
		us, next, err := p.ListUsersFiltered(ctx, f, 0, "")
		if err != nil || next != "" {
			t.Fatalf("ListUsersFiltered(%q) = %d users, %q, %v", expr, len(us), next, err)
		}
		var names []string
		for _, u := range usertype.FromUsers(us, nil) {
			names = append(names, u.Username)
		}
		return names
	}
	for _, u := range []*store.User{ada, bob, fed} {
		u, err := p.User(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		name := usertype.Username(u)
		if got := list(`username = "` + name + `"`); !slices.Equal(got, []string{name}) {
			t.Errorf("username = %q found %q", name, got)
		}
	}
	if got := list(`username = "Google_1098"`); !slices.Equal(got, []string{"Google_1098"}) {
		t.Errorf("federated username found %q", got)
	}
	for expr, want := range map[string][]string{
		`email = "ADA@example.COM"`:         {ada.ID},
		`email ^= "B"`:                      {bob.ID},
		`given_name ^= "Ad"`:                {ada.ID},
		`status = "Disabled"`:               {bob.ID},
		`status = "Enabled"`:                {ada.ID, "Google_1098"},
		`status = "enabled"`:                nil,
		`cognito:user_status = "confirmed"`: {ada.ID, bob.ID},
		`cognito:user_status ^= "EXTERNAL"`: {"Google_1098"},
		`sub = "` + fed.ID + `"`:            {"Google_1098"},
		`name = "Bob"`:                      {bob.ID},
		``:                                  {ada.ID, bob.ID, "Google_1098"},
	} {
		if got := list(expr); !slices.Equal(got, want) {
			t.Errorf("%s found %q, want %q", expr, got, want)
		}
	}
}
