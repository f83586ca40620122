package pool

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/scrypt"
)

// Password hashes made by other systems, brought in by an import, are kept
// as they came and verified by their own algorithm until the user's first
// right password, which replaces them with the pool's argon2id (Verify
// calls them stale). Each format has a bound on its cost, checked when the
// hash is imported and again whenever it is read: a hash is data from
// outside, and one that asked for a gigabyte or a minute of CPU would turn
// every sign-in attempt on that login into a denial of service.
//
// The formats, as stored (base64 is standard, padding optional):
//
//	$2a$/$2b$/$2y$<cost>$...                         bcrypt, cost 4 to 14
//	$argon2id$v=19$m=..,t=..,p=..$salt$hash          argon2id, any parameters within the bounds below
//	$argon2i$v=19$m=..,t=..,p=..$salt$hash           argon2i, likewise
//	$scrypt$ln=<log2 N>,r=<r>,p=<p>$salt$hash        scrypt (passlib's PHC-like layout)
//	$firebase-scrypt$m=<mem cost>,r=<rounds>$<salt separator>$<signer key>$salt$hash
//	                                                 Firebase's modified scrypt, the project's
//	                                                 parameters carried in each hash
//	$pbkdf2-sha256$i=<iterations>$salt$hash          PBKDF2-HMAC-SHA256 (Keycloak's, converted)
//	$pbkdf2-sha512$i=<iterations>$salt$hash          PBKDF2-HMAC-SHA512
//	pbkdf2_sha256$<iterations>$<salt>$<hash>         Django's own layout, salt as text

// Bounds on what an imported hash may ask for: above every default these
// systems ship with, below what would make one verification a weapon.
const (
	maxBcryptCost       = 14        // about a second per check
	maxScryptMemory     = 256 << 20 // bytes: 128 * N * r
	maxScryptWork       = 1 << 22   // N * r * p
	maxPBKDF2Iterations = 2_000_000 // Django 5 uses 870,000 to 1,000,000
	maxForeignField     = 1024      // bytes of a salt, key or signer key
)

// ErrUnknownHash means an imported password hash is in no format the pool
// verifies.
var ErrUnknownHash = fmt.Errorf("%w: unknown format", ErrMalformedHash)

// foreignHash is one parsed hash of another system.
type foreignHash interface {
	// matches reports, in constant time over the derived key, whether
	// password is the one hashed.
	matches(password string) bool
}

// CheckImportedHash reports whether encoded is a password hash the pool can
// verify (argon2id of its own, or a foreign format above) within the cost
// bounds; the error says what is wrong.
func CheckImportedHash(encoded string) error {
	if strings.HasPrefix(encoded, "$argon2id$") {
		if _, _, _, err := decodePHC(encoded); err != nil {
			return malformed("argon2id", fmt.Sprintf("malformed or parameters out of bounds (memory at most %d KiB, iterations at most %d)", maxHashMemoryKiB, maxIterations))
		}
		return nil
	}
	_, err := parseForeign(encoded)
	return err
}

// parseForeign recognizes a foreign hash by its prefix and checks it.
func parseForeign(s string) (foreignHash, error) {
	switch {
	case strings.HasPrefix(s, "$2a$"), strings.HasPrefix(s, "$2b$"), strings.HasPrefix(s, "$2y$"):
		return parseBcrypt(s)
	case strings.HasPrefix(s, "$argon2i$"):
		return parseArgon2i(s)
	case strings.HasPrefix(s, "$scrypt$"):
		return parseScrypt(s)
	case strings.HasPrefix(s, "$firebase-scrypt$"):
		return parseFirebaseScrypt(s)
	case strings.HasPrefix(s, "$pbkdf2-sha256$"), strings.HasPrefix(s, "$pbkdf2-sha512$"):
		return parsePBKDF2(s)
	case strings.HasPrefix(s, "pbkdf2_sha256$"):
		return parseDjango(s)
	}
	return nil, ErrUnknownHash
}

