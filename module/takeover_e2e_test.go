package module_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// The tests of this file play someone who copied a signed-in browser's
// session cookie and nothing else: such a cookie must not be enough to
// change how the account signs in (a factor added or removed, recovery
// codes made), and password checks made through it count in the login's
// lockout, whose start ends the session.

// startTakeover runs the passkey sites (localhost, so that passkeys are
// offered) with mail, account deletion, no per-IP throttle, and lockout.
func startTakeover(t *testing.T, lockout string) (*mfaSite, *testenv.SMTPServer) {
	t.Helper()
	smtp := testenv.StartSMTP(t, testenv.SMTPOptions{})
	m := startPasskeys(t, fmt.Sprintf(`account_deletion on
			mail %s {
				from "Example Corp <no-reply@example.com>"
				timeout 2s
			}
			throttle off
			%s`, smtp.URL(), lockout))
	return m, smtp
}

// stolen is a fresh client holding nothing but copies of c's session
// cookies for base: no CSRF cookie, no confirmation, no ceremony.
func stolen(t *testing.T, c *http.Client, base string) *http.Client {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	var cks []*http.Cookie
	for _, ck := range c.Jar.Cookies(u) {
		if strings.HasPrefix(ck.Name, "gatehouse_session") {
			cks = append(cks, &http.Cookie{Name: ck.Name, Value: ck.Value, Path: "/"})
		}
	}
	if len(cks) == 0 {
		t.Fatal("the client holds no session cookie")
	}
	th := testenv.Browser(t)
	th.Jar.SetCookies(u, cks)
	return th
}

// factorState is what a thief must not change: every factor row (pending
// enrolments included) and the recovery codes left.
func factorState(t *testing.T, m *mfaSite, userID string) string {
	t.Helper()
	ctx := context.Background()
	all, err := m.pool.Pool.Store().MFAFactors(ctx, userID)
	if err != nil {
		t.Fatal(err)
	}
	left, err := m.pool.Pool.RecoveryCodesLeft(ctx, userID)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range all {
		fmt.Fprintf(&b, "%s/%s/%v ", f.ID, f.Kind, f.Confirmed)
	}
	fmt.Fprintf(&b, "codes=%d", left)
	return b.String()
}

