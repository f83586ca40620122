package pool

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/gatehouse-auth/gatehouse/mail"
	"github.com/gatehouse-auth/gatehouse/store"
)

// Choice-based sign-in (Cognito's USER_AUTH): the user names themselves,
// then picks how to prove it, among the pool's first factors:
//
//	InitiateUserAuth(USERNAME [, PREFERRED_CHALLENGE, PASSWORD | SRP_A])
//	  preference usable -> that factor's step (below)
//	  else              -> SELECT_CHALLENGE, AvailableChallenges
//	SELECT_CHALLENGE answered with Select (+ Password | SRPA), once:
//	  PASSWORD     -> InitiatePasswordAuth's steps (second factor and all)
//	  PASSWORD_SRP -> InitiateSRPAuth's PASSWORD_VERIFIER
//	  EMAIL_OTP    -> a code mailed (after the answer); its right code -> done
//	  WEB_AUTHN    -> a discoverable-passkey assertion, the ceremony in
//	                  the Session; its right assertion -> done
//
// No answer tells whether the login has an account, or which factors it
// has: AvailableChallenges are the pool's, the same for every login; an
// unknown login gets sessions like a user's (its id empty, so no answer
// is ever right); the code is mailed after the answer is written, so an
// account's answer takes no longer; the passkey options name no
// credential (the authenticator offers the passkeys it holds for the
// site, as on the hosted pages' passkey sign-in).
//
// As Cognito, a passwordless first factor ends the sign-in: an emailed
// code (amr otp) is one factor and asks no second one, which is why a
// pool with `mfa required` refuses EMAIL_OTP as a first factor; a passkey
// that verified its user is two (amr hwk mfa), as on the hosted pages.

// The first factors of USER_AUTH, as Cognito names them (its
// AllowedFirstAuthFactors and AvailableChallenges).
const (
	// FirstFactorPassword is the password, sent in the answer.
	FirstFactorPassword = "PASSWORD"
	// FirstFactorPasswordSRP is the password proved with SRP (pools with
	// SRP on).
	FirstFactorPasswordSRP = "PASSWORD_SRP"
	// FirstFactorEmailOTP is a code mailed to the address.
	FirstFactorEmailOTP = ChallengeEmailOTP
	// FirstFactorWebAuthn is a passkey.
	FirstFactorWebAuthn = ChallengeWebAuthn
	// ChallengeSelectChallenge asks the user to pick one of
	// Challenge.Available.
	ChallengeSelectChallenge = "SELECT_CHALLENGE"
)

// DefaultFirstFactors are a pool's first factors when its configuration
// names none: the password and passkeys, as the hosted pages offer.
var DefaultFirstFactors = []string{FirstFactorPassword, FirstFactorWebAuthn}

// ErrFactorUnavailable refuses a choice the pool does not offer.
var ErrFactorUnavailable = errors.New("this way of signing in is not available here")

// ValidateFirstFactors checks a pool's first factors (Config.FirstFactors)
// against its other settings: PASSWORD must be one, as in Cognito; an
// emailed code needs mail, and may not stand alone in a pool that
// requires MFA.
func ValidateFirstFactors(factors []string, mfaMode string, mails bool) error {
	if len(factors) == 0 {
		return nil
	}
	for _, f := range factors {
		switch f {
		case FirstFactorPassword, FirstFactorWebAuthn:
		case FirstFactorEmailOTP:
			if !mails {
				return errors.New("first_auth_factors EMAIL_OTP: the pool sends no mail (set mail)")
			}
			if mfaMode == MFARequired {
				return errors.New("first_auth_factors EMAIL_OTP: a passwordless code is one factor, and the pool requires MFA (as in Cognito, passwordless sign-in and required MFA do not go together)")
			}
		default:
			return fmt.Errorf("first_auth_factors %q: want PASSWORD, EMAIL_OTP or WEB_AUTHN", f)
		}
	}
	if !slices.Contains(factors, FirstFactorPassword) {
		return errors.New("first_auth_factors: PASSWORD must be one of them")
	}
	return nil
}

