package brand

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const svgLogo = `<?xml version="1.0"?>
<!-- a logo -->
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect width="10" height="10" fill="#0a5"/></svg>`

var pngHeader = "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"

func write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSniffImage(t *testing.T) {
	for _, tc := range []struct {
		name, body, ext string
	}{
		{"svg with declaration and comment", svgLogo, "svg"},
		{"bare svg", `<svg xmlns="http://www.w3.org/2000/svg"/>`, "svg"},
		{"svg after doctype", "\ufeff<!DOCTYPE svg>\n<svg>", "svg"},
		{"png", pngHeader, "png"},
		{"webp", "RIFF\x10\x00\x00\x00WEBPVP8 ", "webp"},
		{"ico", "\x00\x00\x01\x00\x01\x00\x10\x10", "ico"},
		{"html pretending", `<html><svg></svg></html>`, ""},
		{"svgfoo element", `<svgfoo>`, ""},
		{"gif", "GIF89a....", ""},
		{"text", "hello", ""},
		{"empty", "", ""},
		{"ico with no images", "\x00\x00\x01\x00\x00\x00", ""},
	} {
		if ext, _ := SniffImage([]byte(tc.body)); ext != tc.ext {
			t.Errorf("%s: sniffed %q, want %q", tc.name, ext, tc.ext)
		}
	}
}

func TestCheckColor(t *testing.T) {
	for _, tc := range []struct {
		role, value string
		ok          bool
	}{
		{"accent", "#0a5", true},
		{"accent", "#00AA55", true},
		{"background", "#00aa5580", true},
		{"text", "#0a58", true},
		{"accent", "0a5", false},
		{"accent", "#0a", false},
		{"accent", "red", false},
		{"accent", "#0a5;}body{display:none", false},
		{"accent", "#0a5 ", false},
		{"accent", "#gggggg", false},
		{"link", "#0a5", false},
	} {
		if err := CheckColor(tc.role, tc.value); (err == nil) != tc.ok {
			t.Errorf("CheckColor(%q, %q) = %v, want ok %v", tc.role, tc.value, err, tc.ok)
		}
	}
}

func TestCheckLink(t *testing.T) {
	for _, tc := range []struct {
		l  Link
		ok bool
	}{
		{Link{"terms", "Terms", "https://example.com/terms"}, true},
		{Link{"privacy", "Privacy", "/privacy"}, true},
		{Link{"support", "Help", "/help?topic=sign-in#top"}, true},
		{Link{"terms", "Terms", "http://example.com/terms"}, false},
		{Link{"terms", "Terms", "javascript:alert(1)"}, false},
		{Link{"terms", "Terms", "//evil.example/terms"}, false},
		{Link{"terms", "Terms", "/\\evil.example"}, false},
		{Link{"terms", "Terms", "https://user@evil.example/"}, false},
		{Link{"terms", "Terms", "https:///nohost"}, false},
		{Link{"terms", "Terms", "data:text/html,hi"}, false},
		{Link{"terms", "Terms", "relative/path"}, false},
		{Link{"terms", "", "/terms"}, false},
		{Link{"terms", "Two\nlines", "/terms"}, false},
		{Link{"terms", strings.Repeat("x", 101), "/terms"}, false},
		{Link{"cookies", "Cookies", "/cookies"}, false},
	} {
		if err := CheckLink(tc.l); (err == nil) != tc.ok {
			t.Errorf("CheckLink(%+v) = %v, want ok %v", tc.l, err, tc.ok)
		}
	}
}

func TestCheckStylesheet(t *testing.T) {
	for _, tc := range []struct {
		css string
		ok  bool
	}{
		{".card { border-radius: 0 }", true},
		{`.brand { background: url("/static/x.png") }`, true},
		{`.brand { background: url(data:image/png;base64,AAAA) }`, true},
		{"/* no @import or url(https://x) here */ .a { color: red }", true},
		{`/* a comment */ @import url("https://evil.example/x.css");`, false},
		{`@import url("https://evil.example/x.css");`, false},
		{`@IMPORT "x.css";`, false},
		{`.a { background: url(https://evil.example/track.png) }`, false},
		{`.a { background: url( '//evil.example/track.png') }`, false},
		{"\xff\xfe", false},
	} {
		if err := CheckStylesheet([]byte(tc.css)); (err == nil) != tc.ok {
			t.Errorf("CheckStylesheet(%q) = %v, want ok %v", tc.css, err, tc.ok)
		}
	}
}