// TestStolenCookieCannotChangeFactors tries every path that adds or
// removes a factor or makes recovery codes with a bare copied session
// cookie, before and after the user has a factor; then the user does each
// with fresh proof.
func TestStolenCookieCannotChangeFactors(t *testing.T) {
	m, smtp := startTakeover(t, "")
	ada := createAda(t, m.site)
	secure := m.at("secure")
	victim := testenv.Browser(t)
	signIn(t, victim, m.base, "/", adaEmail, adaPassword)
	th := stolen(t, victim, m.base)
	if !m.signedIn(t, th) {
		t.Fatal("the copied cookie does not carry the session")
	}

	// attempts are what the thief can try; each must leave the factors as
	// they are and show no secret.
	type attempt struct {
		name string
		try  func(t *testing.T) (*http.Response, string)
	}
	accountPost := func(form url.Values) func(t *testing.T) (*http.Response, string) {
		return func(t *testing.T) (*http.Response, string) { return m.form(t, th, "/_gatehouse/account", form) }
	}
	passkeyCall := func(path string, body map[string]string) func(t *testing.T) (*http.Response, string) {
		return func(t *testing.T) (*http.Response, string) {
			_, _, csrf := m.page(t, th, "/_gatehouse/account")
			return m.jsonPost(t, th, path, csrf, mustJSON(t, body))
		}
	}
	// stepUpPage is the step-up a `require mfa` page sends the thief to.
	stepUpPage := func(t *testing.T) string {
		t.Helper()
		resp, body := get(t, th, secure.base+"/private", nil)
		wantStatus(t, "require mfa", resp, body, http.StatusFound)
		resp, body = get(t, th, secure.base+resp.Header.Get("Location"), nil)
		wantStatus(t, "step-up page", resp, body, http.StatusOK)
		return body
	}
	withStepUpChallenge := func(path string, form url.Values) func(t *testing.T) (*http.Response, string) {
		return func(t *testing.T) (*http.Response, string) {
			f := stepForm(t, stepUpPage(t))
			for k, v := range form {
				f[k] = v
			}
			return secure.post(t, th, path, f)
		}
	}
	noFactor := []attempt{
		{"step-up page", func(t *testing.T) (*http.Response, string) {
			body := stepUpPage(t)
			if !strings.Contains(body, `name="action" value="password"`) {
				t.Errorf("the step-up of a user without a factor asks for no password:\n%s", body)
			}
			return &http.Response{StatusCode: http.StatusOK}, body
		}},
		{"step-up password step without a password", withStepUpChallenge("/_gatehouse/mfa", url.Values{"action": {"password"}, "rd": {"/private"}})},
		{"step-up password step, wrong password", withStepUpChallenge("/_gatehouse/mfa", url.Values{"action": {"password"}, "password": {"a guess of mine"}, "rd": {"/private"}})},
		{"setup with the step-up challenge", withStepUpChallenge("/_gatehouse/mfa/setup", url.Values{"code": {"123456"}, "rd": {"/private"}})},
		{"email codes with the step-up challenge", withStepUpChallenge("/_gatehouse/mfa/setup", url.Values{"action": {"email"}, "rd": {"/private"}})},
		{"passkey enrol with the step-up challenge", func(t *testing.T) (*http.Response, string) {
			body := stepUpPage(t)
			ch, csrf := challengeRE.FindStringSubmatch(body), csrfField.FindStringSubmatch(body)
			return secure.jsonPost(t, th, "enrol/begin", csrf[1], mustJSON(t, map[string]string{"challenge": html.UnescapeString(ch[1])}))
		}},
		{"account: add an app", accountPost(url.Values{"action": {"mfa_add"}, "name": {"mine"}})},
		{"account: add an app, wrong password", accountPost(url.Values{"action": {"mfa_add"}, "name": {"mine"}, "password": {"a guess of mine"}})},
		{"account: email codes", accountPost(url.Values{"action": {"mfa_email"}})},
		{"account: recovery codes", accountPost(url.Values{"action": {"mfa_codes"}})},
		{"passkey register/begin", passkeyCall("register/begin", map[string]string{"name": "mine"})},
		// A finish without its begin: the thief's own authenticator
		// answers a challenge of its choosing.
		{"passkey register/finish", func(t *testing.T) (*http.Response, string) {
			_, _, csrf := m.page(t, th, "/_gatehouse/account")
			key := testenv.NewAuthenticator(t, "localhost", m.base)
			return m.jsonPost(t, th, "register/finish", csrf, mustJSON(t, map[string]json.RawMessage{
				"credential": key.Create(t, []byte("a challenge of the thief's choice"), []byte(ada.ID)),
			}))
		}},
		{"passkey enrol/finish with the step-up challenge", func(t *testing.T) (*http.Response, string) {
			body := stepUpPage(t)
			ch, csrf := challengeRE.FindStringSubmatch(body), csrfField.FindStringSubmatch(body)
			key := testenv.NewAuthenticator(t, "localhost", secure.base)
			return secure.jsonPost(t, th, "enrol/finish", csrf[1], mustJSON(t, map[string]any{
				"challenge":  html.UnescapeString(ch[1]),
				"credential": json.RawMessage(key.Create(t, []byte("a challenge of the thief's choice"), []byte(ada.ID))),
			}))
		}},
	}
	withFactor := []attempt{
		{"account: remove the app", func(t *testing.T) (*http.Response, string) {
			fs, _ := m.pool.Pool.Factors(context.Background(), ada.ID)
			return accountPost(url.Values{"action": {"mfa_remove"}, "factor": {fs[0].ID}})(t)
		}},
		{"account: recovery codes", accountPost(url.Values{"action": {"mfa_codes"}})},
		{"account: add another app", accountPost(url.Values{"action": {"mfa_add"}})},
		{"account: email codes", accountPost(url.Values{"action": {"mfa_email"}})},
		{"passkey register/begin", passkeyCall("register/begin", map[string]string{"name": "mine"})},
		{"step-up page", func(t *testing.T) (*http.Response, string) {
			return get(t, th, secure.base+"/_gatehouse/mfa?rd=%2Fprivate", nil)
		}},
	}
	run := func(t *testing.T, attempts []attempt) {
		for _, a := range attempts {
			t.Run(a.name, func(t *testing.T) {
				before, mails := factorState(t, m, ada.ID), smtp.CountTo(adaEmail)
				resp, body := a.try(t)
				if resp.StatusCode >= 500 {
					t.Fatalf("status %d:\n%s", resp.StatusCode, body)
				}
				if secretRE.MatchString(body) || recoveryRE.MatchString(body) || strings.Contains(body, `"publicKey"`) {
					t.Fatalf("the thief got a secret, codes or passkey options (status %d):\n%s", resp.StatusCode, body)
				}
				if after := factorState(t, m, ada.ID); after != before {
					t.Fatalf("factors changed: %s -> %s", before, after)
				}
				time.Sleep(50 * time.Millisecond) // a mail is sent before the answer; let the server count it
				if smtp.CountTo(adaEmail) != mails {
					t.Fatal("the thief had a code for turning on email codes mailed")
				}
			})
		}
	}
	t.Run("no factor", func(t *testing.T) { run(t, noFactor) })

	// The owner sets one up at the step-up, with the password.
	resp, body := get(t, victim, secure.base+"/_gatehouse/mfa?rd=%2Fprivate", nil)
	wantStatus(t, "owner's step-up", resp, body, http.StatusOK)
	form := stepForm(t, body)
	form.Set("action", "password")
	form.Set("password", adaPassword)
	form.Set("rd", "/private")
	resp, body = secure.post(t, victim, "/_gatehouse/mfa", form)
	wantStatus(t, "owner's password at step-up", resp, body, http.StatusOK)
	_, resp, body = secure.enrol(t, victim, body, "/private")
	wantStatus(t, "owner's enrolment", resp, body, http.StatusOK)
	if r, b := get(t, victim, secure.base+"/private", nil); r.StatusCode != http.StatusOK || upstreamAMR(m) != "pwd,otp,mfa" {
		t.Fatalf("after the owner's step-up: %d, amr %q: %s", r.StatusCode, upstreamAMR(m), b)
	}
	th = stolen(t, victim, m.base) // the session the thief copies now has two factors
	t.Run("with a factor", func(t *testing.T) { run(t, withFactor) })

	// The owner, with the password typed again, does each.
	left := func() int {
		n, _ := m.pool.Pool.RecoveryCodesLeft(context.Background(), ada.ID)
		return n
	}
	resp, body = m.form(t, victim, "/_gatehouse/account", url.Values{"action": {"mfa_codes"}, "password": {adaPassword}})
	wantStatus(t, "owner's new codes", resp, body, http.StatusOK)
	if len(recoveryRE.FindAllString(body, -1)) != 10 || left() != 10 {
		t.Fatalf("owner's new codes: page shows %d, %d left", len(recoveryRE.FindAllString(body, -1)), left())
	}
	auth := testenv.NewAuthenticator(t, "localhost", m.base)
	resp, b := m.addPasskey(t, victim, auth, "laptop")
	wantStatus(t, "owner adds a passkey", resp, b, http.StatusOK)
	resp, body = m.form(t, victim, "/_gatehouse/account", url.Values{"action": {"mfa_email"}, "password": {adaPassword}})
	wantStatus(t, "owner asks for email codes", resp, body, http.StatusOK)
	mail := smtp.WaitFor(t, adaEmail, 1, mailWait)
	code := mail.Code(t)
	f := stepForm(t, body)
	f.Set("code", code)
	resp, body = m.post(t, victim, "/_gatehouse/mfa/setup", f)
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusOK {
		t.Fatalf("owner turns email codes on: %d\n%s", resp.StatusCode, body)
	}
	fs, err := m.pool.Pool.Factors(context.Background(), ada.ID)
	if err != nil || len(fs) != 3 {
		t.Fatalf("owner's factors: %d (%v), want app, passkey and email", len(fs), err)
	}
	resp, body = m.form(t, victim, "/_gatehouse/account", url.Values{"action": {"mfa_remove"}, "factor": {fs[0].ID}, "password": {adaPassword}})
	wantStatus(t, "owner removes the app", resp, body, http.StatusSeeOther)
	if fs, _ := m.pool.Pool.Factors(context.Background(), ada.ID); len(fs) != 2 {
		t.Fatalf("after removing: %d factors", len(fs))
	}

	// A passkey as the first factor at the step-up, after the password.
	createUser(t, m, "bob@example.com")
	bob := testenv.Browser(t)
	signIn(t, bob, m.base, "/", "bob@example.com", adaPassword)
	resp, body = get(t, bob, secure.base+"/_gatehouse/mfa?rd=%2Fprivate", nil)
	wantStatus(t, "bob's step-up", resp, body, http.StatusOK)
	form = stepForm(t, body)
	form.Set("action", "password")
	form.Set("password", adaPassword)
	form.Set("rd", "/private")
	resp, body = secure.post(t, bob, "/_gatehouse/mfa", form)
	wantStatus(t, "bob's password at step-up", resp, body, http.StatusOK)
	ch, csrf := enrolChallengeRE.FindStringSubmatch(body), csrfField.FindStringSubmatch(body)
	if ch == nil || csrf == nil {
		t.Fatalf("the step-up's set-up offers no passkey:\n%s", body)
	}
	challenge := html.UnescapeString(ch[1])
	bobKey := testenv.NewAuthenticator(t, "localhost", secure.base)
	o := secure.begin(t, bob, "enrol/begin", csrf[1], map[string]string{"challenge": challenge})
	resp, b = secure.jsonPost(t, bob, "enrol/finish", csrf[1], mustJSON(t, map[string]any{
		"challenge": challenge, "rd": "/private",
		"credential": json.RawMessage(bobKey.Create(t, b64d(t, o.PublicKey.Challenge), b64d(t, o.PublicKey.User.ID))),
	}))
	m.wantSignedIn(t, secure, bob, "bob's passkey at step-up", resp, b, "/private", "pwd,hwk,mfa")
}

