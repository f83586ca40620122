package module_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/pool"
)

// TestMFAEmailCodes turns on sign-in codes by email from the account page,
// then signs in with one mailed by a real SMTP server; a code works once,
// and asking again within the cool-down sends nothing.
func TestMFAEmailCodes(t *testing.T) {
	a := startAccounts(t, "")
	createAda(t, a.site)
	c := testenv.Browser(t)
	signIn(t, c, a.base, "/private", adaEmail, adaPassword)

	resp, body := a.form(t, c, "/_gatehouse/account", url.Values{"action": {"mfa_email"}, "password": {adaPassword}})
	wantStatus(t, "turning email codes on", resp, body, http.StatusOK)
	if !strings.Contains(body, "we emailed to a•••@example.com") || !strings.Contains(body, `action="/_gatehouse/mfa/setup"`) {
		t.Fatalf("enrolment page:\n%s", body)
	}
	code := a.smtp.WaitFor(t, adaEmail, 1, mailWait).Code(t)
	wrong := "000000"
	if code == wrong {
		wrong = "000001"
	}
	form := stepForm(t, body)
	form.Set("code", wrong)
	resp, body = a.post(t, c, "/_gatehouse/mfa/setup", form)
	wantStatus(t, "wrong enrolment code", resp, body, http.StatusUnprocessableEntity)
	form = stepForm(t, body)
	form.Set("code", code)
	resp, body = a.post(t, c, "/_gatehouse/mfa/setup", form)
	wantStatus(t, "right enrolment code", resp, body, http.StatusOK)
	if n := len(recoveryRE.FindAllString(body, -1)); n != pool.RecoveryCodeCount {
		t.Fatalf("%d recovery codes shown", n)
	}
	_, body = get(t, c, a.base+"/_gatehouse/account", nil)
	if !strings.Contains(body, "<strong>Email codes</strong>") || strings.Contains(body, "Get sign-in codes by email") {
		t.Fatalf("account page after turning email codes on:\n%s", body)
	}

	// Sign-in: the password step mails a code at once.
	c2 := testenv.Browser(t)
	body = a.mustPasswordStep(t, c2)
	if !strings.Contains(body, "We emailed you a code.") {
		t.Fatalf("second step did not say a code was sent:\n%s", body)
	}
	msg := a.smtp.WaitFor(t, adaEmail, 2, mailWait)
	if !strings.Contains(msg.Subject, "sign-in code") {
		t.Fatalf("second message subject %q", msg.Subject)
	}
	code = msg.Code(t)
	// Asking again at once sends nothing (cool-down), and says so calmly.
	form = stepForm(t, body)
	form.Set("action", "email")
	resp, body = a.post(t, c2, "/_gatehouse/mfa", form)
	wantStatus(t, "new code within the cool-down", resp, body, http.StatusOK)
	if n := a.smtp.CountTo(adaEmail); n != 2 {
		t.Fatalf("%d messages after asking within the cool-down, want 2", n)
	}
	form = stepForm(t, body)
	form.Set("rd", "/private")
	form.Set("code", code)
	resp, body = a.post(t, c2, "/_gatehouse/mfa", form)
	wantContinue(t, "mailed code", resp, body, "/private")
	if r, b := get(t, c2, a.base+"/private", nil); r.StatusCode != http.StatusOK {
		t.Fatalf("after the mailed code: %d: %s", r.StatusCode, b)
	}

	// The same code cannot sign in again.
	c3 := testenv.Browser(t)
	form = stepForm(t, a.mustPasswordStep(t, c3))
	form.Set("code", code)
	resp, body = a.post(t, c3, "/_gatehouse/mfa", form)
	wantStatus(t, "a used mailed code", resp, body, http.StatusUnauthorized)
}

// TestMFARequiredByEmail: a pool that requires MFA and sends mail lets a
// user without an app choose codes by email at the first sign-in.
func TestMFARequiredByEmail(t *testing.T) {
	a := startAccounts(t, "mfa required")
	createAda(t, a.site)
	c := testenv.Browser(t)
	resp, body := a.passwordStep(t, c, "/private", adaEmail, adaPassword)
	wantStatus(t, "password step", resp, body, http.StatusOK)
	if !strings.Contains(body, `id="email-instead"`) {
		t.Fatalf("setup page offers no email codes:\n%s", body)
	}
	form := stepForm(t, body)
	form.Set("rd", "/private")
	form.Set("action", "email")
	resp, body = a.post(t, c, "/_gatehouse/mfa/setup", form)
	wantStatus(t, "choosing email codes", resp, body, http.StatusOK)
	if r, _ := get(t, c, a.base+"/private", nil); r.StatusCode != http.StatusFound {
		t.Fatalf("before the mailed code /private gave %d, want 302", r.StatusCode)
	}
	form = stepForm(t, body)
	form.Set("rd", "/private")
	form.Set("code", a.smtp.WaitFor(t, adaEmail, 1, mailWait).Code(t))
	resp, body = a.post(t, c, "/_gatehouse/mfa/setup", form)
	wantStatus(t, "mailed enrolment code", resp, body, http.StatusOK)
	if cont := continueRE.FindStringSubmatch(body); cont == nil || cont[1] != "/private" {
		t.Fatalf("recovery page continues to %v", cont)
	}
	if r, b := get(t, c, a.base+"/private", nil); r.StatusCode != http.StatusOK {
		t.Fatalf("after enrolment: %d: %s", r.StatusCode, b)
	}
}
