package module_test

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/module"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// accountsPool is the pool block of the account tests: open sign-up with
// a few attributes, mail through a real SMTP server on loopback.
func accountsPool(smtp *testenv.SMTPServer, extra string) string {
	return fmt.Sprintf(`signup open
			attribute name required
			attribute custom:tenant required immutable max_length 16
			attribute custom:seats type number min 1 max 500
			account_deletion on
			mail %s {
				from "Example Corp <no-reply@example.com>"
				timeout 2s
			}
			%s`, smtp.URL(), extra)
}

// accounts is one running site with a mail server, for the account tests.
type accounts struct {
	*site
	smtp *testenv.SMTPServer
	base string
}

func startAccounts(t *testing.T, extra string) *accounts {
	t.Helper()
	smtp := testenv.StartSMTP(t, testenv.SMTPOptions{})
	s := startSite(t, accountsPool(smtp, extra), map[string]string{"app": "pool default"})
	return &accounts{site: s, smtp: smtp, base: s.url("app", "")}
}

var alertRE = regexp.MustCompile(`(?s)<div class="alert" role="alert"[^>]*>([^<]*)</div>`)

// alert returns the text of a page's first alert.
func alert(body string) string {
	m := alertRE.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// page GETs path and returns the response, body and CSRF token.
func (a *accounts) page(t *testing.T, c *http.Client, path string) (*http.Response, string, string) {
	t.Helper()
	resp, body := get(t, c, a.base+path, nil)
	tok := ""
	if m := csrfField.FindStringSubmatch(body); m != nil {
		tok = m[1]
	}
	return resp, body, tok
}

// post sends a form as a browser on this site would.
func (a *accounts) post(t *testing.T, c *http.Client, path string, form url.Values) (*http.Response, string) {
	t.Helper()
	return do(t, c, a.formRequest(t, path, form))
}

// formRequest is the POST of form to path that a browser on this site sends.
func (a *accounts) formRequest(t *testing.T, path string, form url.Values) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, a.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", a.base)
	return req
}

// form loads path for its CSRF token and posts form with it.
func (a *accounts) form(t *testing.T, c *http.Client, path string, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, body, tok := a.page(t, c, path)
	if resp.StatusCode != http.StatusOK || tok == "" {
		t.Fatalf("GET %s: status %d, token %q:\n%s", path, resp.StatusCode, tok, body)
	}
	form.Set("csrf", tok)
	return a.post(t, c, path, form)
}

func wantStatus(t *testing.T, what string, resp *http.Response, body string, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s: status %d, want %d\n%s", what, resp.StatusCode, want, body)
	}
}

func signUpForm(email, password string) url.Values {
	return url.Values{"email": {email}, "password": {password}, "name": {"Ada Lovelace"},
		"custom:tenant": {"acme"}, "custom:seats": {"12"}}
}

// signedIn reports whether c's session gets through to the upstream.
func (a *accounts) signedIn(t *testing.T, c *http.Client) bool {
	t.Helper()
	resp, _ := get(t, c, a.base+"/private", nil)
	return resp.StatusCode == http.StatusOK
}

const mailWait = 10 * time.Second

