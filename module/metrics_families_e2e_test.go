package module_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/module"
	"github.com/gatehouse-auth/gatehouse/store/sqlite/sqlitetest"
)

// TestMetricFamiliesThroughCaddy drives one deployment (an issuer site, a
// guarded app site, SMTP, Caddy's metrics handler) through a sign-up with
// its mail, a confirmation (and its post confirmation trigger), sign-ins,
// a claims refresh, a second factor enrolled and used (a wrong code
// first), a token grant and bearer calls, a refused reset mail, a lockout
// and the throttle, and reads every Gatehouse family off the metrics
// endpoint: each moved by exactly that, under its bounded labels, and no
// address, user id or secret anywhere.
func TestMetricFamiliesThroughCaddy(t *testing.T) {
	t.Setenv("GATEHOUSE_TEST_WEBAPP_SECRET", webappSecret)
	smtp := testenv.StartSMTP(t, testenv.SMTPOptions{})
	hooks := startHookServer(t)
	hooks.set("/postconfirm", "ok", map[string]any{})
	s := &site{t: t, dir: t.TempDir(), upstream: testenv.StartUpstream(t), ports: map[string]int{"app": testenv.FreePort(t)}}
	db := filepath.Join(s.dir, "gatehouse.db")
	sqlitetest.Seed(t, db)
	issuer := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", testenv.FreePort(t))
	s.text = fmt.Sprintf(`{
	default_bind 127.0.0.1
	gatehouse {
		pool default {
			store sqlite %s
			issuer %s
			display_name "Example Corp"
			revocation_refresh 100ms
			%s
			signup open
			mail %s {
				from "Example Corp <no-reply@example.com>"
				timeout 2s
			}
			lockout {
				threshold 3
				duration 1m
				max 1m
			}
			throttle 40 per 1m
			trigger post_confirmation %s/postconfirm {
				secret %s
			}
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

http://127.0.0.1:%d {
	gatehouse {
		pool default
		claims_refresh 1s
	}
	reverse_proxy %s
}

%s {
	metrics /metrics
}
`, db, issuer, testenv.FastHash, smtp.URL(), hooks.URL, hooks.secret, idpClients, issuer, s.ports["app"], s.upstream.Addr(), strings.TrimSuffix(metricsURL, "/metrics"))
	s.file = filepath.Join(s.dir, "Caddyfile")
	if err := os.WriteFile(s.file, []byte(s.text), 0o600); err != nil {
		t.Fatal(err)
	}
	s.start()
	testenv.WaitHTTP(t, issuer+"/.well-known/openid-configuration", 5*time.Second)
	cfg, err := module.LoadPoolConfig(s.file, "", "default")
	if err != nil {
		t.Fatal(err)
	}
	if s.pool, err = module.OpenPool(context.Background(), "default", cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.pool.Close() })
	a := &accounts{site: s, smtp: smtp, base: s.url("app", "")}
	ada := createAda(t, s) // through the CLI's pool: not counted
	op, err := gooidc.NewProvider(context.Background(), issuer)
	if err != nil {
		t.Fatal(err)
	}
	idp := newIDPSite(issuer, s.pool, op)

	before := scrape(t, metricsURL)
	moved := func(after map[string]float64, series string) float64 { return after[series] - before[series] }

	// Sign-up, its mail, the confirmation, a sign-in.
	const grace, gracePassword = "grace@example.com", "a long walk by the sea"
	c := testenv.Browser(t)
	resp, body := a.form(t, c, "/_gatehouse/signup", url.Values{"email": {grace}, "password": {gracePassword}})
	wantStatus(t, "sign-up", resp, body, http.StatusSeeOther)
	code := smtp.WaitFor(t, grace, 1, mailWait).Code(t)
	flush(t, s)
	resp, body = a.form(t, c, "/_gatehouse/confirm", url.Values{"email": {grace}, "code": {code}, "password": {gracePassword}, "action": {"confirm"}})
	wantStatus(t, "confirm", resp, body, http.StatusSeeOther)
	if got := len(hooks.received("/postconfirm")); got != 1 {
		t.Fatalf("post confirmation called %d times, want 1", got)
	}
	signIn(t, c, a.base, "/", grace, gracePassword)
	graceUser, err := s.pool.Pool.UserByEmail(t.Context(), grace)
	if err != nil {
		t.Fatal(err)
	}

	// The session's claims are re-read once claims_refresh (1s) has
	// passed: requests until the one that refreshed.
	refreshed := `gatehouse_claims_refreshes_total{pool="default",result="ok"}`
	for deadline := time.Now().Add(10 * time.Second); ; {
		if r, _ := get(t, c, a.base+"/private", nil); r.StatusCode != http.StatusOK {
			t.Fatalf("signed-in request: %d", r.StatusCode)
		}
		if moved(scrape(t, metricsURL), refreshed) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no claims refresh within 10s of a 1s claims_refresh")
		}
	}

	// A second factor: enrolled from the account page, then a sign-in
	// with a wrong code and the right one.
	m := &mfaSite{a}
	c2 := testenv.Browser(t)
	signIn(t, c2, a.base, "/", adaEmail, adaPassword)
	resp, body = a.form(t, c2, "/_gatehouse/account", url.Values{"action": {"mfa_add"}, "name": {"Phone"}, "password": {adaPassword}})
	wantStatus(t, "adding a factor", resp, body, http.StatusOK)
	secret, resp, body := a.enrol(t, c2, body, "")
	wantStatus(t, "confirming the factor", resp, body, http.StatusOK)
	c3 := testenv.Browser(t)
	body = m.mustPasswordStep(t, c3)
	form := stepForm(t, body)
	form.Set("rd", "/private")
	form.Set("code", "12345")
	resp, body = a.post(t, c3, "/_gatehouse/mfa", form)
	wantStatus(t, "wrong code", resp, body, http.StatusUnauthorized)
	form = stepForm(t, body)
	form.Set("rd", "/private")
	form.Set("code", totpCode(t, secret, 30*time.Second)) // the enrolment spent the current one
	resp, body = a.post(t, c3, "/_gatehouse/mfa", form)
	wantContinue(t, "right code", resp, body, "/private")

	// A machine's token, and the app called with it: checked, then
	// cached; a forged one refused.
	tok, _ := idp.ClientCredentials(t, "machine", machineSecret, "")["access_token"].(string)
	if tok == "" {
		t.Fatal("no access token for the machine client")
	}
	for i, bearer := range []string{tok, tok, tok[:len(tok)-4] + "AAAA"} {
		resp, body := get(t, http.DefaultClient, a.base+"/api/orders", http.Header{"Authorization": {"Bearer " + bearer}, "Accept": {"application/json"}})
		if want := map[bool]int{true: 200, false: 401}[i < 2]; resp.StatusCode != want {
			t.Fatalf("bearer call %d: %d, want %d: %s", i, resp.StatusCode, want, body)
		}
	}

	// A reset mail the server refuses.
	smtp.SetFailure(errors.New("mailbox unavailable"))
	resp, body = a.form(t, testenv.Browser(t), "/_gatehouse/forgot", url.Values{"email": {grace}})
	wantStatus(t, "forgot", resp, body, http.StatusSeeOther)
	flush(t, s)
	smtp.SetFailure(nil)

	// Ada's login locked out after three wrong passwords; then wrong
	// passwords for logins no one has, each once, until the client's
	// budget of posts is spent.
	c4 := testenv.Browser(t)
	for i, want := range []int{401, 401, 401, 429} {
		if resp, body := m.passwordStep(t, c4, "/", adaEmail, "not her password"); resp.StatusCode != want {
			t.Fatalf("wrong password %d: %d, want %d: %s", i+1, resp.StatusCode, want, body)
		}
	}
	wrong := 0
	for i := 0; ; i++ {
		resp, body := m.passwordStep(t, c4, "/", fmt.Sprintf("nobody-%d@example.com", i), "not anyone's password")
		if resp.StatusCode == http.StatusTooManyRequests {
			break
		}
		wantStatus(t, "a wrong password for no one", resp, body, http.StatusUnauthorized)
		if wrong++; wrong > 60 {
			t.Fatal("the throttle never refused")
		}
	}

	after := scrape(t, metricsURL)
	for series, want := range map[string]float64{
		`gatehouse_sign_ups_total{pool="default"}`:                                      1,
		`gatehouse_confirmations_total{pool="default"}`:                                 1,
		`gatehouse_sign_ins_total{method="password",pool="default"}`:                    3, // grace, ada, ada with a code
		`gatehouse_second_factors_total{pool="default",result="ok"}`:                    1,
		`gatehouse_second_factors_total{pool="default",result="failed"}`:                1,
		`gatehouse_second_factors_total{pool="default",result="remembered_device"}`:     0,
		`gatehouse_sign_in_failures_total{pool="default",reason="wrong_mfa_code"}`:      1,
		`gatehouse_sign_in_failures_total{pool="default",reason="invalid_credentials"}`: float64(3 + wrong),
		`gatehouse_sign_in_failures_total{pool="default",reason="locked_out"}`:          1,
		`gatehouse_lockouts_total{pool="default"}`:                                      1,
		`gatehouse_throttled_total{pool="default",surface="hosted_pages"}`:              1,
		`gatehouse_throttled_total{pool="default",surface="cognito_api"}`:               0,
		`gatehouse_tokens_issued_total{grant_type="client_credentials",pool="default"}`: 1,
		`gatehouse_tokens_issued_total{grant_type="authorization_code",pool="default"}`: 0,
		`gatehouse_bearer_checks_total{pool="default",result="verified"}`:               1,
		`gatehouse_bearer_checks_total{pool="default",result="cached"}`:                 1,
		`gatehouse_bearer_checks_total{pool="default",result="refused"}`:                1,
		refreshed: 1,
		`gatehouse_claims_refreshes_total{pool="default",result="failed"}`:                          0,
		`gatehouse_mails_total{kind="verify_email",outcome="sent",pool="default"}`:                  1,
		`gatehouse_mails_total{kind="reset_password",outcome="failed",pool="default"}`:              1,
		`gatehouse_mails_total{kind="reset_password",outcome="sent",pool="default"}`:                0,
		`gatehouse_mail_send_duration_seconds_count{pool="default"}`:                                2,
		`gatehouse_store_operation_duration_seconds_count{operation="CreateUser",pool="default"}`:   1,
		`gatehouse_trigger_calls_total{outcome="ok",pool="default",trigger="post_confirmation"}`:    1,
		`gatehouse_trigger_call_duration_seconds_count{pool="default",trigger="post_confirmation"}`: 1,
	} {
		_, ok := after[series]
		if !ok {
			t.Errorf("%s is not exposed", series)
			continue
		}
		if d := moved(after, series); d != want {
			t.Errorf("%s moved by %v, want %v", series, d, want)
		}
	}
	// Every sign-in looked its login up, and the store's time is in the
	// histogram's buckets.
	if d := moved(after, `gatehouse_store_operation_duration_seconds_count{operation="UserByEmail",pool="default"}`); d < 3 {
		t.Errorf("UserByEmail timed %v times, want at least 3", d)
	}
	if after[`gatehouse_store_operation_duration_seconds_bucket{operation="CreateUser",pool="default",le="+Inf"}`] < 1 {
		t.Error("CreateUser has no +Inf bucket")
	}
	// The keys the issuer signs with: ES256 and RS256, made at start.
	for _, alg := range []string{"ES256", "RS256"} {
		age, ok := after[`gatehouse_signing_key_age_seconds{alg="`+alg+`",pool="default"}`]
		if !ok || age < 0 || age > 600 {
			t.Errorf("%s key age %v (exposed %v), want the age of a key made at start", alg, age, ok)
		}
	}
	for series := range after {
		for _, secret := range []string{ada.ID, graceUser.ID, adaEmail, grace, "nobody", "example.com", "machine", hooks.secret} {
			if strings.Contains(series, secret) {
				t.Errorf("a metric's labels hold %q: %s", secret, series)
			}
		}
	}
}
