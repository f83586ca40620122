package middleware

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func TestCompileHeadersErrors(t *testing.T) {
	tests := []struct {
		name    string
		rules   []HeaderRule
		wantErr string
	}{
		{"unknown claim", []HeaderRule{{Name: "X-User", Template: "{phone}"}}, "unknown claim {phone}"},
		{"empty claim", []HeaderRule{{Name: "X-User", Template: "a{}b"}}, "unknown claim {}"},
		{"claim with spaces", []HeaderRule{{Name: "X-User", Template: "{ sub }"}}, "unknown claim"},
		{"claim in another case", []HeaderRule{{Name: "X-User", Template: "{Sub}"}}, "unknown claim"},
		{"unclosed brace", []HeaderRule{{Name: "X-User", Template: "user {sub"}}, "unclosed {"},
		{"unclosed after a claim", []HeaderRule{{Name: "X-User", Template: "{sub}-{email"}}, "unclosed {"},
		{"reserved identity", []HeaderRule{{Name: "X-Amzn-Oidc-Identity", Template: "{sub}"}}, "reserved"},
		{"reserved data, lower case", []HeaderRule{{Name: "x-amzn-oidc-data", Template: "{sub}"}}, "reserved"},
		{"reserved access token, odd case", []HeaderRule{{Name: "X-AMZN-OIDC-ACCESSTOKEN", Template: "{sub}"}}, "reserved"},
		{"duplicate", []HeaderRule{{Name: "X-User", Template: "{sub}"}, {Name: "X-User", Template: "{email}"}}, "configured twice"},
		{"duplicate in another case", []HeaderRule{{Name: "X-User", Template: "{sub}"}, {Name: "x-user", Template: "{email}"}}, "configured twice"},
		{"empty name", []HeaderRule{{Name: "", Template: "{sub}"}}, "not a valid header name"},
		{"space in name", []HeaderRule{{Name: "X User", Template: "{sub}"}}, "not a valid header name"},
		{"colon in name", []HeaderRule{{Name: "X-User:", Template: "{sub}"}}, "not a valid header name"},
		{"underscore in name", []HeaderRule{{Name: "X_User", Template: "{sub}"}}, "not a valid header name"},
		{"newline in name", []HeaderRule{{Name: "X-User\r\nX-Evil", Template: "{sub}"}}, "not a valid header name"},
		{"non-ASCII name", []HeaderRule{{Name: "X-Üser", Template: "{sub}"}}, "not a valid header name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := compileHeaders(tt.rules)
			if err == nil {
				t.Fatalf("compileHeaders(%+v) = %+v, want an error", tt.rules, got)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not mention %q", err, tt.wantErr)
			}
		})
	}
}

func TestCompileHeadersRender(t *testing.T) {
	s := &Session{
		UserID:        "u-1",
		Email:         "ada@example.com",
		EmailVerified: true,
		Name:          "Ada Lovelace",
		Groups:        []string{"admins", "dev"},
		AMR:           []string{"pwd", "otp"},
	}
	empty := &Session{UserID: "u-2"}
	tests := []struct {
		template  string
		want      string
		wantEmpty string // the same template on a session with only a sub
	}{
		{"{sub}", "u-1", "u-2"},
		{"{email}", "ada@example.com", ""},
		{"{email_verified}", "true", "false"},
		{"{name}", "Ada Lovelace", ""},
		{"{groups}", "admins,dev", ""},
		{"{amr}", "pwd,otp", ""},
		{"static", "static", "static"},
		{"", "", ""},
		{"user:{sub}", "user:u-1", "user:u-2"},
		{"{sub}@tenant", "u-1@tenant", "u-2@tenant"},
		{"{name} <{email}>", "Ada Lovelace <ada@example.com>", " <>"},
		{"{sub}{sub}", "u-1u-1", "u-2u-2"},
		{"a}b", "a}b", "a}b"},
		{"}{sub}", "}u-1", "}u-2"},
	}
	var rules []HeaderRule
	for i, tt := range tests {
		rules = append(rules, HeaderRule{Name: "x-h" + string(rune('a'+i)), Template: tt.template})
	}
	compiled, err := compileHeaders(rules)
	if err != nil {
		t.Fatalf("compileHeaders: %v", err)
	}
	if len(compiled) != len(tests) {
		t.Fatalf("%d templates, want %d", len(compiled), len(tests))
	}
	for i, tt := range tests {
		if want := "X-H" + string(rune('a'+i)); compiled[i].name != want {
			t.Errorf("name %q, want canonical %q", compiled[i].name, want)
		}
		if got := compiled[i].render(s); got != tt.want {
			t.Errorf("render(%q) = %q, want %q", tt.template, got, tt.want)
		}
		if got := compiled[i].render(empty); got != tt.wantEmpty {
			t.Errorf("render(%q) on a bare session = %q, want %q", tt.template, got, tt.wantEmpty)
		}
	}

	def, err := compileHeaders(DefaultHeaders)
	if err != nil {
		t.Fatalf("DefaultHeaders do not compile: %v", err)
	}
	var names []string
	for _, h := range def {
		names = append(names, h.name+"="+h.render(s))
	}
	want := []string{"X-Auth-Request-User=u-1", "X-Auth-Request-Email=ada@example.com", "X-Auth-Request-Groups=admins,dev"}
	if !slices.Equal(names, want) {
		t.Errorf("default headers render %q, want %q", names, want)
	}
}