// malformed is a format's parse error, naming the format but never the hash.
func malformed(format, why string) error {
	return fmt.Errorf("%w: %s hash: %s", ErrMalformedHash, format, why)
}

// decodeB64 takes standard base64 with or without padding.
func decodeB64(s string) ([]byte, error) {
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil || len(b) > maxForeignField {
		return nil, errors.New("bad base64")
	}
	return b, nil
}

// params parses "a=1,b=2" into the named unsigned values, every name
// required and no other allowed.
func params(format, s string, names ...string) (map[string]uint64, error) {
	out := map[string]uint64{}
	for _, kv := range strings.Split(s, ",") {
		name, value, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, malformed(format, "parameters")
		}
		n, err := strconv.ParseUint(value, 10, 32)
		if err != nil {
			return nil, malformed(format, "parameter "+name)
		}
		out[name] = n
	}
	if len(out) != len(names) {
		return nil, malformed(format, "parameters must be "+strings.Join(names, ","))
	}
	for _, n := range names {
		if _, ok := out[n]; !ok {
			return nil, malformed(format, "parameters must be "+strings.Join(names, ","))
		}
	}
	return out, nil
}

// saltAndKey decodes a hash's last two fields, with the derived key between
// 16 and 128 bytes.
func saltAndKey(format, salt, key string) ([]byte, []byte, error) {
	s, err := decodeB64(salt)
	if err != nil {
		return nil, nil, malformed(format, "salt")
	}
	k, err := decodeB64(key)
	if err != nil || len(k) < 16 || len(k) > 128 {
		return nil, nil, malformed(format, "hash")
	}
	return s, k, nil
}

type bcryptHash []byte

func parseBcrypt(s string) (foreignHash, error) {
	cost, err := bcrypt.Cost([]byte(s))
	if err != nil {
		return nil, malformed("bcrypt", err.Error())
	}
	if cost > maxBcryptCost {
		return nil, malformed("bcrypt", fmt.Sprintf("cost %d above %d", cost, maxBcryptCost))
	}
	// $2y$ is PHP's name for the same algorithm as $2b$.
	if strings.HasPrefix(s, "$2y$") {
		s = "$2b$" + s[4:]
	}
	return bcryptHash(s), nil
}

func (h bcryptHash) matches(password string) bool {
	// CompareHashAndPassword compares in constant time.
	return bcrypt.CompareHashAndPassword(h, []byte(password)) == nil
}

type argon2iHash struct {
	p         HashParams
	salt, key []byte
}

func parseArgon2i(s string) (foreignHash, error) {
	p, salt, key, err := decodePHCVariant(s, "argon2i")
	if err != nil {
		return nil, malformed("argon2i", fmt.Sprintf("malformed or parameters out of bounds (v=19, memory at most %d KiB, iterations at most %d)", maxHashMemoryKiB, maxIterations))
	}
	return argon2iHash{p, salt, key}, nil
}

