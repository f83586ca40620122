package module_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/module"
	"github.com/gatehouse-auth/gatehouse/pool"
)

// chromiumPath is Debian's Chromium; the browser test never lets a tool
// download a browser of its own.
const chromiumPath = "/usr/bin/chromium"

// TestBrowserSignIn runs testdata/browser/signin.mjs: a real Chromium,
// driven by playwright-core, signs in through the hosted pages, reaches an
// upstream that echoes the identity header, and signs out. Set
// GATEHOUSE_SHOTS to keep its screenshots; otherwise they go to a temporary
// directory.
//
// Without node, Chromium or `npm ci` at the repository root the test skips,
// unless CI=true, where a missing piece is a failure: CI installs them
// (.ci/run), so a skip there would hide a broken setup.
func TestBrowserSignIn(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	node := browserPrereqs(t, root)

	dir := t.TempDir()
	sitePort, upstreamPort := testenv.FreePort(t), testenv.FreePort(t)
	const displayName = "Browser Test Corp"
	caddyfile := fmt.Sprintf(`{
	default_bind 127.0.0.1
	gatehouse {
		pool default {
			store sqlite %s
			issuer http://127.0.0.1:%d
			display_name %q
			%s
		}
	}
}

http://127.0.0.1:%d {
	gatehouse {
		pool default
		on_unauthenticated authenticate
	}
	reverse_proxy 127.0.0.1:%d
}

# The upstream shows what Gatehouse told it, as in Caddyfile.example.
http://127.0.0.1:%d {
	header Content-Type "text/plain; charset=utf-8"
	respond <<TEXT
		Hello from the upstream.
		X-Auth-Request-Email: {header.X-Auth-Request-Email}
		Path: {uri}
		TEXT 200
}
`, filepath.Join(dir, "data", "gatehouse.db"), sitePort, displayName, testenv.FastHash,
		sitePort, upstreamPort, upstreamPort)
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	testenv.StartCaddy(t, caddyfile)
	base := fmt.Sprintf("http://127.0.0.1:%d", sitePort)
	testenv.WaitHTTP(t, base+"/_gatehouse/static/gatehouse.css", 10*time.Second)

	const email, password = "grace@example.com", "a long enough test password"
	openTestPool(t, file, email, password, "Grace Hopper")

	runBrowserScript(t, node, root, dir, "signin.mjs", []string{base, email, password}, displayName)
}

// runBrowserScript runs testdata/browser/<script> with node, in the
// process's shared Chromium (sharedBrowser): its arguments are args, the screenshots folder, then tail.
// The folder is GATEHOUSE_SHOTS, else one in dir. It fails the test on a
// non-zero exit or after two minutes, and logs the script's output.
func runBrowserScript(t *testing.T, node, root, dir, script string, args []string, tail ...string) {
	t.Helper()
	shots := os.Getenv("GATEHOUSE_SHOTS")
	if shots == "" {
		shots = filepath.Join(dir, "shots")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	argv := []string{filepath.Join(root, "module", "testdata", "browser", script)}
	argv = append(append(append(argv, args...), shots), tail...)
	cmd := exec.CommandContext(ctx, node, argv...)
	cmd.Dir = root
	ws, err := sharedBrowser(node, root)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromiumPath, "GATEHOUSE_BROWSER_WS="+ws)
	cmd.WaitDelay = 5 * time.Second // Chromium's children may hold the pipes open
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("%s took %s; screenshots in %s", script, time.Since(start).Round(time.Millisecond), shots)
	if ctx.Err() != nil {
		t.Fatalf("%s did not finish within 120s:\n%s", script, out)
	}
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	t.Logf("%s:\n%s", script, out)
}

// openTestPool opens the pool of a Caddyfile as the CLI would and creates a
// confirmed user in it.
func openTestPool(t *testing.T, file, email, password, name string) *module.Pool {
	t.Helper()
	p := openPoolFile(t, file)
	if _, err := p.Pool.CreateUser(context.Background(), pool.NewUser{
		Email: email, Password: password, Name: name, EmailVerified: true,
	}); err != nil {
		t.Fatal(err)
	}
	return p
}

// openPoolFile opens the pool "default" of the Caddyfile file, as the CLI
// does, closed when the test ends.
func openPoolFile(t *testing.T, file string) *module.Pool {
	t.Helper()
	cfg, err := module.LoadPoolConfig(file, "", "default")
	if err != nil {
		t.Fatal(err)
	}
	p, err := module.OpenPool(context.Background(), "default", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// browserPrereqs returns the node binary, or skips the test (fails it under
// CI=true) when node, Chromium or playwright-core is missing.
func browserPrereqs(t *testing.T, root string) string {
	t.Helper()
	var missing []string
	node, err := exec.LookPath("node")
	if err != nil {
		missing = append(missing, "node (apt-get install nodejs)")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		missing = append(missing, chromiumPath+" (apt-get install chromium)")
	}
	if _, err := os.Stat(filepath.Join(root, "node_modules", "playwright-core", "package.json")); errors.Is(err, os.ErrNotExist) {
		missing = append(missing, "node_modules/playwright-core (npm ci at the repository root)")
	} else if err != nil {
		t.Fatal(err)
	}
	if len(missing) == 0 {
		return node
	}
	msg := "browser test needs " + strings.Join(missing, ", ")
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI=true, so this is a failure, not a skip")
	}
	t.Skip(msg + "; skipping (set CI=true to make this a failure)")
	return ""
}

// TestBrowserLanguagePicker runs testdata/browser/language.mjs: Chromium
// uses the language picker by keyboard alone and the page switches from
// German to French; an operator-added Arabic page renders right to left.
func TestBrowserLanguagePicker(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	node := browserPrereqs(t, root)
	dir := t.TempDir()
	locales := filepath.Join(dir, "locales")
	if err := os.MkdirAll(locales, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(locales, "ar.toml"), []byte(`"Sign in" = "تسجيل الدخول"`+"\n"+`"Password" = "كلمة المرور"`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sitePort := testenv.FreePort(t)
	caddyfile := fmt.Sprintf(`{
	default_bind 127.0.0.1
	gatehouse {
		pool default {
			store sqlite %s
			display_name "Browser Test Corp"
			locales_dir %s
			%s
		}
	}
}

http://127.0.0.1:%d {
	gatehouse {
		pool default
	}
	respond "upstream"
}
`, filepath.Join(dir, "data", "gatehouse.db"), locales, testenv.FastHash, sitePort)
	testenv.StartCaddy(t, caddyfile)
	base := fmt.Sprintf("http://127.0.0.1:%d", sitePort)
	testenv.WaitHTTP(t, base+"/_gatehouse/static/gatehouse.css", 10*time.Second)
	runBrowserScript(t, node, root, dir, "language.mjs", []string{base})
}
