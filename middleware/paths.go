package middleware

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"unicode/utf8"
)

// ambiguousPath reports why u's path could name one resource to Gatehouse
// and Caddy's matchers and another to the upstream, or "" when it cannot.
//
// The checks here, `allow anonymous <path>` and Caddy's `handle <path>`
// blocks with stricter rules, read the percent-decoded r.URL.Path, while
// reverse_proxy forwards the path as the client escaped it
// (URL.EscapedPath). Upstreams then read that path their own way: Tomcat
// and Spring drop `;params` from each segment (/public/..;/private is
// /private to them), some decode %2F into a separator or decode twice,
// IIS and Windows servers take \ for / and ignore trailing dots and
// spaces, old decoders take overlong UTF-8 for '.' and '/'. Rather than
// guess how the upstream reads a path, a guarded site refuses every path
// whose reading could differ; what is left reads the same to any of them
// (the segments are the same, decoded or not). The list follows Spring
// Security's StrictHttpFirewall, plus the Windows and encoding cases.
//
// It reads u.Path and u.RawPath (the client's escaping, set by Go only
// when it differs from the default one) and allocates nothing.
func ambiguousPath(u *url.URL) string {
	p := u.Path
	if p == "" || p == "*" {
		return "" // CONNECT's authority form, OPTIONS *: no path to route
	}
	if p[0] != '/' {
		return "a path that does not start with /"
	}
	seg := 1 // start of the current segment
	nonASCII := false
	for i := 1; i <= len(p); i++ {
		if i < len(p) {
			switch pathByte[p[i]] {
			case plain:
				continue
			case high:
				nonASCII = true
				continue
			case refused:
				return refusedByte(p[i])
			}
		}
		switch s := p[seg:i]; {
		case s == "":
			if i < len(p) {
				return "an empty segment (//)"
			}
		case s == "." || s == "..":
			return "a . or .. segment"
		case s[len(s)-1] == '.' || s[len(s)-1] == ' ':
			return "a segment ending in a dot or space (dropped by Windows servers)"
		}
		seg = i + 1
	}
	if nonASCII {
		if !utf8.ValidString(p) {
			return "bytes that are not UTF-8 (such as overlong forms of . and /)"
		}
		for _, c := range p {
			if compatibilityDelimiter(c) {
				return "a character that Unicode normalization turns into . / \\ ; % ? or #"
			}
		}
	}
	raw := u.RawPath
	for i := 0; i+2 < len(raw); i++ {
		if raw[i] != '%' {
			continue
		}
		c := unhex(raw[i+1])<<4 | unhex(raw[i+2])
		switch {
		case c == '/':
			return "an encoded / (a separator to some servers, not to others)"
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_':
			// RFC 3986 §2.3: equivalent to the plain character, and never
			// produced by a conforming encoder; an upstream that does not
			// decode them routes /%70ublic elsewhere than /public. (~ is
			// let through: Java's URLEncoder writes it as %7E.)
			return "an encoded letter, digit, '-', '.' or '_'"
		}
		i += 2
	}
	return ""
}

// The kinds of byte in a decoded path, so that the scan of an ordinary
// path costs one table load per byte.
const (
	plain   = iota
	slash   // ends a segment
	high    // part of a non-ASCII character
	refused // see refusedByte
)

var pathByte = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case c >= 0x80:
			t[c] = high
		case c < 0x20 || c == 0x7f || c == ';' || c == '\\' || c == '%' || c == '?' || c == '#':
			t[c] = refused
		case c == '/':
			t[c] = slash
		}
	}
	return t
}()

func refusedByte(c byte) string {
	switch c {
	case ';':
		return "a semicolon (path parameters, which some servers drop)"
	case '\\':
		return "a backslash (a separator to some servers)"
	case '%':
		return "an encoded % (encoded twice)"
	case '?', '#':
		return "an encoded ? or #"
	}
	return "a control character"
}

// unhex is the value of a hex digit; Go's URL parser has already refused
// a % not followed by two of them.
func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10
	}
	return 0
}

