package module_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/module"
	"github.com/gatehouse-auth/gatehouse/store"
)

var dataChallengeRE = regexp.MustCompile(`data-webauthn="mfa"[^>]* data-challenge="([^"]+)"`)

// startPasskeys is startMFA on http://localhost: browsers, and so the
// pages, offer passkeys on a domain name only, never on an IP address.
// Sites "app" and "secure" (`require mfa`) pass the session's amr
// upstream as X-Test-Amr.
// ceremonySecondAfter waits until the clock is in a later second than done.
// An authenticator that counts nothing (counter 0) is accepted once per
// ceremony second (pool.passkeyStep), so a ceremony begun after this is
// newer than any that had begun by done: waiting for that boundary, not a
// whole second and more, keeps the guarantee with a shorter wait.
func ceremonySecondAfter(done time.Time) {
	time.Sleep(time.Until(done.Truncate(time.Second).Add(time.Second + 5*time.Millisecond)))
}

func startPasskeys(t *testing.T, poolOptions string) *mfaSite {
	t.Helper()
	s := &site{t: t, dir: t.TempDir(), upstream: testenv.StartUpstream(t), ports: map[string]int{}}
	var b strings.Builder
	fmt.Fprintf(&b, `{
	default_bind 127.0.0.1
	gatehouse {
		pool default {
			store sqlite %s
			issuer https://auth.example.test
			display_name "Example Corp"
			revocation_refresh 100ms
			%s
			%s
		}
	}
}
`, filepath.Join(s.dir, "data", "gatehouse.db"), testenv.FastHash, poolOptions)
	for name, opts := range map[string]string{
		"app":    "pool default\n\t\theader X-Test-Amr {amr}",
		"secure": "pool default\n\t\theader X-Test-Amr {amr}\n\t\trequire mfa",
	} {
		port := testenv.FreePort(t)
		s.ports[name] = port
		fmt.Fprintf(&b, "\nhttp://localhost:%d {\n\tgatehouse {\n\t\t%s\n\t}\n\treverse_proxy %s\n}\n", port, opts, s.upstream.Addr())
	}
	s.text = b.String()
	s.file = filepath.Join(s.dir, "Caddyfile")
	if err := os.WriteFile(s.file, []byte(s.text), 0o600); err != nil {
		t.Fatal(err)
	}
	s.stop = testenv.StartCaddy(t, s.text)
	for _, port := range s.ports {
		testenv.WaitHTTP(t, fmt.Sprintf("http://localhost:%d/_gatehouse/static/webauthn.js", port), 10*time.Second)
	}
	cfg, err := module.LoadPoolConfig(s.file, "", "default")
	if err != nil {
		t.Fatal(err)
	}
	if s.pool, err = module.OpenPool(t.Context(), "default", cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.pool.Close() })
	return &mfaSite{&accounts{site: s, base: fmt.Sprintf("http://localhost:%d", s.ports["app"])}}
}

// at returns the helpers for another of the sites.
func (m *mfaSite) at(name string) *accounts {
	return &accounts{site: m.site, base: fmt.Sprintf("http://localhost:%d", m.ports[name])}
}

// jsonPost calls a passkey endpoint as webauthn.js does.
func (a *accounts) jsonPost(t *testing.T, c *http.Client, path, csrf string, body []byte) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, a.base+"/_gatehouse/webauthn/"+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Origin", a.base)
	req.Header.Set("X-CSRF-Token", csrf)
	return do(t, c, req)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// beginOptions is what a begin endpoint answers, as far as the tests read it.
type beginOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RPID      string `json:"rpId"`
		RP        struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		AllowCredentials []struct {
			ID string `json:"id"`
		} `json:"allowCredentials"`
		AuthenticatorSelection struct {
			ResidentKey      string `json:"residentKey"`
			UserVerification string `json:"userVerification"`
		} `json:"authenticatorSelection"`
		UserVerification string `json:"userVerification"`
	} `json:"publicKey"`
}

func (a *accounts) begin(t *testing.T, c *http.Client, path, csrf string, body any) beginOptions {
	t.Helper()
	resp, b := a.jsonPost(t, c, path, csrf, mustJSON(t, body))
	wantStatus(t, path, resp, b, http.StatusOK)
	var o beginOptions
	if err := json.Unmarshal([]byte(b), &o); err != nil || o.PublicKey.Challenge == "" {
		t.Fatalf("%s answered %s (%v)", path, b, err)
	}
	return o
}

func b64d(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("not base64url: %q", s)
	}
	return b
}

