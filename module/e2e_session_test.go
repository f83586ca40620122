package module_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/middleware/albdata"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/golang-jwt/jwt/v5"
)

// sessionCookies returns the Cookie header value a browser holding c's
// cookies sends to rawURL, to replay it from another client.
func sessionCookies(t *testing.T, c *http.Client, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, ck := range c.Jar.Cookies(u) {
		if strings.HasPrefix(ck.Name, "gatehouse_session") {
			parts = append(parts, ck.Name+"="+ck.Value)
		}
	}
	if len(parts) == 0 {
		t.Fatal("the client holds no session cookie")
	}
	return strings.Join(parts, "; ")
}

// replay sends a GET with exactly the given Cookie header from a fresh client.
func replay(t *testing.T, rawURL, cookie string) *http.Response {
	t.Helper()
	resp, _ := get(t, testenv.Browser(t), rawURL, http.Header{"Cookie": {cookie}})
	return resp
}

func TestLogoutRevokesTheSession(t *testing.T) {
	s := startSite(t, "", map[string]string{"app": "pool default\nlogout_redirect /signed-out"})
	createAda(t, s)
	base := s.url("app", "")
	c := testenv.Browser(t)
	signIn(t, c, base, "/", adaEmail, adaPassword)
	copied := sessionCookies(t, c, base)
	if resp := replay(t, base+"/private", copied); resp.StatusCode != http.StatusOK {
		t.Fatalf("copied cookie before logout: status %d, want 200", resp.StatusCode)
	}

	resp, _ := get(t, c, base+"/_gatehouse/logout", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/signed-out" {
		t.Fatalf("logout: status %d to %q, want 303 to /signed-out", resp.StatusCode, resp.Header.Get("Location"))
	}
	if ck := cookieNamed(resp, "gatehouse_session"); ck == nil || ck.MaxAge >= 0 {
		t.Fatalf("logout did not expire the session cookie: %v", ck)
	}
	if resp, _ := get(t, c, base+"/private", nil); resp.StatusCode != http.StatusFound {
		t.Errorf("after logout, the browser got %d, want 302 to sign in", resp.StatusCode)
	}
	if resp := replay(t, base+"/private", copied); resp.StatusCode != http.StatusFound {
		t.Errorf("a copy of the logged-out cookie got %d, want 302 to sign in", resp.StatusCode)
	}
}

func TestUnauthenticatedModes(t *testing.T) {
	s := startSite(t, "", map[string]string{
		"deny":  "on_unauthenticated deny",
		"allow": "on_unauthenticated allow",
		"auth":  "on_unauthenticated authenticate",
	})
	forged := http.Header{"X-Amzn-Oidc-Identity": {"attacker"}, "x-auth-request-email": {"a@evil.example"}}
	cases := []struct {
		site, method, accept string
		wantStatus           int
		wantType             string // prefix of Content-Type
		wantUpstream         bool
	}{
		{"deny", "GET", "text/html", http.StatusUnauthorized, "text/html", false},
		{"deny", "GET", "application/json", http.StatusUnauthorized, "application/json", false},
		{"allow", "GET", "text/html", http.StatusOK, "text/plain", true},
		{"allow", "POST", "application/json", http.StatusOK, "text/plain", true},
		{"auth", "GET", "text/html,application/xhtml+xml", http.StatusFound, "", false},
		{"auth", "GET", "application/json", http.StatusUnauthorized, "application/json", false},
		{"auth", "POST", "text/html", http.StatusUnauthorized, "text/html", false},
	}
	for _, tc := range cases {
		t.Run(tc.site+" "+tc.method+" "+tc.accept, func(t *testing.T) {
			before := s.upstream.Count()
			req, err := http.NewRequest(tc.method, s.url(tc.site, "/thing"), nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Accept", tc.accept)
			for k, v := range forged {
				req.Header[k] = v
			}
			resp, body := do(t, testenv.Browser(t), req)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, body)
			}
			if !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.wantType) {
				t.Errorf("Content-Type %q, want %q", resp.Header.Get("Content-Type"), tc.wantType)
			}
			if tc.wantType == "application/json" {
				var e map[string]any
				if err := json.Unmarshal([]byte(body), &e); err != nil || e["error"] == nil {
					t.Errorf("JSON error body %q: %v", body, err)
				}
			}
			reached := s.upstream.Count() > before
			if reached != tc.wantUpstream {
				t.Fatalf("upstream reached: %v, want %v", reached, tc.wantUpstream)
			}
			if reached {
				for name := range s.upstream.Last().Header {
					l := strings.ToLower(name)
					if strings.HasPrefix(l, "x-amzn-oidc") || strings.HasPrefix(l, "x-auth-request") {
						t.Errorf("anonymous request reached the upstream with %s", name)
					}
				}
			}
		})
	}
}

