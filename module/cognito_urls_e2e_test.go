package module_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/internal/testenv/oauthtest"
)

// TestCognitoAppThroughCaddy: what a Cognito app meets on the issuer site,
// wired by the Caddyfile. Its classic hosted-UI links work: /signup takes a
// new user through sign-up, confirmation and sign-in back to the app with a
// code; /login signs in; a bad redirect_uri is refused without a redirect;
// without client_id the paths are the site's own. And its client, with
// `refresh_token_rotation off`, keeps its first refresh token.
func TestCognitoAppThroughCaddy(t *testing.T) {
	smtp := testenv.StartSMTP(t, testenv.SMTPOptions{})
	const cognitoCB, cognitoSecret = "https://cognito.example.test/cb", "cognito-secret-0123456789abcdef"
	s := startIDP(t, idpClients+`
			client cognito {
				redirect_uri `+cognitoCB+`
				secret `+cognitoSecret+`
				refresh_token_rotation off
			}
			signup open
			mail `+smtp.URL()+` {
				from "Example Corp <no-reply@example.com>"
				timeout 2s
			}`)
	s.createUser(t, adaEmail, "Ada Lovelace")
	pages := &accounts{smtp: smtp, base: s.issuer}
	query := func(client, redirectURI, state string) string {
		return url.Values{"client_id": {client}, "response_type": {"code"}, "redirect_uri": {redirectURI},
			"scope": {"openid email"}, "state": {state}}.Encode()
	}

	// /signup: the sign-up page, then back to the app.
	c := testenv.Browser(t)
	resp, body := get(t, c, s.issuer+"/signup?"+query("webapp", webappCB, "st-signup"), nil)
	loc, err := resp.Location()
	if resp.StatusCode != http.StatusFound || err != nil || loc.Path != "/_gatehouse/signup" {
		t.Fatalf("/signup: status %d, Location %q: %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	rd := loc.Query().Get("rd")
	const email, password = "grace@example.com", "a quiet walk in the hills"
	resp, body = pages.form(t, c, loc.RequestURI(), url.Values{"email": {email}, "password": {password}, "rd": {rd}})
	wantStatus(t, "sign-up", resp, body, http.StatusSeeOther)
	code := smtp.WaitFor(t, email, 1, mailWait).Code(t)
	resp, body = pages.form(t, c, "/_gatehouse/confirm", url.Values{"email": {email}, "code": {code}, "password": {password},
		"action": {"confirm"}, "rd": {rd}})
	wantStatus(t, "confirm", resp, body, http.StatusSeeOther)
	if loc, _ := url.Parse(resp.Header.Get("Location")); loc.Query().Get("rd") != rd {
		t.Fatalf("confirmation continues to %s, want the sign-in keeping rd %q", loc, rd)
	}
	if _, to := signIn(t, c, s.issuer, rd, email, password); to != rd {
		t.Fatalf("sign-in continues to %q, want %q", to, rd)
	}
	back, _ := s.Navigate(t, c, s.issuer+rd, "")
	webapp := s.RP("webapp", webappSecret, webappCB)
	tok, err := webapp.Conf.Exchange(context.Background(), s.CodeFrom(t, back, webappCB, "st-signup"))
	if err != nil {
		t.Fatalf("exchange after sign-up: %v", err)
	}
	if got := oauthtest.VerifyTokens(t, webapp, tok, ""); got.Claim["email"] != email {
		t.Errorf("tokens after sign-up are %v's, want %s's", got.Claim["email"], email)
	}

	// /login for the Cognito client, in another browser.
	c = testenv.Browser(t)
	back, n := s.Navigate(t, c, s.issuer+"/login?"+query("cognito", cognitoCB, "st-login"), adaEmail)
	if n != 1 {
		t.Fatalf("/login: %d sign-ins, want 1", n)
	}
	cognito := s.RP("cognito", cognitoSecret, cognitoCB)
	tok, err = cognito.Conf.Exchange(context.Background(), s.CodeFrom(t, back, cognitoCB, "st-login"))
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("exchange of /login's code: %v (refresh token %q)", err, tok.RefreshToken)
	}
	// refresh_token_rotation off: the same refresh token, again and again.
	for i := range 3 {
		resp, body := oauthtest.TokenCall(t, s.issuer+"/oauth2/token",
			url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, "cognito", cognitoSecret)
		if _, has := body["refresh_token"]; resp.StatusCode != http.StatusOK || has || body["access_token"] == nil {
			t.Fatalf("refresh %d with rotation off: %d %v", i+1, resp.StatusCode, body)
		}
	}

	// Cognito's /logout?response_type=code&...: sign out, then that
	// client's sign-in. A foreign redirect_uri (or a logout_uri beside it)
	// signs nobody out and goes nowhere.
	for _, q := range []string{
		query("cognito", "https://evil.example.test/cb", "st-bad"),
		query("cognito", cognitoCB, "st-bad") + "&logout_uri=" + url.QueryEscape(cognitoCB),
	} {
		resp, _ := get(t, c, s.issuer+"/logout?"+q, nil)
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("/logout?%s: %d, Location %q, want 400 and no redirect", q, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if _, n := s.Navigate(t, c, s.issuer+"/login?"+query("cognito", cognitoCB, "st-still"), adaEmail); n != 0 {
		t.Fatalf("after refused sign-outs: %d sign-ins, want 0 (still signed in)", n)
	}
	resp, body = get(t, c, s.issuer+"/logout?"+query("cognito", cognitoCB, "st-again"), nil)
	loc, err = resp.Location()
	if resp.StatusCode != http.StatusSeeOther || err != nil || loc.Path != "/oauth2/authorize" ||
		loc.Query().Get("client_id") != "cognito" || loc.Query().Get("state") != "st-again" || loc.Query().Get("redirect_uri") != cognitoCB {
		t.Fatalf("/logout?response_type=code: %d %q: %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	back, n = s.Navigate(t, c, loc.String(), adaEmail)
	if n != 1 {
		t.Fatalf("after /logout?response_type=code: %d sign-ins, want 1 (signed out, then the sign-in page)", n)
	}
	if _, err := cognito.Conf.Exchange(context.Background(), s.CodeFrom(t, back, cognitoCB, "st-again")); err != nil {
		t.Fatalf("exchange after signing in again: %v", err)
	}

	// Refusals, and the site's own paths.
	for _, path := range []string{"/login", "/signup", "/forgotPassword"} {
		resp, _ := get(t, testenv.Browser(t), s.issuer+path+"?"+query("webapp", "https://evil.example.test/cb", "x"), nil)
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("%s with a foreign redirect_uri: %d, Location %q, want 400 and no redirect", path, resp.StatusCode, resp.Header.Get("Location"))
		}
		resp, body := get(t, http.DefaultClient, s.issuer+path, nil)
		if resp.StatusCode != http.StatusOK || body != "issuer home" {
			t.Errorf("%s without client_id: %d %q, want the site's own answer", path, resp.StatusCode, body)
		}
	}
	resp, _ = get(t, testenv.Browser(t), s.issuer+"/forgotPassword?"+query("webapp", webappCB, "x"), nil)
	if loc, err := resp.Location(); resp.StatusCode != http.StatusFound || err != nil || loc.Path != "/_gatehouse/forgot" {
		t.Errorf("/forgotPassword: %d %q, want the reset page", resp.StatusCode, resp.Header.Get("Location"))
	}
}
