package module_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/pool"
)

// TestContestedSignUpHostedPage: a contested sign-up (an attacker's
// sign-up replaced the owner's pending one) is refused the code-alone
// confirmation the Cognito API uses, and the hosted confirmation page,
// which asks for the password chosen at sign-up, still confirms the
// owner's own sign-up when she signs up again.
func TestContestedSignUpHostedPage(t *testing.T) {
	a := startAccounts(t, "verification {\n resend_cooldown 1ms\n}")
	ctx := context.Background()
	p := a.pool.Pool
	const email, ownerPW, attackerPW = "ada@example.com", "the owner's long passphrase", "mallory's long passphrase"
	owner, attacker := testenv.Browser(t), testenv.Browser(t)
	signUp := func(c *http.Client, pw string) {
		t.Helper()
		time.Sleep(2 * time.Millisecond) // past the cool-down: each sign-up mails a code
		resp, body := a.form(t, c, "/_gatehouse/signup", signUpForm(email, pw))
		wantStatus(t, "sign-up", resp, body, http.StatusSeeOther)
	}
	signUp(owner, ownerPW)
	// Sign-ups do their work after the answer: the attacker's must come
	// after the owner's is done (as it would in the race this is), and
	// past its code's cool-down, or it mails nothing.
	a.smtp.WaitFor(t, email, 1, mailWait)
	signUp(attacker, attackerPW)
	code := a.smtp.WaitFor(t, email, 2, mailWait).Code(t)
	if _, err := p.ConfirmSignUpCode(ctx, email, code); !errors.Is(err, pool.ErrSignUpContested) {
		t.Fatalf("the code alone confirms the attacker's sign-up: %v", err)
	}
	// On the page, the owner's password does not confirm the attacker's.
	resp, body := a.form(t, owner, "/_gatehouse/confirm", url.Values{"email": {email}, "code": {code}, "password": {ownerPW}, "action": {"confirm"}})
	wantStatus(t, "the owner's password on the attacker's sign-up", resp, body, http.StatusBadRequest)

	signUp(owner, ownerPW)
	code = a.smtp.WaitFor(t, email, 3, mailWait).Code(t)
	if _, err := p.ConfirmSignUpCode(ctx, email, code); !errors.Is(err, pool.ErrSignUpContested) {
		t.Fatalf("the owner's second sign-up is contested too: %v", err)
	}
	resp, body = a.form(t, owner, "/_gatehouse/confirm", url.Values{"email": {email}, "code": {code}, "password": {ownerPW}, "action": {"confirm"}})
	wantStatus(t, "the owner confirms on the page", resp, body, http.StatusSeeOther)
	if _, err := p.SignIn(ctx, email, ownerPW); err != nil {
		t.Fatalf("the owner signs in: %v", err)
	}
	if _, err := p.SignIn(ctx, email, attackerPW); !errors.Is(err, pool.ErrInvalidCredentials) {
		t.Fatalf("the attacker: %v", err)
	}
}
