package store

import (
	"crypto/subtle"
	"errors"
	"time"
)

// ErrCodeMismatch means a verification code was presented that is not the
// user's live code: the try was counted (see ConsumeVerificationCode).
var ErrCodeMismatch = errors.New("store: code does not match")

// StatusDisabled is shown for a user whose Enabled is false, whatever their
// stored Status. It is never stored: enabling the user again brings back
// the status they had.
const StatusDisabled = "DISABLED"

// UserUpdate lists the changes UpdateUser makes; nil fields and empty maps
// and lists change nothing.
type UserUpdate struct {
	Email         *string
	EmailVerified *bool
	Name          *string
	Status        *string
	// SetAttributes are merged into the user's attributes, replacing
	// values of the same name.
	SetAttributes map[string]string
	// DeleteAttributes are removed from the user's attributes; deleting a
	// name the user does not have is not an error. A name both set and
	// deleted is deleted.
	DeleteAttributes []string
}

// VerificationCode is a one-time code mailed to a user, kept under a hash
// of its value, with the tries made at it. A user has at most one code per
// purpose; saving another replaces it. A code of a purpose that carries no
// secret (Hash empty) records a deadline only: how long a temporary
// password is good for.
type VerificationCode struct {
	UserID string
	// Purpose is what the code is for, chosen by the pool
	// ("verify_email", "reset_password", "change_email", ...).
	Purpose string
	// Hash is a hash of the code, opaque to the store.
	Hash string
	// Target is what the code confirms when it is not already the user's:
	// the new address of an email change. May be empty.
	Target string
	// Attempts counts wrong codes presented so far.
	Attempts int
	// SentAt is when the code was last sent; zero if sending failed, so
	// that the user may ask again at once.
	SentAt time.Time
	// Expires is when the code stops working; required.
	Expires time.Time
}

// SameHash reports whether a presented code's hash is the stored one, in
// constant time, so that how long a refusal takes says nothing about the
// stored hash. An empty stored hash (a deadline-only record) never matches.
func SameHash(stored, presented string) bool {
	return stored != "" && subtle.ConstantTimeCompare([]byte(stored), []byte(presented)) == 1
}
