package pool

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/mail"
	"github.com/gatehouse-auth/gatehouse/sms"
	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/trigger"
)

// ErrChallengeExpired: a "choose a new password" step was started for a
// password that is no longer the user's, or for a user who has none to
// change any more. Sign in again.
var ErrChallengeExpired = errors.New("this sign-in has expired; sign in again")

// ErrSameEmail: the new address is the one the account already has.
var ErrSameEmail = errors.New("this is already your address")

// signInStatus is the part of SignIn that follows a right password: what
// the user's status allows.
func (p *Pool) signInStatus(ctx context.Context, u *store.User) error {
	switch u.Status {
	case store.StatusUnconfirmed:
		if p.acct.SignInUnverified {
			return nil
		}
		return ErrUserNotConfirmed
	case store.StatusResetRequired:
		return ErrPasswordResetRequired
	case store.StatusForceChangePassword:
		if err := p.checkTemporary(ctx, u); err != nil {
			return err
		}
		return &NewPasswordRequiredError{User: u}
	}
	return nil
}

// checkTemporary refuses a temporary password past its deadline. A user
// made FORCE_CHANGE_PASSWORD without a recorded deadline (by an older
// version, or through NewUser.Status) has none.
func (p *Pool) checkTemporary(ctx context.Context, u *store.User) error {
	c, err := p.store.VerificationCode(ctx, u.ID, PurposeTemporaryPassword)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !p.now().Before(c.Expires) {
		return ErrTemporaryPasswordExpired
	}
	return nil
}

// PasswordFingerprint names the user's current password without revealing
// anything of it: a page that asks for a new password after a temporary
// one carries it, so that the step dies once the password has changed.
func PasswordFingerprint(u *store.User) string {
	sum := sha256.Sum256([]byte("gatehouse password fingerprint\x00" + u.ID + "\x00" + u.PasswordHash))
	return hex.EncodeToString(sum[:16])
}

// SignUpRequest is what the sign-up form sends.
type SignUpRequest struct {
	Email    string
	Password string
	// Attributes by name, as configured ("name", "custom:tenant").
	Attributes map[string]string
}

// CheckSignUp returns the normalized email and attributes of req, or
// FieldErrors saying what is wrong with each field. It stores nothing.
func (p *Pool) CheckSignUp(req SignUpRequest) (string, map[string]string, error) {
	fe := FieldErrors{}
	email, err := NormalizeEmail(req.Email)
	if err != nil {
		fe["email"] = "Enter a valid email address, such as name@example.com."
	}
	if err := p.policy.CheckFor(req.Password, email); err != nil {
		fe["password"] = policyMessage(err)
	}
	known := map[string]bool{}
	attrs := map[string]string{}
	for _, a := range p.acct.Attributes {
		known[a.Name] = true
		v := strings.TrimSpace(req.Attributes[a.Name])
		if msg := a.Check(v); msg != "" {
			fe[a.Name] = msg
			continue
		}
		if v != "" {
			attrs[a.Name] = v
		}
	}
	for name := range req.Attributes {
		if !known[name] {
			fe[clipName(name)] = "Not an attribute of this pool."
		}
	}
	if len(fe) > 0 {
		return "", nil, fe
	}
	return email, attrs, nil
}

func clipName(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}

// policyMessage words a password policy error as a sentence.
func policyMessage(err error) string {
	var pe *PasswordPolicyError
	if errors.As(err, &pe) {
		return "Password " + pe.Rule + "."
	}
	return "Choose another password."
}

// PendingSignUp is a sign-up checked and with its password hashed: the
// part of SignUp done before the page answers, the same work for every
// address. CompleteSignUp does the rest.
type PendingSignUp struct {
	id    string
	email string
	name  string
	attrs map[string]string
	hash  string
	// srp is the sealed SRP verifier of the password, made here so that
	// every sign-up costs the same (nil in a pool without SRP).
	srp []byte
	// confirmed and verified: the pre sign-up hook's autoConfirmUser and
	// autoVerifyEmail.
	confirmed, verified bool
}

// Confirmed reports whether the pre sign-up hook confirmed the sign-up:
// no code is mailed, and the user may sign in at once.
func (s *PendingSignUp) Confirmed() bool { return s.confirmed }

// Email is the sign-up's address, normalized.
func (s *PendingSignUp) Email() string { return s.email }