// UserAuth starts a choice-based sign-in.
type UserAuth struct {
	// Username is the login as given.
	Username string
	// Preferred is PREFERRED_CHALLENGE; with Password or SRPA for the
	// password's.
	Preferred string
	Password  string
	SRPA      string
	// Client binds the sessions, as PasswordAuth.Client.
	Client string
	// RelyingParty is the site passkey ceremonies run for; nil offers
	// no WEB_AUTHN.
	RelyingParty *RelyingParty
}

// PurposeSignInEmail is the verification-code purpose of a code mailed as
// a first factor; apart from the second factor's (PurposeMFAEmail), so
// neither answers the other.
const PurposeSignInEmail = "signin_email"

// userAuthTTL is how long a USER_AUTH step may be answered.
const userAuthTTL = 5 * time.Minute

// AvailableFirstFactors lists what USER_AUTH offers every login in this
// pool, for ceremonies at rp (nil: no passkeys).
func (p *Pool) AvailableFirstFactors(rp *RelyingParty) []string {
	factors := p.firstFactors
	if len(factors) == 0 {
		factors = DefaultFirstFactors
	}
	var out []string
	for _, f := range factors {
		switch f {
		case FirstFactorPassword:
			out = append(out, FirstFactorPassword)
			if p.SRPOn() {
				out = append(out, FirstFactorPasswordSRP)
			}
		case FirstFactorEmailOTP:
			if p.acct.Mail != nil {
				out = append(out, FirstFactorEmailOTP)
			}
		case FirstFactorWebAuthn:
			if rp != nil && p.mfa.Mode != MFAOff {
				out = append(out, FirstFactorWebAuthn)
			}
		}
	}
	return out
}

// InitiateUserAuth starts USER_AUTH: the preferred factor's step when the
// pool offers it (and, for the password's, the password or SRP_A came
// with it), else SELECT_CHALLENGE. A preference the pool does not offer
// is not an error (Cognito answers with the choices); the password's
// without the password (or SRP_A) is ErrPasswordMissing. Errors of the
// factor's step are its own (InitiatePasswordAuth's, InitiateSRPAuth's).
func (p *Pool) InitiateUserAuth(ctx context.Context, a UserAuth) (*AuthStep, error) {
	avail := p.AvailableFirstFactors(a.RelyingParty)
	if a.Preferred != "" && slices.Contains(avail, a.Preferred) {
		return p.startFirstFactor(ctx, a, a.Preferred)
	}
	login, u, err := p.userAuthLogin(ctx, a.Username)
	if err != nil {
		return nil, err
	}
	s := p.userAuthSession(ChallengeSelectChallenge, login, u)
	return p.userAuthChallenge(ctx, a.Client, s, &Challenge{Available: avail})
}

// ErrPasswordMissing refuses the password's factor chosen without the
// password (or SRP_A) it needs.
var ErrPasswordMissing = errors.New("the password (or SRP_A) is missing")

// startFirstFactor starts factor for a.Username.
func (p *Pool) startFirstFactor(ctx context.Context, a UserAuth, factor string) (*AuthStep, error) {
	switch factor {
	case FirstFactorPassword:
		if a.Password == "" {
			return nil, ErrPasswordMissing
		}
		return p.InitiatePasswordAuth(ctx, PasswordAuth{Username: a.Username, Password: a.Password, Client: a.Client})
	case FirstFactorPasswordSRP:
		if a.SRPA == "" {
			return nil, ErrPasswordMissing
		}
		return p.InitiateSRPAuth(ctx, SRPAuth{Username: a.Username, SRPA: a.SRPA, Client: a.Client})
	}
	login, u, err := p.userAuthLogin(ctx, a.Username)
	if err != nil {
		return nil, err
	}
	switch factor {
	case FirstFactorEmailOTP:
		return p.startEmailFirstFactor(ctx, a.Client, login, u)
	case FirstFactorWebAuthn:
		return p.startPasskeyFirstFactor(ctx, a.Client, login, u, a.RelyingParty)
	}
	return nil, ErrFactorUnavailable
}

