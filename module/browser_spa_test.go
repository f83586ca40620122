package module_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/pool"
)

// TestBrowserSPA runs testdata/browser/spa.mjs: a single-page app served
// from another 127.0.0.1 port signs in through the pool's OpenID provider
// with oidc-client-ts, a public client with PKCE, in a real Chromium. The
// hosted pages keep form-action 'self', which Chromium applies to every
// redirect after a form's POST; the sign-in reaches the app's origin only
// because the POST ends in a page that continues with a GET. A password,
// a password and a TOTP code, and a passkey (the issuer is on localhost,
// as browsers offer passkeys on domain names only) each sign in.
//
// Prerequisites as TestBrowserSignIn, plus node_modules/oidc-client-ts.
func TestBrowserSPA(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	node := browserPrereqs(t, root)
	bundle := filepath.Join(root, "node_modules", "oidc-client-ts", "dist", "browser", "oidc-client-ts.min.js")
	lib, err := os.ReadFile(bundle)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v; CI=true, so this is a failure (npm ci installs oidc-client-ts)", err)
		}
		t.Skipf("%v; skipping (npm ci at the repository root)", err)
	}

	dir := t.TempDir()
	issuerPort, spaPort := testenv.FreePort(t), testenv.FreePort(t)
	// The issuer on localhost (browsers offer passkeys on domain names
	// only), the app on 127.0.0.1: another origin, and another site.
	issuer := fmt.Sprintf("http://localhost:%d", issuerPort)
	spa := fmt.Sprintf("http://127.0.0.1:%d", spaPort)

	// The app's files: its pages and script, the library's browser bundle
	// (no bundler: it defines the global `oidc`), and its configuration.
	web := filepath.Join(dir, "spa")
	if err := os.MkdirAll(web, 0o700); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(root, "module", "testdata", "browser", "spa")
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(web, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	config := fmt.Sprintf("window.SPA_CONFIG = { issuer: %q, origin: %q, clientId: \"spa\" };\n", issuer, spa)
	for name, body := range map[string][]byte{"oidc-client-ts.min.js": lib, "config.js": []byte(config)} {
		if err := os.WriteFile(filepath.Join(web, name), body, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	caddyfile := fmt.Sprintf(`{
	default_bind 127.0.0.1
	gatehouse {
		pool default {
			store sqlite %s
			issuer %s
			display_name "SPA Test Corp"
			revocation_refresh 100ms
			%s
			client spa {
				public
				redirect_uri %s/callback.html
				post_logout_redirect_uri %s/signed-out.html
				scopes openid email profile
			}
		}
	}
}

%s {
	gatehouse_idp {
		pool default
	}
	respond "issuer home"
}

# The app: static files on another origin.
%s {
	root * %s
	file_server
}
`, filepath.Join(dir, "gatehouse.db"), issuer, testenv.FastHash, spa, spa, issuer, spa, web)
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	testenv.StartCaddy(t, caddyfile)
	testenv.WaitHTTP(t, issuer+"/.well-known/openid-configuration", 10*time.Second)
	testenv.WaitHTTP(t, spa+"/index.html", 10*time.Second)

	const email, totpEmail = "grace@example.com", "tess@example.com"
	const password = "a long enough test password"
	p := openTestPool(t, file, email, password, "Grace Hopper")
	// A second user with an authenticator app, enrolled as the account
	// page would: the current step's code confirms it.
	ctx := context.Background()
	u, err := p.Pool.CreateUser(ctx, pool.NewUser{Email: totpEmail, Password: password, Name: "Tess", EmailVerified: true})
	if err != nil {
		t.Fatal(err)
	}
	enr, err := p.Pool.StartTOTP(ctx, u, "")
	if err != nil {
		t.Fatal(err)
	}
	code, err := testenv.TOTPCode(enr.Secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Pool.ConfirmTOTP(ctx, u.ID, enr.FactorID, code); err != nil {
		t.Fatal(err)
	}

	runBrowserScript(t, node, root, dir, "spa.mjs", []string{spa, issuer, email, password, totpEmail, enr.Secret})
}
