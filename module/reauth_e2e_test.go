package module_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/module"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// testClock is the clock a test hands the hosted pages through
// `reauth_clock`, to move past the reauth window without waiting.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// registerClock registers a clock named after the test for reauth_clock.
func registerClock(t *testing.T) (*testClock, string) {
	clk := &testClock{t: time.Now()}
	name := "test-" + strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	module.RegisterClock(name, clk.now)
	return clk, name
}

var factorIDRE = regexp.MustCompile(`name="factor" value="([^"]+)"`)

// confirmStep posts the confirm step's form (action password or code)
// with c and returns the answer.
func (a *accounts) confirmStep(t *testing.T, c *http.Client, form url.Values) (*http.Response, string) {
	t.Helper()
	return a.form(t, c, "/_gatehouse/account/confirm", form)
}

// wantConfirmStep checks that resp sent a change to the confirm step,
// strict or not, and returns its address.
func wantConfirmStep(t *testing.T, what string, resp *http.Response, body string, strict bool) string {
	t.Helper()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/_gatehouse/account/confirm?") ||
		strings.Contains(loc, "strict=1") != strict || !strings.Contains(loc, "retry=1") {
		t.Fatalf("%s: %d to %q, want the confirm step (strict %v)\n%s", what, resp.StatusCode, loc, strict, body)
	}
	return loc
}

