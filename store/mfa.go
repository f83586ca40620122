package store

import (
	"context"
	"errors"
	"time"
)

// ErrStepUsed means a one-time password's time step was already accepted
// for that factor (or a later one was): the same code may not be used twice.
var ErrStepUsed = errors.New("store: one-time password already used")

// Factor kinds.
const (
	// FactorTOTP is a time-based one-time password app (RFC 6238).
	FactorTOTP = "totp"
	// FactorEmail is a one-time code mailed to the user's address at each
	// sign-in; it has no secret.
	FactorEmail = "email"
	// FactorWebAuthn is a passkey or security key (WebAuthn): ID is the
	// base64url credential ID, Secret the pool's record of its public key.
	FactorWebAuthn = "webauthn"
	// FactorSMS is a one-time code sent by SMS to the user's verified
	// phone_number at each sign-in; it has no secret and holds no number.
	FactorSMS = "sms"
)

// MFAFactor is a second factor a user enrolled. Only confirmed factors
// count at sign-in; an unconfirmed one is an enrolment in progress.
type MFAFactor struct {
	// ID is unique across the store, chosen by the pool.
	ID     string
	UserID string
	// Kind is one of the Factor* constants.
	Kind string
	// Name is the user's label for it ("Phone").
	Name string
	// Secret is the factor's key material (TOTP: the shared secret;
	// WebAuthn: the public key and flags), opaque to the store.
	Secret    []byte
	Confirmed bool
	// LastStep is the replay guard UseTOTPStep raises: the last TOTP time
	// step accepted, or for WebAuthn the pool's encoding of the last
	// signature counter (and ceremony) accepted; 0 before any.
	LastStep  int64
	CreatedAt time.Time
	// LastUsedAt is when a code of it was last accepted; zero before any.
	LastUsedAt time.Time
}

// SignInFailures is the record of failed sign-ins for one login (the
// normalized email as typed, whether or not a user has it, so that locking
// out says nothing about which accounts exist).
type SignInFailures struct {
	Login string
	// Count is the failures since the record (re)started.
	Count int
	// LastAt is the latest failure.
	LastAt time.Time
	// LockedUntil, when after now, refuses sign-ins for the login.
	LockedUntil time.Time
}

// MFAStore is the part of Store that keeps second factors, recovery codes
// and failed sign-ins. Each method is one transaction.
type MFAStore interface {
	// AddMFAFactor stores f (CreatedAt set by the store when zero);
	// ErrNotFound for an unknown user, ErrConflict if f.ID is taken.
	AddMFAFactor(ctx context.Context, f MFAFactor) error
	// MFAFactors returns a user's factors, confirmed or not, oldest first;
	// none is an empty list, not an error.
	MFAFactors(ctx context.Context, userID string) ([]MFAFactor, error)
	// ConfirmMFAFactor marks the user's factor confirmed and raises its
	// LastStep to step, never lowering it (the code that confirmed it, and
	// any earlier one, may not be used again); ErrNotFound if the user has
	// no such factor.
	ConfirmMFAFactor(ctx context.Context, userID, factorID string, step int64) error
	// SetMFASecret replaces the key material of the user's factor,
	// nothing else (the pool sealing a secret stored before it sealed
	// them); ErrNotFound if the user has no such factor.
	SetMFASecret(ctx context.Context, userID, factorID string, secret []byte) error
	// DeleteMFAFactor removes one factor; ErrNotFound if the user has no
	// such factor.
	DeleteMFAFactor(ctx context.Context, userID, factorID string) error
	// DeleteMFA removes every factor and recovery code of the user (an
	// administrator's reset); having none is not an error.
	DeleteMFA(ctx context.Context, userID string) error
	// UseTOTPStep accepts step for a confirmed factor only if it is later
	// than the factor's LastStep, setting LastStep to it and LastUsedAt to
	// at; otherwise ErrStepUsed. Of concurrent callers with one step, at
	// most one succeeds. ErrNotFound if the user has no such confirmed
	// factor. It is the "must increase" guard of both kinds that have one:
	// a TOTP code's time step, and a WebAuthn signature counter (a counter
	// that does not rise is a cloned authenticator or a replay).
	UseTOTPStep(ctx context.Context, userID, factorID string, step int64, at time.Time) error

	// ReplaceRecoveryCodes makes hashes the user's only recovery codes,
	// all unused; ErrNotFound for an unknown user.
	ReplaceRecoveryCodes(ctx context.Context, userID string, hashes []string) error
	// UseRecoveryCode spends the user's unused code with that hash and
	// returns how many unused codes are left; ErrNotFound if none matches
	// (wrong, or already used). Of concurrent callers with one code, at
	// most one succeeds.
	UseRecoveryCode(ctx context.Context, userID, hash string) (left int, err error)
	// RecoveryCodesLeft counts the user's unused recovery codes.
	RecoveryCodesLeft(ctx context.Context, userID string) (int, error)

	// SignInFailures returns the login's record; a login without one gets
	// a zero record with Login set.
	SignInFailures(ctx context.Context, login string) (SignInFailures, error)
	// RecordSignInFailure counts one failure at now and returns the record
	// as it now is. A record whose LastAt is before now-window starts again
	// from a count of 1 (its LockedUntil is kept). Concurrent failures are
	// all counted. window must be positive.
	RecordSignInFailure(ctx context.Context, login string, now time.Time, window time.Duration) (SignInFailures, error)
	// LockSignIn sets the login's LockedUntil (creating the record, with a
	// Count of 0 and a zero LastAt, if need be); a zero until lifts the lock.
	LockSignIn(ctx context.Context, login string, until time.Time) error
	// ClearSignInFailures forgets the login's record; none is not an error.
	ClearSignInFailures(ctx context.Context, login string) error
	// PurgeSignInFailures forgets records whose LastAt and LockedUntil are
	// both before before (a zero one counts as before).
	PurgeSignInFailures(ctx context.Context, before time.Time) error
}
