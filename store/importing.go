package store

import (
	"context"
	"fmt"
)

// ImportedUser is one user of a bulk import with what hangs on them.
type ImportedUser struct {
	// User is written as CreateUser writes one, and besides: its Groups
	// (each group made, without description or precedence, if missing),
	// its Identities (UserID taken from User.ID), and its CreatedAt and
	// UpdatedAt when set (zero: the store's now).
	User *User
	// Factors are the user's second factors, written as they are (UserID
	// taken from User.ID; Secret opaque to the store, sealed by the pool).
	Factors []MFAFactor
}

// MaxImportBatch is the most users one ImportUsers call takes: a bound on
// how long one transaction holds the store's write lock.
const MaxImportBatch = 1000

// ImportConflictError says which user of an ImportUsers call holds a value
// another user of the store has (an email, an identity). It matches
// ErrConflict.
type ImportConflictError struct {
	// Index is the user's position in the call.
	Index int
	// What is the value taken: "email" or "identity <provider>".
	What string
}

func (e *ImportConflictError) Error() string {
	return fmt.Sprintf("user %d: %s belongs to another user", e.Index, e.What)
}

// Unwrap makes the error match ErrConflict.
func (e *ImportConflictError) Unwrap() error { return ErrConflict }

// ImportStore writes users in bulk (gatehouse users import).
type ImportStore interface {
	// ImportUsers writes up to MaxImportBatch users in one transaction.
	// A user whose ID is in the store already is skipped, left as it is:
	// a file imported twice changes nothing the second time. A user whose
	// email, or one of whose identities, belongs to another user (of the
	// store, or earlier in users) gives an *ImportConflictError and
	// nothing of the call is written. It returns the IDs it created, in
	// order.
	ImportUsers(ctx context.Context, users []ImportedUser) (created []string, err error)
}
