package pool

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/store"
)

func TestNewRelyingParty(t *testing.T) {
	for _, tc := range []struct {
		origin, id, canon string
	}{
		{"https://app.example.com", "app.example.com", "https://app.example.com"},
		{"https://App.Example.COM:443", "app.example.com", "https://app.example.com"},
		{"https://app.example.com:8443", "app.example.com", "https://app.example.com:8443"},
		{"http://localhost:8080", "localhost", "http://localhost:8080"},
		{"http://localhost:80", "localhost", "http://localhost"},
		{"http://app.localhost:1", "app.localhost", "http://app.localhost:1"},
		// Browsers offer no WebAuthn on these, so neither do the pages.
		{"http://app.example.com", "", ""},
		{"https://127.0.0.1", "", ""},
		{"http://127.0.0.1:8080", "", ""},
		{"https://[::1]:443", "", ""},
		{"ftp://app.example.com", "", ""},
		{"https://app.example.com/path", "", ""},
		{"https://user@app.example.com", "", ""},
		{"https://", "", ""},
		{"", "", ""},
		{"https://exa mple.com", "", ""},
	} {
		rp, err := NewRelyingParty(tc.origin)
		if tc.id == "" {
			if !errors.Is(err, ErrInsecureOrigin) {
				t.Errorf("NewRelyingParty(%q) = %+v, %v; want ErrInsecureOrigin", tc.origin, rp, err)
			}
			continue
		}
		if err != nil || rp.ID != tc.id || rp.Origin != tc.canon {
			t.Errorf("NewRelyingParty(%q) = %+v, %v; want %s, %s", tc.origin, rp, err, tc.id, tc.canon)
		}
	}
}

// TestPasskeyStep: a rising counter rises the step; a counter never falls
// back to 0; without a counter, a later ceremony rises it.
func TestPasskeyStep(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	if s := passkeyStep(0, time.Time{}); s != 0 {
		t.Errorf("registration with counter 0: step %d, want 0", s)
	}
	ordered := []int64{
		passkeyStep(0, t0),
		passkeyStep(0, t0.Add(time.Second)),
		passkeyStep(0, t0.Add(60*365*24*time.Hour)),
		passkeyStep(1, t0),
		passkeyStep(2, t0),
		passkeyStep(1<<32-1, t0),
	}
	for i := 1; i < len(ordered); i++ {
		if ordered[i] <= ordered[i-1] {
			t.Errorf("step %d (%d) does not rise above step %d (%d)", i, ordered[i], i-1, ordered[i-1])
		}
	}
	if passkeyStep(7, t0) != passkeyStep(7, t0.Add(time.Hour)) {
		t.Error("the time matters to a counting authenticator: a clone could reuse its counter later")
	}
}

// passkeyPool is a pool with a user who has a passkey registered at
// https://app.example.com.
type passkeyPool struct {
	p    *Pool
	clk  *clock
	u    *store.User
	rp   RelyingParty
	auth *testenv.Authenticator
}

func newPasskeyPool(t *testing.T, lockout LockoutConfig) *passkeyPool {
	t.Helper()
	clk := &clock{t: time.Now()}
	p := withClock(newPoolOn(t, openSQLite(t, t.TempDir()+"/g.db"), Config{MFA: MFAConfig{Lockout: lockout}}), clk)
	u := mustCreate(t, p, NewUser{Email: "ada@example.com"})
	rp, err := NewRelyingParty("https://app.example.com")
	if err != nil {
		t.Fatal(err)
	}
	pp := &passkeyPool{p: p, clk: clk, u: u, rp: rp, auth: testenv.NewAuthenticator(t, rp.ID, rp.Origin)}
	opts, c, err := p.BeginPasskeyRegistration(t.Context(), u, rp, "  Laptop ")
	if err != nil {
		t.Fatal(err)
	}
	if opts.Response.RelyingParty.ID != rp.ID || opts.Response.RelyingParty.Name != "test" ||
		opts.Response.AuthenticatorSelection.ResidentKey != "preferred" || opts.Response.AuthenticatorSelection.UserVerification != "preferred" {
		t.Fatalf("creation options: %+v", opts.Response)
	}
	codes, err := p.FinishPasskeyRegistration(t.Context(), u, rp, c, pp.auth.Create(t, opts.Response.Challenge, []byte(u.ID)))
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != RecoveryCodeCount {
		t.Fatalf("first factor came with %d recovery codes, want %d", len(codes), RecoveryCodeCount)
	}
	fs, err := p.Factors(t.Context(), u.ID)
	if err != nil || len(fs) != 1 || fs[0].Kind != store.FactorWebAuthn || fs[0].Name != "Laptop" ||
		fs[0].ID != base64.RawURLEncoding.EncodeToString(pp.auth.ID) {
		t.Fatalf("factors after registration: %+v, %v", fs, err)
	}
	return pp
}

