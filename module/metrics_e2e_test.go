package module_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// TestMetricsThroughCaddy reads Caddy's metrics handler after real traffic
// on the issuer site (a failed sign-in, a sign-in with an authorization
// code grant, a refresh, a client credentials grant) and finds Gatehouse's
// counters moved by exactly that, under bounded labels: no address or
// user id anywhere in the exposition.
func TestMetricsThroughCaddy(t *testing.T) {
	t.Setenv("GATEHOUSE_TEST_WEBAPP_SECRET", webappSecret)
	dir := t.TempDir()
	issuer := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", testenv.FreePort(t))
	text := fmt.Sprintf(`{
	default_bind 127.0.0.1
	gatehouse {
		pool default {
			store sqlite %s
			issuer %s
			%s
			%s
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
	metrics /metrics
}
`, filepath.Join(dir, "gatehouse.db"), issuer, testenv.FastHash, idpClients, issuer, strings.TrimSuffix(metricsURL, "/metrics"))
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	testenv.StartCaddy(t, text)
	testenv.WaitHTTP(t, issuer+"/.well-known/openid-configuration", 5*time.Second)
	op, err := gooidc.NewProvider(context.Background(), issuer)
	if err != nil {
		t.Fatal(err)
	}
	s := newIDPSite(issuer, openPoolFile(t, file), op)
	ada := s.createUser(t, adaEmail, "Ada Lovelace")

	before := scrape(t, metricsURL)

	c := testenv.Browser(t)
	csrf := signInForm(t, c, issuer, "/")
	if resp, body := postSignIn(t, c, issuer, csrf, "/", adaEmail, "not her password"); resp.StatusCode == http.StatusSeeOther {
		t.Fatalf("a wrong password signed in: %s", body)
	}
	webapp := s.RP("webapp", webappSecret, webappCB)
	got, n := s.Login(t, testenv.Browser(t), webapp, adaEmail)
	if n != 1 {
		t.Fatalf("signed in %d times, want 1", n)
	}
	if _, err := webapp.Refresh(got.Tok.RefreshToken); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if mt := s.ClientCredentials(t, "machine", machineSecret, ""); mt["access_token"] == nil {
		t.Fatalf("client credentials: %v", mt)
	}

	after := scrape(t, metricsURL)
	for name, want := range map[string]float64{
		`gatehouse_sign_ins_total{method="password",pool="default"}`:                    1,
		`gatehouse_sign_in_failures_total{pool="default",reason="invalid_credentials"}`: 1,
		`gatehouse_tokens_issued_total{grant_type="authorization_code",pool="default"}`: 1,
		`gatehouse_tokens_issued_total{grant_type="refresh_token",pool="default"}`:      1,
		`gatehouse_tokens_issued_total{grant_type="client_credentials",pool="default"}`: 1,
		`gatehouse_second_factors_total{pool="default",result="ok"}`:                    0,
		`gatehouse_lockouts_total{pool="default"}`:                                      0,
	} {
		v, ok := after[name]
		if !ok {
			t.Errorf("%s is not exposed", name)
			continue
		}
		if d := v - before[name]; d != want {
			t.Errorf("%s moved by %v, want %v", name, d, want)
		}
	}
	for line := range after {
		if strings.Contains(line, ada.ID) || strings.Contains(line, adaEmail) {
			t.Errorf("a metric's labels name the user: %s", line)
		}
	}
}

// scrape reads a Prometheus text exposition as series -> value, the
// gatehouse_ series only.
func scrape(t *testing.T, u string) map[string]float64 {
	t.Helper()
	resp, body := get(t, http.DefaultClient, u, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("metrics: %d %s", resp.StatusCode, body)
	}
	out := map[string]float64{}
	for line := range strings.SplitSeq(body, "\n") {
		if !strings.HasPrefix(line, "gatehouse_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}
