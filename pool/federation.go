package pool

import (
	"context"
	"errors"
	"maps"
	"strings"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/trigger"
)

// Federation: users who sign in at an outside provider (Google, a SAML
// IdP, ...). A connector (package federation) checks the provider's answer;
// InitiateFederatedAuth finds, links or creates the pool user it names and
// starts the same sign-in machine a password does, so that second factors,
// remembered devices, the audit and the amr apply alike:
//
//	linked (provider, subject) ........................ that user
//	not linked, LinkByEmail, the provider verified the
//	  address, a CONFIRMED user with it (verified too) . linked to that user
//	not linked, CreateUsers, the provider verified the
//	  address, nobody has it (or an UNCONFIRMED sign-up) a new EXTERNAL_PROVIDER user
//	otherwise ......................................... refused
//	then: disabled -> ErrUserDisabled; mapped attributes refreshed;
//	      a factor -> its challenge (remembered device honoured), else done, amr ["fed"]
//
// Decisions, and why:
//
//   - An address is trusted only when the provider asserts it verified:
//     linking or creating on an unverified one hands an account to whoever
//     typed it at the provider. A pool user is linked to only when they are
//     CONFIRMED with a verified address, so that the pool account's owner
//     is known to hold the address too.
//   - An UNCONFIRMED pool user of the address (a sign-up nobody confirmed,
//     perhaps an attacker's pre-account) is replaced, never linked: as a
//     later sign-up replaces it. A disabled one is left alone.
//   - A provider never changes a native user's address; the address of an
//     EXTERNAL_PROVIDER user follows the provider's verified one while no
//     other user has it.
//   - `mfa required` does not make a federated user set up a factor at
//     sign-in (Cognito does not either): the provider authenticated them.
//     A user who has a factor (set up on the account page, or a native
//     user with a linked provider) is asked for it as after a password.
//   - The per-login lockout guards what can be guessed: it does not stop
//     a sign-in the provider vouched for, but does count the second
//     factor's codes after it, as after a password.
//   - A user without a password (EXTERNAL_PROVIDER) who tries one fails
//     as a wrong password does, after the same hashing (SignIn verifies
//     the stand-in hash); ForgotPassword mails them nothing and says
//     nothing (no account is told apart), so no password can be added
//     through a reset.

// AMRFederated is the amr (RFC 8176) of a sign-in at an outside provider.
const AMRFederated = "fed"

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
	// ErrIdentityNotLinked: the user has no identity of that provider.
	ErrIdentityNotLinked = errors.New("no sign-in of this provider is linked to the account")
	// ErrInvalidIdentity: an identity without a provider or a subject.
	ErrInvalidIdentity = errors.New("an identity needs a provider and a subject")
)

// Audit events of federation (Detail "provider"; sign-ins themselves are
// AuditSignIn with amr "fed").
const (
	// AuditFederatedUserCreated: a first sign-in created the user.
	AuditFederatedUserCreated = "federated_user_created"
	// AuditIdentityLinked and AuditIdentityUnlinked: an identity was
	// linked or unlinked (Detail "by": "email" when a sign-in linked it
	// by its verified address).
	AuditIdentityLinked   = "identity_linked"
	AuditIdentityUnlinked = "identity_unlinked"
	// AuditFederationFailed: a round trip to a provider ended without a
	// sign-in (Detail "provider" and "reason": denied, invalid, unavailable,
	// replayed, not_allowed, email_taken, no_email, user_disabled,
	// identity_linked, ...).
	AuditFederationFailed = "federation_failed"
)

// Reasons of AuditFederationFailed that InitiateFederatedAuth records.
const (
	FederationNotAllowed   = "not_allowed"
	FederationEmailTaken   = "email_taken"
	FederationNoEmail      = "no_email"
	FederationUserDisabled = reasonUserDisabled
	FederationLinked       = "identity_linked"
)

