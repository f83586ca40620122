// Package pool is the user-pool domain: who the users are, how they prove who
// they are, which groups they belong to, and which of their sessions are no
// longer valid. It knows nothing of HTTP; the hosted pages, the gateway and the
// CLI all act through it, so the rules live in one place.
package pool

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/trigger"
)

// Errors callers tell apart; the hosted pages and the CLI map them to
// messages in one place each.
var (
	// ErrInvalidCredentials covers both an unknown login and a wrong
	// password, so that no caller can reveal which it was.
	ErrInvalidCredentials = errors.New("incorrect email or password")
	// ErrUserDisabled is returned only after the right password was given.
	ErrUserDisabled = errors.New("this account is disabled")
	// ErrUserNotConfirmed is returned only after the right password was given.
	ErrUserNotConfirmed = errors.New("this account is not confirmed yet")
	// ErrUserExists means the email is taken.
	ErrUserExists = errors.New("a user with this email already exists")
	// ErrUserNotFound is for administrative lookups, never for sign-in.
	ErrUserNotFound = errors.New("no such user")
	// ErrInvalidEmail means the address is not a plain email address.
	ErrInvalidEmail = errors.New("not a valid email address")
	// ErrInvalidGroup means a group name has characters or a length outside
	// what groups may have.
	ErrInvalidGroup = errors.New("group names are 1 to 128 letters, digits, '.', '_' or '-'")
)

// PasswordPolicyError says which rule a new password broke.
type PasswordPolicyError struct{ Rule string }

func (e *PasswordPolicyError) Error() string { return "password " + e.Rule }

// PasswordPolicy is the pool's rule for new passwords.
type PasswordPolicy struct {
	// MinLength in characters; 0 means 12.
	MinLength int `json:"min_length,omitempty"`
	// MaxLength in characters; 0 means 128.
	MaxLength int `json:"max_length,omitempty"`
	// Require* ask for at least one character of each class named.
	RequireLowercase bool `json:"require_lowercase,omitempty"`
	RequireUppercase bool `json:"require_uppercase,omitempty"`
	RequireDigit     bool `json:"require_digit,omitempty"`
	RequireSymbol    bool `json:"require_symbol,omitempty"`
	// AllowCommon turns off the refusal of the most common passwords
	// (see CommonPassword).
	AllowCommon bool `json:"allow_common,omitempty"`
	// AllowEmail turns off the refusal of passwords that contain the name
	// part of the user's own email address.
	AllowEmail bool `json:"allow_email,omitempty"`
}

// Check returns a *PasswordPolicyError when password breaks the policy.
// CheckFor also knows whose password it is.
func (p PasswordPolicy) Check(password string) error { return p.CheckFor(password, "") }

func (p PasswordPolicy) checkLength(password string) error {
	if !utf8.ValidString(password) {
		return &PasswordPolicyError{Rule: "must be valid text"}
	}
	n := utf8.RuneCountInString(password)
	if min := p.minLength(); n < min {
		return &PasswordPolicyError{Rule: fmt.Sprintf("must be at least %d characters", min)}
	}
	if max := p.maxLength(); n > max {
		return &PasswordPolicyError{Rule: fmt.Sprintf("must be at most %d characters", max)}
	}
	return nil
}

// Validate checks that the policy's bounds make sense.
func (p PasswordPolicy) Validate() error {
	if p.MinLength < 0 || p.MaxLength < 0 || p.MaxLength > 1024 || p.MinLength > 1024 || p.maxLength() < p.minLength() {
		return fmt.Errorf("length bounds min_length %d, max_length %d are not sensible (0 < min <= max <= 1024)", p.minLength(), p.maxLength())
	}
	return nil
}

// Lengths are the policy's shortest and longest password, defaults
// applied.
func (p PasswordPolicy) Lengths() (min, max int) { return p.minLength(), p.maxLength() }

func (p PasswordPolicy) minLength() int {
	if p.MinLength <= 0 {
		return 12
	}
	return p.MinLength
}

func (p PasswordPolicy) maxLength() int {
	if p.MaxLength <= 0 {
		return 128
	}
	return p.MaxLength
}