func TestNoOpenRedirect(t *testing.T) {
	s := startSite(t, "", map[string]string{"app": ""})
	createAda(t, s)
	base := s.url("app", "")
	for _, rd := range []string{
		"//evil.com", "https://evil.com", `/\evil.com`, "/%2F%2Fevil.com", "%2F%2Fevil.com",
		"/%5Cevil.com", "///evil.com", "/\t/evil.com", "javascript:alert(1)", "http:evil.com",
		"https:/evil.com", "/%252F%252Fevil.com",
	} {
		t.Run(rd, func(t *testing.T) {
			c := testenv.Browser(t)
			if _, loc := signIn(t, c, base, rd, adaEmail, adaPassword); loc != "/" {
				t.Errorf("return-to %q redirected to %q, want /", rd, loc)
			}
		})
	}
	// A redirect to the sign-in page built from a crafted path stays local.
	resp, _ := get(t, testenv.Browser(t), base+"//evil.com/x", nil)
	if loc := resp.Header.Get("Location"); strings.Contains(loc, "evil.com") && !strings.HasPrefix(loc, "/_gatehouse/signin?rd=") {
		t.Errorf("unauthenticated //evil.com/x redirected to %q", loc)
	}
}

// TestRevocationFromAnotherProcess disables a user through a second handle
// on the store, as the CLI does, and checks the running server refuses the
// session within the refresh interval.
func TestRevocationFromAnotherProcess(t *testing.T) {
	s := startSite(t, "", map[string]string{"app": ""})
	ada := createAda(t, s)
	base := s.url("app", "")
	c := testenv.Browser(t)
	signIn(t, c, base, "/", adaEmail, adaPassword)
	if resp, _ := get(t, c, base+"/", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("signed in: status %d", resp.StatusCode)
	}
	if err := s.pool.Pool.SetEnabled(context.Background(), ada.ID, false); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, _ := get(t, c, base+"/", nil)
		if resp.StatusCode == http.StatusFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("disabled user still served after 5s (status %d)", resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// And a disabled user cannot sign in again.
	csrf := signInForm(t, c, base, "/")
	if resp, _ := postSignIn(t, c, base, csrf, "/", adaEmail, adaPassword); resp.StatusCode != http.StatusForbidden {
		t.Errorf("disabled user sign-in: status %d, want 403", resp.StatusCode)
	}
}

// TestRestartKeepsSessions stops Caddy and starts it again on the same
// store: the cookie and signing keys come from the store, so the session
// and the data header's key survive.
func TestRestartKeepsSessions(t *testing.T) {
	s := startSite(t, "", map[string]string{"app": ""})
	createAda(t, s)
	base := s.url("app", "")
	c := testenv.Browser(t)
	signIn(t, c, base, "/", adaEmail, adaPassword)
	get(t, c, base+"/", nil)
	kidBefore := jwtHeader(t, s.upstream.Last().Header.Get("X-Amzn-Oidc-Data"))["kid"]

	s.stop()
	s.start()

	resp, _ := get(t, c, base+"/after-restart", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after restart: status %d, want 200", resp.StatusCode)
	}
	if kid := jwtHeader(t, s.upstream.Last().Header.Get("X-Amzn-Oidc-Data"))["kid"]; kid != kidBefore {
		t.Errorf("signing key changed across restart: %v -> %v", kidBefore, kid)
	}
	verifyALBData(t, s.upstream.Last().Header.Get("X-Amzn-Oidc-Data"), base+"/_gatehouse/public-keys/", albdata.DefaultARN("default"))
}

// jwtHeader decodes a JWT's JOSE header without verifying it; segments may
// be padded (ALB style) or not.
func jwtHeader(t *testing.T, token string) map[string]any {
	t.Helper()
	seg := strings.TrimRight(strings.Split(token, ".")[0], "=")
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	var h map[string]any
	if err != nil || json.Unmarshal(raw, &h) != nil {
		t.Fatalf("not a JWT: %q", token)
	}
	return h
}

// TestLargeSessionCookie gives a user 300 groups with long names and long
// attributes: the session cookie stays one small cookie, every request and
// sign-out get through Caddy's 16 KiB header limit, the upstream gets every
// group, and a Caddy that never saw the session (a restart, as another
// instance would be) reads the claims from the store and serves it too.
func TestLargeSessionCookie(t *testing.T) {
	s := startSite(t, "", map[string]string{"app": "pass_access_token"})
	var groups []string
	for i := 0; i < 300; i++ {
		groups = append(groups, fmt.Sprintf("team-with-a-rather-long-name-for-its-group-%03d", i))
	}
	ada := createAda(t, s, groups...)
	name := strings.Repeat("Augusta Ada King, Countess of Lovelace; ", 50)
	if err := s.pool.Store.UpdateUser(context.Background(), ada.ID, store.UserUpdate{Name: &name,
		SetAttributes: map[string]string{"custom:bio": strings.Repeat("mathematician ", 300)}}); err != nil {
		t.Fatal(err)
	}
	base := s.url("app", "")
	c := testenv.Browser(t)
	resp, _ := signIn(t, c, base, "/", adaEmail, adaPassword)
	total := 0
	for _, line := range resp.Header["Set-Cookie"] {
		if strings.HasPrefix(line, "gatehouse_session") {
			total += len(line)
		}
	}
	if total == 0 || total > 4096 {
		t.Fatalf("the session's Set-Cookie lines total %d bytes, want some and at most 4096", total)
	}
	t.Logf("session Set-Cookie for 300 groups: %d bytes", total)
	wantGroups := strings.Join(groups, ",")
	check := func(what string) {
		t.Helper()
		r, _ := get(t, c, base+"/reports", nil)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d, want 200", what, r.StatusCode)
		}
		h := s.upstream.Last().Header
		if h.Get("X-Auth-Request-User") != ada.ID || h.Get("X-Auth-Request-Groups") != wantGroups {
			t.Errorf("%s: upstream got user %q and a groups header of %d bytes, want %d", what, h.Get("X-Auth-Request-User"), len(h.Get("X-Auth-Request-Groups")), len(wantGroups))
		}
		if h.Get("X-Amzn-Oidc-Accesstoken") == "" || h.Get("X-Amzn-Oidc-Data") == "" {
			t.Errorf("%s: no signed headers", what)
		}
	}
	check("the Caddy that signed in")
	s.stop()
	s.start()
	check("a Caddy that never saw the session")

	resp, _ = get(t, c, base+"/_gatehouse/logout", nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: status %d, want 303", resp.StatusCode)
	}
	if r, _ := get(t, c, base+"/reports", nil); r.StatusCode != http.StatusFound {
		t.Errorf("after sign-out: status %d, want 302 to sign in", r.StatusCode)
	}

	// What an earlier version made of such a user: eight shards, over
	// Caddy's header limit, so refused before Gatehouse sees the request.
	// Nothing server-side can clear it; no session cookie gets this large
	// any more (README, "Large sessions").
	old := make([]string, 8)
	for i := range old {
		old[i] = fmt.Sprintf("gatehouse_session-%d=%s", i, strings.Repeat("x", 3800))
	}
	if r := replay(t, base+"/_gatehouse/logout", strings.Join(old, "; ")); r.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("an 8-shard cookie: status %d, want Caddy's 431", r.StatusCode)
	}
}

