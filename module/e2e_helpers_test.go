package module_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/internal/testenv/web"
	"github.com/gatehouse-auth/gatehouse/module"
	"github.com/gatehouse-auth/gatehouse/store/sqlite/sqlitetest"
	"github.com/golang-jwt/jwt/v5"
)

// site is one running Gatehouse deployment for a test: a Caddyfile on disk,
// Caddy serving it, an upstream behind it, and the pool opened as the CLI
// would open it.
type site struct {
	t        *testing.T
	dir      string
	file     string
	upstream *testenv.Upstream
	ports    map[string]int // site name -> port
	pool     *module.Pool
	stop     func()
	text     string
}

// siteBlocks maps a site name to the options of its gatehouse block; each
// site gets its own loopback port and proxies to the shared upstream.
func startSite(t *testing.T, poolOptions string, siteBlocks map[string]string) *site {
	t.Helper()
	return startSiteWithStore(t, "", poolOptions, siteBlocks)
}

// startSiteWithStore is startSite with the pool's store line given, such as
// "store postgres {env.DATABASE_URL}"; "" is a fresh SQLite file in the
// site's directory.
func startSiteWithStore(t *testing.T, storeLine, poolOptions string, siteBlocks map[string]string) *site {
	t.Helper()
	s := &site{t: t, dir: t.TempDir(), upstream: testenv.StartUpstream(t), ports: map[string]int{}}
	if storeLine == "" {
		db := filepath.Join(s.dir, "data", "gatehouse.db")
		sqlitetest.Seed(t, db) // migrated already: the pool's start need not
		storeLine = "store sqlite " + db
	}
	var b strings.Builder
	fmt.Fprintf(&b, `{
	default_bind 127.0.0.1
	gatehouse {
		pool default {
			%s
			issuer https://auth.example.test
			display_name "Example Corp"
			revocation_refresh 100ms
			%s
			%s
		}
	}
}
`, storeLine, testenv.FastHash, poolOptions)
	for name, opts := range siteBlocks {
		port := testenv.FreePort(t)
		s.ports[name] = port
		fmt.Fprintf(&b, `
http://127.0.0.1:%d {
	gatehouse {
		%s
	}
	reverse_proxy %s
}
`, port, opts, s.upstream.Addr())
	}
	s.text = b.String()
	s.file = filepath.Join(s.dir, "Caddyfile")
	if err := os.WriteFile(s.file, []byte(s.text), 0o600); err != nil {
		t.Fatal(err)
	}
	s.start()
	cfg, err := module.LoadPoolConfig(s.file, "", "default")
	if err != nil {
		t.Fatal(err)
	}
	s.pool, err = module.OpenPool(context.Background(), "default", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.pool.Close() })
	return s
}

func (s *site) start() {
	s.stop = testenv.StartCaddy(s.t, s.text)
	for _, port := range s.ports {
		testenv.WaitHTTP(s.t, fmt.Sprintf("http://127.0.0.1:%d/_gatehouse/static/gatehouse.css", port), 0)
	}
}

func (s *site) url(name, path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", s.ports[name], path)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// get fetches a URL with the client, returning status, headers and body;
// header goes as given (tests send non-canonical names on purpose).
func get(t *testing.T, c *http.Client, rawURL string, header http.Header) (*http.Response, string) {
	t.Helper()
	return web.Get(t, c, rawURL, header)
}

func do(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	return web.Do(t, c, req)
}

// signInForm loads the sign-in page for rd and returns its CSRF token.
func signInForm(t *testing.T, c *http.Client, base, rd string) string {
	t.Helper()
	resp, body := get(t, c, base+"/_gatehouse/signin?rd="+url.QueryEscape(rd), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in page: status %d: %s", resp.StatusCode, body)
	}
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("sign-in page has no csrf field: %s", body)
	}
	return m[1]
}

// postSignIn submits the sign-in form as a browser would.
func postSignIn(t *testing.T, c *http.Client, base, csrf, rd, email, password string) (*http.Response, string) {
	t.Helper()
	form := url.Values{"csrf": {csrf}, "rd": {rd}, "email": {email}, "password": {password}}
	req, err := http.NewRequest(http.MethodPost, base+"/_gatehouse/signin", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	return do(t, c, req)
}

// signIn goes through the whole form and fails the test unless it succeeds:
// it returns the answer, the continue page, and where that continues to.
func signIn(t *testing.T, c *http.Client, base, rd, email, password string) (*http.Response, string) {
	t.Helper()
	csrf := signInForm(t, c, base, rd)
	resp, body := postSignIn(t, c, base, csrf, rd, email, password)
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

// verifyALBData checks an X-Amzn-Oidc-Data value the way upstream code
// written for an AWS ALB does: read kid from the JOSE header, fetch the PEM
// public key from the key URL, verify ES256, check the signer.
func verifyALBData(t *testing.T, token, keyURL, wantSigner string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("data header is not a JWT: %q", token)
	}
	raw, err := base64.URLEncoding.DecodeString(parts[0]) // padded, as ALB writes it
	if err != nil {
		t.Fatalf("JOSE header: %v", err)
	}
	if err := json.Unmarshal(raw, &header); err != nil {
		t.Fatal(err)
	}
	kid, _ := header["kid"].(string)
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`).MatchString(kid) {
		t.Fatalf("kid %q is not a UUID", kid)
	}
	pub := fetchPublicKey(t, keyURL+kid)
	parsed, err := jwt.Parse(token, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithExpirationRequired(), jwt.WithPaddingAllowed())
	if err != nil {
		t.Fatalf("verifying data header: %v", err)
	}
	if header["signer"] != wantSigner {
		t.Fatalf("signer %v, want %s", header["signer"], wantSigner)
	}
	return header, parsed.Claims.(jwt.MapClaims)
}

func fetchPublicKey(t *testing.T, keyURL string) *ecdsa.PublicKey {
	t.Helper()
	resp, body := get(t, http.DefaultClient, keyURL, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("public key %s: status %d", keyURL, resp.StatusCode)
	}
	block, _ := pem.Decode([]byte(body))
	if block == nil {
		t.Fatalf("public key is not PEM: %q", body)
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pub, ok := k.(*ecdsa.PublicKey)
	if !ok {
		t.Fatalf("public key is %T, want ECDSA", k)
	}
	return pub
}

// cookieNamed returns the Set-Cookie of that name in resp, or nil.
func cookieNamed(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}