// Config is what a pool is made from.
type Config struct {
	Name     string
	Password PasswordPolicy
	Hash     HashParams
	// HashConcurrency bounds simultaneous password hashes; 0 means one per CPU.
	HashConcurrency int
	// UserRevocationTTL is how long a "sign out everywhere" entry is kept;
	// it must outlive the longest session. 0 means 366 days.
	UserRevocationTTL time.Duration
	// Accounts configures sign-up, verification codes and the rest of
	// the account lifecycle (accounts.go).
	Accounts AccountConfig
	// MFA configures second factors and the per-login lockout (mfa.go).
	MFA MFAConfig
	// AuditLog receives a line for each audit event (audit.go), besides
	// the store's audit trail; default: none.
	AuditLog *zap.Logger
	// SRP turns on Cognito's USER_SRP_AUTH (srp.go); default off.
	SRP SRPConfig
	// Triggers calls the pool's lifecycle hooks (package trigger); nil
	// means none.
	Triggers trigger.Invoker
	// Observe sees every audit event (audit.go) and the events kept for
	// metrics only (EventSignedUp, EventConfirmed), as they happen; nil
	// means none. Package metrics counts them. It must be quick.
	Observe func(store.AuditEvent)
	// FirstFactors are USER_AUTH's choices (userauth.go, Cognito's
	// AllowedFirstAuthFactors): PASSWORD, EMAIL_OTP, WEB_AUTHN; default
	// DefaultFirstFactors. Checked with ValidateFirstFactors.
	FirstFactors []string
}

// Pool is one user pool on one store.
type Pool struct {
	name      string
	observe   func(store.AuditEvent)
	store     store.Store
	hasher    *Hasher
	policy    PasswordPolicy
	dummyHash string
	userTTL   time.Duration
	deny      *DenyList
	now       func() time.Time
	acct      AccountConfig
	mfa       MFAConfig
	rps       rpCache // WebAuthn configurations per origin (webauthn.go)
	secrets   *secretBox
	auditLog  *zap.Logger
	bg        *background // account work after the answer (background.go)
	sessions  sessionKey  // seals sign-in challenges (signinseal.go)
	pending   auditQueue  // audit events the store could not take (auditqueue.go)
	srp       SRPConfig   // USER_SRP_AUTH (srp.go)
	decoy     decoyKey    // derives SRP challenges for logins without a verifier
	triggers  trigger.Invoker
	// firstFactors are USER_AUTH's (userauth.go).
	firstFactors []string
}

// New returns a pool on s. It hashes one random password up front, the
// stand-in verified for unknown logins so that they take as long as known ones.
func New(ctx context.Context, s store.Store, cfg Config) (*Pool, error) {
	h, err := NewHasher(cfg.Hash, cfg.HashConcurrency)
	if err != nil {
		return nil, err
	}
	if err := cfg.Password.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.Accounts.Validate(); err != nil {
		return nil, err
	}
	cfg.Accounts.setDefaults()
	if err := cfg.MFA.Validate(); err != nil {
		return nil, err
	}
	cfg.MFA.setDefaults(cfg.Name)
	if err := ValidateFirstFactors(cfg.FirstFactors, cfg.MFA.Mode, cfg.Accounts.Mail != nil); err != nil {
		return nil, err
	}
	dummy, err := h.Hash(ctx, rand.Text())
	if err != nil {
		return nil, err
	}
	ttl := cfg.UserRevocationTTL
	if ttl <= 0 {
		ttl = 366 * 24 * time.Hour
	}
	p := &Pool{name: cfg.Name, store: s, hasher: h, policy: cfg.Password, dummyHash: dummy, userTTL: ttl, now: time.Now, acct: cfg.Accounts, mfa: cfg.MFA, auditLog: cfg.AuditLog, srp: cfg.SRP, triggers: cfg.Triggers, firstFactors: cfg.FirstFactors, observe: cfg.Observe}
	if p.auditLog == nil {
		p.auditLog = zap.NewNop()
	}
	bgLog := zap.NewNop()
	if p.acct.Mail != nil {
		bgLog = p.acct.Mail.Logger
	} else if p.acct.SMS != nil {
		bgLog = p.acct.SMS.Logger
	}
	p.bg = newBackground(bgLog)
	if p.secrets, err = newSecretBox(ctx, s, cfg.MFA.SecretKey, cfg.MFA.PreviousSecretKeys); err != nil {
		return nil, err
	}
	if err := p.keepAliases(ctx, bgLog); err != nil {
		return nil, err
	}
	p.deny = newDenyList(s, p.now)
	if err := p.deny.Refresh(ctx); err != nil {
		return nil, fmt.Errorf("loading revocations: %w", err)
	}
	return p, nil
}

