package pool

import (
	"encoding/base64"
	"errors"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/cognito/srp"
	"github.com/gatehouse-auth/gatehouse/cognito/srp/srptest"
	"github.com/gatehouse-auth/gatehouse/mail"
	"github.com/gatehouse-auth/gatehouse/store"
)

// USER_SRP_AUTH through the sign-in machine.

const srpPoolName = "TestPool1"

// srpMachine is newMachine's pool with SRP on (or off, with name ""), on
// the store at path ("" for a fresh one).
func srpMachine(t *testing.T, path, name string) *machine {
	t.Helper()
	tmpl, err := mail.LoadTemplates(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if path == "" {
		path = filepath.Join(t.TempDir(), "gatehouse.db")
	}
	fm := &fakeMailer{}
	p := newPoolOn(t, openSQLite(t, path), Config{SRP: SRPConfig{PoolName: name}, MFA: MFAConfig{Mode: MFAOptional},
		Accounts: AccountConfig{SignUp: SignUpOpen, Mail: &Messenger{Mailer: fm, Templates: tmpl, DisplayName: "Test Pool",
			Link: func(purpose, email, code string) string { return "https://x/" + code }}}})
	clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 10, 0, time.UTC)}
	return &machine{p: withClock(p, clk), fm: fm, clk: clk}
}

// srpStart begins an SRP sign-in with the Go client (checked against the
// library in cognito/srp).
func srpStart(t *testing.T, m *machine, email string) (*srp.Client, *Challenge) {
	t.Helper()
	c := srp.NewClient()
	step, err := m.p.InitiateSRPAuth(t.Context(), SRPAuth{Username: email, SRPA: c.AHex(), Client: machineClient})
	if err != nil {
		t.Fatalf("InitiateSRPAuth(%s): %v", email, err)
	}
	if step.Challenge == nil || step.Challenge.Name != ChallengePasswordVerifier || step.Auth != nil || step.User != nil {
		t.Fatalf("InitiateSRPAuth gave %+v", step)
	}
	return c, step.Challenge
}

// srpAnswer signs ch with password at the pool's clock.
func srpAnswer(t *testing.T, m *machine, c *srp.Client, ch *Challenge, password string) Answer {
	t.Helper()
	p := ch.Parameters
	key, err := c.Key(srpPoolName, p["USER_ID_FOR_SRP"], password, p["SALT"], p["SRP_B"])
	if err != nil {
		t.Fatal(err)
	}
	block, err := base64.StdEncoding.DecodeString(p["SECRET_BLOCK"])
	if err != nil {
		t.Fatal(err)
	}
	ts := srp.FormatTimestamp(m.clk.now())
	return Answer{Client: machineClient, PasswordClaimSecretBlock: p["SECRET_BLOCK"], Timestamp: ts,
		PasswordClaimSignature: srp.Signature(key, srpPoolName, p["USER_ID_FOR_SRP"], block, ts)}
}

func srpSignIn(t *testing.T, m *machine, email, password string) (*AuthStep, error) {
	t.Helper()
	c, ch := srpStart(t, m, email)
	return m.p.RespondToAuthChallenge(t.Context(), srpAnswer(t, m, c, ch, password))
}

