package module_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// confirmWithPasskey runs the confirm step's "Confirm with a passkey"
// for c with auth and returns finish's answer.
func (a *accounts) confirmWithPasskey(t *testing.T, c *http.Client, auth *testenv.Authenticator) (*http.Response, string) {
	t.Helper()
	_, body, csrf := a.page(t, c, "/_gatehouse/account/confirm")
	if !strings.Contains(body, `data-webauthn="confirm"`) {
		t.Fatalf("the confirm step offers no confirmation with a passkey:\n%s", body)
	}
	o := a.begin(t, c, "confirm/begin", csrf, map[string]string{})
	return a.jsonPost(t, c, "confirm/finish", csrf, mustJSON(t, map[string]json.RawMessage{
		"credential": auth.Get(t, b64d(t, o.PublicKey.Challenge)),
	}))
}

// confirmPassword passes the confirm step with password, for the
// account page's sensitive changes.
func (a *accounts) confirmPassword(t *testing.T, c *http.Client, password string) {
	t.Helper()
	resp, body := a.form(t, c, "/_gatehouse/account/confirm", url.Values{"action": {"password"}, "password": {password},
		"next": {"/_gatehouse/account"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/_gatehouse/account" {
		t.Fatalf("confirm step with the password: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
}

// passwordInputs counts the account page's password fields.
func passwordInputs(body string) int {
	return strings.Count(body, `type="password"`)
}

// TestPasskeyConfirmation: at the confirm step a passkey, verified, stands
// in for the current password for five minutes, for this session only.
func TestPasskeyConfirmation(t *testing.T) {
	outbox := filepath.Join(t.TempDir(), "outbox")
	m := startPasskeys(t, "throttle off\n\t\t\taccount_deletion on\n\t\t\tmail outbox "+outbox)
	createAda(t, m.site)
	c := testenv.Browser(t)
	signIn(t, c, m.base, "/", adaEmail, adaPassword)
	auth := testenv.NewAuthenticator(t, "localhost", m.base)

	// Without a passkey there is nothing to confirm with.
	_, body, csrf := m.page(t, c, "/_gatehouse/account/confirm")
	if strings.Contains(body, `data-webauthn="confirm"`) || !strings.Contains(body, `id="f-confirm-password"`) {
		t.Fatalf("the confirm step offers a passkey confirmation to a user without a passkey:\n%s", body)
	}
	resp, b := m.jsonPost(t, c, "confirm/begin", csrf, []byte(`{}`))
	wantStatus(t, "confirming without a passkey", resp, b, http.StatusConflict)
	if f := decodeFinished(t, b); !strings.Contains(f.Message, "Enter your current password instead") {
		t.Fatalf("confirming without a passkey answered %s", b)
	}

	resp, b = m.addPasskey(t, c, auth, "Laptop")
	wantStatus(t, "adding the passkey", resp, b, http.StatusOK)

	// The account page has no password fields but the new password's,
	// and sends a change to the confirm step, which offers the passkey.
	_, body, _ = m.page(t, c, "/_gatehouse/account")
	if !strings.Contains(body, `id="confirm-link"`) || strings.Contains(body, `id="confirmed"`) || passwordInputs(body) != 1 {
		t.Fatalf("account page before confirming (%d password fields):\n%s", passwordInputs(body), body)
	}
	resp, b = m.form(t, c, "/_gatehouse/account", url.Values{"action": {"mfa_codes"}})
	wantStatus(t, "new recovery codes unconfirmed", resp, b, http.StatusSeeOther)
	if loc := resp.Header.Get("Location"); loc != "/_gatehouse/account/confirm?next=%2F_gatehouse%2Faccount%23mfa-heading&retry=1&strict=1" {
		t.Fatalf("new recovery codes unconfirmed went to %q", loc)
	}
	_, body, _ = m.page(t, c, resp.Header.Get("Location"))
	if !strings.Contains(body, "Confirm with a passkey") || !strings.Contains(body, `data-rd="/_gatehouse/account#mfa-heading"`) ||
		!strings.Contains(body, `id="not-saved"`) || strings.Contains(body, `id="f-confirm-code"`) {
		t.Fatalf("the strict confirm step:\n%s", body)
	}

	// The options ask for this user's passkey, verified.
	_, _, csrf = m.page(t, c, "/_gatehouse/account/confirm")
	o := m.begin(t, c, "confirm/begin", csrf, map[string]string{})
	if pk := o.PublicKey; len(pk.AllowCredentials) != 1 || string(b64d(t, pk.AllowCredentials[0].ID)) != string(auth.ID) ||
		pk.UserVerification != "required" || pk.RPID != "localhost" {
		t.Fatalf("confirmation options %+v", pk)
	}

	// A touch without a PIN or biometrics does not confirm.
	auth.Flags = testenv.FlagUP
	resp, b = m.jsonPost(t, c, "confirm/finish", csrf, mustJSON(t, map[string]json.RawMessage{
		"credential": auth.Get(t, b64d(t, o.PublicKey.Challenge)),
	}))
	wantStatus(t, "confirming with presence alone", resp, b, http.StatusUnauthorized)
	if f := decodeFinished(t, b); !strings.Contains(f.Message, "did not verify you") {
		t.Fatalf("presence-only answer %s", b)
	}
	if cookieNamed(resp, "gatehouse_confirmed") != nil {
		t.Fatal("a refused confirmation set the confirmation cookie")
	}
	auth.Flags = testenv.FlagUP | testenv.FlagUV

	// No wait for a new ceremony second (pool.passkeyStep): the refusal
	// above spent none, and nothing was accepted before.
	resp, b = m.confirmWithPasskey(t, c, auth)
	wantStatus(t, "confirming with the passkey", resp, b, http.StatusOK)
	confirmedAt := time.Now()
	if f := decodeFinished(t, b); f.Redirect != "/_gatehouse/account" {
		t.Fatalf("confirmation answered %s", b)
	}
	ck := cookieNamed(resp, "gatehouse_confirmed")
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/_gatehouse/" || ck.MaxAge != 300 {
		t.Fatalf("confirmation cookie %+v", ck)
	}
	confirmed := ck.Value

	// The page says until when, and its forms ask for no password.
	_, body, _ = m.page(t, c, "/_gatehouse/account")
	if !strings.Contains(body, `id="confirmed"`) || !strings.Contains(body, "need no password") ||
		!strings.Contains(body, `data-webauthn="register"`) || passwordInputs(body) != 1 {
		// The one left is the new password's.
		t.Fatalf("account page while confirmed (%d password fields):\n%s", passwordInputs(body), body)
	}
	resp, b = m.form(t, c, "/_gatehouse/account", url.Values{"action": {"mfa_codes"}})
	wantStatus(t, "new recovery codes while confirmed", resp, b, http.StatusOK)
	if strings.Count(b, "<code>") != 10 {
		t.Fatalf("recovery codes page:\n%s", b)
	}
	resp, b = m.form(t, c, "/_gatehouse/account", url.Values{"action": {"email"}, "new_email": {"ada.king@example.com"}})
	wantStatus(t, "email change while confirmed", resp, b, http.StatusSeeOther)
	_, body, csrf = m.page(t, c, "/_gatehouse/account")
	if !strings.Contains(body, "ada.king@example.com") {
		t.Fatalf("no pending email change after asking for one:\n%s", body)
	}
	resp, b = m.jsonPost(t, c, "register/begin", csrf, mustJSON(t, map[string]string{"name": "Phone"}))
	wantStatus(t, "adding a passkey while confirmed", resp, b, http.StatusOK)

	// The cookie is worth nothing to another session, even Ada's own.
	ceremonySecondAfter(confirmedAt)
	c2 := testenv.Browser(t)
	resp, b = m.passkeySignIn(t, c2, auth, "/")
	wantStatus(t, "second session", resp, b, http.StatusOK)
	signedInAt := time.Now()
	u, _ := url.Parse(m.base + "/_gatehouse/account")
	c2.Jar.SetCookies(u, []*http.Cookie{{Name: "gatehouse_confirmed", Value: confirmed, Path: "/_gatehouse/"}})
	resp, b = m.form(t, c2, "/_gatehouse/account", url.Values{"action": {"mfa_codes"}})
	wantStatus(t, "another session with the confirmation cookie", resp, b, http.StatusSeeOther)
	if !strings.HasPrefix(resp.Header.Get("Location"), "/_gatehouse/account/confirm?") {
		t.Fatalf("another session with the confirmation cookie went to %q", resp.Header.Get("Location"))
	}

	// A new password with no old one. It ends every session, this one's
	// included, and the confirmation with it: the new session this
	// browser gets must confirm again.
	const newPassword = "a brand new passphrase here"
	resp, b = m.form(t, c, "/_gatehouse/account", url.Values{"action": {"password"}, "new_password": {newPassword}})
	wantStatus(t, "password change while confirmed", resp, b, http.StatusSeeOther)
	if loc := resp.Header.Get("Location"); loc != "/_gatehouse/account?notice=password_changed" {
		t.Fatalf("password change went to %q", loc)
	}
	resp, b = m.form(t, c, "/_gatehouse/account", url.Values{"action": {"mfa_codes"}})
	wantStatus(t, "new recovery codes after the password change", resp, b, http.StatusSeeOther)
	if m.signedIn(t, c2) {
		t.Fatal("the other session outlived the password change")
	}
	resp, b = m.passwordStep(t, testenv.Browser(t), "/private", adaEmail, adaPassword)
	wantStatus(t, "first step with the old password", resp, b, http.StatusUnauthorized)
	resp, b = m.passwordStep(t, testenv.Browser(t), "/private", adaEmail, newPassword)
	wantStatus(t, "first step with the new password", resp, b, http.StatusOK)
	if !strings.Contains(b, "Use your passkey") {
		t.Fatalf("the new password does not lead to the second step:\n%s", b)
	}
	ada := mustUser(t, m.site)
	events, err := m.pool.Pool.Store().AuditEvents(t.Context(), store.AuditQuery{UserID: ada.ID})
	if err != nil {
		t.Fatal(err)
	}
	var sawConfirm, sawChange bool
	for _, e := range events {
		sawConfirm = sawConfirm || (e.Type == pool.AuditReauthenticated && e.Detail["method"] == "passkey")
		sawChange = sawChange || (e.Type == pool.AuditPasswordChanged && e.Detail["confirmed_by"] == "passkey")
	}
	if !sawConfirm || !sawChange {
		t.Fatalf("audit trail %+v lacks the confirmation or the confirmed password change", events)
	}

	// Deleting the account with a fresh confirmation.
	ceremonySecondAfter(signedInAt)
	resp, b = m.confirmWithPasskey(t, c, auth)
	wantStatus(t, "confirming again", resp, b, http.StatusOK)
	resp, b = m.form(t, c, "/_gatehouse/account", url.Values{"action": {"delete"}})
	wantStatus(t, "deleting while confirmed", resp, b, http.StatusSeeOther)
	if _, err := m.pool.Pool.User(t.Context(), ada.ID); !errors.Is(err, pool.ErrUserNotFound) {
		t.Fatalf("after deleting, looking the user up gives %v", err)
	}
}
