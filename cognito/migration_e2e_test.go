package cognito_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
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

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/internal/testenv/web"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/store/sqlite"
	"github.com/gatehouse-auth/gatehouse/trigger"
)

// The old system of the migration tests, behind the example receiver
// (examples/migration-receiver): its users and bcrypt-hashed passwords.
const (
	oldUser     = "Grace@Example.com"
	oldPassword = "the old system's password 1"
	resetUser   = "lin@example.com"
	hostedUser  = "ken@example.com"
	adminUser   = "mae@example.com"
	crowdUser   = "zoe@example.com"
	migrateApp  = "migrator"
)

// hookSite is a pool whose migration and custom-challenge hooks are real
// HTTP receivers: the example migration receiver (a separate process),
// reached through a receiver of the test's that also misbehaves on
// purpose, and the test's custom-challenge trio.
type hookSite struct {
	*site
	// oldCalls counts the migration calls that reached the old system.
	oldCalls atomic.Int32
	// unsigned counts hook calls whose signature did not verify.
	unsigned atomic.Int32
	// clientID is the callerContext.clientId of the last migration call.
	clientID atomic.Value
}

func startHookSite(t *testing.T) *hookSite {
	t.Helper()
	secret := trigger.NewSecret()
	example := startMigrationReceiver(t, secret, map[string]string{
		oldUser: oldPassword, resetUser: "forgotten long ago 1", hostedUser: oldPassword, adminUser: oldPassword,
		crowdUser: oldPassword,
	})
	hs := &hookSite{}
	hooks := hs.receiver(t, secret, example)
	hs.site = startSite(t, fmt.Sprintf(`
			srp on
			trigger user_migration %[1]s/migrate {
				secret %[2]s
				timeout 500ms
			}
			trigger define_auth_challenge %[1]s/define {
				secret %[2]s
			}
			trigger create_auth_challenge %[1]s/create {
				secret %[2]s
			}
			trigger verify_auth_challenge_response %[1]s/verify {
				secret %[2]s
			}
			client %[3]s {
				public
				redirect_uri https://migrator.example.test/cb
				auth_flows ALLOW_USER_PASSWORD_AUTH ALLOW_USER_SRP_AUTH ALLOW_CUSTOM_AUTH ALLOW_ADMIN_USER_PASSWORD_AUTH ALLOW_REFRESH_TOKEN_AUTH
			}`, hooks, secret, migrateApp))
	return hs
}

