package middleware

import (
	"net/http"
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
		"X-Amzn-Oidc-Identities",      // longer
		"X-Amzn-Oidc-Identit",         // shorter
		"X-Amzn-Oidc-Identity-Extra",  // a suffix added
		"Amzn-Oidc-Identity",          // a prefix dropped
		"X.Amzn.Oidc.Identity",        // other separators are other names
		"X Amzn Oidc Identity",        // likewise
		"X-Auth-Request-Preferred",    // a sibling header
		"X-Amzn-Trace-Id",             // ALB's own, not identity
		"Authorization",               // not ours to touch
		"Cookie",                      // the session itself
		"X-Forwarded-For",             // proxy headers
		"X-Amzn-Oidc-Identitx",        // one letter off
		"Y-Amzn-Oidc-Data",            // one letter off at the start
		"X-Amzn-Oidc-Data\x00",        // a byte more
		"X-Auth-Request-Groups-Extra", // a suffix added
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
