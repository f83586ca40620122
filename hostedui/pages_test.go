package hostedui

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/securecookie"

	"github.com/gatehouse-auth/gatehouse"
)

func TestStatic(t *testing.T) {
	f := newFixture(t, nil)
	want, err := fs.ReadFile(gatehouse.Static, "static/gatehouse.css")
	if err != nil {
		t.Fatal(err)
	}

	res := f.do(httptest.NewRequest(http.MethodGet, "/_gatehouse/static/gatehouse.css", nil))
	body := readBody(t, res)
	if res.StatusCode != http.StatusOK || body != string(want) {
		t.Fatalf("status %d, %d bytes; want 200 and the embedded %d bytes", res.StatusCode, len(body), len(want))
	}
	for k, v := range map[string]string{
		"Content-Type":           "text/css; charset=utf-8",
		"Cache-Control":          "public, max-age=3600",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := res.Header.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	etag := res.Header.Get("ETag")
	if !strings.HasPrefix(etag, `"`) || len(etag) < 10 {
		t.Fatalf("ETag %q", etag)
	}

	r := httptest.NewRequest(http.MethodGet, "/_gatehouse/static/gatehouse.css", nil)
	r.Header.Set("If-None-Match", etag)
	if res := f.do(r); res.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match with the ETag: status %d, want 304", res.StatusCode)
	}
	if res := f.do(httptest.NewRequest(http.MethodHead, "/_gatehouse/static/gatehouse.css", nil)); res.StatusCode != http.StatusOK {
		t.Errorf("HEAD: status %d", res.StatusCode)
	}

	for _, path := range []string{
		"/_gatehouse/static/",
		"/_gatehouse/static",
		"/_gatehouse/static/missing.css",
		"/_gatehouse/static/gatehouse.css/",
		"/_gatehouse/static/./gatehouse.css",
		"/_gatehouse/static/../templates/layout.html",
		"/_gatehouse/static//gatehouse.css",
	} {
		res := f.do(httptest.NewRequest(http.MethodGet, path, nil))
		body := readBody(t, res)
		if res.StatusCode != http.StatusNotFound || strings.Contains(body, "gatehouse.css\">gatehouse.css") {
			t.Errorf("%s: status %d, want 404", path, res.StatusCode)
		}
		checkPageHeaders(t, res.Header)
	}
}

func TestStylesheet(t *testing.T) {
	css, err := fs.ReadFile(gatehouse.Static, "static/gatehouse.css")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"prefers-color-scheme: dark", "system-ui", ":focus-visible"} {
		if !strings.Contains(string(css), want) {
			t.Errorf("stylesheet lacks %s", want)
		}
	}
	for _, bad := range []string{"@import", "url(http", "//fonts."} {
		if strings.Contains(string(css), bad) {
			t.Errorf("stylesheet loads from outside: %s", bad)
		}
	}
}

func TestNotFound(t *testing.T) {
	f := newFixture(t, nil)
	for _, path := range []string{"/_gatehouse/", "/_gatehouse/nope", "/_gatehouse/signin/", "/_gatehouse/SIGNIN", "/elsewhere"} {
		res := f.do(httptest.NewRequest(http.MethodGet, path, nil))
		body := readBody(t, res)
		if res.StatusCode != http.StatusNotFound || !strings.Contains(body, "Page not found") || !strings.Contains(body, "Acme &lt;Staff&gt;") {
			t.Errorf("%s: status %d, want the 404 page:\n%s", path, res.StatusCode, body)
		}
		if ct := res.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", path, ct)
		}
		checkPageHeaders(t, res.Header)
	}
}

func TestErrorJSON(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct {
		name, accept string
		json         bool
	}{
		{"json only", "application/json", true},
		{"script default", "application/json, text/plain, */*", true},
		{"json preferred by q", "text/html;q=0.5, application/json", true},
		{"browser", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", false},
		{"anything", "*/*", false},
		{"none", "", false},
		{"html preferred by q", "application/json;q=0.4, text/html", false},
		{"json refused", "application/json;q=0, */*", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/_gatehouse/nope", nil)
			if tc.accept != "" {
				r.Header.Set("Accept", tc.accept)
			}
			res := f.do(r)
			body := readBody(t, res)
			if res.StatusCode != http.StatusNotFound || res.Header.Get("Vary") != "Accept" {
				t.Fatalf("status %d, Vary %q", res.StatusCode, res.Header.Get("Vary"))
			}
			if !tc.json {
				if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
					t.Errorf("Content-Type %q, want HTML", res.Header.Get("Content-Type"))
				}
				return
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			var got map[string]string
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			if len(got) != 2 || got["error"] != "not_found" || got["message"] != "There is no page at this address." {
				t.Errorf("JSON error %v", got)
			}
			checkPageHeaders(t, res.Header)
		})
	}

	// A CSRF refusal answers a script in JSON too.
	r := postForm(signInForm(adaEmail, adaPassword, "x", "/"))
	r.Header.Set("Accept", "application/json")
	res := f.do(r)
	var got map[string]string
	if err := json.NewDecoder(res.Body).Decode(&got); err != nil || res.StatusCode != http.StatusForbidden || got["error"] != "forbidden" {
		t.Errorf("CSRF refusal: status %d, %v (%v)", res.StatusCode, got, err)
	}
}

