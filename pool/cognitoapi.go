package pool

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/store"
)

// What the Cognito user-pool API (package cognito) needs of the pool
// beyond what the hosted pages use.

// ConfirmSignUpCode is Cognito's ConfirmSignUp: the code mailed to email
// alone confirms the address and the account. Cognito's clients send no
// password with it (amazon-cognito-identity-js, Amplify), so the code
// alone would let the mailbox owner confirm a sign-up whose password a
// stranger chose after hers (the pre-account race: the stranger's sign-up
// replaces hers, and the code then mailed to her confirms his). A sign-up
// that replaced another pending one is therefore contested
// (CompleteSignUp marks it): its right code is ErrSignUpContested and is
// kept, for ConfirmSignUp, which asks for the password chosen at sign-up.
// An uncontested sign-up, the usual one, confirms with the code alone.
//
// Errors are ConfirmSignUp's. An unknown address does the store work an
// account without a live code does (a code check in a write transaction,
// for a user nobody has) and answers as it does, ErrCodeExpired; reading
// a user that exists still costs a little more than finding none, so every
// call also takes at least confirmCodeFloor: neither answer nor time tells
// the two apart.
func (p *Pool) ConfirmSignUpCode(ctx context.Context, email, code string) (*store.User, error) {
	defer waitUntil(ctx, time.Now().Add(confirmCodeFloor))
	u, err := p.userForCode(ctx, email)
	if errors.Is(err, ErrWrongCode) {
		_, err := p.consumeCode(ctx, uuid.NewString(), PurposeVerifyEmail, code)
		if err == nil || errors.Is(err, ErrWrongCode) {
			err = ErrCodeExpired // cannot be: nobody has that id
		}
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	c, err := p.consumeCode(ctx, u.ID, PurposeVerifyEmail, code)
	if err != nil {
		return nil, err
	}
	if u.Status == store.StatusUnconfirmed {
		_, err := p.store.VerificationCode(ctx, u.ID, purposeContested)
		switch {
		case err == nil:
			// The right code, kept for the page that asks the password
			// too (tries and expiry as they were).
			if err := p.store.SaveVerificationCode(ctx, *c); err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
			return nil, ErrSignUpContested
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
	}
	up := store.UserUpdate{EmailVerified: ptrTo(true)}
	if u.Status == store.StatusUnconfirmed {
		up.Status = ptrTo(store.StatusConfirmed)
	}
	if err := p.store.UpdateUser(ctx, u.ID, up); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrCodeExpired
		}
		return nil, err
	}
	return p.User(ctx, u.ID)
}

// confirmCodeFloor is the least time ConfirmSignUpCode takes: well above
// its store work (two or three small queries), so that the time says
// nothing of the account; no argon2id hash evens it out as it does the
// hosted pages' confirmation.
const confirmCodeFloor = 5 * time.Millisecond

// waitUntil returns at t, or when ctx ends.
func waitUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
}

// SetupSecret returns the authenticator-app secret an MFA_SETUP challenge
// session of client is setting up (Cognito's AssociateSoftwareToken with a
// Session), without answering it. A session that is not an app's set-up
// is ErrChallengeExpired.
func (p *Pool) SetupSecret(ctx context.Context, client, session string) (string, error) {
	s, u, err := p.openSession(ctx, client, session)
	if err != nil {
		return "", err
	}
	if err := p.spent(ctx, s); err != nil {
		return "", err
	}
	if s.Name != ChallengeMFASetup || s.Factor == "" || s.Factor == emailSetup {
		return "", ErrChallengeExpired
	}
	e, err := p.PendingTOTP(ctx, u, s.Factor)
	if err != nil {
		return "", ErrChallengeExpired
	}
	return e.Secret, nil
}

// DeleteAccountWithToken is Cognito's DeleteUser: the user's access token,
// checked by the caller, is the proof (Cognito asks nothing more). Like
// DeleteOwnAccount it needs a pool that lets users delete themselves.
func (p *Pool) DeleteAccountWithToken(ctx context.Context, userID string) error {
	if !p.acct.AllowDelete {
		return ErrDeleteNotAllowed
	}
	if err := p.deleteUser(ctx, userID, "self"); err != nil {
		return err
	}
	return p.store.RevokeUserRefreshTokens(ctx, userID)
}
