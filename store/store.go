// Package store defines the persistence seam of Gatehouse: one Store interface
// of whole operations, each its own transaction, implemented by the backends in
// the subpackages (store/sqlite today) and held to one conformance suite in
// store/storetest.
//
// The store knows nothing of a pool's rules: it does not hash passwords, check
// policies or decide who may sign in. It only keeps what it is given, safely.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors every backend returns for the same conditions, so callers can tell
// them apart with errors.Is without knowing which backend is in use.
var (
	// ErrNotFound means the user, key or other record asked for does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict means a unique value (a user's email or id, a key id) is taken.
	ErrConflict = errors.New("store: already exists")
	// ErrTokenReused means a refresh token that was already exchanged was
	// presented again: its whole family has been revoked.
	ErrTokenReused = errors.New("store: refresh token reused")
	// ErrUnavailable means the store could not answer in time: the
	// operation's deadline passed, the database refused the connection, or
	// (SQLite) another process held the lock for longer than the deadline.
	// The operation may or may not have taken effect; the error wraps the
	// cause. Callers answer "try again shortly", not "something broke".
	ErrUnavailable = errors.New("store: unavailable")
)

// User status values, mirroring Cognito's user statuses.
const (
	StatusConfirmed           = "CONFIRMED"
	StatusUnconfirmed         = "UNCONFIRMED"
	StatusForceChangePassword = "FORCE_CHANGE_PASSWORD"
	StatusResetRequired       = "RESET_REQUIRED"
)

