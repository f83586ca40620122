package module_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/module"
	"github.com/gatehouse-auth/gatehouse/pool"
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
	cfg, err := module.LoadPoolConfig(file, "", "default")
	if err != nil {
		t.Fatal(err)
	}
	p, err := module.OpenPool(context.Background(), "default", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if _, err := p.Pool.CreateUser(context.Background(), pool.NewUser{
		Email: email, Password: password, Name: "Grace Hopper", EmailVerified: true,
	}); err != nil {
		t.Fatal(err)
	}

	shots := os.Getenv("GATEHOUSE_SHOTS")
	if shots == "" {
		shots = filepath.Join(dir, "shots")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(root, "module", "testdata", "browser", "passkey.mjs"),
		base, email, password, shots, displayName)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromiumPath)
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("passkey.mjs took %s; screenshots in %s", time.Since(start).Round(time.Millisecond), shots)
	if ctx.Err() != nil {
		t.Fatalf("passkey.mjs did not finish within 120s:\n%s", out)
	}
	if err != nil {
		t.Fatalf("passkey.mjs: %v\n%s", err, out)
	}
	t.Logf("passkey.mjs:\n%s", out)

	// What the upstream saw last is the passkey sign-in's request.
	last := upstream.Last()
	if last == nil {
		t.Fatal("the upstream saw no request")
	}
	if got := last.Header.Get("X-Test-Email"); got != email {
		t.Errorf("upstream X-Test-Email = %q, want %q", got, email)
	}
	if got := last.Header.Get("X-Test-Amr"); got != "hwk,mfa" {
		t.Errorf("upstream amr = %q, want hwk,mfa (a passwordless passkey sign-in)", got)
	}
}
