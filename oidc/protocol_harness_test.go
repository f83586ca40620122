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
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/hostedui"
	"github.com/gatehouse-auth/gatehouse/internal/testenv/web"
	"github.com/gatehouse-auth/gatehouse/middleware"
	"github.com/gatehouse-auth/gatehouse/middleware/albdata"
	"github.com/gatehouse-auth/gatehouse/oidc"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/signing"
	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/store/sqlite"
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

	sessionTimeout = 7 * 24 * time.Hour
)

// testClients are the app clients of the test pool: a confidential web
// app, a public single-page app, an app that needs RS256, and a machine
// client (the module's TestIDPThroughCaddy writes the same ones in a
// Caddyfile).
func testClients() []*oidc.Client {
	return []*oidc.Client{
		{ID: "webapp", Secret: webappSecret, RedirectURIs: []string{webappCB, "https://app.example.test/other"},
			PostLogoutRedirectURIs: []string{webappBye}, Scopes: []string{"openid", "email", "profile"}},
		{ID: "spa", Public: true, RedirectURIs: []string{spaCB}},
		{ID: "rsapp", Secret: rsSecret, RedirectURIs: []string{rsCB}, SigningAlg: signing.RS256, IDTokenTTL: 10 * time.Minute},
		{ID: "machine", Secret: machineSecret, GrantTypes: []string{"client_credentials"},
			Scopes: []string{"orders/read", "orders/write"}, AccessTokenTTL: 5 * time.Minute},
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
	url   string
	pool  *pool.Pool
	store store.Store
	op    *gooidc.Provider
}

// startIssuer builds and serves an issuer; everything is closed when the
// test ends.
func startIssuer(t *testing.T, opts issuerOptions) *issuer {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
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
	provider, err := oidc.NewProvider(oidc.Config{
		Issuer: iss, Pool: pl, Store: s, Keys: keys, Clients: testClients(),
		Sessions: sessions{gw}, SignInPath: hostedui.SignInPath, SafeReturnTo: hostedui.SafeReturnTo,
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
		http.NotFound(w, r)
	})

	op, err := gooidc.NewProvider(ctx, iss)
	if err != nil {
		t.Fatalf("go-oidc discovery: %v", err)
	}
	return &issuer{url: iss, pool: pl, store: s, op: op}
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
type relyingParty struct {
	conf     *oauth2.Config
	verifier *gooidc.IDTokenVerifier
}

func (s *issuer) rp(clientID, secret, redirect string, scopes ...string) *relyingParty {
	if len(scopes) == 0 {
		scopes = []string{gooidc.ScopeOpenID, "email", "profile"}
	}
	return &relyingParty{
		conf: &oauth2.Config{
			ClientID:     clientID,
			ClientSecret: secret,
			Endpoint:     s.op.Endpoint(),
			RedirectURL:  redirect,
			Scopes:       scopes,
		},
		verifier: s.op.Verifier(&gooidc.Config{ClientID: clientID}),
	}
}

func (s *issuer) webapp() *relyingParty { return s.rp("webapp", webappSecret, webappCB) }

// attempt is one authorization request's secrets.
type attempt struct {
	state, nonce, verifier, url string
}

func (rp *relyingParty) start(opts ...oauth2.AuthCodeOption) attempt {
	a := attempt{state: rand.Text(), nonce: rand.Text(), verifier: oauth2.GenerateVerifier()}
	opts = append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(a.verifier), gooidc.Nonce(a.nonce)}, opts...)
	a.url = rp.conf.AuthCodeURL(a.state, opts...)
	return a
}

// navigate GETs rawURL in the browser c and follows the issuer's redirects,
// signing in as email whenever sent to the sign-in page (failing the test
// if email is ""), until a redirect leaves the issuer; it returns that
// redirect and how many sign-ins it took.
func (s *issuer) navigate(t *testing.T, c *http.Client, rawURL, email string) (*url.URL, int) {
	t.Helper()
	resp, body := get(t, c, rawURL, nil)
	signIns := 0
	for range 4 {
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("GET %s: status %d, want 302: %s", rawURL, resp.StatusCode, body)
		}
		loc, err := resp.Location()
		if err != nil {
			t.Fatal(err)
		}
		if loc.Scheme+"://"+loc.Host != s.url {
			return loc, signIns
		}
		if loc.Path != "/_gatehouse/signin" {
			t.Fatalf("redirected to %s, want the sign-in page or the client", loc)
		}
		if email == "" {
			t.Fatalf("sent to sign in (%s), but the test has no one to sign in", loc)
		}
		rd := loc.Query().Get("rd")
		// The sign-in ends in a page that continues (with a GET) to the
		// authorization request, which then redirects to the client.
		if _, to := signIn(t, c, s.url, rd, email, adaPassword); to != rd {
			t.Fatalf("sign-in continues to %q, want the authorization request %q", to, rd)
		}
		signIns++
		resp, body = get(t, c, s.url+rd, nil)
	}
	t.Fatalf("more than 3 sign-ins for %s", rawURL)
	return nil, 0
}