func (pp *passkeyPool) signIn(t *testing.T) (*store.User, []string, error) {
	t.Helper()
	opts, c, err := pp.p.BeginPasskeySignIn(t.Context(), pp.rp)
	if err != nil {
		t.Fatal(err)
	}
	return pp.p.FinishPasskeySignIn(t.Context(), pp.rp, c, pp.auth.Get(t, opts.Response.Challenge))
}

func TestPasskeyCeremonies(t *testing.T) {
	pp := newPasskeyPool(t, LockoutConfig{Off: true})
	p, u, rp, ctx := pp.p, pp.u, pp.rp, t.Context()

	if has, _, _ := p.NeedsMFA(ctx, u); !has {
		t.Error("NeedsMFA does not count a passkey as a factor")
	}
	if ok, err := p.HasPasskey(ctx, u.ID, rp); !ok || err != nil {
		t.Errorf("HasPasskey at its own site = %v, %v", ok, err)
	}
	other, _ := NewRelyingParty("https://other.example.com")
	if ok, _ := p.HasPasskey(ctx, u.ID, other); ok {
		t.Error("HasPasskey offers a passkey at a site it was not made for")
	}
	if _, _, err := p.BeginPasskeySecondFactor(ctx, u, other); !errors.Is(err, ErrNoSuchFactor) {
		t.Errorf("second factor at another site: %v, want ErrNoSuchFactor", err)
	}

	// Second factor.
	opts, c, err := p.BeginPasskeySecondFactor(ctx, u, rp)
	if err != nil {
		t.Fatal(err)
	}
	if len(opts.Response.AllowedCredentials) != 1 || c.AllowedHash == nil || c.Session.AllowedCredentialIDs != nil {
		t.Fatalf("second-factor options %+v, ceremony %+v", opts.Response, c)
	}
	amr, err := p.FinishPasskeySecondFactor(ctx, u, rp, c, pp.auth.Get(t, opts.Response.Challenge))
	if err != nil || len(amr) != 3 || amr[0] != "pwd" || amr[1] != "hwk" || amr[2] != "mfa" {
		t.Fatalf("second factor: %v, %v", amr, err)
	}

	// Passwordless, and the same ceremony again.
	pp.clk.t = pp.clk.t.Add(time.Second)
	opts, c, err = p.BeginPasskeySignIn(ctx, rp)
	if err != nil {
		t.Fatal(err)
	}
	answer := pp.auth.Get(t, opts.Response.Challenge)
	got, amr, err := p.FinishPasskeySignIn(ctx, rp, c, answer)
	if err != nil || got.ID != u.ID || len(amr) != 2 || amr[0] != "hwk" || amr[1] != "mfa" {
		t.Fatalf("passwordless: %v, %v, %v", got, amr, err)
	}
	if _, _, err := p.FinishPasskeySignIn(ctx, rp, c, answer); !errors.Is(err, ErrPasskeyRefused) {
		t.Errorf("replayed passwordless ceremony: %v, want ErrPasskeyRefused", err)
	}

	// A ceremony is bound to its purpose, user, site and time.
	pp.clk.t = pp.clk.t.Add(time.Second)
	opts, c, err = p.BeginPasskeySignIn(ctx, rp)
	if err != nil {
		t.Fatal(err)
	}
	answer = pp.auth.Get(t, opts.Response.Challenge)
	if _, err := p.FinishPasskeySecondFactor(ctx, u, rp, c, answer); !errors.Is(err, ErrChallengeExpired) {
		t.Errorf("passwordless ceremony finished as a second factor: %v", err)
	}
	if _, _, err := p.FinishPasskeySignIn(ctx, other, c, answer); !errors.Is(err, ErrChallengeExpired) {
		t.Errorf("ceremony finished at another site: %v", err)
	}
	pp.clk.t = pp.clk.t.Add(CeremonyTTL)
	if _, _, err := p.FinishPasskeySignIn(ctx, rp, c, answer); !errors.Is(err, ErrChallengeExpired) {
		t.Errorf("ceremony finished after %s: %v, want ErrChallengeExpired", CeremonyTTL, err)
	}
	pp.clk.t = pp.clk.t.Add(-CeremonyTTL + time.Second)
	if _, _, err := p.FinishPasskeySignIn(ctx, rp, c, answer); err != nil {
		t.Errorf("the same ceremony in time: %v", err)
	}

	// Registration: bound to the user; the same authenticator twice is
	// refused; a second passkey comes without new recovery codes.
	mallory := mustCreate(t, p, NewUser{Email: "mallory@example.com"})
	ropts, rc, err := p.BeginPasskeyRegistration(ctx, u, rp, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ropts.Response.CredentialExcludeList) != 1 {
		t.Errorf("exclude list %+v, want the registered passkey", ropts.Response.CredentialExcludeList)
	}
	second := testenv.NewAuthenticator(t, rp.ID, rp.Origin)
	if _, err := p.FinishPasskeyRegistration(ctx, mallory, rp, rc, second.Create(t, ropts.Response.Challenge, []byte(mallory.ID))); !errors.Is(err, ErrChallengeExpired) {
		t.Errorf("registration finished for another user: %v", err)
	}
	if _, err := p.FinishPasskeyRegistration(ctx, u, rp, rc, pp.auth.Create(t, ropts.Response.Challenge, []byte(u.ID))); !errors.Is(err, ErrPasskeyExists) {
		t.Errorf("the same passkey again: %v, want ErrPasskeyExists", err)
	}
	if codes, err := p.FinishPasskeyRegistration(ctx, u, rp, rc, second.Create(t, ropts.Response.Challenge, []byte(u.ID))); err != nil || codes != nil {
		t.Errorf("second passkey: codes %v, %v", codes, err)
	}
	if _, _, err := p.BeginPasskeyRegistration(ctx, u, rp, string(make([]byte, 65))); err == nil {
		t.Error("a 65-byte name was accepted")
	}
}

