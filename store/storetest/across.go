package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
)

// RunAcrossStores holds several stores opened on ONE database (as several
// gateways, or a gateway and the CLI, open it) to what must hold across
// them: a TOTP step and a recovery code are spent once among all callers,
// and every concurrent sign-in failure is counted. The database must be
// empty; stores needs at least two.
func RunAcrossStores(t *testing.T, stores []store.Store) {
	ctx := context.Background()
	n := len(stores)
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
	callers := 5 * n
	steps := raceN(callers, func(i int) error {
		return stores[i%n].UseTOTPStep(ctx, "u1", "f1", 101, time.Now())
	})
	codes := raceN(callers, func(i int) error {
		_, err := stores[i%n].UseRecoveryCode(ctx, "u1", "r1")
		return err
	})
	failures := raceN(callers, func(i int) error {
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
