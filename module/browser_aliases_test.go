package module_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// TestBrowserAliases runs testdata/browser/aliases.mjs: in a real Chromium,
// a pool with sign_in_with email username shows an "Email or username"
// text input, a user signs up with a username, confirms, and signs in by
// the username in capitals (a type=email input would have been refused by
// the browser). It skips, or fails under CI=true, as TestBrowserSignIn does.
func TestBrowserAliases(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	node := browserPrereqs(t, root)

	smtp := testenv.StartSMTP(t, testenv.SMTPOptions{})
	dir := t.TempDir()
	sitePort, upstreamPort := testenv.FreePort(t), testenv.FreePort(t)
	const displayName = "Browser Aliases Corp"
	caddyfile := fmt.Sprintf(`{
	default_bind 127.0.0.1
	gatehouse {
		pool default {
			store sqlite %s
			issuer http://127.0.0.1:%d
			display_name %q
			%s
			signup open
			attribute name required
			sign_in_with email username
			mail %s {
				from "Browser Test <no-reply@example.com>"
			}
		}
	}
}

http://127.0.0.1:%d {
	gatehouse {
		pool default
	}
	reverse_proxy 127.0.0.1:%d
}

http://127.0.0.1:%d {
	header Content-Type "text/plain; charset=utf-8"
	respond <<TEXT
		Hello from the upstream.
		X-Auth-Request-Email: {header.X-Auth-Request-Email}
		TEXT 200
}
`, filepath.Join(dir, "data", "gatehouse.db"), sitePort, displayName, testenv.FastHash, smtp.URL(),
		sitePort, upstreamPort, upstreamPort)
	testenv.StartCaddy(t, caddyfile)
	base := fmt.Sprintf("http://127.0.0.1:%d", sitePort)
	testenv.WaitHTTP(t, base+"/_gatehouse/static/gatehouse.css", 10*time.Second)

	// The script asks here for the code, as a person would open their mail.
	codes := mailCodeServer(t, smtp)

	runBrowserScript(t, node, root, dir, "aliases.mjs", []string{base, codes, "dorothy@example.com"}, displayName)
}
