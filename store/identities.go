package store

import (
	"context"
	"time"
)

// StatusExternalProvider is the status of a user created by a first sign-in
// at an outside provider, as Cognito names it: the user has no password of
// the pool's and signs in through a linked identity.
const StatusExternalProvider = "EXTERNAL_PROVIDER"

// Identity links a pool user to their account at an outside provider
// (Cognito's "identities"). A provider's subject belongs to at most one
// user, and a user has at most one identity per provider.
type Identity struct {
	UserID string
	// Provider is the pool's name for the provider; ProviderType is
	// Cognito's type (Google, SignInWithApple, OIDC, SAML, ...).
	Provider     string
	ProviderType string
	// Issuer is the provider's issuer or SAML entity ID.
	Issuer string
	// Subject is the provider's stable id of the user.
	Subject string
	// Primary marks the identity the user was created from.
	Primary   bool
	CreatedAt time.Time
}

// IdentityStore keeps the links between pool users and outside identities.
type IdentityStore interface {
	// CreateUserWithIdentity inserts u (as CreateUser does) and its first
	// identity id (id.UserID is u.ID) in one transaction: ErrConflict if
	// the user's ID or email or the identity is taken.
	CreateUserWithIdentity(ctx context.Context, u *User, id Identity) error
	// LinkIdentity adds id to an existing user: ErrNotFound for an unknown
	// user, ErrConflict if the provider's subject is linked to any user or
	// the user has an identity of that provider already.
	LinkIdentity(ctx context.Context, id Identity) error
	// UnlinkIdentity removes the user's identity of that provider;
	// ErrNotFound if there is none.
	UnlinkIdentity(ctx context.Context, userID, provider string) error
	// UserByIdentity returns the user a provider's subject is linked to,
	// or ErrNotFound.
	UserByIdentity(ctx context.Context, provider, subject string) (*User, error)
	// Identities returns a user's identities, oldest first (none for an
	// unknown user).
	Identities(ctx context.Context, userID string) ([]Identity, error)
}