type finished struct {
	Redirect      string   `json:"redirect"`
	RecoveryCodes []string `json:"recovery_codes"`
	Error         string   `json:"error"`
	Message       string   `json:"message"`
}

func decodeFinished(t *testing.T, body string) finished {
	t.Helper()
	var f finished
	if err := json.Unmarshal([]byte(body), &f); err != nil {
		t.Fatalf("not JSON: %q", body)
	}
	return f
}

// addPasskey registers auth from the account page of a signed-in c.
func (a *accounts) addPasskey(t *testing.T, c *http.Client, auth *testenv.Authenticator, name string) (*http.Response, string) {
	t.Helper()
	_, _, csrf := a.page(t, c, "/_gatehouse/account")
	o := a.begin(t, c, "register/begin", csrf, map[string]string{"name": name, "password": adaPassword})
	return a.jsonPost(t, c, "register/finish", csrf, mustJSON(t, map[string]json.RawMessage{
		"credential": auth.Create(t, b64d(t, o.PublicKey.Challenge), b64d(t, o.PublicKey.User.ID)),
	}))
}

// passkeySignIn signs c in without a password, from the sign-in page.
func (a *accounts) passkeySignIn(t *testing.T, c *http.Client, auth *testenv.Authenticator, rd string) (*http.Response, string) {
	t.Helper()
	resp, body, csrf := a.page(t, c, "/_gatehouse/signin?rd="+url.QueryEscape(rd))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Sign in with a passkey") {
		t.Fatalf("sign-in page offers no passkey (%d):\n%s", resp.StatusCode, body)
	}
	// The browser offers passkeys among the email field's suggestions only
	// when its autocomplete ends in "webauthn".
	if !strings.Contains(body, `autocomplete="username webauthn"`) {
		t.Fatalf("the sign-in page's email field does not ask for passkey suggestions:\n%s", body)
	}
	o := a.begin(t, c, "passkey/begin", csrf, map[string]string{})
	return a.jsonPost(t, c, "passkey/finish", csrf, mustJSON(t, map[string]any{
		"rd": rd, "credential": json.RawMessage(auth.Get(t, b64d(t, o.PublicKey.Challenge))),
	}))
}

// passkeyStep answers a second-factor page (mfaBody) with auth.
func (a *accounts) passkeyStep(t *testing.T, c *http.Client, auth *testenv.Authenticator, mfaBody, rd string) (*http.Response, string) {
	t.Helper()
	if !strings.Contains(mfaBody, "Use a passkey or security key") {
		t.Fatalf("second-factor page offers no passkey:\n%s", mfaBody)
	}
	ch, csrf := dataChallengeRE.FindStringSubmatch(mfaBody), csrfField.FindStringSubmatch(mfaBody)
	if ch == nil || csrf == nil {
		t.Fatalf("second-factor page has no challenge or csrf:\n%s", mfaBody)
	}
	challenge := html.UnescapeString(ch[1])
	o := a.begin(t, c, "login/begin", csrf[1], map[string]string{"challenge": challenge})
	if len(o.PublicKey.AllowCredentials) != 1 || !bytes.Equal(b64d(t, o.PublicKey.AllowCredentials[0].ID), auth.ID) {
		t.Fatalf("second-factor options allow %+v, want the user's passkey", o.PublicKey.AllowCredentials)
	}
	return a.jsonPost(t, c, "login/finish", csrf[1], mustJSON(t, map[string]any{
		"challenge": challenge, "rd": rd, "credential": json.RawMessage(auth.Get(t, b64d(t, o.PublicKey.Challenge))),
	}))
}

// wantSignedIn checks that a finish answered with the redirect and that
// the session it started reaches the upstream with amr.
func (m *mfaSite) wantSignedIn(t *testing.T, a *accounts, c *http.Client, what string, resp *http.Response, body, rd, amr string) {
	t.Helper()
	wantStatus(t, what, resp, body, http.StatusOK)
	if f := decodeFinished(t, body); f.Redirect != rd {
		t.Fatalf("%s: redirect %q, want %q", what, f.Redirect, rd)
	}
	if r, b := get(t, c, a.base+rd, nil); r.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s gave %d: %s", what, rd, r.StatusCode, b)
	}
	if got := upstreamAMR(m); got != amr {
		t.Fatalf("%s: upstream amr %q, want %q", what, got, amr)
	}
}

