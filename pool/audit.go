package pool

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/trigger"
)

// Audit event types: what a pool records, as a log line and in its store's
// audit trail, when something happens to the security of an account.
const (
	// AuditSignIn: a session was granted (Detail "amr").
	AuditSignIn = "sign_in"
	// AuditSignInFailed: a sign-in was refused; Reason says why.
	AuditSignInFailed = "sign_in_failed"
	// AuditLockedOut: a login's failures started a lockout (Detail
	// "failures", "until").
	AuditLockedOut = "locked_out"
	// AuditMFAEnrolled: a second factor was confirmed (Detail "kind", "name").
	AuditMFAEnrolled = "mfa_enrolled"
	// AuditMFARemoved: the user removed one of their factors.
	AuditMFARemoved = "mfa_removed"
	// AuditMFAReset: an administrator removed every factor of the user.
	AuditMFAReset = "mfa_reset"
	// AuditRecoveryCodesReplaced: a new set of recovery codes was made.
	AuditRecoveryCodesReplaced = "recovery_codes_replaced"
	// AuditRecoveryCodeUsed: a recovery code stood in for a factor.
	AuditRecoveryCodeUsed = "recovery_code_used"
	// AuditPasswordChanged: the user changed their password (Detail
	// "confirmed_by": "passkey" or "password" when a confirmation made
	// before the change stood in for the old one).
	AuditPasswordChanged = "password_changed"
	// AuditPasskeyConfirmed: a signed-in user confirmed it was them with a
	// passkey, in place of their password, for changes to their account.
	AuditPasskeyConfirmed = "passkey_confirmed"
	// AuditReauthenticated: a signed-in user passed the account page's
	// "confirm it's you" step (Detail "method": password, passkey, otp,
	// recovery_code).
	AuditReauthenticated = "reauthenticated"
	// AuditPasswordReset: the password was set with a mailed code, or by
	// an administrator (Detail "by": "email_code" or "admin").
	AuditPasswordReset = "password_reset"
	// AuditEmailChanged: the account moved to a new address (Detail
	// "from"; Login is the new one).
	AuditEmailChanged = "email_changed"
	// AuditSignedOutEverywhere: the user ended all their sessions.
	AuditSignedOutEverywhere = "signed_out_everywhere"
	// AuditUserDisabled, AuditUserEnabled and AuditUserDeleted: an
	// administrator's changes (or the user deleting their own account,
	// Detail "by": "self").
	AuditUserDisabled = "user_disabled"
	AuditUserEnabled  = "user_enabled"
	AuditUserDeleted  = "user_deleted"
	// AuditPhoneVerified: the user proved their phone number with a code
	// sent by SMS (Detail "number", masked).
	AuditPhoneVerified = "phone_verified"
)

// AuditTypes lists every event type, for the CLI's help and checks.
var AuditTypes = []string{
	AuditSignIn, AuditSignInFailed, AuditLockedOut, AuditMFAEnrolled, AuditMFARemoved, AuditMFAReset,
	AuditRecoveryCodesReplaced, AuditRecoveryCodeUsed, AuditPasswordChanged, AuditPasskeyConfirmed, AuditPasswordReset,
	AuditEmailChanged, AuditSignedOutEverywhere, AuditUserDisabled, AuditUserEnabled, AuditUserDeleted,
	AuditFederatedUserCreated, AuditIdentityLinked, AuditIdentityUnlinked, AuditFederationFailed,
	AuditAdminAuthFailed, AuditAccessKeyCreated, AuditAccessKeyRevoked, AuditAdminAction, AuditTrigger,
	AuditPhoneVerified, AuditUserMigrated, AuditUserMigrationFailed,
}

// auditTimeout bounds the write of one event: the request it belongs to
// may have ended, and a stuck store must not hold the caller for long.
const auditTimeout = 5 * time.Second

type clientIPKey struct{}

// WithClientIP returns ctx carrying the address of the client a request
// came from, which the pool's audit events record. The hosted pages set it
// once per request; calls without it (the CLI) record no address.
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}

func clientIP(ctx context.Context) string {
	ip, _ := ctx.Value(clientIPKey{}).(string)
	return ip
}

