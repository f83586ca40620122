package module_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/middleware"
	"github.com/gatehouse-auth/gatehouse/middleware/albdata"
	"github.com/gatehouse-auth/gatehouse/pool"
)

// The outside provider's client and account (module/testdata/oidc-provider).
const (
	opClientID  = "gatehouse-e2e"
	opSecret    = "e2e client secret"
	opLogin     = "grace@navy.example"
	opPassword  = "correct horse"
	opSubject   = "grace-7f3a"
	opAccessTTL = 3 * time.Second
)

// oidcProvider is the npm package oidc-provider, a certified OpenID
// provider, run with node from testdata/oidc-provider/provider.mjs on a
// loopback port. Its state is in memory, so restart forgets every grant.
type oidcProvider struct {
	t      *testing.T
	node   string
	script string
	port   int
	env    []string
	issuer string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  strings.Builder
}

// opPrereqs returns node and the repository root, or skips the test (fails
// it under CI=true, where .ci/run installs them) when node or the npm
// package is missing.
func opPrereqs(t *testing.T) (node, root string) {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	node, err = exec.LookPath("node")
	if err != nil {
		missing = append(missing, "node (apt-get install nodejs)")
	}
	if _, err := os.Stat(filepath.Join(root, "node_modules", "oidc-provider", "package.json")); errors.Is(err, os.ErrNotExist) {
		missing = append(missing, "node_modules/oidc-provider (npm ci at the repository root)")
	} else if err != nil {
		t.Fatal(err)
	}
	if len(missing) == 0 {
		return node, root
	}
	msg := "the outside-issuer test needs " + strings.Join(missing, ", ")
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI=true, so this is a failure, not a skip")
	}
	t.Skip(msg + "; skipping (set CI=true to make this a failure)")
	return "", ""
}

func newOIDCProvider(t *testing.T, node, root string, port int, redirectURIs ...string) *oidcProvider {
	op := &oidcProvider{
		t:      t,
		node:   node,
		script: filepath.Join(root, "module", "testdata", "oidc-provider", "provider.mjs"),
		port:   port,
		issuer: fmt.Sprintf("http://127.0.0.1:%d", port),
		env: append(os.Environ(),
			fmt.Sprintf("OP_PORT=%d", port),
			"OP_CLIENT_ID="+opClientID,
			"OP_CLIENT_SECRET="+opSecret,
			"OP_REDIRECT_URIS="+strings.Join(redirectURIs, ","),
			fmt.Sprintf("OP_ACCESS_TTL=%d", int(opAccessTTL/time.Second)),
			"OP_PASSWORD="+opPassword,
		),
	}
	t.Cleanup(op.stop)
	return op
}

// start runs the provider and waits for it to listen.
func (op *oidcProvider) start() {
	t := op.t
	t.Helper()
	cmd := exec.Command(op.node, op.script)
	cmd.Env = op.env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the provider: %v", err)
	}
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		signalled := false
		for sc.Scan() {
			op.mu.Lock()
			op.log.WriteString(sc.Text() + "\n")
			op.mu.Unlock()
			if !signalled && strings.HasPrefix(sc.Text(), "listening ") {
				signalled = true
				close(ready)
			}
		}
		_ = cmd.Wait()
	}()
	op.mu.Lock()
	op.cmd, op.done = cmd, done
	op.mu.Unlock()
	select {
	case <-ready:
	case <-done:
		t.Fatalf("the provider exited:\n%s", op.output())
	case <-time.After(20 * time.Second):
		t.Fatalf("the provider did not start within 20s:\n%s", op.output())
	}
}