// startMigrationReceiver builds and runs examples/migration-receiver on a
// CSV of users (bcrypt), and returns its URL.
func startMigrationReceiver(t *testing.T, secret string, users map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "migration-receiver")
	build := exec.Command("go", "build", "-o", bin, "./examples/migration-receiver")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the example receiver: %v\n%s", err, out)
	}
	var csv strings.Builder
	for login, pw := range users {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&csv, "%s,%s,Grace\n", login, h)
	}
	csvPath := filepath.Join(dir, "old-users.csv")
	if err := os.WriteFile(csvPath, []byte(csv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0", "-users", csvPath)
	cmd.Env = append(os.Environ(), "MIGRATION_SECRET="+secret)
	return "http://" + testenv.StartListening(t, "migration receiver", cmd)
}

// receiver serves the hooks: /migrate passes the signed call on to the
// example receiver untouched, except for logins that make it misbehave
// (deny, down, slow, badjson, other: an answer about another address,
// empty: no user); /define, /create, /verify are a custom-challenge trio
// asking "6 times 7" up to three times.
func (hs *hookSite) receiver(t *testing.T, secret, example string) string {
	t.Helper()
	key, err := trigger.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	read := func(w http.ResponseWriter, r *http.Request) ([]byte, map[string]any, bool) {
		body, _ := io.ReadAll(r.Body)
		if err := key.Verify(r.Header, body, time.Now(), trigger.DefaultTolerance); err != nil {
			hs.unsigned.Add(1)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return nil, nil, false
		}
		var ev map[string]any
		_ = json.Unmarshal(body, &ev)
		return body, ev, true
	}
	answer := func(w http.ResponseWriter, ev map[string]any, resp map[string]any) {
		ev["response"] = resp
		_ = json.NewEncoder(w).Encode(ev)
	}
	mux.HandleFunc("/migrate", func(w http.ResponseWriter, r *http.Request) {
		body, ev, ok := read(w, r)
		if !ok {
			return
		}
		name, _ := ev["userName"].(string)
		if cc, ok := ev["callerContext"].(map[string]any); ok {
			hs.clientID.Store(fmt.Sprint(cc["clientId"]))
		}
		switch strings.SplitN(name, "@", 2)[0] {
		case "deny":
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"message": "Bad password"}`)
			return
		case "down":
			if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
				_ = c.Close()
			}
			return
		case "slow":
			select {
			case <-time.After(3 * time.Second):
			case <-r.Context().Done():
			}
			return
		case "badjson":
			_, _ = io.WriteString(w, `{"response": {"userAttributes": "not an object"`)
			return
		case "other":
			answer(w, ev, map[string]any{"userAttributes": map[string]string{"email": oldUser}})
			return
		case "empty":
			w.WriteHeader(http.StatusOK)
			return
		}
		if strings.EqualFold(name, oldUser) {
			hs.oldCalls.Add(1)
		}
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, example, bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})
	mux.HandleFunc("/define", func(w http.ResponseWriter, r *http.Request) {
		_, ev, ok := read(w, r)
		if !ok {
			return
		}
		req, _ := ev["request"].(map[string]any)
		sess, _ := req["session"].([]any)
		resp := map[string]any{"challengeName": "CUSTOM_CHALLENGE"}
		wrong := 0
		for _, c := range sess {
			if c, _ := c.(map[string]any); c["challengeName"] == "CUSTOM_CHALLENGE" && c["challengeResult"] == false {
				wrong++
			}
		}
		if n := len(sess); n > 0 {
			last, _ := sess[n-1].(map[string]any)
			switch {
			case last["challengeName"] == "SRP_A":
				resp = map[string]any{"challengeName": "PASSWORD_VERIFIER"}
			case last["challengeName"] == "PASSWORD_VERIFIER" && last["challengeResult"] == true:
			case last["challengeName"] == "CUSTOM_CHALLENGE" && last["challengeResult"] == true:
				resp = map[string]any{"issueTokens": true}
			case wrong >= 3 || last["challengeName"] != "CUSTOM_CHALLENGE":
				resp = map[string]any{"failAuthentication": true}
			}
		}
		answer(w, ev, resp)
	})
	mux.HandleFunc("/create", func(w http.ResponseWriter, r *http.Request) {
		_, ev, ok := read(w, r)
		if !ok {
			return
		}
		answer(w, ev, map[string]any{"publicChallengeParameters": map[string]string{"question": "What is 6 times 7?"},
			"privateChallengeParameters": map[string]string{"answer": "42"}, "challengeMetadata": "SIX-TIMES-SEVEN"})
	})
	mux.HandleFunc("/verify", func(w http.ResponseWriter, r *http.Request) {
		_, ev, ok := read(w, r)
		if !ok {
			return
		}
		req, _ := ev["request"].(map[string]any)
		priv, _ := req["privateChallengeParameters"].(map[string]any)
		answer(w, ev, map[string]any{"answerCorrect": priv["answer"] != nil && priv["answer"] == req["challengeAnswer"]})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = srv.Close()
	})
	return "http://" + ln.Addr().String()
}

// TestMigrationAndCustomAuth runs testdata/migration.mjs (the AWS SDK for
// JavaScript v3) against a pool with real hook receivers behind a real
// Caddy: a user of the old system migrated at sign-in and signed in again
// without the hook; a wrong password, an unknown login, and a hook that
// denies, drops the connection, times out, answers bad JSON, answers
// about another address or answers nothing are all the same
// NotAuthorizedException; a forgotten password of an old-system user;
// CUSTOM_AUTH with a wrong and a right answer, a spent session, and an
// unknown login that gets the same challenges and never tokens. Then it
// reads the audit trail and the hooks' counts.
func TestMigrationAndCustomAuth(t *testing.T) {
	node, root := needNode(t, "@aws-sdk/client-cognito-identity-provider")
	hs := startHookSite(t)
	bridge := codeBridge(t, hs.site)
	key := accessKey(t, hs.db)
	cmd := exec.Command(node, filepath.Join(root, "cognito", "testdata", "migration.mjs"))
	cmd.Dir = root
	cmd.Env = append(withoutAWSEnv(os.Environ()), "ENDPOINT="+hs.base, "BRIDGE="+bridge, "CLIENT="+migrateApp,
		"OLD_USER="+oldUser, "OLD_PASSWORD="+oldPassword, "RESET_USER="+resetUser, "KNOWN_USER="+strings.ToLower(oldUser),
		"ADMIN_USER="+adminUser, "POOL_ID="+poolID, "KEY_ID="+key.ID, "SECRET="+key.SecretAccessKey)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || !strings.Contains(stdout.String(), "ALL OK") {
		t.Fatalf("migration.mjs: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	t.Log(stdout.String())
	// The first sign-in and the wrong-password one asked nothing of the
	// old system after the user existed: one call.
	if n := hs.oldCalls.Load(); n != 1 {
		t.Errorf("the old system was asked %d times about %s, want once", n, oldUser)
	}
	if n := hs.unsigned.Load(); n != 0 {
		t.Errorf("%d hook calls did not verify", n)
	}
	events := auditTrail(t, hs.db)
	count := func(typ, login, reason string) int {
		n := 0
		for _, e := range events {
			if e.Type == typ && e.Login == login && (reason == "" || e.Reason == reason) {
				n++
			}
		}
		return n
	}
	for _, c := range []struct {
		typ, login, reason string
		want               int
	}{
		{pool.AuditUserMigrated, strings.ToLower(oldUser), "", 1},
		{pool.AuditUserMigrated, resetUser, "", 1},
		{pool.AuditUserMigrated, adminUser, "", 1},
		{pool.AuditUserMigrationFailed, "deny@example.com", "denied", 1},
		{pool.AuditUserMigrationFailed, "down@example.com", "failed", 1},
		{pool.AuditUserMigrationFailed, "slow@example.com", "failed", 1},
		{pool.AuditUserMigrationFailed, "badjson@example.com", "invalid_response", 1},
		{pool.AuditUserMigrationFailed, "other@example.com", "email_mismatch", 1},
		{pool.AuditUserMigrationFailed, "empty@example.com", "no_user", 1},
		{pool.AuditSignInFailed, "nobody@example.com", "invalid_credentials", 1},
	} {
		if got := count(c.typ, c.login, c.reason); got != c.want {
			t.Errorf("%d %s events for %s (reason %q), want %d", got, c.typ, c.login, c.reason, c.want)
		}
	}
	for _, e := range events {
		if strings.Contains(fmt.Sprint(e), oldPassword) {
			t.Errorf("the password is in an audit event: %+v", e)
		}
	}

	// Concurrent first sign-ins of one old-system user make one user, and
	// every one of them signs in.
	var wg sync.WaitGroup
	results := make([]map[string]any, 6)
	for i := range results {
		wg.Go(func() {
			_, _, results[i] = hs.call(t, "InitiateAuth", map[string]any{"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": migrateApp,
				"AuthParameters": map[string]string{"USERNAME": crowdUser, "PASSWORD": oldPassword}})
		})
	}
	wg.Wait()
	for i, r := range results {
		if _, ok := r["AuthenticationResult"]; !ok {
			t.Errorf("concurrent sign-in %d: %v", i, r)
		}
	}
	made := 0
	for _, e := range auditTrail(t, hs.db) {
		if e.Type == pool.AuditUserMigrated && e.Login == crowdUser {
			made++
		}
	}
	if made != 1 {
		t.Errorf("%d users migrated by concurrent first sign-ins, want 1", made)
	}

	// A client without ALLOW_CUSTOM_AUTH may not start it.
	status, _, body := hs.call(t, "InitiateAuth", map[string]any{"AuthFlow": "CUSTOM_AUTH", "ClientId": publicApp,
		"AuthParameters": map[string]string{"USERNAME": strings.ToLower(oldUser)}})
	if status != http.StatusBadRequest || body["__type"] != "InvalidParameterException" {
		t.Errorf("CUSTOM_AUTH of a client without it: %d %v", status, body)
	}
}

// TestIdentityJSMigrationAndCustomAuth runs testdata/identityjs_custom.mjs
// (amazon-cognito-identity-js) against the hook site with `srp on`: an
// old-system user migrated through USER_PASSWORD_AUTH then signs in with
// the library's default SRP; SRP never asks the migration hook (as
// Cognito: the password never reaches the pool); CUSTOM_AUTH with a
// password runs SRP_A, PASSWORD_VERIFIER, then the custom challenge.
func TestIdentityJSMigrationAndCustomAuth(t *testing.T) {
	node, root := needNode(t, "amazon-cognito-identity-js")
	hs := startHookSite(t)
	cmd := exec.Command(node, filepath.Join(root, "cognito", "testdata", "identityjs_custom.mjs"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "ENDPOINT="+hs.base, "POOL_ID="+poolID, "CLIENT="+migrateApp,
		"OLD_USER="+oldUser, "OLD_PASSWORD="+oldPassword, "SRP_ONLY_USER="+hostedUser)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || !strings.Contains(stdout.String(), "ALL OK") {
		t.Fatalf("identityjs_custom.mjs: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	t.Log(stdout.String())
	if n := hs.oldCalls.Load(); n != 1 {
		t.Errorf("the old system was asked %d times about %s, want once", n, oldUser)
	}
	for _, e := range auditTrail(t, hs.db) {
		if e.Login == hostedUser && (e.Type == pool.AuditUserMigrated || e.Type == pool.AuditUserMigrationFailed) {
			t.Errorf("USER_SRP_AUTH asked the migration hook: %+v", e)
		}
	}
}

// TestMigrationOnTheHostedPage signs a user of the old system in on the
// hosted sign-in page (a plain HTTP client: the page is same-origin), on
// the way of an authorization request, then checks the user exists with
// the old system's attributes. A denied migration's page is an unknown
// login's.
func TestMigrationOnTheHostedPage(t *testing.T) {
	hs := startHookSite(t)
	c := web.Browser(t)
	signIn := func(email, password, rd string) (*http.Response, string) {
		resp, body := web.Get(t, c, hs.base+"/_gatehouse/signin?rd="+url.QueryEscape(rd), nil)
		m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)
		if resp.StatusCode != http.StatusOK || m == nil {
			t.Fatalf("sign-in page: %d %s", resp.StatusCode, body)
		}
		form := url.Values{"csrf": {m[1]}, "rd": {rd}, "email": {email}, "password": {password}}
		req, _ := http.NewRequest(http.MethodPost, hs.base+"/_gatehouse/signin", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", hs.base)
		return web.Do(t, c, req)
	}
	wrongResp, wrongBody := signIn("deny@example.com", oldPassword, "/")
	if wrongResp.StatusCode == http.StatusOK || !strings.Contains(wrongBody, "ncorrect") {
		t.Fatalf("a denied migration on the page: %d %s", wrongResp.StatusCode, wrongBody)
	}
	unknownResp, unknownBody := signIn("nobody@example.com", oldPassword, "/")
	if unknownResp.StatusCode != wrongResp.StatusCode ||
		stripCSRF(strings.ReplaceAll(unknownBody, "nobody", "LOGIN")) != stripCSRF(strings.ReplaceAll(wrongBody, "deny", "LOGIN")) {
		t.Errorf("an unknown login's page differs from a denied migration's: %d vs %d", unknownResp.StatusCode, wrongResp.StatusCode)
	}
	// The OpenID provider's sign-in is this page, returning to the
	// authorization request: the hook is told its client.
	rd := "/oauth2/authorize?" + url.Values{"client_id": {publicApp}, "response_type": {"code"}, "scope": {"openid"},
		"redirect_uri": {"https://spa.example.test/cb"}, "state": {"s1"}, "code_challenge_method": {"S256"},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}}.Encode()
	resp, body := signIn(hostedUser, oldPassword, rd)
	if to := web.ContinuePage(t, "migrated sign-in", resp, body); to != rd {
		t.Errorf("continues to %q, want %q", to, rd)
	}
	if got := hs.clientID.Load(); got != publicApp {
		t.Errorf("the hook was told client %v, want %s", got, publicApp)
	}
	s, err := sqlite.Open(t.Context(), hs.db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u, err := s.UserByEmail(t.Context(), hostedUser)
	if err != nil || u.Status != store.StatusConfirmed || !u.EmailVerified || u.Attributes["given_name"] != "Grace" ||
		!strings.HasPrefix(u.PasswordHash, "$argon2id$") {
		t.Fatalf("migrated user = %+v, %v", u, err)
	}
}

var csrfValue = regexp.MustCompile(`value="[A-Za-z0-9_-]{20,}"`)

func stripCSRF(body string) string { return csrfValue.ReplaceAllString(body, "") }

// accessKey makes an access key for the admin actions on the site's
// store, as `gatehouse access-keys create` does.
func accessKey(t *testing.T, db string) *pool.NewAccessKey {
	t.Helper()
	st, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, err := pool.New(t.Context(), st, pool.Config{Name: "default", Hash: pool.HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1}})
	if err != nil {
		t.Fatal(err)
	}
	k, err := p.CreateAccessKey(t.Context(), "migration tests", false)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func auditTrail(t *testing.T, db string) []store.AuditEvent {
	t.Helper()
	s, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	es, err := s.AuditEvents(t.Context(), store.AuditQuery{Limit: store.MaxAuditLimit})
	if err != nil {
		t.Fatal(err)
	}
	return es
}
