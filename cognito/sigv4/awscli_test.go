package sigv4_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestAWSCLI: the AWS CLI (botocore's signer), configured as the README
// says (credentials, region, --endpoint-url), makes an admin-get-user the
// verifier accepts; with a wrong secret it prints Cognito's
// InvalidSignatureException. Skipped where the AWS CLI is not installed
// (CI does not install it).
func TestAWSCLI(t *testing.T) {
	t.Parallel()
	aws, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("the AWS CLI is not installed")
	}
	if err := exec.Command(aws, "--version").Run(); err != nil {
		t.Skipf("the AWS CLI does not run: %v", err)
	}
	rg := newRig(t, nil)
	dir := t.TempDir()
	run := func(secret string) (string, error) {
		cmd := exec.CommandContext(t.Context(), aws, "cognito-idp", "admin-get-user",
			"--user-pool-id", region+"_abc", "--username", "ada@example.com",
			"--endpoint-url", rg.srv.URL, "--output", "json")
		cmd.Env = append(withoutAWS(os.Environ()),
			"AWS_ACCESS_KEY_ID="+rg.key.ID, "AWS_SECRET_ACCESS_KEY="+secret, "AWS_DEFAULT_REGION="+region,
			"AWS_MAX_ATTEMPTS=1",
			"AWS_CONFIG_FILE="+filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "credentials"),
			"HOME="+dir)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run(rg.key.SecretAccessKey)
	if err != nil {
		t.Fatalf("aws cognito-idp admin-get-user: %v\n%s", err, out)
	}
	var got struct{ Username string }
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.Username != "ada@example.com" {
		t.Fatalf("aws printed %q (%v)", out, err)
	}
	out, err = run(strings.Repeat("x", 40))
	if err == nil || !strings.Contains(out, "InvalidSignatureException") {
		t.Fatalf("with a wrong secret: %v\n%s", err, out)
	}
}

// withoutAWS drops the AWS_* variables of the environment the tests run in.
func withoutAWS(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "AWS_") {
			out = append(out, kv)
		}
	}
	return out
}
