package middleware

import (
	"net/url"
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
	for i := 1; i <= len(p); i++ {
		if i < len(p) {
			switch c := p[i]; {
			case c < 0x20 || c == 0x7f:
				return "a control character"
			case c == ';':
				return "a semicolon (path parameters, which some servers drop)"
			case c == '\\':
				return "a backslash (a separator to some servers)"
			case c == '%':
				return "an encoded % (encoded twice)"
			case c == '?' || c == '#':
				return "an encoded ? or #"
			case c != '/':
				continue
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
	if !utf8.ValidString(p) {
		return "bytes that are not UTF-8 (such as overlong forms of . and /)"
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
