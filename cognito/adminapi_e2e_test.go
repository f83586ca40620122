package cognito_test

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/store/sqlite"
)

const adminApp = "server"

// adminSite starts Caddy with a client that allows AdminInitiateAuth, and
// makes two access keys (one read-only) through the pool API on the same
// store, as `gatehouse access-keys create` does.
func adminSite(t *testing.T) (s *site, rw, ro *pool.NewAccessKey, st store.Store) {
	t.Helper()
	s = startSite(t, `throttle off
			attribute name
			attribute custom:team
			client `+adminApp+` {
				public
				redirect_uri https://server.example.test/cb
				auth_flows ALLOW_ADMIN_USER_PASSWORD_AUTH ALLOW_REFRESH_TOKEN_AUTH
			}`)
	st, err := sqlite.Open(t.Context(), s.db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	p, err := pool.New(t.Context(), st, pool.Config{Name: "default", Hash: pool.HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1}})
	if err != nil {
		t.Fatal(err)
	}
	two := 2
	if _, err := p.CreateGroup(t.Context(), pool.NewGroup{Name: "editors", Description: "Edit the pages", Precedence: &two}); err != nil {
		t.Fatal(err)
	}
	if rw, err = p.CreateAccessKey(t.Context(), "admin tests", false); err != nil {
		t.Fatal(err)
	}
	if ro, err = p.CreateAccessKey(t.Context(), "read-only tests", true); err != nil {
		t.Fatal(err)
	}
	return s, rw, ro, st
}

