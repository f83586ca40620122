package module_test

import (
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// TestAuditTrail: a wrong password, a lockout, a sign-in and an enrolment
// made through the real Caddy are in the pool's audit trail, with the
// client's address, and with no password or code.
func TestAuditTrail(t *testing.T) {
	m := startMFA(t, `lockout {
				threshold 2
				duration 1s
				max 1s
			}
			throttle off`)
	ada := createAda(t, m.site)
	c := testenv.Browser(t)

	for _, want := range []int{http.StatusUnauthorized, http.StatusUnauthorized, http.StatusTooManyRequests} {
		resp, body := m.passwordStep(t, c, "/", adaEmail, "not the password at all")
		wantStatus(t, "wrong password", resp, body, want)
	}
	time.Sleep(1100 * time.Millisecond)
	signIn(t, c, m.base, "/", adaEmail, adaPassword)
	resp, body := m.form(t, c, "/_gatehouse/account", url.Values{"action": {"mfa_add"}, "name": {"Phone"}, "password": {adaPassword}})
	wantStatus(t, "adding a factor", resp, body, http.StatusOK)
	secret, resp, body := m.enrol(t, c, body, "")
	wantStatus(t, "confirming the factor", resp, body, http.StatusOK)

	events, err := m.pool.Pool.Store().AuditEvents(t.Context(), store.AuditQuery{UserID: ada.ID, Login: adaEmail})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(events)
	var got []string
	for _, e := range events {
		got = append(got, e.Type+"/"+e.Reason)
	}
	want := []string{
		pool.AuditSignInFailed + "/invalid_credentials",
		pool.AuditSignInFailed + "/invalid_credentials",
		pool.AuditLockedOut + "/",
		pool.AuditSignInFailed + "/locked_out",
		pool.AuditSignIn + "/",
		pool.AuditMFAEnrolled + "/",
		pool.AuditRecoveryCodesReplaced + "/",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("audit trail = %q\nwant %q", got, want)
	}
	for _, e := range events {
		if e.IP != "127.0.0.1" || e.Login != adaEmail {
			t.Errorf("%s: IP %q, login %q; want 127.0.0.1, %s", e.Type, e.IP, e.Login, adaEmail)
		}
		for _, v := range e.Detail {
			if v == adaPassword || v == secret {
				t.Errorf("%s holds a secret: %v", e.Type, e.Detail)
			}
		}
	}
	if d := events[4].Detail; d["amr"] != "pwd" {
		t.Errorf("sign-in detail = %v", d)
	}
	if d := events[5].Detail; d["kind"] != store.FactorTOTP || d["name"] != "Phone" {
		t.Errorf("enrolment detail = %v", d)
	}
	// The events of sign-in failures before the account existed, or for
	// no account, carry no user.
	if events[2].UserID != "" || events[0].UserID != ada.ID {
		t.Errorf("users: lockout %q, failure %q", events[2].UserID, events[0].UserID)
	}
}
