package pool

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/mail"
	"github.com/gatehouse-auth/gatehouse/store"
)

// The sign-in machine's specification: what each start gives, and what
// each answer to each challenge gives next. A JSON API (InitiateAuth /
// RespondToAuthChallenge) relies on exactly this.

const machineClient = "app.example.com"

// machine is a pool with mail and a clock for the machine's tests, on the
// store at path (a fresh one when path is "").
type machine struct {
	p   *Pool
	fm  *fakeMailer
	clk *clock
}

func newMachine(t *testing.T, path string, mfa MFAConfig) *machine {
	t.Helper()
	tmpl, err := mail.LoadTemplates(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if path == "" {
		path = filepath.Join(t.TempDir(), "gatehouse.db")
	}
	fm := &fakeMailer{}
	p := newPoolOn(t, openSQLite(t, path), Config{MFA: mfa, Accounts: AccountConfig{
		Mail: &Messenger{Mailer: fm, Templates: tmpl, DisplayName: "Test Pool",
			Link: func(purpose, email, code string) string { return "https://x/" + code }},
	}})
	clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 10, 0, time.UTC)}
	return &machine{p: withClock(p, clk), fm: fm, clk: clk}
}

// user makes a confirmed user with the given factors: "totp", "email".
// It returns the user and the TOTP secret, if any.
func (m *machine) user(t *testing.T, email string, factors ...string) (*store.User, string) {
	t.Helper()
	ctx := t.Context()
	u := mustCreate(t, m.p, NewUser{Email: email})
	secret := ""
	for _, f := range factors {
		switch f {
		case "totp":
			e, err := m.p.StartTOTP(ctx, u, "")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.p.ConfirmTOTP(ctx, u.ID, e.FactorID, codeAt(t, e.Secret, m.clk.now())); err != nil {
				t.Fatal(err)
			}
			secret = e.Secret
			m.clk.advance(30 * time.Second) // the confirming code's step is spent
		case "email":
			if err := m.p.SendMFACode(ctx, u); err != nil {
				t.Fatal(err)
			}
			if _, err := m.p.EnableEmailCodes(ctx, u.ID, m.fm.last(t, mail.KindMFACode, email).Code); err != nil {
				t.Fatal(err)
			}
			m.clk.advance(2 * time.Minute) // past the resend cool-down
		}
	}
	return u, secret
}

func (m *machine) signIn(t *testing.T, email string, device *RememberedDevice) (*AuthStep, error) {
	t.Helper()
	return m.p.InitiatePasswordAuth(t.Context(), PasswordAuth{Username: email, Password: goodPassword, Client: machineClient, Device: device})
}

// challenge signs in and wants a challenge named name.
func (m *machine) challenge(t *testing.T, email, name string) *Challenge {
	t.Helper()
	step, err := m.signIn(t, email, nil)
	if err != nil || step.Challenge == nil || step.Challenge.Name != name {
		t.Fatalf("sign-in of %s: step %+v, err %v; want challenge %s", email, step, err, name)
	}
	return step.Challenge
}

// describe names a step for comparing: "auth amr=pwd,otp,mfa",
// "challenge NAME flow=…", "enrolled".
func describe(step *AuthStep) string {
	switch {
	case step == nil:
		return "none"
	case step.Auth != nil:
		return "auth amr=" + strings.Join(step.Auth.AMR, ",")
	case step.Enrolled:
		return "enrolled"
	case step.Challenge != nil:
		return "challenge " + step.Challenge.Name + " flow=" + step.Challenge.Flow
	}
	return "empty"
}

