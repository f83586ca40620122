package cognito_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/gatehouse-auth/gatehouse/cognito"
	"github.com/gatehouse-auth/gatehouse/pool"
)

// FuzzAPI sends any body to any action, of a pool without SRP and of one
// with it: every answer is the API's JSON, 200 or a 4xx error with its
// type named; never a 500, never a page.
func FuzzAPI(f *testing.F) {
	for _, seed := range []struct{ action, body string }{
		{"InitiateAuth", `{"ClientId":"spa","AuthFlow":"USER_PASSWORD_AUTH","AuthParameters":{"USERNAME":"a@example.com","PASSWORD":"x"}}`},
		{"InitiateAuth", `{"ClientId":"spa","AuthFlow":"REFRESH_TOKEN_AUTH","AuthParameters":{"REFRESH_TOKEN":"abc"}}`},
		{"RespondToAuthChallenge", `{"ClientId":"spa","ChallengeName":"MFA_SETUP","Session":"spa:gh1.AAAA"}`},
		{"RespondToAuthChallenge", `{"ClientId":"spa","ChallengeName":"SELECT_MFA_TYPE","Session":"spa:x","ChallengeResponses":{"ANSWER":"EMAIL_OTP"}}`},
		{"SignUp", `{"ClientId":"spa","Username":"a@example.com","Password":"p","UserAttributes":[{"Name":"email","Value":"b"}]}`},
		{"ConfirmSignUp", `{"ClientId":"spa","Username":"a@example.com","ConfirmationCode":"123456"}`},
		{"ForgotPassword", `{"ClientId":"webapp","Username":"a@example.com","SecretHash":"AAAA"}`},
		{"GetUser", `{"AccessToken":"eyJhbGciOiJFUzI1NiJ9.e30.AAAA"}`},
		{"VerifySoftwareToken", `{"Session":"webapp:zzz","UserCode":"123456"}`},
		{"AssociateSoftwareToken", `{"Session":":"}`},
		{"SetUserMFAPreference", `{"AccessToken":"x","SMSMfaSettings":{"Enabled":true}}`},
		{"RevokeToken", `{"ClientId":"spa","Token":"x"}`},
		{"GetTokensFromRefreshToken", `{"ClientId":"webapp","RefreshToken":"x","ClientSecret":"y"}`},
		{"InitiateAuth", `{"ClientId":"srpapp","AuthFlow":"USER_SRP_AUTH","AuthParameters":{"USERNAME":"a@example.com","SRP_A":"02"}}`},
		{"RespondToAuthChallenge", `{"ClientId":"srpapp","ChallengeName":"PASSWORD_VERIFIER","ChallengeResponses":{"USERNAME":"x","PASSWORD_CLAIM_SECRET_BLOCK":"AAAA","TIMESTAMP":"Sun Dec 6 11:00:00 UTC 2026","PASSWORD_CLAIM_SIGNATURE":"AAAA"}}`},
		{"RespondToAuthChallenge", `{"ClientId":"srpapp","ChallengeName":"PASSWORD_VERIFIER","Session":"srpapp:gh1.AAAA","ChallengeResponses":{"PASSWORD_CLAIM_SECRET_BLOCK":"Z2gx","TIMESTAMP":"x","PASSWORD_CLAIM_SIGNATURE":"y"}}`},
		{"InitiateAuth", `{"ClientId":"choice","AuthFlow":"USER_AUTH","AuthParameters":{"USERNAME":"a@example.com"}}`},
		{"InitiateAuth", `{"ClientId":"choice","AuthFlow":"USER_AUTH","AuthParameters":{"USERNAME":"a@example.com","PREFERRED_CHALLENGE":"WEB_AUTHN"}}`},
		{"InitiateAuth", `{"ClientId":"choice","AuthFlow":"USER_AUTH","AuthParameters":{"USERNAME":"a@example.com","PREFERRED_CHALLENGE":"PASSWORD","PASSWORD":"x"}}`},
		{"RespondToAuthChallenge", `{"ClientId":"choice","ChallengeName":"SELECT_CHALLENGE","Session":"choice:AAAA","ChallengeResponses":{"ANSWER":"PASSWORD_SRP","SRP_A":"02"}}`},
		{"RespondToAuthChallenge", `{"ClientId":"choice","ChallengeName":"WEB_AUTHN","Session":"choice:AAAA","ChallengeResponses":{"CREDENTIAL":"{\"id\":\"AA\",\"response\":{}}"}}`},
		{"StartWebAuthnRegistration", `{"AccessToken":"eyJhbGciOiJFUzI1NiJ9.e30.AAAA"}`},
		{"CompleteWebAuthnRegistration", `{"AccessToken":"x","Credential":{"id":"AA","response":{"clientDataJSON":"e30"}}}`},
		{"ListWebAuthnCredentials", `{"AccessToken":"x","MaxResults":99}`},
		{"DeleteWebAuthnCredential", `{"AccessToken":"x","CredentialId":"AA"}`},
		{"Nope", `{}`},
		{"SignUp", `{"ClientId":`},
		{"InitiateAuth", `null`},
	} {
		f.Add(seed.action, []byte(seed.body))
	}
	h, _ := inProcessAPI(f)
	withSRP, _ := inProcessSRPAPI(f)
	// The first pool with a passkey site: USER_AUTH offers WEB_AUTHN.
	cfg := apiConfig
	rp, err := pool.NewRelyingParty("https://app.example.test")
	if err != nil {
		f.Fatal(err)
	}
	cfg.WebAuthn = &rp
	withPasskeys, err := cognito.New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, action string, body []byte) {
		for _, h := range []http.Handler{h, withSRP, withPasskeys} {
			check(t, h, action, body)
		}
	})
}

// check sends one call and checks the answer's shape.
func check(t *testing.T, h http.Handler, action string, body []byte) {
	w := serve(h, "POST", target(action), amzJSON, body)
	if w.Code != 200 && (w.Code < 400 || w.Code >= 500) {
		t.Fatalf("%s %q: status %d: %s", action, body, w.Code, w.Body)
	}
	if w.Header().Get("Content-Type") != amzJSON {
		t.Fatalf("%s %q: Content-Type %q", action, body, w.Header().Get("Content-Type"))
	}
	var out map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s %q: not JSON: %q", action, body, w.Body)
	}
	if w.Code != 200 && (out["__type"] == nil || out["__type"] != w.Header().Get("x-amzn-ErrorType")) {
		t.Fatalf("%s %q: error without its type: %s", action, body, w.Body)
	}
}
