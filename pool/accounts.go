package pool

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/locale"
	"github.com/gatehouse-auth/gatehouse/mail"
	"github.com/gatehouse-auth/gatehouse/sms"
	"github.com/gatehouse-auth/gatehouse/store"
)

// Sign-up modes (AccountConfig.SignUp).
const (
	// SignUpOpen lets anyone create an account on the hosted pages.
	SignUpOpen = "open"
	// SignUpInvite hides sign-up: administrators create the users.
	SignUpInvite = "invite"
	// SignUpOff is for pools whose users come from outside identity
	// providers or administrators only; nothing on the pages mentions
	// accounts of one's own.
	SignUpOff = "off"
)

// Purposes of verification codes kept in the store.
const (
	PurposeVerifyEmail       = "verify_email"
	PurposeResetPassword     = "reset_password"
	PurposeChangeEmail       = "change_email"
	PurposeTemporaryPassword = "temporary_password"
	// purposeExistsNotice throttles the mail a sign-up for a taken address
	// sends to its owner; it has no code.
	purposeExistsNotice = "notice_account_exists"
	// purposeContested marks a pending (UNCONFIRMED) user whose sign-up
	// replaced another pending sign-up of the same address; it has no
	// code, and its presence is the mark (see ConfirmSignUpCode). It goes
	// with the user.
	purposeContested = "signup_contested"
)

// Defaults of AccountConfig.
const (
	DefaultCodeTTL              = 24 * time.Hour
	DefaultResetCodeTTL         = time.Hour
	DefaultTemporaryPasswordTTL = 7 * 24 * time.Hour
	// DefaultReauthWindow is how long a "confirm it's you" lasts.
	DefaultReauthWindow   = 5 * time.Minute
	DefaultResendCooldown = time.Minute
	DefaultMaxAttempts    = 5
)

// AccountConfig is how a pool's users come and go: sign-up, the codes that
// confirm addresses and reset passwords, temporary passwords, deletion.
type AccountConfig struct {
	// SignUp is SignUpOpen, SignUpInvite (the default) or SignUpOff.
	SignUp string
	// Attributes are asked for at sign-up and shown on the account page.
	Attributes []AttributeSpec
	// CodeTTL is how long an address confirmation code works (default 24h);
	// ResetCodeTTL a password reset code (default 1h).
	CodeTTL      time.Duration
	ResetCodeTTL time.Duration
	// MaxAttempts wrong codes use a code up (default 5).
	MaxAttempts int
	// ResendCooldown is how long after sending a code another may be sent
	// (default 1 minute).
	ResendCooldown time.Duration
	// SignInUnverified lets users who have not confirmed their address sign
	// in, with email_verified false, instead of refusing them.
	SignInUnverified bool
	// TemporaryPasswordTTL is how long an administrator's temporary
	// password works (default 7 days).
	TemporaryPasswordTTL time.Duration
	// AllowDelete lets users delete their own account on the account page.
	AllowDelete bool
	// ReauthWindow is how long a signed-in user's "confirm it's you" on
	// the account page lifts the prompt for sensitive changes (default
	// DefaultReauthWindow).
	ReauthWindow time.Duration
	// Mail sends the codes; nil when the pool has no mail, which rules out
	// open sign-up and password reset.
	Mail *Messenger
	// SMS sends codes by text message; nil when the pool has no SMS
	// sender, and then nothing SMS is offered (phone.go).
	SMS *Texter
	// SignInWith is what users sign in with: LoginEmail, LoginUsername
	// (preferred_username), LoginPhone (a verified phone_number), any of
	// them; default email alone (aliases.go).
	SignInWith []string
}

// Texter is how a pool writes to its users' phones.
type Texter struct {
	Sender sms.Sender
	// DisplayName is the pool's name in messages.
	DisplayName string
	// Timeout bounds one sending (default mail.DefaultTimeout).
	Timeout time.Duration
	// Logger receives send failures (with masked numbers only).
	Logger *zap.Logger
}

// Messenger is how a pool writes to its users.
type Messenger struct {
	Mailer    mail.Mailer
	Templates *mail.Templates
	// DisplayName is the pool's name in messages.
	DisplayName string
	// Link returns the address of the page where a code of that purpose is
	// entered, filled in, or "" when the pool has no address for links.
	// SignInURL is the sign-in page's address, or "".
	Link      func(purpose, email, code string) string
	SignInURL string
	// Timeout bounds one sending, so a slow mail server holds up no page
	// for longer (default mail.DefaultTimeout).
	Timeout time.Duration
	// Logger receives send failures.
	Logger *zap.Logger
}

