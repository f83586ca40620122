package hostedui

import (
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gorilla/securecookie"
	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

func TestSignInPage(t *testing.T) {
	f := newFixture(t, nil)
	res := f.do(httptest.NewRequest(http.MethodGet, SignInPath+"?rd="+url.QueryEscape("/app?x=1&y=2"), nil))
	body := readBody(t, res)

	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	checkPageHeaders(t, res.Header)

	for _, want := range []string{
		`<html lang="en" dir="ltr">`,
		`<meta name="viewport" content="width=device-width, initial-scale=1">`,
		`<link rel="stylesheet" href="/_gatehouse/static/gatehouse.css">`,
		"Acme &lt;Staff&gt; &amp; Co", // the display name, escaped
		`<form class="form" method="post" action="/_gatehouse/signin">`,
		`<input type="hidden" name="rd" value="/app?x=1&amp;y=2">`,
		`<label for="email">Email</label>`,
		`<input id="email" name="email" type="email"`,
		`autocomplete="username"`,
		`required autofocus`,
		`<label for="password">Password</label>`,
		`<input id="password" name="password" type="password" autocomplete="current-password"`,
		`role="alert"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	for _, bad := range []string{"<Staff>", "<script", "aria-invalid"} {
		if strings.Contains(body, bad) {
			t.Errorf("page holds %s", bad)
		}
	}

	c := cookieNamed(res, csrfCookie)
	if c == nil {
		t.Fatal("no CSRF cookie set")
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/_gatehouse/" || c.Secure || c.MaxAge != 0 || !c.Expires.IsZero() {
		t.Errorf("CSRF cookie attributes: %+v", c)
	}
	m := csrfInput.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no csrf field")
	}
	var tok []byte
	if err := securecookie.DecodeMulti(csrfCookie, c.Value, &tok, securecookie.CodecsFromPairs(testHashKey)...); err != nil {
		t.Fatalf("CSRF cookie does not decode: %v", err)
	}
	if len(tok) != 32 || !checkCSRFForm(tok, m[1]) {
		t.Errorf("form token %q does not match the cookie's %d-byte token", m[1], len(tok))
	}
}

func TestSignInPageReturnTo(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct{ rd, want string }{
		{"", "/"},
		{"/a/b#frag", "/a/b#frag"},
		{"//evil.com", "/"},
		{"https://evil.com/", "/"},
		{`/"><script>alert(1)</script>`, "/&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"},
	} {
		res := f.do(httptest.NewRequest(http.MethodGet, SignInPath+"?rd="+url.QueryEscape(tc.rd), nil))
		body := readBody(t, res)
		if want := `name="rd" value="` + tc.want + `"`; !strings.Contains(body, want) {
			t.Errorf("rd %q: page lacks %s", tc.rd, want)
		}
	}
}

func TestSignInPageCookieReuse(t *testing.T) {
	f := newFixture(t, nil)
	c, tok := f.form(t, "/")

	r := httptest.NewRequest(http.MethodGet, SignInPath, nil)
	r.AddCookie(&http.Cookie{Name: "gatehouse_csrf", Value: "planted-by-a-sibling"})
	r.AddCookie(c)
	res := f.do(r)
	body := readBody(t, res)
	if got := res.Header.Values("Set-Cookie"); len(got) != 0 {
		t.Errorf("a valid cookie was replaced: %q", got)
	}
	if m := csrfInput.FindStringSubmatch(body); m == nil || m[1] != tok {
		t.Errorf("second form's token differs from the first's %q", tok)
	}

	// A cookie that does not verify is replaced by a fresh one.
	r = httptest.NewRequest(http.MethodGet, SignInPath, nil)
	r.AddCookie(&http.Cookie{Name: csrfCookie, Value: c.Value + "x"})
	res = f.do(r)
	if nc := cookieNamed(res, csrfCookie); nc == nil || nc.Value == c.Value {
		t.Errorf("a tampered cookie was not replaced: %+v", nc)
	}
}

func TestSignInPageSecureCookie(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secure func(*http.Request) bool
		tls    bool
		want   bool
	}{
		{"default, plain HTTP", nil, false, false},
		{"default, TLS", nil, true, true},
		{"config says secure", func(*http.Request) bool { return true }, false, true},
		{"config says not secure", func(*http.Request) bool { return false }, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(c *Config) { c.Secure = tc.secure })
			r := httptest.NewRequest(http.MethodGet, SignInPath, nil)
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			c := cookieNamed(f.do(r), csrfCookie)
			if c == nil || c.Secure != tc.want {
				t.Errorf("cookie %+v, want Secure=%v", c, tc.want)
			}
		})
	}
}