func TestAccessTokenAndCustomHeaders(t *testing.T) {
	s := startSite(t, "", map[string]string{"app": `pass_access_token
		signer arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/mine/abc
		client_id webapp
		header X-Remote-User {email}
		header X-Remote-Who "{name} <{email}>"`})
	ada := createAda(t, s, "ops")
	base := s.url("app", "")
	c := testenv.Browser(t)
	signIn(t, c, base, "/", adaEmail, adaPassword)
	get(t, c, base+"/", http.Header{"X-Auth-Request-User": {"kept"}})
	h := s.upstream.Last().Header
	if got := h.Get("X-Remote-User"); got != adaEmail {
		t.Errorf("X-Remote-User = %q", got)
	}
	if got := h.Get("X-Remote-Who"); got != "Ada Lovelace <"+adaEmail+">" {
		t.Errorf("X-Remote-Who = %q", got)
	}
	// Custom headers replace the defaults: the default names are no longer
	// injected, but a client's copy is still removed (an app may still
	// trust them; see TestClientIdentityHeadersNeverReachTheUpstream).
	if got, ok := h["X-Auth-Request-User"]; ok {
		t.Errorf("X-Auth-Request-User = %q, want the client's copy removed", got)
	}
	hdr, _ := verifyALBData(t, h.Get("X-Amzn-Oidc-Data"), base+"/_gatehouse/public-keys/", "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/mine/abc")
	if hdr["client"] != "webapp" {
		t.Errorf("client = %v", hdr["client"])
	}
	at := h.Get("X-Amzn-Oidc-Accesstoken")
	if at == "" {
		t.Fatal("no access token passed")
	}
	kid := jwtHeader(t, at)["kid"].(string)
	pub := fetchPublicKey(t, base+"/_gatehouse/public-keys/"+kid)
	tok, err := jwt.Parse(at, func(*jwt.Token) (any, error) { return pub, nil }, jwt.WithValidMethods([]string{"ES256"}),
		jwt.WithIssuer("https://auth.example.test"), jwt.WithExpirationRequired())
	if err != nil {
		t.Fatalf("access token: %v", err)
	}
	cl := tok.Claims.(jwt.MapClaims)
	if cl["sub"] != ada.ID || cl["token_use"] != "access" || cl["client_id"] != "webapp" {
		t.Errorf("access token claims %v", cl)
	}
}

