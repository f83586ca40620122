package module_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/module"
	"github.com/gatehouse-auth/gatehouse/oidc"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

const (
	webappSecret  = "webapp-secret-0123456789abcdef"
	rsSecret      = "rsapp-secret-0123456789abcdef"
	machineSecret = "machine-secret-0123456789abcdef"
	storedSecret  = "stored-secret-0123456789abcdef"

	webappCB  = "https://app.example.test/cb"
	webappBye = "https://app.example.test/bye"
	spaCB     = "https://spa.example.test/cb"
	rsCB      = "https://rs.example.test/cb"
	storedCB  = "https://stored.example.test/cb"
)

// idpClients are the app clients of the test pool: a confidential web app
// (its secret from the environment), a public single-page app, an app that
// needs RS256, and a machine client.
const idpClients = `
			client webapp {
				redirect_uri ` + webappCB + ` https://app.example.test/other
				post_logout_redirect_uri ` + webappBye + `
				secret {env.GATEHOUSE_TEST_WEBAPP_SECRET}
				scopes openid email profile
			}
			client spa {
				public
				redirect_uri ` + spaCB + `
			}
			client rsapp {
				redirect_uri ` + rsCB + `
				secret ` + rsSecret + `
				signing_alg RS256
				id_token_ttl 10m
			}
			client machine {
				secret ` + machineSecret + `
				grant_types client_credentials
				scopes orders/read orders/write
				access_token_ttl 5m
			}`

// idpSite is a running issuer: Caddy serving `gatehouse_idp` for a pool
// whose issuer is this very site, and the pool opened as the CLI would.
type idpSite struct {
	issuer string
	pool   *module.Pool
	op     *gooidc.Provider
}