// stop ends the provider (SIGTERM, then SIGKILL) and waits for it.
func (op *oidcProvider) stop() {
	op.mu.Lock()
	cmd, done := op.cmd, op.done
	op.cmd = nil
	op.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func (op *oidcProvider) output() string {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.log.String()
}

var opForm = regexp.MustCompile(`<form method="post" action="([^"]+)"`)

// signIn plays the user at the provider, from the authorization URL the
// gateway sent the browser to: it signs in (first with a wrong password,
// which must fail), allows access when asked, and returns the callback URL
// the provider sends the browser back to. With cancel it clicks Cancel on
// the sign-in page instead.
func (op *oidcProvider) signIn(t *testing.T, c *http.Client, authURL string, cancel bool) string {
	t.Helper()
	next, method, form := authURL, http.MethodGet, url.Values(nil)
	triedWrong := false
	for hop := 0; hop < 20; hop++ {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequest(method, next, body)
		if err != nil {
			t.Fatal(err)
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, page := do(t, c, req)
		here := req.URL
		method, form = http.MethodGet, nil
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			loc, err := here.Parse(resp.Header.Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(loc.String(), op.issuer+"/") {
				return loc.String() // back to the gateway
			}
			next = loc.String()
		case resp.StatusCode == http.StatusUnauthorized && triedWrong && strings.Contains(page, "Wrong login"):
			m := opForm.FindStringSubmatch(page)
			next, method = op.issuer+m[1], http.MethodPost
			form = url.Values{"login": {opLogin}, "password": {opPassword}}
		case resp.StatusCode == http.StatusOK && strings.Contains(page, "/login\""):
			m := opForm.FindStringSubmatch(page)
			if cancel {
				abort := regexp.MustCompile(`href="(/interaction/[^"]+/abort)"`).FindStringSubmatch(page)
				next = op.issuer + abort[1]
				continue
			}
			next, method = op.issuer+m[1], http.MethodPost
			form = url.Values{"login": {opLogin}, "password": {opPassword}}
			if !triedWrong {
				triedWrong = true
				form.Set("password", "wrong horse")
			}
		case resp.StatusCode == http.StatusOK && strings.Contains(page, "/confirm\""):
			m := opForm.FindStringSubmatch(page)
			next, method, form = op.issuer+m[1], http.MethodPost, url.Values{}
		default:
			t.Fatalf("at the provider, %s %s: status %d:\n%s\nprovider log:\n%s", req.Method, req.URL, resp.StatusCode, page, op.output())
		}
	}
	t.Fatalf("no way back from the provider after 20 hops")
	return ""
}

// userinfo asks the provider who an access token belongs to: 200 and the
// sub for a live token.
func (op *oidcProvider) userinfo(t *testing.T, access string) (int, string) {
	t.Helper()
	resp, body := get(t, http.DefaultClient, op.issuer+"/me", http.Header{"Authorization": {"Bearer " + access}})
	var ui struct {
		Sub string `json:"sub"`
	}
	_ = json.Unmarshal([]byte(body), &ui)
	return resp.StatusCode, ui.Sub
}

// TestOutsideIssuer signs in through a real outside OpenID provider, the
// way a browser does, and follows the session through a transparent token
// refresh to its end when the provider forgets the grant.
func TestOutsideIssuer(t *testing.T) {
	node, root := opPrereqs(t)
	began := time.Now()
	t.Setenv("XDG_DATA_HOME", t.TempDir()) // the gateway store goes there
	t.Setenv("GATEHOUSE_E2E_CLIENT_ID", opClientID)
	t.Setenv("GATEHOUSE_E2E_CLIENT_SECRET", opSecret)

	opPort, authPort, denyPort := testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)
	auth := fmt.Sprintf("http://127.0.0.1:%d", authPort)
	deny := fmt.Sprintf("http://127.0.0.1:%d", denyPort)
	op := newOIDCProvider(t, node, root, opPort, auth+"/_gatehouse/oauth2/callback", deny+"/_gatehouse/oauth2/callback")
	upstream := testenv.StartUpstream(t)
	block := func(extra string) string {
		return fmt.Sprintf(`gatehouse {
		oidc_issuer %s
		client_id {env.GATEHOUSE_E2E_CLIENT_ID}
		client_secret {env.GATEHOUSE_E2E_CLIENT_SECRET}
		scopes openid email profile groups
		pass_access_token
		%s
	}
	reverse_proxy %s`, op.issuer, extra, upstream.Addr())
	}
	testenv.StartCaddy(t, fmt.Sprintf(`{
	default_bind 127.0.0.1
}

%s {
	%s
}

%s {
	%s
}
`, auth, block("cookie_name gh_auth"), deny, block("cookie_name gh_deny\n\t\ton_unauthenticated deny")))
	testenv.WaitHTTP(t, auth+"/_gatehouse/static/gatehouse.css", 10*time.Second)
	testenv.WaitHTTP(t, deny+"/_gatehouse/static/gatehouse.css", 10*time.Second)
	if _, err := os.Stat(filepath.Join(os.Getenv("XDG_DATA_HOME"), "caddy", "gatehouse", "gateway.db")); err != nil {
		t.Errorf("the gateway store was not made in Caddy's data directory: %v", err)
	}

	c := testenv.Browser(t)
	const wanted = "/private/report?year=2026&path=%2Fa%2Fb"
	forged := http.Header{"X-Amzn-Oidc-Identity": {"attacker"}, "x-amzn-oidc-accesstoken": {"forged"}, "X_Auth_Request_Email": {"root@evil.example"}}

	t.Run("Caddy started while the provider was down", func(t *testing.T) {
		resp, body := get(t, c, auth+wanted, nil)
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "cannot be reached") {
			t.Fatalf("issuer down: status %d, want 503 with an explanation: %s", resp.StatusCode, body)
		}
	})
	failedAt := time.Now() // the discovery that failed above was tried by now
	op.start()
	// Past the discovery back-off after that failure (the provider's own
	// start took some of it).
	time.Sleep(time.Until(failedAt.Add(time.Second)))

	var authURL, callbackURL, firstAccess string
	// tokensAt is when the session last got tokens from the provider (at
	// the latest): the waits for their expiry below count from it.
	var tokensAt time.Time
	t.Run("sign in at the provider", func(t *testing.T) {
		resp, _ := get(t, c, auth+wanted, forged)
		authURL = resp.Header.Get("Location")
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(authURL, op.issuer+"/auth?") {
			t.Fatalf("protected page: %d to %q, want 302 to the provider", resp.StatusCode, authURL)
		}
		q := mustParse(t, authURL).Query()
		want := map[string]string{
			"client_id": opClientID, "response_type": "code", "code_challenge_method": "S256",
			"redirect_uri": auth + "/_gatehouse/oauth2/callback", "scope": "openid email profile groups",
		}
		for k, v := range want {
			if q.Get(k) != v {
				t.Errorf("authorization request %s = %q, want %q", k, q.Get(k), v)
			}
		}
		if q.Get("state") == "" || q.Get("nonce") == "" || len(q.Get("code_challenge")) != 43 {
			t.Errorf("authorization request lacks state, nonce or a S256 challenge: %s", authURL)
		}
		if upstream.Count() != 0 {
			t.Fatal("the upstream was reached without a session")
		}

		callbackURL = op.signIn(t, c, authURL, false)
		if !strings.HasPrefix(callbackURL, auth+"/_gatehouse/oauth2/callback?") {
			t.Fatalf("the provider sent the browser to %q, want the gateway's callback", callbackURL)
		}
		resp, body := get(t, c, callbackURL, nil)
		tokensAt = time.Now()
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != wanted {
			t.Fatalf("callback: %d to %q, want 302 to exactly %q: %s", resp.StatusCode, resp.Header.Get("Location"), wanted, body)
		}
		if ck := cookieNamed(resp, "gh_auth"); ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode {
			t.Fatalf("callback set no proper session cookie: %v", resp.Header["Set-Cookie"])
		}

		resp, body = get(t, c, auth+wanted, forged)
		if resp.StatusCode != http.StatusOK || body != "upstream" {
			t.Fatalf("signed in: %d %q, want the upstream", resp.StatusCode, body)
		}
		got := upstream.Last()
		if got.URL.RequestURI() != wanted {
			t.Errorf("upstream got %q, want %q", got.URL.RequestURI(), wanted)
		}
		for k, v := range map[string]string{
			"X-Amzn-Oidc-Identity":  opSubject,
			"X-Auth-Request-User":   opSubject,
			"X-Auth-Request-Email":  "grace@navy.example",
			"X-Auth-Request-Groups": "navy,cobol",
		} {
			if vals := got.Header.Values(k); len(vals) != 1 || vals[0] != v {
				t.Errorf("upstream %s = %q, want [%q]", k, vals, v)
			}
		}
		for k := range got.Header {
			if strings.Contains(k, "_") {
				t.Errorf("forged header %s reached the upstream", k)
			}
		}
		header, claims := verifyALBData(t, got.Header.Get(middleware.HeaderData), auth+"/_gatehouse/public-keys/", albdata.DefaultARN("gateway"))
		if header["iss"] != op.issuer || header["client"] != opClientID {
			t.Errorf("data header: iss %v, client %v; want the provider and the client id", header["iss"], header["client"])
		}
		if claims["sub"] != opSubject || claims["email"] != "grace@navy.example" || claims["email_verified"] != true ||
			claims["name"] != "Grace Hopper" || claims["iss"] != op.issuer {
			t.Errorf("data claims %v", claims)
		}
		if g, _ := claims["groups"].([]any); len(g) != 2 || g[0] != "navy" || g[1] != "cobol" {
			t.Errorf("data groups %v", claims["groups"])
		}
		// The access token passed is the provider's own: it knows it.
		firstAccess = got.Header.Get(middleware.HeaderAccessToken)
		if status, sub := op.userinfo(t, firstAccess); status != http.StatusOK || sub != opSubject {
			t.Errorf("the provider's userinfo with the passed access token: %d, sub %q", status, sub)
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	t.Run("a callback cannot be replayed", func(t *testing.T) {
		resp, body := get(t, testenv.Browser(t), callbackURL, nil)
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("replayed callback: %d to %q, want 400: %s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
	})

	c2 := testenv.Browser(t)
	t.Run("deny mode signs in through the sign-in path", func(t *testing.T) {
		resp, _ := get(t, c2, deny+"/deny-page", nil)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("deny mode without a session: %d, want 401", resp.StatusCode)
		}
		resp, _ = get(t, c2, deny+"/_gatehouse/signin?rd=%2Fdeny-page", nil)
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("sign-in path: %d, want 302 to the provider", resp.StatusCode)
		}
		cb := op.signIn(t, c2, resp.Header.Get("Location"), false)
		resp, _ = get(t, c2, cb, nil)
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/deny-page" {
			t.Fatalf("callback: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if resp, _ := get(t, c2, deny+"/deny-page", nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("deny mode with a session: %d, want 200", resp.StatusCode)
		}
	})

	t.Run("the access token is refreshed before it expires", func(t *testing.T) {
		time.Sleep(time.Until(tokensAt.Add(opAccessTTL + 500*time.Millisecond)))
		if status, _ := op.userinfo(t, firstAccess); status != http.StatusUnauthorized {
			t.Fatalf("the first access token still works after its TTL (%d); the test proves nothing", status)
		}
		resp, body := get(t, c, auth+wanted, nil)
		tokensAt = time.Now()
		if resp.StatusCode != http.StatusOK || body != "upstream" {
			t.Fatalf("after the access token expired: %d %q, want the upstream without a round trip", resp.StatusCode, body)
		}
		if ck := cookieNamed(resp, "gh_auth"); ck == nil || ck.MaxAge <= 0 {
			t.Errorf("the refreshed session was not written back: %v", resp.Header["Set-Cookie"])
		}
		access := upstream.Last().Header.Get(middleware.HeaderAccessToken)
		if access == firstAccess {
			t.Fatal("the upstream got the expired access token")
		}
		if status, sub := op.userinfo(t, access); status != http.StatusOK || sub != opSubject {
			t.Errorf("the refreshed access token at the provider: %d, sub %q", status, sub)
		}
		if upstream.Last().Header.Get("X-Auth-Request-Email") != "grace@navy.example" {
			t.Errorf("claims lost in the refresh: %v", upstream.Last().Header)
		}
		// And once more: the rotated refresh token works too.
		time.Sleep(time.Until(tokensAt.Add(opAccessTTL)))
		if resp, _ := get(t, c, auth+wanted, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("second refresh: %d", resp.StatusCode)
		}
		tokensAt = time.Now()
		if next := upstream.Last().Header.Get(middleware.HeaderAccessToken); next == access {
			t.Error("the second refresh passed the same access token")
		}
	})

	t.Run("a refused refresh ends the session", func(t *testing.T) {
		// The provider forgets every grant, as if the user's access had
		// been revoked there.
		op.stop()
		op.start()
		time.Sleep(time.Until(tokensAt.Add(opAccessTTL)))
		before := upstream.Count()
		resp, _ := get(t, c, auth+wanted, nil)
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), op.issuer+"/auth?") {
			t.Errorf("authenticate mode after a refused refresh: %d to %q, want 302 to the provider", resp.StatusCode, resp.Header.Get("Location"))
		}
		if ck := cookieNamed(resp, "gh_auth"); ck == nil || ck.MaxAge >= 0 {
			t.Errorf("the session cookie was not cleared: %v", resp.Header["Set-Cookie"])
		}
		resp, _ = get(t, c2, deny+"/deny-page", nil)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("deny mode after a refused refresh: %d, want 401", resp.StatusCode)
		}
		if upstream.Count() != before {
			t.Error("the upstream was reached with an ended session")
		}

		// Signing in again works, with the restarted provider's new keys.
		resp, _ = get(t, c, auth+wanted, nil)
		cb := op.signIn(t, c, resp.Header.Get("Location"), false)
		resp, body := get(t, c, cb, nil)
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != wanted {
			t.Fatalf("signing in again: %d to %q: %s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		if resp, _ := get(t, c, auth+wanted, nil); resp.StatusCode != http.StatusOK {
			t.Errorf("after signing in again: %d", resp.StatusCode)
		}
	})

	t.Run("an error from the provider shows a page", func(t *testing.T) {
		c3 := testenv.Browser(t)
		resp, _ := get(t, c3, auth+"/somewhere", nil)
		cb := op.signIn(t, c3, resp.Header.Get("Location"), true)
		if q := mustParse(t, cb).Query(); q.Get("error") != "access_denied" {
			t.Fatalf("cancelling at the provider came back with %q", cb)
		}
		resp, body := get(t, c3, cb, nil)
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Location") != "" || !strings.Contains(body, "Sign-in refused") {
			t.Errorf("access_denied from the provider: %d to %q: %s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
	})

	t.Run("logout", func(t *testing.T) {
		copied := sessionCookieHeader(t, c, auth, "gh_auth")
		resp, _ := get(t, c, auth+"/_gatehouse/logout", nil)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("logout: %d", resp.StatusCode)
		}
		if resp, _ := get(t, testenv.Browser(t), auth+wanted, http.Header{"Cookie": {copied}}); resp.StatusCode != http.StatusFound {
			t.Errorf("a copy of the signed-out cookie got %d, want 302 to sign in", resp.StatusCode)
		}
	})
	t.Logf("outside-issuer end-to-end took %s", time.Since(began).Round(time.Millisecond))
}

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// sessionCookieHeader is the Cookie header c sends to rawURL for the
// session cookie called name, to replay it from another client.
func sessionCookieHeader(t *testing.T, c *http.Client, rawURL, name string) string {
	t.Helper()
	var parts []string
	for _, ck := range c.Jar.Cookies(mustParse(t, rawURL)) {
		if strings.HasPrefix(ck.Name, name) {
			parts = append(parts, ck.Name+"="+ck.Value)
		}
	}
	if len(parts) == 0 {
		t.Fatalf("no %s cookie held", name)
	}
	return strings.Join(parts, "; ")
}

