package cognito_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

// signInTokens signs in through client (with its SECRET_HASH if secret is
// set) and returns the AuthenticationResult.
func (s *site) signInTokens(t *testing.T, client, secret, email, pw string) map[string]any {
	t.Helper()
	p := map[string]string{"USERNAME": email, "PASSWORD": pw}
	if secret != "" {
		p["SECRET_HASH"] = hashOf(secret, email, client)
	}
	st, _, a := s.call(t, "InitiateAuth", map[string]any{"ClientId": client, "AuthFlow": "USER_PASSWORD_AUTH", "AuthParameters": p})
	res, _ := a["AuthenticationResult"].(map[string]any)
	if st != 200 || res == nil {
		t.Fatalf("InitiateAuth at %s: %d %v", client, st, a)
	}
	return res
}

func hashOf(secret, username, client string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(username + client))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// subOf reads the sub of a token without verifying it (the API verified
// it already).
func subOf(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ Sub string }
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c.Sub
}

// TestRefreshActions: GetTokensFromRefreshToken and REFRESH_TOKEN_AUTH
// (with a secret client's hash over the user's sub), and RevokeToken
// ending a refresh token.
func TestRefreshActions(t *testing.T) {
	s := startSite(t, "throttle off")
	const email, pw = "refresh@example.com", "correct horse battery staple"
	s.signUpConfirmed(t, email, pw)

	res := s.signInTokens(t, publicApp, "", email, pw)
	st, _, b := s.call(t, "GetTokensFromRefreshToken", map[string]any{"ClientId": publicApp, "RefreshToken": res["RefreshToken"]})
	next, _ := b["AuthenticationResult"].(map[string]any)
	if st != 200 || next["AccessToken"] == nil || next["RefreshToken"] == nil {
		t.Fatalf("GetTokensFromRefreshToken: %d %v", st, b)
	}
	if st, _, b := s.call(t, "GetTokensFromRefreshToken", map[string]any{"ClientId": secretApp, "RefreshToken": next["RefreshToken"], "ClientSecret": webappSecret}); st != 400 || errType(b) != "NotAuthorizedException" {
		t.Fatalf("another client's refresh token: %d %v", st, b)
	}
	if st, _, b := s.call(t, "RevokeToken", map[string]any{"ClientId": publicApp, "Token": next["RefreshToken"]}); st != 200 {
		t.Fatalf("RevokeToken: %d %v", st, b)
	}
	if _, _, b := s.call(t, "InitiateAuth", map[string]any{"ClientId": publicApp, "AuthFlow": "REFRESH_TOKEN_AUTH",
		"AuthParameters": map[string]string{"REFRESH_TOKEN": next["RefreshToken"].(string)}}); errType(b) != "NotAuthorizedException" {
		t.Fatalf("a revoked refresh token: %v", b)
	}

	// The secret client: its secret itself, or a hash over the username.
	res = s.signInTokens(t, secretApp, webappSecret, email, pw)
	rt := res["RefreshToken"].(string)
	if _, _, b := s.call(t, "GetTokensFromRefreshToken", map[string]any{"ClientId": secretApp, "RefreshToken": rt, "ClientSecret": "wrong-secret-0123456789abcdef"}); errType(b) != "NotAuthorizedException" {
		t.Fatalf("a wrong client secret: %v", b)
	}
	refresh := func(hash string) (int, map[string]any) {
		st, _, b := s.call(t, "InitiateAuth", map[string]any{"ClientId": secretApp, "AuthFlow": "REFRESH_TOKEN_AUTH",
			"AuthParameters": map[string]string{"REFRESH_TOKEN": rt, "SECRET_HASH": hash}})
		return st, b
	}
	if _, b := refresh(""); errType(b) != "NotAuthorizedException" {
		t.Fatalf("no SECRET_HASH: %v", b)
	}
	if _, b := refresh(hashOf(webappSecret, "someone-else", secretApp)); errType(b) != "NotAuthorizedException" {
		t.Fatalf("a hash over another username: %v", b)
	}
	st, b = refresh(hashOf(webappSecret, subOf(t, res["AccessToken"].(string)), secretApp))
	if r, _ := b["AuthenticationResult"].(map[string]any); st != 200 || r["IdToken"] == nil {
		t.Fatalf("REFRESH_TOKEN_AUTH with the hash over the sub: %d %v", st, b)
	}
	// The secret client may not refresh through USER_SRP_AUTH's client
	// flows it lacks: its auth_flows have no ALLOW_USER_SRP_AUTH.
	if _, _, b := s.call(t, "InitiateAuth", map[string]any{"ClientId": secretApp, "AuthFlow": "USER_SRP_AUTH",
		"AuthParameters": map[string]string{"USERNAME": email, "SRP_A": "ab"}}); errType(b) != "InvalidParameterException" ||
		!strings.Contains(b["message"].(string), "not enabled") {
		t.Fatalf("SRP at a client without it: %v", b)
	}
}

// TestLockout: the pool's lockout counts the API's wrong passwords as the
// hosted pages' ones, and reads the same for an unknown user.
func TestLockout(t *testing.T) {
	s := startSite(t, "throttle off\n\t\t\tlockout {\n\t\t\t\tthreshold 3\n\t\t\t}")
	const email, pw = "locked@example.com", "correct horse battery staple"
	s.signUpConfirmed(t, email, pw)
	try := func(user, password string) string {
		_, _, b := s.call(t, "InitiateAuth", map[string]any{"ClientId": publicApp, "AuthFlow": "USER_PASSWORD_AUTH",
			"AuthParameters": map[string]string{"USERNAME": user, "PASSWORD": password}})
		if errType(b) != "NotAuthorizedException" {
			t.Fatalf("%s: %v", user, b)
		}
		return b["message"].(string)
	}
	for _, user := range []string{email, "ghost@example.com"} {
		for range 3 {
			try(user, "wrong password here")
		}
	}
	if m := try(email, pw); m != "Password attempts exceeded" {
		t.Fatalf("the right password after the lockout: %q", m)
	}
	if m := try("ghost@example.com", pw); m != "Password attempts exceeded" {
		t.Fatalf("an unknown user after as many tries: %q", m)
	}
}
