// Package storetest is the conformance suite every store.Store backend must
// pass. A backend's own test calls Run with a function that opens a fresh,
// empty store; the suite then holds it to the contract documented in package
// store, so that the backends stay interchangeable.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
)

// Run runs the whole suite. open must return a new, empty store for each call
// and arrange (with t.Cleanup) for it to be closed; it is called once per
// subtest, so subtests never see each other's data.
//
// Times handed to the store are whole microseconds, the precision every
// backend is required to keep.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	// Each part runs on stores of its own, so the parts run in parallel
	// (up to go test's -parallel): most of their time is spent waiting on
	// the database.
	for _, part := range []struct {
		name string
		test func(*testing.T, func(*testing.T) store.Store)
	}{
		{"Users", testUsers},
		{"ListUsers", testListUsers},
		{"UpdateUser", testUpdateUser},
		{"DeleteUser", testDeleteUser},
		{"Groups", testGroups},
		{"Revocations", testRevocations},
		{"Keys", testKeys},
		{"Concurrency", testConcurrency},
		{"Clients", testClients},
		{"AuthCodes", testAuthCodes},
		{"RefreshTokens", testRefreshTokens},
		{"UpdateUserFields", testUpdateUserFields},
		{"VerificationCodes", testVerificationCodes},
		{"MFA", testMFA},
		{"RecoveryCodes", testRecoveryCodes},
		{"SignInFailures", testSignInFailures},
		{"Audit", testAudit},
		{"RateHits", testRateHits},
		{"MFAInvalidInput", testMFAInvalidInput},
		{"Identities", testIdentities},
		{"SRP", testSRP},
		{"GroupRecords", testGroupRecords},
		{"SearchUsers", testSearchUsers},
		{"Import", testImport},
		{"Aliases", testAliases},
	} {
		t.Run(part.name, func(t *testing.T) {
			t.Parallel()
			part.test(t, open)
		})
	}
}

// base is a fixed, microsecond-aligned instant for tests that need times the
// store keeps rather than sets.
var base = time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)

func newUser(id, email string) *store.User {
	return &store.User{
		ID:            id,
		Email:         email,
		EmailVerified: true,
		Name:          "User " + id,
		PasswordHash:  "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		Status:        store.StatusConfirmed,
		Enabled:       true,
		Attributes:    map[string]string{"given_name": "Ada"},
	}
}

func mustCreate(t *testing.T, s store.Store, u *store.User) {
	t.Helper()
	if err := s.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("CreateUser(%s, %s): %v", u.ID, u.Email, err)
	}
}

func mustUser(t *testing.T, s store.Store, id string) *store.User {
	t.Helper()
	u, err := s.UserByID(context.Background(), id)
	if err != nil {
		t.Fatalf("UserByID(%s): %v", id, err)
	}
	return u
}

// sameUser compares everything a caller put in with what came back; the
// store-set fields (timestamps, groups) are checked by the tests about them.
func sameUser(t *testing.T, got, want *store.User) {
	t.Helper()
	if got.ID != want.ID || got.Email != want.Email || got.EmailVerified != want.EmailVerified ||
		got.Name != want.Name || got.PasswordHash != want.PasswordHash ||
		got.Status != want.Status || got.Enabled != want.Enabled {
		t.Errorf("user fields:\n got %+v\nwant %+v", got, want)
	}
	wantAttrs := want.Attributes
	if wantAttrs == nil {
		wantAttrs = map[string]string{}
	}
	if got.Attributes == nil {
		t.Errorf("user %s: Attributes is nil, want non-nil", got.ID)
	} else if !reflect.DeepEqual(got.Attributes, wantAttrs) {
		t.Errorf("user %s attributes:\n got %q\nwant %q", got.ID, got.Attributes, wantAttrs)
	}
}

// sameGroups treats nil and empty alike: the contract is about members and
// order, not about how an empty list is represented.
func sameGroups(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) || (len(want) > 0 && !slices.Equal(got, want)) {
		t.Errorf("groups = %q, want %q", got, want)
	}
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: err = %v, want %v", what, err, target)
	}
}

// storeClock bounds a store-set timestamp: it must fall between just before
// and just after the call, allowing for a backend that truncates to the
// microsecond.
type storeClock struct{ before, after time.Time }