func TestLoad(t *testing.T) {
	logo := write(t, "logo.svg", svgLogo)
	icon := write(t, "icon.png", pngHeader)
	css := write(t, "extra.css", ".card{border-radius:0}")
	b, err := Load(Config{
		Logo: logo, Favicon: icon, Stylesheet: css,
		Light: map[string]string{"accent": "#0A5", "text": "#111"},
		Dark:  map[string]string{"accent": "#6c9"},
		Links: []Link{{"support", "Help", "/help"}, {"terms", "Terms", "https://example.com/terms"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if b.Logo.ContentType != "image/svg+xml" || !strings.HasPrefix(b.Logo.URL, PathPrefix) || !strings.HasSuffix(b.Logo.URL, "/logo.svg") {
		t.Errorf("logo %q %q", b.Logo.URL, b.Logo.ContentType)
	}
	if b.Favicon.ContentType != "image/png" || !strings.HasSuffix(b.Favicon.URL, "/favicon.png") {
		t.Errorf("favicon %q %q", b.Favicon.URL, b.Favicon.ContentType)
	}
	colors := string(b.Colors.Body)
	for _, want := range []string{"--accent: #0a5;", "--text: #111;", "@media (prefers-color-scheme: dark) {\n:root {\n  --accent: #6c9;", "--accent-hover: color-mix(in srgb, #0a5 80%, black);"} {
		if !strings.Contains(colors, want) {
			t.Errorf("colour sheet lacks %q:\n%s", want, colors)
		}
	}
	if len(b.Links) != 2 || b.Links[0].Kind != "terms" || b.Links[1].Kind != "support" {
		t.Errorf("links not in terms, privacy, support order: %+v", b.Links)
	}
	// The same content gives the same URL; another content another one.
	b2, err := Load(Config{Logo: write(t, "other.svg", svgLogo)})
	if err != nil || b2.Logo.URL != b.Logo.URL {
		t.Errorf("same logo, other URL: %q vs %q (%v)", b2.Logo.URL, b.Logo.URL, err)
	}
	b3, _ := Load(Config{Logo: write(t, "third.svg", strings.Replace(svgLogo, "#0a5", "#0a6", 1))})
	if b3.Logo.URL == b.Logo.URL {
		t.Error("another logo kept the URL: caches would serve the old one")
	}
}

func TestLoadRefuses(t *testing.T) {
	dir := t.TempDir()
	big := write(t, "big.png", pngHeader+strings.Repeat("x", MaxImageBytes))
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"missing logo", Config{Logo: filepath.Join(dir, "nope.svg")}, "logo:"},
		{"logo is html", Config{Logo: write(t, "x.svg", "<html><script>alert(1)</script></html>")}, "not an SVG, PNG, WebP or ICO"},
		{"gif favicon", Config{Favicon: write(t, "x.gif", "GIF89a")}, "favicon:"},
		{"too big", Config{Logo: big}, "larger than 512 KiB"},
		{"a folder", Config{Logo: dir}, "not a regular file"},
		{"empty", Config{Favicon: write(t, "e.ico", "")}, "is empty"},
		{"outside stylesheet", Config{Stylesheet: write(t, "s.css", "@import 'https://evil.example/x.css';")}, "another address"},
		{"bad colour", Config{Dark: map[string]string{"accent": "blue"}}, "dark color accent"},
		{"unknown role", Config{Light: map[string]string{"shadow": "#000"}}, "color role"},
		{"http link", Config{Links: []Link{{"terms", "Terms", "http://example.com"}}}, "link terms"},
		{"link twice", Config{Links: []Link{{"terms", "A", "/a"}, {"terms", "B", "/b"}}}, "given twice"},
	} {
		_, err := Load(tc.c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want one saying %q", tc.name, err, tc.want)
		}
	}
}

func TestOver(t *testing.T) {
	base := Config{Logo: "/pool.svg", Favicon: "/pool.ico",
		Light: map[string]string{"accent": "#111", "text": "#222"},
		Links: []Link{{"terms", "Terms", "/terms"}, {"privacy", "Privacy", "/privacy"}}}
	got := Config{Logo: "/client.svg", Light: map[string]string{"accent": "#333"},
		Links: []Link{{"privacy", "App privacy", "/app/privacy"}, {"support", "Help", "/help"}}}.Over(base)
	if got.Logo != "/client.svg" || got.Favicon != "/pool.ico" {
		t.Errorf("files: %+v", got)
	}
	if got.Light["accent"] != "#333" || got.Light["text"] != "#222" {
		t.Errorf("colours: %v", got.Light)
	}
	if len(got.Links) != 3 || got.Links[0].Label != "Terms" || got.Links[1].Label != "App privacy" || got.Links[2].Kind != "support" {
		t.Errorf("links: %+v", got.Links)
	}
	if base.Light["accent"] != "#111" || base.Links[1].Label != "Privacy" {
		t.Error("Over changed the pool's config")
	}
}