func TestSignInPageHead(t *testing.T) {
	f := newFixture(t, nil)
	res := f.do(httptest.NewRequest(http.MethodHead, SignInPath, nil))
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("HEAD: status %d, Content-Type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
}

func TestSignInCSRF(t *testing.T) {
	f := newFixture(t, nil)
	cookie, tok := f.form(t, "/")
	_, otherTok := f.form(t, "/")
	foreign, err := securecookie.EncodeMulti(csrfCookie, make([]byte, 32),
		securecookie.CodecsFromPairs([]byte("another key, another deployment"))...)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name    string
		cookie  *http.Cookie
		token   string
		origin  []string
		tls     bool
		wantErr int // 0: the request must go through
	}{
		{name: "same origin", cookie: cookie, token: tok, origin: []string{"http://example.com"}},
		{name: "same origin, default port", cookie: cookie, token: tok, origin: []string{"http://example.com:80"}},
		{name: "no origin header", cookie: cookie, token: tok},
		{name: "no cookie", token: tok, wantErr: 403},
		{name: "tampered cookie", cookie: &http.Cookie{Name: csrfCookie, Value: cookie.Value[:len(cookie.Value)-2]}, token: tok, wantErr: 403},
		{name: "cookie signed by another key", cookie: &http.Cookie{Name: csrfCookie, Value: foreign}, token: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", wantErr: 403},
		{name: "token from another form", cookie: cookie, token: otherTok, wantErr: 403},
		{name: "no token", cookie: cookie, token: "", wantErr: 403},
		{name: "token not base64url", cookie: cookie, token: tok[:10] + "!!", wantErr: 403},
		{name: "cookie value as token", cookie: cookie, token: cookie.Value, wantErr: 403},
		{name: "cross origin", cookie: cookie, token: tok, origin: []string{"https://evil.example"}, wantErr: 403},
		{name: "sibling subdomain", cookie: cookie, token: tok, origin: []string{"http://evil.example.com"}, wantErr: 403},
		{name: "null origin", cookie: cookie, token: tok, origin: []string{"null"}, wantErr: 403},
		{name: "empty origin", cookie: cookie, token: tok, origin: []string{""}, wantErr: 403},
		{name: "https origin on plain http", cookie: cookie, token: tok, origin: []string{"https://example.com"}, wantErr: 403},
		{name: "http origin on TLS", cookie: cookie, token: tok, origin: []string{"http://example.com"}, tls: true, wantErr: 403},
		{name: "two origin headers", cookie: cookie, token: tok, origin: []string{"http://example.com", "http://example.com"}, wantErr: 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.sessions.starts())
			var cookies []*http.Cookie
			if tc.cookie != nil {
				cookies = append(cookies, tc.cookie)
			}
			r := postForm(signInForm(adaEmail, adaPassword, tc.token, "/next"), cookies...)
			for _, o := range tc.origin {
				r.Header.Add("Origin", o)
			}
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			res := f.do(r)
			body := readBody(t, res)
			started := len(f.sessions.starts()) - before
			if tc.wantErr == 0 {
				if to, ok := testenv.ContinueTarget(res.StatusCode, body); !ok || to != "/next" || started != 1 {
					t.Fatalf("status %d, %d sessions started; want the continue page to /next and 1", res.StatusCode, started)
				}
				return
			}
			if res.StatusCode != tc.wantErr || started != 0 {
				t.Fatalf("status %d, %d sessions started; want %d and none", res.StatusCode, started, tc.wantErr)
			}
			checkPageHeaders(t, res.Header)
			if !strings.Contains(body, "<html") || strings.Contains(body, adaPassword) {
				t.Errorf("refusal is not a clean error page:\n%s", body)
			}
		})
	}
}