// TestPasskeyStatus: a passkey does not let in whom a password would not.
func TestPasskeyStatus(t *testing.T) {
	pp := newPasskeyPool(t, LockoutConfig{Off: true})
	ctx := t.Context()
	for _, tc := range []struct {
		status  string
		enabled bool
		want    error
	}{
		{store.StatusConfirmed, false, ErrUserDisabled},
		{store.StatusUnconfirmed, true, ErrUserNotConfirmed},
		{store.StatusResetRequired, true, ErrPasswordResetRequired},
		{store.StatusForceChangePassword, true, ErrNewPasswordRequired},
		{store.StatusConfirmed, true, nil},
	} {
		if err := pp.p.store.UpdatePassword(ctx, pp.u.ID, pp.u.PasswordHash, tc.status); err != nil {
			t.Fatal(err)
		}
		if err := pp.p.SetEnabled(ctx, pp.u.ID, tc.enabled); err != nil {
			t.Fatal(err)
		}
		pp.clk.t = pp.clk.t.Add(time.Second)
		_, _, err := pp.signIn(t)
		if (tc.want == nil && err != nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("status %s, enabled %v: %v, want %v", tc.status, tc.enabled, err, tc.want)
		}
	}
}

// TestPasskeyLockout: refused assertions count as failed sign-ins of the
// login, and a locked login gets no passkey sign-in either.
func TestPasskeyLockout(t *testing.T) {
	pp := newPasskeyPool(t, LockoutConfig{Threshold: 3})
	pp.auth.Flags = testenv.FlagUP // no user verification: refused
	for i := range 3 {
		pp.clk.t = pp.clk.t.Add(time.Second)
		if _, _, err := pp.signIn(t); !errors.Is(err, ErrPasskeyNotVerified) {
			t.Fatalf("attempt %d without UV: %v", i+1, err)
		}
	}
	pp.auth.Flags = testenv.FlagUP | testenv.FlagUV
	pp.clk.t = pp.clk.t.Add(time.Second)
	if _, _, err := pp.signIn(t); !errorsAsLocked(err) {
		t.Fatalf("a good passkey on a locked login: %v, want LockedOutError", err)
	}
	pp.clk.t = pp.clk.t.Add(DefaultLockoutBase + time.Second)
	if _, _, err := pp.signIn(t); err != nil {
		t.Fatalf("after the lock: %v", err)
	}
	if rec, _ := pp.p.store.SignInFailures(t.Context(), pp.u.Email); rec.Count != 0 {
		t.Errorf("a passkey sign-in left %d failures counted", rec.Count)
	}
}

