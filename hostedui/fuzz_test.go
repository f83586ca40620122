package hostedui

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gorilla/securecookie"
	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/mail"
	"github.com/gatehouse-auth/gatehouse/middleware"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/store/sqlite/sqlitetest"
)

// fuzzSessions signs a request in as the user its "fz_session" cookie
// names, so that the fuzzer reaches the account pages too.
type fuzzSessions struct{ users map[string]*store.User }

func (fuzzSessions) Start(w http.ResponseWriter, _ *http.Request, u *store.User, _ []string) error {
	http.SetCookie(w, &http.Cookie{Name: "fz_session", Value: u.ID, Path: "/"})
	return nil
}

func (fuzzSessions) End(w http.ResponseWriter, _ *http.Request) error {
	http.SetCookie(w, &http.Cookie{Name: "fz_session", Path: "/", MaxAge: -1})
	return nil
}

func (s fuzzSessions) Authenticated(r *http.Request) (*middleware.Session, bool) {
	c, err := r.Cookie("fz_session")
	if err != nil || s.users[c.Value] == nil {
		return nil, false
	}
	u := s.users[c.Value]
	return &middleware.Session{ID: "fz-" + u.ID, UserID: u.ID, Email: u.Email, AMR: []string{"pwd"}}, true
}

// FuzzPages posts whatever a browser, or anything else, can send to every
// hosted page: any method, query and form, with or without a valid CSRF
// pair and a session. Whatever it is, the pages answer without a panic and
// without a 5xx (the store here does not fail), and redirect only to paths
// on this site. The pool is real, on SQLite, with sign-up, mail to an
// outbox and account deletion on. `go test` runs the seeds; to search,
// `go test ./hostedui -run '^$' -fuzz FuzzPages -fuzztime 2m`.
func FuzzPages(f *testing.F) {
	dir := f.TempDir()
	st := sqlitetest.Open(f, filepath.Join(dir, "gatehouse.db"))
	outbox, err := mail.NewOutbox(filepath.Join(dir, "outbox"), mail.Options{From: "pool@example.com"}, nil)
	if err != nil {
		f.Fatal(err)
	}
	tmpl, err := mail.LoadTemplates(nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	p, err := pool.New(f.Context(), st, pool.Config{
		Name: "fuzz", Hash: pool.HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1},
		Accounts: pool.AccountConfig{
			SignUp: pool.SignUpOpen, AllowDelete: true,
			Attributes: []pool.AttributeSpec{{Name: "name"}},
			Mail:       &pool.Messenger{Mailer: outbox, Templates: tmpl},
		},
	})
	if err != nil {
		f.Fatal(err)
	}
	ada, err := p.CreateUser(f.Context(), pool.NewUser{Email: adaEmail, Password: adaPassword, EmailVerified: true})
	if err != nil {
		f.Fatal(err)
	}
	h, err := New(Config{
		Pool: p, Sessions: fuzzSessions{users: map[string]*store.User{ada.ID: ada}},
		Codecs: securecookie.CodecsFromPairs(testHashKey), Logger: zap.NewNop(),
	})
	if err != nil {
		f.Fatal(err)
	}
	// One valid CSRF pair, as a browser holds after any form page.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, SignInPath, nil))
	csrf := cookieNamed(rec.Result(), csrfCookie)
	m := csrfInput.FindStringSubmatch(rec.Body.String())
	if csrf == nil || m == nil {
		f.Fatal("the sign-in page gave no CSRF pair")
	}
	token := m[1]

	paths := []string{
		SignInPath, LogoutPath, SignUpPath, ConfirmPath, ForgotPath, ResetPath, NewPasswordPath,
		AccountPath, AccountConfirmPath, MFAPath, mfaSetupPath, staticPath + "gatehouse.css", PathPrefix + "nowhere",
		webauthnPath + "register/begin", webauthnPath + "register/finish", webauthnPath + "enrol/begin",
		webauthnPath + "enrol/finish", webauthnPath + "login/begin", webauthnPath + "login/finish",
		webauthnPath + "passkey/begin", webauthnPath + "passkey/finish", webauthnPath + "confirm/begin",
		webauthnPath + "confirm/finish",
	}
	methods := []string{http.MethodGet, http.MethodPost, http.MethodHead, http.MethodPut, http.MethodOptions}
	for _, s := range []struct {
		path, method      uint8
		query, body       string
		withCSRF, session bool
	}{
		{0, 1, "rd=%2Fapp", "email=ada%40example.com&password=correct+horse+battery+staple&rd=%2Fapp", true, false},
		{0, 1, "", "email=ada%40example.com&password=wrong&rd=https%3A%2F%2Fevil.test", true, false},
		{0, 0, "rd=%2F%2Fevil.test", "", false, false},
		{2, 1, "", "email=new%40example.com&password=another+long+password+here&name=New", true, false},
		{3, 1, "", "email=new%40example.com&code=123456", true, false},
		{4, 1, "", "email=ada%40example.com", true, false},
		{5, 1, "", "email=ada%40example.com&code=000000&password=a+brand+new+password", true, false},
		{7, 0, "", "", false, true},
		{7, 1, "", "action=password&current_password=correct+horse+battery+staple&password=a+new+long+password", true, true},
		{7, 1, "", "action=email&current_password=x&email=other%40example.com", true, true},
		{7, 1, "", "action=mfa_add&current_password=correct+horse+battery+staple", true, true},
		{7, 1, "", "action=delete&current_password=wrong", true, true},
		{8, 1, "", "code=123456", true, false},
		{9, 0, "", "", false, true},
		{18, 1, "", `{}`, true, false},
		{19, 1, "", `{"rd":"/app"}`, true, false},
		{12, 1, "", `{"name":"key","password":"correct horse battery staple"}`, true, true},
		{20, 1, "", `{}`, true, true},
		{1, 1, "", "", true, true},
	} {
		f.Add(s.path, s.method, s.query, s.body, s.withCSRF, s.session)
	}
	f.Fuzz(func(t *testing.T, path, method uint8, query, body string, withCSRF, session bool) {
		target := paths[int(path)%len(paths)]
		contentType := "application/x-www-form-urlencoded"
		if strings.HasPrefix(body, "{") {
			contentType = "application/json"
		} else if withCSRF {
			// The form's hidden field, as the page wrote it.
			if form, err := url.ParseQuery(body); err == nil {
				form.Set(csrfField, token)
				body = form.Encode()
			}
		}
		// localhost: the one plain-HTTP origin where passkeys are offered.
		r := httptest.NewRequest(methods[int(method)%len(methods)], "http://localhost"+target, strings.NewReader(body))
		r.URL.RawQuery = query
		r.RemoteAddr = "192.0.2.1:1234"
		r.Header.Set("Origin", "http://localhost")
		r.Header.Set("Content-Type", contentType)
		if withCSRF {
			r.AddCookie(&http.Cookie{Name: csrf.Name, Value: csrf.Value})
			r.Header.Set(csrfHeader, token)
		}
		if session {
			r.AddCookie(&http.Cookie{Name: "fz_session", Value: ada.ID})
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code >= 500 {
			t.Fatalf("%s %s?%s %q: status %d: %.300s", r.Method, target, query, body, rec.Code, rec.Body)
		}
		if loc := rec.Header().Get("Location"); loc != "" {
			if !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, "/\\") {
				t.Fatalf("%s %s?%s %q: redirected off the site to %q", r.Method, target, query, body, loc)
			}
		}
	})
}
