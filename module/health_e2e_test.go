package module_test

import (
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// TestHealth asks the issuer site's health check with the PostgreSQL store
// up, hung, refusing connections, and back: 200 {"status":"ok"} while it
// answers, 503 with Retry-After (within the budget) while it does not.
func TestHealth(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.StartProxy(t, u.Host)
	u.Host = proxy.Addr()
	t.Setenv("GATEHOUSE_OUTAGE_DSN", u.String())
	s := startOutageSite(t, "store postgres {env.GATEHOUSE_OUTAGE_DSN}")
	health := s.issuer + "/_gatehouse/health"

	check := func(what string, wantStatus int, wantBody string) {
		t.Helper()
		start := time.Now()
		resp, err := http.Get(health)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		if resp.StatusCode != wantStatus || string(body) != wantBody {
			t.Errorf("%s: %d %q, want %d %q", what, resp.StatusCode, body, wantStatus, wantBody)
		}
		if wantStatus == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s: 503 without Retry-After", what)
		}
		if took > outageBudget {
			t.Errorf("%s took %v, want under %v", what, took, outageBudget)
		}
	}
	const ok = `{"status":"ok"}` + "\n"
	const down = `{"status":"unavailable","reason":"the store does not answer"}` + "\n"
	check("store up", http.StatusOK, ok)
	proxy.Pause()
	check("store hung", http.StatusServiceUnavailable, down)
	proxy.Resume()
	check("store back", http.StatusOK, ok)
	proxy.Cut()
	check("store refusing", http.StatusServiceUnavailable, down)
	proxy.Restore()
	check("store back again", http.StatusOK, ok)

	resp, err := http.Post(health, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", resp.StatusCode)
	}
}