// audit records e: At is now, IP the client's from ctx, Login the
// account's address when e names only the account. It writes the log line
// and appends to the store. A store that fails is not passed on, since the
// user's request has already done what it came for. One that could not
// answer in time (store.ErrUnavailable) gets the event later: it is kept in
// memory (auditqueue.go) and written when the store answers again; one that
// refused it is logged. While
// events wait, new ones join them without trying the store, so that an
// outage does not cost every request a store timeout for its audit.
//
// Callers put only what is safe to keep in e: never a password, code,
// secret or token.
func (p *Pool) audit(ctx context.Context, e store.AuditEvent) {
	e.At = p.now()
	e.IP = clientIP(ctx)
	p.observed(e)
	if p.pending.len() > 0 {
		p.auditLog.Info(e.Type, p.auditFields(e)...)
		p.pending.add(e)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancel()
	if e.Login == "" && e.UserID != "" {
		if u, err := p.store.UserByID(ctx, e.UserID); err == nil {
			e.Login = u.Email
		}
	}
	fields := p.auditFields(e)
	p.auditLog.Info(e.Type, fields...)
	switch err := p.store.AppendAudit(ctx, e); {
	case errors.Is(err, store.ErrUnavailable):
		p.auditLog.Warn("audit event not stored yet: kept until the store answers", append(fields, zap.Error(err))...)
		p.pending.add(e)
	case err != nil:
		// The store answered, and refused: waiting would not help.
		p.auditLog.Error("audit event not stored", append(fields, zap.Error(err))...)
	}
}

// Events that are not audited, only shown to Config.Observe (for metrics).
const (
	// EventSignedUp: a sign-up was stored, its account unconfirmed.
	EventSignedUp = "signed_up"
	// EventConfirmed: a sign-up was confirmed with its mailed code.
	EventConfirmed = "confirmed"
)

// observed shows e to the pool's observer, if any.
func (p *Pool) observed(e store.AuditEvent) {
	if p.observe != nil {
		p.observe(e)
	}
}

// auditFields is e as log fields.
func (p *Pool) auditFields(e store.AuditEvent) []zap.Field {
	fields := []zap.Field{zap.String("pool", p.name), zap.String("type", e.Type)}
	for _, f := range []struct{ k, v string }{{"user_id", e.UserID}, {"login", e.Login}, {"remote_ip", e.IP}, {"reason", e.Reason}} {
		if f.v != "" {
			fields = append(fields, zap.String(f.k, f.v))
		}
	}
	if len(e.Detail) > 0 {
		fields = append(fields, zap.Any("detail", e.Detail))
	}
	return fields
}

// Reasons of AuditSignInFailed.
const (
	reasonInvalidCredentials = "invalid_credentials"
	reasonUserDisabled       = "user_disabled"
	reasonNotConfirmed       = "not_confirmed"
	reasonLockedOut          = "locked_out"
	reasonWrongMFACode       = "wrong_mfa_code"
	reasonResetRequired      = "reset_required"
	reasonTemporaryExpired   = "temporary_password_expired"
)

// failureReason names a sign-in refusal; "" for what is not one: success,
// a right password that must be replaced next, or a failure of the server.
func failureReason(err error) string {
	switch {
	case err == nil, errors.Is(err, ErrNewPasswordRequired):
		return ""
	case errors.Is(err, ErrInvalidCredentials):
		return reasonInvalidCredentials
	case errors.Is(err, ErrUserDisabled):
		return reasonUserDisabled
	case errors.Is(err, ErrUserNotConfirmed):
		return reasonNotConfirmed
	case errors.Is(err, ErrWrongCode):
		return reasonWrongMFACode
	case errors.Is(err, ErrPasswordResetRequired):
		return reasonResetRequired
	case errors.Is(err, ErrTemporaryPasswordExpired):
		return reasonTemporaryExpired
	}
	if _, ok := errors.AsType[*LockedOutError](err); ok {
		return reasonLockedOut
	}
	if te, ok := errors.AsType[*trigger.Error](err); ok {
		return string(te.Kind) // the hook refused or failed: pre_authentication, post_authentication
	}
	return ""
}

// auditSignIn records a refused sign-in of login (normalized; "" when what
// was typed is no address, and may then be anything, a password even). u is
// the account the login names, nil when none was found.
func (p *Pool) auditSignIn(ctx context.Context, u *store.User, login string, err error) {
	reason := failureReason(err)
	if reason == "" {
		return
	}
	e := store.AuditEvent{Type: AuditSignInFailed, Login: login, Reason: reason}
	if u != nil {
		e.UserID = u.ID
	}
	p.audit(ctx, e)
}

// SignedIn records that u was granted a session with amr. The sign-in
// machine (signin.go) calls it once, where a sign-in ends: after the
// password for a user without a factor, after the second factor (or its
// set-up) for the rest. Callers that drive the machine never call it.
func (p *Pool) SignedIn(ctx context.Context, u *store.User, amr []string) {
	p.signedIn(ctx, u, amr, "")
}

// signedIn is SignedIn with the step that ended the sign-in (Detail
// "method": password, second_factor, remembered_device, enrolment,
// passkey, federated, custom, email_otp), which tells a remembered device
// apart from a recovery code: both leave amr "pwd mfa".
func (p *Pool) signedIn(ctx context.Context, u *store.User, amr []string, method string) {
	detail := map[string]string{"amr": strings.Join(amr, " ")}
	if method != "" {
		detail["method"] = method
	}
	p.audit(ctx, store.AuditEvent{Type: AuditSignIn, UserID: u.ID, Login: u.Email, Detail: detail})
}

// auditLockout records that login's failures started a lockout.
func (p *Pool) auditLockout(ctx context.Context, login string, failures int, until time.Time) {
	p.audit(ctx, store.AuditEvent{Type: AuditLockedOut, Login: login, Detail: map[string]string{
		"failures": strconv.Itoa(failures), "until": until.UTC().Format(time.RFC3339),
	}})
}

// auditUser records an event about the user that needs nothing but its type
// and detail (kv: key, value, ...).
func (p *Pool) auditUser(ctx context.Context, typ, userID string, kv ...string) {
	e := store.AuditEvent{Type: typ, UserID: userID}
	if len(kv) > 0 {
		e.Detail = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			e.Detail[kv[i]] = kv[i+1]
		}
	}
	p.audit(ctx, e)
}

// auditIf records the event about userID when err is nil and returns err:
// for an operation's last step, so that only what happened is recorded.
func (p *Pool) auditIf(ctx context.Context, err error, typ, userID string, kv ...string) error {
	if err == nil {
		p.auditUser(ctx, typ, userID, kv...)
	}
	return err
}
