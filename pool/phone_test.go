package pool

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/sms"
	"github.com/gatehouse-auth/gatehouse/store"
)

const adaPhone = "+15555550100"

// smsPool is accountPool with an SMS sender posting to a real HTTP
// receiver that stands in for the gateway.
func smsPool(t *testing.T) (*Pool, *fakeMailer, *testenv.SMSGateway) {
	t.Helper()
	gw := testenv.StartSMSGateway(t)
	p, fm, _ := accountPool(t, func(a *AccountConfig) {
		a.SMS = &Texter{Sender: gw.Sender(), DisplayName: "Test Pool", Timeout: 2 * time.Second}
	})
	return p, fm, gw
}

func userWithPhone(t *testing.T, p *Pool, email string, emailVerified bool) *store.User {
	t.Helper()
	return mustCreate(t, p, NewUser{Email: email, EmailVerified: emailVerified, Name: "Ada",
		Attributes: map[string]string{"phone_number": adaPhone, "custom:tenant": "t1"}})
}

// verifyPhone verifies u's number with the code the gateway got.
func verifyPhone(t *testing.T, p *Pool, gw *testenv.SMSGateway, u *store.User) {
	t.Helper()
	n := gw.Count(adaPhone)
	if _, err := p.SendPhoneCode(t.Context(), u.ID); err != nil {
		t.Fatalf("SendPhoneCode: %v", err)
	}
	d := gw.WaitFor(t, adaPhone, n+1, 5*time.Second)
	if _, err := p.VerifyPhone(t.Context(), u.ID, d.Code); err != nil {
		t.Fatalf("VerifyPhone: %v", err)
	}
}

func TestPhoneVerification(t *testing.T) {
	p, _, gw := smsPool(t)
	ctx := t.Context()
	u := userWithPhone(t, p, "ada@example.com", true)

	masked, err := p.SendPhoneCode(ctx, u.ID)
	if err != nil || masked != "+*******0100" {
		t.Fatalf("SendPhoneCode = %q, %v", masked, err)
	}
	d := gw.WaitFor(t, adaPhone, 1, 5*time.Second)
	if d.Kind != sms.KindVerifyPhone || !strings.Contains(d.Text, d.Code) || len(d.Code) != 6 {
		t.Fatalf("delivery %+v", d)
	}
	if _, err := p.SendPhoneCode(ctx, u.ID); err == nil {
		t.Error("a second code within the cool-down was sent")
	}
	wrong := "000000"
	if d.Code == wrong {
		wrong = "111111"
	}
	if _, err := p.VerifyPhone(ctx, u.ID, wrong); !errors.Is(err, ErrWrongCode) {
		t.Errorf("wrong code: %v", err)
	}
	got, err := p.VerifyPhone(ctx, u.ID, d.Code)
	if err != nil {
		t.Fatalf("VerifyPhone: %v", err)
	}
	if _, v := Phone(got); !v {
		t.Fatalf("phone_number_verified not set: %v", got.Attributes)
	}
	if _, err := p.SendPhoneCode(ctx, u.ID); !errors.Is(err, ErrPhoneVerified) {
		t.Errorf("code for a verified number: %v", err)
	}

	// A new number is unverified, and a code sent to the old one proves
	// nothing about it.
	up, err := p.UpdateProfile(ctx, u.ID, map[string]string{"phone_number": "+15555550199"})
	if err != nil {
		t.Fatal(err)
	}
	if _, v := Phone(up); v {
		t.Fatal("a changed number stayed verified")
	}
	if _, err := p.UpdateProfile(ctx, u.ID, map[string]string{"phone_number_verified": "true"}); err == nil {
		t.Error("a user marked their own number verified")
	}
}