func startClock() storeClock { return storeClock{before: time.Now().Truncate(time.Microsecond)} }

func (c *storeClock) stop() { c.after = time.Now() }

func (c storeClock) check(t *testing.T, what string, got time.Time) {
	t.Helper()
	if got.Before(c.before) || got.After(c.after) {
		t.Errorf("%s = %v, want between %v and %v", what, got, c.before, c.after)
	}
}

func testUsers(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()

	t.Run("CreateAndRead", func(t *testing.T) {
		s := open(t)
		u := newUser("u1", "ada@example.com")
		u.EmailVerified = false
		u.Status = store.StatusForceChangePassword
		u.Groups = []string{"ignored"}
		// Caller-supplied timestamps must be ignored: the store sets them.
		u.CreatedAt = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
		u.UpdatedAt = u.CreatedAt
		want := *u
		clk := startClock()
		mustCreate(t, s, u)
		clk.stop()

		byID := mustUser(t, s, "u1")
		sameUser(t, byID, &want)
		sameGroups(t, byID.Groups, nil)
		clk.check(t, "CreatedAt", byID.CreatedAt)
		if !byID.UpdatedAt.Equal(byID.CreatedAt) {
			t.Errorf("UpdatedAt = %v, want CreatedAt %v", byID.UpdatedAt, byID.CreatedAt)
		}

		byEmail, err := s.UserByEmail(ctx, "ada@example.com")
		if err != nil {
			t.Fatalf("UserByEmail: %v", err)
		}
		sameUser(t, byEmail, &want)
		if !byEmail.CreatedAt.Equal(byID.CreatedAt) {
			t.Errorf("CreatedAt by email %v != by id %v", byEmail.CreatedAt, byID.CreatedAt)
		}
	})

	t.Run("ZeroValueFields", func(t *testing.T) {
		s := open(t)
		u := &store.User{ID: "u0", Email: "zero@example.com"}
		mustCreate(t, s, u)
		got := mustUser(t, s, "u0")
		sameUser(t, got, &store.User{ID: "u0", Email: "zero@example.com"})
	})

	t.Run("Attributes", func(t *testing.T) {
		cases := []struct {
			name  string
			attrs map[string]string
		}{
			{"nil", nil},
			{"empty", map[string]string{}},
			{"standard and custom", map[string]string{
				"given_name": "Ada", "family_name": "Lovelace", "custom:tenant": "acme",
				"custom:empty": "",
			}},
			{"unicode", map[string]string{
				"name":          "Zoë Ünïcødé 山田太郎",
				"custom:emoji":  "🔐🗝️👩🏽‍💻",
				"custom:ключ":   "значение",
				"custom:rtl":    "مرحبا",
				"custom:quotes": `"quoted" \back\slash 'single' {json}` + "\n\t",
				"custom:nul":    "a\x00b",
			}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				s := open(t)
				u := newUser("u1", "a@example.com")
				u.Attributes = tc.attrs
				want := *u
				mustCreate(t, s, u)
				sameUser(t, mustUser(t, s, "u1"), &want)
			})
		}
	})

	t.Run("Conflicts", func(t *testing.T) {
		cases := []struct {
			name      string
			id, email string
		}{
			{"same email", "u2", "ada@example.com"},
			{"same id", "u1", "other@example.com"},
			{"same both", "u1", "ada@example.com"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				s := open(t)
				orig := newUser("u1", "ada@example.com")
				want := *orig
				mustCreate(t, s, orig)
				dup := newUser(tc.id, tc.email)
				dup.Name = "Impostor"
				dup.PasswordHash = "other"
				wantErr(t, "CreateUser duplicate", s.CreateUser(ctx, dup), store.ErrConflict)
				// The loser must not have overwritten or added anything.
				sameUser(t, mustUser(t, s, "u1"), &want)
				if tc.id != "u1" {
					_, err := s.UserByID(ctx, tc.id)
					wantErr(t, "UserByID of rejected user", err, store.ErrNotFound)
				}
				if tc.email != "ada@example.com" {
					_, err := s.UserByEmail(ctx, tc.email)
					wantErr(t, "UserByEmail of rejected user", err, store.ErrNotFound)
				}
			})
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := open(t)
		mustCreate(t, s, newUser("u1", "ada@example.com"))
		_, err := s.UserByID(ctx, "nope")
		wantErr(t, "UserByID unknown", err, store.ErrNotFound)
		_, err = s.UserByEmail(ctx, "nope@example.com")
		wantErr(t, "UserByEmail unknown", err, store.ErrNotFound)
		// Lookups are exact: the pool normalizes, the store does not.
		_, err = s.UserByEmail(ctx, "ADA@example.com")
		wantErr(t, "UserByEmail other case", err, store.ErrNotFound)
		_, err = s.UserByID(ctx, "")
		wantErr(t, "UserByID empty", err, store.ErrNotFound)
	})
}

