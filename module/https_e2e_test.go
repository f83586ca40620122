package module_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/module"
	"github.com/gatehouse-auth/gatehouse/pool"
)

const testSigner = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/gatehouse/50dc6c495c0c9188"

// tlsSite is Caddy serving the same pool on an HTTPS site (tls internal,
// Caddy's own local CA) and a plain-HTTP one.
type tlsSite struct {
	https, http string
	rootPEM     string // the local CA's root certificate file
	roots       *x509.CertPool
	upstream    *testenv.Upstream
	pool        *module.Pool
}

func startTLSSite(t *testing.T, httpsOpts, httpOpts string) *tlsSite {
	t.Helper()
	dir := t.TempDir()
	s := &tlsSite{upstream: testenv.StartUpstream(t)}
	httpsPort, httpPort := testenv.FreePort(t), testenv.FreePort(t)
	s.https = fmt.Sprintf("https://127.0.0.1:%d", httpsPort)
	s.http = fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	text := fmt.Sprintf(`{
	default_bind 127.0.0.1
	skip_install_trust
	auto_https disable_redirects
	storage file_system %s
	gatehouse {
		pool default {
			store sqlite %s
			issuer https://auth.example.test
			revocation_refresh 100ms
			%s
		}
	}
}
%s {
	tls internal
	gatehouse {
		%s
	}
	reverse_proxy %s
}
%s {
	gatehouse {
		%s
	}
	reverse_proxy %s
}
`, filepath.Join(dir, "caddy"), filepath.Join(dir, "gatehouse.db"), testenv.FastHash,
		s.https, httpsOpts, s.upstream.Addr(), s.http, httpOpts, s.upstream.Addr())
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	testenv.StartCaddy(t, text)
	s.rootPEM = filepath.Join(dir, "caddy", "pki", "authorities", "local", "root.crt")
	deadline := time.Now().Add(10 * time.Second)
	for {
		pem, err := os.ReadFile(s.rootPEM)
		if err == nil {
			s.roots = x509.NewCertPool()
			if !s.roots.AppendCertsFromPEM(pem) {
				t.Fatal("Caddy's root certificate does not parse")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Caddy made no local CA: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cfg, err := module.LoadPoolConfig(file, "", "default")
	if err != nil {
		t.Fatal(err)
	}
	if s.pool, err = module.OpenPool(context.Background(), "default", cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.pool.Close() })
	if _, err := s.pool.Pool.CreateUser(context.Background(), pool.NewUser{Email: adaEmail, Password: adaPassword, Name: "Ada Lovelace", EmailVerified: true}); err != nil {
		t.Fatal(err)
	}
	// The certificate is issued on the first handshake; wait for it.
	c := s.client(t)
	for {
		resp, err := c.Get(s.https + "/_gatehouse/static/gatehouse.css")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the HTTPS site does not answer: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s
}

// client is a browser-like client that trusts Caddy's local CA.
func (s *tlsSite) client(t *testing.T) *http.Client {
	t.Helper()
	c := testenv.Browser(t)
	c.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.roots, ServerName: "127.0.0.1"}}
	return c
}

// TestHTTPS: over real TLS, the hosted pages send Strict-Transport-Security
// (not over plain HTTP); with cookie_host_prefix, the session and the
// pages' cookies are __Host- cookies, a sign-in works with them, and a
// cookie without the prefix is not taken for one.
func TestHTTPS(t *testing.T) {
	s := startTLSSite(t, "cookie_host_prefix\npass_access_token\nsigner "+testSigner, "")
	c := s.client(t)

	resp, _ := get(t, c, s.https+"/_gatehouse/signin", nil)
	if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=31536000" {
		t.Errorf("HSTS over https: %q, want max-age=31536000", got)
	}
	csrf := cookieNamed(resp, "__Host-gatehouse_csrf")
	if csrf == nil || !csrf.Secure || csrf.Path != "/" || csrf.Domain != "" {
		t.Fatalf("CSRF cookie over https: %v, want __Host-gatehouse_csrf, Secure, Path=/", resp.Header["Set-Cookie"])
	}
	if r, _ := get(t, testenv.Browser(t), s.http+"/_gatehouse/signin", nil); r.Header.Get("Strict-Transport-Security") != "" || cookieNamed(r, "gatehouse_csrf") == nil {
		t.Errorf("plain http: HSTS %q, cookies %v", r.Header.Get("Strict-Transport-Security"), r.Header["Set-Cookie"])
	}

	resp, _ = signIn(t, c, s.https, "/reports", adaEmail, adaPassword)
	sess := cookieNamed(resp, "__Host-gatehouse_session")
	if sess == nil || !sess.Secure || sess.Path != "/" || sess.Domain != "" {
		t.Fatalf("session cookie: %v, want __Host-gatehouse_session, Secure, Path=/", resp.Header["Set-Cookie"])
	}
	if resp.Header.Get("Strict-Transport-Security") == "" {
		t.Error("the sign-in POST's answer has no HSTS")
	}
	if r, _ := get(t, c, s.https+"/reports", nil); r.StatusCode != http.StatusOK {
		t.Fatalf("signed in over https: status %d", r.StatusCode)
	}
	h := s.upstream.Last().Header
	if h.Get("X-Amzn-Oidc-Data") == "" || strings.Contains(h.Get("Cookie"), "gatehouse_session") {
		t.Errorf("upstream: data %q, cookie %q", h.Get("X-Amzn-Oidc-Data"), h.Get("Cookie"))
	}
	if h.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS sent upstream")
	}

	// A cookie without the prefix (planted by a sibling subdomain or over
	// http) is not read as the session, nor as the CSRF cookie.
	planted := "gatehouse_session=" + sess.Value
	if r, _ := get(t, s.client(t), s.https+"/reports", http.Header{"Cookie": {planted}}); r.StatusCode != http.StatusFound {
		t.Errorf("an unprefixed session cookie: status %d, want 302 to sign in", r.StatusCode)
	}
	c2 := s.client(t)
	tok := signInForm(t, c2, s.https, "/")
	var csrfValue string
	for _, ck := range c2.Jar.Cookies(mustURL(t, s.https)) {
		if ck.Name == "__Host-gatehouse_csrf" {
			csrfValue = ck.Value
		}
	}
	// post answers where the sign-in sends the browser on: the continue
	// page's target, or "" when it did not sign in.
	post := func(cookie string) (int, string) {
		form := url.Values{"csrf": {tok}, "rd": {"/"}, "email": {adaEmail}, "password": {adaPassword}}
		req, err := http.NewRequest(http.MethodPost, s.https+"/_gatehouse/signin", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", s.https)
		req.Header.Set("Cookie", cookie)
		r, body := do(t, s.client(t), req)
		to, _ := testenv.ContinueTarget(r.StatusCode, body)
		return r.StatusCode, to
	}
	if got, to := post("gatehouse_csrf=" + csrfValue); to != "" {
		t.Errorf("a sign-in with the CSRF cookie unprefixed went through: %d, on to %q", got, to)
	}
	if got, to := post("__Host-gatehouse_csrf=" + csrfValue); to != "/" {
		t.Errorf("the same sign-in with the __Host- CSRF cookie: %d, on to %q, want the continue page on to /", got, to)
	}

	// The ALB key URL, both ways it is written, over TLS.
	kid := jwtHeader(t, h.Get("X-Amzn-Oidc-Data"))["kid"].(string)
	for _, u := range []string{s.https + "/_gatehouse/public-keys/" + kid, s.https + "/_gatehouse/public-keys//" + kid} {
		r, body := get(t, c, u, nil)
		if r.StatusCode != http.StatusOK || !strings.HasPrefix(body, "-----BEGIN PUBLIC KEY-----") {
			t.Errorf("%s: %d %.40q", u, r.StatusCode, body)
		}
	}
	if r, _ := get(t, c, s.https+"/_gatehouse/public-keys///"+kid, nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("public-keys///<kid>: %d, want 404", r.StatusCode)
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestHSTSOptions: `hsts max-age ... include_subdomains` and `hsts off`.
func TestHSTSOptions(t *testing.T) {
	for _, tc := range []struct{ opts, want string }{
		{"hsts max-age 180d include_subdomains", "max-age=15552000; includeSubDomains"},
		{"hsts off", ""},
	} {
		t.Run(tc.opts, func(t *testing.T) {
			s := startTLSSite(t, tc.opts, "")
			resp, _ := get(t, s.client(t), s.https+"/_gatehouse/signin", nil)
			if got := resp.Header.Get("Strict-Transport-Security"); got != tc.want {
				t.Errorf("HSTS %q, want %q", got, tc.want)
			}
			if cookieNamed(resp, "gatehouse_csrf") == nil {
				t.Errorf("without cookie_host_prefix the CSRF cookie keeps its name: %v", resp.Header["Set-Cookie"])
			}
		})
	}
}

// TestAlbJwtVerifier verifies the data header with aws-jwt-verify's
// AlbJwtVerifier (npm), given the key URL the README documents and the one
// with a trailing slash, which makes it fetch public-keys//<kid>.
func TestAlbJwtVerifier(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	node, err := exec.LookPath("node")
	var missing []string
	if err != nil {
		missing = append(missing, "node")
	}
	if _, err := os.Stat(filepath.Join(root, "node_modules", "aws-jwt-verify", "package.json")); errors.Is(err, os.ErrNotExist) {
		missing = append(missing, "node_modules/aws-jwt-verify (npm ci at the repository root)")
	}
	if len(missing) > 0 {
		msg := "the AlbJwtVerifier test needs " + strings.Join(missing, ", ")
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; CI=true, so this is a failure, not a skip")
		}
		t.Skip(msg)
	}
	s := startTLSSite(t, "signer "+testSigner+"\nclient_id webapp", "")
	c := s.client(t)
	signIn(t, c, s.https, "/", adaEmail, adaPassword)
	get(t, c, s.https+"/", nil)
	token := s.upstream.Last().Header.Get("X-Amzn-Oidc-Data")
	for _, keyURL := range []string{s.https + "/_gatehouse/public-keys", s.https + "/_gatehouse/public-keys/"} {
		cmd := exec.Command(node, filepath.Join(root, "module", "testdata", "alb-verify", "verify.mjs"),
			keyURL, testSigner, "https://auth.example.test", "webapp", token)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+s.rootPEM)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Errorf("AlbJwtVerifier with key URL %s: %v: %s", keyURL, err, stderr.String())
			continue
		}
		var payload map[string]any
		if err := json.Unmarshal(out, &payload); err != nil || payload["email"] != adaEmail {
			t.Errorf("AlbJwtVerifier with key URL %s: payload %s", keyURL, out)
		}
	}
}