// FederationFailed records a failed round trip to provider; userID is ""
// when no user is known. InitiateFederatedAuth records its own refusals:
// callers record only what failed before it (the connector's errors).
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
	// Names that are not pool attributes (standard or custom:) and values
	// the attribute's format refuses are dropped.
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
// and returns the first step: done (Authentication.Method "federated", amr
// ["fed"]), or a second factor the user has. Every outcome is audited here:
// a refusal as AuditFederationFailed, a sign-in as AuditSignIn.
//
// Errors: ErrUserDisabled, ErrFederatedNotAllowed, ErrFederatedNoEmail,
// ErrFederatedEmailTaken, ErrIdentityLinked (linking by address found the
// user linked to another subject of the provider), ErrInvalidIdentity, the
// store's.
func (p *Pool) InitiateFederatedAuth(ctx context.Context, a FederatedAuth) (*AuthStep, error) {
	id := a.Identity
	if id.Provider == "" || id.Subject == "" {
		return nil, ErrInvalidIdentity
	}
	// An address the pool cannot keep is no address.
	email, err := NormalizeEmail(id.Email)
	verified := err == nil && id.EmailVerified
	if err != nil {
		email = ""
	}

	u, err := p.store.UserByIdentity(ctx, id.Provider, id.Subject)
	if err == nil {
		return p.federatedSignIn(ctx, a, u, email, verified)
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}

	if a.LinkByEmail && verified {
		step, done, err := p.linkByEmail(ctx, a, email)
		if done {
			return step, err
		}
	}
	if !a.CreateUsers {
		p.FederationFailed(ctx, id.Provider, FederationNotAllowed, "")
		return nil, ErrFederatedNotAllowed
	}
	if !verified {
		p.FederationFailed(ctx, id.Provider, FederationNoEmail, "")
		return nil, ErrFederatedNoEmail
	}
	return p.createFederated(ctx, a, email)
}

// linkByEmail links a.Identity to the confirmed user of email, if there
// is one, and signs them in; done is false when there is none to link to.
func (p *Pool) linkByEmail(ctx context.Context, a FederatedAuth, email string) (_ *AuthStep, done bool, _ error) {
	id := a.Identity
	u, err := p.store.UserByEmail(ctx, email)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, false, nil
	case err != nil:
		return nil, true, err
	case u.Status != store.StatusConfirmed || !u.EmailVerified:
		return nil, false, nil
	case !u.Enabled:
		p.FederationFailed(ctx, id.Provider, FederationUserDisabled, u.ID)
		return nil, true, ErrUserDisabled
	}
	err = p.store.LinkIdentity(ctx, storeIdentity(u.ID, id, false))
	switch {
	case errors.Is(err, store.ErrConflict):
		// The same sign-in, elsewhere, linked it a moment ago; else the
		// user has another identity of this provider.
		if lu, lerr := p.store.UserByIdentity(ctx, id.Provider, id.Subject); lerr == nil {
			step, err := p.federatedSignIn(ctx, a, lu, email, true)
			return step, true, err
		}
		p.FederationFailed(ctx, id.Provider, FederationLinked, u.ID)
		return nil, true, ErrIdentityLinked
	case errors.Is(err, store.ErrNotFound):
		return nil, false, nil // deleted meanwhile
	case err != nil:
		return nil, true, err
	}
	p.audit(ctx, store.AuditEvent{Type: AuditIdentityLinked, UserID: u.ID, Login: u.Email,
		Detail: map[string]string{"provider": id.Provider, "by": "email"}})
	if u, err = p.store.UserByID(ctx, u.ID); err != nil {
		return nil, true, mapNotFoundErr(err)
	}
	step, err := p.federatedSignIn(ctx, a, u, email, true)
	return step, true, err
}

// createFederated makes the EXTERNAL_PROVIDER user of a.Identity, whose
// verified address is email, and signs them in.
func (p *Pool) createFederated(ctx context.Context, a FederatedAuth, email string) (*AuthStep, error) {
	id := a.Identity
	name, attrs := p.mappedAttributes(id.Attributes, nil)
	// As Cognito: a first federated sign-in is a sign-up, which the pre
	// sign-up hook may refuse (its user name is Cognito's provider_subject).
	if _, err := p.preSignUp(ctx, trigger.SourcePreSignUpExternalProvider, id.Provider+"_"+id.Subject, email, name, attrs); err != nil {
		return nil, err
	}
	for range 3 {
		existing, err := p.store.UserByEmail(ctx, email)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return nil, err
		case existing.Status == store.StatusUnconfirmed && existing.Enabled:
			// A sign-up nobody confirmed proves nothing: whoever made it
			// keeps nothing once the address's owner comes.
			if err := p.dropPending(ctx, existing, "federated sign-in"); err != nil && !errors.Is(err, store.ErrConflict) {
				return nil, err
			}
		default:
			// The same first sign-in, elsewhere, may have made this user
			// since the identity was looked up: sign in as its user.
			if lu, lerr := p.store.UserByIdentity(ctx, id.Provider, id.Subject); lerr == nil {
				return p.federatedSignIn(ctx, a, lu, email, true)
			}
			p.FederationFailed(ctx, id.Provider, FederationEmailTaken, "")
			return nil, ErrFederatedEmailTaken
		}
		if err := p.dropTakenAliases(ctx, attrs); err != nil {
			return nil, err
		}
		u := &store.User{
			ID:            uuid.NewString(),
			Email:         email,
			EmailVerified: true,
			Name:          name,
			Status:        store.StatusExternalProvider,
			Enabled:       true,
			Attributes:    attrs,
		}
		err = p.store.CreateUserWithIdentity(ctx, u, storeIdentity(u.ID, id, true))
		if errors.Is(err, store.ErrConflict) {
			// The same first sign-in, elsewhere, won: sign in as its user.
			if lu, lerr := p.store.UserByIdentity(ctx, id.Provider, id.Subject); lerr == nil {
				return p.federatedSignIn(ctx, a, lu, email, true)
			}
			continue // the address changed hands meanwhile: look again
		}
		if err != nil {
			return nil, err
		}
		p.audit(ctx, store.AuditEvent{Type: AuditFederatedUserCreated, UserID: u.ID, Login: email,
			Detail: map[string]string{"provider": id.Provider}})
		created, err := p.store.UserByID(ctx, u.ID)
		if err != nil {
			return nil, mapNotFoundErr(err)
		}
		return p.federatedSignIn(ctx, a, created, email, true)
	}
	p.FederationFailed(ctx, id.Provider, FederationEmailTaken, "")
	return nil, ErrFederatedEmailTaken
}