func TestMachineStartWithPassword(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mfa     MFAConfig
		factors []string
		// device: "" none, "right" the user's current fingerprint,
		// "stale" an old one, "other" another user's.
		device  string
		want    string
		can     []string // MFAS_CAN_CHOOSE
		mailed  bool
		wantErr error
	}{
		{name: "no factor: done with the password", want: "auth amr=pwd"},
		{name: "mfa off: a factor is not asked", mfa: MFAConfig{Mode: MFAOff}, factors: []string{"totp"}, want: "auth amr=pwd"},
		{name: "mfa required, no factor: set-up", mfa: MFAConfig{Mode: MFARequired}, want: "challenge MFA_SETUP flow=signin"},
		{name: "app: its code", factors: []string{"totp"}, want: "challenge SOFTWARE_TOKEN_MFA flow=signin", can: []string{"SOFTWARE_TOKEN_MFA"}},
		{name: "email only: a code is mailed", factors: []string{"email"}, want: "challenge EMAIL_OTP flow=signin", can: []string{"EMAIL_OTP"}, mailed: true},
		{name: "app and email: the app's code, email on offer", factors: []string{"totp", "email"}, want: "challenge SOFTWARE_TOKEN_MFA flow=signin", can: []string{"SOFTWARE_TOKEN_MFA", "EMAIL_OTP"}},
		{name: "remembered device: done", mfa: MFAConfig{RememberDevice: time.Hour}, factors: []string{"totp"}, device: "right", want: "auth amr=pwd,mfa"},
		{name: "remembered device, pool remembers none", factors: []string{"totp"}, device: "right", want: "challenge SOFTWARE_TOKEN_MFA flow=signin", can: []string{"SOFTWARE_TOKEN_MFA"}},
		{name: "device remembered with other factors", mfa: MFAConfig{RememberDevice: time.Hour}, factors: []string{"totp"}, device: "stale", want: "challenge SOFTWARE_TOKEN_MFA flow=signin", can: []string{"SOFTWARE_TOKEN_MFA"}},
		{name: "another user's device", mfa: MFAConfig{RememberDevice: time.Hour}, factors: []string{"totp"}, device: "other", want: "challenge SOFTWARE_TOKEN_MFA flow=signin", can: []string{"SOFTWARE_TOKEN_MFA"}},
		{name: "wrong password", wantErr: ErrInvalidCredentials, want: "none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "gatehouse.db")
			// The factors are set up while MFA is on, as a pool turned off
			// later finds them.
			u, _ := newMachine(t, path, MFAConfig{}).user(t, "ada@example.com", tc.factors...)
			m := newMachine(t, path, tc.mfa)
			ctx := t.Context()
			var device *RememberedDevice
			switch tc.device {
			case "right", "other":
				fp, err := m.p.DeviceFingerprint(ctx, u)
				if err != nil {
					t.Fatal(err)
				}
				device = &RememberedDevice{UserID: u.ID, Fingerprint: fp}
				if tc.device == "other" {
					device.UserID = "someone-else"
				}
			case "stale":
				device = &RememberedDevice{UserID: u.ID, Fingerprint: "0123456789abcdef0123456789abcdef"}
			}
			sent := m.fm.count()
			password := goodPassword
			if tc.wantErr != nil {
				password = "not the password"
			}
			step, err := m.p.InitiatePasswordAuth(ctx, PasswordAuth{Username: "ada@example.com", Password: password, Client: machineClient, Device: device})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if got := describe(step); got != tc.want {
				t.Fatalf("step %s, want %s", got, tc.want)
			}
			if err != nil {
				return
			}
			if step.User.ID != u.ID {
				t.Errorf("step is about %s, want %s", step.User.ID, u.ID)
			}
			if a := step.Auth; a != nil {
				if a.User.ID != u.ID || !a.AuthTime.Equal(m.clk.now()) {
					t.Errorf("authentication %+v", a)
				}
				return
			}
			c := step.Challenge
			if c.Session == "" || c.Parameters["USERNAME"] != "ada@example.com" {
				t.Errorf("challenge without session or USERNAME: %+v", c)
			}
			if tc.can != nil {
				var can []string
				if err := json.Unmarshal([]byte(c.Parameters["MFAS_CAN_CHOOSE"]), &can); err != nil || !slices.Equal(can, tc.can) {
					t.Errorf("MFAS_CAN_CHOOSE %q, want %q", c.Parameters["MFAS_CAN_CHOOSE"], tc.can)
				}
			}
			if got := m.fm.count() > sent; got != tc.mailed {
				t.Errorf("code mailed: %v, want %v", got, tc.mailed)
			}
			if tc.mailed && (c.Delivery == nil || c.Delivery.Err != nil || c.Parameters["CODE_DELIVERY_DESTINATION"] != "a•••@example.com") {
				t.Errorf("delivery %+v, parameters %v", c.Delivery, c.Parameters)
			}
			if c.Name == ChallengeMFASetup && (c.Enrolment == nil || c.Parameters["SECRET_CODE"] != c.Enrolment.Secret) {
				t.Errorf("set-up without its secret: %+v", c)
			}
		})
	}
}

