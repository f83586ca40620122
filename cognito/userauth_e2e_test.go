package cognito_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/cognito/srp"
	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/store/sqlite"
)

// USER_AUTH (choice-based sign-in) behind a real Caddy: a pool with every
// first factor, SRP, a lockout of 3, and an app client allowed USER_AUTH;
// passkeys registered for the API's relying party with a software
// authenticator (testenv.Authenticator), whose assertions the node script
// asks the bridge for.

const (
	uaApp      = "uaapp"
	uaOrigin   = "https://app.example.test"
	uaPassword = "correct horse battery staple 7"
)

type uaSite struct {
	*site
	bridge string
	// keys are the users' authenticators by login.
	mu   sync.Mutex
	keys map[string]*testenv.Authenticator
	// users by login: ada and bob have a password and a passkey, cy a
	// password, pat neither (a passwordless account).
	users map[string]*store.User
}

func userAuthSite(t *testing.T) *uaSite {
	t.Helper()
	s := startSiteWith(t, `throttle off
			mfa optional
			srp on
			lockout {
				threshold 3
			}
			first_auth_factors PASSWORD EMAIL_OTP WEB_AUTHN
			client `+uaApp+` {
				public
				redirect_uri https://app.example.test/cb
				auth_flows ALLOW_USER_AUTH ALLOW_REFRESH_TOKEN_AUTH
			}`, "webauthn_origin "+uaOrigin)
	st, err := sqlite.Open(t.Context(), s.db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	// The pool on the same store, as `gatehouse users` would be: SRP on
	// with the same pool name, so passwords get their verifiers.
	p, err := pool.New(t.Context(), st, pool.Config{Name: "default", Hash: pool.HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1},
		SRP: pool.SRPConfig{PoolName: srp.PoolName(poolID)}})
	if err != nil {
		t.Fatal(err)
	}
	rp, err := pool.NewRelyingParty(uaOrigin)
	if err != nil {
		t.Fatal(err)
	}
	us := &uaSite{site: s, keys: map[string]*testenv.Authenticator{}, users: map[string]*store.User{}}
	for _, name := range []string{"ada", "bob", "cy", "cy2", "cy3"} {
		login := name + "@example.com"
		u, err := p.CreateUser(t.Context(), pool.NewUser{Email: login, Password: uaPassword, EmailVerified: true})
		if err != nil {
			t.Fatal(err)
		}
		us.users[login] = u
		if name != "ada" && name != "bob" {
			continue
		}
		a := testenv.NewAuthenticator(t, rp.ID, rp.Origin)
		// Counting, as a security key: an authenticator that counts
		// nothing is accepted once a second (pool.passkeyStep), and the
		// script signs in faster than that.
		a.Counting = true
		opts, c, err := p.BeginPasskeyRegistration(t.Context(), u, rp, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.FinishPasskeyRegistration(t.Context(), u, rp, c, a.Create(t, opts.Response.Challenge, []byte(u.ID))); err != nil {
			t.Fatal(err)
		}
		us.keys[login] = a
	}
	pat := &store.User{ID: uuid.NewString(), Email: "pat@example.com", EmailVerified: true, Status: store.StatusConfirmed, Enabled: true}
	if err := st.CreateUser(t.Context(), pat); err != nil {
		t.Fatal(err)
	}
	us.users[pat.Email] = pat
	us.bridge = us.passkeyBridge(t)
	return us
}

// passkeyBridge is codeBridge with one more door:
//
//	POST /passkey?user=<login>  body: CREDENTIAL_REQUEST_OPTIONS
//	                            -> that user's authenticator's CREDENTIAL
func (us *uaSite) passkeyBridge(t *testing.T) string {
	t.Helper()
	codes := codeBridge(t, us.site)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/passkey", func(w http.ResponseWriter, r *http.Request) {
		us.mu.Lock()
		a := us.keys[r.URL.Query().Get("user")]
		us.mu.Unlock()
		var opts struct {
			Challenge string `json:"challenge"`
			RPID      string `json:"rpId"`
		}
		body, _ := io.ReadAll(r.Body)
		if a == nil || json.Unmarshal(body, &opts) != nil || opts.RPID != a.RPID {
			http.Error(w, "no such authenticator, or options for another site", http.StatusBadRequest)
			return
		}
		ch, err := b64url(opts.Challenge)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = w.Write(a.Get(t, ch))
	})
	// POST /passkey/create?user=<login>  body: CredentialCreationOptions
	//                                   -> a new authenticator's answer
	mux.HandleFunc("/passkey/create", func(w http.ResponseWriter, r *http.Request) {
		var opts struct {
			Challenge string `json:"challenge"`
			RP        struct {
				ID string `json:"id"`
			} `json:"rp"`
			User struct {
				ID string `json:"id"`
			} `json:"user"`
		}
		body, _ := io.ReadAll(r.Body)
		if json.Unmarshal(body, &opts) != nil || opts.RP.ID != "app.example.test" {
			http.Error(w, "bad creation options", http.StatusBadRequest)
			return
		}
		ch, err1 := b64url(opts.Challenge)
		handle, err2 := b64url(opts.User.ID)
		if err1 != nil || err2 != nil {
			http.Error(w, "bad creation options", http.StatusBadRequest)
			return
		}
		a := testenv.NewAuthenticator(t, "app.example.test", uaOrigin)
		a.Counting = true
		us.mu.Lock()
		us.keys[r.URL.Query().Get("user")] = a
		us.mu.Unlock()
		_, _ = w.Write(a.Create(t, ch, handle))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// The codes and the rest: codeBridge's.
		http.Redirect(w, r, codes+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

func b64url(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// TestUserAuthSDK runs the AWS SDK for JavaScript v3 through every
// USER_AUTH choice (testdata/userauth.mjs says each step): SELECT_CHALLENGE
// and its AvailableChallenges, PASSWORD and PASSWORD_SRP (chosen and
// preferred), EMAIL_OTP with the mailed code, WEB_AUTHN with a real
// assertion, and the documented errors; then the attacker's view: an
// unknown and a passwordless login read as a known one, a replayed
// Session and another user's passkey are refused, and wrong EMAIL_OTP
// codes lock the login.
func TestUserAuthSDK(t *testing.T) {
	node, root := needNode(t, "@aws-sdk/client-cognito-identity-provider", "amazon-cognito-identity-js")
	us := userAuthSite(t)
	cmd := exec.Command(node, filepath.Join(root, "cognito", "testdata", "userauth.mjs"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "ENDPOINT="+us.base, "BRIDGE="+us.bridge, "POOL_ID="+poolID, "CLIENT="+uaApp,
		"PASSWORD="+uaPassword, "SUB_ADA="+us.users["ada@example.com"].ID)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || !strings.Contains(stdout.String(), "ALL OK") {
		t.Fatalf("userauth.mjs: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	t.Log(stdout.String())

	// No code went to a login without an account, nor to one that never
	// chose EMAIL_OTP.
	if n := us.smtp.CountTo("nobody@example.com"); n != 0 {
		t.Errorf("%d mails to an unknown login", n)
	}
	if n := us.smtp.CountTo("ada@example.com"); n != 0 {
		t.Errorf("%d mails to ada, who never asked for a code", n)
	}
}

// TestAmplifyUserAuth runs Amplify v6's signIn with authFlowType USER_AUTH
// (testdata/amplify_userauth.mjs): the first-factor selection, the
// password over SRP, an emailed code, and an unknown login.
func TestAmplifyUserAuth(t *testing.T) {
	node, root := needNode(t, "aws-amplify")
	us := userAuthSite(t)
	cmd := exec.Command(node, filepath.Join(root, "cognito", "testdata", "amplify_userauth.mjs"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "ENDPOINT="+us.base, "BRIDGE="+us.bridge, "POOL_ID="+poolID, "CLIENT="+uaApp, "PASSWORD="+uaPassword)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || !strings.Contains(stdout.String(), "ALL OK") {
		t.Fatalf("amplify_userauth.mjs: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	t.Log(stdout.String())
}

// TestUserAuthIndistinguishable: for every choice, a known login (with a
// password and a passkey), a passwordless one and an unknown one get the
// same status, the same fields, the same AvailableChallenges, the same
// parameters (but the name and, for a passkey, the challenge) and
// Sessions of one length. (The work behind each answer is the same too:
// one user lookup and one seal; a code is mailed after the answer. Time
// itself is not asserted here: no timed tests.)
func TestUserAuthIndistinguishable(t *testing.T) {
	us := userAuthSite(t)
	type answer struct {
		status int
		keys   []string
		params []string
		avail  any
		sess   int
		opts   map[string]any
	}
	shape := func(status int, out map[string]any) answer {
		a := answer{status: status, avail: out["AvailableChallenges"]}
		for k := range out {
			a.keys = append(a.keys, k)
		}
		slices.Sort(a.keys)
		if ps, ok := out["ChallengeParameters"].(map[string]any); ok {
			for k, v := range ps {
				a.params = append(a.params, k)
				if k == "CREDENTIAL_REQUEST_OPTIONS" {
					_ = json.Unmarshal([]byte(v.(string)), &a.opts)
					delete(a.opts, "challenge")
				}
			}
			slices.Sort(a.params)
		}
		if s, ok := out["Session"].(string); ok {
			a.sess = len(s)
		}
		return a
	}
	initiate := func(login string, params map[string]string) answer {
		params["USERNAME"] = login
		status, _, out := us.call(t, "InitiateAuth", map[string]any{"ClientId": uaApp, "AuthFlow": "USER_AUTH", "AuthParameters": params})
		return shape(status, out)
	}
	logins := []string{"ada@example.com", "pat@example.com", "nobody@example.com"}
	for _, pref := range []string{"", "EMAIL_OTP", "WEB_AUTHN", "SMS_OTP"} {
		var first answer
		for i, login := range logins {
			params := map[string]string{}
			if pref != "" {
				params["PREFERRED_CHALLENGE"] = pref
			}
			got := initiate(login, params)
			if got.status != http.StatusOK || got.sess == 0 {
				t.Fatalf("preferred %q, %s: %+v", pref, login, got)
			}
			if i == 0 {
				first = got
				continue
			}
			if !reflect.DeepEqual(got, first) {
				t.Errorf("preferred %q: %s reads\n%+v\nbut %s reads\n%+v", pref, login, got, logins[0], first)
			}
		}
		if pref == "WEB_AUTHN" && (first.opts["rpId"] != "app.example.test" || first.opts["userVerification"] != "required" || first.opts["allowCredentials"] != nil) {
			t.Errorf("passkey options: %+v", first.opts)
		}
	}
	// The answers to a choice read the same too: a wrong password.
	for _, login := range logins {
		_, _, sel := us.call(t, "InitiateAuth", map[string]any{"ClientId": uaApp, "AuthFlow": "USER_AUTH",
			"AuthParameters": map[string]string{"USERNAME": login}})
		status, _, out := us.call(t, "RespondToAuthChallenge", map[string]any{"ClientId": uaApp, "ChallengeName": "SELECT_CHALLENGE",
			"Session": sel["Session"], "ChallengeResponses": map[string]string{"USERNAME": login, "ANSWER": "PASSWORD", "PASSWORD": "not the password 1"}})
		if status != http.StatusBadRequest || out["__type"] != "NotAuthorizedException" || out["message"] != "Incorrect username or password." {
			t.Errorf("%s, wrong password chosen: %d %v", login, status, out)
		}
	}
}

// TestUserAuthAttacks: a replayed SELECT_CHALLENGE Session, a Session of
// another client, a WEB_AUTHN Session answered twice, another user's
// passkey, and EMAIL_OTP guesses (which lock the login, for an unknown one
// alike).
func TestUserAuthAttacks(t *testing.T) {
	us := userAuthSite(t)
	respond := func(name, session string, r map[string]string) (int, map[string]any) {
		status, _, out := us.call(t, "RespondToAuthChallenge", map[string]any{"ClientId": uaApp, "ChallengeName": name, "Session": session, "ChallengeResponses": r})
		return status, out
	}
	start := func(login, pref string) map[string]any {
		p := map[string]string{"USERNAME": login}
		if pref != "" {
			p["PREFERRED_CHALLENGE"] = pref
		}
		status, _, out := us.call(t, "InitiateAuth", map[string]any{"ClientId": uaApp, "AuthFlow": "USER_AUTH", "AuthParameters": p})
		if status != http.StatusOK {
			t.Fatalf("InitiateAuth %s %s: %d %v", login, pref, status, out)
		}
		return out
	}
	refused := func(what string, status int, out map[string]any, typ string) {
		t.Helper()
		if status != http.StatusBadRequest || out["__type"] != typ {
			t.Errorf("%s: %d %v, want %s", what, status, out, typ)
		}
	}

	// A choice is made once.
	sel := start("cy@example.com", "")["Session"].(string)
	status, out := respond("SELECT_CHALLENGE", sel, map[string]string{"USERNAME": "cy@example.com", "ANSWER": "PASSWORD", "PASSWORD": uaPassword})
	if status != http.StatusOK || out["AuthenticationResult"] == nil {
		t.Fatalf("PASSWORD chosen: %d %v", status, out)
	}
	status, out = respond("SELECT_CHALLENGE", sel, map[string]string{"USERNAME": "cy@example.com", "ANSWER": "PASSWORD", "PASSWORD": uaPassword})
	refused("the same SELECT_CHALLENGE Session again", status, out, "NotAuthorizedException")

	// A Session answers only through the client it began with.
	other := start("cy@example.com", "")["Session"].(string)
	_, id, _ := strings.Cut(other, ":")
	status, out = respond("SELECT_CHALLENGE", publicApp+":"+id, map[string]string{"USERNAME": "cy@example.com", "ANSWER": "PASSWORD", "PASSWORD": uaPassword})
	refused("a Session sent through another client", status, out, "NotAuthorizedException")

	// A passkey answers once, and only for its own user.
	ch := start("ada@example.com", "WEB_AUTHN")
	opts := ch["ChallengeParameters"].(map[string]any)["CREDENTIAL_REQUEST_OPTIONS"].(string)
	bobs := us.assert(t, "bob@example.com", opts)
	status, out = respond("WEB_AUTHN", ch["Session"].(string), map[string]string{"USERNAME": "ada@example.com", "CREDENTIAL": bobs})
	refused("bob's passkey for ada's challenge", status, out, "NotAuthorizedException")
	adas := us.assert(t, "ada@example.com", opts)
	status, out = respond("WEB_AUTHN", ch["Session"].(string), map[string]string{"USERNAME": "ada@example.com", "CREDENTIAL": adas})
	if status != http.StatusOK || out["AuthenticationResult"] == nil {
		t.Fatalf("ada's passkey: %d %v", status, out)
	}
	status, out = respond("WEB_AUTHN", ch["Session"].(string), map[string]string{"USERNAME": "ada@example.com", "CREDENTIAL": adas})
	refused("the same WEB_AUTHN answer again", status, out, "NotAuthorizedException")
	// Bob's passkey for a challenge to an unknown login: the same refusal.
	ch = start("nobody@example.com", "WEB_AUTHN")
	bobs = us.assert(t, "bob@example.com", ch["ChallengeParameters"].(map[string]any)["CREDENTIAL_REQUEST_OPTIONS"].(string))
	status, out = respond("WEB_AUTHN", ch["Session"].(string), map[string]string{"USERNAME": "nobody@example.com", "CREDENTIAL": bobs})
	refused("a passkey for an unknown login's challenge", status, out, "NotAuthorizedException")
	if out["message"] != "The passkey was not accepted." {
		t.Errorf("message: %v", out["message"])
	}

	// EMAIL_OTP guesses count in the lockout (threshold 3): after three
	// wrong codes even the right one is refused, for cy2 as for a login
	// without an account.
	for _, login := range []string{"cy2@example.com", "nobody2@example.com"} {
		ch := start(login, "EMAIL_OTP")
		session := ch["Session"].(string)
		for i := range 3 {
			status, out = respond("EMAIL_OTP", session, map[string]string{"USERNAME": login, "EMAIL_OTP_CODE": "00000" + string(rune('0'+i))})
			if status != http.StatusBadRequest || (out["__type"] != "CodeMismatchException" && out["message"] != "Password attempts exceeded") {
				t.Fatalf("%s wrong code %d: %d %v", login, i, status, out)
			}
		}
		code := "123456"
		if login == "cy2@example.com" {
			m := us.smtp.WaitFor(t, login, 1, 5*time.Second)
			code = m.Code(t)
		}
		status, out = respond("EMAIL_OTP", session, map[string]string{"USERNAME": login, "EMAIL_OTP_CODE": code})
		if status != http.StatusBadRequest || out["message"] != "Password attempts exceeded" {
			t.Errorf("%s: the right code after three wrong ones: %d %v, want the lockout", login, status, out)
		}
	}
}

// assert has login's authenticator answer the passkey options, as the
// node script's bridge does.
func (us *uaSite) assert(t *testing.T, login, options string) string {
	t.Helper()
	resp, err := http.Post(us.bridge+"/passkey?user="+login, "application/json", strings.NewReader(options))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("authenticator: %d %s", resp.StatusCode, b)
	}
	return string(b)
}
