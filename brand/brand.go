// Package brand turns an operator's branding of a user pool (or of one of
// its app clients) into ready assets for the hosted pages: a logo, a
// favicon, a generated stylesheet of colours, an extra stylesheet and the
// footer's links. Everything is read and checked once, when Caddy starts,
// and then served by Gatehouse itself under content-hashed URLs, so the
// pages' Content-Security-Policy ('self' only) stays as it is.
//
//	b, err := brand.Load(brand.Config{
//		Logo:   "/etc/gatehouse/logo.svg",
//		Light:  map[string]string{"accent": "#0a5"},
//		Links:  []brand.Link{{Kind: "terms", Label: "Terms", URL: "https://example.com/terms"}},
//	})
//	...
//	b.Logo.URL // "/_gatehouse/brand/<hash>/logo.svg"
package brand

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"
)

// PathPrefix is where the assets of every brand are served.
const PathPrefix = "/_gatehouse/brand/"

// Size caps: a logo or favicon is small, and the files are held in memory.
const (
	MaxImageBytes      = 512 << 10
	MaxStylesheetBytes = 256 << 10
	maxLabel           = 100
)

// Config is an operator's branding, as the Caddyfile's `branding { }`
// block and the JSON config give it. Files are paths on the server.
type Config struct {
	// Logo is shown at the top of every page: SVG, PNG, WebP or ICO.
	Logo string `json:"logo,omitempty"`
	// Favicon is the pages' icon: the same image types.
	Favicon string `json:"favicon,omitempty"`
	// Stylesheet is a CSS file loaded after Gatehouse's own.
	Stylesheet string `json:"stylesheet,omitempty"`
	// Light and Dark are colours by role (Roles) for each scheme, as
	// #rgb, #rgba, #rrggbb or #rrggbbaa.
	Light map[string]string `json:"light,omitempty"`
	Dark  map[string]string `json:"dark,omitempty"`
	// Links are the footer's links, in this order.
	Links []Link `json:"links,omitempty"`
}

// Link is one footer link.
type Link struct {
	// Kind is terms, privacy or support: a client's link replaces the
	// pool's link of the same kind.
	Kind  string `json:"kind"`
	Label string `json:"label"`
	// URL is an https URL or a path on the site ("/help").
	URL string `json:"url"`
}

// LinkKinds are the kinds of footer link, in the footer's order.
var LinkKinds = []string{"terms", "privacy", "support"}

// Roles maps a colour role to the custom properties of static/gatehouse.css
// it sets.
var Roles = map[string][]string{
	"accent":       {"--accent", "--focus"},
	"accent_hover": {"--accent-hover"},
	"on_accent":    {"--on-accent"},
	"background":   {"--bg", "--bg-accent"},
	"surface":      {"--card", "--input-bg"},
	"text":         {"--text"},
	"muted":        {"--muted"},
	"border":       {"--border"},
}

// IsZero reports whether c brands nothing.
func (c Config) IsZero() bool {
	return c.Logo == "" && c.Favicon == "" && c.Stylesheet == "" && len(c.Light) == 0 && len(c.Dark) == 0 && len(c.Links) == 0
}

// Over returns base with every field c sets put in its place: a client's
// branding over its pool's. Colours and links are replaced one role and
// one kind at a time.
func (c Config) Over(base Config) Config {
	out := base
	if c.Logo != "" {
		out.Logo = c.Logo
	}
	if c.Favicon != "" {
		out.Favicon = c.Favicon
	}
	if c.Stylesheet != "" {
		out.Stylesheet = c.Stylesheet
	}
	merge := func(b, o map[string]string) map[string]string {
		if len(o) == 0 {
			return b
		}
		m := map[string]string{}
		for k, v := range b {
			m[k] = v
		}
		for k, v := range o {
			m[k] = v
		}
		return m
	}
	out.Light, out.Dark = merge(base.Light, c.Light), merge(base.Dark, c.Dark)
	if len(c.Links) > 0 {
		out.Links = slices.Clone(base.Links)
		for _, l := range c.Links {
			if i := slices.IndexFunc(out.Links, func(b Link) bool { return b.Kind == l.Kind }); i >= 0 {
				out.Links[i] = l
			} else {
				out.Links = append(out.Links, l)
			}
		}
	}
	return out
}

// Asset is one file of a brand, ready to serve.
type Asset struct {
	// URL is its address, under PathPrefix, named by its content's hash.
	URL         string
	ContentType string
	Body        []byte
	// ETag is the content's hash, quoted.
	ETag string
}

// Brand is a loaded, checked Config.
type Brand struct {
	Logo       *Asset
	Favicon    *Asset
	Colors     *Asset // the generated stylesheet; nil without colours
	Stylesheet *Asset
	Links      []Link // in LinkKinds' order
}

