package hostedui

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestAccountPagesWithoutAccounts: a pool with the defaults (sign-up by
// invitation, no mail) has no account pages to offer, and the pages never
// show text a link chose.
func TestAccountPagesWithoutAccounts(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, SignUpPath, http.StatusNotFound},
		{http.MethodGet, ConfirmPath, http.StatusNotFound},
		{http.MethodGet, ForgotPath, http.StatusNotFound},
		{http.MethodGet, ResetPath, http.StatusNotFound},
		{http.MethodGet, NewPasswordPath, http.StatusMethodNotAllowed},
		// The test's Sessions cannot say who is signed in.
		{http.MethodGet, AccountPath, http.StatusNotFound},
	} {
		res := f.do(httptest.NewRequest(tc.method, tc.path, nil))
		if res.StatusCode != tc.status {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, res.StatusCode, tc.status)
		}
	}

	body := readBody(t, f.do(httptest.NewRequest(http.MethodGet, SignInPath+"?notice="+url.QueryEscape("<b>Call 555</b>"), nil)))
	if strings.Contains(body, "555") || strings.Contains(body, `role="status"`) {
		t.Error("the sign-in page shows a notice a link made up")
	}
	body = readBody(t, f.do(httptest.NewRequest(http.MethodGet, SignInPath+"?notice=reset", nil)))
	if !strings.Contains(body, `<div class="notice" role="status">`+notices["reset"]+`</div>`) {
		t.Errorf("the sign-in page lacks the reset notice:\n%s", body)
	}
	if strings.Contains(body, "/_gatehouse/forgot") || strings.Contains(body, "/_gatehouse/signup") {
		t.Error("the sign-in page offers pages the pool does not have")
	}
	if !strings.Contains(body, "by invitation") {
		t.Error("the sign-in page does not say accounts are by invitation")
	}
}

func TestNewPasswordChallenge(t *testing.T) {
	f := newFixture(t, nil)
	cookie, tok := f.form(t, "/")
	for _, challenge := range []string{"", "garbage", strings.Repeat("A", 200)} {
		r := httptest.NewRequest(http.MethodPost, NewPasswordPath, strings.NewReader(url.Values{
			"csrf": {tok}, "challenge": {challenge}, "password": {"a quiet walk in the hills"}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
		res := f.do(r)
		if body := readBody(t, res); res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "expired") {
			t.Errorf("challenge %q: status %d, want 400 saying the step expired", challenge, res.StatusCode)
		}
	}
	if n := len(f.sessions.starts()); n != 0 {
		t.Errorf("%d sessions started", n)
	}
}

func TestCodeLink(t *testing.T) {
	for _, tc := range []struct{ base, purpose, want string }{
		{"https://app.example.com/", "verify_email", "https://app.example.com/_gatehouse/confirm?code=012345&email=a%2Bb%40example.com"},
		{"https://app.example.com", "reset_password", "https://app.example.com/_gatehouse/reset?code=012345&email=a%2Bb%40example.com"},
		{"https://app.example.com", "change_email", "https://app.example.com/_gatehouse/account?code=012345"},
		{"https://app.example.com", "temporary_password", ""},
		{"", "verify_email", ""},
	} {
		if got := CodeLink(tc.base, tc.purpose, "a+b@example.com", "012345"); got != tc.want {
			t.Errorf("CodeLink(%q, %s) = %q, want %q", tc.base, tc.purpose, got, tc.want)
		}
	}
}