func TestMachineTemporaryPassword(t *testing.T) {
	m := newMachine(t, "", MFAConfig{})
	ctx := t.Context()
	if _, _, err := m.p.InviteUser(ctx, Invitation{Email: "grace@example.com", TemporaryPassword: goodPassword}); err != nil {
		t.Fatal(err)
	}
	c := m.challenge(t, "grace@example.com", ChallengeNewPasswordRequired)

	// The policy's refusal asks again, and does not spend the session.
	step, err := m.p.RespondToAuthChallenge(ctx, Answer{Session: c.Session, Client: machineClient, NewPassword: "short"})
	if _, ok := errors.AsType[*PasswordPolicyError](err); !ok || describe(step) != "challenge NEW_PASSWORD_REQUIRED flow=signin" {
		t.Fatalf("weak password: %s, %v", describe(step), err)
	}
	step, err = m.p.RespondToAuthChallenge(ctx, Answer{Session: c.Session, Client: machineClient, Name: ChallengeNewPasswordRequired, NewPassword: "a quiet walk in the hills"})
	if err != nil || describe(step) != "auth amr=pwd" {
		t.Fatalf("new password: %s, %v", describe(step), err)
	}
	// The password changed: the first session, and the one asked again
	// after the refusal, are void.
	for _, s := range []string{c.Session} {
		if _, err := m.p.RespondToAuthChallenge(ctx, Answer{Session: s, Client: machineClient, NewPassword: "another fine passphrase"}); !errors.Is(err, ErrChallengeExpired) {
			t.Errorf("answered again: %v, want ErrChallengeExpired", err)
		}
	}
}

func TestMachineTemporaryPasswordThenRequiredSetup(t *testing.T) {
	m := newMachine(t, "", MFAConfig{Mode: MFARequired})
	if _, _, err := m.p.InviteUser(t.Context(), Invitation{Email: "grace@example.com", TemporaryPassword: goodPassword}); err != nil {
		t.Fatal(err)
	}
	c := m.challenge(t, "grace@example.com", ChallengeNewPasswordRequired)
	step, err := m.p.RespondToAuthChallenge(t.Context(), Answer{Session: c.Session, Client: machineClient, NewPassword: "a quiet walk in the hills"})
	if err != nil || describe(step) != "challenge MFA_SETUP flow=signin" {
		t.Fatalf("new password in a pool that requires MFA: %s, %v", describe(step), err)
	}
}