func testListUsers(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	emails := func(us []*store.User) []string {
		out := make([]string, len(us))
		for i, u := range us {
			out[i] = u.Email
		}
		return out
	}

	t.Run("Empty", func(t *testing.T) {
		s := open(t)
		got, err := s.ListUsers(ctx, store.ListOptions{})
		if err != nil {
			t.Fatalf("ListUsers: %v", err)
		}
		if len(got) != 0 {
			t.Errorf("ListUsers on empty store = %q, want none", emails(got))
		}
	})

	t.Run("Paging", func(t *testing.T) {
		s := open(t)
		// Created out of order so that insertion order cannot pass for email order.
		for i, e := range []string{"d@x.io", "b@x.io", "e@x.io", "a@x.io", "c@x.io"} {
			mustCreate(t, s, newUser(fmt.Sprintf("u%d", i), e))
		}
		if err := s.AddToGroup(ctx, "u1", "admins"); err != nil { // b@x.io
			t.Fatal(err)
		}
		cases := []struct {
			name string
			opts store.ListOptions
			want []string
		}{
			{"all", store.ListOptions{}, []string{"a@x.io", "b@x.io", "c@x.io", "d@x.io", "e@x.io"}},
			{"first page", store.ListOptions{Limit: 2}, []string{"a@x.io", "b@x.io"}},
			{"second page", store.ListOptions{After: "b@x.io", Limit: 2}, []string{"c@x.io", "d@x.io"}},
			{"last page", store.ListOptions{After: "d@x.io", Limit: 2}, []string{"e@x.io"}},
			{"past the end", store.ListOptions{After: "e@x.io", Limit: 2}, nil},
			{"after absent email", store.ListOptions{After: "bb@x.io"}, []string{"c@x.io", "d@x.io", "e@x.io"}},
			{"limit 1", store.ListOptions{Limit: 1}, []string{"a@x.io"}},
			{"limit above count", store.ListOptions{Limit: 50}, []string{"a@x.io", "b@x.io", "c@x.io", "d@x.io", "e@x.io"}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.ListUsers(ctx, tc.opts)
				if err != nil {
					t.Fatalf("ListUsers(%+v): %v", tc.opts, err)
				}
				if g := emails(got); !slices.Equal(g, tc.want) {
					t.Errorf("ListUsers(%+v) = %q, want %q", tc.opts, g, tc.want)
				}
			})
		}

		// Listed users are whole users: fields, attributes and groups.
		got, err := s.ListUsers(ctx, store.ListOptions{After: "a@x.io", Limit: 1})
		if err != nil || len(got) != 1 {
			t.Fatalf("ListUsers: %v, %d users", err, len(got))
		}
		sameUser(t, got[0], newUser("u1", "b@x.io"))
		sameGroups(t, got[0].Groups, []string{"admins"})
		if got[0].CreatedAt.IsZero() || got[0].UpdatedAt.IsZero() {
			t.Errorf("listed user timestamps not set: %v, %v", got[0].CreatedAt, got[0].UpdatedAt)
		}
	})

	t.Run("DefaultLimit", func(t *testing.T) {
		s := open(t)
		const n = 105
		for i := range n {
			mustCreate(t, s, newUser(fmt.Sprintf("u%03d", i), fmt.Sprintf("user%03d@x.io", i)))
		}
		got, err := s.ListUsers(ctx, store.ListOptions{})
		if err != nil {
			t.Fatalf("ListUsers: %v", err)
		}
		if len(got) != 100 {
			t.Fatalf("ListUsers with Limit 0 returned %d users, want the default 100", len(got))
		}
		if got[0].Email != "user000@x.io" || got[99].Email != "user099@x.io" {
			t.Errorf("default page spans %s..%s, want user000..user099", got[0].Email, got[99].Email)
		}
		rest, err := s.ListUsers(ctx, store.ListOptions{After: got[99].Email})
		if err != nil {
			t.Fatalf("ListUsers: %v", err)
		}
		if len(rest) != n-100 || rest[0].Email != "user100@x.io" {
			t.Errorf("second page = %q, want user100..user104", emails(rest))
		}
	})
}