func (h argon2iHash) matches(password string) bool {
	got := argon2.Key([]byte(password), h.salt, h.p.Iterations, h.p.MemoryKiB, h.p.Parallelism, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(got, h.key) == 1
}

type scryptHash struct {
	n, r, p   int
	salt, key []byte
}

// checkScrypt bounds scrypt's memory and work.
func checkScrypt(format string, logN, r, p uint64) error {
	if logN < 1 || logN > 30 || r < 1 || p < 1 || r > 64 || p > 64 {
		return malformed(format, "parameters out of range")
	}
	n := uint64(1) << logN
	if 128*n*r > maxScryptMemory || n*r*p > maxScryptWork {
		return malformed(format, fmt.Sprintf("parameters above the bound (128*N*r at most %d bytes, N*r*p at most %d)", maxScryptMemory, maxScryptWork))
	}
	return nil
}

func parseScrypt(s string) (foreignHash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 5 || parts[0] != "" {
		return nil, malformed("scrypt", "want $scrypt$ln=..,r=..,p=..$salt$hash")
	}
	ps, err := params("scrypt", parts[2], "ln", "r", "p")
	if err != nil {
		return nil, err
	}
	if err := checkScrypt("scrypt", ps["ln"], ps["r"], ps["p"]); err != nil {
		return nil, err
	}
	salt, key, err := saltAndKey("scrypt", parts[3], parts[4])
	if err != nil {
		return nil, err
	}
	return scryptHash{n: 1 << ps["ln"], r: int(ps["r"]), p: int(ps["p"]), salt: salt, key: key}, nil
}

func (h scryptHash) matches(password string) bool {
	got, err := scrypt.Key([]byte(password), h.salt, h.n, h.r, h.p, len(h.key))
	return err == nil && subtle.ConstantTimeCompare(got, h.key) == 1
}

// FirebaseScryptParams are a Firebase project's password hash parameters, as
// its console ("Password hash parameters") and `firebase auth:export` give
// them.
type FirebaseScryptParams struct {
	SignerKey     []byte
	SaltSeparator []byte
	Rounds        int
	MemCost       int
}

// FirebaseScryptHash builds the stored form of one exported Firebase user's
// hash: salt and hash are the user's base64 passwordSalt and passwordHash.
func FirebaseScryptHash(p FirebaseScryptParams, salt, hash string) (string, error) {
	enc := base64.RawStdEncoding.EncodeToString
	s, err := decodeB64(salt)
	if err != nil {
		return "", malformed("firebase-scrypt", "salt")
	}
	h, err := decodeB64(hash)
	if err != nil {
		return "", malformed("firebase-scrypt", "hash")
	}
	out := fmt.Sprintf("$firebase-scrypt$m=%d,r=%d$%s$%s$%s$%s", p.MemCost, p.Rounds,
		enc(p.SaltSeparator), enc(p.SignerKey), enc(s), enc(h))
	if _, err := parseFirebaseScrypt(out); err != nil {
		return "", err
	}
	return out, nil
}

type firebaseHash struct {
	n, r                      int
	sep, signer, salt, hashed []byte
}

func parseFirebaseScrypt(s string) (foreignHash, error) {
	const format = "firebase-scrypt"
	parts := strings.Split(s, "$")
	if len(parts) != 7 || parts[0] != "" {
		return nil, malformed(format, "want $firebase-scrypt$m=..,r=..$separator$signer key$salt$hash")
	}
	ps, err := params(format, parts[2], "m", "r")
	if err != nil {
		return nil, err
	}
	if err := checkScrypt(format, ps["m"], ps["r"], 1); err != nil {
		return nil, err
	}
	sep, err := decodeB64(parts[3])
	if err != nil {
		return nil, malformed(format, "salt separator")
	}
	signer, err := decodeB64(parts[4])
	if err != nil || len(signer) == 0 {
		return nil, malformed(format, "signer key")
	}
	salt, hashed, err := saltAndKey(format, parts[5], parts[6])
	if err != nil {
		return nil, err
	}
	if len(hashed) != len(signer) {
		return nil, malformed(format, "hash and signer key differ in length")
	}
	return firebaseHash{n: 1 << ps["m"], r: int(ps["r"]), sep: sep, signer: signer, salt: salt, hashed: hashed}, nil
}

// matches follows Firebase's published algorithm (github.com/firebase/scrypt):
// scrypt of the password with the user's salt and the project's salt
// separator gives a key, whose first 32 bytes encrypt the project's signer
// key with AES-256 in CTR mode from a zero IV; the ciphertext is the hash.
func (h firebaseHash) matches(password string) bool {
	salt := append(append([]byte{}, h.salt...), h.sep...)
	dk, err := scrypt.Key([]byte(password), salt, h.n, h.r, 1, 64)
	if err != nil {
		return false
	}
	block, err := aes.NewCipher(dk[:32])
	if err != nil {
		return false
	}
	got := make([]byte, len(h.signer))
	cipher.NewCTR(block, make([]byte, aes.BlockSize)).XORKeyStream(got, h.signer)
	return subtle.ConstantTimeCompare(got, h.hashed) == 1
}

type pbkdf2Hash struct {
	h          func() hash.Hash
	iterations int
	salt, key  []byte
}

func checkIterations(format string, n uint64) error {
	if n < 1 || n > maxPBKDF2Iterations {
		return malformed(format, fmt.Sprintf("iterations must be 1 to %d", maxPBKDF2Iterations))
	}
	return nil
}

func parsePBKDF2(s string) (foreignHash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 5 || parts[0] != "" {
		return nil, malformed(parts[1], "want $"+parts[1]+"$i=..$salt$hash")
	}
	format := parts[1]
	ps, err := params(format, parts[2], "i")
	if err != nil {
		return nil, err
	}
	if err := checkIterations(format, ps["i"]); err != nil {
		return nil, err
	}
	salt, key, err := saltAndKey(format, parts[3], parts[4])
	if err != nil {
		return nil, err
	}
	h := sha256.New
	if format == "pbkdf2-sha512" {
		h = sha512.New
	}
	return pbkdf2Hash{h: h, iterations: int(ps["i"]), salt: salt, key: key}, nil
}

// parseDjango reads Django's "pbkdf2_sha256$<iterations>$<salt>$<hash>",
// whose salt is used as the text it is.
func parseDjango(s string) (foreignHash, error) {
	const format = "django pbkdf2_sha256"
	parts := strings.Split(s, "$")
	if len(parts) != 4 || parts[2] == "" || len(parts[2]) > maxForeignField {
		return nil, malformed(format, "want pbkdf2_sha256$iterations$salt$hash")
	}
	n, err := strconv.ParseUint(parts[1], 10, 32)
	if err != nil {
		return nil, malformed(format, "iterations")
	}
	if err := checkIterations(format, n); err != nil {
		return nil, err
	}
	key, err := decodeB64(parts[3])
	if err != nil || len(key) < 16 || len(key) > 128 {
		return nil, malformed(format, "hash")
	}
	return pbkdf2Hash{h: sha256.New, iterations: int(n), salt: []byte(parts[2]), key: key}, nil
}

func (h pbkdf2Hash) matches(password string) bool {
	got, err := pbkdf2.Key(h.h, password, h.salt, h.iterations, len(h.key))
	return err == nil && subtle.ConstantTimeCompare(got, h.key) == 1
}

// KeycloakCredentialHash converts one password credential of a Keycloak
// realm export (the object in a user's "credentials", whose secretData and
// credentialData are JSON in strings) into the stored form above.
func KeycloakCredentialHash(credential []byte) (string, error) {
	const format = "keycloak credential"
	var c struct {
		Type           string `json:"type"`
		SecretData     string `json:"secretData"`
		CredentialData string `json:"credentialData"`
	}
	if err := json.Unmarshal(credential, &c); err != nil {
		return "", malformed(format, "not a JSON object")
	}
	if c.Type != "" && c.Type != "password" {
		return "", malformed(format, "type must be password")
	}
	var secret struct {
		Value string `json:"value"`
		Salt  string `json:"salt"`
	}
	var data struct {
		HashIterations uint64 `json:"hashIterations"`
		Algorithm      string `json:"algorithm"`
	}
	if json.Unmarshal([]byte(c.SecretData), &secret) != nil || json.Unmarshal([]byte(c.CredentialData), &data) != nil {
		return "", malformed(format, "secretData and credentialData must be JSON")
	}
	if data.Algorithm != "pbkdf2-sha256" && data.Algorithm != "pbkdf2-sha512" {
		return "", malformed(format, fmt.Sprintf("algorithm %q (pbkdf2-sha256 and pbkdf2-sha512 are taken)", data.Algorithm))
	}
	salt, err := decodeB64(secret.Salt)
	if err != nil {
		return "", malformed(format, "salt")
	}
	key, err := decodeB64(secret.Value)
	if err != nil {
		return "", malformed(format, "value")
	}
	enc := base64.RawStdEncoding.EncodeToString
	out := fmt.Sprintf("$%s$i=%d$%s$%s", data.Algorithm, data.HashIterations, enc(salt), enc(key))
	if _, err := parsePBKDF2(out); err != nil {
		return "", err
	}
	return out, nil
}
