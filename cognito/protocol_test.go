package cognito_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/cognito"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

const amzJSON = "application/x-amz-json-1.1"

func target(action string) string { return cognito.TargetPrefix + action }

// wantError checks an answer is the API's error named typ: status, JSON
// body, headers; never a page.
func wantError(t *testing.T, w *httptest.ResponseRecorder, status int, typ string) map[string]any {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d: %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != amzJSON {
		t.Fatalf("Content-Type %q", ct)
	}
	if got := w.Header().Get("x-amzn-ErrorType"); got != typ {
		t.Fatalf("x-amzn-ErrorType %q, want %q", got, typ)
	}
	if w.Header().Get("x-amzn-RequestId") == "" {
		t.Fatal("no x-amzn-RequestId")
	}
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body is not JSON: %q", w.Body)
	}
	if body["__type"] != typ {
		t.Fatalf("__type %v, want %s: %s", body["__type"], typ, w.Body)
	}
	return body
}

func TestProtocolErrors(t *testing.T) {
	t.Parallel()
	h, _ := inProcessAPI(t)
	huge := []byte(`{"ClientId":"` + strings.Repeat("a", 70<<10) + `"}`)
	for _, tc := range []struct {
		name, method, target, ct string
		body                     []byte
		status                   int
		typ                      string
	}{
		{"malformed JSON", "POST", target("InitiateAuth"), amzJSON, []byte(`{"ClientId":`), 400, "SerializationException"},
		{"not an object", "POST", target("SignUp"), amzJSON, []byte(`[1,2]`), 400, "SerializationException"},
		{"wrong field type", "POST", target("InitiateAuth"), amzJSON, []byte(`{"ClientId": 5}`), 400, "SerializationException"},
		{"wrong content type", "POST", target("InitiateAuth"), "text/plain", []byte(`{}`), 400, "SerializationException"},
		{"form content type", "POST", target("InitiateAuth"), "application/x-www-form-urlencoded", []byte(`a=b`), 400, "SerializationException"},
		{"huge body", "POST", target("SignUp"), amzJSON, huge, 413, "SerializationException"},
		{"action not built", "POST", target("ListUserPools"), amzJSON, []byte(`{}`), 400, "UnknownOperationException"},
		{"admin action, no verifier", "POST", target("AdminGetUser"), amzJSON, []byte(`{}`), 400, "NotAuthorizedException"},
		{"another service", "POST", "AWSCognitoIdentityService.GetId", amzJSON, []byte(`{}`), 400, "UnknownOperationException"},
		{"no target", "POST", "", amzJSON, []byte(`{}`), 400, "UnknownOperationException"},
		{"GET", "GET", target("GetUser"), amzJSON, nil, 400, "UnknownOperationException"},
		{"empty body", "POST", target("InitiateAuth"), amzJSON, nil, 400, "InvalidParameterException"},
		{"unknown client", "POST", target("InitiateAuth"), amzJSON, []byte(`{"ClientId":"nope","AuthFlow":"USER_PASSWORD_AUTH"}`), 400, "ResourceNotFoundException"},
		{"unknown flow", "POST", target("InitiateAuth"), amzJSON, []byte(`{"ClientId":"spa","AuthFlow":"CUSTOM_AUTH"}`), 400, "InvalidParameterException"},
		{"flow not allowed", "POST", target("InitiateAuth"), amzJSON, []byte(`{"ClientId":"webapp","AuthFlow":"REFRESH_TOKEN_AUTH","AuthParameters":{"REFRESH_TOKEN":"x"}}`), 400, "InvalidParameterException"},
		{"no access token", "POST", target("GetUser"), amzJSON, []byte(`{}`), 400, "InvalidParameterException"},
		{"forged access token", "POST", target("GetUser"), amzJSON, []byte(`{"AccessToken":"eyJhbGciOiJub25lIn0.e30."}`), 400, "NotAuthorizedException"},
		{"forged session", "POST", target("RespondToAuthChallenge"), amzJSON,
			[]byte(`{"ClientId":"spa","ChallengeName":"SOFTWARE_TOKEN_MFA","Session":"spa:AAAA","ChallengeResponses":{"SOFTWARE_TOKEN_MFA_CODE":"123456"}}`), 400, "NotAuthorizedException"},
		{"forged set-up session", "POST", target("RespondToAuthChallenge"), amzJSON,
			[]byte(`{"ClientId":"spa","ChallengeName":"MFA_SETUP","Session":"spa:gh1.AAAA"}`), 400, "NotAuthorizedException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, serve(h, tc.method, tc.target, tc.ct, tc.body), tc.status, tc.typ)
		})
	}
}

