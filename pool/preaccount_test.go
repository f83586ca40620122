package pool

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/mail"
	"github.com/gatehouse-auth/gatehouse/store"
)

const attackerPassword = "the attacker chose this one"

// attackerReq is a sign-up of email by someone who cannot read its mail.
func attackerReq(email string) SignUpRequest {
	req := signUpReq(email)
	req.Password = attackerPassword
	req.Attributes["name"] = "Mallory"
	req.Attributes["custom:tenant"] = "evil"
	return req
}

// TestPreAccountHijack: a stranger's sign-up of someone's address never
// becomes the account its owner confirms, in whichever order the two
// sign-ups come and whichever mailed code the owner uses.
func TestPreAccountHijack(t *testing.T) {
	ctx := context.Background()
	const victim = "ada@example.com"
	check := func(t *testing.T, p *Pool) {
		t.Helper()
		if _, err := p.SignIn(ctx, victim, attackerPassword); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("the attacker's password: %v, want ErrInvalidCredentials", err)
		}
		u, err := p.SignIn(ctx, victim, goodPassword)
		if err != nil {
			t.Fatalf("the owner's password: %v", err)
		}
		if u.Name != "Ada Lovelace" || u.Attributes["custom:tenant"] != "acme" {
			t.Errorf("the account has the attacker's attributes: %+v", u)
		}
	}

	t.Run("owner signs up after the cool-down", func(t *testing.T) {
		p, fm, clk := accountPool(t, nil)
		if _, err := p.SignUp(ctx, attackerReq(victim)); err != nil {
			t.Fatal(err)
		}
		first := codeOf(t, fm.last(t, mail.KindVerifyEmail, victim))
		clk.advance(DefaultResendCooldown + time.Second)
		if _, err := p.SignUp(ctx, signUpReq(victim)); err != nil {
			t.Fatal(err)
		}
		second := codeOf(t, fm.last(t, mail.KindVerifyEmail, victim))
		// The code mailed for the attacker's sign-up confirms nothing, not
		// even with the attacker's password.
		for _, pw := range []string{attackerPassword, goodPassword} {
			if first != second {
				if _, err := p.ConfirmSignUp(ctx, victim, first, pw); err == nil {
					t.Fatal("the first code confirmed the replaced sign-up")
				}
			}
		}
		if _, err := p.ConfirmSignUp(ctx, victim, second, attackerPassword); !errors.Is(err, ErrWrongCode) {
			t.Fatalf("the owner's code with the attacker's password: %v, want ErrWrongCode", err)
		}
		if _, err := p.ConfirmSignUp(ctx, victim, second, goodPassword); err != nil {
			t.Fatalf("the owner's code and password: %v", err)
		}
		check(t, p)
	})

	t.Run("owner signs up within the cool-down", func(t *testing.T) {
		p, fm, clk := accountPool(t, nil)
		if _, err := p.SignUp(ctx, attackerReq(victim)); err != nil {
			t.Fatal(err)
		}
		first := codeOf(t, fm.last(t, mail.KindVerifyEmail, victim))
		if _, err := p.SignUp(ctx, signUpReq(victim)); err != nil {
			t.Fatal(err)
		}
		if fm.count() != 1 {
			t.Fatalf("%d messages within the cool-down, want 1", fm.count())
		}
		if _, err := p.ConfirmSignUp(ctx, victim, first, goodPassword); err == nil {
			t.Fatal("the attacker's code confirmed the owner's sign-up") // harmless, but codes die with their sign-up
		}
		var tooSoon *TooSoonError
		if err := p.ResendConfirmation(ctx, victim); !errors.As(err, &tooSoon) {
			t.Fatalf("resend within the cool-down of the replaced sign-up: %v, want TooSoonError", err)
		}
		clk.advance(DefaultResendCooldown)
		if err := p.ResendConfirmation(ctx, victim); err != nil {
			t.Fatal(err)
		}
		code := codeOf(t, fm.last(t, mail.KindVerifyEmail, victim))
		if _, err := p.ConfirmSignUp(ctx, victim, code, goodPassword); err != nil {
			t.Fatalf("confirming: %v", err)
		}
		check(t, p)
	})

	t.Run("attacker signs up again after the owner", func(t *testing.T) {
		p, fm, clk := accountPool(t, nil)
		if _, err := p.SignUp(ctx, signUpReq(victim)); err != nil {
			t.Fatal(err)
		}
		clk.advance(DefaultResendCooldown + time.Second)
		if _, err := p.SignUp(ctx, attackerReq(victim)); err != nil {
			t.Fatal(err)
		}
		// The owner takes the latest mail, which the attacker's sign-up
		// caused: with the owner's password it confirms nothing.
		latest := codeOf(t, fm.last(t, mail.KindVerifyEmail, victim))
		if _, err := p.ConfirmSignUp(ctx, victim, latest, goodPassword); !errors.Is(err, ErrWrongCode) {
			t.Fatalf("confirming the attacker's sign-up with the owner's password: %v, want ErrWrongCode", err)
		}
		if u, _ := p.UserByEmail(ctx, victim); u.Status != store.StatusUnconfirmed {
			t.Fatalf("status %s", u.Status)
		}
		// Signing up again makes it the owner's.
		clk.advance(DefaultResendCooldown + time.Second)
		if _, err := p.SignUp(ctx, signUpReq(victim)); err != nil {
			t.Fatal(err)
		}
		code := codeOf(t, fm.last(t, mail.KindVerifyEmail, victim))
		if _, err := p.ConfirmSignUp(ctx, victim, code, goodPassword); err != nil {
			t.Fatal(err)
		}
		check(t, p)
	})

	t.Run("a wrong password uses up tries", func(t *testing.T) {
		p, fm, _ := accountPool(t, func(c *AccountConfig) { c.MaxAttempts = 2 })
		if _, err := p.SignUp(ctx, signUpReq(victim)); err != nil {
			t.Fatal(err)
		}
		code := codeOf(t, fm.last(t, mail.KindVerifyEmail, victim))
		for range 2 {
			if _, err := p.ConfirmSignUp(ctx, victim, code, attackerPassword); err == nil {
				t.Fatal("confirmed with a wrong password")
			}
		}
		if _, err := p.ConfirmSignUp(ctx, victim, code, goodPassword); !errors.Is(err, ErrCodeExpired) {
			t.Fatalf("after the tries: %v, want ErrCodeExpired", err)
		}
	})

	t.Run("an administrator's user replaces a pending sign-up", func(t *testing.T) {
		p, _, _ := accountPool(t, nil)
		if _, err := p.SignUp(ctx, attackerReq(victim)); err != nil {
			t.Fatal(err)
		}
		pending, _ := p.UserByEmail(ctx, victim)
		u, temp, err := p.InviteUser(ctx, Invitation{Email: victim, Name: "Ada Lovelace", EmailVerified: true})
		if err != nil {
			t.Fatalf("inviting over a pending sign-up: %v", err)
		}
		if u.ID == pending.ID || u.Attributes["custom:tenant"] != "" || u.Name != "Ada Lovelace" {
			t.Fatalf("the pending sign-up survived: %+v", u)
		}
		if _, err := p.SignIn(ctx, victim, attackerPassword); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("the attacker's password: %v", err)
		}
		if _, err := p.SignIn(ctx, victim, temp); !errors.Is(err, ErrNewPasswordRequired) {
			t.Errorf("the temporary password: %v", err)
		}
		// A confirmed (or invited) account is not replaced.
		if _, err := p.CreateUser(ctx, NewUser{Email: victim, Password: goodPassword}); !errors.Is(err, ErrUserExists) {
			t.Errorf("creating over an invited user: %v, want ErrUserExists", err)
		}
	})
}

func TestBackground(t *testing.T) {
	p, _, _ := accountPool(t, nil)
	var ran atomic.Int32
	for range 20 {
		if err := p.Later(t.Context(), "test", func(context.Context) error { ran.Add(1); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if ran.Load() != 20 {
		t.Fatalf("%d jobs ran before Close returned, want 20", ran.Load())
	}
	if err := p.Later(t.Context(), "test", func(context.Context) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Later after Close: %v, want ErrClosed", err)
	}
}
