package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
)

func newFactor(id, userID string) store.MFAFactor {
	return store.MFAFactor{ID: id, UserID: userID, Kind: store.FactorTOTP, Name: "Phone " + id,
		Secret: []byte("secret of " + id), CreatedAt: base}
}

func mustAddFactor(t *testing.T, s store.Store, f store.MFAFactor) {
	t.Helper()
	if err := s.AddMFAFactor(context.Background(), f); err != nil {
		t.Fatalf("AddMFAFactor(%s, %s): %v", f.UserID, f.ID, err)
	}
}

func mustFactors(t *testing.T, s store.Store, userID string) []store.MFAFactor {
	t.Helper()
	fs, err := s.MFAFactors(context.Background(), userID)
	if err != nil {
		t.Fatalf("MFAFactors(%s): %v", userID, err)
	}
	return fs
}

// mustFactor returns the user's factor with that id, failing if it is missing.
func mustFactor(t *testing.T, s store.Store, userID, id string) store.MFAFactor {
	t.Helper()
	for _, f := range mustFactors(t, s, userID) {
		if f.ID == id {
			return f
		}
	}
	t.Fatalf("user %s has no factor %s", userID, id)
	return store.MFAFactor{}
}

func sameFactor(t *testing.T, got, want store.MFAFactor) {
	t.Helper()
	if got.ID != want.ID || got.UserID != want.UserID || got.Kind != want.Kind || got.Name != want.Name ||
		!bytes.Equal(got.Secret, want.Secret) || got.Confirmed != want.Confirmed || got.LastStep != want.LastStep ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.LastUsedAt.Equal(want.LastUsedAt) {
		t.Errorf("factor:\n got %+v\nwant %+v", got, want)
	}
}

func factorIDs(fs []store.MFAFactor) []string {
	ids := make([]string, len(fs))
	for i, f := range fs {
		ids[i] = f.ID
	}
	return ids
}

