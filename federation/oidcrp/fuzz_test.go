package oidcrp

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzCallback sends the redirect URI whatever query a browser can be
// made to carry, with or without the flow cookie of a sign-in begun here.
// Whatever it is, the answer is no panic and no 500, a redirect goes only
// to a path on this site or back to the provider's sign-in, and no more
// sessions start than the provider issued codes (one, in the seeds):
// no forged, replayed or mismatched callback signs anyone in. `go test`
// runs the seeds; to search,
// `go test ./federation/oidcrp -run '^$' -fuzz FuzzCallback -fuzztime 2m`.
func FuzzCallback(f *testing.F) {
	fi := newFakeIssuer(f)
	rp := newRP(f, fi, nil)
	sessions := &recordingSessions{}
	authURL, flowCookie := begin(f, rp)
	code, state := fi.authorize(f, authURL)
	for _, seed := range []struct {
		query      string
		withCookie bool
	}{
		{url.Values{"code": {code}, "state": {state}, "iss": {fi.issuer()}}.Encode(), true},
		{url.Values{"code": {code}, "state": {state}}.Encode(), true},
		{url.Values{"code": {"forged"}, "state": {state}}.Encode(), true},
		{url.Values{"code": {code}, "state": {"other"}}.Encode(), true},
		{url.Values{"code": {code}, "state": {state}, "iss": {"https://evil.test"}}.Encode(), true},
		{url.Values{"error": {"access_denied"}, "state": {state}}.Encode(), true},
		{url.Values{"code": {code}, "state": {state}}.Encode(), false},
		{"state=&code=&state=x", true},
	} {
		f.Add(seed.query, seed.withCookie)
	}
	f.Fuzz(func(t *testing.T, query string, withCookie bool) {
		r := httptest.NewRequest(http.MethodGet, site+CallbackPath, nil)
		r.URL.RawQuery = query
		if withCookie {
			r.AddCookie(flowCookie)
		}
		rec := httptest.NewRecorder()
		rp.ServeCallback(rec, r, sessions)
		if rec.Code == http.StatusInternalServerError {
			t.Fatalf("?%s: status 500: %s", query, rec.Body)
		}
		if loc := rec.Header().Get("Location"); loc != "" {
			local := strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//") && !strings.HasPrefix(loc, "/\\")
			if !local && !strings.HasPrefix(loc, fi.issuer()+"/authorize?") {
				t.Fatalf("?%s: redirected to %q", query, loc)
			}
		}
		if n := len(sessions.started()); n > 1 {
			t.Fatalf("?%s: %d sessions started from the one code the provider issued", query, n)
		}
	})
}
