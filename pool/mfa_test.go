package pool

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/store"
)

// withClock runs p on c (lifecycle_test.go), which the test moves.
func withClock(p *Pool, c *clock) *Pool { p.now = c.now; p.deny.timeNow = c.now; return p }
func codeAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := testenv.TOTPCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// RFC 6238 appendix B's SHA-1 vectors (8 digits there; the last six are
// what a six-digit app shows).
func TestHOTPVectors(t *testing.T) {
	secret := []byte("12345678901234567890")
	for _, tc := range []struct {
		unix int64
		want string
	}{
		{59, "287082"},
		{1111111109, "081804"},
		{1111111111, "050471"},
		{1234567890, "005924"},
		{2000000000, "279037"},
		{20000000000, "353130"},
	} {
		if got := hotp(secret, tc.unix/30); got != tc.want {
			t.Errorf("TOTP at %d = %s, want %s", tc.unix, got, tc.want)
		}
	}
}

func TestTOTPEnrolAndVerify(t *testing.T) {
	clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 10, 0, time.UTC)}
	// Lockout off: this test makes many wrong tries on purpose.
	p := withClock(newPoolOn(t, openSQLite(t, t.TempDir()+"/g.db"), Config{MFA: MFAConfig{Lockout: LockoutConfig{Off: true}}}), clk)
	u := mustCreate(t, p, NewUser{Email: "ada@example.com"})
	ctx := t.Context()

	e, err := p.StartTOTP(ctx, u, "Phone")
	if err != nil {
		t.Fatal(err)
	}
	uri, err := url.Parse(e.URI)
	if err != nil || uri.Scheme != "otpauth" || uri.Host != "totp" || uri.Query().Get("secret") != e.Secret ||
		uri.Query().Get("issuer") != "test" || !strings.Contains(uri.Path, "ada@example.com") {
		t.Fatalf("otpauth URI %q", e.URI)
	}
	if !strings.HasPrefix(string(e.QRCodePNG), "\x89PNG") {
		t.Fatal("QR code is not a PNG")
	}
	// Not a factor until confirmed.
	if has, enrol, err := p.NeedsMFA(ctx, u); err != nil || has || enrol {
		t.Fatalf("NeedsMFA before confirming = %v, %v, %v", has, enrol, err)
	}
	if _, err := p.ConfirmTOTP(ctx, u.ID, e.FactorID, "000000"); !errors.Is(err, ErrWrongCode) && codeAt(t, e.Secret, clk.now()) != "000000" {
		t.Fatalf("wrong confirmation code: %v", err)
	}
	codes, err := p.ConfirmTOTP(ctx, u.ID, e.FactorID, codeAt(t, e.Secret, clk.now()))
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != RecoveryCodeCount {
		t.Fatalf("%d recovery codes, want %d", len(codes), RecoveryCodeCount)
	}
	if has, _, _ := p.NeedsMFA(ctx, u); !has {
		t.Fatal("NeedsMFA after confirming: no factor")
	}
	fs, err := p.Factors(ctx, u.ID)
	if err != nil || len(fs) != 1 || fs[0].Name != "Phone" || fs[0].Secret != nil {
		t.Fatalf("Factors = %+v, %v", fs, err)
	}

	// The code that confirmed cannot sign in; the next step's can, once.
	if _, err := p.VerifyMFA(ctx, u, codeAt(t, e.Secret, clk.now())); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("confirmation code reused: %v", err)
	}
	clk.advance(30 * time.Second)
	amr, err := p.VerifyMFA(ctx, u, codeAt(t, e.Secret, clk.now()))
	if err != nil || !slices.Equal(amr, []string{"pwd", "otp", "mfa"}) {
		t.Fatalf("VerifyMFA = %v, %v", amr, err)
	}
	if _, err := p.VerifyMFA(ctx, u, codeAt(t, e.Secret, clk.now())); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("replayed code: %v", err)
	}
	// One step of drift either way is fine; two is not.
	clk.advance(60 * time.Second)
	if _, err := p.VerifyMFA(ctx, u, codeAt(t, e.Secret, clk.now().Add(30*time.Second))); err != nil {
		t.Fatalf("code one step ahead: %v", err)
	}
	clk.advance(90 * time.Second)
	if _, err := p.VerifyMFA(ctx, u, codeAt(t, e.Secret, clk.now().Add(-60*time.Second))); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("code two steps behind: %v", err)
	}
	// Not the shape of a code at all.
	for _, bad := range []string{"", "12345", "1234567", "abcdef", "12 34 56 78", strings.Repeat("9", 5000)} {
		if _, err := p.VerifyMFA(ctx, u, bad); !errors.Is(err, ErrWrongCode) {
			t.Fatalf("VerifyMFA(%q) = %v", bad, err)
		}
	}

	// Recovery codes: each once; replacing them kills the old set.
	amr, err = p.VerifyMFA(ctx, u, " "+strings.ToUpper(codes[0])+" ")
	if err != nil || !slices.Equal(amr, []string{"pwd", "mfa"}) {
		t.Fatalf("recovery code: %v, %v", amr, err)
	}
	if _, err := p.VerifyMFA(ctx, u, codes[0]); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("recovery code twice: %v", err)
	}
	if n, _ := p.RecoveryCodesLeft(ctx, u.ID); n != RecoveryCodeCount-1 {
		t.Fatalf("codes left = %d", n)
	}
	fresh, err := p.RegenerateRecoveryCodes(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.VerifyMFA(ctx, u, codes[1]); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("old recovery code after regenerating: %v", err)
	}
	if _, err := p.VerifyMFA(ctx, u, fresh[1]); err != nil {
		t.Fatalf("new recovery code: %v", err)
	}

	// A second factor comes without new recovery codes.
	e2, err := p.StartTOTP(ctx, u, "Tablet")
	if err != nil {
		t.Fatal(err)
	}
	if codes2, err := p.ConfirmTOTP(ctx, u.ID, e2.FactorID, codeAt(t, e2.Secret, clk.now())); err != nil || codes2 != nil {
		t.Fatalf("second factor: %v, %v", codes2, err)
	}
	// Removing one keeps the codes; removing the last drops them.
	if err := p.RemoveFactor(ctx, u.ID, e2.FactorID); err != nil {
		t.Fatal(err)
	}
	if n, _ := p.RecoveryCodesLeft(ctx, u.ID); n != RecoveryCodeCount-1 {
		t.Fatalf("codes left after removing one of two factors = %d", n)
	}
	if err := p.RemoveFactor(ctx, u.ID, e.FactorID); err != nil {
		t.Fatal(err)
	}
	if n, _ := p.RecoveryCodesLeft(ctx, u.ID); n != 0 {
		t.Fatalf("codes left after removing the last factor = %d", n)
	}
	if err := p.RemoveFactor(ctx, u.ID, e.FactorID); !errors.Is(err, ErrNoSuchFactor) {
		t.Fatalf("removing twice: %v", err)
	}
}

