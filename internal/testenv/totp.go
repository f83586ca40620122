package testenv

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

// TOTPCode is the six-digit code an authenticator app holding the base32
// secret shows at t (RFC 6238: SHA-1, 30-second steps). It is written here,
// apart from the pool's checker, so that tests play the app with code of
// their own rather than the code under test.
func TOTPCode(secretBase32 string, t time.Time) (string, error) {
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(secretBase32))
	if err != nil {
		return "", fmt.Errorf("totp secret: %w", err)
	}
	var step [8]byte
	binary.BigEndian.PutUint64(step[:], uint64(t.Unix()/30))
	m := hmac.New(sha1.New, secret)
	m.Write(step[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	return fmt.Sprintf("%06d", (binary.BigEndian.Uint32(sum[off:])&0x7fffffff)%1000000), nil
}
