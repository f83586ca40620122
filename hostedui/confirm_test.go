package hostedui

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/middleware"
	"github.com/gatehouse-auth/gatehouse/store"
)

// oneSession is a gateway whose every request carries session s (none
// when s is nil).
type oneSession struct {
	*recSessions
	s *middleware.Session
}

func (o oneSession) Authenticated(*http.Request) (*middleware.Session, bool) {
	return o.s, o.s != nil
}

// clock is a settable clock for Config.Now.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// TestReauthOf: a re-authentication stands for its user, in the session
// that made it, for the window from when it was made, at the handler's
// clock, and not for a tampered, foreign or old-format cookie; a password
// or passkey is strong, a code is not.
func TestReauthOf(t *testing.T) {
	sess := &middleware.Session{ID: "session-1", UserID: "user-1"}
	gw := oneSession{recSessions: &recSessions{}, s: sess}
	at := time.Unix(1_800_000_000, 0)
	clk := &clock{t: at}
	f := newFixture(t, func(c *Config) { c.Sessions = gw; c.Now = clk.now })
	u := &store.User{ID: "user-1"}
	until := at.Add(5 * time.Minute) // the default window

	seal := func(v any) string {
		s, err := f.h.sealJSON(confirmCookie, v)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	good := seal(reauthRecord{UserID: "user-1", SessionID: "session-1", At: at.Unix(), Method: reauthPassword})
	code := seal(reauthRecord{UserID: "user-1", SessionID: "session-1", At: at.Unix(), Method: reauthOTP})
	for _, tc := range []struct {
		name    string
		cookies []string
		now     time.Time
		user    *store.User
		want    reauth
	}{
		{"fresh", []string{good}, at, u, reauth{reauthPassword, until}},
		{"a second before its end", []string{good}, until.Add(-time.Second), u, reauth{reauthPassword, until}},
		{"at its end", []string{good}, until, u, reauth{}},
		{"after its end", []string{good}, until.Add(time.Hour), u, reauth{}},
		{"made in the future", []string{good}, at.Add(-time.Hour), u, reauth{}},
		{"a code", []string{code}, at, u, reauth{reauthOTP, until}},
		{"the strongest of two", []string{code, good}, at, u, reauth{reauthPassword, until}},
		{"another user", []string{good}, at, &store.User{ID: "user-2"}, reauth{}},
		{"another session", []string{seal(reauthRecord{UserID: "user-1", SessionID: "session-0", At: at.Unix(), Method: reauthPassword})}, at, u, reauth{}},
		{"an unknown method", []string{seal(reauthRecord{UserID: "user-1", SessionID: "session-1", At: at.Unix(), Method: "session"})}, at, u, reauth{}},
		{"the old passkey cookie", []string{seal(map[string]any{"u": "user-1", "s": "session-1", "t": until.Unix()})}, at, u, reauth{}},
		{"tampered", []string{good[:len(good)-2] + "xx"}, at, u, reauth{}},
		{"another cookie name's seal", []string{func() string {
			s, _ := f.h.sealJSON(webauthnCookie, reauthRecord{UserID: "user-1", SessionID: "session-1", At: at.Unix(), Method: reauthPassword})
			return s
		}()}, at, u, reauth{}},
		{"none", nil, at, u, reauth{}},
	} {
		clk.t = tc.now
		r := httptest.NewRequest(http.MethodGet, AccountPath, nil)
		for _, c := range tc.cookies {
			r.AddCookie(&http.Cookie{Name: confirmCookie, Value: c})
		}
		got := f.h.reauthOf(r, tc.user)
		if got.Method != tc.want.Method || !got.Until.Equal(tc.want.Until) {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
	if !(reauth{Method: reauthPasskey}).strong() || (reauth{Method: reauthOTP}).strong() || (reauth{Method: reauthRecoveryCode}).strong() {
		t.Error("strength: want password and passkey strong, codes not")
	}

	// Signed out: no session, no re-authentication.
	gw.s = nil
	f = newFixture(t, func(c *Config) { c.Sessions = gw; c.Now = clk.now })
	clk.t = at
	r := httptest.NewRequest(http.MethodGet, AccountPath, nil)
	r.AddCookie(&http.Cookie{Name: confirmCookie, Value: good})
	if got := f.h.reauthOf(r, u); got.ok() {
		t.Errorf("without a session: %+v", got)
	}
}

// TestSafeNext: the confirm step goes back to an account page of this
// site and nowhere else.
func TestSafeNext(t *testing.T) {
	for raw, want := range map[string]string{
		"":                             AccountPath,
		"/_gatehouse/account":          "/_gatehouse/account",
		"/_gatehouse/account#security": "/_gatehouse/account#security",
		"/_gatehouse/account?notice=x": "/_gatehouse/account?notice=x",
		"/_gatehouse/account/confirm":  AccountPath,
		"/_gatehouse/accountant":       AccountPath,
		"/_gatehouse/logout":           AccountPath,
		"/":                            AccountPath,
		"/private":                     AccountPath,
		"https://evil.example/_gatehouse/account": AccountPath,
		"//evil.example/_gatehouse/account":       AccountPath,
		"/\\evil.example":                         AccountPath,
		"/%2F%2Fevil.example":                     AccountPath,
		"javascript:alert(1)":                     AccountPath,
		"/_gatehouse/account\r\nSet-Cookie: x=y":  AccountPath,
	} {
		if got := safeNext(raw); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", raw, got, want)
		}
	}
	if got := confirmURL("https://evil.example/", needStrong, true); got != AccountConfirmPath+"?next=%2F_gatehouse%2Faccount&retry=1&strict=1" {
		t.Errorf("confirmURL = %q", got)
	}
}

// confirmFixture is a fixture whose gateway says ada is signed in, with
// a clock the test moves.
func confirmFixture(t *testing.T) (*fixture, *clock, *oneSession) {
	t.Helper()
	clk := &clock{t: time.Now()}
	gw := &oneSession{recSessions: &recSessions{}}
	f := newFixture(t, func(c *Config) { c.Sessions = gw; c.Now = clk.now })
	gw.s = &middleware.Session{ID: "session-1", UserID: f.ada.ID, Email: adaEmail}
	return f, clk, gw
}

// post sends form to path with the CSRF cookie and token, and cookies.
func (f *fixture) post(t *testing.T, path string, form url.Values, cookies ...*http.Cookie) *http.Response {
	t.Helper()
	csrf, tok := f.form(t, "/")
	form.Set("csrf", tok)
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range append([]*http.Cookie{csrf}, cookies...) {
		r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	return f.do(r)
}

// TestConfirmStepPassword: the confirm step takes the password, counts a
// wrong one as a failed sign-in of the login, records a re-authentication
// bound to the session, and goes back only to an account page.
func TestConfirmStepPassword(t *testing.T) {
	f, clk, _ := confirmFixture(t)

	res := f.do(httptest.NewRequest(http.MethodGet, AccountConfirmPath+"?next=%2F_gatehouse%2Faccount%23devices&strict=1", nil))
	body := readBody(t, res)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `id="f-confirm-password"`) ||
		!strings.Contains(body, `name="next" value="/_gatehouse/account#devices"`) || strings.Contains(body, `id="f-confirm-code"`) {
		t.Fatalf("confirm step: status %d\n%s", res.StatusCode, body)
	}

	// Without the CSRF token: refused, nothing checked.
	r := httptest.NewRequest(http.MethodPost, AccountConfirmPath, strings.NewReader("action=password&password="+url.QueryEscape(adaPassword)))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if res := f.do(r); res.StatusCode < 400 || cookieNamed(res, confirmCookie) != nil {
		t.Fatalf("confirm without CSRF: status %d", res.StatusCode)
	}

	res = f.post(t, AccountConfirmPath, url.Values{"action": {"password"}, "password": {"not it"}, "next": {"/_gatehouse/account"}})
	body = readBody(t, res)
	if res.StatusCode != http.StatusUnauthorized || cookieNamed(res, confirmCookie) != nil || !strings.Contains(body, "not right") {
		t.Fatalf("wrong password: status %d\n%s", res.StatusCode, body)
	}
	if fl, err := f.store.SignInFailures(t.Context(), adaEmail); err != nil || fl.Count != 1 {
		t.Fatalf("failures after a wrong password on the confirm step: %+v, %v", fl, err)
	}

	res = f.post(t, AccountConfirmPath, url.Values{"action": {"password"}, "password": {adaPassword}, "next": {"https://evil.example/"}})
	ck := cookieNamed(res, confirmCookie)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != AccountPath || ck == nil ||
		!ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.MaxAge != 300 {
		t.Fatalf("right password: status %d, Location %q, cookie %+v", res.StatusCode, res.Header.Get("Location"), ck)
	}
	if fl, _ := f.store.SignInFailures(t.Context(), adaEmail); fl.Count != 0 {
		t.Errorf("a right password left %d failures", fl.Count)
	}
	if !strings.Contains(logText(f.logs), "method=password") {
		t.Errorf("no log of the confirmation:\n%s", logText(f.logs))
	}
	r = httptest.NewRequest(http.MethodGet, AccountPath, nil)
	r.AddCookie(&http.Cookie{Name: confirmCookie, Value: ck.Value})
	if a := f.h.reauthOf(r, f.ada); a.Method != reauthPassword {
		t.Fatalf("after the confirm step: %+v", a)
	}
	clk.t = clk.t.Add(5*time.Minute + time.Second)
	if a := f.h.reauthOf(r, f.ada); a.ok() {
		t.Fatalf("after the window: %+v", a)
	}
}

// TestAccountChangeNeedsReauth: a sensitive change without a standing
// re-authentication goes to the confirm step (strict for what adds a way
// to sign in) and changes nothing; a code's re-authentication is not
// enough for a new password or recovery codes (module tests walk the
// changes a code does allow).
func TestAccountChangeNeedsReauth(t *testing.T) {
	f, _, _ := confirmFixture(t)
	seal := func(method string) *http.Cookie {
		v, err := f.h.sealJSON(confirmCookie, reauthRecord{UserID: f.ada.ID, SessionID: "session-1", At: f.h.now().Unix(), Method: method})
		if err != nil {
			t.Fatal(err)
		}
		return &http.Cookie{Name: confirmCookie, Value: v}
	}
	for _, tc := range []struct {
		name     string
		action   string
		cookies  []*http.Cookie
		status   int
		location string
	}{
		{"sign out everywhere, unconfirmed", "signout_all", nil, http.StatusSeeOther,
			AccountConfirmPath + "?next=%2F_gatehouse%2Faccount%23devices&retry=1"},
		{"new recovery codes, unconfirmed", "mfa_codes", nil, http.StatusSeeOther,
			AccountConfirmPath + "?next=%2F_gatehouse%2Faccount%23mfa-heading&retry=1&strict=1"},
		{"new password, confirmed by a code", "password", []*http.Cookie{seal(reauthOTP)}, http.StatusSeeOther,
			AccountConfirmPath + "?next=%2F_gatehouse%2Faccount%23password-heading&retry=1&strict=1"},
		{"new recovery codes, confirmed by a code", "mfa_codes", []*http.Cookie{seal(reauthOTP)}, http.StatusSeeOther,
			AccountConfirmPath + "?next=%2F_gatehouse%2Faccount%23mfa-heading&retry=1&strict=1"},
		// Past the proof check: Ada has no factor to make codes for.
		{"new recovery codes, confirmed by the password", "mfa_codes", []*http.Cookie{seal(reauthPassword)}, http.StatusConflict, ""},
	} {
		res := f.post(t, AccountPath, url.Values{"action": {tc.action}, "new_password": {"a fresh long passphrase"}}, tc.cookies...)
		if res.StatusCode != tc.status || res.Header.Get("Location") != tc.location {
			t.Errorf("%s: status %d, Location %q; want %d %q", tc.name, res.StatusCode, res.Header.Get("Location"), tc.status, tc.location)
		}
	}
	if n := f.sessions.ends(); n != 0 {
		t.Errorf("%d sessions ended by refused changes", n)
	}
}