func TestStartTOTPDropsUnfinishedAndBoundsFactors(t *testing.T) {
	clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	p := withClock(newTestPool(t), clk)
	u := mustCreate(t, p, NewUser{Email: "ada@example.com"})
	ctx := t.Context()
	first, err := p.StartTOTP(ctx, u, "")
	if err != nil {
		t.Fatal(err)
	}
	second, err := p.StartTOTP(ctx, u, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.ConfirmTOTP(ctx, u.ID, first.FactorID, codeAt(t, first.Secret, clk.now())); !errors.Is(err, ErrChallengeExpired) {
		t.Fatalf("confirming an abandoned enrolment: %v", err)
	}
	if _, err := p.PendingTOTP(ctx, u, second.FactorID); err != nil {
		t.Fatalf("PendingTOTP: %v", err)
	}
	for i := range maxFactors {
		e := second
		if i > 0 {
			if e, err = p.StartTOTP(ctx, u, ""); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := p.ConfirmTOTP(ctx, u.ID, e.FactorID, codeAt(t, e.Secret, clk.now())); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.StartTOTP(ctx, u, ""); !errors.Is(err, ErrTooManyFactors) {
		t.Fatalf("factor %d: %v", maxFactors+1, err)
	}
	if _, err := p.StartTOTP(ctx, u, strings.Repeat("x", 65)); err == nil {
		t.Fatal("a 65-character name was taken")
	}
}

func TestMFAModes(t *testing.T) {
	s := openSQLite(t, t.TempDir()+"/g.db")
	for _, mode := range []string{MFAOff, MFAOptional, MFARequired} {
		p := newPoolOn(t, s, Config{MFA: MFAConfig{Mode: mode}})
		u, err := p.UserByEmail(t.Context(), "ada@example.com")
		if err != nil {
			u = mustCreate(t, p, NewUser{Email: "ada@example.com"})
		}
		has, enrol, err := p.NeedsMFA(t.Context(), u)
		if err != nil || has || enrol != (mode == MFARequired) {
			t.Errorf("mode %s: NeedsMFA = %v, %v, %v", mode, has, enrol, err)
		}
		_, err = p.StartTOTP(t.Context(), u, "")
		if (mode == MFAOff) != errors.Is(err, ErrMFAUnavailable) {
			t.Errorf("mode %s: StartTOTP: %v", mode, err)
		}
	}
	if _, err := New(t.Context(), s, Config{Hash: fastParams, MFA: MFAConfig{Mode: "sometimes"}}); err == nil {
		t.Error("mfa sometimes was accepted")
	}
}

// TestLockout: failures of a login, known or not, lock it for a while
// after the threshold, doubling up to the maximum; the right password
// is refused while locked; the lock ends by itself and a reset clears it.
func TestLockout(t *testing.T) {
	clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	s := openSQLite(t, t.TempDir()+"/g.db")
	p := withClock(newPoolOn(t, s, Config{MFA: MFAConfig{Lockout: LockoutConfig{
		Threshold: 3, Window: time.Minute, Base: 10 * time.Second, Max: 25 * time.Second}}}), clk)
	ctx := t.Context()
	mustCreate(t, p, NewUser{Email: "ada@example.com"})

	for _, login := range []string{"ada@example.com", "ghost@example.com"} {
		for i := range 3 {
			if _, err := p.SignIn(ctx, login, "wrong password"); !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("%s failure %d: %v", login, i+1, err)
			}
		}
		_, err := p.SignIn(ctx, login, goodPassword)
		le, ok := errors.AsType[*LockedOutError](err)
		if !ok || le.RetryAfter != 10*time.Second {
			t.Fatalf("%s after 3 failures: %v", login, err)
		}
	}
	clk.advance(11 * time.Second)
	// The lock is over; the next failure locks for twice as long, then
	// the maximum.
	for _, want := range []time.Duration{20 * time.Second, 25 * time.Second} {
		if _, err := p.SignIn(ctx, "ada@example.com", "wrong password"); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("failure after the lock: %v", err)
		}
		_, err := p.SignIn(ctx, "ada@example.com", goodPassword)
		if le, ok := errors.AsType[*LockedOutError](err); !ok || le.RetryAfter != want {
			t.Fatalf("lock = %v, want %v", err, want)
		}
		clk.advance(want + time.Second)
	}
	if _, err := p.SignIn(ctx, "ada@example.com", goodPassword); err != nil {
		t.Fatalf("after the lock: %v", err)
	}
	// Success cleared the record: three more failures to lock again.
	for range 2 {
		p.SignIn(ctx, "ada@example.com", "wrong password")
	}
	if _, err := p.SignIn(ctx, "ada@example.com", goodPassword); err != nil {
		t.Fatalf("two failures after a success locked: %v", err)
	}
	rec, err := s.SignInFailures(ctx, "ada@example.com")
	if err != nil || rec.Count != 0 {
		t.Fatalf("record after success = %+v, %v", rec, err)
	}

	// Failures older than the window do not add up.
	for range 2 {
		p.SignIn(ctx, "ada@example.com", "wrong password")
		clk.advance(61 * time.Second)
	}
	if _, err := p.SignIn(ctx, "ada@example.com", "wrong password"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("spread-out failures: %v", err)
	}
	if _, err := p.SignIn(ctx, "ada@example.com", goodPassword); err != nil {
		t.Fatalf("spread-out failures locked: %v", err)
	}
}

func TestLockoutCountsSecondFactorAndResetClears(t *testing.T) {
	clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	s := openSQLite(t, t.TempDir()+"/g.db")
	p := withClock(newPoolOn(t, s, Config{MFA: MFAConfig{Lockout: LockoutConfig{Threshold: 3}}}), clk)
	ctx := t.Context()
	u := mustCreate(t, p, NewUser{Email: "ada@example.com"})
	e, err := p.StartTOTP(ctx, u, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.ConfirmTOTP(ctx, u.ID, e.FactorID, codeAt(t, e.Secret, clk.now())); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := p.VerifyMFA(ctx, u, "999999x"); !errors.Is(err, ErrWrongCode) {
			t.Fatalf("wrong second factor: %v", err)
		}
	}
	clk.advance(30 * time.Second)
	if _, err := p.VerifyMFA(ctx, u, codeAt(t, e.Secret, clk.now())); !errorsAsLocked(err) {
		t.Fatalf("right code while locked: %v", err)
	}
	if _, err := p.SignIn(ctx, u.Email, goodPassword); !errorsAsLocked(err) {
		t.Fatalf("password while locked by second-factor failures: %v", err)
	}
	// A password reset clears the lock (the code proves the mailbox).
	if err := p.store.SaveVerificationCode(ctx, store.VerificationCode{
		UserID: u.ID, Purpose: PurposeResetPassword, Hash: codeHash(u.ID, PurposeResetPassword, "123456"),
		Expires: clk.now().Add(time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.ResetPassword(ctx, u.Email, "123456", "another good passphrase"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.SignIn(ctx, u.Email, "another good passphrase"); err != nil {
		t.Fatalf("after a reset: %v", err)
	}
}

func errorsAsLocked(err error) bool {
	_, ok := errors.AsType[*LockedOutError](err)
	return ok
}

func TestRecoveryCodeShape(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		c := newRecoveryCode()
		n, ok := normalizeRecoveryCode(c)
		if !ok || len(c) != 11 || c[5] != '-' || len(n) != 10 || seen[n] {
			t.Fatalf("recovery code %q (normalized %q, %v)", c, n, ok)
		}
		seen[n] = true
	}
	for _, bad := range []string{"", "123456", "abcde-fghi", "abcde-fghij0", "abcde_fghij", "ABCDE-FGHI1"} {
		if _, ok := normalizeRecoveryCode(bad); ok {
			t.Errorf("%q taken as a recovery code", bad)
		}
	}
}

func TestForgetOldFailures(t *testing.T) {
	clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	s := openSQLite(t, t.TempDir()+"/g.db")
	p := withClock(newPoolOn(t, s, Config{MFA: MFAConfig{Lockout: LockoutConfig{
		Threshold: 2, Window: time.Minute, Base: time.Minute, Max: 5 * time.Minute}}}), clk)
	ctx := t.Context()
	for _, login := range []string{"old@example.com", "old@example.com", "locked@example.com", "locked@example.com"} {
		p.SignIn(ctx, login, "wrong password")
		if login == "old@example.com" {
			clk.advance(2 * time.Minute)
		}
	}
	// "locked" is locked for a minute; "old"'s failures are 2 minutes old.
	clk.advance(4 * time.Minute)
	if err := p.ForgetOldFailures(ctx); err != nil {
		t.Fatal(err)
	}
	if rec, _ := s.SignInFailures(ctx, "old@example.com"); rec.Count != 0 {
		t.Errorf("a record older than window and lock is kept: %+v", rec)
	}
	if rec, _ := s.SignInFailures(ctx, "locked@example.com"); rec.Count != 2 {
		t.Errorf("a record within the longest lock was forgotten: %+v", rec)
	}
}

// TestPasswordChecksShareTheLockout: the password checked again on a
// signed-in page (VerifyPassword, so Confirm and what uses it) counts in
// the sign-in lockout: the failure that starts a lock answers with it, a
// locked login is refused even the right password, and a right one clears
// the count.
func TestPasswordChecksShareTheLockout(t *testing.T) {
	clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	s := openSQLite(t, t.TempDir()+"/g.db")
	p := withClock(newPoolOn(t, s, Config{MFA: MFAConfig{Lockout: LockoutConfig{
		Threshold: 3, Window: time.Minute, Base: 10 * time.Second, Max: 25 * time.Second}}}), clk)
	ctx := t.Context()
	u := mustCreate(t, p, NewUser{Email: "ada@example.com"})

	// Nothing typed guesses nothing.
	for range 5 {
		if _, err := p.VerifyPassword(ctx, u.ID, ""); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("empty password: %v", err)
		}
	}
	if _, err := p.SignIn(ctx, "ada@example.com", "wrong password"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatal(err)
	}
	if _, err := p.Confirm(ctx, u.ID, Confirmation{Password: "wrong password"}); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("second failure: %v", err)
	}
	_, err := p.ChangePassword(ctx, u.ID, Confirmation{Password: "wrong password"}, "a new passphrase here")
	if le, ok := errors.AsType[*LockedOutError](err); !ok || le.RetryAfter != 10*time.Second {
		t.Fatalf("the failure that starts the lock: %v", err)
	}
	if _, err := p.VerifyPassword(ctx, u.ID, goodPassword); !errors.As(err, new(*LockedOutError)) {
		t.Fatalf("right password while locked: %v", err)
	}
	if _, err := p.SignIn(ctx, "ada@example.com", goodPassword); !errors.As(err, new(*LockedOutError)) {
		t.Fatalf("sign-in while locked: %v", err)
	}
	// A passkey confirmation checked the lock when it was made.
	if _, err := p.Confirm(ctx, u.ID, Confirmation{Passkey: true}); err != nil {
		t.Fatal(err)
	}
	clk.advance(11 * time.Second)
	if _, err := p.VerifyPassword(ctx, u.ID, goodPassword); err != nil {
		t.Fatalf("after the lock: %v", err)
	}
	if rec, err := s.SignInFailures(ctx, "ada@example.com"); err != nil || rec.Count != 0 {
		t.Fatalf("a right password left %+v, %v", rec, err)
	}
}
