package cognito_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/oidc"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/store/sqlite"
)

func secretHashOf(secret, username, clientID string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(username + clientID))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// TestStoredClientSecret: a stored client with a secret, made as
// `gatehouse clients create` makes it (hashed and sealed), uses the API
// with SECRET_HASH; a wrong hash is refused; one stored before secrets
// were sealed (its digest alone) is refused with a message saying how to
// fix it, until its secret is rotated, after which the old secret's hash
// no longer works.
func TestStoredClientSecret(t *testing.T) {
	s := startSite(t, srpPool)
	st, err := sqlite.Open(t.Context(), s.db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	p, err := pool.New(t.Context(), st, pool.Config{Name: "default", Hash: pool.HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1}})
	if err != nil {
		t.Fatal(err)
	}
	newClient := func(id string, sealed bool) string {
		secret := oidc.NewClientSecret()
		c := &store.Client{ID: id, SecretHash: oidc.HashClientSecret(secret), RedirectURIs: []string{"https://" + id + ".example.test/cb"},
			GrantTypes: []string{"authorization_code", "refresh_token"}}
		if sealed {
			c.SecretSealed = p.SealClientSecret(id, secret)
		}
		if err := st.CreateClient(t.Context(), c); err != nil {
			t.Fatal(err)
		}
		return secret
	}
	sealedSecret := newClient("storedsealed", true)
	digestSecret := newClient("storeddigest", false)
	srpStart := func(client, hash string) (int, map[string]any) {
		status, _, out := s.call(t, "InitiateAuth", map[string]any{"ClientId": client, "AuthFlow": "USER_SRP_AUTH",
			"AuthParameters": map[string]string{"USERNAME": "ada@example.com", "SRP_A": "02", "SECRET_HASH": hash}})
		return status, out
	}

	status, out := srpStart("storedsealed", secretHashOf(sealedSecret, "ada@example.com", "storedsealed"))
	if status != http.StatusOK || out["ChallengeName"] != "PASSWORD_VERIFIER" {
		t.Fatalf("sealed stored client, right SECRET_HASH: %d %v", status, out)
	}
	status, out = srpStart("storedsealed", secretHashOf("not the secret", "ada@example.com", "storedsealed"))
	if status != http.StatusBadRequest || out["message"] != "Unable to verify secret hash for client storedsealed" {
		t.Errorf("sealed stored client, wrong SECRET_HASH: %d %v", status, out)
	}
	email := "stored-signup@example.com"
	status, _, out = s.call(t, "SignUp", map[string]any{"ClientId": "storedsealed", "Username": email, "Password": "correct horse battery staple 9",
		"SecretHash": secretHashOf(sealedSecret, email, "storedsealed")})
	if status != http.StatusOK || out["UserSub"] == nil {
		t.Errorf("SignUp through the sealed stored client: %d %v", status, out)
	}

	status, out = srpStart("storeddigest", secretHashOf(digestSecret, "ada@example.com", "storeddigest"))
	msg, _ := out["message"].(string)
	if status != http.StatusBadRequest || out["__type"] != "NotAuthorizedException" || !strings.Contains(msg, "gatehouse clients rotate-secret --id storeddigest") {
		t.Errorf("digest-only stored client: %d %v", status, out)
	}
	// Rotated (as `gatehouse clients rotate-secret` does): the new secret
	// works, the old one no longer.
	fresh := oidc.NewClientSecret()
	if err := st.SetClientSecret(t.Context(), "storeddigest", oidc.HashClientSecret(fresh), p.SealClientSecret("storeddigest", fresh)); err != nil {
		t.Fatal(err)
	}
	if status, out = srpStart("storeddigest", secretHashOf(fresh, "ada@example.com", "storeddigest")); status != http.StatusOK {
		t.Errorf("rotated client, new secret: %d %v", status, out)
	}
	if status, out = srpStart("storeddigest", secretHashOf(digestSecret, "ada@example.com", "storeddigest")); status != http.StatusBadRequest {
		t.Errorf("rotated client, old secret: %d %v", status, out)
	}
	// A sealed secret copied onto another client's row does not open
	// there: that client is treated as digest-only.
	c, err := st.ClientByID(t.Context(), "storedsealed")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetClientSecret(t.Context(), "storeddigest", c.SecretHash, c.SecretSealed); err != nil {
		t.Fatal(err)
	}
	if status, out = srpStart("storeddigest", secretHashOf(sealedSecret, "ada@example.com", "storeddigest")); status != http.StatusBadRequest {
		t.Errorf("another client's sealed secret: %d %v", status, out)
	}
}
