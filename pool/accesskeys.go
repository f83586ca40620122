package pool

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
)

// Access keys sign the pool's administrative API calls with AWS Signature
// Version 4 (package cognito/sigv4), as IAM access keys sign Cognito's. The
// verifier needs the secret itself (SigV4 is an HMAC, not a password), so it
// is sealed as TOTP secrets are (secretbox.go) and kept in the store as a
// store.Key of AccessKeyKind whose ID is the access key id: no table, no
// migration. Revoking deletes the key; the verifier reads the store on every
// call (admin calls are rare), so a revoked key stops working at once on
// every instance.

// AccessKeyKind is the store.Key kind of a pool's access keys.
const AccessKeyKind = "aws-access-key"

// AccessKeyPrefix starts every access key id Gatehouse makes, as AKIA starts
// AWS's long-term ones: an id is AccessKeyPrefix and 16 characters of
// base32, 20 in all, uppercase.
const AccessKeyPrefix = "GHAK"

// AuditAdminAuthFailed: a signed administrative call was refused (Reason:
// missing, incomplete, invalid_signature, unknown_key, expired, replayed,
// security_token, throttled; Detail "access_key_id" when the request named
// one).
const AuditAdminAuthFailed = "admin_auth_failed"

// AuditAccessKeyCreated and AuditAccessKeyRevoked: the CLI made or revoked
// an access key (Detail "access_key_id", "read_only").
const (
	AuditAccessKeyCreated = "access_key_created"
	AuditAccessKeyRevoked = "access_key_revoked"
)

// ErrAccessKeyNotFound means no access key has that id (never made, or
// revoked). It wraps store.ErrNotFound.
var ErrAccessKeyNotFound = fmt.Errorf("pool: no such access key: %w", store.ErrNotFound)

// accessKeyIDPattern is what AccessKeySecret looks up: anything else is
// refused before the store is read.
var accessKeyIDPattern = regexp.MustCompile(`^` + AccessKeyPrefix + `[A-Z2-7]{16}$`)

// maxDescription bounds an access key's description.
const maxDescription = 256

// AccessKey is what is shown of an access key: never its secret.
type AccessKey struct {
	ID          string
	Description string
	ReadOnly    bool
	Created     time.Time
}

// NewAccessKey is a key just made: its secret is shown once, here.
type NewAccessKey struct {
	AccessKey
	// SecretAccessKey is 40 characters, as AWS's.
	SecretAccessKey string
}

// accessKeyRecord is the Material of an AccessKeyKind key.
type accessKeyRecord struct {
	Version     int    `json:"v"`
	Sealed      []byte `json:"sealed"`
	ReadOnly    bool   `json:"read_only,omitempty"`
	Description string `json:"description,omitempty"`
}

// accessKeyAAD binds a sealed secret to its key id: a secret copied onto
// another id does not open there.
func accessKeyAAD(id string) []byte { return []byte("aws-access-key\x00" + id) }

// CreateAccessKey makes an access key of the pool and returns it with its
// secret, which is not shown again.
func (p *Pool) CreateAccessKey(ctx context.Context, description string, readOnly bool) (*NewAccessKey, error) {
	if len(description) > maxDescription {
		return nil, fmt.Errorf("pool: an access key's description is at most %d bytes", maxDescription)
	}
	idBytes := make([]byte, 10) // 16 base32 characters
	secret := make([]byte, 30)  // 40 base64 characters
	rand.Read(idBytes)
	rand.Read(secret)
	k := &NewAccessKey{
		AccessKey: AccessKey{
			ID:          AccessKeyPrefix + base32.StdEncoding.EncodeToString(idBytes),
			Description: description,
			ReadOnly:    readOnly,
			Created:     p.now().UTC().Truncate(time.Second),
		},
		SecretAccessKey: base64.StdEncoding.EncodeToString(secret),
	}
	material, err := json.Marshal(accessKeyRecord{
		Version:     1,
		Sealed:      p.secrets.sealWith(accessKeyAAD(k.ID), []byte(k.SecretAccessKey)),
		ReadOnly:    readOnly,
		Description: description,
	})
	if err != nil {
		return nil, err
	}
	if err := p.store.AddKey(ctx, store.Key{Kind: AccessKeyKind, ID: k.ID, Material: material, CreatedAt: k.Created}); err != nil {
		return nil, err
	}
	p.auditAccessKey(ctx, AuditAccessKeyCreated, k.ID, readOnly)
	return k, nil
}

