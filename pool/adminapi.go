package pool

import (
	"context"
	"errors"
	"strconv"

	"github.com/gatehouse-auth/gatehouse/mail"
	"github.com/gatehouse-auth/gatehouse/store"
)

// What the Cognito API's signed admin actions need beyond the CLI's
// administration (admin.go, pool.go): temporary passwords set on an
// existing user, a reset required, a sign-up confirmed, attributes set by
// an administrator, and one audit event per call naming the access key.

// AuditAdminAction is a signed admin call of the Cognito API: Detail has
// access_key_id, action and outcome ("ok" or the error's name).
const AuditAdminAction = "admin_action"

// AdminCalled records a signed admin call; userID is the user it was
// about, "" when none. The caller puts the client's address in ctx.
func (p *Pool) AdminCalled(ctx context.Context, accessKeyID, action, userID, outcome string) {
	p.audit(ctx, store.AuditEvent{Type: AuditAdminAction, UserID: userID, Detail: map[string]string{
		"access_key_id": accessKeyID, "action": action, "outcome": outcome,
	}})
}

// SetTemporaryPassword gives a user a password to sign in with once
// (Cognito's AdminSetUserPassword with Permanent false): the user is
// FORCE_CHANGE_PASSWORD until they choose their own, the password expires
// after the pool's TemporaryPasswordTTL, and every session ends.
func (p *Pool) SetTemporaryPassword(ctx context.Context, userID, password string) error {
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
	now := p.now()
	if err := p.store.SaveVerificationCode(ctx, store.VerificationCode{
		UserID: u.ID, Purpose: PurposeTemporaryPassword, SentAt: now, Expires: now.Add(p.acct.TemporaryPasswordTTL),
	}); err != nil {
		return err
	}
	if err := p.store.UpdatePassword(ctx, userID, hash, store.StatusForceChangePassword); err != nil {
		return mapNotFoundErr(err)
	}
	u.PasswordHash = hash
	p.keepSRPVerifier(ctx, u, password)
	p.audit(ctx, store.AuditEvent{Type: AuditPasswordReset, UserID: userID, Login: u.Email,
		Detail: map[string]string{"by": "admin", "temporary": "true"}})
	return p.RevokeUserSessions(ctx, userID)
}

// RequirePasswordReset makes a user choose a new password through a code
// before signing in again (Cognito's AdminResetUserPassword): the status
// becomes RESET_REQUIRED, every session ends, and a reset code is mailed
// when the pool mails and the user can receive one.
func (p *Pool) RequirePasswordReset(ctx context.Context, userID string) error {
	u, err := p.User(ctx, userID)
	if err != nil {
		return err
	}
	if u.PasswordHash == "" {
		return ErrNoPassword
	}
	if err := p.store.UpdateUser(ctx, userID, store.UserUpdate{Status: ptrTo(store.StatusResetRequired)}); err != nil {
		return mapNotFoundErr(err)
	}
	p.auditUser(ctx, AuditPasswordReset, userID, "by", "admin", "required", "true")
	if err := p.RevokeUserSessions(ctx, userID); err != nil {
		return err
	}
	if p.acct.Mail == nil || !u.Enabled {
		return nil
	}
	return p.issueCode(ctx, u, PurposeResetPassword, mail.KindResetPassword, u.Email, "", p.acct.ResetCodeTTL)
}

// ErrNoPassword: the user signs in only through an outside provider.
var ErrNoPassword = errors.New("the user has no password")

// ErrNotUnconfirmed: AdminConfirmSignUp of a user who is not UNCONFIRMED.
var ErrNotUnconfirmed = errors.New("the user is not unconfirmed")

// ConfirmByAdmin confirms a sign-up without its code (Cognito's
// AdminConfirmSignUp). The address stays unverified: nobody proved it.
func (p *Pool) ConfirmByAdmin(ctx context.Context, userID string) error {
	u, err := p.User(ctx, userID)
	if err != nil {
		return err
	}
	if u.Status != store.StatusUnconfirmed {
		return ErrNotUnconfirmed
	}
	if err := p.store.UpdateUser(ctx, userID, store.UserUpdate{Status: ptrTo(store.StatusConfirmed)}); err != nil {
		return mapNotFoundErr(err)
	}
	return nil
}

// AdminAttributes is an administrator's change of a user's attributes:
// Values as UpdateProfile takes them ("" deletes an optional one), and the
// address and its verified mark, which only an administrator sets directly.
type AdminAttributes struct {
	Values        map[string]string
	Email         *string
	EmailVerified *bool
	// PhoneVerified sets or clears phone_number_verified, after Values
	// (a new number is unverified unless this says otherwise).
	PhoneVerified *bool
}

// UpdateAttributesByAdmin applies a. A new address is unverified unless
// a says otherwise, and one another user has is ErrUserExists.
func (p *Pool) UpdateAttributesByAdmin(ctx context.Context, userID string, a AdminAttributes) (*store.User, error) {
	u, err := p.User(ctx, userID)
	if err != nil {
		return nil, err
	}
	if len(a.Values) > 0 {
		if _, err := p.UpdateProfile(ctx, userID, a.Values); err != nil {
			return nil, err
		}
	}
	if a.PhoneVerified != nil {
		if err := p.setPhoneVerified(ctx, userID, *a.PhoneVerified); err != nil {
			return nil, err
		}
	}
	up := store.UserUpdate{EmailVerified: a.EmailVerified}
	if a.Email != nil {
		email, err := NormalizeEmail(*a.Email)
		if err != nil {
			return nil, err
		}
		if email != u.Email {
			up.Email = &email
			if a.EmailVerified == nil {
				up.EmailVerified = ptrTo(false)
			}
		}
	}
	if up.Email == nil && up.EmailVerified == nil {
		return p.User(ctx, userID)
	}
	if err := p.store.UpdateUser(ctx, userID, up); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, ErrUserExists
		}
		return nil, mapNotFoundErr(err)
	}
	if up.Email != nil {
		p.audit(ctx, store.AuditEvent{Type: AuditEmailChanged, UserID: userID, Login: u.Email,
			Detail: map[string]string{"by": "admin", "verified": strconv.FormatBool(up.EmailVerified != nil && *up.EmailVerified)}})
	}
	return p.User(ctx, userID)
}

// ErrNotInvited: an invitation resent to a user who has already chosen a
// password.
var ErrNotInvited = errors.New("the user is not waiting for a temporary password")

// ResendInvitation gives an invited (FORCE_CHANGE_PASSWORD) user a new
// temporary password, password "" for a generated one, with a new
// deadline, and mails it when send (Cognito's AdminCreateUser with
// MessageAction RESEND).
func (p *Pool) ResendInvitation(ctx context.Context, userID, password string, send bool) error {
	if send && p.acct.Mail == nil {
		return ErrMailUnavailable
	}
	u, err := p.User(ctx, userID)
	if err != nil {
		return err
	}
	if u.Status != store.StatusForceChangePassword {
		return ErrNotInvited
	}
	if password == "" {
		password = p.GeneratePassword()
	}
	if err := p.SetTemporaryPassword(ctx, userID, password); err != nil {
		return err
	}
	if !send {
		return nil
	}
	return p.send(ctx, mail.KindInvitation, mail.Data{Email: u.Email, TemporaryPassword: password, Expires: roundUp(p.acct.TemporaryPasswordTTL), TTL: p.acct.TemporaryPasswordTTL, Locale: u.Attributes["locale"]})
}

// MinimumLength is the policy's least number of characters.
func (p PasswordPolicy) MinimumLength() int { return p.minLength() }