// lockedOutPage checks the answer that a lock gives a signed-in page: 429
// with Retry-After, the session's cookie cleared, and the session revoked
// so that a copy of it is refused too.
func lockedOutPage(t *testing.T, m *mfaSite, c *http.Client, copied *http.Client, resp *http.Response, body string) {
	t.Helper()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("at the lock: status %d, Retry-After %q, want 429 with it:\n%s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if !strings.Contains(body, "signed out") {
		t.Errorf("the lock page does not say the session ended:\n%s", body)
	}
	if ck := cookieNamed(resp, "gatehouse_session"); ck == nil || ck.MaxAge >= 0 {
		t.Errorf("the lock did not clear the session cookie: %v", ck)
	}
	if m.signedIn(t, c) {
		t.Error("the browser is still signed in after the lock")
	}
	deadline := time.Now().Add(3 * time.Second) // revocation_refresh 100ms
	for m.signedIn(t, copied) {
		if time.Now().After(deadline) {
			t.Fatal("a copy of the session cookie still works after the lock")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAccountPasswordOracle: wrong current passwords on the account page
// count in the sign-in lockout; the one that starts the lock signs the
// session out, the right password then changes nothing, and sign-in is
// locked for the login too.
func TestAccountPasswordOracle(t *testing.T) {
	m, _ := startTakeover(t, "")
	createAda(t, m.site)
	c := testenv.Browser(t)
	signIn(t, c, m.base, "/", adaEmail, adaPassword)
	copied := stolen(t, c, m.base)
	const newPassword = "a fresh start in spring"

	locked := false
	for i := 1; i <= 12; i++ {
		_, page, tok := m.page(t, c, "/_gatehouse/account")
		if tok == "" {
			if !locked {
				t.Fatalf("attempt %d: no account page:\n%s", i, page)
			}
			tok = "x"
		}
		resp, body := m.post(t, c, "/_gatehouse/account", url.Values{"csrf": {tok}, "action": {"password"},
			"current_password": {fmt.Sprintf("wrong guess number %d", i)}, "new_password": {newPassword}})
		switch {
		case locked:
			if resp.StatusCode < 400 || resp.StatusCode >= 500 {
				t.Fatalf("attempt %d after the lock: %d\n%s", i, resp.StatusCode, body)
			}
		case i < 5:
			wantStatus(t, fmt.Sprintf("wrong password %d", i), resp, body, http.StatusUnauthorized)
		default:
			// The default threshold: the fifth failure locks.
			lockedOutPage(t, m, c, copied, resp, body)
			locked = true
		}
	}
	if !locked {
		t.Fatal("12 wrong passwords never locked")
	}
	// The right password, from the browser and from the copy: nothing
	// changes, for no session is left to change it with.
	for _, cl := range []*http.Client{c, copied} {
		_, _, tok := m.page(t, cl, "/_gatehouse/account")
		resp, body := m.post(t, cl, "/_gatehouse/account", url.Values{"csrf": {tok}, "action": {"password"},
			"current_password": {adaPassword}, "new_password": {newPassword}})
		if resp.StatusCode == http.StatusSeeOther {
			t.Fatalf("the right password after the lock changed it:\n%s", body)
		}
	}
	if _, err := m.pool.Pool.SignIn(context.Background(), adaEmail, newPassword); err == nil {
		t.Fatal("the new password signs in")
	}
	// Sign-in is locked for the login: the same count.
	resp, body := m.passwordStep(t, testenv.Browser(t), "/", adaEmail, adaPassword)
	wantStatus(t, "sign-in after the account page's lock", resp, body, http.StatusTooManyRequests)
	if types := auditTypes(t, m); !strings.Contains(types, "locked_out") {
		t.Errorf("no locked_out audit event: %s", types)
	}
}

func auditTypes(t *testing.T, m *mfaSite) string {
	t.Helper()
	evs, err := m.pool.Pool.Store().AuditEvents(context.Background(), store.AuditQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range evs {
		types = append(types, e.Type)
	}
	return strings.Join(types, ",")
}

// TestPasswordChecksShareTheLockout: each place that checks a signed-in
// user's password counts in the sign-in lockout and signs out at the lock;
// sign-in's failures count there too.
func TestPasswordChecksShareTheLockout(t *testing.T) {
	m, _ := startTakeover(t, `lockout {
				threshold 3
				duration 1m
			}`)
	secure := m.at("secure")
	places := []struct {
		name string
		// try posts one wrong password at the place with c.
		try func(t *testing.T, c *http.Client, wrong string) (*http.Response, string)
		// setup, when set, prepares the signed-in c; refusedFirst is how
		// many tries are refused before the lock's answer (a password
		// that starts the lock answers with it; a refused passkey is
		// answered as such, and the lock meets the next try).
		setup        func(t *testing.T, c *http.Client)
		refusedFirst int
	}{
		{name: "confirm step", try: func(t *testing.T, c *http.Client, wrong string) (*http.Response, string) {
			return m.form(t, c, "/_gatehouse/account/confirm", url.Values{"action": {"password"}, "password": {wrong}, "next": {"/_gatehouse/account"}})
		}},
		{name: "confirm step, second factor", refusedFirst: 2, setup: func(t *testing.T, c *http.Client) {
			// An app, so that the step takes codes: wrong codes count
			// in the same lock.
			resp, b := m.form(t, c, "/_gatehouse/account", url.Values{"action": {"mfa_add"}, "password": {adaPassword}})
			wantStatus(t, "adding an app", resp, b, http.StatusOK)
			secret := secretRE.FindStringSubmatch(b)
			form := stepForm(t, b)
			form.Set("code", totpCode(t, secret[1], 0))
			resp, b = m.post(t, c, "/_gatehouse/mfa/setup", form)
			wantStatus(t, "confirming the app", resp, b, http.StatusOK)
		}, try: func(t *testing.T, c *http.Client, _ string) (*http.Response, string) {
			return m.form(t, c, "/_gatehouse/account/confirm", url.Values{"action": {"code"}, "code": {"000000"}, "next": {"/_gatehouse/account"}})
		}},
		{name: "password change", try: func(t *testing.T, c *http.Client, wrong string) (*http.Response, string) {
			return m.form(t, c, "/_gatehouse/account", url.Values{"action": {"password"}, "current_password": {wrong}, "new_password": {"a fresh start in spring"}})
		}},
		{name: "email change", try: func(t *testing.T, c *http.Client, wrong string) (*http.Response, string) {
			return m.form(t, c, "/_gatehouse/account", url.Values{"action": {"email"}, "password": {wrong}, "new_email": {"new@example.com"}})
		}},
		{name: "deletion", try: func(t *testing.T, c *http.Client, wrong string) (*http.Response, string) {
			return m.form(t, c, "/_gatehouse/account", url.Values{"action": {"delete"}, "password": {wrong}})
		}},
		{name: "add an app", try: func(t *testing.T, c *http.Client, wrong string) (*http.Response, string) {
			return m.form(t, c, "/_gatehouse/account", url.Values{"action": {"mfa_add"}, "password": {wrong}})
		}},
		{name: "email codes", try: func(t *testing.T, c *http.Client, wrong string) (*http.Response, string) {
			return m.form(t, c, "/_gatehouse/account", url.Values{"action": {"mfa_email"}, "password": {wrong}})
		}},
		{name: "recovery codes", try: func(t *testing.T, c *http.Client, wrong string) (*http.Response, string) {
			return m.form(t, c, "/_gatehouse/account", url.Values{"action": {"mfa_codes"}, "password": {wrong}})
		}},
		{name: "remove a factor", try: func(t *testing.T, c *http.Client, wrong string) (*http.Response, string) {
			return m.form(t, c, "/_gatehouse/account", url.Values{"action": {"mfa_remove"}, "factor": {"x"}, "password": {wrong}})
		}},
		{name: "passkey registration", try: func(t *testing.T, c *http.Client, wrong string) (*http.Response, string) {
			_, _, csrf := m.page(t, c, "/_gatehouse/account")
			return m.jsonPost(t, c, "register/begin", csrf, mustJSON(t, map[string]string{"name": "k", "password": wrong}))
		}},
		{name: "step-up confirmation", try: func(t *testing.T, c *http.Client, wrong string) (*http.Response, string) {
			resp, body := get(t, c, secure.base+"/_gatehouse/mfa?rd=%2Fprivate", nil)
			wantStatus(t, "step-up page", resp, body, http.StatusOK)
			f := stepForm(t, body)
			f.Set("action", "password")
			f.Set("password", wrong)
			return secure.post(t, c, "/_gatehouse/mfa", f)
		}},
		{name: "passkey confirmation", refusedFirst: 2,
			setup: func(t *testing.T, c *http.Client) {
				resp, b := m.addPasskey(t, c, testenv.NewAuthenticator(t, "localhost", m.base), "laptop")
				wantStatus(t, "adding a passkey", resp, b, http.StatusOK)
			},
			try: func(t *testing.T, c *http.Client, _ string) (*http.Response, string) {
				return m.confirmWithPasskey(t, c, testenv.NewAuthenticator(t, "localhost", m.base)) // not the user's
			}},
	}
	for i, p := range places {
		t.Run(p.name, func(t *testing.T) {
			email := fmt.Sprintf("user%d@example.com", i)
			u := createUser(t, m, email)
			c := testenv.Browser(t)
			signIn(t, c, m.base, "/", email, adaPassword)
			if p.setup != nil {
				p.setup(t, c)
			}
			copied := stolen(t, c, m.base)
			// One failed sign-in elsewhere counts toward the same lock.
			resp, body := m.passwordStep(t, testenv.Browser(t), "/", email, "not the password")
			wantStatus(t, "failed sign-in", resp, body, http.StatusUnauthorized)
			for i := range max(p.refusedFirst, 1) {
				resp, body = p.try(t, c, fmt.Sprintf("wrong guess %d", i))
				if resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("wrong try %d: %d, want 401\n%s", i+1, resp.StatusCode, body)
				}
			}
			resp, body = p.try(t, c, "wrong guess again")
			lockedOutPage(t, m, c, copied, resp, body)
			if resp, body := m.passwordStep(t, testenv.Browser(t), "/", email, adaPassword); resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("sign-in after the lock: %d\n%s", resp.StatusCode, body)
			}
			if got, err := m.pool.Pool.User(context.Background(), u.ID); err != nil || got.PasswordHash != u.PasswordHash || got.Email != email {
				t.Fatalf("the account changed: %+v %v", got, err)
			}
		})
	}

	// A right password clears the count, as a sign-in does.
	u := createUser(t, m, "clear@example.com")
	c := testenv.Browser(t)
	signIn(t, c, m.base, "/", u.Email, adaPassword)
	for range 2 {
		resp, body := m.form(t, c, "/_gatehouse/account", url.Values{"action": {"mfa_codes"}, "password": {"wrong guess"}})
		wantStatus(t, "wrong password", resp, body, http.StatusUnauthorized)
	}
	resp, body := m.form(t, c, "/_gatehouse/account", url.Values{"action": {"mfa_codes"}, "password": {adaPassword}})
	wantStatus(t, "right password (no factor yet)", resp, body, http.StatusConflict)
	for range 2 {
		resp, body := m.form(t, c, "/_gatehouse/account", url.Values{"action": {"mfa_codes"}, "password": {"wrong guess"}})
		wantStatus(t, "wrong password after a right one", resp, body, http.StatusUnauthorized)
	}
	// An empty password guesses nothing and counts nothing: the change
	// goes to the confirm step instead.
	for range 3 {
		resp, body := m.form(t, c, "/_gatehouse/account", url.Values{"action": {"mfa_codes"}})
		wantStatus(t, "no password", resp, body, http.StatusSeeOther)
	}
	if !m.signedIn(t, c) {
		t.Fatal("signed out without a lock")
	}
}

func createUser(t *testing.T, m *mfaSite, email string) *store.User {
	t.Helper()
	u, err := m.pool.Pool.CreateUser(context.Background(), pool.NewUser{Email: email, Password: adaPassword, Name: "Someone", EmailVerified: true})
	if err != nil {
		t.Fatal(err)
	}
	return u
}