func TestSignUpJourney(t *testing.T) {
	a := startAccounts(t, "")
	c := testenv.Browser(t)
	const email, password = "ada@example.com", "a quiet walk in the hills"

	// The sign-in page offers sign-up; the sign-up page asks for the
	// pool's attributes.
	_, signin, _ := a.page(t, c, "/_gatehouse/signin?rd=/reports")
	if !strings.Contains(signin, `href="/_gatehouse/signup?rd=%2freports"`) || !strings.Contains(signin, "Forgot your password?") {
		t.Errorf("sign-in page lacks the sign-up or forgot links:\n%s", signin)
	}
	_, page, _ := a.page(t, c, "/_gatehouse/signup?rd=/reports")
	for _, want := range []string{`<label for="f-email">Email</label>`, `<label for="f-password">Password</label>`,
		`<label for="f-name">Full name</label>`, `<label for="f-custom-tenant">Tenant</label>`,
		`name="custom:seats"`, `inputmode="numeric"`, "12 to 128 characters", `autocomplete="new-password"`} {
		if !strings.Contains(page, want) {
			t.Errorf("sign-up page lacks %s", want)
		}
	}

	form := signUpForm(email, password)
	form.Set("rd", "/reports")
	resp, body := a.form(t, c, "/_gatehouse/signup", form)
	wantStatus(t, "sign-up", resp, body, http.StatusSeeOther)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc.Path != "/_gatehouse/confirm" || loc.Query().Get("email") != email || loc.Query().Get("rd") != "/reports" {
		t.Fatalf("sign-up sent the browser to %s", loc)
	}
	msg := a.smtp.WaitFor(t, email, 1, mailWait)
	code := msg.Code(t)
	if !strings.Contains(msg.Subject, code) || !strings.Contains(msg.Text, "24 hours") {
		t.Errorf("confirmation mail %q:\n%s", msg.Subject, msg.Text)
	}
	u, err := a.pool.Pool.UserByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	if u.Status != store.StatusUnconfirmed || u.EmailVerified || u.Name != "Ada Lovelace" ||
		u.Attributes["custom:tenant"] != "acme" || u.Attributes["custom:seats"] != "12" {
		t.Fatalf("stored user %+v", u)
	}

	// The one-click link opens the confirmation page filled in; it
	// confirms nothing by itself (mail scanners follow links).
	link, err := url.Parse(msg.Link())
	if err != nil || link.Path != "/_gatehouse/confirm" || link.Query().Get("code") != code || link.Query().Get("email") != email {
		t.Fatalf("link %q", msg.Link())
	}
	_, confirmPage, _ := a.page(t, c, link.RequestURI())
	if !strings.Contains(confirmPage, `value="`+code+`"`) {
		t.Errorf("confirmation page from the link lacks the code")
	}
	if u, _ := a.pool.Pool.UserByEmail(context.Background(), email); u.Status != store.StatusUnconfirmed {
		t.Fatal("opening the link confirmed the address")
	}

	// Not before confirming.
	csrf := signInForm(t, c, a.base, "/")
	resp, body = postSignIn(t, c, a.base, csrf, "/", email, password)
	wantStatus(t, "sign-in before confirming", resp, body, http.StatusForbidden)
	if !strings.Contains(body, "not confirmed yet") || !strings.Contains(body, `value="resend"`) {
		t.Errorf("refusal does not offer to confirm:\n%s", body)
	}

	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	resp, body = a.form(t, c, "/_gatehouse/confirm", url.Values{"email": {email}, "code": {wrong}, "password": {password}, "action": {"confirm"}})
	wantStatus(t, "wrong code", resp, body, http.StatusBadRequest)
	if !strings.Contains(alert(body), "not right") || !strings.Contains(body, `aria-invalid="true"`) {
		t.Errorf("wrong-code page: %q", alert(body))
	}
	// The right code with a wrong password confirms nothing.
	resp, body = a.form(t, c, "/_gatehouse/confirm", url.Values{"email": {email}, "code": {code}, "password": {"not the password chosen"}, "action": {"confirm"}})
	wantStatus(t, "right code, wrong password", resp, body, http.StatusBadRequest)
	resp, body = a.form(t, c, "/_gatehouse/confirm", url.Values{"email": {email}, "code": {code}, "password": {password}, "action": {"confirm"}, "rd": {"/reports"}})
	wantStatus(t, "right code", resp, body, http.StatusSeeOther)
	loc, _ = url.Parse(resp.Header.Get("Location"))
	if loc.Path != "/_gatehouse/signin" || loc.Query().Get("notice") != "confirmed" || loc.Query().Get("rd") != "/reports" {
		t.Fatalf("after confirming: %s", loc)
	}
	_, signin, _ = a.page(t, c, loc.RequestURI())
	if !strings.Contains(signin, `role="status"`) || !strings.Contains(signin, "confirmed") || !strings.Contains(signin, `value="`+email+`"`) {
		t.Errorf("sign-in page after confirming lacks the notice or the email")
	}

	if _, to := signIn(t, c, a.base, "/reports", email, password); to != "/reports" {
		t.Errorf("signed in to %s, want /reports", to)
	}
	if !a.signedIn(t, c) {
		t.Fatal("no session after signing in")
	}
	if got := a.upstream.Last().Header.Get("X-Auth-Request-Email"); got != email {
		t.Errorf("upstream saw email %q", got)
	}
	u, _ = a.pool.Pool.UserByEmail(context.Background(), email)
	if u.Status != store.StatusConfirmed || !u.EmailVerified {
		t.Errorf("after confirming: %+v", u)
	}
}

// TestAccountEnumeration: sign-up and forgot-password answer an address
// that has an account exactly as one that has none.
func TestAccountEnumeration(t *testing.T) {
	a := startAccounts(t, "")
	createAda(t, a.site)
	const stranger = "nobody@example.com"

	type answer struct {
		status   int
		location string
		page     string
	}
	ask := func(path string, form url.Values, email string) answer {
		c := testenv.Browser(t)
		resp, body := a.form(t, c, path, form)
		loc := resp.Header.Get("Location")
		_, page, _ := a.page(t, c, loc)
		// Everything but the address itself and the CSRF token must match.
		norm := func(s string) string {
			s = strings.ReplaceAll(s, url.QueryEscape(email), "EMAIL")
			s = strings.ReplaceAll(s, email, "EMAIL")
			return csrfField.ReplaceAllString(s, "CSRF")
		}
		_ = body
		return answer{resp.StatusCode, norm(loc), norm(page)}
	}

	t.Run("sign-up", func(t *testing.T) {
		existing := ask("/_gatehouse/signup", signUpForm(adaEmail, "a quiet walk in the hills"), adaEmail)
		fresh := ask("/_gatehouse/signup", signUpForm(stranger, "a quiet walk in the hills"), stranger)
		if existing != fresh {
			t.Fatalf("sign-up answers differ:\nexisting %+v\nnew      %+v", existing, fresh)
		}
		if existing.status != http.StatusSeeOther {
			t.Errorf("status %d", existing.status)
		}
		// The owner of the taken address is told, and nothing changed.
		note := a.smtp.WaitFor(t, adaEmail, 1, mailWait)
		if !strings.Contains(note.Text, "already have one") {
			t.Errorf("owner's mail:\n%s", note.Text)
		}
		if _, err := a.pool.Pool.SignIn(context.Background(), adaEmail, adaPassword); err != nil {
			t.Errorf("the existing account changed: %v", err)
		}
	})

	t.Run("forgot password", func(t *testing.T) {
		const other = "stranger2@example.com"
		existing := ask("/_gatehouse/forgot", url.Values{"email": {adaEmail}}, adaEmail)
		fresh := ask("/_gatehouse/forgot", url.Values{"email": {other}}, other)
		if existing != fresh {
			t.Fatalf("forgot-password answers differ:\nexisting %+v\nnew      %+v", existing, fresh)
		}
		if !strings.Contains(existing.page, "If EMAIL has an account") {
			t.Errorf("reset page does not hedge:\n%s", existing.page)
		}
		a.smtp.WaitFor(t, adaEmail, 2, mailWait) // the sign-up note, then the code
		time.Sleep(300 * time.Millisecond)
		if n := a.smtp.CountTo(other); n != 0 {
			t.Errorf("%d messages to an address without an account", n)
		}
	})
}