// DenyList returns the pool's in-memory revocation list.
func (p *Pool) DenyList() *DenyList { return p.deny }

// Name returns the pool's name.
func (p *Pool) Name() string { return p.name }

// Store returns the pool's store, for the packages that keep their own
// records there (keys, the OIDC provider).
func (p *Pool) Store() store.Store { return p.store }

// Hasher returns the pool's password hasher.
func (p *Pool) Hasher() *Hasher { return p.hasher }

// NormalizeEmail trims and lower-cases an address and checks that it is a
// bare address (no display name, no comments), at most 254 bytes.
func NormalizeEmail(email string) (string, error) {
	// Validity first: ToLower would turn invalid bytes into U+FFFD and so
	// store a different address than the one given.
	if !utf8.ValidString(email) {
		return "", ErrInvalidEmail
	}
	e := strings.ToLower(strings.TrimSpace(email))
	if e == "" || len(e) > 254 {
		return "", ErrInvalidEmail
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" || !strings.Contains(e[strings.LastIndexByte(e, '@')+1:], ".") && !strings.HasSuffix(e, "@localhost") {
		return "", ErrInvalidEmail
	}
	return e, nil
}

var groupName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// NewUser is what an administrator or a sign-up supplies.
type NewUser struct {
	Email         string
	Password      string
	Name          string
	EmailVerified bool
	// Status defaults to CONFIRMED.
	Status     string
	Attributes map[string]string
}

// CreateUser checks the email and password against the pool's rules, hashes
// the password and stores the user. An UNCONFIRMED user of the same address
// (a sign-up nobody confirmed) is replaced; any other is ErrUserExists.
func (p *Pool) CreateUser(ctx context.Context, nu NewUser) (*store.User, error) {
	email, err := NormalizeEmail(nu.Email)
	if err != nil {
		return nil, err
	}
	if err := p.policy.CheckFor(nu.Password, email); err != nil {
		return nil, err
	}
	if len(nu.Name) > 256 || !utf8.ValidString(nu.Name) {
		return nil, errors.New("name must be valid text of at most 256 bytes")
	}
	id := uuid.NewString()
	if _, err := p.preSignUp(ctx, trigger.SourcePreSignUpAdminCreateUser, id, email, nu.Name, nu.Attributes); err != nil {
		return nil, err
	}
	hash, err := p.hasher.Hash(ctx, nu.Password)
	if err != nil {
		return nil, err
	}
	status := nu.Status
	if status == "" {
		status = store.StatusConfirmed
	}
	attrs := nu.Attributes
	if attrs == nil {
		attrs = map[string]string{}
	}
	u := &store.User{
		ID:            id,
		Email:         email,
		EmailVerified: nu.EmailVerified,
		Name:          nu.Name,
		PasswordHash:  hash,
		Status:        status,
		Enabled:       true,
		Attributes:    attrs,
	}
	for try := 0; ; try++ {
		err := p.store.CreateUser(ctx, u)
		if err == nil {
			break
		}
		if !errors.Is(err, store.ErrConflict) {
			return nil, err
		}
		// A sign-up nobody has confirmed gives way to the administrator:
		// whoever made it proved nothing, and must not keep the address
		// (or hand the invitee a password of their own choosing).
		pending, lerr := p.store.UserByEmail(ctx, email)
		if errors.Is(lerr, store.ErrNotFound) {
			// Not the address: an alias another account has.
			return nil, p.aliasConflict(ctx, attrs)
		}
		if lerr != nil || pending.Status != store.StatusUnconfirmed || try > 0 {
			return nil, ErrUserExists
		}
		if err := p.dropPending(ctx, pending, "administrator"); err != nil && !errors.Is(err, store.ErrConflict) {
			return nil, err
		}
	}
	p.keepSRPVerifier(ctx, u, nu.Password)
	return p.store.UserByID(ctx, u.ID)
}

