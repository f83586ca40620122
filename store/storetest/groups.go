package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/store/migration"
	"github.com/gatehouse-auth/gatehouse/store/sqlstore"
)

func intp(n int) *int       { return &n }
func strp(s string) *string { return &s }

func mustGroup(t *testing.T, s store.Store, name string) *store.Group {
	t.Helper()
	g, err := s.GroupByName(context.Background(), name)
	if err != nil {
		t.Fatalf("GroupByName(%s): %v", name, err)
	}
	return g
}

func mustCreateGroup(t *testing.T, s store.Store, name string, prec *int) {
	t.Helper()
	if err := s.CreateGroup(context.Background(), &store.Group{Name: name, Precedence: prec}); err != nil {
		t.Fatalf("CreateGroup(%s): %v", name, err)
	}
}

func mustAdd(t *testing.T, s store.Store, userID string, groups ...string) {
	t.Helper()
	for _, g := range groups {
		if err := s.AddToGroup(context.Background(), userID, g); err != nil {
			t.Fatalf("AddToGroup(%s, %s): %v", userID, g, err)
		}
	}
}

func groupNames(gs []store.Group) []string {
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = g.Name
	}
	return out
}

func userIDs(us []*store.User) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.ID
	}
	return out
}

func sameList(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func precString(p *int) string {
	if p == nil {
		return "none"
	}
	return fmt.Sprint(*p)
}

func testGroupRecords(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	t.Run("CreateReadUpdate", func(t *testing.T) {
		s := open(t)
		clock := startClock()
		g := &store.Group{Name: "admins", Description: "The admins, «all» of them", Precedence: intp(3)}
		if err := s.CreateGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
		clock.stop()
		clock.check(t, "CreatedAt", g.CreatedAt)
		if !g.UpdatedAt.Equal(g.CreatedAt) {
			t.Errorf("UpdatedAt %v, CreatedAt %v: want equal", g.UpdatedAt, g.CreatedAt)
		}
		got := mustGroup(t, s, "admins")
		if got.Name != "admins" || got.Description != g.Description || precString(got.Precedence) != "3" ||
			!got.CreatedAt.Equal(g.CreatedAt) || !got.UpdatedAt.Equal(g.UpdatedAt) {
			t.Errorf("GroupByName = %+v, want %+v", got, g)
		}
		wantErr(t, "CreateGroup taken name", s.CreateGroup(ctx, &store.Group{Name: "admins"}), store.ErrConflict)
		if _, err := s.GroupByName(ctx, "Admins"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GroupByName(Admins) err = %v, want ErrNotFound (names are case-sensitive)", err)
		}

		clock = startClock()
		if err := s.UpdateGroup(ctx, "admins", store.GroupUpdate{Precedence: intp(0)}); err != nil {
			t.Fatal(err)
		}
		clock.stop()
		got = mustGroup(t, s, "admins")
		if got.Description != g.Description || precString(got.Precedence) != "0" || !got.CreatedAt.Equal(g.CreatedAt) {
			t.Errorf("after a precedence update: %+v", got)
		}
		clock.check(t, "UpdatedAt", got.UpdatedAt)
		if err := s.UpdateGroup(ctx, "admins", store.GroupUpdate{Description: strp("")}); err != nil {
			t.Fatal(err)
		}
		if got = mustGroup(t, s, "admins"); got.Description != "" || precString(got.Precedence) != "0" {
			t.Errorf("after a description update: %+v", got)
		}
		wantErr(t, "UpdateGroup unknown", s.UpdateGroup(ctx, "nope", store.GroupUpdate{Description: strp("x")}), store.ErrNotFound)

		mustCreateGroup(t, s, "plain", nil)
		if got = mustGroup(t, s, "plain"); got.Precedence != nil || got.Description != "" {
			t.Errorf("group without precedence: %+v", got)
		}
	})

	t.Run("AddToGroupCreatesTheGroup", func(t *testing.T) {
		s := open(t)
		mustCreate(t, s, newUser("u1", "a@x.io"))
		mustAdd(t, s, "u1", "readers")
		g := mustGroup(t, s, "readers")
		if g.Description != "" || g.Precedence != nil || g.CreatedAt.IsZero() {
			t.Errorf("group made by AddToGroup: %+v", g)
		}
		wantErr(t, "CreateGroup of a group made by use", s.CreateGroup(ctx, &store.Group{Name: "readers"}), store.ErrConflict)
		// Adding to an existing group keeps its fields.
		if err := s.UpdateGroup(ctx, "readers", store.GroupUpdate{Description: strp("d"), Precedence: intp(7)}); err != nil {
			t.Fatal(err)
		}
		mustCreate(t, s, newUser("u2", "b@x.io"))
		mustAdd(t, s, "u2", "readers")
		if g := mustGroup(t, s, "readers"); g.Description != "d" || precString(g.Precedence) != "7" {
			t.Errorf("AddToGroup changed the group: %+v", g)
		}
		// A membership removed, or its user deleted, leaves the group.
		if err := s.RemoveFromGroup(ctx, "u1", "readers"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteUser(ctx, "u2"); err != nil {
			t.Fatal(err)
		}
		mustGroup(t, s, "readers")
		// AddToGroup for an unknown user makes no group.
		wantErr(t, "AddToGroup unknown user", s.AddToGroup(ctx, "nope", "ghosts"), store.ErrNotFound)
		if _, err := s.GroupByName(ctx, "ghosts"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GroupByName(ghosts) err = %v, want ErrNotFound", err)
		}
	})

	t.Run("DeleteGroupTakesMemberships", func(t *testing.T) {
		s := open(t)
		mustCreate(t, s, newUser("u1", "a@x.io"))
		mustCreate(t, s, newUser("u2", "b@x.io"))
		mustAdd(t, s, "u1", "admins", "ops")
		mustAdd(t, s, "u2", "admins")
		if err := s.DeleteGroup(ctx, "admins"); err != nil {
			t.Fatal(err)
		}
		sameGroups(t, mustUser(t, s, "u1").Groups, []string{"ops"})
		sameGroups(t, mustUser(t, s, "u2").Groups, nil)
		wantErr(t, "DeleteGroup again", s.DeleteGroup(ctx, "admins"), store.ErrNotFound)
		wantErr(t, "ListUsersInGroup deleted", func() error {
			_, err := s.ListUsersInGroup(ctx, "admins", store.Page{})
			return err
		}(), store.ErrNotFound)
		// The name is free again, with no members.
		mustCreateGroup(t, s, "admins", nil)
		us, err := s.ListUsersInGroup(ctx, "admins", store.Page{})
		if err != nil || len(us) != 0 {
			t.Errorf("ListUsersInGroup of the new admins = %v, %v; want none", userIDs(us), err)
		}
	})

	t.Run("UserGroupsInPrecedenceOrder", func(t *testing.T) {
		s := open(t)
		mustCreate(t, s, newUser("u1", "a@x.io"))
		mustCreateGroup(t, s, "zeta", intp(0))
		mustCreateGroup(t, s, "beta", intp(10))
		mustCreateGroup(t, s, "alpha", intp(10))
		mustCreateGroup(t, s, "gamma", intp(2))
		mustAdd(t, s, "u1", "omega", "beta", "alpha", "gamma", "zeta", "delta")
		want := []string{"zeta", "gamma", "alpha", "beta", "delta", "omega"}
		sameGroups(t, mustUser(t, s, "u1").Groups, want)
		byEmail, err := s.UserByEmail(ctx, "a@x.io")
		if err != nil {
			t.Fatal(err)
		}
		sameGroups(t, byEmail.Groups, want)
		list, err := s.ListUsers(ctx, store.ListOptions{})
		if err != nil || len(list) != 1 {
			t.Fatalf("ListUsers = %d users, %v", len(list), err)
		}
		sameGroups(t, list[0].Groups, want)
		// A precedence change reorders at once.
		if err := s.UpdateGroup(ctx, "omega", store.GroupUpdate{Precedence: intp(1)}); err != nil {
			t.Fatal(err)
		}
		sameGroups(t, mustUser(t, s, "u1").Groups, []string{"zeta", "omega", "gamma", "alpha", "beta", "delta"})
	})

	t.Run("ConcurrentAddAndDelete", func(t *testing.T) {
		s := open(t)
		const n = 8
		for i := range n {
			mustCreate(t, s, newUser(fmt.Sprint("u", i), fmt.Sprintf("u%d@x.io", i)))
		}
		var wg sync.WaitGroup
		errs := make(chan error, 4*n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 4 {
					errs <- s.AddToGroup(ctx, fmt.Sprint("u", i), "g")
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 4 {
				if err := s.DeleteGroup(ctx, "g"); err != nil && !errors.Is(err, store.ErrNotFound) {
					errs <- err
				}
			}
		}()
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("concurrent AddToGroup / DeleteGroup: %v", err)
			}
		}
		// Every membership left is of a group that exists.
		_, gerr := s.GroupByName(ctx, "g")
		for i := range n {
			u := mustUser(t, s, fmt.Sprint("u", i))
			if len(u.Groups) > 0 && gerr != nil {
				t.Errorf("user %s is in %q, but GroupByName(g): %v", u.ID, u.Groups, gerr)
			}
		}
		if gerr == nil {
			us, err := s.ListUsersInGroup(ctx, "g", store.Page{})
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range us {
				sameGroups(t, u.Groups, []string{"g"})
			}
		}
	})

	t.Run("ListGroupsPages", func(t *testing.T) {
		s := open(t)
		names := []string{"b", "a", "é", "Z", "a.b", "a-b"}
		for _, n := range names {
			mustCreateGroup(t, s, n, nil)
		}
		want := slices.Clone(names)
		slices.Sort(want) // byte order
		var got []string
		after := ""
		for range 10 {
			page, err := s.ListGroups(ctx, store.Page{After: after, Limit: 4})
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > 4 {
				t.Fatalf("page of %d, limit 4", len(page))
			}
			got = append(got, groupNames(page)...)
			if len(page) < 4 {
				break
			}
			after = page[len(page)-1].Name
		}
		sameList(t, "ListGroups pages", got, want)
		all, err := s.ListGroups(ctx, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		sameList(t, "ListGroups default page", groupNames(all), want)
		empty := open(t)
		none, err := empty.ListGroups(ctx, store.Page{})
		if err != nil || none == nil || len(none) != 0 {
			t.Errorf("ListGroups of an empty store = %v (nil %t), %v; want empty, non-nil", none, none == nil, err)
		}
	})

	t.Run("ListUsersInGroupPages", func(t *testing.T) {
		s := open(t)
		for i, e := range []string{"d@x.io", "a@x.io", "c@x.io", "b@x.io", "e@x.io"} {
			mustCreate(t, s, newUser(fmt.Sprint("u", i), e))
		}
		mustAdd(t, s, "u0", "g") // d
		mustAdd(t, s, "u1", "g") // a
		mustAdd(t, s, "u3", "g") // b
		mustAdd(t, s, "u4", "other")
		p1, err := s.ListUsersInGroup(ctx, "g", store.Page{Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		sameList(t, "first page", userIDs(p1), []string{"u1", "u3"})
		if len(p1) == 2 {
			sameGroups(t, p1[0].Groups, []string{"g"})
			p2, err := s.ListUsersInGroup(ctx, "g", store.Page{After: p1[1].Email, Limit: 2})
			if err != nil {
				t.Fatal(err)
			}
			sameList(t, "second page", userIDs(p2), []string{"u0"})
		}
		_, err = s.ListUsersInGroup(ctx, "nope", store.Page{})
		wantErr(t, "ListUsersInGroup unknown", err, store.ErrNotFound)
	})

	t.Run("GroupsOfUser", func(t *testing.T) {
		s := open(t)
		mustCreate(t, s, newUser("u1", "a@x.io"))
		mustCreate(t, s, newUser("u2", "b@x.io"))
		mustCreateGroup(t, s, "c", intp(1))
		mustAdd(t, s, "u1", "c", "a", "b")
		mustAdd(t, s, "u2", "z")
		p1, err := s.GroupsOfUser(ctx, "u1", store.Page{Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		sameList(t, "first page", groupNames(p1), []string{"a", "b"})
		p2, err := s.GroupsOfUser(ctx, "u1", store.Page{After: "b", Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		sameList(t, "second page", groupNames(p2), []string{"c"})
		if len(p2) == 1 && precString(p2[0].Precedence) != "1" {
			t.Errorf("group c precedence %s, want 1", precString(p2[0].Precedence))
		}
		mustCreate(t, s, newUser("u3", "c@x.io"))
		none, err := s.GroupsOfUser(ctx, "u3", store.Page{})
		if err != nil || none == nil || len(none) != 0 {
			t.Errorf("GroupsOfUser of a user in none = %v, %v; want empty, non-nil", none, err)
		}
		_, err = s.GroupsOfUser(ctx, "nope", store.Page{})
		wantErr(t, "GroupsOfUser unknown", err, store.ErrNotFound)
	})
}

func testSearchUsers(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	s := open(t)
	mk := func(id, email, name, status string, enabled bool, attrs map[string]string) {
		u := newUser(id, email)
		u.Name, u.Status, u.Enabled, u.Attributes = name, status, enabled, attrs
		mustCreate(t, s, u)
	}
	mk("u1", "ada@x.io", "Ada Lovelace", store.StatusConfirmed, true,
		map[string]string{"given_name": "Ada", "family_name": "Lovelace", "phone_number": "+441234"})
	mk("u2", "adam@x.io", "Adam", store.StatusUnconfirmed, true, map[string]string{"given_name": "Adam"})
	mk("u3", "bob@x.io", "bob", store.StatusConfirmed, false, map[string]string{"given_name": "ada"})
	mk("u4", "a%_b@x.io", "Ünal", store.StatusForceChangePassword, true,
		map[string]string{"given_name": "Ünal", "preferred_username": "a%_"})
	mk("u5", "zed@x.io", "", store.StatusConfirmed, true, map[string]string{})

	for _, tc := range []struct {
		name string
		f    *store.UserFilter
		want []string // ids in email order
	}{
		{"all", nil, []string{"u4", "u1", "u2", "u3", "u5"}},
		{"email exact", &store.UserFilter{Attribute: store.SearchEmail, Value: "ada@x.io"}, []string{"u1"}},
		{"email prefix", &store.UserFilter{Attribute: store.SearchEmail, Value: "ada", Prefix: true}, []string{"u1", "u2"}},
		{"email prefix case-sensitive", &store.UserFilter{Attribute: store.SearchEmail, Value: "ADA", Prefix: true}, nil},
		{"prefix wildcards are literal", &store.UserFilter{Attribute: store.SearchEmail, Value: "a%", Prefix: true}, []string{"u4"}},
		{"underscore is literal", &store.UserFilter{Attribute: store.SearchEmail, Value: "a_", Prefix: true}, nil},
		{"whole value as prefix", &store.UserFilter{Attribute: store.SearchEmail, Value: "bob@x.io", Prefix: true}, []string{"u3"}},
		{"longer than value", &store.UserFilter{Attribute: store.SearchEmail, Value: "bob@x.io.", Prefix: true}, nil},
		{"id exact", &store.UserFilter{Attribute: store.SearchID, Value: "u3"}, []string{"u3"}},
		{"id prefix", &store.UserFilter{Attribute: store.SearchID, Value: "u", Prefix: true}, []string{"u4", "u1", "u2", "u3", "u5"}},
		{"name exact", &store.UserFilter{Attribute: store.SearchName, Value: "Adam"}, []string{"u2"}},
		{"name prefix", &store.UserFilter{Attribute: store.SearchName, Value: "Ada", Prefix: true}, []string{"u1", "u2"}},
		{"name unicode prefix", &store.UserFilter{Attribute: store.SearchName, Value: "Ü", Prefix: true}, []string{"u4"}},
		{"empty name", &store.UserFilter{Attribute: store.SearchName, Value: ""}, []string{"u5"}},
		{"status", &store.UserFilter{Attribute: store.SearchStatus, Value: store.StatusConfirmed}, []string{"u1", "u3", "u5"}},
		{"status prefix", &store.UserFilter{Attribute: store.SearchStatus, Value: "FORCE", Prefix: true}, []string{"u4"}},
		{"enabled", &store.UserFilter{Attribute: store.SearchEnabled, Value: "true"}, []string{"u4", "u1", "u2", "u5"}},
		{"disabled", &store.UserFilter{Attribute: store.SearchEnabled, Value: "false"}, []string{"u3"}},
		{"attribute exact", &store.UserFilter{Attribute: store.AttributeSearch("given_name"), Value: "Ada"}, []string{"u1"}},
		{"attribute prefix", &store.UserFilter{Attribute: store.AttributeSearch("given_name"), Value: "Ada", Prefix: true}, []string{"u1", "u2"}},
		{"attribute unicode", &store.UserFilter{Attribute: store.AttributeSearch("given_name"), Value: "Üna", Prefix: true}, []string{"u4"}},
		{"attribute wildcard literal", &store.UserFilter{Attribute: store.AttributeSearch("preferred_username"), Value: "a%_"}, []string{"u4"}},
		{"attribute present", &store.UserFilter{Attribute: store.AttributeSearch("phone_number"), Value: "", Prefix: true}, []string{"u1"}},
		{"attribute absent never matches", &store.UserFilter{Attribute: store.AttributeSearch("nickname"), Value: ""}, nil},
		{"attribute with quote", &store.UserFilter{Attribute: store.AttributeSearch(`a"b`), Value: "x"}, nil},
		{"none", &store.UserFilter{Attribute: store.SearchNone, Value: "x", Prefix: true}, nil},
		{"injection is a value", &store.UserFilter{Attribute: store.SearchEmail, Value: "' OR 1=1 --"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.SearchUsers(ctx, tc.f, store.Page{})
			if err != nil {
				t.Fatal(err)
			}
			if got == nil {
				t.Error("SearchUsers gave nil, want a non-nil slice")
			}
			sameList(t, "ids", userIDs(got), tc.want)
		})
	}

	t.Run("username", func(t *testing.T) {
		s := open(t)
		mustCreate(t, s, newUser("native", "n@x.io"))
		// A federated user's username is the primary identity's, even if
		// a newer; without a primary, the oldest identity's.
		fed := newUser("fed", "f@x.io")
		fed.Status = store.StatusExternalProvider
		first := newIdentity("", "corp", "c-1")
		first.CreatedAt = base
		if err := s.CreateUserWithIdentity(ctx, fed, first); err != nil {
			t.Fatal(err)
		}
		second := newIdentity("fed", "Google", "g-9")
		second.CreatedAt, second.Primary = base.Add(time.Hour), true
		mustLink(t, s, second)
		plain := newUser("plain", "p@x.io")
		plain.Status = store.StatusExternalProvider
		older, newer := newIdentity("", "zeta", "z-1"), newIdentity("plain", "alpha", "a-1")
		older.CreatedAt, newer.CreatedAt = base, base.Add(time.Minute)
		if err := s.CreateUserWithIdentity(ctx, plain, older); err != nil {
			t.Fatal(err)
		}
		mustLink(t, s, newer)
		// A confirmed user with a linked identity keeps the id.
		linked := newUser("linked", "l@x.io")
		if err := s.CreateUserWithIdentity(ctx, linked, newIdentity("", "corp", "c-2")); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			value  string
			prefix bool
			want   []string
		}{
			{"native", false, []string{"native"}},
			{"Google_g-9", false, []string{"fed"}},
			{"corp_c-1", false, nil},
			{"fed", false, nil},
			{"zeta_z-1", false, []string{"plain"}},
			{"alpha_a-1", false, nil},
			{"linked", false, []string{"linked"}},
			{"corp_c-2", false, nil},
			{"Goo", true, []string{"fed"}},
			{"", true, []string{"fed", "linked", "native", "plain"}},
		} {
			got, err := s.SearchUsers(ctx, &store.UserFilter{Attribute: store.SearchUsername, Value: tc.value, Prefix: tc.prefix}, store.Page{})
			if err != nil {
				t.Fatal(err)
			}
			sameList(t, fmt.Sprintf("username %q (prefix %t)", tc.value, tc.prefix), userIDs(got), tc.want)
		}
	})

	t.Run("pages", func(t *testing.T) {
		f := &store.UserFilter{Attribute: store.SearchEmail, Value: "", Prefix: true}
		var got []string
		after := ""
		for range 10 {
			page, err := s.SearchUsers(ctx, f, store.Page{After: after, Limit: 2})
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, userIDs(page)...)
			if len(page) < 2 {
				break
			}
			after = page[len(page)-1].Email
		}
		sameList(t, "paged ids", got, []string{"u4", "u1", "u2", "u3", "u5"})
	})

	t.Run("refused", func(t *testing.T) {
		for _, f := range []store.UserFilter{
			{Attribute: "password_hash", Value: "x"},
			{Attribute: "attributes", Value: "x"},
			{Attribute: "attr:", Value: "x"},
			{Attribute: "", Value: "x"},
			{Attribute: store.SearchEnabled, Value: "yes"},
			{Attribute: store.SearchEnabled, Value: "t", Prefix: true},
			{Attribute: store.SearchEmail, Value: "\xff"},
		} {
			if got, err := s.SearchUsers(ctx, &f, store.Page{}); err == nil {
				t.Errorf("SearchUsers(%+v) = %v, want an error", f, userIDs(got))
			} else if errors.Is(err, store.ErrNotFound) {
				t.Errorf("SearchUsers(%+v) err = %v, want a plain validation error", f, err)
			}
		}
	})
}

// testGroupsBackfill migrates a database to the schema before groups had
// records, plants memberships as that schema kept them, and checks that
// the rest of the migrations turn each group named by a membership into a
// group record, which deleting then takes its memberships with it.
func testGroupsBackfill(t *testing.T, b Backend) {
	ctx := context.Background()
	where := b.Fresh(t)
	db := b.db(t, where)
	all := b.migrations(t)
	cut := slices.IndexFunc(all, func(m migration.Step) bool { return strings.HasSuffix(m.Name, "_groups.sql") })
	if cut < 0 {
		t.Fatal("no *_groups.sql migration")
	}
	if err := sqlstore.Migrate(ctx, db, b.Dialect, all[:cut]); err != nil {
		t.Fatal(err)
	}
	old := sqlstore.New(db, b.Dialect)
	for _, u := range []*store.User{newUser("u1", "a@x.io"), newUser("u2", "b@x.io")} {
		if err := old.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range [][2]string{{"u1", "admins"}, {"u2", "admins"}, {"u1", "ops"}} {
		if _, err := db.Exec(b.Dialect.Rebind(`INSERT INTO user_groups (user_id, group_name) VALUES (?, ?)`), m[0], m[1]); err != nil {
			t.Fatal(err)
		}
	}
	s := b.open(t, where)
	gs, err := s.ListGroups(ctx, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	sameList(t, "backfilled groups", groupNames(gs), []string{"admins", "ops"})
	for _, g := range gs {
		if g.Description != "" || g.Precedence != nil || g.CreatedAt.IsZero() || g.UpdatedAt.IsZero() {
			t.Errorf("backfilled group %+v", g)
		}
	}
	sameGroups(t, mustUser(t, s, "u1").Groups, []string{"admins", "ops"})
	if err := s.DeleteGroup(ctx, "admins"); err != nil {
		t.Fatal(err)
	}
	sameGroups(t, mustUser(t, s, "u1").Groups, []string{"ops"})
	sameGroups(t, mustUser(t, s, "u2").Groups, nil)
}

// testGroupInvalidInput: input refused before the database, on every
// backend alike.
func testGroupInvalidInput(t *testing.T, b Backend) {
	ctx := context.Background()
	s := b.open(t, b.Fresh(t))
	mustCreateGroup(t, s, "g", nil)
	wantInvalid(t, []invalidCase{
		{"create without name", func() error { return s.CreateGroup(ctx, &store.Group{}) }},
		{"create negative precedence", func() error { return s.CreateGroup(ctx, &store.Group{Name: "n", Precedence: intp(-1)}) }},
		{"create huge precedence", func() error { return s.CreateGroup(ctx, &store.Group{Name: "n", Precedence: intp(1 << 31)}) }},
		{"create invalid UTF-8 name", func() error { return s.CreateGroup(ctx, &store.Group{Name: "\xff"}) }},
		{"create invalid UTF-8 description", func() error { return s.CreateGroup(ctx, &store.Group{Name: "n", Description: "\xff"}) }},
		{"update negative precedence", func() error { return s.UpdateGroup(ctx, "g", store.GroupUpdate{Precedence: intp(-1)}) }},
		{"update invalid UTF-8", func() error { return s.UpdateGroup(ctx, "g", store.GroupUpdate{Description: strp("\xff")}) }},
	})
	if _, err := s.GroupByName(ctx, "n"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused group was stored: %v", err)
	}
}
