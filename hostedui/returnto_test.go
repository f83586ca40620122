package hostedui

import (
	"strings"
	"testing"
)

func TestSafeReturnTo(t *testing.T) {
	for _, tc := range []struct {
		raw string
		ok  bool
	}{
		{"/", true},
		{"/app", true},
		{"/app?x=1&y=2", true},
		{"/a/b#frag", true},
		{"/a/b/?q=%2F%2Fevil.com", true}, // "//" in the query, not at the start
		{"/a%20b", true},
		{"/caf%C3%A9", true},
		{"/café", true},
		{"/" + strings.Repeat("a", 2047), true},

		{"", false},
		{"//evil.com", false},
		{"https://evil.com", false},
		{"https://evil.com/path", false},
		{`/\evil.com`, false},
		{`/a\b`, false},
		{"/%2F%2Fevil.com", false},
		{"/%2f/evil.com", false},
		{"/%5Cevil.com", false},
		{"/%5cevil.com", false},
		{"/%252F%252Fevil.com", false}, // double encoded
		{"%2F%2Fevil.com", false},
		{"///evil.com", false},
		{"/\t/evil.com", false},
		{"/%09/evil.com", false},
		{"/\n/evil.com", false},
		{"/\r\nSet-Cookie: x=1", false},
		{"/a b", false},
		{"/\x00", false},
		{"/\x7f", false},
		{"javascript:alert(1)", false},
		{"JavaScript:alert(1)", false},
		{"http:evil.com", false},
		{"http:/evil.com", false},
		{"evil.com", false},
		{"app", false},
		{"./app", false},
		{"?x=1", false},
		{"#frag", false},
		{"/%zz", false},
		{"/\xff", false},
		{"/" + strings.Repeat("a", 2048), false},
	} {
		got, ok := SafeReturnTo(tc.raw)
		if ok != tc.ok {
			t.Errorf("SafeReturnTo(%q) ok = %v, want %v", tc.raw, ok, tc.ok)
		}
		want := "/"
		if tc.ok {
			want = tc.raw
		}
		if got != want {
			t.Errorf("SafeReturnTo(%q) = %q, want %q", tc.raw, got, want)
		}
	}
}

func FuzzSafeReturnTo(f *testing.F) {
	for _, s := range []string{"/", "/app?x=1", "//evil.com", `/\evil`, "/%2F%2Fx", "/\t/x", "http:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, ok := SafeReturnTo(raw)
		if !ok {
			if got != "/" {
				t.Fatalf("refused %q but returned %q", raw, got)
			}
			return
		}
		if got != raw || !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") ||
			strings.ContainsAny(got, "\\ \t\r\n") || len(got) > maxReturnTo {
			t.Fatalf("accepted %q", raw)
		}
	})
}