func (c *AccountConfig) setDefaults() {
	if c.SignUp == "" {
		c.SignUp = SignUpInvite
	}
	if c.CodeTTL <= 0 {
		c.CodeTTL = DefaultCodeTTL
	}
	if c.ResetCodeTTL <= 0 {
		c.ResetCodeTTL = DefaultResetCodeTTL
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.ResendCooldown <= 0 {
		c.ResendCooldown = DefaultResendCooldown
	}
	if c.TemporaryPasswordTTL <= 0 {
		c.TemporaryPasswordTTL = DefaultTemporaryPasswordTTL
	}
	if c.ReauthWindow <= 0 {
		c.ReauthWindow = DefaultReauthWindow
	}
	if c.Mail != nil {
		m := *c.Mail // the caller's stays as given
		c.Mail = &m
		if c.Mail.Timeout <= 0 {
			c.Mail.Timeout = mail.DefaultTimeout
		}
		if c.Mail.Logger == nil {
			c.Mail.Logger = zap.NewNop()
		}
		if c.Mail.Link == nil {
			c.Mail.Link = func(string, string, string) string { return "" }
		}
	}
	if len(c.SignInWith) == 0 {
		c.SignInWith = []string{LoginEmail}
	}
	c.SignInWith = slices.Clone(c.SignInWith)
	if slices.Contains(c.SignInWith, LoginUsername) {
		// The username is an attribute with its own rule; a pool that
		// signs in with nothing else requires it.
		attrs := slices.Clone(c.Attributes)
		i := slices.IndexFunc(attrs, func(a AttributeSpec) bool { return a.Name == AttrUsername })
		if i < 0 {
			attrs = append(attrs, AttributeSpec{Name: AttrUsername, MaxLength: 128})
			i = len(attrs) - 1
		}
		attrs[i].username = true
		if !slices.Contains(c.SignInWith, LoginEmail) && !slices.Contains(c.SignInWith, LoginPhone) {
			attrs[i].Required = true
		}
		c.Attributes = attrs
	}
	if c.SMS != nil {
		t := *c.SMS
		c.SMS = &t
		if c.SMS.Timeout <= 0 {
			c.SMS.Timeout = mail.DefaultTimeout
		}
		if c.SMS.Logger == nil {
			c.SMS.Logger = zap.NewNop()
		}
	}
}

// Validate checks the account settings; mail is checked for presence only.
func (c AccountConfig) Validate() error {
	switch c.SignUp {
	case "", SignUpInvite, SignUpOff:
	case SignUpOpen:
		if c.Mail == nil {
			return errors.New("signup open: needs mail to send confirmation codes (mail smtp://... or mail outbox <folder>)")
		}
	default:
		return fmt.Errorf("signup %q: want open, invite or off", c.SignUp)
	}
	if c.CodeTTL < 0 || c.ResetCodeTTL < 0 || c.TemporaryPasswordTTL < 0 || c.ResendCooldown < 0 || c.MaxAttempts < 0 {
		return errors.New("verification: durations and max_attempts must be positive")
	}
	if c.MaxAttempts > 100 {
		return fmt.Errorf("verification: max_attempts %d: at most 100", c.MaxAttempts)
	}
	if c.Mail != nil && (c.Mail.Mailer == nil || c.Mail.Templates == nil) {
		return errors.New("mail: a mailer and templates are required")
	}
	if c.SMS != nil && c.SMS.Sender == nil {
		return errors.New("sms: a sender is required")
	}
	if err := ValidateSignInWith(c.SignInWith); err != nil {
		return err
	}
	return ValidateAttributes(c.Attributes)
}

// Errors of the account flows; the hosted pages word each of them.
var (
	// ErrSignUpDisabled: the pool's sign-up is not open.
	ErrSignUpDisabled = errors.New("sign-up is not open")
	// ErrMailUnavailable: the pool has no mail, so codes cannot be sent.
	ErrMailUnavailable = errors.New("this pool sends no email")
	// ErrMailNotSent: everything else was done, but the message could not
	// be sent. Any code stays valid; asking again sends a new one.
	ErrMailNotSent = errors.New("the email could not be sent")
	// ErrWrongCode: the code is not the one sent (or there is no such
	// account: the two are not told apart).
	ErrWrongCode = errors.New("the code is not right")
	// ErrCodeExpired: there is no live code any more (it expired, was
	// used, or too many wrong codes were tried): ask for a new one.
	ErrCodeExpired = errors.New("the code has expired or was used up; ask for a new one")
	// ErrSignUpContested: the code is right, but the sign-up replaced
	// another pending sign-up of the address, so the code alone does not
	// say whose password the account has: confirm it where the password
	// chosen at sign-up is asked too (ConfirmSignUp, the hosted pages).
	ErrSignUpContested = errors.New("this sign-up must be confirmed with the password chosen at sign-up")
	// ErrNewPasswordRequired: the password was a temporary one, right and
	// not expired; a new one must be chosen (see NewPasswordRequiredError).
	ErrNewPasswordRequired = errors.New("a new password must be chosen")
	// ErrTemporaryPasswordExpired is returned only after the right
	// temporary password was given.
	ErrTemporaryPasswordExpired = errors.New("this temporary password has expired; ask your administrator for a new one")
	// ErrPasswordResetRequired is returned only after the right password
	// was given, for a user whose administrator requires a reset.
	ErrPasswordResetRequired = errors.New("this account's password must be reset")
	// ErrDeleteNotAllowed: the pool does not let users delete themselves.
	ErrDeleteNotAllowed = errors.New("accounts cannot be deleted here")
	// ErrEmailTaken: the new address belongs to another account. Only said
	// to someone who proved they own the address.
	ErrEmailTaken = errors.New("this address is already used by another account")
)

// NewPasswordRequiredError is SignIn's answer to a user who signed in with
// a temporary password: the password was right, but no session may start
// until the user chooses their own (CompleteNewPassword).
type NewPasswordRequiredError struct{ User *store.User }

func (e *NewPasswordRequiredError) Error() string { return ErrNewPasswordRequired.Error() }

// Is makes errors.Is(err, ErrNewPasswordRequired) true.
func (e *NewPasswordRequiredError) Is(target error) bool { return target == ErrNewPasswordRequired }

// TooSoonError: a code was sent moments ago; another may be asked for
// after Wait.
type TooSoonError struct{ Wait time.Duration }

func (e *TooSoonError) Error() string {
	return fmt.Sprintf("a code was sent moments ago; ask again in %s", roundUp(e.Wait))
}

// FieldErrors says, per form field, what is wrong with a submission. The
// fields are "email", "password" and attribute names.
type FieldErrors map[string]string

func (e FieldErrors) Error() string {
	keys := make([]string, 0, len(e))
	for k := range e {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + e[k]
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// Accounts returns the pool's account settings, defaults filled in.
func (p *Pool) Accounts() AccountConfig { return p.acct }

// PasswordPolicy returns the pool's policy for new passwords.
func (p *Pool) PasswordPolicy() PasswordPolicy { return p.policy }

// CanMail reports whether the pool can send codes.
func (p *Pool) CanMail() bool { return p.acct.Mail != nil }

// newCode returns six uniformly random digits.
func newCode() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return fmt.Sprintf("%06d", n.Int64())
}

// codeHash binds a code to its user and purpose, so that a hash copied from
// one row matches no other. A six-digit code hashed is still guessable from
// a copy of the database; the try limit is what protects a live code.
func codeHash(userID, purpose, code string) string {
	sum := sha256.Sum256([]byte(userID + "\x00" + purpose + "\x00" + code))
	return hex.EncodeToString(sum[:])
}

// normalizeCode accepts a code typed with spaces or dashes ("123 456").
func normalizeCode(code string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, code)
}

// roundUp words a duration for people: "24 hours", "1 hour", "45 seconds".
func roundUp(d time.Duration) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d >= 48*time.Hour && d%(24*time.Hour) == 0:
		return plural(int64(d/(24*time.Hour)), "day")
	case d >= time.Hour:
		return plural(int64((d+time.Hour-1)/time.Hour), "hour")
	case d >= time.Minute:
		return plural(int64((d+time.Minute-1)/time.Minute), "minute")
	}
	return plural(int64((d+time.Second-1)/time.Second), "second")
}

