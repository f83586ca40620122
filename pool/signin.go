package pool

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-auth/gatehouse/sms"
	"github.com/gatehouse-auth/gatehouse/store"
)

// The sign-in machine. A sign-in is a run of steps, in the shape of
// Cognito's InitiateAuth / RespondToAuthChallenge, so that the hosted pages
// and a JSON API drive the same decisions:
//
//	InitiatePasswordAuth / InitiatePasskeyAuth / StartStepUp / StartEnrolment
//	        |
//	        v
//	  *AuthStep --- Auth set: done (user, amr, auth_time); the caller starts the session
//	        |
//	        +------ Challenge set: Name, Session (sealed, expiring, single-use)
//	                    |
//	                    v
//	          RespondToAuthChallenge(Answer) -> the next *AuthStep
//
//	password --> NEW_PASSWORD_REQUIRED --> (remembered device) --> done
//	                                   +-> SOFTWARE_TOKEN_MFA | SMS_MFA | EMAIL_OTP | WEB_AUTHN --> done
//	                                   +-> MFA_SETUP (mfa required)                    --> done
//	                                   +-> done (no factor, none required)
//
// Everything a sign-in decides is decided here, once: which step comes
// next, the lockout (every password and code is checked through the
// functions that count failures), the audit event of a granted sign-in
// (AuditSignIn, written when the Authentication is returned), and the amr.
// The caller only shows the challenges and starts the session.

// Challenge names, as Cognito's.
const (
	// ChallengeNewPasswordRequired: the password was a temporary one;
	// answer with NewPassword.
	ChallengeNewPasswordRequired = "NEW_PASSWORD_REQUIRED"
	// ChallengeSoftwareTokenMFA: a code of the user's authenticator app
	// (or any other code the user has: a mailed code, a recovery code).
	ChallengeSoftwareTokenMFA = "SOFTWARE_TOKEN_MFA"
	// ChallengeEmailOTP: a code mailed to the user (or a recovery code).
	// The code went out with the challenge; see Challenge.Delivery.
	ChallengeEmailOTP = "EMAIL_OTP"
	// ChallengeSMSMFA: a code sent by SMS to the user's verified phone
	// number (or a recovery code). The code went out with the challenge.
	ChallengeSMSMFA = "SMS_MFA"
	// ChallengeWebAuthn: one of the user's passkeys (PasskeyOptions, then
	// an Answer with the ceremony and credential), or a recovery code.
	ChallengeWebAuthn = "WEB_AUTHN"
	// ChallengeMFASetup: the user must set up a second factor before the
	// sign-in ends (mfa required, step-up): the code of the new app (its
	// secret in Parameters "SECRET_CODE"), of email codes (Parameters
	// "MFA_SETUP_TYPE" = EMAIL_OTP), of SMS codes ("MFA_SETUP_TYPE" =
	// SMS_MFA, for a user with a verified number), or a new passkey.
	ChallengeMFASetup = "MFA_SETUP"
	// ChallengeSelectMFAType is never asked: every second-factor challenge
	// takes it as an answer (or any answer with Select set): Select
	// EMAIL_OTP mails a code and returns the EMAIL_OTP challenge, Select
	// SMS_MFA texts one and returns SMS_MFA. An MFA_SETUP answer with
	// Select EMAIL_OTP (SMS_MFA) turns the set-up to email (SMS) codes.
	ChallengeSelectMFAType = "SELECT_MFA_TYPE"
	// ChallengePasswordVerifier: a signed-in user stepping up without a
	// factor proves the password again before setting one up; answer with
	// Password. USER_SRP_AUTH's first step has the same name (as
	// Cognito's), answered with a proof of the password instead
	// (InitiateSRPAuth).
	ChallengePasswordVerifier = "PASSWORD_VERIFIER"
)

// Flows: where a challenge began, and so what answering it leads to.
const (
	// FlowSignIn ends in an Authentication, for a browser without a session.
	FlowSignIn = "signin"
	// FlowStepUp ends in an Authentication with a second factor, for a
	// user signed in with the password only; its set-up and password steps
	// are answered only by that user's session (Answer.SessionUser).
	FlowStepUp = "stepup"
	// FlowAccount is a set-up started from the account page: answering it
	// enrols the factor (AuthStep.Enrolled) and authenticates nothing.
	FlowAccount = "account"
)

// Factor kinds a second-factor challenge may be answered with, listed in
// its Parameters "MFAS_CAN_CHOOSE" (a JSON array).
const (
	factorChoiceApp     = ChallengeSoftwareTokenMFA
	factorChoiceEmail   = ChallengeEmailOTP
	factorChoiceSMS     = ChallengeSMSMFA
	factorChoicePasskey = ChallengeWebAuthn
)

// How long a challenge may be answered.
const (
	secondFactorTTL = 5 * time.Minute
	setupTTL        = 10 * time.Minute
	newPasswordTTL  = 10 * time.Minute
)

