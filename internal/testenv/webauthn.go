package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// Authenticator data flags (WebAuthn §6.1).
const (
	FlagUP = 0x01 // user present
	FlagUV = 0x04 // user verified
	FlagBE = 0x08 // backup eligible
	FlagBS = 0x10 // backed up
	FlagAT = 0x40 // attested credential data included
)

// Authenticator is a software WebAuthn authenticator holding one ES256
// credential, for tests that talk to the passkey endpoints the way a
// browser and a security key would. Its fields are what the next
// ceremony reports; a test changes them to make it misbehave.
type Authenticator struct {
	Key *ecdsa.PrivateKey
	// ID is the credential ID.
	ID []byte
	// RPID is hashed into the authenticator data; Origin is written into
	// the client data.
	RPID   string
	Origin string
	// UserHandle is what Create was given, and assertions return.
	UserHandle []byte
	// Counter is the signature counter the next ceremony reports. With
	// Counting it goes up by one after each assertion; without, it stays
	// as set (0: an authenticator that counts nothing, as most synced
	// passkeys).
	Counter  uint32
	Counting bool
	// Flags are the flags of the next ceremony (AT is added for Create);
	// default UP|UV.
	Flags byte
}

// NewAuthenticator makes an authenticator with a fresh key and a random
// 32-byte credential ID, for rpID at origin.
func NewAuthenticator(t testing.TB, rpID, origin string) *Authenticator {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 32)
	rand.Read(id)
	return &Authenticator{Key: k, ID: id, RPID: rpID, Origin: origin, Flags: FlagUP | FlagUV}
}

var b64 = base64.RawURLEncoding

// clientData is the clientDataJSON of a ceremony of type typ.
func (a *Authenticator) clientData(typ string, challenge []byte) []byte {
	b, _ := json.Marshal(map[string]any{
		"type": typ, "challenge": b64.EncodeToString(challenge), "origin": a.Origin, "crossOrigin": false,
	})
	return b
}

// authData is rpIdHash | flags | counter | attested credential data.
func (a *Authenticator) authData(flags byte, attested []byte) []byte {
	rp := sha256.Sum256([]byte(a.RPID))
	out := append(rp[:], flags)
	out = binary.BigEndian.AppendUint32(out, a.Counter)
	return append(out, attested...)
}

// coseKey is the credential's public key as a COSE EC2 key (RFC 9053).
func (a *Authenticator) coseKey(t testing.TB) []byte {
	t.Helper()
	pub, err := a.Key.PublicKey.Bytes() // 0x04 | X | Y
	if err != nil {
		t.Fatal(err)
	}
	enc, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		t.Fatal(err)
	}
	b, err := enc.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: pub[1:33], -3: pub[33:65]})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Create answers navigator.credentials.create for challenge with a "none"
// attestation, returning the PublicKeyCredential as JSON.
func (a *Authenticator) Create(t testing.TB, challenge, userHandle []byte) []byte {
	t.Helper()
	a.UserHandle = userHandle
	attested := make([]byte, 16) // AAGUID: zero, as "none" attestation says nothing
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(a.ID)))
	attested = append(attested, a.ID...)
	attested = append(attested, a.coseKey(t)...)
	enc, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		t.Fatal(err)
	}
	obj, err := enc.Marshal(map[string]any{
		"fmt": "none", "attStmt": map[string]any{}, "authData": a.authData(a.Flags|FlagAT, attested),
	})
	if err != nil {
		t.Fatal(err)
	}
	return a.credential(t, map[string]any{
		"clientDataJSON":    b64.EncodeToString(a.clientData("webauthn.create", challenge)),
		"attestationObject": b64.EncodeToString(obj),
		"transports":        []string{"internal"},
	})
}

// Get answers navigator.credentials.get for challenge: authenticator data
// and a signature over it and the client data's hash, as JSON.
func (a *Authenticator) Get(t testing.TB, challenge []byte) []byte {
	t.Helper()
	cd := a.clientData("webauthn.get", challenge)
	ad := a.authData(a.Flags, nil)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.Key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	if a.Counting {
		a.Counter++
	}
	resp := map[string]any{
		"clientDataJSON":    b64.EncodeToString(cd),
		"authenticatorData": b64.EncodeToString(ad),
		"signature":         b64.EncodeToString(sig),
	}
	if len(a.UserHandle) > 0 {
		resp["userHandle"] = b64.EncodeToString(a.UserHandle)
	}
	return a.credential(t, resp)
}

func (a *Authenticator) credential(t testing.TB, response map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"id": b64.EncodeToString(a.ID), "rawId": b64.EncodeToString(a.ID), "type": "public-key",
		"authenticatorAttachment": "platform", "response": response, "clientExtensionResults": map[string]any{},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
