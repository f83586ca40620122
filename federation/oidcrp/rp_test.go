package oidcrp

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/gatehouse-auth/gatehouse/federation/oidcclient"
	"github.com/gatehouse-auth/gatehouse/middleware"
)

const (
	site       = "https://app.example.com"
	returnPath = "/reports?q=1&x=%2F"
)

// recordingSessions is the gateway's side of a callback: it records the
// identities it was asked to start sessions for.
type recordingSessions struct {
	mu  sync.Mutex
	ids []*middleware.Identity
	err error
}

func (s *recordingSessions) StartIdentity(w http.ResponseWriter, r *http.Request, id *middleware.Identity) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.ids = append(s.ids, id)
	http.SetCookie(w, &http.Cookie{Name: "gatehouse_session", Value: "started", Path: "/"})
	return nil
}

func (s *recordingSessions) started() []*middleware.Identity {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ids)
}

// testKey is the session cookie key the RP seals flows with.
var testKey = securecookie.GenerateRandomKey(middleware.CookieKeyLen)

// testKeys holds testKey.
var testKeys = func() *middleware.CookieKeys {
	k, err := middleware.NewCookieKeys([]middleware.CookieKey{{Material: testKey}})
	if err != nil {
		panic(err)
	}
	return k
}()

// renderError writes the status and the title and message as the body, so
// tests can tell the pages apart.
func renderError(w http.ResponseWriter, r *http.Request, status int, title, message string) {
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(status)
	fmt.Fprintf(w, "%s\n%s", title, message)
}

func newRP(t testing.TB, fi *fakeIssuer, edit func(*Config)) *RP {
	t.Helper()
	cfg := Config{
		Issuer:       fi.issuer(),
		ClientID:     fi.clientID,
		ClientSecret: fi.secret,
		KeyRing:      testKeys,
		Secure:       func(*http.Request) bool { return true },
		SafeReturnTo: func(s string) (string, bool) {
			if strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//") {
				return s, true
			}
			return "/", false
		},
		RenderError: renderError,
	}
	if edit != nil {
		edit(&cfg)
	}
	rp, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return rp
}

