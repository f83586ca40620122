package pool

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/gatehouse-auth/gatehouse/store"
)

// TOTP secrets are sealed (AES-256-GCM) before they reach the store, so a
// copy of the database does not hand over every user's second factor. The
// sealing key is the operator's (MFAConfig.SecretKey, kept outside the
// database) when there is one; otherwise a key the pool generates once and
// keeps in the store, which still protects an export or backup of the
// factors without the keys. Every key the pool knows opens, so setting an
// operator key later leaves the secrets sealed before readable.

// secretKeyKind is the store.Key kind of the pool's own sealing key.
const secretKeyKind = "totp-seal"

// SecretKeyLen is the length of MFAConfig.SecretKey: an AES-256 key.
const SecretKeyLen = 32

// sealMagic starts every sealed secret. A secret stored before sealing
// existed is the bare totpSecretSize bytes, and a sealed one is always
// longer, so the two are never confused.
const sealMagic = "ghs1"

// ErrSecretKeyMissing means a secret was sealed with a key the pool does not
// have: typically the operator's key was changed or removed.
var ErrSecretKeyMissing = errors.New("pool: a TOTP secret is sealed with a key this pool does not have (was the mfa secret key changed?)")

type secretBox struct {
	store store.Store
	mu    sync.RWMutex
	aeads map[string]cipher.AEAD // by key id
	seal  string                 // id of the key that seals
}

