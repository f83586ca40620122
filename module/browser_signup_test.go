package module_test

import (
	"fmt"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

var mailCode = regexp.MustCompile(`(?m)^\s+(\d{6})\s*$`)

// TestBrowserSignUp runs testdata/browser/signup.mjs: a real Chromium signs
// up on the hosted pages, reads its code from a mail that went through a
// real SMTP server (served to the script by a small endpoint here),
// confirms, signs in and opens the account page. GATEHOUSE_SHOTS keeps the
// screenshots. It skips, or fails under CI=true, as TestBrowserSignIn does.
func TestBrowserSignUp(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	node := browserPrereqs(t, root)

	smtp := testenv.StartSMTP(t, testenv.SMTPOptions{})
	dir := t.TempDir()
	sitePort, upstreamPort := testenv.FreePort(t), testenv.FreePort(t)
	const displayName = "Browser Sign-up Corp"
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

	runBrowserScript(t, node, root, dir, "signup.mjs", []string{base, codes, "katherine@example.com"}, displayName)
}
