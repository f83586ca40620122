package oidc

import (
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/signing"
	"github.com/gatehouse-auth/gatehouse/store/sqlite"
	"github.com/gatehouse-auth/gatehouse/store/sqlite/sqlitetest"
)

// openKeyStore opens a fresh SQLite store at path (or in a temp dir when
// path is empty), closed when the test ends.
func openKeyStore(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "gatehouse.db")
	}
	s := sqlitetest.Open(t, path)
	return s
}

type noSessions struct{}

func (noSessions) Current(*http.Request) (SessionInfo, bool)    { return SessionInfo{}, false }
func (noSessions) End(http.ResponseWriter, *http.Request) error { return nil }

// testProvider builds a provider on a fresh store, with both key kinds.
func testProvider(t testing.TB, clients ...*Client) *Provider {
	t.Helper()
	s := openKeyStore(t, "")
	pl, err := pool.New(t.Context(), s, pool.Config{Name: "default", Hash: pool.HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1}})
	if err != nil {
		t.Fatal(err)
	}
	ks, err := signing.Open(t.Context(), s, signing.Policy{Algs: []string{signing.RS256}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewProvider(Config{
		Issuer: "https://auth.example.test", Pool: pl, Keys: ks, Sessions: noSessions{},
		Clients: clients, MarkerKey: make([]byte, 32),
		SignUpPath: "/_gatehouse/signup", ForgotPasswordPath: "/_gatehouse/forgot",
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestClientValidate(t *testing.T) {
	ok := func() *Client {
		return &Client{ID: "app", Secret: "0123456789abcdef", RedirectURIs: []string{"https://app.test/cb"}}
	}
	tests := []struct {
		name   string
		change func(*Client)
		want   string // "" when valid
	}{
		{"valid confidential", func(*Client) {}, ""},
		{"valid public", func(c *Client) { c.Secret, c.Public = "", true }, ""},
		{"valid machine", func(c *Client) { c.RedirectURIs, c.GrantTypes = nil, []string{"client_credentials"} }, ""},
		{"native app scheme", func(c *Client) { c.RedirectURIs = []string{"com.example.app:/cb"} }, ""},
		{"bad id", func(c *Client) { c.ID = "a b" }, "client id"},
		{"public with secret", func(c *Client) { c.Public = true }, "no secret"},
		{"confidential without secret", func(c *Client) { c.Secret = "" }, "secret: required"},
		{"public machine", func(c *Client) { c.Secret, c.Public, c.GrantTypes = "", true, []string{"client_credentials"} }, "confidential"},
		{"refresh without code", func(c *Client) { c.GrantTypes = []string{"refresh_token"} }, "needs authorization_code"},
		{"no redirect", func(c *Client) { c.RedirectURIs = nil }, "at least one"},
		{"fragment", func(c *Client) { c.RedirectURIs = []string{"https://app.test/cb#f"} }, "fragment"},
		{"http without host", func(c *Client) { c.RedirectURIs = []string{"https:///cb"} }, "host"},
		{"bad logout uri", func(c *Client) { c.PostLogoutRedirectURIs = []string{"/bye"} }, "post_logout_redirect_uri"},
		{"bad scope", func(c *Client) { c.Scopes = []string{"a\"b"} }, "not a valid scope"},
		{"id ttl too long", func(c *Client) { c.IDTokenTTL = 25 * time.Hour }, "id_token_ttl"},
		{"refresh ttl too long", func(c *Client) { c.RefreshTokenTTL = 400 * 24 * time.Hour }, "refresh_token_ttl"},
		{"bad alg", func(c *Client) { c.SigningAlg = "none" }, "signing_alg"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok()
			tc.change(c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestClientDefaultsAndSecret(t *testing.T) {
	p := testProvider(t, &Client{ID: "app", Secret: "0123456789abcdef", RedirectURIs: []string{"https://app.test/cb"}})
	c, err := p.clients.lookup(t.Context(), "app")
	if err != nil {
		t.Fatal(err)
	}
	if c.IDTokenTTL != time.Hour || c.AccessTokenTTL != time.Hour || c.RefreshTokenTTL != 30*24*time.Hour || c.SigningAlg != signing.ES256 {
		t.Errorf("defaults: %+v", c)
	}
	if !c.allows(GrantAuthorizationCode) || !c.allows(GrantRefreshToken) || c.allows(GrantClientCredentials) {
		t.Errorf("default grants: %v", c.GrantTypes)
	}
	for secret, want := range map[string]bool{"0123456789abcdef": true, "0123456789abcdeF": false, "": false, "0123456789abcdef0": false} {
		if got := c.checkSecret(secret); got != want {
			t.Errorf("checkSecret(%q) = %v, want %v", secret, got, want)
		}
	}
	if _, err := p.clients.lookup(t.Context(), "nope"); err != errUnknownClient {
		t.Errorf("unknown client: %v", err)
	}
}

func TestLoginMarker(t *testing.T) {
	p := testProvider(t)
	now := time.Now()
	m := p.newMarker("app", now)
	if got, ok := p.checkMarker(m, "app", now.Add(time.Minute)); !ok || !got.Equal(time.Unix(0, now.UnixNano())) {
		t.Fatalf("genuine marker: %v %v", got, ok)
	}
	ts, mac, _ := strings.Cut(m, ".")
	earlier := now.Add(-time.Hour / 2).UnixNano()
	for name, tc := range map[string]struct {
		marker, client string
		at             time.Time
	}{
		"another client":   {m, "other", now},
		"moved earlier":    {strings.Replace(m, ts, strings.Repeat("1", len(ts)), 1), "app", now},
		"other time":       {strconv.FormatInt(earlier, 10) + "." + mac, "app", now},
		"tampered mac":     {ts + "." + strings.Repeat("A", len(mac)), "app", now},
		"no mac":           {ts, "app", now},
		"older than limit": {m, "app", now.Add(markerMaxAge + time.Second)},
		"empty":            {"", "app", now},
	} {
		if _, ok := p.checkMarker(tc.marker, tc.client, tc.at); ok {
			t.Errorf("%s: marker accepted", name)
		}
	}
}

func TestNewProviderChecks(t *testing.T) {
	s := openKeyStore(t, "")
	pl, err := pool.New(t.Context(), s, pool.Config{Name: "default", Hash: pool.HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1}})
	if err != nil {
		t.Fatal(err)
	}
	esOnly, err := signing.Open(t.Context(), s, signing.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	both, err := signing.Open(t.Context(), s, signing.Policy{Algs: []string{signing.RS256}})
	if err != nil {
		t.Fatal(err)
	}
	good := Config{Issuer: "https://auth.example.test/pool", Pool: pl, Keys: both, Sessions: noSessions{}, MarkerKey: make([]byte, 32)}
	for name, change := range map[string]func(*Config){
		"no RS256 keys":     func(c *Config) { c.Keys = esOnly },
		"issuer with query": func(c *Config) { c.Issuer = "https://auth.example.test/?x=1" },
		"issuer not a URL":  func(c *Config) { c.Issuer = "auth.example.test" },
		"short marker key":  func(c *Config) { c.MarkerKey = make([]byte, 16) },
		"no sessions":       func(c *Config) { c.Sessions = nil },
		"duplicate client": func(c *Config) {
			cl := &Client{ID: "a", Public: true, RedirectURIs: []string{"https://a.test/cb"}}
			c.Clients = []*Client{cl, cl}
		},
	} {
		cfg := good
		change(&cfg)
		if _, err := NewProvider(cfg); err == nil {
			t.Errorf("%s: NewProvider accepted it", name)
		}
	}
	p, err := NewProvider(good)
	if err != nil {
		t.Fatal(err)
	}
	// The issuer's path prefixes every endpoint.
	req, _ := http.NewRequest(http.MethodGet, "https://auth.example.test/pool/.well-known/openid-configuration", nil)
	if !p.Serve(noopWriter{http.Header{}}, req) {
		t.Error("discovery under the issuer's path not served")
	}
	req, _ = http.NewRequest(http.MethodGet, "https://auth.example.test/.well-known/openid-configuration", nil)
	if p.Serve(noopWriter{http.Header{}}, req) {
		t.Error("discovery outside the issuer's path served")
	}
	if !strings.Contains(string(p.discovery), `"token_endpoint":"https://auth.example.test/pool/oauth2/token"`) {
		t.Errorf("discovery: %s", p.discovery)
	}
}

type noopWriter struct{ h http.Header }

func (w noopWriter) Header() http.Header       { return w.h }
func (noopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (noopWriter) WriteHeader(int)             {}
