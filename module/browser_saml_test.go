package module_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// TestBrowserSAML signs in through a SAML 2.0 IdP (samlify, on 127.0.0.1)
// in Chromium, its HTTP-POST binding a cross-site POST to Gatehouse (on
// localhost), where SameSite=Lax cookies are not sent
// (testdata/browser/saml.mjs): on a guarded site the IdP posts to
// /_gatehouse/saml2/idpresponse and the browser ends on the private page
// first asked for, the upstream told who signed in; on the issuer site it
// posts to /saml2/idpresponse and ends on the account page. Both sites are
// one service provider (one entity ID) with an ACS each, so the script
// registers each site's metadata at the IdP before its sign-in.
func TestBrowserSAML(t *testing.T) {
	node, root := opPrereqs(t)
	browserPrereqs(t, root)
	idpBase := startSAMLIdP(t, node, root)
	dir := t.TempDir()
	issPort, appPort, upstreamPort := testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)
	iss, app := fmt.Sprintf("http://localhost:%d", issPort), fmt.Sprintf("http://localhost:%d", appPort)
	text := fmt.Sprintf(`{
	default_bind 127.0.0.1
	gatehouse {
		pool default {
			store sqlite %s
			issuer %s
			display_name "SAML Browser Corp"
			signup off
			%s
			idp acme saml {
				metadata_url %s/metadata
				display_name "Acme SSO"
				domains acme.example
			}
		}
	}
}

%s {
	gatehouse_idp
}

%s {
	gatehouse {
		pool default
	}
	reverse_proxy 127.0.0.1:%d
}

# Any host: the proxy passes the guarded site's Host (localhost) on.
http://:%d {
	header Content-Type "text/plain; charset=utf-8"
	respond <<TEXT
		Hello from the upstream.
		X-Auth-Request-Email: {header.X-Auth-Request-Email}
		Path: {uri}
		TEXT 200
}
`, filepath.Join(dir, "gatehouse.db"), iss, testenv.FastHash, idpBase, iss, app, upstreamPort, upstreamPort)
	testenv.StartCaddy(t, text)
	testenv.WaitHTTP(t, iss+"/_gatehouse/static/gatehouse.css", 10*time.Second)
	testenv.WaitHTTP(t, app+"/_gatehouse/static/gatehouse.css", 10*time.Second)

	runBrowserScript(t, node, root, dir, "saml.mjs", []string{app, iss, idpBase})
}
