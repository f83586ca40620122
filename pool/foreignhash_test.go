package pool

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-auth/gatehouse/cognito/srp"
	"github.com/gatehouse-auth/gatehouse/mail"
	"github.com/gatehouse-auth/gatehouse/store"
)

// Vectors made outside this package: Firebase's from its scrypt README,
// scrypt and PBKDF2 from RFC 7914, argon2i from the reference
// implementation's tests, Django and Keycloak with Python's hashlib.
const (
	firebaseSignerKey = "jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA=="
	firebaseSaltSep   = "Bw=="
	firebaseSalt      = "42xEC+ixf3L2lw=="
	firebaseHashB64   = "lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ=="
	firebasePassword  = "user1password"
)

// FirebaseVector is the stored form of Firebase's published example user.
func FirebaseVector(t testing.TB) string {
	t.Helper()
	signer, _ := base64.StdEncoding.DecodeString(firebaseSignerKey)
	sep, _ := base64.StdEncoding.DecodeString(firebaseSaltSep)
	h, err := FirebaseScryptHash(FirebaseScryptParams{SignerKey: signer, SaltSeparator: sep, Rounds: 8, MemCost: 14}, firebaseSalt, firebaseHashB64)
	if err != nil {
		t.Fatalf("FirebaseScryptHash: %v", err)
	}
	return h
}

func b64raw(hexs string) string {
	b, _ := hex.DecodeString(strings.ReplaceAll(hexs, " ", ""))
	return base64.RawStdEncoding.EncodeToString(b)
}

func TestForeignHashesVerifyAndAreStale(t *testing.T) {
	ctx := t.Context()
	h := newFastHasher(t, 1)
	bc, err := bcrypt.GenerateFromPassword([]byte("bcrypt pw"), 4)
	if err != nil {
		t.Fatal(err)
	}
	keycloak, err := KeycloakCredentialHash([]byte(`{"type":"password","secretData":"{\"value\":\"nZUQVBQ+To08w99Bk/qOwMvG5z4fSgjk/Ot43UineE911njLnba2vdWkKxTPjDjYNEQSZKRAi02ifJb5eUFsHA==\",\"salt\":\"a2V5Y2xvYWstc2FsdC0xNg==\",\"additionalParameters\":{}}","credentialData":"{\"hashIterations\":210000,\"algorithm\":\"pbkdf2-sha512\",\"additionalParameters\":{}}"}`))
	if err != nil {
		t.Fatalf("KeycloakCredentialHash: %v", err)
	}
	cases := []struct{ name, hash, password string }{
		{"bcrypt 2a", strings.Replace(string(bc), "$2a$", "$2a$", 1), "bcrypt pw"},
		{"bcrypt 2b", strings.Replace(string(bc), "$2a$", "$2b$", 1), "bcrypt pw"},
		{"bcrypt 2y", strings.Replace(string(bc), "$2a$", "$2y$", 1), "bcrypt pw"},
		{"argon2i", "$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$wWKIMhR9lyDFvRz9YTZweHKfbftvj+qf+YFY4NeBbtA", "password"},
		{"argon2id other params", phcFor(t, "argon pw", HashParams{MemoryKiB: 32, Iterations: 1, Parallelism: 1}, 16, 32), "argon pw"},
		{"scrypt rfc7914", "$scrypt$ln=10,r=8,p=16$" + base64.RawStdEncoding.EncodeToString([]byte("NaCl")) + "$" +
			b64raw("fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640"), "password"},
		{"scrypt passlib layout", "$scrypt$ln=14,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$e9P/v7tERGriya4UNeScAGmKML64ewQNf8ouOJx5uPA", "scrypt pw"},
		{"firebase scrypt", FirebaseVector(t), firebasePassword},
		{"pbkdf2-sha256 rfc7914", "$pbkdf2-sha256$i=1$" + base64.RawStdEncoding.EncodeToString([]byte("salt")) + "$" +
			b64raw("55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"), "passwd"},
		{"django", "pbkdf2_sha256$600000$seasalt42$ubk6/jDnqLG94dqiWw+cyP0Uuutm5LwE7fqUu+6EfD8=", "hunter2 django"},
		{"keycloak pbkdf2-sha512", keycloak, "kc password"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := CheckImportedHash(c.hash); err != nil {
				t.Fatalf("CheckImportedHash: %v", err)
			}
			ok, stale, err := h.Verify(ctx, c.password, c.hash)
			if err != nil || !ok {
				t.Fatalf("Verify(right) = %v, %v, %v", ok, stale, err)
			}
			// argon2id with weaker parameters is stale; every foreign one is.
			if !stale {
				t.Errorf("Verify(right) not stale: the hash would never be upgraded")
			}
			for _, wrong := range []string{"", c.password + "x", strings.ToUpper(c.password)} {
				if ok, stale, err := h.Verify(ctx, wrong, c.hash); ok || stale || err != nil {
					t.Errorf("Verify(%q) = %v, %v, %v; want false", wrong, ok, stale, err)
				}
			}
		})
	}
}

