package module_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// TestSignInStepAnsweredOnce: a second-factor step that was answered
// cannot be answered again, even with another good code (a recovery code):
// one password and one page give one session. A wrong code before does not
// use the step up.
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
		t.Fatalf("recovery codes left %d (%v), want %d", left, err, len(codes))
	}
}
