package pool

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/mail"
	"github.com/gatehouse-auth/gatehouse/store"
)

// choicePool is a pool with every first factor, a fake mailer and a
// lockout of 3.
func choicePool(t *testing.T) (*Pool, *fakeMailer) {
	t.Helper()
	tmpl, err := mail.LoadTemplates(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	fm := &fakeMailer{}
	p := newPoolOn(t, openSQLite(t, filepath.Join(t.TempDir(), "g.db")), Config{
		MFA:          MFAConfig{Lockout: LockoutConfig{Threshold: 3}},
		FirstFactors: []string{FirstFactorPassword, FirstFactorEmailOTP, FirstFactorWebAuthn},
		Accounts: AccountConfig{Mail: &Messenger{Mailer: fm, Templates: tmpl, DisplayName: "Test Pool",
			Link: func(purpose, email, code string) string { return "https://x/" + code }}},
	})
	return p, fm
}

// mailedCode waits for the n-th message to to (codes go out after the
// answer) and returns its code.
func mailedCode(t *testing.T, p *Pool, fm *fakeMailer, n int) string {
	t.Helper()
	if err := p.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if fm.count() != n {
		t.Fatalf("%d messages, want %d", fm.count(), n)
	}
	return fm.last(t, mail.KindMFACode, fm.sent[n-1].To).Code
}

func TestValidateFirstFactors(t *testing.T) {
	for _, tc := range []struct {
		factors []string
		mode    string
		mails   bool
		want    string
	}{
		{nil, MFARequired, false, ""},
		{[]string{"PASSWORD"}, MFARequired, false, ""},
		{[]string{"PASSWORD", "WEB_AUTHN"}, MFARequired, false, ""},
		{[]string{"PASSWORD", "EMAIL_OTP"}, MFAOptional, true, ""},
		{[]string{"PASSWORD", "EMAIL_OTP"}, MFAOptional, false, "sends no mail"},
		{[]string{"PASSWORD", "EMAIL_OTP"}, MFARequired, true, "requires MFA"},
		{[]string{"WEB_AUTHN"}, MFAOptional, true, "PASSWORD must be"},
		{[]string{"PASSWORD", "SMS_OTP"}, MFAOptional, true, "want PASSWORD"},
	} {
		err := ValidateFirstFactors(tc.factors, tc.mode, tc.mails)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%v %s mails=%v: %v, want %q", tc.factors, tc.mode, tc.mails, err, tc.want)
		}
	}
}

