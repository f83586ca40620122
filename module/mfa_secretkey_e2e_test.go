package module_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/store"
)

// TestMFASecretKey: with mfa_secret_key from the environment, an app
// enrolled through the hosted pages is stored sealed under that key (its
// id in the row, the secret nowhere in it); after the operator rotates the
// key, keeping the old one as previous, its code signs in and leaves it
// sealed under the new key.
func TestMFASecretKey(t *testing.T) {
	t.Setenv("GATEHOUSE_TEST_MFA_KEY", base64.StdEncoding.EncodeToString(randomBytes(t, 32)))
	m := startMFA(t, "mfa required\n\t\t\tmfa_secret_key {env.GATEHOUSE_TEST_MFA_KEY}")
	createAda(t, m.site)
	c := testenv.Browser(t)
	resp, body := m.passwordStep(t, c, "/private", adaEmail, adaPassword)
	wantStatus(t, "password step", resp, body, http.StatusOK)
	secret, resp, body := m.enrol(t, c, body, "/private")
	wantStatus(t, "enrolment", resp, body, http.StatusOK)

	u := mustUser(t, m.site)
	fs, err := m.pool.Store.MFAFactors(t.Context(), u.ID)
	if err != nil || len(fs) != 1 || fs[0].Kind != store.FactorTOTP {
		t.Fatalf("factors %+v, %v", fs, err)
	}
	plain, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		t.Fatal(err)
	}
	if row := fs[0].Secret; bytes.Contains(row, plain) || !bytes.Contains(row, []byte("operator-")) {
		t.Fatalf("stored secret is not sealed under the operator's key: %x", row)
	}
	// The operator rotates the key: the new one first, the old one after
	// it. The secret still signs in (its next code: the one that turned it
	// on is spent), and that sealed it with the new key.
	t.Setenv("GATEHOUSE_TEST_MFA_KEY_NEW", base64.StdEncoding.EncodeToString(randomBytes(t, 32)))
	rotated := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(rotated, []byte("{\n\tgatehouse {\n\t\tpool default {\n\t\t\tstore sqlite "+
		filepath.Join(m.dir, "data", "gatehouse.db")+"\n\t\t\tmfa_secret_key {env.GATEHOUSE_TEST_MFA_KEY_NEW} {env.GATEHOUSE_TEST_MFA_KEY}\n\t\t}\n\t}\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := openPoolFile(t, rotated)
	if _, err := p.Pool.VerifyMFA(t.Context(), u, totpCode(t, secret, 30*time.Second)); err != nil {
		t.Fatalf("a code after the rotation: %v", err)
	}
	newKey, _ := base64.StdEncoding.DecodeString(os.Getenv("GATEHOUSE_TEST_MFA_KEY_NEW"))
	sum := sha256.Sum256(newKey)
	fs, err = p.Store.MFAFactors(t.Context(), u.ID)
	if err != nil || len(fs) != 1 || !bytes.Contains(fs[0].Secret, []byte("operator-"+hex.EncodeToString(sum[:8]))) {
		t.Fatalf("after the rotation the secret is not sealed with the new key (%v)", err)
	}
}

func TestMFASecretKeyErrors(t *testing.T) {
	pool := func(opt string) string {
		return "{\n\tgatehouse {\n\t\tpool default {\n\t\t\tstore sqlite " + filepath.Join(t.TempDir(), "gh.db") + "\n\t\t\t" + opt + "\n\t\t}\n\t}\n}\n"
	}
	for _, tc := range []struct{ name, opt, want string }{
		{"not base64", "mfa_secret_key not*base64", "not base64"},
		{"too short", "mfa_secret_key " + base64.StdEncoding.EncodeToString(make([]byte, 16)), "16 bytes, want 32"},
		{"previous too short", "mfa_secret_key " + base64.StdEncoding.EncodeToString(make([]byte, 32)) + " " + base64.StdEncoding.EncodeToString(make([]byte, 8)), "previous mfa_secret_key: 8 bytes"},
		{"no key", "mfa_secret_key", "wrong argument count"},
	} {
		if _, _, err := caddyconfigAdapt(pool(tc.opt)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: adapt error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	err := caddyValidate(testenv.Adapt(t, pool("mfa_secret_key {env.GATEHOUSE_TEST_UNSET_MFA_KEY}")))
	if err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("unset variable: provision error %v, want one saying the key is empty", err)
	}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}
