package middleware

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-auth/gatehouse/middleware/albdata"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/signing"
	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/store/sqlite"
	"github.com/gatehouse-auth/gatehouse/store/sqlite/sqlitetest"
)

const (
	gwSessionTimeout = 8 * time.Hour
	gwClaimsRefresh  = 5 * time.Minute
	gwIssuer         = "https://auth.example.com"
	gwClientID       = "gatehouse-test"
	gwPassword       = "correct horse battery staple"
)

// gwFixture is a gateway on a real pool, SQLite store and signing keys.
type gwFixture struct {
	path         string
	store        *sqlite.Store
	pool         *pool.Pool
	keys         *signing.KeySet
	codec        *Codec
	gw           *Gateway
	user         *store.User
	unauthorized atomic.Int32
}

// newGatewayFixture builds a gateway; edit may change the config first.
func newGatewayFixture(t testing.TB, edit func(*Config)) *gwFixture {
	t.Helper()
	f := &gwFixture{path: filepath.Join(t.TempDir(), "gatehouse.db")}
	ctx := context.Background()
	var err error
	f.store = sqlitetest.Open(t, f.path)
	f.pool, err = pool.New(ctx, f.store, pool.Config{Name: "test", Hash: pool.HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1}})
	if err != nil {
		t.Fatalf("pool.New: %v", err)
	}
	if f.keys, err = signing.Open(ctx, f.store, signing.Policy{}); err != nil {
		t.Fatalf("signing.Open: %v", err)
	}
	if f.codec, err = newTestCodec("gatehouse_session", [][]byte{newCookieKey(t)}, gwSessionTimeout); err != nil {
		t.Fatal(err)
	}
	f.user, err = f.pool.CreateUser(ctx, pool.NewUser{Email: "ada@example.com", Password: gwPassword, Name: "Ada Lovelace", EmailVerified: true})
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if err := f.pool.AddToGroup(ctx, f.user.ID, "dev"); err != nil {
		t.Fatal(err)
	}
	if f.user, err = f.pool.User(ctx, f.user.ID); err != nil {
		t.Fatal(err)
	}
	cfg := f.config()
	if edit != nil {
		edit(&cfg)
	}
	if f.gw, err = NewGateway(cfg); err != nil {
		t.Fatalf("NewGateway: %v", err)
	}
	return f
}

func (f *gwFixture) config() Config {
	return Config{
		Revocations:    f.pool.DenyList(),
		Revoker:        f.pool,
		Source:         PoolSource{Pool: f.pool, SignInPath: "/_gatehouse/signin"},
		Codec:          f.codec,
		Data:           &albdata.Signer{Keys: f.keys, ARN: albdata.DefaultARN("test"), Issuer: gwIssuer, ClientID: gwClientID},
		Mode:           ModeDeny,
		SessionTimeout: gwSessionTimeout,
		ClaimsRefresh:  gwClaimsRefresh,
		Secure:         func(r *http.Request) bool { return r.TLS != nil },
		Unauthorized: func(w http.ResponseWriter, r *http.Request) {
			f.unauthorized.Add(1)
			http.Error(w, "sign-in required", http.StatusUnauthorized)
		},
		SafeReturnTo: func(s string) (string, bool) {
			if strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//") {
				return s, true
			}
			return "/", false
		},
	}
}

// start signs the fixture's user in and returns the session cookies.
func (f *gwFixture) start(t testing.TB) []*http.Cookie {
	t.Helper()
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "https://app.example.com/_gatehouse/signin", nil)
	if err := f.gw.Start(rec, r, f.user, []string{"pwd"}); err != nil {
		t.Fatalf("Start: %v", err)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) == 0 {
		t.Fatal("Start set no cookie")
	}
	return cookies
}

// guard runs Guard on a GET of path carrying cookies, and extra headers by
// raw key.
func (f *gwFixture) guard(cookies []*http.Cookie, extra map[string]string) (bool, *http.Request, *httptest.ResponseRecorder) {
	return guardOn(f.gw, cookies, extra)
}

// guardOn is guard on another gateway g, such as a second instance's.
func guardOn(g *Gateway, cookies []*http.Cookie, extra map[string]string) (bool, *http.Request, *httptest.ResponseRecorder) {
	r := httptest.NewRequest(http.MethodGet, "https://app.example.com/reports?q=1", nil)
	r.Header.Set("Accept", "text/html")
	for _, c := range cookies {
		r.AddCookie(c)
	}
	for k, v := range extra {
		r.Header[k] = []string{v}
	}
	rec := httptest.NewRecorder()
	ok := g.Guard(rec, r)
	return ok, r, rec
}

// verifyData checks an X-Amzn-Oidc-Data value with the pool's public key.
func (f *gwFixture) verifyData(t *testing.T, token string) jwt.MapClaims {
	t.Helper()
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(tok *jwt.Token) (any, error) {
		if tok.Header["kid"] != f.keys.Current().ID || tok.Header["signer"] != albdata.DefaultARN("test") || tok.Header["client"] != gwClientID {
			return nil, fmt.Errorf("JOSE header %v", tok.Header)
		}
		return &f.keys.Current().Private.PublicKey, nil
	}, jwt.WithValidMethods([]string{"ES256"}), jwt.WithPaddingAllowed(), jwt.WithIssuer(gwIssuer))
	if err != nil {
		t.Fatalf("X-Amzn-Oidc-Data does not verify: %v", err)
	}
	return claims
}