func testUpdateUser(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()

	t.Run("UpdatePassword", func(t *testing.T) {
		s := open(t)
		mustCreate(t, s, newUser("u1", "a@x.io"))
		mustCreate(t, s, newUser("u2", "b@x.io"))
		before := mustUser(t, s, "u1")
		clk := startClock()
		if err := s.UpdatePassword(ctx, "u1", "$argon2id$new", store.StatusResetRequired); err != nil {
			t.Fatalf("UpdatePassword: %v", err)
		}
		clk.stop()
		got := mustUser(t, s, "u1")
		want := *newUser("u1", "a@x.io")
		want.PasswordHash, want.Status = "$argon2id$new", store.StatusResetRequired
		sameUser(t, got, &want)
		if !got.CreatedAt.Equal(before.CreatedAt) {
			t.Errorf("CreatedAt changed: %v -> %v", before.CreatedAt, got.CreatedAt)
		}
		clk.check(t, "UpdatedAt after UpdatePassword", got.UpdatedAt)
		// The other user is untouched.
		sameUser(t, mustUser(t, s, "u2"), newUser("u2", "b@x.io"))

		// Clearing the hash (a federated-only user) is a valid update.
		if err := s.UpdatePassword(ctx, "u1", "", store.StatusConfirmed); err != nil {
			t.Fatalf("UpdatePassword to empty: %v", err)
		}
		if got := mustUser(t, s, "u1"); got.PasswordHash != "" || got.Status != store.StatusConfirmed {
			t.Errorf("after clearing: hash %q status %q", got.PasswordHash, got.Status)
		}

		wantErr(t, "UpdatePassword unknown", s.UpdatePassword(ctx, "nope", "h", store.StatusConfirmed), store.ErrNotFound)
	})

	t.Run("SetEnabled", func(t *testing.T) {
		s := open(t)
		mustCreate(t, s, newUser("u1", "a@x.io"))
		mustCreate(t, s, newUser("u2", "b@x.io"))
		before := mustUser(t, s, "u1")
		for _, enabled := range []bool{false, false, true, false} {
			clk := startClock()
			if err := s.SetEnabled(ctx, "u1", enabled); err != nil {
				t.Fatalf("SetEnabled(%v): %v", enabled, err)
			}
			clk.stop()
			got := mustUser(t, s, "u1")
			if got.Enabled != enabled {
				t.Errorf("Enabled = %v after SetEnabled(%v)", got.Enabled, enabled)
			}
			if !got.CreatedAt.Equal(before.CreatedAt) {
				t.Errorf("CreatedAt changed: %v -> %v", before.CreatedAt, got.CreatedAt)
			}
			clk.check(t, "UpdatedAt after SetEnabled", got.UpdatedAt)
		}
		if !mustUser(t, s, "u2").Enabled {
			t.Error("SetEnabled on u1 disabled u2")
		}
		wantErr(t, "SetEnabled unknown", s.SetEnabled(ctx, "nope", true), store.ErrNotFound)
	})
}

