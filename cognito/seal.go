package cognito

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
)

// setupDone is what VerifySoftwareToken, answering a sign-in's MFA_SETUP
// with the machine, hands on to the RespondToAuthChallenge(MFA_SETUP)
// Cognito's clients send next: the finished sign-in, sealed, bound to the
// client, expiring in setupDoneTTL and spent once across instances.
type setupDone struct {
	ID       string   `json:"i"`
	Client   string   `json:"c"`
	UserID   string   `json:"u"`
	AMR      []string `json:"a"`
	AuthTime int64    `json:"t"`
	Expires  int64    `json:"e"`
}

const setupDoneTTL = 3 * time.Minute

// sealer seals setupDone with a key derived from the pool's marker key.
type sealer struct {
	aead  cipher.AEAD
	store store.Store
}

func newSealer(key []byte, s store.Store) *sealer {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("gatehouse cognito api setup session"))
	block, _ := aes.NewCipher(m.Sum(nil)) // 32 bytes: never fails
	aead, _ := cipher.NewGCM(block)
	return &sealer{aead: aead, store: s}
}

func (s *sealer) seal(d setupDone) string {
	d.ID = rand.Text()
	plain, _ := json.Marshal(d)
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return "gh1." + base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, []byte(d.Client)))
}

// open returns the sealed state of tok for client, spending it; ok is
// false for anything forged, foreign, expired or spent.
func (s *sealer) open(ctx context.Context, client, tok string, now time.Time) (setupDone, bool, error) {
	var d setupDone
	raw, err := base64.RawURLEncoding.DecodeString(tok[min(len(tok), 4):])
	if len(tok) < 4 || tok[:4] != "gh1." || len(tok) > 4096 || err != nil || len(raw) < s.aead.NonceSize() {
		return d, false, nil
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(client))
	if err != nil || json.Unmarshal(plain, &d) != nil || d.Client != client || now.Unix() > d.Expires {
		return d, false, nil
	}
	cur, _, err := s.store.CountHit(ctx, "cognito_setup:"+d.ID, time.Unix(d.Expires, 0), time.Second)
	if err != nil {
		return d, false, err
	}
	return d, cur == 1, nil
}

// isSetupDone tells a session of ours from the machine's.
func isSetupDone(tok string) bool { return len(tok) > 4 && tok[:4] == "gh1." }
