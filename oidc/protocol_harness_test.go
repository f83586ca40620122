package oidc_test

// The harness of the provider's protocol tests (protocol_test.go): a real
// issuer per test, on a fresh SQLite pool in a temporary directory, served
// by an httptest server with the hosted pages' sign-in and the issuer
// site's session, wired as the gatehouse_idp handler wires them. No Caddy:
// Caddy's running config is global to the process, so tests through Caddy
// cannot overlap, and these run in parallel. The wiring through Caddy is
// the module's TestIDPThroughCaddy.

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/hostedui"
	"github.com/gatehouse-auth/gatehouse/internal/testenv/oauthtest"
	"github.com/gatehouse-auth/gatehouse/internal/testenv/web"
	"github.com/gatehouse-auth/gatehouse/middleware"
	"github.com/gatehouse-auth/gatehouse/middleware/albdata"
	"github.com/gatehouse-auth/gatehouse/oidc"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/signing"
	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/store/sqlite/sqlitetest"
)

const (
	adaEmail    = "ada@example.com"
	adaPassword = "correct horse battery staple"

	webappSecret  = "webapp-secret-0123456789abcdef"
	rsSecret      = "rsapp-secret-0123456789abcdef"
	machineSecret = "machine-secret-0123456789abcdef"
	storedSecret  = "stored-secret-0123456789abcdef"

	webappCB  = "https://app.example.test/cb"
	webappBye = "https://app.example.test/bye"
	spaCB     = "https://spa.example.test/cb"
	rsCB      = "https://rs.example.test/cb"
	storedCB  = "https://stored.example.test/cb"
	cognitoCB = "https://cognito.example.test/cb"

	cognitoSecret = "cognito-secret-0123456789abcdef"

	sessionTimeout = 7 * 24 * time.Hour
)

// testClients are the app clients of the test pool: a confidential web
// app, a public single-page app, an app that needs RS256, and a machine
// client (the module's TestIDPThroughCaddy writes the same ones in a
// Caddyfile), and a Cognito app's client that keeps its first refresh token
// (rotation off).
func testClients() []*oidc.Client {
	return []*oidc.Client{
		{ID: "webapp", Secret: webappSecret, RedirectURIs: []string{webappCB, "https://app.example.test/other"},
			PostLogoutRedirectURIs: []string{webappBye}, Scopes: []string{"openid", "email", "profile"}},
		{ID: "spa", Public: true, RedirectURIs: []string{spaCB}},
		{ID: "rsapp", Secret: rsSecret, RedirectURIs: []string{rsCB}, SigningAlg: signing.RS256, IDTokenTTL: 10 * time.Minute},
		{ID: "machine", Secret: machineSecret, GrantTypes: []string{"client_credentials"},
			Scopes: []string{"orders/read", "orders/write"}, AccessTokenTTL: 5 * time.Minute},
		{ID: "cognito", Secret: cognitoSecret, RedirectURIs: []string{cognitoCB}, RefreshTokenRotation: oidc.RotationOff},
	}
}

// issuerOptions are what a test may change of its issuer.
type issuerOptions struct {
	// keyClock is the signing keys' clock (creation, rotation, retirement);
	// default time.Now.
	keyClock func() time.Time
	// keyRotation is the keys' rotation period; default 30 days.
	keyRotation time.Duration
}

// issuer is a running OpenID provider with its pool.
type issuer struct {
	*oauthtest.Issuer // its relying parties' view: RP, Login, Navigate, CodeFrom
	url               string
	pool              *pool.Pool
	store             store.Store
	op                *gooidc.Provider
	// gw is the issuer site's gateway, which starts its sessions.
	gw *middleware.Gateway
	// skew is how far the provider's clock (codes, tokens, grace periods)
	// runs ahead of time.Now; advance moves it.
	skew *atomic.Int64
	// provider is the provider itself, for its Go API (issue_test.go).
	provider *oidc.Provider
}

// advance moves the provider's clock forward by d.
func (s *issuer) advance(d time.Duration) { s.skew.Add(int64(d)) }

