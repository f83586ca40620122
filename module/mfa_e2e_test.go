package module_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

var (
	secretRE   = regexp.MustCompile(`<code class="secret" id="totp-secret">([A-Z2-7]+)</code>`)
	recoveryRE = regexp.MustCompile(`<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>`)
	continueRE = regexp.MustCompile(`href="([^"]+)" id="continue"`)
)

// mfaSite runs one pool with sites "app" (password is enough) and "secure"
// (`require mfa`), each passing the session's amr upstream as X-Test-Amr.
type mfaSite struct {
	*accounts
}

func startMFA(t *testing.T, poolOptions string) *mfaSite {
	t.Helper()
	s := startSite(t, poolOptions, map[string]string{
		"app":    "pool default\n\t\theader X-Test-Amr {amr}",
		"secure": "pool default\n\t\theader X-Test-Amr {amr}\n\t\trequire mfa",
	})
	return &mfaSite{&accounts{site: s, base: s.url("app", "")}}
}

// on returns the same helpers for the other site.
func (m *mfaSite) on(name string) *accounts {
	return &accounts{site: m.site, base: m.url(name, "")}
}

// stepForm pulls the CSRF token and the step's challenge out of a page.
func stepForm(t *testing.T, body string) url.Values {
	t.Helper()
	c, ch := csrfField.FindStringSubmatch(body), challengeRE.FindStringSubmatch(body)
	if c == nil || ch == nil {
		t.Fatalf("page has no csrf or challenge field:\n%s", body)
	}
	return url.Values{"csrf": {c[1]}, "challenge": {ch[1]}}
}