// userAuthLogin finds the account of a login: the login normalized (as
// given when it is no address, which no account has) and its user, nil
// for none. Errors are the store's.
func (p *Pool) userAuthLogin(ctx context.Context, username string) (string, *store.User, error) {
	if username == "" || len(username) > 254 || !utf8.ValidString(username) {
		return "", nil, ErrInvalidCredentials
	}
	// Any of the pool's sign-in kinds (aliases.go); a login of no kind
	// costs the same read and is kept as given.
	key, u, err := p.lookupLogin(ctx, username)
	if err != nil {
		return "", nil, err
	}
	if key == "" {
		return username, nil, nil
	}
	return key, u, nil
}

// userAuthSession is a USER_AUTH step's state: the login, and the user
// when there is one (an unknown login's has no UserID, so nothing answers
// it rightly).
func (p *Pool) userAuthSession(name, login string, u *store.User) session {
	s := session{Name: name, Flow: FlowSignIn, Login: login, UserAuth: true, Expires: p.now().Add(userAuthTTL).Unix()}
	if u != nil {
		s.UserID, s.Fingerprint = u.ID, PasswordFingerprint(u)
	}
	return s
}

// userAuthChallenge seals s into c, which names no user: the step reads
// the same for a login with an account and one without.
func (p *Pool) userAuthChallenge(ctx context.Context, client string, s session, c *Challenge) (*AuthStep, error) {
	tok, err := p.sealSession(ctx, client, s)
	if err != nil {
		return nil, err
	}
	c.Name, c.Session, c.Flow = s.Name, tok, s.Flow
	if c.Parameters == nil {
		c.Parameters = map[string]string{}
	}
	c.Parameters["USERNAME"] = s.Login
	if c.Delivery != nil {
		c.Parameters["CODE_DELIVERY_DESTINATION"] = c.Delivery.Destination
		c.Parameters["CODE_DELIVERY_DELIVERY_MEDIUM"] = "EMAIL"
	}
	return &AuthStep{Challenge: c}, nil
}

// startEmailFirstFactor answers with the EMAIL_OTP challenge at once and
// mails the code after the answer (Later), to an enabled account only: the
// answer, and its time, are the same for any login.
func (p *Pool) startEmailFirstFactor(ctx context.Context, client, login string, u *store.User) (*AuthStep, error) {
	s := p.userAuthSession(ChallengeEmailOTP, login, u)
	step, err := p.userAuthChallenge(ctx, client, s, &Challenge{Delivery: &CodeDelivery{Destination: MaskEmail(login)}})
	if err != nil {
		return nil, err
	}
	if u != nil && u.Enabled {
		id := u.ID
		if err := p.Later(ctx, "mailing a sign-in code", func(ctx context.Context) error {
			u, err := p.store.UserByID(ctx, id)
			if err != nil {
				return err
			}
			wait, err := p.cooldown(ctx, u.ID, PurposeSignInEmail)
			if err != nil || wait > 0 {
				return err // one went out moments ago, and stays good
			}
			return p.issueCode(ctx, u, PurposeSignInEmail, mail.KindMFACode, u.Email, "", MFACodeTTL)
		}); err != nil {
			return nil, err
		}
	}
	return step, nil
}

