package module_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/module"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// outageBudget is how long an answer may take while the store is down or
// hung, with store_timeout 1s: the shared throttle's count and the sign-in's
// first store call may each use the timeout, plus the password hash.
const outageBudget = 5 * time.Second

const outageSecret = "outage-client-secret"

// outageSite is a gateway and an OpenID provider on one pool whose store is
// storeLine, with store_timeout 1s.
type outageSite struct {
	app, issuer string
	pool        *module.Pool
}

func startOutageSite(t *testing.T, storeLine string) *outageSite {
	t.Helper()
	dir := t.TempDir()
	up := testenv.StartUpstream(t)
	appPort, idpPort := testenv.FreePort(t), testenv.FreePort(t)
	issuer := fmt.Sprintf("http://127.0.0.1:%d", idpPort)
	text := fmt.Sprintf(`{
	default_bind 127.0.0.1
	gatehouse {
		pool default {
			%s
			store_timeout 1s
			issuer %s
			revocation_refresh 100ms
			%s
			client webapp {
				redirect_uri https://app.example.test/cb
				secret %s
			}
		}
	}
}

http://127.0.0.1:%d {
	gatehouse {
		pool default
	}
	reverse_proxy %s
}

%s {
	gatehouse_idp {
		pool default
	}
	respond "issuer home"
}
`, storeLine, issuer, testenv.FastHash, outageSecret, appPort, up.Addr(), issuer)
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	testenv.StartCaddy(t, text)
	app := fmt.Sprintf("http://127.0.0.1:%d", appPort)
	testenv.WaitHTTP(t, app+"/_gatehouse/static/gatehouse.css", 0)
	testenv.WaitHTTP(t, issuer+"/.well-known/openid-configuration", 5*time.Second)
	p := openPoolFile(t, file)
	return &outageSite{app: app, issuer: issuer, pool: p}
}

// wantUnavailablePage checks an answer given while the store is out: 503,
// Retry-After, a page that says to try again, in time.
func wantUnavailablePage(t *testing.T, what string, resp *http.Response, body string, took time.Duration) {
	t.Helper()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("%s: status %d, want 503:\n%s", what, resp.StatusCode, body)
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Errorf("%s: no Retry-After", what)
	}
	if !strings.Contains(strings.ToLower(body), "try again") {
		t.Errorf("%s: page does not say to try again:\n%s", what, body)
	}
	if took > outageBudget {
		t.Errorf("%s took %v, want under %v", what, took, outageBudget)
	}
	t.Logf("%s: %d after %v", what, resp.StatusCode, took)
}

// wantUnavailableJSON posts the sign-in form as an API client that asks for
// JSON: 503, Retry-After, and OAuth's temporarily_unavailable.
func wantUnavailableJSON(t *testing.T, what string, c *http.Client, base, csrf string) {
	t.Helper()
	form := url.Values{"csrf": {csrf}, "rd": {"/"}, "email": {adaEmail}, "password": {adaPassword}}
	req, err := http.NewRequest(http.MethodPost, base+"/_gatehouse/signin", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	req.Header.Set("Accept", "application/json")
	resp, body := do(t, c, req)
	var out map[string]any
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("%s as JSON: not JSON: status %d, %q", what, resp.StatusCode, body)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || out["error"] != "temporarily_unavailable" ||
		resp.Header.Get("Retry-After") == "" {
		t.Errorf("%s as JSON: status %d, Retry-After %q, %v; want 503 temporarily_unavailable with Retry-After",
			what, resp.StatusCode, resp.Header.Get("Retry-After"), out)
	}
}

// timedSignIn posts the sign-in form and times the answer.
func timedSignIn(t *testing.T, c *http.Client, base, csrf, email, password string) (*http.Response, string, time.Duration) {
	t.Helper()
	start := time.Now()
	resp, body := postSignIn(t, c, base, csrf, "/", email, password)
	return resp, body, time.Since(start)
}

// tokenRequest posts an authorization_code grant for an unknown code: the
// provider must read the store to refuse it.
func (s *outageSite) tokenRequest(t *testing.T) (*http.Response, map[string]any, time.Duration) {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {"no-such-code"},
		"redirect_uri": {"https://app.example.test/cb"}}
	req, err := http.NewRequest(http.MethodPost, s.issuer+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("webapp", outageSecret)
	start := time.Now()
	resp, body := do(t, http.DefaultClient, req)
	took := time.Since(start)
	var out map[string]any
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("token endpoint: not JSON: %q", body)
	}
	return resp, out, took
}

func (s *outageSite) wantTokenUnavailable(t *testing.T, what string) {
	t.Helper()
	resp, out, took := s.tokenRequest(t)
	if resp.StatusCode != http.StatusServiceUnavailable || out["error"] != "temporarily_unavailable" {
		t.Errorf("%s: token endpoint: status %d, %v; want 503 temporarily_unavailable", what, resp.StatusCode, out)
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Errorf("%s: token endpoint: no Retry-After", what)
	}
	if took > outageBudget {
		t.Errorf("%s: token endpoint took %v, want under %v", what, took, outageBudget)
	}
}