func TestGatewayStartSetsCookie(t *testing.T) {
	f := newGatewayFixture(t, nil)
	before := time.Now()
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "https://app.example.com/_gatehouse/signin", nil)
	if err := f.gw.Start(rec, r, f.user, []string{"pwd"}); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 || cookies[0].Name != "gatehouse_session" {
		t.Fatalf("cookies %v, want one gatehouse_session", rec.Header()["Set-Cookie"])
	}
	c := cookies[0]
	if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
		t.Errorf("cookie attributes %+v", c)
	}
	if maxAge := time.Duration(c.MaxAge) * time.Second; maxAge < gwSessionTimeout-time.Minute || maxAge > gwSessionTimeout {
		t.Errorf("Max-Age %s, want about %s", maxAge, gwSessionTimeout)
	}
	s, err := f.codec.Decode(c.Value)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if s.UserID != f.user.ID || s.Email != "ada@example.com" || s.Name != "Ada Lovelace" || !s.EmailVerified ||
		!slices.Equal(s.Groups, []string{"dev"}) || !slices.Equal(s.AMR, []string{"pwd"}) || s.ID == "" {
		t.Errorf("session %+v", s)
	}
	if s.IssuedAt < before.UnixNano() || s.IssuedAt > after.UnixNano() || s.AuthTime != s.IssuedAt {
		t.Errorf("IssuedAt %d, AuthTime %d, want both between %d and %d", s.IssuedAt, s.AuthTime, before.UnixNano(), after.UnixNano())
	}
	if got := time.Duration(s.Expires - s.IssuedAt); got != gwSessionTimeout {
		t.Errorf("session lasts %s, want %s", got, gwSessionTimeout)
	}
	if got := time.Duration(s.RefreshAt - s.IssuedAt); got != gwClaimsRefresh {
		t.Errorf("claims refresh after %s, want %s", got, gwClaimsRefresh)
	}
	if s.DataToken != "" {
		t.Error("the cookie carries the signed data header")
	}
	if s.AccessToken != "" {
		t.Error("an access token was minted though PassAccessToken is off")
	}

	// Two sign-ins are two sessions.
	other := f.start(t)
	if s2, _ := f.codec.Decode(other[0].Value); s2.ID == s.ID {
		t.Error("two sessions share an id")
	}

	// Over plain HTTP the cookie is not Secure.
	rec = httptest.NewRecorder()
	if err := f.gw.Start(rec, httptest.NewRequest(http.MethodPost, "http://app.example.com/", nil), f.user, nil); err != nil {
		t.Fatal(err)
	}
	if c := rec.Result().Cookies()[0]; c.Secure {
		t.Error("cookie is Secure on a plain HTTP request")
	}
}

