package oidc_test

// The OpenID provider's protocol, one behaviour per test: each starts its
// own issuer (protocol_harness_test.go) and can run alone
// (`go test ./oidc -run TestTokenRefreshRotation`) or beside the others.

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/internal/testenv/oauthtest"
	"github.com/gatehouse-auth/gatehouse/internal/testenv/web"
	"github.com/gatehouse-auth/gatehouse/oidc"
	"github.com/gatehouse-auth/gatehouse/signing"
	"github.com/gatehouse-auth/gatehouse/store"
)

func TestDiscovery(t *testing.T) {
	t.Parallel()
	s := startIssuer(t, issuerOptions{})
	var doc map[string]any
	if err := s.op.Claims(&doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"issuer":                 s.url,
		"authorization_endpoint": s.url + "/oauth2/authorize",
		"token_endpoint":         s.url + "/oauth2/token",
		"userinfo_endpoint":      s.url + "/oauth2/userInfo",
		"revocation_endpoint":    s.url + "/oauth2/revoke",
		"end_session_endpoint":   s.url + "/logout",
		"jwks_uri":               s.url + "/.well-known/jwks.json",
	}
	for k, v := range want {
		if doc[k] != v {
			t.Errorf("discovery %s = %v, want %v", k, doc[k], v)
		}
	}
	for k, v := range map[string]string{
		"code_challenge_methods_supported":      `["S256"]`,
		"id_token_signing_alg_values_supported": `["RS256","ES256"]`,
		"response_types_supported":              `["code"]`,
	} {
		if got, _ := json.Marshal(doc[k]); string(got) != v {
			t.Errorf("discovery %s = %s, want %s", k, got, v)
		}
	}
}

func TestCodeFlowTokens(t *testing.T) {
	t.Parallel()
	s, ada, _, first := signedInAda(t)
	ctx := context.Background()
	cl := first.Claim
	if first.ID.Subject != ada.ID || first.ID.Issuer != s.url || !slices.Equal(first.ID.Audience, []string{"webapp"}) {
		t.Errorf("ID token sub/iss/aud = %s/%s/%v", first.ID.Subject, first.ID.Issuer, first.ID.Audience)
	}
	for k, v := range map[string]any{"email": adaEmail, "email_verified": true, "name": "Ada Lovelace", "token_use": "id"} {
		if cl[k] != v {
			t.Errorf("ID token %s = %v, want %v", k, cl[k], v)
		}
	}
	for _, k := range []string{"groups", "cognito:groups"} {
		if g, _ := json.Marshal(cl[k]); string(g) != `["admins","staff"]` {
			t.Errorf("ID token %s = %s", k, g)
		}
	}
	if amr, _ := json.Marshal(cl["amr"]); string(amr) != `["pwd"]` {
		t.Errorf("ID token amr = %s", amr)
	}
	if at, ok := cl["auth_time"].(float64); !ok || time.Since(time.Unix(int64(at), 0)) > time.Minute {
		t.Errorf("ID token auth_time = %v", cl["auth_time"])
	}
	if h := jwtHeader(t, first.Raw); h["alg"] != "ES256" || h["kid"] == nil || h["kid"] == "" {
		t.Errorf("ID token header = %v, want ES256 with a kid", h)
	}
	// The access token is a JWT the JWKS verifies, Cognito-shaped.
	if _, err := gooidc.NewRemoteKeySet(ctx, s.url+"/.well-known/jwks.json").VerifySignature(ctx, first.Tok.AccessToken); err != nil {
		t.Fatalf("access token does not verify with the JWKS: %v", err)
	}
	if jwtHeader(t, first.Tok.AccessToken)["kid"] == nil {
		t.Error("access token has no kid")
	}
	ac := jwtClaims(t, first.Tok.AccessToken)
	for k, v := range map[string]any{"sub": ada.ID, "client_id": "webapp", "token_use": "access", "iss": s.url, "scope": "openid email profile"} {
		if ac[k] != v {
			t.Errorf("access token %s = %v, want %v", k, ac[k], v)
		}
	}
	for _, k := range []string{"jti", "exp", "iat", "auth_time", "groups"} {
		if ac[k] == nil {
			t.Errorf("access token lacks %s: %v", k, ac)
		}
	}
	if first.Tok.RefreshToken == "" {
		t.Error("no refresh token")
	}
	if exp := time.Until(first.Tok.Expiry); exp < 59*time.Minute || exp > 61*time.Minute {
		t.Errorf("access token expires in %s, want the default 1h", exp)
	}
}

