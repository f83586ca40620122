// Package web is the browser side of Gatehouse's tests: an HTTP client
// that keeps cookies and shows each redirect, and the reading of the hosted
// pages' continue page. It is apart from testenv so that tests which serve
// Gatehouse's handlers with httptest (oidc's protocol tests) do not link
// Caddy; testenv forwards to it.
package web

import (
	"net/http"
	"net/http/cookiejar"
	"testing"
	"time"
)

// Browser returns an HTTP client with a cookie jar that does not follow
// redirects, so tests see each hop as a browser would make it.
func Browser(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
