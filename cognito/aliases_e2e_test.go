package cognito_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store/sqlite"
)

// TestCognitoAliases runs amazon-cognito-identity-js and the AWS SDK for
// JavaScript against a pool signing in with email, username and phone
// (testdata/identityjs_aliases.mjs): sign-in by preferred_username with
// SRP and USER_PASSWORD_AUTH in any case, refusals alike, a taken name
// AliasExistsException, forgot and reset by the name, AdminGetUser by the
// name and by a verified number.
func TestCognitoAliases(t *testing.T) {
	node, root := needNode(t, "amazon-cognito-identity-js", "@aws-sdk/client-cognito-identity-provider")
	s := startSite(t, srpPool+"\n\t\t\tattribute phone_number\n\t\t\tsign_in_with email username phone")
	st, err := sqlite.Open(t.Context(), s.db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	// The same sign_in_with as the site's: every instance on a store
	// keeps the same aliases.
	p, err := pool.New(t.Context(), st, pool.Config{Name: "default", Hash: pool.HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1},
		Accounts: pool.AccountConfig{SignInWith: []string{pool.LoginEmail, pool.LoginUsername, pool.LoginPhone}}})
	if err != nil {
		t.Fatal(err)
	}
	key, err := p.CreateAccessKey(t.Context(), "alias tests", false)
	if err != nil {
		t.Fatal(err)
	}
	bridge := codeBridge(t, s)
	cmd := exec.Command(node, filepath.Join(root, "cognito", "testdata", "identityjs_aliases.mjs"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "ENDPOINT="+s.base, "BRIDGE="+bridge, "POOL_ID="+poolID, "SRP_CLIENT="+srpApp, "PUBLIC_CLIENT="+publicApp,
		"KEY_ID="+key.ID, "SECRET="+key.SecretAccessKey)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || !strings.Contains(stdout.String(), "ALL OK") {
		t.Fatalf("identityjs_aliases.mjs: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	t.Log(stdout.String())
}
