package bench

import (
	"net/http"
	"testing"

	"github.com/gatehouse-auth/gatehouse/middleware"
)

// BenchmarkGuardAuthenticated is the common case: a request with a valid
// session whose decoded form is cached. Guard strips the identity headers
// (including the ones it injected on the previous iteration), scans the
// Cookie header, hits the cache, checks expiry and the deny list, and
// injects the identity headers.
func BenchmarkGuardAuthenticated(b *testing.B) {
	e := newEnv(b, fastHash)
	g, _ := e.newGateway(b, middleware.ModeDeny, 0)
	r := browserRequest(e.startSession(b, g))
	w := newDiscard()
	if !g.Guard(w, r) || r.Header.Get(middleware.HeaderIdentity) != e.user.ID {
		b.Fatal("session refused")
	}
	b.ReportAllocs()
	for b.Loop() {
		if !g.Guard(w, r) {
			b.Fatal("session refused")
		}
	}
}

// BenchmarkGuardStripCookie is BenchmarkGuardAuthenticated as the Caddy
// handler runs it by default: the session cookie is also removed from what
// the upstream gets, leaving the request's other cookies as one new string.
// The Cookie header is put back before each iteration from a preallocated
// slice.
func BenchmarkGuardStripCookie(b *testing.B) {
	e := newEnv(b, fastHash)
	g, _ := e.newGateway(b, middleware.ModeDeny, 0, func(c *middleware.Config) { c.StripSessionCookie = true })
	r := browserRequest(e.startSession(b, g))
	original := r.Header.Get("Cookie")
	line := []string{original}
	w := newDiscard()
	b.ReportAllocs()
	for b.Loop() {
		line[0] = original
		r.Header["Cookie"] = line
		if !g.Guard(w, r) {
			b.Fatal("session refused")
		}
	}
	if got := r.Header.Get("Cookie"); got != "_ga=GA1.2.1234567890.1700000000; theme=dark; lang=en" {
		b.Fatalf("upstream Cookie %q", got)
	}
}

// BenchmarkGuardAuthenticatedParallel is the same on every core at once,
// each goroutine with its own request, all sharing the cache and deny list.
func BenchmarkGuardAuthenticatedParallel(b *testing.B) {
	e := newEnv(b, fastHash)
	g, _ := e.newGateway(b, middleware.ModeDeny, 0)
	session := e.startSession(b, g)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := browserRequest(session)
		w := newDiscard()
		for pb.Next() {
			if !g.Guard(w, r) {
				b.Error("session refused")
				return
			}
		}
	})
}

// BenchmarkGuardColdDecode is a cache miss on every request: a cache of one
// entry and two sessions used in turn, so each Guard verifies the HMAC,
// decrypts and parses the cookie, builds the header values, and puts the
// entry (a copy of the cookie value, evicting the other one) before the same
// checks and injection as the warm case.
func BenchmarkGuardColdDecode(b *testing.B) {
	e := newEnv(b, fastHash)
	g, _ := e.newGateway(b, middleware.ModeDeny, 1)
	reqs := []*http.Request{browserRequest(e.startSession(b, g)), browserRequest(e.startSession(b, g))}
	w := newDiscard()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if !g.Guard(w, reqs[i&1]) {
			b.Fatal("session refused")
		}
		i++
	}
}

// BenchmarkCodecEncode encodes a session as Start makes it (the signed
// X-Amzn-Oidc-Data stays out of the cookie): JSON, AES-256-CTR,
// HMAC-SHA-256, base64.
func BenchmarkCodecEncode(b *testing.B) {
	e := newEnv(b, fastHash)
	g, codec := e.newGateway(b, middleware.ModeDeny, 0)
	s, err := codec.Decode(e.startSession(b, g))
	if err != nil {
		b.Fatal(err)
	}
	var v string
	b.ReportAllocs()
	for b.Loop() {
		if v, err = codec.Encode(s); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(v)), "cookie-bytes")
}

// BenchmarkCodecDecode is the reverse: base64, HMAC check, decryption, JSON.
func BenchmarkCodecDecode(b *testing.B) {
	e := newEnv(b, fastHash)
	g, codec := e.newGateway(b, middleware.ModeDeny, 0)
	v := e.startSession(b, g)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := codec.Decode(v); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(v)), "cookie-bytes")
}

// BenchmarkStripHeaders is Guard on a request without a session in allow
// mode: the strip of the identity headers, plus the Cookie scan that finds no
// session (which builds the first shard's name). "clean" carries no identity
// headers; "forged" carries four, in odd spellings, put back before each
// iteration with preallocated values.
func BenchmarkStripHeaders(b *testing.B) {
	e := newEnv(b, fastHash)
	g, _ := e.newGateway(b, middleware.ModeAllow, 0)
	b.Run("clean", func(b *testing.B) {
		r := browserRequest("")
		w := newDiscard()
		b.ReportAllocs()
		for b.Loop() {
			g.Guard(w, r)
		}
	})
	b.Run("forged", func(b *testing.B) {
		r := browserRequest("")
		w := newDiscard()
		forged := map[string][]string{
			"X-Amzn-Oidc-Identity":  {"admin"},
			"x_amzn_oidc_data":      {"forged.jwt.value"},
			"X-AUTH-REQUEST-GROUPS": {"admins"},
			"X-Auth-Request-Email":  {"root@example.com"},
		}
		b.ReportAllocs()
		for b.Loop() {
			for k, v := range forged {
				r.Header[k] = v
			}
			g.Guard(w, r)
		}
		//lint:ignore SA1008 the raw, non-canonical key a client may send is the point
		if len(r.Header["x_amzn_oidc_data"]) != 0 {
			b.Fatal("forged header survived")
		}
	})
}
