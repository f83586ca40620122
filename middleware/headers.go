package middleware

import (
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"slices"
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

// identityFamily are the request headers through which auth proxies and
// platforms hand an identity to an app: ALB's, oauth2-proxy's (which
// nginx and Traefik setups pass on), Authelia's, Authentik's, Pomerium's,
// Kubernetes' and OpenShift's auth proxy, Grafana's, Google IAP's, Azure
// App Service's, Cloudflare Access's, Keycloak Gatekeeper's, Kong's, Vouch
// Proxy's, mod_auth_openidc's, and Gatehouse's own. An app
// behind a guarded site may trust any of them, whatever this site sends,
// so every client-sent copy is removed on every guarded site. A name
// ending in '-' is a prefix. Lower case, '-' separated.
var identityFamily = []string{
	"x-amzn-oidc-",
	"x-auth-request-",
	"x-gatehouse-",
	"x-forwarded-user",
	"x-forwarded-email",
	"x-forwarded-groups",
	"x-forwarded-preferred-username",
	"x-forwarded-access-token",
	"remote-", // Remote-User, -Email, -Groups, -Name
	"x-remote-",
	"x-authentik-",
	"x-pomerium-",
	"x-webauth-",
	"x-goog-authenticated-user-",
	"x-goog-iap-jwt-assertion",
	"x-ms-client-principal",
	"x-ms-client-principal-",
	"x-ms-token-",
	"cf-access-",
	// Keycloak Gatekeeper / Louketo (not X-Auth-Token, a credential
	// clients send to OpenStack-style APIs).
	"x-auth-userid",
	"x-auth-username",
	"x-auth-email",
	"x-auth-subject",
	"x-auth-roles",
	"x-auth-groups",
	// Kong.
	"x-authenticated-",
	"x-consumer-",
	"x-credential-identifier",
	"x-anonymous-consumer",
	// Vouch Proxy, Apache mod_auth_openidc (OIDC_CLAIM_*, OIDC_access_token).
	"x-vouch-",
	"oidc-",
}

// stripper deletes every client-sent copy of the identity headers: the
// family above, the names this site sends, and a Forwarded header that
// names a user (RFC 7239 leaves parameters open; some apps read user=). A
// name matches ignoring letter case and treating '_' as '-', because some
// upstreams (CGI, and proxies in front of them) fold X_Amzn_Oidc_Data into
// the same variable as X-Amzn-Oidc-Data.
type stripper struct {
	// buckets holds the names by their first and third letters (bucket),
	// so that a header compares with the few that could match. A name
	// ending in '-' is a prefix.
	buckets [26 * 27][]string
}

// bucket is where a name or a header key of the same spelling goes: by its
// first letter, and by its third when that is a letter (X-Forwarded-* and
// X-Request-Id meet different names). ok is false for a key that does not
// start with a letter, which no protected name does.
func bucket(key string) (i int, ok bool) {
	c := key[0] | 0x20 // lower case, for letters
	if c < 'a' || c > 'z' {
		return 0, false
	}
	third := 26
	if len(key) > 2 {
		if d := key[2] | 0x20; d >= 'a' && d <= 'z' {
			third = int(d - 'a')
		}
	}
	return int(c-'a')*27 + third, true
}

func newStripper(names []string) *stripper {
	s := &stripper{}
	add := func(n string) {
		n = strings.ToLower(n)
		if n == "" {
			return
		}
		i, ok := bucket(n)
		if !ok || slices.Contains(s.buckets[i], n) {
			return // not a valid header name (compileHeaders refuses it), or twice
		}
		s.buckets[i] = append(s.buckets[i], n)
	}
	for _, n := range identityFamily {
		add(n)
	}
	for _, n := range names {
		add(n)
	}
	return s
}

// strip deletes the protected headers from h, allocating nothing.
func (s *stripper) strip(h http.Header) {
	for key := range h {
		if s.protected(key) || len(key) == len("forwarded") && forwardedUser(key, h[key]) {
			delete(h, key)
		}
	}
}

// stripRequest strips r's headers and its trailers: the trailer names the
// client declares (the Trailer header, and r.Trailer's keys), and, since
// net/http adds every trailer a chunked body ends with to r.Trailer when
// the body is read to its end, whatever arrives then, before reverse_proxy
// copies them upstream. A request that cannot carry trailers (a body of
// known length, or none) costs nothing more than the header strip.
func (s *stripper) stripRequest(r *http.Request) {
	s.strip(r.Header)
	if tr, ok := r.Header["Trailer"]; ok {
		s.stripTrailerHeader(r.Header, tr)
	}
	if r.Trailer != nil {
		s.strip(r.Trailer)
	}
	if r.Body != nil && r.Body != http.NoBody && (r.Trailer != nil || r.ContentLength < 0) {
		r.Body = &trailerStripper{ReadCloser: r.Body, r: r, s: s}
	}
}

// stripTrailerHeader removes protected names from the Trailer header's
// lists; it allocates only when there is one to remove.
func (s *stripper) stripTrailerHeader(h http.Header, values []string) {
	found := false
	for _, v := range values {
		for name := range strings.SplitSeq(v, ",") {
			if s.protected(textproto.TrimString(name)) {
				found = true
			}
		}
	}
	if !found {
		return
	}
	var keep []string
	for _, v := range values {
		for name := range strings.SplitSeq(v, ",") {
			if name = textproto.TrimString(name); name != "" && !s.protected(name) {
				keep = append(keep, name)
			}
		}
	}
	if len(keep) == 0 {
		delete(h, "Trailer")
		return
	}
	h["Trailer"] = []string{strings.Join(keep, ", ")}
}

// trailerStripper strips the trailers net/http has added to r.Trailer by
// the time the body reports its end.
type trailerStripper struct {
	io.ReadCloser
	r *http.Request
	s *stripper
}

func (b *trailerStripper) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && b.r.Trailer != nil {
		b.s.strip(b.r.Trailer)
	}
	return n, err
}

func (s *stripper) protected(key string) bool {
	if key == "" {
		return false
	}
	i, ok := bucket(key)
	if !ok {
		return false
	}
	for _, n := range s.buckets[i] {
		if n[len(n)-1] == '-' {
			if len(key) >= len(n) && foldEqual(key[:len(n)], n) {
				return true
			}
		} else if len(n) == len(key) && foldEqual(key, n) {
			return true
		}
	}
	return false
}

// forwardedUser reports whether key is Forwarded and a value carries a
// user parameter. The whole header is dropped rather than rewritten: what
// a client sends in it is its own claim anyway, and a rewrite would have
// to parse it exactly as every upstream does (quoted strings, ';' and ',')
// while this looks for "user" followed by '=' anywhere, quoted or not, so
// that no parser, strict or naive, can find one in what is left.
func forwardedUser(key string, vv []string) bool {
	if len(key) != len("forwarded") || !foldEqual(key, "forwarded") {
		return false
	}
	for _, v := range vv {
		for i := 0; i+4 < len(v); i++ {
			if !foldEqual(v[i:i+4], "user") {
				continue
			}
			j := i + 4
			for j < len(v) && (v[j] == ' ' || v[j] == '\t') {
				j++
			}
			if j < len(v) && v[j] == '=' {
				return true
			}
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