func TestUserInfo(t *testing.T) {
	t.Parallel()
	s, ada, _, first := signedInAda(t)
	ui, err := s.op.UserInfo(context.Background(), oauth2.StaticTokenSource(first.Tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	if ui.Subject != ada.ID || ui.Email != adaEmail || !ui.EmailVerified {
		t.Errorf("userinfo = %+v", ui)
	}
	machine := s.ClientCredentials(t, "machine", machineSecret, "")["access_token"].(string)
	for _, tc := range []struct {
		name, auth string
		status     int
		wantErr    string
	}{
		{"no token", "", http.StatusUnauthorized, ""},
		{"garbage", "Bearer not-a-token", http.StatusUnauthorized, "invalid_token"},
		{"ID token instead of access token", "Bearer " + first.Raw, http.StatusUnauthorized, "invalid_token"},
		{"machine token without openid", "Bearer " + machine, http.StatusForbidden, "insufficient_scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.auth != "" {
				h.Set("Authorization", tc.auth)
			}
			resp, _ := get(t, http.DefaultClient, s.url+"/oauth2/userInfo", h)
			www := resp.Header.Get("WWW-Authenticate")
			wantErr := `error="` + tc.wantErr + `"`
			if tc.wantErr == "" {
				wantErr = "" // RFC 6750 §3.1: no error code without a token
			}
			if resp.StatusCode != tc.status || !strings.HasPrefix(www, "Bearer") || !strings.Contains(www, wantErr) ||
				(tc.wantErr == "" && strings.Contains(www, "error=")) {
				t.Errorf("status %d, WWW-Authenticate %q; want %d with error=%q", resp.StatusCode, www, tc.status, tc.wantErr)
			}
		})
	}
}

// TestTokenRefreshRotation: a refresh rotates the refresh token; reusing an
// old one is refused and revokes its whole family, and only that family.
func TestTokenRefreshRotation(t *testing.T) {
	t.Parallel()
	s, ada, c, first := signedInAda(t)
	webapp := s.webapp()
	start, _ := s.Login(t, c, webapp, "")
	rt1 := start.Tok.RefreshToken
	tok2, err := webapp.Refresh(rt1)
	if err != nil {
		t.Fatalf("first refresh: %v", err)
	}
	rt2 := tok2.RefreshToken
	if rt2 == "" || rt2 == rt1 {
		t.Fatalf("refresh did not rotate the refresh token")
	}
	refreshed := oauthtest.VerifyTokens(t, webapp, tok2, "")
	if refreshed.ID.Subject != ada.ID || refreshed.Claim["auth_time"] != start.Claim["auth_time"] {
		t.Errorf("refreshed ID token sub %s auth_time %v, want %s %v", refreshed.ID.Subject, refreshed.Claim["auth_time"], ada.ID, start.Claim["auth_time"])
	}
	// Another client cannot use it, and its attempt changes nothing.
	if _, err := s.RP("rsapp", rsSecret, rsCB).Refresh(rt2); retrieveErrorCode(err) != "invalid_grant" {
		t.Fatalf("another client's refresh: %v, want invalid_grant", err)
	}
	tok3, err := webapp.Refresh(rt2)
	if err != nil {
		t.Fatalf("the new refresh token does not work: %v", err)
	}
	// rt1 again once its grace is over: reuse. Refused, and the family
	// dies: rt3 too.
	s.advance(oidc.DefaultRefreshGrace)
	if _, err := webapp.Refresh(rt1); retrieveErrorCode(err) != "invalid_grant" {
		t.Fatalf("reused refresh token: %v, want invalid_grant", err)
	}
	if _, err := webapp.Refresh(tok3.RefreshToken); retrieveErrorCode(err) != "invalid_grant" {
		t.Fatalf("newest refresh token after reuse: %v, want invalid_grant (family revoked)", err)
	}
	// Another family (another sign-in) is untouched.
	if _, err := webapp.Refresh(first.Tok.RefreshToken); err != nil {
		t.Errorf("an unrelated family died with the reused one: %v", err)
	}
}

