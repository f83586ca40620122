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
	if st != 200 || a["ChallengeName"] != "MFA_SETUP" || params["MFAS_CAN_SETUP"] != `["SOFTWARE_TOKEN_MFA","EMAIL_OTP"]` || a["AuthenticationResult"] != nil {
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

// TestUserActions: in a pool that lets unverified users sign in, a user
// verifies their address with GetUserAttributeVerificationCode and
// VerifyUserAttribute, changes their password (other tokens end), and
// deletes their account.
func TestUserActions(t *testing.T) {
	s := startSite(t, "throttle off\n\t\t\tverification {\n\t\t\t\tsign_in_unverified\n\t\t\t\tresend_cooldown 1s\n\t\t\t}\n\t\t\taccount_deletion on")
	const email, pw, pw2 = "attr@example.com", "correct horse battery staple", "a second passphrase here"
	if st, _, b := s.call(t, "SignUp", map[string]any{"ClientId": publicApp, "Username": email, "Password": pw,
		"UserAttributes": []map[string]string{{"Name": "email", "Value": email}}}); st != 200 {
		t.Fatalf("SignUp: %d %v", st, b)
	}
	signIn := func(password string) string {
		t.Helper()
		st, _, a := s.call(t, "InitiateAuth", map[string]any{"ClientId": publicApp, "AuthFlow": "USER_PASSWORD_AUTH",
			"AuthParameters": map[string]string{"USERNAME": email, "PASSWORD": password}})
		res, _ := a["AuthenticationResult"].(map[string]any)
		tok, _ := res["AccessToken"].(string)
		if st != 200 || tok == "" {
			t.Fatalf("InitiateAuth: %d %v", st, a)
		}
		return tok
	}
	tok := signIn(pw)
	verified := func(tok string) string {
		t.Helper()
		_, _, u := s.call(t, "GetUser", map[string]any{"AccessToken": tok})
		for _, a := range u["UserAttributes"].([]any) {
			if a := a.(map[string]any); a["Name"] == "email_verified" {
				return a["Value"].(string)
			}
		}
		t.Fatalf("no email_verified: %v", u)
		return ""
	}
	if v := verified(tok); v != "false" {
		t.Fatalf("email_verified %s before verifying", v)
	}
	if _, _, b := s.call(t, "GetUserAttributeVerificationCode", map[string]any{"AccessToken": tok, "AttributeName": "phone_number"}); errType(b) != "InvalidParameterException" {
		t.Fatalf("a phone number: %v", b)
	}
	time.Sleep(1100 * time.Millisecond) // the resend cool-down of the sign-up's code
	st, _, b := s.call(t, "GetUserAttributeVerificationCode", map[string]any{"AccessToken": tok, "AttributeName": "email"})
	if d, _ := b["CodeDeliveryDetails"].(map[string]any); st != 200 || d["Destination"] != "a***@e***" {
		t.Fatalf("GetUserAttributeVerificationCode: %d %v", st, b)
	}
	code := s.smtp.WaitFor(t, email, 2, 5*time.Second).Code(t)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	if _, _, b := s.call(t, "VerifyUserAttribute", map[string]any{"AccessToken": tok, "AttributeName": "email", "Code": wrong}); errType(b) != "CodeMismatchException" {
		t.Fatalf("a wrong code: %v", b)
	}
	if st, _, b := s.call(t, "VerifyUserAttribute", map[string]any{"AccessToken": tok, "AttributeName": "email", "Code": code}); st != 200 {
		t.Fatalf("VerifyUserAttribute: %d %v", st, b)
	}
	if v := verified(tok); v != "true" {
		t.Fatalf("email_verified %s after verifying", v)
	}

	change := func(tok, old, next string) map[string]any {
		_, _, b := s.call(t, "ChangePassword", map[string]any{"AccessToken": tok, "PreviousPassword": old, "ProposedPassword": next})
		return b
	}
	if b := change(tok, "not the password", pw2); errType(b) != "NotAuthorizedException" {
		t.Fatalf("a wrong previous password: %v", b)
	}
	if b := change(tok, pw, "short"); errType(b) != "InvalidPasswordException" {
		t.Fatalf("a short password: %v", b)
	}
	time.Sleep(1100 * time.Millisecond) // the deny list counts in seconds
	if b := change(tok, pw, pw2); errType(b) != "" {
		t.Fatalf("ChangePassword: %v", b)
	}
	if _, _, b := s.call(t, "GetUser", map[string]any{"AccessToken": tok}); errType(b) != "NotAuthorizedException" {
		t.Fatalf("a token from before the change: %v", b)
	}
	// At once, in the second of the change's revocation most likely: the
	// new sign-in's tokens count from the next second (DenyList.AuthTimeAfter).
	tok = signIn(pw2)
	if st, _, b := s.call(t, "DeleteUser", map[string]any{"AccessToken": tok}); st != 200 {
		t.Fatalf("DeleteUser: %d %v", st, b)
	}
	if _, _, b := s.call(t, "GetUser", map[string]any{"AccessToken": tok}); errType(b) != "NotAuthorizedException" {
		t.Fatalf("the deleted user's token: %v", b)
	}
	if _, _, b := s.call(t, "InitiateAuth", map[string]any{"ClientId": publicApp, "AuthFlow": "USER_PASSWORD_AUTH",
		"AuthParameters": map[string]string{"USERNAME": email, "PASSWORD": pw2}}); b["message"] != "Incorrect username or password." {
		t.Fatalf("signing in as the deleted user: %v", b)
	}
}

// TestAnswersBeforeMail: ForgotPassword and ResendConfirmationCode
// answer before any mail goes out, so a slow mail server does not tell
// a known address (which gets mail) from an unknown one (which does not).
func TestAnswersBeforeMail(t *testing.T) {
	s := startSite(t, "throttle off")
	const email, pw = "slow@example.com", "correct horse battery staple"
	s.signUpConfirmed(t, email, pw)
	if st, _, b := s.call(t, "SignUp", map[string]any{"ClientId": publicApp, "Username": "pending@example.com", "Password": pw}); st != 200 {
		t.Fatalf("SignUp: %d %v", st, b)
	}
	s.smtp.WaitFor(t, "pending@example.com", 1, 5*time.Second)
	s.smtp.SetDelay(2 * time.Second)
	for _, tc := range []struct{ action, user string }{
		{"ForgotPassword", email}, {"ForgotPassword", "unknown@example.com"},
		{"ResendConfirmationCode", "pending@example.com"}, {"ResendConfirmationCode", "unknown@example.com"},
	} {
		start := time.Now()
		st, _, b := s.call(t, tc.action, map[string]any{"ClientId": publicApp, "Username": tc.user})
		if took := time.Since(start); took > time.Second {
			t.Errorf("%s for %s took %s: the answer waited for the mail", tc.action, tc.user, took)
		}
		if d, _ := b["CodeDeliveryDetails"].(map[string]any); st != 200 || d["Destination"] == nil {
			t.Errorf("%s for %s: %d %v", tc.action, tc.user, st, b)
		}
	}
	// The mail went out after the answers.
	s.smtp.WaitFor(t, email, 2, 10*time.Second)
}

// TestEmailOTP: at an MFA_SETUP, a user chooses email codes (Cognito's
// answer names the address), answers the EMAIL_OTP challenge with the
// mailed code, and later signs in with an EMAIL_OTP challenge.
func TestEmailOTP(t *testing.T) {
	s := startSite(t, "throttle off\n\t\t\tmfa required\n\t\t\tverification {\n\t\t\t\tresend_cooldown 1s\n\t\t\t}")
	const email, pw = "otp@example.com", "correct horse battery staple"
	s.signUpConfirmed(t, email, pw)
	initiate := func() map[string]any {
		t.Helper()
		st, _, a := s.call(t, "InitiateAuth", map[string]any{"ClientId": publicApp, "AuthFlow": "USER_PASSWORD_AUTH",
			"AuthParameters": map[string]string{"USERNAME": email, "PASSWORD": pw}})
		if st != 200 {
			t.Fatalf("InitiateAuth: %d %v", st, a)
		}
		return a
	}
	respond := func(name, session string, r map[string]string) (int, map[string]any) {
		t.Helper()
		st, _, b := s.call(t, "RespondToAuthChallenge", map[string]any{"ClientId": publicApp, "ChallengeName": name,
			"Session": session, "ChallengeResponses": r})
		return st, b
	}
	a := initiate()
	if p, _ := a["ChallengeParameters"].(map[string]any); a["ChallengeName"] != "MFA_SETUP" || p["MFAS_CAN_SETUP"] != `["SOFTWARE_TOKEN_MFA","EMAIL_OTP"]` {
		t.Fatalf("InitiateAuth: %v", a)
	}
	st, b := respond("MFA_SETUP", a["Session"].(string), map[string]string{"USERNAME": email, "EMAIL": email})
	if p, _ := b["ChallengeParameters"].(map[string]any); st != 200 || b["ChallengeName"] != "EMAIL_OTP" || p["CODE_DELIVERY_DELIVERY_MEDIUM"] != "EMAIL" {
		t.Fatalf("choosing email codes: %d %v", st, b)
	}
	session := b["Session"].(string)
	code := s.smtp.WaitFor(t, email, 2, 5*time.Second).Code(t)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	if _, b := respond("EMAIL_OTP", session, map[string]string{"USERNAME": email, "EMAIL_OTP_CODE": wrong}); errType(b) != "CodeMismatchException" {
		t.Fatalf("a wrong code: %v", b)
	}
	st, b = respond("EMAIL_OTP", session, map[string]string{"USERNAME": email, "EMAIL_OTP_CODE": code})
	if res, _ := b["AuthenticationResult"].(map[string]any); st != 200 || res["IdToken"] == nil {
		t.Fatalf("the set-up's code: %d %v", st, b)
	}
	time.Sleep(1100 * time.Millisecond) // the resend cool-down
	a = initiate()
	if a["ChallengeName"] != "EMAIL_OTP" {
		t.Fatalf("a sign-in with email codes on: %v", a)
	}
	code = s.smtp.WaitFor(t, email, 3, 5*time.Second).Code(t)
	st, b = respond("EMAIL_OTP", a["Session"].(string), map[string]string{"USERNAME": email, "EMAIL_OTP_CODE": code})
	res, _ := b["AuthenticationResult"].(map[string]any)
	if st != 200 || res["AccessToken"] == nil {
		t.Fatalf("EMAIL_OTP: %d %v", st, b)
	}

	// With an app too, the app's code is asked first, and the user may
	// choose email instead (SELECT_MFA_TYPE), or the app again.
	_, _, as := s.call(t, "AssociateSoftwareToken", map[string]any{"AccessToken": res["AccessToken"]})
	secret, _ := as["SecretCode"].(string)
	totp, err := testenv.TOTPCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st, _, v := s.call(t, "VerifySoftwareToken", map[string]any{"AccessToken": res["AccessToken"], "UserCode": totp}); st != 200 || v["Status"] != "SUCCESS" {
		t.Fatalf("VerifySoftwareToken: %d %v", st, v)
	}
	time.Sleep(1100 * time.Millisecond) // the resend cool-down
	a = initiate()
	p, _ := a["ChallengeParameters"].(map[string]any)
	if a["ChallengeName"] != "SOFTWARE_TOKEN_MFA" || p["MFAS_CAN_CHOOSE"] != `["SOFTWARE_TOKEN_MFA","EMAIL_OTP"]` {
		t.Fatalf("a sign-in with an app and email codes: %v", a)
	}
	session = a["Session"].(string)
	st, b = respond("SELECT_MFA_TYPE", session, map[string]string{"USERNAME": email, "ANSWER": "SOFTWARE_TOKEN_MFA"})
	if st != 200 || b["ChallengeName"] != "SOFTWARE_TOKEN_MFA" || b["Session"] != session {
		t.Fatalf("choosing the app: %d %v", st, b)
	}
	if _, b := respond("SELECT_MFA_TYPE", session, map[string]string{"USERNAME": email, "ANSWER": "SMS_MFA"}); errType(b) != "InvalidParameterException" {
		t.Fatalf("choosing SMS: %v", b)
	}
	st, b = respond("SELECT_MFA_TYPE", session, map[string]string{"USERNAME": email, "ANSWER": "EMAIL_OTP"})
	if st != 200 || b["ChallengeName"] != "EMAIL_OTP" {
		t.Fatalf("choosing email: %d %v", st, b)
	}
	code = s.smtp.WaitFor(t, email, 4, 5*time.Second).Code(t)
	st, b = respond("EMAIL_OTP", b["Session"].(string), map[string]string{"USERNAME": email, "EMAIL_OTP_CODE": code})
	if res, _ := b["AuthenticationResult"].(map[string]any); st != 200 || res["AccessToken"] == nil {
		t.Fatalf("EMAIL_OTP after SELECT_MFA_TYPE: %d %v", st, b)
	}
}