// TestClaimsRefresh changes a user's groups after sign-in: after the
// claims_refresh interval, the upstream sees the new groups in a freshly
// signed header.
func TestClaimsRefresh(t *testing.T) {
	s := startSite(t, "", map[string]string{"app": "claims_refresh 300ms"})
	ada := createAda(t, s, "staff")
	base := s.url("app", "")
	c := testenv.Browser(t)
	signIn(t, c, base, "/", adaEmail, adaPassword)
	get(t, c, base+"/", nil)
	first := s.upstream.Last().Header.Get("X-Amzn-Oidc-Data")
	if err := s.pool.Pool.AddToGroup(context.Background(), ada.ID, "admins"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond) // past claims_refresh
	resp, _ := get(t, c, base+"/", nil)
	if cookieNamed(resp, "gatehouse_session") == nil {
		t.Errorf("refresh did not re-issue the session cookie")
	}
	h := s.upstream.Last().Header
	if got := h.Get("X-Auth-Request-Groups"); got != "admins,staff" {
		t.Errorf("groups after refresh = %q, want admins,staff", got)
	}
	if h.Get("X-Amzn-Oidc-Data") == first {
		t.Errorf("data header not re-signed after refresh")
	}
	_, claims := verifyALBData(t, h.Get("X-Amzn-Oidc-Data"), base+"/_gatehouse/public-keys/", albdata.DefaultARN("default"))
	if g, _ := json.Marshal(claims["groups"]); string(g) != `["admins","staff"]` {
		t.Errorf("refreshed data groups = %s", g)
	}
	// A user deleted meanwhile loses the session at the next refresh.
	if err := s.pool.Pool.DeleteUser(context.Background(), ada.ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond) // past claims_refresh
	if resp, _ := get(t, c, base+"/", nil); resp.StatusCode != http.StatusFound {
		t.Errorf("deleted user: status %d, want 302", resp.StatusCode)
	}
}