func testDeleteUser(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	s := open(t)
	mustCreate(t, s, newUser("u1", "a@x.io"))
	mustCreate(t, s, newUser("u2", "b@x.io"))
	for _, g := range []string{"admins", "ops"} {
		for _, id := range []string{"u1", "u2"} {
			if err := s.AddToGroup(ctx, id, g); err != nil {
				t.Fatal(err)
			}
		}
	}

	if err := s.DeleteUser(ctx, "u1"); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	_, err := s.UserByID(ctx, "u1")
	wantErr(t, "UserByID deleted", err, store.ErrNotFound)
	_, err = s.UserByEmail(ctx, "a@x.io")
	wantErr(t, "UserByEmail deleted", err, store.ErrNotFound)
	if got, err := s.ListUsers(ctx, store.ListOptions{}); err != nil || len(got) != 1 || got[0].ID != "u2" {
		t.Errorf("ListUsers after delete: %v, %d users", err, len(got))
	}
	sameGroups(t, mustUser(t, s, "u2").Groups, []string{"admins", "ops"})

	wantErr(t, "DeleteUser again", s.DeleteUser(ctx, "u1"), store.ErrNotFound)
	wantErr(t, "DeleteUser unknown", s.DeleteUser(ctx, "nope"), store.ErrNotFound)

	// The id and email are free again, and the memberships did not survive
	// to be inherited by the new account.
	mustCreate(t, s, newUser("u1", "a@x.io"))
	sameGroups(t, mustUser(t, s, "u1").Groups, nil)
}

func testGroups(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()

	t.Run("AddRemoveSorted", func(t *testing.T) {
		s := open(t)
		mustCreate(t, s, newUser("u1", "a@x.io"))
		mustCreate(t, s, newUser("u2", "b@x.io"))
		steps := []struct {
			op    string // "add" or "remove"
			group string
			want  []string
		}{
			{"add", "ops", []string{"ops"}},
			{"add", "admins", []string{"admins", "ops"}},
			{"add", "Zeta", []string{"Zeta", "admins", "ops"}},
			{"add", "billing", []string{"Zeta", "admins", "billing", "ops"}},
			{"add", "admins", []string{"Zeta", "admins", "billing", "ops"}}, // idempotent
			{"remove", "billing", []string{"Zeta", "admins", "ops"}},
			{"remove", "billing", []string{"Zeta", "admins", "ops"}}, // non-member
			{"remove", "never", []string{"Zeta", "admins", "ops"}},
			{"add", "élite", []string{"Zeta", "admins", "ops", "élite"}},
			{"remove", "Zeta", []string{"admins", "ops", "élite"}},
		}
		for i, st := range steps {
			var err error
			if st.op == "add" {
				err = s.AddToGroup(ctx, "u1", st.group)
			} else {
				err = s.RemoveFromGroup(ctx, "u1", st.group)
			}
			if err != nil {
				t.Fatalf("step %d %s %q: %v", i, st.op, st.group, err)
			}
			sameGroups(t, mustUser(t, s, "u1").Groups, st.want)
		}
		byEmail, err := s.UserByEmail(ctx, "a@x.io")
		if err != nil {
			t.Fatal(err)
		}
		sameGroups(t, byEmail.Groups, []string{"admins", "ops", "élite"})
		// Memberships are per user.
		sameGroups(t, mustUser(t, s, "u2").Groups, nil)
	})

	t.Run("UnknownUser", func(t *testing.T) {
		s := open(t)
		wantErr(t, "AddToGroup unknown user", s.AddToGroup(ctx, "nope", "admins"), store.ErrNotFound)
		if err := s.RemoveFromGroup(ctx, "nope", "admins"); err != nil {
			t.Errorf("RemoveFromGroup unknown user: %v, want nil", err)
		}
		// The failed add must not have left a membership behind for a user
		// who later takes that id.
		mustCreate(t, s, newUser("nope", "n@x.io"))
		sameGroups(t, mustUser(t, s, "nope").Groups, nil)
	})
}

