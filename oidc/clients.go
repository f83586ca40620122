package oidc

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// secretHashPrefix names the hash in a stored client secret, so that a
// stronger scheme can be added later without guessing what old rows hold.
const secretHashPrefix = "sha256:"

// secretBytes is the entropy of a generated client secret: 256 bits.
const secretBytes = 32

// HashClientSecret returns the form a client secret is kept in (SHA-256,
// hex, with a "sha256:" prefix). Client secrets are generated 256-bit random
// strings, so a fast hash is enough: guessing one is hopeless without any
// work factor, and a password KDF would only slow every token request.
//
//	secret := oidc.NewClientSecret() // shown to the operator once
//	c.SecretHash = oidc.HashClientSecret(secret)
func HashClientSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return secretHashPrefix + hex.EncodeToString(sum[:])
}

// VerifyClientSecret reports whether secret is the one hash was made from,
// comparing in constant time. It is false for an empty secret or hash (a
// public client has none) and for a hash in any other form than
// HashClientSecret's.
func VerifyClientSecret(hash, secret string) bool {
	if secret == "" || !strings.HasPrefix(hash, secretHashPrefix) {
		return false
	}
	want := HashClientSecret(secret)
	// Both sides are the same fixed length for a well-formed hash, so the
	// length check inside ConstantTimeCompare leaks nothing secret.
	return subtle.ConstantTimeCompare([]byte(hash), []byte(want)) == 1
}

// NewClientSecret returns a new random client secret: 32 bytes from
// crypto/rand, base64url without padding (43 characters, safe in URLs,
// headers and form bodies).
func NewClientSecret() string {
	b := make([]byte, secretBytes)
	// crypto/rand.Read never fails; it crashes the program rather than
	// return weak bytes.
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