// SignIn checks a login and password. Unknown logins cost one argon2id
// verification too and give the same error as a wrong password. A stale hash
// is upgraded to the pool's current parameters after a successful check.
//
// Every refusal is audited (AuditSignInFailed); a success is not, since the
// sign-in may need a second factor yet: see SignedIn.
func (p *Pool) SignIn(ctx context.Context, login, password string) (*store.User, error) {
	return p.signIn(ctx, login, password)
}

// signIn is SignIn, but an address nobody has (or only an unconfirmed
// sign-up has, with another password) is first asked of the migration
// hook, if the pool has one (migration.go).
func (p *Pool) signIn(ctx context.Context, login, password string) (*store.User, error) {
	// email is the login as counted and audited: an address, a folded
	// username or a number (aliases.go), each its own lockout.
	email, kind := p.LoginKey(login)
	// A locked-out login is refused before any lookup or hashing, and
	// alike whether or not it has an account.
	failures, lerr := p.checkLock(ctx, email)
	if lerr != nil {
		p.auditSignIn(ctx, nil, email, lerr)
		return nil, lerr
	}
	_, u, err := p.lookupLogin(ctx, login)
	if err != nil {
		return nil, err // the store failed: not the user's fault, not a "no"
	}
	// The hook is asked before the password is checked, for every
	// login, known or not (userNotFound), as Cognito with prevent-user-
	// existence errors on. Its refusal is not counted in the lockout: it
	// is no guess of the password.
	if err := p.preAuthentication(ctx, u, email); err != nil {
		p.auditSignIn(ctx, u, email, err)
		return nil, err
	}
	// The old system is asked about addresses: the user it vouches for
	// is made with the address asked (migration.go).
	migrate := email != "" && kind == LoginEmail && p.SignsInWith(LoginEmail) && p.MigrationOn()
	if u == nil && migrate {
		m, err := p.migrate(ctx, MigrationAuthentication, login, email, password, nil)
		if err != nil {
			return nil, err
		}
		if m.Created {
			// Vouched for by the old system, and hashed just now (as
			// long as a check takes): what follows is a right password's.
			return p.passwordRight(ctx, m.User, email, failures)
		}
		u = m.User
	}
	if u == nil || u.PasswordHash == "" {
		_, _, _ = p.hasher.Verify(ctx, password, p.dummyHash)
		if imported(u) {
			// Imported without a password (Cognito's CSV import): no
			// password can be right, and Cognito answers that a reset
			// is needed whatever was typed.
			p.auditSignIn(ctx, u, email, ErrPasswordResetRequired)
			return nil, ErrPasswordResetRequired
		}
		return nil, p.failed(ctx, u, email)
	}
	ok, stale, err := p.hasher.Verify(ctx, password, u.PasswordHash)
	if errors.Is(err, ErrMalformedHash) {
		// Answer no faster than a real check would.
		_, _, _ = p.hasher.Verify(ctx, password, p.dummyHash)
	} else if err != nil {
		return nil, err
	}
	if !ok && migrate && u.Status == store.StatusUnconfirmed {
		// A sign-up nobody confirmed does not keep the address's owner
		// from coming over with the old system's password.
		m, err := p.migrate(ctx, MigrationAuthentication, login, email, password, u)
		if err != nil {
			return nil, err
		}
		if m.Created {
			return p.passwordRight(ctx, m.User, email, failures)
		}
	}
	if !ok {
		return nil, p.failed(ctx, u, email)
	}
	if !stale {
		p.ensureSRPVerifier(ctx, u, password)
	}
	if u, err = p.passwordRight(ctx, u, email, failures); err != nil {
		return nil, err
	}
	if stale {
		if hash, err := p.hasher.Hash(ctx, password); err == nil {
			if err := p.store.UpdatePassword(ctx, u.ID, hash, u.Status); err == nil {
				u.PasswordHash = hash
				p.keepSRPVerifier(ctx, u, password)
			}
		}
	}
	return u, nil
}