// TestPasskeyConfirmation: a confirmation ceremony asks for the user's
// passkeys with verification, accepts only a verified answer, finishes
// nothing else, and then lets a password be replaced without the old one,
// but not by the same one.
func TestPasskeyConfirmation(t *testing.T) {
	pp := newPasskeyPool(t, LockoutConfig{Off: true})
	p, u, rp, ctx := pp.p, pp.u, pp.rp, t.Context()
	if _, err := p.ChangePassword(ctx, u.ID, Confirmation{}, "a first passphrase here"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("password change with no confirmation at all: %v", err)
	}

	opts, c, err := p.BeginPasskeyConfirmation(ctx, u, rp)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Response.UserVerification != "required" || len(opts.Response.AllowedCredentials) != 1 {
		t.Fatalf("confirmation options: %+v", opts.Response)
	}
	// Its ceremony is not a second factor's, nor the other way round.
	if _, err := p.FinishPasskeySecondFactor(ctx, u, rp, c, pp.auth.Get(t, opts.Response.Challenge)); !errors.Is(err, ErrChallengeExpired) {
		t.Errorf("confirmation ceremony finished as a second factor: %v", err)
	}
	mfaOpts, mfa, err := p.BeginPasskeySecondFactor(ctx, u, rp)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.FinishPasskeyConfirmation(ctx, u, rp, mfa, pp.auth.Get(t, mfaOpts.Response.Challenge)); !errors.Is(err, ErrChallengeExpired) {
		t.Errorf("second-factor ceremony finished as a confirmation: %v", err)
	}
	pp.auth.Flags = testenv.FlagUP
	if err := p.FinishPasskeyConfirmation(ctx, u, rp, c, pp.auth.Get(t, opts.Response.Challenge)); !errors.Is(err, ErrPasskeyNotVerified) {
		t.Errorf("presence alone: %v, want ErrPasskeyNotVerified", err)
	}
	pp.auth.Flags = testenv.FlagUP | testenv.FlagUV
	pp.clk.advance(time.Second) // one ceremony a second for a counterless authenticator
	opts, c, err = p.BeginPasskeyConfirmation(ctx, u, rp)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.FinishPasskeyConfirmation(ctx, u, rp, c, pp.auth.Get(t, opts.Response.Challenge)); err != nil {
		t.Fatalf("verified passkey: %v", err)
	}

	byPasskey := Confirmation{Passkey: true}
	if _, err := p.ChangePassword(ctx, u.ID, byPasskey, "a first passphrase here"); err != nil {
		t.Fatalf("password change confirmed by a passkey: %v", err)
	}
	if _, err := p.ChangePassword(ctx, u.ID, byPasskey, "a first passphrase here"); !errors.As(err, new(*PasswordPolicyError)) {
		t.Errorf("the same password again, confirmed by a passkey: %v", err)
	}
	if _, err := p.SignIn(ctx, u.Email, "a first passphrase here"); err != nil {
		t.Errorf("signing in with the new password: %v", err)
	}
}