// TestClaimsRefreshOnce: requests that arrive together with a cookie past
// its refresh time share one refresh. Each reaches the upstream with the
// same newly signed X-Amzn-Oidc-Data (ES256 signatures differ every time,
// so one value means one signature) and gets the same renewed cookie.
func TestClaimsRefreshOnce(t *testing.T) {
	s := startSite(t, "", map[string]string{"app": "claims_refresh 1s"})
	createAda(t, s, "staff")
	base := s.url("app", "")
	c := testenv.Browser(t)
	signIn(t, c, base, "/", adaEmail, adaPassword)
	get(t, c, base+"/", nil)
	first := s.upstream.Last().Header.Get("X-Amzn-Oidc-Data")
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	old := c.Jar.Cookies(u)
	time.Sleep(1100 * time.Millisecond)

	// A client without a jar, as a page's parallel loads that all left
	// before the first answer came back.
	plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	const n = 20
	before := s.upstream.Count()
	renewed := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, base+"/page", nil)
			for _, ck := range old {
				req.AddCookie(ck)
			}
			resp, err := plain.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("request %d: %d", i, resp.StatusCode)
			}
			if ck := cookieNamed(resp, "gatehouse_session"); ck != nil {
				renewed[i] = ck.Value
			}
		})
	}
	wg.Wait()
	reqs := s.upstream.Since(before)
	if len(reqs) != n {
		t.Fatalf("upstream got %d requests, want %d", len(reqs), n)
	}
	data := reqs[0].Header.Get("X-Amzn-Oidc-Data")
	if data == "" || data == first {
		t.Fatalf("the first request after the refresh time carries no newly signed data")
	}
	signed := map[string]bool{}
	for _, r := range reqs {
		signed[r.Header.Get("X-Amzn-Oidc-Data")] = true
	}
	if len(signed) != 1 {
		t.Fatalf("%d requests reached the upstream with %d different signatures: want one refresh for all", n, len(signed))
	}
	for i, v := range renewed {
		if v == "" || v != renewed[0] {
			t.Fatalf("request %d got renewed cookie %.20q, request 0 %.20q: want one renewed cookie for all", i, v, renewed[0])
		}
	}
}

// TestUpstreamNeverSeesTheSession: the gateway removes its session cookie
// (and shards) from what it proxies, keeping the request's other cookies;
// pass_session_cookie keeps it for an upstream that wants it.
func TestUpstreamNeverSeesTheSession(t *testing.T) {
	s := startSite(t, "", map[string]string{
		"app":  "pool default",
		"pass": "pool default\n\t\tpass_session_cookie",
	})
	createAda(t, s)
	c := testenv.Browser(t)
	signIn(t, c, s.url("app", ""), "/", adaEmail, adaPassword)
	for _, tc := range []struct {
		site       string
		wantCookie bool
	}{{"app", false}, {"pass", true}} {
		req, _ := http.NewRequest(http.MethodGet, s.url(tc.site, "/private"), nil)
		req.AddCookie(&http.Cookie{Name: "theme", Value: "dark"})
		req.AddCookie(&http.Cookie{Name: "gatehouse_session_note", Value: "not-ours"})
		resp, body := do(t, c, req)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", tc.site, resp.StatusCode, body)
		}
		got := s.upstream.Last().Header.Values("Cookie")
		joined := strings.Join(got, "; ")
		if !strings.Contains(joined, "theme=dark") || !strings.Contains(joined, "gatehouse_session_note=not-ours") {
			t.Fatalf("%s: upstream lost the other cookies: %q", tc.site, got)
		}
		if has := strings.Contains(joined, "gatehouse_session="); has != tc.wantCookie {
			t.Fatalf("%s: upstream Cookie %q; session cookie passed = %v, want %v", tc.site, got, has, tc.wantCookie)
		}
	}
}

