package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-auth/gatehouse/middleware/albdata"
	"github.com/gatehouse-auth/gatehouse/signing"
	"github.com/gatehouse-auth/gatehouse/store/sqlite/sqlitetest"
)

const keyPrefix = "/_gatehouse/public-keys/"

// keySet opens a fresh SQLite store, as a Gatehouse pool does, and loads
// (creates) its signing keys.
func keySet(t *testing.T) *signing.KeySet {
	t.Helper()
	ctx := context.Background()
	st := sqlitetest.Open(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	ks, err := signing.Open(ctx, st, signing.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// keyServer serves ks's public keys as Gatehouse does, counting requests.
func keyServer(t *testing.T, ks *signing.KeySet) (keyURL string, hits *atomic.Int64) {
	t.Helper()
	hits = new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		kid, ok := strings.CutPrefix(r.URL.Path, keyPrefix)
		if !ok {
			http.NotFound(w, r)
			return
		}
		ks.ServePublicKey(w, r, kid)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + keyPrefix, hits
}

func signer(ks *signing.KeySet, arn string) *albdata.Signer {
	return &albdata.Signer{
		Keys:     ks,
		ARN:      arn,
		Issuer:   "http://localhost:8080",
		ClientID: "gatehouse",
	}
}

var userClaims = map[string]any{
	"sub":            "4f9e1c2a-user",
	"email":          "ada@example.com",
	"email_verified": true,
	"name":           "Ada Lovelace",
	"groups":         []string{"admins"},
}

func mustSign(t *testing.T, s *albdata.Signer, exp time.Time) string {
	t.Helper()
	token, err := s.Sign(userClaims, exp)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// serve sends one request with the data header (if any) to the app.
func serve(h http.Handler, data string) (int, string) {
	r := httptest.NewRequest(http.MethodGet, "/private/page?x=1", nil)
	if data != "" {
		r.Header.Set("X-Amzn-Oidc-Data", data)
		r.Header.Set("X-Amzn-Oidc-Identity", userClaims["sub"].(string))
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	body, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(body)
}

func TestAcceptsGatehouseData(t *testing.T) {
	ks := keySet(t)
	keyURL, hits := keyServer(t, ks)
	h := NewHandler(&Verifier{KeyURL: keyURL, Signer: defaultSigner, Client: http.DefaultClient})
	token := mustSign(t, signer(ks, albdata.DefaultARN("default")), time.Now().Add(time.Hour))

	code, body := serve(h, token)
	if code != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", code, body)
	}
	for _, want := range []string{
		"Hello, ada@example.com",
		`<code>&#34;4f9e1c2a-user&#34;</code>`,
		`<code>[&#34;admins&#34;]</code>`,
		"<code>true</code>",
		"<code>/private/page?x=1</code>",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s:\n%s", want, body)
		}
	}
	if code, _ := serve(h, token); code != http.StatusOK {
		t.Fatalf("second request: status %d", code)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("public key fetched %d times for two requests, want once (cached by kid)", n)
	}
}

// TestAcceptsUnpaddedData: a token from an issuer that follows RFC 7515 (no
// padding) verifies too, so the fallback decoder is exercised.
func TestAcceptsUnpaddedData(t *testing.T) {
	ks := keySet(t)
	keyURL, _ := keyServer(t, ks)
	h := NewHandler(&Verifier{KeyURL: keyURL, Signer: defaultSigner})
	key := ks.Current()
	claims := jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range userClaims {
		claims[k] = v
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["kid"] = key.ID
	tok.Header["signer"] = defaultSigner
	signed, err := tok.SignedString(key.Private)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(signed, "=") {
		t.Fatalf("jwt produced a padded token: %s", signed)
	}
	if code, body := serve(h, signed); code != http.StatusOK {
		t.Fatalf("unpadded token: status %d, want 200: %s", code, body)
	}
}

func TestRejects(t *testing.T) {
	ks := keySet(t)
	keyURL, hits := keyServer(t, ks)
	good := signer(ks, defaultSigner)
	exp := time.Now().Add(time.Hour)
	token := mustSign(t, good, exp)
	parts := strings.Split(token, ".")

	// The payload re-encoded with another email, the signature kept.
	payload, err := base64.URLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	claims["email"] = "attacker@example.com"
	forged, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	tampered := parts[0] + "." + base64.URLEncoding.EncodeToString(forged) + "." + parts[2]

	// A flipped signature byte.
	sig, err := base64.URLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	sig[len(sig)/2] ^= 1
	badSig := parts[0] + "." + parts[1] + "." + base64.URLEncoding.EncodeToString(sig)

	// Another pool's key: its kid is unknown to this key server.
	otherPool := mustSign(t, signer(keySet(t), defaultSigner), exp)

	for _, tc := range []struct {
		name, data string
		fetch      bool // whether verification gets as far as fetching a key
	}{
		{"no header", "", false},
		{"not a JWT", "garbage", false},
		{"tampered payload", tampered, true},
		{"tampered signature", badSig, true},
		{"wrong signer", mustSign(t, signer(ks, "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/other/1"), exp), false},
		{"unknown kid", otherPool, true},
		{"expired", mustSign(t, good, time.Now().Add(-time.Hour)), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A fresh verifier, so the key cache does not hide a fetch.
			h := NewHandler(&Verifier{KeyURL: keyURL, Signer: defaultSigner})
			before := hits.Load()
			code, body := serve(h, tc.data)
			if code != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401: %s", code, body)
			}
			if strings.Contains(body, "ada@example.com") || strings.Contains(body, "attacker@") {
				t.Errorf("a rejected request shows claims: %s", body)
			}
			if fetched := hits.Load() != before; fetched != tc.fetch {
				t.Errorf("key fetched: %v, want %v", fetched, tc.fetch)
			}
		})
	}

	// The control: the token every forgery started from verifies.
	if code, body := serve(NewHandler(&Verifier{KeyURL: keyURL, Signer: defaultSigner}), token); code != http.StatusOK {
		t.Fatalf("the untampered token: status %d: %s", code, body)
	}
}

// TestDefaultSignerMatchesGatehouse keeps the flag's default in step with
// what Gatehouse signs for pool "default".
func TestDefaultSignerMatchesGatehouse(t *testing.T) {
	if want := albdata.DefaultARN("default"); defaultSigner != want {
		t.Errorf("defaultSigner = %q, Gatehouse signs %q", defaultSigner, want)
	}
}
