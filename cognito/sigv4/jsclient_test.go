package sigv4_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestJavaScriptSDK: the AWS SDK for JavaScript v3's Cognito client, with
// static credentials and a custom endpoint, signs an AdminGetUser that the
// verifier accepts; with a wrong secret, it gets InvalidSignatureException
// as from Cognito.
func TestJavaScriptSDK(t *testing.T) {
	t.Parallel()
	node := nodeOrSkip(t)
	rg := newRig(t, nil)
	call := func(secret string) (out struct {
		OK       bool   `json:"ok"`
		Username string `json:"username"`
		Name     string `json:"name"`
		Message  string `json:"message"`
	}) {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), node, "testdata/jsclient.mjs")
		cmd.Env = append(withoutAWS(os.Environ()), "ENDPOINT="+rg.srv.URL, "REGION="+region, "POOL_ID="+region+"_abc",
			"KEY_ID="+rg.key.ID, "SECRET="+secret)
		raw, err := cmd.Output()
		if err != nil {
			t.Fatalf("node: %v\n%s", err, raw)
		}
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("node printed %q: %v", raw, err)
		}
		return out
	}
	if got := call(rg.key.SecretAccessKey); !got.OK || got.Username != "ada@example.com" {
		t.Fatalf("the SDK's signed call: %+v", got)
	}
	wrong := []byte(rg.key.SecretAccessKey)
	wrong[0] ^= 1
	if got := call(string(wrong)); got.OK || got.Name != "InvalidSignatureException" || !strings.Contains(got.Message, "does not match") {
		t.Fatalf("with a wrong secret: %+v", got)
	}
}

// nodeOrSkip finds node and the SDK, or skips (fails under CI=true, where
// .ci/run installs both).
func nodeOrSkip(t *testing.T) string {
	t.Helper()
	var missing []string
	node, err := exec.LookPath("node")
	if err != nil {
		missing = append(missing, "node")
	}
	if _, err := os.Stat(filepath.Join("..", "..", "node_modules", "@aws-sdk", "client-cognito-identity-provider", "package.json")); err != nil {
		missing = append(missing, "node_modules/@aws-sdk/client-cognito-identity-provider (npm ci at the repository root)")
	}
	if len(missing) > 0 {
		msg := "the JavaScript SDK test needs " + strings.Join(missing, ", ")
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; CI=true, so this is a failure, not a skip")
		}
		t.Skip(msg + "; skipping (set CI=true to make this a failure)")
	}
	return node
}