// TestPasskeyJourney adds a passkey from the account page, signs in with
// it after the password and without one, and removes it.
func TestPasskeyJourney(t *testing.T) {
	m := startPasskeys(t, "throttle off")
	createAda(t, m.site)
	c := testenv.Browser(t)
	signIn(t, c, m.base, "/", adaEmail, adaPassword)
	auth := testenv.NewAuthenticator(t, "localhost", m.base)

	// The account page offers it once Ada confirmed it's her with her
	// password (or a passkey); a code would not do.
	_, body, _ := m.page(t, c, "/_gatehouse/account")
	if strings.Contains(body, `data-webauthn="register"`) || !strings.Contains(body, `id="passkey-confirm-first"`) {
		t.Fatalf("account page offers to add a passkey before confirming:\n%s", body)
	}
	m.confirmPassword(t, c, adaPassword)
	_, body, csrf := m.page(t, c, "/_gatehouse/account")
	if !strings.Contains(body, `data-webauthn="register"`) || !strings.Contains(body, "<noscript>") ||
		!strings.Contains(body, `<script src="/_gatehouse/static/webauthn.js"`) {
		t.Fatalf("account page offers no passkey:\n%s", body)
	}
	resp, b := m.jsonPost(t, c, "register/begin", csrf, mustJSON(t, map[string]string{"name": "Laptop", "password": "wrong password!"}))
	wantStatus(t, "register with a wrong password", resp, b, http.StatusUnauthorized)
	if f := decodeFinished(t, b); f.Error != "unauthorized" || !strings.Contains(f.Message, "password is not right") {
		t.Fatalf("wrong password answer %s", b)
	}
	anon := testenv.Browser(t)
	anonCSRF := signInForm(t, anon, m.base, "/")
	resp, b = m.jsonPost(t, anon, "register/begin", anonCSRF, mustJSON(t, map[string]string{"password": adaPassword}))
	wantStatus(t, "register without a session", resp, b, http.StatusUnauthorized)

	o := m.begin(t, c, "register/begin", csrf, map[string]string{"name": "Laptop", "password": adaPassword})
	u := mustUser(t, m.site)
	pk := o.PublicKey
	if pk.RP.ID != "localhost" || pk.RP.Name != "Example Corp" || string(b64d(t, pk.User.ID)) != u.ID ||
		pk.AuthenticatorSelection.ResidentKey != "preferred" || pk.AuthenticatorSelection.UserVerification != "preferred" {
		t.Fatalf("creation options %+v", pk)
	}
	resp, b = m.jsonPost(t, c, "register/finish", csrf, mustJSON(t, map[string]json.RawMessage{
		"credential": auth.Create(t, b64d(t, pk.Challenge), b64d(t, pk.User.ID)),
	}))
	wantStatus(t, "register", resp, b, http.StatusOK)
	if f := decodeFinished(t, b); f.Redirect != "/_gatehouse/account?notice=passkey_added" || len(f.RecoveryCodes) != 10 {
		t.Fatalf("register answered %s; want the account page and 10 recovery codes (first factor)", b)
	}
	// The ceremony cookie is spent: the same answer again is refused.
	resp, b = m.jsonPost(t, c, "register/finish", csrf, mustJSON(t, map[string]json.RawMessage{
		"credential": auth.Create(t, b64d(t, pk.Challenge), b64d(t, pk.User.ID)),
	}))
	wantStatus(t, "register finished twice", resp, b, http.StatusBadRequest)
	_, body = get(t, c, m.base+"/_gatehouse/account", nil)
	if !strings.Contains(body, `<strong>Laptop</strong> <span class="badge">passkey</span>`) {
		t.Fatalf("account page does not list the passkey:\n%s", body)
	}

	// After the password: the second-factor page offers the passkey.
	c2 := testenv.Browser(t)
	body = m.mustPasswordStep(t, c2)
	if !strings.Contains(body, "Use your passkey for "+adaEmail) {
		t.Fatalf("second-factor page of a passkey-only user:\n%s", body)
	}
	resp, b = m.passkeyStep(t, c2, auth, body, "/private?x=1")
	m.wantSignedIn(t, m.accounts, c2, "passkey as second factor", resp, b, "/private?x=1", "pwd,hwk,mfa")

	// Without a password, and again: an authenticator that counts
	// nothing (counter 0) is accepted each time, once per ceremony.
	for i := range 2 {
		ceremonySecondAfter(time.Now())
		c3 := testenv.Browser(t)
		resp, b = m.passkeySignIn(t, c3, auth, "/private")
		m.wantSignedIn(t, m.accounts, c3, fmt.Sprintf("passwordless sign-in %d", i+1), resp, b, "/private", "hwk,mfa")
	}

	// A replayed ceremony: the very request of a successful sign-in, sent
	// again with the ceremony cookie it had.
	ceremonySecondAfter(time.Now())
	c4 := testenv.Browser(t)
	_, _, csrf4 := m.page(t, c4, "/_gatehouse/signin")
	o = m.begin(t, c4, "passkey/begin", csrf4, map[string]string{})
	finishURL, _ := url.Parse(m.base + "/_gatehouse/webauthn/passkey/finish")
	saved := c4.Jar.Cookies(finishURL)
	answer := mustJSON(t, map[string]any{"rd": "/", "credential": json.RawMessage(auth.Get(t, b64d(t, o.PublicKey.Challenge)))})
	resp, b = m.jsonPost(t, c4, "passkey/finish", csrf4, answer)
	wantStatus(t, "sign-in to replay", resp, b, http.StatusOK)
	resp, b = m.jsonPost(t, c4, "passkey/finish", csrf4, answer)
	wantStatus(t, "replay without the ceremony cookie", resp, b, http.StatusBadRequest)
	c4.Jar.SetCookies(finishURL, saved)
	resp, b = m.jsonPost(t, c4, "passkey/finish", csrf4, answer)
	wantStatus(t, "replay with the ceremony cookie", resp, b, http.StatusUnauthorized)

	// A ceremony begun for one purpose does not finish another.
	o = m.begin(t, c4, "passkey/begin", csrf4, map[string]string{})
	c2body := m.mustPasswordStep(t, c4)
	ch := html.UnescapeString(dataChallengeRE.FindStringSubmatch(c2body)[1])
	resp, b = m.jsonPost(t, c4, "login/finish", csrf4, mustJSON(t, map[string]any{
		"challenge": ch, "credential": json.RawMessage(auth.Get(t, b64d(t, o.PublicKey.Challenge))),
	}))
	wantStatus(t, "passwordless ceremony finished as second factor", resp, b, http.StatusBadRequest)

	// Removal from the account page: the passkey no longer signs in, and
	// the password alone does again.
	factors, err := m.pool.Pool.Factors(t.Context(), u.ID)
	if err != nil || len(factors) != 1 || factors[0].Kind != store.FactorWebAuthn {
		t.Fatalf("factors = %+v, %v", factors, err)
	}
	resp, b = m.form(t, c, "/_gatehouse/account", url.Values{"action": {"mfa_remove"}, "factor": {factors[0].ID}, "password": {adaPassword}})
	wantStatus(t, "removing the passkey", resp, b, http.StatusSeeOther)
	// No wait for a new ceremony second: were the passkey still there, the
	// answer would not say "not registered".
	resp, b = m.passkeySignIn(t, testenv.Browser(t), auth, "/")
	wantStatus(t, "removed passkey", resp, b, http.StatusUnauthorized)
	if f := decodeFinished(t, b); !strings.Contains(f.Message, "not registered") {
		t.Fatalf("removed passkey answer %s", b)
	}
	signIn(t, testenv.Browser(t), m.base, "/private", adaEmail, adaPassword)
}

