package hostedui

import (
	"net/url"
	"strings"
	"unicode/utf8"
)

// maxReturnTo bounds the return-to address; longer ones are refused rather
// than cut, since a cut URL is a different URL.
const maxReturnTo = 2048

// SafeReturnTo checks raw, the page to return to after signing in, and
// returns it when it is a relative reference on this same site. Otherwise it
// returns "/" and false. The gateway uses it when it builds the sign-in
// redirect and the sign-in page uses it again on the way back, so an open
// redirect needs both to be wrong.
//
// Accepted: "/" and paths starting with exactly one "/" followed by anything
// but "/" or "\" ("/app?x=1", "/a/b#frag"). Refused: anything longer than
// 2048 bytes, not valid UTF-8, holding a backslash, a space or an ASCII
// control character, anything with a scheme or a host ("https://evil.com",
// "//evil.com", "javascript:..."), and anything that starts with "//" or "/\"
// once percent-decoded ("/%2F%2Fevil.com"), since some servers and proxies
// decode before they redirect.
func SafeReturnTo(raw string) (string, bool) {
	if !safeReturnTo(raw) {
		return "/", false
	}
	return raw, true
}

func safeReturnTo(raw string) bool {
	if raw == "/" {
		return true
	}
	if len(raw) < 2 || len(raw) > maxReturnTo || raw[0] != '/' || raw[1] == '/' || !utf8.ValidString(raw) {
		return false
	}
	if hasUnsafeByte(raw, true) {
		return false
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" || u.User != nil {
		return false
	}
	// Decode until nothing changes (a few rounds at most: each removes at
	// least one "%"), so double encoding cannot hide "//" either.
	s := raw
	for range 4 {
		d, err := url.PathUnescape(s)
		if err != nil || d == s {
			break
		}
		if strings.HasPrefix(d, "//") || strings.HasPrefix(d, "/\\") || hasUnsafeByte(d, false) {
			return false
		}
		s = d
	}
	return true
}

// hasUnsafeByte reports ASCII control characters (which browsers strip from
// URLs, so "/\t/evil.com" becomes "//evil.com") and backslashes (which they
// read as "/"); in the raw form also spaces, which a valid URL never holds.
func hasUnsafeByte(s string, raw bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || (raw && (c == ' ' || c == '\\')) {
			return true
		}
	}
	return false
}
