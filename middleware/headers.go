package middleware

import (
	"fmt"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
)

// The ALB identity headers. Their canonical forms are what Go's server makes
// of any letter case a client sends.
const (
	HeaderIdentity    = "X-Amzn-Oidc-Identity"
	HeaderData        = "X-Amzn-Oidc-Data"
	HeaderAccessToken = "X-Amzn-Oidc-Accesstoken"
)

// DefaultHeaders are the plain identity headers given to upstreams when the
// operator configures none.
var DefaultHeaders = []HeaderRule{
	{Name: "X-Auth-Request-User", Template: "{sub}"},
	{Name: "X-Auth-Request-Email", Template: "{email}"},
	{Name: "X-Auth-Request-Groups", Template: "{groups}"},
}

// HeaderRule is one plain identity header: its name and a template of
// literal text and {claim} references.
type HeaderRule struct {
	Name     string `json:"name"`
	Template string `json:"template"`
}

// Claims a header template may reference.
var templateClaims = map[string]func(*Session) string{
	"sub":            func(s *Session) string { return s.UserID },
	"email":          func(s *Session) string { return s.Email },
	"email_verified": func(s *Session) string { return strconv.FormatBool(s.EmailVerified) },
	"name":           func(s *Session) string { return s.Name },
	"groups":         func(s *Session) string { return strings.Join(s.Groups, ",") },
	"amr":            func(s *Session) string { return strings.Join(s.AMR, ",") },
}

// headerTemplate is a HeaderRule compiled once at provision time.
type headerTemplate struct {
	name  string // canonical
	parts []templatePart
}

type templatePart struct {
	literal string
	claim   func(*Session) string // nil for a literal
}

func compileHeaders(rules []HeaderRule) ([]headerTemplate, error) {
	out := make([]headerTemplate, 0, len(rules))
	seen := map[string]bool{}
	for _, rule := range rules {
		name := textproto.CanonicalMIMEHeaderKey(rule.Name)
		if !validHeaderName(name) {
			return nil, fmt.Errorf("header %q: not a valid header name", rule.Name)
		}
		if seen[name] || name == HeaderIdentity || name == HeaderData || name == HeaderAccessToken {
			return nil, fmt.Errorf("header %q: configured twice or reserved", rule.Name)
		}
		seen[name] = true
		t := headerTemplate{name: name}
		rest := rule.Template
		for rest != "" {
			open := strings.IndexByte(rest, '{')
			if open < 0 {
				t.parts = append(t.parts, templatePart{literal: rest})
				break
			}
			if open > 0 {
				t.parts = append(t.parts, templatePart{literal: rest[:open]})
			}
			end := strings.IndexByte(rest[open:], '}')
			if end < 0 {
				return nil, fmt.Errorf("header %q: unclosed { in %q", rule.Name, rule.Template)
			}
			claim := rest[open+1 : open+end]
			fn, ok := templateClaims[claim]
			if !ok {
				return nil, fmt.Errorf("header %q: unknown claim {%s} (known: sub, email, email_verified, name, groups, amr)", rule.Name, claim)
			}
			t.parts = append(t.parts, templatePart{claim: fn})
			rest = rest[open+end+1:]
		}
		out = append(out, t)
	}
	return out, nil
}

func (t headerTemplate) render(s *Session) string {
	if len(t.parts) == 1 && t.parts[0].claim != nil {
		return t.parts[0].claim(s)
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.claim != nil {
			b.WriteString(p.claim(s))
		} else {
			b.WriteString(p.literal)
		}
	}
	return b.String()
}

func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c == '-' || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// stripper deletes every client-sent copy of the identity headers. A name
// matches ignoring letter case and treating '_' as '-', because some
// upstreams (CGI, and proxies in front of them) fold X_Amzn_Oidc_Data into
// the same variable as X-Amzn-Oidc-Data.
type stripper struct {
	names []string // lower case, '-' separated
}

func newStripper(names []string) stripper {
	s := stripper{}
	for _, n := range names {
		s.names = append(s.names, strings.ToLower(n))
	}
	return s
}

// strip deletes the protected headers from h, allocating nothing.
func (s stripper) strip(h http.Header) {
	for key := range h {
		if s.protected(key) {
			delete(h, key)
		}
	}
}

func (s stripper) protected(key string) bool {
	for _, n := range s.names {
		if len(n) == len(key) && foldEqual(key, n) {
			return true
		}
	}
	return false
}

// foldEqual compares key with the lower-case name, ignoring case and
// treating '_' in key as '-'.
func foldEqual(key, lower string) bool {
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		} else if c == '_' {
			c = '-'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