func TestPKCEPublicClient(t *testing.T) {
	t.Parallel()
	s, _, c, _ := signedInAda(t)
	spa := s.RP("spa", "", spaCB)
	tests := []struct {
		name string
		// authorize is the extra query; challenge "" sends none.
		challenge, method string
		verifier          func(real string) string // "" sends none
		wantAuthErr       string
		wantTokenErr      string
	}{
		{"S256, right verifier", "S256", "S256", func(v string) string { return v }, "", ""},
		{"no code_challenge", "", "", func(v string) string { return v }, "invalid_request", ""},
		{"plain", "plain", "plain", func(v string) string { return v }, "invalid_request", ""},
		{"challenge without method (plain)", "S256", "", func(v string) string { return v }, "invalid_request", ""},
		{"verifier missing", "S256", "S256", func(string) string { return "" }, "", "invalid_grant"},
		{"wrong verifier", "S256", "S256", func(string) string { return oauth2.GenerateVerifier() }, "", "invalid_grant"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			verifier := oauth2.GenerateVerifier()
			q := url.Values{"client_id": {"spa"}, "redirect_uri": {spaCB}, "response_type": {"code"},
				"scope": {"openid email"}, "state": {"st-" + tc.name}, "nonce": {"n1"}}
			switch tc.challenge {
			case "S256":
				q.Set("code_challenge", oauth2.S256ChallengeFromVerifier(verifier))
			case "plain":
				q.Set("code_challenge", verifier)
			}
			if tc.method != "" {
				q.Set("code_challenge_method", tc.method)
			}
			loc, _ := s.Navigate(t, c, s.url+"/oauth2/authorize?"+q.Encode(), "")
			if tc.wantAuthErr != "" {
				oauthtest.ErrorFrom(t, loc, spaCB, q.Get("state"), tc.wantAuthErr)
				return
			}
			code := s.CodeFrom(t, loc, spaCB, q.Get("state"))
			form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {spaCB}, "client_id": {"spa"}}
			if v := tc.verifier(verifier); v != "" {
				form.Set("code_verifier", v)
			}
			resp, body := oauthtest.TokenCall(t, s.url+"/oauth2/token", form, "", "")
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("token response Cache-Control %q, want no-store", resp.Header.Get("Cache-Control"))
			}
			if tc.wantTokenErr != "" {
				if resp.StatusCode != http.StatusBadRequest || body["error"] != tc.wantTokenErr {
					t.Fatalf("token: %d %v, want 400 %s", resp.StatusCode, body, tc.wantTokenErr)
				}
				return
			}
			if resp.StatusCode != http.StatusOK || body["id_token"] == nil || body["access_token"] == nil {
				t.Fatalf("token: %d %v, want tokens", resp.StatusCode, body)
			}
			if _, err := spa.Verifier.Verify(context.Background(), body["id_token"].(string)); err != nil {
				t.Errorf("public client's ID token: %v", err)
			}
		})
	}
}

func TestCodeReplay(t *testing.T) {
	t.Parallel()
	s, _, c, _ := signedInAda(t)
	webapp := s.webapp()
	a := webapp.Start()
	loc, _ := s.Navigate(t, c, a.URL, "")
	code := s.CodeFrom(t, loc, webappCB, a.State)
	tok, err := webapp.Conf.Exchange(context.Background(), code, oauth2.VerifierOption(a.Verifier))
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webappCB}, "code_verifier": {a.Verifier}}
	resp, body := oauthtest.TokenCall(t, s.url+"/oauth2/token", form, "webapp", webappSecret)
	if resp.StatusCode != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("second exchange: %d %v, want 400 invalid_grant", resp.StatusCode, body)
	}
	// RFC 6749 §4.1.2: what the first exchange issued is revoked.
	if _, err := webapp.Refresh(tok.RefreshToken); retrieveErrorCode(err) != "invalid_grant" {
		t.Errorf("refresh token of a replayed code: %v, want invalid_grant", err)
	}
}

func TestRedirectURIExactMatch(t *testing.T) {
	t.Parallel()
	s, _, c, _ := signedInAda(t)
	for _, tc := range []struct{ name, redirect string }{
		{"unregistered", "https://evil.example.test/cb"},
		{"registered one with a suffix", webappCB + "/x"},
		{"registered one with a query", webappCB + "?x=1"},
		{"missing", ""},
	} {
		t.Run("authorize/"+tc.name, func(t *testing.T) {
			q := url.Values{"client_id": {"webapp"}, "response_type": {"code"}, "scope": {"openid"}, "state": {"s"}}
			if tc.redirect != "" {
				q.Set("redirect_uri", tc.redirect)
			}
			resp, body := get(t, c, s.url+"/oauth2/authorize?"+q.Encode(), nil)
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Fatalf("status %d Location %q, want 400 and no redirect", resp.StatusCode, resp.Header.Get("Location"))
			}
			if !strings.Contains(body, "not registered") && tc.redirect != "" {
				t.Errorf("error page does not explain: %s", body)
			}
		})
	}
	t.Run("token with another registered redirect_uri", func(t *testing.T) {
		a := s.webapp().Start()
		loc, _ := s.Navigate(t, c, a.URL, "")
		code := s.CodeFrom(t, loc, webappCB, a.State)
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"https://app.example.test/other"}, "code_verifier": {a.Verifier}}
		resp, body := oauthtest.TokenCall(t, s.url+"/oauth2/token", form, "webapp", webappSecret)
		if resp.StatusCode != http.StatusBadRequest || body["error"] != "invalid_grant" {
			t.Fatalf("token: %d %v, want 400 invalid_grant", resp.StatusCode, body)
		}
	})
}