// begin starts a sign-in for returnPath and returns the auth URL and the
// flow cookie.
func begin(t testing.TB, rp *RP) (string, *http.Cookie) {
	t.Helper()
	rec := httptest.NewRecorder()
	rp.ServeSignIn(rec, httptest.NewRequest(http.MethodGet, site+SignInPath+"?rd="+url.QueryEscape(returnPath), nil))
	if rec.Code != http.StatusFound {
		t.Fatalf("sign-in: status %d, want 302: %s", rec.Code, rec.Body)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 || !strings.HasPrefix(cookies[0].Name, flowCookiePrefix) {
		t.Fatalf("sign-in set cookies %v, want one flow cookie", rec.Header()["Set-Cookie"])
	}
	return rec.Header().Get("Location"), cookies[0]
}

// callback sends the browser's callback request.
func callback(rp *RP, sessions Sessions, query url.Values, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, site+CallbackPath+"?"+query.Encode(), nil)
	for _, c := range cookies {
		r.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	rp.ServeCallback(rec, r, sessions)
	return rec
}

func TestSignInRedirect(t *testing.T) {
	fi := newFakeIssuer(t)
	rp := newRP(t, fi, nil)
	before := time.Now()
	authURL, ck := begin(t, rp)
	u, _ := url.Parse(authURL)
	q := u.Query()
	if got := q.Get("redirect_uri"); got != site+CallbackPath {
		t.Errorf("redirect_uri %q, want %q", got, site+CallbackPath)
	}
	if got := q.Get("scope"); got != "openid email profile" {
		t.Errorf("scope %q", got)
	}
	if ck.Path != "/_gatehouse/" || !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteLaxMode || ck.MaxAge != 600 {
		t.Errorf("flow cookie attributes: %+v", ck)
	}
	if ck.Name != flowCookieName(q.Get("state")) {
		t.Errorf("flow cookie %q is not named for state %q", ck.Name, q.Get("state"))
	}
	// The sealed flow holds what the auth URL was made of.
	var f flow
	if err := securecookie.DecodeMulti(ck.Name, ck.Value, &f, rp.codecs...); err != nil {
		t.Fatalf("flow cookie does not open: %v", err)
	}
	if f.State != q.Get("state") || f.Nonce != q.Get("nonce") || s256(f.Verifier) != q.Get("code_challenge") ||
		f.ReturnTo != returnPath || f.RedirectURI != site+CallbackPath {
		t.Errorf("flow %+v does not match auth URL %s", f, authURL)
	}
	if exp := time.Unix(f.Expires, 0); exp.Before(before.Add(FlowTTL-time.Second)) || exp.After(time.Now().Add(FlowTTL)) {
		t.Errorf("flow expires at %v, want about %v from now", exp, FlowTTL)
	}
	// Two sign-ins are two flows.
	authURL2, ck2 := begin(t, rp)
	u2, _ := url.Parse(authURL2)
	if u2.Query().Get("state") == q.Get("state") || u2.Query().Get("nonce") == q.Get("nonce") || ck2.Name == ck.Name {
		t.Error("two sign-ins share state, nonce or cookie")
	}
	// An unsafe return-to becomes "/".
	rec := httptest.NewRecorder()
	rp.ServeSignIn(rec, httptest.NewRequest(http.MethodGet, site+SignInPath+"?rd=//evil.example", nil))
	if c := rec.Result().Cookies(); len(c) != 1 {
		t.Fatal("no flow cookie")
	} else if err := securecookie.DecodeMulti(c[0].Name, c[0].Value, &f, rp.codecs...); err != nil || f.ReturnTo != "/" {
		t.Errorf("return-to of an unsafe rd: %q, %v", f.ReturnTo, err)
	}
	// Over plain HTTP the redirect URI is http and the cookie not Secure.
	plain := newRP(t, fi, func(c *Config) { c.Secure = nil })
	rec = httptest.NewRecorder()
	plain.ServeSignIn(rec, httptest.NewRequest(http.MethodGet, "http://app.example.com"+SignInPath, nil))
	loc, _ := url.Parse(rec.Header().Get("Location"))
	if got := loc.Query().Get("redirect_uri"); got != "http://app.example.com"+CallbackPath || rec.Result().Cookies()[0].Secure {
		t.Errorf("plain HTTP: redirect_uri %q, cookie %+v", got, rec.Result().Cookies()[0])
	}
}

func TestCallbackSignsIn(t *testing.T) {
	fi := newFakeIssuer(t)
	rp := newRP(t, fi, nil)
	authURL, ck := begin(t, rp)
	code, state := fi.authorize(t, authURL)
	sessions := &recordingSessions{}
	rec := callback(rp, sessions, url.Values{"code": {code}, "state": {state}, "iss": {fi.issuer()}}, ck)
	if rec.Code != http.StatusFound || rec.Header().Get("Location") != returnPath {
		t.Fatalf("callback: %d to %q, want 302 to %q: %s", rec.Code, rec.Header().Get("Location"), returnPath, rec.Body)
	}
	ids := sessions.started()
	if len(ids) != 1 {
		t.Fatalf("%d sessions started, want 1", len(ids))
	}
	id := ids[0]
	if id.Subject != "user-123" || id.Email != "ada@example.com" || !id.EmailVerified || id.Name != "Ada Lovelace" ||
		!slices.Equal(id.Groups, []string{"dev", "ops"}) || !slices.Equal(id.AMR, []string{"pwd", "otp"}) {
		t.Errorf("identity %+v", id)
	}
	if id.AccessToken == "" || id.RefreshToken == "" {
		t.Errorf("tokens not kept: access %q, refresh %q", id.AccessToken, id.RefreshToken)
	}
	if d := time.Since(id.AuthTime); d < 50*time.Second || d > 70*time.Second {
		t.Errorf("auth_time %v, want the ID token's (a minute ago)", id.AuthTime)
	}
	// Access token for an hour: refresh 30 s before it expires.
	if d := time.Until(id.RefreshBy); d < time.Hour-31*time.Second || d > time.Hour-29*time.Second {
		t.Errorf("RefreshBy in %v, want 30 s before the hour", d)
	}
	if !flowCleared(rec, ck.Name) {
		t.Errorf("the flow cookie was not cleared: %v", rec.Header()["Set-Cookie"])
	}
	if fi.count("userinfo") != 0 {
		t.Error("userinfo was read though the ID token had an email")
	}
}

func flowCleared(rec *httptest.ResponseRecorder, name string) bool {
	for _, c := range rec.Result().Cookies() {
		if c.Name == name && c.MaxAge < 0 && c.Path == flowCookiePath {
			return true
		}
	}
	return false
}

func TestCallbackRefused(t *testing.T) {
	tests := []struct {
		name string
		// issuer changes the fake issuer before the exchange.
		issuer func(fi *fakeIssuer)
		// request changes what the browser sends back.
		request func(q url.Values, ck *http.Cookie) (url.Values, []*http.Cookie)
		// later runs the RP's clock this far ahead.
		later      time.Duration
		method     string
		wantStatus int
		wantTitle  string
		wantToken  bool // whether the code reached the token endpoint
		notInBody  string
	}{
		{
			name: "state mismatch (same cookie name, different state)",
			request: func(q url.Values, ck *http.Cookie) (url.Values, []*http.Cookie) {
				s := q.Get("state")
				q.Set("state", s[:flowNameLen]+strings.Repeat("A", len(s)-flowNameLen))
				if q.Get("state") == s {
					q.Set("state", s[:flowNameLen]+strings.Repeat("B", len(s)-flowNameLen))
				}
				return q, []*http.Cookie{ck}
			},
			wantStatus: 400, wantTitle: "Sign-in expired",
		},
		{
			name: "state of another flow",
			request: func(q url.Values, ck *http.Cookie) (url.Values, []*http.Cookie) {
				q.Set("state", "ZZZZZZZZZZZZZZZZZZZZZZZZZZ")
				return q, []*http.Cookie{ck}
			},
			wantStatus: 400, wantTitle: "Sign-in expired",
		},
		{
			name: "no flow cookie",
			request: func(q url.Values, ck *http.Cookie) (url.Values, []*http.Cookie) {
				return q, nil
			},
			wantStatus: 400, wantTitle: "Sign-in expired",
		},
		{
			name: "tampered flow cookie",
			request: func(q url.Values, ck *http.Cookie) (url.Values, []*http.Cookie) {
				bad := *ck
				bad.Value = ck.Value[:len(ck.Value)-4] + "AAAA"
				return q, []*http.Cookie{&bad}
			},
			wantStatus: 400, wantTitle: "Sign-in expired",
		},
		{
			name:       "expired flow cookie",
			later:      FlowTTL + time.Second,
			wantStatus: 400, wantTitle: "Sign-in expired",
		},
		{
			name: "no state",
			request: func(q url.Values, ck *http.Cookie) (url.Values, []*http.Cookie) {
				q.Del("state")
				return q, []*http.Cookie{ck}
			},
			wantStatus: 400, wantTitle: "Sign-in expired",
		},
		{
			name: "no code",
			request: func(q url.Values, ck *http.Cookie) (url.Values, []*http.Cookie) {
				q.Del("code")
				return q, []*http.Cookie{ck}
			},
			wantStatus: 400, wantTitle: "Sign-in expired",
		},
		{
			name: "response from another issuer (RFC 9207 iss)",
			request: func(q url.Values, ck *http.Cookie) (url.Values, []*http.Cookie) {
				q.Set("iss", "https://evil.example")
				return q, []*http.Cookie{ck}
			},
			wantStatus: 400, wantTitle: "Sign-in expired",
		},
		{
			name: "issuer error access_denied",
			request: func(q url.Values, ck *http.Cookie) (url.Values, []*http.Cookie) {
				q.Del("code")
				q.Set("error", "access_denied")
				q.Set("error_description", "End-User aborted interaction")
				return q, []*http.Cookie{ck}
			},
			wantStatus: 403, wantTitle: "Sign-in refused", notInBody: "aborted",
		},
		{
			name: "issuer error login_required",
			request: func(q url.Values, ck *http.Cookie) (url.Values, []*http.Cookie) {
				q.Del("code")
				q.Set("error", "login_required")
				return q, []*http.Cookie{ck}
			},
			wantStatus: 401, wantTitle: "Sign-in not completed",
		},
		{
			name: "issuer error temporarily_unavailable",
			request: func(q url.Values, ck *http.Cookie) (url.Values, []*http.Cookie) {
				q.Del("code")
				q.Set("error", "temporarily_unavailable")
				return q, []*http.Cookie{ck}
			},
			wantStatus: 503, wantTitle: "Sign-in unavailable",
		},
		{
			name: "issuer error with markup",
			request: func(q url.Values, ck *http.Cookie) (url.Values, []*http.Cookie) {
				q.Del("code")
				q.Set("error", "<script>alert(1)</script>")
				q.Set("error_description", "Call +1 555 to unlock your account")
				return q, []*http.Cookie{ck}
			},
			wantStatus: 502, wantTitle: "Sign-in failed", notInBody: "script",
		},
		{
			name:       "nonce mismatch",
			issuer:     func(fi *fakeIssuer) { n := "another-nonce"; fi.idNonce = &n },
			wantStatus: 502, wantTitle: "Sign-in failed", wantToken: true,
		},
		{
			name:       "no nonce",
			issuer:     func(fi *fakeIssuer) { n := ""; fi.idNonce = &n },
			wantStatus: 502, wantTitle: "Sign-in failed", wantToken: true,
		},
		{
			name:       "ID token for another client",
			issuer:     func(fi *fakeIssuer) { fi.idAud = "someone-else" },
			wantStatus: 502, wantTitle: "Sign-in failed", wantToken: true,
		},
		{
			name:       "at_hash of another access token",
			issuer:     func(fi *fakeIssuer) { fi.extraID = map[string]any{"at_hash": atHash("other")} },
			wantStatus: 502, wantTitle: "Sign-in failed", wantToken: true,
		},
		{
			name: "PKCE verifier does not match the challenge",
			issuer: func(fi *fakeIssuer) {
				for _, g := range fi.codes {
					g.challenge = s256("not the verifier")
				}
			},
			wantStatus: 502, wantTitle: "Sign-in failed", wantToken: true,
		},
		{
			name:       "userinfo about another user",
			issuer:     func(fi *fakeIssuer) { fi.omitUserClaims = true; fi.userinfoSub = "user-999" },
			wantStatus: 502, wantTitle: "Sign-in failed", wantToken: true,
		},
		{
			name:       "POST",
			method:     http.MethodPost,
			wantStatus: 405, wantTitle: "Method not allowed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fi := newFakeIssuer(t)
			rp := newRP(t, fi, nil)
			authURL, ck := begin(t, rp)
			code, state := fi.authorize(t, authURL)
			if tt.issuer != nil {
				fi.set(tt.issuer)
			}
			q := url.Values{"code": {code}, "state": {state}}
			cookies := []*http.Cookie{ck}
			if tt.request != nil {
				q, cookies = tt.request(q, ck)
			}
			if tt.later != 0 {
				rp.now = func() time.Time { return time.Now().Add(tt.later) }
			}
			sessions := &recordingSessions{}
			var rec *httptest.ResponseRecorder
			if tt.method != "" {
				r := httptest.NewRequest(tt.method, site+CallbackPath+"?"+q.Encode(), nil)
				for _, c := range cookies {
					r.AddCookie(c)
				}
				rec = httptest.NewRecorder()
				rp.ServeCallback(rec, r, sessions)
			} else {
				rec = callback(rp, sessions, q, cookies...)
			}
			if rec.Code != tt.wantStatus || !strings.HasPrefix(rec.Body.String(), tt.wantTitle+"\n") {
				t.Errorf("status %d %q, want %d %q", rec.Code, rec.Body, tt.wantStatus, tt.wantTitle)
			}
			if loc := rec.Header().Get("Location"); loc != "" {
				t.Errorf("a refused callback redirects to %q", loc)
			}
			if n := len(sessions.started()); n != 0 {
				t.Errorf("%d sessions started", n)
			}
			if got := fi.count("token") > 0; got != tt.wantToken {
				t.Errorf("code exchanged: %v, want %v", got, tt.wantToken)
			}
			if tt.notInBody != "" && strings.Contains(rec.Body.String(), tt.notInBody) {
				t.Errorf("the page shows the issuer's text %q: %s", tt.notInBody, rec.Body)
			}
		})
	}
}

