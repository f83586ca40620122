package saml

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"html"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/gatehouse-auth/gatehouse/federation"
	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/store/sqlite"
)

// The tests' identity provider is samlify's (testdata/idp.mjs), run once
// per test binary with node on a loopback port; each test registers its
// own service provider (a connector of its own) with its own user.

const (
	testIssuer = "https://auth.example.test"
	testACS    = testIssuer + federation.SAMLCallbackPath
)

type testIdP struct {
	base string
	key  *rsa.PrivateKey
	cert *x509.Certificate
	cmd  *exec.Cmd
	log  *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(s + "\n")
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var (
	idpOnce sync.Once
	idp     *testIdP
	idpErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if idp != nil && idp.cmd != nil {
		_ = idp.cmd.Process.Kill()
		_ = idp.cmd.Wait()
	}
	os.Exit(code)
}

// theIdP starts the node IdP once, or skips the test (fails it under
// CI=true, where .ci/run installs node and samlify).
func theIdP(t *testing.T) *testIdP {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	node, err := exec.LookPath("node")
	if err != nil {
		missing = append(missing, "node")
	}
	if _, err := os.Stat(filepath.Join(root, "node_modules", "samlify", "package.json")); err != nil {
		missing = append(missing, "node_modules/samlify (npm ci at the repository root)")
	}
	if len(missing) > 0 {
		msg := "the SAML tests need " + strings.Join(missing, ", ")
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; CI=true, so this is a failure, not a skip")
		}
		t.Skip(msg + "; skipping (set CI=true to make this a failure)")
	}
	idpOnce.Do(func() { idp, idpErr = startIdP(node, root) })
	if idpErr != nil {
		t.Fatal(idpErr)
	}
	return idp
}

func startIdP(node, root string) (*testIdP, error) {
	dir, err := os.MkdirTemp("", "gatehouse-saml-idp-")
	if err != nil {
		return nil, err
	}
	key, cert, err := selfSigned("test IdP")
	if err != nil {
		return nil, err
	}
	keyFile, certFile := filepath.Join(dir, "key.pem"), filepath.Join(dir, "cert.pem")
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(node, filepath.Join(root, "federation", "saml", "testdata", "idp.mjs"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "IDP_KEY_FILE="+keyFile, "IDP_CERT_FILE="+certFile)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	log := &lockedBuffer{}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			log.add(line)
			if b, ok := strings.CutPrefix(line, "listening "); ok {
				ready <- b
			}
		}
		close(ready)
	}()
	select {
	case base, ok := <-ready:
		if !ok {
			_ = cmd.Wait()
			return nil, fmt.Errorf("the SAML IdP exited:\n%s", log)
		}
		_ = os.RemoveAll(dir) // read at start
		return &testIdP{base: base, key: key, cert: cert, cmd: cmd, log: log}, nil
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("the SAML IdP did not start:\n%s", log)
	}
}

func selfSigned(cn string) (*rsa.PrivateKey, *x509.Certificate, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return key, cert, err
}

// spMaterial is one set of SP keys made once, so that most tests do not
// each make two RSA keys: newConnector puts it in the store before Open,
// which reads it as it would read keys another instance made.
// TestKeysMadeOnFirstOpenAndShared covers the making.
var spMaterial = sync.OnceValue(func() []byte {
	m, err := newKeyMaterial("test SP", time.Now())
	if err != nil {
		panic(err)
	}
	b, _ := json.Marshal(m)
	return b
})

func newStore(t *testing.T) store.Store { return newStoreTB(t) }

func newStoreTB(t testing.TB) store.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

var providerSeq atomic.Int64

// user is who the IdP signs in for a service provider.
type user struct {
	NameID       string              `json:"nameID"`
	NameIDFormat string              `json:"nameIDFormat"`
	Attributes   map[string][]string `json:"attributes,omitempty"`
	Status       string              `json:"status,omitempty"`
}

var ada = user{
	NameID:       "ada-7f3a",
	NameIDFormat: "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
	Attributes: map[string][]string{
		"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress": {"Ada@Acme.example"},
		"urn:oid:2.5.4.42": {"Ada"},
		"sn":               {"Lovelace"},
		"groups":           {"eng", "ops"},
	},
}

// setup is one test's connector and what made it.
type setup struct {
	t     *testing.T
	idp   *testIdP
	c     *Connector
	store store.Store
	now   atomic.Pointer[time.Time]
	// lastURL is where the last Begin sent the browser; form is a form
	// the attack tests change.
	lastURL string
	form    url.Values
}

type option func(p *Provider, env *federation.Env)

