package store

import (
	"context"
	"time"
)

// SRPVerifier is what a pool keeps of a user's password for Cognito's
// USER_SRP_AUTH: the salt and verifier, sealed by the pool (the store
// keeps the bytes as given). A user has at most one.
type SRPVerifier struct {
	UserID string
	// Sealed is the pool's sealed salt and verifier, opaque to the store.
	Sealed []byte
	// PasswordHash is the password the verifier was made from, as the
	// user's PasswordHash: SaveSRPVerifier keeps the verifier only while
	// it is still the user's. It is not stored, and not read back.
	PasswordHash string
	CreatedAt    time.Time
}

// SRPStore keeps SRP verifiers. A user's verifier goes with the user when
// it is deleted, and with the password when it changes: UpdatePassword
// deletes it in the same transaction, so that no verifier of an old
// password outlives it.
type SRPStore interface {
	// SaveSRPVerifier stores v as the user's verifier, replacing any
	// (CreatedAt set by the store when zero), if v.PasswordHash is the
	// user's password hash; ErrConflict if it is not (the password
	// changed meanwhile), ErrNotFound for an unknown user.
	SaveSRPVerifier(ctx context.Context, v SRPVerifier) error
	// SRPVerifier returns the user's verifier, or ErrNotFound.
	SRPVerifier(ctx context.Context, userID string) (*SRPVerifier, error)
	// DeleteSRPVerifier removes the user's verifier; none is not an error.
	DeleteSRPVerifier(ctx context.Context, userID string) error
}