func TestCallbackReplayed(t *testing.T) {
	fi := newFakeIssuer(t)
	rp := newRP(t, fi, nil)
	authURL, ck := begin(t, rp)
	code, state := fi.authorize(t, authURL)
	q := url.Values{"code": {code}, "state": {state}}
	sessions := &recordingSessions{}
	if rec := callback(rp, sessions, q, ck); rec.Code != http.StatusFound {
		t.Fatalf("first callback: %d %s", rec.Code, rec.Body)
	}
	// The same callback again, flow cookie and all (captured, or the back
	// button): refused before the issuer is asked.
	for i := range 2 {
		rec := callback(rp, sessions, q, ck)
		if rec.Code != http.StatusBadRequest || rec.Header().Get("Location") != "" {
			t.Errorf("replay %d: %d to %q, want 400", i, rec.Code, rec.Header().Get("Location"))
		}
	}
	if n := len(sessions.started()); n != 1 {
		t.Errorf("%d sessions started, want 1", n)
	}
	if n := fi.count("token"); n != 1 {
		t.Errorf("token endpoint called %d times, want 1", n)
	}

	// A new flow for the same browser works.
	authURL, ck = begin(t, rp)
	code, state = fi.authorize(t, authURL)
	if rec := callback(rp, sessions, url.Values{"code": {code}, "state": {state}}, ck); rec.Code != http.StatusFound {
		t.Errorf("a fresh flow after a replay: %d %s", rec.Code, rec.Body)
	}
}