// amazon-cognito-identity-js's own client signs in, with and without
// sending the Session back.
func TestSRPSignInWithLibraryClient(t *testing.T) {
	node := srptest.Start(t)
	t.Parallel()
	m := srpMachine(t, "", srpPoolName)
	u, _ := m.user(t, "ada@example.com")
	for _, withSession := range []bool{false, true} {
		in, err := node.Begin(srpPoolName)
		if err != nil {
			t.Fatal(err)
		}
		step, err := m.p.InitiateSRPAuth(t.Context(), SRPAuth{Username: "Ada@Example.com", SRPA: in.A, Client: machineClient, PoolName: srpPoolName})
		if err != nil {
			t.Fatal(err)
		}
		p := step.Challenge.Parameters
		if p["USER_ID_FOR_SRP"] != u.ID || p["USERNAME"] != "ada@example.com" {
			t.Fatalf("ChallengeParameters %v", p)
		}
		claim, err := in.Finish(p["USER_ID_FOR_SRP"], goodPassword, p["SRP_B"], p["SALT"], p["SECRET_BLOCK"], srp.FormatTimestamp(m.clk.now()))
		if err != nil {
			t.Fatal(err)
		}
		a := Answer{Client: machineClient, Name: ChallengePasswordVerifier, PasswordClaimSignature: claim.Signature,
			PasswordClaimSecretBlock: p["SECRET_BLOCK"], Timestamp: claim.Timestamp}
		if withSession {
			a.Session = step.Challenge.Session
		}
		done, err := m.p.RespondToAuthChallenge(t.Context(), a)
		if err != nil {
			t.Fatalf("the library's proof (session sent: %v): %v", withSession, err)
		}
		if done.Auth == nil || done.Auth.User.ID != u.ID || !slices.Equal(done.Auth.AMR, []string{AMRPassword}) {
			t.Fatalf("not signed in: %+v", done)
		}
	}

	// The library with a wrong password: a wrong password.
	in, _ := node.Begin(srpPoolName)
	step, err := m.p.InitiateSRPAuth(t.Context(), SRPAuth{Username: "ada@example.com", SRPA: in.A, Client: machineClient})
	if err != nil {
		t.Fatal(err)
	}
	p := step.Challenge.Parameters
	claim, _ := in.Finish(p["USER_ID_FOR_SRP"], goodPassword+"x", p["SRP_B"], p["SALT"], p["SECRET_BLOCK"], srp.FormatTimestamp(m.clk.now()))
	_, err = m.p.RespondToAuthChallenge(t.Context(), Answer{Client: machineClient, PasswordClaimSignature: claim.Signature,
		PasswordClaimSecretBlock: p["SECRET_BLOCK"], Timestamp: claim.Timestamp})
	if !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
}