// startIssuer builds and serves an issuer; everything is closed when the
// test ends.
func startIssuer(t *testing.T, opts issuerOptions) *issuer {
	t.Helper()
	ctx := context.Background()
	s := sqlitetest.Open(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	pl, err := pool.New(ctx, s, pool.Config{
		Name: "default",
		// Cheap hashing: these tests sign in many times. Production
		// defaults are tested in pool.
		Hash: pool.HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1},
		MFA:  pool.MFAConfig{Issuer: "Example Corp"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if opts.keyRotation == 0 {
		opts.keyRotation = 30 * 24 * time.Hour
	}
	if opts.keyClock == nil {
		opts.keyClock = time.Now
	}
	// Generating a 2048-bit RSA key is most of an issuer's start-up, so
	// every issuer of the process starts with the same one, stored under
	// its own id; the key set's own tests (keys_test.go, rotation_test.go)
	// cover making keys, and a rotation here still makes new ones.
	rsaKey := sharedRSAKey(t)
	rsaKey.ID, rsaKey.CreatedAt = uuid.NewString(), opts.keyClock().UTC()
	if err := s.AddKey(ctx, rsaKey); err != nil {
		t.Fatal(err)
	}
	keys, err := signing.Open(ctx, s, signing.Policy{Algs: []string{signing.RS256}, Rotation: opts.keyRotation, Now: opts.keyClock})
	if err != nil {
		t.Fatal(err)
	}
	material := make([]byte, middleware.CookieKeyLen)
	rand.Read(material)
	ring, err := middleware.NewCookieKeys([]middleware.CookieKey{{Material: material}})
	if err != nil {
		t.Fatal(err)
	}
	codec, err := middleware.NewCodec("gatehouse_idp_session", ring, sessionTimeout)
	if err != nil {
		t.Fatal(err)
	}

	// The server first, for its URL: the issuer is this very site.
	var site http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { site.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	iss := srv.URL
	plain := func(*http.Request) bool { return false } // the test server speaks HTTP

	var ui *hostedui.Handler
	gw, err := middleware.NewGateway(middleware.Config{
		Revocations: pl.DenyList(),
		Revoker:     pl,
		Source:      middleware.PoolSource{Pool: pl, SignInPath: hostedui.SignInPath},
		Codec:       codec,
		Data: &albdata.Signer{
			Keys: keys, ARN: albdata.DefaultARN("default"), Issuer: iss, ClientID: "gatehouse",
		},
		Mode:           middleware.ModeAllow,
		SessionTimeout: sessionTimeout,
		ClaimsRefresh:  time.Minute,
		Secure:         plain,
		Unauthorized: func(w http.ResponseWriter, r *http.Request) {
			ui.RenderError(w, r, http.StatusUnauthorized, "Sign-in required", "You need to sign in to see this page.")
		},
		SafeReturnTo: hostedui.SafeReturnTo,
	})
	if err != nil {
		t.Fatal(err)
	}
	ui, err = hostedui.New(hostedui.Config{
		Pool: pl, DisplayName: "Example Corp", Codecs: codec.Codecs(), Secure: plain, Sessions: gw,
	})
	if err != nil {
		t.Fatal(err)
	}
	marker := make([]byte, 64)
	rand.Read(marker)
	skew := new(atomic.Int64)
	provider, err := oidc.NewProvider(oidc.Config{
		Now:    func() time.Time { return time.Now().Add(time.Duration(skew.Load())) },
		Issuer: iss, Pool: pl, Store: s, Keys: keys, Clients: testClients(),
		Sessions: sessions{gw}, SignInPath: hostedui.SignInPath, SafeReturnTo: hostedui.SafeReturnTo,
		SignUpPath: hostedui.SignUpPath, ForgotPasswordPath: hostedui.ForgotPath,
		ErrorPage: ui.RenderError, Continue: ui.Continue, MarkerKey: marker,
	})
	if err != nil {
		t.Fatal(err)
	}
	site = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if provider.Serve(w, r) {
			return
		}
		if strings.HasPrefix(r.URL.Path, "/_gatehouse/") {
			ui.ServeHTTP(w, r)
			return
		}
		if r.URL.Path == federatedSignInPath {
			federatedSignIn(w, r, pl, gw)
			return
		}
		http.NotFound(w, r)
	})

	op, err := gooidc.NewProvider(ctx, iss)
	if err != nil {
		t.Fatalf("go-oidc discovery: %v", err)
	}
	signIn := func(t *testing.T, c *http.Client, rd, email string) {
		t.Helper()
		if _, to := signIn(t, c, iss, rd, email, adaPassword); to != rd {
			t.Fatalf("sign-in continues to %q, want the authorization request %q", to, rd)
		}
	}
	return &issuer{Issuer: &oauthtest.Issuer{URL: iss, OP: op, SignIn: signIn}, url: iss, pool: pl, store: s, op: op, gw: gw, skew: skew, provider: provider}
}

// sharedRSAKey is the process's one RS256 key, as the key set stores one.
var sharedRSAKey = func() func(t *testing.T) store.Key {
	once := sync.OnceValues(func() ([]byte, error) {
		priv, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		return x509.MarshalPKCS8PrivateKey(priv)
	})
	return func(t *testing.T) store.Key {
		t.Helper()
		der, err := once()
		if err != nil {
			t.Fatal(err)
		}
		return store.Key{Kind: signing.RSAKeyKind, Material: der}
	}
}()

// sessions adapts the issuer site's gateway to what the provider reads,
// as the module's gatehouse_idp does.
type sessions struct{ g *middleware.Gateway }

func (s sessions) Current(r *http.Request) (oidc.SessionInfo, bool) {
	sess, ok := s.g.Authenticated(r)
	if !ok {
		return oidc.SessionInfo{}, false
	}
	return oidc.SessionInfo{ID: sess.ID, UserID: sess.UserID, AuthTime: time.Unix(0, sess.AuthTime), AMR: sess.AMR}, true
}

func (s sessions) End(w http.ResponseWriter, r *http.Request) error { return s.g.End(w, r) }

func (s *issuer) createUser(t *testing.T, email, name string, groups ...string) *store.User {
	t.Helper()
	ctx := context.Background()
	u, err := s.pool.CreateUser(ctx, pool.NewUser{Email: email, Password: adaPassword, Name: name, EmailVerified: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		if err := s.pool.AddToGroup(ctx, u.ID, g); err != nil {
			t.Fatal(err)
		}
	}
	u, err = s.pool.User(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// relyingParty is an app built only from go-oidc and x/oauth2, as an
// operator's app would be.
type relyingParty = oauthtest.RelyingParty

func (s *issuer) webapp() *relyingParty { return s.RP("webapp", webappSecret, webappCB) }

type signedIn = oauthtest.SignedIn

// signedInAda starts an issuer with Ada (in groups admins and staff) and
// signs her in to webapp in a browser of her own.
func signedInAda(t *testing.T) (s *issuer, ada *store.User, c *http.Client, first signedIn) {
	t.Helper()
	s = startIssuer(t, issuerOptions{})
	ada = s.createUser(t, adaEmail, "Ada Lovelace", "admins", "staff")
	c = web.Browser(t)
	first, n := s.Login(t, c, s.webapp(), adaEmail)
	if n != 1 {
		t.Fatalf("signed in %d times, want 1", n)
	}
	return s, ada, c, first
}

// jwtPart decodes one JSON part of a JWT without verifying it (verified
// separately).
func jwtPart(t *testing.T, token string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[i], "="))
	var c map[string]any
	if err != nil || json.Unmarshal(raw, &c) != nil {
		t.Fatalf("not a JWT: %q", token)
	}
	return c
}

func jwtHeader(t *testing.T, token string) map[string]any { t.Helper(); return jwtPart(t, token, 0) }
func jwtClaims(t *testing.T, token string) map[string]any { t.Helper(); return jwtPart(t, token, 1) }

func retrieveErrorCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

func get(t *testing.T, c *http.Client, rawURL string, header http.Header) (*http.Response, string) {
	t.Helper()
	return web.Get(t, c, rawURL, header)
}

func do(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	return web.Do(t, c, req)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn goes through the hosted sign-in form as a browser would and fails
// the test unless it succeeds: it returns the answer and where its
// continue page continues to.
func signIn(t *testing.T, c *http.Client, base, rd, email, password string) (*http.Response, string) {
	t.Helper()
	resp, body := get(t, c, base+"/_gatehouse/signin?rd="+url.QueryEscape(rd), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in page: status %d: %s", resp.StatusCode, body)
	}
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("sign-in page has no csrf field: %s", body)
	}
	form := url.Values{"csrf": {m[1]}, "rd": {rd}, "email": {email}, "password": {password}}
	req, err := http.NewRequest(http.MethodPost, base+"/_gatehouse/signin", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, body = do(t, c, req)
	return resp, web.ContinuePage(t, "sign-in", resp, body)
}

// wantContinue checks that a form's POST ended in the continue page (not a
// redirect, which Chromium would hold to the form's form-action 'self')
// and that it continues to exactly want.
func wantContinue(t *testing.T, what string, resp *http.Response, body, want string) {
	t.Helper()
	if to := web.ContinuePage(t, what, resp, body); to != want {
		t.Fatalf("%s: continues to %q, want %q", what, to, want)
	}
}
