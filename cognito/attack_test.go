package cognito_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// tokensOf signs email in through client spa and returns its tokens.
func tokensOf(t *testing.T, h http.Handler, email, password string) (access, id string) {
	t.Helper()
	w := signIn(t, h, email, password)
	if w.Code != 200 {
		t.Fatalf("InitiateAuth: %d %s", w.Code, w.Body)
	}
	var out struct {
		AuthenticationResult struct{ AccessToken, IdToken string }
	}
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || out.AuthenticationResult.AccessToken == "" {
		t.Fatalf("no tokens: %s", w.Body)
	}
	return out.AuthenticationResult.AccessToken, out.AuthenticationResult.IdToken
}

// userActions are the actions that take an AccessToken, each with a body
// that would do something with a good one.
func userActions(token string) map[string]map[string]any {
	return map[string]map[string]any{
		"GetUser":                          {"AccessToken": token},
		"UpdateUserAttributes":             {"AccessToken": token, "UserAttributes": []map[string]string{{"Name": "name", "Value": "Mallory"}}},
		"VerifyUserAttribute":              {"AccessToken": token, "AttributeName": "email", "Code": "123456"},
		"GetUserAttributeVerificationCode": {"AccessToken": token, "AttributeName": "email"},
		"ChangePassword":                   {"AccessToken": token, "PreviousPassword": "correct horse battery staple", "ProposedPassword": "a brand new long passphrase"},
		"DeleteUser":                       {"AccessToken": token},
		"GlobalSignOut":                    {"AccessToken": token},
		"AssociateSoftwareToken":           {"AccessToken": token},
		"VerifySoftwareToken":              {"AccessToken": token, "UserCode": "123456"},
		"SetUserMFAPreference":             {"AccessToken": token, "SoftwareTokenMfaSettings": map[string]bool{"Enabled": true, "PreferredMfa": true}},
	}
}

// refusedEverywhere: every user action refuses token as NotAuthorized.
func refusedEverywhere(t *testing.T, h http.Handler, what, token string) {
	t.Helper()
	for action, body := range userActions(token) {
		w := call(t, h, action, body)
		if w.Code != 400 || w.Header().Get("x-amzn-ErrorType") != "NotAuthorizedException" {
			t.Errorf("%s with %s: %d %s", action, what, w.Code, w.Body)
		}
	}
}

// TestAccessTokenRefusals: an ID token, another pool's access token, a
// token whose signature was altered, and a revoked (GlobalSignOut) token
// are refused by every user action; so is the token of a deleted user.
func TestAccessTokenRefusals(t *testing.T) {
	t.Parallel()
	h, pl := inProcessAPI(t)
	const pw = "correct horse battery staple"
	u := newUser(t, pl, "tokens@example.com", pw)
	access, id := tokensOf(t, h, u.Email, pw)
	refusedEverywhere(t, h, "an ID token", id)
	// Another pool (same issuer URL, its own keys) and an altered signature.
	other := newMailSite(t)
	o := newUser(t, other.pool, "tokens@example.com", pw)
	otherAccess, _ := tokensOf(t, other.h, o.Email, pw)
	refusedEverywhere(t, h, "another pool's access token", otherAccess)
	refusedEverywhere(t, h, "an altered signature", access[:len(access)-4]+"AAAA")

	// Still good here; then signed out everywhere.
	if w := call(t, h, "GetUser", map[string]any{"AccessToken": access}); w.Code != 200 {
		t.Fatalf("GetUser before GlobalSignOut: %d %s", w.Code, w.Body)
	}
	if w := call(t, h, "GlobalSignOut", map[string]any{"AccessToken": access}); w.Code != 200 {
		t.Fatalf("GlobalSignOut: %d %s", w.Code, w.Body)
	}
	refusedEverywhere(t, h, "a revoked token", access)
	if _, err := pl.User(context.Background(), u.ID); err != nil {
		t.Fatalf("the user after the revoked token's tries: %v", err)
	}

	// A deleted user's token.
	d := newUser(t, pl, "deleted@example.com", pw)
	dAccess, _ := tokensOf(t, h, d.Email, pw)
	if err := pl.DeleteUser(context.Background(), d.ID); err != nil {
		t.Fatal(err)
	}
	w := call(t, h, "GetUser", map[string]any{"AccessToken": dAccess})
	wantError(t, w, 400, "NotAuthorizedException")
	if strings.Contains(w.Body.String(), d.Email) || strings.Contains(w.Body.String(), d.ID) {
		t.Errorf("the answer names the deleted user: %s", w.Body)
	}
	refusedEverywhere(t, h, "a deleted user's token", dAccess)
}

