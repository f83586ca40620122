package cognito_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/cognito"
	"github.com/gatehouse-auth/gatehouse/pool"
)

// TestPasskeyRegistrationNeedsARecentSignIn: a passkey is a way in, so the
// API registers one only for a sign-in of the last 15 minutes; the same
// access token is refused once its sign-in is older (a stolen token kept
// for later cannot add the thief's passkey).
func TestPasskeyRegistrationNeedsARecentSignIn(t *testing.T) {
	t.Parallel()
	_, pl := inProcessAPI(t)
	newUser(t, pl, "fresh-passkey@example.com", "correct horse battery staple")

	var offset time.Duration
	cfg := apiConfig
	cfg.WebAuthn = &pool.RelyingParty{ID: "auth.example.test", Origin: "https://auth.example.test"}
	cfg.Now = func() time.Time { return time.Now().Add(offset) }
	h, err := cognito.New(cfg)
	if err != nil {
		t.Fatal(err)
	}

	w := call(t, h, "InitiateAuth", map[string]any{"ClientId": "spa", "AuthFlow": "USER_PASSWORD_AUTH",
		"AuthParameters": map[string]string{"USERNAME": "fresh-passkey@example.com", "PASSWORD": "correct horse battery staple"}})
	if w.Code != 200 {
		t.Fatalf("InitiateAuth: %d %s", w.Code, w.Body)
	}
	var signedIn struct{ AuthenticationResult struct{ AccessToken string } }
	if err := json.Unmarshal(w.Body.Bytes(), &signedIn); err != nil || signedIn.AuthenticationResult.AccessToken == "" {
		t.Fatalf("no access token: %v %s", err, w.Body)
	}
	start := map[string]any{"AccessToken": signedIn.AuthenticationResult.AccessToken}

	offset = 14 * time.Minute
	w = call(t, h, "StartWebAuthnRegistration", start)
	if w.Code != 200 {
		t.Fatalf("14 minutes after the sign-in: %d %s, want the creation options", w.Code, w.Body)
	}
	var opts struct{ CredentialCreationOptions map[string]any }
	if err := json.Unmarshal(w.Body.Bytes(), &opts); err != nil || opts.CredentialCreationOptions["challenge"] == nil {
		t.Fatalf("no creation options with a challenge: %v %s", err, w.Body)
	}

	offset = 16 * time.Minute
	w = call(t, h, "StartWebAuthnRegistration", start)
	body := wantError(t, w, 400, "NotAuthorizedException")
	if msg, _ := body["message"].(string); msg == "" {
		t.Errorf("refusal without a message: %s", w.Body)
	}
}