// compatibilityDelimiter reports whether c's Unicode compatibility form
// (NFKC) contains '.', '/', '\', ';', '%', '?' or '#': fullwidth ．／＼；,
// the one-dot leader, ⒈ and the like, which upstreams that normalize
// Unicode (some Java, .NET and Python stacks) turn into the delimiters the
// rest of ambiguousPath refuses. The list is every such code point
// (computed with Python's unicodedata, Unicode 15), and the two slash
// look-alikes U+2044 and U+2215 that best-fit mappings turn into '/'.
func compatibilityDelimiter(c rune) bool {
	switch c {
	case 0x37E, 0x2024, 0x2025, 0x2026, 0x2044, 0x2047, 0x2048, 0x2049, 0x2100, 0x2101, 0x2105, 0x2106,
		0x2215, 0x2488, 0x2489, 0x248A, 0x248B, 0x248C, 0x248D, 0x248E, 0x248F, 0x2490, 0x2491, 0x2492,
		0x2493, 0x2494, 0x2495, 0x2496, 0x2497, 0x2498, 0x2499, 0x249A, 0x249B, 0x33C2, 0x33C7, 0x33D8,
		0xFE14, 0xFE16, 0xFE19, 0xFE30, 0xFE52, 0xFE54, 0xFE56, 0xFE5F, 0xFE68, 0xFE6A, 0xFF03, 0xFF05,
		0xFF0E, 0xFF0F, 0xFF1B, 0xFF1F, 0xFF3C, 0x1F100:
		return true
	}
	return false
}

// pathPattern is one public path: exact, a prefix ("/static/*") or a
// suffix ("*.css").
type pathPattern struct {
	exact, prefix, suffix string
}

func compilePath(s string) (pathPattern, error) {
	switch {
	case s == "" || s == "*" || s == "/*":
		return pathPattern{}, fmt.Errorf("allow anonymous %q: for every path, write `allow anonymous` without paths", s)
	case strings.HasPrefix(s, "*"):
		if strings.Contains(s[1:], "*") || strings.Contains(s, "/") {
			return pathPattern{}, fmt.Errorf("allow anonymous %q: a suffix pattern is *<end of a file name>, such as *.css", s)
		}
		if why := ambiguousPath(&url.URL{Path: "/x" + s[1:]}); why != "" {
			return pathPattern{}, fmt.Errorf("allow anonymous %q: has %s, which a guarded site refuses in requests", s, why)
		}
		return pathPattern{suffix: s[1:]}, nil
	case !strings.HasPrefix(s, "/"):
		return pathPattern{}, fmt.Errorf("allow anonymous %q: a path starts with / (or is *.suffix)", s)
	case strings.HasSuffix(s, "*"):
		p := s[:len(s)-1]
		if strings.Contains(p, "*") {
			return pathPattern{}, fmt.Errorf("allow anonymous %q: * only at the end or the start", s)
		}
		if path.Clean(p) != strings.TrimSuffix(p, "/") && p != "/" {
			return pathPattern{}, fmt.Errorf("allow anonymous %q: not a clean path", s)
		}
		if why := ambiguousPath(&url.URL{Path: p}); why != "" {
			return pathPattern{}, fmt.Errorf("allow anonymous %q: has %s, which a guarded site refuses in requests", s, why)
		}
		return pathPattern{prefix: p}, nil
	}
	if strings.Contains(s, "*") || path.Clean(s) != s {
		return pathPattern{}, fmt.Errorf("allow anonymous %q: not a clean path (* only at the end or the start)", s)
	}
	if why := ambiguousPath(&url.URL{Path: s}); why != "" {
		return pathPattern{}, fmt.Errorf("allow anonymous %q: has %s, which a guarded site refuses in requests", s, why)
	}
	return pathPattern{exact: s}, nil
}

// isPublic reports whether r's path is one of the public paths. The first
// gateway of a guarded site has refused every path that an upstream could
// read differently (ambiguousPath: dot segments, //, ;, encoded / and the
// like), so r.URL.Path is compared as it is; a path that is not plain is
// never public, whoever calls this.
func (p *policy) isPublic(r *http.Request) bool {
	if len(p.public) == 0 {
		return false
	}
	clean := r.URL.Path
	if clean == "" || clean[0] != '/' || ambiguousPath(r.URL) != "" {
		return false
	}
	for _, pp := range p.public {
		switch {
		case pp.exact != "":
			if clean == pp.exact {
				return true
			}
		case pp.prefix != "":
			if strings.HasPrefix(clean, pp.prefix) {
				return true
			}
		case pp.suffix != "":
			if strings.HasSuffix(clean, pp.suffix) {
				return true
			}
		}
	}
	return false
}