// A gateway that has never seen a session (another instance, or this one
// after a restart) signs its data header when it first opens the cookie, and
// signs it once: the next request reuses the cached value.
func TestGatewaySignsDataForUnseenSession(t *testing.T) {
	f := newGatewayFixture(t, nil)
	cookies := f.start(t)
	other, err := NewGateway(f.config())
	if err != nil {
		t.Fatal(err)
	}
	guard := func() string {
		ok, r, rec := guardOn(other, cookies, nil)
		if !ok {
			t.Fatalf("the other gateway refused the session: %d %s", rec.Code, rec.Body)
		}
		return r.Header.Get(HeaderData)
	}
	first := guard()
	claims := f.verifyData(t, first)
	if claims["sub"] != f.user.ID || claims["email"] != "ada@example.com" || claims["name"] != "Ada Lovelace" ||
		claims["email_verified"] != true {
		t.Errorf("data claims %v", claims)
	}
	if groups, _ := claims["groups"].([]any); len(groups) != 1 || groups[0] != "dev" {
		t.Errorf("data groups %v", claims["groups"])
	}
	s, err := f.codec.Decode(cookies[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil || !exp.Time.Equal(time.Unix(0, s.RefreshAt).Add(dataTokenGrace).Truncate(time.Second)) {
		t.Errorf("data exp %v, want the refresh time plus %s", exp, dataTokenGrace)
	}
	// ECDSA signatures are randomized: the same value again means it came
	// from the cache, not from a second signature.
	if again := guard(); again != first {
		t.Error("the second request signed the data header again")
	}
}

func TestGatewayDataOmitsEmptyName(t *testing.T) {
	f := newGatewayFixture(t, nil)
	ctx := context.Background()
	nameless, err := f.pool.CreateUser(ctx, pool.NewUser{Email: "grace@example.com", Password: gwPassword, EmailVerified: true})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	if err := f.gw.Start(rec, httptest.NewRequest(http.MethodPost, "https://app.example.com/_gatehouse/signin", nil), nameless, []string{"pwd"}); err != nil {
		t.Fatal(err)
	}
	ok, r, rec := f.guard(rec.Result().Cookies(), nil)
	if !ok {
		t.Fatalf("Guard refused a valid session: %d %s", rec.Code, rec.Body)
	}
	claims := f.verifyData(t, r.Header.Get(HeaderData))
	if claims["sub"] != nameless.ID || claims["email"] != "grace@example.com" {
		t.Fatalf("data claims %v", claims)
	}
	if name, present := claims["name"]; present {
		t.Errorf("a user without a name has name claim %q", name)
	}
}

func TestGatewayGuardInjectsIdentity(t *testing.T) {
	f := newGatewayFixture(t, func(c *Config) {
		c.PassAccessToken = true
		c.Headers = append(slices.Clone(DefaultHeaders), HeaderRule{Name: "X-Who", Template: "{name} <{email}>"})
	})
	cookies := f.start(t)
	forged := map[string]string{
		"X-Amzn-Oidc-Identity":    "admin",
		"x-amzn-oidc-data":        "forged.jwt.value",
		"X_AMZN_OIDC_ACCESSTOKEN": "forged",
		"X-Auth-Request-Groups":   "admins",
		"x_auth_request_user":     "admin",
		"X-WHO":                   "Admin <root@example.com>",
	}
	ok, r, rec := f.guard(cookies, forged)
	if !ok {
		t.Fatalf("Guard refused a valid session: %d %s", rec.Code, rec.Body)
	}
	if len(rec.Header()["Set-Cookie"]) != 0 || rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("Guard wrote to the response of an authenticated request: %d %v", rec.Code, rec.Header())
	}
	for key := range forged {
		if _, ok := r.Header[key]; ok && key != http.CanonicalHeaderKey(key) {
			t.Errorf("forged %q still in the request", key)
		}
	}
	want := map[string]string{
		HeaderIdentity:          f.user.ID,
		"X-Auth-Request-User":   f.user.ID,
		"X-Auth-Request-Email":  "ada@example.com",
		"X-Auth-Request-Groups": "dev",
		"X-Who":                 "Ada Lovelace <ada@example.com>",
	}
	for k, v := range want {
		if got := r.Header[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want [%q]", k, got, v)
		}
	}
	data := r.Header[HeaderData]
	if len(data) != 1 {
		t.Fatalf("%s = %q", HeaderData, data)
	}
	claims := f.verifyData(t, data[0])
	if claims["sub"] != f.user.ID || claims["email"] != "ada@example.com" || claims["name"] != "Ada Lovelace" || claims["email_verified"] != true {
		t.Errorf("data claims %v", claims)
	}
	if groups, _ := claims["groups"].([]any); len(groups) != 1 || groups[0] != "dev" {
		t.Errorf("data groups %v", claims["groups"])
	}
	access := r.Header[HeaderAccessToken]
	if len(access) != 1 {
		t.Fatalf("%s = %q", HeaderAccessToken, access)
	}
	at, err := jwt.Parse(access[0], func(tok *jwt.Token) (any, error) {
		return &f.keys.Current().Private.PublicKey, nil
	}, jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer(gwIssuer))
	if err != nil {
		t.Fatalf("access token does not verify: %v", err)
	}
	if mc := at.Claims.(jwt.MapClaims); mc["sub"] != f.user.ID || mc["token_use"] != "access" || mc["client_id"] != gwClientID {
		t.Errorf("access token claims %v", mc)
	}

	// A second request with the same cookie (now from the cache) gets the same.
	ok, r2, _ := f.guard(cookies, forged)
	if !ok || r2.Header.Get(HeaderIdentity) != f.user.ID || r2.Header.Get(HeaderData) != data[0] || r2.Header.Get("X-Who") != want["X-Who"] {
		t.Errorf("cached request: ok %v, headers %v", ok, r2.Header)
	}

	// Authenticated reports the session without touching the response.
	s, ok := f.gw.Authenticated(r2)
	if !ok || s.UserID != f.user.ID {
		t.Errorf("Authenticated = %+v, %v", s, ok)
	}
	if _, ok := f.gw.Authenticated(httptest.NewRequest(http.MethodGet, "/", nil)); ok {
		t.Error("Authenticated without a cookie")
	}
}

func TestGatewayGuardNoSession(t *testing.T) {
	forged := map[string]string{"X-Amzn-Oidc-Identity": "admin", "x_amzn_oidc_data": "forged", "X-Auth-Request-Email": "root@example.com"}
	tests := []struct {
		name         string
		mode         Mode
		method       string
		target       string
		accept       string
		cookie       string // raw Cookie header
		wantOK       bool
		wantStatus   int
		wantLocation string
		wantUnauth   bool
	}{
		{"authenticate, browser", ModeAuthenticate, "GET", "/reports?q=1&x=%2F", "text/html,*/*", "", false, 302, "/_gatehouse/signin?rd=" + url.QueryEscape("/reports?q=1&x=%2F"), false},
		{"authenticate, no Accept", ModeAuthenticate, "GET", "/a", "", "", false, 302, "/_gatehouse/signin?rd=%2Fa", false},
		{"authenticate, HEAD", ModeAuthenticate, "HEAD", "/a", "*/*", "", false, 302, "/_gatehouse/signin?rd=%2Fa", false},
		// Once a path the return-to check refused; now no path that
		// could be read two ways gets that far (paths.go).
		{"authenticate, protocol-relative path", ModeAuthenticate, "GET", "//evil.example/x", "text/html", "", false, 400, "", false},
		{"authenticate, garbage cookie", ModeAuthenticate, "GET", "/a", "text/html", "gatehouse_session=garbage", false, 302, "/_gatehouse/signin?rd=%2Fa", false},
		{"authenticate, POST", ModeAuthenticate, "POST", "/a", "text/html", "", false, 401, "", true},
		{"authenticate, JSON API", ModeAuthenticate, "GET", "/api", "application/json", "", false, 401, "", true},
		{"authenticate, problem+json API", ModeAuthenticate, "GET", "/api", "application/problem+json", "", false, 401, "", true},
		{"deny", ModeDeny, "GET", "/a", "text/html", "", false, 401, "", true},
		{"deny, garbage cookie", ModeDeny, "GET", "/a", "text/html", "gatehouse_session=garbage", false, 401, "", true},
		{"allow", ModeAllow, "GET", "/a", "text/html", "", true, 200, "", false},
		{"allow, garbage cookie", ModeAllow, "POST", "/a", "application/json", "gatehouse_session=garbage", true, 200, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGatewayFixture(t, func(c *Config) { c.Mode = tt.mode })
			r := httptest.NewRequest(tt.method, "https://app.example.com"+tt.target, nil)
			if tt.accept != "" {
				r.Header.Set("Accept", tt.accept)
			}
			if tt.cookie != "" {
				r.Header.Set("Cookie", tt.cookie)
			}
			for k, v := range forged {
				r.Header[k] = []string{v}
			}
			rec := httptest.NewRecorder()
			ok := f.gw.Guard(rec, r)
			if ok != tt.wantOK || rec.Code != tt.wantStatus {
				t.Errorf("Guard = %v, status %d; want %v, %d", ok, rec.Code, tt.wantOK, tt.wantStatus)
			}
			if got := rec.Header().Get("Location"); got != tt.wantLocation {
				t.Errorf("Location %q, want %q", got, tt.wantLocation)
			}
			if got := f.unauthorized.Load() == 1; got != tt.wantUnauth {
				t.Errorf("Unauthorized called: %v, want %v", got, tt.wantUnauth)
			}
			for k := range forged {
				if _, ok := r.Header[k]; ok {
					t.Errorf("forged %s passed through", k)
				}
			}
			for _, k := range []string{HeaderIdentity, HeaderData, "X-Auth-Request-User"} {
				if _, ok := r.Header[k]; ok {
					t.Errorf("%s set on a request without a session", k)
				}
			}
		})
	}
}