// PrepareSignUp checks req (FieldErrors say what is wrong with each field)
// and hashes its password. It neither looks at nor stores anything of the
// address, so it takes as long for a taken address as for a new one.
func (p *Pool) PrepareSignUp(ctx context.Context, req SignUpRequest) (*PendingSignUp, error) {
	if p.acct.SignUp != SignUpOpen {
		return nil, ErrSignUpDisabled
	}
	email, attrs, err := p.CheckSignUp(req)
	if err != nil {
		return nil, err
	}
	// A username another account has is said to be taken, before the
	// answer: a sign-up cannot give a name it cannot have (README,
	// "Sign-in aliases"). Every sign-up with a username costs this one
	// read, taken or not.
	if un := attrs[AttrUsername]; un != "" {
		if _, err := p.checkUsernameFree(ctx, un, ""); errors.Is(err, ErrUsernameTaken) {
			return nil, FieldErrors{AttrUsername: MsgUsernameTaken}
		} else if err != nil {
			return nil, err
		}
	}
	name := attrs["name"]
	delete(attrs, "name")
	id := uuid.NewString()
	// The hook sees what was typed, before anything of the address is
	// looked at: its answer, a refusal included, is the same whether or
	// not the address has an account.
	hook, err := p.preSignUp(ctx, trigger.SourcePreSignUpSignUp, id, email, name, attrs)
	if err != nil {
		return nil, err
	}
	hash, err := p.hasher.Hash(ctx, req.Password)
	if err != nil {
		return nil, err
	}
	ps := &PendingSignUp{id: id, email: email, name: name, attrs: attrs, hash: hash,
		confirmed: hook.AutoConfirmUser, verified: hook.AutoConfirmUser && hook.AutoVerifyEmail}
	if p.SRPOn() {
		ps.srp = p.sealSRPVerifier(&store.User{ID: ps.id, PasswordHash: hash}, req.Password)
	}
	return ps, nil
}

// SignUp is PrepareSignUp then CompleteSignUp, in one go. The hosted pages
// answer between the two, and complete the sign-up after the answer.
func (p *Pool) SignUp(ctx context.Context, req SignUpRequest) (string, error) {
	s, err := p.PrepareSignUp(ctx, req)
	if err != nil {
		return "", err
	}
	return s.email, p.CompleteSignUp(ctx, s)
}