// Assets lists b's assets.
func (b *Brand) Assets() []*Asset {
	if b == nil {
		return nil
	}
	var out []*Asset
	for _, a := range []*Asset{b.Logo, b.Favicon, b.Colors, b.Stylesheet} {
		if a != nil {
			out = append(out, a)
		}
	}
	return out
}

// Load reads and checks c's files, colours and links. Its errors name the
// option and the value at fault.
func Load(c Config) (*Brand, error) {
	var b Brand
	var err error
	if c.Logo != "" {
		if b.Logo, err = loadImage(c.Logo, "logo"); err != nil {
			return nil, fmt.Errorf("logo: %w", err)
		}
	}
	if c.Favicon != "" {
		if b.Favicon, err = loadImage(c.Favicon, "favicon"); err != nil {
			return nil, fmt.Errorf("favicon: %w", err)
		}
	}
	if c.Stylesheet != "" {
		body, err := readCapped(c.Stylesheet, MaxStylesheetBytes)
		if err != nil {
			return nil, fmt.Errorf("stylesheet: %w", err)
		}
		if err := CheckStylesheet(body); err != nil {
			return nil, fmt.Errorf("stylesheet %s: %w", c.Stylesheet, err)
		}
		b.Stylesheet = newAsset("extra.css", "text/css; charset=utf-8", body)
	}
	css, err := colorSheet(c.Light, c.Dark)
	if err != nil {
		return nil, err
	}
	if css != nil {
		b.Colors = newAsset("colors.css", "text/css; charset=utf-8", css)
	}
	seen := map[string]bool{}
	for _, l := range c.Links {
		if err := CheckLink(l); err != nil {
			return nil, err
		}
		if seen[l.Kind] {
			return nil, fmt.Errorf("link %s: given twice", l.Kind)
		}
		seen[l.Kind] = true
		b.Links = append(b.Links, l)
	}
	sort.SliceStable(b.Links, func(i, j int) bool {
		return slices.Index(LinkKinds, b.Links[i].Kind) < slices.Index(LinkKinds, b.Links[j].Kind)
	})
	return &b, nil
}

func newAsset(name, contentType string, body []byte) *Asset {
	sum := sha256.Sum256(body)
	h := hex.EncodeToString(sum[:12])
	return &Asset{URL: PathPrefix + h + "/" + name, ContentType: contentType, Body: body, ETag: `"` + h + `"`}
}

func readCapped(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	body, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > max {
		return nil, fmt.Errorf("%s is larger than %d KiB", path, max>>10)
	}
	if len(body) == 0 {
		return nil, fmt.Errorf("%s is empty", path)
	}
	return body, nil
}

func loadImage(path, name string) (*Asset, error) {
	body, err := readCapped(path, MaxImageBytes)
	if err != nil {
		return nil, err
	}
	ext, typ := SniffImage(body)
	if typ == "" {
		return nil, fmt.Errorf("%s is not an SVG, PNG, WebP or ICO image", path)
	}
	return newAsset(name+"."+ext, typ, body), nil
}

// SniffImage names the image type of b from its content, never from a
// file name: ("svg", "image/svg+xml"), ("png", "image/png"), ("webp",
// "image/webp"), ("ico", "image/x-icon"), or "", "" for anything else.
func SniffImage(b []byte) (ext, contentType string) {
	switch {
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return "png", "image/png"
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return "webp", "image/webp"
	case len(b) >= 6 && b[0] == 0 && b[1] == 0 && b[2] == 1 && b[3] == 0 && (b[4] != 0 || b[5] != 0):
		return "ico", "image/x-icon"
	case isSVG(b):
		return "svg", "image/svg+xml"
	}
	return "", ""
}

// isSVG: UTF-8 text whose first element, after an XML declaration,
// comments and a doctype, is <svg.
func isSVG(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	s := strings.TrimPrefix(string(b), "\ufeff")
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		switch {
		case strings.HasPrefix(s, "<?"):
			i := strings.Index(s, "?>")
			if i < 0 {
				return false
			}
			s = s[i+2:]
		case strings.HasPrefix(s, "<!--"):
			i := strings.Index(s, "-->")
			if i < 0 {
				return false
			}
			s = s[i+3:]
		case strings.HasPrefix(s, "<!DOCTYPE"), strings.HasPrefix(s, "<!doctype"):
			i := strings.Index(s, ">")
			if i < 0 {
				return false
			}
			s = s[i+1:]
		default:
			return strings.HasPrefix(s, "<svg") && len(s) > 4 && strings.ContainsRune(" \t\r\n>/", rune(s[4]))
		}
	}
}

var colorRE = regexp.MustCompile(`^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$`)