func TestGatewayExpiredSession(t *testing.T) {
	f := newGatewayFixture(t, nil)
	cookies := f.start(t)
	s, err := f.codec.Decode(cookies[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	expires := time.Unix(0, s.Expires)
	// Claims are refreshed as the session nears its end; the store is
	// untouched so a refresh only re-signs.
	tests := []struct {
		name string
		now  time.Time
		ok   bool
	}{
		{"1ns before the end", expires.Add(-time.Nanosecond), true},
		{"at the end", expires, false},
		{"after the end", expires.Add(time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.gw.now = func() time.Time { return tt.now }
			ok, r, _ := f.guard(cookies, nil)
			if ok != tt.ok {
				t.Errorf("Guard = %v, want %v", ok, tt.ok)
			}
			if _, has := r.Header[HeaderIdentity]; has != tt.ok {
				t.Errorf("identity header present: %v, want %v", has, tt.ok)
			}
			if _, ok := f.gw.Authenticated(r); ok != tt.ok {
				t.Errorf("Authenticated = %v, want %v", ok, tt.ok)
			}
		})
	}
}

func TestGatewayEndRevokes(t *testing.T) {
	f := newGatewayFixture(t, nil)
	cookies := f.start(t)
	otherSession := f.start(t)
	if ok, _, _ := f.guard(cookies, nil); !ok {
		t.Fatal("fresh session refused")
	}

	r := httptest.NewRequest(http.MethodPost, "https://app.example.com/_gatehouse/logout", nil)
	for _, c := range cookies {
		r.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	if err := f.gw.End(rec, r); err != nil {
		t.Fatalf("End: %v", err)
	}
	cleared := rec.Result().Cookies()
	if len(cleared) != 1 || cleared[0].Name != "gatehouse_session" || cleared[0].MaxAge >= 0 {
		t.Errorf("End did not clear the cookie: %v", rec.Header()["Set-Cookie"])
	}

	// A copy of the cookie kept elsewhere is refused from now on.
	if ok, rr, _ := f.guard(cookies, nil); ok || rr.Header.Get(HeaderIdentity) != "" {
		t.Error("the ended session's cookie is still accepted")
	}
	if f.unauthorized.Load() != 1 {
		t.Errorf("Unauthorized called %d times, want 1", f.unauthorized.Load())
	}
	// Only that session: the user's other one goes on.
	if ok, _, _ := f.guard(otherSession, nil); !ok {
		t.Error("ending one session ended another")
	}

	// Another gateway instance on the same store refuses it too, after its
	// deny list refresh.
	st2 := sqlitetest.Open(t, f.path)
	p2, err := pool.New(t.Context(), st2, pool.Config{Hash: pool.HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := f.config()
	cfg.Revocations, cfg.Revoker, cfg.Source = p2.DenyList(), p2, PoolSource{Pool: p2, SignInPath: "/_gatehouse/signin"}
	g2, err := NewGateway(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r2 := httptest.NewRequest(http.MethodGet, "https://app.example.com/", nil)
	for _, c := range cookies {
		r2.AddCookie(c)
	}
	if g2.Guard(httptest.NewRecorder(), r2) {
		t.Error("another instance accepts the ended session")
	}

	// End without a session, or with garbage, just clears.
	for _, cookie := range []string{"", "gatehouse_session=garbage"} {
		r := httptest.NewRequest(http.MethodPost, "https://app.example.com/_gatehouse/logout", nil)
		if cookie != "" {
			r.Header.Set("Cookie", cookie)
		}
		rec := httptest.NewRecorder()
		if err := f.gw.End(rec, r); err != nil {
			t.Errorf("End(%q): %v", cookie, err)
		}
		if c := rec.Result().Cookies(); len(c) != 1 || c[0].MaxAge >= 0 {
			t.Errorf("End(%q) did not clear: %v", cookie, rec.Header()["Set-Cookie"])
		}
	}
}

func TestGatewayPoolRevocations(t *testing.T) {
	tests := []struct {
		name   string
		revoke func(ctx context.Context, p *pool.Pool, userID string) error
	}{
		{"disabled", func(ctx context.Context, p *pool.Pool, id string) error { return p.SetEnabled(ctx, id, false) }},
		{"password changed", func(ctx context.Context, p *pool.Pool, id string) error {
			return p.SetPassword(ctx, id, "a brand new passphrase")
		}},
		{"signed out everywhere", func(ctx context.Context, p *pool.Pool, id string) error { return p.RevokeUserSessions(ctx, id) }},
		{"deleted", func(ctx context.Context, p *pool.Pool, id string) error { return p.DeleteUser(ctx, id) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGatewayFixture(t, nil)
			cookies := f.start(t)
			if ok, _, _ := f.guard(cookies, nil); !ok {
				t.Fatal("fresh session refused")
			}
			if err := tt.revoke(t.Context(), f.pool, f.user.ID); err != nil {
				t.Fatal(err)
			}
			if ok, _, _ := f.guard(cookies, nil); ok {
				t.Error("the session survived")
			}
		})
	}
}

func TestGatewayRefreshRereadsClaims(t *testing.T) {
	f := newGatewayFixture(t, nil)
	cookies := f.start(t)
	ctx := t.Context()
	if err := f.pool.AddToGroup(ctx, f.user.ID, "admins"); err != nil {
		t.Fatal(err)
	}

	// Before the refresh time the session's own claims are used.
	ok, r, rec := f.guard(cookies, nil)
	if !ok || r.Header.Get("X-Auth-Request-Groups") != "dev" || len(rec.Header()["Set-Cookie"]) != 0 {
		t.Fatalf("before refresh: ok %v, groups %q, cookies %v", ok, r.Header.Get("X-Auth-Request-Groups"), rec.Header()["Set-Cookie"])
	}

	later := time.Now().Add(gwClaimsRefresh + time.Second)
	f.gw.now = func() time.Time { return later }
	ok, r, rec = f.guard(cookies, nil)
	if !ok {
		t.Fatal("refresh refused a valid session")
	}
	if got := r.Header.Get("X-Auth-Request-Groups"); got != "admins,dev" {
		t.Errorf("groups after refresh %q, want admins,dev", got)
	}
	claims := f.verifyData(t, r.Header.Get(HeaderData))
	if groups, _ := claims["groups"].([]any); len(groups) != 2 {
		t.Errorf("data groups after refresh %v", claims["groups"])
	}
	if exp, _ := claims["exp"].(float64); int64(exp) < later.Add(gwClaimsRefresh).Unix() {
		t.Errorf("refreshed data expires at %v, want after %v", exp, later.Add(gwClaimsRefresh).Unix())
	}
	renewed := rec.Result().Cookies()
	if len(renewed) != 1 || renewed[0].Name != "gatehouse_session" || renewed[0].Value == cookies[0].Value {
		t.Fatalf("refresh did not re-issue the cookie: %v", rec.Header()["Set-Cookie"])
	}
	old, _ := f.codec.Decode(cookies[0].Value)
	s, err := f.codec.Decode(renewed[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if s.ID != old.ID || s.IssuedAt != old.IssuedAt || s.Expires != old.Expires || s.AuthTime != old.AuthTime {
		t.Error("refresh changed the session's identity or lifetime")
	}
	if s.RefreshAt != later.Add(gwClaimsRefresh).UnixNano() || !slices.Equal(s.Groups, []string{"admins", "dev"}) {
		t.Errorf("refreshed session: RefreshAt %d, groups %q", s.RefreshAt, s.Groups)
	}

	// The renewed cookie needs no refresh until its own time.
	ok, r, rec = f.guard(renewed, nil)
	if !ok || len(rec.Header()["Set-Cookie"]) != 0 || r.Header.Get("X-Auth-Request-Groups") != "admins,dev" {
		t.Errorf("renewed cookie: ok %v, cookies %v, groups %q", ok, rec.Header()["Set-Cookie"], r.Header.Get("X-Auth-Request-Groups"))
	}
}

func TestGatewayRefreshDropsVanishedUser(t *testing.T) {
	// Changes made straight in the store by another process, before this
	// gateway's deny list has heard of them: the refresh still catches them.
	tests := []struct {
		name   string
		change func(t *testing.T, f *gwFixture)
	}{
		{"deleted", func(t *testing.T, f *gwFixture) {
			if err := f.store.DeleteUser(t.Context(), f.user.ID); err != nil {
				t.Fatal(err)
			}
		}},
		{"disabled", func(t *testing.T, f *gwFixture) {
			if err := f.store.SetEnabled(t.Context(), f.user.ID, false); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGatewayFixture(t, nil)
			cookies := f.start(t)
			tt.change(t, f)
			if ok, _, _ := f.guard(cookies, nil); !ok {
				t.Fatal("refused before the refresh time; the deny list was not told")
			}
			f.gw.now = func() time.Time { return time.Now().Add(gwClaimsRefresh + time.Second) }
			ok, r, rec := f.guard(cookies, nil)
			if ok || r.Header.Get(HeaderIdentity) != "" {
				t.Error("the refresh kept the session")
			}
			if c := rec.Result().Cookies(); len(c) == 0 || c[0].MaxAge >= 0 {
				t.Errorf("the cookie was not cleared: %v", rec.Header()["Set-Cookie"])
			}
		})
	}
}

func TestGatewayRefreshKeepsSessionWhenStoreFails(t *testing.T) {
	f := newGatewayFixture(t, nil)
	cookies := f.start(t)
	if err := f.store.Close(); err != nil {
		t.Fatal(err)
	}
	f.gw.now = func() time.Time { return time.Now().Add(gwClaimsRefresh + time.Second) }
	ok, r, rec := f.guard(cookies, nil)
	if !ok || r.Header.Get(HeaderIdentity) != f.user.ID {
		t.Error("a store outage during refresh signed the user out")
	}
	if len(rec.Header()["Set-Cookie"]) != 0 {
		t.Errorf("a failed refresh set cookies: %v", rec.Header()["Set-Cookie"])
	}
}

// bigUser puts the fixture's user in 300 groups with long names and gives
// them a long name: a session that does not fit a cookie.
func (f *gwFixture) bigUser(t testing.TB) {
	t.Helper()
	for i := range 300 {
		if err := f.pool.AddToGroup(t.Context(), f.user.ID, fmt.Sprintf("team-with-a-rather-long-name-for-its-group-%03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	name := strings.Repeat("Augusta Ada King, Countess of Lovelace; ", 50)
	if err := f.store.UpdateUser(t.Context(), f.user.ID, store.UserUpdate{Name: &name}); err != nil {
		t.Fatal(err)
	}
	u, err := f.pool.User(t.Context(), f.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	f.user = u
}

// TestGatewayLargeSession: however many groups and however long the
// attributes, the session is one small cookie; the instance that sealed it
// serves it from its cache, another instance reads the claims once.
func TestGatewayLargeSession(t *testing.T) {
	f := newGatewayFixture(t, func(c *Config) { c.PassAccessToken = true })
	f.bigUser(t)
	cookies := f.start(t)
	if len(cookies) != 1 || len(cookies[0].String()) > 1024 {
		t.Fatalf("a session with %d groups got %d cookies, the first %d bytes; want one under 1 KiB", len(f.user.Groups), len(cookies), len(cookies[0].String()))
	}
	wantGroups := strings.Join(f.user.Groups, ",")
	check := func(name string, g *Gateway) {
		t.Helper()
		ok, r, _ := guardOn(g, cookies, nil)
		if !ok || r.Header.Get(HeaderIdentity) != f.user.ID || r.Header.Get("X-Auth-Request-Groups") != wantGroups {
			t.Fatalf("%s: ok %v, groups header of %d bytes, want %d", name, ok, len(r.Header.Get("X-Auth-Request-Groups")), len(wantGroups))
		}
		if c := f.verifyData(t, r.Header.Get(HeaderData)); len(c["groups"].([]any)) != len(f.user.Groups) || c["name"] != f.user.Name {
			t.Errorf("%s: data header has %d groups, name %.20q", name, len(c["groups"].([]any)), c["name"])
		}
		if r.Header.Get(HeaderAccessToken) == "" {
			t.Errorf("%s: no access token", name)
		}
	}
	check("the instance that signed in", f.gw)
	other, err := NewGateway(f.config())
	if err != nil {
		t.Fatal(err)
	}
	other.cfg.PassAccessToken = true
	check("another instance", other)
	check("another instance, cached", other)

	// The claims refresh keeps it small, and so does every later cookie.
	f.gw.now = func() time.Time { return time.Now().Add(gwClaimsRefresh + time.Second) }
	ok, _, rec := f.guard(cookies, nil)
	renewed := rec.Result().Cookies()
	if !ok || len(renewed) != 1 || len(renewed[0].String()) > 1024 {
		t.Errorf("refresh: ok %v, %d cookies", ok, len(renewed))
	}

	// An instance that cannot read the claims refuses the session rather
	// than pass it on without its groups.
	third, err := NewGateway(f.config())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.Close(); err != nil {
		t.Fatal(err)
	}
	if ok, r, _ := guardOn(third, cookies, nil); ok || r.Header.Get(HeaderIdentity) != "" {
		t.Error("a session whose claims could not be read was passed on")
	}
}

// TestGatewayOldShardedSession: a sharded cookie of an earlier version (the
// claims inside) still works, and its next cookie is one small one that
// clears the shards.
func TestGatewayOldShardedSession(t *testing.T) {
	f := newGatewayFixture(t, nil)
	f.bigUser(t)
	now := time.Now()
	s := &Session{ID: "old-session", AuthTime: now.UnixNano(), IssuedAt: now.UnixNano(), Expires: now.Add(gwSessionTimeout).UnixNano()}
	if err := f.gw.build(s, UserIdentity(f.user, []string{"pwd"}), now); err != nil {
		t.Fatal(err)
	}
	raw, err := f.codec.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	if err := f.codec.Write(rec, httptest.NewRequest(http.MethodGet, "https://app.example.com/", nil), raw, time.Unix(0, s.Expires), true); err != nil {
		t.Fatal(err)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) < 3 {
		t.Fatalf("the old cookie is %d shards; the test needs several", len(cookies))
	}
	ok, r, _ := f.guard(cookies, nil)
	if !ok || strings.Count(r.Header.Get("X-Auth-Request-Groups"), ",") != len(f.user.Groups)-1 {
		t.Fatalf("old sharded session: ok %v, groups header of %d bytes", ok, len(r.Header.Get("X-Auth-Request-Groups")))
	}
	// Losing a shard loses the session.
	if ok, _, _ := f.guard(cookies[:len(cookies)-1], nil); ok {
		t.Error("a session missing its last shard was accepted")
	}
	f.gw.now = func() time.Time { return time.Now().Add(gwClaimsRefresh + time.Second) }
	ok, _, rec = f.guard(cookies, nil)
	set := rec.Result().Cookies()
	if !ok || len(set) != len(cookies)+1 || set[0].Name != "gatehouse_session" || len(set[0].String()) > 1024 {
		t.Fatalf("refresh of an old sharded session: ok %v, %d Set-Cookie, the first %s of %d bytes", ok, len(set), set[0].Name, len(set[0].String()))
	}
	for _, c := range set[1:] {
		if c.MaxAge >= 0 {
			t.Errorf("shard %s not cleared", c.Name)
		}
	}
}

// TestGuardAllocationsLargeSession: the large session's cached path is
// the same as any other's.
func TestGuardAllocationsLargeSession(t *testing.T) {
	f := newGatewayFixture(t, nil)
	f.bigUser(t)
	cookies := f.start(t)
	// Another instance, which read the claims from the store.
	g, err := NewGateway(f.config())
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "https://app.example.com/reports", nil)
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	if !g.Guard(w, r) {
		t.Fatal("session refused")
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if !g.Guard(w, r) {
			panic("session refused")
		}
	})
	if allocs > 0 {
		t.Errorf("Guard on a cached large session allocates %.1f times, want 0", allocs)
	}
}

func TestGuardAllocations(t *testing.T) {
	f := newGatewayFixture(t, nil)
	cookies := f.start(t)
	r := httptest.NewRequest(http.MethodGet, "https://app.example.com/reports", nil)
	for _, c := range cookies {
		r.AddCookie(c)
	}
	r.Header.Set("Accept", "text/html")
	r.Header.Set("User-Agent", "Mozilla/5.0")
	w := httptest.NewRecorder()
	if !f.gw.Guard(w, r) {
		t.Fatal("session refused")
	}
	// The same request again and again: the injected headers are stripped
	// and injected anew, so the header map does not grow between runs.
	allocs := testing.AllocsPerRun(1000, func() {
		if !f.gw.Guard(w, r) {
			panic("session refused")
		}
	})
	t.Logf("Guard on a cached authenticated session: %.1f allocations", allocs)
	if allocs > 0 {
		t.Errorf("Guard on a cached session allocates %.1f times, want 0", allocs)
	}
}

func TestNewGatewayValidates(t *testing.T) {
	f := newGatewayFixture(t, nil)
	shortTTL, err := pool.New(t.Context(), f.store, pool.Config{Hash: pool.HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1}, UserRevocationTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{"no revocations", func(c *Config) { c.Revocations = nil }},
		{"no revoker", func(c *Config) { c.Revoker = nil }},
		{"no source", func(c *Config) { c.Source = nil }},
		{"no codec", func(c *Config) { c.Codec = nil }},
		{"no data signer", func(c *Config) { c.Data = nil }},
		{"no unauthorized handler", func(c *Config) { c.Unauthorized = nil }},
		{"no secure func", func(c *Config) { c.Secure = nil }},
		{"no return-to rule", func(c *Config) { c.SafeReturnTo = nil }},
		{"zero session timeout", func(c *Config) { c.SessionTimeout = 0 }},
		{"negative claims refresh", func(c *Config) { c.ClaimsRefresh = -time.Second }},
		{"session outlives revocations", func(c *Config) { c.Revoker = shortTTL }},
		{"bad header template", func(c *Config) { c.Headers = []HeaderRule{{Name: "X-A", Template: "{nope}"}} }},
		{"reserved header", func(c *Config) { c.Headers = []HeaderRule{{Name: HeaderData, Template: "{sub}"}} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := f.config()
			tt.edit(&cfg)
			if g, err := NewGateway(cfg); err == nil {
				t.Errorf("NewGateway = %v, want an error", g)
			}
		})
	}
	// An empty header list means none, not the defaults.
	cfg := f.config()
	cfg.Headers = []HeaderRule{}
	g, err := NewGateway(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.gw = g
	ok, r, _ := f.guard(f.start(t), nil)
	if !ok || r.Header.Get("X-Auth-Request-User") != "" || r.Header.Get(HeaderIdentity) != f.user.ID {
		t.Errorf("with no plain headers: ok %v, headers %v", ok, r.Header)
	}
}

func TestParseMode(t *testing.T) {
	tests := []struct {
		in   string
		want Mode
		err  bool
	}{
		{"", ModeAuthenticate, false},
		{"authenticate", ModeAuthenticate, false},
		{"deny", ModeDeny, false},
		{"allow", ModeAllow, false},
		{"Allow", 0, true},
		{"401", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseMode(tt.in)
		if (err != nil) != tt.err || (!tt.err && got != tt.want) {
			t.Errorf("ParseMode(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestSessionCacheBounded(t *testing.T) {
	now := time.Now().UnixNano()
	live := func() *cacheEntry {
		return &cacheEntry{s: &Session{Expires: now + int64(time.Hour), RefreshAt: now + int64(time.Hour)}}
	}
	c := newSessionCache(16)
	for i := range 16 {
		c.put(fmt.Sprint("k", i), live())
	}
	if c.len() != 16 {
		t.Fatalf("len %d, want 16", c.len())
	}
	c.put("k16", live())
	if n := c.len(); n > 16 || n < 16-16/8 {
		t.Errorf("after overflowing, len %d, want between %d and 16", n, 16-16/8)
	}
	if c.get("k16") == nil {
		t.Error("the entry just put is missing")
	}

	// Expired or refresh-due entries go first.
	c = newSessionCache(4)
	c.put("old1", &cacheEntry{s: &Session{Expires: now - 1, RefreshAt: now - 1}})
	c.put("due", &cacheEntry{s: &Session{Expires: now + int64(time.Hour), RefreshAt: now - 1}})
	c.put("live1", live())
	c.put("live2", live())
	c.put("live3", live())
	if c.get("old1") != nil || c.get("due") != nil {
		t.Error("stale entries were kept while live ones were added")
	}
	for _, k := range []string{"live1", "live2", "live3"} {
		if c.get(k) == nil {
			t.Errorf("live entry %s evicted while stale ones could go", k)
		}
	}

}

func TestGatewayOversizedSession(t *testing.T) {
	f := newGatewayFixture(t, nil)
	for i := range 400 {
		if err := f.pool.AddToGroup(t.Context(), f.user.ID, fmt.Sprintf("a-rather-long-group-name-%04d", i)); err != nil {
			t.Fatal(err)
		}
	}
	u, err := f.pool.User(t.Context(), f.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	err = f.gw.Start(rec, httptest.NewRequest(http.MethodPost, "https://app.example.com/_gatehouse/signin", nil), u, []string{"pwd"})
	if err != nil {
		return // refusing is fine
	}
	cookies := rec.Result().Cookies()
	if ok, _, _ := f.guard(cookies, nil); !ok {
		t.Errorf("Start succeeded with %d cookies (more than %d shards) but the session is refused", len(cookies), maxShards)
	}
}

// The pool and its keys fill the gateway's seams; module wires them so.
var (
	_ RevocationChecker = (*pool.DenyList)(nil)
	_ SessionRevoker    = (*pool.Pool)(nil)
	_ KeySource         = (*signing.KeySet)(nil)
	_ albdata.Keys      = (*signing.KeySet)(nil)
	_ ClaimsReader      = PoolSource{}
	_ UserReader        = (*pool.Pool)(nil)
)
