package module_test

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// TestBrowserBranding runs testdata/browser/branding.mjs: in a real
// Chromium the pool's brand colour is the computed colour of the sign-in
// button in light and dark, the logo loads under the pages' unchanged
// Content-Security-Policy with no violation logged, a client's flow shows
// the client's colour, and the logo's own script does not run when the SVG
// is opened directly. It skips, or fails under CI=true, as
// TestBrowserSignIn does.
func TestBrowserBranding(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	node := browserPrereqs(t, root)

	dir := t.TempDir()
	brandFiles(t, dir)
	if err := os.MkdirAll(filepath.Join(dir, "outbox"), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GATEHOUSE_TEST_WEBAPP_SECRET", webappSecret)
	port := testenv.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	caddyfile := fmt.Sprintf(`{
	default_bind 127.0.0.1
	gatehouse {
		pool default {
			store sqlite %s
			issuer %s
			display_name "Branded Corp"
			%s
			%s
		}
	}
}

%s {
	gatehouse_idp {
		pool default
	}
	respond "issuer home"
}
`, filepath.Join(dir, "gatehouse.db"), base, testenv.FastHash, brandingOptions(dir), base)
	testenv.StartCaddy(t, caddyfile)
	testenv.WaitHTTP(t, base+"/_gatehouse/static/gatehouse.css", 10*time.Second)

	rd := "/oauth2/authorize?" + url.Values{"client_id": {"webapp"}, "response_type": {"code"}, "redirect_uri": {webappCB}, "scope": {"openid"}}.Encode()
	clientPath := "/_gatehouse/signin?rd=" + url.QueryEscape(rd)
	runBrowserScript(t, node, root, dir, "branding.mjs", []string{base, clientPath},
		"rgb(0, 170, 85)", "rgb(102, 204, 153)", "rgb(170, 0, 85)")
}