// cooldown returns how long until a code of purpose may be sent to the
// user again; 0 when it may be sent now.
func (p *Pool) cooldown(ctx context.Context, userID, purpose string) (time.Duration, error) {
	c, err := p.store.VerificationCode(ctx, userID, purpose)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if c.SentAt.IsZero() {
		return 0, nil
	}
	if wait := c.SentAt.Add(p.acct.ResendCooldown).Sub(p.now()); wait > 0 {
		return wait, nil
	}
	return 0, nil
}

// issueCode makes a new code of purpose for u, keeps its hash, and mails it
// to `to` with a message of kind. When sending fails the code stays valid
// and the cool-down is lifted, so asking again works at once; the error is
// ErrMailNotSent.
func (p *Pool) issueCode(ctx context.Context, u *store.User, purpose, kind, to, target string, ttl time.Duration) error {
	if p.acct.Mail == nil {
		return ErrMailUnavailable
	}
	return p.issueCodeBy(ctx, u, purpose, target, ttl, func(code string) error {
		return p.send(ctx, kind, mail.Data{Email: to, Code: code, Link: p.acct.Mail.Link(purpose, to, code), Expires: roundUp(ttl), TTL: ttl, Locale: u.Attributes["locale"]})
	})
}

// issueCodeBy is issueCode with the delivery given: deliver sends code
// (by mail, by SMS) and returns the error the caller sees.
func (p *Pool) issueCodeBy(ctx context.Context, u *store.User, purpose, target string, ttl time.Duration, deliver func(code string) error) error {
	code := newCode()
	now := p.now()
	rec := store.VerificationCode{
		UserID:  u.ID,
		Purpose: purpose,
		Hash:    codeHash(u.ID, purpose, code),
		Target:  target,
		SentAt:  now,
		Expires: now.Add(ttl),
	}
	if err := p.store.SaveVerificationCode(ctx, rec); err != nil {
		return mapNotFoundErr(err)
	}
	if err := deliver(code); err != nil {
		rec.SentAt = time.Time{}
		if serr := p.store.SaveVerificationCode(context.WithoutCancel(ctx), rec); serr != nil {
			p.bg.log.Warn("lifting the resend cool-down after a failed send failed", zap.Error(serr))
		}
		return err
	}
	return nil
}