func TestSignInNoEnumeration(t *testing.T) {
	f := newFixture(t, nil)
	type result struct {
		status int
		header http.Header
		body   string
	}
	try := func(email, password string) result {
		t.Helper()
		cookie, tok := f.form(t, "/app")
		res := f.do(postForm(signInForm(email, password, tok, "/app"), cookie))
		body := readBody(t, res)
		if strings.Contains(body, password) {
			t.Errorf("%s: the password is echoed in the page", email)
		}
		if !strings.Contains(body, `value="`+email+`"`) {
			t.Errorf("%s: the email is not kept in the field", email)
		}
		if !strings.Contains(body, msgInvalidCredentials) || !strings.Contains(body, `aria-invalid="true"`) {
			t.Errorf("%s: the page does not say the credentials were wrong", email)
		}
		// The token and the email differ by construction; all else must not.
		body = strings.ReplaceAll(body, tok, "TOKEN")
		body = strings.ReplaceAll(body, email, "EMAIL")
		h := res.Header.Clone()
		h.Del("Content-Length")
		return result{res.StatusCode, h, body}
	}
	wrong := try(adaEmail, "not the right password at all")
	unknown := try("nobody@example.com", "whatever password one types")
	malformed := try("not an email", "whatever password one types")

	if wrong.status != http.StatusUnauthorized {
		t.Errorf("wrong password: status %d, want 401", wrong.status)
	}
	for name, other := range map[string]result{"unknown email": unknown, "malformed email": malformed} {
		if other.status != wrong.status {
			t.Errorf("%s: status %d, wrong password: %d", name, other.status, wrong.status)
		}
		if other.body != wrong.body {
			t.Errorf("%s: body differs from wrong password's:\n%s\n----\n%s", name, other.body, wrong.body)
		}
		if !equalHeaders(other.header, wrong.header) {
			t.Errorf("%s: headers differ: %v vs %v", name, other.header, wrong.header)
		}
	}
	if n := len(f.sessions.starts()); n != 0 {
		t.Errorf("%d sessions started", n)
	}

	logs := logText(f.logs)
	if strings.Contains(logs, "not the right password") || strings.Contains(logs, "whatever password") {
		t.Errorf("a password was logged:\n%s", logs)
	}
	failures := f.logs.FilterMessage("sign-in failed").All()
	if len(failures) != 3 {
		t.Fatalf("%d failures logged, want 3", len(failures))
	}
	fields := failures[1].ContextMap()
	if fields["reason"] != "invalid_credentials" || fields["email"] != "nobody@example.com" || fields["remote_ip"] != "192.0.2.1" {
		t.Errorf("failure logged with %v", fields)
	}
}

func equalHeaders(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func TestSignInSuccess(t *testing.T) {
	for _, tc := range []struct{ name, email, rd string }{
		{"query return-to", adaEmail, "/app?x=1&y=2"},
		{"fragment return-to", adaEmail, "/a/b#frag"},
		{"email typed loosely", "  Ada@Example.COM ", "/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			cookie, tok := f.form(t, tc.rd)
			r := postForm(signInForm(tc.email, adaPassword, tok, tc.rd), cookie)
			r.Header.Set("Origin", "http://example.com")
			res := f.do(r)
			// A page that continues with a GET, not a 303: Chromium
			// applies form-action 'self' to every redirect after a POST.
			if to := continued(t, res); to != tc.rd {
				t.Errorf("continues to %q, want %q", to, tc.rd)
			}
			if c := cookieNamed(res, "test_session"); c == nil || c.Value != f.ada.ID {
				t.Errorf("the session's cookie did not reach the response: %+v", c)
			}
			starts := f.sessions.starts()
			if len(starts) != 1 || starts[0].userID != f.ada.ID || starts[0].email != adaEmail || !slices.Equal(starts[0].amr, []string{"pwd"}) {
				t.Fatalf("Sessions.Start calls: %+v, want one for %s with [pwd]", starts, f.ada.ID)
			}
			ok := f.logs.FilterMessage("signed in").All()
			if len(ok) != 1 || ok[0].ContextMap()["user_id"] != f.ada.ID || ok[0].ContextMap()["remote_ip"] != "192.0.2.1" {
				t.Errorf("success logged as %+v", ok)
			}
			if logs := logText(f.logs); strings.Contains(logs, adaPassword) || strings.Contains(logs, cookie.Value) {
				t.Errorf("a password or cookie value was logged:\n%s", logs)
			}
		})
	}
}

func TestSignInUnsafeReturnTo(t *testing.T) {
	f := newFixture(t, nil)
	for _, rd := range []string{
		"//evil.com", "https://evil.com", `/\evil.com`, "/%2F%2Fevil.com", "/%5Cevil.com",
		"%2F%2Fevil.com", "///evil.com", "/\t/evil.com", "javascript:alert(1)", "http:evil.com", "",
	} {
		cookie, tok := f.form(t, "/")
		res := f.do(postForm(signInForm(adaEmail, adaPassword, tok, rd), cookie))
		if to := continued(t, res); to != "/" {
			t.Errorf("rd %q: continues to %q; want /", rd, to)
		}
	}
}