// TestSessionAccessTokenIsNotABearer: the access token a gateway passes its
// upstream (X-Amzn-Oidc-Accesstoken) is not a token of one of the pool's
// clients, so another site of the pool refuses it as a bearer token; a site
// that names the gateway's client id takes it, until the session ends.
func TestSessionAccessTokenIsNotABearer(t *testing.T) {
	s := startSite(t, "", map[string]string{
		"app":    "pass_access_token",
		"api":    "on_unauthenticated deny",
		"opt-in": "on_unauthenticated deny\njwt_issuer https://auth.example.test {\naudience gatehouse\n}",
	})
	ada := createAda(t, s, "staff")
	c := testenv.Browser(t)
	signIn(t, c, s.url("app", ""), "/", adaEmail, adaPassword)
	get(t, c, s.url("app", "/"), nil)
	tok := s.upstream.Last().Header.Get("X-Amzn-Oidc-Accesstoken")
	if tok == "" {
		t.Fatal("no access token passed to the upstream")
	}
	bearer := func(site string) (*http.Response, string) {
		t.Helper()
		return get(t, testenv.Browser(t), s.url(site, "/data"), http.Header{"Authorization": {"Bearer " + tok}, "Accept": {"application/json"}})
	}
	for _, site := range []string{"api", "app"} {
		if resp, body := bearer(site); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("%s: the session's token as a bearer token got %d %q: %s", site, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
		}
	}
	if resp, body := bearer("opt-in"); resp.StatusCode != http.StatusOK || s.upstream.Last().Header.Get("X-Amzn-Oidc-Identity") != ada.ID {
		t.Fatalf("a site naming the gateway's client: %d: %s", resp.StatusCode, body)
	}
	if resp, _ := get(t, c, s.url("app", "/_gatehouse/logout"), nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", resp.StatusCode)
	}
	if resp, body := bearer("opt-in"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("after sign-out, the session's token got %d: %s", resp.StatusCode, body)
	}
}

// TestSessionAccessTokenUserinfo: an upstream may call the pool's userinfo
// with the session's access token, as behind an ALB, until the session is
// signed out.
func TestSessionAccessTokenUserinfo(t *testing.T) {
	dir := t.TempDir()
	up := testenv.StartUpstream(t)
	issuer := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	app := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	text := fmt.Sprintf(`{
	default_bind 127.0.0.1
	gatehouse {
		pool default {
			store sqlite %s
			issuer %s
			revocation_refresh 100ms
			%s
		}
	}
}
%s {
	gatehouse_idp {
		pool default
	}
	respond "issuer home"
}
%s {
	gatehouse {
		pass_access_token
	}
	reverse_proxy %s
}
`, filepath.Join(dir, "gatehouse.db"), issuer, testenv.FastHash, issuer, app, up.Addr())
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	testenv.StartCaddy(t, text)
	testenv.WaitHTTP(t, issuer+"/.well-known/openid-configuration", 5*time.Second)
	p := openPoolFile(t, file)
	if _, err := p.Pool.CreateUser(context.Background(), pool.NewUser{Email: adaEmail, Password: adaPassword, Name: "Ada Lovelace", EmailVerified: true}); err != nil {
		t.Fatal(err)
	}
	c := testenv.Browser(t)
	signIn(t, c, app, "/", adaEmail, adaPassword)
	get(t, c, app+"/", nil)
	tok := up.Last().Header.Get("X-Amzn-Oidc-Accesstoken")
	userinfo := func() int {
		resp, _ := get(t, testenv.Browser(t), issuer+"/oauth2/userInfo", http.Header{"Authorization": {"Bearer " + tok}})
		return resp.StatusCode
	}
	if got := userinfo(); got != http.StatusOK {
		t.Fatalf("userinfo with the session's token: %d, want 200", got)
	}
	get(t, c, app+"/_gatehouse/logout", nil)
	if got := userinfo(); got != http.StatusUnauthorized {
		t.Errorf("userinfo after sign-out: %d, want 401", got)
	}
}