// CompleteSignUp stores a prepared sign-up and mails its owner:
//
//   - a new address gets an UNCONFIRMED user and a code to confirm it;
//   - an address whose account is UNCONFIRMED (and enabled) has it
//     replaced: the pending user, with its password, attributes, codes,
//     factors and sessions, is deleted and a new one made from this
//     sign-up, with a new code. Nobody has proved the address yet, so the
//     latest sign-up is the pending one: a stranger who signed up someone
//     else's address first keeps nothing once its owner signs up. The new
//     user is marked contested: ConfirmSignUpCode (the code alone) does
//     not confirm it, ConfirmSignUp (code and password) does. Within
//     the resend cool-down of the code mailed for the replaced user, no
//     mail goes out ("Send a new code" works after the cool-down);
//   - any other account is left as it is, and its owner is mailed that
//     they already have one (at most once per cool-down).
//
// ErrMailNotSent means the account was stored but the mail failed:
// asking for a new code works.
func (p *Pool) CompleteSignUp(ctx context.Context, s *PendingSignUp) error {
	// A conflict means another sign-up took the address between two
	// steps here: look again.
	for range 3 {
		existing, err := p.store.UserByEmail(ctx, s.email)
		switch {
		case errors.Is(err, store.ErrNotFound):
			err = p.createPending(ctx, s, time.Time{}, false)
		case err != nil:
			return err
		case existing.Status == store.StatusUnconfirmed && existing.Enabled:
			err = p.replacePending(ctx, existing, s)
		default:
			return p.existsNotice(ctx, existing)
		}
		if err == nil {
			p.observed(store.AuditEvent{Type: EventSignedUp})
		}
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return errors.New("sign-up: the address kept changing hands; not signed up")
}

// createPending stores s as an UNCONFIRMED user and mails a code, unless
// coolingSince is within the resend cool-down: then the user gets a code
// that nobody has (so the cool-down holds for the new user too) and no mail.
// A contested sign-up (one that replaced another pending sign-up) is
// marked before any code exists, so no code of it confirms it alone.
func (p *Pool) createPending(ctx context.Context, s *PendingSignUp, coolingSince time.Time, contested bool) error {
	attrs := make(map[string]string, len(s.attrs))
	for k, v := range s.attrs {
		attrs[k] = v
	}
	id := s.id
	if id == "" {
		id = uuid.NewString()
	}
	u := &store.User{
		ID:           id,
		Email:        s.email,
		Name:         s.name,
		PasswordHash: s.hash,
		Status:       store.StatusUnconfirmed,
		Enabled:      true,
		Attributes:   attrs,
	}
	if s.confirmed {
		// The pre sign-up hook vouched for the sign-up: no code, and, as
		// Cognito's, no post confirmation call.
		u.Status, u.EmailVerified = store.StatusConfirmed, s.verified
	}
	if un := attrs[AttrUsername]; un != "" {
		// A pending sign-up holding the name gives it way; one taken
		// since PrepareSignUp said it was free (a race) is left out:
		// the account is made without it, and its owner picks another
		// on the account page.
		holder, err := p.checkUsernameFree(ctx, un, u.ID)
		switch {
		case errors.Is(err, ErrUsernameTaken):
			delete(attrs, AttrUsername)
		case err != nil:
			return err
		default:
			if err := p.freeUsername(ctx, holder); err != nil {
				return err
			}
		}
	}
	if err := p.store.CreateUser(ctx, u); err != nil {
		return err
	}
	if s.confirmed {
		if s.srp != nil {
			p.saveSRPVerifier(ctx, u, s.srp)
		}
		return nil
	}
	if contested {
		now := p.now()
		err := p.store.SaveVerificationCode(ctx, store.VerificationCode{UserID: u.ID, Purpose: purposeContested, SentAt: now, Expires: now})
		if errors.Is(err, store.ErrNotFound) {
			return store.ErrConflict // replaced already: look again
		}
		if err != nil {
			// Unmarked, the account could be confirmed by a code alone.
			return errors.Join(err, p.store.DeleteUser(context.WithoutCancel(ctx), u.ID))
		}
	}
	if s.srp != nil {
		p.saveSRPVerifier(ctx, u, s.srp)
	}
	if !coolingSince.IsZero() {
		now := p.now()
		err := p.store.SaveVerificationCode(ctx, store.VerificationCode{UserID: u.ID, Purpose: PurposeVerifyEmail,
			Hash: codeHash(u.ID, PurposeVerifyEmail, rand.Text()), SentAt: coolingSince, Expires: now.Add(p.acct.CodeTTL)})
		return mapNotFoundErr(err)
	}
	err := p.issueCode(ctx, u, PurposeVerifyEmail, mail.KindVerifyEmail, s.email, "", p.acct.CodeTTL)
	if err != nil && !errors.Is(err, ErrMailNotSent) {
		// No code could be kept: nobody could ever confirm this account,
		// so it must not stay behind to block the address.
		if derr := p.store.DeleteUser(context.WithoutCancel(ctx), u.ID); derr != nil {
			return errors.Join(err, derr)
		}
	}
	return err
}

// replacePending deletes the pending (UNCONFIRMED) user old and stores s
// in its place. A conflict (store.ErrConflict) means someone else changed
// the address meanwhile.
func (p *Pool) replacePending(ctx context.Context, old *store.User, s *PendingSignUp) error {
	var cooling time.Time
	c, err := p.store.VerificationCode(ctx, old.ID, PurposeVerifyEmail)
	switch {
	case err == nil:
		if !c.SentAt.IsZero() && p.now().Before(c.SentAt.Add(p.acct.ResendCooldown)) {
			cooling = c.SentAt
		}
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	if err := p.dropPending(ctx, old, "sign-up"); err != nil {
		return err
	}
	return p.createPending(ctx, s, cooling, true)
}

// dropPending deletes an UNCONFIRMED user that a sign-up or an
// administrator replaces, with everything they had: sessions, refresh
// tokens, factors, codes. Gone already is store.ErrConflict: the address
// changed meanwhile.
func (p *Pool) dropPending(ctx context.Context, u *store.User, by string) error {
	err := p.deleteUser(ctx, u.ID, "replaced by "+by)
	if errors.Is(err, ErrUserNotFound) {
		return store.ErrConflict
	}
	if err != nil {
		return err
	}
	return p.store.RevokeUserRefreshTokens(ctx, u.ID)
}

// existsNotice answers a sign-up for a taken address by writing to its
// owner, within the resend cool-down.
func (p *Pool) existsNotice(ctx context.Context, u *store.User) error {
	wait, err := p.cooldown(ctx, u.ID, purposeExistsNotice)
	if err != nil || wait > 0 {
		return err
	}
	now := p.now()
	rec := store.VerificationCode{UserID: u.ID, Purpose: purposeExistsNotice, SentAt: now, Expires: now.Add(p.acct.ResendCooldown)}
	if err := p.store.SaveVerificationCode(ctx, rec); err != nil {
		return mapNotFoundErr(err)
	}
	if err := p.send(ctx, mail.KindAccountExists, mail.Data{Email: u.Email, Locale: u.Attributes["locale"]}); err != nil {
		_ = p.store.DeleteVerificationCode(context.WithoutCancel(ctx), u.ID, purposeExistsNotice)
		return err
	}
	return nil
}

// ConfirmSignUp checks the code mailed to email, with the account's
// password, and marks the address verified and the user CONFIRMED. The
// password is asked for so that a confirmation never activates a password
// the mailbox owner did not set: whoever reads the mail can confirm only
// the sign-up whose password they know (a stranger's earlier sign-up of
// their address is replaced by their own, CompleteSignUp).
//
// An unknown address and a wrong password are ErrWrongCode, as a wrong
// code is (a wrong password counts as a wrong try of the code); a code that
// expired or was tried too often is ErrCodeExpired. Every call verifies one
// password hash, whatever the address.
func (p *Pool) ConfirmSignUp(ctx context.Context, email, code, password string) (*store.User, error) {
	u, err := p.userForCode(ctx, email)
	if errors.Is(err, ErrWrongCode) {
		_, _, _ = p.hasher.Verify(ctx, password, p.dummyHash)
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if ok, err := p.checkPassword(ctx, u, password); err != nil {
		return nil, err
	} else if !ok {
		_, err := p.consumeCode(ctx, u.ID, PurposeVerifyEmail, "")
		if errors.Is(err, ErrCodeExpired) {
			return nil, err
		}
		if err != nil && !errors.Is(err, ErrWrongCode) {
			return nil, err
		}
		return nil, ErrWrongCode
	}
	if _, err := p.consumeCode(ctx, u.ID, PurposeVerifyEmail, code); err != nil {
		return nil, err
	}
	up := store.UserUpdate{EmailVerified: ptrTo(true)}
	if u.Status == store.StatusUnconfirmed {
		up.Status = ptrTo(store.StatusConfirmed)
	}
	if err := p.store.UpdateUser(ctx, u.ID, up); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			// Replaced by a sign-up since the code was checked.
			return nil, ErrCodeExpired
		}
		return nil, err
	}
	u, err = p.User(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	p.observed(store.AuditEvent{Type: EventConfirmed, UserID: u.ID})
	// As Cognito: the hook's failure fails the call, and the user stays
	// confirmed.
	if err := p.postConfirmation(ctx, trigger.SourcePostConfirmationSignUp, u); err != nil {
		return nil, err
	}
	return u, nil
}

// checkPassword verifies password against u's hash, spending one
// verification whatever u has (none, or a malformed one).
func (p *Pool) checkPassword(ctx context.Context, u *store.User, password string) (bool, error) {
	if u.PasswordHash == "" {
		_, _, _ = p.hasher.Verify(ctx, password, p.dummyHash)
		return false, nil
	}
	ok, _, err := p.hasher.Verify(ctx, password, u.PasswordHash)
	if errors.Is(err, ErrMalformedHash) {
		_, _, _ = p.hasher.Verify(ctx, password, p.dummyHash)
		return false, nil
	}
	return ok, err
}

// userForCode finds the user a code is mailed to; any failure to find one
// is ErrWrongCode, so the answer says nothing about which addresses exist.
//
// The login may be any of the pool's sign-in kinds (aliases.go): a
// forgotten password is asked for with what the user signs in with.
func (p *Pool) userForCode(ctx context.Context, email string) (*store.User, error) {
	_, u, err := p.lookupLogin(ctx, email)
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, ErrWrongCode
	}
	return u, nil
}

func ptrTo[T any](v T) *T { return &v }

// ResendConfirmation mails a new confirmation code to an address that has
// an unconfirmed account; for any other address it does nothing and says
// nothing. Within the cool-down it returns a *TooSoonError.
func (p *Pool) ResendConfirmation(ctx context.Context, email string) error {
	if p.acct.Mail == nil {
		return ErrMailUnavailable
	}
	u, err := p.userForCode(ctx, email)
	if errors.Is(err, ErrWrongCode) {
		return nil // no such account: nothing to send, and nothing said
	}
	if err != nil {
		return err
	}
	if !u.Enabled || (u.Status != store.StatusUnconfirmed && u.EmailVerified) {
		return nil
	}
	wait, err := p.cooldown(ctx, u.ID, PurposeVerifyEmail)
	if err != nil {
		return err
	}
	if wait > 0 {
		return &TooSoonError{Wait: wait}
	}
	ctx = withMessageSource(ctx, trigger.SourceMessageResendCode)
	return p.issueCode(ctx, u, PurposeVerifyEmail, mail.KindVerifyEmail, u.Email, "", p.acct.CodeTTL)
}

// ForgotPassword mails a password reset code to the address, if it has an
// enabled account with a password that may be reset; otherwise, or within
// the cool-down, it does nothing. It never says which: callers answer alike
// in every case. ErrMailNotSent is for the log, not for the person asking.
//
// An address nobody has is first asked of the migration hook, if the pool
// has one: the user it vouches for is made RESET_REQUIRED (no password is
// known) and sent the code.
func (p *Pool) ForgotPassword(ctx context.Context, email string) error {
	if p.acct.Mail == nil && !p.CanText() {
		return ErrMailUnavailable
	}
	u, err := p.userForCode(ctx, email)
	if errors.Is(err, ErrWrongCode) && p.MigrationOn() && p.SignsInWith(LoginEmail) {
		if norm, nerr := NormalizeEmail(email); nerr == nil {
			m, merr := p.migrate(ctx, MigrationForgotPassword, email, norm, "", nil)
			if merr != nil {
				return merr
			}
			if m.User != nil {
				u, err = m.User, nil
			}
		}
	}
	if errors.Is(err, ErrWrongCode) {
		return nil // no such account: nothing to send, and nothing said
	}
	if err != nil {
		return err
	}
	if !u.Enabled || (u.PasswordHash == "" && !imported(u)) || (u.Status != store.StatusConfirmed && u.Status != store.StatusResetRequired) {
		return nil
	}
	wait, err := p.cooldown(ctx, u.ID, PurposeResetPassword)
	if err != nil || wait > 0 {
		return err
	}
	if p.resetByText(u) {
		// The mailbox was never proved and the phone was: the code goes
		// where the user showed they can read it, as Cognito's
		// verified_phone_number recovery does.
		number, _ := Phone(u)
		return p.issueCodeBy(ctx, u, PurposeResetPassword, targetSMS+number, p.acct.ResetCodeTTL, func(code string) error {
			return p.text(ctx, u, sms.KindResetPassword, number, code, p.acct.ResetCodeTTL)
		})
	}
	if p.acct.Mail == nil {
		return nil
	}
	return p.issueCode(ctx, u, PurposeResetPassword, mail.KindResetPassword, u.Email, "", p.acct.ResetCodeTTL)
}

// ResetPassword sets a new password with the code ForgotPassword sent.
// The new password is checked first, so a refused one uses up no try. On
// success the user is CONFIRMED, with a verified address when the code was
// mailed (it proved the mailbox), and every session and refresh token they
// had is revoked.
func (p *Pool) ResetPassword(ctx context.Context, email, code, newPassword string) (*store.User, error) {
	e, _ := p.LoginKey(email)
	if e == "" {
		return nil, ErrWrongCode
	}
	if err := p.policy.CheckFor(newPassword, e); err != nil {
		return nil, err
	}
	// Hashed before anything is looked up: every answer, for any address
	// and any code, costs the same.
	hash, err := p.hasher.Hash(ctx, newPassword)
	if err != nil {
		return nil, err
	}
	u, err := p.userForCode(ctx, e)
	if err != nil {
		return nil, err
	}
	c, err := p.consumeCode(ctx, u.ID, PurposeResetPassword, code)
	if err != nil {
		return nil, err
	}
	by := "email_code"
	if number, ok := strings.CutPrefix(c.Target, targetSMS); ok {
		// The code proved the phone, not the mailbox.
		if cur, _ := Phone(u); cur != number {
			return nil, ErrCodeExpired
		}
		by = "sms_code"
	} else if err := p.store.UpdateUser(ctx, u.ID, store.UserUpdate{EmailVerified: ptrTo(true)}); err != nil {
		return nil, mapNotFoundErr(err)
	}
	if err := p.store.UpdatePassword(ctx, u.ID, hash, store.StatusConfirmed); err != nil {
		return nil, mapNotFoundErr(err)
	}
	u.PasswordHash = hash
	p.keepSRPVerifier(ctx, u, newPassword)
	p.audit(ctx, store.AuditEvent{Type: AuditPasswordReset, UserID: u.ID, Login: u.Email,
		Detail: map[string]string{"by": by}})
	if err := p.signOutEverywhere(ctx, u.ID); err != nil {
		return nil, err
	}
	// Proof of the mailbox ends a lockout: an attacker's guesses must not
	// keep the owner out.
	if err := p.clearFailures(ctx, e); err != nil {
		return nil, err
	}
	if u.Email != e {
		// Asked for by an alias: the address's own count ends too.
		if err := p.clearFailures(ctx, u.Email); err != nil {
			return nil, err
		}
	}
	if u, err = p.User(ctx, u.ID); err != nil {
		return nil, err
	}
	if err := p.postConfirmation(ctx, trigger.SourcePostConfirmationForgotPassword, u); err != nil {
		return nil, err
	}
	return u, nil
}

// CompleteNewPassword replaces a temporary password with the user's own,
// for the user SignIn answered with a NewPasswordRequiredError. fingerprint
// is PasswordFingerprint of that user then: a step started for an older
// password is ErrChallengeExpired.
func (p *Pool) CompleteNewPassword(ctx context.Context, userID, fingerprint, newPassword string) (*store.User, error) {
	u, err := p.store.UserByID(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrChallengeExpired
	}
	if err != nil {
		return nil, err
	}
	if !u.Enabled {
		return nil, ErrUserDisabled
	}
	if u.Status != store.StatusForceChangePassword || PasswordFingerprint(u) != fingerprint {
		return nil, ErrChallengeExpired
	}
	if err := p.checkTemporary(ctx, u); err != nil {
		return nil, err
	}
	if err := p.policy.CheckFor(newPassword, u.Email); err != nil {
		return nil, err
	}
	if same, _, _ := p.hasher.Verify(ctx, newPassword, u.PasswordHash); same {
		return nil, &PasswordPolicyError{Rule: "must not be the temporary password"}
	}
	hash, err := p.hasher.Hash(ctx, newPassword)
	if err != nil {
		return nil, err
	}
	if err := p.store.UpdatePassword(ctx, u.ID, hash, store.StatusConfirmed); err != nil {
		return nil, mapNotFoundErr(err)
	}
	u.PasswordHash = hash
	p.keepSRPVerifier(ctx, u, newPassword)
	p.audit(ctx, store.AuditEvent{Type: AuditPasswordChanged, UserID: u.ID, Login: u.Email,
		Detail: map[string]string{"replaced": "temporary_password"}})
	if err := p.store.DeleteVerificationCode(ctx, u.ID, PurposeTemporaryPassword); err != nil {
		return nil, err
	}
	return p.User(ctx, u.ID)
}

// VerifyPassword checks a signed-in user's password again before a
// sensitive change; a wrong one is ErrInvalidCredentials. It is a password
// check like sign-in's, so it counts in the same lockout of the user's
// login: a locked login is refused before any hashing, a wrong password
// counts as a failed sign-in (audited as one), and the failure that starts
// a lock is answered with the *LockedOutError at once, so that the caller
// can end the session then rather than at the next guess. A right password
// clears the count, as a sign-in does. An empty password is
// ErrInvalidCredentials and counts nothing: nothing was guessed.
func (p *Pool) VerifyPassword(ctx context.Context, userID, password string) (*store.User, error) {
	u, err := p.User(ctx, userID)
	if err != nil {
		return nil, err
	}
	if password == "" {
		return nil, ErrInvalidCredentials
	}
	failures, err := p.checkLock(ctx, u.Email)
	if err != nil {
		p.auditSignIn(ctx, u, u.Email, err)
		return nil, err
	}
	ok, _, err := p.hasher.Verify(ctx, password, u.PasswordHash)
	if err != nil && !errors.Is(err, ErrMalformedHash) {
		return nil, err
	}
	if !ok {
		if err := p.failed(ctx, u, u.Email); !errors.Is(err, ErrInvalidCredentials) {
			return nil, err
		}
		if _, lerr := p.checkLock(ctx, u.Email); lerr != nil {
			return nil, lerr
		}
		return nil, ErrInvalidCredentials
	}
	if failures > 0 {
		if err := p.clearFailures(ctx, u.Email); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// Confirmation is what a signed-in user shows again before a change that
// could hand their account to someone else or lock them out of it: their
// current Password, or Passkey. The caller sets Passkey only when
// FinishPasskeyConfirmation accepted one of the user's passkeys moments
// ago, as it is trusted with whose session it serves (the hosted pages
// keep that for a few minutes in a cookie bound to the session).
type Confirmation struct {
	Password string
	Passkey  bool
	// Reauth, when not empty, is how the user confirmed it was them
	// moments ago ("password", "passkey", ...), which the caller vouches
	// for as it does for Passkey; it is recorded with the change.
	Reauth string
}

// proved reports whether c stands without a password typed with it.
func (c Confirmation) proved() bool { return c.Passkey || c.Reauth != "" }

// by is how c was confirmed, for the audit trail; "" for a password typed
// with the change.
func (c Confirmation) by() string {
	if c.Reauth != "" {
		return c.Reauth
	}
	if c.Passkey {
		return "passkey"
	}
	return ""
}

// RecordReauthentication audits that u confirmed it was them by method
// (AuditReauthenticated); the caller checked the proof.
func (p *Pool) RecordReauthentication(ctx context.Context, u *store.User, method string) {
	p.audit(ctx, store.AuditEvent{Type: AuditReauthenticated, UserID: u.ID, Login: u.Email,
		Detail: map[string]string{"method": method}})
}

// Confirm checks c for a signed-in user and returns them; a wrong or
// missing password without Passkey is ErrInvalidCredentials, and a password
// checked counts in the login's lockout (VerifyPassword): a
// *LockedOutError means the login is locked.
func (p *Pool) Confirm(ctx context.Context, userID string, c Confirmation) (*store.User, error) {
	if c.proved() {
		return p.User(ctx, userID)
	}
	return p.VerifyPassword(ctx, userID, c.Password)
}

// ChangePassword sets a new password for a signed-in user who confirmed
// it is them (c: the current password, or a passkey), and ends every
// other session and refresh token they hold (the caller starts a new
// session for the one that made the change).
func (p *Pool) ChangePassword(ctx context.Context, userID string, c Confirmation, newPassword string) (*store.User, error) {
	u, err := p.Confirm(ctx, userID, c)
	if err != nil {
		return nil, err
	}
	if err := p.policy.CheckFor(newPassword, u.Email); err != nil {
		return nil, err
	}
	same := newPassword == c.Password
	if c.proved() {
		// The old password was not typed: compare with its hash.
		if same, _, err = p.hasher.Verify(ctx, newPassword, u.PasswordHash); err != nil && !errors.Is(err, ErrMalformedHash) {
			return nil, err
		}
	}
	if same {
		return nil, &PasswordPolicyError{Rule: "must differ from the current one"}
	}
	hash, err := p.hasher.Hash(ctx, newPassword)
	if err != nil {
		return nil, err
	}
	status := u.Status
	if status == store.StatusForceChangePassword || status == store.StatusResetRequired {
		status = store.StatusConfirmed
	}
	if err := p.store.UpdatePassword(ctx, u.ID, hash, status); err != nil {
		return nil, mapNotFoundErr(err)
	}
	u.PasswordHash = hash
	p.keepSRPVerifier(ctx, u, newPassword)
	e := store.AuditEvent{Type: AuditPasswordChanged, UserID: u.ID, Login: u.Email}
	if by := c.by(); by != "" {
		e.Detail = map[string]string{"confirmed_by": by}
	}
	p.audit(ctx, e)
	if err := p.signOutEverywhere(ctx, u.ID); err != nil {
		return nil, err
	}
	return p.User(ctx, u.ID)
}

// UpdateProfile changes a signed-in user's attributes: values holds the
// configured, mutable attributes to set ("" clears an optional one).
// Anything else, or a value that does not check, gives FieldErrors and
// changes nothing.
func (p *Pool) UpdateProfile(ctx context.Context, userID string, values map[string]string) (*store.User, error) {
	fe := FieldErrors{}
	up := store.UserUpdate{SetAttributes: map[string]string{}}
	specs := map[string]AttributeSpec{}
	for _, a := range p.acct.Attributes {
		specs[a.Name] = a
	}
	for name, raw := range values {
		a, ok := specs[name]
		switch {
		case !ok:
			fe[clipName(name)] = "Not an attribute of this pool."
			continue
		case a.Immutable:
			fe[name] = "Cannot be changed."
			continue
		}
		v := strings.TrimSpace(raw)
		if msg := a.Check(v); msg != "" {
			fe[name] = msg
			continue
		}
		switch {
		case name == "name":
			up.Name = ptrTo(v)
		case v == "":
			up.DeleteAttributes = append(up.DeleteAttributes, name)
		default:
			up.SetAttributes[name] = v
		}
	}
	if len(fe) > 0 {
		return nil, fe
	}
	if un, ok := up.SetAttributes[AttrUsername]; ok {
		holder, err := p.checkUsernameFree(ctx, un, userID)
		if errors.Is(err, ErrUsernameTaken) {
			return nil, FieldErrors{AttrUsername: MsgUsernameTaken}
		}
		if err != nil {
			return nil, err
		}
		if err := p.freeUsername(ctx, holder); err != nil {
			return nil, err
		}
	}
	if number, ok := up.SetAttributes[AttrPhone]; ok || slices.Contains(up.DeleteAttributes, AttrPhone) {
		u, err := p.User(ctx, userID)
		if err != nil {
			return nil, err
		}
		if old, _ := Phone(u); old != number {
			if err := p.phoneChanged(ctx, u, &up); err != nil {
				return nil, err
			}
		}
	}
	if err := p.store.UpdateUser(ctx, userID, up); err != nil {
		if errors.Is(err, store.ErrConflict) {
			// Only an alias key can conflict here: a username taken
			// meanwhile, or (an administrator's) verified number.
			if _, ok := up.SetAttributes[AttrUsername]; ok {
				return nil, FieldErrors{AttrUsername: MsgUsernameTaken}
			}
			return nil, ErrPhoneTaken
		}
		return nil, mapNotFoundErr(err)
	}
	return p.User(ctx, userID)
}

// RequestEmailChange starts moving a signed-in user to a new address: it
// checks their confirmation (c) and mails a code to the new address. The old
// address stays in use until ConfirmEmailChange. Whether the new address
// is taken is not said here, only to whoever can read its mail.
func (p *Pool) RequestEmailChange(ctx context.Context, userID string, c Confirmation, newEmail string) (string, error) {
	if p.acct.Mail == nil {
		return "", ErrMailUnavailable
	}
	e, err := NormalizeEmail(newEmail)
	if err != nil {
		return "", err
	}
	u, err := p.Confirm(ctx, userID, c)
	if err != nil {
		return "", err
	}
	if e == u.Email {
		return "", ErrSameEmail
	}
	wait, err := p.cooldown(ctx, u.ID, PurposeChangeEmail)
	if err != nil {
		return "", err
	}
	if wait > 0 {
		return "", &TooSoonError{Wait: wait}
	}
	return e, p.issueCode(ctx, u, PurposeChangeEmail, mail.KindVerifyNewEmail, e, e, p.acct.CodeTTL)
}

// PendingEmailChange returns the address a user is moving to and until
// when its code works; "" when there is none.
func (p *Pool) PendingEmailChange(ctx context.Context, userID string) (string, time.Time, error) {
	c, err := p.store.VerificationCode(ctx, userID, PurposeChangeEmail)
	if errors.Is(err, store.ErrNotFound) {
		return "", time.Time{}, nil
	}
	if err != nil {
		return "", time.Time{}, err
	}
	if !p.now().Before(c.Expires) || c.Attempts >= p.acct.MaxAttempts {
		return "", time.Time{}, nil
	}
	return c.Target, c.Expires, nil
}

// ConfirmEmailChange checks the code mailed to the new address and makes
// it the user's, verified. ErrEmailTaken if another account took it since.
func (p *Pool) ConfirmEmailChange(ctx context.Context, userID, code string) (*store.User, error) {
	c, err := p.consumeCode(ctx, userID, PurposeChangeEmail, code)
	if err != nil {
		return nil, err
	}
	old, err := p.User(ctx, userID)
	if err != nil {
		return nil, err
	}
	err = p.store.UpdateUser(ctx, userID, store.UserUpdate{Email: ptrTo(c.Target), EmailVerified: ptrTo(true)})
	if errors.Is(err, store.ErrConflict) {
		return nil, ErrEmailTaken
	}
	if err != nil {
		return nil, mapNotFoundErr(err)
	}
	p.audit(ctx, store.AuditEvent{Type: AuditEmailChanged, UserID: userID, Login: c.Target,
		Detail: map[string]string{"from": old.Email}})
	return p.User(ctx, userID)
}

// CancelEmailChange forgets a pending change of address.
func (p *Pool) CancelEmailChange(ctx context.Context, userID string) error {
	return p.store.DeleteVerificationCode(ctx, userID, PurposeChangeEmail)
}

// DeleteOwnAccount deletes a signed-in user who confirmed it is them (c),
// when the pool allows it, with every session and refresh token.
func (p *Pool) DeleteOwnAccount(ctx context.Context, userID string, c Confirmation) error {
	if !p.acct.AllowDelete {
		return ErrDeleteNotAllowed
	}
	if _, err := p.Confirm(ctx, userID, c); err != nil {
		return err
	}
	if err := p.deleteUser(ctx, userID, "self"); err != nil {
		return err
	}
	return p.store.RevokeUserRefreshTokens(ctx, userID)
}
