package module_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/trigger"
)

// No telecom gateway can be reached from here: a real HTTP receiver
// (testenv.SMSGateway) stands in for it, behind the custom_sms_sender
// trigger, as Cognito hands SMS to a CustomSMSSender Lambda.

const adaPhone = "+15555550100"

// smsSite is the account site with a custom SMS sender (and, with
// emailHook, a custom email sender) posting to gw.
type smsSite struct {
	*accounts
	gw     *testenv.SMSGateway
	secret string
}

func startSMS(t *testing.T, extra string, emailHook bool) *smsSite {
	t.Helper()
	gw := testenv.StartSMSGateway(t)
	secret := trigger.NewSecret()
	hooks := fmt.Sprintf(`attribute phone_number
			trigger custom_sms_sender %s/sms {
				secret %s
				timeout 1s
			}`, gw.URL, secret)
	if emailHook {
		hooks += fmt.Sprintf(`
			trigger custom_email_sender %s/email {
				secret %s
				timeout 1s
			}`, gw.URL, secret)
	}
	smtp := testenv.StartSMTP(t, testenv.SMTPOptions{})
	s := startSite(t, accountsPool(smtp, hooks+"\n\t\t\t"+extra), map[string]string{"app": "pool default"})
	return &smsSite{accounts: &accounts{site: s, smtp: smtp, base: s.url("app", "")}, gw: gw, secret: secret}
}

// createPhoneUser makes Ada with a phone number, her address verified or
// not, her number verified or not.
func createPhoneUser(t *testing.T, s *site, emailVerified, phoneVerified bool) *store.User {
	t.Helper()
	ctx := context.Background()
	u, err := s.pool.Pool.CreateUser(ctx, pool.NewUser{Email: adaEmail, Password: adaPassword, Name: "Ada Lovelace",
		EmailVerified: emailVerified, Attributes: map[string]string{"custom:tenant": "acme", "phone_number": adaPhone}})
	if err != nil {
		t.Fatal(err)
	}
	if phoneVerified {
		if u, err = s.pool.Pool.UpdateAttributesByAdmin(ctx, u.ID, pool.AdminAttributes{PhoneVerified: &phoneVerified}); err != nil {
			t.Fatal(err)
		}
	}
	return u
}

// checkSigned verifies that every delivery the gateway got was signed
// with the hook's secret, and carried Cognito's event shape.
func (s *smsSite) checkSigned(t *testing.T) {
	t.Helper()
	sec, err := trigger.ParseSecret(s.secret)
	if err != nil {
		t.Fatal(err)
	}
	ds, bodies := s.gw.Deliveries(), s.gw.Bodies()
	for i, d := range ds {
		if err := sec.Verify(d.Header, bodies[i], time.Now(), trigger.DefaultTolerance); err != nil {
			t.Errorf("delivery %d not signed right: %v", i, err)
		}
		var ev struct {
			Request struct {
				Type string `json:"type"`
			} `json:"request"`
		}
		if err := json.Unmarshal(bodies[i], &ev); err != nil || !strings.HasPrefix(ev.Request.Type, "custom") {
			t.Errorf("delivery %d: request.type %q, %v", i, ev.Request.Type, err)
		}
	}
}

var maskedRE = regexp.MustCompile(`(\+|&#43;)\*{7}0100`)

// seeOther checks a 303 to want and follows it.
func (s *smsSite) seeOther(t *testing.T, c *http.Client, what string, resp *http.Response, body, want string) string {
	t.Helper()
	wantStatus(t, what, resp, body, http.StatusSeeOther)
	if loc := resp.Header.Get("Location"); loc != want {
		t.Fatalf("%s: to %q, want %q", what, loc, want)
	}
	_, body = get(t, c, s.base+want, nil)
	return body
}