// totpCode is what an authenticator app holding secret shows at now+offset.
func totpCode(t *testing.T, secret string, offset time.Duration) string {
	t.Helper()
	c, err := testenv.TOTPCode(secret, time.Now().Add(offset))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// passwordStep posts the sign-in form and returns the answer.
func (a *accounts) passwordStep(t *testing.T, c *http.Client, rd, email, password string) (*http.Response, string) {
	t.Helper()
	csrf := signInForm(t, c, a.base, rd)
	return postSignIn(t, c, a.base, csrf, rd, email, password)
}

func (a *accounts) mustPasswordStep(t *testing.T, c *http.Client) string {
	t.Helper()
	resp, body := a.passwordStep(t, c, "/private", adaEmail, adaPassword)
	wantStatus(t, "password step", resp, body, http.StatusOK)
	return body
}

// enrol finishes a setup page, first with a wrong code and then with the
// app's current one, and returns the secret and the answer.
func (a *accounts) enrol(t *testing.T, c *http.Client, setupBody, rd string) (string, *http.Response, string) {
	t.Helper()
	m := secretRE.FindStringSubmatch(setupBody)
	if m == nil {
		t.Fatalf("setup page shows no secret:\n%s", setupBody)
	}
	if !strings.Contains(setupBody, `src="data:image/png;base64,`) {
		t.Fatalf("setup page shows no QR code:\n%s", setupBody)
	}
	wrong := "000000"
	if totpCode(t, m[1], 0) == wrong || totpCode(t, m[1], 30*time.Second) == wrong {
		wrong = "000001"
	}
	form := stepForm(t, setupBody)
	form.Set("rd", rd)
	form.Set("code", wrong)
	resp, body := a.post(t, c, "/_gatehouse/mfa/setup", form)
	wantStatus(t, "setup with a wrong code", resp, body, http.StatusUnprocessableEntity)
	if got := secretRE.FindStringSubmatch(body); got == nil || got[1] != m[1] {
		t.Fatalf("setup page after a wrong code shows another secret:\n%s", body)
	}
	form = stepForm(t, body)
	form.Set("rd", rd)
	form.Set("code", totpCode(t, m[1], 0))
	resp, body = a.post(t, c, "/_gatehouse/mfa/setup", form)
	return m[1], resp, body
}

func upstreamAMR(m *mfaSite) string {
	if r := m.upstream.Last(); r != nil {
		return r.Header.Get("X-Test-Amr")
	}
	return ""
}

func mustUser(t *testing.T, s *site) *store.User {
	t.Helper()
	u, err := s.pool.Pool.UserByEmail(t.Context(), adaEmail)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestMFAJourney enrols an authenticator app from the account page, then
// signs in with it, with a replayed code, with recovery codes, replaces
// the codes and removes the factor.
func TestMFAJourney(t *testing.T) {
	m := startMFA(t, "")
	createAda(t, m.site)
	c := testenv.Browser(t)
	signIn(t, c, m.base, "/private", adaEmail, adaPassword)

	// Enrol from the account page; the password is asked again.
	resp, body := m.form(t, c, "/_gatehouse/account", url.Values{"action": {"mfa_add"}, "name": {"Phone"}, "password": {"wrong password!"}})
	wantStatus(t, "adding a factor with a wrong password", resp, body, http.StatusUnauthorized)
	resp, body = m.form(t, c, "/_gatehouse/account", url.Values{"action": {"mfa_add"}, "name": {"Phone"}, "password": {adaPassword}})
	wantStatus(t, "adding a factor", resp, body, http.StatusOK)
	secret, resp, body := m.enrol(t, c, body, "")
	wantStatus(t, "confirming the factor", resp, body, http.StatusOK)
	codes := recoveryRE.FindAllStringSubmatch(body, -1)
	if len(codes) != pool.RecoveryCodeCount {
		t.Fatalf("recovery page shows %d codes, want %d:\n%s", len(codes), pool.RecoveryCodeCount, body)
	}
	if cont := continueRE.FindStringSubmatch(body); cont == nil || cont[1] != "/_gatehouse/account?notice=mfa_added" {
		t.Fatalf("recovery page continues to %v, want the account page", cont)
	}
	_, body = get(t, c, m.base+"/_gatehouse/account", nil)
	if !strings.Contains(body, "<strong>Phone</strong>") || !strings.Contains(body, "10 unused recovery codes left.") {
		t.Fatalf("account page does not list the factor and 10 codes:\n%s", body)
	}

	// A new sign-in stops after the password: no session until the code.
	c2 := testenv.Browser(t)
	body = m.mustPasswordStep(t, c2)
	if !strings.Contains(body, `action="/_gatehouse/mfa"`) {
		t.Fatalf("password step did not ask for a code:\n%s", body)
	}
	if r, _ := get(t, c2, m.base+"/private", nil); r.StatusCode != http.StatusFound {
		t.Fatalf("after the password alone /private gave %d, want 302 to sign in", r.StatusCode)
	}
	form := stepForm(t, body)
	form.Set("rd", "/private")
	form.Set("code", "12345") // not even a code
	resp, body = m.post(t, c2, "/_gatehouse/mfa", form)
	wantStatus(t, "wrong code", resp, body, http.StatusUnauthorized)
	if !strings.Contains(alert(body), "not right") {
		t.Fatalf("wrong code alert = %q", alert(body))
	}
	// The next step's code: the current one confirmed the enrolment.
	next := totpCode(t, secret, 30*time.Second)
	form = stepForm(t, body)
	form.Set("rd", "/private")
	form.Set("code", next)
	resp, body = m.post(t, c2, "/_gatehouse/mfa", form)
	wantContinue(t, "right code", resp, body, "/private")
	if r, b := get(t, c2, m.base+"/private", nil); r.StatusCode != http.StatusOK {
		t.Fatalf("signed in with a code: /private gave %d: %s", r.StatusCode, b)
	}
	if amr := upstreamAMR(m); amr != "pwd,otp,mfa" {
		t.Fatalf("upstream amr = %q, want pwd,otp,mfa", amr)
	}

	// The same code again, in another browser: refused.
	c3 := testenv.Browser(t)
	form = stepForm(t, m.mustPasswordStep(t, c3))
	form.Set("code", next)
	resp, body = m.post(t, c3, "/_gatehouse/mfa", form)
	wantStatus(t, "replayed code", resp, body, http.StatusUnauthorized)

	// A recovery code works once, in any case and without its dash.
	rc := codes[3][1]
	form = stepForm(t, body)
	form.Set("rd", "/private")
	form.Set("code", strings.ToUpper(strings.ReplaceAll(rc, "-", "")))
	resp, body = m.post(t, c3, "/_gatehouse/mfa", form)
	wantContinue(t, "recovery code", resp, body, "/private")
	get(t, c3, m.base+"/private", nil)
	if amr := upstreamAMR(m); amr != "pwd,mfa" {
		t.Fatalf("upstream amr after a recovery code = %q, want pwd,mfa", amr)
	}
	c4 := testenv.Browser(t)
	form = stepForm(t, m.mustPasswordStep(t, c4))
	form.Set("code", rc)
	resp, body = m.post(t, c4, "/_gatehouse/mfa", form)
	wantStatus(t, "recovery code used twice", resp, body, http.StatusUnauthorized)

	// New codes replace the old ones.
	_, body = get(t, c, m.base+"/_gatehouse/account", nil)
	if !strings.Contains(body, "9 unused recovery codes left.") {
		t.Fatalf("account page after one code used:\n%s", body)
	}
	resp, body = m.form(t, c, "/_gatehouse/account", url.Values{"action": {"mfa_codes"}, "password": {adaPassword}})
	wantStatus(t, "new recovery codes", resp, body, http.StatusOK)
	fresh := recoveryRE.FindAllStringSubmatch(body, -1)
	if len(fresh) != pool.RecoveryCodeCount || !strings.Contains(body, "earlier codes no longer work") {
		t.Fatalf("new codes page:\n%s", body)
	}
	form = stepForm(t, m.mustPasswordStep(t, c4))
	form.Set("code", codes[5][1])
	resp, body = m.post(t, c4, "/_gatehouse/mfa", form)
	wantStatus(t, "an old recovery code after replacement", resp, body, http.StatusUnauthorized)
	form = stepForm(t, body)
	form.Set("code", fresh[0][1])
	resp, body = m.post(t, c4, "/_gatehouse/mfa", form)
	wantContinue(t, "a new recovery code", resp, body, "/")

	// Removing the factor: the password alone signs in again.
	u := mustUser(t, m.site)
	factors, err := m.pool.Pool.Factors(t.Context(), u.ID)
	if err != nil || len(factors) != 1 {
		t.Fatalf("factors = %v, %v", factors, err)
	}
	resp, body = m.form(t, c, "/_gatehouse/account", url.Values{"action": {"mfa_remove"}, "factor": {factors[0].ID}, "password": {adaPassword}})
	wantStatus(t, "removing the factor", resp, body, http.StatusSeeOther)
	signIn(t, testenv.Browser(t), m.base, "/private", adaEmail, adaPassword)
	if n, err := m.pool.Pool.RecoveryCodesLeft(t.Context(), u.ID); err != nil || n != 0 {
		t.Fatalf("recovery codes left after removing the last factor = %d, %v; want 0", n, err)
	}
}

// TestMFARequired takes a user without a factor through enrolment right
// after the password, before any session.
func TestMFARequired(t *testing.T) {
	m := startMFA(t, "mfa required")
	createAda(t, m.site)
	c := testenv.Browser(t)
	resp, body := m.passwordStep(t, c, "/private?x=1", adaEmail, adaPassword)
	wantStatus(t, "password step", resp, body, http.StatusOK)
	if !strings.Contains(body, "asks every account for a second step") {
		t.Fatalf("password step in a required pool did not start enrolment:\n%s", body)
	}
	if r, _ := get(t, c, m.base+"/private", nil); r.StatusCode != http.StatusFound {
		t.Fatalf("before enrolment /private gave %d, want 302", r.StatusCode)
	}
	_, resp, body = m.enrol(t, c, body, "/private?x=1")
	wantStatus(t, "enrolment", resp, body, http.StatusOK)
	if cont := continueRE.FindStringSubmatch(body); cont == nil || cont[1] != "/private?x=1" {
		t.Fatalf("recovery page continues to %v, want /private?x=1", cont)
	}
	if r, b := get(t, c, m.base+"/private?x=1", nil); r.StatusCode != http.StatusOK {
		t.Fatalf("after enrolment /private gave %d: %s", r.StatusCode, b)
	}
	if amr := upstreamAMR(m); amr != "pwd,otp,mfa" {
		t.Fatalf("amr after enrolment = %q", amr)
	}

	// An administrator's reset (gatehouse users reset-mfa) sends them
	// through enrolment again.
	if err := m.pool.Pool.ResetMFA(t.Context(), mustUser(t, m.site).ID); err != nil {
		t.Fatal(err)
	}
	_, body = m.passwordStep(t, testenv.Browser(t), "/", adaEmail, adaPassword)
	if !strings.Contains(body, "asks every account for a second step") {
		t.Fatalf("after reset-mfa the sign-in did not start enrolment:\n%s", body)
	}
}

// TestStepUpMFA: a password-only session meets `require mfa`: browsers are
// sent to give a second factor and come back; API calls get 403.
func TestStepUpMFA(t *testing.T) {
	m := startMFA(t, "")
	createAda(t, m.site)
	secure := m.on("secure")
	c := testenv.Browser(t)
	signIn(t, c, m.base, "/", adaEmail, adaPassword)

	req, _ := http.NewRequest(http.MethodGet, secure.base+"/private", nil)
	req.Header.Set("Accept", "application/json")
	if r, b := do(t, c, req); r.StatusCode != http.StatusForbidden {
		t.Fatalf("API call without mfa: %d, want 403: %s", r.StatusCode, b)
	}
	resp, body := get(t, c, secure.base+"/private?y=2", nil)
	wantStatus(t, "password-only session on require mfa", resp, body, http.StatusFound)
	loc := resp.Header.Get("Location")
	if loc != "/_gatehouse/mfa?rd="+url.QueryEscape("/private?y=2") {
		t.Fatalf("step-up Location %q", loc)
	}
	// No factor yet: the step-up enrols one, once the password is typed
	// again (the session alone could be a copied cookie).
	resp, body = get(t, c, secure.base+loc, nil)
	wantStatus(t, "step-up page", resp, body, http.StatusOK)
	if secretRE.MatchString(body) || !strings.Contains(body, "first enter your current password") {
		t.Fatalf("step-up without a factor does not ask for the password first:\n%s", body)
	}
	form := stepForm(t, body)
	form.Set("rd", "/private?y=2")
	form.Set("action", "password")
	form.Set("password", "not the password")
	resp, body = secure.post(t, c, "/_gatehouse/mfa", form)
	wantStatus(t, "step-up with a wrong password", resp, body, http.StatusUnauthorized)
	if secretRE.MatchString(body) || alert(body) != "Your current password is not right." {
		t.Fatalf("step-up with a wrong password:\n%s", body)
	}
	form = stepForm(t, body)
	form.Set("rd", "/private?y=2")
	form.Set("action", "password")
	form.Set("password", adaPassword)
	resp, body = secure.post(t, c, "/_gatehouse/mfa", form)
	wantStatus(t, "step-up with the password", resp, body, http.StatusOK)
	_, resp, body = secure.enrol(t, c, body, "/private?y=2")
	wantStatus(t, "step-up enrolment", resp, body, http.StatusOK)
	if cont := continueRE.FindStringSubmatch(body); cont == nil || cont[1] != "/private?y=2" {
		t.Fatalf("recovery page continues to %v", cont)
	}
	if r, b := get(t, c, secure.base+"/private?y=2", nil); r.StatusCode != http.StatusOK {
		t.Fatalf("after step-up: %d: %s", r.StatusCode, b)
	}

	// A session that signed in with the password alone, before the user
	// had a factor: step-up asks for a code of the factor enrolled since.
	if err := m.pool.Pool.ResetMFA(t.Context(), mustUser(t, m.site).ID); err != nil {
		t.Fatal(err)
	}
	c3 := testenv.Browser(t)
	signIn(t, c3, m.base, "/", adaEmail, adaPassword)
	resp, body = m.form(t, c3, "/_gatehouse/account", url.Values{"action": {"mfa_add"}, "password": {adaPassword}})
	wantStatus(t, "adding a factor", resp, body, http.StatusOK)
	secret, resp, body := m.enrol(t, c3, body, "")
	wantStatus(t, "confirming", resp, body, http.StatusOK)
	resp, body = get(t, c3, secure.base+"/private", nil)
	wantStatus(t, "password session after enrolling", resp, body, http.StatusFound)
	resp, body = get(t, c3, secure.base+resp.Header.Get("Location"), nil)
	wantStatus(t, "step-up code page", resp, body, http.StatusOK)
	if !strings.Contains(body, "This page needs a second step.") {
		t.Fatalf("step-up page:\n%s", body)
	}
	form = stepForm(t, body)
	form.Set("rd", "/private")
	form.Set("code", totpCode(t, secret, 30*time.Second))
	resp, body = secure.post(t, c3, "/_gatehouse/mfa", form)
	wantContinue(t, "step-up code", resp, body, "/private")
	if r, b := get(t, c3, secure.base+"/private", nil); r.StatusCode != http.StatusOK {
		t.Fatalf("after the step-up code: %d: %s", r.StatusCode, b)
	}
}

// TestBruteForce: 50 wrong passwords for one account, and for an address
// with no account, from one IP. After the threshold every attempt is
// refused with 429 without checking the password, alike for both; the
// real user signs in once the lockout is over.
func TestBruteForce(t *testing.T) {
	m := startMFA(t, `lockout {
				threshold 5
				duration 2s
				max 3s
			}
			throttle off`)
	createAda(t, m.site)
	c := testenv.Browser(t)
	for _, email := range []string{adaEmail, "nobody@example.com"} {
		var statuses []int
		for range 50 {
			resp, body := m.passwordStep(t, c, "/", email, "not the password at all")
			statuses = append(statuses, resp.StatusCode)
			if resp.StatusCode == http.StatusTooManyRequests {
				if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 3 {
					t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
				}
				if !strings.Contains(body, "too many failed sign-ins") {
					t.Fatalf("429 page:\n%s", body)
				}
			}
		}
		for i, st := range statuses {
			want := http.StatusUnauthorized
			if i >= 5 {
				want = http.StatusTooManyRequests
			}
			if st != want {
				t.Fatalf("%s: attempt %d got %d, want %d (all: %v)", email, i+1, st, want, statuses)
			}
		}
	}
	// Locked: even the right password is refused, and says nothing more.
	resp, body := m.passwordStep(t, c, "/", adaEmail, adaPassword)
	wantStatus(t, "right password while locked", resp, body, http.StatusTooManyRequests)
	time.Sleep(3100 * time.Millisecond)
	signIn(t, c, m.base, "/", adaEmail, adaPassword)
}

// TestThrottle: the per-IP budget of hosted-page POSTs answers 429 once
// spent, before any password is checked.
func TestThrottle(t *testing.T) {
	m := startMFA(t, `throttle 5 per 1m
			lockout {
				off
			}`)
	createAda(t, m.site)
	c := testenv.Browser(t)
	var got []int
	for range 8 {
		resp, _ := m.passwordStep(t, c, "/", "someone@example.com", "wrong password here")
		got = append(got, resp.StatusCode)
	}
	want := []int{401, 401, 401, 401, 401, 429, 429, 429}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("statuses %v, want %v", got, want)
		}
	}
	resp, body := m.passwordStep(t, c, "/", adaEmail, adaPassword)
	wantStatus(t, "right password from a throttled IP", resp, body, http.StatusTooManyRequests)
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
}

