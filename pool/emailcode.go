package pool

import (
	"context"
	"crypto/rand"
	"errors"
	"time"

	"github.com/gatehouse-auth/gatehouse/mail"
	"github.com/gatehouse-auth/gatehouse/store"
)

// Email one-time codes as a second factor: six digits mailed at sign-in,
// good for MFACodeTTL and for the pool's MaxAttempts wrong tries, kept
// only as a hash (the verification-code machinery of accounts.go).
const (
	// PurposeMFAEmail is the verification-code purpose of these codes.
	PurposeMFAEmail = "mfa_email"
	// MFACodeTTL is how long a mailed sign-in code works.
	MFACodeTTL = 5 * time.Minute
)

// CanEmailCodes reports whether users may get second-factor codes by
// email: MFA is on and the pool sends mail.
func (p *Pool) CanEmailCodes() bool {
	return p.mfa.Mode != MFAOff && p.acct.Mail != nil
}

// EmailCodesOn reports whether the user gets their second-factor codes by
// email: they turned it on, and the pool can still send them.
func (p *Pool) EmailCodesOn(ctx context.Context, userID string) (bool, error) {
	if !p.CanEmailCodes() {
		return false, nil
	}
	fs, err := p.Factors(ctx, userID)
	if err != nil {
		return false, err
	}
	for _, f := range fs {
		if f.Kind == store.FactorEmail {
			return true, nil
		}
	}
	return false, nil
}

// SendMFACode mails u a sign-in code, unless one went out within the
// resend cool-down (then a *TooSoonError). Sending failures are
// ErrMailNotSent; the code saved stays good for a retry.
func (p *Pool) SendMFACode(ctx context.Context, u *store.User) error {
	if !p.CanEmailCodes() {
		return ErrMFAUnavailable
	}
	wait, err := p.cooldown(ctx, u.ID, PurposeMFAEmail)
	if err != nil {
		return err
	}
	if wait > 0 {
		return &TooSoonError{Wait: wait}
	}
	return p.issueCode(ctx, u, PurposeMFAEmail, mail.KindMFACode, u.Email, "", MFACodeTTL)
}

// verifyEmailCode checks a mailed sign-in code. No live code is
// ErrWrongCode, as a wrong one is: the page says the same either way.
func (p *Pool) verifyEmailCode(ctx context.Context, userID, code string) error {
	_, err := p.consumeCode(ctx, userID, PurposeMFAEmail, code)
	if errors.Is(err, ErrCodeExpired) {
		return ErrWrongCode
	}
	return err
}

// EnableEmailCodes turns on email codes for the user after they proved
// the mailbox with a code SendMFACode sent. As with an app, the user's
// first factor comes with recovery codes, returned once.
func (p *Pool) EnableEmailCodes(ctx context.Context, userID, code string) ([]string, error) {
	if !p.CanEmailCodes() {
		return nil, ErrMFAUnavailable
	}
	fs, err := p.Factors(ctx, userID)
	if err != nil {
		return nil, err
	}
	for _, f := range fs {
		if f.Kind == store.FactorEmail {
			return nil, ErrChallengeExpired // on already: nothing to finish
		}
	}
	if len(fs) >= maxFactors {
		return nil, ErrTooManyFactors
	}
	if err := p.verifyEmailCode(ctx, userID, code); err != nil {
		return nil, err
	}
	id := rand.Text()
	if err := p.store.AddMFAFactor(ctx, store.MFAFactor{ID: id, UserID: userID, Kind: store.FactorEmail, Name: "Email codes"}); err != nil {
		return nil, mapNotFoundErr(err)
	}
	if err := p.store.ConfirmMFAFactor(ctx, userID, id, 0); err != nil {
		return nil, err
	}
	p.auditUser(ctx, AuditMFAEnrolled, userID, "kind", store.FactorEmail, "name", "Email codes")
	if len(fs) > 0 {
		return nil, nil
	}
	return p.RegenerateRecoveryCodes(ctx, userID)
}
