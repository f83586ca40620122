package oidc

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// FuzzEndpoints sends what any client on the network can send to the
// provider's endpoints: whatever method, query, body, Content-Type and
// Authorization. Whatever it is, the answer is no 5xx and no panic, a
// redirect goes only to a registered redirect URI or to this issuer, and
// the token endpoint grants nothing to a caller that did not show the
// client's secret. `go test` runs the seeds; to search,
// `go test ./oidc -run '^$' -fuzz FuzzEndpoints -fuzztime 2m`.
func FuzzEndpoints(f *testing.F) {
	const secret = "fuzz-machine-secret-0123456789"
	p := testProvider(f,
		&Client{ID: "web", Secret: "fuzz-web-secret-0123456789ab", RedirectURIs: []string{"https://app.test/cb"},
			PostLogoutRedirectURIs: []string{"https://app.test/bye"}},
		&Client{ID: "spa", Public: true, RedirectURIs: []string{"http://127.0.0.1:8000/cb"}},
		&Client{ID: "machine", Secret: secret, GrantTypes: []string{GrantClientCredentials}, Scopes: []string{"orders/read"}},
	)
	paths := []string{TokenPath, RevokePath, UserInfoPath, AuthorizePath, LogoutPath, DiscoveryPath, JWKSPath,
		LoginPath, SignUpEntryPath, ForgotPasswordPath}
	form := "application/x-www-form-urlencoded"
	for _, s := range []struct {
		path              uint8
		method, query     string
		contentType, body string
		authorization     string
	}{
		{0, "POST", "", form, "grant_type=client_credentials&client_id=machine&client_secret=" + secret, ""},
		{0, "POST", "", form, "grant_type=client_credentials&scope=orders/read", "Basic " + basic("machine", secret)},
		{0, "POST", "", form, "grant_type=authorization_code&code=x&redirect_uri=https://app.test/cb&client_id=spa&code_verifier=abc", ""},
		{0, "POST", "", form, "grant_type=refresh_token&refresh_token=abc&client_id=web", "Basic " + basic("web", "wrong")},
		{1, "POST", "", form, "token=abc&token_type_hint=refresh_token", "Basic " + basic("machine", secret)},
		{2, "GET", "", "", "", "Bearer abc.def.ghi"},
		{3, "GET", "client_id=web&redirect_uri=https://app.test/cb&response_type=code&scope=openid&state=s", "", "", ""},
		{3, "GET", "client_id=spa&redirect_uri=http://127.0.0.1:8000/cb&response_type=token&state=s", "", "", ""},
		{3, "POST", "", form, "client_id=web&redirect_uri=https://evil.test/cb&response_type=code", ""},
		{4, "GET", "client_id=web&post_logout_redirect_uri=https://app.test/bye&state=x", "", "", ""},
		{4, "GET", "post_logout_redirect_uri=https://evil.test/", "", "", ""},
		{5, "GET", "", "", "", ""},
		{6, "OPTIONS", "", "", "", ""},
		{7, "GET", "client_id=web&redirect_uri=https://app.test/cb&response_type=code&scope=openid&state=s", "", "", ""},
		{8, "GET", "client_id=web&redirect_uri=https://evil.test/cb&response_type=code&scope=openid", "", "", ""},
		{9, "GET", "client_id=spa&redirect_uri=http://127.0.0.1:8000/cb&response_type=code&scope=openid&state=s", "", "", ""},
		{9, "GET", "", "", "", ""},
	} {
		f.Add(s.path, s.method, s.query, s.contentType, s.body, s.authorization)
	}
	f.Fuzz(func(t *testing.T, path uint8, method, query, contentType, body, authorization string) {
		target := "https://auth.example.test" + paths[int(path)%len(paths)]
		r, err := http.NewRequest(method, target, strings.NewReader(body))
		if err != nil {
			return // not a request a server could receive
		}
		r.URL.RawQuery = query
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		if authorization != "" {
			r.Header.Set("Authorization", authorization)
		}
		rec := httptest.NewRecorder()
		if !p.Serve(rec, r) {
			// Cognito's entry points are the site's without a client_id.
			if int(path)%len(paths) >= 7 && !r.URL.Query().Has("client_id") {
				return
			}
			t.Fatalf("%s %s: not served", method, target)
		}
		if rec.Code >= 500 {
			t.Fatalf("%s %s?%s %q: status %d: %s", method, target, query, body, rec.Code, rec.Body)
		}
		if loc := rec.Header().Get("Location"); loc != "" && rec.Code/100 == 3 {
			u, err := url.Parse(loc)
			if err != nil {
				t.Fatalf("unparseable Location %q", loc)
			}
			base := u.Scheme + "://" + u.Host + u.Path
			// A path on this host; "//x" and "/\\x" would be other hosts to a browser.
			local := u.Scheme == "" && u.Host == "" && strings.HasPrefix(loc, "/") &&
				!strings.HasPrefix(loc, "//") && !strings.HasPrefix(loc, "/\\")
			if !local && u.Host != "auth.example.test" && base != "https://app.test/cb" && base != "https://app.test/bye" &&
				base != "http://127.0.0.1:8000/cb" {
				t.Fatalf("%s %s?%s %q: redirected to %q", method, target, query, body, loc)
			}
		}
		if paths[int(path)%len(paths)] == TokenPath && rec.Code == http.StatusOK && !showedSecret(body, authorization, secret) {
			t.Fatalf("token granted without the client's secret: %q %q: %s", body, authorization, rec.Body)
		}
	})
}

// basic is an RFC 6749 §2.3.1 Authorization value's credentials.
func basic(id, secret string) string {
	return base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret)))
}

// showedSecret reports whether a token request carried secret, in its form
// or its Basic credentials, however encoded.
func showedSecret(body, authorization, secret string) bool {
	if form, err := url.ParseQuery(body); err == nil && slices.Contains(form["client_secret"], secret) {
		return true
	}
	r := &http.Request{Header: http.Header{"Authorization": {authorization}}}
	_, pw, ok := r.BasicAuth()
	if !ok {
		return false
	}
	pw, err := url.QueryUnescape(pw)
	return err == nil && pw == secret
}