// TestPasskeyRefusals: what a passkey sign-in must not accept.
func TestPasskeyRefusals(t *testing.T) {
	// Lockout off: it has its own test, and this one fails on purpose.
	m := startPasskeys(t, "throttle off\n\t\t\tlockout {\n\t\t\t\toff\n\t\t\t}")
	createAda(t, m.site)
	c := testenv.Browser(t)
	signIn(t, c, m.base, "/", adaEmail, adaPassword)
	synced := testenv.NewAuthenticator(t, "localhost", m.base) // counter always 0
	resp, b := m.addPasskey(t, c, synced, "Phone")
	wantStatus(t, "register", resp, b, http.StatusOK)
	key := testenv.NewAuthenticator(t, "localhost", m.base) // a security key that counts
	key.Counter, key.Counting = 5, true
	resp, b = m.addPasskey(t, c, key, "Key")
	wantStatus(t, "register a counting key", resp, b, http.StatusOK)
	if f := decodeFinished(t, b); len(f.RecoveryCodes) != 0 {
		t.Fatalf("a second factor came with new recovery codes: %s", b)
	}

	// No ceremony of synced is accepted before "disabled user", and a
	// refused one spends nothing (the checks come before the ceremony's
	// second is recorded), so none of these refusals can be for a spent
	// ceremony second: each is for the reason it names, and a check that
	// let its assertion through would be seen as a success. key's are
	// judged by its counter, which no wait changes.
	refused := func(what string, auth *testenv.Authenticator, status int, message string) {
		t.Helper()
		resp, b := m.passkeySignIn(t, testenv.Browser(t), auth, "/")
		wantStatus(t, what, resp, b, status)
		if f := decodeFinished(t, b); !strings.Contains(f.Message, message) {
			t.Fatalf("%s: message %q, want it to say %q", what, f.Message, message)
		}
	}

	// Presence without verification is not a sign-in.
	synced.Flags = testenv.FlagUP
	refused("passwordless without UV", synced, http.StatusUnauthorized, "did not verify you")
	synced.Flags = testenv.FlagUP | testenv.FlagUV

	// Signed for another origin, or another RP ID.
	synced.Origin = strings.Replace(m.base, "localhost", "evil.localhost", 1)
	refused("wrong origin", synced, http.StatusUnauthorized, "not accepted")
	synced.Origin = m.at("secure").base
	refused("another site's origin", synced, http.StatusUnauthorized, "not accepted")
	synced.Origin = m.base
	synced.RPID = "evil.localhost"
	refused("wrong RP ID", synced, http.StatusUnauthorized, "not accepted")
	synced.RPID = "localhost"

	// A tampered signature.
	cb := testenv.Browser(t)
	_, _, csrf := m.page(t, cb, "/_gatehouse/signin")
	o := m.begin(t, cb, "passkey/begin", csrf, map[string]string{})
	var cred map[string]any
	if err := json.Unmarshal(synced.Get(t, b64d(t, o.PublicKey.Challenge)), &cred); err != nil {
		t.Fatal(err)
	}
	r := cred["response"].(map[string]any)
	sig := b64d(t, r["signature"].(string))
	sig[len(sig)-1] ^= 1
	r["signature"] = base64.RawURLEncoding.EncodeToString(sig)
	resp, b = m.jsonPost(t, cb, "passkey/finish", csrf, mustJSON(t, map[string]any{"rd": "/", "credential": cred}))
	wantStatus(t, "tampered signature", resp, b, http.StatusUnauthorized)

	// The counting key (registered at 5): counters 6 and 7 go through,
	// then one that goes back, or stays, is a clone.
	key.Counter = 6
	for _, n := range []uint32{6, 7} {
		if key.Counter != n {
			t.Fatalf("counter %d, want %d", key.Counter, n)
		}
		resp, b = m.passkeySignIn(t, testenv.Browser(t), key, "/")
		wantStatus(t, fmt.Sprintf("counter %d", n), resp, b, http.StatusOK)
	}
	key.Counter, key.Counting = 3, false
	refused("counter going back", key, http.StatusUnauthorized, "not accepted")
	key.Counter = 7
	refused("counter standing still", key, http.StatusUnauthorized, "not accepted")
	key.Counter = 0
	refused("counter falling to 0", key, http.StatusUnauthorized, "not accepted")
	key.Counter = 8
	resp, b = m.passkeySignIn(t, testenv.Browser(t), key, "/")
	wantStatus(t, "counter 8", resp, b, http.StatusOK)

	// A disabled user gets nothing from a good passkey.
	u := mustUser(t, m.site)
	if err := m.pool.Pool.SetEnabled(t.Context(), u.ID, false); err != nil {
		t.Fatal(err)
	}
	refused("disabled user", synced, http.StatusForbidden, "disabled")
	disabledAt := time.Now() // that ceremony was verified, and spent, before the refusal
	if err := m.pool.Pool.SetEnabled(t.Context(), u.ID, true); err != nil {
		t.Fatal(err)
	}
	ceremonySecondAfter(disabledAt)
	resp, b = m.passkeySignIn(t, testenv.Browser(t), synced, "/")
	wantStatus(t, "enabled again", resp, b, http.StatusOK)
}

