package middleware

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strings"
	"testing"
	"unicode/utf8"
)

// readTarget parses a request line's target as Go's server does, so that
// URL.Path and URL.RawPath are what a gateway behind Caddy sees; nil when
// the server would answer 400 itself.
func readTarget(t *testing.T, target string) *http.Request {
	t.Helper()
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.1\r\nHost: app.example.com\r\n\r\n")))
	if err != nil {
		return nil
	}
	return r
}

// pathCases are request targets for a site with `allow anonymous
// /healthz /public/* *.css`. public: the path may pass anonymously;
// refused: ambiguousPath turns it away (400) before any rule is read;
// goRefuses: Go's own parser answers 400 before Caddy runs.
var pathCases = []struct {
	target                     string
	public, refused, goRefuses bool
}{
	// Legitimate paths.
	{target: "/healthz", public: true},
	{target: "/public/", public: true},
	{target: "/public/a.css", public: true},
	{target: "/public/a/b/c.js", public: true},
	{target: "/public/x%20y", public: true},
	{target: "/public/caf%C3%A9", public: true},
	{target: "/public/a%40b%3Ac%2Bd", public: true}, // @ : + encoded: same segments either way
	{target: "/public/%7Euser", public: true},       // Java's URLEncoder writes ~ so
	{target: "/public/.well-known/x", public: true},
	{target: "/public/a..b", public: true},
	{target: "/public/x?a=..;/private&b=%2F", public: true}, // the query is not the path
	{target: "/static/site.css", public: true},
	{target: "/private/x"},
	{target: "/healthz/"},
	{target: "/healthzx"},
	{target: "/public"},
	{target: "/PUBLIC/a"},          // case-sensitive: needs a user, never the reverse
	{target: "/private/x.CSS"},     // likewise
	{target: "/private/secret.cs"}, // not the suffix

	// The report's forms.
	{target: "/public/..;/private/x", refused: true},
	{target: "/public/%2e%2e;/private/x", refused: true},
	{target: "/private/secret;.css", refused: true},
	{target: "/private/secret;x=.css", refused: true},
	{target: "/private/..%2Fpublic/x", refused: true},
	{target: "/private/secret%3F.css", refused: true},

	// Path parameters anywhere.
	{target: "/public/x;jsessionid=1", refused: true},
	{target: "/public;/x", refused: true},
	{target: "/public/%3B/../private", refused: true},
	{target: "/admin;x/", refused: true},
	// Dot segments, raw and encoded in every case and mix.
	{target: "/public/../private/x", refused: true},
	{target: "/public/./x", refused: true},
	{target: "/public/.%2e/private/x", refused: true},
	{target: "/public/%2e./private/x", refused: true},
	{target: "/public/%2E%2E/private/x", refused: true},
	{target: "/public/%2e/x", refused: true},
	{target: "/public/..", refused: true},
	{target: "/public/x/..", refused: true},
	{target: "/public//../private/x", refused: true},
	{target: "/admin/../public/x", refused: true},
	// Repeated slashes.
	{target: "//public/x", refused: true},
	{target: "/public//x", refused: true},
	{target: "//admin/", refused: true},
	// Encoded separators and delimiters.
	{target: "/public%2F..%2Fprivate", refused: true},
	{target: "/public%2f..%2fprivate", refused: true},
	{target: "/public/x%2Fy", refused: true},
	{target: "/public/..%5Cprivate", refused: true},
	{target: "/public/x%5cy", refused: true},
	{target: "/public/x%23.css", refused: true},
	{target: "/private/x%3f.css", refused: true},
	// Backslashes sent raw.
	{target: "/public\\..\\private", refused: true},
	// Double encoding.
	{target: "/public/%252e%252e/private", refused: true},
	{target: "/public/%252F", refused: true},
	{target: "/public/%25", refused: true},
	// Encoded unreserved characters.
	{target: "/%70ublic/x", refused: true},
	{target: "/%61dmin/", refused: true},
	{target: "/private/x%2Ecss", refused: true},
	{target: "/public/%2D", refused: true},
	{target: "/public/%5F", refused: true},
	{target: "/public/%30", refused: true},
	// Control bytes and NUL.
	{target: "/public/x%00/../../private", refused: true},
	{target: "/private/secret%00.css", refused: true},
	{target: "/public/x%0A", refused: true},
	{target: "/public/x%7F", refused: true},
	{target: "/public/x%09y", refused: true},
	// Trailing dots and spaces, which Windows servers drop.
	{target: "/private./x", refused: true},
	{target: "/public/x.", refused: true},
	{target: "/private/secret.css.", refused: true},
	{target: "/admin%20/", refused: true},
	{target: "/public/x%20", refused: true},
	// UTF-8 overlongs and other invalid UTF-8.
	{target: "/public/%C0%AE%C0%AE/private", refused: true},
	{target: "/public/%C0%AF", refused: true},
	{target: "/public/%E0%80%AE", refused: true},
	{target: "/public/%FF", refused: true},
	{target: "/public/%C3", refused: true},
	// Characters that Unicode normalization (NFKC) or best-fit mappings
	// turn into delimiters.
	{target: "/public/%EF%BC%8E%EF%BC%8E/private", refused: true},       // fullwidth ．．
	{target: "/public/%EF%BC%8F..%EF%BC%8Fprivate", refused: true},      // fullwidth ／
	{target: "/private/secret%EF%BC%9B.css", refused: true},             // fullwidth ；
	{target: "/public/%EF%BC%BC", refused: true},                        // fullwidth ＼
	{target: "/public/%E2%80%A5/private", refused: true},                // ‥
	{target: "/public/%E2%88%95private", refused: true},                 // ∕ division slash
	{target: "/public/\xef\xbc\x8e\xef\xbc\x8e/private", refused: true}, // sent raw
	{target: "/public/%E2%9C%93", public: true},                         // ✓
	{target: "/public/\xc3\xa9t\xc3\xa9", public: true},                 // été, raw
	// Invalid percent-encoding never reaches Caddy.
	{target: "/public/%2", goRefuses: true},
	{target: "/public/%zz", goRefuses: true},
	{target: "/public/%u002e%u002e/private", goRefuses: true},
	{target: "/public/%", goRefuses: true},
	// Not a path.
	{target: "public/x", goRefuses: true},
}