// signInWorks retries a sign-in until the store is back, within 15s.
func signInWorks(t *testing.T, base, what string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c := testenv.Browser(t)
		csrf := signInForm(t, c, base, "/")
		resp, body := postSignIn(t, c, base, csrf, "/", adaEmail, adaPassword)
		if _, ok := testenv.ContinueTarget(resp.StatusCode, body); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: sign-in still fails: status %d:\n%s", what, resp.StatusCode, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestPostgresOutageAnswered runs a gateway and provider on PostgreSQL
// behind a proxy and makes the database hang (connections accepted, nothing
// answered) and then refuse connections. Either way a sign-in answers 503
// with Retry-After and a page saying to try again, within the budget, and
// the token endpoint 503 temporarily_unavailable; signed-in requests go on
// being served from their cookies; once the database is back, sign-in works.
func TestPostgresOutageAnswered(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.StartProxy(t, u.Host)
	u.Host = proxy.Addr()
	t.Setenv("GATEHOUSE_OUTAGE_DSN", u.String())
	s := startOutageSite(t, "store postgres {env.GATEHOUSE_OUTAGE_DSN}")
	ada := &site{t: t, pool: s.pool}
	createAda(t, ada)

	signedIn := testenv.Browser(t)
	signIn(t, signedIn, s.app, "/", adaEmail, adaPassword)

	for _, outage := range []struct {
		name       string
		start, end func()
	}{
		{"hung", proxy.Pause, proxy.Resume},
		{"refused", proxy.Cut, proxy.Restore},
	} {
		c := testenv.Browser(t)
		csrf := signInForm(t, c, s.app, "/")
		outage.start()

		resp, body, took := timedSignIn(t, c, s.app, csrf, adaEmail, adaPassword)
		wantUnavailablePage(t, outage.name+": sign-in", resp, body, took)
		wantUnavailableJSON(t, outage.name+": sign-in", c, s.app, csrf)
		s.wantTokenUnavailable(t, outage.name)
		if resp, body := get(t, signedIn, s.app+"/reports", nil); resp.StatusCode != http.StatusOK || body != "upstream" {
			t.Errorf("%s: signed-in request: status %d, body %q; want the upstream's 200", outage.name, resp.StatusCode, body)
		}

		outage.end()
		signInWorks(t, s.app, outage.name+", then back")
	}
}

// TestSQLiteLockedAnswered holds the SQLite file's write lock from another
// connection (another process, in production) past store_timeout: a
// sign-in that must write (a wrong password, counted for the lockout)
// answers 503 within the budget, for a known account and an unknown one
// alike, as does the token endpoint; one that need not write goes through;
// and sign-in works once the lock is released.
func TestSQLiteLockedAnswered(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	s := startOutageSite(t, "store sqlite "+path)
	ada := createAda(t, &site{t: t, pool: s.pool})

	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	c := testenv.Browser(t)
	csrf := signInForm(t, c, s.app, "/")
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	// A wrong password must be counted against the login before it is
	// refused, and that write cannot be made: 503, the same for an account
	// that exists and one that does not.
	for _, try := range []struct{ what, email, password string }{
		{"wrong password", adaEmail, "wrong password"},
		{"unknown account", "nobody@example.com", adaPassword},
	} {
		resp, body, took := timedSignIn(t, c, s.app, csrf, try.email, try.password)
		wantUnavailablePage(t, "locked: sign-in, "+try.what, resp, body, took)
	}
	// The right password needs only reads (the file stays readable under
	// the lock, in WAL mode) and the audit event, so it signs in, in time.
	resp, body, took := timedSignIn(t, c, s.app, csrf, adaEmail, adaPassword)
	if _, ok := testenv.ContinueTarget(resp.StatusCode, body); !ok || took > outageBudget {
		t.Errorf("locked: sign-in, right password: status %d after %v; want signed in under %v:\n%s",
			resp.StatusCode, took, outageBudget, body)
	}
	s.wantTokenUnavailable(t, "locked")
	lockedUntil := time.Now()
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	signInWorks(t, s.app, "lock released")

	// The audit events the locked store could not take (the sign-in that
	// went through, the refused ones) were kept, and are written now.
	q := store.AuditQuery{UserID: ada.ID, Login: adaEmail, Until: lockedUntil}
	want := map[string]int{pool.AuditSignIn: 1, pool.AuditSignInFailed: 1}
	deadline := time.Now().Add(10 * time.Second)
	for {
		es, err := s.pool.Store.AuditEvents(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, e := range es {
			got[e.Type]++
		}
		if got[pool.AuditSignIn] == want[pool.AuditSignIn] && got[pool.AuditSignInFailed] == want[pool.AuditSignInFailed] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit events of the locked minute: %v, want %v", got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