// send renders a message and sends it within the messenger's timeout. A
// failure is logged here, with what the user will not see, and returned
// as ErrMailNotSent.
func (p *Pool) send(ctx context.Context, kind string, d mail.Data) error {
	m := p.acct.Mail
	if m == nil {
		return ErrMailUnavailable
	}
	d.DisplayName = m.DisplayName
	if d.Locale == "" {
		// No locale of the user's: the language of the page whose request
		// caused the message, if any; else Render takes the pool's default.
		if l := locale.FromContext(ctx); l != nil {
			d.Locale = l.Tag
		}
	}
	if d.SignInURL == "" {
		d.SignInURL = m.SignInURL
	}
	msg, err := m.Templates.Render(kind, d)
	if err != nil {
		m.Logger.Error("rendering a message failed", zap.String("kind", kind), zap.Error(err))
		return fmt.Errorf("%w: %v", ErrMailNotSent, err)
	}
	p.customMessage(ctx, kind, d, msg)
	ctx, cancel := context.WithTimeout(ctx, m.Timeout)
	defer cancel()
	if err := m.Mailer.Send(ctx, msg); err != nil {
		m.Logger.Error("sending mail failed", zap.String("kind", kind), zap.String("to", d.Email), zap.Error(err))
		return fmt.Errorf("%w: %v", ErrMailNotSent, err)
	}
	return nil
}

// consumeCode checks a code a user typed. A wrong code is ErrWrongCode; no
// live code (expired, used up) is ErrCodeExpired.
func (p *Pool) consumeCode(ctx context.Context, userID, purpose, code string) (*store.VerificationCode, error) {
	code = normalizeCode(code)
	if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		// Not even the shape of a code: counted like any wrong one, so
		// that the limit holds whatever is typed.
		code = "not-a-code"
	}
	c, err := p.store.ConsumeVerificationCode(ctx, userID, purpose, codeHash(userID, purpose, code), p.acct.MaxAttempts, p.now())
	switch {
	case err == nil:
		return c, nil
	case errors.Is(err, store.ErrCodeMismatch):
		if c != nil && c.Attempts >= p.acct.MaxAttempts {
			return nil, ErrCodeExpired
		}
		return nil, ErrWrongCode
	case errors.Is(err, store.ErrNotFound):
		return nil, ErrCodeExpired
	}
	return nil, err
}

// signOutEverywhere ends every session of the user and revokes their
// refresh tokens, so no app keeps a way in.
func (p *Pool) signOutEverywhere(ctx context.Context, userID string) error {
	if err := p.RevokeUserSessions(ctx, userID); err != nil {
		return err
	}
	return p.store.RevokeUserRefreshTokens(ctx, userID)
}

// SignOutEverywhere ends every session and refresh token of the user: the
// account page's "sign out of all devices".
func (p *Pool) SignOutEverywhere(ctx context.Context, userID string) error {
	if _, err := p.User(ctx, userID); err != nil {
		return err
	}
	return p.auditIf(ctx, p.signOutEverywhere(ctx, userID), AuditSignedOutEverywhere, userID)
}

// DisplayStatus is the status to show for u: its stored status, or
// DISABLED for a disabled user.
func DisplayStatus(u *store.User) string {
	if !u.Enabled {
		return store.StatusDisabled
	}
	return u.Status
}