func TestSignUpBadInput(t *testing.T) {
	a := startAccounts(t, "")
	good := signUpForm("grace@example.com", "a quiet walk in the hills")
	with := func(k, v string) url.Values {
		f := url.Values{}
		for key, vs := range good {
			f[key] = append([]string(nil), vs...)
		}
		f.Set(k, v)
		return f
	}
	cases := []struct {
		name      string
		form      url.Values
		noCSRF    bool
		status    int
		message   string
		fieldErr  string // id of the field marked invalid
		keepValue string // a value the page must show again
	}{
		{"over-long field", with("name", strings.Repeat("n", 5000)), false, http.StatusRequestEntityTooLarge, "longer than any field", "", ""},
		{"over-long attribute", with("custom:tenant", strings.Repeat("t", 17)), false, http.StatusUnprocessableEntity, "correct the fields", "f-custom-tenant", "Ada Lovelace"},
		{"invalid UTF-8", with("name", "Ada \xff\xfe"), false, http.StatusBadRequest, "not valid UTF-8", "", ""},
		{"number attribute given text", with("custom:seats", "twelve"), false, http.StatusUnprocessableEntity, "correct the fields", "f-custom-seats", "twelve"},
		{"number out of range", with("custom:seats", "9000"), false, http.StatusUnprocessableEntity, "correct the fields", "f-custom-seats", "acme"},
		{"missing required attribute", with("name", ""), false, http.StatusUnprocessableEntity, "correct the fields", "f-name", "acme"},
		{"bad email", with("email", "grace at example"), false, http.StatusUnprocessableEntity, "correct the fields", "f-email", "grace at example"},
		{"common password", with("password", "password1234"), false, http.StatusUnprocessableEntity, "correct the fields", "f-password", "Ada Lovelace"},
		{"password with the email", with("password", "grace and her hat 1906"), false, http.StatusUnprocessableEntity, "correct the fields", "f-password", "acme"},
		{"missing CSRF", good, true, http.StatusForbidden, "expired", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := testenv.Browser(t)
			var resp *http.Response
			var body string
			if tc.noCSRF {
				resp, body = a.post(t, c, "/_gatehouse/signup", tc.form)
			} else {
				resp, body = a.form(t, c, "/_gatehouse/signup", tc.form)
			}
			wantStatus(t, tc.name, resp, body, tc.status)
			if !strings.Contains(body, tc.message) {
				t.Errorf("page lacks %q:\n%s", tc.message, body)
			}
			if tc.fieldErr != "" {
				if !regexp.MustCompile(`id="` + tc.fieldErr + `"[^>]*aria-invalid="true"`).MatchString(body) {
					t.Errorf("field %s not marked invalid", tc.fieldErr)
				}
				if !strings.Contains(body, `id="`+tc.fieldErr+`-error"`) {
					t.Errorf("field %s has no error text", tc.fieldErr)
				}
				if !strings.Contains(body, html.EscapeString(tc.keepValue)) {
					t.Errorf("value %q not kept in the form", tc.keepValue)
				}
			}
			if strings.Contains(body, tc.form.Get("password")) {
				t.Error("the page shows the password sent")
			}
			if users, _ := a.pool.Pool.ListUsers(context.Background(), store.ListOptions{}); len(users) != 0 {
				t.Errorf("%d users left behind", len(users))
			}
		})
	}
	if n := a.smtp.Count(); n != 0 {
		t.Errorf("%d messages sent for refused sign-ups", n)
	}
	// Still serving.
	if resp, _, _ := a.page(t, testenv.Browser(t), "/_gatehouse/signup"); resp.StatusCode != http.StatusOK {
		t.Errorf("sign-up page after bad input: %d", resp.StatusCode)
	}
}