// User is one account of a pool. ID is the stable subject (`sub`) and never
// changes; Email is stored lower-cased by the pool and is unique per store.
type User struct {
	ID            string
	Email         string
	EmailVerified bool
	Name          string
	// PasswordHash is a PHC-format string (for example argon2id); empty for a
	// user who has no password (federated only).
	PasswordHash string
	Status       string
	Enabled      bool
	// Attributes holds the other standard and custom attributes by name
	// ("given_name", "custom:tenant"). Never nil on a user read from a store.
	Attributes map[string]string
	// Groups is filled on read in precedence order, as Cognito's
	// cognito:groups claim lists them: lowest Group.Precedence first,
	// groups without one after, ties by name (byte order). CreateUser
	// ignores it.
	Groups []string
	// Identities are the user's links to outside providers, filled on
	// every read (oldest first, empty for none) from the same snapshot as
	// the row, so that whoever mints the user's tokens has them without
	// another query. CreateUser ignores it.
	Identities []Identity
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// ListOptions pages through users in a stable order (by email).
type ListOptions struct {
	// After is the email to start after; empty starts at the beginning.
	After string
	// Limit caps the number returned; 0 means a backend default of 100.
	Limit int
}

// Revocation is one entry of a pool's deny list. Exactly one of SessionID and
// UserID is set: a SessionID revokes that one session (sign-out); a UserID
// revokes every session of that user issued before At (sign out everywhere,
// disable, password change).
type Revocation struct {
	SessionID string
	UserID    string
	// At is when the revocation was made; for a user revocation, sessions
	// issued at or before At are invalid.
	At time.Time
	// Expires is when the entry may be forgotten: no session it could match
	// outlives it. A zero Expires never expires: forgetting an entry too
	// early would bring a session back, keeping it too long costs a row.
	Expires time.Time
}

// AccessTokenRevocationID is the Revocation.SessionID that revokes one access
// token, by its jti: a namespace of its own, so it can never name a session
// (whose ids hold no ':'). The pool writes it at /oauth2/revoke; the deny
// list's Revoked takes it in place of a session id wherever a bearer token
// is checked.
func AccessTokenRevocationID(jti string) string { return "access_token:" + jti }

// Key is named secret material kept by the store so that every instance on the
// same store, and every restart, uses the same keys.
type Key struct {
	// Kind groups keys by purpose, for example "cookie" or "es256".
	Kind string
	// ID is unique per kind (for signing keys, the `kid`).
	ID string
	// Material is the secret itself, opaque to the store.
	Material []byte
	// CreatedAt orders keys; a zero CreatedAt is set by the store to its now.
	CreatedAt time.Time
	// NotAfter, when set, is when the key stops being used at all.
	NotAfter time.Time
}

// Client is an OAuth 2.0 app client kept in the store (clients written in
// the Caddyfile are configuration and never stored).
type Client struct {
	ID   string
	Name string
	// SecretHash is a hash of the client secret, opaque to the store; empty
	// for a public client.
	SecretHash string
	// SecretSealed is the secret itself, sealed by the pool (keyed
	// hashes such as Cognito's SECRET_HASH need it), opaque to the store;
	// empty for a public client and for one made before secrets were
	// sealed (its secret is then the hash alone).
	SecretSealed []byte
	Public       bool
	// RedirectURIs are matched exactly.
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	// Scopes the client may ask for.
	Scopes []string
	// GrantTypes the client may use: authorization_code, refresh_token,
	// client_credentials.
	GrantTypes      []string
	IDTokenTTL      time.Duration
	AccessTokenTTL  time.Duration
	RefreshTokenTTL time.Duration
	// RefreshTokenRotation is "on" (each refresh retires the token
	// presented and returns the next), "off" (no new token: the same one
	// keeps working, as Cognito's do) or "" for the provider's default.
	RefreshTokenRotation string
	// RefreshTokenGrace is, with rotation on, how long a just-retired token
	// may be presented again; zero means the provider's default, a
	// negative value none.
	RefreshTokenGrace time.Duration
	CreatedAt         time.Time
}

// AuthCode is a one-time authorization code, kept under a hash of its value
// so that a copy of the database gives no usable codes.
type AuthCode struct {
	Hash                string
	ClientID            string
	UserID              string
	RedirectURI         string
	Scope               string
	Nonce               string
	CodeChallenge       string
	CodeChallengeMethod string
	SessionID           string
	AuthTime            time.Time
	AMR                 []string
	Expires             time.Time
}

// RefreshToken is one link of a rotation chain (a family), kept under a hash
// of its value. Each exchange retires the token and issues the next one of
// the same family; presenting a retired token again revokes the family,
// unless it comes within the token's Grace of its retirement.
type RefreshToken struct {
	Hash      string
	FamilyID  string
	ClientID  string
	UserID    string
	Scope     string
	SessionID string
	AuthTime  time.Time
	AMR       []string
	IssuedAt  time.Time
	// Expires is when this token stops working.
	Expires time.Time
	// Grace is how long after its retirement this token may be exchanged
	// again (by a concurrent request of its holder that lost the race)
	// without counting as reuse; zero: never. Fixed when it is issued.
	Grace time.Duration
}

// Store is everything Gatehouse keeps. Each method is one transaction: it
// either happens completely or not at all. Implementations are safe for
// concurrent use by many goroutines and by several processes on one database.
type Store interface {
	// CreateUser inserts u (ID, Email, and the rest but Groups). It returns
	// ErrConflict if the ID or the email is taken. CreatedAt and UpdatedAt
	// are set by the store.
	CreateUser(ctx context.Context, u *User) error
	// UserByID returns the user with that id, or ErrNotFound.
	UserByID(ctx context.Context, id string) (*User, error)
	// UserByEmail returns the user with that (already normalized) email, or
	// ErrNotFound.
	UserByEmail(ctx context.Context, email string) (*User, error)
	// ListUsers returns users ordered by email.
	ListUsers(ctx context.Context, opts ListOptions) ([]*User, error)
	// UpdatePassword replaces a user's password hash and status, and
	// deletes the user's SRP verifier (made from the old password) in the
	// same transaction; ErrNotFound for an unknown user.
	UpdatePassword(ctx context.Context, userID, hash, status string) error
	// SetEnabled enables or disables a user; ErrNotFound for an unknown user.
	SetEnabled(ctx context.Context, userID string, enabled bool) error
	// DeleteUser removes a user, their group memberships and identities; ErrNotFound
	// for an unknown user. The user's revocations stay.
	DeleteUser(ctx context.Context, userID string) error

	// AddToGroup makes the user a member of group, creating the group
	// (no description or precedence) if none has that name; adding twice
	// is not an error. It returns ErrNotFound if the user does not exist.
	AddToGroup(ctx context.Context, userID, group string) error
	// RemoveFromGroup ends a membership; removing a non-member is not an error.
	RemoveFromGroup(ctx context.Context, userID, group string) error

	// Revoke adds an entry to the deny list.
	Revoke(ctx context.Context, r Revocation) error
	// RevocationsSince returns the entries made at or after since that have
	// not expired (Expires after the store's now, or zero), oldest first. A
	// zero since returns them all.
	RevocationsSince(ctx context.Context, since time.Time) ([]Revocation, error)
	// PurgeRevocations forgets entries whose Expires is before now.
	PurgeRevocations(ctx context.Context, now time.Time) error

	// Keys returns the keys of one kind, newest first.
	Keys(ctx context.Context, kind string) ([]Key, error)
	// AddKey stores a new key; it returns ErrConflict if kind+ID exists.
	AddKey(ctx context.Context, k Key) error
	// DeleteKey removes a key (a rotated-out cookie key); ErrNotFound if
	// kind+ID does not exist.
	DeleteKey(ctx context.Context, kind, id string) error

	// CreateClient stores an app client; ErrConflict if the ID is taken.
	// CreatedAt is set by the store.
	CreateClient(ctx context.Context, c *Client) error
	// ClientByID returns a client, or ErrNotFound.
	ClientByID(ctx context.Context, id string) (*Client, error)
	// ListClients returns every stored client, ordered by ID.
	ListClients(ctx context.Context) ([]*Client, error)
	// DeleteClient removes a client with its codes and refresh tokens;
	// ErrNotFound for an unknown client.
	DeleteClient(ctx context.Context, id string) error
	// SetClientSecret replaces a confidential client's secret (its hash
	// and sealed form); ErrNotFound for an unknown or public client.
	SetClientSecret(ctx context.Context, id, secretHash string, sealed []byte) error

	// SaveAuthCode stores a new code; ErrConflict if the hash exists. Codes,
	// like refresh tokens, are expired once now reaches Expires, which is
	// required.
	SaveAuthCode(ctx context.Context, c AuthCode) error
	// ConsumeAuthCode returns the code with that hash and deletes it, in one
	// transaction, so that of any number of concurrent callers exactly one
	// gets it. ErrNotFound if it is unknown, already used, or expired at now.
	ConsumeAuthCode(ctx context.Context, hash string, now time.Time) (*AuthCode, error)

	// SaveRefreshToken stores the first token of a new family; ErrConflict
	// if the hash or the family exists (a revoked family never comes back).
	SaveRefreshToken(ctx context.Context, t RefreshToken) error
	// RotateRefreshToken retires the token with hash old and stores next
	// (which must carry old's FamilyID), in one transaction, returning old.
	// Of concurrent callers presenting the same token exactly one retires
	// it; the others succeed only within old's Grace of its retirement
	// (each storing its next as another live token of the family, old's
	// retirement time unchanged). If old was retired before and its grace
	// is over, or its family is revoked, the whole family is revoked and
	// ErrTokenReused returned, whatever else holds (reuse is checked first,
	// even for an expired token or a next of another family); ErrNotFound if
	// old is unknown, revoked or expired at now.
	RotateRefreshToken(ctx context.Context, old string, next RefreshToken, now time.Time) (*RefreshToken, error)
	// RefreshTokenByHash returns a token that may be exchanged at now (live,
	// or retired within its Grace with its family not revoked; not expired),
	// or ErrNotFound.
	RefreshTokenByHash(ctx context.Context, hash string, now time.Time) (*RefreshToken, error)
	// RevokeRefreshFamily revokes every token of a family; revoking an
	// unknown family is not an error.
	RevokeRefreshFamily(ctx context.Context, familyID string) error
	// RevokeUserRefreshTokens revokes every refresh token of a user.
	RevokeUserRefreshTokens(ctx context.Context, userID string) error

	// UpdateUser applies up to the user in one transaction and bumps
	// UpdatedAt; ErrNotFound for an unknown user, ErrConflict if up.Email
	// belongs to another user.
	UpdateUser(ctx context.Context, userID string, up UserUpdate) error

	// SaveVerificationCode stores c, replacing the user's code of the same
	// purpose (tries and all); ErrNotFound for an unknown user. A user's
	// codes go with the user when it is deleted.
	SaveVerificationCode(ctx context.Context, c VerificationCode) error
	// VerificationCode returns the user's code of that purpose, expired
	// or not, or ErrNotFound.
	VerificationCode(ctx context.Context, userID, purpose string) (*VerificationCode, error)
	// ConsumeVerificationCode checks hash against the user's code of that
	// purpose in one transaction, so that of concurrent callers at most one
	// succeeds and no more than maxAttempts tries are ever counted. A match
	// deletes the code and returns it. A mismatch counts a try, deletes the
	// code once Attempts reaches maxAttempts, and returns ErrCodeMismatch
	// with the code as it now is. No code, or one expired at now, gives
	// ErrNotFound and counts nothing.
	ConsumeVerificationCode(ctx context.Context, userID, purpose, hash string, maxAttempts int, now time.Time) (*VerificationCode, error)
	// DeleteVerificationCode removes the user's code of that purpose;
	// deleting none is not an error.
	DeleteVerificationCode(ctx context.Context, userID, purpose string) error

	// MFAStore keeps second factors, recovery codes and failed sign-ins
	// (mfa.go).
	MFAStore
	// RateStore counts requests for limits shared by instances
	// (ratelimit.go).
	RateStore

	// AuditStore keeps the audit trail of account security (audit.go).
	AuditStore

	// IdentityStore keeps the links to outside identity providers
	// (identities.go).
	IdentityStore

	// SRPStore keeps the users' SRP verifiers (srp.go).
	SRPStore

	// GroupStore keeps groups with their fields, and searches users
	// (groups.go).
	GroupStore

	// ImportStore writes users in bulk (importing.go).
	ImportStore

	// AliasStore finds users by username or verified phone number
	// (aliases.go).
	AliasStore

	// Close releases the store's connections.
	Close() error
}

// Sharing is what a backend says of who uses one of its stores at once.
// State that server instances must hold as one (the hosted pages' per-IP
// throttle) goes in a store that instances on several hosts share; with a
// store of one host it stays in memory, where it costs no write.
type Sharing interface {
	// SharedAcrossHosts reports whether server instances on several
	// hosts may use the store at once (a database server), rather than
	// the processes of one host (a local file).
	SharedAcrossHosts() bool
}

// SharedAcrossHosts reports what s says of itself (see Sharing); a store
// that says nothing is taken as one host's.
func SharedAcrossHosts(s Store) bool {
	sh, ok := s.(Sharing)
	return ok && sh.SharedAcrossHosts()
}