func TestPhoneCodeForAnOldNumber(t *testing.T) {
	p, _, gw := smsPool(t)
	ctx := t.Context()
	u := userWithPhone(t, p, "ada@example.com", true)
	if _, err := p.SendPhoneCode(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	code := gw.WaitFor(t, adaPhone, 1, 5*time.Second).Code
	if _, err := p.UpdateProfile(ctx, u.ID, map[string]string{"phone_number": "+15555550199"}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.VerifyPhone(ctx, u.ID, code); !errors.Is(err, ErrCodeExpired) {
		t.Fatalf("old number's code on the new number: %v, want ErrCodeExpired", err)
	}
}

func TestNothingBySMSWithoutASender(t *testing.T) {
	p, fm, _ := accountPool(t, nil)
	ctx := t.Context()
	u := userWithPhone(t, p, "ada@example.com", false)
	if p.CanText() || p.CanTextCodes() {
		t.Fatal("a pool without a sender says it texts")
	}
	if _, err := p.SendPhoneCode(ctx, u.ID); !errors.Is(err, ErrSMSUnavailable) {
		t.Errorf("SendPhoneCode: %v", err)
	}
	if _, err := p.StartSMSEnrolment(ctx, "c", u); !errors.Is(err, ErrMFAUnavailable) {
		t.Errorf("StartSMSEnrolment: %v", err)
	}
	if _, _, err := p.InviteUser(ctx, Invitation{Email: "bob@example.com", SendSMS: true,
		Attributes: map[string]string{"phone_number": adaPhone, "custom:tenant": "t1"}}); !errors.Is(err, ErrSMSUnavailable) {
		t.Errorf("invitation by SMS: %v", err)
	}
	// Even a verified number (an administrator's word) gets no reset code
	// by SMS: it goes by mail, as before.
	if _, err := p.UpdateAttributesByAdmin(ctx, u.ID, AdminAttributes{PhoneVerified: ptrTo(true)}); err != nil {
		t.Fatal(err)
	}
	if err := p.ForgotPassword(ctx, "ada@example.com"); err != nil {
		t.Fatal(err)
	}
	fm.last(t, "reset_password", "ada@example.com")
}

// enrolSMS turns on SMS codes for u from the account page.
func enrolSMS(t *testing.T, p *Pool, gw *testenv.SMSGateway, u *store.User) []string {
	t.Helper()
	n := gw.Count(adaPhone)
	step, err := p.StartSMSEnrolment(t.Context(), "c", u)
	if err != nil {
		t.Fatalf("StartSMSEnrolment: %v", err)
	}
	ch := step.Challenge
	if ch.Name != ChallengeMFASetup || ch.Parameters["MFA_SETUP_TYPE"] != ChallengeSMSMFA || ch.Delivery == nil || ch.Delivery.Err != nil {
		t.Fatalf("enrolment challenge %+v", ch)
	}
	code := gw.WaitFor(t, adaPhone, n+1, 5*time.Second).Code
	done, err := p.RespondToAuthChallenge(t.Context(), Answer{Session: ch.Session, Client: "c", SessionUser: u.ID, Code: code})
	if err != nil || !done.Enrolled {
		t.Fatalf("enrolment answer: %+v, %v", done, err)
	}
	return done.RecoveryCodes
}

func TestSMSSecondFactor(t *testing.T) {
	p, fm, gw := smsPool(t)
	ctx := t.Context()
	u := userWithPhone(t, p, "ada@example.com", true)

	if _, err := p.StartSMSEnrolment(ctx, "c", u); !errors.Is(err, ErrPhoneNotVerified) {
		t.Fatalf("enrolment with an unverified number: %v", err)
	}
	verifyPhone(t, p, gw, u)
	u, _ = p.User(ctx, u.ID)
	if codes := enrolSMS(t, p, gw, u); len(codes) != RecoveryCodeCount {
		t.Fatalf("first factor came with %d recovery codes", len(codes))
	}

	mails := fm.count()
	step, err := p.InitiatePasswordAuth(ctx, PasswordAuth{Username: "ada@example.com", Password: goodPassword, Client: "c"})
	if err != nil {
		t.Fatal(err)
	}
	ch := step.Challenge
	if ch == nil || ch.Name != ChallengeSMSMFA {
		t.Fatalf("step %+v, want SMS_MFA", step)
	}
	if ch.Parameters["CODE_DELIVERY_DESTINATION"] != "+*******0100" || ch.Parameters["CODE_DELIVERY_DELIVERY_MEDIUM"] != "SMS" ||
		ch.Parameters["MFAS_CAN_CHOOSE"] != `["SMS_MFA"]` {
		t.Errorf("parameters %v", ch.Parameters)
	}
	code := gw.WaitFor(t, adaPhone, 3, 5*time.Second).Code
	if fm.count() != mails {
		t.Error("an SMS sign-in mailed something")
	}
	again, err := p.RespondToAuthChallenge(ctx, Answer{Session: ch.Session, Client: "c", Name: ChallengeSMSMFA, Code: "12345x"})
	if !errors.Is(err, ErrWrongCode) || again == nil || again.Challenge.Name != ChallengeSMSMFA {
		t.Fatalf("wrong code: %+v, %v", again, err)
	}
	if gw.Count(adaPhone) != 3 {
		t.Error("a wrong code sent another SMS")
	}
	if f, _ := p.store.SignInFailures(ctx, "ada@example.com"); f.Count != 1 {
		t.Errorf("a wrong SMS code counted %d failures, want 1", f.Count)
	}
	done, err := p.RespondToAuthChallenge(ctx, Answer{Session: again.Challenge.Session, Client: "c", Name: ChallengeSMSMFA, Code: code})
	if err != nil || done.Auth == nil {
		t.Fatalf("right code: %+v, %v", done, err)
	}
	if !slices.Contains(done.Auth.AMR, AMRMFA) {
		t.Errorf("amr %v", done.Auth.AMR)
	}
	// Spent: the same code does not sign in twice.
	step, _ = p.InitiatePasswordAuth(ctx, PasswordAuth{Username: "ada@example.com", Password: goodPassword, Client: "c"})
	if _, err := p.RespondToAuthChallenge(ctx, Answer{Session: step.Challenge.Session, Client: "c", Code: code}); !errors.Is(err, ErrWrongCode) {
		t.Errorf("a used code again: %v", err)
	}

	// A new number drops SMS codes: they would go where nobody proved.
	if _, err := p.UpdateProfile(ctx, u.ID, map[string]string{"phone_number": "+15555550199"}); err != nil {
		t.Fatal(err)
	}
	if fs, _ := p.Factors(ctx, u.ID); len(fs) != 0 {
		t.Errorf("factors after the number changed: %v", fs)
	}
}

func TestSMSSecondFactorLockout(t *testing.T) {
	p, _, gw := smsPool(t)
	ctx := t.Context()
	u := userWithPhone(t, p, "ada@example.com", true)
	verifyPhone(t, p, gw, u)
	u, _ = p.User(ctx, u.ID)
	enrolSMS(t, p, gw, u)
	step, err := p.InitiatePasswordAuth(ctx, PasswordAuth{Username: "ada@example.com", Password: goodPassword, Client: "c"})
	if err != nil {
		t.Fatal(err)
	}
	session := step.Challenge.Session
	var lerr *LockedOutError
	for i := range DefaultLockoutThreshold + 1 {
		again, err := p.RespondToAuthChallenge(ctx, Answer{Session: session, Client: "c", Code: "999999"})
		if errors.As(err, &lerr) {
			if i < DefaultLockoutThreshold {
				t.Fatalf("locked out after %d wrong codes", i)
			}
			return
		}
		if !errors.Is(err, ErrWrongCode) {
			t.Fatalf("try %d: %v", i, err)
		}
		session = again.Challenge.Session
	}
	t.Fatal("never locked out")
}

func TestSMSSelectAndSetupAtSignIn(t *testing.T) {
	p, _, gw := smsPool(t)
	ctx := t.Context()
	p.mfa.Mode = MFARequired
	u := userWithPhone(t, p, "ada@example.com", true)
	verifyPhone(t, p, gw, u)

	step, err := p.InitiatePasswordAuth(ctx, PasswordAuth{Username: "ada@example.com", Password: goodPassword, Client: "c"})
	if err != nil || step.Challenge == nil || step.Challenge.Name != ChallengeMFASetup {
		t.Fatalf("step %+v, %v", step, err)
	}
	sel, err := p.RespondToAuthChallenge(ctx, Answer{Session: step.Challenge.Session, Client: "c", Name: ChallengeMFASetup, Select: ChallengeSMSMFA})
	if err != nil || !sel.Challenge.SMSSetup || sel.Challenge.Parameters["CODE_DELIVERY_DELIVERY_MEDIUM"] != "SMS" {
		t.Fatalf("select SMS_MFA: %+v, %v", sel, err)
	}
	code := gw.WaitFor(t, adaPhone, 2, 5*time.Second).Code
	done, err := p.RespondToAuthChallenge(ctx, Answer{Session: sel.Challenge.Session, Client: "c", Name: ChallengeMFASetup, Code: code})
	if err != nil || done.Auth == nil || len(done.Auth.RecoveryCodes) == 0 {
		t.Fatalf("set-up answer: %+v, %v", done, err)
	}
}

func TestPasswordResetBySMS(t *testing.T) {
	p, fm, gw := smsPool(t)
	ctx := t.Context()
	u := userWithPhone(t, p, "ada@example.com", false)

	// Unverified number, unverified address: the mail as before.
	if err := p.ForgotPassword(ctx, "ada@example.com"); err != nil {
		t.Fatal(err)
	}
	fm.last(t, "reset_password", "ada@example.com")
	if gw.Count(adaPhone) != 0 {
		t.Fatal("a reset code went to an unverified number")
	}
	if err := p.store.DeleteVerificationCode(ctx, u.ID, PurposeResetPassword); err != nil {
		t.Fatal(err)
	}

	verifyPhone(t, p, gw, u)
	mails := fm.count()
	if err := p.ForgotPassword(ctx, "ada@example.com"); err != nil {
		t.Fatal(err)
	}
	d := gw.WaitFor(t, adaPhone, 2, 5*time.Second)
	if d.Kind != sms.KindResetPassword || fm.count() != mails {
		t.Fatalf("delivery %+v, mails %d -> %d", d, mails, fm.count())
	}
	got, err := p.ResetPassword(ctx, "ada@example.com", d.Code, "a brand new passphrase")
	if err != nil {
		t.Fatalf("ResetPassword: %v", err)
	}
	if got.EmailVerified {
		t.Error("a code by SMS marked the address verified")
	}
	if _, err := p.SignIn(ctx, "ada@example.com", "a brand new passphrase"); err != nil {
		t.Errorf("sign-in with the new password: %v", err)
	}
}

func TestSMSGatewayDown(t *testing.T) {
	p, _, gw := smsPool(t)
	ctx := t.Context()
	u := userWithPhone(t, p, "ada@example.com", true)
	gw.SetStatus(http.StatusServiceUnavailable)
	if _, err := p.SendPhoneCode(ctx, u.ID); !errors.Is(err, ErrSMSNotSent) {
		t.Fatalf("SendPhoneCode with the gateway down: %v", err)
	}
	// The cool-down was lifted: asking again works at once.
	gw.SetStatus(0)
	if _, err := p.SendPhoneCode(ctx, u.ID); err != nil {
		t.Fatalf("again: %v", err)
	}
	gw.WaitFor(t, adaPhone, 1, 5*time.Second)

	gw.SetDelay(time.Minute)
	p.acct.SMS.Timeout = 100 * time.Millisecond
	if err := p.store.DeleteVerificationCode(ctx, u.ID, PurposeVerifyPhone); err != nil {
		t.Fatal(err)
	}
	if _, err := p.SendPhoneCode(ctx, u.ID); !errors.Is(err, ErrSMSNotSent) {
		t.Fatalf("SendPhoneCode with a gateway too slow: %v", err)
	}
}

func TestInvitationBySMS(t *testing.T) {
	p, fm, gw := smsPool(t)
	mails := fm.count()
	u, pw, err := p.InviteUser(t.Context(), Invitation{Email: "bob@example.com", SendSMS: true,
		Attributes: map[string]string{"phone_number": adaPhone, "custom:tenant": "t1"}})
	if err != nil {
		t.Fatal(err)
	}
	d := gw.WaitFor(t, adaPhone, 1, 5*time.Second)
	if d.Kind != sms.KindInvitation || d.Code != pw || !strings.Contains(d.Text, pw) || fm.count() != mails {
		t.Fatalf("delivery %+v", d)
	}
	if _, v := Phone(u); v {
		t.Error("an invitation by SMS verified the number")
	}
	if _, _, err := p.InviteUser(t.Context(), Invitation{Email: "cy@example.com", SendSMS: true,
		Attributes: map[string]string{"custom:tenant": "t1"}}); !errors.Is(err, ErrNoPhone) {
		t.Errorf("invitation by SMS without a number: %v", err)
	}
}

// TestSMSNeverLogsCodesOrNumbers: the send log, the audit log and the
// audit trail hold masked numbers only, and no code.
func TestSMSNeverLogsCodesOrNumbers(t *testing.T) {
	gw := testenv.StartSMSGateway(t)
	core, logs := observer.New(zap.DebugLevel)
	log := zap.New(core)
	p, _, _ := accountPool(t, func(a *AccountConfig) {
		a.SMS = &Texter{Sender: gw.Sender(), Timeout: 2 * time.Second, Logger: log}
	})
	p.auditLog = log
	ctx := t.Context()
	u := userWithPhone(t, p, "ada@example.com", true)
	gw.SetStatus(http.StatusBadGateway)
	if _, err := p.SendPhoneCode(ctx, u.ID); !errors.Is(err, ErrSMSNotSent) {
		t.Fatal(err)
	}
	gw.SetStatus(0)
	verifyPhone(t, p, gw, u)
	code := gw.WaitFor(t, adaPhone, 1, 5*time.Second).Code
	if err := p.FlushAudit(ctx); err != nil {
		t.Fatal(err)
	}
	var seen strings.Builder
	for _, e := range logs.All() {
		seen.WriteString(e.Message)
		for k, v := range e.ContextMap() {
			fmt.Fprintf(&seen, " %s=%v", k, v)
		}
		seen.WriteString("\n")
	}
	for _, e := range trail(t, p) {
		fmt.Fprintf(&seen, "%s %v\n", e.Type, e.Detail)
	}
	out := seen.String()
	if !strings.Contains(out, "+*******0100") || !strings.Contains(out, AuditPhoneVerified) {
		t.Fatalf("the logs lack the masked number or the audit event:\n%s", out)
	}
	if strings.Contains(out, adaPhone) || strings.Contains(out, code) {
		t.Fatalf("a number or code reached the logs:\n%s", out)
	}
}

// TestSMSBesideAnApp: a user with an app and SMS codes is asked for the
// app first and may choose SMS_MFA (SELECT_MFA_TYPE), which texts a code;
// a step-up asks the same.
func TestSMSBesideAnApp(t *testing.T) {
	p, _, gw := smsPool(t)
	ctx := t.Context()
	u := userWithPhone(t, p, "ada@example.com", true)
	verifyPhone(t, p, gw, u)
	u, _ = p.User(ctx, u.ID)
	enrolSMS(t, p, gw, u)
	e, err := p.StartTOTP(ctx, u, "Phone")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.ConfirmTOTP(ctx, u.ID, e.FactorID, codeAt(t, e.Secret, p.now())); err != nil {
		t.Fatal(err)
	}
	sent := gw.Count(adaPhone)

	for _, start := range []func() (*AuthStep, error){
		func() (*AuthStep, error) {
			return p.InitiatePasswordAuth(ctx, PasswordAuth{Username: "ada@example.com", Password: goodPassword, Client: "c"})
		},
		func() (*AuthStep, error) { return p.StartStepUp(ctx, "c", u, false) },
	} {
		step, err := start()
		if err != nil {
			t.Fatal(err)
		}
		ch := step.Challenge
		if ch.Name != ChallengeSoftwareTokenMFA || ch.Delivery != nil || ch.Parameters["MFAS_CAN_CHOOSE"] != `["SOFTWARE_TOKEN_MFA","SMS_MFA"]` {
			t.Fatalf("%s flow: challenge %+v", ch.Flow, ch)
		}
		if gw.Count(adaPhone) != sent {
			t.Fatalf("%s flow: an SMS went out before it was chosen", ch.Flow)
		}
		sel, err := p.RespondToAuthChallenge(ctx, Answer{Session: ch.Session, Client: "c", SessionUser: u.ID, Select: ChallengeSMSMFA})
		if err != nil || sel.Challenge.Name != ChallengeSMSMFA || sel.Challenge.Delivery == nil || sel.Challenge.Delivery.Medium != "SMS" {
			t.Fatalf("%s flow: choosing SMS: %+v, %v", ch.Flow, sel, err)
		}
		sent++
		code := gw.WaitFor(t, adaPhone, sent, 5*time.Second).Code
		done, err := p.RespondToAuthChallenge(ctx, Answer{Session: sel.Challenge.Session, Client: "c", SessionUser: u.ID, Code: code})
		if err != nil || done.Auth == nil {
			t.Fatalf("%s flow: the texted code: %+v, %v", ch.Flow, done, err)
		}
		// The next SMS may go only after the cool-down.
		if err := p.store.DeleteVerificationCode(ctx, u.ID, PurposeMFASMS); err != nil {
			t.Fatal(err)
		}
	}
}