// codeFrom checks a redirect to the client and returns its code.
func (s *issuer) codeFrom(t *testing.T, loc *url.URL, redirectURI, state string) string {
	t.Helper()
	q := loc.Query()
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirectURI {
		t.Fatalf("redirected to %s, want %s", loc, redirectURI)
	}
	if q.Get("error") != "" {
		t.Fatalf("authorization error %s: %s", q.Get("error"), q.Get("error_description"))
	}
	if q.Get("state") != state || q.Get("iss") != s.url || q.Get("code") == "" {
		t.Fatalf("redirect %s: want state %q, iss %q and a code", loc, state, s.url)
	}
	return q.Get("code")
}

// errorFrom checks a redirect to the client that carries an error.
func errorFrom(t *testing.T, loc *url.URL, redirectURI, state, wantErr string) {
	t.Helper()
	q := loc.Query()
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirectURI {
		t.Fatalf("redirected to %s, want %s", loc, redirectURI)
	}
	if q.Get("error") != wantErr || q.Get("state") != state || q.Has("code") {
		t.Fatalf("redirect %s: want error=%s with state %q and no code", loc, wantErr, state)
	}
}

// signedIn is what one complete sign-in gave the relying party.
type signedIn struct {
	tok   *oauth2.Token
	raw   string // the ID token
	id    *gooidc.IDToken
	claim map[string]any
}

// login runs the whole code flow for rp in browser c and verifies the ID
// token as the relying party would; it returns how many sign-ins it took.
func (s *issuer) login(t *testing.T, c *http.Client, rp *relyingParty, email string, opts ...oauth2.AuthCodeOption) (signedIn, int) {
	t.Helper()
	a := rp.start(opts...)
	loc, n := s.navigate(t, c, a.url, email)
	code := s.codeFrom(t, loc, rp.conf.RedirectURL, a.state)
	tok, err := rp.conf.Exchange(context.Background(), code, oauth2.VerifierOption(a.verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return verifyTokens(t, rp, tok, a.nonce), n
}

// signedInAda starts an issuer with Ada (in groups admins and staff) and
// signs her in to webapp in a browser of her own.
func signedInAda(t *testing.T) (s *issuer, ada *store.User, c *http.Client, first signedIn) {
	t.Helper()
	s = startIssuer(t, issuerOptions{})
	ada = s.createUser(t, adaEmail, "Ada Lovelace", "admins", "staff")
	c = web.Browser(t)
	first, n := s.login(t, c, s.webapp(), adaEmail)
	if n != 1 {
		t.Fatalf("signed in %d times, want 1", n)
	}
	return s, ada, c, first
}

func verifyTokens(t *testing.T, rp *relyingParty, tok *oauth2.Token, nonce string) signedIn {
	t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatal("token response has no id_token")
	}
	id, err := rp.verifier.Verify(context.Background(), raw)
	if err != nil {
		t.Fatalf("go-oidc refused the ID token: %v", err)
	}
	if id.Nonce != nonce {
		t.Errorf("nonce %q, want %q", id.Nonce, nonce)
	}
	if err := id.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("at_hash: %v", err)
	}
	var claims map[string]any
	if err := id.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	return signedIn{tok: tok, raw: raw, id: id, claim: claims}
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

// tokenCall POSTs a form to an endpoint, with Basic client authentication
// when user is not "", and decodes the JSON answer (nil for an empty body).
func tokenCall(t *testing.T, endpoint string, form url.Values, user, pass string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, body := do(t, http.DefaultClient, req)
	var out map[string]any
	if body != "" {
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatalf("%s: not JSON: %q", endpoint, body)
		}
	}
	return resp, out
}

// clientCredentials asks for a machine token and returns the JSON answer.
func clientCredentials(t *testing.T, s *issuer, id, secret, scope string) map[string]any {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	resp, body := tokenCall(t, s.url+"/oauth2/token", form, id, secret)
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("token response Cache-Control %q, want no-store", resp.Header.Get("Cache-Control"))
	}
	return body
}

func retrieveErrorCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

// refresh uses a refresh token through x/oauth2, as an app would.
func (rp *relyingParty) refresh(rt string) (*oauth2.Token, error) {
	return rp.conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: rt, Expiry: time.Now().Add(-time.Hour)}).Token()
}

func get(t *testing.T, c *http.Client, rawURL string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return do(t, c, req)
}

func do(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
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
	to, ok := web.ContinueTarget(resp.StatusCode, body)
	if !ok || resp.Header.Get("Location") != "" {
		t.Fatalf("sign-in: status %d, Location %q; want the continue page:\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	return resp, to
}

// wantContinue checks that a form's POST ended in the continue page (not a
// redirect, which Chromium would hold to the form's form-action 'self')
// and that it continues to exactly want.
func wantContinue(t *testing.T, what string, resp *http.Response, body, want string) {
	t.Helper()
	to, ok := web.ContinueTarget(resp.StatusCode, body)
	if !ok || resp.Header.Get("Location") != "" {
		t.Fatalf("%s: status %d, Location %q; want the continue page:\n%s", what, resp.StatusCode, resp.Header.Get("Location"), body)
	}
	if to != want {
		t.Fatalf("%s: continues to %q, want %q", what, to, want)
	}
}