// TestPasskeyStepUp: a password-only session meets `require mfa` and steps
// up with a passkey, on another site of the same host.
func TestPasskeyStepUp(t *testing.T) {
	m := startPasskeys(t, "throttle off")
	createAda(t, m.site)
	secure := m.at("secure")
	c := testenv.Browser(t)
	signIn(t, c, m.base, "/", adaEmail, adaPassword)
	auth := testenv.NewAuthenticator(t, "localhost", m.base)
	resp, b := m.addPasskey(t, c, auth, "")
	wantStatus(t, "register", resp, b, http.StatusOK)

	resp, b = get(t, c, secure.base+"/private?y=2", nil)
	wantStatus(t, "password-only session on require mfa", resp, b, http.StatusFound)
	loc := resp.Header.Get("Location")
	resp, b = get(t, c, secure.base+loc, nil)
	wantStatus(t, "step-up page", resp, b, http.StatusOK)
	auth.Origin = secure.base // the same RP ID, another origin
	resp, b = secure.passkeyStep(t, c, auth, b, "/private?y=2")
	m.wantSignedIn(t, secure, c, "step-up with a passkey", resp, b, "/private?y=2", "pwd,hwk,mfa")
}

// TestPasskeyLockoutE2E: refused assertions count as failed sign-ins of
// the login, as wrong codes do.
func TestPasskeyLockoutE2E(t *testing.T) {
	m := startPasskeys(t, "throttle off\n\t\t\tlockout {\n\t\t\t\tthreshold 3\n\t\t\t}")
	createAda(t, m.site)
	c := testenv.Browser(t)
	signIn(t, c, m.base, "/", adaEmail, adaPassword)
	auth := testenv.NewAuthenticator(t, "localhost", m.base)
	resp, b := m.addPasskey(t, c, auth, "")
	wantStatus(t, "register", resp, b, http.StatusOK)
	auth.Flags = testenv.FlagUP
	for i := range 3 {
		resp, b = m.passkeySignIn(t, testenv.Browser(t), auth, "/")
		wantStatus(t, fmt.Sprintf("refused attempt %d", i+1), resp, b, http.StatusUnauthorized)
	}
	auth.Flags = testenv.FlagUP | testenv.FlagUV
	resp, b = m.passkeySignIn(t, testenv.Browser(t), auth, "/")
	wantStatus(t, "good passkey on a locked login", resp, b, http.StatusTooManyRequests)
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	resp, b = m.passwordStep(t, testenv.Browser(t), "/", adaEmail, adaPassword)
	wantStatus(t, "password on a login locked by passkey failures", resp, b, http.StatusTooManyRequests)
}