// TestSMSVerificationAndSecondFactorOnPages verifies a phone number on the
// account page, turns on text message codes, and signs in with one; the
// mail server gets nothing of it.
func TestSMSVerificationAndSecondFactorOnPages(t *testing.T) {
	s := startSMS(t, "", false)
	createPhoneUser(t, s.site, true, false)
	c := testenv.Browser(t)
	signIn(t, c, s.base, "/private", adaEmail, adaPassword)

	_, body, _ := s.page(t, c, "/_gatehouse/account")
	if !strings.Contains(body, `id="phone">&#43;*******0100 <span class="badge">not verified`) {
		t.Fatalf("account page's phone section:\n%s", body)
	}
	if strings.Contains(body, `id="sms-codes"`) {
		t.Fatal("text message codes offered for an unverified number")
	}
	resp, body := s.form(t, c, "/_gatehouse/account", url.Values{"action": {"phone_send"}})
	body = s.seeOther(t, c, "asking for a code", resp, body, "/_gatehouse/account?notice=phone_code_sent")
	if !strings.Contains(body, "We sent a code by text message") || !strings.Contains(body, `name="phone_code"`) {
		t.Fatalf("after asking for a code:\n%s", body)
	}
	d := s.gw.WaitFor(t, adaPhone, 1, mailWait)
	if d.TriggerSource != "CustomSMSSender_VerifyUserAttribute" || len(d.Code) != 6 {
		t.Fatalf("delivery %+v", d)
	}
	resp, body = s.form(t, c, "/_gatehouse/account", url.Values{"action": {"phone_verify"}, "phone_code": {"12345x"}})
	wantStatus(t, "a wrong phone code", resp, body, http.StatusUnprocessableEntity)
	resp, body = s.form(t, c, "/_gatehouse/account", url.Values{"action": {"phone_verify"}, "phone_code": {d.Code}})
	body = s.seeOther(t, c, "the right code", resp, body, "/_gatehouse/account?notice=phone_verified")
	if !strings.Contains(body, `id="phone">&#43;*******0100 <span class="badge">verified`) || !strings.Contains(body, `id="sms-codes"`) {
		t.Fatalf("after the right code:\n%s", body)
	}

	// Turn on text message codes: a code goes out, its entry turns them on.
	resp, body = s.form(t, c, "/_gatehouse/account", url.Values{"action": {"mfa_sms"}, "password": {adaPassword}})
	wantStatus(t, "turning text message codes on", resp, body, http.StatusOK)
	if !maskedRE.MatchString(body) || !strings.Contains(body, "sent by text message") {
		t.Fatalf("enrolment page:\n%s", body)
	}
	form := stepForm(t, body)
	form.Set("code", s.gw.WaitFor(t, adaPhone, 2, mailWait).Code)
	resp, body = s.post(t, c, "/_gatehouse/mfa/setup", form)
	wantStatus(t, "enrolment code", resp, body, http.StatusOK)
	if n := len(recoveryRE.FindAllString(body, -1)); n != pool.RecoveryCodeCount {
		t.Fatalf("%d recovery codes shown", n)
	}

	// A sign-in texts a code with the password step and takes it.
	mails := s.smtp.Count()
	c2 := testenv.Browser(t)
	body = s.mustPasswordStep(t, c2)
	if !strings.Contains(body, "We sent you a code by text message.") || !strings.Contains(body, "&#43;*******0100") {
		t.Fatalf("second step:\n%s", body)
	}
	d = s.gw.WaitFor(t, adaPhone, 3, mailWait)
	if d.TriggerSource != "CustomSMSSender_Authentication" {
		t.Fatalf("sign-in delivery %+v", d)
	}
	form = stepForm(t, body)
	form.Set("rd", "/private")
	form.Set("code", "99999x")
	resp, body = s.post(t, c2, "/_gatehouse/mfa", form)
	wantStatus(t, "a wrong texted code", resp, body, http.StatusUnauthorized)
	if !strings.Contains(body, "&#43;*******0100") || s.gw.Count(adaPhone) != 3 {
		t.Fatalf("after a wrong code (%d texts):\n%s", s.gw.Count(adaPhone), body)
	}
	form = stepForm(t, body)
	form.Set("rd", "/private")
	form.Set("code", d.Code)
	resp, body = s.post(t, c2, "/_gatehouse/mfa", form)
	wantContinue(t, "texted code", resp, body, "/private")
	if r, b := get(t, c2, s.base+"/private", nil); r.StatusCode != http.StatusOK {
		t.Fatalf("after the texted code: %d: %s", r.StatusCode, b)
	}
	if s.smtp.Count() != mails {
		t.Error("the SMS sign-in sent mail")
	}
	s.checkSigned(t)
}