// startPasskeyFirstFactor begins a passkey assertion for the login and
// seals its ceremony into the challenge's Session. The options ask for a
// discoverable passkey with user verification and name no credential, so
// they read the same for every login.
func (p *Pool) startPasskeyFirstFactor(ctx context.Context, client, login string, u *store.User, rp *RelyingParty) (*AuthStep, error) {
	if rp == nil {
		return nil, ErrFactorUnavailable
	}
	opts, c, err := p.BeginPasskeySignIn(ctx, *rp)
	if err != nil {
		return nil, err
	}
	options, err := json.Marshal(opts.Response)
	if err != nil {
		return nil, err
	}
	s := p.userAuthSession(ChallengeWebAuthn, login, u)
	s.Ceremony = c
	return p.userAuthChallenge(ctx, client, s, &Challenge{Parameters: map[string]string{"CREDENTIAL_REQUEST_OPTIONS": string(options)}})
}

// openUserAuth opens a USER_AUTH step's session; ok is false for any other
// session (and for anything not sealed for this client), which the caller
// answers its own way.
func (p *Pool) openUserAuth(ctx context.Context, a Answer) (session, bool, error) {
	s, ok, err := p.unsealSession(ctx, a.Client, a.Session)
	if err != nil || !ok || !s.UserAuth {
		return session{}, false, err
	}
	return s, true, nil
}

// answerUserAuth answers a USER_AUTH step: SELECT_CHALLENGE's choice, or
// the chosen passwordless factor's code or passkey.
func (p *Pool) answerUserAuth(ctx context.Context, a Answer, s session) (*AuthStep, error) {
	if p.now().Unix() > s.Expires {
		return nil, ErrChallengeExpired
	}
	if err := p.spent(ctx, s); err != nil {
		return nil, err
	}
	name := a.Name
	if name == "" {
		name = s.Name
	}
	if name != s.Name {
		return nil, ErrChallengeExpired
	}
	switch s.Name {
	case ChallengeSelectChallenge:
		return p.answerSelect(ctx, a, s)
	case ChallengeEmailOTP:
		return p.answerEmailFirstFactor(ctx, a, s)
	case ChallengeWebAuthn:
		return p.answerPasskeyFirstFactor(ctx, a, s)
	}
	return nil, ErrChallengeExpired
}

