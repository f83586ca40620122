package pool

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/trigger"
)

// Lazy migration (Cognito's user migration trigger). A sign-in with a
// password, or a forgotten password, for an address no user has asks the
// pool's user_migration hook about it; a user it returns is made then and
// there, and the sign-in goes on as if they had always been here. The
// hook's answer is trusted for the login asked and nothing else: the
// address it returns must be that login, it never replaces a user, and a
// refusal, failure or timeout is the sign-in's wrong password.

// The migration trigger's sources, as Cognito's triggerSource.
const (
	MigrationAuthentication = "UserMigration_Authentication"
	MigrationForgotPassword = "UserMigration_ForgotPassword"
)

// Audit event types of the migration trigger.
const (
	// AuditUserMigrated: the migration trigger vouched for a login and the
	// user was made (Detail "trigger": the source, "status").
	AuditUserMigrated = "user_migrated"
	// AuditUserMigrationFailed: the trigger was asked about a login and no
	// user came of it; Reason says why (denied, failed, invalid_response,
	// email_mismatch, no_user).
	AuditUserMigrationFailed = "user_migration_failed"
)

// Why a migration made no user.
const (
	migrationDenied        = "denied"
	migrationFailed        = "failed"
	migrationInvalid       = "invalid_response"
	migrationEmailMismatch = "email_mismatch"
	migrationNoUser        = "no_user"
)

// migrationRequest and migrationResponse are Cognito's request and
// response of the user migration trigger.
type migrationRequest struct {
	Password       string            `json:"password,omitempty"`
	ValidationData map[string]string `json:"validationData"`
	ClientMetadata map[string]string `json:"clientMetadata"`
}

type migrationResponse struct {
	UserAttributes         map[string]string `json:"userAttributes"`
	FinalUserStatus        string            `json:"finalUserStatus"`
	MessageAction          string            `json:"messageAction"`
	DesiredDeliveryMediums []string          `json:"desiredDeliveryMediums"`
	ForceAliasCreation     bool              `json:"forceAliasCreation"`
	EnableSMSMFA           bool              `json:"enableSMSMFA"`
}

// MigrationOn reports whether the pool asks a user migration hook about
// unknown logins.
func (p *Pool) MigrationOn() bool { return trigger.Configured(p.triggers, trigger.UserMigration) }

// migrated is what a migration came to: a user made with the password
// given (Created), a user somebody else's migration made meanwhile (the
// password must be checked against theirs), or none.
type migrated struct {
	User    *store.User
	Created bool
}

// migrate asks the migration hook about email (typed as login), with the
// password for a sign-in ("" for a reset), and makes the user it vouches
// for. The client and the app's data come from ctx (WithTriggerContext). pending is an UNCONFIRMED sign-up of the address, which a vouched
// user replaces (it proved nothing). A hook that says no, fails or answers
// nonsense gives a zero migrated and no error (audited); errors are the
// store's or the hasher's.
func (p *Pool) migrate(ctx context.Context, source, login, email, password string, pending *store.User) (migrated, error) {
	tc := triggerContextOf(ctx)
	req := migrationRequest{Password: password, ValidationData: tc.ValidationData, ClientMetadata: tc.ClientMetadata}
	if req.ValidationData == nil {
		req.ValidationData = map[string]string{}
	}
	if req.ClientMetadata == nil {
		req.ClientMetadata = map[string]string{}
	}
	ev := p.event(ctx, source, strings.TrimSpace(login), req, migrationResponse{})
	var resp migrationResponse
	if err := p.callTrigger(ctx, trigger.UserMigration, ev, &resp, pending, email); err != nil {
		reason := migrationFailed
		if te, ok := errors.AsType[*trigger.Error](err); ok {
			switch {
			case te.Denied:
				reason = migrationDenied
			case te.Invalid:
				reason = migrationInvalid
			}
		}
		p.migrationFailed(ctx, source, email, reason)
		return migrated{}, nil
	}
	u, reason := p.migratedUser(email, resp)
	if reason != "" {
		p.migrationFailed(ctx, source, email, reason)
		return migrated{}, nil
	}
	if password == "" || p.policy.CheckFor(password, email) != nil {
		// No password (a reset), or one this pool would not let anyone
		// choose: kept only until the user sets a new one by email.
		u.Status = store.StatusResetRequired
	}
	if password == "" {
		password = rand.Text() // a password nobody knows
	}
	hash, err := p.hasher.Hash(ctx, password)
	if err != nil {
		return migrated{}, err
	}
	u.PasswordHash = hash
	if pending != nil {
		if err := p.dropPending(ctx, pending, "migration"); err != nil && !errors.Is(err, store.ErrConflict) {
			return migrated{}, err
		}
	}
	if err := p.dropTakenAliases(ctx, u.Attributes); err != nil {
		return migrated{}, err
	}
	err = p.store.CreateUser(ctx, u)
	if errors.Is(err, store.ErrConflict) {
		// The same first sign-in, elsewhere, made the user meanwhile (or
		// someone signed up): theirs stands, never replaced.
		existing, lerr := p.store.UserByEmail(ctx, email)
		if lerr != nil {
			return migrated{}, mapNotFoundErr(lerr)
		}
		return migrated{User: existing}, nil
	}
	if err != nil {
		return migrated{}, err
	}
	if source == MigrationAuthentication {
		p.keepSRPVerifier(ctx, u, password)
	}
	p.audit(ctx, store.AuditEvent{Type: AuditUserMigrated, UserID: u.ID, Login: email,
		Detail: map[string]string{"trigger": source, "status": u.Status}})
	made, err := p.store.UserByID(ctx, u.ID)
	if err != nil {
		return migrated{}, mapNotFoundErr(err)
	}
	return migrated{User: made, Created: true}, nil
}

// migratedUser checks the hook's answer about email and turns it into the
// user to make, or says why not.
func (p *Pool) migratedUser(email string, resp migrationResponse) (*store.User, string) {
	if resp.UserAttributes == nil {
		return nil, migrationNoUser
	}
	if given, ok := resp.UserAttributes["email"]; ok {
		// Trusted for the login asked only: an answer about another
		// address would let the hook (or whoever forged its answer for
		// one login) take over any.
		norm, err := NormalizeEmail(given)
		if err != nil || norm != email {
			return nil, migrationEmailMismatch
		}
	}
	status := store.StatusConfirmed
	switch resp.FinalUserStatus {
	case "", store.StatusConfirmed:
	case store.StatusResetRequired:
		status = store.StatusResetRequired
	default:
		return nil, migrationInvalid
	}
	switch resp.MessageAction {
	case "", "SUPPRESS", "RESEND":
	default:
		return nil, migrationInvalid
	}
	for _, m := range resp.DesiredDeliveryMediums {
		if m != "EMAIL" && m != "SMS" {
			return nil, migrationInvalid
		}
	}
	name, attrs := p.mappedAttributes(resp.UserAttributes, nil)
	return &store.User{
		ID:            uuid.NewString(),
		Email:         email,
		EmailVerified: strings.EqualFold(strings.TrimSpace(resp.UserAttributes["email_verified"]), "true"),
		Name:          name,
		Status:        status,
		Enabled:       true,
		Attributes:    attrs,
	}, ""
}

func (p *Pool) migrationFailed(ctx context.Context, source, email, reason string) {
	p.audit(ctx, store.AuditEvent{Type: AuditUserMigrationFailed, Login: email, Reason: reason,
		Detail: map[string]string{"trigger": source}})
}
