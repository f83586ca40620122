package cognito_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestAmplifyNode runs Amplify v6 (aws-amplify) in Node against a pool with
// `srp on` behind a real Caddy (testdata/amplify.mjs), configured only with
// the pool id, the client id and userPoolEndpoint: signUp, confirmSignUp
// with the code from the real SMTP server, autoSignIn, a wrong password
// refused,
// signIn with Amplify's default SRP, fetchAuthSession (and a forced
// refresh), setUpTOTP and verifyTOTPSetup, a sign-in that asks for the
// TOTP code, resetPassword and confirmResetPassword, and
// signOut({ global: true }) after which the access token is refused.
func TestAmplifyNode(t *testing.T) {
	node, root := needNode(t, "aws-amplify")
	s := startSite(t, srpPool)
	bridge := codeBridge(t, s)
	cmd := exec.Command(node, filepath.Join(root, "cognito", "testdata", "amplify.mjs"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "ENDPOINT="+s.base, "BRIDGE="+bridge, "POOL_ID="+poolID, "SRP_CLIENT="+srpApp)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || !strings.Contains(stdout.String(), "ALL OK") {
		t.Fatalf("amplify.mjs: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	t.Log(stdout.String())
}