// ErrNotSignedIn refuses an answer to a step-up or account challenge from
// anyone but the signed-in user it was made for.
var ErrNotSignedIn = errors.New("sign in again to continue")

// AuthStep is where a sign-in stands after a start or an answer: exactly
// one of Auth (done), Challenge (asked next) and Enrolled (an account
// page's set-up, done) is set.
type AuthStep struct {
	Auth      *Authentication
	Challenge *Challenge
	// Enrolled is set when a FlowAccount set-up was answered: the factor
	// is on; RecoveryCodes come with a user's first factor.
	Enrolled      bool
	RecoveryCodes []string
	// User is the user the step is about (for logs).
	User *store.User
}

// Authentication is a finished sign-in: the caller starts a session for
// User with AMR. It has been audited (AuditSignIn).
type Authentication struct {
	User     *store.User
	AMR      []string
	AuthTime time.Time
	// RecoveryCodes come once, when the sign-in set up the user's first
	// factor.
	RecoveryCodes []string
	// RememberDevice, when set, is the device fingerprint the caller
	// keeps on the browser (the answer asked to remember it, and the pool
	// remembers devices): a later InitiatePasswordAuth with it skips the
	// second factor.
	RememberDevice string
	// Method says how it ended, for the caller's log: "password",
	// "remembered_device", "second_factor", "enrolment", "passkey",
	// "federated".
	Method string
}

// Challenge is the next step asked of the user.
type Challenge struct {
	Name string
	// Session is the sealed state of the sign-in, opaque to the caller:
	// it expires, is bound to the Client it was made for, and is answered
	// successfully at most once, across every instance on the store.
	Session string
	Flow    string
	User    *store.User
	// Parameters are Cognito's ChallengeParameters: USERNAME; for MFA:
	// MFAS_CAN_CHOOSE (JSON array of challenge names the answer may use),
	// CODE_DELIVERY_DESTINATION and CODE_DELIVERY_DELIVERY_MEDIUM; for
	// MFA_SETUP: SECRET_CODE or MFA_SETUP_TYPE.
	Parameters map[string]string
	// CanEmail: the user may ask for a mailed code (SELECT_MFA_TYPE
	// EMAIL_OTP); CanText: for a texted one (SELECT_MFA_TYPE SMS_MFA).
	CanEmail bool
	CanText  bool
	// Delivery is set when a code was mailed (or could not be) with this
	// challenge.
	Delivery *CodeDelivery
	// Enrolment is the app being set up (MFA_SETUP of an app).
	Enrolment *TOTPEnrolment
	// EmailSetup: MFA_SETUP answered with the code mailed to the user;
	// SMSSetup: with the code texted to them.
	EmailSetup bool
	SMSSetup   bool
	// Available are SELECT_CHALLENGE's choices (Cognito's
	// AvailableChallenges).
	Available []string
}

// CodeDelivery says what became of a code mailed with a challenge: Err nil
// (sent), a *TooSoonError (one went out moments ago and stays good),
// ErrMailNotSent, or another error.
type CodeDelivery struct {
	// Destination is masked; Medium is "EMAIL" or "SMS".
	Destination string
	Medium      string
	Err         error
}

// Answer answers a challenge: Session and the fields of its Name.
type Answer struct {
	Session string
	// Name is the challenge answered; "" is the session's own. Any
	// second-factor name (SOFTWARE_TOKEN_MFA, EMAIL_OTP, WEB_AUTHN,
	// SELECT_MFA_TYPE) answers any second-factor challenge: the user may
	// use whichever factor they have.
	Name string
	// Client is what the session was bound to at its start.
	Client string
	// SessionUser is the user id of the caller's current session, if
	// any: step-up and account steps need it to be the challenge's user.
	SessionUser string
	// Proved: the caller holds fresh proof of the user (a passkey
	// confirmation of this session), which answers PASSWORD_VERIFIER.
	Proved bool

	Code        string // SOFTWARE_TOKEN_MFA, EMAIL_OTP, MFA_SETUP, recovery codes
	NewPassword string // NEW_PASSWORD_REQUIRED
	Password    string // PASSWORD_VERIFIER
	// Select switches a second-factor challenge or a set-up to
	// EMAIL_OTP (mailing a code) or SMS_MFA (texting one).
	Select string
	// RememberDevice asks to skip the second factor on this device later.
	RememberDevice bool
	// Passkey answers WEB_AUTHN and a passkey MFA_SETUP: the ceremony
	// PasskeyOptions began and the authenticator's response.
	Passkey *PasskeyAnswer

	// USER_SRP_AUTH's PASSWORD_VERIFIER (InitiateSRPAuth), as Cognito's
	// ChallengeResponses PASSWORD_CLAIM_SIGNATURE,
	// PASSWORD_CLAIM_SECRET_BLOCK and TIMESTAMP. The secret block carries
	// the challenge's state: Session may be left empty, and when given
	// must be the same challenge's.
	PasswordClaimSignature   string
	PasswordClaimSecretBlock string
	Timestamp                string

	// USER_AUTH (userauth.go): SELECT_CHALLENGE's choice is Select, with
	// Password or SRPA for the password's; RelyingParty is the site of
	// its passkey ceremonies (nil: none), and a WEB_AUTHN step is
	// answered with Passkey.Credential alone (the session carries the
	// ceremony).
	SRPA         string
	RelyingParty *RelyingParty
	// Custom answers CUSTOM_CHALLENGE (Cognito's ANSWER).
	Custom string
}