// identityHeaders are headers of the identity family that apps behind auth
// proxies trust, as their proxies spell them.
var identityHeaders = []string{
	"X-Auth-Request-User", "X-Auth-Request-Email", "X-Auth-Request-Groups",
	"X-Auth-Request-Preferred-Username", "X-Auth-Request-Access-Token", "X-Auth-Request-Anything",
	"X-Amzn-Oidc-Identity", "X-Amzn-Oidc-Identities", "X-Amzn-Oidc-Identity-Extra", "X-Amzn-Oidc-Whatever",
	"X-Gatehouse-Role", "X-Gatehouse-User",
	"X-Forwarded-User", "X-Forwarded-Email", "X-Forwarded-Groups", "X-Forwarded-Preferred-Username",
	"X-Forwarded-Access-Token",
	"Remote-User", "Remote-Email", "Remote-Groups", "Remote-Name",
	"X-Remote-User", "X-Remote-Group", "X-Remote-Extra-Scopes",
	"X-Authentik-Username", "X-Authentik-Groups", "X-Authentik-Email",
	"X-Pomerium-Claim-Email", "X-Pomerium-Jwt-Assertion",
	"X-Webauth-User", "X-WEBAUTH-EMAIL",
	"X-Goog-Authenticated-User-Email", "X-Goog-Authenticated-User-Id", "X-Goog-Iap-Jwt-Assertion",
	"X-Ms-Client-Principal", "X-Ms-Client-Principal-Name", "X-Ms-Client-Principal-Id", "X-Ms-Token-Aad-Access-Token",
	"Cf-Access-Authenticated-User-Email", "Cf-Access-Jwt-Assertion",
	"X-Auth-Userid", "X-Auth-Username", "X-Auth-Email", "X-Auth-Subject", "X-Auth-Roles", "X-Auth-Groups",
	"X-Authenticated-Userid", "X-Authenticated-Scope", "X-Consumer-Id", "X-Consumer-Username",
	"X-Credential-Identifier", "X-Anonymous-Consumer",
	"X-Vouch-User", "X-Vouch-Idp-Claims-Email",
	"OIDC_CLAIM_sub", "Oidc-Claim-Email", "OIDC_access_token",
}

// protectedNames are what a gateway with the default headers strips.
var protectedNames = []string{
	HeaderIdentity, HeaderData, HeaderAccessToken,
	"X-Auth-Request-User", "X-Auth-Request-Email", "X-Auth-Request-Groups",
}

// spellings returns ways a client may write name: cases, and '_' for '-'.
func spellings(name string) map[string]string {
	mixed := []byte(strings.ToLower(name))
	for i := range mixed {
		if i%2 == 0 {
			mixed[i] = strings.ToUpper(string(mixed[i]))[0]
		}
	}
	return map[string]string{
		"canonical":            name,
		"lower":                strings.ToLower(name),
		"upper":                strings.ToUpper(name),
		"mixed":                string(mixed),
		"underscores":          strings.ReplaceAll(name, "-", "_"),
		"underscores, lower":   strings.ToLower(strings.ReplaceAll(name, "-", "_")),
		"underscores, upper":   strings.ToUpper(strings.ReplaceAll(name, "-", "_")),
		"one underscore, rest": strings.Replace(name, "-", "_", 1),
	}
}

