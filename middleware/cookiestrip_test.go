package middleware

import (
	"net/http"
	"slices"
	"testing"
	"time"
)

func TestStripCookie(t *testing.T) {
	c, err := newTestCodec("gh_session", [][]byte{make([]byte, CookieKeyLen)}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		in   []string
		want []string // nil: no Cookie header left
	}{
		{"none", nil, nil},
		{"only the session", []string{"gh_session=abc"}, nil},
		{"session among others", []string{"a=1; gh_session=abc; b=2"}, []string{"a=1; b=2"}},
		{"shards", []string{"gh_session-0=x; theme=dark; gh_session-1=y"}, []string{"theme=dark"}},
		{"several lines", []string{"a=1", "gh_session=abc", "b=2; gh_session-0=z"}, []string{"a=1", "b=2"}},
		{"look-alike names stay", []string{"gh_session_other=1; xgh_session=2; gh_session-x=3; gh_session-123=4"},
			[]string{"gh_session_other=1; xgh_session=2; gh_session-x=3; gh_session-123=4"}},
		{"only shard names Write sets go", []string{"gh_session-7=a; gh_session-07=b; gh_session-8=c; gh_session-10=d"},
			[]string{"gh_session-07=b; gh_session-8=c; gh_session-10=d"}},
		{"a bare name goes", []string{"a=1; gh_session; gh_session-0 ; b=2"}, []string{"a=1; b=2"}},
		{"what Go's parser trims is trimmed", []string{"a=1; gh_session\r=x;\ngh_session-1=y"}, []string{"a=1"}},
		{"value mentioning the name stays", []string{"note=gh_session"}, []string{"note=gh_session"}},
		{"spacing and empty parts", []string{" gh_session=abc ;;  a=1 ; "}, []string{"a=1"}},
		{"untouched without the name", []string{"a=1;b=2"}, []string{"a=1;b=2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.in != nil {
				h["Cookie"] = slices.Clone(tc.in)
			}
			c.StripCookie(h)
			got, ok := h["Cookie"]
			if tc.want == nil {
				if ok {
					t.Fatalf("Cookie = %q, want none", got)
				}
				return
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("Cookie = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestStripCookieAllocations(t *testing.T) {
	c, _ := newTestCodec("gh_session", [][]byte{make([]byte, CookieKeyLen)}, time.Hour)
	h := http.Header{}
	line := "_ga=GA1.2.3; theme=dark; lang=en"
	if n := testing.AllocsPerRun(100, func() {
		h["Cookie"] = []string{line}
		c.StripCookie(h)
	}); n > 1 { // the slice literal above
		t.Errorf("a request without the session cookie: %v allocations", n)
	}
	with := []string{"_ga=GA1.2.3; gh_session=" + string(make([]byte, 100)) + "; theme=dark"}
	cookie := make([]string, 1)
	if n := testing.AllocsPerRun(100, func() {
		cookie[0] = with[0]
		h["Cookie"] = cookie
		c.StripCookie(h)
	}); n > 1 {
		t.Errorf("a request with the session cookie: %v allocations, want 1", n)
	}
}
