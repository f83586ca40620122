package openid

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
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

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"
	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/federation"
)

// The providers' clients and tenants (testdata/oidc-provider/providers.mjs).
const (
	opSecret       = "federation test client secret"
	opPassword     = "correct horse"
	opRedirectURI  = "https://pool.example/oauth2/idpresponse"
	opTenantA      = "aaaaaaaa-0000-4000-8000-00000000000a"
	opTenantB      = "bbbbbbbb-0000-4000-8000-00000000000b"
	appleClientID  = "com.example.web"
	appleTeamID    = "TEAM123456"
	appleKeyID     = "KEY1234567"
	providerScript = "../testdata/oidc-provider/providers.mjs"
)

// testOP is the one node process of the package's tests: three providers
// (generic, Apple-like, Microsoft-like) on one port. It is started by the
// first test that needs it and stopped by TestMain.
type testOP struct {
	base     string
	appleKey *ecdsa.PrivateKey
	applePEM string // the Apple key's PEM, as an operator's .p8

	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	log  strings.Builder
}

var (
	opOnce sync.Once
	opRun  *testOP
	opErr  error
	opSkip string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if opRun != nil {
		opRun.stop()
	}
	os.Exit(code)
}

// provider returns the running providers, starting them on first use. It
// skips the test when node or the npm package is missing (fails it under
// CI=true, where .ci/run installs them).
func provider(t *testing.T) *testOP {
	t.Helper()
	opOnce.Do(func() { opRun, opErr = startOP() })
	if opSkip != "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(opSkip + "; CI=true, so this is a failure, not a skip")
		}
		t.Skip(opSkip)
	}
	if opErr != nil {
		t.Fatal(opErr)
	}
	return opRun
}

func startOP() (*testOP, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		opSkip = "the provider tests need node"
		return nil, nil
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(root, "node_modules", "oidc-provider", "package.json")); err != nil {
		opSkip = "the provider tests need node_modules/oidc-provider (npm ci at the repository root)"
		return nil, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	op := &testOP{
		base:     fmt.Sprintf("http://127.0.0.1:%d", port),
		appleKey: key,
		applePEM: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		done:     make(chan struct{}),
	}
	cmd := exec.Command(node, providerScript)
	cmd.Env = append(os.Environ(),
		fmt.Sprintf("OP_PORT=%d", port),
		"OP_SECRET="+opSecret,
		"OP_PASSWORD="+opPassword,
		"OP_REDIRECT_URI="+opRedirectURI,
		"OP_TENANT_A="+opTenantA,
		"OP_TENANT_B="+opTenantB,
		"OP_APPLE_CLIENT_ID="+appleClientID,
		"OP_APPLE_TEAM_ID="+appleTeamID,
		"OP_APPLE_KEY_ID="+appleKeyID,
		"OP_APPLE_PUBLIC_KEY="+string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})),
	)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the providers: %w", err)
	}
	op.cmd = cmd
	ready := make(chan struct{})
	go func() {
		defer close(op.done)
		sc := bufio.NewScanner(out)
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
	select {
	case <-ready:
		return op, nil
	case <-op.done:
		return nil, fmt.Errorf("the providers exited:\n%s", op.output())
	case <-time.After(20 * time.Second):
		op.stop()
		return nil, fmt.Errorf("the providers did not start within 20s:\n%s", op.output())
	}
}

func (op *testOP) stop() {
	_ = op.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-op.done:
	case <-time.After(5 * time.Second):
		_ = op.cmd.Process.Kill()
		<-op.done
	}
}

func (op *testOP) output() string {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.log.String()
}

