package module_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// TestBrowserAccountLink: a signed-in pool user links an outside OpenID
// provider (oidc-provider, on another site) from the account page's
// "Linked accounts" in Chromium, comes back to the account page with the
// link shown, signs out, signs in through that provider as the same user,
// and unlinks it (testdata/browser/link.mjs). The link's POST leaves the
// origin, which form-action 'self' allows only through a continue page; the
// provider's answer comes back in the session that started the link.
func TestBrowserAccountLink(t *testing.T) {
	node, root := opPrereqs(t)
	browserPrereqs(t, root)
	dir := t.TempDir()
	opPort, sitePort, upstreamPort := testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", sitePort)
	op := &oidcProvider{
		// localhost: another site than the gateway's 127.0.0.1.
		t: t, node: node, port: opPort, issuer: fmt.Sprintf("http://localhost:%d", opPort),
		script: filepath.Join(root, "module", "testdata", "oidc-provider", "federation.mjs"),
		env: append(os.Environ(), fmt.Sprintf("OP_PORT=%d", opPort), "OP_HOST=localhost", "OP_CLIENT_ID="+fedClientID,
			"OP_CLIENT_SECRET="+fedSecret, "OP_REDIRECT_URIS="+base+"/_gatehouse/oauth2/idpresponse"),
	}
	t.Cleanup(op.stop)
	op.start()
	caddyfile := fmt.Sprintf(`{
	default_bind 127.0.0.1
	gatehouse {
		pool default {
			store sqlite %s
			issuer %s
			display_name "Browser Link Corp"
			signup off
			%s
			idp corp oidc {
				issuer %s
				client_id %s
				client_secret %q
				display_name "Corp SSO"
			}
		}
	}
}

%s {
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
`, filepath.Join(dir, "gatehouse.db"), base, testenv.FastHash, op.issuer, fedClientID, fedSecret, base, upstreamPort, upstreamPort)
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	testenv.StartCaddy(t, caddyfile)
	testenv.WaitHTTP(t, base+"/_gatehouse/static/gatehouse.css", 10*time.Second)
	const email, password = "grace@example.com", "a long enough test password"
	openTestPool(t, file, email, password, "Grace Hopper")
	runBrowserScript(t, node, root, dir, "link.mjs", []string{base, op.issuer, email, password})
}