func TestSignInRefusedAccounts(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct {
		email, password string
		status          int
		message         string
	}{
		{"disabled@example.com", adaPassword, http.StatusForbidden, "This account is disabled."},
		{"unconfirmed@example.com", adaPassword, http.StatusForbidden, "This account is not confirmed yet."},
		// Without the right password, these accounts look like any other.
		{"disabled@example.com", "a wrong password", http.StatusUnauthorized, msgInvalidCredentials},
		{"unconfirmed@example.com", "a wrong password", http.StatusUnauthorized, msgInvalidCredentials},
	} {
		cookie, tok := f.form(t, "/")
		res := f.do(postForm(signInForm(tc.email, tc.password, tok, "/"), cookie))
		body := readBody(t, res)
		if res.StatusCode != tc.status || !strings.Contains(body, tc.message) {
			t.Errorf("%s with %q: status %d, want %d with %q:\n%s", tc.email, tc.password, res.StatusCode, tc.status, tc.message, body)
		}
	}
	if n := len(f.sessions.starts()); n != 0 {
		t.Errorf("%d sessions started", n)
	}
	if got := f.logs.FilterField(zap.String("reason", "user_disabled")).Len(); got != 1 {
		t.Errorf("%d user_disabled failures logged, want 1", got)
	}
}

func TestSignInBadForms(t *testing.T) {
	f := newFixture(t, nil)
	cookie, tok := f.form(t, "/")
	good := signInForm(adaEmail, adaPassword, tok, "/")
	huge := signInForm(adaEmail, adaPassword, tok, "/")
	huge.Set("padding", strings.Repeat("a", 70<<10))

	for _, tc := range []struct {
		name        string
		contentType string
		body        string
		status      int
	}{
		{"json body", "application/json", `{"email":"ada@example.com"}`, http.StatusUnsupportedMediaType},
		{"multipart body", "multipart/form-data; boundary=x", good.Encode(), http.StatusUnsupportedMediaType},
		{"no content type", "", good.Encode(), http.StatusUnsupportedMediaType},
		{"oversize body", "application/x-www-form-urlencoded", huge.Encode(), http.StatusRequestEntityTooLarge},
		{"broken encoding", "application/x-www-form-urlencoded", "email=%zz", http.StatusBadRequest},
		{"form with charset", "application/x-www-form-urlencoded; charset=utf-8", good.Encode(), http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.sessions.starts())
			r := httptest.NewRequest(http.MethodPost, SignInPath, strings.NewReader(tc.body))
			if tc.contentType != "" {
				r.Header.Set("Content-Type", tc.contentType)
			}
			r.AddCookie(cookie)
			res := f.do(r)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.status)
			}
			if started := len(f.sessions.starts()) - before; (tc.status == http.StatusOK) != (started == 1) {
				t.Errorf("%d sessions started", started)
			}
		})
	}
}

func TestSignInInternalErrors(t *testing.T) {
	t.Run("store fails", func(t *testing.T) {
		f := newFixture(t, nil)
		cookie, tok := f.form(t, "/")
		f.store.mu.Lock()
		f.store.failLookups = errors.New("disk on fire at /var/lib/secret.db")
		f.store.mu.Unlock()
		res := f.do(postForm(signInForm(adaEmail, adaPassword, tok, "/"), cookie))
		body := readBody(t, res)
		if res.StatusCode != http.StatusInternalServerError || strings.Contains(body, "disk on fire") || strings.Contains(body, msgInvalidCredentials) {
			t.Errorf("status %d, want a generic 500:\n%s", res.StatusCode, body)
		}
		if !strings.Contains(logText(f.logs), "disk on fire") {
			t.Error("the store's error was not logged")
		}
	})
	t.Run("session fails", func(t *testing.T) {
		f := newFixture(t, nil)
		f.sessions.startErr = errors.New("no cookie keys")
		cookie, tok := f.form(t, "/")
		res := f.do(postForm(signInForm(adaEmail, adaPassword, tok, "/"), cookie))
		if res.StatusCode != http.StatusInternalServerError || res.Header.Get("Location") != "" {
			t.Errorf("status %d, Location %q; want 500 and no redirect", res.StatusCode, res.Header.Get("Location"))
		}
		if f.logs.FilterMessage("signed in").Len() != 0 || !strings.Contains(logText(f.logs), "no cookie keys") {
			t.Errorf("logs:\n%s", logText(f.logs))
		}
	})
}