// TestCORSNoCredentials: the API answers any origin with "*", never a
// reflected origin with credentials allowed, on preflights, answers and
// errors alike.
func TestCORSNoCredentials(t *testing.T) {
	t.Parallel()
	h, _ := inProcessAPI(t)
	pre := httptest.NewRequest(http.MethodOptions, "/", nil)
	pre.Header.Set("Origin", "https://evil.example")
	pre.Header.Set("Access-Control-Request-Method", "POST")
	pre.Header.Set("Access-Control-Request-Headers", "x-amz-target, content-type")
	pw := httptest.NewRecorder()
	h.ServeHTTP(pw, pre)
	ok := serveWith(h, "InitiateAuth", map[string]any{"ClientId": "spa", "AuthFlow": "USER_PASSWORD_AUTH",
		"AuthParameters": map[string]string{"USERNAME": "nobody@example.com", "PASSWORD": "x"}}, map[string]string{"Origin": "https://evil.example", "Cookie": "a=b"})
	for name, w := range map[string]*httptest.ResponseRecorder{"preflight": pw, "answer": ok} {
		hd := w.Header()
		if hd.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s: Access-Control-Allow-Origin %q", name, hd.Get("Access-Control-Allow-Origin"))
		}
		if v := hd.Values("Access-Control-Allow-Credentials"); len(v) != 0 {
			t.Errorf("%s: Access-Control-Allow-Credentials %q", name, v)
		}
		if hd.Get("Set-Cookie") != "" {
			t.Errorf("%s: sets a cookie", name)
		}
	}
}

// serveWith posts an action with extra headers.
func serveWith(h http.Handler, action string, body any, headers map[string]string) *httptest.ResponseRecorder {
	b, _ := json.Marshal(body)
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(b))
	r.Header.Set("X-Amz-Target", target(action))
	r.Header.Set("Content-Type", amzJSON)
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestSignedPublicAction: a public action with a SigV4 Authorization
// header (as the AWS CLI sends when it has credentials) is the public
// action: the same answer as without it, and nothing of the signature's
// check (no admin refusal, no key named).
func TestSignedPublicAction(t *testing.T) {
	t.Parallel()
	h, pl := inProcessAPI(t)
	const pw = "correct horse battery staple"
	u := newUser(t, pl, "signed@example.com", pw)
	sig := map[string]string{
		"Authorization": "AWS4-HMAC-SHA256 Credential=AKIDNOTAKEY0000000/20260101/eu-west-1/cognito-idp/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("0", 64),
		"X-Amz-Date":    "20260101T000000Z",
	}
	body := func(p string) map[string]any {
		return map[string]any{"ClientId": "spa", "AuthFlow": "USER_PASSWORD_AUTH",
			"AuthParameters": map[string]string{"USERNAME": u.Email, "PASSWORD": p}}
	}
	wrongSigned := serveWith(h, "InitiateAuth", body("wrong password here"), sig)
	wrong := serveWith(h, "InitiateAuth", body("wrong password here"), nil)
	if wrongSigned.Code != 400 || wrongSigned.Body.String() != wrong.Body.String() {
		t.Errorf("signed %d %s; unsigned %d %s", wrongSigned.Code, wrongSigned.Body, wrong.Code, wrong.Body)
	}
	if low := strings.ToLower(wrongSigned.Body.String()); strings.Contains(low, "signature") || strings.Contains(low, "akid") {
		t.Errorf("the answer speaks of the signature: %s", wrongSigned.Body)
	}
	if w := serveWith(h, "InitiateAuth", body(pw), sig); w.Code != 200 || !strings.Contains(w.Body.String(), "AccessToken") {
		t.Errorf("a right password with a signature: %d %s", w.Code, w.Body)
	}
}