func TestMachineAnswers(t *testing.T) {
	type answerFn func(t *testing.T, m *machine, u *store.User, secret string, c *Challenge) Answer
	code := func(t *testing.T, m *machine, _ *store.User, secret string, c *Challenge) Answer {
		return Answer{Session: c.Session, Client: machineClient, Name: ChallengeSoftwareTokenMFA, Code: codeAt(t, secret, m.clk.now())}
	}
	for _, tc := range []struct {
		name     string
		mfa      MFAConfig
		factors  []string
		start    string // the challenge the sign-in asks
		answer   answerFn
		want     string
		wantErr  error
		codes    int  // recovery codes that come with the step
		remember bool // Authentication.RememberDevice set
	}{
		{name: "app code", factors: []string{"totp"}, start: ChallengeSoftwareTokenMFA, answer: code, want: "auth amr=pwd,otp,mfa"},
		{name: "app code, remember the device", mfa: MFAConfig{RememberDevice: time.Hour}, factors: []string{"totp"}, start: ChallengeSoftwareTokenMFA,
			answer: func(t *testing.T, m *machine, u *store.User, s string, c *Challenge) Answer {
				a := code(t, m, u, s, c)
				a.RememberDevice = true
				return a
			}, want: "auth amr=pwd,otp,mfa", remember: true},
		{name: "wrong code: asked again", factors: []string{"totp"}, start: ChallengeSoftwareTokenMFA,
			answer: func(t *testing.T, m *machine, _ *store.User, secret string, c *Challenge) Answer {
				wrong := "000000"
				if codeAt(t, secret, m.clk.now()) == wrong {
					wrong = "111111"
				}
				return Answer{Session: c.Session, Client: machineClient, Code: wrong}
			}, want: "challenge SOFTWARE_TOKEN_MFA flow=signin", wantErr: ErrWrongCode},
		{name: "recovery code", factors: []string{"totp"}, start: ChallengeSoftwareTokenMFA,
			answer: func(t *testing.T, m *machine, u *store.User, _ string, c *Challenge) Answer {
				codes, err := m.p.RegenerateRecoveryCodes(t.Context(), u.ID)
				if err != nil {
					t.Fatal(err)
				}
				return Answer{Session: c.Session, Client: machineClient, Code: codes[0]}
			}, want: "auth amr=pwd,mfa"},
		{name: "mailed code", factors: []string{"email"}, start: ChallengeEmailOTP,
			answer: func(t *testing.T, m *machine, u *store.User, _ string, c *Challenge) Answer {
				return Answer{Session: c.Session, Client: machineClient, Name: ChallengeEmailOTP, Code: m.fm.last(t, mail.KindMFACode, u.Email).Code}
			}, want: "auth amr=pwd,otp,mfa"},
		{name: "select email: a code is mailed", factors: []string{"totp", "email"}, start: ChallengeSoftwareTokenMFA,
			answer: func(t *testing.T, m *machine, _ *store.User, _ string, c *Challenge) Answer {
				return Answer{Session: c.Session, Client: machineClient, Name: ChallengeSelectMFAType, Select: ChallengeEmailOTP}
			}, want: "challenge EMAIL_OTP flow=signin"},
		{name: "select email without email codes", factors: []string{"totp"}, start: ChallengeSoftwareTokenMFA,
			answer: func(t *testing.T, m *machine, _ *store.User, _ string, c *Challenge) Answer {
				return Answer{Session: c.Session, Client: machineClient, Select: ChallengeEmailOTP}
			}, want: "none", wantErr: ErrMFAUnavailable},
		{name: "passkey without a ceremony", factors: []string{"totp"}, start: ChallengeSoftwareTokenMFA,
			answer: func(t *testing.T, m *machine, _ *store.User, _ string, c *Challenge) Answer {
				return Answer{Session: c.Session, Client: machineClient, Name: ChallengeWebAuthn}
			}, want: "none", wantErr: ErrChallengeExpired},
		{name: "set-up: the new app's code", mfa: MFAConfig{Mode: MFARequired}, start: ChallengeMFASetup,
			answer: func(t *testing.T, m *machine, _ *store.User, _ string, c *Challenge) Answer {
				return Answer{Session: c.Session, Client: machineClient, Name: ChallengeMFASetup, Code: codeAt(t, c.Parameters["SECRET_CODE"], m.clk.now())}
			}, want: "auth amr=pwd,otp,mfa", codes: RecoveryCodeCount},
		{name: "set-up: wrong code asks again", mfa: MFAConfig{Mode: MFARequired}, start: ChallengeMFASetup,
			answer: func(t *testing.T, m *machine, _ *store.User, _ string, c *Challenge) Answer {
				wrong := "000000"
				if codeAt(t, c.Parameters["SECRET_CODE"], m.clk.now()) == wrong {
					wrong = "111111"
				}
				return Answer{Session: c.Session, Client: machineClient, Code: wrong}
			}, want: "challenge MFA_SETUP flow=signin", wantErr: ErrWrongCode},
		{name: "set-up: switch to email codes", mfa: MFAConfig{Mode: MFARequired}, start: ChallengeMFASetup,
			answer: func(t *testing.T, m *machine, _ *store.User, _ string, c *Challenge) Answer {
				return Answer{Session: c.Session, Client: machineClient, Name: ChallengeMFASetup, Select: ChallengeEmailOTP}
			}, want: "challenge MFA_SETUP flow=signin"},
		{name: "set-up answered as a second factor", mfa: MFAConfig{Mode: MFARequired}, start: ChallengeMFASetup,
			answer: func(t *testing.T, m *machine, _ *store.User, _ string, c *Challenge) Answer {
				return Answer{Session: c.Session, Client: machineClient, Name: ChallengeSoftwareTokenMFA, Code: codeAt(t, c.Parameters["SECRET_CODE"], m.clk.now())}
			}, want: "none", wantErr: ErrChallengeExpired},
		{name: "second factor answered as a set-up", factors: []string{"totp"}, start: ChallengeSoftwareTokenMFA,
			answer: func(t *testing.T, m *machine, u *store.User, s string, c *Challenge) Answer {
				a := code(t, m, u, s, c)
				a.Name = ChallengeMFASetup
				return a
			}, want: "none", wantErr: ErrChallengeExpired},
		{name: "second factor answered as a new password", factors: []string{"totp"}, start: ChallengeSoftwareTokenMFA,
			answer: func(t *testing.T, m *machine, _ *store.User, _ string, c *Challenge) Answer {
				return Answer{Session: c.Session, Client: machineClient, Name: ChallengeNewPasswordRequired, NewPassword: "a quiet walk in the hills"}
			}, want: "none", wantErr: ErrChallengeExpired},
		{name: "another client's session", factors: []string{"totp"}, start: ChallengeSoftwareTokenMFA,
			answer: func(t *testing.T, m *machine, u *store.User, s string, c *Challenge) Answer {
				a := code(t, m, u, s, c)
				a.Client = "evil.example.com"
				return a
			}, want: "none", wantErr: ErrChallengeExpired},
		{name: "tampered session", factors: []string{"totp"}, start: ChallengeSoftwareTokenMFA,
			answer: func(t *testing.T, m *machine, u *store.User, s string, c *Challenge) Answer {
				a := code(t, m, u, s, c)
				b := []byte(a.Session)
				b[len(b)/2] ^= 1
				a.Session = string(b)
				return a
			}, want: "none", wantErr: ErrChallengeExpired},
		{name: "expired session", factors: []string{"totp"}, start: ChallengeSoftwareTokenMFA,
			answer: func(t *testing.T, m *machine, u *store.User, s string, c *Challenge) Answer {
				m.clk.advance(secondFactorTTL + time.Second)
				return code(t, m, u, s, c)
			}, want: "none", wantErr: ErrChallengeExpired},
		{name: "password changed meanwhile", factors: []string{"totp"}, start: ChallengeSoftwareTokenMFA,
			answer: func(t *testing.T, m *machine, u *store.User, s string, c *Challenge) Answer {
				if err := m.p.SetPassword(t.Context(), u.ID, "a quiet walk in the hills"); err != nil {
					t.Fatal(err)
				}
				return code(t, m, u, s, c)
			}, want: "none", wantErr: ErrChallengeExpired},
		{name: "user disabled meanwhile", factors: []string{"totp"}, start: ChallengeSoftwareTokenMFA,
			answer: func(t *testing.T, m *machine, u *store.User, s string, c *Challenge) Answer {
				if err := m.p.SetEnabled(t.Context(), u.ID, false); err != nil {
					t.Fatal(err)
				}
				return code(t, m, u, s, c)
			}, want: "none", wantErr: ErrChallengeExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t, "", tc.mfa)
			u, secret := m.user(t, "ada@example.com", tc.factors...)
			c := m.challenge(t, "ada@example.com", tc.start)
			step, err := m.p.RespondToAuthChallenge(t.Context(), tc.answer(t, m, u, secret, c))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if got := describe(step); got != tc.want {
				t.Fatalf("step %s, want %s", got, tc.want)
			}
			if step == nil {
				return
			}
			if step.Challenge != nil && step.Challenge.Session == c.Session {
				t.Error("the next challenge has the answered one's session")
			}
			if a := step.Auth; a != nil {
				if len(a.RecoveryCodes) != tc.codes {
					t.Errorf("%d recovery codes, want %d", len(a.RecoveryCodes), tc.codes)
				}
				if (a.RememberDevice != "") != tc.remember {
					t.Errorf("RememberDevice %q, want set: %v", a.RememberDevice, tc.remember)
				}
			}
		})
	}
}

