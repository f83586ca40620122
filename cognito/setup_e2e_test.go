package cognito_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// signUpConfirmed signs email up through the API and confirms it with the
// code the real SMTP server received.
func (s *site) signUpConfirmed(t *testing.T, email, password string) {
	t.Helper()
	if st, _, b := s.call(t, "SignUp", map[string]any{"ClientId": publicApp, "Username": email, "Password": password}); st != 200 {
		t.Fatalf("SignUp: %d %v", st, b)
	}
	code := s.smtp.WaitFor(t, email, 1, 5*time.Second).Code(t)
	if st, _, b := s.call(t, "ConfirmSignUp", map[string]any{"ClientId": publicApp, "Username": email, "ConfirmationCode": code}); st != 200 {
		t.Fatalf("ConfirmSignUp: %d %v", st, b)
	}
}

func errType(b map[string]any) string { s, _ := b["__type"].(string); return s }

// TestMFASetupChallenge: in a pool that requires a second factor, a user
// without one sets up an app as Cognito's clients do it: MFA_SETUP, then
// AssociateSoftwareToken and VerifySoftwareToken with the Session, then
// RespondToAuthChallenge(MFA_SETUP) with the Session VerifySoftwareToken
// returned, which gives the tokens once.
func TestMFASetupChallenge(t *testing.T) {
	s := startSite(t, "throttle off\n\t\t\tmfa required")
	const email, pw = "setup@example.com", "correct horse battery staple"
	s.signUpConfirmed(t, email, pw)
	st, _, a := s.call(t, "InitiateAuth", map[string]any{"ClientId": publicApp, "AuthFlow": "USER_PASSWORD_AUTH",
		"AuthParameters": map[string]string{"USERNAME": email, "PASSWORD": pw}})
	params, _ := a["ChallengeParameters"].(map[string]any)
	if st != 200 || a["ChallengeName"] != "MFA_SETUP" || params["MFAS_CAN_SETUP"] != `["SOFTWARE_TOKEN_MFA"]` || a["AuthenticationResult"] != nil {
		t.Fatalf("InitiateAuth: %d %v", st, a)
	}
	session := a["Session"].(string)
	st, _, as := s.call(t, "AssociateSoftwareToken", map[string]any{"Session": session})
	secret, _ := as["SecretCode"].(string)
	if st != 200 || secret == "" || secret != params["SECRET_CODE"] {
		t.Fatalf("AssociateSoftwareToken: %d %v (challenge %v)", st, as, params)
	}
	if _, _, b := s.call(t, "VerifySoftwareToken", map[string]any{"Session": session, "UserCode": "000000"}); errType(b) != "EnableSoftwareTokenMFAException" {
		t.Fatalf("a wrong code: %v", b)
	}
	code, err := testenv.TOTPCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if code == "000000" {
		t.Skip("the app's code is the wrong one this time")
	}
	// Another client's name on the session: refused.
	if _, _, b := s.call(t, "VerifySoftwareToken", map[string]any{"Session": secretApp + session[len(publicApp):], "UserCode": code}); errType(b) != "NotAuthorizedException" {
		t.Fatalf("the session under another client: %v", b)
	}
	st, _, v := s.call(t, "VerifySoftwareToken", map[string]any{"Session": session, "UserCode": code})
	done, _ := v["Session"].(string)
	if st != 200 || v["Status"] != "SUCCESS" || done == "" {
		t.Fatalf("VerifySoftwareToken: %d %v", st, v)
	}
	respond := func(client, session string) (int, map[string]any) {
		st, _, b := s.call(t, "RespondToAuthChallenge", map[string]any{"ClientId": client, "ChallengeName": "MFA_SETUP",
			"Session": session, "ChallengeResponses": map[string]string{"USERNAME": email}})
		return st, b
	}
	if st, b := respond(publicApp, session); errType(b) != "NotAuthorizedException" {
		t.Fatalf("the set-up session, spent by VerifySoftwareToken, answered again: %d %v", st, b)
	}
	st, b := respond(publicApp, done)
	res, _ := b["AuthenticationResult"].(map[string]any)
	if st != 200 || res["AccessToken"] == nil || res["IdToken"] == nil || res["RefreshToken"] == nil {
		t.Fatalf("RespondToAuthChallenge MFA_SETUP: %d %v", st, b)
	}
	if st, b := respond(publicApp, done); errType(b) != "NotAuthorizedException" {
		t.Fatalf("the finished set-up answered twice: %d %v", st, b)
	}
	st, _, u := s.call(t, "GetUser", map[string]any{"AccessToken": res["AccessToken"]})
	if list, _ := u["UserMFASettingList"].([]any); st != 200 || len(list) != 1 || list[0] != "SOFTWARE_TOKEN_MFA" {
		t.Fatalf("GetUser after the set-up: %d %v", st, u)
	}
	// Turning the only factor off in a pool that requires one: refused.
	if _, _, b := s.call(t, "SetUserMFAPreference", map[string]any{"AccessToken": res["AccessToken"],
		"SoftwareTokenMfaSettings": map[string]any{"Enabled": false}}); errType(b) != "InvalidParameterException" {
		t.Fatalf("turning the required factor off: %v", b)
	}
}

// TestThrottle: the API's sign-in calls spend the pool's per-client
// budget of hosted-page posts; past it, TooManyRequestsException with
// Retry-After, before any password is checked.
func TestThrottle(t *testing.T) {
	s := startSite(t, "throttle 3 per 1m")
	for i := range 5 {
		st, h, b := s.call(t, "InitiateAuth", map[string]any{"ClientId": publicApp, "AuthFlow": "USER_PASSWORD_AUTH",
			"AuthParameters": map[string]string{"USERNAME": "x@example.com", "PASSWORD": "guess number " + string(rune('a'+i))}})
		want := "NotAuthorizedException"
		if i >= 3 {
			want = "TooManyRequestsException"
			if h.Get("Retry-After") == "" {
				t.Errorf("call %d: no Retry-After", i)
			}
		}
		if st != 400 || errType(b) != want {
			t.Fatalf("call %d: %d %v, want %s", i, st, b, want)
		}
	}
}

// TestSiteUnchanged: with the API on, the rest of the issuer site is as
// it was: "/" without an X-Amz-Target goes to the next handler.
func TestSiteUnchanged(t *testing.T) {
	s := startSite(t, "")
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		req, err := http.NewRequest(method, s.base+"/", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "issuer home" {
			t.Fatalf("%s / without X-Amz-Target: %d %q", method, resp.StatusCode, body)
		}
	}
	// And the API's answers are never pages.
	st, h, b := s.raw(t, "AWSCognitoIdentityProviderService.GetUser", "text/html", []byte("<html>"))
	if st != 400 || errType(b) != "SerializationException" || h.Get("Content-Type") != "application/x-amz-json-1.1" {
		t.Fatalf("an HTML body: %d %v", st, b)
	}
}
