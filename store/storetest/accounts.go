package storetest

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
)

func ptr[T any](v T) *T { return &v }

func testUpdateUserFields(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()

	// Each change alone alters its field and nothing else.
	cases := []struct {
		name  string
		up    store.UserUpdate
		apply func(u *store.User)
	}{
		{"email", store.UserUpdate{Email: ptr("new@example.com")}, func(u *store.User) { u.Email = "new@example.com" }},
		{"email_verified false", store.UserUpdate{EmailVerified: ptr(false)}, func(u *store.User) { u.EmailVerified = false }},
		{"name", store.UserUpdate{Name: ptr("Ada King")}, func(u *store.User) { u.Name = "Ada King" }},
		{"name empty", store.UserUpdate{Name: ptr("")}, func(u *store.User) { u.Name = "" }},
		{"status", store.UserUpdate{Status: ptr(store.StatusResetRequired)}, func(u *store.User) { u.Status = store.StatusResetRequired }},
		{"set attributes", store.UserUpdate{SetAttributes: map[string]string{"given_name": "Augusta", "custom:tenant": "acme"}},
			func(u *store.User) {
				u.Attributes = map[string]string{"given_name": "Augusta", "custom:tenant": "acme", "locale": "en"}
			}},
		{"delete attributes", store.UserUpdate{DeleteAttributes: []string{"given_name", "never-there"}},
			func(u *store.User) { u.Attributes = map[string]string{"locale": "en"} }},
		{"set and delete the same", store.UserUpdate{SetAttributes: map[string]string{"locale": "fr"}, DeleteAttributes: []string{"locale"}},
			func(u *store.User) { u.Attributes = map[string]string{"given_name": "Ada"} }},
		{"unicode and NUL attribute", store.UserUpdate{SetAttributes: map[string]string{"custom:x": "Zoë\x00🔐"}},
			func(u *store.User) { u.Attributes["custom:x"] = "Zoë\x00🔐" }},
		{"everything", store.UserUpdate{Email: ptr("all@example.com"), EmailVerified: ptr(false), Name: ptr("N"),
			Status: ptr(store.StatusUnconfirmed), SetAttributes: map[string]string{"zoneinfo": "Europe/London"}},
			func(u *store.User) {
				u.Email, u.EmailVerified, u.Name, u.Status = "all@example.com", false, "N", store.StatusUnconfirmed
				u.Attributes["zoneinfo"] = "Europe/London"
			}},
		{"nothing", store.UserUpdate{}, func(*store.User) {}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			u := newUser("u1", "ada@example.com")
			u.Attributes = map[string]string{"given_name": "Ada", "locale": "en"}
			mustCreate(t, s, u)
			mustCreate(t, s, newUser("u2", "other@example.com"))
			before := mustUser(t, s, "u1")
			want := *before
			want.Attributes = map[string]string{}
			for k, v := range before.Attributes {
				want.Attributes[k] = v
			}
			tc.apply(&want)
			clk := startClock()
			if err := s.UpdateUser(ctx, "u1", tc.up); err != nil {
				t.Fatalf("UpdateUser: %v", err)
			}
			clk.stop()
			got := mustUser(t, s, "u1")
			sameUser(t, got, &want)
			if !got.CreatedAt.Equal(before.CreatedAt) {
				t.Errorf("CreatedAt changed: %v -> %v", before.CreatedAt, got.CreatedAt)
			}
			clk.check(t, "UpdatedAt", got.UpdatedAt)
			sameUser(t, mustUser(t, s, "u2"), newUser("u2", "other@example.com"))
			if tc.up.Email != nil {
				if _, err := s.UserByEmail(ctx, "ada@example.com"); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("old email still finds the user: %v", err)
				}
				byEmail, err := s.UserByEmail(ctx, *tc.up.Email)
				if err != nil || byEmail.ID != "u1" {
					t.Errorf("UserByEmail(new) = %v, %v", byEmail, err)
				}
			}
		})
	}

	t.Run("EmailConflict", func(t *testing.T) {
		s := open(t)
		mustCreate(t, s, newUser("u1", "ada@example.com"))
		mustCreate(t, s, newUser("u2", "grace@example.com"))
		before := mustUser(t, s, "u1")
		err := s.UpdateUser(ctx, "u1", store.UserUpdate{Email: ptr("grace@example.com"), Name: ptr("changed"),
			SetAttributes: map[string]string{"custom:x": "y"}})
		wantErr(t, "UpdateUser to a taken email", err, store.ErrConflict)
		got := mustUser(t, s, "u1")
		sameUser(t, got, before) // all or nothing
		if !got.UpdatedAt.Equal(before.UpdatedAt) {
			t.Errorf("UpdatedAt moved on a failed update")
		}
		// Its own email is not a conflict.
		if err := s.UpdateUser(ctx, "u1", store.UserUpdate{Email: ptr("ada@example.com")}); err != nil {
			t.Errorf("UpdateUser to its own email: %v", err)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := open(t)
		wantErr(t, "UpdateUser unknown", s.UpdateUser(ctx, "nobody", store.UserUpdate{Name: ptr("x")}), store.ErrNotFound)
		wantErr(t, "UpdateUser unknown, no change", s.UpdateUser(ctx, "nobody", store.UserUpdate{}), store.ErrNotFound)
	})

	t.Run("InvalidUTF8", func(t *testing.T) {
		s := open(t)
		mustCreate(t, s, newUser("u1", "ada@example.com"))
		before := mustUser(t, s, "u1")
		if err := s.UpdateUser(ctx, "u1", store.UserUpdate{Name: ptr("ok"), SetAttributes: map[string]string{"custom:x": "\xff"}}); err == nil {
			t.Fatal("UpdateUser stored invalid UTF-8")
		}
		sameUser(t, mustUser(t, s, "u1"), before)
	})

	t.Run("ConcurrentAttributes", func(t *testing.T) {
		// Merges of different attributes at once must all land: no update
		// may be computed from a stale read.
		s := open(t)
		mustCreate(t, s, newUser("u1", "ada@example.com"))
		const n = 8
		names := make([]string, n)
		errs := raceN(n, func(i int) error {
			names[i] = "custom:a" + string(rune('0'+i))
			return s.UpdateUser(ctx, "u1", store.UserUpdate{SetAttributes: map[string]string{names[i]: "v"}})
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("update %d: %v", i, err)
			}
		}
		got := mustUser(t, s, "u1").Attributes
		for _, name := range names {
			if got[name] != "v" {
				t.Errorf("attribute %s lost: %v", name, got)
			}
		}
	})
}