// A session is answered once: a second answer, even with another good
// code, is refused, on this instance and on another on the same store.
// A refused answer does not spend it.
func TestMachineSessionSingleUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	a := newMachine(t, path, MFAConfig{Lockout: LockoutConfig{Off: true}})
	_, secret := a.user(t, "ada@example.com", "totp")
	b := newMachine(t, path, MFAConfig{Lockout: LockoutConfig{Off: true}})
	b.clk = a.clk
	b.p = withClock(b.p, a.clk)
	ctx := t.Context()

	c := a.challenge(t, "ada@example.com", ChallengeSoftwareTokenMFA)
	wrong := "000000"
	if codeAt(t, secret, a.clk.now()) == wrong {
		wrong = "111111"
	}
	if _, err := a.p.RespondToAuthChallenge(ctx, Answer{Session: c.Session, Client: machineClient, Code: wrong}); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("wrong code: %v", err)
	}
	// The other instance opens what this one sealed, and the wrong code
	// left the session good.
	step, err := b.p.RespondToAuthChallenge(ctx, Answer{Session: c.Session, Client: machineClient, Code: codeAt(t, secret, a.clk.now())})
	if err != nil || step.Auth == nil {
		t.Fatalf("answer on the other instance: %s, %v", describe(step), err)
	}
	a.clk.advance(30 * time.Second) // a code of a new step: only the session refuses
	for name, m := range map[string]*machine{"this instance": a, "the other": b} {
		if _, err := m.p.RespondToAuthChallenge(ctx, Answer{Session: c.Session, Client: machineClient, Code: codeAt(t, secret, a.clk.now())}); !errors.Is(err, ErrChallengeExpired) {
			t.Errorf("answered again on %s: %v, want ErrChallengeExpired", name, err)
		}
		// Nor does a wrong answer get a fresh session out of a spent one.
		if step, err := m.p.RespondToAuthChallenge(ctx, Answer{Session: c.Session, Client: machineClient, Code: wrong}); !errors.Is(err, ErrChallengeExpired) || step != nil {
			t.Errorf("wrong code to a spent session on %s: %s, %v; want ErrChallengeExpired", name, describe(step), err)
		}
	}
}