// federatedSignIn signs in u, linked to a.Identity: refused when disabled,
// attributes refreshed, then their second factor or done.
func (p *Pool) federatedSignIn(ctx context.Context, a FederatedAuth, u *store.User, email string, verified bool) (*AuthStep, error) {
	if !u.Enabled {
		p.FederationFailed(ctx, a.Identity.Provider, FederationUserDisabled, u.ID)
		return nil, ErrUserDisabled
	}
	// As Cognito asks it of federated users: once the provider has named
	// the user, before anything of theirs is refreshed.
	if err := p.preAuthentication(ctx, u, u.Email); err != nil {
		p.auditSignIn(ctx, u, u.Email, err)
		return nil, err
	}
	u, err := p.refreshAttributes(ctx, u, a.Identity, email, verified)
	if err != nil {
		return nil, err
	}
	hasFactor, _, err := p.NeedsMFA(ctx, u)
	if err != nil {
		return nil, err
	}
	switch {
	case hasFactor && p.remembered(ctx, u, a.Device):
		return p.authenticated(ctx, u, []string{AMRFederated, AMRMFA}, "remembered_device", nil)
	case hasFactor:
		return p.secondFactor(ctx, a.Client, session{Flow: FlowSignIn, First: AMRFederated}, u, mailIfOnly)
	}
	return p.authenticated(ctx, u, []string{AMRFederated}, "federated", nil)
}

// refreshAttributes writes what the provider now says of u, where it
// differs: the mapped attributes, and for an EXTERNAL_PROVIDER user the
// verified address unless another user has it. It returns u as stored.
func (p *Pool) refreshAttributes(ctx context.Context, u *store.User, id ExternalIdentity, email string, verified bool) (*store.User, error) {
	name, attrs := p.mappedAttributes(id.Attributes, u.Attributes)
	var up store.UserUpdate
	if name != "" && name != u.Name {
		up.Name = &name
	}
	for k, v := range attrs {
		if u.Attributes[k] != v {
			if up.SetAttributes == nil {
				up.SetAttributes = map[string]string{}
			}
			up.SetAttributes[k] = v
		}
	}
	if u.Status == store.StatusExternalProvider && verified && email != u.Email {
		up.Email, up.EmailVerified = &email, ptrTo(true)
	}
	if up.SetAttributes != nil {
		// An alias another account has stays as it is here.
		taken := maps.Clone(up.SetAttributes)
		if err := p.dropTakenAliases(ctx, taken); err != nil {
			return nil, err
		}
		for _, k := range []string{AttrUsername, AttrPhoneVerified} {
			if _, ok := taken[k]; !ok {
				delete(up.SetAttributes, k)
			}
		}
		if len(up.SetAttributes) == 0 {
			up.SetAttributes = nil
		}
	}
	if up.Name == nil && up.SetAttributes == nil && up.Email == nil {
		return u, nil
	}
	err := p.store.UpdateUser(ctx, u.ID, up)
	if errors.Is(err, store.ErrConflict) && up.Email != nil {
		// Another user has the new address: keep the old one.
		up.Email, up.EmailVerified = nil, nil
		err = nil
		if up.Name != nil || up.SetAttributes != nil {
			err = p.store.UpdateUser(ctx, u.ID, up)
		}
	}
	if err != nil {
		return nil, mapNotFoundErr(err)
	}
	if up.Email != nil {
		p.audit(ctx, store.AuditEvent{Type: AuditEmailChanged, UserID: u.ID, Login: email,
			Detail: map[string]string{"from": u.Email, "by": "provider " + id.Provider}})
	}
	return mapNotFound(p.store.UserByID(ctx, u.ID))
}

