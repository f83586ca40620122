package module_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// TestBrowserFederation clicks a provider's button on the hosted sign-in
// page in Chromium, signs in on the provider's own page (oidc-provider) and
// checks where the browser ends up, once with a provider answering in the
// query and once with one answering by form_post, through the relay page,
// with and without JavaScript (testdata/browser/federation.mjs).
func TestBrowserFederation(t *testing.T) {
	node, root := opPrereqs(t)
	browserPrereqs(t, root)
	dir := t.TempDir()
	opPort, sitePort, upstreamPort := testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", sitePort)
	op := &oidcProvider{
		// localhost: another site than the gateway's 127.0.0.1, so that the
		// provider's form_post is a cross-site POST, as in production.
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
			display_name "Browser Federation Corp"
			signup off
			%s
			idp corp oidc {
				issuer %s
				client_id %s
				client_secret %q
				display_name "Corp SSO"
			}
			idp corppost oidc {
				issuer %s
				client_id %s
				client_secret %q
				display_name "Corp (form post)"
				response_mode form_post
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
		Path: {uri}
		TEXT 200
}
`, filepath.Join(dir, "gatehouse.db"), base, testenv.FastHash, op.issuer, fedClientID, fedSecret,
		op.issuer, fedClientID, fedSecret, base, upstreamPort, upstreamPort)
	testenv.StartCaddy(t, caddyfile)
	testenv.WaitHTTP(t, base+"/_gatehouse/static/gatehouse.css", 10*time.Second)
	runBrowserScript(t, node, root, dir, "federation.mjs", []string{base, op.issuer})
}