// TestSMSGatewayFailsOnPages: a receiver that refuses, and one too slow
// for the hook's timeout, are said plainly, and nothing breaks.
func TestSMSGatewayFailsOnPages(t *testing.T) {
	s := startSMS(t, "", false)
	createPhoneUser(t, s.site, true, false)
	c := testenv.Browser(t)
	signIn(t, c, s.base, "/private", adaEmail, adaPassword)

	s.gw.SetStatus(http.StatusInternalServerError)
	resp, body := s.form(t, c, "/_gatehouse/account", url.Values{"action": {"phone_send"}})
	wantStatus(t, "gateway refusing", resp, body, http.StatusServiceUnavailable)
	if !strings.Contains(body, "We could not send the text message just now") {
		t.Fatalf("page:\n%s", body)
	}
	s.gw.SetStatus(0)
	s.gw.SetDelay(3 * time.Second) // the hook's timeout is 1s
	resp, body = s.form(t, c, "/_gatehouse/account", url.Values{"action": {"phone_send"}})
	wantStatus(t, "gateway too slow", resp, body, http.StatusServiceUnavailable)
	s.gw.SetDelay(0)
	resp, body = s.form(t, c, "/_gatehouse/account", url.Values{"action": {"phone_send"}})
	s.seeOther(t, c, "gateway back", resp, body, "/_gatehouse/account?notice=phone_code_sent")
	s.gw.WaitFor(t, adaPhone, 1, mailWait)
}

// TestPasswordResetBySMS: a user whose address was never verified and
// whose number was gets the reset code by SMS; the forgot-password page
// answers every address alike, and an unknown one gets nothing.
func TestPasswordResetBySMS(t *testing.T) {
	s := startSMS(t, "", false)
	createPhoneUser(t, s.site, false, true)

	ask := func(c *http.Client, email string) (*http.Response, string) {
		return s.form(t, c, "/_gatehouse/forgot", url.Values{"email": {email}})
	}
	c := testenv.Browser(t)
	resp, known := ask(c, adaEmail)
	known = s.seeOther(t, c, "forgot, known", resp, known, "/_gatehouse/reset?email="+url.QueryEscape(adaEmail)+"&sent=1")
	d := s.gw.WaitFor(t, adaPhone, 1, mailWait)
	if d.TriggerSource != "CustomSMSSender_ForgotPassword" {
		t.Fatalf("delivery %+v", d)
	}
	c2 := testenv.Browser(t)
	resp, unknown := ask(c2, "nobody@example.com")
	unknown = s.seeOther(t, c2, "forgot, unknown", resp, unknown, "/_gatehouse/reset?email=nobody%40example.com&sent=1")
	strip := func(b string) string {
		return strings.ReplaceAll(csrfField.ReplaceAllString(b, ""), url.QueryEscape(adaEmail), "")
	}
	if strip(strings.ReplaceAll(known, adaEmail, "X")) != strip(strings.ReplaceAll(unknown, "nobody@example.com", "X")) {
		t.Errorf("the answers differ:\n%s\n---\n%s", known, unknown)
	}
	if err := s.pool.Pool.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(s.gw.Deliveries()); n != 1 || s.smtp.Count() != 0 {
		t.Fatalf("%d texts and %d mails after two asks, want 1 and 0", n, s.smtp.Count())
	}

	_, _, tok := s.page(t, c, "/_gatehouse/reset?email="+url.QueryEscape(adaEmail))
	resp, body := s.post(t, c, "/_gatehouse/reset", url.Values{"csrf": {tok}, "email": {adaEmail}, "code": {d.Code},
		"password": {"an entirely new passphrase"}})
	if resp.StatusCode >= 400 || alert(body) != "" {
		t.Fatalf("reset: %d\n%s", resp.StatusCode, body)
	}
	u, err := s.pool.Pool.UserByEmail(context.Background(), adaEmail)
	if err != nil || u.EmailVerified {
		t.Fatalf("after a reset by SMS: %+v, %v (the address must stay unverified)", u, err)
	}
	signIn(t, testenv.Browser(t), s.base, "/private", adaEmail, "an entirely new passphrase")
}

