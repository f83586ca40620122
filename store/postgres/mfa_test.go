package postgres

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/store"
)

// TestMFAAcrossStores stands for several gateways on one database: each has
// its own connection pool, and the replay guard, recovery codes and failure
// counts still hold across them.
func TestMFAAcrossStores(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.PostgresDSN(t)
	const n = 4
	stores := make([]*Store, n)
	for i := range stores {
		stores[i] = openAt(t, dsn)
	}
	if err := stores[0].CreateUser(ctx, &store.User{ID: "u1", Email: "a@x.io", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if err := stores[0].AddMFAFactor(ctx, store.MFAFactor{ID: "f1", UserID: "u1", Kind: store.FactorTOTP,
		Secret: []byte("k"), Confirmed: true, LastStep: 100}); err != nil {
		t.Fatal(err)
	}
	if err := stores[0].ReplaceRecoveryCodes(ctx, "u1", []string{"r1", "r2"}); err != nil {
		t.Fatal(err)
	}
	const callers = 5 * n
	steps := raceStores(callers, func(i int) error {
		return stores[i%n].UseTOTPStep(ctx, "u1", "f1", 101, time.Now())
	})
	codes := raceStores(callers, func(i int) error {
		_, err := stores[i%n].UseRecoveryCode(ctx, "u1", "r1")
		return err
	})
	failures := raceStores(callers, func(i int) error {
		_, err := stores[i%n].RecordSignInFailure(ctx, "a@x.io", time.Now(), time.Hour)
		return err
	})
	for name, r := range map[string]struct {
		errs []error
		lose error
	}{"TOTP step": {steps, store.ErrStepUsed}, "recovery code": {codes, store.ErrNotFound}} {
		wins := 0
		for i, err := range r.errs {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, r.lose):
				t.Errorf("%s, caller %d: %v", name, i, err)
			}
		}
		if wins != 1 {
			t.Errorf("%s: %d of %d callers won, want exactly 1", name, wins, callers)
		}
	}
	for i, err := range failures {
		if err != nil {
			t.Errorf("failure %d: %v", i, err)
		}
	}
	if f, err := stores[1].SignInFailures(ctx, "a@x.io"); err != nil || f.Count != callers {
		t.Errorf("SignInFailures = %+v, %v; want count %d", f, err, callers)
	}
	if left, err := stores[2].RecoveryCodesLeft(ctx, "u1"); err != nil || left != 1 {
		t.Errorf("RecoveryCodesLeft = %d, %v; want 1", left, err)
	}
}

// raceStores runs op in n goroutines released at once.
func raceStores(n int, op func(i int) error) []error {
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
	return errs
}

func TestMFAInvalidInputRejected(t *testing.T) {
	ctx := context.Background()
	s := openAt(t, testenv.PostgresDSN(t))
	if err := s.CreateUser(ctx, &store.User{ID: "u1", Email: "a@x.io"}); err != nil {
		t.Fatal(err)
	}
	factor := func(edit func(f *store.MFAFactor)) store.MFAFactor {
		f := store.MFAFactor{ID: "f1", UserID: "u1", Kind: store.FactorTOTP, Secret: []byte("k")}
		edit(&f)
		return f
	}
	cases := []struct {
		name string
		call func() error
	}{
		{"factor without id", func() error { return s.AddMFAFactor(ctx, factor(func(f *store.MFAFactor) { f.ID = "" })) }},
		{"factor without user", func() error {
			return s.AddMFAFactor(ctx, factor(func(f *store.MFAFactor) { f.UserID = "" }))
		}},
		{"factor without kind", func() error {
			return s.AddMFAFactor(ctx, factor(func(f *store.MFAFactor) { f.Kind = "" }))
		}},
		{"factor with a negative step", func() error {
			return s.AddMFAFactor(ctx, factor(func(f *store.MFAFactor) { f.LastStep = -1 }))
		}},
		{"TOTP step without a time", func() error { return s.UseTOTPStep(ctx, "u1", "f1", 1, time.Time{}) }},
		{"empty recovery code hash", func() error { return s.ReplaceRecoveryCodes(ctx, "u1", []string{"a", ""}) }},
		{"failure without login", func() error {
			_, err := s.RecordSignInFailure(ctx, "", time.Now(), time.Minute)
			return err
		}},
		{"failure with no window", func() error {
			_, err := s.RecordSignInFailure(ctx, "l", time.Now(), 0)
			return err
		}},
		{"lock without login", func() error { return s.LockSignIn(ctx, "", time.Now()) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil {
				t.Fatal("succeeded, want an error")
			}
			if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrStepUsed) {
				t.Errorf("err = %v, want a plain validation error", err)
			}
		})
	}
	if fs, _ := s.MFAFactors(ctx, "u1"); len(fs) != 0 {
		t.Errorf("%d factors stored by rejected calls", len(fs))
	}
	if n, _ := s.RecoveryCodesLeft(ctx, "u1"); n != 0 {
		t.Errorf("%d recovery codes stored by rejected calls", n)
	}
	if f, _ := s.SignInFailures(ctx, "l"); f.Count != 0 {
		t.Errorf("failure recorded by a rejected call: %+v", f)
	}
}
