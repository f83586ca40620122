package multi_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
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

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/middleware"
	"github.com/gatehouse-auth/gatehouse/store/postgres"
)

// refresh is both instances' revocation_refresh; slack is what a
// revocation may take beyond it: the refresh query, the poll interval of the
// test, and a loaded CI machine.
const (
	refresh = time.Second
	slack   = time.Second
)

const (
	password    = "correct horse battery staple"
	cookieName  = "gatehouse_session"
	instanceHdr = "X-Gatehouse-Instance"
)

var (
	binDir    string
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	var err error
	if binDir, err = os.MkdirTemp("", "gatehouse-multi-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(binDir)
	os.Exit(code)
}

// gatehouse builds the real binary once, when a test first needs it (not
// when PostgreSQL is missing and the test skips).
func gatehouse(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binPath = filepath.Join(binDir, "gatehouse")
		start := time.Now()
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/gatehouse-auth/gatehouse/cmd/gatehouse").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("building gatehouse: %v\n%s", err, out)
		}
		t.Logf("built the gatehouse binary in %s", time.Since(start).Round(time.Millisecond))
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// instance is one gateway process: its own Caddyfile and port, the shared
// pool, the shared upstream.
type instance struct {
	t    *testing.T
	name string
	port int
	file string
	env  []string
	cmd  *exec.Cmd
	log  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// newInstance writes the instance's Caddyfile. dsn is the store it uses
// (directly, or through a proxy the test can cut).
func newInstance(t *testing.T, dir, name, dsn, upstream string) *instance {
	t.Helper()
	in := &instance{t: t, name: name, port: testenv.FreePort(t), log: &syncBuffer{}}
	home := filepath.Join(dir, name)
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	in.file = filepath.Join(home, "Caddyfile")
	caddyfile := fmt.Sprintf(`{
	admin off
	default_bind 127.0.0.1
	gatehouse {
		pool default {
			store postgres {env.GATEHOUSE_DATABASE_URL}
			revocation_refresh %s
			%s
		}
	}
}

http://127.0.0.1:%d {
	gatehouse {
		pool default
	}
	reverse_proxy %s {
		header_up %s %s
	}
}
`, refresh, testenv.FastHash, in.port, upstream, instanceHdr, name)
	if err := os.WriteFile(in.file, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	// Caddy's own files (autosave, storage) stay in the test's directory.
	in.env = append(os.Environ(), "GATEHOUSE_DATABASE_URL="+dsn,
		"HOME="+home, "XDG_CONFIG_HOME="+home, "XDG_DATA_HOME="+home)
	return in
}

func (in *instance) start() {
	t := in.t
	t.Helper()
	in.cmd = exec.Command(gatehouse(t), "run", "--config", in.file)
	in.cmd.Env = in.env
	in.cmd.Stdout, in.cmd.Stderr = in.log, in.log
	if err := in.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = in.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = in.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = in.cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("instance %s log:\n%s", in.name, in.log.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(in.url("/_gatehouse/static/gatehouse.css"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-exited:
			t.Fatalf("instance %s exited at start:\n%s", in.name, in.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance %s did not answer within 20s:\n%s", in.name, in.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (in *instance) url(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", in.port, path)
}

// cli runs a gatehouse subcommand on the instance's Caddyfile (the CLI
// beside the server), failing the test unless it succeeds.
func (in *instance) cli(args ...string) string {
	t := in.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gatehouse(t), append(args, "--config", in.file)...)
	cmd.Env = in.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gatehouse %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// noRedirects is a client without cookie jar that shows each hop.
var noRedirects = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// signIn signs email in on the instance's hosted page, as a browser would,
// and returns the session cookie's value.
func (in *instance) signIn(email string) string {
	t := in.t
	t.Helper()
	c := testenv.Browser(t)
	resp, err := c.Get(in.url("/_gatehouse/signin?rd=/"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("sign-in page of %s: status %d: %s", in.name, resp.StatusCode, body)
	}
	if !in.postSignIn(c, string(m[1]), email) {
		t.Fatalf("signing in %s on %s: no continue page to /", email, in.name)
	}
	u, _ := url.Parse(in.url("/"))
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == cookieName {
			return ck.Value
		}
	}
	t.Fatalf("no %s cookie after signing in on %s", cookieName, in.name)
	return ""
}

// postSignIn posts the sign-in form with the right password and reports
// whether it signed in: the answer is the continue page back to "/".
func (in *instance) postSignIn(c *http.Client, csrf, email string) bool {
	to, ok := testenv.ContinueTarget(in.postPassword(c, csrf, email, password))
	return ok && to == "/"
}

// postPassword posts the sign-in form with any password and returns the
// status and the page.
func (in *instance) postPassword(c *http.Client, csrf, email, pw string) (int, string) {
	t := in.t
	t.Helper()
	form := url.Values{"csrf": {csrf}, "rd": {"/"}, "email": {email}, "password": {pw}}
	req, err := http.NewRequest(http.MethodPost, in.url("/_gatehouse/signin"), strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", in.url(""))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(body)
}

// visit is one request of a signed-in browser to the instance: the status,
// and, when it reached the upstream, what the upstream was told.
type visit struct {
	status   int
	identity string
	data     string
	took     time.Duration
}

func (in *instance) visit(up *testenv.Upstream, session string) visit {
	t := in.t
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, in.url("/whoami"), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Cookie", cookieName+"="+session)
	before := up.Count()
	start := time.Now()
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", req.URL, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	v := visit{status: resp.StatusCode, took: time.Since(start)}
	if v.status == http.StatusOK {
		if up.Count() != before+1 {
			t.Fatalf("%s answered 200 but the upstream saw %d requests", in.name, up.Count()-before)
		}
		last := up.Last()
		if got := last.Header.Get(instanceHdr); got != in.name {
			t.Fatalf("the upstream's request came through %q, want %q", got, in.name)
		}
		v.identity = last.Header.Get("X-Amzn-Oidc-Identity")
		v.data = last.Header.Get("X-Amzn-Oidc-Data")
	}
	return v
}

// accepts fails the test unless the instance serves session as user.
func (in *instance) accepts(up *testenv.Upstream, session, user, what string) visit {
	in.t.Helper()
	v := in.visit(up, session)
	if v.status != http.StatusOK || v.identity != user {
		in.t.Fatalf("%s: %s answered %d with identity %q, want 200 for %s", what, in.name, v.status, v.identity, user)
	}
	return v
}

// refusedWithin polls until the instance no longer serves session (it is
// sent to sign in) and returns how long that took from since.
func (in *instance) refusedWithin(up *testenv.Upstream, session string, since time.Time) time.Duration {
	t := in.t
	t.Helper()
	for {
		v := in.visit(up, session)
		if v.status == http.StatusFound {
			return time.Since(since)
		}
		if v.status != http.StatusOK {
			t.Fatalf("%s answered %d, want 200 or 302", in.name, v.status)
		}
		if time.Since(since) > 10*(refresh+slack) {
			t.Fatalf("%s still serves the session %s after it was revoked", in.name, time.Since(since).Round(time.Millisecond))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func checkBound(t *testing.T, what string, took time.Duration) {
	t.Helper()
	t.Logf("%s: %s (bound %s + %s)", what, took.Round(time.Millisecond), refresh, slack)
	if took > refresh+slack {
		t.Errorf("%s took %s, more than revocation_refresh %s + %s", what, took.Round(time.Millisecond), refresh, slack)
	}
}

// kid returns the key id in an X-Amzn-Oidc-Data value's JOSE header.
func kid(t *testing.T, token string) string {
	t.Helper()
	head, _, _ := strings.Cut(token, ".")
	raw, err := base64.URLEncoding.DecodeString(head) // padded, as ALB writes it
	if err != nil {
		t.Fatalf("data header %q: %v", token, err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}

// verifyData checks an X-Amzn-Oidc-Data value as upstream code written for
// an ALB does: the PEM key for its kid from the instance's key URL.
func (in *instance) verifyData(token, sub string) {
	t := in.t
	t.Helper()
	resp, err := http.Get(in.url("/_gatehouse/public-keys/" + kid(t, token)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s's public key %s: status %d", in.name, kid(t, token), resp.StatusCode)
	}
	block, _ := pem.Decode(body)
	if block == nil {
		t.Fatalf("public key is not PEM: %q", body)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := pub.(*ecdsa.PublicKey); !ok {
		t.Fatalf("public key is %T", pub)
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithPaddingAllowed(), jwt.WithExpirationRequired()); err != nil {
		t.Fatalf("verifying X-Amzn-Oidc-Data with %s's key: %v", in.name, err)
	}
	if claims["sub"] != sub {
		t.Fatalf("X-Amzn-Oidc-Data sub %v, want %s", claims["sub"], sub)
	}
}

// sealedWith reports whether a session cookie value opens with the cookie
// key of that id in the store, and with no other of the store's keys.
func sealedWith(t *testing.T, st *postgres.Store, value, id string) bool {
	t.Helper()
	keys, err := st.Keys(context.Background(), "cookie")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, k := range keys {
		ck, err := middleware.NewCookieKeys([]middleware.CookieKey{{Material: k.Material}})
		if err != nil {
			t.Fatal(err)
		}
		c, err := middleware.NewCodec(cookieName, ck, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Decode(value)
		if k.ID == id {
			found = err == nil
		} else if err == nil {
			return false
		}
	}
	return found
}

// TestTwoInstancesOnePool runs two gateway processes, a and b, on one
// PostgreSQL schema, b through a proxy the test can cut, and checks what
// "several gateways, one pool" promises: sessions, signing keys, cookie key
// rotation, sign-out and disabled users cross from one to the other within
// revocation_refresh, and b serves signed-in users while it cannot reach
// the store at all.
func TestTwoInstancesOnePool(t *testing.T) {
	start := time.Now()
	dsn := testenv.PostgresDSN(t)
	gatehouse(t)
	built := time.Now()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.StartProxy(t, u.Host)
	viaProxy := *u
	viaProxy.Host = proxy.Addr()

	dir := t.TempDir()
	up := testenv.StartUpstream(t)
	a := newInstance(t, dir, "a", dsn, up.Addr())
	b := newInstance(t, dir, "b", viaProxy.String(), up.Addr())
	st, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	// b first, alone: it makes the pool's first keys. Then users, with
	// the CLI, on the same schema.
	b.start()
	var ada, grace struct {
		ID string `json:"id"`
	}
	for email, dst := range map[string]any{"ada@example.com": &ada, "grace@example.com": &grace} {
		out := a.cli("users", "create", "--email", email, "--password", password, "--json")
		if err := json.Unmarshal([]byte(out), dst); err != nil {
			t.Fatalf("users create --json: %v: %s", err, out)
		}
	}
	fromB := b.signIn("ada@example.com")
	k1 := kid(t, b.accepts(up, fromB, ada.ID, "b's own session").data)

	// A signing key rotation made elsewhere (the CLI here), before a
	// starts: a signs with the new key, which b has not loaded.
	var rotated []struct {
		Kind string `json:"kind"`
		ID   string `json:"id"`
	}
	if err := json.Unmarshal([]byte(a.cli("keys", "rotate", "--kind", "signing", "--json")), &rotated); err != nil || len(rotated) == 0 || rotated[0].Kind != "es256" {
		t.Fatalf("keys rotate --kind signing: %v, %+v", err, rotated)
	}
	k2 := rotated[0].ID
	a.start()

	t.Run("SessionCrossesInstances", func(t *testing.T) {
		a.t, b.t = t, t
		fromA := a.signIn("ada@example.com")
		va := a.accepts(up, fromA, ada.ID, "a's own session")
		if got := kid(t, va.data); got != k2 {
			t.Fatalf("a signs with %s, want the rotated key %s", got, k2)
		}
		vb := b.accepts(up, fromA, ada.ID, "a session made on a, at b")
		a.accepts(up, fromB, ada.ID, "a session made on b, at a")
		// b still signs its own sessions with the key it loaded at
		// start: it has not seen k2...
		if got := kid(t, b.accepts(up, b.signIn("ada@example.com"), ada.ID, "b's second session").data); got != k1 {
			t.Fatalf("b signs with %s, want %s (the test relies on b not having loaded %s yet)", got, k1, k2)
		}
		// ...yet the data a signed with k2, passed on by b, verifies
		// against b's key URL: an unknown kid makes b re-read the store.
		b.verifyData(vb.data, ada.ID)
		a.verifyData(vb.data, ada.ID)
	})

	// A user in 300 groups: the cookie carries no claims (they would not
	// fit); the instance that did not make it reads them from the store
	// on first sight and passes every group on.
	t.Run("LargeSessionCrossesInstances", func(t *testing.T) {
		a.t, b.t = t, t
		args := []string{"users", "create", "--email", "lin@example.com", "--password", password, "--json"}
		var groups []string
		for i := range 300 {
			g := fmt.Sprintf("team-with-a-rather-long-name-for-its-group-%03d", i)
			groups = append(groups, "--group", g)
		}
		var lin struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal([]byte(a.cli(append(args, groups...)...)), &lin); err != nil {
			t.Fatal(err)
		}
		session := a.signIn("lin@example.com")
		if len(session) > 1024 {
			t.Fatalf("the session cookie of a user in 300 groups is %d bytes", len(session))
		}
		for _, in := range []*instance{a, b, b} {
			in.accepts(up, session, lin.ID, "a large session made on a")
			if got := strings.Count(up.Last().Header.Get("X-Auth-Request-Groups"), ","); got != 299 {
				t.Fatalf("%s passed on %d groups, want 300", in.name, got+1)
			}
		}
	})

	t.Run("CookieKeyRotation", func(t *testing.T) {
		a.t, b.t = t, t
		old := a.signIn("ada@example.com")
		if !sealedWith(t, st, old, "1") {
			t.Fatal("the first session is not sealed with the pool's first cookie key")
		}
		const activateIn = 3 * time.Second
		var added struct {
			ID        string    `json:"id"`
			CreatedAt time.Time `json:"created_at"`
			State     string    `json:"state"`
		}
		out := a.cli("keys", "rotate", "--kind", "cookie", "--activate-in", activateIn.String(), "--json")
		if err := json.Unmarshal([]byte(out), &added); err != nil || added.State != "pending" {
			t.Fatalf("keys rotate --kind cookie: %v: %s", err, out)
		}
		// Pending: both load it, neither seals with it yet.
		time.Sleep(refresh + slack/2)
		if time.Now().After(added.CreatedAt) {
			t.Fatal("the test was too slow to see the pending key; raise activateIn")
		}
		pending := a.signIn("ada@example.com")
		if !sealedWith(t, st, pending, "1") {
			t.Error("a sealed a session with the new cookie key before its activation time")
		}
		time.Sleep(time.Until(added.CreatedAt) + 100*time.Millisecond)
		fromA, fromB := a.signIn("ada@example.com"), b.signIn("ada@example.com")
		for name, v := range map[string]string{"a": fromA, "b": fromB} {
			if !sealedWith(t, st, v, added.ID) {
				t.Errorf("a session made on %s after the activation time is not sealed with the new key", name)
			}
		}
		for _, in := range []*instance{a, b} {
			in.accepts(up, fromA, ada.ID, "new key, made on a")
			in.accepts(up, fromB, ada.ID, "new key, made on b")
			in.accepts(up, old, ada.ID, "old key, made before the rotation")
		}
		// Removing the old key ends its sessions everywhere.
		removed := time.Now()
		a.cli("keys", "remove", "--kind", "cookie", "--id", "1")
		checkBound(t, "old cookie key removed, its session refused at b", b.refusedWithin(up, old, removed))
		checkBound(t, "old cookie key removed, its session refused at a", a.refusedWithin(up, old, removed))
		a.accepts(up, fromB, ada.ID, "new key, after the old one was removed")
		b.accepts(up, fromA, ada.ID, "new key, after the old one was removed")
	})

	t.Run("SignOutOnA", func(t *testing.T) {
		a.t, b.t = t, t
		session := a.signIn("ada@example.com")
		b.accepts(up, session, ada.ID, "before sign-out")
		req, _ := http.NewRequest(http.MethodGet, a.url("/_gatehouse/logout"), nil)
		req.Header.Set("Cookie", cookieName+"="+session)
		resp, err := noRedirects.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		signedOut := time.Now()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("logout on a: status %d", resp.StatusCode)
		}
		if v := a.visit(up, session); v.status != http.StatusFound {
			t.Errorf("a serves the session it signed out (status %d)", v.status)
		}
		checkBound(t, "signed out on a, refused at b", b.refusedWithin(up, session, signedOut))
	})

	t.Run("DisabledByCLI", func(t *testing.T) {
		a.t, b.t = t, t
		session := a.signIn("grace@example.com")
		b.accepts(up, session, grace.ID, "before disable")
		a.cli("users", "disable", "--email", "grace@example.com")
		disabled := time.Now()
		checkBound(t, "disabled by the CLI, refused at b", b.refusedWithin(up, session, disabled))
		checkBound(t, "disabled by the CLI, refused at a", a.refusedWithin(up, session, disabled))
	})

	t.Run("StoreUnreachableFromB", func(t *testing.T) {
		a.t, b.t = t, t
		session := a.signIn("ada@example.com")
		b.accepts(up, session, ada.ID, "before the cut")
		failures := strings.Count(b.log.String(), "refreshing revocations failed")

		proxy.Cut()
		cut := time.Now()
		// b finds out at its next refresh, and logs it.
		for strings.Count(b.log.String(), "refreshing revocations failed") == failures {
			if time.Since(cut) > 5*(refresh+slack) {
				t.Fatalf("b logged no failed refresh %s after the store was cut", time.Since(cut))
			}
			time.Sleep(20 * time.Millisecond)
		}
		// What needs the store fails on b: a password sign-in...
		c := testenv.Browser(t)
		resp, err := c.Get(b.url("/_gatehouse/signin?rd=/"))
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if m := csrfField.FindSubmatch(page); m == nil {
			t.Fatalf("b's sign-in page: %d", resp.StatusCode)
		} else if b.postSignIn(c, string(m[1]), "ada@example.com") {
			t.Fatal("b signed a user in without its store: the cut does not cut")
		}
		// ...while signed-in users are served as before, without waiting.
		var slowest time.Duration
		for range 50 {
			v := b.accepts(up, session, ada.ID, "store unreachable")
			slowest = max(slowest, v.took)
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("b served 50 authenticated requests without its store; slowest %s", slowest.Round(time.Microsecond))
		if slowest > 500*time.Millisecond {
			t.Errorf("an authenticated request at b took %s while its store was down", slowest)
		}
		// A sign-out on a is made in the store b cannot read: b keeps
		// its last deny list (the price of no I/O per request) ...
		req, _ := http.NewRequest(http.MethodGet, a.url("/_gatehouse/logout"), nil)
		req.Header.Set("Cookie", cookieName+"="+session)
		if resp, err := noRedirects.Do(req); err != nil || resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("logout on a: %v", err)
		}
		time.Sleep(refresh + slack)
		b.accepts(up, session, ada.ID, "revoked on a while b cannot read the store")
		// ... and catches up at its first refresh once it can.
		proxy.Restore()
		restored := time.Now()
		took := b.refusedWithin(up, session, restored)
		t.Logf("store back: b refuses the session revoked meanwhile after %s", took.Round(time.Millisecond))
		if took > refresh+2*slack { // a new connection to open first
			t.Errorf("b took %s after the store came back to apply the revocation", took)
		}
	})
	// Last: it leaves this address throttled for a minute.
	t.Run("LockoutAndThrottleShared", func(t *testing.T) {
		a.t, b.t = t, t
		c := testenv.Browser(t)
		resp, err := c.Get(a.url("/_gatehouse/signin?rd=/"))
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := csrfField.FindSubmatch(page)
		if m == nil {
			t.Fatalf("a's sign-in page: %d", resp.StatusCode)
		}
		csrf := string(m[1]) // the pool's cookie keys seal it: good on b too
		both := []*instance{a, b}

		// Five wrong passwords, alternating instances, lock the login on
		// both: the failures are counted in the store.
		for i := range 5 {
			if st, body := both[i%2].postPassword(c, csrf, "mallory@example.com", "not the password"); st != http.StatusUnauthorized {
				t.Fatalf("wrong password %d on %s: %d\n%s", i+1, both[i%2].name, st, body)
			}
		}
		for _, in := range both {
			st, body := in.postPassword(c, csrf, "mallory@example.com", "not the password")
			if st != http.StatusTooManyRequests || !strings.Contains(body, "too many failed sign-ins") {
				t.Fatalf("locked login on %s: %d\n%s", in.name, st, body)
			}
		}

		// The per-IP throttle (30 a minute) counts in the store too: posts
		// alternating between the instances meet one budget, not one each.
		throttledAt := 0
		for i := 1; i <= 61 && throttledAt == 0; i++ {
			st, body := both[i%2].postPassword(c, csrf, fmt.Sprintf("guess%d@example.com", i), "not the password")
			if st == http.StatusTooManyRequests && strings.Contains(body, "from your network") {
				throttledAt = i
			}
		}
		t.Logf("the shared throttle refused post %d of this run (posts before it count too)", throttledAt)
		if throttledAt == 0 || throttledAt > 31 {
			t.Fatalf("throttled at post %d, want by the 31st across both instances", throttledAt)
		}
	})
	t.Logf("two instances: %s in all, %s of it building the binary", time.Since(start).Round(time.Millisecond), built.Sub(start).Round(time.Millisecond))
}

// TestExampleCaddyfiles keeps examples/multi-instance.Caddyfile and its
// load balancer in step with the binary: both adapt, and every instance
// gets the same PostgreSQL pool from DATABASE_URL and its own port.
func TestExampleCaddyfiles(t *testing.T) {
	examples := filepath.Join("..", "..", "examples")
	adapt := func(file string, env ...string) map[string]any {
		t.Helper()
		cmd := exec.Command(gatehouse(t), "adapt", "--config", filepath.Join(examples, file))
		cmd.Env = append(os.Environ(), env...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("adapt %s: %v\n%s", file, err, stderr.String())
		}
		var cfg map[string]any
		if err := json.Unmarshal(out, &cfg); err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	for _, port := range []string{"8091", "8092"} {
		cfg := adapt("multi-instance.Caddyfile", "GATEHOUSE_PORT="+port, "GATEHOUSE_INSTANCE=x")
		raw, _ := json.Marshal(cfg)
		for _, want := range []string{`"driver":"postgres"`, `"dsn":"{env.DATABASE_URL}"`, `"127.0.0.1:` + port + `"`} {
			if !strings.Contains(string(raw), want) {
				t.Errorf("multi-instance.Caddyfile with port %s: no %s in\n%s", port, want, raw)
			}
		}
	}
	raw, _ := json.Marshal(adapt("multi-lb.Caddyfile"))
	for _, want := range []string{`"127.0.0.1:8091"`, `"127.0.0.1:8092"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("multi-lb.Caddyfile: no upstream %s", want)
		}
	}
}