func TestCallbackClaims(t *testing.T) {
	tests := []struct {
		name   string
		issuer func(fi *fakeIssuer)
		check  func(t *testing.T, id *middleware.Identity)
	}{
		{"email from userinfo when the ID token lacks it", func(fi *fakeIssuer) { fi.omitUserClaims = true },
			func(t *testing.T, id *middleware.Identity) {
				if id.Email != "ada@example.com" || !id.EmailVerified || id.Name != "Ada Lovelace" || !slices.Equal(id.Groups, []string{"dev", "ops"}) {
					t.Errorf("identity %+v", id)
				}
			}},
		{"Cognito's groups and string boolean", func(fi *fakeIssuer) {
			delete(fi.claims, "groups")
			fi.claims["cognito:groups"] = []string{"admins"}
			fi.claims["email_verified"] = "true"
		}, func(t *testing.T, id *middleware.Identity) {
			if !slices.Equal(id.Groups, []string{"admins"}) || !id.EmailVerified {
				t.Errorf("groups %q, email_verified %v", id.Groups, id.EmailVerified)
			}
		}},
		{"one group as a string", func(fi *fakeIssuer) { fi.claims["groups"] = "solo" },
			func(t *testing.T, id *middleware.Identity) {
				if !slices.Equal(id.Groups, []string{"solo"}) {
					t.Errorf("groups %q", id.Groups)
				}
			}},
		{"no refresh token", func(fi *fakeIssuer) { fi.noRefresh = true },
			func(t *testing.T, id *middleware.Identity) {
				if id.RefreshToken != "" || !id.RefreshBy.IsZero() {
					t.Errorf("refresh token %q, RefreshBy %v", id.RefreshToken, id.RefreshBy)
				}
			}},
		{"short-lived access token", func(fi *fakeIssuer) { fi.accessTTL = 8 * time.Second },
			func(t *testing.T, id *middleware.Identity) {
				if d := time.Until(id.RefreshBy); d < 5*time.Second || d > 6*time.Second+100*time.Millisecond {
					t.Errorf("RefreshBy in %v, want 6 s (a quarter before the 8 s expiry)", d)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fi := newFakeIssuer(t)
			fi.set(tt.issuer)
			rp := newRP(t, fi, nil)
			authURL, ck := begin(t, rp)
			code, state := fi.authorize(t, authURL)
			sessions := &recordingSessions{}
			if rec := callback(rp, sessions, url.Values{"code": {code}, "state": {state}}, ck); rec.Code != http.StatusFound {
				t.Fatalf("callback: %d %s", rec.Code, rec.Body)
			}
			tt.check(t, sessions.started()[0])
		})
	}
}

func TestCallbackSessionFailure(t *testing.T) {
	fi := newFakeIssuer(t)
	rp := newRP(t, fi, nil)
	authURL, ck := begin(t, rp)
	code, state := fi.authorize(t, authURL)
	rec := callback(rp, &recordingSessions{err: errors.New("cookie too large")}, url.Values{"code": {code}, "state": {state}}, ck)
	if rec.Code != http.StatusInternalServerError || rec.Header().Get("Location") != "" {
		t.Errorf("a session that cannot start: %d to %q, want 500", rec.Code, rec.Header().Get("Location"))
	}
}

func TestFlowCookiesBounded(t *testing.T) {
	fi := newFakeIssuer(t)
	rp := newRP(t, fi, nil)
	r := httptest.NewRequest(http.MethodGet, site+SignInPath, nil)
	for i := range maxFlows {
		r.AddCookie(&http.Cookie{Name: fmt.Sprintf("%sAAAAAAAAA%d", flowCookiePrefix, i+2), Value: "x"})
	}
	rec := httptest.NewRecorder()
	rp.ServeSignIn(rec, r)
	cleared, set := 0, 0
	for _, c := range rec.Result().Cookies() {
		if c.MaxAge < 0 {
			cleared++
		} else {
			set++
		}
	}
	if cleared != maxFlows || set != 1 {
		t.Errorf("with %d flows held: %d cleared, %d set; want all cleared and one set", maxFlows, cleared, set)
	}
	// Below the bound nothing is cleared.
	r = httptest.NewRequest(http.MethodGet, site+SignInPath, nil)
	r.AddCookie(&http.Cookie{Name: flowCookiePrefix + "AAAAAAAAAA", Value: "x"})
	rec = httptest.NewRecorder()
	rp.ServeSignIn(rec, r)
	if n := len(rec.Result().Cookies()); n != 1 {
		t.Errorf("with one flow held, %d cookies set, want 1", n)
	}
}

func TestDiscoveryIsLazyWithBackoff(t *testing.T) {
	fi := newFakeIssuer(t)
	fi.set(func(fi *fakeIssuer) { fi.down = true })
	rp := newRP(t, fi, nil)
	if n := fi.count("discovery"); n != 0 {
		t.Fatalf("New fetched discovery %d times; it must wait for first need", n)
	}
	now := time.Now()
	rp.now = func() time.Time { return now }
	signIn := func() int {
		rec := httptest.NewRecorder()
		rp.ServeSignIn(rec, httptest.NewRequest(http.MethodGet, site+SignInPath, nil))
		return rec.Code
	}
	if code := signIn(); code != http.StatusServiceUnavailable {
		t.Fatalf("issuer down: status %d, want 503", code)
	}
	fi.set(func(fi *fakeIssuer) { fi.down = false })
	// Within the back-off the issuer is not asked again.
	if code := signIn(); code != http.StatusServiceUnavailable || fi.count("discovery") != 1 {
		t.Errorf("within the back-off: status %d after %d discovery requests, want 503 after 1", code, fi.count("discovery"))
	}
	now = now.Add(oidcclient.DiscoveryMinWait)
	if code := signIn(); code != http.StatusFound {
		t.Errorf("after the back-off: status %d, want 302", code)
	}
	for range 3 {
		signIn()
	}
	if n := fi.count("discovery"); n != 2 {
		t.Errorf("%d discovery requests, want 2: once discovered, it is kept", n)
	}

	// The back-off doubles up to its bound.
	rp2 := newRP(t, fi, nil)
	fi.set(func(fi *fakeIssuer) { fi.down = true })
	now2 := time.Now()
	rp2.now = func() time.Time { return now2 }
	var waits []time.Duration
	for range 9 {
		_ = rp2.discover(t.Context())
		waits = append(waits, rp2.oc.RetryAfter())
		now2 = now2.Add(rp2.oc.RetryAfter())
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60}
	for i := range want {
		if waits[i] != want[i]*time.Second {
			t.Errorf("back-off after %d failures: %v, want %v", i+1, waits[i], want[i]*time.Second)
		}
	}
}

func TestNewValidates(t *testing.T) {
	fi := newFakeIssuer(t)
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{"no issuer", func(c *Config) { c.Issuer = "" }},
		{"plain http off loopback", func(c *Config) { c.Issuer = "http://idp.example.com" }},
		{"issuer with query", func(c *Config) { c.Issuer = "https://idp.example.com/?x=1" }},
		{"not a URL", func(c *Config) { c.Issuer = "idp.example.com" }},
		{"no client id", func(c *Config) { c.ClientID = "" }},
		{"scopes without openid", func(c *Config) { c.Scopes = []string{"email"} }},
		{"no keys", func(c *Config) { c.KeyRing = nil }},
		{"no error page", func(c *Config) { c.RenderError = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Issuer: fi.issuer(), ClientID: "c", KeyRing: testKeys, RenderError: renderError}
			tt.edit(&cfg)
			if rp, err := New(cfg); err == nil {
				t.Errorf("New = %v, want an error", rp)
			}
		})
	}
	for _, issuer := range []string{"https://idp.example.com", "http://localhost:8080", "http://127.0.0.1:9000/realms/x"} {
		if _, err := New(Config{Issuer: issuer, ClientID: "c", KeyRing: testKeys, RenderError: renderError}); err != nil {
			t.Errorf("New(%s): %v", issuer, err)
		}
	}
}