// Wrong codes count in the login's lockout, as wrong passwords do; the
// lock refuses the right code too.
func TestMachineLockout(t *testing.T) {
	m := newMachine(t, "", MFAConfig{Lockout: LockoutConfig{Threshold: 3}})
	_, secret := m.user(t, "ada@example.com", "totp")
	c := m.challenge(t, "ada@example.com", ChallengeSoftwareTokenMFA)
	wrong := "000000"
	if codeAt(t, secret, m.clk.now()) == wrong {
		wrong = "111111"
	}
	session := c.Session
	for i := 0; i < 3; i++ {
		step, err := m.p.RespondToAuthChallenge(t.Context(), Answer{Session: session, Client: machineClient, Code: wrong})
		if !errors.Is(err, ErrWrongCode) {
			t.Fatalf("wrong code %d: %v", i+1, err)
		}
		session = step.Challenge.Session
	}
	// The third failure locked the login: the right code is refused.
	_, err := m.p.RespondToAuthChallenge(t.Context(), Answer{Session: session, Client: machineClient, Code: codeAt(t, secret, m.clk.now())})
	if _, ok := errors.AsType[*LockedOutError](err); !ok {
		t.Fatalf("right code while locked: %v, want a lockout", err)
	}
}

// A sign-in is audited once, when it ends, with its amr; the steps before
// it record nothing.
func TestMachineAuditsOnce(t *testing.T) {
	m := newMachine(t, "", MFAConfig{})
	_, secret := m.user(t, "ada@example.com", "totp")
	c := m.challenge(t, "ada@example.com", ChallengeSoftwareTokenMFA)
	before := len(trail(t, m.p))
	if _, err := m.p.RespondToAuthChallenge(t.Context(), Answer{Session: c.Session, Client: machineClient, Code: codeAt(t, secret, m.clk.now())}); err != nil {
		t.Fatal(err)
	}
	es := trail(t, m.p)[before:]
	var signIns []string
	for _, e := range trail(t, m.p) {
		if e.Type == AuditSignIn {
			signIns = append(signIns, e.Detail["amr"])
		}
	}
	if len(es) != 1 || !slices.Equal(signIns, []string{"pwd otp mfa"}) {
		t.Fatalf("events after the answer %v; sign-ins %q, want one with pwd otp mfa", brief(es), signIns)
	}
}

