package module_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// TestSignInStepAnsweredOnce: a second-factor step that was answered
// cannot be answered again, even with another good code (a recovery code):
// one password and one page give one session. A wrong code before does not
// use the step up, and another site of the pool does not take it.
func TestSignInStepAnsweredOnce(t *testing.T) {
	m := startMFA(t, "")
	createAda(t, m.site)
	p := m.site.pool.Pool
	u := mustUser(t, m.site)
	e, err := p.StartTOTP(t.Context(), u, "Phone")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.ConfirmTOTP(t.Context(), u.ID, e.FactorID, totpCode(t, e.Secret, 0)); err != nil {
		t.Fatal(err)
	}
	codes, err := p.RegenerateRecoveryCodes(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}

	c := testenv.Browser(t)
	page := m.mustPasswordStep(t, c)
	form := stepForm(t, page)
	form.Set("rd", "/private")
	form.Set("code", "12345") // not even a code
	resp, body := m.post(t, c, "/_gatehouse/mfa", form)
	wantStatus(t, "wrong code", resp, body, http.StatusUnauthorized)

	// Another site of the same pool does not take the step: it was made
	// for this one. (Its own form's CSRF token, so that only the step is
	// foreign.)
	other := testenv.Browser(t)
	secure := m.on("secure")
	foreign := url.Values{"csrf": {signInForm(t, other, secure.base, "/")}, "challenge": form["challenge"],
		"rd": {"/private"}, "code": {codes[1]}}
	resp, body = secure.post(t, other, "/_gatehouse/mfa", foreign)
	wantStatus(t, "the step on another site", resp, body, http.StatusBadRequest)

	// The page's own step still takes the right code.
	form.Set("code", totpCode(t, e.Secret, 30*time.Second))
	resp, body = m.post(t, c, "/_gatehouse/mfa", form)
	wantContinue(t, "right code", resp, body, "/private")

	// The same form again, with a recovery code that is good: refused,
	// and the recovery code is not spent.
	form.Set("code", codes[0])
	resp, body = m.post(t, c, "/_gatehouse/mfa", form)
	wantStatus(t, "the answered step again", resp, body, http.StatusBadRequest)
	if left, err := p.RecoveryCodesLeft(t.Context(), u.ID); err != nil || left != len(codes) {
		// Neither the other site nor the replay spent one.
		t.Fatalf("recovery codes left %d (%v), want %d", left, err, len(codes))
	}
}