// A proof of the password is a password: the same next steps.
func TestSRPLeadsWhereThePasswordDoes(t *testing.T) {
	t.Parallel()
	m := srpMachine(t, "", srpPoolName)
	m.user(t, "totp@example.com", "totp")
	step, err := srpSignIn(t, m, "totp@example.com", goodPassword)
	if err != nil || step.Challenge == nil || step.Challenge.Name != ChallengeSoftwareTokenMFA {
		t.Fatalf("user with an app: %+v, %v", step, err)
	}

	ctx := t.Context()
	if _, err := m.p.CreateUser(ctx, NewUser{Email: "fresh@example.com", Password: "a temporary password", Status: store.StatusForceChangePassword}); err != nil {
		t.Fatal(err)
	}
	step, err = srpSignIn(t, m, "fresh@example.com", "a temporary password")
	if err != nil || step.Challenge == nil || step.Challenge.Name != ChallengeNewPasswordRequired {
		t.Fatalf("temporary password: %+v, %v", step, err)
	}
	step, err = m.p.RespondToAuthChallenge(ctx, Answer{Client: machineClient, Session: step.Challenge.Session, NewPassword: "my own new passphrase"})
	if err != nil || step.Auth == nil {
		t.Fatalf("new password: %+v, %v", step, err)
	}
	// The new password has a verifier at once; the temporary one's is gone.
	if step, err := srpSignIn(t, m, "fresh@example.com", "my own new passphrase"); err != nil || step.Auth == nil {
		t.Fatalf("SRP with the new password: %+v, %v", step, err)
	}
	if _, err := srpSignIn(t, m, "fresh@example.com", "a temporary password"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("SRP with the temporary password after the change: %v", err)
	}

	d, _ := m.user(t, "off@example.com")
	if err := m.p.SetEnabled(ctx, d.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := srpSignIn(t, m, "off@example.com", goodPassword); !errors.Is(err, ErrUserDisabled) {
		t.Fatalf("disabled user, right password: %v", err)
	}
	if _, err := srpSignIn(t, m, "off@example.com", "wrong"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("disabled user, wrong password: %v", err)
	}
}

// A sign-up makes the verifier: the new user signs in with SRP (once
// confirmed).
func TestSRPAfterSignUp(t *testing.T) {
	t.Parallel()
	m := srpMachine(t, "", srpPoolName)
	ctx := t.Context()
	if _, err := m.p.SignUp(ctx, SignUpRequest{Email: "new@example.com", Password: "a sign-up passphrase"}); err != nil {
		t.Fatal(err)
	}
	if _, err := srpSignIn(t, m, "new@example.com", "a sign-up passphrase"); !errors.Is(err, ErrUserNotConfirmed) {
		t.Fatalf("unconfirmed: %v", err)
	}
	code := m.fm.last(t, mail.KindVerifyEmail, "new@example.com").Code
	if _, err := m.p.ConfirmSignUp(ctx, "new@example.com", code, "a sign-up passphrase"); err != nil {
		t.Fatal(err)
	}
	if step, err := srpSignIn(t, m, "new@example.com", "a sign-up passphrase"); err != nil || step.Auth == nil {
		t.Fatalf("after confirmation: %+v, %v", step, err)
	}
}

// Wrong proofs count in the login's lockout as wrong passwords do, and a
// locked login gets no challenge.
func TestSRPLockout(t *testing.T) {
	t.Parallel()
	m := srpMachine(t, "", srpPoolName)
	m.user(t, "ada@example.com")
	ctx := t.Context()
	for i := range DefaultLockoutThreshold {
		if _, err := srpSignIn(t, m, "ada@example.com", "guess"); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	c := srp.NewClient()
	_, err := m.p.InitiateSRPAuth(ctx, SRPAuth{Username: "ada@example.com", SRPA: c.AHex(), Client: machineClient})
	if _, ok := errors.AsType[*LockedOutError](err); !ok {
		t.Fatalf("after %d wrong proofs: %v, want locked out", DefaultLockoutThreshold, err)
	}
	if _, err := m.p.SignIn(ctx, "ada@example.com", goodPassword); err == nil {
		t.Fatal("the password sign-in is not locked by SRP's failures")
	}
	// A challenge taken before the lock is not answered through it.
	m.clk.advance(2 * time.Hour)
	c, ch := srpStart(t, m, "ada@example.com")
	for range DefaultLockoutThreshold {
		_, _ = srpSignIn(t, m, "ada@example.com", "guess")
	}
	if _, err := m.p.RespondToAuthChallenge(ctx, srpAnswer(t, m, c, ch, goodPassword)); err == nil {
		t.Fatal("a right proof answered through a lock")
	}

	// A right proof clears the count, as a right password does.
	m.clk.advance(2 * time.Hour)
	for range DefaultLockoutThreshold - 1 {
		_, _ = srpSignIn(t, m, "ada@example.com", "guess")
	}
	if step, err := srpSignIn(t, m, "ada@example.com", goodPassword); err != nil || step.Auth == nil {
		t.Fatalf("right proof: %v", err)
	}
	if f, _ := m.p.store.SignInFailures(ctx, "ada@example.com"); f.Count != 0 {
		t.Fatalf("failures after a right proof: %d", f.Count)
	}
}

// A new password replaces the verifier: the old password's proof fails,
// and a challenge begun before the change is dead.
func TestSRPPasswordChangeReplacesVerifier(t *testing.T) {
	t.Parallel()
	m := srpMachine(t, "", srpPoolName)
	u, _ := m.user(t, "ada@example.com")
	ctx := t.Context()
	before, beforeCh := srpStart(t, m, "ada@example.com")
	stale := srpAnswer(t, m, before, beforeCh, goodPassword)

	changes := []struct {
		name string
		do   func(old, new string) error
	}{
		{"change", func(old, new string) error {
			_, err := m.p.ChangePassword(ctx, u.ID, Confirmation{Password: old}, new)
			return err
		}},
		{"admin", func(_, new string) error { return m.p.SetPassword(ctx, u.ID, new) }},
		{"reset", func(_, new string) error {
			m.clk.advance(10 * time.Minute) // past the resend cool-down
			if err := m.p.ForgotPassword(ctx, "ada@example.com"); err != nil {
				return err
			}
			_, err := m.p.ResetPassword(ctx, "ada@example.com", m.fm.last(t, mail.KindResetPassword, "ada@example.com").Code, new)
			return err
		}},
	}
	old := goodPassword
	for i, c := range changes {
		next := "new passphrase number " + string(rune('a'+i))
		if err := c.do(old, next); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if _, err := srpSignIn(t, m, "ada@example.com", old); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("%s: the old password's proof: %v", c.name, err)
		}
		if step, err := srpSignIn(t, m, "ada@example.com", next); err != nil || step.Auth == nil {
			t.Fatalf("%s: the new password's proof: %v", c.name, err)
		}
		old = next
	}
	if _, err := m.p.RespondToAuthChallenge(ctx, stale); !errors.Is(err, ErrChallengeExpired) {
		t.Fatalf("a proof for a challenge from before the change: %v", err)
	}
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// An unknown login gets a challenge like a real one, the same salt and id
// each time; any answer fails as a wrong password, counted.
func TestSRPUnknownLoginLooksReal(t *testing.T) {
	t.Parallel()
	m := srpMachine(t, "", srpPoolName)
	real, _ := m.user(t, "ada@example.com")
	ctx := t.Context()
	_, r1 := srpStart(t, m, "ada@example.com")
	_, r2 := srpStart(t, m, "ada@example.com")
	_, g1 := srpStart(t, m, "ghost@example.com")
	_, g2 := srpStart(t, m, "ghost@example.com")
	_, other := srpStart(t, m, "other-ghost@example.com")
	for _, ch := range []*Challenge{r1, g1} {
		keys := make([]string, 0, len(ch.Parameters))
		for k := range ch.Parameters {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if strings.Join(keys, ",") != "SALT,SECRET_BLOCK,SRP_B,USERNAME,USER_ID_FOR_SRP" {
			t.Fatalf("parameters %v", keys)
		}
		if !uuidV4.MatchString(ch.Parameters["USER_ID_FOR_SRP"]) {
			t.Fatalf("USER_ID_FOR_SRP %q does not look like a user's", ch.Parameters["USER_ID_FOR_SRP"])
		}
		if n := len(ch.Parameters["SALT"]); n < 28 || n > 34 {
			t.Fatalf("SALT %q", ch.Parameters["SALT"])
		}
		if len(ch.Parameters["SECRET_BLOCK"]) != len(r1.Parameters["SECRET_BLOCK"]) {
			t.Fatalf("secret blocks of different lengths: %d and %d", len(ch.Parameters["SECRET_BLOCK"]), len(r1.Parameters["SECRET_BLOCK"]))
		}
	}
	if r1.Parameters["USER_ID_FOR_SRP"] != real.ID {
		t.Fatal("a user's USER_ID_FOR_SRP is not their id")
	}
	if g1.Parameters["SALT"] != g2.Parameters["SALT"] || g1.Parameters["USER_ID_FOR_SRP"] != g2.Parameters["USER_ID_FOR_SRP"] ||
		r1.Parameters["SALT"] != r2.Parameters["SALT"] {
		t.Fatal("asking twice gave another salt or id")
	}
	if g1.Parameters["SRP_B"] == g2.Parameters["SRP_B"] || r1.Parameters["SRP_B"] == r2.Parameters["SRP_B"] {
		t.Fatal("B repeated")
	}
	if other.Parameters["SALT"] == g1.Parameters["SALT"] || other.Parameters["USER_ID_FOR_SRP"] == g1.Parameters["USER_ID_FOR_SRP"] {
		t.Fatal("two unknown logins share a decoy")
	}
	if _, err := srpSignIn(t, m, "ghost@example.com", goodPassword); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("unknown login: %v", err)
	}
	if f, _ := m.p.store.SignInFailures(ctx, "ghost@example.com"); f.Count != 1 {
		t.Fatalf("unknown login's failures: %d, want 1", f.Count)
	}
	// The decoys are the pool's: another pool on its own store derives
	// others.
	m2 := srpMachine(t, "", srpPoolName)
	if _, g3 := srpStart(t, m2, "ghost@example.com"); g3.Parameters["SALT"] == g1.Parameters["SALT"] {
		t.Fatal("decoys are not keyed by the pool")
	}
}

// Users from before SRP was on have no verifier: their challenge is a
// decoy (failing as a wrong password) until a password sign-in makes one.
func TestSRPUserWithoutVerifier(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	off := srpMachine(t, path, "")
	u, _ := off.user(t, "old@example.com")
	c := srp.NewClient()
	if _, err := off.p.InitiateSRPAuth(t.Context(), SRPAuth{Username: "old@example.com", SRPA: c.AHex(), Client: machineClient}); !errors.Is(err, ErrSRPUnavailable) {
		t.Fatalf("SRP off: %v", err)
	}
	if _, err := off.p.store.SRPVerifier(t.Context(), u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a pool without SRP made a verifier: %v", err)
	}

	m := srpMachine(t, path, srpPoolName)
	_, ch := srpStart(t, m, "old@example.com")
	if ch.Parameters["USER_ID_FOR_SRP"] != u.ID {
		t.Fatalf("USER_ID_FOR_SRP %q, want the user's id", ch.Parameters["USER_ID_FOR_SRP"])
	}
	if _, err := srpSignIn(t, m, "old@example.com", goodPassword); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("no verifier yet: %v", err)
	}
	if _, err := m.p.SignIn(t.Context(), "old@example.com", goodPassword); err != nil {
		t.Fatal(err)
	}
	if step, err := srpSignIn(t, m, "old@example.com", goodPassword); err != nil || step.Auth == nil {
		t.Fatalf("after a password sign-in: %v", err)
	}
	// Kept sealed: neither salt nor verifier in the clear in the store.
	sv, err := m.p.store.SRPVerifier(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	rec, ok, err := m.p.srpVerifier(t.Context(), u)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if strings.Contains(string(sv.Sealed), string(rec.Verifier[:16])) || strings.Contains(string(sv.Sealed), string(rec.Salt)) {
		t.Fatal("the verifier is stored in the clear")
	}
	// Copied onto another user's row, it does not open there.
	other, _ := m.user(t, "other@example.com")
	if err := m.p.store.SaveSRPVerifier(t.Context(), store.SRPVerifier{UserID: other.ID, Sealed: sv.Sealed, PasswordHash: other.PasswordHash}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := m.p.srpVerifier(t.Context(), other); ok {
		t.Fatal("a verifier copied to another user opened")
	}
}

// A challenge is answered once, right or wrong.
func TestSRPSessionSingleUse(t *testing.T) {
	t.Parallel()
	m := srpMachine(t, "", srpPoolName)
	m.user(t, "ada@example.com")
	ctx := t.Context()
	c, ch := srpStart(t, m, "ada@example.com")
	a := srpAnswer(t, m, c, ch, goodPassword)
	if step, err := m.p.RespondToAuthChallenge(ctx, a); err != nil || step.Auth == nil {
		t.Fatalf("first answer: %v", err)
	}
	if _, err := m.p.RespondToAuthChallenge(ctx, a); !errors.Is(err, ErrChallengeExpired) {
		t.Fatalf("replayed answer: %v", err)
	}
	c, ch = srpStart(t, m, "ada@example.com")
	if _, err := m.p.RespondToAuthChallenge(ctx, srpAnswer(t, m, c, ch, "guess")); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("wrong: %v", err)
	}
	if _, err := m.p.RespondToAuthChallenge(ctx, srpAnswer(t, m, c, ch, goodPassword)); !errors.Is(err, ErrChallengeExpired) {
		t.Fatalf("a second guess on one challenge: %v", err)
	}
	c, ch = srpStart(t, m, "ada@example.com")
	m.clk.advance(srpTTL + time.Second)
	if _, err := m.p.RespondToAuthChallenge(ctx, srpAnswer(t, m, c, ch, goodPassword)); !errors.Is(err, ErrChallengeExpired) {
		t.Fatalf("expired challenge: %v", err)
	}
}

// What an attacker may send instead of an honest answer.
func TestSRPRefusals(t *testing.T) {
	t.Parallel()
	m := srpMachine(t, "", srpPoolName)
	u, _ := m.user(t, "ada@example.com")
	ctx := t.Context()

	for _, A := range []string{"", "0", srp.PadHex(srp.N()), "zz", strings.Repeat("f", 5000)} {
		if _, err := m.p.InitiateSRPAuth(ctx, SRPAuth{Username: "ada@example.com", SRPA: A, Client: machineClient}); !errors.Is(err, ErrInvalidSRPA) {
			t.Errorf("SRP_A %.12q: %v", A, err)
		}
	}
	if _, err := m.p.InitiateSRPAuth(ctx, SRPAuth{Username: "ada@example.com", SRPA: "2", Client: machineClient, PoolName: "Other"}); !errors.Is(err, ErrSRPUnavailable) {
		t.Errorf("another pool name: %v", err)
	}

	try := func(name string, want error, edit func(a *Answer, ch *Challenge)) {
		t.Helper()
		c, ch := srpStart(t, m, "ada@example.com")
		a := srpAnswer(t, m, c, ch, goodPassword)
		edit(&a, ch)
		if _, err := m.p.RespondToAuthChallenge(ctx, a); !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", name, err, want)
		}
	}
	try("another client", ErrChallengeExpired, func(a *Answer, _ *Challenge) { a.Client = "evil.example" })
	try("another challenge's session", ErrChallengeExpired, func(a *Answer, _ *Challenge) {
		_, other := srpStart(t, m, "ada@example.com")
		a.Session = other.Session
	})
	try("a block not sealed by the pool", ErrChallengeExpired, func(a *Answer, _ *Challenge) {
		raw, _ := base64.StdEncoding.DecodeString(a.PasswordClaimSecretBlock)
		raw[len(raw)-1] ^= 1
		a.PasswordClaimSecretBlock = base64.StdEncoding.EncodeToString(raw)
	})
	try("no block", ErrChallengeExpired, func(a *Answer, ch *Challenge) {
		a.PasswordClaimSecretBlock, a.Session = "", ch.Session
	})
	try("clock an hour off", ErrClockSkew, func(a *Answer, _ *Challenge) {
		a.Timestamp = srp.FormatTimestamp(m.clk.now().Add(time.Hour))
	})
	try("timestamp in another format", ErrClockSkew, func(a *Answer, _ *Challenge) {
		a.Timestamp = m.clk.now().Format(time.RFC3339)
	})
	try("signature of another timestamp", ErrInvalidCredentials, func(a *Answer, _ *Challenge) {
		a.Timestamp = srp.FormatTimestamp(m.clk.now().Add(time.Second))
	})
	try("the password instead of a proof", ErrChallengeExpired, func(a *Answer, ch *Challenge) {
		*a = Answer{Client: machineClient, Session: ch.Session, Password: goodPassword}
	})
	try("another challenge name", ErrChallengeExpired, func(a *Answer, _ *Challenge) { a.Name = ChallengeSoftwareTokenMFA })

	// A step-up's PASSWORD_VERIFIER takes no SRP proof.
	step, err := m.p.StartStepUp(ctx, machineClient, u, false)
	if err != nil || step.Challenge.Name != ChallengePasswordVerifier {
		t.Fatalf("step-up: %+v, %v", step, err)
	}
	c, ch := srpStart(t, m, "ada@example.com")
	a := srpAnswer(t, m, c, ch, goodPassword)
	a.Session, a.PasswordClaimSecretBlock = step.Challenge.Session, ""
	if _, err := m.p.RespondToAuthChallenge(ctx, a); !errors.Is(err, ErrChallengeExpired) {
		t.Fatalf("SRP answer to a step-up: %v", err)
	}
}

// A sign-in that rehashes a stale password hash drops the verifier with
// the old hash (the store does) and makes one of the new at once.
func TestSRPAfterHashUpgrade(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	weak := srpMachine(t, path, srpPoolName)
	u, _ := weak.user(t, "ada@example.com")
	if step, err := srpSignIn(t, weak, "ada@example.com", goodPassword); err != nil || step.Auth == nil {
		t.Fatalf("before: %v", err)
	}
	strong := &machine{p: newPoolOn(t, openSQLite(t, path), Config{SRP: SRPConfig{PoolName: srpPoolName},
		Hash: HashParams{MemoryKiB: 128, Iterations: 2, Parallelism: 1}}), clk: weak.clk}
	withClock(strong.p, weak.clk)
	if _, err := strong.p.SignIn(t.Context(), "ada@example.com", goodPassword); err != nil {
		t.Fatal(err)
	}
	if now, _ := strong.p.User(t.Context(), u.ID); now.PasswordHash == u.PasswordHash {
		t.Fatal("the hash was not upgraded")
	}
	if step, err := srpSignIn(t, strong, "ada@example.com", goodPassword); err != nil || step.Auth == nil {
		t.Fatalf("after the upgrade: %v", err)
	}
}
