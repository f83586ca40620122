package hostedui

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gatehouse-auth/gatehouse/brand"
)

const testSVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 4 4"><script>alert(1)</script><rect width="4" height="4"/></svg>`

func loadBrand(t *testing.T, c brand.Config, files map[string]string) *brand.Brand {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		switch name {
		case "logo.svg", "client.svg":
			c.Logo = p
		case "icon.png":
			c.Favicon = p
		case "extra.css":
			c.Stylesheet = p
		}
	}
	b, err := brand.Load(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func brandFixture(t *testing.T) (*fixture, *brand.Brand, *brand.Brand) {
	poolBrand := loadBrand(t, brand.Config{
		Light: map[string]string{"accent": "#00aa55"},
		Links: []brand.Link{{Kind: "terms", Label: "Terms of use", URL: "https://example.com/terms"}},
	}, map[string]string{"logo.svg": testSVG, "icon.png": "\x89PNG\r\n\x1a\nrest", "extra.css": ".card{border-radius:0}"})
	clientBrand := loadBrand(t, brand.Config{
		Light: map[string]string{"accent": "#aa0055"},
		Links: []brand.Link{{Kind: "support", Label: "App help", URL: "/help"}},
	}, map[string]string{"client.svg": strings.Replace(testSVG, "4 4", "8 8", 1)})
	f := newFixture(t, func(c *Config) {
		c.Brand = poolBrand
		c.ClientBrands = map[string]*brand.Brand{"app": clientBrand}
	})
	return f, poolBrand, clientBrand
}

func TestBrandOnPages(t *testing.T) {
	f, pb, cb := brandFixture(t)
	get := func(target string) string {
		t.Helper()
		res := f.do(httptest.NewRequest(http.MethodGet, target, nil))
		body := readBody(t, res)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", target, res.StatusCode)
		}
		if csp := res.Header.Get("Content-Security-Policy"); csp != contentSecurityPolicy {
			t.Errorf("GET %s: the page's policy changed: %q", target, csp)
		}
		return body
	}
	body := get(SignInPath)
	for _, want := range []string{
		`<link rel="icon" href="` + pb.Favicon.URL + `">`,
		`<link rel="stylesheet" href="` + pb.Colors.URL + `">`,
		`<link rel="stylesheet" href="` + pb.Stylesheet.URL + `">`,
		`<img class="brand-logo" src="` + pb.Logo.URL + `" alt="">`,
		`<a class="link" id="brand-link-terms" href="https://example.com/terms">Terms of use</a>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("pool sign-in page lacks %s", want)
		}
	}
	if strings.Contains(body, "brand-mark") {
		t.Error("the default mark is shown beside the logo")
	}
	app := "/oauth2/authorize?" + url.Values{"client_id": {"app"}, "response_type": {"code"}}.Encode()
	other := "/oauth2/authorize?" + url.Values{"client_id": {"other"}}.Encode()
	for _, target := range []string{
		SignInPath + "?rd=" + url.QueryEscape(app),
		SignUpPath + "?rd=" + url.QueryEscape(app),
		"/oauth2/authorize?client_id=app", // the provider's own error pages
	} {
		var body string
		if strings.HasPrefix(target, "/oauth2/") {
			rec := httptest.NewRecorder()
			f.h.RenderError(rec, httptest.NewRequest(http.MethodGet, target, nil), http.StatusBadRequest, "Bad request", "No.")
			body = rec.Body.String()
		} else if strings.HasPrefix(target, SignUpPath) {
			continue // sign-up is off in the fixture; the sign-in page covers it
		} else {
			body = get(target)
		}
		if !strings.Contains(body, cb.Logo.URL) || !strings.Contains(body, cb.Colors.URL) {
			t.Errorf("%s: not the client's logo and colours", target)
		}
		if strings.Contains(body, pb.Logo.URL) || strings.Contains(body, pb.Colors.URL) {
			t.Errorf("%s: the pool's logo or colours on the client's page", target)
		}
		if !strings.Contains(body, `href="/help">App help</a>`) {
			t.Errorf("%s: no client footer link", target)
		}
	}
	body = get(SignInPath + "?rd=" + url.QueryEscape(other))
	if !strings.Contains(body, pb.Logo.URL) || strings.Contains(body, cb.Logo.URL) {
		t.Error("another client's sign-in shows the app's brand")
	}
	// A look-alike rd that is no authorization request keeps the pool's.
	body = get(SignInPath + "?rd=" + url.QueryEscape("/app?client_id=app"))
	if strings.Contains(body, cb.Logo.URL) {
		t.Error("a page's own client_id picked the client's brand")
	}
	// The account page is the pool's, whatever rd says.
	r := httptest.NewRequest(http.MethodGet, AccountPath+"?rd="+url.QueryEscape(app), nil)
	if got := f.h.pageFor(r, f.h.pages.account); got != f.h.pages.account {
		t.Error("the account page took a client's brand")
	}
}

func TestBrandAssets(t *testing.T) {
	f, pb, cb := brandFixture(t)
	for _, a := range append(pb.Assets(), cb.Assets()...) {
		res := f.do(httptest.NewRequest(http.MethodGet, a.URL, nil))
		body := readBody(t, res)
		h := res.Header
		if res.StatusCode != http.StatusOK || body != string(a.Body) {
			t.Errorf("%s: %d", a.URL, res.StatusCode)
		}
		if h.Get("Content-Type") != a.ContentType || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: type %q nosniff %q", a.URL, h.Get("Content-Type"), h.Get("X-Content-Type-Options"))
		}
		if h.Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Errorf("%s: cache %q", a.URL, h.Get("Cache-Control"))
		}
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "sandbox") || !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
			t.Errorf("%s: policy %q lets a document run", a.URL, csp)
		}
		req := httptest.NewRequest(http.MethodGet, a.URL, nil)
		req.Header.Set("If-None-Match", h.Get("ETag"))
		if res := f.do(req); res.StatusCode != http.StatusNotModified {
			t.Errorf("%s: If-None-Match gave %d", a.URL, res.StatusCode)
		}
	}
	if res := f.do(httptest.NewRequest(http.MethodPost, pb.Logo.URL, nil)); res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST asset: %d", res.StatusCode)
	}
	hash := strings.Split(strings.TrimPrefix(pb.Logo.URL, brandPath), "/")[0]
	for _, p := range []string{
		brandPath,
		brandPath + hash + "/",
		brandPath + hash + "/logo.png",
		brandPath + hash + "/../../static/gatehouse.css",
		brandPath + "../static/gatehouse.css",
		brandPath + hash + "/%2e%2e/%2e%2e/static/gatehouse.css",
		brandPath + hash + "/logo.svg/",
		brandPath + hash + "//logo.svg",
		brandPath + "..%2f..%2f..%2fetc%2fpasswd",
		brandPath + hash + "/../../../../etc/passwd",
		strings.ToUpper(pb.Logo.URL),
	} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.Path, req.URL.RawPath = p, ""
		if u, err := url.Parse(p); err == nil {
			req.URL = u
		}
		res := f.do(req)
		if body := readBody(t, res); res.StatusCode != http.StatusNotFound || strings.Contains(body, "root:") || strings.Contains(body, "--accent") {
			t.Errorf("GET %s: %d, want 404", p, res.StatusCode)
		}
	}
}

func TestTemplateOverrides(t *testing.T) {
	good := fstest.MapFS{
		"signin.html": {Data: []byte(`{{define "title"}}Welcome · {{.DisplayName}}{{end}}{{define "content"}}<h1 id="custom">Welcome to {{.DisplayName}}</h1><input type="hidden" name="csrf" value="{{.CSRF}}">{{template "notice" .Notice}}{{end}}`)},
		"notes.txt":   {Data: []byte("not a template: ignored")},
	}
	f := newFixture(t, func(c *Config) { c.Templates = good })
	body := readBody(t, f.do(httptest.NewRequest(http.MethodGet, SignInPath, nil)))
	if !strings.Contains(body, `<h1 id="custom">Welcome to Acme &lt;Staff&gt; &amp; Co</h1>`) || !strings.Contains(body, `<link rel="stylesheet" href="/_gatehouse/static/gatehouse.css">`) {
		t.Errorf("override not used, or not escaped, or without the layout:\n%s", body)
	}
	// The other pages are the built-in ones.
	if body := readBody(t, f.do(httptest.NewRequest(http.MethodGet, "/_gatehouse/nope", nil))); !strings.Contains(body, "There is no page at this address.") {
		t.Error("error page changed")
	}
	for _, tc := range []struct {
		name  string
		files fstest.MapFS
		want  string
	}{
		{"parse error", fstest.MapFS{"signin.html": {Data: []byte(`{{define "content"}}{{if}}{{end}}`)}}, "signin.html"},
		{"no content", fstest.MapFS{"error.html": {Data: []byte(`{{define "title"}}x{{end}}`)}}, `defines no "content"`},
		{"no layout", fstest.MapFS{"layout.html": {Data: []byte(`{{define "frame"}}x{{end}}`)}}, `defines no "layout"`},
		{"unknown page", fstest.MapFS{"sigin.html": {Data: []byte(`x`)}}, "sigin.html names no page"},
		{"partial dropped", fstest.MapFS{"partials.html": {Data: []byte(`{{define "field"}}{{end}}{{define "providers"}}{{end}}{{define "notice"}}{{end}}{{define "rules"}}{{end}}{{define "language-picker"}}{{end}}{{define "webauthn-script"}}{{end}}{{define "extra"}}{{template "gone"}}{{end}}`)}}, `"gone"`},
		{"misspelt field", fstest.MapFS{"confirm.html": {Data: []byte(`{{define "title"}}x{{end}}{{define "content"}}{{.Emial}}{{end}}`)}}, "Emial"},
		{"unknown function", fstest.MapFS{"reset.html": {Data: []byte(`{{define "title"}}x{{end}}{{define "content"}}{{shell "x"}}{{end}}`)}}, "shell"},
	} {
		_, err := New(Config{Pool: f.pool, Sessions: f.sessions, Codecs: f.h.codecs, Templates: tc.files})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want one naming %q", tc.name, err, tc.want)
		}
	}
}

// returnClient names a client only for a local authorization request, so
// neither a brand nor the hooks' client id can be picked by an rd that
// points elsewhere.
func TestReturnClient(t *testing.T) {
	for rd, want := range map[string]string{
		"/oauth2/authorize?client_id=web&response_type=code":  "web",
		"/authorize?client_id=web":                            "",
		"/private/page?client_id=web":                         "",
		"https://evil.example/oauth2/authorize?client_id=web": "",
		"//evil.example/oauth2/authorize?client_id=web":       "",
		"": "",
	} {
		if got := returnClient(rd); got != want {
			t.Errorf("returnClient(%q) = %q, want %q", rd, got, want)
		}
	}
}
