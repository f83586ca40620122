package module_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/middleware/albdata"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

const (
	adaEmail    = "ada@example.com"
	adaPassword = "correct horse battery staple"
)

func createAda(t *testing.T, s *site, groups ...string) *store.User {
	t.Helper()
	ctx := context.Background()
	u, err := s.pool.Pool.CreateUser(ctx, pool.NewUser{Email: adaEmail, Password: adaPassword, Name: "Ada Lovelace", EmailVerified: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		if err := s.pool.Pool.AddToGroup(ctx, u.ID, g); err != nil {
			t.Fatal(err)
		}
	}
	return u
}

// TestSignInJourney walks the quick start's path: an unauthenticated visit,
// a wrong password, the right one, and the identity the upstream receives.
func TestSignInJourney(t *testing.T) {
	s := startSite(t, "", map[string]string{"app": "pool default"})
	ada := createAda(t, s, "admins", "staff")
	base := s.url("app", "")
	c := testenv.Browser(t)

	// 1. An unauthenticated GET goes to the sign-in page, remembering the
	// exact path and query.
	resp, _ := get(t, c, base+"/reports/q3?year=2026&sort=desc", nil)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("unauthenticated GET: status %d, want 302", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if loc.Path != "/_gatehouse/signin" || loc.Query().Get("rd") != "/reports/q3?year=2026&sort=desc" {
		t.Fatalf("redirect to %s, want the sign-in page with rd=/reports/q3?year=2026&sort=desc", loc)
	}
	if s.upstream.Count() != 0 {
		t.Fatalf("upstream was reached %d times before sign-in", s.upstream.Count())
	}

	// 2. The page names the pool and carries a CSRF token.
	rd := loc.Query().Get("rd")
	_, page := get(t, c, base+loc.String(), nil)
	if !strings.Contains(page, "Example Corp") {
		t.Errorf("sign-in page does not show the pool's display name")
	}
	csrf := csrfField.FindStringSubmatch(page)
	if csrf == nil {
		t.Fatal("sign-in page has no csrf token")
	}

	// 3. A wrong password and an unknown user look the same.
	wrongResp, wrongBody := postSignIn(t, c, base, csrf[1], rd, adaEmail, "not the password")
	unknownResp, unknownBody := postSignIn(t, c, base, csrf[1], rd, "nobody@example.com", "not the password")
	if wrongResp.StatusCode != http.StatusUnauthorized || unknownResp.StatusCode != wrongResp.StatusCode {
		t.Fatalf("wrong password: %d, unknown user: %d; want both 401", wrongResp.StatusCode, unknownResp.StatusCode)
	}
	if !strings.Contains(wrongBody, "Incorrect email or password") {
		t.Errorf("wrong-password page lacks the error message")
	}
	scrub := func(body, email string) string {
		body = csrfField.ReplaceAllString(body, "")
		return strings.ReplaceAll(body, email, "EMAIL")
	}
	if scrub(wrongBody, adaEmail) != scrub(unknownBody, "nobody@example.com") {
		t.Errorf("wrong password and unknown user give different pages")
	}
	if strings.Contains(wrongBody, "not the password") {
		t.Errorf("the page echoes the password")
	}
	if cookieNamed(wrongResp, "gatehouse_session") != nil {
		t.Errorf("a failed sign-in set a session cookie")
	}

	// 4. The right password sets the session cookie and returns to the page.
	okResp, okBody := postSignIn(t, c, base, csrf[1], rd, adaEmail, adaPassword)
	wantContinue(t, "sign-in", okResp, okBody, rd)
	sc := cookieNamed(okResp, "gatehouse_session")
	if sc == nil {
		t.Fatal("no session cookie after sign-in")
	}
	if !sc.HttpOnly || sc.SameSite != http.SameSiteLaxMode || sc.Path != "/" {
		t.Errorf("session cookie attributes: HttpOnly=%v SameSite=%v Path=%q", sc.HttpOnly, sc.SameSite, sc.Path)
	}
	if sc.Secure {
		t.Errorf("session cookie is Secure on plain http (cookie_secure auto)")
	}
	if want := 7 * 24 * 3600; sc.MaxAge < want-60 || sc.MaxAge > want {
		t.Errorf("session cookie Max-Age %d, want about %d (7d default)", sc.MaxAge, want)
	}

	// 5. The upstream sees the verified identity, and nothing the client
	// forged: every protected name, any letter case, '_' for '-'.
	forged := http.Header{
		"x-amzn-oidc-identity":    {"attacker"},
		"X-AMZN-OIDC-DATA":        {"forged.jwt.value"},
		"X_Amzn_Oidc_Identity":    {"attacker"},
		"x-amzn-oidc-accesstoken": {"forged"},
		"X-Auth-Request-Email":    {"attacker@evil.example"},
		"x_auth_request_groups":   {"admins"},
		"X-Auth-Request-User":     {"attacker"},
	}
	resp, body := get(t, c, base+rd, forged)
	if resp.StatusCode != http.StatusOK || body != "upstream" {
		t.Fatalf("signed-in GET: status %d body %q", resp.StatusCode, body)
	}
	up := s.upstream.Last()
	if up.URL.RequestURI() != rd {
		t.Errorf("upstream got %s, want %s", up.URL.RequestURI(), rd)
	}
	wantHeaders := map[string]string{
		"X-Amzn-Oidc-Identity":  ada.ID,
		"X-Auth-Request-User":   ada.ID,
		"X-Auth-Request-Email":  adaEmail,
		"X-Auth-Request-Groups": "admins,staff",
	}
	for name, want := range wantHeaders {
		if got := up.Header.Values(name); len(got) != 1 || got[0] != want {
			t.Errorf("upstream %s = %q, want exactly [%q]", name, got, want)
		}
	}
	for name := range up.Header {
		lower := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
		if strings.HasPrefix(lower, "x-amzn-oidc-") || strings.HasPrefix(lower, "x-auth-request-") {
			if _, ok := wantHeaders[name]; !ok && name != "X-Amzn-Oidc-Data" {
				t.Errorf("upstream received %s: %q (forged header not stripped)", name, up.Header[name])
			}
		}
	}

	// 6. X-Amzn-Oidc-Data verifies as an ALB upstream would verify it.
	hdr, claims := verifyALBData(t, up.Header.Get("X-Amzn-Oidc-Data"), base+"/_gatehouse/public-keys/", albdata.DefaultARN("default"))
	for k, want := range map[string]any{"alg": "ES256", "iss": "https://auth.example.test", "client": "gatehouse"} {
		if hdr[k] != want {
			t.Errorf("data JOSE header %s = %v, want %v", k, hdr[k], want)
		}
	}
	if _, ok := hdr["exp"].(float64); !ok {
		t.Errorf("data JOSE header has no numeric exp: %v", hdr)
	}
	if claims["sub"] != ada.ID || claims["email"] != adaEmail || claims["email_verified"] != true ||
		claims["name"] != "Ada Lovelace" || claims["iss"] != "https://auth.example.test" {
		t.Errorf("data claims = %v", claims)
	}
	if g, _ := json.Marshal(claims["groups"]); string(g) != `["admins","staff"]` {
		t.Errorf("data groups = %s", g)
	}

	// 7. The signed data is made once per session, not per request.
	get(t, c, base+"/again", nil)
	if again := s.upstream.Last().Header.Get("X-Amzn-Oidc-Data"); again != up.Header.Get("X-Amzn-Oidc-Data") {
		t.Errorf("data header was re-signed for a second request of the same session")
	}
}