// TestPasskeyBadInput throws malformed requests at the endpoints: each
// gets a 4xx JSON error, never a 500 or a dropped connection, and the
// server signs in a good passkey afterwards.
func TestPasskeyBadInput(t *testing.T) {
	m := startPasskeys(t, "throttle off\n\t\t\tlockout {\n\t\t\t\toff\n\t\t\t}")
	createAda(t, m.site)
	c := testenv.Browser(t)
	signIn(t, c, m.base, "/", adaEmail, adaPassword)
	auth := testenv.NewAuthenticator(t, "localhost", m.base)
	resp, b := m.addPasskey(t, c, auth, "")
	wantStatus(t, "register", resp, b, http.StatusOK)
	_, _, csrf := m.page(t, c, "/_gatehouse/account")

	cred := func(mutate func(r map[string]any)) []byte {
		var v map[string]any
		_ = json.Unmarshal(auth.Get(t, make([]byte, 32)), &v)
		mutate(v["response"].(map[string]any))
		return mustJSON(t, map[string]any{"credential": v})
	}
	attest := func(mutate func(r map[string]any)) []byte {
		var v map[string]any
		_ = json.Unmarshal(testenv.NewAuthenticator(t, "localhost", m.base).Create(t, make([]byte, 32), []byte("x")), &v)
		mutate(v["response"].(map[string]any))
		return mustJSON(t, map[string]any{"credential": v})
	}
	enc := base64.RawURLEncoding.EncodeToString
	bodies := map[string][]byte{
		"not JSON":             []byte("{not json"),
		"array":                []byte("[]"),
		"two values":           []byte("{} {}"),
		"unknown field":        []byte(`{"nope": 1}`),
		"credential a string":  []byte(`{"credential": "x"}`),
		"credential empty":     []byte(`{"credential": {}}`),
		"credential null":      []byte(`{"credential": null}`),
		"bad base64":           cred(func(r map[string]any) { r["clientDataJSON"] = "!!!" }),
		"client data not JSON": cred(func(r map[string]any) { r["clientDataJSON"] = enc([]byte("{{")) }),
		"short authdata":       cred(func(r map[string]any) { r["authenticatorData"] = enc([]byte{1, 2, 3}) }),
		"no signature":         cred(func(r map[string]any) { delete(r, "signature") }),
		"huge user handle":     cred(func(r map[string]any) { r["userHandle"] = enc(make([]byte, 300)) }),
		"unknown user handle":  cred(func(r map[string]any) { r["userHandle"] = enc([]byte("no such user")) }),
		"binary user handle":   cred(func(r map[string]any) { r["userHandle"] = enc([]byte{0xff, 0xfe}) }),
		"garbage CBOR":         attest(func(r map[string]any) { r["attestationObject"] = enc([]byte{0xa3, 0xff, 0x00, 0x13}) }),
		"truncated CBOR":       attest(func(r map[string]any) { r["attestationObject"] = r["attestationObject"].(string)[:40] }),
		"CBOR of the wrong shape": attest(func(r map[string]any) {
			r["attestationObject"] = enc([]byte{0x83, 0x01, 0x02, 0x03}) // [1, 2, 3]
		}),
		"attestation as assertion": attest(func(map[string]any) {}),
	}
	for name, raw := range bodies {
		for _, kind := range []string{"passkey", "login", "register"} {
			t.Run(kind+"/"+name, func(t *testing.T) {
				body := raw
				// Each finish gets a fresh ceremony, so that the body is
				// what is refused.
				bc := c
				switch kind {
				case "passkey":
					bc = testenv.Browser(t)
					_, _, tok := m.page(t, bc, "/_gatehouse/signin")
					m.begin(t, bc, "passkey/begin", tok, map[string]string{})
					resp, b := m.jsonPost(t, bc, "passkey/finish", tok, body)
					wantClientError(t, resp, b)
				case "login":
					bc = testenv.Browser(t)
					page := m.mustPasswordStep(t, bc)
					tok := csrfField.FindStringSubmatch(page)[1]
					ch := html.UnescapeString(dataChallengeRE.FindStringSubmatch(page)[1])
					m.begin(t, bc, "login/begin", tok, map[string]string{"challenge": ch})
					var v map[string]any
					if json.Unmarshal(body, &v) == nil && v != nil {
						v["challenge"] = ch
						body = mustJSON(t, v)
					}
					resp, b := m.jsonPost(t, bc, "login/finish", tok, body)
					wantClientError(t, resp, b)
				case "register":
					m.begin(t, bc, "register/begin", csrf, map[string]string{"password": adaPassword})
					resp, b := m.jsonPost(t, bc, "register/finish", csrf, body)
					wantClientError(t, resp, b)
				}
			})
		}
	}

	// The request itself: origin, token, encoding, size, method, path.
	post := func(path string, mutate func(*http.Request)) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodPost, m.base+"/_gatehouse/webauthn/"+path, strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Origin", m.base)
		req.Header.Set("X-CSRF-Token", csrf)
		mutate(req)
		return do(t, c, req)
	}
	for _, tc := range []struct {
		name   string
		path   string
		mutate func(*http.Request)
		want   int
	}{
		{"no origin", "passkey/begin", func(r *http.Request) { r.Header.Del("Origin") }, http.StatusForbidden},
		{"other origin", "passkey/begin", func(r *http.Request) { r.Header.Set("Origin", "http://evil.localhost") }, http.StatusForbidden},
		{"no token", "passkey/begin", func(r *http.Request) { r.Header.Del("X-CSRF-Token") }, http.StatusForbidden},
		{"wrong token", "passkey/begin", func(r *http.Request) { r.Header.Set("X-CSRF-Token", strings.Repeat("A", 43)) }, http.StatusForbidden},
		{"form encoding", "passkey/begin", func(r *http.Request) { r.Header.Set("Content-Type", "application/x-www-form-urlencoded") }, http.StatusUnsupportedMediaType},
		{"too large", "passkey/finish", func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader(`{"rd":"` + strings.Repeat("a", 70<<10) + `"}`))
			r.ContentLength = -1
		}, http.StatusRequestEntityTooLarge},
		{"GET", "passkey/begin", func(r *http.Request) { r.Method = http.MethodGet }, http.StatusMethodNotAllowed},
		{"unknown path", "passkey/nope", func(*http.Request) {}, http.StatusNotFound},
		{"bad second-factor challenge", "login/begin", func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader(`{"challenge":"forged"}`))
			r.ContentLength = -1
		}, http.StatusBadRequest},
		{"bad enrolment challenge", "enrol/begin", func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader(`{"challenge":"forged"}`))
			r.ContentLength = -1
		}, http.StatusBadRequest},
		{"no enrolment challenge", "enrol/finish", func(*http.Request) {}, http.StatusBadRequest},
	} {
		resp, b := post(tc.path, tc.mutate)
		if resp.StatusCode != tc.want || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s: %d %s, want %d JSON: %s", tc.name, resp.StatusCode, resp.Header.Get("Content-Type"), tc.want, b)
		}
	}

	// Still standing.
	cs := testenv.Browser(t)
	resp, b = m.passkeySignIn(t, cs, auth, "/private")
	m.wantSignedIn(t, m.accounts, cs, "after the bad input", resp, b, "/private", "hwk,mfa")
}

