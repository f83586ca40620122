package pool

import (
	"context"
	"crypto/rand"
	"errors"

	"github.com/gatehouse-auth/gatehouse/sms"
	"github.com/gatehouse-auth/gatehouse/store"
)

// SMS one-time codes as a second factor: six digits sent by SMS at
// sign-in to the user's verified phone_number, as email codes are mailed
// (emailcode.go): good for MFACodeTTL and the pool's MaxAttempts wrong
// tries, wrong ones counted in the login's lockout (VerifyMFA).

// PurposeMFASMS is the verification-code purpose of these codes.
const PurposeMFASMS = "mfa_sms"

// CanTextCodes reports whether users may get second-factor codes by SMS:
// MFA is on and the pool texts.
func (p *Pool) CanTextCodes() bool {
	return p.mfa.Mode != MFAOff && p.CanText()
}

// SMSCodesOn reports whether the user gets second-factor codes by SMS:
// they turned it on, their number is still verified, and the pool can
// still text.
func (p *Pool) SMSCodesOn(ctx context.Context, u *store.User) (bool, error) {
	if !p.CanTextCodes() {
		return false, nil
	}
	if _, verified := Phone(u); !verified {
		return false, nil
	}
	fs, err := p.Factors(ctx, u.ID)
	if err != nil {
		return false, err
	}
	for _, f := range fs {
		if f.Kind == store.FactorSMS {
			return true, nil
		}
	}
	return false, nil
}

// SendSMSMFACode texts u a sign-in code to their verified number, unless
// one went out within the resend cool-down (a *TooSoonError). Sending
// failures are ErrSMSNotSent.
func (p *Pool) SendSMSMFACode(ctx context.Context, u *store.User) error {
	if !p.CanTextCodes() {
		return ErrMFAUnavailable
	}
	number, verified := Phone(u)
	if !verified {
		return ErrPhoneNotVerified
	}
	return p.textCode(ctx, u, PurposeMFASMS, sms.KindMFACode, number, number, MFACodeTTL)
}

// verifySMSCode checks a texted sign-in code, sent to the number the user
// has now. No live code is ErrWrongCode, as a wrong one is.
func (p *Pool) verifySMSCode(ctx context.Context, u *store.User, code string) error {
	c, err := p.consumeCode(ctx, u.ID, PurposeMFASMS, code)
	if errors.Is(err, ErrCodeExpired) {
		return ErrWrongCode
	}
	if err != nil {
		return err
	}
	if number, verified := Phone(u); !verified || c.Target != number {
		return ErrWrongCode
	}
	return nil
}

// EnableSMSCodes turns on SMS codes for the user after they typed a code
// SendSMSMFACode sent to their verified number. The user's first factor
// comes with recovery codes, returned once.
func (p *Pool) EnableSMSCodes(ctx context.Context, userID, code string) ([]string, error) {
	if !p.CanTextCodes() {
		return nil, ErrMFAUnavailable
	}
	u, err := p.User(ctx, userID)
	if err != nil {
		return nil, err
	}
	if _, verified := Phone(u); !verified {
		return nil, ErrPhoneNotVerified
	}
	fs, err := p.Factors(ctx, userID)
	if err != nil {
		return nil, err
	}
	for _, f := range fs {
		if f.Kind == store.FactorSMS {
			return nil, ErrChallengeExpired // on already: nothing to finish
		}
	}
	if len(fs) >= maxFactors {
		return nil, ErrTooManyFactors
	}
	if err := p.verifySMSCode(ctx, u, code); err != nil {
		return nil, err
	}
	return p.addSMSFactor(ctx, userID, len(fs) == 0)
}

// EnableVerifiedSMS turns on SMS codes for a user whose number is
// verified, without a code of its own: the number's verification proved
// it (Cognito's SetUserMFAPreference SMSMfaSettings, and
// AdminSetUserMFAPreference on an administrator's word). On already is
// not an error. No recovery codes come with it: nobody is there to read
// them; the account page makes new ones.
func (p *Pool) EnableVerifiedSMS(ctx context.Context, userID string) error {
	if !p.CanTextCodes() {
		return ErrMFAUnavailable
	}
	u, err := p.User(ctx, userID)
	if err != nil {
		return err
	}
	if _, verified := Phone(u); !verified {
		return ErrPhoneNotVerified
	}
	fs, err := p.Factors(ctx, userID)
	if err != nil {
		return err
	}
	for _, f := range fs {
		if f.Kind == store.FactorSMS {
			return nil
		}
	}
	if len(fs) >= maxFactors {
		return ErrTooManyFactors
	}
	_, err = p.addSMSFactor(ctx, userID, false)
	return err
}

// addSMSFactor stores a confirmed SMS factor, with recovery codes when
// first.
func (p *Pool) addSMSFactor(ctx context.Context, userID string, first bool) ([]string, error) {
	id := rand.Text()
	if err := p.store.AddMFAFactor(ctx, store.MFAFactor{ID: id, UserID: userID, Kind: store.FactorSMS, Name: "Text message codes"}); err != nil {
		return nil, mapNotFoundErr(err)
	}
	if err := p.store.ConfirmMFAFactor(ctx, userID, id, 0); err != nil {
		return nil, err
	}
	p.auditUser(ctx, AuditMFAEnrolled, userID, "kind", store.FactorSMS, "name", "Text message codes")
	if !first {
		return nil, nil
	}
	return p.RegenerateRecoveryCodes(ctx, userID)
}
