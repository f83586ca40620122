package pool

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
)

// enrolConfirmed enrols a TOTP app for u on p and confirms it; it returns
// the base32 secret the user's app got.
func enrolConfirmed(t *testing.T, p *Pool, u *store.User, clk *clock) string {
	t.Helper()
	e, err := p.StartTOTP(t.Context(), u, "Phone")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.ConfirmTOTP(t.Context(), u.ID, e.FactorID, codeAt(t, e.Secret, clk.now())); err != nil {
		t.Fatalf("ConfirmTOTP: %v", err)
	}
	return e.Secret
}

// storedTOTP returns the user's TOTP factor as the store holds it.
func storedTOTP(t *testing.T, s store.Store, userID string) store.MFAFactor {
	t.Helper()
	fs, err := s.MFAFactors(t.Context(), userID)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f.Kind == store.FactorTOTP {
			return f
		}
	}
	t.Fatal("no TOTP factor in the store")
	return store.MFAFactor{}
}

func TestTOTPSecretSealedInStore(t *testing.T) {
	clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 10, 0, time.UTC)}
	s := openSQLite(t, t.TempDir()+"/g.db")
	p := withClock(newPoolOn(t, s, Config{}), clk)
	ada := mustCreate(t, p, NewUser{Email: "ada@example.com"})
	secret := enrolConfirmed(t, p, ada, clk)

	plain, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		t.Fatal(err)
	}
	f := storedTOTP(t, s, ada.ID)
	if bytes.Contains(f.Secret, plain) || !bytes.HasPrefix(f.Secret, []byte(sealMagic)) {
		t.Fatalf("the store holds the TOTP secret unsealed: %x", f.Secret)
	}

	// The sealed secret still signs in, on this pool and on another one on
	// the same store (another instance).
	clk.t = clk.t.Add(time.Minute)
	if _, err := p.VerifyMFA(t.Context(), ada, codeAt(t, secret, clk.now())); err != nil {
		t.Fatalf("VerifyMFA with the sealed secret: %v", err)
	}
	other := withClock(newPoolOn(t, s, Config{}), clk)
	clk.t = clk.t.Add(time.Minute)
	if _, err := other.VerifyMFA(t.Context(), ada, codeAt(t, secret, clk.now())); err != nil {
		t.Fatalf("VerifyMFA on a second pool on the store: %v", err)
	}

	// Copied onto another user's row, Ada's sealed secret does not open.
	bob := mustCreate(t, p, NewUser{Email: "bob@example.com"})
	if err := s.AddMFAFactor(t.Context(), store.MFAFactor{ID: "copied", UserID: bob.ID, Kind: store.FactorTOTP, Name: "Ada's", Secret: f.Secret}); err != nil {
		t.Fatal(err)
	}
	if err := s.ConfirmMFAFactor(t.Context(), bob.ID, "copied", 0); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(time.Minute)
	if amr, err := p.VerifyMFA(t.Context(), bob, codeAt(t, secret, clk.now())); err == nil {
		t.Fatalf("a secret copied to another user's row opened and signed in (amr %v)", amr)
	}
}

func TestTOTPSecretStoredBeforeSealing(t *testing.T) {
	clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 10, 0, time.UTC)}
	s := openSQLite(t, t.TempDir()+"/g.db")
	p := withClock(newPoolOn(t, s, Config{}), clk)
	ada := mustCreate(t, p, NewUser{Email: "ada@example.com"})
	plain := []byte("12345678901234567890") // totpSecretSize bytes, as stored before sealing
	if err := s.AddMFAFactor(t.Context(), store.MFAFactor{ID: "old", UserID: ada.ID, Kind: store.FactorTOTP, Name: "Old", Secret: plain}); err != nil {
		t.Fatal(err)
	}
	if err := s.ConfirmMFAFactor(t.Context(), ada.ID, "old", 0); err != nil {
		t.Fatal(err)
	}
	secret := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(plain)
	if _, err := p.VerifyMFA(t.Context(), ada, codeAt(t, secret, clk.now())); err != nil {
		t.Fatalf("VerifyMFA with a secret stored before sealing: %v", err)
	}
	// Its first sign-in sealed it, and it still signs in.
	f := storedTOTP(t, s, ada.ID)
	if bytes.Contains(f.Secret, plain) || !bytes.HasPrefix(f.Secret, []byte(sealMagic)) {
		t.Fatalf("the secret stored before sealing is still bare after a sign-in: %x", f.Secret)
	}
	clk.t = clk.t.Add(time.Minute)
	if _, err := p.VerifyMFA(t.Context(), ada, codeAt(t, secret, clk.now())); err != nil {
		t.Fatalf("VerifyMFA once sealed: %v", err)
	}
}

