package pool

import (
	"context"
	"errors"

	"github.com/gatehouse-auth/gatehouse/store"
)

// Errors of a federated sign-in and of linking, mapped to pages in one
// place by the callers.
var (
	// ErrFederatedNotAllowed: no user is linked to the identity and the
	// provider may not create one.
	ErrFederatedNotAllowed = errors.New("no account is linked to this sign-in")
	// ErrFederatedEmailTaken: a pool user has the provider's address and
	// automatic linking does not apply; the user signs in as before and
	// links the provider on the account page.
	ErrFederatedEmailTaken = errors.New("an account with this email address already exists")
	// ErrFederatedNoEmail: a new user needs an address the provider
	// asserts verified.
	ErrFederatedNoEmail = errors.New("the provider did not share a verified email address")
	// ErrIdentityLinked: the identity belongs to another user, or the
	// user has one of that provider already.
	ErrIdentityLinked = errors.New("this sign-in is already linked to an account")
	// ErrLastSignInMethod: unlinking would leave the user no way in.
	ErrLastSignInMethod = errors.New("this is the account's only way to sign in")
)

// Audit events of federation (Detail "provider"; sign-ins themselves are
// AuditSignIn with amr "fed").
const (
	AuditFederatedUserCreated = "federated_user_created"
	AuditIdentityLinked       = "identity_linked"
	AuditIdentityUnlinked     = "identity_unlinked"
	// AuditFederationFailed: a round trip to a provider ended without a
	// sign-in (Detail "provider" and "reason": denied, invalid, unavailable,
	// replayed, not_allowed, email_taken, no_email, ...).
	AuditFederationFailed = "federation_failed"
)

// FederationFailed records a failed round trip to provider; userID is ""
// when no user is known.
func (p *Pool) FederationFailed(ctx context.Context, provider, reason, userID string) {
	p.auditUser(ctx, AuditFederationFailed, userID, "provider", provider, "reason", reason)
}

// ExternalIdentity is who signed in at an outside provider, as a connector
// found it (federation.Identity, without the import).
type ExternalIdentity struct {
	Provider, ProviderType, Issuer, Subject string
	Email                                   string
	EmailVerified                           bool
	// Attributes are mapped pool attributes ("name", "given_name", ...).
	Attributes map[string]string
}

// FederatedAuth starts a sign-in with an identity an outside provider
// vouched for.
type FederatedAuth struct {
	Identity ExternalIdentity
	// CreateUsers lets a first sign-in create the user (status
	// EXTERNAL_PROVIDER); LinkByEmail links it to the confirmed user of
	// the provider's verified address instead.
	CreateUsers, LinkByEmail bool
	// Client binds the challenge sessions (as PasswordAuth.Client).
	Client string
	Device *RememberedDevice
}

// InitiateFederatedAuth finds, links or creates the pool user of a.Identity
// and returns the first step: done, or a second factor the user has.
func (p *Pool) InitiateFederatedAuth(ctx context.Context, a FederatedAuth) (*AuthStep, error) {
	return nil, errors.ErrUnsupported // built in issue 16's store-and-pool part
}

// LinkIdentity links id to u (the account page, after fresh proof; the CLI).
func (p *Pool) LinkIdentity(ctx context.Context, u *store.User, id ExternalIdentity) error {
	return errors.ErrUnsupported
}

// UnlinkIdentity removes u's identity of provider.
func (p *Pool) UnlinkIdentity(ctx context.Context, u *store.User, provider string) error {
	return errors.ErrUnsupported
}

// Identities returns the user's linked identities.
func (p *Pool) Identities(ctx context.Context, userID string) ([]store.Identity, error) {
	return nil, errors.ErrUnsupported
}