func caddyDuration(d time.Duration) caddy.Duration { return caddy.Duration(d) }

func withDomains(domains ...string) option {
	return func(p *Provider, _ *federation.Env) { p.Domains = domains }
}

// newConnector opens a connector on the test IdP and registers it there,
// answering with mode ("response", "assertion", "both", "encrypted") for u.
func newConnector(t *testing.T, mode string, u user, opts ...option) *setup {
	t.Helper()
	ip := theIdP(t)
	s := &setup{t: t, idp: ip}
	p := &Provider{MetadataURL: ip.base + "/metadata"}
	env := federation.Env{
		Name:       fmt.Sprintf("acme%d", providerSeq.Add(1)),
		Pool:       "default",
		Issuer:     testIssuer,
		HTTPClient: &http.Client{Timeout: 10 * time.Second},
		Now: func() time.Time {
			if n := s.now.Load(); n != nil {
				return *n
			}
			return time.Now()
		},
	}
	for _, o := range opts {
		o(p, &env)
	}
	if env.Store == nil {
		env.Store = newStore(t)
	}
	s.store = env.Store
	err := env.Store.AddKey(t.Context(), store.Key{Kind: KeyKind, ID: env.Name, Material: spMaterial()})
	if err != nil && !errors.Is(err, store.ErrConflict) {
		t.Fatal(err)
	}
	if err := p.validate(); err != nil {
		t.Fatal(err)
	}
	conn, err := p.Open(t.Context(), env)
	if err != nil {
		t.Fatal(err)
	}
	s.c = conn.(*Connector)
	s.register(mode, u)
	return s
}

func (s *setup) register(mode string, u user) {
	s.t.Helper()
	md, err := s.c.Metadata(s.t.Context(), testACS)
	if err != nil {
		s.t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"metadata": string(md), "mode": mode, "user": u})
	resp, err := http.Post(s.idp.base+"/sp", "application/json", bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		s.t.Fatalf("registering the SP: %s\n%s", resp.Status, s.idp.log)
	}
}

// setNow moves the connector's clock.
func (s *setup) setNow(t time.Time) { s.now.Store(&t) }

// begin starts a sign-in.
func (s *setup) begin() federation.Request {
	s.t.Helper()
	req := federation.Request{State: randomString(), RedirectURI: testACS}
	start, err := s.c.Begin(s.t.Context(), req)
	if err != nil {
		s.t.Fatalf("Begin: %v", err)
	}
	if start.RequestID == "" {
		s.t.Fatal("Begin: no RequestID")
	}
	req.RequestID = start.RequestID
	s.lastURL = start.URL
	return req
}

// signIn runs Begin and the IdP's answer: the request and the form the
// browser would post to the ACS.
func (s *setup) signIn() (federation.Request, url.Values) {
	s.t.Helper()
	req := s.begin()
	return req, s.idpForm(s.lastURL)
}

// idpForm GETs an IdP URL and returns the auto-posting form's fields.
func (s *setup) idpForm(u string) url.Values {
	s.t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("the IdP answered %s: %s", resp.Status, b)
	}
	form, action := parseForm(string(b))
	if action != testACS {
		s.t.Fatalf("the IdP's form posts to %q, want %q", action, testACS)
	}
	return form
}

var (
	formAction = regexp.MustCompile(`<form method="post" action="([^"]*)">`)
	formInput  = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

func parseForm(page string) (url.Values, string) {
	v := url.Values{}
	for _, m := range formInput.FindAllStringSubmatch(page, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	action := ""
	if m := formAction.FindStringSubmatch(page); m != nil {
		action = html.UnescapeString(m[1])
	}
	return v, action
}

func (s *setup) complete(req federation.Request, form url.Values) (*federation.Identity, error) {
	return s.c.Complete(s.t.Context(), federation.Callback{Request: req, Params: form})
}

func randomString() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// responseXML and withResponse move between the posted form and the
// Response document, for the attack tests that change it.
func responseXML(t *testing.T, form url.Values) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(form.Get("SAMLResponse"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func withResponse(form url.Values, doc string) url.Values {
	out := url.Values{}
	for k, v := range form {
		out[k] = append([]string(nil), v...)
	}
	out.Set("SAMLResponse", base64.StdEncoding.EncodeToString([]byte(doc)))
	return out
}

func wantErr(t *testing.T, err error, wants ...error) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want an error matching %v", wants)
	}
	t.Logf("refused: %v", err)
	for _, w := range wants {
		if !errors.Is(err, w) {
			t.Fatalf("error %q does not match %q", err, w)
		}
	}
}
