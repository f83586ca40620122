package hostedui

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/ratelimit"
)

// throttledFixture is a fixture whose pages allow each client burst POSTs,
// then one every 30 seconds of the returned clock's time.
func throttledFixture(t *testing.T, burst int) (*fixture, *time.Time) {
	t.Helper()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	lim := ratelimit.New(ratelimit.Limits{Rate: 1.0 / 30, Burst: burst, Now: func() time.Time { return now }})
	return newFixture(t, func(c *Config) { c.Throttle = lim }), &now
}

func TestThrottleSignIn(t *testing.T) {
	const burst = 5
	f, now := throttledFixture(t, burst)
	cookie, tok := f.form(t, "/")
	// Each guess is at another login, so the pool's per-login lockout never
	// answers in the throttle's place.
	n := 0
	post := func(remote, email, password string) *http.Response {
		n++
		if email == "" {
			email = "guess" + strconv.Itoa(n) + "@example.com"
		}
		r := postForm(signInForm(email, password, tok, "/app"), cookie)
		r.RemoteAddr = remote
		return f.do(r)
	}
	const attacker = "203.0.113.9:40000"

	statuses := map[int]int{}
	var last *http.Response
	for range 20 {
		last = post(attacker, "", "guess number n")
		statuses[last.StatusCode]++
	}
	if statuses[http.StatusUnauthorized] != burst || statuses[http.StatusTooManyRequests] != 20-burst {
		t.Fatalf("statuses %v, want %d x 401 then %d x 429", statuses, burst, 20-burst)
	}
	body := readBody(t, last)
	if ra := last.Header.Get("Retry-After"); ra != "30" {
		t.Errorf("Retry-After %q, want 30", ra)
	}
	checkPageHeaders(t, last.Header)
	for _, want := range []string{"<html", "Too many attempts", "Wait 30 seconds and try again."} {
		if !strings.Contains(body, want) {
			t.Errorf("429 page lacks %q:\n%s", want, body)
		}
	}

	// Refused requests never reached the password check.
	if n := f.logs.FilterMessage("sign-in failed").Len(); n != burst {
		t.Errorf("%d sign-ins checked, want %d", n, burst)
	}
	refusals := f.logs.FilterMessage("request throttled").All()
	if len(refusals) != 20-burst {
		t.Fatalf("%d refusals logged, want %d", len(refusals), 20-burst)
	}
	if fields := refusals[0].ContextMap(); fields["key"] != "203.0.113.9" || fields["remote_ip"] != "203.0.113.9" ||
		fields["path"] != SignInPath || refusals[0].Level.String() != "info" {
		t.Errorf("refusal logged as %s %v", refusals[0].Level, fields)
	}
	if logs := logText(f.logs); strings.Contains(logs, "guess number") || strings.Contains(logs, adaPassword) {
		t.Errorf("a password was logged:\n%s", logs)
	}

	// Another client is not affected, even with the right password now.
	if res := post("198.51.100.7:5555", adaEmail, adaPassword); res.StatusCode != http.StatusOK {
		t.Errorf("another address: status %d, want 200 (signed in)", res.StatusCode)
	}
	// The throttled client still gets the pages and may still sign out.
	r := httptest.NewRequest(http.MethodGet, SignInPath, nil)
	r.RemoteAddr = attacker
	if res := f.do(r); res.StatusCode != http.StatusOK {
		t.Errorf("GET sign-in while throttled: status %d", res.StatusCode)
	}
	r = httptest.NewRequest(http.MethodPost, LogoutPath, nil)
	r.RemoteAddr = attacker
	if res := f.do(r); res.StatusCode != http.StatusOK {
		t.Errorf("sign-out while throttled: status %d, want 200 (signed out)", res.StatusCode)
	}

	// After the wait, one more attempt goes through, and only one.
	*now = now.Add(29 * time.Second)
	if res := post(attacker, adaEmail, adaPassword); res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") != "1" {
		t.Errorf("a second early: status %d, Retry-After %q; want 429 and 1", res.StatusCode, res.Header.Get("Retry-After"))
	}
	*now = now.Add(time.Second)
	if res := post(attacker, adaEmail, adaPassword); res.StatusCode != http.StatusOK {
		t.Errorf("after the wait: status %d, want 200 (signed in)", res.StatusCode)
	}
	if res := post(attacker, adaEmail, adaPassword); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("right after: status %d, want 429", res.StatusCode)
	}
	if n := len(f.sessions.starts()); n != 2 {
		t.Errorf("%d sessions started, want 2", n)
	}
}