// answerSelect starts the chosen factor; the choice spends the session,
// whatever it leads to.
func (p *Pool) answerSelect(ctx context.Context, a Answer, s session) (*AuthStep, error) {
	if !slices.Contains(p.AvailableFirstFactors(a.RelyingParty), a.Select) {
		return nil, ErrFactorUnavailable
	}
	if (a.Select == FirstFactorPassword && a.Password == "") || (a.Select == FirstFactorPasswordSRP && a.SRPA == "") {
		return nil, ErrPasswordMissing
	}
	if err := p.spend(ctx, s); err != nil {
		return nil, err
	}
	var u *store.User
	if s.UserID != "" {
		found, err := p.store.UserByID(ctx, s.UserID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if err == nil && PasswordFingerprint(found) == s.Fingerprint {
			u = found
		}
	}
	switch a.Select {
	case FirstFactorEmailOTP:
		return p.startEmailFirstFactor(ctx, a.Client, s.Login, u)
	case FirstFactorWebAuthn:
		return p.startPasskeyFirstFactor(ctx, a.Client, s.Login, u, a.RelyingParty)
	}
	return p.startFirstFactor(ctx, UserAuth{Username: s.Login, Password: a.Password, SRPA: a.SRPA, Client: a.Client}, a.Select)
}

// answerEmailFirstFactor checks a mailed code. A wrong one (or any, for a
// login without an account) counts in the login's lockout as a wrong
// password does, and leaves the session to be answered again; the code's
// own tries (MaxAttempts) bound the guesses too.
func (p *Pool) answerEmailFirstFactor(ctx context.Context, a Answer, s session) (*AuthStep, error) {
	failures, err := p.checkLock(ctx, s.Login)
	if err != nil {
		p.auditSignIn(ctx, nil, s.Login, err)
		return nil, err
	}
	var u *store.User
	if s.UserID != "" {
		if u, err = p.store.UserByID(ctx, s.UserID); errors.Is(err, store.ErrNotFound) {
			u, err = nil, nil
		}
		if err != nil {
			return nil, err
		}
	}
	id := s.UserID
	if u == nil || PasswordFingerprint(u) != s.Fingerprint {
		// The store work a code costs, against an id no account has.
		id, u = rand.Text(), nil
	}
	_, cerr := p.consumeCode(ctx, id, PurposeSignInEmail, a.Code)
	if cerr != nil || u == nil {
		if cerr != nil && !errors.Is(cerr, ErrWrongCode) && !errors.Is(cerr, ErrCodeExpired) {
			return nil, cerr
		}
		p.auditSignIn(ctx, u, s.Login, ErrWrongCode)
		if err := p.recordFailure(ctx, s.Login); err != nil {
			return nil, err
		}
		return nil, ErrWrongCode
	}
	if err := p.spend(ctx, s); err != nil {
		return nil, err
	}
	// The code proved the mailbox, as a right password proves the
	// password: what follows is what follows one.
	u, err = p.passwordRight(ctx, u, s.Login, failures)
	if npr, ok := errors.AsType[*NewPasswordRequiredError](err); ok {
		return p.challenge(ctx, a.Client, session{Name: ChallengeNewPasswordRequired, Flow: FlowSignIn}, npr.User, newPasswordTTL, &Challenge{})
	}
	if err != nil {
		return nil, err
	}
	if err := p.preAuthentication(ctx, u, u.Email); err != nil {
		p.auditSignIn(ctx, u, u.Email, err)
		return nil, err
	}
	return p.authenticated(ctx, u, []string{AMROTP}, "email_otp", nil)
}

// answerPasskeyFirstFactor checks the assertion of the ceremony the
// session carries. The passkey must be the session's user's: another
// user's (or any, for a login without an account) is refused as an
// unknown passkey, counted in the login's lockout.
func (p *Pool) answerPasskeyFirstFactor(ctx context.Context, a Answer, s session) (*AuthStep, error) {
	if a.Passkey == nil || a.RelyingParty == nil || s.Ceremony == nil {
		return nil, ErrChallengeExpired
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(a.Passkey.Credential)
	if err != nil {
		return nil, p.passkeyFirstFactorFailed(ctx, s, refused(err))
	}
	if s.UserID == "" || subtle.ConstantTimeCompare(parsed.Response.UserHandle, []byte(s.UserID)) != 1 {
		return nil, p.passkeyFirstFactorFailed(ctx, s, ErrPasskeyUnknown)
	}
	u, amr, err := p.finishPasskeySignIn(ctx, *a.RelyingParty, s.Ceremony, parsed)
	if npr, ok := errors.AsType[*NewPasswordRequiredError](err); ok {
		if err := p.spend(ctx, s); err != nil {
			return nil, err
		}
		return p.challenge(ctx, a.Client, session{Name: ChallengeNewPasswordRequired, Flow: FlowSignIn}, npr.User, newPasswordTTL, &Challenge{})
	}
	if err != nil {
		return nil, err
	}
	if err := p.spend(ctx, s); err != nil {
		return nil, err
	}
	// As InitiatePasskeyAuth: the passkey names its user only once
	// verified, so the hook is asked then.
	if err := p.preAuthentication(ctx, u, u.Email); err != nil {
		p.auditSignIn(ctx, u, u.Email, err)
		return nil, err
	}
	return p.authenticated(ctx, u, amr, "passkey", nil)
}

// passkeyFirstFactorFailed counts a refused passkey against the login the
// sign-in named.
func (p *Pool) passkeyFirstFactorFailed(ctx context.Context, s session, err error) error {
	if _, lerr := p.checkLock(ctx, s.Login); lerr != nil {
		p.auditSignIn(ctx, nil, s.Login, lerr)
		return lerr
	}
	p.auditSignIn(ctx, nil, s.Login, ErrInvalidCredentials)
	if lerr := p.recordFailure(ctx, s.Login); lerr != nil {
		return lerr
	}
	return err
}
