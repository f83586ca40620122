package transfer

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"

	"golang.org/x/crypto/argon2"
)

// A file's TOTP secrets are sealed under a key of a passphrase given to
// both the export and the import, not under the pool's own sealing key:
// that key lives in the source store (or the operator's config), so a
// file sealed with it would open only where that key is, and carrying
// the key in the file would leave the secrets as open as plain text. The
// export opens each secret with the source pool's keys and seals it for
// the file; the import opens it with the passphrase and seals it with the
// target pool's key.

// passphraseKDF is the cost of the passphrase's key: one derivation per
// export or import, so it may be dear.
var passphraseKDF = SecretsHeader{KDF: "argon2id", MemoryKiB: 64 * 1024, Iterations: 3, Parallelism: 1}

// ErrPassphrase means the passphrase does not open the file's secrets.
var ErrPassphrase = errors.New("the passphrase does not open this file's secrets")

// fileKey is the AEAD of a file's secrets.
type fileKey struct{ aead cipher.AEAD }

// newFileKey derives the key of passphrase under h, which must be
// argon2id's with bounded costs (a file is data from outside).
func newFileKey(passphrase []byte, h SecretsHeader) (*fileKey, error) {
	if h.KDF != "argon2id" || len(h.Salt) < 16 || h.Iterations < 1 || h.Iterations > 16 ||
		h.Parallelism < 1 || h.MemoryKiB < 8*uint32(h.Parallelism) || h.MemoryKiB > 1<<20 {
		return nil, errors.New("the file's secrets header is malformed or asks too much")
	}
	if len(passphrase) == 0 {
		return nil, errors.New("the file holds sealed secrets: give the export's passphrase")
	}
	k := argon2.IDKey(passphrase, h.Salt, h.Iterations, h.MemoryKiB, h.Parallelism, 32)
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &fileKey{aead: aead}, nil
}

// newSecretsHeader makes a fresh salt for an export.
func newSecretsHeader() SecretsHeader {
	h := passphraseKDF
	h.Salt = make([]byte, 16)
	rand.Read(h.Salt) // crypto/rand.Read does not fail
	return h
}

func factorAAD(userID, factorID string) []byte {
	return []byte("gatehouse export factor\x00" + userID + "\x00" + factorID)
}

func (k *fileKey) seal(userID, factorID string, plain []byte) []byte {
	nonce := make([]byte, k.aead.NonceSize())
	rand.Read(nonce)
	return k.aead.Seal(nonce, nonce, plain, factorAAD(userID, factorID))
}

func (k *fileKey) open(userID, factorID string, sealed []byte) ([]byte, error) {
	if len(sealed) < k.aead.NonceSize() {
		return nil, ErrPassphrase
	}
	n := k.aead.NonceSize()
	plain, err := k.aead.Open(nil, sealed[:n], sealed[n:], factorAAD(userID, factorID))
	if err != nil {
		return nil, ErrPassphrase
	}
	return plain, nil
}
