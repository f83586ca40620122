package pool

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/sms"
	"github.com/gatehouse-auth/gatehouse/store"
)

// Phone numbers and SMS. With a Texter (AccountConfig.SMS) a pool offers
// what Cognito offers by SMS: phone_number verification
// (phone_number_verified), SMS codes as a second factor (smscode.go), a
// password reset by SMS for users whose email is not verified but whose
// phone is, and invitations by SMS. Without one, none of it is offered
// and these functions answer ErrSMSUnavailable.
//
// Codes are the same six digits as mailed ones, kept as hashes with their
// tries counted (accounts.go). A code to a phone records the number it
// went to (its Target), so a code sent to an old number verifies nothing
// after the number changed.

// Attribute names of the phone.
const (
	AttrPhone         = "phone_number"
	AttrPhoneVerified = "phone_number_verified"
)

// Purposes of codes sent by SMS.
const (
	PurposeVerifyPhone = "verify_phone"
	// targetSMS prefixes the Target of a reset code sent by SMS, so
	// ResetPassword knows the mailbox was not what it proved.
	targetSMS = "sms:"
)

// Errors of the SMS flows.
var (
	// ErrSMSUnavailable: the pool has no SMS sender.
	ErrSMSUnavailable = errors.New("this pool sends no text messages")
	// ErrSMSNotSent: the code was made, but the text message could not be
	// sent. Asking again sends a new one.
	ErrSMSNotSent = errors.New("the text message could not be sent")
	// ErrNoPhone: the user has no phone number to send a code to.
	ErrNoPhone = errors.New("add a phone number first")
	// ErrPhoneNotVerified: SMS codes need a verified phone number.
	ErrPhoneNotVerified = errors.New("verify your phone number first")
	// ErrPhoneVerified: the number is verified already.
	ErrPhoneVerified = errors.New("this phone number is verified already")
)

// CanText reports whether the pool sends text messages.
func (p *Pool) CanText() bool { return p.acct.SMS != nil }

// Phone returns u's phone number and whether it is verified.
func Phone(u *store.User) (number string, verified bool) {
	return u.Attributes[AttrPhone], u.Attributes[AttrPhoneVerified] == "true"
}

// text sends one message within the texter's timeout. A failure is logged
// here with the masked number and returned as ErrSMSNotSent; the code is
// never logged.
func (p *Pool) text(ctx context.Context, u *store.User, kind, to, code string, ttl time.Duration) error {
	t := p.acct.SMS
	if t == nil {
		return ErrSMSUnavailable
	}
	ctx, cancel := context.WithTimeout(ctx, t.Timeout)
	defer cancel()
	m := &sms.Message{To: to, Kind: kind, Code: code, Text: sms.Text(kind, t.DisplayName, code, roundUp(ttl)), UserID: u.ID, Login: u.Email}
	if err := t.Sender.Send(ctx, m); err != nil {
		t.Logger.Error("sending a text message failed", zap.String("kind", kind), zap.String("to", sms.Mask(to)), zap.Error(err))
		return fmt.Errorf("%w: %v", ErrSMSNotSent, err)
	}
	return nil
}

// textCode issues a code of purpose for u and sends it by SMS to number,
// unless one went out within the cool-down (a *TooSoonError).
func (p *Pool) textCode(ctx context.Context, u *store.User, purpose, kind, number, target string, ttl time.Duration) error {
	if !p.CanText() {
		return ErrSMSUnavailable
	}
	wait, err := p.cooldown(ctx, u.ID, purpose)
	if err != nil {
		return err
	}
	if wait > 0 {
		return &TooSoonError{Wait: wait}
	}
	return p.issueCodeBy(ctx, u, purpose, target, ttl, func(code string) error {
		return p.text(ctx, u, kind, number, code, ttl)
	})
}

// SendPhoneCode sends the user a code that verifies their phone number
// (the account page's "verify", Cognito's
// GetUserAttributeVerificationCode phone_number). It returns the masked
// number.
func (p *Pool) SendPhoneCode(ctx context.Context, userID string) (string, error) {
	if !p.CanText() {
		return "", ErrSMSUnavailable
	}
	u, err := p.User(ctx, userID)
	if err != nil {
		return "", err
	}
	number, verified := Phone(u)
	switch {
	case number == "":
		return "", ErrNoPhone
	case verified:
		return sms.Mask(number), ErrPhoneVerified
	}
	return sms.Mask(number), p.textCode(ctx, u, PurposeVerifyPhone, sms.KindVerifyPhone, number, number, p.acct.CodeTTL)
}

// VerifyPhone checks the code SendPhoneCode sent and marks the number
// verified. A code sent to another number than the user's now is
// ErrCodeExpired.
func (p *Pool) VerifyPhone(ctx context.Context, userID, code string) (*store.User, error) {
	if !p.CanText() {
		return nil, ErrSMSUnavailable
	}
	u, err := p.User(ctx, userID)
	if err != nil {
		return nil, err
	}
	number, verified := Phone(u)
	if number == "" {
		return nil, ErrNoPhone
	}
	if verified {
		return u, nil
	}
	c, err := p.consumeCode(ctx, u.ID, PurposeVerifyPhone, code)
	if err != nil {
		return nil, err
	}
	if c.Target != number {
		return nil, ErrCodeExpired
	}
	if err := p.store.UpdateUser(ctx, u.ID, store.UserUpdate{SetAttributes: map[string]string{AttrPhoneVerified: "true"}}); err != nil {
		if errors.Is(err, store.ErrConflict) {
			// The pool signs in with numbers and another account has
			// verified this one. Only whoever received the code learns
			// it, and not which account.
			return nil, ErrPhoneTaken
		}
		return nil, mapNotFoundErr(err)
	}
	p.auditUser(ctx, AuditPhoneVerified, u.ID, "number", sms.Mask(number))
	return p.User(ctx, u.ID)
}

// phoneChanged forgets what proved the old number: its verified mark and
// SMS codes as a second factor, which would otherwise go to a number
// nobody proved.
func (p *Pool) phoneChanged(ctx context.Context, u *store.User, up *store.UserUpdate) error {
	up.DeleteAttributes = append(up.DeleteAttributes, AttrPhoneVerified)
	fs, err := p.store.MFAFactors(ctx, u.ID)
	if err != nil {
		return err
	}
	for _, f := range fs {
		if f.Kind == store.FactorSMS {
			if err := p.RemoveFactor(ctx, u.ID, f.ID); err != nil && !errors.Is(err, ErrNoSuchFactor) {
				return err
			}
		}
	}
	return nil
}

// setPhoneVerified sets or clears the verified mark of the user's
// number on an administrator's word (AdminUpdateUserAttributes
// phone_number_verified).
func (p *Pool) setPhoneVerified(ctx context.Context, userID string, verified bool) error {
	up := store.UserUpdate{}
	if verified {
		up.SetAttributes = map[string]string{AttrPhoneVerified: "true"}
	} else {
		up.DeleteAttributes = []string{AttrPhoneVerified}
	}
	err := p.store.UpdateUser(ctx, userID, up)
	if errors.Is(err, store.ErrConflict) {
		return ErrPhoneTaken
	}
	return mapNotFoundErr(err)
}

// resetByText reports whether a password reset code for u goes by SMS:
// the pool texts, u's email is not verified and their phone is.
func (p *Pool) resetByText(u *store.User) bool {
	number, verified := Phone(u)
	return p.CanText() && !u.EmailVerified && number != "" && verified
}
