package web

import (
	"io"
	"net/http"
	"testing"
)

// Get fetches rawURL with c, sending header as given (tests send
// non-canonical names on purpose), and returns the answer and its body.
func Get(t testing.TB, c *http.Client, rawURL string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return Do(t, c, req)
}

// Do sends req with c and returns the answer with its whole body read,
// failing the test if either cannot be had.
func Do(t testing.TB, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}