// logged reports whether the providers printed s, waiting a little for
// their output to arrive.
func (op *testOP) logged(s string) bool {
	for range 50 {
		if strings.Contains(op.output(), s) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// open makes a connector from a Caddyfile block, as a pool's `idp corp
// <kind> { ... }` line hands it to the kind.
func open(t *testing.T, name, block string) federation.Connector {
	t.Helper()
	c, err := tryOpen(t, name, block)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func tryOpen(t *testing.T, name, block string) (federation.Connector, error) {
	t.Helper()
	d := caddyfile.NewTestDispenser(block)
	var p interface {
		federation.Provider
		caddyfile.Unmarshaler
	}
	switch kind := strings.Fields(block)[0]; kind {
	case "oidc":
		p = new(OIDC)
	case "google":
		p = new(Google)
	case "microsoft":
		p = new(Microsoft)
	case "apple":
		p = new(Apple)
	default:
		t.Fatalf("no kind %q", kind)
	}
	if err := p.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return p.Open(t.Context(), federation.Env{
		Name:       name,
		Pool:       "default",
		Issuer:     "https://pool.example",
		HTTPClient: &http.Client{Timeout: 10 * time.Second},
		Logger:     zap.NewNop(),
		Now:        time.Now,
	})
}

// newRequest is what the hosted pages make for Begin.
func newRequest(loginHint string) federation.Request {
	return federation.Request{
		State:       rand.Text(),
		Nonce:       rand.Text(),
		Verifier:    oauth2.GenerateVerifier(),
		RedirectURI: opRedirectURI,
		LoginHint:   loginHint,
	}
}

var (
	formAction  = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
	hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"/>`)
	abortLink   = regexp.MustCompile(`href="([^"]+/abort)"`)
)

// signIn plays the user at a provider from the authorization URL: it signs
// in as login (or cancels), allows access when asked, and returns the
// answer the provider sends back to the redirect URI, from the query of a
// redirect or the fields of a form_post page.
func (op *testOP) signIn(t *testing.T, authURL, login string, cancel bool) url.Values {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	next, method, form := authURL, http.MethodGet, url.Values(nil)
	for range 20 {
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
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		page := string(raw)
		method, form = http.MethodGet, nil
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			loc, err := req.URL.Parse(resp.Header.Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(loc.String(), opRedirectURI) {
				return loc.Query()
			}
			next = loc.String()
		case resp.StatusCode == http.StatusOK && strings.Contains(page, "<title>Submitting Callback</title>"):
			if m := formAction.FindStringSubmatch(page); m == nil || html.UnescapeString(m[1]) != opRedirectURI {
				t.Fatalf("form_post to %v, want %s", m, opRedirectURI)
			}
			v := url.Values{}
			for _, m := range hiddenInput.FindAllStringSubmatch(page, -1) {
				v.Set(m[1], html.UnescapeString(m[2]))
			}
			return v
		case resp.StatusCode == http.StatusOK && strings.Contains(page, "/login\""):
			if cancel {
				next = op.base + abortLink.FindStringSubmatch(page)[1]
				continue
			}
			next, method = op.base+formAction.FindStringSubmatch(page)[1], http.MethodPost
			form = url.Values{"login": {login}, "password": {opPassword}}
		case resp.StatusCode == http.StatusOK && strings.Contains(page, "/confirm\""):
			next, method, form = op.base+formAction.FindStringSubmatch(page)[1], http.MethodPost, url.Values{}
		default:
			t.Fatalf("at the provider, %s %s: status %d:\n%s\nprovider log:\n%s", req.Method, req.URL, resp.StatusCode, page, op.output())
		}
	}
	t.Fatal("no way back from the provider after 20 hops")
	return nil
}

// roundTrip runs Begin, the user at the provider, and returns the request
// and the answer for Complete.
func (op *testOP) roundTrip(t *testing.T, c federation.Connector, login string) (federation.Request, url.Values) {
	t.Helper()
	req := newRequest("")
	start, err := c.Begin(t.Context(), req)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	return req, op.signIn(t, start.URL, login, false)
}

// signInAs is a whole sign-in: Begin, the provider, Complete.
func (op *testOP) signInAs(t *testing.T, c federation.Connector, login string) (*federation.Identity, error) {
	t.Helper()
	req, params := op.roundTrip(t, c, login)
	return c.Complete(context.Background(), federation.Callback{Request: req, Params: params})
}

func wantErr(t *testing.T, err, want error, what string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: %v, want %v", what, err, want)
	}
}
