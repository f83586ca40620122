package web

import (
	"html"
	"net/http"
	"regexp"
	"testing"
)

// The hosted pages end a form whose outcome lies beyond them (a sign-in's
// return-to, a sign-out's address) in a continue page: 200 with a meta
// refresh and a Continue link, both to the same place.
var (
	continueRefresh = regexp.MustCompile(`<meta http-equiv="refresh" content="0; url=([^"]*)">`)
	continueLink    = regexp.MustCompile(`<a class="button" href="([^"]*)" id="continue">`)
)

// ContinueTarget returns where a continue page sends the browser, and
// whether status and body are one: status 200, exactly one meta refresh,
// and a Continue link to the same address. Plain-HTTP tests use it where a
// browser would follow the page.
func ContinueTarget(status int, body string) (string, bool) {
	if status != 200 {
		return "", false
	}
	refresh := continueRefresh.FindAllStringSubmatch(body, -1)
	link := continueLink.FindStringSubmatch(body)
	if len(refresh) != 1 || link == nil {
		return "", false
	}
	to := html.UnescapeString(refresh[0][1])
	if to == "" || html.UnescapeString(link[1]) != to {
		return "", false
	}
	return to, true
}

// ContinuePage returns where the continue page answering a form's POST
// sends the browser on, failing the test (naming what) unless the answer is
// one: not a redirect, which Chromium would hold to the form's form-action
// 'self'.
func ContinuePage(t testing.TB, what string, resp *http.Response, body string) string {
	t.Helper()
	to, ok := ContinueTarget(resp.StatusCode, body)
	if !ok || resp.Header.Get("Location") != "" {
		t.Fatalf("%s: status %d, Location %q; want the continue page:\n%s", what, resp.StatusCode, resp.Header.Get("Location"), body)
	}
	return to
}