func wantClientError(t *testing.T, resp *http.Response, body string) {
	t.Helper()
	var e struct{ Error, Message string }
	if resp.StatusCode < 400 || resp.StatusCode > 499 || json.Unmarshal([]byte(body), &e) != nil || e.Error == "" || e.Message == "" {
		t.Fatalf("status %d, body %q; want a 4xx JSON error", resp.StatusCode, body)
	}
}

var enrolChallengeRE = regexp.MustCompile(`data-webauthn="enrol"[^>]* data-challenge="([^"]+)"`)

// TestPasskeyRequiredEnrolment: in a pool that requires a second factor, a
// user without one may set up a passkey instead of an app at sign-in; the
// session that starts has both, the recovery codes come once, and the
// passkey then signs in as a second factor.
func TestPasskeyRequiredEnrolment(t *testing.T) {
	m := startPasskeys(t, "mfa required\n\t\t\tthrottle off")
	createAda(t, m.site)
	c := testenv.Browser(t)
	resp, body := m.passwordStep(t, c, "/private?z=3", adaEmail, adaPassword)
	wantStatus(t, "password step", resp, body, http.StatusOK)
	ch, csrf := enrolChallengeRE.FindStringSubmatch(body), csrfField.FindStringSubmatch(body)
	if ch == nil || csrf == nil || !strings.Contains(body, "Set up a passkey instead") {
		t.Fatalf("set-up page offers no passkey:\n%s", body)
	}
	challenge := html.UnescapeString(ch[1])
	auth := testenv.NewAuthenticator(t, "localhost", m.base)

	// The set-up page's challenge does not open the second-factor step,
	// nor does the second-factor kind open this one.
	resp, b := m.jsonPost(t, c, "login/begin", csrf[1], mustJSON(t, map[string]string{"challenge": challenge}))
	wantClientError(t, resp, b)

	// Malformed answers are refused, each after a fresh begin, and leave
	// the enrolment open.
	for name, body := range map[string]string{
		"not JSON":        `{not json`,
		"credential null": `{"credential": null}`,
		"credential text": `{"credential": "x"}`,
		"garbage":         `{"credential": {"id": "AA", "rawId": "AA", "type": "public-key", "response": {"clientDataJSON": "e30", "attestationObject": "o_8AEw"}}}`,
	} {
		m.begin(t, c, "enrol/begin", csrf[1], map[string]string{"challenge": challenge})
		var v map[string]any
		if json.Unmarshal([]byte(body), &v) == nil {
			v["challenge"] = challenge
			body = string(mustJSON(t, v))
		}
		resp, b := m.jsonPost(t, c, "enrol/finish", csrf[1], []byte(body))
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Fatalf("enrol/finish with %s: %d %s", name, resp.StatusCode, b)
		}
	}

	o := m.begin(t, c, "enrol/begin", csrf[1], map[string]string{"challenge": challenge})
	if o.PublicKey.User.ID == "" || o.PublicKey.RP.ID != "localhost" {
		t.Fatalf("enrol options: %+v", o.PublicKey)
	}
	resp, b = m.jsonPost(t, c, "enrol/finish", csrf[1], mustJSON(t, map[string]any{
		"challenge": challenge, "rd": "/private?z=3",
		"credential": json.RawMessage(auth.Create(t, b64d(t, o.PublicKey.Challenge), b64d(t, o.PublicKey.User.ID))),
	}))
	wantStatus(t, "enrol/finish", resp, b, http.StatusOK)
	if f := decodeFinished(t, b); len(f.RecoveryCodes) != 10 {
		t.Fatalf("enrolment gave %d recovery codes, want 10", len(f.RecoveryCodes))
	}
	m.wantSignedIn(t, m.at("app"), c, "after enrolling a passkey", resp, b, "/private?z=3", "pwd,hwk,mfa")

	// The same ceremony does not finish twice.
	resp, b = m.jsonPost(t, c, "enrol/finish", csrf[1], mustJSON(t, map[string]any{
		"challenge": challenge, "rd": "/",
		"credential": json.RawMessage(auth.Create(t, b64d(t, o.PublicKey.Challenge), b64d(t, o.PublicKey.User.ID))),
	}))
	wantClientError(t, resp, b)

	// From now on the passkey is the second step.
	c2 := testenv.Browser(t)
	resp, body = m.passwordStep(t, c2, "/private", adaEmail, adaPassword)
	wantStatus(t, "next password step", resp, body, http.StatusOK)
	resp, b = m.passkeyStep(t, c2, auth, body, "/private")
	m.wantSignedIn(t, m.at("app"), c2, "second factor with the enrolled passkey", resp, b, "/private", "pwd,hwk,mfa")
}