func TestStripper(t *testing.T) {
	s := newStripper(protectedNames)
	for _, name := range protectedNames {
		for kind, key := range spellings(name) {
			t.Run(name+"/"+kind, func(t *testing.T) {
				// Raw keys, as a header map built by hand or a non-Go
				// front end may hold them.
				h := http.Header{
					key:            {"forged"},
					"Accept":       {"text/html"},
					"X-Request-Id": {"abc"},
				}
				s.strip(h)
				if _, ok := h[key]; ok {
					t.Errorf("%q survived the strip", key)
				}
				if len(h) != 2 || h.Get("Accept") != "text/html" || h.Get("X-Request-Id") != "abc" {
					t.Errorf("unrelated headers changed: %v", h)
				}
			})
		}
	}

	kept := []string{
		"Amzn-Oidc-Identity",      // a prefix dropped
		"X.Amzn.Oidc.Identity",    // other separators are other names
		"X Amzn Oidc Identity",    // likewise
		"X-Amzn-Oidc",             // the family's prefix without its '-'
		"X-Amzn-Trace-Id",         // ALB's own, not identity
		"Authorization",           // not ours to touch
		"Cookie",                  // the session itself
		"X-Forwarded-For",         // proxy headers
		"X-Forwarded-Host",        // likewise
		"X-Forwarded-Proto",       // likewise
		"X-Forwarded-Users",       // not the family's name
		"X-Forwarded-Use",         // likewise
		"Y-Amzn-Oidc-Data",        // one letter off at the start
		"Forwarded",               // kept unless it names a user (below)
		"Remote",                  // not Remote-*
		"X-Request-Id",            // shares X-Re with X-Remote-*
		"X-Remotely",              // likewise
		"Xa-Auth-Request-User",    // one byte more at the start
		"\x00X-Auth-Request-User", // likewise
		"X-Goog-Iap-Jwt-Assertions",
		"X-Auth-Token",   // a credential clients send (OpenStack)
		"X-Auth-Userids", // not Gatekeeper's name
		"Oidc",           // not the prefix
		"X-Consumer",     // likewise
	}
	h := http.Header{}
	for _, k := range kept {
		h[k] = []string{"v"}
	}
	s.strip(h)
	for _, k := range kept {
		if _, ok := h[k]; !ok {
			t.Errorf("%q was stripped but is not protected", k)
		}
	}

	// The identity family, every one in every spelling, with names and
	// suffixes of prefixes, whatever this site sends itself.
	for _, name := range identityHeaders {
		for kind, key := range spellings(name) {
			h := http.Header{key: {"forged"}, "Accept": {"*/*"}}
			s.strip(h)
			if len(h) != 1 {
				t.Errorf("%s (%s, %q) survived the strip", name, kind, key)
			}
		}
	}

	// Every spelling at once, and several values each.
	h = http.Header{"Accept": {"*/*"}}
	for _, name := range protectedNames {
		for _, key := range spellings(name) {
			h[key] = []string{"one", "two"}
		}
	}
	s.strip(h)
	if len(h) != 1 || h.Get("Accept") != "*/*" {
		t.Errorf("after stripping every spelling, left %v", h)
	}
}