// TestUserAuthEmailFirstFactor: the code goes out after the answer, to an
// account only; it signs in once with amr otp and no second factor (the
// user has an app); it is not a second-factor code, nor the reverse; a
// disabled account's right code is refused as a disabled account.
func TestUserAuthEmailFirstFactor(t *testing.T) {
	p, fm := choicePool(t)
	ctx := context.Background()
	u := mustCreate(t, p, NewUser{Email: "ada@example.com"})
	e, err := p.StartTOTP(ctx, u, "Phone")
	if err != nil {
		t.Fatal(err)
	}
	code, _ := testenv.TOTPCode(e.Secret, time.Now())
	if _, err := p.ConfirmTOTP(ctx, u.ID, e.FactorID, code); err != nil {
		t.Fatal(err)
	}
	start := func(login string) *Challenge {
		t.Helper()
		step, err := p.InitiateUserAuth(ctx, UserAuth{Username: login, Preferred: FirstFactorEmailOTP, Client: "c"})
		if err != nil || step.Challenge == nil || step.Challenge.Name != ChallengeEmailOTP || step.Challenge.User != nil {
			t.Fatalf("EMAIL_OTP for %s: %+v, %v", login, step, err)
		}
		return step.Challenge
	}
	ch := start("Ada@Example.com")
	if ch.Parameters["CODE_DELIVERY_DESTINATION"] != "a•••@example.com" || ch.Parameters["USERNAME"] != "ada@example.com" {
		t.Errorf("parameters: %v", ch.Parameters)
	}
	c := mailedCode(t, p, fm, 1)
	// The first factor's code is no second factor's.
	if _, err := p.VerifyMFA(ctx, u, c); !errors.Is(err, ErrWrongCode) {
		t.Errorf("a first-factor code as a second factor: %v", err)
	}
	step, err := p.RespondToAuthChallenge(ctx, Answer{Session: ch.Session, Client: "c", Code: c})
	if err != nil || step.Auth == nil || !slices.Equal(step.Auth.AMR, []string{AMROTP}) || step.Auth.User.ID != u.ID {
		t.Fatalf("right code: %+v, %v", step, err)
	}
	if _, err := p.RespondToAuthChallenge(ctx, Answer{Session: ch.Session, Client: "c", Code: c}); !errors.Is(err, ErrChallengeExpired) {
		t.Errorf("the session again: %v", err)
	}
	// A code from another client's session: refused.
	ch = start("ada@example.com")
	c = mailedCode(t, p, fm, 2)
	if _, err := p.RespondToAuthChallenge(ctx, Answer{Session: ch.Session, Client: "other", Code: c}); !errors.Is(err, ErrChallengeExpired) {
		t.Errorf("another client: %v", err)
	}
	// A disabled account: its right code says so (only the mailbox's owner
	// learns it), and nothing more is mailed to it.
	if err := p.SetEnabled(ctx, u.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := p.RespondToAuthChallenge(ctx, Answer{Session: ch.Session, Client: "c", Code: c}); !errors.Is(err, ErrUserDisabled) {
		t.Errorf("disabled: %v", err)
	}
	start("ada@example.com")
	start("nobody@example.com")
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if fm.count() != 2 {
		t.Errorf("%d messages; a disabled account and an unknown login get none", fm.count())
	}
}

// TestUserAuthSessions: a USER_AUTH session answers nothing else, and no
// other session answers as one; its length is the same for every login.
func TestUserAuthSessions(t *testing.T) {
	p, _ := choicePool(t)
	ctx := context.Background()
	u := mustCreate(t, p, NewUser{Email: "ada@example.com"})
	lengths := map[int]bool{}
	for _, login := range []string{"ada@example.com", "nobody@example.com", "not an address"} {
		step, err := p.InitiateUserAuth(ctx, UserAuth{Username: login, Client: "c"})
		if err != nil || step.Challenge.Name != ChallengeSelectChallenge || !slices.Equal(step.Challenge.Available, []string{"PASSWORD", "EMAIL_OTP"}) {
			t.Fatalf("%s: %+v, %v", login, step, err)
		}
		lengths[len(step.Challenge.Session)] = true
		// Not a second-factor session: a code or an SRP proof is refused.
		if _, err := p.RespondToAuthChallenge(ctx, Answer{Session: step.Challenge.Session, Client: "c", Name: ChallengeSoftwareTokenMFA, Code: "123456"}); !errors.Is(err, ErrChallengeExpired) {
			t.Errorf("%s: SELECT_CHALLENGE answered as SOFTWARE_TOKEN_MFA: %v", login, err)
		}
		if _, _, err := p.PasskeyOptions(ctx, Answer{Session: step.Challenge.Session, Client: "c"}, RelyingParty{ID: "x.example", Origin: "https://x.example"}); !errors.Is(err, ErrChallengeExpired) {
			t.Errorf("%s: PasskeyOptions of a USER_AUTH session: %v", login, err)
		}
	}
	if len(lengths) != 1 {
		t.Errorf("session lengths %v, want one", lengths)
	}
	// A password sign-in's NEW_PASSWORD_REQUIRED session is not a choice.
	if err := p.store.UpdatePassword(ctx, u.ID, u.PasswordHash, store.StatusForceChangePassword); err != nil {
		t.Fatal(err)
	}
	step, err := p.InitiatePasswordAuth(ctx, PasswordAuth{Username: "ada@example.com", Password: goodPassword, Client: "c"})
	if err != nil || step.Challenge == nil {
		t.Fatalf("temporary password: %+v, %v", step, err)
	}
	if _, err := p.RespondToAuthChallenge(ctx, Answer{Session: step.Challenge.Session, Client: "c", Name: ChallengeSelectChallenge, Select: FirstFactorPassword, Password: goodPassword}); !errors.Is(err, ErrChallengeExpired) {
		t.Errorf("NEW_PASSWORD_REQUIRED answered as SELECT_CHALLENGE: %v", err)
	}
}

// TestUserAuthPasskeyFirstFactor: the options name no credential; a
// passkey that did not verify its user is refused and counted; the
// session's user's passkey signs in (hwk mfa), once.
func TestUserAuthPasskeyFirstFactor(t *testing.T) {
	pp := newPasskeyPool(t, LockoutConfig{Threshold: 2})
	ctx := context.Background()
	start := func() *Challenge {
		t.Helper()
		step, err := pp.p.InitiateUserAuth(ctx, UserAuth{Username: "ada@example.com", Preferred: FirstFactorWebAuthn, Client: "c", RelyingParty: &pp.rp})
		if err != nil || step.Challenge == nil || step.Challenge.Name != ChallengeWebAuthn {
			t.Fatalf("WEB_AUTHN: %+v, %v", step, err)
		}
		return step.Challenge
	}
	challengeOf := func(ch *Challenge) []byte {
		var opts struct {
			Raw   string `json:"challenge"`
			Allow any    `json:"allowCredentials"`
		}
		if err := json.Unmarshal([]byte(ch.Parameters["CREDENTIAL_REQUEST_OPTIONS"]), &opts); err != nil || opts.Allow != nil {
			t.Fatalf("options %s: %v", ch.Parameters["CREDENTIAL_REQUEST_OPTIONS"], err)
		}
		b, err := base64.RawURLEncoding.DecodeString(opts.Raw)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	answer := func(ch *Challenge, cred []byte) (*AuthStep, error) {
		return pp.p.RespondToAuthChallenge(ctx, Answer{Session: ch.Session, Client: "c", RelyingParty: &pp.rp, Passkey: &PasskeyAnswer{Credential: cred}})
	}
	ch := start()
	pp.auth.Flags = testenv.FlagUP // present, not verified
	if _, err := answer(ch, pp.auth.Get(t, challengeOf(ch))); !errors.Is(err, ErrPasskeyNotVerified) {
		t.Errorf("without user verification: %v", err)
	}
	pp.auth.Flags = testenv.FlagUP | testenv.FlagUV
	pp.clk.advance(2 * time.Second) // a later ceremony for a passkey that counts nothing
	ch = start()
	step, err := answer(ch, pp.auth.Get(t, challengeOf(ch)))
	if err != nil || step.Auth == nil || !slices.Equal(step.Auth.AMR, []string{AMRHardwareKey, AMRMFA}) {
		t.Fatalf("passkey: %+v, %v", step, err)
	}
	if _, err := answer(ch, pp.auth.Get(t, challengeOf(ch))); !errors.Is(err, ErrChallengeExpired) {
		t.Errorf("the session again: %v", err)
	}
}