func TestForeignHashesRefused(t *testing.T) {
	bc14, _ := bcrypt.GenerateFromPassword([]byte("x"), 4)
	over := strings.Replace(string(bc14), "$04$", "$15$", 1)
	salt := base64.RawStdEncoding.EncodeToString([]byte("0123456789abcdef"))
	key := base64.RawStdEncoding.EncodeToString(make([]byte, 32))
	cases := []struct{ name, hash string }{
		{"bcrypt cost above bound", over},
		{"bcrypt truncated", string(bc14)[:30]},
		{"argon2i memory above bound", "$argon2i$v=19$m=4194304,t=2,p=1$c29tZXNhbHQ$wWKIMhR9lyDFvRz9YTZweHKfbftvj+qf+YFY4NeBbtA"},
		{"argon2i old version", "$argon2i$v=16$m=65536,t=2,p=1$c29tZXNhbHQ$wWKIMhR9lyDFvRz9YTZweHKfbftvj+qf+YFY4NeBbtA"},
		{"argon2id gigantic", "$argon2id$v=19$m=99999999,t=2,p=1$" + salt + "$" + key},
		{"scrypt memory above bound", "$scrypt$ln=20,r=8,p=1$" + salt + "$" + key},
		{"scrypt work above bound", "$scrypt$ln=14,r=8,p=64$" + salt + "$" + key},
		{"scrypt missing p", "$scrypt$ln=14,r=8$" + salt + "$" + key},
		{"scrypt extra parameter", "$scrypt$ln=14,r=8,p=1,x=2$" + salt + "$" + key},
		{"scrypt short key", "$scrypt$ln=14,r=8,p=1$" + salt + "$AAAA"},
		{"firebase mem cost above bound", "$firebase-scrypt$m=21,r=8$Bw$" + key + "$" + salt + "$" + key},
		{"firebase hash length differs", "$firebase-scrypt$m=14,r=8$Bw$" + key + "$" + salt + "$" + salt},
		{"pbkdf2 iterations above bound", "$pbkdf2-sha256$i=2000001$" + salt + "$" + key},
		{"pbkdf2 zero iterations", "$pbkdf2-sha256$i=0$" + salt + "$" + key},
		{"pbkdf2 bad base64", "$pbkdf2-sha256$i=10$" + salt + "$!!!"},
		{"django iterations above bound", "pbkdf2_sha256$9000000$salt$" + key},
		{"unknown md5", "$1$abc$def"},
		{"plain text", "hunter2"},
		{"empty", ""},
	}
	h := newFastHasher(t, 1)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckImportedHash(c.hash)
			if err == nil {
				t.Fatalf("CheckImportedHash(%q) accepted", c.hash)
			}
			if !errors.Is(err, ErrMalformedHash) {
				t.Errorf("error %v is not ErrMalformedHash", err)
			}
			// A stored row this bad is refused before any hashing, too.
			if ok, _, err := h.Verify(t.Context(), "x", c.hash); ok || !errors.Is(err, ErrMalformedHash) {
				t.Errorf("Verify = %v, %v; want ErrMalformedHash", ok, err)
			}
		})
	}
	for _, cred := range []string{
		`not json`,
		`{"type":"otp","secretData":"{}","credentialData":"{}"}`,
		`{"type":"password","secretData":"{\"value\":\"AAAA\",\"salt\":\"AAAA\"}","credentialData":"{\"hashIterations\":27500,\"algorithm\":\"md5\"}"}`,
		`{"type":"password","secretData":"{\"value\":\"` + key + `\",\"salt\":\"AAAA\"}","credentialData":"{\"hashIterations\":99999999,\"algorithm\":\"pbkdf2-sha256\"}"}`,
	} {
		if h, err := KeycloakCredentialHash([]byte(cred)); err == nil {
			t.Errorf("KeycloakCredentialHash(%s) = %q, want an error", cred, h)
		}
	}
}

// TestImportedWithoutPassword: a user imported RESET_REQUIRED without a
// hash (Cognito's CSV) is told to reset by password and SRP sign-in, may
// ask for a reset code, and then signs in with SRP too (the verifier is
// made from the new password).
func TestImportedWithoutPassword(t *testing.T) {
	ctx := t.Context()
	m := srpMachine(t, "", srpPoolName)
	if _, err := m.p.store.ImportUsers(ctx, []store.ImportedUser{{User: &store.User{ID: "carol", Email: "carol@example.com",
		EmailVerified: true, Status: store.StatusResetRequired, Enabled: true}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.p.SignIn(ctx, "carol@example.com", "whatever"); !errors.Is(err, ErrPasswordResetRequired) {
		t.Errorf("SignIn = %v, want ErrPasswordResetRequired", err)
	}
	c := srp.NewClient()
	if _, err := m.p.InitiateSRPAuth(ctx, SRPAuth{Username: "carol@example.com", SRPA: c.AHex(), Client: machineClient}); !errors.Is(err, ErrPasswordResetRequired) {
		t.Errorf("InitiateSRPAuth = %v, want ErrPasswordResetRequired", err)
	}
	if err := m.p.ForgotPassword(ctx, "carol@example.com"); err != nil {
		t.Fatal(err)
	}
	code := codeOf(t, m.fm.last(t, mail.KindResetPassword, "carol@example.com"))
	if _, err := m.p.ResetPassword(ctx, "carol@example.com", code, "a new password of hers"); err != nil {
		t.Fatalf("ResetPassword: %v", err)
	}
	if step, err := srpSignIn(t, m, "carol@example.com", "a new password of hers"); err != nil || step.Auth == nil && step.Challenge == nil {
		t.Errorf("SRP sign-in after the reset: %+v, %v", step, err)
	}
}