// mappedAttributes sorts a provider's mapped attributes into the user's
// name and other attributes, dropping names that are no pool attribute,
// values the attribute's format refuses, and changes to an immutable
// attribute that has a value in current.
func (p *Pool) mappedAttributes(in, current map[string]string) (string, map[string]string) {
	name := ""
	out := map[string]string{}
	for k, v := range in {
		v = strings.TrimSpace(v)
		spec, ok := p.attributeSpec(k)
		if !ok || v == "" || spec.Check(v) != "" {
			continue
		}
		if spec.Immutable && current[k] != "" {
			continue
		}
		if k == "name" {
			name = v
			continue
		}
		out[k] = v
	}
	return name, out
}

// attributeSpec is the pool's spec of attribute name, or a plain one for a
// standard or custom attribute the pool does not configure.
func (p *Pool) attributeSpec(name string) (AttributeSpec, bool) {
	for _, a := range p.acct.Attributes {
		if a.Name == name {
			return a, true
		}
	}
	if _, ok := standardAttributes[name]; ok || customName.MatchString(name) {
		return AttributeSpec{Name: name}, true
	}
	return AttributeSpec{}, false
}

func storeIdentity(userID string, id ExternalIdentity, primary bool) store.Identity {
	return store.Identity{UserID: userID, Provider: id.Provider, ProviderType: id.ProviderType,
		Issuer: id.Issuer, Subject: id.Subject, Primary: primary}
}

// LinkIdentity links id to u (the account page, after fresh proof; the
// CLI). ErrIdentityLinked when the identity is another user's (or u's
// already) or u has one of that provider; ErrUserNotFound.
func (p *Pool) LinkIdentity(ctx context.Context, u *store.User, id ExternalIdentity) error {
	if id.Provider == "" || id.Subject == "" {
		return ErrInvalidIdentity
	}
	err := p.store.LinkIdentity(ctx, storeIdentity(u.ID, id, false))
	switch {
	case errors.Is(err, store.ErrConflict):
		p.FederationFailed(ctx, id.Provider, FederationLinked, u.ID)
		return ErrIdentityLinked
	case err != nil:
		return mapNotFoundErr(err)
	}
	p.audit(ctx, store.AuditEvent{Type: AuditIdentityLinked, UserID: u.ID, Login: u.Email,
		Detail: map[string]string{"provider": id.Provider}})
	return nil
}

// UnlinkIdentity removes u's identity of provider: ErrIdentityNotLinked
// when there is none; ErrLastSignInMethod when it is u's last identity and
// u has neither a password nor a passkey.
//
// Two unlinks of a user's last two identities at the same moment could
// both pass the check; the account page makes them one at a time, and an
// administrator can link one again.
func (p *Pool) UnlinkIdentity(ctx context.Context, u *store.User, provider string) error {
	cur, err := p.User(ctx, u.ID)
	if err != nil {
		return err
	}
	found := false
	for _, id := range cur.Identities {
		found = found || id.Provider == provider
	}
	if !found {
		return ErrIdentityNotLinked
	}
	if len(cur.Identities) == 1 && cur.PasswordHash == "" {
		fs, err := p.Factors(ctx, cur.ID)
		if err != nil {
			return err
		}
		passkey := false
		for _, f := range fs {
			passkey = passkey || f.Kind == store.FactorWebAuthn
		}
		if !passkey {
			return ErrLastSignInMethod
		}
	}
	err = p.store.UnlinkIdentity(ctx, cur.ID, provider)
	if errors.Is(err, store.ErrNotFound) {
		return ErrIdentityNotLinked
	}
	if err != nil {
		return err
	}
	p.audit(ctx, store.AuditEvent{Type: AuditIdentityUnlinked, UserID: cur.ID, Login: cur.Email,
		Detail: map[string]string{"provider": provider}})
	return nil
}

// Identities returns the user's linked identities, oldest first.
func (p *Pool) Identities(ctx context.Context, userID string) ([]store.Identity, error) {
	return p.store.Identities(ctx, userID)
}
