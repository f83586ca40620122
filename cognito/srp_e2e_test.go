package cognito_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// srpApp is a client as a Cognito app has it: SRP sign-in, refresh, and
// Cognito's refresh behaviour (no rotation).
const srpApp = "cogapp"

// srpPool is a pool with SRP on and the SRP app client.
const srpPool = `throttle off
			mfa optional
			srp on
			client ` + srpApp + ` {
				public
				redirect_uri https://cog.example.test/cb
				auth_flows ALLOW_USER_SRP_AUTH ALLOW_REFRESH_TOKEN_AUTH
				refresh_token_rotation off
			}`

// TestIdentityJSSRP runs amazon-cognito-identity-js with its defaults
// (USER_SRP_AUTH) against a pool with `srp on` behind a real Caddy
// (testdata/identityjs_srp.mjs): a user signed up through the API signs
// in with SRP; refreshSession twice keeps the first refresh token
// (rotation off) and the sign-in's origin_jti; a wrong password and an
// unknown user are the same NotAuthorizedException; with TOTP set up, an
// SRP sign-in answers SOFTWARE_TOKEN_MFA naming the user by their id.
func TestIdentityJSSRP(t *testing.T) {
	node, root := needNode(t, "amazon-cognito-identity-js")
	s := startSite(t, srpPool)
	bridge := codeBridge(t, s)
	cmd := exec.Command(node, filepath.Join(root, "cognito", "testdata", "identityjs_srp.mjs"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "ENDPOINT="+s.base, "BRIDGE="+bridge, "POOL_ID="+poolID, "SRP_CLIENT="+srpApp)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || !strings.Contains(stdout.String(), "ALL OK") {
		t.Fatalf("identityjs_srp.mjs: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	t.Log(stdout.String())
}
