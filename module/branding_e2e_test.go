package module_test

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/internal/testenv/web"
)

// An operator's SVG that would run script if it were a document of the
// pages' origin.
const brandSVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 40"><script>document.title="pwned"</script><circle cx="20" cy="20" r="18" fill="#00aa55"/></svg>`

// 1x1 PNG.
var brandPNG = "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"

// brandFiles writes the pool's and a client's branding files into dir.
func brandFiles(t *testing.T, dir string) {
	t.Helper()
	for name, body := range map[string]string{
		"logo.svg":   brandSVG,
		"icon.png":   brandPNG,
		"extra.css":  ".brand-name { letter-spacing: 0.02em; }\n",
		"client.svg": strings.Replace(brandSVG, "#00aa55", "#aa0055", 1),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func brandingOptions(dir string) string {
	return fmt.Sprintf(`
			signup open
			mfa required
			mail outbox %[1]s/outbox {
				from auth@example.test
			}
			branding {
				logo %[1]s/logo.svg
				favicon %[1]s/icon.png
				stylesheet %[1]s/extra.css
				color light accent "#00aa55"
				color dark accent 66cc99
				link terms "Terms of use" https://example.test/terms
				link privacy Privacy /privacy
			}
			client webapp {
				redirect_uri `+webappCB+`
				secret {env.GATEHOUSE_TEST_WEBAPP_SECRET}
				branding {
					logo %[1]s/client.svg
					color light accent "#AA0055"
					link support "Web app help" https://app.example.test/help
				}
			}
			client spa {
				public
				redirect_uri `+spaCB+`
			}`, dir)
}

var (
	logoRE    = regexp.MustCompile(`<img class="brand-logo" src="(/_gatehouse/brand/[0-9a-f]{24}/logo\.svg)"`)
	iconRE    = regexp.MustCompile(`<link rel="icon" href="(/_gatehouse/brand/[0-9a-f]{24}/favicon\.png)">`)
	cssRE     = regexp.MustCompile(`<link rel="stylesheet" href="(/_gatehouse/brand/[0-9a-f]{24}/(?:colors|extra)\.css)">`)
	linkRE    = regexp.MustCompile(`<a class="link" id="brand-link-(\w+)" href="([^"]+)">([^<]+)</a>`)
	authorize = func(issuer, client, redirect string) string {
		return issuer + "/oauth2/authorize?" + url.Values{
			"client_id": {client}, "response_type": {"code"}, "redirect_uri": {redirect}, "scope": {"openid"},
			"state": {"s1"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGafgtopsA"}, "code_challenge_method": {"S256"},
		}.Encode()
	}
)

// pageBrand is what a hosted page shows of its brand.
type pageBrand struct {
	logo, icon string
	sheets     []string
	links      map[string]string // kind -> "label url"
}

func readBrand(body string) pageBrand {
	var b pageBrand
	if m := logoRE.FindStringSubmatch(body); m != nil {
		b.logo = m[1]
	}
	if m := iconRE.FindStringSubmatch(body); m != nil {
		b.icon = m[1]
	}
	for _, m := range cssRE.FindAllStringSubmatch(body, -1) {
		b.sheets = append(b.sheets, m[1])
	}
	b.links = map[string]string{}
	for _, m := range linkRE.FindAllStringSubmatch(body, -1) {
		b.links[m[1]] = m[3] + " " + m[2]
	}
	return b
}

// TestBrandingThroughCaddy: the pool's branding on its pages, assets served
// from the pool's files with the right types and caching, a client's
// branding on the pages of its own sign-in (sign-in, sign-up, MFA, reset)
// and not on another client's, and the account page the pool's.
func TestBrandingThroughCaddy(t *testing.T) {
	dir := t.TempDir()
	brandFiles(t, dir)
	s := startIDP(t, brandingOptions(dir))
	c := web.Browser(t)
	page := func(target string) (pageBrand, string) {
		t.Helper()
		resp, body := get(t, c, target, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", target, resp.StatusCode, body)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "style-src 'self'") || !strings.Contains(csp, "img-src 'self' data:") {
			t.Errorf("GET %s: the pages' policy changed: %q", target, csp)
		}
		return readBrand(body), body
	}
	follow := func(target string) string {
		t.Helper()
		resp, body := get(t, c, target, nil)
		loc, err := resp.Location()
		if resp.StatusCode != http.StatusFound || err != nil {
			t.Fatalf("GET %s: %d, want a redirect to a hosted page: %s", target, resp.StatusCode, body)
		}
		return loc.RequestURI()
	}

	pool, _ := page(s.issuer + "/_gatehouse/signin")
	if pool.logo == "" || pool.icon == "" || len(pool.sheets) != 2 {
		t.Fatalf("pool sign-in page: %+v", pool)
	}
	if pool.links["terms"] != "Terms of use https://example.test/terms" || pool.links["privacy"] != "Privacy /privacy" || len(pool.links) != 2 {
		t.Errorf("pool footer links: %v", pool.links)
	}

	// The assets, from the pool's files.
	for asset, want := range map[string]struct{ typ, body string }{
		pool.logo: {"image/svg+xml", brandSVG},
		pool.icon: {"image/png", brandPNG},
	} {
		resp, body := get(t, c, s.issuer+asset, nil)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != want.typ || body != want.body {
			t.Errorf("%s: %d %q", asset, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("%s: Cache-Control %q", asset, cc)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: sniffable", asset)
		}
		// An SVG opened on its own is a document: sandboxed, no script.
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "sandbox") || !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
			t.Errorf("%s: policy %q lets the SVG's script run", asset, csp)
		}
		req, _ := http.NewRequest(http.MethodGet, s.issuer+asset, nil)
		req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
		if resp, _ := do(t, c, req); resp.StatusCode != http.StatusNotModified {
			t.Errorf("%s: revalidation gave %d", asset, resp.StatusCode)
		}
	}
	var colors, extra string
	for _, sheet := range pool.sheets {
		resp, body := get(t, c, s.issuer+sheet, nil)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
			t.Errorf("%s: %d %q", sheet, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if strings.HasSuffix(sheet, "/colors.css") {
			colors = body
		} else {
			extra = body
		}
	}
	if !strings.Contains(colors, "--accent: #00aa55;") || !strings.Contains(colors, "prefers-color-scheme: dark") || !strings.Contains(colors, "--accent: #66cc99;") {
		t.Errorf("colour stylesheet:\n%s", colors)
	}
	if !strings.Contains(extra, "letter-spacing") {
		t.Errorf("extra stylesheet: %q", extra)
	}

	// The web app's flow: its logo and colours, the pool's favicon and
	// stylesheet, the pool's links with its own added.
	signin := follow(authorize(s.issuer, "webapp", webappCB))
	app, _ := page(s.issuer + signin)
	if app.logo == "" || app.logo == pool.logo || app.icon != pool.icon || len(app.sheets) != 2 || app.sheets[0] == pool.sheets[0] || app.sheets[1] != pool.sheets[1] {
		t.Fatalf("web app sign-in page: %+v (pool's %+v)", app, pool)
	}
	if app.links["support"] != "Web app help https://app.example.test/help" || app.links["terms"] == "" {
		t.Errorf("web app footer: %v", app.links)
	}
	if _, body := get(t, c, s.issuer+app.logo, nil); !strings.Contains(body, "#aa0055") {
		t.Error("the web app's logo is not its file")
	}
	if _, body := get(t, c, s.issuer+app.sheets[0], nil); !strings.Contains(body, "--accent: #aa0055;") || !strings.Contains(body, "--accent: #66cc99;") {
		t.Errorf("web app colours (its light accent, the pool's dark one):\n%s", body)
	}
	same := func(what string, got pageBrand) {
		t.Helper()
		if got.logo != app.logo || len(got.sheets) == 0 || got.sheets[0] != app.sheets[0] || got.links["support"] == "" {
			t.Errorf("%s: not the web app's brand: %+v", what, got)
		}
	}
	// Cognito's /login, /signup and /forgotPassword entries.
	cognito := func(path string) string {
		return s.issuer + path + "?" + url.Values{"client_id": {"webapp"}, "response_type": {"code"}, "redirect_uri": {webappCB}, "scope": {"openid"}}.Encode()
	}
	b, _ := page(s.issuer + follow(cognito("/login")))
	same("/login", b)
	b, _ = page(s.issuer + follow(cognito("/signup")))
	same("sign-up", b)
	forgot := follow(cognito("/forgotPassword"))
	b, body := page(s.issuer + forgot)
	same("forgot", b)
	rd, _ := url.Parse(forgot)
	csrf := csrfField.FindStringSubmatch(body)[1]
	resp, _ := postForm(t, c, s.issuer, "/_gatehouse/forgot", url.Values{"csrf": {csrf}, "email": {"ada@example.com"}, "rd": {rd.Query().Get("rd")}})
	loc, _ := resp.Location()
	if resp.StatusCode != http.StatusSeeOther || loc == nil || loc.Query().Get("rd") != rd.Query().Get("rd") {
		t.Fatalf("forgot POST: %d %v", resp.StatusCode, loc)
	}
	b, _ = page(s.issuer + loc.RequestURI())
	same("reset", b)
	// The MFA set-up step of the web app's sign-in (the pool requires a
	// factor): the POST carries rd in its form.
	s.createUser(t, "ada@example.com", "Ada")
	appRD, _ := url.Parse(signin)
	resp, body = postSignIn(t, c, s.issuer, signInForm(t, c, s.issuer, appRD.Query().Get("rd")), appRD.Query().Get("rd"), "ada@example.com", adaPassword)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="rd"`) {
		t.Fatalf("sign-in did not lead to the MFA set-up: %d", resp.StatusCode)
	}
	same("MFA set-up", readBrand(body))

	// Another client's flow, and a plain sign-in, are the pool's.
	b, _ = page(s.issuer + follow(authorize(s.issuer, "spa", spaCB)))
	if b.logo != pool.logo || b.sheets[0] != pool.sheets[0] || b.links["support"] != "" {
		t.Errorf("spa sign-in shows the web app's brand: %+v", b)
	}
	// The account page is the pool's, whatever rd it is given.
	resp, body = get(t, c, s.issuer+"/_gatehouse/account?rd="+url.QueryEscape(appRD.Query().Get("rd")), nil)
	if b := readBrand(body); resp.StatusCode == http.StatusOK && b.logo != pool.logo {
		t.Errorf("account page: %+v", b)
	}
}

// postForm POSTs a hosted page's form as a browser would.
func postForm(t *testing.T, c *http.Client, base, path string, form url.Values) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	return do(t, c, req)
}

// TestBrandAssetPaths: only the loaded assets' exact URLs answer under
// /_gatehouse/brand/; traversal and look-alikes are 404, sent raw so that
// no client cleans them first.
func TestBrandAssetPaths(t *testing.T) {
	dir := t.TempDir()
	brandFiles(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("top secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startIDP(t, brandingOptions(dir))
	_, body := get(t, web.Browser(t), s.issuer+"/_gatehouse/signin", nil)
	logo := readBrand(body).logo
	hash := strings.Split(strings.TrimPrefix(logo, "/_gatehouse/brand/"), "/")[0]
	port, _ := strconv.Atoi(s.issuer[strings.LastIndex(s.issuer, ":")+1:])
	for _, p := range []string{
		"/_gatehouse/brand/" + hash + "/../../../" + dir + "/secret.txt",
		"/_gatehouse/brand/" + hash + "/%2e%2e/%2e%2e/static/gatehouse.css",
		"/_gatehouse/brand/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
		"/_gatehouse/brand/" + hash + "/secret.txt",
		"/_gatehouse/brand/" + hash + "/logo.svg/..",
		"/_gatehouse/brand/" + hash + "/logo.svg%00.html",
		"/_gatehouse/brand/" + hash + "/LOGO.SVG",
		"/_gatehouse/brand/" + strings.Repeat("0", 24) + "/logo.svg",
		"/_gatehouse/brand/" + dir + "/logo.svg",
		"/_gatehouse/brand/",
	} {
		resp, body := rawGet(t, port, p)
		if status := resp.StatusCode; status == http.StatusOK || strings.Contains(body, "top secret") || strings.Contains(body, "root:") || strings.Contains(body, "<circle") {
			t.Errorf("GET %s: %d", p, resp.StatusCode)
		}
	}
	if resp, body := rawGet(t, port, logo); resp.StatusCode != http.StatusOK || !strings.Contains(body, "<circle") {
		t.Errorf("the logo itself: %d", resp.StatusCode)
	}
}

// TestBrandingRefused: what Caddy refuses, at adapt time (colours, links,
// syntax) or when it provisions (files), each error naming what is wrong.
func TestBrandingRefused(t *testing.T) {
	dir := t.TempDir()
	brandFiles(t, dir)
	notImage := filepath.Join(dir, "page.svg")
	if err := os.WriteFile(notImage, []byte("<html><script>alert(1)</script></html>"), 0o600); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(dir, "outside.css")
	if err := os.WriteFile(outside, []byte(`body { background: url(https://tracker.example/p.gif) }`), 0o600); err != nil {
		t.Fatal(err)
	}
	config := func(opts string) string {
		return "{\n\tgatehouse {\n\t\tpool default {\n\t\t\tstore sqlite " + filepath.Join(t.TempDir(), "gh.db") + "\n\t\t\t" + opts + "\n\t\t}\n\t}\n}\n"
	}
	for _, tc := range []struct{ name, opts, want string }{
		{"http link", "branding {\nlink terms Terms http://example.test/terms\n}", `want an https URL`},
		{"script link", "branding {\nlink support Help javascript:alert(1)\n}", `want an https URL`},
		{"protocol-relative link", "branding {\nlink privacy Privacy //evil.example/p\n}", `want an https URL`},
		{"unknown link", "branding {\nlink cookies Cookies /c\n}", `want one of terms, privacy, support`},
		{"css in a colour", "branding {\ncolor light accent \"#fff;background:url(//x)\"\n}", "want a hex colour"},
		{"named colour", "branding {\ncolor dark text white\n}", "want a hex colour"},
		{"unknown role", "branding {\ncolor light shadow 000\n}", "color role"},
		{"unknown option", "branding {\nfont Comic\n}", `unrecognized option "font"`},
		{"client's logo without a file", "issuer https://a.test\nclient c1 {\nredirect_uri https://a.test/cb\nsecret s-0123456789abcdef0123\nbranding {\nlogo\n}\n}", "logo: want exactly one value"},
	} {
		if _, _, err := caddyconfigAdapt(config(tc.opts)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: adapt error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	for _, tc := range []struct{ name, opts, want string }{
		{"missing logo", "branding {\nlogo " + dir + "/nope.svg\n}", "branding: logo: open " + dir + "/nope.svg"},
		{"not an image", "branding {\nfavicon " + notImage + "\n}", "is not an SVG, PNG, WebP or ICO image"},
		{"outside stylesheet", "branding {\nstylesheet " + outside + "\n}", "loads from another address"},
		{"client's missing logo", "issuer https://a.test\nclient c1 {\nredirect_uri https://a.test/cb\nsecret s-0123456789abcdef0123\nbranding {\nlogo " + dir + "/gone.png\n}\n}", "client c1: branding: logo"},
		{"templates_dir missing", "templates_dir " + dir + "/none", "templates_dir:"},
	} {
		err := caddyValidate(testenv.Adapt(t, config(tc.opts)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: provision error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

// TestTemplateOverride: a pool's templates_dir replaces a page on a real
// site, with the same data; a broken one stops Caddy from starting.
func TestTemplateOverride(t *testing.T) {
	dir := t.TempDir()
	signin := `{{define "title"}}Welcome · {{.DisplayName}}{{end}}
{{define "content"}}<h1 class="title" id="custom-signin">Welcome to {{.DisplayName}}</h1>
<form method="post" action="/_gatehouse/signin"><input type="hidden" name="csrf" value="{{.CSRF}}">
<input type="hidden" name="rd" value="{{.ReturnTo}}"><input name="email"><input name="password" type="password"><button>Go</button></form>{{end}}`
	if err := os.WriteFile(filepath.Join(dir, "signin.html"), []byte(signin), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startSite(t, "templates_dir "+dir, map[string]string{"app": "pool default"})
	c := web.Browser(t)
	_, body := get(t, c, s.url("app", "/_gatehouse/signin?rd=%2Fdocs"), nil)
	if !strings.Contains(body, `<h1 class="title" id="custom-signin">Welcome to Example Corp</h1>`) || !strings.Contains(body, `name="rd" value="/docs"`) {
		t.Fatalf("override not served:\n%s", body)
	}
	// The override's form still signs in: same data, same handler.
	createAda(t, s)
	if _, to := signIn(t, c, s.url("app", ""), "/docs", adaEmail, adaPassword); to != "/docs" {
		t.Errorf("sign-in through the override continues to %q", to)
	}
	// Other pages stay built in.
	if _, body := get(t, c, s.url("app", "/_gatehouse/nope"), nil); !strings.Contains(body, "There is no page at this address.") {
		t.Error("the error page changed")
	}

	for _, tc := range []struct{ name, file, src, want string }{
		{"parse error", "signin.html", `{{define "content"}}{{if}}{{end}}`, "signin.html"},
		{"no content", "mfa.html", `{{define "title"}}x{{end}}`, `mfa.html defines no "content"`},
		{"unknown page", "login.html", `x`, "login.html names no page"},
		{"misspelt field", "confirm.html", `{{define "title"}}x{{end}}{{define "content"}}{{.Emial}}{{end}}`, "Emial"},
	} {
		bad := t.TempDir()
		if err := os.WriteFile(filepath.Join(bad, tc.file), []byte(tc.src), 0o600); err != nil {
			t.Fatal(err)
		}
		text := fmt.Sprintf("{\n\tgatehouse {\n\t\tpool default {\n\t\t\tstore sqlite %s\n\t\t\ttemplates_dir %s\n\t\t}\n\t}\n}\nhttp://127.0.0.1:%d {\n\tgatehouse {\n\t\tpool default\n\t}\n\trespond ok\n}\n",
			filepath.Join(bad, "gh.db"), bad, testenv.FreePort(t))
		if err := caddyValidate(testenv.Adapt(t, text)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: provision error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

// TestBrandingExample: Caddy accepts examples/branding/Caddyfile as the
// README runs it, from the repository root, and serves its replaced page
// and the ledger app's look.
func TestBrandingExample(t *testing.T) {
	t.Chdir("..")
	t.Setenv("GATEHOUSE_DATA", t.TempDir())
	text, err := os.ReadFile("examples/branding/Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	port := testenv.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	cfg := strings.ReplaceAll(string(text), "http://localhost:8080", base)
	cfg = strings.Replace(cfg, "{\n\tgatehouse {", "{\n\tdefault_bind 127.0.0.1\n\tgatehouse {", 1)
	testenv.StartCaddy(t, cfg)
	testenv.WaitHTTP(t, base+"/_gatehouse/static/gatehouse.css", 10*time.Second)
	c := web.Browser(t)
	_, body := get(t, c, base+"/_gatehouse/signin", nil)
	pool := readBrand(body)
	if !strings.Contains(body, "Welcome back") || pool.logo == "" || pool.icon == "" || len(pool.links) != 3 {
		t.Fatalf("the example's sign-in page: %+v\n%s", pool, body)
	}
	resp, _ := get(t, c, base+"/login?"+url.Values{"client_id": {"ledger"}, "response_type": {"code"}, "redirect_uri": {base + "/"},
		"scope": {"openid"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGafgtopsA"}, "code_challenge_method": {"S256"}}.Encode(), nil)
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("ledger's /login: %d", resp.StatusCode)
	}
	_, body = get(t, c, loc.String(), nil)
	if ledger := readBrand(body); ledger.logo == "" || ledger.logo == pool.logo || !strings.Contains(ledger.links["support"], "Ledger help") {
		t.Errorf("the ledger app's sign-in page: %+v", ledger)
	}
}