func TestRenderError(t *testing.T) {
	f := newFixture(t, nil)
	rec := httptest.NewRecorder()
	rec.Header().Set("Allow", "GET")
	f.h.RenderError(rec, httptest.NewRequest(http.MethodGet, "/x", nil), http.StatusForbidden,
		"<b>No</b> entry", `Not for "you" & <i>yours</i>.`)
	res := rec.Result()
	body := readBody(t, res)
	if res.StatusCode != http.StatusForbidden || res.Header.Get("Allow") != "GET" {
		t.Errorf("status %d, Allow %q", res.StatusCode, res.Header.Get("Allow"))
	}
	for _, want := range []string{"&lt;b&gt;No&lt;/b&gt; entry", "Not for &#34;you&#34; &amp; &lt;i&gt;yours&lt;/i&gt;.", "Error 403", `role="alert"`} {
		if !strings.Contains(body, want) {
			t.Errorf("error page lacks %s:\n%s", want, body)
		}
	}
	if strings.Contains(body, "<b>") || strings.Contains(body, "<i>") {
		t.Error("title or message not escaped")
	}
}

func TestErrorCode(t *testing.T) {
	for status, want := range map[int]string{
		404: "not_found", 403: "forbidden", 405: "method_not_allowed",
		413: "request_entity_too_large", 415: "unsupported_media_type", 500: "internal_server_error", 599: "error_599",
	} {
		if got := errorCode(status); got != want {
			t.Errorf("errorCode(%d) = %q, want %q", status, got, want)
		}
	}
}

func TestNewConfig(t *testing.T) {
	f := newFixture(t, nil)
	codecs := securecookie.CodecsFromPairs(testHashKey)
	valid := Config{Pool: f.pool, Sessions: f.sessions, Codecs: codecs}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		ok   bool
	}{
		{"minimal", func(*Config) {}, true},
		{"absolute logout target", func(c *Config) { c.LogoutRedirect = "https://example.com/bye" }, true},
		{"path logout target", func(c *Config) { c.LogoutRedirect = "/goodbye?x=1" }, true},
		{"no pool", func(c *Config) { c.Pool = nil }, false},
		{"no sessions", func(c *Config) { c.Sessions = nil }, false},
		{"no codecs", func(c *Config) { c.Codecs = nil }, false},
		{"nil codec", func(c *Config) { c.Codecs = append(c.Codecs, nil) }, false},
		{"protocol-relative logout target", func(c *Config) { c.LogoutRedirect = "//evil.com" }, false},
		{"script logout target", func(c *Config) { c.LogoutRedirect = "javascript:alert(1)" }, false},
		{"relative logout target", func(c *Config) { c.LogoutRedirect = "bye" }, false},
		{"logout target with a newline", func(c *Config) { c.LogoutRedirect = "/bye\r\nSet-Cookie: x=1" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid
			cfg.Codecs = append([]securecookie.Codec(nil), codecs...)
			tc.mod(&cfg)
			h, err := New(cfg)
			if (err == nil) != tc.ok {
				t.Fatalf("New: %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && (h.displayName != "Sign in" || h.log == nil || h.secure == nil) {
				t.Errorf("defaults not applied: %q", h.displayName)
			}
		})
	}
}

func TestSentence(t *testing.T) {
	for in, want := range map[string]string{
		"this account is disabled": "This account is disabled.",
		"already a sentence.":      "Already a sentence.",
		"":                         "",
		"éclair":                   "Éclair.",
	} {
		if got := sentence(in); got != want {
			t.Errorf("sentence(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestClip(t *testing.T) {
	long := strings.Repeat("é", 200) // 400 bytes
	got := clip(long)
	if len(got) > 256+len("…") || !strings.HasSuffix(got, "…") || !strings.HasPrefix(long, strings.TrimSuffix(got, "…")) {
		t.Errorf("clip cut badly: %d bytes", len(got))
	}
	if clip("short") != "short" {
		t.Error("clip changed a short string")
	}
}
