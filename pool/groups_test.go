package pool

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/store"
)

func intPtr(n int) *int       { return &n }
func strPtr(s string) *string { return &s }

func TestGroupRecords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newTestPool(t)

	g, err := p.CreateGroup(ctx, NewGroup{Name: "admins", Description: "Admins", Precedence: intPtr(1)})
	if err != nil {
		t.Fatal(err)
	}
	if g.Name != "admins" || g.Description != "Admins" || *g.Precedence != 1 || g.CreatedAt.IsZero() {
		t.Errorf("CreateGroup = %+v", g)
	}
	if _, err := p.CreateGroup(ctx, NewGroup{Name: "admins"}); !errors.Is(err, ErrGroupExists) {
		t.Errorf("CreateGroup taken = %v, want ErrGroupExists", err)
	}
	if _, err := p.Group(ctx, "nope"); !errors.Is(err, ErrGroupNotFound) {
		t.Errorf("Group(nope) = %v, want ErrGroupNotFound", err)
	}
	got, err := p.UpdateGroup(ctx, "admins", store.GroupUpdate{Description: strPtr("All admins")})
	if err != nil || got.Description != "All admins" || *got.Precedence != 1 || got.UpdatedAt.Before(g.UpdatedAt) {
		t.Errorf("UpdateGroup = %+v, %v", got, err)
	}
	if _, err := p.UpdateGroup(ctx, "nope", store.GroupUpdate{Precedence: intPtr(2)}); !errors.Is(err, ErrGroupNotFound) {
		t.Errorf("UpdateGroup(nope) = %v, want ErrGroupNotFound", err)
	}
	if err := p.DeleteGroup(ctx, "nope"); !errors.Is(err, ErrGroupNotFound) {
		t.Errorf("DeleteGroup(nope) = %v, want ErrGroupNotFound", err)
	}

	for _, tc := range []struct {
		name string
		ng   NewGroup
		want error
	}{
		{"empty name", NewGroup{Name: ""}, ErrInvalidGroup},
		{"129 characters", NewGroup{Name: strings.Repeat("g", 129)}, ErrInvalidGroup},
		{"space", NewGroup{Name: "my group"}, ErrInvalidGroup},
		{"comma", NewGroup{Name: "a,b"}, ErrInvalidGroup},
		{"description 2049", NewGroup{Name: "d", Description: strings.Repeat("é", 2049)}, ErrInvalidGroupDescription},
		{"description invalid UTF-8", NewGroup{Name: "d", Description: "\xff"}, ErrInvalidGroupDescription},
		{"negative precedence", NewGroup{Name: "d", Precedence: intPtr(-1)}, ErrInvalidPrecedence},
		{"precedence beyond int32", NewGroup{Name: "d", Precedence: intPtr(MaxPrecedence + 1)}, ErrInvalidPrecedence},
	} {
		if _, err := p.CreateGroup(ctx, tc.ng); !errors.Is(err, tc.want) {
			t.Errorf("%s: CreateGroup = %v, want %v", tc.name, err, tc.want)
		}
	}
	for _, ok := range []NewGroup{
		{Name: strings.Repeat("g", 128), Description: strings.Repeat("é", 2048), Precedence: intPtr(MaxPrecedence)},
		{Name: "zero", Precedence: intPtr(0)},
	} {
		if _, err := p.CreateGroup(ctx, ok); err != nil {
			t.Errorf("CreateGroup(%.10s...) at the limits: %v", ok.Name, err)
		}
	}
	if _, err := p.UpdateGroup(ctx, "admins", store.GroupUpdate{Precedence: intPtr(-5)}); !errors.Is(err, ErrInvalidPrecedence) {
		t.Errorf("UpdateGroup negative = %v, want ErrInvalidPrecedence", err)
	}
	if _, err := p.Group(ctx, "d"); !errors.Is(err, ErrGroupNotFound) {
		t.Errorf("a refused group was made: %v", err)
	}
}

// TestAddToGroupStillCreatesByUse: configurations and the CLI that only
// ever named groups by membership keep working, and the group made shows
// in the lists.
func TestAddToGroupStillCreatesByUse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newTestPool(t)
	u := mustCreate(t, p, NewUser{Email: "ada@example.com"})
	if err := p.AddToGroup(ctx, u.ID, "ops"); err != nil {
		t.Fatal(err)
	}
	if g, err := p.Group(ctx, "ops"); err != nil || g.Precedence != nil {
		t.Errorf("Group(ops) = %+v, %v", g, err)
	}
	gs, next, err := p.GroupsOfUser(ctx, u.ID, 0, "")
	if err != nil || next != "" || len(gs) != 1 || gs[0].Name != "ops" {
		t.Errorf("GroupsOfUser = %v, %q, %v", gs, next, err)
	}
	if err := p.DeleteGroup(ctx, "ops"); err != nil {
		t.Fatal(err)
	}
	if u, _ = p.User(ctx, u.ID); len(u.Groups) != 0 {
		t.Errorf("groups after the group's deletion: %q", u.Groups)
	}
	if _, _, err := p.GroupsOfUser(ctx, "no-such-id", 0, ""); !errors.Is(err, ErrUserNotFound) {
		t.Errorf("GroupsOfUser(unknown) = %v, want ErrUserNotFound", err)
	}
	if _, _, err := p.ListUsersInGroup(ctx, "ops", 0, ""); !errors.Is(err, ErrGroupNotFound) {
		t.Errorf("ListUsersInGroup(deleted) = %v, want ErrGroupNotFound", err)
	}
}