// TestPreflight: browsers running Amplify call the API cross-origin.
func TestPreflight(t *testing.T) {
	t.Parallel()
	h, _ := inProcessAPI(t)
	r := httptest.NewRequest(http.MethodOptions, "/", nil)
	r.Header.Set("Origin", "https://app.example.test")
	r.Header.Set("Access-Control-Request-Method", "POST")
	r.Header.Set("Access-Control-Request-Headers", "content-type,x-amz-target,x-amz-user-agent")
	if !cognito.Matches(r) {
		t.Fatal("a preflight of / is not the API's")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK || w.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("preflight: %d %v", w.Code, w.Header())
	}
	allowed := w.Header().Get("Access-Control-Allow-Headers")
	for _, want := range []string{"content-type", "x-amz-target", "x-amz-user-agent", "authorization", "amz-sdk-invocation-id", "amz-sdk-request"} {
		if !strings.Contains(allowed, want) {
			t.Errorf("Access-Control-Allow-Headers %q lacks %s", allowed, want)
		}
	}
	if !strings.Contains(w.Header().Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("Access-Control-Allow-Methods %q", w.Header().Get("Access-Control-Allow-Methods"))
	}
	// An answer exposes what the SDK reads.
	w = serve(h, "POST", target("Nope"), amzJSON, []byte(`{}`))
	if w.Header().Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(w.Header().Get("Access-Control-Expose-Headers"), "x-amzn-requestid") {
		t.Fatalf("answer CORS headers %v", w.Header())
	}
}

func TestMatches(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		method, path, target, preflight string
		want                            bool
	}{
		{"POST", "/", "AWSCognitoIdentityProviderService.InitiateAuth", "", true},
		{"POST", "/", "", "", false},
		{"POST", "/oauth2/token", "AWSCognitoIdentityProviderService.InitiateAuth", "", false},
		{"GET", "/", "AWSCognitoIdentityProviderService.GetUser", "", false},
		{"OPTIONS", "/", "", "POST", true},
		{"OPTIONS", "/", "", "", false},
		{"OPTIONS", "/x", "", "POST", false},
	} {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		if tc.target != "" {
			r.Header.Set("X-Amz-Target", tc.target)
		}
		if tc.preflight != "" {
			r.Header.Set("Access-Control-Request-Method", tc.preflight)
		}
		if got := cognito.Matches(r); got != tc.want {
			t.Errorf("%s %s target %q: Matches %v", tc.method, tc.path, tc.target, got)
		}
	}
}

func TestCheckPoolID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		id, region string
		ok         bool
	}{
		{"us-east-1_AbCdEf123", "us-east-1", true},
		{"us-east-1_AbCdEf123", "", true},
		{"eu-central-1_x", "eu-central-1", true},
		{"us-gov-west-1_Abc", "us-gov-west-1", true},
		{"us-east-1_AbCdEf123", "eu-west-1", false},
		{"us-east-1AbCdEf123", "", false},
		{"us-east-1_", "", false},
		{"_AbC", "", false},
		{"US-EAST-1_abc", "", false},
		{"us-east-1_ab-c", "", false},
		{"us-east-1_abc\n", "", false},
	} {
		if err := cognito.CheckPoolID(tc.id, tc.region); (err == nil) != tc.ok {
			t.Errorf("CheckPoolID(%q, %q) = %v", tc.id, tc.region, err)
		}
	}
}

func call(t *testing.T, h http.Handler, action string, body any) *httptest.ResponseRecorder {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return serve(h, "POST", target(action), amzJSON, b)
}

