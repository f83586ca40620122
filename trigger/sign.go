package trigger

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The Standard Webhooks headers (https://www.standardwebhooks.com/).
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// secretPrefix marks a Standard Webhooks secret: base64 of the key.
const secretPrefix = "whsec_"

// Secret is a hook's HMAC key. Its String never shows the key, so that a
// secret printed by mistake does not reach a log.
type Secret struct{ key []byte }

// ParseSecret reads a Standard Webhooks secret, "whsec_" and the base64
// of 24 to 64 random bytes (as the specification asks).
func ParseSecret(s string) (Secret, error) {
	rest, ok := strings.CutPrefix(s, secretPrefix)
	if !ok {
		return Secret{}, errors.New("a trigger secret starts with whsec_ (whsec_ and the base64 of 24 to 64 random bytes)")
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return Secret{}, errors.New("a trigger secret is whsec_ and standard base64; this one does not decode")
	}
	if len(key) < 24 || len(key) > 64 {
		return Secret{}, fmt.Errorf("a trigger secret holds 24 to 64 bytes; this one holds %d", len(key))
	}
	return Secret{key: key}, nil
}

// NewSecret makes a random secret, for the CLI and tests.
func NewSecret() string {
	key := make([]byte, 32)
	rand.Read(key)
	return secretPrefix + base64.StdEncoding.EncodeToString(key)
}

func (s Secret) String() string { return "whsec_(redacted)" }

// Sign is the webhook-signature value for one message: "v1," and the
// base64 HMAC-SHA256 of "id.timestamp.body".
func (s Secret) Sign(id string, timestamp int64, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(s.mac(id, strconv.FormatInt(timestamp, 10), body))
}

func (s Secret) mac(id, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// DefaultTolerance is how far a message's timestamp may be from the
// receiver's clock, as the specification recommends.
const DefaultTolerance = 5 * time.Minute

// ErrSignature is a message that Verify refuses.
var ErrSignature = errors.New("webhook signature does not verify")

// Verify is the receiver's check, for Go receivers and tests: the headers
// are present, the timestamp is within tolerance of now, and one of the
// space-separated v1 signatures matches body (compared in constant time).
func (s Secret) Verify(h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, ts, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("%w: missing header", ErrSignature)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: bad timestamp", ErrSignature)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: timestamp outside tolerance", ErrSignature)
	}
	want := s.mac(id, ts, body)
	for _, sig := range strings.Fields(sigs) {
		v, b64, ok := strings.Cut(sig, ",")
		if !ok || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrSignature
}

// newMessageID is a webhook-id: unique per call, so a receiver can drop
// a replay it has seen.
func newMessageID() string {
	return "msg_" + rand.Text()
}