// TestCustomEmailSender: with custom_email_sender the pool's mail goes to
// the hook, with the code in the event, and the SMTP server gets nothing.
func TestCustomEmailSender(t *testing.T) {
	s := startSMS(t, "", true)
	c := testenv.Browser(t)
	const email, password = "grace@example.com", "a quiet walk in the hills"
	resp, body := s.form(t, c, "/_gatehouse/signup", signUpForm(email, password))
	if resp.StatusCode >= 400 {
		t.Fatalf("sign-up: %d\n%s", resp.StatusCode, body)
	}
	d := s.gw.WaitFor(t, email, 1, mailWait)
	if d.TriggerSource != "CustomEmailSender_SignUp" || len(d.Code) != 6 {
		t.Fatalf("delivery %+v", d)
	}
	if _, err := s.pool.Pool.ConfirmSignUp(context.Background(), email, d.Code, password); err != nil {
		t.Fatalf("confirming with the hook's code: %v", err)
	}
	if err := s.pool.Pool.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := s.smtp.Count(); n != 0 {
		t.Fatalf("the SMTP server got %d messages", n)
	}
	var ev struct {
		Request struct {
			Message struct{ Subject, Text string } `json:"message"`
		} `json:"request"`
	}
	if err := json.Unmarshal(s.gw.Bodies()[0], &ev); err != nil || !strings.Contains(ev.Request.Message.Text, d.Code) {
		t.Errorf("request.message %+v, %v", ev.Request.Message, err)
	}
	s.checkSigned(t)
}

// TestMFARequiredBySMS: a pool that requires MFA offers text message codes
// at the first sign-in's set-up to a user with a verified number, and
// only to such a user.
func TestMFARequiredBySMS(t *testing.T) {
	s := startSMS(t, "mfa required", false)
	u := createPhoneUser(t, s.site, true, false)
	c := testenv.Browser(t)
	resp, body := s.passwordStep(t, c, "/private", adaEmail, adaPassword)
	wantStatus(t, "password step, unverified number", resp, body, http.StatusOK)
	if strings.Contains(body, `id="sms-instead"`) {
		t.Fatal("text message codes offered for an unverified number")
	}
	verified := true
	if _, err := s.pool.Pool.UpdateAttributesByAdmin(context.Background(), u.ID, pool.AdminAttributes{PhoneVerified: &verified}); err != nil {
		t.Fatal(err)
	}
	c = testenv.Browser(t)
	resp, body = s.passwordStep(t, c, "/private", adaEmail, adaPassword)
	wantStatus(t, "password step", resp, body, http.StatusOK)
	if !strings.Contains(body, `id="sms-instead"`) {
		t.Fatalf("set-up page offers no text message codes:\n%s", body)
	}
	form := stepForm(t, body)
	form.Set("rd", "/private")
	form.Set("action", "sms")
	resp, body = s.post(t, c, "/_gatehouse/mfa/setup", form)
	wantStatus(t, "choosing text message codes", resp, body, http.StatusOK)
	if !strings.Contains(body, "Turn on text message codes") || !maskedRE.MatchString(body) {
		t.Fatalf("SMS set-up page:\n%s", body)
	}
	if r, _ := get(t, c, s.base+"/private", nil); r.StatusCode != http.StatusFound {
		t.Fatalf("before the texted code /private gave %d, want 302", r.StatusCode)
	}
	form = stepForm(t, body)
	form.Set("rd", "/private")
	form.Set("code", s.gw.WaitFor(t, adaPhone, 1, mailWait).Code)
	resp, body = s.post(t, c, "/_gatehouse/mfa/setup", form)
	wantStatus(t, "texted enrolment code", resp, body, http.StatusOK)
	if cont := continueRE.FindStringSubmatch(body); cont == nil || cont[1] != "/private" {
		t.Fatalf("recovery page continues to %v:\n%s", cont, body)
	}
	if r, b := get(t, c, s.base+"/private", nil); r.StatusCode != http.StatusOK {
		t.Fatalf("after the set-up: %d: %s", r.StatusCode, b)
	}
}
