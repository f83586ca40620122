package module_test

import (
	"fmt"
	"os"
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
	s := startMailSite(t, "Browser Sign-up Corp", "")
	s.run(t, "signup.mjs", "katherine@example.com")
}

// mailSite is a pool with open sign-up that mails through a real SMTP
// server (smtp), a guarded site in front of an upstream, and the endpoint
// the browser scripts read mailed codes from; file is its Caddyfile.
type mailSite struct {
	base, codes, displayName string
	node, root, dir, file    string
	smtp                     *testenv.SMTPServer
}

// startMailSite starts a mailSite whose pool block gets extra lines.
func startMailSite(t *testing.T, displayName, extra string) *mailSite {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	node := browserPrereqs(t, root)

	smtp := testenv.StartSMTP(t, testenv.SMTPOptions{})
	dir := t.TempDir()
	sitePort, upstreamPort := testenv.FreePort(t), testenv.FreePort(t)
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
			%s
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
`, filepath.Join(dir, "data", "gatehouse.db"), sitePort, displayName, testenv.FastHash, extra, smtp.URL(),
		sitePort, upstreamPort, upstreamPort)
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	testenv.StartCaddy(t, caddyfile)
	base := fmt.Sprintf("http://127.0.0.1:%d", sitePort)
	testenv.WaitHTTP(t, base+"/_gatehouse/static/gatehouse.css", 10*time.Second)
	// The scripts ask here for the code, as a person would open their mail.
	return &mailSite{base: base, codes: mailCodeServer(t, smtp), displayName: displayName,
		node: node, root: root, dir: dir, file: file, smtp: smtp}
}

// run runs testdata/browser/<script> with the site's address, the codes
// endpoint and email.
func (s *mailSite) run(t *testing.T, script, email string) {
	t.Helper()
	runBrowserScript(t, s.node, s.root, s.dir, script, []string{s.base, s.codes, email}, s.displayName)
}