// TestHTTPSConfigErrors: the options' mistakes are errors naming them.
func TestHTTPSConfigErrors(t *testing.T) {
	for _, tc := range []struct{ directive, opts, want string }{
		{"gatehouse", "cookie_host_prefix\ncookie_secure never", "cookie_host_prefix"},
		{"gatehouse", "cookie_host_prefix yes", "cookie_host_prefix: takes no value"},
		{"gatehouse", "hsts", "hsts: want"},
		{"gatehouse", "hsts on", "hsts: want"},
		{"gatehouse", "hsts max-age soon", "hsts max-age \"soon\""},
		{"gatehouse", "hsts max-age 0s", "hsts max-age"},
		{"gatehouse", "hsts max-age 1y preload", "hsts: unknown flag \"preload\""},
		{"gatehouse_idp", "cookie_secure never\ncookie_host_prefix", "cookie_host_prefix"},
		{"gatehouse_idp", "hsts max-age", "hsts: want"},
	} {
		t.Run(tc.directive+" "+tc.opts, func(t *testing.T) {
			text := `{
	gatehouse {
		pool default {
			store sqlite ` + filepath.Join(t.TempDir(), "gh.db") + `
			issuer https://auth.example.test
		}
	}
}
https://127.0.0.1:1 {
	` + tc.directive + ` {
		` + tc.opts + `
	}
}
`
			_, _, err := caddyconfigAdapt(text)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("adapt error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestBrowserHTTPSHostCookies signs in with Chromium over TLS on a site
// with cookie_host_prefix (testdata/browser/https.mjs): the browser keeps
// and sends the __Host- cookies, lands on the private page, and signs out.
func TestBrowserHTTPSHostCookies(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	node := browserPrereqs(t, root)
	s := startTLSSite(t, "cookie_host_prefix", "")
	runBrowserScript(t, node, root, t.TempDir(), "https.mjs", []string{s.https, adaEmail, adaPassword})
}