// TestRememberDevice: with remember_device, a second factor given with
// "don't ask again" lets that browser sign in with the password alone,
// until the user's factors change; other browsers are still asked.
func TestRememberDevice(t *testing.T) {
	m := startMFA(t, "remember_device 30d")
	u := createAda(t, m.site)
	c := testenv.Browser(t)
	signIn(t, c, m.base, "/", adaEmail, adaPassword)
	_, body := m.form(t, c, "/_gatehouse/account", url.Values{"action": {"mfa_add"}, "password": {adaPassword}})
	secret, resp, body := m.enrol(t, c, body, "")
	wantStatus(t, "enrolment", resp, body, http.StatusOK)

	get(t, c, m.base+"/_gatehouse/logout", nil)
	body = m.mustPasswordStep(t, c)
	if !strings.Contains(body, "on this device for 30 days") {
		t.Fatalf("code page does not offer to remember the device:\n%s", body)
	}
	form := stepForm(t, body)
	form.Set("rd", "/private")
	form.Set("code", totpCode(t, secret, 30*time.Second))
	form.Set("remember", "on")
	resp, body = m.post(t, c, "/_gatehouse/mfa", form)
	wantContinue(t, "code with remember", resp, body, "/private")
	dc := cookieNamed(resp, "gatehouse_device")
	if dc == nil || !dc.HttpOnly || dc.SameSite != http.SameSiteStrictMode || dc.Path != "/_gatehouse/" ||
		dc.MaxAge != 30*24*3600 {
		t.Fatalf("device cookie %+v", dc)
	}

	// Signed out, the password alone signs this browser in again.
	get(t, c, m.base+"/_gatehouse/logout", nil)
	resp, body = m.passwordStep(t, c, "/private", adaEmail, adaPassword)
	wantContinue(t, "password on a remembered device", resp, body, "/private")
	get(t, c, m.base+"/private", nil)
	if amr := upstreamAMR(m); amr != "pwd,mfa" {
		t.Fatalf("amr on a remembered device = %q, want pwd,mfa", amr)
	}
	// Another browser is asked.
	m.mustPasswordStep(t, testenv.Browser(t))

	// A change of factors forgets every remembered device.
	if err := m.pool.Pool.ResetMFA(t.Context(), u.ID); err != nil {
		t.Fatal(err)
	}
	signIn(t, testenv.Browser(t), m.base, "/", adaEmail, adaPassword) // no factor now
	c2 := testenv.Browser(t)
	signIn(t, c2, m.base, "/", adaEmail, adaPassword)
	_, body = m.form(t, c2, "/_gatehouse/account", url.Values{"action": {"mfa_add"}, "password": {adaPassword}})
	if _, resp, body = m.enrol(t, c2, body, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("second enrolment: %d\n%s", resp.StatusCode, body)
	}
	get(t, c, m.base+"/_gatehouse/logout", nil)
	m.mustPasswordStep(t, c) // the old device cookie no longer skips the code
}

