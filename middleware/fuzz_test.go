package middleware

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/signing"
)

// Fuzz targets for what a client controls on the request path: the Cookie
// header and the bearer token. `go test` runs their seeds; to search,
// `go test ./middleware -run '^$' -fuzz FuzzStripCookie -fuzztime 2m`.

// FuzzStripCookie: whatever the Cookie header, after StripCookie neither
// Go's own cookie parser (as an upstream written in Go reads them) nor the
// gateway's reader finds the session or a shard, and every other cookie Go
// parsed before is still there with its value.
func FuzzStripCookie(f *testing.F) {
	const name = "gh_session"
	for _, seed := range []string{
		"gh_session=abc",
		"a=1; gh_session=abc; b=2",
		"gh_session-0=x; theme=dark; gh_session-1=y",
		" gh_session=abc ;;  a=1 ; ",
		"gh_session =abc; gh_session\t=d",
		`gh_session="quoted"; q="x;y"`,
		"gh_session_other=1; xgh_session=2; gh_session-x=3; gh_session-07=4",
		"note=gh_session; =gh_session; gh_session",
	} {
		f.Add(seed)
	}
	c, err := newTestCodec(name, [][]byte{make([]byte, CookieKeyLen)}, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	// The names an upstream must never receive: the session cookie and
	// each shard the codec may write.
	ours := map[string]bool{name: true}
	for i := range maxShards {
		ours[c.shardName(i)] = true
	}
	f.Fuzz(func(t *testing.T, line string) {
		before := (&http.Request{Header: http.Header{"Cookie": {line}}}).Cookies()
		r := &http.Request{Header: http.Header{"Cookie": {line}}}
		c.StripCookie(r.Header)
		for _, ck := range r.Cookies() {
			if ours[ck.Name] {
				t.Fatalf("%q: after stripping, Go's parser still finds %s=%q in %q", line, ck.Name, ck.Value, r.Header["Cookie"])
			}
		}
		for n := range ours {
			if v, ok := cookieValue(r, n); ok {
				t.Fatalf("%q: after stripping, the gateway still reads %s=%q", line, n, v)
			}
		}
		after := map[string]int{}
		for _, ck := range r.Cookies() {
			after[ck.Name+"="+ck.Value]++
		}
		for _, ck := range before {
			if ours[ck.Name] {
				continue
			}
			if after[ck.Name+"="+ck.Value] == 0 {
				t.Fatalf("%q: stripping lost %s=%q (left %q)", line, ck.Name, ck.Value, r.Header["Cookie"])
			}
			after[ck.Name+"="+ck.Value]--
		}
	})
}

// FuzzSessionCookie: whatever the Cookie header, reading and decoding it
// never panics, and the only session it can yield is the one the codec
// sealed (a seed); no other bytes open as a session.
func FuzzSessionCookie(f *testing.F) {
	c := mustCodec(f, time.Hour, newCookieKey(f))
	want := sampleSession()
	sealed, err := c.Encode(want)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(c.Name() + "=" + sealed)
	f.Add("a=1; " + c.Name() + "-0=" + sealed[:len(sealed)/2] + "; " + c.Name() + "-1=" + sealed[len(sealed)/2:])
	f.Add(c.Name() + "=" + sealed[:len(sealed)-1])
	f.Add(c.Name() + `="` + sealed + `"`)
	f.Add(c.Name() + "=" + strings.Repeat("A", 5000))
	f.Add(c.Name() + "-0=x; " + c.Name() + "-1=" + sealed)
	f.Fuzz(func(t *testing.T, header string) {
		r := &http.Request{Header: http.Header{"Cookie": {header}}}
		value, err := c.Read(r)
		if err != nil {
			return
		}
		got, err := c.Decode(value)
		if err != nil {
			return
		}
		if got.ID != want.ID || got.UserID != want.UserID || got.AuthTime != want.AuthTime || got.Expires != want.Expires {
			t.Fatalf("%q opened as a session the codec never sealed: %+v", header, got)
		}
	})
}

// FuzzBearerToken: whatever the token, the gateway answers without
// panicking, and it lets through only the token the pool signed (a seed).
func FuzzBearerToken(f *testing.F) {
	bf := newBearerFixture(f, ModeAuthenticate, Policy{})
	valid := mint(f, bf.keys.CurrentFor(signing.ES256), bf.claims(), nil)
	head, rest, _ := strings.Cut(valid, ".")
	payload, sig, _ := strings.Cut(rest, ".")
	for _, seed := range []string{
		valid,
		head + "." + payload + ".",
		head + "." + payload,
		head + "." + payload + "." + sig + ".x",
		"eyJhbGciOiJub25lIn0." + payload + ".",
		head + ".." + sig,
		"...",
		"not a token",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		ok, _, rec := bf.call("Bearer "+tok, nil)
		if ok && tok != valid {
			t.Fatalf("token %q let through", tok)
		}
		if !ok && tok == valid {
			t.Fatalf("the pool's own token refused: %d %s", rec.Code, rec.Body)
		}
	})
}