func TestThrottleJSON(t *testing.T) {
	f, _ := throttledFixture(t, 1)
	cookie, tok := f.form(t, "/")
	for i := range 2 {
		r := postForm(signInForm(adaEmail, "wrong", tok, "/"), cookie)
		r.Header.Set("Accept", "application/json")
		res := f.do(r)
		if i == 0 {
			continue
		}
		var got errorJSON
		if err := json.NewDecoder(res.Body).Decode(&got); err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") != "30" ||
			got.Error != "too_many_requests" || !strings.Contains(got.Message, "try again") {
			t.Errorf("status %d, Retry-After %q, body %+v", res.StatusCode, res.Header.Get("Retry-After"), got)
		}
	}
}

func TestThrottleEveryForm(t *testing.T) {
	// One allowance per client covers every form, so that spreading guesses
	// over the pages gains nothing. Bodies do not matter: nothing is read.
	for _, path := range []string{
		SignInPath, SignUpPath, ConfirmPath, ForgotPath, ResetPath, NewPasswordPath,
		AccountPath, PathPrefix + "mfa", PathPrefix + "no-such-page",
	} {
		t.Run(path, func(t *testing.T) {
			f, _ := throttledFixture(t, 1)
			spend := postForm(nil)
			spend.RemoteAddr = "[2001:db8:1:2::1]:443"
			f.do(spend)
			// Another address of the same /64 shares the allowance.
			r := httptest.NewRequest(http.MethodPost, path, strings.NewReader("password=x"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.RemoteAddr = "[2001:db8:1:2:ffff::9]:443"
			if res := f.do(r); res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
				t.Errorf("status %d, Retry-After %q; want 429 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
			}
			if got := f.logs.FilterMessage("request throttled").All(); len(got) != 1 || got[0].ContextMap()["key"] != "2001:db8:1:2::/64" {
				t.Errorf("refusals logged: %v", got)
			}
			// The next /64 has its own.
			r = httptest.NewRequest(http.MethodPost, path, nil)
			r.RemoteAddr = "[2001:db8:1:3::1]:443"
			if res := f.do(r); res.StatusCode == http.StatusTooManyRequests {
				t.Error("another /64 was throttled")
			}
		})
	}
}

func TestNoThrottleByDefault(t *testing.T) {
	f := newFixture(t, nil)
	cookie, tok := f.form(t, "/")
	for i := range 30 {
		email := "guess" + strconv.Itoa(i) + "@example.com" // clear of the per-login lockout
		if res := f.do(postForm(signInForm(email, "wrong", tok, "/"), cookie)); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: status %d, want 401", i+1, res.StatusCode)
		}
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int64
	}{
		{0, 1},
		{time.Nanosecond, 1},
		{time.Second, 1},
		{time.Second + 1, 2},
		{29*time.Second + 999*time.Millisecond, 30},
		{time.Hour, 3600},
	} {
		if got := retryAfterSeconds(tc.d); got != tc.want {
			t.Errorf("retryAfterSeconds(%v) = %d, want %d", tc.d, got, tc.want)
		}
	}
}

// TestThrottleSparesPasskeyBegin: the sign-in page asks passkey/begin on
// every view (for the email field's passkey suggestions), so those calls
// spend nothing of the client's budget, while finish, which checks a
// passkey, does.
func TestThrottleSparesPasskeyBegin(t *testing.T) {
	f, _ := throttledFixture(t, 1)
	cookie, tok := f.form(t, "/")
	call := func(path string) *http.Response {
		r := httptest.NewRequest(http.MethodPost, "http://localhost"+path, strings.NewReader(`{}`))
		r.Header.Set("Origin", "http://localhost")
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set(csrfHeader, tok)
		r.AddCookie(cookie)
		return f.do(r)
	}
	for i := range 5 {
		res := call(passkeyBeginPath)
		var opts struct {
			PublicKey struct {
				Challenge string `json:"challenge"`
			} `json:"publicKey"`
		}
		if err := json.NewDecoder(res.Body).Decode(&opts); res.StatusCode != http.StatusOK || err != nil || opts.PublicKey.Challenge == "" {
			t.Fatalf("passkey/begin %d: status %d (%v), challenge %q", i+1, res.StatusCode, err, opts.PublicKey.Challenge)
		}
	}
	// The one request of the budget is still there for finish; the next
	// is refused.
	if res := call(webauthnPath + "passkey/finish"); res.StatusCode == http.StatusTooManyRequests {
		t.Fatal("the first finish was throttled: begin spent the budget")
	}
	if res := call(webauthnPath + "passkey/finish"); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the second finish: status %d, want 429", res.StatusCode)
	}
}