// newSecretBox loads the pool's sealing keys: the operator's, if given,
// seals; else the pool's own, made on first start (a fixed id, so that
// concurrent first starts agree on one). The operator's previous keys
// only open.
func newSecretBox(ctx context.Context, s store.Store, operatorKey []byte, previous [][]byte) (*secretBox, error) {
	b := &secretBox{store: s, aeads: map[string]cipher.AEAD{}}
	own, err := EnsureKeys(ctx, s, secretKeyKind, func() (store.Key, error) {
		k := make([]byte, SecretKeyLen)
		_, err := rand.Read(k)
		return store.Key{ID: "1", Material: k}, err
	})
	if err != nil {
		return nil, fmt.Errorf("TOTP sealing key: %w", err)
	}
	if err := b.add(own); err != nil {
		return nil, err
	}
	b.seal = own[0].ID
	for _, k := range previous {
		if _, err := b.addOperatorKey(k); err != nil {
			return nil, err
		}
	}
	if operatorKey != nil {
		if b.seal, err = b.addOperatorKey(operatorKey); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// addOperatorKey adds one of the operator's keys and returns its id,
// derived from the key so that every instance given it names it alike.
func (b *secretBox) addOperatorKey(k []byte) (string, error) {
	if len(k) != SecretKeyLen {
		return "", fmt.Errorf("mfa secret key: %d bytes, want %d", len(k), SecretKeyLen)
	}
	sum := sha256.Sum256(k)
	id := "operator-" + hex.EncodeToString(sum[:8])
	return id, b.add([]store.Key{{ID: id, Material: k}})
}

func (b *secretBox) add(keys []store.Key) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, k := range keys {
		if _, ok := b.aeads[k.ID]; ok {
			continue
		}
		block, err := aes.NewCipher(k.Material)
		if err != nil {
			return fmt.Errorf("TOTP sealing key %q: %w", k.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return err
		}
		b.aeads[k.ID] = aead
	}
	return nil
}

// secretAAD binds a sealed secret to its factor: a secret copied onto
// another user's row does not open there.
func secretAAD(userID, factorID string) []byte {
	return []byte("totp\x00" + userID + "\x00" + factorID)
}

// sealSecret returns plain sealed for the user's factor (sealWith).
func (b *secretBox) sealSecret(userID, factorID string, plain []byte) []byte {
	return b.sealWith(secretAAD(userID, factorID), plain)
}

// sealWith seals plain bound to aad, in sealSecret's layout; each kind of
// secret has its own aad, so that one never opens as another.
func (b *secretBox) sealWith(aad, plain []byte) []byte {
	b.mu.RLock()
	aead, id := b.aeads[b.seal], b.seal
	b.mu.RUnlock()
	out := append([]byte(sealMagic), byte(len(id)))
	out = append(out, id...)
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce) // crypto/rand.Read does not fail
	out = append(out, nonce...)
	return aead.Seal(out, nonce, plain, aad)
}

// sealed reports whether a stored secret was sealed, rather than stored
// bare before sealing existed.
func sealed(stored []byte) bool { return len(stored) != totpSecretSize }

// current reports whether a stored secret is sealed with the key that
// seals now; one that is not (bare, or under an earlier key) is sealed
// again at its next use.
func (b *secretBox) current(stored []byte) bool {
	rest, ok := bytes.CutPrefix(stored, []byte(sealMagic))
	return ok && len(rest) > 0 && len(rest) >= 1+int(rest[0]) && string(rest[1:1+int(rest[0])]) == b.seal
}

// openSecret returns the plain secret of the user's factor as stored: a
// sealed one opened, an unsealed one from before sealing as it is.
func (b *secretBox) openSecret(ctx context.Context, userID, factorID string, stored []byte) ([]byte, error) {
	if !sealed(stored) {
		return stored, nil
	}
	return b.openWith(ctx, secretAAD(userID, factorID), stored)
}

// openWith opens what sealWith sealed with the same aad.
func (b *secretBox) openWith(ctx context.Context, aad, stored []byte) ([]byte, error) {
	rest, ok := bytes.CutPrefix(stored, []byte(sealMagic))
	if !ok || len(rest) < 1 || len(rest) < 1+int(rest[0]) {
		return nil, errors.New("pool: a stored sealed secret is malformed")
	}
	id, rest := string(rest[1:1+int(rest[0])]), rest[1+int(rest[0]):]
	aead, err := b.aead(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(rest) < aead.NonceSize() {
		return nil, errors.New("pool: a stored sealed secret is malformed")
	}
	plain, err := aead.Open(nil, rest[:aead.NonceSize()], rest[aead.NonceSize():], aad)
	if err != nil {
		return nil, fmt.Errorf("pool: a stored secret does not open: %w", err)
	}
	return plain, nil
}

// aead returns the key with that id, loading the store's keys again when
// it is not known yet (another instance made the pool's key first).
func (b *secretBox) aead(ctx context.Context, id string) (cipher.AEAD, error) {
	b.mu.RLock()
	aead := b.aeads[id]
	b.mu.RUnlock()
	if aead != nil {
		return aead, nil
	}
	keys, err := b.store.Keys(ctx, secretKeyKind)
	if err != nil {
		return nil, err
	}
	if err := b.add(keys); err != nil {
		return nil, err
	}
	b.mu.RLock()
	aead = b.aeads[id]
	b.mu.RUnlock()
	if aead == nil {
		return nil, ErrSecretKeyMissing
	}
	return aead, nil
}

// FactorSecret returns a factor's secret in the clear, for an export: a
// TOTP secret opened with the pool's keys, any other kind (a passkey's
// public key record) as stored.
func (p *Pool) FactorSecret(ctx context.Context, f store.MFAFactor) ([]byte, error) {
	if f.Kind != store.FactorTOTP {
		return f.Secret, nil
	}
	return p.secrets.openSecret(ctx, f.UserID, f.ID, f.Secret)
}

// SealFactorSecret is what the store keeps for f whose clear secret is
// plain, for an import: a TOTP secret sealed with this pool's key (bound
// to f.UserID and f.ID), any other kind as it is.
func (p *Pool) SealFactorSecret(f store.MFAFactor, plain []byte) []byte {
	if f.Kind != store.FactorTOTP {
		return plain
	}
	return p.secrets.sealSecret(f.UserID, f.ID, plain)
}
