package pool

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/gatehouse-auth/gatehouse/store"
)

// A challenge's session is its state sealed with AES-GCM under a key the
// pool keeps in its store (so every instance on the store opens what any
// sealed) and bound to the client it was made for. Nothing of a sign-in
// in progress is kept on the server but the mark that a session was
// answered (spend).
const (
	sessionKeyKind = "signin_session"
	sessionKeyLen  = 32
	// maxSessionLen bounds what is opened: a session is a few hundred
	// bytes, a CUSTOM_AUTH one with its history and private parameters a
	// few kilobytes (customauth.go bounds them).
	maxSessionLen = 16 << 10
	// srpSessionLen is what an SRP challenge's state is padded to: more
	// than any (a login is at most 254 bytes; a CUSTOM_AUTH run's SRP
	// challenge adds its first history entry).
	srpSessionLen = 768
	// userAuthSessionLen is what a USER_AUTH step's state is padded to
	// (a passkey step's ceremony is the longest, under 1 KiB): its length
	// does not tell a login with an account, or with a password, from
	// one without.
	userAuthSessionLen = 1536
)

// sessionKey is the pool's sealing key, loaded from the store on first
// use (and made there if the store has none).
type sessionKey struct {
	mu   sync.Mutex
	aead cipher.AEAD
}

func (p *Pool) sessionAEAD(ctx context.Context) (cipher.AEAD, error) {
	k := &p.sessions
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.aead != nil {
		return k.aead, nil
	}
	keys, err := EnsureKeys(ctx, p.store, sessionKeyKind, func() (store.Key, error) {
		m := make([]byte, sessionKeyLen)
		_, err := rand.Read(m)
		return store.Key{ID: "1", Material: m}, err
	})
	if err != nil {
		return nil, fmt.Errorf("sign-in session key: %w", err)
	}
	// The oldest key: concurrent first starts may both have added one
	// (EnsureKeys), and all must pick the same.
	block, err := aes.NewCipher(keys[len(keys)-1].Material)
	if err != nil {
		return nil, fmt.Errorf("sign-in session key: %w", err)
	}
	if k.aead, err = cipher.NewGCM(block); err != nil {
		return nil, err
	}
	return k.aead, nil
}

func sessionAAD(client string) []byte {
	return []byte("gatehouse sign-in session\x00" + client)
}

// sealSession gives s a fresh id and seals it for client.
func (p *Pool) sealSession(ctx context.Context, client string, s session) (string, error) {
	aead, err := p.sessionAEAD(ctx)
	if err != nil {
		return "", err
	}
	s.ID = rand.Text()
	plain, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	if len(s.Key) > 0 && len(plain) < srpSessionLen {
		// An SRP challenge's session is its SECRET_BLOCK, shown before
		// anything is proved: padded (JSON takes trailing spaces), its
		// length does not tell a user's from a decoy's.
		plain = append(plain, bytes.Repeat([]byte{' '}, srpSessionLen-len(plain))...)
	}
	if s.UserAuth && len(plain) < userAuthSessionLen {
		plain = append(plain, bytes.Repeat([]byte{' '}, userAuthSessionLen-len(plain))...)
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(aead.Seal(nonce, nonce, plain, sessionAAD(client))), nil
}

// unsealSession opens tok; ok is false for anything not sealed by this
// pool for client. The error is the store's (loading the key).
func (p *Pool) unsealSession(ctx context.Context, client, tok string) (s session, ok bool, err error) {
	if len(tok) > maxSessionLen {
		return s, false, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return s, false, nil
	}
	aead, err := p.sessionAEAD(ctx)
	if err != nil {
		return s, false, err
	}
	if len(raw) < aead.NonceSize()+aead.Overhead() {
		return s, false, nil
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], sessionAAD(client))
	if err != nil || json.Unmarshal(plain, &s) != nil || s.ID == "" {
		return session{}, false, nil
	}
	return s, true, nil
}
