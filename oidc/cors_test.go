package oidc_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestCORSPreflight: the endpoints single-page apps call from another
// origin answer a preflight for any origin, with the headers their
// libraries send (Amplify's code exchange adds X-Amz-User-Agent), and never
// allow credentials; the browser-navigation endpoints answer none.
func TestCORSPreflight(t *testing.T) {
	t.Parallel()
	s := startIssuer(t, issuerOptions{})
	preflight := func(path, headers string) *http.Response {
		req, err := http.NewRequest(http.MethodOptions, s.url+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", "https://spa.example.test")
		req.Header.Set("Access-Control-Request-Method", http.MethodPost)
		req.Header.Set("Access-Control-Request-Headers", headers)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, path := range []string{"/oauth2/token", "/oauth2/revoke", "/oauth2/userInfo"} {
		resp := preflight(path, "content-type,x-amz-user-agent")
		allowed := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers"))
		for _, h := range []string{"authorization", "content-type", "x-amz-user-agent"} {
			if !strings.Contains(allowed, h) {
				t.Errorf("%s preflight allows headers %q, want %s among them", path, allowed, h)
			}
		}
		if resp.StatusCode/100 != 2 || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s preflight: %d, Allow-Origin %q", path, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
		if resp.Header.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("%s preflight allows credentials", path)
		}
	}
	for _, path := range []string{"/oauth2/authorize", "/logout"} {
		if got := preflight(path, "content-type").Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("%s answers CORS (Allow-Origin %q): it is for navigations only", path, got)
		}
	}
}
