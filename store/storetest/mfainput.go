package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
)

// testMFAInvalidInput: malformed factors, steps, codes and logins are
// refused with a plain error (not a not-found or conflict a caller would
// read as an answer), and nothing of them is stored.
func testMFAInvalidInput(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	s := open(t)
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