// TestAdminSDK runs the AWS SDK for JavaScript v3's client with static
// credentials of a pool's access key through the admin actions
// (testdata/admin.mjs says each step): AdminCreateUser (SUPPRESS),
// AdminInitiateAuth with the temporary password, NEW_PASSWORD_REQUIRED
// answered with AdminRespondToAuthChallenge, AdminGetUser, attributes,
// groups, disable (sign-in refused) and enable, global sign-out, passwords
// set by the administrator, AdminConfirmSignUp, the pool and its clients,
// a read-only key refused every change, a wrong secret refused, and
// AdminDeleteUser. Then: an unsigned admin call is refused, and every call
// is in the audit log under its access key.
func TestAdminSDK(t *testing.T) {
	node, root := needNode(t, "@aws-sdk/client-cognito-identity-provider")
	s, rw, ro, st := adminSite(t)
	cmd := exec.Command(node, filepath.Join(root, "cognito", "testdata", "admin.mjs"))
	cmd.Dir = root
	cmd.Env = append(withoutAWSEnv(os.Environ()),
		"ENDPOINT="+s.base, "POOL_ID="+poolID, "ADMIN_CLIENT="+adminApp, "PUBLIC_CLIENT="+publicApp,
		"KEY_ID="+rw.ID, "SECRET="+rw.SecretAccessKey, "RO_KEY_ID="+ro.ID, "RO_SECRET="+ro.SecretAccessKey)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || !strings.Contains(stdout.String(), "ALL OK") {
		t.Fatalf("admin.mjs: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	t.Log(stdout.String())

	// The invitation and its resend went out, each with a temporary
	// password; the required reset mailed a code (the address's second
	// mail: its sign-up's confirmation was the first).
	lines := map[string]string{}
	for _, l := range strings.Split(stdout.String(), "\n") {
		if k, v, ok := strings.Cut(l, " "); ok {
			lines[k] = v
		}
	}
	first := s.smtp.WaitFor(t, lines["INVITED"], 1, 5*time.Second)
	second := s.smtp.WaitFor(t, lines["INVITED"], 2, 5*time.Second)
	if first.Text == second.Text {
		t.Errorf("invitation and resend: %q / %q", first.Text, second.Text)
	}
	if code := s.smtp.WaitFor(t, lines["RESET"], 2, 5*time.Second).Code(t); len(code) != 6 {
		t.Errorf("reset code %q", code)
	}

	// Unsigned: refused as AWS refuses it, and nothing runs.
	status, hd, out := s.call(t, "AdminCreateUser", map[string]any{"UserPoolId": poolID, "Username": "unsigned@example.com", "MessageAction": "SUPPRESS"})
	if status != http.StatusBadRequest || hd.Get("x-amzn-ErrorType") != "MissingAuthenticationTokenException" || out["__type"] != "MissingAuthenticationTokenException" {
		t.Fatalf("unsigned AdminCreateUser: %d %v %v", status, hd.Get("x-amzn-ErrorType"), out)
	}
	// A made-up signature.
	req, _ := http.NewRequest(http.MethodPost, s.base+"/", strings.NewReader(`{"UserPoolId":"`+poolID+`","Username":"x@example.com"}`))
	req.Header.Set("X-Amz-Target", "AWSCognitoIdentityProviderService.AdminGetUser")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Date", "20260101T000000Z")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+rw.ID+"/20260101/us-east-1/cognito-idp/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="+strings.Repeat("0", 64))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("x-amzn-ErrorType") != "InvalidSignatureException" {
		t.Fatalf("stale forged signature: %d %s", resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"))
	}

	events, err := st.AuditEvents(t.Context(), store.AuditQuery{Types: []string{pool.AuditAdminAction, pool.AuditAdminAuthFailed}, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range events {
		switch e.Type {
		case pool.AuditAdminAction:
			seen[e.Detail["access_key_id"]+" "+e.Detail["action"]+" "+e.Detail["outcome"]] = true
			if e.Detail["access_key_id"] == "" || e.IP == "" {
				t.Errorf("admin_action without its key or address: %+v", e)
			}
		case pool.AuditAdminAuthFailed:
			seen["failed "+e.Reason] = true
		}
	}
	for _, want := range []string{
		rw.ID + " AdminCreateUser ok",
		rw.ID + " AdminCreateUser UsernameExistsException",
		rw.ID + " AdminDisableUser ok",
		rw.ID + " AdminDeleteUser ok",
		rw.ID + " AdminInitiateAuth ok",
		ro.ID + " AdminGetUser ok",
		ro.ID + " AdminCreateUser AccessDeniedException",
		"failed invalid_signature",
		"failed missing",
	} {
		if !seen[want] {
			t.Errorf("no audit event %q", want)
		}
	}
	if seen["failed missing"] && seen[rw.ID+" AdminCreateUser ok"] {
		// The unsigned AdminCreateUser made no user.
		if _, err := st.UserByEmail(t.Context(), "unsigned@example.com"); err == nil {
			t.Error("the unsigned AdminCreateUser made a user")
		}
	}
}

// withoutAWSEnv drops the AWS_* settings of whoever runs the tests, so
// that the script's static credentials and endpoint are the ones used.
func withoutAWSEnv(env []string) []string {
	out := env[:0:0]
	for _, e := range env {
		if !strings.HasPrefix(e, "AWS_") {
			out = append(out, e)
		}
	}
	return out
}

// TestAdminAWSCLI: the AWS CLI (botocore's signer), with a pool access key
// and --endpoint-url, creates a user with admin-create-user, reads it with
// admin-get-user and lists the pool's clients through a real Caddy; a
// read-only key's admin-delete-user is AccessDeniedException. Skipped
// where the AWS CLI is not installed (CI does not install it).
func TestAdminAWSCLI(t *testing.T) {
	aws, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("the AWS CLI is not installed")
	}
	if err := exec.Command(aws, "--version").Run(); err != nil {
		t.Skipf("the AWS CLI does not run: %v", err)
	}
	s, rw, ro, _ := adminSite(t)
	dir := t.TempDir()
	run := func(key *pool.NewAccessKey, args ...string) (string, error) {
		args = append(append([]string{"cognito-idp"}, args...), "--endpoint-url", s.base, "--output", "json")
		cmd := exec.CommandContext(t.Context(), aws, args...)
		cmd.Env = append(withoutAWSEnv(os.Environ()),
			"AWS_ACCESS_KEY_ID="+key.ID, "AWS_SECRET_ACCESS_KEY="+key.SecretAccessKey, "AWS_DEFAULT_REGION=us-east-1",
			"AWS_MAX_ATTEMPTS=1", "AWS_CONFIG_FILE="+filepath.Join(dir, "config"),
			"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "credentials"), "HOME="+dir)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run(rw, "admin-create-user", "--user-pool-id", poolID, "--username", "cli@example.com",
		"--temporary-password", "Temporary horse battery 1", "--message-action", "SUPPRESS")
	if err != nil || !strings.Contains(out, `"FORCE_CHANGE_PASSWORD"`) {
		t.Fatalf("admin-create-user: %v\n%s", err, out)
	}
	out, err = run(ro, "admin-get-user", "--user-pool-id", poolID, "--username", "cli@example.com")
	if err != nil || !strings.Contains(out, `"cli@example.com"`) {
		t.Fatalf("admin-get-user: %v\n%s", err, out)
	}
	out, err = run(ro, "list-user-pool-clients", "--user-pool-id", poolID)
	if err != nil || !strings.Contains(out, `"`+adminApp+`"`) {
		t.Fatalf("list-user-pool-clients: %v\n%s", err, out)
	}
	out, err = run(ro, "admin-delete-user", "--user-pool-id", poolID, "--username", "cli@example.com")
	if err == nil || !strings.Contains(out, "AccessDeniedException") {
		t.Fatalf("read-only admin-delete-user: %v\n%s", err, out)
	}
	out, err = run(rw, "admin-get-user", "--user-pool-id", "us-east-1_Other", "--username", "cli@example.com")
	if err == nil || !strings.Contains(out, "ResourceNotFoundException") {
		t.Fatalf("another pool id: %v\n%s", err, out)
	}
}
