package oidcclient

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// discoveryServer serves a discovery document whose issuer is issuer(base).
func discoveryServer(t *testing.T, issuer func(base string) string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if issuer == nil {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer":                 issuer(srv.URL),
			"authorization_endpoint": srv.URL + "/auth",
			"token_endpoint":         srv.URL + "/token",
			"jwks_uri":               srv.URL + "/jwks",
		})
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func newClient(t *testing.T, issuer, tenantClaim string, now func() time.Time) *Client {
	t.Helper()
	c, err := New(Config{Issuer: issuer, ClientID: "c", Scopes: []string{"openid"}, TenantClaim: tenantClaim, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestDiscoveryIssuer: the document must state the configured issuer; a
// templated one only with a tenant claim and on the same host.
func TestDiscoveryIssuer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		issuer func(base string) string
		tenant string
		ok     bool
	}{
		{"same", func(b string) string { return b + "/common/v2.0" }, "", true},
		{"another", func(b string) string { return b + "/other" }, "", false},
		{"templated without tenant claim", func(b string) string { return b + "/{tenantid}/v2.0" }, "", false},
		{"templated", func(b string) string { return b + "/{tenantid}/v2.0" }, "tid", true},
		{"templated on another host", func(string) string { return "https://evil.example/{tenantid}/v2.0" }, "tid", false},
		{"templated twice", func(b string) string { return b + "/{tenantid}/{tenantid}" }, "tid", false},
		{"another tenant with a tenant claim", func(b string) string { return b + "/9188/v2.0" }, "tid", true},
		{"another host with a tenant claim", func(string) string { return "https://evil.example/9188/v2.0" }, "tid", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := discoveryServer(t, tt.issuer)
			c := newClient(t, srv.URL+"/common/v2.0", tt.tenant, nil)
			if err := c.Discover(t.Context()); (err == nil) != tt.ok {
				t.Fatalf("Discover: %v, want ok %v", err, tt.ok)
			}
			if !tt.ok {
				return
			}
			if tt.tenant == "" || !strings.Contains(tt.issuer(srv.URL), TenantPlaceholder) {
				return
			}
			for iss, want := range map[string]bool{
				srv.URL + "/aaaa-1/v2.0":      true,
				srv.URL + "/common/v2.0":      true,
				srv.URL + "/../v2.0":          false,
				srv.URL + "/a/b/v2.0":         false,
				srv.URL + "//v2.0":            false,
				"https://evil.example/x/v2.0": false,
			} {
				if got := c.IssuerMatches(iss); got != want {
					t.Errorf("IssuerMatches(%s) = %v, want %v", iss, got, want)
				}
			}
		})
	}
}

// TestDiscoveryBackoff: a provider that is down is asked again only after
// a back-off that doubles up to its bound.
func TestDiscoveryBackoff(t *testing.T) {
	t.Parallel()
	srv, calls := discoveryServer(t, nil)
	now := time.Now()
	c := newClient(t, srv.URL, "", func() time.Time { return now })
	var waits []time.Duration
	for range 9 {
		err := c.Discover(t.Context())
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Discover: %v, want ErrUnavailable", err)
		}
		// Within the back-off the provider is not asked.
		n := calls.Load()
		_ = c.Discover(t.Context())
		if calls.Load() != n {
			t.Fatal("asked again within the back-off")
		}
		waits = append(waits, c.RetryAfter())
		now = now.Add(c.RetryAfter())
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60}
	for i := range want {
		if waits[i] != want[i]*time.Second {
			t.Errorf("back-off after %d failures: %v, want %v", i+1, waits[i], want[i]*time.Second)
		}
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{
		{Issuer: "http://idp.example", ClientID: "c", Scopes: []string{"openid"}},
		{Issuer: "https://idp.example", Scopes: []string{"openid"}},
		{Issuer: "https://idp.example", ClientID: "c", Scopes: []string{"email"}},
		{Issuer: "https://idp.example/?q", ClientID: "c", Scopes: []string{"openid"}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}