// imported reports whether u was imported without a password and must
// reset one by email before signing in (RESET_REQUIRED, enabled).
func imported(u *store.User) bool {
	return u != nil && u.PasswordHash == "" && u.Enabled && u.Status == store.StatusResetRequired
}

// passwordRight is what follows a right password (or proof of one) of u,
// signing in as email with failures recent failures: the failures
// forgotten, then what u's state allows, refusals audited.
func (p *Pool) passwordRight(ctx context.Context, u *store.User, email string, failures int) (*store.User, error) {
	if failures > 0 {
		if err := p.clearFailures(ctx, email); err != nil {
			return nil, err
		}
	}
	if !u.Enabled {
		p.auditSignIn(ctx, u, email, ErrUserDisabled)
		return nil, ErrUserDisabled
	}
	if err := p.signInStatus(ctx, u); err != nil {
		p.auditSignIn(ctx, u, email, err)
		return nil, err
	}
	return u, nil
}

// failed audits and counts a wrong password for email (of u, nil for no
// account) and gives the sign-in's answer. The failure is audited first, so
// that it comes before the lockout it may start.
func (p *Pool) failed(ctx context.Context, u *store.User, email string) error {
	p.auditSignIn(ctx, u, email, ErrInvalidCredentials)
	if err := p.recordFailure(ctx, email); err != nil {
		return err
	}
	return ErrInvalidCredentials
}

// User returns a user by id.
func (p *Pool) User(ctx context.Context, id string) (*store.User, error) {
	return mapNotFound(p.store.UserByID(ctx, id))
}

// UserByEmail returns a user by email, for administration.
func (p *Pool) UserByEmail(ctx context.Context, email string) (*store.User, error) {
	e, err := NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	return mapNotFound(p.store.UserByEmail(ctx, e))
}

// ListUsers pages through the pool's users by email.
func (p *Pool) ListUsers(ctx context.Context, opts store.ListOptions) ([]*store.User, error) {
	return p.store.ListUsers(ctx, opts)
}

// SetPassword sets a new password that meets the policy and signs the user
// out everywhere, since whoever knew the old one may hold a session.
func (p *Pool) SetPassword(ctx context.Context, userID, password string) error {
	u, err := p.User(ctx, userID)
	if err != nil {
		return err
	}
	if err := p.policy.CheckFor(password, u.Email); err != nil {
		return err
	}
	hash, err := p.hasher.Hash(ctx, password)
	if err != nil {
		return err
	}
	status := u.Status
	if status == store.StatusForceChangePassword || status == store.StatusResetRequired {
		status = store.StatusConfirmed
	}
	if err := p.store.UpdatePassword(ctx, userID, hash, status); err != nil {
		return mapNotFoundErr(err)
	}
	u.PasswordHash = hash
	p.keepSRPVerifier(ctx, u, password)
	p.audit(ctx, store.AuditEvent{Type: AuditPasswordReset, UserID: userID, Login: u.Email,
		Detail: map[string]string{"by": "admin"}})
	return p.RevokeUserSessions(ctx, userID)
}

// SetEnabled enables or disables a user; disabling also ends every session.
func (p *Pool) SetEnabled(ctx context.Context, userID string, enabled bool) error {
	if err := p.store.SetEnabled(ctx, userID, enabled); err != nil {
		return mapNotFoundErr(err)
	}
	if enabled {
		p.auditUser(ctx, AuditUserEnabled, userID, "by", "admin")
		return nil
	}
	p.auditUser(ctx, AuditUserDisabled, userID, "by", "admin")
	return p.RevokeUserSessions(ctx, userID)
}