// Step-up: a signed-in user without a factor proves the password, then
// sets one up; the steps answer only that user's session.
func TestMachineStepUp(t *testing.T) {
	m := newMachine(t, "", MFAConfig{})
	ctx := t.Context()
	u, _ := m.user(t, "ada@example.com")
	step, err := m.p.StartStepUp(ctx, machineClient, u, false)
	if err != nil || describe(step) != "challenge PASSWORD_VERIFIER flow=stepup" {
		t.Fatalf("step-up without a factor: %s, %v", describe(step), err)
	}
	c := step.Challenge
	for _, tc := range []struct {
		name    string
		answer  Answer
		want    string
		wantErr error
	}{
		{"no session", Answer{Password: goodPassword}, "none", ErrNotSignedIn},
		{"another user's session", Answer{Password: goodPassword, SessionUser: "someone-else"}, "none", ErrNotSignedIn},
		{"wrong password", Answer{Password: "not it", SessionUser: u.ID}, "challenge PASSWORD_VERIFIER flow=stepup", ErrInvalidCredentials},
		{"the password", Answer{Password: goodPassword, SessionUser: u.ID}, "challenge MFA_SETUP flow=stepup", nil},
	} {
		a := tc.answer
		a.Session, a.Client, a.Name = c.Session, machineClient, ChallengePasswordVerifier
		step, err := m.p.RespondToAuthChallenge(ctx, a)
		if !errors.Is(err, tc.wantErr) || describe(step) != tc.want {
			t.Fatalf("%s: %s, %v; want %s, %v", tc.name, describe(step), err, tc.want, tc.wantErr)
		}
		if step != nil && step.Challenge.Name == ChallengeMFASetup {
			c = step.Challenge
		}
	}
	setup := Answer{Session: c.Session, Client: machineClient, Name: ChallengeMFASetup, Code: codeAt(t, c.Parameters["SECRET_CODE"], m.clk.now())}
	if _, err := m.p.RespondToAuthChallenge(ctx, setup); !errors.Is(err, ErrNotSignedIn) {
		t.Fatalf("set-up without the session: %v", err)
	}
	setup.SessionUser = u.ID
	step, err = m.p.RespondToAuthChallenge(ctx, setup)
	if err != nil || describe(step) != "auth amr=pwd,otp,mfa" || len(step.Auth.RecoveryCodes) != RecoveryCodeCount {
		t.Fatalf("set-up: %s, %v", describe(step), err)
	}

	// With a factor, step-up asks for it; with proof (a passkey
	// confirmation), a user without one goes straight to the set-up.
	if step, err := m.p.StartStepUp(ctx, machineClient, u, false); err != nil || describe(step) != "challenge SOFTWARE_TOKEN_MFA flow=stepup" {
		t.Fatalf("step-up with a factor: %s, %v", describe(step), err)
	}
	v, _ := m.user(t, "bob@example.com")
	if step, err := m.p.StartStepUp(ctx, machineClient, v, true); err != nil || describe(step) != "challenge MFA_SETUP flow=stepup" {
		t.Fatalf("step-up with proof: %s, %v", describe(step), err)
	}
}

// The account page's set-up enrols and authenticates nothing.
func TestMachineAccountEnrolment(t *testing.T) {
	m := newMachine(t, "", MFAConfig{})
	ctx := t.Context()
	u, _ := m.user(t, "ada@example.com")
	step, err := m.p.StartEnrolment(ctx, machineClient, u, "Phone", false)
	if err != nil || describe(step) != "challenge MFA_SETUP flow=account" {
		t.Fatalf("start: %s, %v", describe(step), err)
	}
	c := step.Challenge
	step, err = m.p.RespondToAuthChallenge(ctx, Answer{Session: c.Session, Client: machineClient, SessionUser: u.ID,
		Code: codeAt(t, c.Parameters["SECRET_CODE"], m.clk.now())})
	if err != nil || describe(step) != "enrolled" || len(step.RecoveryCodes) != RecoveryCodeCount {
		t.Fatalf("answer: %s, %v", describe(step), err)
	}
	if _, err := m.p.StartEnrolment(ctx, machineClient, u, strings.Repeat("x", 65), false); err == nil {
		t.Fatal("a name too long was taken")
	}

	// Email codes: the code mailed with the set-up turns them on.
	m.clk.advance(time.Minute)
	step, err = m.p.StartEnrolment(ctx, machineClient, u, "", true)
	if err != nil || describe(step) != "challenge MFA_SETUP flow=account" || !step.Challenge.EmailSetup || step.Challenge.Delivery == nil {
		t.Fatalf("email set-up: %s, %v", describe(step), err)
	}
	step, err = m.p.RespondToAuthChallenge(ctx, Answer{Session: step.Challenge.Session, Client: machineClient, SessionUser: u.ID,
		Code: m.fm.last(t, mail.KindMFACode, u.Email).Code})
	if err != nil || describe(step) != "enrolled" || len(step.RecoveryCodes) != 0 {
		t.Fatalf("email set-up answer: %s, %v (a second factor brings no recovery codes)", describe(step), err)
	}
	if on, err := m.p.EmailCodesOn(context.Background(), u.ID); err != nil || !on {
		t.Fatalf("email codes on: %v, %v", on, err)
	}
}