func testRevocations(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	// Entries are made around the real now, because "not expired" is judged
	// against the store's clock.
	now := time.Now().UTC().Truncate(time.Microsecond)
	future := now.Add(24 * time.Hour)

	list := func(t *testing.T, s store.Store, since time.Time) []store.Revocation {
		t.Helper()
		got, err := s.RevocationsSince(ctx, since)
		if err != nil {
			t.Fatalf("RevocationsSince(%v): %v", since, err)
		}
		return got
	}
	same := func(t *testing.T, got, want []store.Revocation) {
		t.Helper()
		ok := len(got) == len(want)
		for i := 0; ok && i < len(got); i++ {
			g, w := got[i], want[i]
			ok = g.SessionID == w.SessionID && g.UserID == w.UserID &&
				g.At.Equal(w.At) && g.Expires.Equal(w.Expires)
		}
		if !ok {
			t.Errorf("revocations:\n got %+v\nwant %+v", got, want)
		}
	}
	revoke := func(t *testing.T, s store.Store, rs ...store.Revocation) {
		t.Helper()
		for _, r := range rs {
			if err := s.Revoke(ctx, r); err != nil {
				t.Fatalf("Revoke(%+v): %v", r, err)
			}
		}
	}

	t.Run("Empty", func(t *testing.T) {
		s := open(t)
		same(t, list(t, s, time.Time{}), nil)
	})

	t.Run("KindsAndOrder", func(t *testing.T) {
		s := open(t)
		r1 := store.Revocation{SessionID: "sess-1", At: now.Add(-3 * time.Hour), Expires: future}
		r2 := store.Revocation{UserID: "user-1", At: now.Add(-2 * time.Hour), Expires: future.Add(time.Hour)}
		r3 := store.Revocation{SessionID: "sess-2", At: now.Add(-1 * time.Hour), Expires: future}
		// Inserted out of order: the result must be ordered by At.
		revoke(t, s, r3, r1, r2)
		all := []store.Revocation{r1, r2, r3}
		same(t, list(t, s, time.Time{}), all)

		cases := []struct {
			name  string
			since time.Time
			want  []store.Revocation
		}{
			{"long ago", now.Add(-100 * time.Hour), all},
			{"exactly r2", r2.At, []store.Revocation{r2, r3}}, // at or after: inclusive
			{"just after r2", r2.At.Add(time.Microsecond), []store.Revocation{r3}},
			{"just before r3", r3.At.Add(-time.Microsecond), []store.Revocation{r3}},
			{"after all", now, nil},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) { same(t, list(t, s, tc.since), tc.want) })
		}
	})

	t.Run("ExpiredHidden", func(t *testing.T) {
		s := open(t)
		expired := store.Revocation{SessionID: "old", At: now.Add(-2 * time.Hour), Expires: now.Add(-time.Hour)}
		live := store.Revocation{SessionID: "live", At: now.Add(-2 * time.Hour), Expires: future}
		expiredUser := store.Revocation{UserID: "u-old", At: now.Add(-3 * time.Hour), Expires: now.Add(-time.Minute)}
		revoke(t, s, expired, live, expiredUser)
		// Not yet purged, but expired entries are no longer returned.
		same(t, list(t, s, time.Time{}), []store.Revocation{live})
		same(t, list(t, s, now.Add(-10*time.Hour)), []store.Revocation{live})
	})

	t.Run("Purge", func(t *testing.T) {
		s := open(t)
		// All three are live now; purging "as of" a future instant shows that
		// Purge uses its argument, not the clock.
		soon := store.Revocation{SessionID: "soon", At: now.Add(-time.Hour), Expires: now.Add(time.Hour)}
		later := store.Revocation{UserID: "later", At: now.Add(-time.Hour), Expires: now.Add(3 * time.Hour)}
		edge := store.Revocation{SessionID: "edge", At: now.Add(-time.Hour), Expires: now.Add(2 * time.Hour)}
		revoke(t, s, soon, later, edge)
		same(t, list(t, s, time.Time{}), []store.Revocation{soon, later, edge})

		if err := s.PurgeRevocations(ctx, now.Add(-time.Hour)); err != nil {
			t.Fatalf("PurgeRevocations: %v", err)
		}
		same(t, list(t, s, time.Time{}), []store.Revocation{soon, later, edge})

		// "expired before now": an entry expiring exactly at now is kept.
		if err := s.PurgeRevocations(ctx, now.Add(2*time.Hour)); err != nil {
			t.Fatalf("PurgeRevocations: %v", err)
		}
		same(t, list(t, s, time.Time{}), []store.Revocation{later, edge})

		if err := s.PurgeRevocations(ctx, now.Add(10*time.Hour)); err != nil {
			t.Fatalf("PurgeRevocations: %v", err)
		}
		same(t, list(t, s, time.Time{}), nil)
	})
}

