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
	runPasskeyBrowser(t, "", "Browser Passkey Corp", "passkey.mjs")
}

// TestBrowserPasskeyEnrolment runs testdata/browser/passkey_enrol.mjs: in
// a pool with `mfa required`, a user without a second factor sets up a
// passkey instead of an app at sign-in, in a real Chromium, sees the
// recovery codes once and goes on to the page they asked for.
func TestBrowserPasskeyEnrolment(t *testing.T) {
	runPasskeyBrowser(t, "mfa required", "Browser Enrolment Corp", "passkey_enrol.mjs")
}

// runPasskeyBrowser starts a pool with poolOptions behind one site on
// http://localhost, makes a user and runs script against it.
func runPasskeyBrowser(t *testing.T, poolOptions, displayName, script string) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	node := browserPrereqs(t, root)

	dir := t.TempDir()
	upstream := testenv.StartUpstream(t)
	sitePort := testenv.FreePort(t)
	caddyfile := fmt.Sprintf(`{
	default_bind 127.0.0.1
	gatehouse {
		pool default {
			store sqlite %s
			issuer http://localhost:%d
			display_name %q
			%s
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
`, filepath.Join(dir, "data", "gatehouse.db"), sitePort, displayName, testenv.FastHash, poolOptions, sitePort, upstream.Addr())
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	testenv.StartCaddy(t, caddyfile)
	base := fmt.Sprintf("http://localhost:%d", sitePort)
	testenv.WaitHTTP(t, base+"/_gatehouse/static/webauthn.js", 10*time.Second)

	const email, password = "grace@example.com", "a long enough test password"
	openTestPool(t, file, email, password, "Grace Hopper")

	runBrowserScript(t, node, root, dir, script, []string{base, email, password}, displayName)
}