func TestLogout(t *testing.T) {
	for _, tc := range []struct {
		name, method, redirect string
		endErr                 error
		status                 int
		location               string
	}{
		{"GET", http.MethodGet, "", nil, http.StatusSeeOther, "/_gatehouse/signin"},
		{"POST", http.MethodPost, "", nil, http.StatusOK, "/_gatehouse/signin"},
		{"configured target", http.MethodGet, "https://www.example.com/bye", nil, http.StatusSeeOther, "https://www.example.com/bye"},
		{"configured target, POST", http.MethodPost, "https://www.example.com/bye", nil, http.StatusOK, "https://www.example.com/bye"},
		{"end fails", http.MethodGet, "", errors.New("store down"), http.StatusInternalServerError, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(c *Config) { c.LogoutRedirect = tc.redirect })
			f.sessions.endErr = tc.endErr
			res := f.do(httptest.NewRequest(tc.method, LogoutPath, nil))
			switch {
			case tc.method == http.MethodPost && tc.status == http.StatusOK:
				// A sign-out form: a page that continues, not a redirect
				// that the form's form-action 'self' would block.
				if to := continued(t, res); to != tc.location {
					t.Fatalf("continues to %q, want %q", to, tc.location)
				}
			case res.StatusCode != tc.status || res.Header.Get("Location") != tc.location:
				t.Fatalf("status %d, Location %q; want %d, %q", res.StatusCode, res.Header.Get("Location"), tc.status, tc.location)
			}
			if f.sessions.ends() != 1 {
				t.Errorf("Sessions.End called %d times, want once", f.sessions.ends())
			}
			if tc.endErr == nil {
				if c := cookieNamed(res, "test_session"); c == nil || c.MaxAge >= 0 {
					t.Errorf("the session cookie was not cleared: %+v", c)
				}
			}
			checkPageHeaders(t, res.Header)
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct{ method, path, allow string }{
		{http.MethodPut, SignInPath, "GET, HEAD, POST"},
		{http.MethodDelete, SignInPath, "GET, HEAD, POST"},
		{http.MethodHead, LogoutPath, "GET, POST"},
		{http.MethodPut, LogoutPath, "GET, POST"},
		{http.MethodPost, staticPath + "gatehouse.css", "GET, HEAD"},
	} {
		res := f.do(httptest.NewRequest(tc.method, tc.path, nil))
		if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: status %d, Allow %q; want 405, %q", tc.method, tc.path, res.StatusCode, res.Header.Get("Allow"), tc.allow)
		}
	}
	if f.sessions.ends() != 0 {
		t.Error("a refused logout still ended the session")
	}
}

// checkPageHeaders asserts the security headers every page carries.
func checkPageHeaders(t *testing.T, h http.Header) {
	t.Helper()
	for k, want := range map[string]string{
		"Content-Security-Policy": "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"X-Frame-Options":         "DENY",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "same-origin",
		"Cache-Control":           "no-store",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
}

// TestOriginBehindTLSProxy: with Secure cookies forced (TLS ends at a proxy
// in front of Caddy), the site's origin is https even though the request
// reached Caddy over plain http.
func TestOriginBehindTLSProxy(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Secure = func(*http.Request) bool { return true } })
	for _, tc := range []struct {
		origin string
		want   int
	}{
		{"https://example.com", http.StatusOK},
		{"http://example.com", http.StatusForbidden},
	} {
		cookie, tok := f.form(t, "/next")
		r := postForm(signInForm(adaEmail, adaPassword, tok, "/next"), cookie)
		r.Header.Set("Origin", tc.origin)
		if res := f.do(r); res.StatusCode != tc.want {
			t.Errorf("Origin %s: status %d, want %d", tc.origin, res.StatusCode, tc.want)
		}
	}
}

func TestSignInPageLoginHint(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct {
		hint, want string
	}{
		{"Ada@Example.com", `value="ada@example.com"`},
		{"not an email", `value=""`},
		{`"><script>x</script>@example.com`, `value=""`},
	} {
		res := f.do(httptest.NewRequest(http.MethodGet, SignInPath+"?login_hint="+url.QueryEscape(tc.hint), nil))
		body := readBody(t, res)
		if !regexp.MustCompile(`id="email"[^>]*` + regexp.QuoteMeta(tc.want)).MatchString(body) {
			t.Errorf("login_hint %q: email field does not hold %s", tc.hint, tc.want)
		}
	}
}
