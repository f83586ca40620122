package module_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/pool"
)

// The Cognito browser tests: a Cognito app on another origin (a real
// upstream serving static files on 127.0.0.1) against a pool's issuer site
// on https://localhost (Caddy's `tls internal`: Amplify builds its hosted-UI
// URLs with https:// and the domain). The pages are in
// testdata/browser/cognito-app; Amplify is bundled with esbuild at test
// time.

const (
	cogPoolID   = "us-east-1_GateHouse1"
	cogClientID = "cogapp"
)

// cognitoApp is one running deployment: the issuer with the Cognito API,
// the app's origin, its files and the real SMTP server the pool mails
// through, with codes (a URL the scripts read mailed codes from).
type cognitoApp struct {
	issuer, app string
	web         string
	codes       string
	node, root  string
	dir         string
}

// startCognitoApp starts the deployment; bundleAmplify also builds the
// Amplify app into the app's files.
func startCognitoApp(t *testing.T, bundleAmplify bool) *cognitoApp {
	t.Helper()
	return startCognitoAppWith(t, cognitoAppOptions{amplify: bundleAmplify})
}

// cognitoAppOptions: amplify bundles the Amplify app; passkeys serves the
// app on http://localhost (browsers offer WebAuthn on domain names only),
// makes it the API's webauthn_origin and lets the client sign in by
// USER_AUTH with a passkey as the first factor.
type cognitoAppOptions struct {
	amplify, passkeys bool
}

func startCognitoAppWith(t *testing.T, opts cognitoAppOptions) *cognitoApp {
	t.Helper()
	bundleAmplify := opts.amplify
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	node := browserPrereqs(t, root)
	needModules(t, root, "amazon-cognito-identity-js", "aws-amplify", "esbuild")
	dir := t.TempDir()
	issuerPort, appPort := testenv.FreePort(t), testenv.FreePort(t)
	a := &cognitoApp{
		issuer: fmt.Sprintf("https://localhost:%d", issuerPort), app: fmt.Sprintf("http://127.0.0.1:%d", appPort),
		web: filepath.Join(dir, "web"), node: node, root: root, dir: dir,
	}
	flows, cognitoExtra, poolExtra := "ALLOW_USER_SRP_AUTH ALLOW_REFRESH_TOKEN_AUTH", "", ""
	if opts.passkeys {
		a.app = fmt.Sprintf("http://localhost:%d", appPort)
		flows += " ALLOW_USER_AUTH"
		cognitoExtra = "webauthn_origin " + a.app
		poolExtra = "first_auth_factors PASSWORD WEB_AUTHN"
	}
	copyDir(t, filepath.Join(root, "module", "testdata", "browser", "cognito-app"), a.web)
	lib, err := os.ReadFile(filepath.Join(root, "node_modules", "amazon-cognito-identity-js", "dist", "amazon-cognito-identity.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf("window.APP_CONFIG = { endpoint: %q, oauthDomain: %q, app: %q, poolId: %q, clientId: %q };\n",
		a.issuer, fmt.Sprintf("localhost:%d", issuerPort), a.app, cogPoolID, cogClientID)
	for name, body := range map[string][]byte{"amazon-cognito-identity.min.js": lib, "config.js": []byte(config)} {
		if err := os.WriteFile(filepath.Join(a.web, name), body, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if bundleAmplify {
		esbuild := exec.Command(filepath.Join(root, "node_modules", ".bin", "esbuild"),
			filepath.Join(root, "module", "testdata", "browser", "cognito-app", "amplify-app.js"), "--bundle", "--format=iife", "--platform=browser",
			"--outfile="+filepath.Join(a.web, "amplify.js"), "--log-level=warning")
		esbuild.Dir = root
		if out, err := esbuild.CombinedOutput(); err != nil {
			t.Fatalf("esbuild: %v\n%s", err, out)
		}
	}

	smtp := testenv.StartSMTP(t, testenv.SMTPOptions{})
	text := fmt.Sprintf(`{
	default_bind 127.0.0.1
	skip_install_trust
	auto_https disable_redirects
	storage file_system %s
	gatehouse {
		pool default {
			store sqlite %s
			issuer %s
			display_name "Cognito App Corp"
			%s
			signup open
			throttle off
			mail %s {
				from "Example Corp <no-reply@example.com>"
				timeout 2s
			}
			%s
			cognito {
				pool_id %s
				region us-east-1
				%s
			}
			srp on
			client %s {
				public
				redirect_uri %s/amplify.html %s/hostedui.html
				post_logout_redirect_uri %s/amplify.html
				auth_flows %s
				refresh_token_rotation off
			}
		}
	}
}

%s {
	tls internal
	gatehouse_idp {
		pool default
	}
	respond "issuer home"
}

# The app: static files on another origin.
%s {
	root * %s
	file_server
}
`, filepath.Join(dir, "caddy"), filepath.Join(dir, "gatehouse.db"), a.issuer, testenv.FastHash, smtp.URL(),
		poolExtra, cogPoolID, cognitoExtra, cogClientID, a.app, a.app, a.app, flows, a.issuer, a.app, a.web)
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	testenv.StartCaddy(t, text)
	waitTLS(t, filepath.Join(dir, "caddy", "pki", "authorities", "local", "root.crt"), a.issuer+"/.well-known/openid-configuration")
	testenv.WaitHTTP(t, a.app+"/page.js", 10*time.Second)
	a.codes = mailCodeServer(t, smtp)
	p := openPoolFile(t, file)
	// A user made by the CLI: with `srp on` the pool makes the SRP verifier
	// from the password, so SRP works from the first sign-in.
	if _, err := p.Pool.CreateUser(context.Background(), pool.NewUser{Email: cogEmail, Password: cogPassword, Name: "Grace Hopper", EmailVerified: true}); err != nil {
		t.Fatal(err)
	}
	return a
}

const cogEmail, cogPassword = "grace@example.com", "a long enough test password"

// run runs testdata/browser/<script> with the deployment's addresses, then
// the user's, then args.
func (a *cognitoApp) run(t *testing.T, script string, args ...string) {
	t.Helper()
	runBrowserScript(t, a.node, a.root, a.dir, script, append([]string{a.app, a.issuer, cogEmail, cogPassword, a.codes}, args...))
}

// waitTLS waits for Caddy's local CA (rootFile) and for url to answer over
// TLS with a certificate it issued.
func waitTLS(t *testing.T, rootFile, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var roots *x509.CertPool
	for roots == nil {
		if pem, err := os.ReadFile(rootFile); err == nil {
			roots = x509.NewCertPool()
			if !roots.AppendCertsFromPEM(pem) {
				t.Fatal("Caddy's root certificate does not parse")
			}
		} else if time.Now().After(deadline) {
			t.Fatalf("Caddy made no local CA: %v", err)
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}, Timeout: 5 * time.Second}
	for {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not answer over TLS: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// copyDir copies the files of src (not its folders) into a new folder dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// needModules skips the test (fails it under CI=true) when one of the npm
// packages is not installed.
func needModules(t *testing.T, root string, packages ...string) {
	t.Helper()
	for _, p := range packages {
		if _, err := os.Stat(filepath.Join(root, "node_modules", p, "package.json")); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%v; CI=true, so this is a failure (npm ci installs %s)", err, p)
			}
			t.Skipf("%v; skipping (npm ci at the repository root)", err)
		}
	}
}

// mailCodeServer answers GET ?email=<address> with the six-digit code of
// the last mail to that address, as a person reads it from their mail.
func mailCodeServer(t *testing.T, smtp *testenv.SMTPServer) string {
	t.Helper()
	// No t.Fatal here: this runs on the server's goroutine.
	latest := func(to string) string {
		ms := smtp.Messages()
		for i := len(ms) - 1; i >= 0; i-- {
			if len(ms[i].To) == 1 && ms[i].To[0] == to {
				if m := mailCode.FindStringSubmatch(ms[i].Text); m != nil {
					return m[1]
				}
			}
		}
		return ""
	}
	codes := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		to := r.URL.Query().Get("email")
		// The pages answer before the mail goes out (no enumeration by
		// timing): wait for it as a user would, up to mailWait.
		for deadline := time.Now().Add(mailWait); ; time.Sleep(20 * time.Millisecond) {
			if code := latest(to); code != "" {
				fmt.Fprint(w, code)
				return
			}
			if time.Now().After(deadline) {
				break
			}
		}
		http.Error(w, "no code mailed to "+to, http.StatusNotFound)
	}))
	t.Cleanup(codes.Close)
	return codes.URL
}