func newCodeRecord(userID, purpose, hash string, expires time.Time) store.VerificationCode {
	return store.VerificationCode{UserID: userID, Purpose: purpose, Hash: hash, Target: "", Expires: expires, SentAt: base}
}

func sameCodeRecord(t *testing.T, got *store.VerificationCode, want store.VerificationCode) {
	t.Helper()
	if got == nil {
		t.Fatalf("code is nil, want %+v", want)
	}
	g, w := *got, want
	if !g.SentAt.Equal(w.SentAt) || !g.Expires.Equal(w.Expires) {
		t.Errorf("code times: got sent %v expires %v, want sent %v expires %v", g.SentAt, g.Expires, w.SentAt, w.Expires)
	}
	g.SentAt, g.Expires, w.SentAt, w.Expires = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("code:\n got %+v\nwant %+v", g, w)
	}
}

func testVerificationCodes(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	later := base.Add(24 * time.Hour)

	setup := func(t *testing.T) store.Store {
		s := open(t)
		mustCreate(t, s, newUser("u1", "ada@example.com"))
		mustCreate(t, s, newUser("u2", "grace@example.com"))
		return s
	}
	save := func(t *testing.T, s store.Store, c store.VerificationCode) {
		t.Helper()
		if err := s.SaveVerificationCode(ctx, c); err != nil {
			t.Fatalf("SaveVerificationCode: %v", err)
		}
	}
	read := func(t *testing.T, s store.Store, userID, purpose string) *store.VerificationCode {
		t.Helper()
		c, err := s.VerificationCode(ctx, userID, purpose)
		if err != nil {
			t.Fatalf("VerificationCode(%s, %s): %v", userID, purpose, err)
		}
		return c
	}
	gone := func(t *testing.T, s store.Store, userID, purpose string) {
		t.Helper()
		_, err := s.VerificationCode(ctx, userID, purpose)
		wantErr(t, "VerificationCode of "+userID+"/"+purpose, err, store.ErrNotFound)
	}

	t.Run("SaveAndRead", func(t *testing.T) {
		s := setup(t)
		c := store.VerificationCode{UserID: "u1", Purpose: "change_email", Hash: "h1", Target: "new@example.com",
			Attempts: 2, SentAt: base, Expires: later}
		save(t, s, c)
		sameCodeRecord(t, read(t, s, "u1", "change_email"), c)
		gone(t, s, "u1", "verify_email")
		gone(t, s, "u2", "change_email")

		// A zero SentAt (sending failed) stays zero.
		z := newCodeRecord("u2", "verify_email", "h2", later)
		z.SentAt = time.Time{}
		save(t, s, z)
		if got := read(t, s, "u2", "verify_email"); !got.SentAt.IsZero() {
			t.Errorf("SentAt = %v, want zero", got.SentAt)
		}
	})

	t.Run("SaveReplaces", func(t *testing.T) {
		s := setup(t)
		first := newCodeRecord("u1", "verify_email", "old", later)
		first.Attempts = 3
		save(t, s, first)
		second := store.VerificationCode{UserID: "u1", Purpose: "verify_email", Hash: "new", SentAt: base.Add(time.Minute), Expires: later.Add(time.Hour)}
		save(t, s, second)
		sameCodeRecord(t, read(t, s, "u1", "verify_email"), second)
		// The old code no longer works, the new one does.
		_, err := s.ConsumeVerificationCode(ctx, "u1", "verify_email", "old", 5, base)
		wantErr(t, "consume the replaced code", err, store.ErrCodeMismatch)
		if _, err := s.ConsumeVerificationCode(ctx, "u1", "verify_email", "new", 5, base); err != nil {
			t.Errorf("consume the new code: %v", err)
		}
	})

	t.Run("SaveRefuses", func(t *testing.T) {
		s := setup(t)
		wantErr(t, "save for an unknown user", s.SaveVerificationCode(ctx, newCodeRecord("nobody", "verify_email", "h", later)), store.ErrNotFound)
		for name, c := range map[string]store.VerificationCode{
			"no user":          newCodeRecord("", "verify_email", "h", later),
			"no purpose":       newCodeRecord("u1", "", "h", later),
			"no expiry":        newCodeRecord("u1", "verify_email", "h", time.Time{}),
			"negative attempt": {UserID: "u1", Purpose: "p", Hash: "h", Attempts: -1, Expires: later},
		} {
			if err := s.SaveVerificationCode(ctx, c); err == nil {
				t.Errorf("%s: saved", name)
			}
		}
	})

	t.Run("ConsumeMatch", func(t *testing.T) {
		s := setup(t)
		c := newCodeRecord("u1", "reset_password", "right", later)
		c.Target = "t"
		save(t, s, c)
		save(t, s, newCodeRecord("u1", "verify_email", "right", later))
		got, err := s.ConsumeVerificationCode(ctx, "u1", "reset_password", "right", 5, base)
		if err != nil {
			t.Fatalf("consume: %v", err)
		}
		sameCodeRecord(t, got, c)
		gone(t, s, "u1", "reset_password")
		read(t, s, "u1", "verify_email") // another purpose is untouched
		_, err = s.ConsumeVerificationCode(ctx, "u1", "reset_password", "right", 5, base)
		wantErr(t, "consume twice", err, store.ErrNotFound)
	})

	t.Run("ConsumeCountsAndLimits", func(t *testing.T) {
		s := setup(t)
		save(t, s, newCodeRecord("u1", "verify_email", "right", later))
		for i := 1; i <= 2; i++ {
			got, err := s.ConsumeVerificationCode(ctx, "u1", "verify_email", "wrong", 3, base)
			wantErr(t, "wrong code", err, store.ErrCodeMismatch)
			if got == nil || got.Attempts != i {
				t.Fatalf("after %d wrong codes: %+v", i, got)
			}
			if stored := read(t, s, "u1", "verify_email"); stored.Attempts != i {
				t.Fatalf("stored attempts %d, want %d", stored.Attempts, i)
			}
		}
		// The third wrong try uses the code up, even for the right code after.
		got, err := s.ConsumeVerificationCode(ctx, "u1", "verify_email", "wrong", 3, base)
		wantErr(t, "third wrong code", err, store.ErrCodeMismatch)
		if got == nil || got.Attempts != 3 {
			t.Errorf("third wrong code: %+v", got)
		}
		gone(t, s, "u1", "verify_email")
		_, err = s.ConsumeVerificationCode(ctx, "u1", "verify_email", "right", 3, base)
		wantErr(t, "right code after the limit", err, store.ErrNotFound)
	})

	t.Run("ConsumeExpired", func(t *testing.T) {
		cases := []struct {
			name string
			now  time.Time
			want error
		}{
			{"before", later.Add(-time.Microsecond), nil},
			{"at", later, store.ErrNotFound},
			{"after", later.Add(time.Hour), store.ErrNotFound},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				s := setup(t)
				save(t, s, newCodeRecord("u1", "verify_email", "right", later))
				_, err := s.ConsumeVerificationCode(ctx, "u1", "verify_email", "right", 5, tc.now)
				if tc.want == nil && err != nil {
					t.Fatalf("consume: %v", err)
				}
				if tc.want != nil {
					wantErr(t, "consume expired", err, tc.want)
					// An expired code counts no try.
					_, err = s.ConsumeVerificationCode(ctx, "u1", "verify_email", "wrong", 5, tc.now)
					wantErr(t, "wrong code on an expired one", err, store.ErrNotFound)
					if c := read(t, s, "u1", "verify_email"); c.Attempts != 0 {
						t.Errorf("attempts %d on an expired code", c.Attempts)
					}
				}
			})
		}
	})

	t.Run("EmptyHashNeverMatches", func(t *testing.T) {
		s := setup(t)
		save(t, s, newCodeRecord("u1", "temporary_password", "", later))
		_, err := s.ConsumeVerificationCode(ctx, "u1", "temporary_password", "", 5, base)
		wantErr(t, "empty code against an empty hash", err, store.ErrCodeMismatch)
	})

	t.Run("Unknown", func(t *testing.T) {
		s := setup(t)
		_, err := s.ConsumeVerificationCode(ctx, "u1", "verify_email", "x", 5, base)
		wantErr(t, "consume none", err, store.ErrNotFound)
		_, err = s.ConsumeVerificationCode(ctx, "nobody", "verify_email", "x", 5, base)
		wantErr(t, "consume for unknown user", err, store.ErrNotFound)
		if _, err := s.ConsumeVerificationCode(ctx, "u1", "verify_email", "x", 0, base); err == nil || errors.Is(err, store.ErrNotFound) {
			t.Errorf("maxAttempts 0: err %v, want a usage error", err)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		s := setup(t)
		save(t, s, newCodeRecord("u1", "verify_email", "h", later))
		save(t, s, newCodeRecord("u1", "reset_password", "h", later))
		if err := s.DeleteVerificationCode(ctx, "u1", "verify_email"); err != nil {
			t.Fatal(err)
		}
		gone(t, s, "u1", "verify_email")
		read(t, s, "u1", "reset_password")
		if err := s.DeleteVerificationCode(ctx, "u1", "verify_email"); err != nil {
			t.Errorf("delete again: %v", err)
		}
		if err := s.DeleteVerificationCode(ctx, "nobody", "x"); err != nil {
			t.Errorf("delete for unknown user: %v", err)
		}
	})

	t.Run("GoWithTheUser", func(t *testing.T) {
		s := setup(t)
		save(t, s, newCodeRecord("u1", "verify_email", "h", later))
		save(t, s, newCodeRecord("u2", "verify_email", "h", later))
		if err := s.DeleteUser(ctx, "u1"); err != nil {
			t.Fatal(err)
		}
		gone(t, s, "u1", "verify_email")
		read(t, s, "u2", "verify_email")
		// A new user with the old id starts without the old code.
		mustCreate(t, s, newUser("u1", "ada@example.com"))
		gone(t, s, "u1", "verify_email")
	})

	t.Run("ConcurrentRightCode", func(t *testing.T) {
		s := setup(t)
		save(t, s, newCodeRecord("u1", "reset_password", "right", later))
		const n = 10
		errs := raceN(n, func(int) error {
			_, err := s.ConsumeVerificationCode(ctx, "u1", "reset_password", "right", 5, base)
			return err
		})
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrNotFound):
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}
		if ok != 1 {
			t.Errorf("%d of %d concurrent consumers got the code, want exactly 1", ok, n)
		}
	})

	t.Run("ConcurrentWrongCodes", func(t *testing.T) {
		// However many guesses arrive at once, no more than maxAttempts are
		// ever judged.
		s := setup(t)
		save(t, s, newCodeRecord("u1", "verify_email", "right", later))
		const n, max = 20, 5
		var mu sync.Mutex
		seen := map[int]bool{}
		errs := raceN(n, func(int) error {
			c, err := s.ConsumeVerificationCode(ctx, "u1", "verify_email", "wrong", max, base)
			if c != nil {
				mu.Lock()
				seen[c.Attempts] = true
				mu.Unlock()
			}
			return err
		})
		mismatches := 0
		for _, err := range errs {
			switch {
			case errors.Is(err, store.ErrCodeMismatch):
				mismatches++
			case errors.Is(err, store.ErrNotFound):
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}
		if mismatches != max {
			t.Errorf("%d guesses judged, want exactly %d", mismatches, max)
		}
		for i := 1; i <= max; i++ {
			if !seen[i] {
				t.Errorf("no guess saw attempt count %d: %v", i, seen)
			}
		}
		gone(t, s, "u1", "verify_email")
	})
}