// TestReauthJourney walks Ada through "confirm it's you" with real Caddy:
// her password lifts the prompt for the window; past it (a clock moved
// on, not a wait) every sensitive change goes back to the step; a code
// from her app confirms for the email address and removing a factor but
// not for a new password or factor; a stolen session cookie, a copied
// confirmation or a forged one changes nothing; the step's next stays on
// the account page.
func TestReauthJourney(t *testing.T) {
	clk, clock := registerClock(t)
	a := startAccounts(t, "throttle off\n\t\t\tmfa optional\n\t\t\treauth_window 2m\n\t\t\treauth_clock "+clock)
	ada := createAda(t, a.site)
	c := testenv.Browser(t)
	signIn(t, c, a.base, "/", adaEmail, adaPassword)
	thief := testenv.Browser(t)
	steal := func() {
		thief.Jar.SetCookies(mustParse(t, a.base+"/_gatehouse/"), c.Jar.Cookies(mustParse(t, a.base+"/_gatehouse/")))
	}

	// The account page: sections with a nav, no password fields but the
	// new password's, and a way to the confirm step.
	resp, body, _ := a.page(t, c, "/_gatehouse/account")
	for _, want := range []string{`aria-label="Account sections"`, `href="#security"`, `id="profile"`, `id="security"`, `id="devices"`,
		`id="confirm-link"`, `href="/_gatehouse/account/confirm?next=%2F_gatehouse%2Faccount"`, `id="this-device"`} {
		if !strings.Contains(body, want) {
			t.Fatalf("account page lacks %s:\n%s", want, body)
		}
	}
	if n := strings.Count(body, `type="password"`); resp.StatusCode != http.StatusOK || n != 1 {
		t.Fatalf("account page: %d with %d password fields", resp.StatusCode, n)
	}

	// Adding an app without proof: to the strict step, which offers the
	// password only (Ada has no passkey or code yet).
	resp, body = a.form(t, c, "/_gatehouse/account", url.Values{"action": {"mfa_add"}, "name": {"Phone"}})
	loc := wantConfirmStep(t, "adding an app unconfirmed", resp, body, true)
	_, body, _ = a.page(t, c, loc)
	if !strings.Contains(body, `id="not-saved"`) || !strings.Contains(body, `name="next" value="/_gatehouse/account#mfa-heading"`) ||
		strings.Contains(body, `id="f-confirm-code"`) {
		t.Fatalf("strict confirm step:\n%s", body)
	}
	resp, body = a.confirmStep(t, c, url.Values{"action": {"password"}, "password": {adaPassword}, "strict": {"1"}, "next": {"/_gatehouse/account#mfa-heading"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/_gatehouse/account#mfa-heading" {
		t.Fatalf("confirm step with the password: %d to %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	_, body, _ = a.page(t, c, "/_gatehouse/account")
	if !strings.Contains(body, `id="confirmed"`) || strings.Contains(body, `id="confirm-strong"`) {
		t.Fatalf("account page after confirming:\n%s", body)
	}
	resp, body = a.form(t, c, "/_gatehouse/account", url.Values{"action": {"mfa_add"}, "name": {"Phone"}})
	wantStatus(t, "adding an app, confirmed", resp, body, http.StatusOK)
	secret := secretRE.FindStringSubmatch(body)
	form := stepForm(t, body)
	form.Set("code", totpCode(t, secret[1], 0))
	resp, body = a.post(t, c, "/_gatehouse/mfa/setup", form)
	wantStatus(t, "turning the app on", resp, body, http.StatusOK)
	recovery := recoveryRE.FindAllStringSubmatch(body, -1)
	if len(recovery) != 10 {
		t.Fatalf("recovery codes page:\n%s", body)
	}

	// The window passes: the cookie a thief copied now, confirmation and
	// all, changes nothing, nor does this browser.
	clk.advance(2*time.Minute + time.Second)
	steal()
	for _, who := range []*http.Client{thief, c} {
		for _, tc := range []struct {
			form   url.Values
			strict bool
		}{
			{url.Values{"action": {"email"}, "new_email": {"thief@example.com"}}, false},
			{url.Values{"action": {"password"}, "new_password": {"the thief's own passphrase"}}, true},
			{url.Values{"action": {"mfa_add"}}, true},
			{url.Values{"action": {"mfa_codes"}}, true},
			{url.Values{"action": {"signout_all"}}, false},
			{url.Values{"action": {"delete"}}, false},
		} {
			resp, body := a.form(t, who, "/_gatehouse/account", tc.form)
			wantConfirmStep(t, "after the window: "+tc.form.Get("action"), resp, body, tc.strict)
		}
	}
	_, body, _ = a.page(t, c, "/_gatehouse/account")
	fid := factorIDRE.FindStringSubmatch(body)
	if fid == nil || !strings.Contains(body, `id="reauth-needed"`) {
		t.Fatalf("account page after the window:\n%s", body)
	}
	resp, body = a.form(t, thief, "/_gatehouse/account", url.Values{"action": {"mfa_remove"}, "factor": {fid[1]}})
	wantConfirmStep(t, "the thief removing the app", resp, body, false)
	if fs, _ := a.pool.Pool.Factors(t.Context(), ada.ID); len(fs) != 1 {
		t.Fatalf("factors after the thief's tries: %v", fs)
	}
	if u := mustUser(t, a.site); u.Email != adaEmail || u.PasswordHash != ada.PasswordHash {
		t.Fatalf("the account changed: %+v", u)
	}

	// A code from the app confirms: the email address may change...
	resp, body = a.confirmStep(t, c, url.Values{"action": {"code"}, "code": {totpCode(t, secret[1], 30*time.Second)}, "next": {"/_gatehouse/account#email-heading"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/_gatehouse/account#email-heading" {
		t.Fatalf("confirm step with a code: %d to %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	_, body, _ = a.page(t, c, "/_gatehouse/account")
	if !strings.Contains(body, `id="confirmed"`) || !strings.Contains(body, `id="confirm-strong"`) || !strings.Contains(body, `id="passkey-confirm-first"`) && strings.Contains(body, `data-webauthn="register"`) {
		t.Fatalf("account page confirmed by a code:\n%s", body)
	}
	const newEmail = "ada.king@example.com"
	resp, body = a.form(t, c, "/_gatehouse/account", url.Values{"action": {"email"}, "new_email": {newEmail}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/_gatehouse/account?notice=email_code_sent" {
		t.Fatalf("email change confirmed by a code: %d to %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	code := a.smtp.WaitFor(t, newEmail, 1, mailWait).Code(t)
	resp, body = a.form(t, c, "/_gatehouse/account", url.Values{"action": {"email_confirm"}, "code": {code}})
	wantStatus(t, "confirming the new address", resp, body, http.StatusSeeOther)
	if u, err := a.pool.Pool.User(t.Context(), ada.ID); err != nil || u.Email != newEmail {
		t.Fatalf("email after the change: %+v %v", u, err)
	}
	// ...but not a new password, a new factor or new recovery codes.
	for _, f := range []url.Values{
		{"action": {"password"}, "new_password": {"a fresh start in spring"}},
		{"action": {"mfa_add"}},
		{"action": {"mfa_email"}},
		{"action": {"mfa_codes"}},
	} {
		resp, body = a.form(t, c, "/_gatehouse/account", f)
		wantConfirmStep(t, "confirmed by a code: "+f.Get("action"), resp, body, true)
	}
	// The thief's copy, made before, holds no part of it.
	resp, body = a.form(t, thief, "/_gatehouse/account", url.Values{"action": {"signout_all"}})
	wantConfirmStep(t, "the thief after Ada confirmed", resp, body, false)
	// A recovery code confirms as a second factor does, and removing the
	// app takes it.
	resp, body = a.confirmStep(t, c, url.Values{"action": {"code"}, "code": {recovery[0][1]}})
	wantStatus(t, "confirm step with a recovery code", resp, body, http.StatusSeeOther)
	resp, body = a.form(t, c, "/_gatehouse/account", url.Values{"action": {"mfa_remove"}, "factor": {fid[1]}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/_gatehouse/account?notice=mfa_removed" {
		t.Fatalf("removing the app confirmed by a recovery code: %d to %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}

	// Another session of Ada's (she signs in with the password alone
	// again) gets nothing from her confirmation.
	c2 := testenv.Browser(t)
	signIn(t, c2, a.base, "/", newEmail, adaPassword)
	c2.Jar.SetCookies(mustParse(t, a.base+"/_gatehouse/"), []*http.Cookie{cookieOf(t, c, a.base, "gatehouse_confirmed")})
	resp, body = a.form(t, c2, "/_gatehouse/account", url.Values{"action": {"signout_all"}})
	wantConfirmStep(t, "another session with the confirmation", resp, body, false)
	// A forged one is worth nothing either.
	forged := testenv.Browser(t)
	signIn(t, forged, a.base, "/", newEmail, adaPassword)
	forged.Jar.SetCookies(mustParse(t, a.base+"/_gatehouse/"), []*http.Cookie{{Name: "gatehouse_confirmed", Value: "eyJ1IjoieCJ9", Path: "/_gatehouse/"}})
	resp, body = a.form(t, forged, "/_gatehouse/account", url.Values{"action": {"signout_all"}})
	wantConfirmStep(t, "a forged confirmation", resp, body, false)

	// The password confirms strongly: a new password now, which starts a
	// new session, which must confirm again.
	resp, body = a.confirmStep(t, c, url.Values{"action": {"password"}, "password": {adaPassword}, "next": {"/_gatehouse/account#password-heading"}})
	wantStatus(t, "confirm step with the password again", resp, body, http.StatusSeeOther)
	resp, body = a.form(t, c, "/_gatehouse/account", url.Values{"action": {"password"}, "new_password": {"a fresh start in spring"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/_gatehouse/account?notice=password_changed" {
		t.Fatalf("password change confirmed by the password: %d to %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	resp, body = a.form(t, c, "/_gatehouse/account", url.Values{"action": {"signout_all"}})
	wantConfirmStep(t, "after the password change", resp, body, false)
	if resp, _ := get(t, thief, a.base+"/private", nil); resp.StatusCode == http.StatusOK && a.signedIn(t, thief) {
		t.Error("the thief's copy outlived the password change")
	}

	// The audit trail says how Ada confirmed each time.
	events, err := a.pool.Pool.Store().AuditEvents(t.Context(), store.AuditQuery{UserID: ada.ID})
	if err != nil {
		t.Fatal(err)
	}
	methods := map[string]int{}
	var changedBy string
	for _, e := range events {
		if e.Type == pool.AuditReauthenticated {
			methods[e.Detail["method"]]++
		}
		if e.Type == pool.AuditPasswordChanged {
			changedBy = e.Detail["confirmed_by"]
		}
	}
	if methods["password"] != 2 || methods["otp"] != 1 || methods["recovery_code"] != 1 || changedBy != "password" {
		t.Fatalf("audit: confirmations %v, password changed by %q", methods, changedBy)
	}
}

// cookieOf returns c's cookie name for base's hosted pages.
func cookieOf(t *testing.T, c *http.Client, base, name string) *http.Cookie {
	t.Helper()
	for _, ck := range c.Jar.Cookies(mustParse(t, base+"/_gatehouse/")) {
		if ck.Name == name {
			return &http.Cookie{Name: ck.Name, Value: ck.Value, Path: "/_gatehouse/"}
		}
	}
	t.Fatalf("no cookie %s", name)
	return nil
}

// TestReauthStepAttacks: the confirm step answers only its own site's
// forms (CSRF token and Origin), goes back to the account page whatever
// next says, and wants a session.
func TestReauthStepAttacks(t *testing.T) {
	a := startAccounts(t, "throttle off")
	ada := createAda(t, a.site)
	c := testenv.Browser(t)

	// No session: to sign in, and back to the step.
	resp, _ := get(t, c, a.base+"/_gatehouse/account/confirm?next=%2F_gatehouse%2Faccount", nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/_gatehouse/signin?rd=%2F_gatehouse%2Faccount%2Fconfirm") {
		t.Fatalf("confirm step without a session: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	signIn(t, c, a.base, "/", adaEmail, adaPassword)

	for _, next := range []string{"https://evil.example/", "//evil.example/", "/\\evil.example", "/%2F%2Fevil.example",
		"javascript:alert(1)", "/private", "/_gatehouse/logout", "/_gatehouse/account/confirm", "/_gatehouse/accountx"} {
		_, body, _ := a.page(t, c, "/_gatehouse/account/confirm?next="+url.QueryEscape(next))
		if !strings.Contains(body, `name="next" value="/_gatehouse/account"`) {
			t.Errorf("confirm step for next %q keeps it:\n%s", next, body)
		}
		resp, body := a.confirmStep(t, c, url.Values{"action": {"password"}, "password": {adaPassword}, "next": {next}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/_gatehouse/account" {
			t.Errorf("confirm step for next %q: %d to %q\n%s", next, resp.StatusCode, resp.Header.Get("Location"), body)
		}
	}

	// CSRF: without the token, or from another origin, nothing is
	// checked and no confirmation is set.
	fresh := testenv.Browser(t)
	signIn(t, fresh, a.base, "/", adaEmail, adaPassword)
	_, _, tok := a.page(t, fresh, "/_gatehouse/account/confirm")
	for _, tc := range []struct {
		name, token, origin string
	}{
		{"no token", "", a.base},
		{"wrong token", tok + "x", a.base},
		{"cross origin", tok, "https://evil.example"},
		{"null origin", tok, "null"},
	} {
		f := url.Values{"action": {"password"}, "password": {adaPassword}}
		if tc.token != "" {
			f.Set("csrf", tc.token)
		}
		req := a.formRequest(t, "/_gatehouse/account/confirm", f)
		req.Header.Set("Origin", tc.origin)
		resp, body := do(t, fresh, req)
		if resp.StatusCode < 400 || cookieNamed(resp, "gatehouse_confirmed") != nil {
			t.Errorf("%s: %d, cookie %v\n%s", tc.name, resp.StatusCode, cookieNamed(resp, "gatehouse_confirmed"), body)
		}
	}
	resp, body := a.form(t, fresh, "/_gatehouse/account", url.Values{"action": {"signout_all"}})
	wantConfirmStep(t, "after the refused confirmations", resp, body, false)

	// Every form of the account page: a forged POST (no token, or from
	// another origin) is refused before anything else, even while a
	// confirmation stands.
	a.confirmPassword(t, fresh, adaPassword)
	for _, action := range []string{"profile", "email", "email_confirm", "email_cancel", "password", "signout_all", "delete",
		"mfa_add", "mfa_email", "mfa_sms", "mfa_remove", "mfa_codes", "idp_link", "idp_unlink", "phone_send", "phone_verify"} {
		for _, origin := range []string{a.base, "https://evil.example"} {
			f := url.Values{"action": {action}, "new_password": {"a fresh start in spring"}, "new_email": {"x@example.com"}}
			if origin != a.base {
				f.Set("csrf", tok)
			}
			req := a.formRequest(t, "/_gatehouse/account", f)
			req.Header.Set("Origin", origin)
			if resp, body := do(t, fresh, req); resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s forged from %s: %d, want 403\n%s", action, origin, resp.StatusCode, body)
			}
		}
	}
	if u := mustUser(t, a.site); u.PasswordHash != ada.PasswordHash || !a.signedIn(t, fresh) {
		t.Fatal("a forged form changed the account")
	}
}

// TestReauthByEmailCode: a user whose second factor is codes by email
// asks the confirm step for one, and a wrong code is refused before the
// right one confirms for a new email address (not for a new password).
func TestReauthByEmailCode(t *testing.T) {
	a := startAccounts(t, "throttle off\n\t\t\tmfa optional\n\t\t\tverification {\n\t\t\t\tresend_cooldown 1ms\n\t\t\t}")
	ada := createAda(t, a.site)
	c := testenv.Browser(t)
	signIn(t, c, a.base, "/", adaEmail, adaPassword)
	if err := a.pool.Pool.SendMFACode(t.Context(), ada); err != nil {
		t.Fatal(err)
	}
	if _, err := a.pool.Pool.EnableEmailCodes(t.Context(), ada.ID, a.smtp.WaitFor(t, adaEmail, 1, mailWait).Code(t)); err != nil {
		t.Fatal(err)
	}

	resp, body := a.form(t, c, "/_gatehouse/account", url.Values{"action": {"email"}, "new_email": {"ada.king@example.com"}})
	loc := wantConfirmStep(t, "email change unconfirmed", resp, body, false)
	_, body, _ = a.page(t, c, loc)
	if !strings.Contains(body, `id="email-code"`) || !strings.Contains(body, `id="f-confirm-code"`) || !strings.Contains(body, `id="f-confirm-password"`) {
		t.Fatalf("confirm step of a user with email codes:\n%s", body)
	}
	// A strict step takes no code, so it mails none.
	mailed := a.smtp.CountTo(adaEmail)
	resp, body = a.confirmStep(t, c, url.Values{"action": {"email_code"}, "strict": {"1"}, "next": {"/_gatehouse/account#email-heading"}})
	if resp.StatusCode != http.StatusBadRequest || a.smtp.CountTo(adaEmail) != mailed {
		t.Fatalf("asking for a code on a strict step: %d, %d mails (had %d)\n%s", resp.StatusCode, a.smtp.CountTo(adaEmail), mailed, body)
	}
	resp, body = a.confirmStep(t, c, url.Values{"action": {"email_code"}, "next": {"/_gatehouse/account#email-heading"}})
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "notice=code_sent") {
		t.Fatalf("asking for a code: %d to %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	_, body, _ = a.page(t, c, resp.Header.Get("Location"))
	if !strings.Contains(body, "We emailed you a code") || !strings.Contains(body, "Send a new code") {
		t.Fatalf("confirm step after mailing a code:\n%s", body)
	}
	code := a.smtp.WaitFor(t, adaEmail, 2, mailWait).Code(t)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	resp, body = a.confirmStep(t, c, url.Values{"action": {"code"}, "code": {wrong}, "next": {"/_gatehouse/account#email-heading"}})
	if resp.StatusCode != http.StatusUnauthorized || cookieNamed(resp, "gatehouse_confirmed") != nil {
		t.Fatalf("a wrong code: %d\n%s", resp.StatusCode, body)
	}
	if fl, err := a.pool.Pool.Store().SignInFailures(t.Context(), adaEmail); err != nil || fl.Count != 1 {
		t.Fatalf("failures after a wrong code on the confirm step: %+v %v", fl, err)
	}
	resp, body = a.confirmStep(t, c, url.Values{"action": {"code"}, "code": {code}, "next": {"/_gatehouse/account#email-heading"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/_gatehouse/account#email-heading" {
		t.Fatalf("the mailed code: %d to %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	resp, body = a.form(t, c, "/_gatehouse/account", url.Values{"action": {"email"}, "new_email": {"ada.king@example.com"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/_gatehouse/account?notice=email_code_sent" {
		t.Fatalf("email change after the code: %d to %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	resp, body = a.form(t, c, "/_gatehouse/account", url.Values{"action": {"password"}, "new_password": {"a fresh start in spring"}})
	loc = wantConfirmStep(t, "new password after a code", resp, body, true)
	_, body, _ = a.page(t, c, loc)
	if strings.Contains(body, `id="email-code"`) || strings.Contains(body, `id="f-confirm-code"`) {
		t.Fatalf("the strict step offers codes:\n%s", body)
	}
}