func TestTOTPOperatorSecretKey(t *testing.T) {
	clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 10, 0, time.UTC)}
	s := openSQLite(t, t.TempDir()+"/g.db")
	key := bytes.Repeat([]byte{7}, SecretKeyLen)

	// Ada enrolled before the operator set a key; Bob after.
	before := withClock(newPoolOn(t, s, Config{}), clk)
	ada := mustCreate(t, before, NewUser{Email: "ada@example.com"})
	adaSecret := enrolConfirmed(t, before, ada, clk)
	with := withClock(newPoolOn(t, s, Config{MFA: MFAConfig{SecretKey: key}}), clk)
	bob := mustCreate(t, with, NewUser{Email: "bob@example.com"})
	bobSecret := enrolConfirmed(t, with, bob, clk)

	clk.t = clk.t.Add(time.Minute)
	for _, c := range []struct {
		u      *store.User
		secret string
	}{{ada, adaSecret}, {bob, bobSecret}} {
		if _, err := with.VerifyMFA(t.Context(), c.u, codeAt(t, c.secret, clk.now())); err != nil {
			t.Errorf("%s with the operator's key: %v", c.u.Email, err)
		}
	}

	// Without the operator's key, Bob's secret cannot be opened: an error,
	// never a code accepted.
	clk.t = clk.t.Add(time.Minute)
	if _, err := before.VerifyMFA(t.Context(), bob, codeAt(t, bobSecret, clk.now())); !errors.Is(err, ErrSecretKeyMissing) {
		t.Errorf("Bob's secret without the operator's key: %v, want ErrSecretKeyMissing", err)
	}
	// A wrong-length key is refused at start.
	if _, err := New(t.Context(), s, Config{Name: "test", Hash: fastParams, MFA: MFAConfig{SecretKey: key[:16]}}); err == nil {
		t.Error("a 16-byte secret key was accepted")
	}
}

// TestTOTPSecretKeyRotation: an operator replaces mfa_secret_key and lists
// the old one as previous; every secret still signs in, and each is sealed
// with the new key at its first use, after which the old key can go.
func TestTOTPSecretKeyRotation(t *testing.T) {
	clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 10, 0, time.UTC)}
	s := openSQLite(t, t.TempDir()+"/g.db")
	oldKey, newKey := bytes.Repeat([]byte{1}, SecretKeyLen), bytes.Repeat([]byte{2}, SecretKeyLen)
	keyID := func(k []byte) []byte {
		sum := sha256.Sum256(k)
		return []byte("operator-" + hex.EncodeToString(sum[:8]))
	}

	// Ada enrolled under the store's own key, Bob under the old operator key.
	own := withClock(newPoolOn(t, s, Config{}), clk)
	ada := mustCreate(t, own, NewUser{Email: "ada@example.com"})
	adaSecret := enrolConfirmed(t, own, ada, clk)
	old := withClock(newPoolOn(t, s, Config{MFA: MFAConfig{SecretKey: oldKey}}), clk)
	bob := mustCreate(t, old, NewUser{Email: "bob@example.com"})
	bobSecret := enrolConfirmed(t, old, bob, clk)
	if !bytes.Contains(storedTOTP(t, s, bob.ID).Secret, keyID(oldKey)) {
		t.Fatal("Bob's secret is not sealed with the old key")
	}

	rotated := withClock(newPoolOn(t, s, Config{MFA: MFAConfig{SecretKey: newKey, PreviousSecretKeys: [][]byte{oldKey}}}), clk)
	clk.t = clk.t.Add(time.Minute)
	for _, c := range []struct {
		u      *store.User
		secret string
	}{{ada, adaSecret}, {bob, bobSecret}} {
		if _, err := rotated.VerifyMFA(t.Context(), c.u, codeAt(t, c.secret, clk.now())); err != nil {
			t.Fatalf("%s after the rotation: %v", c.u.Email, err)
		}
		if row := storedTOTP(t, s, c.u.ID).Secret; !bytes.Contains(row, keyID(newKey)) {
			t.Errorf("%s's secret is not sealed with the new key after a sign-in", c.u.Email)
		}
	}

	// With every secret moved, the old key can be dropped.
	only := withClock(newPoolOn(t, s, Config{MFA: MFAConfig{SecretKey: newKey}}), clk)
	clk.t = clk.t.Add(time.Minute)
	if _, err := only.VerifyMFA(t.Context(), bob, codeAt(t, bobSecret, clk.now())); err != nil {
		t.Errorf("Bob with the new key alone: %v", err)
	}
}