func testMFA(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	setup := func(t *testing.T) store.Store {
		s := open(t)
		mustCreate(t, s, newUser("u1", "ada@example.com"))
		mustCreate(t, s, newUser("u2", "grace@example.com"))
		return s
	}
	// confirmed adds a confirmed factor of u1 whose last accepted step is 100.
	confirmed := func(t *testing.T, s store.Store, id string) store.MFAFactor {
		t.Helper()
		f := newFactor(id, "u1")
		f.Confirmed, f.LastStep = true, 100
		mustAddFactor(t, s, f)
		return f
	}

	t.Run("AddAndList", func(t *testing.T) {
		s := setup(t)
		// Added out of order, so that insertion order cannot pass for
		// CreatedAt order; two share a CreatedAt and are ordered by id.
		late := newFactor("f-b", "u1")
		late.CreatedAt = base.Add(time.Minute)
		tie := newFactor("f-a", "u1")
		tie.CreatedAt = late.CreatedAt
		tie.Name = "Téléphone 山田 🔐"
		tie.Secret = []byte{0, 1, 0xfe, 0xff, 0, '\n'}
		early := newFactor("f-z", "u1")
		early.Confirmed, early.LastStep, early.LastUsedAt = true, 58_000_000, base.Add(30*time.Second)
		empty := newFactor("f-e", "u1")
		empty.Secret, empty.Name, empty.CreatedAt = nil, "", base.Add(time.Hour)
		other := newFactor("f-o", "u2")
		for _, f := range []store.MFAFactor{late, tie, early, empty, other} {
			mustAddFactor(t, s, f)
		}

		got := mustFactors(t, s, "u1")
		want := []store.MFAFactor{early, tie, late, empty}
		if fmt.Sprint(factorIDs(got)) != fmt.Sprint(factorIDs(want)) {
			t.Fatalf("MFAFactors(u1) = %v, want %v", factorIDs(got), factorIDs(want))
		}
		for i := range want {
			sameFactor(t, got[i], want[i])
		}
		if got[3].Secret == nil {
			t.Error("empty Secret came back nil, want empty")
		}
		if got := mustFactors(t, s, "u2"); len(got) != 1 {
			t.Errorf("MFAFactors(u2) = %v, want [f-o]", factorIDs(got))
		}

		// The returned secret is the caller's: changing it changes nothing stored.
		got[1].Secret[0] = 'X'
		sameFactor(t, mustFactor(t, s, "u1", "f-a"), tie)
	})

	t.Run("None", func(t *testing.T) {
		s := setup(t)
		mustAddFactor(t, s, newFactor("f1", "u2"))
		for _, user := range []string{"u1", "nobody", ""} {
			if got := mustFactors(t, s, user); len(got) != 0 {
				t.Errorf("MFAFactors(%q) = %v, want none", user, factorIDs(got))
			}
		}
	})

	t.Run("CreatedAtDefaultsToNow", func(t *testing.T) {
		s := setup(t)
		f := newFactor("f1", "u1")
		f.CreatedAt = time.Time{}
		clk := startClock()
		mustAddFactor(t, s, f)
		clk.stop()
		clk.check(t, "CreatedAt", mustFactor(t, s, "u1", "f1").CreatedAt)
	})

	t.Run("AddRefused", func(t *testing.T) {
		cases := []struct {
			name string
			f    store.MFAFactor
			want error
		}{
			{"unknown user", newFactor("f2", "nobody"), store.ErrNotFound},
			{"id taken by the same user", newFactor("f1", "u1"), store.ErrConflict},
			{"id taken by another user", newFactor("f1", "u2"), store.ErrConflict},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				s := setup(t)
				orig := newFactor("f1", "u1")
				mustAddFactor(t, s, orig)
				dup := tc.f
				dup.Name, dup.Secret, dup.Confirmed = "Impostor", []byte("other"), true
				wantErr(t, "AddMFAFactor", s.AddMFAFactor(ctx, dup), tc.want)
				// The loser neither overwrote nor added anything.
				if got := mustFactors(t, s, "u1"); len(got) != 1 {
					t.Errorf("u1 has factors %v, want [f1]", factorIDs(got))
				} else {
					sameFactor(t, got[0], orig)
				}
				for _, user := range []string{"u2", "nobody"} {
					if got := mustFactors(t, s, user); len(got) != 0 {
						t.Errorf("%s has factors %v, want none", user, factorIDs(got))
					}
				}
			})
		}
	})

	t.Run("Confirm", func(t *testing.T) {
		s := setup(t)
		f := newFactor("f1", "u1")
		mustAddFactor(t, s, f)
		mustAddFactor(t, s, newFactor("f2", "u1"))
		if err := s.ConfirmMFAFactor(ctx, "u1", "f1", 1000); err != nil {
			t.Fatalf("ConfirmMFAFactor: %v", err)
		}
		f.Confirmed, f.LastStep = true, 1000
		sameFactor(t, mustFactor(t, s, "u1", "f1"), f)
		if mustFactor(t, s, "u1", "f2").Confirmed {
			t.Error("confirming f1 confirmed f2")
		}
		// The code that confirmed the factor may not be used to sign in.
		wantErr(t, "UseTOTPStep with the confirming step", s.UseTOTPStep(ctx, "u1", "f1", 1000, base), store.ErrStepUsed)
		if err := s.UseTOTPStep(ctx, "u1", "f1", 1001, base); err != nil {
			t.Errorf("UseTOTPStep after the confirming step: %v", err)
		}
		// Confirming again with an older code does not reopen used steps.
		if err := s.ConfirmMFAFactor(ctx, "u1", "f1", 990); err != nil {
			t.Fatalf("ConfirmMFAFactor again: %v", err)
		}
		if got := mustFactor(t, s, "u1", "f1"); !got.Confirmed || got.LastStep != 1001 {
			t.Errorf("after confirming again with an older step: confirmed %v, LastStep %d, want true, 1001",
				got.Confirmed, got.LastStep)
		}
		wantErr(t, "UseTOTPStep of a step used before", s.UseTOTPStep(ctx, "u1", "f1", 995, base), store.ErrStepUsed)

		for _, tc := range []struct{ user, factor string }{{"u1", "nope"}, {"u2", "f2"}, {"nobody", "f2"}} {
			wantErr(t, fmt.Sprintf("ConfirmMFAFactor(%s, %s)", tc.user, tc.factor),
				s.ConfirmMFAFactor(ctx, tc.user, tc.factor, 1), store.ErrNotFound)
		}
		if mustFactor(t, s, "u1", "f2").Confirmed {
			t.Error("another user's ConfirmMFAFactor confirmed f2")
		}
	})

	t.Run("SetSecret", func(t *testing.T) {
		s := setup(t)
		f1, f2 := newFactor("f1", "u1"), newFactor("f2", "u1")
		mustAddFactor(t, s, f1)
		mustAddFactor(t, s, f2)
		if err := s.ConfirmMFAFactor(ctx, "u1", "f1", 77); err != nil {
			t.Fatal(err)
		}
		if err := s.SetMFASecret(ctx, "u1", "f1", []byte("sealed now")); err != nil {
			t.Fatalf("SetMFASecret: %v", err)
		}
		f1.Secret, f1.Confirmed, f1.LastStep = []byte("sealed now"), true, 77
		sameFactor(t, mustFactor(t, s, "u1", "f1"), f1)
		sameFactor(t, mustFactor(t, s, "u1", "f2"), f2)
		for _, tc := range []struct{ user, factor string }{{"u1", "nope"}, {"u2", "f2"}, {"nobody", "f1"}} {
			wantErr(t, fmt.Sprintf("SetMFASecret(%s, %s)", tc.user, tc.factor),
				s.SetMFASecret(ctx, tc.user, tc.factor, []byte("x")), store.ErrNotFound)
		}
		sameFactor(t, mustFactor(t, s, "u1", "f2"), f2)
	})

	t.Run("UseTOTPStep", func(t *testing.T) {
		at := base.Add(time.Hour)
		cases := []struct {
			name         string
			user, factor string
			step         int64
			want         error
		}{
			{"next step", "u1", "f1", 101, nil},
			{"much later step", "u1", "f1", 1 << 40, nil},
			{"same step", "u1", "f1", 100, store.ErrStepUsed},
			{"earlier step", "u1", "f1", 99, store.ErrStepUsed},
			{"step zero", "u1", "f1", 0, store.ErrStepUsed},
			{"unconfirmed factor", "u1", "pending", 101, store.ErrNotFound},
			{"unknown factor", "u1", "nope", 101, store.ErrNotFound},
			{"another user's factor", "u2", "f1", 101, store.ErrNotFound},
			{"unknown user", "nobody", "f1", 101, store.ErrNotFound},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				s := setup(t)
				f := confirmed(t, s, "f1")
				pending := newFactor("pending", "u1")
				pending.LastStep = 5
				mustAddFactor(t, s, pending)
				err := s.UseTOTPStep(ctx, tc.user, tc.factor, tc.step, at)
				if tc.want == nil {
					if err != nil {
						t.Fatalf("UseTOTPStep: %v", err)
					}
					f.LastStep, f.LastUsedAt = tc.step, at
				} else {
					wantErr(t, "UseTOTPStep", err, tc.want)
				}
				// A refusal changes nothing.
				sameFactor(t, mustFactor(t, s, "u1", "f1"), f)
				sameFactor(t, mustFactor(t, s, "u1", "pending"), pending)
			})
		}
	})

	t.Run("UseTOTPStepInSequence", func(t *testing.T) {
		s := setup(t)
		confirmed(t, s, "f1")
		confirmed(t, s, "f2")
		steps := []struct {
			step int64
			want error
		}{{101, nil}, {101, store.ErrStepUsed}, {105, nil}, {103, store.ErrStepUsed}, {106, nil}}
		for i, st := range steps {
			err := s.UseTOTPStep(ctx, "u1", "f1", st.step, base.Add(time.Duration(i)*time.Second))
			if st.want == nil && err != nil {
				t.Errorf("step %d: %v", st.step, err)
			} else if st.want != nil {
				wantErr(t, fmt.Sprintf("step %d", st.step), err, st.want)
			}
		}
		if got := mustFactor(t, s, "u1", "f1"); got.LastStep != 106 || !got.LastUsedAt.Equal(base.Add(4*time.Second)) {
			t.Errorf("f1 LastStep %d, LastUsedAt %v; want 106, %v", got.LastStep, got.LastUsedAt, base.Add(4*time.Second))
		}
		// Each factor keeps its own guard.
		if err := s.UseTOTPStep(ctx, "u1", "f2", 101, base); err != nil {
			t.Errorf("f2 step 101: %v", err)
		}
	})

	t.Run("UseTOTPStepRace", func(t *testing.T) {
		s := setup(t)
		confirmed(t, s, "f1")
		const n = 20
		errs := raceN(n, func(int) error { return s.UseTOTPStep(ctx, "u1", "f1", 101, base) })
		wins := 0
		for i, err := range errs {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, store.ErrStepUsed):
				t.Errorf("goroutine %d: %v, want nil or ErrStepUsed", i, err)
			}
		}
		if wins != 1 {
			t.Errorf("%d of %d goroutines had step 101 accepted, want exactly 1", wins, n)
		}
		if got := mustFactor(t, s, "u1", "f1"); got.LastStep != 101 {
			t.Errorf("LastStep = %d, want 101", got.LastStep)
		}
	})

	t.Run("DeleteFactor", func(t *testing.T) {
		s := setup(t)
		mustAddFactor(t, s, newFactor("f1", "u1"))
		mustAddFactor(t, s, newFactor("f2", "u1"))
		mustAddFactor(t, s, newFactor("f3", "u2"))
		if err := s.ReplaceRecoveryCodes(ctx, "u1", []string{"r1"}); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteMFAFactor(ctx, "u1", "f1"); err != nil {
			t.Fatalf("DeleteMFAFactor: %v", err)
		}
		if got := factorIDs(mustFactors(t, s, "u1")); fmt.Sprint(got) != "[f2]" {
			t.Errorf("u1 factors after delete = %v, want [f2]", got)
		}
		wantErr(t, "DeleteMFAFactor again", s.DeleteMFAFactor(ctx, "u1", "f1"), store.ErrNotFound)
		wantErr(t, "DeleteMFAFactor of another user's factor", s.DeleteMFAFactor(ctx, "u1", "f3"), store.ErrNotFound)
		wantErr(t, "DeleteMFAFactor for an unknown user", s.DeleteMFAFactor(ctx, "nobody", "f2"), store.ErrNotFound)
		if got := mustFactors(t, s, "u2"); len(got) != 1 {
			t.Errorf("u2 factors = %v, want [f3]", factorIDs(got))
		}
		// Recovery codes are not factors: they stay.
		if n, err := s.RecoveryCodesLeft(ctx, "u1"); err != nil || n != 1 {
			t.Errorf("RecoveryCodesLeft = %d, %v; want 1", n, err)
		}
	})

	t.Run("DeleteMFA", func(t *testing.T) {
		s := setup(t)
		mustAddFactor(t, s, newFactor("f1", "u1"))
		mustAddFactor(t, s, newFactor("f2", "u1"))
		mustAddFactor(t, s, newFactor("f3", "u2"))
		for _, u := range []string{"u1", "u2"} {
			if err := s.ReplaceRecoveryCodes(ctx, u, []string{"r1", "r2"}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.DeleteMFA(ctx, "u1"); err != nil {
			t.Fatalf("DeleteMFA: %v", err)
		}
		if got := mustFactors(t, s, "u1"); len(got) != 0 {
			t.Errorf("u1 factors after DeleteMFA = %v", factorIDs(got))
		}
		if n, err := s.RecoveryCodesLeft(ctx, "u1"); err != nil || n != 0 {
			t.Errorf("u1 codes left after DeleteMFA = %d, %v; want 0", n, err)
		}
		_, err := s.UseRecoveryCode(ctx, "u1", "r1")
		wantErr(t, "UseRecoveryCode after DeleteMFA", err, store.ErrNotFound)
		if got := mustFactors(t, s, "u2"); len(got) != 1 {
			t.Errorf("u2 factors = %v, want [f3]", factorIDs(got))
		}
		if n, err := s.RecoveryCodesLeft(ctx, "u2"); err != nil || n != 2 {
			t.Errorf("u2 codes left = %d, %v; want 2", n, err)
		}
		for _, u := range []string{"u1", "nobody"} {
			if err := s.DeleteMFA(ctx, u); err != nil {
				t.Errorf("DeleteMFA(%s) with nothing to delete: %v", u, err)
			}
		}
	})

	t.Run("GoWithTheUser", func(t *testing.T) {
		s := setup(t)
		mustAddFactor(t, s, newFactor("f1", "u1"))
		mustAddFactor(t, s, newFactor("f2", "u2"))
		for _, u := range []string{"u1", "u2"} {
			if err := s.ReplaceRecoveryCodes(ctx, u, []string{"r1"}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.DeleteUser(ctx, "u1"); err != nil {
			t.Fatal(err)
		}
		// A new user with the old id starts with nothing, and the old
		// factor's id is free again.
		mustCreate(t, s, newUser("u1", "ada@example.com"))
		if got := mustFactors(t, s, "u1"); len(got) != 0 {
			t.Errorf("factors of a re-created user = %v, want none", factorIDs(got))
		}
		if n, err := s.RecoveryCodesLeft(ctx, "u1"); err != nil || n != 0 {
			t.Errorf("codes of a re-created user = %d, %v; want 0", n, err)
		}
		mustAddFactor(t, s, newFactor("f1", "u1"))
		if got := mustFactors(t, s, "u2"); len(got) != 1 {
			t.Errorf("u2 factors = %v, want [f2]", factorIDs(got))
		}
		if n, err := s.RecoveryCodesLeft(ctx, "u2"); err != nil || n != 1 {
			t.Errorf("u2 codes left = %d, %v; want 1", n, err)
		}
	})
}

func testRecoveryCodes(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	setup := func(t *testing.T) store.Store {
		s := open(t)
		mustCreate(t, s, newUser("u1", "ada@example.com"))
		mustCreate(t, s, newUser("u2", "grace@example.com"))
		return s
	}
	replace := func(t *testing.T, s store.Store, userID string, hashes ...string) {
		t.Helper()
		if err := s.ReplaceRecoveryCodes(ctx, userID, hashes); err != nil {
			t.Fatalf("ReplaceRecoveryCodes(%s): %v", userID, err)
		}
	}
	left := func(t *testing.T, s store.Store, userID string, want int) {
		t.Helper()
		if n, err := s.RecoveryCodesLeft(ctx, userID); err != nil || n != want {
			t.Errorf("RecoveryCodesLeft(%s) = %d, %v; want %d", userID, n, err, want)
		}
	}
	use := func(t *testing.T, s store.Store, userID, hash string, want error, wantLeft int) {
		t.Helper()
		n, err := s.UseRecoveryCode(ctx, userID, hash)
		if want != nil {
			wantErr(t, fmt.Sprintf("UseRecoveryCode(%s, %s)", userID, hash), err, want)
			return
		}
		if err != nil || n != wantLeft {
			t.Errorf("UseRecoveryCode(%s, %s) = %d, %v; want %d left", userID, hash, n, err, wantLeft)
		}
	}

	t.Run("UseOnce", func(t *testing.T) {
		s := setup(t)
		left(t, s, "u1", 0)
		replace(t, s, "u1", "a", "b", "c")
		replace(t, s, "u2", "b", "x")
		left(t, s, "u1", 3)
		use(t, s, "u1", "b", nil, 2)
		use(t, s, "u1", "b", store.ErrNotFound, 0)
		use(t, s, "u1", "zzz", store.ErrNotFound, 0)
		use(t, s, "u1", "x", store.ErrNotFound, 0) // u2's code
		use(t, s, "nobody", "a", store.ErrNotFound, 0)
		left(t, s, "u1", 2)
		// The same hash held by another user is that user's own code.
		left(t, s, "u2", 2)
		use(t, s, "u2", "b", nil, 1)
		use(t, s, "u1", "a", nil, 1)
		use(t, s, "u1", "c", nil, 0)
		left(t, s, "u1", 0)
	})

	t.Run("ReplaceInvalidatesOldCodes", func(t *testing.T) {
		s := setup(t)
		replace(t, s, "u1", "a", "b", "c")
		use(t, s, "u1", "a", nil, 2)
		replace(t, s, "u1", "c", "d")
		left(t, s, "u1", 2)
		use(t, s, "u1", "b", store.ErrNotFound, 0)
		use(t, s, "u1", "a", store.ErrNotFound, 0)
		use(t, s, "u1", "c", nil, 1)
		// A replacement's codes are all unused, even one spent before.
		replace(t, s, "u1", "c", "e")
		left(t, s, "u1", 2)
		use(t, s, "u1", "c", nil, 1)
		// Replacing with none leaves none.
		replace(t, s, "u1")
		left(t, s, "u1", 0)
		use(t, s, "u1", "e", store.ErrNotFound, 0)
	})

	t.Run("UnknownUser", func(t *testing.T) {
		s := setup(t)
		wantErr(t, "ReplaceRecoveryCodes for an unknown user",
			s.ReplaceRecoveryCodes(ctx, "nobody", []string{"a"}), store.ErrNotFound)
		wantErr(t, "ReplaceRecoveryCodes of none for an unknown user",
			s.ReplaceRecoveryCodes(ctx, "nobody", nil), store.ErrNotFound)
		left(t, s, "nobody", 0)
	})

	t.Run("Race", func(t *testing.T) {
		s := setup(t)
		replace(t, s, "u1", "a", "b", "c")
		const n = 20
		var (
			mu    sync.Mutex
			lefts []int
		)
		errs := raceN(n, func(int) error {
			l, err := s.UseRecoveryCode(ctx, "u1", "b")
			if err == nil {
				mu.Lock()
				lefts = append(lefts, l)
				mu.Unlock()
			}
			return err
		})
		for i, err := range errs {
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Errorf("goroutine %d: %v, want nil or ErrNotFound", i, err)
			}
		}
		if len(lefts) != 1 || lefts[0] != 2 {
			t.Errorf("winners were told %v codes left, want exactly one winner told 2", lefts)
		}
		left(t, s, "u1", 2)
	})

	t.Run("RaceReplacements", func(t *testing.T) {
		// Replacements at once leave one caller's set, never a mix.
		s := setup(t)
		const n = 10
		errs := raceN(n, func(i int) error {
			return s.ReplaceRecoveryCodes(ctx, "u1", []string{fmt.Sprintf("%d-a", i), fmt.Sprintf("%d-b", i)})
		})
		for i, err := range errs {
			if err != nil {
				t.Errorf("goroutine %d: %v", i, err)
			}
		}
		left(t, s, "u1", 2)
	})

	t.Run("RaceDistinctCodes", func(t *testing.T) {
		// Contention alone, with no real conflict, must not fail anyone.
		s := setup(t)
		const n = 20
		hashes := make([]string, n)
		for i := range hashes {
			hashes[i] = fmt.Sprintf("h%02d", i)
		}
		replace(t, s, "u1", hashes...)
		errs := raceN(n, func(i int) error {
			_, err := s.UseRecoveryCode(ctx, "u1", hashes[i])
			return err
		})
		for i, err := range errs {
			if err != nil {
				t.Errorf("goroutine %d: %v", i, err)
			}
		}
		left(t, s, "u1", 0)
	})
}

func testSignInFailures(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	const window = 15 * time.Minute
	read := func(t *testing.T, s store.Store, login string) store.SignInFailures {
		t.Helper()
		f, err := s.SignInFailures(ctx, login)
		if err != nil {
			t.Fatalf("SignInFailures(%s): %v", login, err)
		}
		return f
	}
	record := func(t *testing.T, s store.Store, login string, now time.Time) store.SignInFailures {
		t.Helper()
		f, err := s.RecordSignInFailure(ctx, login, now, window)
		if err != nil {
			t.Fatalf("RecordSignInFailure(%s, %v): %v", login, now, err)
		}
		return f
	}
	lock := func(t *testing.T, s store.Store, login string, until time.Time) {
		t.Helper()
		if err := s.LockSignIn(ctx, login, until); err != nil {
			t.Fatalf("LockSignIn(%s): %v", login, err)
		}
	}
	same := func(t *testing.T, what string, got, want store.SignInFailures) {
		t.Helper()
		if got.Login != want.Login || got.Count != want.Count ||
			!got.LastAt.Equal(want.LastAt) || !got.LockedUntil.Equal(want.LockedUntil) {
			t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
		}
	}

	t.Run("None", func(t *testing.T) {
		s := open(t)
		same(t, "record of an unknown login", read(t, s, "nobody@example.com"),
			store.SignInFailures{Login: "nobody@example.com"})
	})

	t.Run("Counting", func(t *testing.T) {
		s := open(t)
		// No user needs to exist: logins nobody has are counted alike.
		const login = "ada@example.com"
		for i := 1; i <= 3; i++ {
			at := base.Add(time.Duration(i) * time.Minute)
			want := store.SignInFailures{Login: login, Count: i, LastAt: at}
			same(t, fmt.Sprintf("failure %d", i), record(t, s, login, at), want)
			same(t, fmt.Sprintf("read after failure %d", i), read(t, s, login), want)
		}
		// Another login has its own record; logins are compared exactly.
		same(t, "another login", record(t, s, "ADA@example.com", base), store.SignInFailures{
			Login: "ADA@example.com", Count: 1, LastAt: base})
		if got := read(t, s, login); got.Count != 3 {
			t.Errorf("count after another login's failure = %d, want 3", got.Count)
		}
	})

	t.Run("Window", func(t *testing.T) {
		last := base.Add(time.Minute)
		locked := base.Add(time.Hour)
		cases := []struct {
			name      string
			now       time.Time
			wantCount int
		}{
			{"inside", last.Add(window / 2), 4},
			{"at the edge", last.Add(window), 4},
			{"past the edge", last.Add(window + time.Microsecond), 1},
			{"long after", last.Add(100 * window), 1},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				s := open(t)
				for _, at := range []time.Time{base, base, last} {
					record(t, s, "l", at)
				}
				lock(t, s, "l", locked)
				// A restart keeps the lock: only LockSignIn and Clear lift it.
				want := store.SignInFailures{Login: "l", Count: tc.wantCount, LastAt: tc.now, LockedUntil: locked}
				same(t, "failure", record(t, s, "l", tc.now), want)
				same(t, "read", read(t, s, "l"), want)
			})
		}
	})

	t.Run("LastAtNeverMovesBack", func(t *testing.T) {
		// A failure stamped a little earlier (another instance's clock)
		// still counts, but LastAt stays the latest failure.
		s := open(t)
		record(t, s, "l", base.Add(time.Minute))
		same(t, "earlier failure", record(t, s, "l", base), store.SignInFailures{
			Login: "l", Count: 2, LastAt: base.Add(time.Minute)})
	})

	t.Run("Lock", func(t *testing.T) {
		s := open(t)
		until := base.Add(time.Hour)
		// A lock makes a record with no failures.
		lock(t, s, "l", until)
		same(t, "after a lock alone", read(t, s, "l"), store.SignInFailures{Login: "l", LockedUntil: until})
		same(t, "first failure after the lock", record(t, s, "l", base),
			store.SignInFailures{Login: "l", Count: 1, LastAt: base, LockedUntil: until})
		// A later lock replaces the deadline, earlier or not, and keeps the count.
		for _, u := range []time.Time{until.Add(time.Hour), until.Add(-30 * time.Minute), {}} {
			lock(t, s, "l", u)
			same(t, fmt.Sprintf("locked until %v", u), read(t, s, "l"),
				store.SignInFailures{Login: "l", Count: 1, LastAt: base, LockedUntil: u})
		}
		same(t, "other login", read(t, s, "m"), store.SignInFailures{Login: "m"})
	})

	t.Run("Clear", func(t *testing.T) {
		s := open(t)
		record(t, s, "l", base)
		record(t, s, "m", base)
		lock(t, s, "l", base.Add(time.Hour))
		for range 2 { // clearing none is not an error
			if err := s.ClearSignInFailures(ctx, "l"); err != nil {
				t.Fatalf("ClearSignInFailures: %v", err)
			}
		}
		same(t, "cleared", read(t, s, "l"), store.SignInFailures{Login: "l"})
		same(t, "other login", read(t, s, "m"), store.SignInFailures{Login: "m", Count: 1, LastAt: base})
		same(t, "failure after clear", record(t, s, "l", base.Add(time.Second)),
			store.SignInFailures{Login: "l", Count: 1, LastAt: base.Add(time.Second)})
	})

	t.Run("Purge", func(t *testing.T) {
		s := open(t)
		before := base
		records := []struct {
			login       string
			lastAt      time.Time // zero: no failure, a lock alone
			lockedUntil time.Time
			kept        bool
		}{
			{"old", before.Add(-time.Hour), time.Time{}, false},
			{"just before", before.Add(-time.Microsecond), time.Time{}, false},
			{"at", before, time.Time{}, true},
			{"recent", before.Add(time.Minute), time.Time{}, true},
			{"old, still locked", before.Add(-time.Hour), before.Add(time.Hour), true},
			{"old, lock over", before.Add(-time.Hour), before.Add(-time.Minute), false},
			{"recent, lock over", before.Add(time.Minute), before.Add(-time.Minute), true},
			{"lock alone, over", time.Time{}, before.Add(-time.Minute), false},
			{"lock alone, still on", time.Time{}, before.Add(time.Minute), true},
		}
		for _, r := range records {
			if !r.lastAt.IsZero() {
				record(t, s, r.login, r.lastAt)
			}
			if !r.lockedUntil.IsZero() {
				lock(t, s, r.login, r.lockedUntil)
			}
		}
		if err := s.PurgeSignInFailures(ctx, before); err != nil {
			t.Fatalf("PurgeSignInFailures: %v", err)
		}
		for _, r := range records {
			want := store.SignInFailures{Login: r.login}
			if r.kept {
				want.LastAt, want.LockedUntil = r.lastAt, r.lockedUntil
				if !r.lastAt.IsZero() {
					want.Count = 1
				}
			}
			same(t, r.login, read(t, s, r.login), want)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		// Every failure counts, and each caller is told a different count.
		s := open(t)
		const n = 20
		counts := make([]int, n)
		errs := raceN(n, func(i int) error {
			f, err := s.RecordSignInFailure(ctx, "l", base, window)
			counts[i] = f.Count
			return err
		})
		seen := map[int]bool{}
		for i, err := range errs {
			if err != nil {
				t.Errorf("goroutine %d: %v", i, err)
			}
			seen[counts[i]] = true
		}
		for c := 1; c <= n; c++ {
			if !seen[c] {
				t.Errorf("no caller was told count %d: %v", c, counts)
			}
		}
		same(t, "after the race", read(t, s, "l"), store.SignInFailures{Login: "l", Count: n, LastAt: base})
	})
}