// PasskeyAnswer is a finished WebAuthn ceremony.
type PasskeyAnswer struct {
	RelyingParty RelyingParty
	Ceremony     *WebAuthnCeremony
	Credential   []byte
}

// PasswordAuth starts a sign-in with a password (Cognito's
// USER_PASSWORD_AUTH).
type PasswordAuth struct {
	Username, Password string
	// Client binds the challenge sessions to what started them (the hosted
	// pages: the site's host; an API: the app client).
	Client string
	// Device is what the caller's device remembers of an earlier second
	// factor (Authentication.RememberDevice), for the user it names.
	Device *RememberedDevice
}

// RememberedDevice is a device's claim to have given a second factor.
type RememberedDevice struct {
	UserID      string
	Fingerprint string
}

// session is the sealed content of Challenge.Session.
type session struct {
	ID          string `json:"i"`
	Name        string `json:"n"`
	Flow        string `json:"o"`
	UserID      string `json:"u"`
	Fingerprint string `json:"f"`
	Expires     int64  `json:"e"`
	// Factor is the factor being set up: a TOTP factor id, or
	// emailSetup.
	Factor string `json:"k,omitempty"`
	// First is the amr of the sign-in's first factor when it was not the
	// password (AMRFederated), so the second factor's amr names it.
	First string `json:"a,omitempty"`

	// USER_SRP_AUTH's PASSWORD_VERIFIER (srp.go): the login as given
	// (its lockout), the USER_ID_FOR_SRP signed, the key a right password
	// gives, and whether the challenge was a decoy (no verifier: no
	// answer is right).
	Login   string `json:"l,omitempty"`
	SRPUser string `json:"s,omitempty"`
	Key     []byte `json:"x,omitempty"`
	Decoy   bool   `json:"d,omitempty"`

	// USER_AUTH (userauth.go): a step of choice-based sign-in, whose
	// UserID is empty for a login without an account; a passkey step
	// carries its ceremony (Login is the login as above).
	UserAuth bool              `json:"c,omitempty"`
	Ceremony *WebAuthnCeremony `json:"w,omitempty"`

	// CUSTOM_AUTH (customauth.go): the run's challenges so far, and the
	// create hook's private parameters and metadata of the one asked.
	Custom   []ChallengeResult `json:"h,omitempty"`
	Private  map[string]string `json:"p,omitempty"`
	Metadata string            `json:"m,omitempty"`
}

const (
	emailSetup = "email"
	smsSetup   = "sms"
)

// InitiatePasswordAuth checks a username and password and returns the
// first step. Refusals are SignIn's errors (counted in the lockout and
// audited there); NEW_PASSWORD_REQUIRED is a challenge, not an error.
func (p *Pool) InitiatePasswordAuth(ctx context.Context, a PasswordAuth) (*AuthStep, error) {
	u, err := p.signIn(ctx, a.Username, a.Password)
	if npr, ok := errors.AsType[*NewPasswordRequiredError](err); ok {
		return p.challenge(ctx, a.Client, session{Name: ChallengeNewPasswordRequired, Flow: FlowSignIn}, npr.User, newPasswordTTL, &Challenge{})
	}
	if err != nil {
		return nil, err
	}
	return p.afterPassword(ctx, a.Client, u, a.Device)
}

// afterPassword is every password sign-in's next step: done for a user who
// needs nothing more (or on a device they gave a factor on), else the
// second factor or its set-up.
func (p *Pool) afterPassword(ctx context.Context, client string, u *store.User, device *RememberedDevice) (*AuthStep, error) {
	hasFactor, enrol, err := p.NeedsMFA(ctx, u)
	if err != nil {
		return nil, err
	}
	switch {
	case hasFactor && p.remembered(ctx, u, device):
		return p.authenticated(ctx, u, []string{AMRPassword, AMRMFA}, "remembered_device", nil)
	case hasFactor:
		return p.secondFactor(ctx, client, session{Flow: FlowSignIn}, u, mailIfOnly)
	case enrol:
		return p.setup(ctx, client, FlowSignIn, u, "")
	}
	return p.authenticated(ctx, u, []string{AMRPassword}, "password", nil)
}

// remembered reports whether device gave a second factor for u with the
// factors and password u has now, in a pool that remembers devices.
func (p *Pool) remembered(ctx context.Context, u *store.User, device *RememberedDevice) bool {
	if p.mfa.RememberDevice <= 0 || device == nil || device.UserID != u.ID {
		return false
	}
	fp, err := p.DeviceFingerprint(ctx, u)
	return err == nil && fp == device.Fingerprint
}