// TestFlowCookieHostPrefix: with the __Host- prefix the flow cookie is so
// named, Secure at Path=/, a callback with it signs in, and one carrying the
// same cookie without the prefix (planted by a sibling subdomain) does not.
func TestFlowCookieHostPrefix(t *testing.T) {
	fi := newFakeIssuer(t)
	rp := newRP(t, fi, func(c *Config) { c.CookiePrefix = "__Host-" })
	start := func() (string, *http.Cookie) {
		rec := httptest.NewRecorder()
		rp.ServeSignIn(rec, httptest.NewRequest(http.MethodGet, site+SignInPath+"?rd="+url.QueryEscape(returnPath), nil))
		cookies := rec.Result().Cookies()
		if rec.Code != http.StatusFound || len(cookies) != 1 {
			t.Fatalf("sign-in: %d, cookies %v", rec.Code, rec.Header()["Set-Cookie"])
		}
		return rec.Header().Get("Location"), cookies[0]
	}
	authURL, ck := start()
	if !strings.HasPrefix(ck.Name, "__Host-"+flowCookiePrefix) || ck.Path != "/" || !ck.Secure || ck.Domain != "" {
		t.Fatalf("flow cookie %+v, want __Host-%s..., Secure, Path=/", ck, flowCookiePrefix)
	}
	code, state := fi.authorize(t, authURL)
	planted := *ck
	planted.Name = strings.TrimPrefix(ck.Name, "__Host-")
	if rec := callback(rp, &recordingSessions{}, url.Values{"code": {code}, "state": {state}, "iss": {fi.issuer()}}, &planted); rec.Code == http.StatusFound && rec.Header().Get("Location") == returnPath {
		t.Error("a callback with the flow cookie unprefixed signed in")
	}
	authURL, ck = start()
	code, state = fi.authorize(t, authURL)
	sessions := &recordingSessions{}
	rec := callback(rp, sessions, url.Values{"code": {code}, "state": {state}, "iss": {fi.issuer()}}, ck)
	if rec.Code != http.StatusFound || rec.Header().Get("Location") != returnPath || len(sessions.started()) != 1 {
		t.Fatalf("callback with the __Host- flow cookie: %d to %q: %s", rec.Code, rec.Header().Get("Location"), rec.Body)
	}
	cleared := false
	for _, c := range rec.Result().Cookies() {
		cleared = cleared || c.Name == ck.Name && c.MaxAge < 0 && c.Path == "/"
	}
	if !cleared {
		t.Errorf("the flow cookie was not cleared: %v", rec.Header()["Set-Cookie"])
	}
}