func TestAmbiguousPaths(t *testing.T) {
	p, err := compilePolicy(Policy{PublicPaths: []string{"/healthz", "/public/*", "*.css"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range pathCases {
		r := readTarget(t, tc.target)
		if r == nil {
			if !tc.goRefuses {
				t.Errorf("%s: Go's parser refuses it", tc.target)
			}
			continue
		}
		if tc.goRefuses {
			t.Errorf("%s: Go's parser accepts it (path %q, raw %q)", tc.target, r.URL.Path, r.URL.RawPath)
			continue
		}
		why := ambiguousPath(r.URL)
		if (why != "") != tc.refused {
			t.Errorf("%s (path %q, raw %q): refused %q, want refused %v", tc.target, r.URL.Path, r.URL.RawPath, why, tc.refused)
		}
		if got := p.isPublic(r); got != tc.public {
			t.Errorf("%s: public %v, want %v", tc.target, got, tc.public)
		}
	}
}

// TestAuthorizeRefusesAmbiguousPaths: the first gateway answers 400 to an
// ambiguous path whoever asks, anonymous or signed in, on a site with
// public paths or without (a `handle /admin/*` block's rules are bypassed
// by /admin;x/ as much as a public path is widened by /public/..;/).
func TestAuthorizeRefusesAmbiguousPaths(t *testing.T) {
	for _, pol := range []Policy{
		{PublicPaths: []string{"/healthz", "/public/*", "*.css"}},
		{AllowAnonymous: true},
		{},
	} {
		f := newRuleFixture(t, ModeAllow, pol)
		cookies := f.start(t)
		for _, tc := range pathCases {
			if tc.goRefuses {
				continue
			}
			for _, signedIn := range []bool{false, true} {
				r := readTarget(t, tc.target)
				r.Header.Set("Accept", "text/html")
				r.Header.Set("X-Forwarded-User", "admin")
				if signedIn {
					for _, c := range cookies {
						r.AddCookie(c)
					}
				}
				rec := httptest.NewRecorder()
				ok := f.gw.Guard(rec, r)
				if ok == tc.refused || tc.refused && rec.Code != http.StatusBadRequest {
					t.Errorf("%+v %s signed in %v: passed %v, status %d, want refused %v", pol, tc.target, signedIn, ok, rec.Code, tc.refused)
				}
				if tc.refused && !strings.Contains(rec.Body.String(), "could read as a different page") {
					t.Errorf("%s: the refusal does not say why: %s", tc.target, rec.Body)
				}
				if r.Header.Get("X-Forwarded-User") != "" {
					t.Errorf("%s: a forged identity header survived", tc.target)
				}
			}
		}
	}
}

func TestCompilePublicPathsRefuseAmbiguous(t *testing.T) {
	for _, s := range []string{"/public;x/*", "/a%2Fb", "/a\\b/*", "*;.css", "*%3F.css", "*.css.", "/a./*", "/x%2e/*", "*\uff0ecss", "/a\uff0f/*", "*.c\x00ss"} {
		if _, err := compilePolicy(Policy{PublicPaths: []string{s}}); err == nil {
			t.Errorf("allow anonymous %s: accepted, but no request could match it", s)
		}
	}
}

// TestPathCheckAllocatesNothing: ordinary paths, as Go's server parses
// them, cost no allocation to check and to match.
func TestPathCheckAllocatesNothing(t *testing.T) {
	p, err := compilePolicy(Policy{PublicPaths: []string{"/healthz", "/public/*", "*.css"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"/", "/reports/q3?year=2026", "/public/a.css", "/public/x%20y", "/public/caf%C3%A9/%7Ea", "/app/v1.2/items/42/"} {
		r := readTarget(t, target)
		if n := testing.AllocsPerRun(200, func() {
			if ambiguousPath(r.URL) != "" {
				t.Fatal("refused")
			}
			p.isPublic(r)
		}); n != 0 {
			t.Errorf("%s: %v allocations, want 0", target, n)
		}
	}
}

func BenchmarkAmbiguousPath(b *testing.B) {
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET /app/reports/2026/q3/summary.html HTTP/1.1\r\nHost: a\r\n\r\n")))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ambiguousPath(r.URL)
	}
}

// FuzzAmbiguousPath: for any request target Go's server accepts, a path
// that ambiguousPath lets through reads the same to every kind of upstream
// reader the check stands in for: one that splits the forwarded (escaped)
// path on '/' and decodes each segment, one that decodes the whole path
// first, one that decodes twice, one that drops ;params, one that cleans
// dot segments or merges slashes, one that takes \ for / or trims trailing
// dots and spaces, and one that does not decode letters.
func FuzzAmbiguousPath(f *testing.F) {
	for _, tc := range pathCases {
		f.Add(tc.target)
	}
	f.Fuzz(func(t *testing.T, target string) {
		if strings.ContainsAny(target, " \r\n") {
			return // not one request line
		}
		r := readTarget(t, target)
		if r == nil || ambiguousPath(r.URL) != "" {
			return
		}
		p, esc := r.URL.Path, r.URL.EscapedPath()
		if p == "*" || p == "" {
			return
		}
		if strings.ContainsAny(p, ";\\%") || strings.ContainsAny(esc, ";\\") {
			t.Fatalf("%q: passed with ; \\ or %% (path %q, forwarded %q)", target, p, esc)
		}
		clean := path.Clean(p)
		if clean != p && clean+"/" != p {
			t.Fatalf("%q: passed but cleaning changes it: %q -> %q", target, p, clean)
		}
		if !utf8.ValidString(p) {
			t.Fatalf("%q: passed with invalid UTF-8", target)
		}
		ps, es := strings.Split(p, "/"), strings.Split(esc, "/")
		if len(ps) != len(es) {
			t.Fatalf("%q: forwarded as %q, which has other segments than %q", target, esc, p)
		}
		for i := range es {
			d, err := url.PathUnescape(es[i])
			if err != nil || d != ps[i] {
				t.Fatalf("%q: forwarded segment %q decodes to %q, checked %q", target, es[i], d, ps[i])
			}
			if s := ps[i]; s != "" && (s[len(s)-1] == '.' || s[len(s)-1] == ' ') {
				t.Fatalf("%q: segment %q ends in a dot or space", target, s)
			}
			for j := 0; j+2 < len(es[i]); j++ {
				if es[i][j] == '%' {
					if c := unhex(es[i][j+1])<<4 | unhex(es[i][j+2]); c < 0x80 && c != '~' && !strings.ContainsRune(" !\"$&'()*+,:<=>@[]^`{|}", rune(c)) {
						t.Fatalf("%q: forwarded %q encodes %q, which readers that do not decode see differently", target, esc, c)
					}
				}
			}
		}
	})
}