// TestBrowserCognitoAPI: a single-page app on another origin calls the
// Cognito API from Chromium (testdata/browser/cognito_api.mjs), first with
// amazon-cognito-identity-js's browser build, then with Amplify v6 bundled
// by esbuild: SRP sign-in, GetUser with the access token (identity-js),
// fetchAuthSession (Amplify), sign-out everywhere, and a wrong password
// shown in the page as NotAuthorizedException. The CORS preflights succeed,
// the calls carry no cookie though the browser holds one for the issuer,
// and a call with credentials is refused by the browser.
func TestBrowserCognitoAPI(t *testing.T) {
	a := startCognitoApp(t, true)
	a.run(t, "cognito_api.mjs")
}

// TestBrowserAmplifyRedirect: Amplify v6's signInWithRedirect, its
// loginWith.oauth.domain the issuer's host, from an app on another origin
// (testdata/browser/amplify_redirect.mjs): Chromium lands on Gatehouse's
// sign-in page, signs in, and ends back on the app, which exchanges the
// code at /oauth2/token with PKCE across origins; signOut goes through
// /logout and back, and the next sign-in asks for the password again.
func TestBrowserAmplifyRedirect(t *testing.T) {
	a := startCognitoApp(t, true)
	a.run(t, "amplify_redirect.mjs")
}

// TestBrowserCognitoHostedURLs: Cognito's classic hosted-UI links, /login
// and /signup with client_id, response_type=code and redirect_uri, followed
// in Chromium from an app on another origin
// (testdata/browser/cognito_hostedui.mjs): /login signs in; /signup signs
// up, confirms with the mailed code and signs in; each ends on the app's
// redirect_uri with a code the app exchanges from the browser.
func TestBrowserCognitoHostedURLs(t *testing.T) {
	a := startCognitoApp(t, false)
	a.run(t, "cognito_hostedui.mjs")
}

// TestBrowserAmplifyPasskey: Amplify v6 in Chromium, on an app's origin
// that is the API's webauthn_origin, with Chromium's virtual authenticator:
// sign in with SRP, add a passkey (associateWebAuthnCredential:
// StartWebAuthnRegistration, the browser's ceremony,
// CompleteWebAuthnRegistration), sign out, and sign in again by USER_AUTH
// with the passkey alone (the WEB_AUTHN challenge answered by the
// browser's navigator.credentials.get).
func TestBrowserAmplifyPasskey(t *testing.T) {
	a := startCognitoAppWith(t, cognitoAppOptions{amplify: true, passkeys: true})
	a.run(t, "amplify_passkey.mjs")
}