// authenticated ends a sign-in: the post authentication hook told (its
// failure fails the sign-in, as Cognito's), then audited once, here.
func (p *Pool) authenticated(ctx context.Context, u *store.User, amr []string, method string, codes []string) (*AuthStep, error) {
	if err := p.postAuthentication(ctx, u, method != "remembered_device"); err != nil {
		p.auditSignIn(ctx, u, u.Email, err)
		return nil, err
	}
	p.signedIn(ctx, u, amr, method)
	authTime := p.deny.AuthTimeAfter(u.ID, p.now())
	return &AuthStep{User: u, Auth: &Authentication{User: u, AMR: amr, AuthTime: authTime, Method: method, RecoveryCodes: codes}}, nil
}

// InitiatePasskeyAuth finishes a passwordless sign-in: the ceremony of
// BeginPasskeySignIn and the authenticator's answer. Its errors are
// FinishPasskeySignIn's.
func (p *Pool) InitiatePasskeyAuth(ctx context.Context, a PasskeyAnswer) (*AuthStep, error) {
	u, amr, err := p.FinishPasskeySignIn(ctx, a.RelyingParty, a.Ceremony, a.Credential)
	if err != nil {
		return nil, err
	}
	// A passkey names its user only once it is verified: the hook is
	// asked then, before the sign-in ends.
	if err := p.preAuthentication(ctx, u, u.Email); err != nil {
		p.auditSignIn(ctx, u, u.Email, err)
		return nil, err
	}
	return p.authenticated(ctx, u, amr, "passkey", nil)
}

// StepUp starts asking a user signed in with the password only for a
// second factor: theirs, or, for a user without one, its set-up, after the
// password again unless proved (a passkey confirmation stands).
func (p *Pool) StartStepUp(ctx context.Context, client string, u *store.User, proved bool) (*AuthStep, error) {
	if p.mfa.Mode == MFAOff {
		return nil, ErrMFAUnavailable
	}
	hasFactor, _, err := p.NeedsMFA(ctx, u)
	if err != nil {
		return nil, err
	}
	switch {
	case hasFactor:
		return p.secondFactor(ctx, client, session{Flow: FlowStepUp}, u, mailIfOnly)
	case proved:
		return p.setup(ctx, client, FlowStepUp, u, "")
	}
	return p.challenge(ctx, client, session{Name: ChallengePasswordVerifier, Flow: FlowStepUp}, u, secondFactorTTL, &Challenge{})
}

// StartSMSEnrolment starts turning on SMS codes from the account page,
// whose caller checked fresh proof first: a code is texted to the user's
// verified number.
func (p *Pool) StartSMSEnrolment(ctx context.Context, client string, u *store.User) (*AuthStep, error) {
	return p.smsSetup(ctx, client, FlowAccount, u)
}

// StartEnrolment starts setting up a factor from the account page, whose
// caller checked fresh proof first: an app named name, or email codes
// (a code is mailed).
func (p *Pool) StartEnrolment(ctx context.Context, client string, u *store.User, name string, email bool) (*AuthStep, error) {
	if email {
		return p.emailSetup(ctx, client, FlowAccount, u)
	}
	return p.setup(ctx, client, FlowAccount, u, name)
}

// When a second-factor challenge mails a code.
const (
	mailIfOnly = iota // when email is the user's only code factor
	mailNow           // the user asked for one
	mailNever         // asking again after a wrong code
)