// typicalHeaders is what a browser's request carries, plus the identity
// headers a gateway added to it (stripped again on the next pass).
func typicalHeaders() http.Header {
	return http.Header{
		"Accept":             {"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
		"Accept-Encoding":    {"gzip, deflate, br"},
		"Accept-Language":    {"en-GB,en;q=0.9"},
		"Cache-Control":      {"no-cache"},
		"Cookie":             {"_ga=GA1.2.3; gatehouse_session=abcdef"},
		"Referer":            {"https://app.example.com/"},
		"Sec-Fetch-Dest":     {"document"},
		"Sec-Fetch-Mode":     {"navigate"},
		"Sec-Fetch-Site":     {"same-origin"},
		"Upgrade-Insecure":   {"1"},
		"User-Agent":         {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"},
		"X-Forwarded-For":    {"203.0.113.7"},
		"X-Forwarded-Proto":  {"https"},
		"X-Forwarded-Host":   {"app.example.com"},
		"X-Request-Id":       {"0b1e4c3a"},
		"Sec-Ch-Ua-Platform": {`"Linux"`},
	}
}

func TestStripAllocatesNothing(t *testing.T) {
	s := newStripper(protectedNames)
	clean := typicalHeaders()
	if n := testing.AllocsPerRun(200, func() { s.strip(clean) }); n != 0 {
		t.Errorf("strip of a request without identity headers allocates %.1f times, want 0", n)
	}
	if len(clean) != len(typicalHeaders()) {
		t.Fatalf("strip removed unprotected headers: %d left", len(clean))
	}

	// With forged headers to delete each time (re-added from preallocated
	// values, which costs a map assignment and nothing else).
	forged := typicalHeaders()
	identity, data := []string{"forged"}, []string{"forged.jwt"}
	n := testing.AllocsPerRun(200, func() {
		forged["X-Amzn-Oidc-Identity"] = identity
		forged["x_amzn_oidc_data"] = data
		s.strip(forged)
	})
	if n != 0 {
		t.Errorf("strip of a request with forged headers allocates %.1f times, want 0", n)
	}
	//lint:ignore SA1008 the raw, non-canonical key a client may send is the point
	if _, ok := forged["x_amzn_oidc_data"]; ok {
		t.Fatal("forged header survived")
	}
}

func BenchmarkStrip(b *testing.B) {
	s := newStripper(protectedNames)
	h := typicalHeaders()
	b.ReportAllocs()
	for b.Loop() {
		s.strip(h)
	}
}

func TestStripForwardedUser(t *testing.T) {
	s := newStripper(protectedNames)
	for v, drop := range map[string]bool{
		"for=192.0.2.1;user=admin":                 true,
		"for=192.0.2.1;proto=https;User=admin":     true,
		"for=192.0.2.1, for=198.51.100.2;USER = x": true,
		"user\t=admin":                             true,
		`for="[2001:db8::1]";user="ada"`:           true,
		`for="x;user=admin"`:                       true, // a naive parser splits inside quotes
		"for=192.0.2.1;x-user=admin":               true, // over-drops rather than parse
		"for=192.0.2.1;proto=https":                false,
		"for=user.example;by=203.0.113.4":          false,
		`for="_user"`:                              false,
		"":                                         false,
	} {
		for _, key := range []string{"Forwarded", "forwarded", "FORWARDED"} {
			h := http.Header{key: {"for=203.0.113.9", v}, "Accept": {"*/*"}}
			s.strip(h)
			if _, ok := h[key]; ok == drop {
				t.Errorf("%s: %q: kept %v, want dropped %v", key, v, ok, drop)
			}
			if h.Get("Accept") != "*/*" {
				t.Errorf("Accept lost")
			}
		}
	}
}

// TestStripTrailers: identity headers sent as trailers of a chunked body
// are gone from r.Trailer once the body is read (as reverse_proxy reads it
// before copying them upstream), declared or not; other trailers stay.
func TestStripTrailers(t *testing.T) {
	s := newStripper(append(protectedNames, "X-Remote-Mail"))
	raw := "POST /upload HTTP/1.1\r\nHost: app.example.com\r\nTransfer-Encoding: chunked\r\n" +
		"Trailer: X-Auth-Request-User, X-Checksum, x_amzn_oidc_identity\r\nTrailer: Remote-User\r\n\r\n" +
		"5\r\nhello\r\n0\r\n" +
		"X-Auth-Request-User: admin\r\nX-Checksum: abc\r\nX-Amzn-Oidc-Identity: admin\r\nRemote-User: admin\r\n" +
		"X-Forwarded-Email: root@example.com\r\nX-Remote-Mail: root@example.com\r\nX-Late: yes\r\n\r\n"
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	s.stripRequest(r)
	for k := range r.Trailer {
		if s.protected(k) {
			t.Errorf("declared trailer %s still declared", k)
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil || string(body) != "hello" {
		t.Fatalf("body %q, %v", body, err)
	}
	for k := range r.Trailer {
		if s.protected(k) {
			t.Errorf("trailer %s reached the upstream: %q", k, r.Trailer[k])
		}
	}
	if r.Trailer.Get("X-Checksum") != "abc" || r.Trailer.Get("X-Late") != "yes" {
		t.Errorf("other trailers lost: %v", r.Trailer)
	}

	// A Trailer header that net/http left in place (no chunked body) loses
	// the protected names and keeps the rest.
	h := http.Header{"Trailer": {"X-Auth-Request-User, X-Checksum", "Remote-Groups"}}
	r = &http.Request{Header: h, Body: http.NoBody}
	s.stripRequest(r)
	if got := h["Trailer"]; len(got) != 1 || got[0] != "X-Checksum" {
		t.Errorf("Trailer header %q, want X-Checksum", got)
	}
	h = http.Header{"Trailer": {"Remote-Groups"}}
	s.stripRequest(&http.Request{Header: h, Body: http.NoBody})
	if _, ok := h["Trailer"]; ok {
		t.Errorf("a Trailer header naming only identity headers stayed: %q", h["Trailer"])
	}
}

// TestStripRequestAllocatesNothing: a request without identity headers or
// trailers, with or without a body of known length, costs nothing.
func TestStripRequestAllocatesNothing(t *testing.T) {
	s := newStripper(protectedNames)
	r := httptest.NewRequest(http.MethodPost, "/upload", strings.NewReader("x=1"))
	r.Header = typicalHeaders()
	body := r.Body
	if n := testing.AllocsPerRun(200, func() { s.stripRequest(r) }); n != 0 {
		t.Errorf("stripRequest: %v allocations, want 0", n)
	}
	if r.Body != body {
		t.Error("a body of known length was wrapped")
	}
}