func TestPagination(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newTestPool(t)
	var emails []string
	for i := range 7 {
		e := fmt.Sprintf("user%d@example.com", i)
		emails = append(emails, e)
		u := mustCreate(t, p, NewUser{Email: e})
		if err := p.AddToGroup(ctx, u.ID, fmt.Sprintf("g%d", i)); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if err := p.AddToGroup(ctx, u.ID, "even"); err != nil {
				t.Fatal(err)
			}
		}
	}

	// users walks ListUsersFiltered's pages of size n.
	users := func(n int) (got []string, pages int) {
		token := ""
		for {
			us, next, err := p.ListUsersFiltered(ctx, nil, n, token)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, u := range us {
				got = append(got, u.Email)
			}
			if len(us) > n {
				t.Fatalf("page of %d, limit %d", len(us), n)
			}
			if next == "" {
				return got, pages
			}
			if pages > 10 {
				t.Fatal("pagination does not end")
			}
			token = next
		}
	}
	for n, wantPages := range map[int]int{1: 7, 3: 3, 7: 1, 60: 1} {
		got, pages := users(n)
		if !slices.Equal(got, emails) || pages != wantPages {
			t.Errorf("limit %d: %d pages of %q, want %d of %q", n, pages, got, wantPages, emails)
		}
	}

	us, next, err := p.ListUsersInGroup(ctx, "even", 2, "")
	if err != nil || len(us) != 2 || next == "" {
		t.Fatalf("ListUsersInGroup first page = %d users, %q, %v", len(us), next, err)
	}
	rest, last, err := p.ListUsersInGroup(ctx, "even", 2, next)
	if err != nil || len(rest) != 2 || last != "" || rest[0].Email != "user4@example.com" {
		t.Errorf("ListUsersInGroup second page = %d users, %q, %v", len(rest), last, err)
	}

	gs, next, err := p.ListGroups(ctx, 5, "")
	if err != nil || len(gs) != 5 || next == "" || gs[0].Name != "even" {
		t.Fatalf("ListGroups first page = %v, %q, %v", gs, next, err)
	}
	gs, last, err = p.ListGroups(ctx, 5, next)
	if err != nil || len(gs) != 3 || last != "" || gs[2].Name != "g6" {
		t.Errorf("ListGroups second page = %v, %q, %v", gs, last, err)
	}

	// A token is only good for the list that gave it, and a made-up one
	// is refused rather than read.
	_, groupsToken, _ := p.ListGroups(ctx, 1, "")
	for name, token := range map[string]string{
		"another list's":  groupsToken,
		"not base64":      "%%%",
		"no kind":         base64.RawURLEncoding.EncodeToString([]byte("user1@example.com")),
		"empty key":       base64.RawURLEncoding.EncodeToString([]byte("u\x00")),
		"invalid UTF-8":   base64.RawURLEncoding.EncodeToString([]byte("u\x00\xff")),
		"padded base64":   base64.URLEncoding.EncodeToString([]byte("u\x00ab")),
		"standard base64": "dQBh+/",
	} {
		if _, _, err := p.ListUsersFiltered(ctx, nil, 1, token); !errors.Is(err, ErrInvalidPageToken) {
			t.Errorf("%s token: err = %v, want ErrInvalidPageToken", name, err)
		}
	}
	for _, n := range []int{-1, MaxPageSize + 1} {
		if _, _, err := p.ListGroups(ctx, n, ""); !errors.Is(err, ErrInvalidPageLimit) {
			t.Errorf("ListGroups(limit %d) = %v, want ErrInvalidPageLimit", n, err)
		}
	}
}

func TestListUsersFiltered(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newTestPool(t)
	mustCreate(t, p, NewUser{Email: "ada@example.com", Name: "Ada"})
	mustCreate(t, p, NewUser{Email: "bob@example.com", Name: "Bob"})
	us, next, err := p.ListUsersFiltered(ctx, &store.UserFilter{Attribute: store.SearchName, Value: "B", Prefix: true}, 0, "")
	if err != nil || next != "" || len(us) != 1 || us[0].Email != "bob@example.com" {
		t.Errorf("ListUsersFiltered(name ^= B) = %d users, %q, %v", len(us), next, err)
	}
	if _, _, err := p.ListUsersFiltered(ctx, &store.UserFilter{Attribute: "password_hash", Value: "x"}, 0, ""); err == nil {
		t.Error("a filter on an unknown attribute succeeded")
	}
}