// secondFactor asks u for one of their factors, mailing a code as mail
// says; s gives the flow (and the first factor, when not the password).
func (p *Pool) secondFactor(ctx context.Context, client string, s session, u *store.User, mail int) (*AuthStep, error) {
	fs, err := p.Factors(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	app, email, text, passkey := false, false, false, false
	for _, f := range fs {
		app = app || f.Kind == store.FactorTOTP
		email = email || f.Kind == store.FactorEmail
		text = text || f.Kind == store.FactorSMS
		passkey = passkey || f.Kind == store.FactorWebAuthn
	}
	_, verified := Phone(u)
	c := &Challenge{CanEmail: email && p.CanEmailCodes(), CanText: text && verified && p.CanTextCodes(), Parameters: map[string]string{}}
	var can []string
	name := ChallengeWebAuthn
	if passkey {
		can = append(can, factorChoicePasskey)
	}
	if c.CanEmail {
		name = ChallengeEmailOTP
		can = append([]string{factorChoiceEmail}, can...)
	}
	if c.CanText {
		name = ChallengeSMSMFA
		can = append([]string{factorChoiceSMS}, can...)
	}
	if app {
		name = ChallengeSoftwareTokenMFA
		can = append([]string{factorChoiceApp}, can...)
	}
	choose, _ := json.Marshal(can)
	c.Parameters["MFAS_CAN_CHOOSE"] = string(choose)
	// Without an app, the code goes out with the challenge: by SMS when
	// the user has both (Cognito's default preference), else by mail.
	switch {
	case mail == mailNow && s.Name == ChallengeSMSMFA && c.CanText,
		mail == mailIfOnly && !app && c.CanText:
		name = ChallengeSMSMFA
		c.Delivery = p.smsCode(ctx, u)
	case c.CanEmail && (mail == mailNow || mail == mailIfOnly && !app):
		name = ChallengeEmailOTP
		c.Delivery = p.mailCode(ctx, u)
	case mail == mailNever && !app && s.Name == ChallengeEmailOTP && c.CanEmail:
		name = ChallengeEmailOTP // asked again for the code mailed before
	case mail == mailNever && !app && c.CanText:
		// Asked again for the code texted before: the page still says
		// where it went.
		number, _ := Phone(u)
		c.Delivery = &CodeDelivery{Destination: sms.Mask(number), Medium: "SMS", Err: errNotMailedNow}
	}
	return p.challenge(ctx, client, session{Name: name, Flow: s.Flow, First: s.First}, u, secondFactorTTL, c)
}

// smsCode texts u a sign-in code.
func (p *Pool) smsCode(ctx context.Context, u *store.User) *CodeDelivery {
	number, _ := Phone(u)
	return &CodeDelivery{Destination: sms.Mask(number), Medium: "SMS", Err: p.SendSMSMFACode(ctx, u)}
}

// mailCode sends u a sign-in code.
func (p *Pool) mailCode(ctx context.Context, u *store.User) *CodeDelivery {
	return &CodeDelivery{Destination: MaskEmail(u.Email), Medium: "EMAIL", Err: p.SendMFACode(ctx, u)}
}

// setup starts setting up an authenticator app (named name) for u.
func (p *Pool) setup(ctx context.Context, client, flow string, u *store.User, name string) (*AuthStep, error) {
	e, err := p.StartTOTP(ctx, u, name)
	if err != nil {
		return nil, err
	}
	return p.challenge(ctx, client, session{Name: ChallengeMFASetup, Flow: flow, Factor: e.FactorID}, u, setupTTL,
		&Challenge{Enrolment: e, Parameters: map[string]string{"SECRET_CODE": e.Secret}})
}

// emailSetup mails u a code whose entry turns email codes on.
func (p *Pool) emailSetup(ctx context.Context, client, flow string, u *store.User) (*AuthStep, error) {
	if !p.CanEmailCodes() {
		return nil, ErrMFAUnavailable
	}
	c := &Challenge{EmailSetup: true, CanEmail: true, Delivery: p.mailCode(ctx, u), Parameters: map[string]string{"MFA_SETUP_TYPE": ChallengeEmailOTP}}
	return p.challenge(ctx, client, session{Name: ChallengeMFASetup, Flow: flow, Factor: emailSetup}, u, secondFactorTTL, c)
}

// smsSetup texts u a code whose entry turns SMS codes on; u's number
// must be verified.
func (p *Pool) smsSetup(ctx context.Context, client, flow string, u *store.User) (*AuthStep, error) {
	if !p.CanTextCodes() {
		return nil, ErrMFAUnavailable
	}
	if _, verified := Phone(u); !verified {
		return nil, ErrPhoneNotVerified
	}
	c := &Challenge{SMSSetup: true, CanText: true, Delivery: p.smsCode(ctx, u), Parameters: map[string]string{"MFA_SETUP_TYPE": ChallengeSMSMFA}}
	return p.challenge(ctx, client, session{Name: ChallengeMFASetup, Flow: flow, Factor: smsSetup}, u, secondFactorTTL, c)
}

// challenge seals s for u into c and returns the step asking it.
func (p *Pool) challenge(ctx context.Context, client string, s session, u *store.User, ttl time.Duration, c *Challenge) (*AuthStep, error) {
	s.UserID, s.Fingerprint, s.Expires = u.ID, PasswordFingerprint(u), p.now().Add(ttl).Unix()
	tok, err := p.sealSession(ctx, client, s)
	if err != nil {
		return nil, err
	}
	c.Name, c.Session, c.Flow, c.User = s.Name, tok, s.Flow, u
	if c.Parameters == nil {
		c.Parameters = map[string]string{}
	}
	c.Parameters["USERNAME"] = u.Email
	if c.Delivery != nil {
		c.Parameters["CODE_DELIVERY_DESTINATION"] = c.Delivery.Destination
		c.Parameters["CODE_DELIVERY_DELIVERY_MEDIUM"] = c.Delivery.Medium
	}
	return &AuthStep{User: u, Challenge: c}, nil
}

// openSession opens a sealed session: sealed by this pool's key for this
// client, not expired, about a user who is still enabled and has the same
// password. A token that fails any of it is ErrChallengeExpired; other
// errors are the store's.
func (p *Pool) openSession(ctx context.Context, client, tok string) (session, *store.User, error) {
	s, ok, err := p.unsealSession(ctx, client, tok)
	if err != nil {
		return s, nil, err
	}
	if !ok || p.now().Unix() > s.Expires || s.UserAuth {
		// A USER_AUTH step is answered by answerUserAuth alone.
		return s, nil, ErrChallengeExpired
	}
	u, err := p.store.UserByID(ctx, s.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return s, nil, ErrChallengeExpired
	}
	if err != nil {
		return s, nil, err
	}
	if !u.Enabled || PasswordFingerprint(u) != s.Fingerprint {
		if s.Name == ChallengeNewPasswordRequired && !u.Enabled {
			return s, nil, ErrUserDisabled
		}
		return s, nil, ErrChallengeExpired
	}
	return s, u, nil
}

// spend marks s answered, once across every instance on the store: of
// any number of answers to one session, one passes. A refused answer does
// not spend it, so that a wrong code can be typed again on the same page.
//
// The mark is a count of the store's shared counter (CountHit) whose
// window starts at the session's expiry, so that purging old windows
// (which goes by their start) never forgets a session that could still be
// answered.
func (p *Pool) spend(ctx context.Context, s session) error {
	n, _, err := p.store.CountHit(ctx, spentKey(s), time.Unix(s.Expires, 0), time.Second)
	if err != nil {
		return err
	}
	if n != 1 {
		return ErrChallengeExpired
	}
	return nil
}

// spent reports whether s was answered already, before an answer is
// checked: a spent session gets no further answer checked, right or
// wrong. It reads spend's window as the one before the next (CountHit's
// prev), counting in that next window, which nothing else reads.
func (p *Pool) spent(ctx context.Context, s session) error {
	_, prev, err := p.store.CountHit(ctx, spentKey(s), time.Unix(s.Expires, 0).Add(time.Second), time.Second)
	if err != nil {
		return err
	}
	if prev > 0 {
		return ErrChallengeExpired
	}
	return nil
}

func spentKey(s session) string { return "signin_session:" + s.ID }

// RespondToAuthChallenge answers a challenge and returns the next step.
//
// A refused answer that may be tried again (a wrong code, a password the
// policy refuses) returns the error and the step asking again, both: the
// error says what was wrong, the step's challenge carries a fresh
// session. Other errors come without a step: ErrChallengeExpired (a
// session forged, expired, answered already, or for a user whose
// password changed or who was disabled), ErrNotSignedIn, a
// *LockedOutError, the store's.
func (p *Pool) RespondToAuthChallenge(ctx context.Context, a Answer) (*AuthStep, error) {
	if isSRPAnswer(a) {
		return p.answerSRP(ctx, a)
	}
	if a.Name == ChallengeCustom {
		return p.answerCustom(ctx, a)
	}
	if s, ok, err := p.openUserAuth(ctx, a); err != nil || ok {
		if err != nil {
			return nil, err
		}
		return p.answerUserAuth(ctx, a, s)
	}
	s, u, err := p.openSession(ctx, a.Client, a.Session)
	if err != nil {
		return nil, err
	}
	if err := p.spent(ctx, s); err != nil {
		return nil, err
	}
	name := a.Name
	if name == "" {
		name = s.Name
	}
	switch s.Name {
	case ChallengeNewPasswordRequired:
		if name != s.Name {
			return nil, ErrChallengeExpired
		}
		return p.answerNewPassword(ctx, a, s, u)
	case ChallengeSoftwareTokenMFA, ChallengeEmailOTP, ChallengeSMSMFA, ChallengeWebAuthn:
		return p.answerSecondFactor(ctx, a, name, s, u)
	case ChallengeMFASetup:
		if name != s.Name {
			return nil, ErrChallengeExpired
		}
		return p.answerSetup(ctx, a, s, u)
	case ChallengePasswordVerifier:
		if name != s.Name || len(s.Key) > 0 {
			// An SRP challenge is answered with a proof (answerSRP), never
			// the password.
			return nil, ErrChallengeExpired
		}
		return p.answerPassword(ctx, a, s, u)
	}
	return nil, ErrChallengeExpired
}

func (p *Pool) answerNewPassword(ctx context.Context, a Answer, s session, u *store.User) (*AuthStep, error) {
	nu, err := p.CompleteNewPassword(ctx, u.ID, s.Fingerprint, a.NewPassword)
	if _, ok := errors.AsType[*PasswordPolicyError](err); ok {
		again, aerr := p.challenge(ctx, a.Client, session{Name: s.Name, Flow: s.Flow}, u, newPasswordTTL, &Challenge{})
		if aerr != nil {
			return nil, aerr
		}
		return again, err
	}
	if err != nil {
		return nil, err
	}
	if err := p.spend(ctx, s); err != nil {
		return nil, err
	}
	// The new password proves the user as the old one did; what follows is
	// what follows any password (no remembered device: the password
	// changed, which forgets them all).
	return p.afterPassword(ctx, a.Client, nu, nil)
}

// answerSecondFactor checks a code or passkey against u's factors, or
// mails a code (SELECT_MFA_TYPE).
func (p *Pool) answerSecondFactor(ctx context.Context, a Answer, name string, s session, u *store.User) (*AuthStep, error) {
	var amr []string
	var err error
	if a.Select != "" {
		name = ChallengeSelectMFAType
	}
	switch name {
	case ChallengeSelectMFAType:
		var on bool
		switch a.Select {
		case ChallengeEmailOTP:
			on, err = p.EmailCodesOn(ctx, u.ID)
		case ChallengeSMSMFA:
			on, err = p.SMSCodesOn(ctx, u)
		default:
			return nil, ErrChallengeExpired
		}
		if err != nil {
			return nil, err
		}
		if !on {
			return nil, ErrMFAUnavailable
		}
		if err := p.spend(ctx, s); err != nil {
			return nil, err
		}
		return p.secondFactor(ctx, a.Client, session{Name: a.Select, Flow: s.Flow, First: s.First}, u, mailNow)
	case ChallengeSoftwareTokenMFA, ChallengeEmailOTP, ChallengeSMSMFA:
		amr, err = p.VerifyMFA(ctx, u, a.Code)
		if errors.Is(err, ErrWrongCode) {
			again, aerr := p.secondFactor(ctx, a.Client, s, u, mailNever)
			if aerr != nil {
				return nil, aerr
			}
			return again, err
		}
	case ChallengeWebAuthn:
		if a.Passkey == nil {
			return nil, ErrChallengeExpired
		}
		amr, err = p.FinishPasskeySecondFactor(ctx, u, a.Passkey.RelyingParty, a.Passkey.Ceremony, a.Passkey.Credential)
	default:
		return nil, ErrChallengeExpired
	}
	if err != nil {
		return nil, err
	}
	if err := p.spend(ctx, s); err != nil {
		return nil, err
	}
	step, err := p.authenticated(ctx, u, firstFactor(amr, s.First), "second_factor", nil)
	if err != nil {
		return nil, err
	}
	if a.RememberDevice && p.mfa.RememberDevice > 0 {
		if fp, err := p.DeviceFingerprint(ctx, u); err == nil {
			step.Auth.RememberDevice = fp
		}
	}
	return step, nil
}

// firstFactor puts first (a sign-in's first factor other than the
// password) in place of the password in amr.
func firstFactor(amr []string, first string) []string {
	if first == "" {
		return amr
	}
	out := make([]string, 0, len(amr))
	for _, m := range amr {
		if m == AMRPassword {
			m = first
		}
		out = append(out, m)
	}
	if !slices.Contains(out, first) {
		out = append([]string{first}, out...)
	}
	return out
}

// sessionBound refuses a step-up or account step answered by anyone but
// the user's own session.
func sessionBound(a Answer, s session) error {
	if s.Flow != FlowSignIn && a.SessionUser != s.UserID {
		return ErrNotSignedIn
	}
	return nil
}

func (p *Pool) answerSetup(ctx context.Context, a Answer, s session, u *store.User) (*AuthStep, error) {
	if err := sessionBound(a, s); err != nil {
		return nil, err
	}
	if a.Select != "" {
		switch a.Select {
		case ChallengeEmailOTP:
			if !p.CanEmailCodes() {
				return nil, ErrMFAUnavailable
			}
		case ChallengeSMSMFA:
			if _, verified := Phone(u); !p.CanTextCodes() || !verified {
				return nil, ErrMFAUnavailable
			}
		default:
			return nil, ErrChallengeExpired
		}
		if err := p.spend(ctx, s); err != nil {
			return nil, err
		}
		if a.Select == ChallengeSMSMFA {
			return p.smsSetup(ctx, a.Client, s.Flow, u)
		}
		return p.emailSetup(ctx, a.Client, s.Flow, u)
	}
	var codes []string
	var err error
	amr := []string{AMRPassword, AMROTP, AMRMFA}
	switch {
	case a.Passkey != nil:
		if s.Flow == FlowAccount {
			return nil, ErrChallengeExpired // the account page adds passkeys its own way
		}
		codes, err = p.FinishPasskeyRegistration(ctx, u, a.Passkey.RelyingParty, a.Passkey.Ceremony, a.Passkey.Credential)
		amr = []string{AMRPassword, AMRHardwareKey, AMRMFA}
	case s.Factor == emailSetup:
		codes, err = p.EnableEmailCodes(ctx, u.ID, a.Code)
		if errors.Is(err, ErrWrongCode) {
			again, aerr := p.challenge(ctx, a.Client, session{Name: s.Name, Flow: s.Flow, Factor: emailSetup}, u, secondFactorTTL,
				&Challenge{EmailSetup: true, CanEmail: true, Delivery: &CodeDelivery{Destination: MaskEmail(u.Email), Medium: "EMAIL", Err: errNotMailedNow},
					Parameters: map[string]string{"MFA_SETUP_TYPE": ChallengeEmailOTP}})
			if aerr != nil {
				return nil, aerr
			}
			return again, err
		}
	case s.Factor == smsSetup:
		codes, err = p.EnableSMSCodes(ctx, u.ID, a.Code)
		if errors.Is(err, ErrWrongCode) {
			number, _ := Phone(u)
			again, aerr := p.challenge(ctx, a.Client, session{Name: s.Name, Flow: s.Flow, Factor: smsSetup}, u, secondFactorTTL,
				&Challenge{SMSSetup: true, CanText: true, Delivery: &CodeDelivery{Destination: sms.Mask(number), Medium: "SMS", Err: errNotMailedNow},
					Parameters: map[string]string{"MFA_SETUP_TYPE": ChallengeSMSMFA}})
			if aerr != nil {
				return nil, aerr
			}
			return again, err
		}
	default:
		codes, err = p.ConfirmTOTP(ctx, u.ID, s.Factor, a.Code)
		if errors.Is(err, ErrWrongCode) {
			e, perr := p.PendingTOTP(ctx, u, s.Factor)
			if perr != nil {
				return nil, ErrChallengeExpired
			}
			again, aerr := p.challenge(ctx, a.Client, session{Name: s.Name, Flow: s.Flow, Factor: s.Factor}, u, setupTTL,
				&Challenge{Enrolment: e, Parameters: map[string]string{"SECRET_CODE": e.Secret}})
			if aerr != nil {
				return nil, aerr
			}
			return again, err
		}
	}
	if err != nil {
		return nil, err
	}
	if err := p.spend(ctx, s); err != nil {
		return nil, err
	}
	if s.Flow == FlowAccount {
		return &AuthStep{User: u, Enrolled: true, RecoveryCodes: codes}, nil
	}
	// The code (or passkey) just given proved the factor: this sign-in
	// has two.
	return p.authenticated(ctx, u, amr, "enrolment", codes)
}

// errNotMailedNow marks a delivery shown again (after a wrong code)
// rather than made: the code went out earlier.
var errNotMailedNow = &TooSoonError{}

func (p *Pool) answerPassword(ctx context.Context, a Answer, s session, u *store.User) (*AuthStep, error) {
	if err := sessionBound(a, s); err != nil {
		return nil, err
	}
	if !a.Proved {
		if _, err := p.VerifyPassword(ctx, u.ID, a.Password); err != nil {
			if errors.Is(err, ErrInvalidCredentials) {
				again, aerr := p.challenge(ctx, a.Client, session{Name: s.Name, Flow: s.Flow}, u, secondFactorTTL, &Challenge{})
				if aerr != nil {
					return nil, aerr
				}
				return again, err
			}
			return nil, err
		}
	}
	if err := p.spend(ctx, s); err != nil {
		return nil, err
	}
	hasFactor, _, err := p.NeedsMFA(ctx, u)
	if err != nil {
		return nil, err
	}
	if hasFactor {
		// Set up meanwhile (another tab): ask for it instead.
		return p.secondFactor(ctx, a.Client, session{Flow: s.Flow}, u, mailIfOnly)
	}
	return p.setup(ctx, a.Client, s.Flow, u, "")
}

// PasskeyOptions begins the WebAuthn ceremony that answers a session's
// challenge: an assertion of one of the user's passkeys for a
// second-factor challenge, the registration of a new one for a sign-in's
// or step-up's MFA_SETUP. The session is not spent.
func (p *Pool) PasskeyOptions(ctx context.Context, a Answer, rp RelyingParty) (any, *WebAuthnCeremony, error) {
	s, u, err := p.openSession(ctx, a.Client, a.Session)
	if err != nil {
		return nil, nil, err
	}
	if err := p.spent(ctx, s); err != nil {
		return nil, nil, err
	}
	switch s.Name {
	case ChallengeSoftwareTokenMFA, ChallengeEmailOTP, ChallengeSMSMFA, ChallengeWebAuthn:
		if a.Name != "" && a.Name != ChallengeWebAuthn {
			return nil, nil, ErrChallengeExpired
		}
		return p.BeginPasskeySecondFactor(ctx, u, rp)
	case ChallengeMFASetup:
		if a.Name != "" && a.Name != ChallengeMFASetup || s.Flow == FlowAccount {
			return nil, nil, ErrChallengeExpired
		}
		if err := sessionBound(a, s); err != nil {
			return nil, nil, err
		}
		return p.BeginPasskeyRegistration(ctx, u, rp, "")
	}
	return nil, nil, ErrChallengeExpired
}

// MaskEmail shows enough of an address to recognize it: "a•••@example.com".
func MaskEmail(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at < 1 {
		return email
	}
	r, _ := utf8.DecodeRuneInString(email)
	return string(r) + "•••" + email[at:]
}