// TestGatehousePoolAsOutsideIssuer puts one Gatehouse in front of another:
// a pool served as an OpenID provider by `gatehouse_idp` is the outside
// issuer of a site whose `gatehouse` block names it with oidc_issuer (and
// uses the same pool's keys, with `pool`).
func TestGatehousePoolAsOutsideIssuer(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	const secret = "gateway-secret-0123456789abcdef"
	dir := t.TempDir()
	issuer := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	gateway := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	upstream := testenv.StartUpstream(t)
	text := fmt.Sprintf(`{
	default_bind 127.0.0.1
	gatehouse {
		pool default {
			store sqlite %s
			issuer %s
			display_name "Issuer Corp"
			revocation_refresh 100ms
			%s
			client gateway {
				redirect_uri %s/_gatehouse/oauth2/callback
				secret %s
				scopes openid email profile
				access_token_ttl 3s
			}
		}
	}
}

%s {
	gatehouse_idp {
		pool default
	}
	respond "issuer home"
}

%s {
	gatehouse {
		pool default
		oidc_issuer %s
		client_id gateway
		client_secret %s
		pass_access_token
	}
	reverse_proxy %s
}
`, filepath.Join(dir, "gatehouse.db"), issuer, testenv.FastHash, gateway, secret, issuer, gateway, issuer, secret, upstream.Addr())
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	testenv.StartCaddy(t, text)
	testenv.WaitHTTP(t, issuer+"/.well-known/openid-configuration", 5*time.Second)
	p := openPoolFile(t, file)
	ada, err := p.Pool.CreateUser(context.Background(), pool.NewUser{Email: adaEmail, Password: adaPassword, Name: "Ada Lovelace", EmailVerified: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Pool.AddToGroup(context.Background(), ada.ID, "admins"); err != nil {
		t.Fatal(err)
	}
	var discovery struct {
		UserInfo string `json:"userinfo_endpoint"`
	}
	_, body := get(t, http.DefaultClient, issuer+"/.well-known/openid-configuration", nil)
	if err := json.Unmarshal([]byte(body), &discovery); err != nil || discovery.UserInfo == "" {
		t.Fatalf("issuer discovery: %v: %s", err, body)
	}
	accessWorks := func(access string) bool {
		resp, _ := get(t, http.DefaultClient, discovery.UserInfo, http.Header{"Authorization": {"Bearer " + access}})
		return resp.StatusCode == http.StatusOK
	}

	c := testenv.Browser(t)
	const wanted = "/ledger?from=1843"
	// signInThere follows the browser from the gateway to the issuer, signs
	// in on the issuer's hosted pages, and returns the gateway's callback.
	signInThere := func(authURL string) string {
		t.Helper()
		next := authURL
		for range 5 {
			resp, body := get(t, c, next, nil)
			loc, err := resp.Location()
			if resp.StatusCode != http.StatusFound || err != nil {
				t.Fatalf("GET %s: %d, want a redirect: %s", next, resp.StatusCode, body)
			}
			switch {
			case strings.HasPrefix(loc.String(), gateway+"/"):
				return loc.String()
			case loc.Path == "/_gatehouse/signin":
				rd := loc.Query().Get("rd")
				signIn(t, c, issuer, rd, adaEmail, adaPassword)
				next = issuer + rd
			default:
				next = loc.String()
			}
		}
		t.Fatal("no way back from the issuer")
		return ""
	}

	resp, _ := get(t, c, gateway+wanted, nil)
	authURL := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(authURL, issuer+"/") {
		t.Fatalf("protected page: %d to %q, want 302 to the issuer", resp.StatusCode, authURL)
	}
	resp, body = get(t, c, signInThere(authURL), nil)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != wanted {
		t.Fatalf("callback: %d to %q, want 302 to %q: %s", resp.StatusCode, resp.Header.Get("Location"), wanted, body)
	}
	if resp, body := get(t, c, gateway+wanted, nil); resp.StatusCode != http.StatusOK || body != "upstream" {
		t.Fatalf("signed in: %d %q", resp.StatusCode, body)
	}
	got := upstream.Last()
	if got.Header.Get(middleware.HeaderIdentity) != ada.ID || got.Header.Get("X-Auth-Request-Email") != adaEmail ||
		got.Header.Get("X-Auth-Request-Groups") != "admins" {
		t.Errorf("upstream headers %v", got.Header)
	}
	header, claims := verifyALBData(t, got.Header.Get(middleware.HeaderData), gateway+"/_gatehouse/public-keys/", albdata.DefaultARN("default"))
	if header["iss"] != issuer || header["client"] != "gateway" || claims["name"] != "Ada Lovelace" {
		t.Errorf("data header %v, claims %v", header, claims)
	}
	first := got.Header.Get(middleware.HeaderAccessToken)
	if !accessWorks(first) {
		t.Error("the passed access token is not the issuer's")
	}

	// Past the access token's lifetime, the gateway has refreshed it.
	time.Sleep(3*time.Second + 500*time.Millisecond)
	if resp, _ := get(t, c, gateway+wanted, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("after the access token expired: %d", resp.StatusCode)
	}
	second := upstream.Last().Header.Get(middleware.HeaderAccessToken)
	if second == first || !accessWorks(second) {
		t.Errorf("refreshed access token: same %v, works %v", second == first, accessWorks(second))
	}

	// The issuer revokes the user's refresh tokens: at the next refresh the
	// session ends, and the browser is sent to sign in again.
	if err := p.Store.RevokeUserRefreshTokens(context.Background(), ada.ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	resp, _ = get(t, c, gateway+wanted, nil)
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), issuer+"/") {
		t.Errorf("after the grant was revoked: %d to %q, want 302 to the issuer", resp.StatusCode, resp.Header.Get("Location"))
	}
	if ck := cookieNamed(resp, "gatehouse_session"); ck == nil || ck.MaxAge >= 0 {
		t.Errorf("the session cookie was not cleared: %v", resp.Header["Set-Cookie"])
	}
}

// TestOutsideIssuerConfig checks what `caddy adapt` and `caddy validate`
// say about the outside-issuer options, and that provisioning does not wait
// for the issuer.
func TestOutsideIssuerConfig(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	site := func(opts string) string {
		return "http://127.0.0.1:1 {\n\tgatehouse {\n\t\t" + strings.ReplaceAll(opts, "\n", "\n\t\t") + "\n\t}\n}\n"
	}
	adapt := func(text string) ([]byte, error) {
		out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(text), map[string]any{"filename": "Caddyfile"})
		return out, err
	}
	validate := func(text string) error {
		out, err := adapt(text)
		if err != nil {
			t.Fatalf("adapt: %v", err)
		}
		var cfg caddy.Config
		if err := json.Unmarshal(out, &cfg); err != nil {
			t.Fatal(err)
		}
		return caddy.Validate(&cfg)
	}
	const issuer = "oidc_issuer https://issuer.invalid\n"
	for _, tc := range []struct {
		name, caddyfile, want string
		atAdapt               bool
	}{
		{"scopes without openid", site(issuer + "client_id a\nscopes email profile"), "must include openid", true},
		{"two issuers on one line", site("oidc_issuer https://a.example https://b.example\nclient_id a"), "want exactly one value", true},
		{"no client_id", site(issuer + "client_secret s"), "client_id is required", false},
		{"client_secret without oidc_issuer", site("client_secret s"), "options of oidc_issuer", false},
		{"scopes without oidc_issuer", site("scopes openid"), "options of oidc_issuer", false},
		{"plain http off loopback", site("oidc_issuer http://issuer.example\nclient_id a"), "must be an https URL", false},
		{"a pool that does not exist", site(issuer + "client_id a\npool nowhere"), `no pool named "nowhere"`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.atAdapt {
				_, err = adapt(tc.caddyfile)
			} else {
				err = validate(tc.caddyfile)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}

	t.Run("provisioning does not contact the issuer", func(t *testing.T) {
		start := time.Now()
		if err := validate(site(issuer + "client_id a\nclient_secret {env.GATEHOUSE_TEST_UNSET}")); err != nil {
			t.Fatalf("validate: %v", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("provisioning took %v", d)
		}
		if _, err := os.Stat(filepath.Join(os.Getenv("XDG_DATA_HOME"), "caddy", "gatehouse", "gateway.db")); err != nil {
			t.Errorf("no gateway store: %v", err)
		}
	})
}