func startIDP(t *testing.T, poolOptions string) *idpSite {
	t.Helper()
	t.Setenv("GATEHOUSE_TEST_WEBAPP_SECRET", webappSecret)
	dir := t.TempDir()
	issuer := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	text := fmt.Sprintf(`{
	default_bind 127.0.0.1
	gatehouse {
		pool default {
			store sqlite %s
			issuer %s
			display_name "Example Corp"
			revocation_refresh 100ms
			%s
			%s
		}
	}
}

%s {
	gatehouse_idp {
		pool default
	}
	respond "issuer home"
}
`, filepath.Join(dir, "gatehouse.db"), issuer, testenv.FastHash, poolOptions, issuer)
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	testenv.StartCaddy(t, text)
	testenv.WaitHTTP(t, issuer+"/.well-known/openid-configuration", 5*time.Second)
	cfg, err := module.LoadPoolConfig(file, "", "default")
	if err != nil {
		t.Fatal(err)
	}
	p, err := module.OpenPool(context.Background(), "default", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	op, err := gooidc.NewProvider(context.Background(), issuer)
	if err != nil {
		t.Fatalf("go-oidc discovery: %v", err)
	}
	return &idpSite{issuer: issuer, pool: p, op: op}
}

func (s *idpSite) createUser(t *testing.T, email, name string, groups ...string) *store.User {
	t.Helper()
	ctx := context.Background()
	u, err := s.pool.Pool.CreateUser(ctx, pool.NewUser{Email: email, Password: adaPassword, Name: name, EmailVerified: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		if err := s.pool.Pool.AddToGroup(ctx, u.ID, g); err != nil {
			t.Fatal(err)
		}
	}
	u, err = s.pool.Pool.User(ctx, u.ID)
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

func (s *idpSite) rp(clientID, secret, redirect string, scopes ...string) *relyingParty {
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
func (s *idpSite) navigate(t *testing.T, c *http.Client, rawURL, email string) (*url.URL, int) {
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
		if loc.Scheme+"://"+loc.Host != s.issuer {
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
		if _, to := signIn(t, c, s.issuer, rd, email, adaPassword); to != rd {
			t.Fatalf("sign-in continues to %q, want the authorization request %q", to, rd)
		}
		signIns++
		resp, body = get(t, c, s.issuer+rd, nil)
	}
	t.Fatalf("more than 3 sign-ins for %s", rawURL)
	return nil, 0
}

// codeFrom checks a redirect to the client and returns its code.
func (s *idpSite) codeFrom(t *testing.T, loc *url.URL, redirectURI, state string) string {
	t.Helper()
	q := loc.Query()
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirectURI {
		t.Fatalf("redirected to %s, want %s", loc, redirectURI)
	}
	if q.Get("error") != "" {
		t.Fatalf("authorization error %s: %s", q.Get("error"), q.Get("error_description"))
	}
	if q.Get("state") != state || q.Get("iss") != s.issuer || q.Get("code") == "" {
		t.Fatalf("redirect %s: want state %q, iss %q and a code", loc, state, s.issuer)
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
func (s *idpSite) login(t *testing.T, c *http.Client, rp *relyingParty, email string, opts ...oauth2.AuthCodeOption) (signedIn, int) {
	t.Helper()
	a := rp.start(opts...)
	loc, n := s.navigate(t, c, a.url, email)
	code := s.codeFrom(t, loc, rp.conf.RedirectURL, a.state)
	ctx := context.Background()
	tok, err := rp.conf.Exchange(ctx, code, oauth2.VerifierOption(a.verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return verifyTokens(t, rp, tok, a.nonce), n
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

// jwtClaims decodes a JWT's payload without verifying it (verified
// separately).
func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	var c map[string]any
	if err != nil || json.Unmarshal(raw, &c) != nil {
		t.Fatalf("not a JWT payload: %q", token)
	}
	return c
}

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

// refresh uses a refresh token through x/oauth2, as an app would.
func (rp *relyingParty) refresh(rt string) (*oauth2.Token, error) {
	return rp.conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: rt, Expiry: time.Now().Add(-time.Hour)}).Token()
}

// TestIDPThroughCaddy is the wiring of gatehouse_idp: the provider, the
// hosted sign-in and the issuer site's session behind Caddy, the Caddyfile's
// clients (a secret from the environment, public, RS256 with its own ID
// token lifetime, a machine client with scopes and an access token
// lifetime, a post-logout address) reaching the provider, and every other
// path going on to the next handler; key_rotation reaching the pool (see
// TestKeyPolicy). The protocol itself is specified in
// oidc (protocol_test.go), one behaviour per test.
func TestIDPThroughCaddy(t *testing.T) {
	s := startIDP(t, idpClients+"\n\t\t\tkey_rotation 30d")
	ada := s.createUser(t, adaEmail, "Ada Lovelace", "admins", "staff")
	webapp := s.rp("webapp", webappSecret, webappCB)
	ctx := context.Background()
	c := testenv.Browser(t)
	if got := time.Duration(s.pool.Config.KeyRotation); got != 30*24*time.Hour {
		t.Errorf("key_rotation 30d read as %s", got)
	}

	var doc map[string]any
	if err := s.op.Claims(&doc); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{
		"issuer":                 s.issuer,
		"authorization_endpoint": s.issuer + "/oauth2/authorize",
		"token_endpoint":         s.issuer + "/oauth2/token",
		"userinfo_endpoint":      s.issuer + "/oauth2/userInfo",
		"revocation_endpoint":    s.issuer + "/oauth2/revoke",
		"end_session_endpoint":   s.issuer + "/logout",
		"jwks_uri":               s.issuer + "/.well-known/jwks.json",
	} {
		if doc[k] != v {
			t.Errorf("discovery %s = %v, want %v", k, doc[k], v)
		}
	}
	// Other paths of the issuer site go on to the next handler.
	resp, body := get(t, http.DefaultClient, s.issuer+"/somewhere", nil)
	if resp.StatusCode != http.StatusOK || body != "issuer home" {
		t.Errorf("other path: status %d body %q, want the site's own response", resp.StatusCode, body)
	}

	// webapp: its secret from {env.GATEHOUSE_TEST_WEBAPP_SECRET}.
	first, n := s.login(t, c, webapp, adaEmail)
	if n != 1 {
		t.Fatalf("signed in %d times, want 1", n)
	}
	if first.id.Subject != ada.ID || first.id.Issuer != s.issuer || first.claim["email"] != adaEmail {
		t.Errorf("ID token sub/iss/email = %s/%s/%v", first.id.Subject, first.id.Issuer, first.claim["email"])
	}
	if g, _ := json.Marshal(first.claim["groups"]); string(g) != `["admins","staff"]` {
		t.Errorf("ID token groups = %s", g)
	}
	if _, err := webapp.refresh(first.tok.RefreshToken); err != nil {
		t.Errorf("refresh: %v", err)
	}
	ui, err := s.op.UserInfo(ctx, oauth2.StaticTokenSource(first.tok))
	if err != nil || ui.Subject != ada.ID {
		t.Errorf("userinfo: %v %+v", err, ui)
	}

	// spa: public, so PKCE alone; SSO, so no second sign-in.
	if got, n := s.login(t, c, s.rp("spa", "", spaCB), ""); n != 0 || got.id.Subject != ada.ID {
		t.Errorf("spa: %d sign-ins, sub %s", n, got.id.Subject)
	}

	// rsapp: signing_alg RS256 and id_token_ttl 10m.
	got, _ := s.login(t, c, s.rp("rsapp", rsSecret, rsCB), "")
	if h := jwtHeader(t, got.raw); h["alg"] != "RS256" {
		t.Errorf("rsapp's ID token alg %v, want RS256", h["alg"])
	}
	if exp := time.Until(got.id.Expiry); exp < 9*time.Minute || exp > 11*time.Minute {
		t.Errorf("rsapp's ID token expires in %s, want id_token_ttl 10m", exp)
	}

	// machine: client_credentials, its scopes, access_token_ttl 5m.
	mt := clientCredentials(t, s, "machine", machineSecret, "")
	if mt["expires_in"] != 300.0 || mt["access_token"] == nil {
		t.Errorf("machine token %v, want a 5-minute access token", mt)
	}
	if at, _ := mt["access_token"].(string); at != "" && jwtClaims(t, at)["scope"] != "orders/read orders/write" {
		t.Errorf("machine token scope %v, want the client's scopes", jwtClaims(t, at)["scope"])
	}

	// The Caddyfile's client wins over a stored one with its id.
	if err := s.pool.Store.CreateClient(ctx, &store.Client{
		ID: "machine", SecretHash: oidc.HashClientSecret(storedSecret), GrantTypes: []string{"client_credentials"}, Scopes: []string{"x"},
	}); err != nil {
		t.Fatal(err)
	}
	if body := clientCredentials(t, s, "machine", storedSecret, ""); body["error"] != "invalid_client" {
		t.Errorf("the stored twin's secret: %v, want invalid_client", body)
	}

	// Sign-out to webapp's post_logout_redirect_uri ends the session.
	resp, _ = get(t, c, s.issuer+"/logout?"+url.Values{"client_id": {"webapp"}, "post_logout_redirect_uri": {webappBye}, "state": {"bye"}}.Encode(), nil)
	if loc := resp.Header.Get("Location"); resp.StatusCode/100 != 3 || loc != webappBye+"?state=bye" {
		t.Errorf("logout: status %d to %q, want a redirect to %s?state=bye", resp.StatusCode, loc, webappBye)
	}
	a := webapp.start(oauth2.SetAuthURLParam("prompt", "none"))
	after, _ := s.navigate(t, c, a.url, "")
	errorFrom(t, after, webappCB, a.state, "login_required")
}

// clientCredentials asks for a machine token and returns the JSON answer.
func clientCredentials(t *testing.T, s *idpSite, id, secret, scope string) map[string]any {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	resp, body := tokenCall(t, s.issuer+"/oauth2/token", form, id, secret)
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("token response Cache-Control %q, want no-store", resp.Header.Get("Cache-Control"))
	}
	return body
}

// TestIDPConfigErrors checks that configuration mistakes are caught, with
// a message naming what to fix.
func TestIDPConfigErrors(t *testing.T) {
	pool := func(opts string) string {
		return `{
	gatehouse {
		pool default {
			store sqlite ` + filepath.Join(t.TempDir(), "gh.db") + `
			` + opts + `
		}
	}
}
http://127.0.0.1:1 {
	gatehouse_idp
}
`
	}
	const iss = "issuer https://auth.example.test\n"
	for _, tc := range []struct{ name, caddyfile, want string }{
		{"public client with a secret", pool(iss + "client a {\npublic\nsecret abcdefghijklmnopq\nredirect_uri https://a.test/cb\n}"), "public client has no secret"},
		{"confidential client without a secret", pool(iss + "client a {\nredirect_uri https://a.test/cb\n}"), "secret: required"},
		{"no redirect_uri", pool(iss + "client a {\npublic\n}"), "redirect_uri: at least one"},
		{"redirect_uri with a fragment", pool(iss + "client a {\npublic\nredirect_uri https://a.test/cb#x\n}"), "fragment"},
		{"relative redirect_uri", pool(iss + "client a {\npublic\nredirect_uri /cb\n}"), "absolute"},
		{"unknown option", pool(iss + "client a {\npublic\nredirect_uri https://a.test/cb\ncolour blue\n}"), `unrecognized option "colour"`},
		{"bad signing_alg", pool(iss + "client a {\npublic\nredirect_uri https://a.test/cb\nsigning_alg HS256\n}"), "signing_alg"},
		{"unknown grant", pool(iss + "client a {\npublic\nredirect_uri https://a.test/cb\ngrant_types implicit\n}"), "unknown grant type"},
		{"public machine client", pool(iss + "client a {\npublic\ngrant_types client_credentials\n}"), "confidential"},
		{"token ttl too long", pool(iss + "client a {\npublic\nredirect_uri https://a.test/cb\naccess_token_ttl 48h\n}"), "access_token_ttl"},
		{"client defined twice", pool(iss + "client a {\npublic\nredirect_uri https://a.test/cb\n}\nclient a {\npublic\nredirect_uri https://a.test/cb\n}"), "defined twice"},
		{"clients without an issuer", pool("client a {\npublic\nredirect_uri https://a.test/cb\n}"), "needs an issuer"},
		{"key_rotation too short", pool(iss + "key_rotation 5m"), "key_rotation"},
		{"key_rotation not a duration", pool(iss + "key_rotation soon"), "key_rotation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := caddyconfigAdapt(tc.caddyfile)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("adapt error %v, want one containing %q", err, tc.want)
			}
		})
	}

	t.Run("gatehouse_idp needs the pool's issuer", func(t *testing.T) {
		out := testenv.Adapt(t, pool(""))
		err := caddyValidate(out)
		if err == nil || !strings.Contains(err.Error(), "has no issuer") {
			t.Fatalf("provision error %v, want one saying the pool has no issuer", err)
		}
	})
	t.Run("secret placeholder that is not set", func(t *testing.T) {
		out := testenv.Adapt(t, pool(iss+"client a {\nsecret {env.GATEHOUSE_TEST_UNSET_SECRET}\nredirect_uri https://a.test/cb\n}"))
		err := caddyValidate(out)
		if err == nil || !strings.Contains(err.Error(), "is the variable set") {
			t.Fatalf("provision error %v, want one about the unset secret", err)
		}
	})
}

func caddyconfigAdapt(text string) ([]byte, []caddyconfig.Warning, error) {
	return caddyconfig.GetAdapter("caddyfile").Adapt([]byte(text), map[string]any{"filename": "Caddyfile"})
}

// caddyValidate provisions a config without starting it, as `caddy
// validate` does.
func caddyValidate(cfgJSON []byte) error {
	var cfg caddy.Config
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		return err
	}
	return caddy.Validate(&cfg)
}