func newUser(t *testing.T, pl *pool.Pool, email, password string) *store.User {
	t.Helper()
	u, err := pl.CreateUser(context.Background(), pool.NewUser{Email: email, Password: password, EmailVerified: true})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestNoEnumeration: an unknown user, a wrong password and a disabled
// user's wrong password get the same answer, byte for byte.
func TestNoEnumeration(t *testing.T) {
	t.Parallel()
	h, pl := inProcessAPI(t)
	newUser(t, pl, "enum@example.com", "correct horse battery staple")
	answer := func(user, pw string) string {
		w := call(t, h, "InitiateAuth", map[string]any{"ClientId": "spa", "AuthFlow": "USER_PASSWORD_AUTH",
			"AuthParameters": map[string]string{"USERNAME": user, "PASSWORD": pw}})
		wantError(t, w, 400, "NotAuthorizedException")
		return w.Body.String()
	}
	wrong := answer("enum@example.com", "wrong password here")
	for _, user := range []string{"nobody@example.com", "not an address", "ENUM@example.com "} {
		if got := answer(user, "wrong password here"); got != wrong {
			t.Errorf("user %q: %s, a wrong password: %s", user, got, wrong)
		}
	}
}

func secretHash(secret, username, clientID string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(username + clientID))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// TestSecretHash: a client with a secret needs SECRET_HASH over the
// username and its id, checked before the password is.
func TestSecretHash(t *testing.T) {
	t.Parallel()
	h, pl := inProcessAPI(t)
	const email, pw, secret = "hash@example.com", "correct horse battery staple", "webapp-secret-0123456789abcdef"
	newUser(t, pl, email, pw)
	auth := func(hash string) *httptest.ResponseRecorder {
		p := map[string]string{"USERNAME": email, "PASSWORD": pw}
		if hash != "" {
			p["SECRET_HASH"] = hash
		}
		return call(t, h, "InitiateAuth", map[string]any{"ClientId": "webapp", "AuthFlow": "USER_PASSWORD_AUTH", "AuthParameters": p})
	}
	for name, hash := range map[string]string{
		"missing":            "",
		"not base64":         "%%%",
		"another secret":     secretHash("another-secret-0123456789abcdef", email, "webapp"),
		"another username":   secretHash(secret, "x"+email, "webapp"),
		"another client":     secretHash(secret, email, "spa"),
		"truncated":          secretHash(secret, email, "webapp")[:20],
		"username no client": secretHash(secret, email, ""),
	} {
		body := wantError(t, auth(hash), 400, "NotAuthorizedException")
		if !strings.Contains(body["message"].(string), "SECRET_HASH") && !strings.Contains(body["message"].(string), "secret hash") {
			t.Errorf("%s: %v", name, body)
		}
	}
	w := auth(secretHash(secret, email, "webapp"))
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"AccessToken"`) {
		t.Fatalf("the right SECRET_HASH: %d %s", w.Code, w.Body)
	}
}

// TestSessionBoundToClient: a challenge session answers only through the
// client it began at.
func TestSessionBoundToClient(t *testing.T) {
	t.Parallel()
	h, pl := inProcessAPI(t)
	const email, pw = "bound@example.com", "correct horse battery staple"
	u := newUser(t, pl, email, pw)
	// A temporary password gives a challenge.
	if err := pl.Store().UpdatePassword(context.Background(), u.ID, u.PasswordHash, store.StatusForceChangePassword); err != nil {
		t.Fatal(err)
	}
	w := call(t, h, "InitiateAuth", map[string]any{"ClientId": "spa", "AuthFlow": "USER_PASSWORD_AUTH",
		"AuthParameters": map[string]string{"USERNAME": email, "PASSWORD": pw}})
	var a struct {
		ChallengeName       string
		Session             string
		ChallengeParameters map[string]string
	}
	if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil || a.ChallengeName != "NEW_PASSWORD_REQUIRED" {
		t.Fatalf("temporary password: %d %s", w.Code, w.Body)
	}
	var attrs map[string]string
	if err := json.Unmarshal([]byte(a.ChallengeParameters["userAttributes"]), &attrs); err != nil || attrs["email"] != email ||
		a.ChallengeParameters["requiredAttributes"] != "[]" {
		t.Fatalf("NEW_PASSWORD_REQUIRED parameters %v", a.ChallengeParameters)
	}
	respond := func(client, session string) *httptest.ResponseRecorder {
		return call(t, h, "RespondToAuthChallenge", map[string]any{"ClientId": client, "ChallengeName": "NEW_PASSWORD_REQUIRED",
			"Session": session, "ChallengeResponses": map[string]string{"USERNAME": email, "NEW_PASSWORD": "a brand new passphrase 42",
				"SECRET_HASH": secretHash("webapp-secret-0123456789abcdef", email, "webapp")}})
	}
	wantError(t, respond("webapp", a.Session), 400, "NotAuthorizedException")
	_, inner, _ := strings.Cut(a.Session, ":")
	wantError(t, respond("webapp", "webapp:"+inner), 400, "NotAuthorizedException")
	w = respond("spa", a.Session)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"IdToken"`) {
		t.Fatalf("the new password through its own client: %d %s", w.Code, w.Body)
	}
	wantError(t, respond("spa", a.Session), 400, "NotAuthorizedException")
}
