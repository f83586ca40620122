package module_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// TestBrowserPasskey runs testdata/browser/passkey.mjs: a real Chromium
// with its virtual authenticator (DevTools WebAuthn domain) signs in with a
// password, adds a passkey on the account page, signs out and signs in
// with the passkey alone; the upstream must then see the user with amr
// hwk,mfa. The site is http://localhost: browsers offer WebAuthn on domain
// names only. GATEHOUSE_SHOTS keeps the screenshots. It skips, or fails
// under CI=true, as TestBrowserSignIn does.
func TestBrowserPasskey(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	node := browserPrereqs(t, root)

	dir := t.TempDir()
	upstream := testenv.StartUpstream(t)
	sitePort := testenv.FreePort(t)
	const displayName = "Browser Passkey Corp"
	caddyfile := fmt.Sprintf(`{
	default_bind 127.0.0.1
	gatehouse {
		pool default {
			store sqlite %s
			issuer http://localhost:%d
			display_name %q
			%s
		}
	}
}

http://localhost:%d {
	gatehouse {
		pool default
		header X-Test-Email {email}
		header X-Test-Amr {amr}
	}
	reverse_proxy %s
}
`, filepath.Join(dir, "data", "gatehouse.db"), sitePort, displayName, testenv.FastHash, sitePort, upstream.Addr())
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	testenv.StartCaddy(t, caddyfile)
	base := fmt.Sprintf("http://localhost:%d", sitePort)
	testenv.WaitHTTP(t, base+"/_gatehouse/static/webauthn.js", 10*time.Second)

	const email, password = "grace@example.com", "a long enough test password"
	openTestPool(t, file, email, password, "Grace Hopper")

	runBrowserScript(t, node, root, dir, "passkey.mjs", []string{base, email, password}, displayName)
}