// Passkeys answer the machine's challenges as codes do: PasskeyOptions
// begins the ceremony a challenge takes (spending nothing), and the
// answer carries its result.
func TestMachinePasskeys(t *testing.T) {
	ctx := t.Context()
	rp, err := NewRelyingParty("https://app.example.com")
	if err != nil {
		t.Fatal(err)
	}
	m := newMachine(t, "", MFAConfig{Mode: MFARequired})
	auth := testenv.NewAuthenticator(t, rp.ID, rp.Origin)
	u, _ := m.user(t, "ada@example.com")

	// mfa required, no factor: the set-up takes a new passkey.
	c := m.challenge(t, "ada@example.com", ChallengeMFASetup)
	opts, cer, err := m.p.PasskeyOptions(ctx, Answer{Session: c.Session, Client: machineClient, Name: ChallengeMFASetup}, rp)
	if err != nil {
		t.Fatal(err)
	}
	creation, ok := opts.(*protocol.CredentialCreation)
	if !ok {
		t.Fatalf("set-up options are %T, want a credential creation", opts)
	}
	step, err := m.p.RespondToAuthChallenge(ctx, Answer{Session: c.Session, Client: machineClient, Name: ChallengeMFASetup,
		Passkey: &PasskeyAnswer{RelyingParty: rp, Ceremony: cer, Credential: auth.Create(t, creation.Response.Challenge, []byte(u.ID))}})
	if err != nil || describe(step) != "auth amr=pwd,hwk,mfa" || len(step.Auth.RecoveryCodes) != RecoveryCodeCount {
		t.Fatalf("passkey set-up: %s, %v", describe(step), err)
	}
	if _, _, err := m.p.PasskeyOptions(ctx, Answer{Session: c.Session, Client: machineClient}, rp); !errors.Is(err, ErrChallengeExpired) {
		t.Fatalf("options for a spent session: %v", err)
	}

	// Now the passkey is the second step, and a passkey alone signs in.
	m.clk.advance(time.Second)
	c = m.challenge(t, "ada@example.com", ChallengeWebAuthn)
	if c.Parameters["MFAS_CAN_CHOOSE"] != `["WEB_AUTHN"]` {
		t.Errorf("MFAS_CAN_CHOOSE %q", c.Parameters["MFAS_CAN_CHOOSE"])
	}
	opts, cer, err = m.p.PasskeyOptions(ctx, Answer{Session: c.Session, Client: machineClient, Name: ChallengeWebAuthn}, rp)
	if err != nil {
		t.Fatal(err)
	}
	assertion, ok := opts.(*protocol.CredentialAssertion)
	if !ok {
		t.Fatalf("second-factor options are %T, want a credential assertion", opts)
	}
	if _, _, err := m.p.PasskeyOptions(ctx, Answer{Session: c.Session, Client: machineClient, Name: ChallengeMFASetup}, rp); !errors.Is(err, ErrChallengeExpired) {
		t.Fatalf("set-up options for a second-factor challenge: %v", err)
	}
	step, err = m.p.RespondToAuthChallenge(ctx, Answer{Session: c.Session, Client: machineClient, Name: ChallengeWebAuthn,
		Passkey: &PasskeyAnswer{RelyingParty: rp, Ceremony: cer, Credential: auth.Get(t, assertion.Response.Challenge)}})
	if err != nil || describe(step) != "auth amr=pwd,hwk,mfa" {
		t.Fatalf("passkey second factor: %s, %v", describe(step), err)
	}

	m.clk.advance(time.Second)
	assertion, cer, err = m.p.BeginPasskeySignIn(ctx, rp)
	if err != nil {
		t.Fatal(err)
	}
	step, err = m.p.InitiatePasskeyAuth(ctx, PasskeyAnswer{RelyingParty: rp, Ceremony: cer, Credential: auth.Get(t, assertion.Response.Challenge)})
	if err != nil || describe(step) != "auth amr=hwk,mfa" {
		t.Fatalf("passkey sign-in: %s, %v", describe(step), err)
	}
}
