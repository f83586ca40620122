// Package srp is the arithmetic of Amazon Cognito's USER_SRP_AUTH: SRP-6a
// over RFC 5054's 3072-bit group with SHA-256, as amazon-cognito-identity-js
// and Amplify compute it, down to how they turn numbers into bytes. It
// knows nothing of HTTP, users or stores: the pool keeps the verifiers and
// drives a sign-in with it.
//
// The client proves the password without sending it:
//
//	client                                   server (this package)
//	a random, A = g^a              --A-->    refuse A mod N = 0
//	                                         b random, B = k*v + g^b
//	                               <--B, salt, secret block
//	x = H(salt | H(pool + user + ":" + pw))
//	S = (B - k*g^x)^(a + u*x)                S = (A * v^u)^b
//	key = HKDF(S, u)                         key = HKDF(S, u)
//	M = HMAC(key, pool | user | block | ts)  --M, ts-->  compare in constant time
//
// where u = H(A | B), k = H(N | g), v = g^x is the verifier kept for the
// user, and "pool" is the part of the Cognito pool id after the "_".
//
// Every number enters a hash as Cognito's clients write it (padHex): its
// big-endian bytes, with a zero byte in front when the top bit is set, so
// that it reads as positive in two's complement. Getting one byte of that
// wrong fails every sign-in, which is why the tests check this package
// against amazon-cognito-identity-js itself.
package srp

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"strings"
	"time"
)

// RFC 5054's 3072-bit group (appendix A), generator 2.
const nHex = "" +
	"FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74" +
	"020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437" +
	"4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED" +
	"EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05" +
	"98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB" +
	"9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B" +
	"E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718" +
	"3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33" +
	"A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7" +
	"ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864" +
	"D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2" +
	"08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF"

var (
	groupN = mustHex(nHex)
	groupG = big.NewInt(2)
	// k = H(N | g), each padded.
	groupK = new(big.Int).SetBytes(hashOf(pad(groupN), pad(groupG)))
)

// N returns the group's prime.
func N() *big.Int { return new(big.Int).Set(groupN) }

// Sizes.
const (
	// SaltLen is the length of a new salt.
	SaltLen = 16
	// KeyLen is the length of the key both sides derive: HKDF's first 16
	// bytes, as Cognito's clients take.
	KeyLen = 16
	// ephemeralLen is the length of the server's secret b: RFC 5054 asks
	// for at least 256 bits.
	ephemeralLen = 32
	// maxPublicHex bounds the A a client may send: N is 768 hex digits;
	// a few more allow leading zeros, no more.
	maxPublicHex = 1024
	// groupBytes is N's length: verifiers are written this long.
	groupBytes = 384
)

// Info is HKDF's info string, Cognito's.
const info = "Caldera Derived Key"

// TimestampLayout is the TIMESTAMP Cognito's clients sign: "Tue Dec 6
// 09:05:01 UTC 2026", the day of the month not padded.
const TimestampLayout = "Mon Jan 2 15:04:05 UTC 2006"

// Errors.
var (
	// ErrInvalidA refuses a client's A that is not hex, is too long, or is
	// 0 mod N (which would make the key known to anyone).
	ErrInvalidA = errors.New("srp: invalid SRP_A")
	// ErrInvalidTimestamp refuses a TIMESTAMP not in Cognito's format.
	ErrInvalidTimestamp = errors.New("srp: invalid TIMESTAMP")
)

func mustHex(s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 16)
	if !ok {
		panic("srp: bad constant")
	}
	return n
}

// pad is Cognito's padHex, as bytes, for a number >= 0: its minimal
// big-endian bytes ("00" for zero), with a zero byte in front when the top
// bit is set.
func pad(n *big.Int) []byte {
	b := n.Bytes()
	if len(b) == 0 {
		return []byte{0}
	}
	if b[0]&0x80 != 0 {
		return append([]byte{0}, b...)
	}
	return b
}

// PadHex is pad in hex, as Cognito's clients write numbers.
func PadHex(n *big.Int) string { return hexOf(pad(n)) }

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(out)
}

func hashOf(parts ...[]byte) []byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

// PoolName is the name SRP hashes into x: the part of a Cognito pool id
// ("us-east-1_AbCdEf123") after the "_".
func PoolName(poolID string) string {
	_, name, ok := strings.Cut(poolID, "_")
	if !ok {
		return poolID
	}
	return name
}