// TestMFAWrongCodesLock: wrong second-factor codes count as failed
// sign-ins of the login: past the threshold even the right code and the
// right password are refused with 429 until the lock ends.
func TestMFAWrongCodesLock(t *testing.T) {
	m := startMFA(t, `lockout {
				threshold 3
				duration 2s
				max 2s
			}`)
	createAda(t, m.site)
	c := testenv.Browser(t)
	signIn(t, c, m.base, "/", adaEmail, adaPassword)
	_, body := m.form(t, c, "/_gatehouse/account", url.Values{"action": {"mfa_add"}, "password": {adaPassword}})
	secret, resp, body := m.enrol(t, c, body, "")
	wantStatus(t, "enrolment", resp, body, http.StatusOK)

	c2 := testenv.Browser(t)
	body = m.mustPasswordStep(t, c2)
	valid := map[string]bool{}
	for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second, 60 * time.Second} {
		valid[totpCode(t, secret, d)] = true
	}
	wrong := 999990
	for i := range 3 {
		for valid[strconv.Itoa(wrong)] {
			wrong--
		}
		form := stepForm(t, body)
		form.Set("code", strconv.Itoa(wrong)) // six digits, none the app's now
		wrong--
		resp, body = m.post(t, c2, "/_gatehouse/mfa", form)
		wantStatus(t, "wrong code "+strconv.Itoa(i+1), resp, body, http.StatusUnauthorized)
	}
	form := stepForm(t, body)
	form.Set("code", totpCode(t, secret, 30*time.Second))
	resp, body = m.post(t, c2, "/_gatehouse/mfa", form)
	wantStatus(t, "right code while locked", resp, body, http.StatusTooManyRequests)
	resp, body = m.passwordStep(t, testenv.Browser(t), "/", adaEmail, adaPassword)
	wantStatus(t, "right password while locked", resp, body, http.StatusTooManyRequests)

	time.Sleep(2100 * time.Millisecond)
	c3 := testenv.Browser(t)
	form = stepForm(t, m.mustPasswordStep(t, c3))
	form.Set("rd", "/private")
	form.Set("code", totpCode(t, secret, 30*time.Second))
	resp, body = m.post(t, c3, "/_gatehouse/mfa", form)
	wantContinue(t, "right code after the lock", resp, body, "/private")
}
