package module_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// The pre-account hijack, end to end: someone who cannot read victim's
// mail signs it up first with their own password, hoping its owner will
// confirm it later.
const (
	victim         = "victim@example.com"
	victimPassword = "the owner's own passphrase"
	attackerPw     = "the attacker's passphrase"
)

// tryPassword signs in with a fresh browser and returns the status of the
// answer to the password (200 the continue page: signed in; 401 refused; 403 not confirmed).
func tryPassword(t *testing.T, a *accounts, email, password string) int {
	t.Helper()
	c := testenv.Browser(t)
	csrf := signInForm(t, c, a.base, "/")
	resp, body := postSignIn(t, c, a.base, csrf, "/", email, password)
	if resp.StatusCode == http.StatusOK {
		if _, ok := testenv.ContinueTarget(resp.StatusCode, body); !ok {
			t.Fatalf("the password for %s answered a page that is not the continue page:\n%s", email, body)
		}
	}
	return resp.StatusCode
}

func confirmWith(t *testing.T, a *accounts, c *http.Client, email, code, password string) (*http.Response, string) {
	t.Helper()
	return a.form(t, c, "/_gatehouse/confirm", url.Values{"email": {email}, "code": {code}, "password": {password}, "action": {"confirm"}})
}

func TestPreAccountHijackE2E(t *testing.T) {
	t.Run("owner signs up after the stranger", func(t *testing.T) {
		a := startAccounts(t, "verification {\n resend_cooldown 200ms\n}")
		attacker, owner := testenv.Browser(t), testenv.Browser(t)
		form := signUpForm(victim, attackerPw)
		form.Set("custom:tenant", "evil")
		resp, body := a.form(t, attacker, "/_gatehouse/signup", form)
		wantStatus(t, "the stranger's sign-up", resp, body, http.StatusSeeOther)
		first := a.smtp.WaitFor(t, victim, 1, mailWait).Code(t)
		time.Sleep(300 * time.Millisecond) // past the cool-down: the owner's sign-up mails a code

		resp, body = a.form(t, owner, "/_gatehouse/signup", signUpForm(victim, victimPassword))
		wantStatus(t, "the owner's sign-up", resp, body, http.StatusSeeOther)
		code := a.smtp.WaitFor(t, victim, 2, mailWait).Code(t)
		if first != code {
			// The mail the stranger caused confirms nothing any more.
			resp, body = confirmWith(t, a, owner, victim, first, victimPassword)
			wantStatus(t, "the code of the replaced sign-up", resp, body, http.StatusBadRequest)
		}
		resp, body = confirmWith(t, a, owner, victim, code, victimPassword)
		wantStatus(t, "the owner confirms with the mailed code", resp, body, http.StatusSeeOther)

		if got := tryPassword(t, a, victim, attackerPw); got != http.StatusUnauthorized {
			t.Errorf("the stranger's password after the owner confirmed: status %d, want 401", got)
		}
		if got := tryPassword(t, a, victim, victimPassword); got != http.StatusOK {
			t.Fatalf("the owner's password: status %d, want 200 (signed in)", got)
		}
		u, err := a.pool.Pool.UserByEmail(context.Background(), victim)
		if err != nil {
			t.Fatal(err)
		}
		if u.Status != store.StatusConfirmed || u.Attributes["custom:tenant"] != "acme" {
			t.Errorf("the confirmed account is not the owner's sign-up: %+v", u)
		}
	})

	t.Run("stranger signs up again after the owner", func(t *testing.T) {
		a := startAccounts(t, "verification {\n resend_cooldown 200ms\n}")
		attacker, owner := testenv.Browser(t), testenv.Browser(t)
		a.form(t, owner, "/_gatehouse/signup", signUpForm(victim, victimPassword))
		a.smtp.WaitFor(t, victim, 1, mailWait)
		time.Sleep(300 * time.Millisecond) // past the cool-down
		a.form(t, attacker, "/_gatehouse/signup", signUpForm(victim, attackerPw))
		// The owner takes the latest mail: it belongs to the stranger's
		// sign-up, and with the owner's password it confirms nothing.
		latest := a.smtp.WaitFor(t, victim, 2, mailWait).Code(t)
		resp, body := confirmWith(t, a, owner, victim, latest, victimPassword)
		wantStatus(t, "the owner confirms the stranger's sign-up", resp, body, http.StatusBadRequest)
		if u, _ := a.pool.Pool.UserByEmail(context.Background(), victim); u.Status != store.StatusUnconfirmed {
			t.Fatalf("status %s after a refused confirmation", u.Status)
		}
		if got := tryPassword(t, a, victim, attackerPw); got == http.StatusOK {
			t.Error("the stranger's password signs in")
		}
	})

	t.Run("an invited user", func(t *testing.T) {
		a := startAccounts(t, "verification {\n resend_cooldown 200ms\n}")
		ctx := context.Background()
		attacker := testenv.Browser(t)

		// The stranger signs the address up before the administrator
		// invites it: the invitation replaces the pending sign-up.
		a.form(t, attacker, "/_gatehouse/signup", signUpForm(victim, attackerPw))
		a.smtp.WaitFor(t, victim, 1, mailWait)
		if _, _, err := a.pool.Pool.InviteUser(ctx, pool.Invitation{Email: victim, Name: "Vic Tim", EmailVerified: true, Send: true}); err != nil {
			t.Fatalf("inviting an address a stranger signed up: %v", err)
		}
		temp := tempPwRE.FindStringSubmatch(a.smtp.WaitFor(t, victim, 2, mailWait).Text)
		if temp == nil {
			t.Fatal("no temporary password in the invitation")
		}

		// And signs it up again after the invitation: nothing changes.
		time.Sleep(300 * time.Millisecond) // past the cool-down
		resp, body := a.form(t, attacker, "/_gatehouse/signup", signUpForm(victim, attackerPw))
		wantStatus(t, "sign-up over an invited address", resp, body, http.StatusSeeOther)
		note := a.smtp.WaitFor(t, victim, 3, mailWait)
		if !strings.Contains(note.Text, "already have one") {
			t.Errorf("the invitee got, instead of the note:\n%s", note.Text)
		}
		if u, _ := a.pool.Pool.UserByEmail(ctx, victim); u.Status != store.StatusForceChangePassword || u.Name != "Vic Tim" {
			t.Fatalf("the invited user changed: %+v", u)
		}
		if got := tryPassword(t, a, victim, attackerPw); got != http.StatusUnauthorized {
			t.Errorf("the stranger's password: status %d, want 401", got)
		}

		// The invitee chooses their own password and signs in with it.
		c := testenv.Browser(t)
		csrf := signInForm(t, c, a.base, "/")
		resp, body = postSignIn(t, c, a.base, csrf, "/", victim, temp[1])
		wantStatus(t, "the temporary password", resp, body, http.StatusOK)
		ch := challengeRE.FindStringSubmatch(body)
		if ch == nil {
			t.Fatalf("no new-password step:\n%s", body)
		}
		resp, body = a.post(t, c, "/_gatehouse/new-password", url.Values{"csrf": {csrf}, "challenge": {ch[1]}, "rd": {"/"}, "password": {victimPassword}})
		if to, ok := testenv.ContinueTarget(resp.StatusCode, body); !ok || to != "/" {
			t.Fatalf("choosing a password: status %d, want the continue page on to /:\n%s", resp.StatusCode, body)
		}
		if got := tryPassword(t, a, victim, victimPassword); got != http.StatusOK {
			t.Errorf("the invitee's password: status %d, want 200 (signed in)", got)
		}
		if got := tryPassword(t, a, victim, attackerPw); got != http.StatusUnauthorized {
			t.Errorf("the stranger's password at the end: status %d, want 401", got)
		}
	})
}
