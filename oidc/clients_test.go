package oidc

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

func TestHashClientSecret(t *testing.T) {
	secret := "s3cr3t-value"
	sum := sha256.Sum256([]byte(secret))
	want := "sha256:" + hex.EncodeToString(sum[:])
	if got := HashClientSecret(secret); got != want {
		t.Errorf("HashClientSecret = %q, want %q", got, want)
	}
	// The known SHA-256 of the empty string pins the algorithm and encoding.
	if got := HashClientSecret(""); got != "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Errorf("HashClientSecret(\"\") = %q", got)
	}
	if HashClientSecret("a") == HashClientSecret("b") {
		t.Error("different secrets hash alike")
	}
	if strings.Contains(HashClientSecret(secret), secret) {
		t.Error("the hash contains the secret")
	}
}

func TestVerifyClientSecret(t *testing.T) {
	secret := NewClientSecret()
	hash := HashClientSecret(secret)
	cases := []struct {
		name         string
		hash, secret string
		want         bool
	}{
		{"right secret", hash, secret, true},
		{"wrong secret", hash, NewClientSecret(), false},
		{"one character off", hash, secret[:len(secret)-1] + "x", false},
		{"prefix of the secret", hash, secret[:10], false},
		{"secret with a newline", hash, secret + "\n", false},
		{"upper-case hash", strings.ToUpper(hash[:7]) + hash[7:], secret, false},
		{"hash without prefix", strings.TrimPrefix(hash, "sha256:"), secret, false},
		{"other scheme", "bcrypt:" + strings.TrimPrefix(hash, "sha256:"), secret, false},
		{"hash given as secret", hash, hash, false},
		{"secret given as hash", secret, secret, false},
		{"public client (no hash)", "", secret, false},
		{"empty secret", HashClientSecret(""), "", false},
		{"both empty", "", "", false},
		{"truncated hash", hash[:len(hash)-1], secret, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := VerifyClientSecret(tc.hash, tc.secret); got != tc.want {
				t.Errorf("VerifyClientSecret(%q, %q) = %t, want %t", tc.hash, tc.secret, got, tc.want)
			}
		})
	}
}

func TestNewClientSecret(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		s := NewClientSecret()
		if len(s) != 43 {
			t.Fatalf("NewClientSecret() = %q: %d characters, want 43", s, len(s))
		}
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(b) != 32 {
			t.Fatalf("NewClientSecret() = %q: not 32 bytes of base64url: %v", s, err)
		}
		if seen[s] {
			t.Fatalf("NewClientSecret() repeated %q", s)
		}
		seen[s] = true
	}
}
