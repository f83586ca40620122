// Package transfer moves a pool's users in and out: `gatehouse users
// import` reads Cognito's user-import CSV or Gatehouse's own JSON Lines,
// `gatehouse users export` writes the latter. A file is read and checked
// whole before anything is written (Read*), then written in bounded
// batches (Import), so that a bad row costs nothing but its error and no
// transaction holds the store's write lock for long.
//
// The JSON Lines format: every line one JSON object. An optional first
// line is the Header; each other line holds exactly one of "group",
// "client" or "user" (GroupRecord, ClientRecord, UserRecord). Groups and
// clients may come in any order relative to users.
package transfer

import (
	"encoding/json"
	"time"
)

// FormatName and FormatVersion identify an export's header line.
const (
	FormatName    = "gatehouse-users"
	FormatVersion = 1
)

// Header is a JSON Lines file's first line.
type Header struct {
	Format     string    `json:"format"`
	Version    int       `json:"version"`
	Pool       string    `json:"pool,omitempty"`
	ExportedAt time.Time `json:"exported_at"`
	// Secrets, when present, says how the factors' secrets in the file
	// are sealed: AES-256-GCM under an argon2id key of a passphrase.
	Secrets *SecretsHeader `json:"secrets,omitempty"`
}

// SecretsHeader are the parameters of the passphrase's key.
type SecretsHeader struct {
	KDF         string `json:"kdf"` // "argon2id"
	Salt        []byte `json:"salt"`
	MemoryKiB   uint32 `json:"memory_kib"`
	Iterations  uint32 `json:"iterations"`
	Parallelism uint8  `json:"parallelism"`
}

// line is one line of the file, of one kind.
type line struct {
	*Header
	Group  *GroupRecord  `json:"group,omitempty"`
	Client *ClientRecord `json:"client,omitempty"`
	User   *UserRecord   `json:"user,omitempty"`
}

// GroupRecord is a group with its fields.
type GroupRecord struct {
	Name        string     `json:"name"`
	Description string     `json:"description,omitempty"`
	Precedence  *int       `json:"precedence,omitempty"`
	CreatedAt   *time.Time `json:"created_at,omitempty"`
}

// ClientRecord is an app client kept in the store. Its secret hash is
// exported always: it is a hash of a random secret, which no guessing
// recovers, unlike a password's.
type ClientRecord struct {
	ID                     string   `json:"id"`
	Name                   string   `json:"name,omitempty"`
	SecretHash             string   `json:"secret_hash,omitempty"`
	Public                 bool     `json:"public,omitempty"`
	RedirectURIs           []string `json:"redirect_uris,omitempty"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`
	Scopes                 []string `json:"scopes,omitempty"`
	GrantTypes             []string `json:"grant_types,omitempty"`
	// Durations as Go writes them ("1h0m0s"); empty for the default.
	IDTokenTTL           string     `json:"id_token_ttl,omitempty"`
	AccessTokenTTL       string     `json:"access_token_ttl,omitempty"`
	RefreshTokenTTL      string     `json:"refresh_token_ttl,omitempty"`
	RefreshTokenRotation string     `json:"refresh_token_rotation,omitempty"`
	RefreshTokenGrace    string     `json:"refresh_token_grace,omitempty"`
	CreatedAt            *time.Time `json:"created_at,omitempty"`
}

// UserRecord is one user. Only email is required: a missing id is derived
// from the email (the same every run), a missing status is CONFIRMED with
// a password hash and RESET_REQUIRED without, enabled defaults to true.
type UserRecord struct {
	ID            string            `json:"id,omitempty"`
	Email         string            `json:"email"`
	EmailVerified bool              `json:"email_verified,omitempty"`
	Name          string            `json:"name,omitempty"`
	Status        string            `json:"status,omitempty"`
	Enabled       *bool             `json:"enabled,omitempty"`
	Attributes    map[string]string `json:"attributes,omitempty"`
	Groups        []string          `json:"groups,omitempty"`
	Identities    []IdentityRecord  `json:"identities,omitempty"`
	// PasswordHash is in one of the formats pool.CheckImportedHash takes.
	PasswordHash string `json:"password_hash,omitempty"`
	// KeycloakCredential is, in place of PasswordHash, a password
	// credential of a Keycloak realm export, as it is there.
	KeycloakCredential json.RawMessage `json:"keycloak_credential,omitempty"`
	// FirebaseScrypt is, in place of PasswordHash, a Firebase export's
	// passwordHash and salt; the project's parameters are the import's
	// (ReadOptions.Firebase).
	FirebaseScrypt *FirebaseRecord `json:"firebase_scrypt,omitempty"`
	Factors        []FactorRecord  `json:"factors,omitempty"`
	CreatedAt      *time.Time      `json:"created_at,omitempty"`
	UpdatedAt      *time.Time      `json:"updated_at,omitempty"`
}

// FirebaseRecord is a Firebase user's hash and salt, base64 as exported.
type FirebaseRecord struct {
	Hash string `json:"hash"`
	Salt string `json:"salt"`
}

// IdentityRecord is a link to an outside identity provider.
type IdentityRecord struct {
	Provider     string     `json:"provider"`
	ProviderType string     `json:"provider_type,omitempty"`
	Issuer       string     `json:"issuer,omitempty"`
	Subject      string     `json:"subject"`
	Primary      bool       `json:"primary,omitempty"`
	CreatedAt    *time.Time `json:"created_at,omitempty"`
}

// FactorRecord is a second factor. Secret is, for TOTP, sealed under the
// file's passphrase (nonce then AES-GCM ciphertext, bound to the user's
// and factor's ids); for a passkey, its public key record as stored.
type FactorRecord struct {
	ID         string     `json:"id"`
	Kind       string     `json:"kind"`
	Name       string     `json:"name,omitempty"`
	Secret     []byte     `json:"secret,omitempty"`
	Confirmed  bool       `json:"confirmed,omitempty"`
	LastStep   int64      `json:"last_step,omitempty"`
	CreatedAt  *time.Time `json:"created_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

func timeOrZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}