func testKeys(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	allBytes := make([]byte, 256)
	for i := range allBytes {
		allBytes[i] = byte(i)
	}
	keys := func(t *testing.T, s store.Store, kind string) []store.Key {
		t.Helper()
		got, err := s.Keys(ctx, kind)
		if err != nil {
			t.Fatalf("Keys(%s): %v", kind, err)
		}
		return got
	}
	same := func(t *testing.T, got, want []store.Key) {
		t.Helper()
		ok := len(got) == len(want)
		for i := 0; ok && i < len(got); i++ {
			g, w := got[i], want[i]
			ok = g.Kind == w.Kind && g.ID == w.ID && bytes.Equal(g.Material, w.Material) &&
				g.CreatedAt.Equal(w.CreatedAt) && g.NotAfter.Equal(w.NotAfter)
		}
		if !ok {
			t.Errorf("keys:\n got %+v\nwant %+v", got, want)
		}
	}
	add := func(t *testing.T, s store.Store, ks ...store.Key) {
		t.Helper()
		for _, k := range ks {
			if err := s.AddKey(ctx, k); err != nil {
				t.Fatalf("AddKey(%s/%s): %v", k.Kind, k.ID, err)
			}
		}
	}

	t.Run("NewestFirst", func(t *testing.T) {
		s := open(t)
		k1 := store.Key{Kind: "alb-es256", ID: "k1", Material: []byte("one"), CreatedAt: base}
		k2 := store.Key{Kind: "alb-es256", ID: "k2", Material: []byte("two"), CreatedAt: base.Add(time.Hour),
			NotAfter: base.Add(48 * time.Hour)}
		k3 := store.Key{Kind: "alb-es256", ID: "k3", Material: allBytes, CreatedAt: base.Add(2 * time.Hour)}
		// Added out of order, so insertion order cannot pass for age order.
		add(t, s, k2, k3, k1)
		same(t, keys(t, s, "alb-es256"), []store.Key{k3, k2, k1})
	})

	t.Run("UnknownKindEmpty", func(t *testing.T) {
		s := open(t)
		add(t, s, store.Key{Kind: "cookie", ID: "c1", Material: []byte("x"), CreatedAt: base})
		same(t, keys(t, s, "nothing"), nil)
	})

	t.Run("KindsSeparate", func(t *testing.T) {
		s := open(t)
		c := store.Key{Kind: "cookie", ID: "same", Material: []byte("cookie"), CreatedAt: base}
		a := store.Key{Kind: "alb-es256", ID: "same", Material: []byte("alb"), CreatedAt: base.Add(time.Hour)}
		add(t, s, c, a) // same ID, different kinds: no conflict
		same(t, keys(t, s, "cookie"), []store.Key{c})
		same(t, keys(t, s, "alb-es256"), []store.Key{a})
	})

	t.Run("Conflict", func(t *testing.T) {
		s := open(t)
		k := store.Key{Kind: "cookie", ID: "c1", Material: []byte("original"), CreatedAt: base}
		add(t, s, k)
		dup := store.Key{Kind: "cookie", ID: "c1", Material: []byte("replacement"), CreatedAt: base.Add(time.Hour)}
		wantErr(t, "AddKey duplicate", s.AddKey(ctx, dup), store.ErrConflict)
		same(t, keys(t, s, "cookie"), []store.Key{k})
	})

	t.Run("Delete", func(t *testing.T) {
		s := open(t)
		k1 := store.Key{Kind: "cookie", ID: "k1", Material: []byte("one"), CreatedAt: base}
		k2 := store.Key{Kind: "cookie", ID: "k2", Material: []byte("two"), CreatedAt: base.Add(time.Hour)}
		other := store.Key{Kind: "es256", ID: "k1", Material: []byte("signing"), CreatedAt: base}
		add(t, s, k1, k2, other)
		if err := s.DeleteKey(ctx, "cookie", "k1"); err != nil {
			t.Fatalf("DeleteKey: %v", err)
		}
		same(t, keys(t, s, "cookie"), []store.Key{k2})
		same(t, keys(t, s, "es256"), []store.Key{other}) // same id, other kind: kept
		wantErr(t, "DeleteKey again", s.DeleteKey(ctx, "cookie", "k1"), store.ErrNotFound)
		wantErr(t, "DeleteKey unknown kind", s.DeleteKey(ctx, "nothing", "k2"), store.ErrNotFound)
		// The id is free again.
		add(t, s, store.Key{Kind: "cookie", ID: "k1", Material: []byte("new"), CreatedAt: base.Add(2 * time.Hour)})
	})

	t.Run("MaterialExact", func(t *testing.T) {
		big := bytes.Repeat(allBytes, 64) // 16 KiB
		cases := []struct {
			name     string
			material []byte
		}{
			{"all byte values", allBytes},
			{"nul bytes", []byte{0, 0, 0, 0}},
			{"invalid utf-8", []byte{0xff, 0xfe, 0xc3, 0x28}},
			{"large", big},
		}
		s := open(t)
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				kind := fmt.Sprintf("kind-%d", i)
				k := store.Key{Kind: kind, ID: "k", Material: tc.material, CreatedAt: base}
				add(t, s, k)
				got := keys(t, s, kind)
				same(t, got, []store.Key{k})
				if len(got) == 1 && len(got[0].Material) > 0 {
					// The returned slice is the caller's: changing it must not
					// change the stored key.
					got[0].Material[0] ^= 0xff
					same(t, keys(t, s, kind), []store.Key{k})
				}
			})
		}
	})
}