// AccessKeys lists the pool's access keys, newest first.
func (p *Pool) AccessKeys(ctx context.Context) ([]AccessKey, error) {
	keys, err := p.store.Keys(ctx, AccessKeyKind)
	if err != nil {
		return nil, err
	}
	out := make([]AccessKey, 0, len(keys))
	for _, k := range keys {
		rec, err := decodeAccessKey(k)
		if err != nil {
			return nil, err
		}
		out = append(out, AccessKey{ID: k.ID, Description: rec.Description, ReadOnly: rec.ReadOnly, Created: k.CreatedAt.UTC()})
	}
	return out, nil
}

// RevokeAccessKey deletes an access key: calls signed with it are refused
// from now on, on every instance. ErrAccessKeyNotFound if there is none.
func (p *Pool) RevokeAccessKey(ctx context.Context, id string) error {
	if !accessKeyIDPattern.MatchString(id) {
		return ErrAccessKeyNotFound
	}
	keys, err := p.store.Keys(ctx, AccessKeyKind)
	if err != nil {
		return err
	}
	readOnly := false
	for _, k := range keys {
		if k.ID == id {
			rec, _ := decodeAccessKey(k)
			readOnly = rec != nil && rec.ReadOnly
		}
	}
	switch err := p.store.DeleteKey(ctx, AccessKeyKind, id); {
	case errors.Is(err, store.ErrNotFound):
		return ErrAccessKeyNotFound
	case err != nil:
		return err
	}
	p.auditAccessKey(ctx, AuditAccessKeyRevoked, id, readOnly)
	return nil
}

// AccessKeySecret returns the secret of the access key id and whether the
// key is read-only, read from the store (so a key revoked anywhere is
// refused at once). ErrAccessKeyNotFound if there is no such key; a
// malformed id is not looked up.
func (p *Pool) AccessKeySecret(ctx context.Context, id string) (secret []byte, readOnly bool, err error) {
	if !accessKeyIDPattern.MatchString(id) {
		return nil, false, ErrAccessKeyNotFound
	}
	keys, err := p.store.Keys(ctx, AccessKeyKind)
	if err != nil {
		return nil, false, err
	}
	for _, k := range keys {
		if k.ID != id {
			continue
		}
		rec, err := decodeAccessKey(k)
		if err != nil {
			return nil, false, err
		}
		plain, err := p.secrets.openWith(ctx, accessKeyAAD(id), rec.Sealed)
		if err != nil {
			return nil, false, fmt.Errorf("access key %s: %w", id, err)
		}
		return plain, rec.ReadOnly, nil
	}
	return nil, false, ErrAccessKeyNotFound
}

// AdminAuthFailed records a refused signed call: reason as
// AuditAdminAuthFailed lists, accessKeyID "" when the request named none
// that could be shown. The caller puts the client's address in ctx
// (WithClientIP).
func (p *Pool) AdminAuthFailed(ctx context.Context, accessKeyID, reason string) {
	e := store.AuditEvent{Type: AuditAdminAuthFailed, Reason: reason}
	if accessKeyID != "" {
		e.Detail = map[string]string{"access_key_id": accessKeyID}
	}
	p.audit(ctx, e)
}

func (p *Pool) auditAccessKey(ctx context.Context, typ, id string, readOnly bool) {
	p.audit(ctx, store.AuditEvent{Type: typ, Detail: map[string]string{
		"access_key_id": id, "read_only": fmt.Sprint(readOnly),
	}})
}

func decodeAccessKey(k store.Key) (*accessKeyRecord, error) {
	var rec accessKeyRecord
	if err := json.Unmarshal(k.Material, &rec); err != nil || rec.Version != 1 || len(rec.Sealed) == 0 {
		return nil, fmt.Errorf("pool: access key %s is stored in a form this version does not read", k.ID)
	}
	return &rec, nil
}