// TestBodyLimits: a body over 64 KiB is refused before any work (no
// account made), and one nested past the decoder's depth is a
// SerializationException, not a crash or an internal error.
func TestBodyLimits(t *testing.T) {
	t.Parallel()
	h, pl := inProcessAPI(t)
	b, _ := json.Marshal(map[string]any{"ClientId": "spa", "Username": "big@example.com", "Password": "correct horse battery staple",
		"UserAttributes": []map[string]string{{"Name": "name", "Value": strings.Repeat("x", 70<<10)}}})
	w := serve(h, "POST", target("SignUp"), amzJSON, b)
	wantError(t, w, http.StatusRequestEntityTooLarge, "SerializationException")
	if _, err := pl.UserByEmail(context.Background(), "big@example.com"); err == nil {
		t.Error("an oversized sign-up made an account")
	}
	for name, body := range map[string]string{
		"arrays":  `{"ClientId":"spa","X":` + strings.Repeat("[", 30000) + strings.Repeat("]", 30000) + `}`,
		"objects": `{"ClientId":"spa","X":` + strings.Repeat(`{"":`, 11000) + "1" + strings.Repeat("}", 11000) + `}`,
		"open":    `{"ClientId":"spa","X":` + strings.Repeat("[", 60000),
	} {
		if len(body) > 64<<10 {
			t.Fatalf("%s: %d bytes, over the limit: not the case meant", name, len(body))
		}
		w := serve(h, "POST", target("InitiateAuth"), amzJSON, []byte(body))
		wantError(t, w, 400, "SerializationException")
	}
}