// x = H(salt | H(poolName + userID + ":" + password)), the salt read as a
// number (the clients parse SALT as one, so its leading zero bytes go).
func x(poolName, userID, password string, salt []byte) *big.Int {
	inner := hashOf([]byte(poolName + userID + ":" + password))
	return new(big.Int).SetBytes(hashOf(pad(new(big.Int).SetBytes(salt)), inner))
}

// SaltHex is a salt as the SALT challenge parameter.
func SaltHex(salt []byte) string { return PadHex(new(big.Int).SetBytes(salt)) }

// Verifier returns v = g^x mod N for the password, written in N's length.
func Verifier(poolName, userID, password string, salt []byte) []byte {
	v := new(big.Int).Exp(groupG, x(poolName, userID, password, salt), groupN)
	return v.FillBytes(make([]byte, groupBytes))
}

// NewVerifier makes a random salt and the password's verifier with it.
func NewVerifier(poolName, userID, password string) (salt, verifier []byte) {
	salt = make([]byte, SaltLen)
	rand.Read(salt) // crypto/rand.Read does not fail
	return salt, Verifier(poolName, userID, password, salt)
}

// ParseA reads a client's SRP_A (hex) and refuses what Cognito refuses.
func ParseA(s string) (*big.Int, error) {
	if s == "" || len(s) > maxPublicHex {
		return nil, ErrInvalidA
	}
	a, ok := new(big.Int).SetString(s, 16)
	if !ok || a.Sign() <= 0 || new(big.Int).Mod(a, groupN).Sign() == 0 {
		return nil, ErrInvalidA
	}
	return a, nil
}

// Exchange is the server's half of one sign-in.
type Exchange struct {
	// B is SRP_B, in hex.
	B string
	// Key is the key a client that knows the password derives: keep it
	// secret, and check the client's signature with it.
	Key []byte
}

// Serve answers a client's A for a user whose verifier is v: a fresh
// secret b, B = k*v + g^b, and the key both sides will hold. random is the
// source of b (crypto/rand.Reader unless a test fixes it).
func Serve(a *big.Int, verifier []byte, random io.Reader) (*Exchange, error) {
	v := new(big.Int).SetBytes(verifier)
	buf := make([]byte, ephemeralLen)
	for {
		if _, err := io.ReadFull(random, buf); err != nil {
			return nil, err
		}
		b := new(big.Int).SetBytes(buf)
		if b.Sign() == 0 {
			continue
		}
		B := new(big.Int).Exp(groupG, b, groupN)
		B.Add(B, new(big.Int).Mul(groupK, v))
		B.Mod(B, groupN)
		if B.Sign() == 0 {
			continue
		}
		u := new(big.Int).SetBytes(hashOf(pad(a), pad(B)))
		if u.Sign() == 0 {
			continue
		}
		// S = (A * v^u)^b mod N
		S := new(big.Int).Exp(v, u, groupN)
		S.Mul(S, a)
		S.Mod(S, groupN)
		S.Exp(S, b, groupN)
		key, err := derive(S, u)
		if err != nil {
			return nil, err
		}
		return &Exchange{B: B.Text(16), Key: key}, nil
	}
}

// derive is Cognito's HKDF: SHA-256, S as the secret, u as the salt.
func derive(S, u *big.Int) ([]byte, error) {
	return hkdf.Key(sha256.New, pad(S), pad(u), info, KeyLen)
}

// Signature is PASSWORD_CLAIM_SIGNATURE: HMAC-SHA256 under the key of the
// pool name, the USER_ID_FOR_SRP, the secret block's bytes and the
// TIMESTAMP, in base64.
func Signature(key []byte, poolName, userID string, secretBlock []byte, timestamp string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(poolName))
	m.Write([]byte(userID))
	m.Write(secretBlock)
	m.Write([]byte(timestamp))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// CheckSignature reports whether claim is the signature a client holding
// key makes, compared in constant time.
func CheckSignature(key []byte, poolName, userID string, secretBlock []byte, timestamp, claim string) bool {
	want := Signature(key, poolName, userID, secretBlock, timestamp)
	return subtle.ConstantTimeCompare([]byte(want), []byte(claim)) == 1
}

// ParseTimestamp reads a TIMESTAMP in Cognito's format.
func ParseTimestamp(s string) (time.Time, error) {
	if len(s) > 64 {
		return time.Time{}, ErrInvalidTimestamp
	}
	t, err := time.Parse(TimestampLayout, s)
	if err != nil {
		return time.Time{}, ErrInvalidTimestamp
	}
	return t, nil
}

// FormatTimestamp writes t as Cognito's clients do.
func FormatTimestamp(t time.Time) string { return t.UTC().Format(TimestampLayout) }
