package pool

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/mail"
	"github.com/gatehouse-auth/gatehouse/store"
)

// opLog is the real store, with the names of the code and user calls made
// through it written down.
type opLog struct {
	store.Store
	mu  sync.Mutex
	ops []string
}

func (o *opLog) note(op string) { o.mu.Lock(); o.ops = append(o.ops, op); o.mu.Unlock() }

func (o *opLog) take() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := o.ops
	o.ops = nil
	return out
}

func (o *opLog) UserByEmail(ctx context.Context, email string) (*store.User, error) {
	o.note("UserByEmail")
	return o.Store.UserByEmail(ctx, email)
}

func (o *opLog) ConsumeVerificationCode(ctx context.Context, userID, purpose, hash string, maxAttempts int, now time.Time) (*store.VerificationCode, error) {
	o.note("ConsumeVerificationCode " + purpose)
	return o.Store.ConsumeVerificationCode(ctx, userID, purpose, hash, maxAttempts, now)
}

func (o *opLog) VerificationCode(ctx context.Context, userID, purpose string) (*store.VerificationCode, error) {
	o.note("VerificationCode " + purpose)
	return o.Store.VerificationCode(ctx, userID, purpose)
}

func (o *opLog) UpdateUser(ctx context.Context, userID string, up store.UserUpdate) error {
	o.note("UpdateUser")
	return o.Store.UpdateUser(ctx, userID, up)
}

// TestConfirmSignUpCodeSameWork: ConfirmSignUpCode for an unknown address
// makes the store calls an account without a live code makes, and answers
// as it does, so neither answer nor time says which addresses exist.
// (The time itself: GATEHOUSE_TIMING=1, TestEnumerationTiming's way, in
// package cognito's TestConfirmSignUpTiming.)
func TestConfirmSignUpCodeSameWork(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tmpl, err := mail.LoadTemplates(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	log := &opLog{Store: openSQLite(t, filepath.Join(t.TempDir(), "gatehouse.db"))}
	p := newPoolOn(t, log, Config{Accounts: AccountConfig{SignUp: SignUpOpen,
		Mail: &Messenger{Mailer: &fakeMailer{}, Templates: tmpl}}})
	if _, err := p.CreateUser(ctx, NewUser{Email: "known@example.com", Password: goodPassword, EmailVerified: true}); err != nil {
		t.Fatal(err)
	}
	log.take()
	_, known := p.ConfirmSignUpCode(ctx, "known@example.com", "123456")
	knownOps := log.take()
	_, unknown := p.ConfirmSignUpCode(ctx, "nobody@example.com", "123456")
	unknownOps := log.take()
	if !errors.Is(known, ErrCodeExpired) || !errors.Is(unknown, ErrCodeExpired) {
		t.Errorf("known: %v, unknown: %v; want ErrCodeExpired for both", known, unknown)
	}
	if !slices.Equal(knownOps, unknownOps) || len(unknownOps) != 2 {
		t.Errorf("store calls differ:\nknown   %v\nunknown %v", knownOps, unknownOps)
	}
}

// TestContestedSignUp: a sign-up that replaced another pending one is not
// confirmed by its code alone (the code stays good for ConfirmSignUp with
// the password); an uncontested one is.
func TestContestedSignUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const victim = "ada@example.com"
	p, fm, clk := accountPool(t, nil)
	// Uncontested: the code alone confirms.
	if _, err := p.SignUp(ctx, signUpReq("grace@example.com")); err != nil {
		t.Fatal(err)
	}
	if _, err := p.ConfirmSignUpCode(ctx, "grace@example.com", codeOf(t, fm.last(t, mail.KindVerifyEmail, "grace@example.com"))); err != nil {
		t.Fatalf("an uncontested sign-up: %v", err)
	}
	// The race: the owner signs up, the attacker signs up over her.
	if _, err := p.SignUp(ctx, signUpReq(victim)); err != nil {
		t.Fatal(err)
	}
	clk.advance(DefaultResendCooldown + time.Second)
	if _, err := p.SignUp(ctx, attackerReq(victim)); err != nil {
		t.Fatal(err)
	}
	code := codeOf(t, fm.last(t, mail.KindVerifyEmail, victim))
	if _, err := p.ConfirmSignUpCode(ctx, victim, code); !errors.Is(err, ErrSignUpContested) {
		t.Fatalf("the code alone of a contested sign-up: %v, want ErrSignUpContested", err)
	}
	if _, err := p.SignIn(ctx, victim, attackerPassword); !errors.Is(err, ErrUserNotConfirmed) && !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("the attacker signs in: %v", err)
	}
	// The code was kept: with the attacker's password (which only he
	// knows) it would confirm his sign-up, so the owner's password fails.
	if _, err := p.ConfirmSignUp(ctx, victim, code, goodPassword); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("the owner's password on the attacker's sign-up: %v", err)
	}
	// The owner signs up again (contested too) and confirms with her
	// password, after the API refused the code alone.
	clk.advance(DefaultResendCooldown + time.Second)
	if _, err := p.SignUp(ctx, signUpReq(victim)); err != nil {
		t.Fatal(err)
	}
	code = codeOf(t, fm.last(t, mail.KindVerifyEmail, victim))
	if _, err := p.ConfirmSignUpCode(ctx, victim, code); !errors.Is(err, ErrSignUpContested) {
		t.Fatalf("contested again: %v", err)
	}
	if _, err := p.ConfirmSignUp(ctx, victim, code, goodPassword); err != nil {
		t.Fatalf("the owner confirms with her password: %v", err)
	}
	if _, err := p.SignIn(ctx, victim, goodPassword); err != nil {
		t.Fatalf("the owner signs in: %v", err)
	}
	if _, err := p.SignIn(ctx, victim, attackerPassword); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("the attacker: %v", err)
	}
	// Confirmed, the mark no longer matters: a code alone verifies the
	// address again (an address left unverified, mailed a new code).
	u, err := p.UserByEmail(ctx, victim)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.store.UpdateUser(ctx, u.ID, store.UserUpdate{EmailVerified: ptrTo(false)}); err != nil {
		t.Fatal(err)
	}
	clk.advance(DefaultResendCooldown + time.Second)
	if err := p.ResendConfirmation(ctx, victim); err != nil {
		t.Fatal(err)
	}
	if _, err := p.ConfirmSignUpCode(ctx, victim, codeOf(t, fm.last(t, mail.KindVerifyEmail, victim))); err != nil {
		t.Fatalf("a confirmed user's code: %v", err)
	}
}