// DeleteUser removes a user and ends every session they had. Their audit
// trail stays.
func (p *Pool) DeleteUser(ctx context.Context, userID string) error {
	return p.deleteUser(ctx, userID, "admin")
}

// deleteUser is DeleteUser, audited as done by by.
func (p *Pool) deleteUser(ctx context.Context, userID, by string) error {
	// Read first: once deleted, the account's address is gone, and the
	// event needs it to stay findable by it.
	u, err := p.User(ctx, userID)
	if err != nil {
		return err
	}
	if err := p.store.DeleteUser(ctx, userID); err != nil {
		return mapNotFoundErr(err)
	}
	p.audit(ctx, store.AuditEvent{Type: AuditUserDeleted, UserID: userID, Login: u.Email,
		Detail: map[string]string{"by": by}})
	return p.RevokeUserSessions(ctx, userID)
}

// AddToGroup adds a user to a group, creating the group by use (no
// description or precedence) when no group has the name: configurations
// and scripts that never call CreateGroup keep working. Cognito's
// AdminAddUserToGroup refuses an unknown group instead; its handler checks
// with Group first.
func (p *Pool) AddToGroup(ctx context.Context, userID, group string) error {
	if !groupName.MatchString(group) {
		return ErrInvalidGroup
	}
	return mapNotFoundErr(p.store.AddToGroup(ctx, userID, group))
}

// RemoveFromGroup ends a membership.
func (p *Pool) RemoveFromGroup(ctx context.Context, userID, group string) error {
	if !groupName.MatchString(group) {
		return ErrInvalidGroup
	}
	if _, err := p.User(ctx, userID); err != nil {
		return err
	}
	return p.store.RemoveFromGroup(ctx, userID, group)
}

// RevokeSession puts one session on the deny list until it would have expired.
func (p *Pool) RevokeSession(ctx context.Context, sessionID string, expires time.Time) error {
	return p.revoke(ctx, store.Revocation{SessionID: sessionID, At: p.now(), Expires: expires})
}

// RevokeAccessToken puts one access token, named by its jti, on the deny
// list until it expires (RFC 7009 revocation): the provider's userinfo and
// every gateway's bearer check refuse it from then on.
func (p *Pool) RevokeAccessToken(ctx context.Context, jti string, expires time.Time) error {
	if jti == "" {
		return errors.New("pool: an access token without a jti cannot be revoked")
	}
	return p.revoke(ctx, store.Revocation{SessionID: store.AccessTokenRevocationID(jti), At: p.now(), Expires: expires})
}

// RevokeUserSessions ends every session the user holds now.
func (p *Pool) RevokeUserSessions(ctx context.Context, userID string) error {
	now := p.now()
	return p.revoke(ctx, store.Revocation{UserID: userID, At: p.deny.RevocationTime(userID, now), Expires: now.Add(p.userTTL)})
}

// revoke records r in the store, where other processes will see it, and in
// this process's list at once, so the next request here is already refused.
func (p *Pool) revoke(ctx context.Context, r store.Revocation) error {
	if err := p.store.Revoke(ctx, r); err != nil {
		return err
	}
	p.deny.add(r)
	return nil
}

// UserRevocationTTL is how long a user-wide revocation is kept, and so the
// longest a session may last.
func (p *Pool) UserRevocationTTL() time.Duration { return p.userTTL }

func mapNotFound(u *store.User, err error) (*store.User, error) {
	return u, mapNotFoundErr(err)
}

func mapNotFoundErr(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return userNotFound{}
	}
	return err
}

// userNotFound is ErrUserNotFound that is also store.ErrNotFound, so that a
// package reading users through an interface (the gateway's UserReader)
// tells "no such user" from an outage without importing pool.
type userNotFound struct{}

func (userNotFound) Error() string { return ErrUserNotFound.Error() }

func (userNotFound) Is(target error) bool {
	return target == ErrUserNotFound || target == store.ErrNotFound
}

// Triggers is the pool's lifecycle hooks (package trigger); nil when it
// has none. Check trigger.Configured before a call.
func (p *Pool) Triggers() trigger.Invoker { return p.triggers }