func TestForgotResetJourney(t *testing.T) {
	a := startAccounts(t, "")
	createAda(t, a.site)
	old := testenv.Browser(t)
	signIn(t, old, a.base, "/", adaEmail, adaPassword)
	if !a.signedIn(t, old) {
		t.Fatal("no session")
	}

	c := testenv.Browser(t)
	resp, body := a.form(t, c, "/_gatehouse/forgot", url.Values{"email": {"ADA@example.com"}})
	wantStatus(t, "forgot", resp, body, http.StatusSeeOther)
	msg := a.smtp.WaitFor(t, adaEmail, 1, mailWait)
	code := msg.Code(t)
	link, _ := url.Parse(msg.Link())
	if link.Path != "/_gatehouse/reset" || link.Query().Get("code") != code {
		t.Errorf("reset link %s", link)
	}
	const newPassword = "a fresh start in spring"

	// A refused password uses up no try; a wrong code does not reset.
	resp, body = a.form(t, c, "/_gatehouse/reset", url.Values{"email": {adaEmail}, "code": {code}, "password": {"short"}})
	wantStatus(t, "weak password", resp, body, http.StatusUnprocessableEntity)
	if !strings.Contains(body, "at least 12 characters") {
		t.Errorf("the failed rule is not explained:\n%s", body)
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	resp, body = a.form(t, c, "/_gatehouse/reset", url.Values{"email": {adaEmail}, "code": {wrong}, "password": {newPassword}})
	wantStatus(t, "wrong code", resp, body, http.StatusBadRequest)

	resp, body = a.form(t, c, "/_gatehouse/reset", url.Values{"email": {adaEmail}, "code": {code}, "password": {newPassword}})
	wantStatus(t, "reset", resp, body, http.StatusSeeOther)
	if loc := resp.Header.Get("Location"); !strings.Contains(loc, "notice=reset") {
		t.Errorf("after reset: %s", loc)
	}

	csrf := signInForm(t, c, a.base, "/")
	resp, body = postSignIn(t, c, a.base, csrf, "/", adaEmail, adaPassword)
	wantStatus(t, "old password", resp, body, http.StatusUnauthorized)
	signIn(t, c, a.base, "/", adaEmail, newPassword)
	if a.signedIn(t, old) {
		t.Error("the session from before the reset still works")
	}
	if !a.signedIn(t, c) {
		t.Error("no session with the new password")
	}
	// The code worked once.
	resp, body = a.form(t, testenv.Browser(t), "/_gatehouse/reset", url.Values{"email": {adaEmail}, "code": {code}, "password": {"yet another new passphrase"}})
	wantStatus(t, "code used twice", resp, body, http.StatusBadRequest)
	if !strings.Contains(alert(body), "has expired") {
		t.Errorf("reuse message %q", alert(body))
	}
}

func TestCodeLimitsE2E(t *testing.T) {
	const pw = "a quiet walk in the hills"
	confirmForm := func(code string) url.Values {
		return url.Values{"email": {"ada@example.com"}, "code": {code}, "password": {pw}, "action": {"confirm"}}
	}
	t.Run("expired", func(t *testing.T) {
		a := startAccounts(t, "verification {\n code_ttl 1s\n}")
		c := testenv.Browser(t)
		a.form(t, c, "/_gatehouse/signup", signUpForm("ada@example.com", pw))
		code := a.smtp.WaitFor(t, "ada@example.com", 1, mailWait).Code(t)
		time.Sleep(1100 * time.Millisecond)
		resp, body := a.form(t, c, "/_gatehouse/confirm", confirmForm(code))
		wantStatus(t, "expired code", resp, body, http.StatusBadRequest)
		if !strings.Contains(alert(body), "expired") {
			t.Errorf("message %q", alert(body))
		}
	})
	t.Run("wrong code limit", func(t *testing.T) {
		a := startAccounts(t, "verification {\n max_attempts 3\n}")
		c := testenv.Browser(t)
		a.form(t, c, "/_gatehouse/signup", signUpForm("ada@example.com", pw))
		code := a.smtp.WaitFor(t, "ada@example.com", 1, mailWait).Code(t)
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		for i := range 3 {
			resp, body := a.form(t, c, "/_gatehouse/confirm", confirmForm(wrong))
			wantStatus(t, fmt.Sprintf("wrong code %d", i+1), resp, body, http.StatusBadRequest)
		}
		resp, body := a.form(t, c, "/_gatehouse/confirm", confirmForm(code))
		wantStatus(t, "right code after the limit", resp, body, http.StatusBadRequest)
		if !strings.Contains(alert(body), "expired") {
			t.Errorf("message %q", alert(body))
		}
		if u, _ := a.pool.Pool.UserByEmail(context.Background(), "ada@example.com"); u.Status != store.StatusUnconfirmed {
			t.Error("confirmed after the limit")
		}
	})
	t.Run("resend cool-down", func(t *testing.T) {
		a := startAccounts(t, "verification {\n resend_cooldown 1s\n}")
		c := testenv.Browser(t)
		a.form(t, c, "/_gatehouse/signup", signUpForm("ada@example.com", pw))
		first := a.smtp.WaitFor(t, "ada@example.com", 1, mailWait).Code(t)
		// Within the cool-down the answer is the one every address gets;
		// no mail goes out.
		resend := url.Values{"email": {"ada@example.com"}, "action": {"resend"}}
		resp, body := a.form(t, c, "/_gatehouse/confirm", resend)
		wantStatus(t, "resend at once", resp, body, http.StatusSeeOther)
		flush(t, a.site)
		if n := a.smtp.CountTo("ada@example.com"); n != 1 {
			t.Fatalf("%d messages within the cool-down", n)
		}
		time.Sleep(1100 * time.Millisecond)
		resp, body = a.form(t, c, "/_gatehouse/confirm", resend)
		wantStatus(t, "resend after the cool-down", resp, body, http.StatusSeeOther)
		second := a.smtp.WaitFor(t, "ada@example.com", 2, mailWait).Code(t)
		if first != second {
			resp, body = a.form(t, c, "/_gatehouse/confirm", confirmForm(first))
			wantStatus(t, "the replaced code", resp, body, http.StatusBadRequest)
		}
		resp, body = a.form(t, c, "/_gatehouse/confirm", confirmForm(second))
		wantStatus(t, "the new code", resp, body, http.StatusSeeOther)
	})
}

// flush waits for the account work that the running Caddy's pool does
// after its answers (mail included). (s.pool is the tests' own instance
// on the same store, as the CLI's would be.)
func flush(t *testing.T, s *site) {
	t.Helper()
	app, err := caddy.ActiveContext().App("gatehouse")
	if err != nil {
		t.Fatal(err)
	}
	p, err := app.(*module.App).Pool("default")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.Pool.Flush(ctx); err != nil {
		t.Fatalf("background account work still pending: %v", err)
	}
}

// TestMailOutage: a mail server that refuses, or is too slow, never holds a
// page up: mail goes out after the answer, whose page is the same either
// way; asking again once the server is back works at once, and the code
// confirms.
func TestMailOutage(t *testing.T) {
	// A mail timeout of 1s, not the other tests' 2s: this test waits it
	// out, and the slow server's delay past it.
	smtp := testenv.StartSMTP(t, testenv.SMTPOptions{})
	text := strings.Replace(accountsPool(smtp, ""), "timeout 2s", "timeout 1s", 1)
	s := startSite(t, text, map[string]string{"app": "pool default"})
	a := &accounts{site: s, smtp: smtp, base: s.url("app", "")}
	c := testenv.Browser(t)
	const pw = "a quiet walk in the hills"

	a.smtp.SetDelay(2 * time.Second) // beyond the 1s timeout
	start := time.Now()
	resp, body := a.form(t, c, "/_gatehouse/signup", signUpForm("ada@example.com", pw))
	took := time.Since(start)
	wantStatus(t, "sign-up with a slow mail server", resp, body, http.StatusSeeOther)
	if took > time.Second {
		t.Errorf("sign-up took %s with a mail server that takes 5s", took)
	}
	if loc, _ := url.Parse(resp.Header.Get("Location")); loc == nil || loc.Query().Has("mail") {
		t.Fatalf("the answer depends on the mail: %s", resp.Header.Get("Location"))
	}
	flush(t, a.site) // the send gives up after 1s

	a.smtp.SetDelay(0)
	a.smtp.WaitFor(t, "ada@example.com", 1, mailWait) // the slow server took it after all
	a.smtp.SetFailure(errors.New("mailbox unavailable"))
	resend := url.Values{"email": {"ada@example.com"}, "action": {"resend"}}
	resp, body = a.form(t, c, "/_gatehouse/confirm", resend)
	wantStatus(t, "resend with a refusing server", resp, body, http.StatusSeeOther)
	flush(t, a.site)
	if a.smtp.Rejected() == 0 {
		t.Error("the server was never asked")
	}

	// Once the server is back, asking again works at once (no cool-down
	// for a send that failed) and the code confirms.
	a.smtp.SetFailure(nil)
	resp, body = a.form(t, c, "/_gatehouse/confirm", resend)
	wantStatus(t, "resend after the outage", resp, body, http.StatusSeeOther)
	msg := a.smtp.WaitFor(t, "ada@example.com", 2, mailWait)
	resp, body = a.form(t, c, "/_gatehouse/confirm", url.Values{"email": {"ada@example.com"}, "code": {msg.Code(t)}, "password": {pw}, "action": {"confirm"}})
	wantStatus(t, "confirm after the outage", resp, body, http.StatusSeeOther)
}

var (
	challengeRE = regexp.MustCompile(`name="challenge" value="([^"]+)"`)
	tempPwRE    = regexp.MustCompile(`(?m)^\s{4}(\S+)\s*$`)
)

func TestForceChangePassword(t *testing.T) {
	a := startAccounts(t, "")
	ctx := context.Background()
	u, _, err := a.pool.Pool.InviteUser(ctx, pool.Invitation{Email: "grace@example.com", Name: "Grace Hopper", EmailVerified: true, Send: true})
	if err != nil {
		t.Fatal(err)
	}
	if u.Status != store.StatusForceChangePassword {
		t.Fatalf("status %s", u.Status)
	}
	msg := a.smtp.WaitFor(t, "grace@example.com", 1, mailWait)
	m := tempPwRE.FindStringSubmatch(msg.Text)
	if m == nil {
		t.Fatalf("no temporary password in:\n%s", msg.Text)
	}
	temp := m[1]

	c := testenv.Browser(t)
	csrf := signInForm(t, c, a.base, "/dashboard")
	resp, body := postSignIn(t, c, a.base, csrf, "/dashboard", "grace@example.com", temp)
	wantStatus(t, "sign-in with the temporary password", resp, body, http.StatusOK)
	if !strings.Contains(body, "Choose a new password") || cookieNamed(resp, "gatehouse_session") != nil {
		t.Fatalf("no new-password step, or a session already:\n%s", body)
	}
	if a.signedIn(t, c) {
		t.Fatal("signed in before choosing a password")
	}
	ch := challengeRE.FindStringSubmatch(body)
	if ch == nil {
		t.Fatal("no challenge in the form")
	}
	step := func(challenge, password string) (*http.Response, string) {
		return a.post(t, c, "/_gatehouse/new-password", url.Values{"csrf": {csrf}, "challenge": {challenge},
			"rd": {"/dashboard"}, "password": {password}})
	}
	resp, body = step(ch[1], "password1234")
	wantStatus(t, "common password", resp, body, http.StatusUnprocessableEntity)
	if !strings.Contains(body, "most common passwords") {
		t.Errorf("the failed rule is not explained:\n%s", alert(body))
	}
	resp, body = step(ch[1]+"x", "my very own passphrase")
	wantStatus(t, "tampered challenge", resp, body, http.StatusBadRequest)
	resp, body = step(ch[1], "my very own passphrase")
	wantContinue(t, "new password", resp, body, "/dashboard")
	if !a.signedIn(t, c) {
		t.Fatal("no session after choosing a password")
	}
	// The step cannot be replayed, and the temporary password is gone.
	resp, body = step(ch[1], "a second passphrase here")
	wantStatus(t, "replayed step", resp, body, http.StatusBadRequest)
	c2 := testenv.Browser(t)
	csrf = signInForm(t, c2, a.base, "/")
	resp, body = postSignIn(t, c2, a.base, csrf, "/", "grace@example.com", temp)
	wantStatus(t, "temporary password afterwards", resp, body, http.StatusUnauthorized)
	signIn(t, c2, a.base, "/", "grace@example.com", "my very own passphrase")
}

func TestTemporaryPasswordExpiry(t *testing.T) {
	a := startAccounts(t, "temporary_password_ttl 1s")
	if _, _, err := a.pool.Pool.InviteUser(context.Background(), pool.Invitation{Email: "late@example.com", TemporaryPassword: "Given-Temp-Pass-99"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	c := testenv.Browser(t)
	csrf := signInForm(t, c, a.base, "/")
	resp, body := postSignIn(t, c, a.base, csrf, "/", "late@example.com", "Given-Temp-Pass-99")
	wantStatus(t, "expired temporary password", resp, body, http.StatusForbidden)
	if !strings.Contains(body, "temporary password has expired") {
		t.Errorf("page:\n%s", body)
	}
}

func TestEmailChange(t *testing.T) {
	a := startAccounts(t, "")
	createAda(t, a.site)
	c := testenv.Browser(t)

	// Not signed in: the account page sends the browser to sign in, and
	// back, with the code of a mailed link kept.
	resp, _ := get(t, c, a.base+"/_gatehouse/account?code=123456", nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), url.QueryEscape("/_gatehouse/account?code=123456")) {
		t.Fatalf("account page without a session: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	signIn(t, c, a.base, "/", adaEmail, adaPassword)

	const newEmail = "ada.king@example.com"
	change := url.Values{"action": {"email"}, "new_email": {newEmail}, "password": {"not my password"}}
	resp, body := a.form(t, c, "/_gatehouse/account", change)
	wantStatus(t, "email change with a wrong password", resp, body, http.StatusUnauthorized)
	if !strings.Contains(body, "current password is not right") || !strings.Contains(body, `value="`+newEmail+`"`) {
		t.Errorf("refusal page:\n%s", body)
	}
	change.Set("password", adaPassword)
	resp, body = a.form(t, c, "/_gatehouse/account", change)
	wantStatus(t, "email change", resp, body, http.StatusSeeOther)
	msg := a.smtp.WaitFor(t, newEmail, 1, mailWait)
	code := msg.Code(t)
	if a.smtp.CountTo(adaEmail) != 0 {
		t.Error("the code went to the old address")
	}
	_, page, _ := a.page(t, c, "/_gatehouse/account")
	if !strings.Contains(page, "<strong>"+newEmail+"</strong>") {
		t.Errorf("account page does not show the pending address")
	}
	// Until the code, the old address is the one in use.
	get(t, c, a.base+"/private", nil)
	if got := a.upstream.Last().Header.Get("X-Auth-Request-Email"); got != adaEmail {
		t.Errorf("upstream saw %q before confirming", got)
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	resp, body = a.form(t, c, "/_gatehouse/account", url.Values{"action": {"email_confirm"}, "code": {wrong}})
	wantStatus(t, "wrong code", resp, body, http.StatusBadRequest)
	resp, body = a.form(t, c, "/_gatehouse/account", url.Values{"action": {"email_confirm"}, "code": {code}})
	wantStatus(t, "right code", resp, body, http.StatusSeeOther)

	get(t, c, a.base+"/private", nil)
	if got := a.upstream.Last().Header.Get("X-Auth-Request-Email"); got != newEmail {
		t.Errorf("upstream saw %q after confirming, want %s", got, newEmail)
	}
	u, err := a.pool.Pool.UserByEmail(context.Background(), newEmail)
	if err != nil || !u.EmailVerified {
		t.Fatalf("user by the new address: %+v, %v", u, err)
	}
	c2 := testenv.Browser(t)
	csrf := signInForm(t, c2, a.base, "/")
	resp, body = postSignIn(t, c2, a.base, csrf, "/", adaEmail, adaPassword)
	wantStatus(t, "the old address", resp, body, http.StatusUnauthorized)
	signIn(t, c2, a.base, "/", newEmail, adaPassword)
}

func TestAccountPage(t *testing.T) {
	a := startAccounts(t, "")
	ada := createAda(t, a.site)
	if err := a.pool.Pool.Store().UpdateUser(context.Background(), ada.ID, store.UserUpdate{SetAttributes: map[string]string{"custom:tenant": "acme"}}); err != nil {
		t.Fatal(err)
	}
	c, other := testenv.Browser(t), testenv.Browser(t)
	signIn(t, c, a.base, "/", adaEmail, adaPassword)
	signIn(t, other, a.base, "/", adaEmail, adaPassword)

	resp, page, _ := a.page(t, c, "/_gatehouse/account")
	wantStatus(t, "account page", resp, page, http.StatusOK)
	for _, want := range []string{adaEmail, "verified", "CONFIRMED", `value="Ada Lovelace"`,
		`id="f-custom-tenant" name="custom:tenant" type="text" value="acme"`, "readonly", "Delete my account", "Sign out of all devices"} {
		if !strings.Contains(page, want) {
			t.Errorf("account page lacks %s", want)
		}
	}

	t.Run("profile", func(t *testing.T) {
		resp, body := a.form(t, c, "/_gatehouse/account", url.Values{"action": {"profile"}, "name": {"Ada King"},
			"custom:seats": {"many"}, "custom:tenant": {"evil"}})
		wantStatus(t, "bad profile", resp, body, http.StatusUnprocessableEntity)
		if !strings.Contains(body, `value="many"`) {
			t.Error("the value typed is not kept")
		}
		resp, body = a.form(t, c, "/_gatehouse/account", url.Values{"action": {"profile"}, "name": {"Ada King"},
			"custom:seats": {"7"}, "custom:tenant": {"evil"}})
		wantStatus(t, "profile", resp, body, http.StatusSeeOther)
		u, _ := a.pool.Pool.User(context.Background(), ada.ID)
		if u.Name != "Ada King" || u.Attributes["custom:seats"] != "7" || u.Attributes["custom:tenant"] != "acme" {
			t.Errorf("after saving: %+v", u)
		}
	})

	t.Run("password", func(t *testing.T) {
		resp, body := a.form(t, c, "/_gatehouse/account", url.Values{"action": {"password"},
			"current_password": {"not it at all"}, "new_password": {"a fresh start in spring"}})
		wantStatus(t, "wrong current password", resp, body, http.StatusUnauthorized)
		resp, body = a.form(t, c, "/_gatehouse/account", url.Values{"action": {"password"},
			"current_password": {adaPassword}, "new_password": {"qwertyuiop123"}})
		wantStatus(t, "common new password", resp, body, http.StatusUnprocessableEntity)
		resp, body = a.form(t, c, "/_gatehouse/account", url.Values{"action": {"password"},
			"current_password": {adaPassword}, "new_password": {"a fresh start in spring"}})
		wantStatus(t, "password change", resp, body, http.StatusSeeOther)
		if !a.signedIn(t, c) {
			t.Error("the browser that changed the password was signed out")
		}
		if a.signedIn(t, other) {
			t.Error("another session survived the password change")
		}
	})

	t.Run("sign out everywhere", func(t *testing.T) {
		third := testenv.Browser(t)
		signIn(t, third, a.base, "/", adaEmail, "a fresh start in spring")
		// A sensitive change: first "confirm it's you".
		resp, body := a.form(t, c, "/_gatehouse/account", url.Values{"action": {"signout_all"}})
		wantStatus(t, "sign out everywhere, unconfirmed", resp, body, http.StatusSeeOther)
		if !strings.HasPrefix(resp.Header.Get("Location"), "/_gatehouse/account/confirm?") || !a.signedIn(t, third) {
			t.Fatalf("sign out everywhere without confirming went to %q", resp.Header.Get("Location"))
		}
		a.confirmPassword(t, c, "a fresh start in spring")
		resp, body = a.form(t, c, "/_gatehouse/account", url.Values{"action": {"signout_all"}})
		wantStatus(t, "sign out everywhere", resp, body, http.StatusSeeOther)
		if a.signedIn(t, c) || a.signedIn(t, third) {
			t.Error("a session survived signing out everywhere")
		}
	})

	t.Run("delete", func(t *testing.T) {
		signIn(t, c, a.base, "/", adaEmail, "a fresh start in spring")
		resp, body := a.form(t, c, "/_gatehouse/account", url.Values{"action": {"delete"}, "password": {"not it"}})
		wantStatus(t, "delete with a wrong password", resp, body, http.StatusUnauthorized)
		resp, body = a.form(t, c, "/_gatehouse/account", url.Values{"action": {"delete"}, "password": {"a fresh start in spring"}})
		wantStatus(t, "delete", resp, body, http.StatusSeeOther)
		if _, err := a.pool.Pool.User(context.Background(), ada.ID); !errors.Is(err, pool.ErrUserNotFound) {
			t.Errorf("user after deleting: %v", err)
		}
		if a.signedIn(t, c) {
			t.Error("still signed in after deleting the account")
		}
	})

	t.Run("missing CSRF", func(t *testing.T) {
		c := testenv.Browser(t)
		resp, body := a.post(t, c, "/_gatehouse/account", url.Values{"action": {"signout_all"}})
		wantStatus(t, "account POST without CSRF", resp, body, http.StatusForbidden)
	})
}

// TestSignUpModes: invite and off hide sign-up, and a pool without mail
// offers no password reset.
func TestSignUpModes(t *testing.T) {
	for _, mode := range []string{"invite", "off"} {
		t.Run(mode, func(t *testing.T) {
			s := startSite(t, "signup "+mode, map[string]string{"app": "pool default"})
			c := testenv.Browser(t)
			for _, path := range []string{"/_gatehouse/signup", "/_gatehouse/forgot", "/_gatehouse/reset", "/_gatehouse/confirm"} {
				if resp, _ := get(t, c, s.url("app", path), nil); resp.StatusCode != http.StatusNotFound {
					t.Errorf("%s: status %d, want 404", path, resp.StatusCode)
				}
			}
			_, body := get(t, c, s.url("app", "/_gatehouse/signin"), nil)
			if strings.Contains(body, "/_gatehouse/signup") || strings.Contains(body, "Forgot your password") {
				t.Errorf("sign-in page offers what the pool does not have")
			}
			if strings.Contains(body, "by invitation") != (mode == "invite") {
				t.Errorf("invitation note shown: %v, want %v", strings.Contains(body, "by invitation"), mode == "invite")
			}
		})
	}
}

func TestAccountsCaddyfile(t *testing.T) {
	pool := func(opts string) string {
		return `{
	gatehouse {
		pool default {
			store sqlite ` + t.TempDir() + `/gh.db
			` + opts + `
		}
	}
}
`
	}
	for _, tc := range []struct{ name, opts, want string }{
		{"unknown signup", "signup maybe", `signup "maybe"`},
		{"open without mail", "signup open", "mail sender is needed"},
		{"attribute unknown", "attribute tenant", "not a standard attribute"},
		{"attribute email", "attribute email", "every pool has it"},
		{"attribute bad option", "attribute name colour", `unknown option "colour"`},
		{"attribute bad type", "attribute custom:x type date", "type"},
		{"attribute twice", "attribute name\nattribute name", "listed twice"},
		{"attribute min on text", "attribute custom:x min 3", "for type number"},
		{"verification unknown", "verification {\nexpiry 1h\n}", "unrecognized verification option"},
		{"verification attempts", "verification {\nmax_attempts 0\n}", "max_attempts"},
		{"verification duration", "verification {\ncode_ttl soon\n}", "code_ttl"},
		{"password require unknown", "password {\nrequire emoji\n}", `require "emoji"`},
		{"mail without from", "mail smtp://smtp.example.com", "from address is required"},
		{"mail outbox without folder", "mail outbox", "mail: want"},
		{"mail unknown option", "mail outbox ./x {\nreply_to a@b.c\n}", "unrecognized mail option"},
		{"mail link_base with path", "mail outbox ./x {\nlink_base https://a.example/app\n}", "site origin"},
		{"account_deletion", "account_deletion maybe", "on or off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := caddyconfigAdapt(pool(tc.opts))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("adapt error %v, want one containing %q", err, tc.want)
			}
		})
	}

	t.Run("valid", func(t *testing.T) {
		out := string(testenv.Adapt(t, pool(`signup open
			attribute given_name required
			attribute custom:tenant required immutable max_length 32
			attribute custom:seats type number min 1 max 500
			verification {
				code_ttl 12h
				reset_code_ttl 30m
				max_attempts 3
				resend_cooldown 30s
				sign_in_unverified
			}
			temporary_password_ttl 3d
			account_deletion on
			reauth_window 10m
			password {
				min_length 14
				require lowercase uppercase digit symbol
				allow_email
			}
			mail smtp://user:{env.SMTP_PASSWORD}@smtp.example.com:587 {
				from "Example <no-reply@example.com>"
				timeout 5s
				link_base https://app.example.com
			}`)))
		for _, want := range []string{`"signup":"open"`, `{"name":"given_name","required":true}`,
			`{"name":"custom:tenant","required":true,"immutable":true,"max_length":32}`,
			`{"name":"custom:seats","type":"number","min":1,"max":500}`,
			`"code_ttl":43200000000000`, `"max_attempts":3`, `"sign_in_unverified":true`,
			`"temporary_password_ttl":259200000000000`, `"account_deletion":true`, `"reauth_window":600000000000`,
			`"require_lowercase":true`, `"require_symbol":true`, `"allow_email":true`,
			`"smtp":"smtp://user:{env.SMTP_PASSWORD}@smtp.example.com:587"`, `"link_base":"https://app.example.com"`} {
			if !strings.Contains(out, want) {
				t.Errorf("adapted config lacks %s:\n%s", want, out)
			}
		}
	})

	t.Run("reauth options refused when adapting", func(t *testing.T) {
		for opts, want := range map[string]string{
			"reauth_window 2h":                    "reauth_window 2h0m0s: want a duration from 1s to 1h",
			"reauth_clock nobody-registered-this": `reauth_clock "nobody-registered-this": no clock of that name`,
		} {
			_, _, err := caddyconfigAdapt(pool(opts))
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %v, want one containing %q", opts, err, want)
			}
		}
	})

	t.Run("provisioning errors", func(t *testing.T) {
		for _, tc := range []struct{ name, opts, want string }{
			{"plain SMTP to another host", "mail smtp://smtp.example.com?tls=none {\nfrom a@example.com\n}", "only allowed for a server on this machine"},
			{"bad from", "mail smtp://smtp.example.com {\nfrom \"not an address\"\n}", "from"},
			{"missing templates folder", "mail outbox " + t.TempDir() + " {\ntemplates " + t.TempDir() + "/none\n}", "mail templates"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := caddyValidate(testenv.Adapt(t, pool(tc.opts)))
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("provision error %v, want one containing %q", err, tc.want)
				}
			})
		}
	})
}