// TestSecretHashEveryAction: a client with a secret is refused, before
// any work, by every action that takes SECRET_HASH when it is missing or
// wrong; a public client needs none.
func TestSecretHashEveryAction(t *testing.T) {
	t.Parallel()
	m := newMailSite(t)
	const email = "hashless@example.com"
	for _, hash := range []string{"", secretHash("another-secret-0123456789abcdef", email, "webapp")} {
		bodies := map[string]map[string]any{
			"SignUp":                 {"ClientId": "webapp", "Username": email, "Password": "correct horse battery staple", "SecretHash": hash},
			"ConfirmSignUp":          {"ClientId": "webapp", "Username": email, "ConfirmationCode": "123456", "SecretHash": hash},
			"ForgotPassword":         {"ClientId": "webapp", "Username": email, "SecretHash": hash},
			"ConfirmForgotPassword":  {"ClientId": "webapp", "Username": email, "ConfirmationCode": "123456", "Password": "correct horse battery staple", "SecretHash": hash},
			"ResendConfirmationCode": {"ClientId": "webapp", "Username": email, "SecretHash": hash},
			"InitiateAuth": {"ClientId": "webapp", "AuthFlow": "USER_PASSWORD_AUTH",
				"AuthParameters": map[string]string{"USERNAME": email, "PASSWORD": "correct horse battery staple", "SECRET_HASH": hash}},
			"RespondToAuthChallenge": {"ClientId": "webapp", "ChallengeName": "SOFTWARE_TOKEN_MFA", "Session": "webapp:x",
				"ChallengeResponses": map[string]string{"USERNAME": email, "SOFTWARE_TOKEN_MFA_CODE": "123456", "SECRET_HASH": hash}},
		}
		for action, body := range bodies {
			w := call(t, m.h, action, body)
			b := wantError(t, w, 400, "NotAuthorizedException")
			if msg, _ := b["message"].(string); !strings.Contains(msg, "SECRET_HASH") && !strings.Contains(msg, "secret hash") {
				t.Errorf("%s, hash %q: %v", action, hash, b)
			}
		}
	}
	if _, err := m.pool.UserByEmail(context.Background(), email); err == nil {
		t.Error("a sign-up without its SECRET_HASH made an account")
	}
	// REFRESH_TOKEN_AUTH: a real refresh token, without its hash.
	const pw, secret = "correct horse battery staple", "webapp-secret-0123456789abcdef"
	u := newUser(t, m.pool, "refresher@example.com", pw)
	w := call(t, m.h, "InitiateAuth", map[string]any{"ClientId": "webapp", "AuthFlow": "USER_PASSWORD_AUTH",
		"AuthParameters": map[string]string{"USERNAME": u.Email, "PASSWORD": pw, "SECRET_HASH": secretHash(secret, u.Email, "webapp")}})
	var out struct{ AuthenticationResult struct{ RefreshToken string } }
	if err := json.Unmarshal(w.Body.Bytes(), &out); w.Code != 200 || err != nil || out.AuthenticationResult.RefreshToken == "" {
		t.Fatalf("sign-in with the right SECRET_HASH: %d %s", w.Code, w.Body)
	}
	for _, hash := range []string{"", secretHash("another-secret-0123456789abcdef", u.ID, "webapp")} {
		w := call(t, m.h, "InitiateAuth", map[string]any{"ClientId": "webapp", "AuthFlow": "REFRESH_TOKEN_AUTH",
			"AuthParameters": map[string]string{"REFRESH_TOKEN": out.AuthenticationResult.RefreshToken, "SECRET_HASH": hash}})
		wantError(t, w, 400, "NotAuthorizedException")
	}
	w = call(t, m.h, "InitiateAuth", map[string]any{"ClientId": "webapp", "AuthFlow": "REFRESH_TOKEN_AUTH",
		"AuthParameters": map[string]string{"REFRESH_TOKEN": out.AuthenticationResult.RefreshToken, "SECRET_HASH": secretHash(secret, u.ID, "webapp")}})
	if w.Code != 200 {
		t.Fatalf("the refresh with its SECRET_HASH: %d %s", w.Code, w.Body)
	}
	if n := m.smtp.CountTo(email); n != 0 {
		t.Errorf("%d mails went out for requests without their SECRET_HASH", n)
	}
}

// TestConfirmSignUpTiming measures ConfirmSignUp for an unknown address
// against one whose account has no live code: the two do the same work.
// Opt-in, as TestEnumerationTiming: GATEHOUSE_TIMING=1 go test ./cognito
// -run TestConfirmSignUpTiming -v
func TestConfirmSignUpTiming(t *testing.T) {
	if os.Getenv("GATEHOUSE_TIMING") == "" {
		t.Skip("a measurement: GATEHOUSE_TIMING=1 go test ./cognito -run TestConfirmSignUpTiming -v")
	}
	h, pl := inProcessAPI(t)
	newUser(t, pl, "timed@example.com", "correct horse battery staple")
	const samples = 400
	times := map[string][]time.Duration{}
	for i := range samples {
		for _, email := range []string{"timed@example.com", "untimed@example.com"} {
			if i%2 == 1 {
				email = map[string]string{"timed@example.com": "untimed@example.com", "untimed@example.com": "timed@example.com"}[email]
			}
			start := time.Now()
			call(t, h, "ConfirmSignUp", map[string]any{"ClientId": "spa", "Username": email, "ConfirmationCode": "123456"})
			times[email] = append(times[email], time.Since(start))
		}
	}
	median := func(d []time.Duration) time.Duration { slices.Sort(d); return d[len(d)/2] }
	known, unknown := median(times["timed@example.com"]), median(times["untimed@example.com"])
	t.Logf("median: known %v, unknown %v", known, unknown)
	if diff := max(known, unknown) - min(known, unknown); diff > max(known, unknown)/5 {
		t.Errorf("known %v and unknown %v differ by %v", known, unknown, diff)
	}
}