// testConcurrency races many goroutines for one unique value: exactly one may
// win and every other must be told ErrConflict (not a lock error, not a
// second success).
func testConcurrency(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	const n = 20

	race := func(t *testing.T, op func(i int) error) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				errs[i] = op(i)
			})
		}
		close(start)
		wg.Wait()
		wins := 0
		for i, err := range errs {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, store.ErrConflict):
				t.Errorf("goroutine %d: %v, want nil or ErrConflict", i, err)
			}
		}
		if wins != 1 {
			t.Errorf("%d of %d goroutines succeeded, want exactly 1", wins, n)
		}
	}

	t.Run("CreateUserSameEmail", func(t *testing.T) {
		s := open(t)
		race(t, func(i int) error {
			return s.CreateUser(ctx, newUser(fmt.Sprintf("u%d", i), "race@x.io"))
		})
		if got, err := s.ListUsers(ctx, store.ListOptions{}); err != nil || len(got) != 1 {
			t.Errorf("after race: %v, %d users, want 1", err, len(got))
		}
	})

	t.Run("CreateUserSameID", func(t *testing.T) {
		s := open(t)
		race(t, func(i int) error {
			return s.CreateUser(ctx, newUser("same", fmt.Sprintf("u%d@x.io", i)))
		})
		if got, err := s.ListUsers(ctx, store.ListOptions{}); err != nil || len(got) != 1 {
			t.Errorf("after race: %v, %d users, want 1", err, len(got))
		}
	})

	t.Run("AddKeySameID", func(t *testing.T) {
		s := open(t)
		race(t, func(i int) error {
			return s.AddKey(ctx, store.Key{Kind: "cookie", ID: "k", Material: []byte{byte(i)}, CreatedAt: base})
		})
		if got, err := s.Keys(ctx, "cookie"); err != nil || len(got) != 1 {
			t.Errorf("after race: %v, %d keys, want 1", err, len(got))
		}
	})

	t.Run("DistinctWritesAllLand", func(t *testing.T) {
		// Contention alone, with no real conflict, must not fail anyone.
		s := open(t)
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				id := fmt.Sprintf("u%02d", i)
				err := s.CreateUser(ctx, newUser(id, id+"@x.io"))
				if err == nil {
					err = s.AddToGroup(ctx, id, "g")
				}
				if err == nil {
					err = s.Revoke(ctx, store.Revocation{UserID: id, At: base, Expires: time.Now().Add(time.Hour)})
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("goroutine %d: %v", i, err)
			}
		}
		users, err := s.ListUsers(ctx, store.ListOptions{})
		if err != nil || len(users) != n {
			t.Fatalf("ListUsers: %v, %d users, want %d", err, len(users), n)
		}
		for _, u := range users {
			sameGroups(t, u.Groups, []string{"g"})
		}
		if rs, err := s.RevocationsSince(ctx, time.Time{}); err != nil || len(rs) != n {
			t.Errorf("RevocationsSince: %v, %d entries, want %d", err, len(rs), n)
		}
	})
}