func TestClientAuthentication(t *testing.T) {
	t.Parallel()
	s := startIssuer(t, issuerOptions{})
	resp, body := get(t, web.Browser(t), s.url+"/oauth2/authorize?"+url.Values{"client_id": {"nope"}, "redirect_uri": {webappCB},
		"response_type": {"code"}, "scope": {"openid"}}.Encode(), nil)
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(body, "not registered") {
		t.Errorf("authorize for an unregistered client: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	for _, tc := range []struct {
		name, user, pass string
		post             url.Values
		status           int
		wantErr          string
	}{
		{"unknown client (basic)", "nope", "whatever-secret-123", nil, 401, "invalid_client"},
		{"wrong secret (basic)", "machine", "wrong-secret-0000000000", nil, 401, "invalid_client"},
		{"wrong secret (post)", "", "", url.Values{"client_id": {"machine"}, "client_secret": {"wrong"}}, 401, "invalid_client"},
		{"no secret for a confidential client", "", "", url.Values{"client_id": {"machine"}}, 401, "invalid_client"},
		{"right secret (post)", "", "", url.Values{"client_id": {"machine"}, "client_secret": {machineSecret}}, 200, ""},
		{"two methods", "machine", machineSecret, url.Values{"client_secret": {machineSecret}}, 400, "invalid_request"},
		{"grant the client may not use", "webapp", webappSecret, nil, 400, "unauthorized_client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			for k, v := range tc.post {
				f[k] = v
			}
			resp, body := oauthtest.TokenCall(t, s.url+"/oauth2/token", f, tc.user, tc.pass)
			if resp.StatusCode != tc.status || (tc.wantErr != "" && body["error"] != tc.wantErr) {
				t.Fatalf("%d %v, want %d %s", resp.StatusCode, body, tc.status, tc.wantErr)
			}
			if tc.status == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("401 without WWW-Authenticate: Basic (%q)", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestClientCredentials(t *testing.T) {
	t.Parallel()
	s := startIssuer(t, issuerOptions{})
	ctx := context.Background()
	for _, tc := range []struct {
		name, scope, wantScope, wantErr string
	}{
		{"one allowed scope", "orders/read", "orders/read", ""},
		{"both", "orders/write orders/read", "orders/write orders/read", ""},
		{"none asked: all of the client's", "", "orders/read orders/write", ""},
		{"a scope not allowed", "orders/read orders/delete", "", "invalid_scope"},
		{"a user scope", "openid", "", "invalid_scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := s.ClientCredentials(t, "machine", machineSecret, tc.scope)
			if tc.wantErr != "" {
				if body["error"] != tc.wantErr {
					t.Fatalf("got %v, want %s", body, tc.wantErr)
				}
				return
			}
			at, _ := body["access_token"].(string)
			if at == "" || body["id_token"] != nil || body["refresh_token"] != nil || body["token_type"] != "Bearer" || body["expires_in"] != 300.0 {
				t.Fatalf("response %v, want a 5-minute Bearer access token only", body)
			}
			if _, err := gooidc.NewRemoteKeySet(ctx, s.url+"/.well-known/jwks.json").VerifySignature(ctx, at); err != nil {
				t.Fatalf("machine token does not verify: %v", err)
			}
			cl := jwtClaims(t, at)
			for k, v := range map[string]any{"sub": "machine", "client_id": "machine", "scope": tc.wantScope, "token_use": "access", "iss": s.url} {
				if cl[k] != v {
					t.Errorf("%s = %v, want %v", k, cl[k], v)
				}
			}
		})
	}
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	s, _, c, _ := signedInAda(t)
	webapp := s.webapp()
	tokens, _ := s.Login(t, c, webapp, "")
	revoke := func(token, user, pass string) (*http.Response, map[string]any) {
		return oauthtest.TokenCall(t, s.url+"/oauth2/revoke", url.Values{"token": {token}}, user, pass)
	}
	if resp, body := revoke(tokens.Tok.RefreshToken, "rsapp", rsSecret); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("another client revoking: %d %v, want 400", resp.StatusCode, body)
	}
	if _, err := webapp.Refresh(tokens.Tok.RefreshToken); err != nil {
		t.Fatalf("a refused revocation revoked the token: %v", err)
	}
	tokens, _ = s.Login(t, c, webapp, "")
	if resp, body := revoke(tokens.Tok.RefreshToken, "webapp", webappSecret); resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d %v", resp.StatusCode, body)
	}
	if _, err := webapp.Refresh(tokens.Tok.RefreshToken); retrieveErrorCode(err) != "invalid_grant" {
		t.Errorf("revoked refresh token: %v, want invalid_grant", err)
	}
	// An access token (RFC 7009; oidc-client-ts revokes it on sign-out):
	// only its own client may, and then userinfo refuses it.
	userinfo := func(at string) int {
		resp, _ := get(t, http.DefaultClient, s.url+"/oauth2/userInfo", http.Header{"Authorization": {"Bearer " + at}})
		return resp.StatusCode
	}
	if got := userinfo(tokens.Tok.AccessToken); got != http.StatusOK {
		t.Fatalf("userinfo before revoking: %d", got)
	}
	if resp, body := revoke(tokens.Tok.AccessToken, "rsapp", rsSecret); resp.StatusCode != http.StatusBadRequest || body["error"] != "unauthorized_client" {
		t.Errorf("another client revoking an access token: %d %v, want 400 unauthorized_client", resp.StatusCode, body)
	}
	if got := userinfo(tokens.Tok.AccessToken); got != http.StatusOK {
		t.Fatalf("userinfo after another client's refused revocation: %d, want 200", got)
	}
	if resp, body := revoke(tokens.Tok.AccessToken, "webapp", webappSecret); resp.StatusCode != http.StatusOK {
		t.Errorf("revoking an access token: %d %v, want 200", resp.StatusCode, body)
	}
	if got := userinfo(tokens.Tok.AccessToken); got != http.StatusUnauthorized {
		t.Errorf("userinfo with a revoked access token: %d, want 401", got)
	}
	if resp, body := revoke(tokens.Tok.AccessToken, "webapp", webappSecret); resp.StatusCode != http.StatusOK {
		t.Errorf("revoking it again: %d %v, want 200", resp.StatusCode, body)
	}
	if resp, body := revoke(tokens.Raw, "webapp", webappSecret); resp.StatusCode != http.StatusBadRequest || body["error"] != "unsupported_token_type" {
		t.Errorf("revoking an ID token: %d %v, want 400 unsupported_token_type", resp.StatusCode, body)
	}
	if resp, _ := revoke("no-such-token", "webapp", webappSecret); resp.StatusCode != http.StatusOK {
		t.Errorf("revoking an unknown token: %d, want 200 (RFC 7009 §2.2)", resp.StatusCode)
	}
	if resp, _ := revoke("no-such-token", "webapp", "wrong-secret-00000000"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoking with a wrong secret: %d, want 401", resp.StatusCode)
	}
}

func TestPromptNoneWithoutSession(t *testing.T) {
	t.Parallel()
	s := startIssuer(t, issuerOptions{})
	s.createUser(t, adaEmail, "Ada Lovelace")
	a := s.webapp().Start(oauth2.SetAuthURLParam("prompt", "none"))
	loc, _ := s.Navigate(t, web.Browser(t), a.URL, "")
	oauthtest.ErrorFrom(t, loc, webappCB, a.State, "login_required")
}

func TestPromptNoneWithSession(t *testing.T) {
	t.Parallel()
	s, _, c, _ := signedInAda(t)
	if _, n := s.Login(t, c, s.webapp(), "", oauth2.SetAuthURLParam("prompt", "none")); n != 0 {
		t.Errorf("signed in %d times", n)
	}
}

// TestSingleSignOnAcrossClients: another client of the pool gets a code
// without a sign-in, with the first sign-in's auth_time.
func TestSingleSignOnAcrossClients(t *testing.T) {
	t.Parallel()
	s, ada, c, first := signedInAda(t)
	got, n := s.Login(t, c, s.RP("spa", "", spaCB), "")
	if n != 0 || got.ID.Subject != ada.ID || got.Claim["auth_time"] != first.Claim["auth_time"] {
		t.Errorf("sign-ins %d, sub %s, auth_time %v; want 0, %s, the first sign-in's %v", n, got.ID.Subject, got.Claim["auth_time"], ada.ID, first.Claim["auth_time"])
	}
}

func TestPromptLoginWithSession(t *testing.T) {
	t.Parallel()
	s, _, c, first := signedInAda(t)
	webapp := s.webapp()
	a := webapp.Start(oauth2.SetAuthURLParam("prompt", "login"))
	resp, _ := get(t, c, a.URL, nil)
	loc, _ := resp.Location()
	if resp.StatusCode != http.StatusFound || loc == nil || loc.Path != "/_gatehouse/signin" {
		t.Fatalf("prompt=login: status %d to %v, want the sign-in page", resp.StatusCode, loc)
	}
	// Coming back without signing in does not count.
	rd := loc.Query().Get("rd")
	if strings.Contains(rd, "prompt=login") {
		t.Errorf("return address still asks for prompt=login: %s", rd)
	}
	again, _ := get(t, c, s.url+rd, nil)
	if l, _ := again.Location(); l == nil || l.Path != "/_gatehouse/signin" {
		t.Fatalf("back without signing in: sent to %v, want the sign-in page again", l)
	}
	time.Sleep(1100 * time.Millisecond) // auth_time has whole seconds
	got, n := s.Login(t, c, webapp, adaEmail, oauth2.SetAuthURLParam("prompt", "login"))
	if n != 1 {
		t.Errorf("signed in %d times, want 1", n)
	}
	if got.Claim["auth_time"].(float64) <= first.Claim["auth_time"].(float64) {
		t.Errorf("auth_time %v not after the first sign-in's %v", got.Claim["auth_time"], first.Claim["auth_time"])
	}
}

func TestMaxAge(t *testing.T) {
	t.Parallel()
	s, _, c, _ := signedInAda(t)
	webapp := s.webapp()
	if _, n := s.Login(t, c, webapp, adaEmail, oauth2.SetAuthURLParam("max_age", "3600")); n != 0 {
		t.Errorf("max_age=3600 after a recent sign-in: %d sign-ins, want 0", n)
	}
	if _, n := s.Login(t, c, webapp, adaEmail, oauth2.SetAuthURLParam("max_age", "0")); n != 1 {
		t.Errorf("max_age=0: %d sign-ins, want 1", n)
	}
	time.Sleep(2100 * time.Millisecond)
	a := webapp.Start(oauth2.SetAuthURLParam("max_age", "1"), oauth2.SetAuthURLParam("prompt", "none"))
	loc, _ := s.Navigate(t, c, a.URL, "")
	oauthtest.ErrorFrom(t, loc, webappCB, a.State, "login_required")
	if _, n := s.Login(t, c, webapp, adaEmail, oauth2.SetAuthURLParam("max_age", "1")); n != 1 {
		t.Errorf("max_age=1 two seconds after signing in: %d sign-ins, want 1", n)
	}
}

func TestLoginHint(t *testing.T) {
	t.Parallel()
	s, _, c, _ := signedInAda(t)
	webapp := s.webapp()
	s.createUser(t, "grace@example.com", "Grace Hopper")
	a := webapp.Start(oauth2.SetAuthURLParam("login_hint", "grace@example.com"))
	resp, _ := get(t, c, a.URL, nil)
	loc, _ := resp.Location()
	if loc == nil || loc.Path != "/_gatehouse/signin" || loc.Query().Get("login_hint") != "grace@example.com" {
		t.Fatalf("another user's login_hint: sent to %v, want the sign-in page with the hint", loc)
	}
	if _, n := s.Login(t, c, webapp, adaEmail, oauth2.SetAuthURLParam("login_hint", adaEmail)); n != 0 {
		t.Errorf("the signed-in user's own login_hint: %d sign-ins, want 0", n)
	}
}

func TestRS256Client(t *testing.T) {
	t.Parallel()
	s, _, c, _ := signedInAda(t)
	rsapp := s.RP("rsapp", rsSecret, rsCB)
	got, _ := s.Login(t, c, rsapp, "")
	h := jwtHeader(t, got.Raw)
	if h["alg"] != "RS256" {
		t.Fatalf("ID token alg %v, want RS256", h["alg"])
	}
	if exp := time.Until(got.ID.Expiry); exp < 9*time.Minute || exp > 11*time.Minute {
		t.Errorf("ID token expires in %s, want id_token_ttl 10m", exp)
	}
	var jwks struct {
		Keys []map[string]any `json:"keys"`
	}
	_, body := get(t, http.DefaultClient, s.url+"/.well-known/jwks.json", nil)
	if err := json.Unmarshal([]byte(body), &jwks); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, k := range jwks.Keys {
		if k["kid"] == h["kid"] {
			found = k["kty"] == "RSA" && k["alg"] == "RS256" && k["use"] == "sig"
		}
	}
	if !found {
		t.Errorf("JWKS has no RSA key %v: %s", h["kid"], body)
	}
	// A verifier that accepts only ES256 refuses it: the alg is real.
	strict := s.op.Verifier(&gooidc.Config{ClientID: "rsapp", SupportedSigningAlgs: []string{"ES256"}})
	if _, err := strict.Verify(context.Background(), got.Raw); err == nil {
		t.Error("an ES256-only verifier accepted the RS256 token")
	}
}

// TestStoredClient: a client kept in the store (not configured) signs in
// with the scopes it was given; a configured client wins over a stored one
// with its id.
func TestStoredClient(t *testing.T) {
	t.Parallel()
	s, ada, c, _ := signedInAda(t)
	ctx := context.Background()
	err := s.store.CreateClient(ctx, &store.Client{
		ID: "stored", SecretHash: oidc.HashClientSecret(storedSecret), RedirectURIs: []string{storedCB},
		Scopes: []string{"openid", "email"}, GrantTypes: []string{"authorization_code", "refresh_token"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := s.Login(t, c, s.RP("stored", storedSecret, storedCB, "openid", "email"), "")
	if got.ID.Subject != ada.ID || got.Claim["email"] != adaEmail || got.Claim["name"] != nil {
		t.Errorf("stored client's ID token: %v (want email, and no name without the profile scope)", got.Claim)
	}
	// The configured client wins over a stored one with its id.
	err = s.store.CreateClient(ctx, &store.Client{
		ID: "machine", SecretHash: oidc.HashClientSecret(storedSecret), GrantTypes: []string{"client_credentials"}, Scopes: []string{"x"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if body := s.ClientCredentials(t, "machine", storedSecret, ""); body["error"] != "invalid_client" {
		t.Errorf("the stored twin's secret: %v, want invalid_client", body)
	}
}

func TestLogout(t *testing.T) {
	t.Parallel()
	s := startIssuer(t, issuerOptions{})
	s.createUser(t, adaEmail, "Ada Lovelace")
	webapp := s.webapp()
	for _, tc := range []struct {
		name      string
		params    func(idToken string) url.Values
		wantTo    string // "" for no redirect
		signedOut bool
	}{
		{"registered uri with client_id", func(string) url.Values {
			return url.Values{"client_id": {"webapp"}, "post_logout_redirect_uri": {webappBye}, "state": {"bye1"}}
		}, webappBye + "?state=bye1", true},
		{"registered uri with id_token_hint", func(id string) url.Values {
			return url.Values{"id_token_hint": {id}, "post_logout_redirect_uri": {webappBye}, "state": {"bye2"}}
		}, webappBye + "?state=bye2", true},
		{"Cognito's logout_uri", func(string) url.Values {
			return url.Values{"client_id": {"webapp"}, "logout_uri": {webappBye}}
		}, webappBye, true},
		{"no uri: the sign-in page", func(string) url.Values { return url.Values{"client_id": {"webapp"}} },
			"/_gatehouse/signin", true},
		{"unlisted uri", func(string) url.Values {
			return url.Values{"client_id": {"webapp"}, "post_logout_redirect_uri": {"https://evil.example.test/"}}
		}, "", false},
		{"another client's uri", func(string) url.Values {
			return url.Values{"client_id": {"spa"}, "post_logout_redirect_uri": {webappBye}}
		}, "", false},
		{"uri without a client", func(string) url.Values {
			return url.Values{"post_logout_redirect_uri": {webappBye}}
		}, "", false},
		{"id_token_hint of another client", func(id string) url.Values {
			return url.Values{"id_token_hint": {id}, "client_id": {"spa"}}
		}, "", false},
	} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			t.Run(tc.name+" "+method, func(t *testing.T) {
				t.Parallel() // each case signs in in a browser of its own
				b := web.Browser(t)
				got, _ := s.Login(t, b, webapp, adaEmail)
				var resp *http.Response
				var body string
				if method == http.MethodGet {
					resp, body = get(t, b, s.url+"/logout?"+tc.params(got.Raw).Encode(), nil)
				} else {
					req, err := http.NewRequest(method, s.url+"/logout", strings.NewReader(tc.params(got.Raw).Encode()))
					if err != nil {
						t.Fatal(err)
					}
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					resp, body = do(t, b, req)
				}
				loc := resp.Header.Get("Location")
				switch {
				case tc.wantTo == "":
					if resp.StatusCode != http.StatusBadRequest || loc != "" {
						t.Errorf("status %d to %q, want 400 and no redirect", resp.StatusCode, loc)
					}
				case method == http.MethodPost:
					// A form's POST: the continue page, since the posting
					// page's form-action would apply to a redirect.
					wantContinue(t, "sign-out POST", resp, body, tc.wantTo)
				case resp.StatusCode/100 != 3 || loc != tc.wantTo:
					t.Errorf("status %d to %q, want a redirect to %q", resp.StatusCode, loc, tc.wantTo)
				}
				a := webapp.Start(oauth2.SetAuthURLParam("prompt", "none"))
				after, _ := s.Navigate(t, b, a.URL, "")
				if tc.signedOut {
					oauthtest.ErrorFrom(t, after, webappCB, a.State, "login_required")
				} else {
					s.CodeFrom(t, after, webappCB, a.State)
				}
			})
		}
	}
}

func TestDisabledUserCannotRefresh(t *testing.T) {
	t.Parallel()
	s := startIssuer(t, issuerOptions{})
	webapp := s.webapp()
	ctx := context.Background()
	bob := s.createUser(t, "bob@example.com", "Bob")
	got, _ := s.Login(t, web.Browser(t), webapp, "bob@example.com")
	if _, err := webapp.Refresh(got.Tok.RefreshToken); err != nil {
		t.Fatalf("refresh before disabling: %v", err)
	}
	got2, _ := s.Login(t, web.Browser(t), webapp, "bob@example.com")
	if err := s.pool.SetEnabled(ctx, bob.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := webapp.Refresh(got2.Tok.RefreshToken); retrieveErrorCode(err) != "invalid_grant" {
		t.Errorf("refresh of a disabled user: %v, want invalid_grant", err)
	}
	if _, err := s.op.UserInfo(ctx, oauth2.StaticTokenSource(got2.Tok)); err == nil {
		t.Error("userinfo answered for a disabled user")
	}
}

// TestSigningKeyRotation drives the key clock past a rotation and then past
// the old key's retirement: a token the old key signed verifies (its kid
// still published) until every token it could have signed has expired,
// then the kid is gone. The clock is this issuer's own (issuerOptions), so
// the test runs beside the others.
func TestSigningKeyRotation(t *testing.T) {
	t.Parallel()
	var offset atomic.Int64
	s := startIssuer(t, issuerOptions{
		keyClock:    func() time.Time { return time.Now().Add(time.Duration(offset.Load())) },
		keyRotation: 30 * 24 * time.Hour,
	})
	s.createUser(t, adaEmail, "Ada Lovelace")
	webapp := s.webapp()
	c := web.Browser(t)
	ctx := context.Background()

	kids := func() []string {
		t.Helper()
		resp, body := get(t, http.DefaultClient, s.url+"/.well-known/jwks.json", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("JWKS: %d", resp.StatusCode)
		}
		var jwks struct {
			Keys []struct {
				Kid string `json:"kid"`
				Alg string `json:"alg"`
			} `json:"keys"`
		}
		if err := json.Unmarshal([]byte(body), &jwks); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, k := range jwks.Keys {
			out = append(out, k.Alg+":"+k.Kid)
		}
		return out
	}
	freshVerify := func(raw string) error {
		op, err := gooidc.NewProvider(ctx, s.url) // a relying party with no cached keys
		if err != nil {
			t.Fatal(err)
		}
		_, err = op.Verifier(&gooidc.Config{ClientID: "webapp"}).Verify(ctx, raw)
		return err
	}

	old, _ := s.Login(t, c, webapp, adaEmail)
	oldKid := "ES256:" + jwtHeader(t, old.Raw)["kid"].(string)
	if got := kids(); len(got) != 2 || !slices.Contains(got, oldKid) {
		t.Fatalf("JWKS before rotation: %v, want one ES256 and one RS256 key, with %s", got, oldKid)
	}

	offset.Store(int64(31 * 24 * time.Hour)) // past key_rotation
	rotated := kids()
	if len(rotated) != 4 || !slices.Contains(rotated, oldKid) {
		t.Fatalf("JWKS after rotation: %v, want 4 keys (new and previous of each algorithm), with %s", rotated, oldKid)
	}
	if err := freshVerify(old.Raw); err != nil {
		t.Errorf("a token of the previous key does not verify after rotation: %v", err)
	}
	next, _ := s.Login(t, c, webapp, "")
	newKid := "ES256:" + jwtHeader(t, next.Raw)["kid"].(string)
	if newKid == oldKid || !slices.Contains(rotated, newKid) {
		t.Errorf("after rotation tokens are signed by %s, want the new published key (old %s)", newKid, oldKid)
	}

	offset.Store(int64(31*24*time.Hour + signing.MaxTokenTTL - time.Hour)) // still within the window
	if got := kids(); !slices.Contains(got, oldKid) {
		t.Errorf("previous key retired before its tokens could have expired: %v", got)
	}
	offset.Store(int64(31*24*time.Hour + signing.MaxTokenTTL + time.Hour)) // past it
	retired := kids()
	if len(retired) != 2 || slices.Contains(retired, oldKid) || !slices.Contains(retired, newKid) {
		t.Errorf("JWKS after the retirement window: %v, want only the current keys (%s, not %s)", retired, newKid, oldKid)
	}
	if err := freshVerify(old.Raw); err == nil {
		t.Error("a token of the retired key still verifies")
	}
	if err := freshVerify(next.Raw); err != nil {
		t.Errorf("the current key's token: %v", err)
	}
}