// CheckColor accepts a hex colour: #rgb, #rgba, #rrggbb or #rrggbbaa.
// Nothing else reaches the generated stylesheet, so it cannot carry CSS.
func CheckColor(role, value string) error {
	if _, ok := Roles[role]; !ok {
		return fmt.Errorf("color role %q: want one of %s", role, strings.Join(RoleNames(), ", "))
	}
	if !colorRE.MatchString(value) {
		return fmt.Errorf("color %s %q: want a hex colour such as #0a5 or #00aa55", role, value)
	}
	return nil
}

// RoleNames lists Roles' keys, sorted.
func RoleNames() []string {
	var names []string
	for k := range Roles {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// colorSheet writes the colours as custom properties: light ones on :root,
// dark ones under prefers-color-scheme: dark, as static/gatehouse.css does.
// An accent without its hover colour gets a darker (light) or lighter
// (dark) mix of itself, so the default hover never shows through.
func colorSheet(light, dark map[string]string) ([]byte, error) {
	if len(light) == 0 && len(dark) == 0 {
		return nil, nil
	}
	var buf bytes.Buffer
	block := func(scheme string, colors map[string]string, mix string) error {
		roles := make([]string, 0, len(colors))
		for role, v := range colors {
			if err := CheckColor(role, v); err != nil {
				return fmt.Errorf("%s %w", scheme, err)
			}
			roles = append(roles, role)
		}
		sort.Strings(roles)
		for _, role := range roles {
			for _, prop := range Roles[role] {
				fmt.Fprintf(&buf, "  %s: %s;\n", prop, strings.ToLower(colors[role]))
			}
		}
		if _, ok := colors["accent"]; ok {
			if _, ok := colors["accent_hover"]; !ok {
				fmt.Fprintf(&buf, "  --accent-hover: color-mix(in srgb, %s 80%%, %s);\n", strings.ToLower(colors["accent"]), mix)
			}
		}
		return nil
	}
	buf.WriteString("/* Generated by Gatehouse from the pool's branding. */\n")
	if len(light) > 0 {
		buf.WriteString(":root {\n")
		if err := block("light", light, "black"); err != nil {
			return nil, err
		}
		buf.WriteString("}\n")
	}
	if len(dark) > 0 {
		buf.WriteString("@media (prefers-color-scheme: dark) {\n:root {\n")
		if err := block("dark", dark, "white"); err != nil {
			return nil, err
		}
		buf.WriteString("}\n}\n")
	}
	return buf.Bytes(), nil
}

// CheckLink accepts a footer link of a known kind, a short one-line label,
// and an https URL or a path on the site.
func CheckLink(l Link) error {
	if !slices.Contains(LinkKinds, l.Kind) {
		return fmt.Errorf("link %q: want one of %s", l.Kind, strings.Join(LinkKinds, ", "))
	}
	if l.Label == "" || utf8.RuneCountInString(l.Label) > maxLabel || !utf8.ValidString(l.Label) || strings.ContainsFunc(l.Label, isControl) {
		return fmt.Errorf("link %s: the label must be one line of 1 to %d characters", l.Kind, maxLabel)
	}
	if err := checkLinkURL(l.URL); err != nil {
		return fmt.Errorf("link %s %q: %w", l.Kind, l.URL, err)
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func checkLinkURL(s string) error {
	if s == "" || len(s) > 2048 || strings.ContainsFunc(s, isControl) || strings.ContainsAny(s, " \\") {
		return errors.New("want an https URL or a path such as /help, without spaces or backslashes")
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	switch {
	case u.Scheme == "https" && u.Host != "" && u.User == nil:
		return nil
	case u.Scheme == "" && u.Host == "" && strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//"):
		return nil
	}
	return errors.New("want an https URL or a path starting with one \"/\"")
}

// outsideURL finds what a stylesheet would fetch from elsewhere: an
// @import, or a url() with a scheme (but data:) or a host.
var outsideURL = regexp.MustCompile(`(?i)@import|url\(\s*['"]?\s*(?:[a-z][a-z0-9+.\-]*:|//|\\)`)

var dataURL = regexp.MustCompile(`(?i)url\(\s*['"]?\s*data:`)

var cssComment = regexp.MustCompile(`(?s)/\*.*?\*/`)

// CheckStylesheet refuses a stylesheet that is not UTF-8 or that loads
// anything from another site: the pages' policy would block it in the
// browser anyway, and an error at start says why a rule has no effect.
func CheckStylesheet(css []byte) error {
	if !utf8.Valid(css) {
		return errors.New("is not UTF-8 text")
	}
	s := dataURL.ReplaceAllString(cssComment.ReplaceAllString(string(css), ""), "")
	if loc := outsideURL.FindStringIndex(s); loc != nil {
		return fmt.Errorf("loads from another address (%q): serve images from the pool's branding, or inline them as data: URLs", s[loc[0]:loc[1]])
	}
	return nil
}
