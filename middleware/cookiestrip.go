package middleware

import (
	"net/http"
	"strconv"
	"strings"
)

// StripCookie removes the session cookie and its shards from the Cookie
// headers of h, keeping every other cookie as it was, so that the upstream
// never holds the session: a leaked upstream log or a compromised app
// cannot replay it, and the proxied request is the cookie's bytes
// (often 2 KB) lighter. Requests without it cost a substring search and
// no allocation; with it, one string for what is kept.
func (c *Codec) StripCookie(h http.Header) {
	lines := h["Cookie"]
	if len(lines) == 0 {
		return
	}
	found := false
	for _, line := range lines {
		if strings.Contains(line, c.name) {
			found = true
			break
		}
	}
	if !found {
		return
	}
	out := lines[:0]
	for _, line := range lines {
		if strings.Contains(line, c.name) {
			line = c.without(line)
		}
		if line != "" {
			out = append(out, line)
		}
	}
	if len(out) == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = out
}

// without returns a Cookie header line less the session's cookies, in
// one allocation of exactly what is kept (the session is most of the
// line, so sizing by the line would cost its 2 KB again).
func (c *Codec) without(line string) string {
	n := 0
	c.eachKept(line, func(part string) {
		if n > 0 {
			n += 2
		}
		n += len(part)
	})
	if n == 0 {
		return ""
	}
	var b strings.Builder
	b.Grow(n)
	c.eachKept(line, func(part string) {
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(part)
	})
	return b.String()
}

// cookieSpace is what Go's cookie parser trims around a pair and a name
// (textproto.TrimString): trimming less would leave "name\r=v" to an
// upstream that reads it as the session cookie.
const cookieSpace = " \t\r\n"

// eachKept calls fn with each trimmed "name=value" pair of line that is
// not the session's.
func (c *Codec) eachKept(line string, fn func(string)) {
	for rest := line; len(rest) > 0; {
		var part string
		part, rest, _ = strings.Cut(rest, ";")
		part = strings.Trim(part, cookieSpace)
		if part != "" && !c.ours(part) {
			fn(part)
		}
	}
}

// ours reports whether a "name=value" pair (or a bare name, which Go's
// parser reads as a cookie with an empty value) is the session cookie or
// one of the shards Write can set: name-0 to name-7, spelled as Write
// spells them, so that an app's own cookie such as name-07 is kept.
func (c *Codec) ours(pair string) bool {
	name, _, _ := strings.Cut(pair, "=")
	name = strings.TrimRight(name, cookieSpace)
	rest, ok := strings.CutPrefix(name, c.name)
	if !ok {
		return false
	}
	if rest == "" {
		return true
	}
	digits, ok := strings.CutPrefix(rest, "-")
	if !ok {
		return false
	}
	n, err := strconv.Atoi(digits)
	return err == nil && n >= 0 && n < maxShards && strconv.Itoa(n) == digits
}
