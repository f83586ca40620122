package signing

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/store/sqlite"
	"github.com/gatehouse-auth/gatehouse/store/sqlite/sqlitetest"
)

// openKeyStore opens a fresh SQLite store at path (or in a temp dir when
// path is empty), closed when the test ends.
func openKeyStore(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "gatehouse.db")
	}
	s := sqlitetest.Open(t, path)
	return s
}

// countingStore counts Keys calls and can be made to fail them.
type countingStore struct {
	store.Store
	keysCalls atomic.Int32
	fail      atomic.Bool
}

func (c *countingStore) Keys(ctx context.Context, kind string) ([]store.Key, error) {
	c.keysCalls.Add(1)
	if c.fail.Load() {
		return nil, errors.New("store down")
	}
	return c.Store.Keys(ctx, kind)
}

// addSigningKey stores a new valid P-256 key created at created.
func addSigningKey(t *testing.T, s store.Store, created time.Time) store.Key {
	t.Helper()
	k, err := generateKey()
	if err != nil {
		t.Fatal(err)
	}
	k.CreatedAt = created
	if err := s.AddKey(t.Context(), k); err != nil {
		t.Fatalf("AddKey: %v", err)
	}
	return k
}

func pkcs8(t *testing.T, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestOpenFreshStoreCreatesOneKey(t *testing.T) {
	s := openKeyStore(t, "")
	ks, err := Open(t.Context(), s, Policy{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	stored, err := s.Keys(t.Context(), KeyKind)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 1 {
		t.Fatalf("store holds %d %q keys, want 1", len(stored), KeyKind)
	}
	cur := ks.Current()
	if cur.ID != stored[0].ID {
		t.Errorf("Current().ID = %q, stored key is %q", cur.ID, stored[0].ID)
	}
	if err := uuid.Validate(cur.ID); err != nil {
		t.Errorf("kid %q is not a UUID: %v", cur.ID, err)
	}
	if cur.Private == nil || cur.Private.Curve != elliptic.P256() {
		t.Errorf("Current().Private is not a P-256 key")
	}
	if cur.Created.IsZero() {
		t.Error("Current().Created is zero")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(stored[0].Material)
	if err != nil {
		t.Fatalf("stored material is not PKCS#8: %v", err)
	}
	if !cur.Private.Equal(parsed) {
		t.Error("stored material is not the current key")
	}
}

func TestOpenRestartKeepsKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	s1 := openKeyStore(t, path)
	first, err := Open(t.Context(), s1, Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := openKeyStore(t, path)
	second, err := Open(t.Context(), s2, Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := second.Current().ID, first.Current().ID; got != want {
		t.Errorf("after restart kid = %q, want %q", got, want)
	}
	if !second.Current().Private.Equal(first.Current().Private) {
		t.Error("after restart the private key differs")
	}
	stored, err := s2.Keys(t.Context(), KeyKind)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 1 {
		t.Errorf("store holds %d keys after restart, want 1", len(stored))
	}
}

func TestReloadPicksUpNewerKey(t *testing.T) {
	s := openKeyStore(t, "")
	ks, err := Open(t.Context(), s, Policy{})
	if err != nil {
		t.Fatal(err)
	}
	old := ks.Current()
	oldPEM, ok := ks.PublicKeyPEM(old.ID)
	if !ok {
		t.Fatal("PublicKeyPEM(current) not found")
	}

	// Another instance mints a newer key.
	added := addSigningKey(t, s, old.Created.Add(time.Hour))
	if ks.Current().ID != old.ID {
		t.Fatal("Current changed before Reload")
	}
	if _, ok := ks.PublicKeyPEM(added.ID); ok {
		t.Fatal("new key known before Reload")
	}

	if err := ks.Reload(t.Context()); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got := ks.Current().ID; got != added.ID {
		t.Errorf("after Reload Current().ID = %q, want the new key %q", got, added.ID)
	}
	if _, ok := ks.PublicKeyPEM(added.ID); !ok {
		t.Error("after Reload the new key's PEM is not served")
	}
	stillOld, ok := ks.PublicKeyPEM(old.ID)
	if !ok {
		t.Fatal("after Reload the old key's PEM is gone")
	}
	if string(stillOld) != string(oldPEM) {
		t.Error("after Reload the old key's PEM changed")
	}
}

func TestReloadErrorKeepsKeys(t *testing.T) {
	cs := &countingStore{Store: openKeyStore(t, "")}
	ks, err := Open(t.Context(), cs, Policy{})
	if err != nil {
		t.Fatal(err)
	}
	before := ks.Current()
	addSigningKey(t, cs, before.Created.Add(time.Hour))
	cs.fail.Store(true)
	if err := ks.Reload(t.Context()); err == nil {
		t.Fatal("Reload on a failing store returned nil")
	}
	if ks.Current() != before {
		t.Error("Current changed after a failed Reload")
	}
	if _, ok := ks.PublicKeyPEM(before.ID); !ok {
		t.Error("PublicKeyPEM lost the loaded key after a failed Reload")
	}
}

func TestPublicKeyPEMIsCallersCopy(t *testing.T) {
	ks, err := Open(t.Context(), openKeyStore(t, ""), Policy{})
	if err != nil {
		t.Fatal(err)
	}
	kid := ks.Current().ID
	p, _ := ks.PublicKeyPEM(kid)
	clear(p)
	again, _ := ks.PublicKeyPEM(kid)
	if block, _ := pem.Decode(again); block == nil {
		t.Error("writing to a returned PEM changed the KeySet's copy")
	}
}

func TestOpenSkipsUnusableKeys(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string][]byte{
		"garbage": []byte("not a key at all"),
		"p384":    pkcs8(t, p384),
		"rsa":     pkcs8(t, rsaKey),
	}
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

	tests := []struct {
		name string
		bad  string // material of the newest key
		good bool   // whether an older valid key exists
	}{
		{"garbage newest, good older", "garbage", true},
		{"P-384 newest, good older", "p384", true},
		{"RSA newest, good older", "rsa", true},
		{"only garbage", "garbage", false},
		{"only P-384", "p384", false},
		{"only RSA", "rsa", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openKeyStore(t, "")
			var good store.Key
			if tc.good {
				good = addSigningKey(t, s, base)
			}
			badID := uuid.NewString()
			if err := s.AddKey(t.Context(), store.Key{
				Kind: KeyKind, ID: badID, Material: bad[tc.bad], CreatedAt: base.Add(time.Hour),
			}); err != nil {
				t.Fatal(err)
			}

			ks, err := Open(t.Context(), s, Policy{})
			if !tc.good {
				if err == nil {
					t.Fatal("Open with no usable key returned nil error")
				}
				if !strings.Contains(err.Error(), badID) {
					t.Errorf("error %q does not name the bad key %s", err, badID)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if got := ks.Current().ID; got != good.ID {
				t.Errorf("Current().ID = %q, want the usable key %q", got, good.ID)
			}
			if _, ok := ks.PublicKeyPEM(badID); ok {
				t.Error("PEM served for the unusable key")
			}
		})
	}
}

// verifyWithPEM checks that tok was signed ES256 by the key in pemBytes.
func verifyWithPEM(t *testing.T, pemBytes []byte, tok string) error {
	t.Helper()
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "PUBLIC KEY" {
		t.Fatalf("body is not a PUBLIC KEY PEM block: %q", pemBytes)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatalf("ParsePKIXPublicKey: %v", err)
	}
	_, err = jwt.Parse(tok, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"ES256"}))
	return err
}

func TestServePublicKey(t *testing.T) {
	s := openKeyStore(t, "")
	ks, err := Open(t.Context(), s, Policy{})
	if err != nil {
		t.Fatal(err)
	}
	cur := ks.Current()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"sub": "x"}).SignedString(cur.Private)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherTok, err := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"sub": "x"}).SignedString(other)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		method   string
		kid      string
		status   int
		body     string // exact body for errors; "" for the PEM cases
		wantPEM  bool
		wantBody bool
	}{
		{"GET current", http.MethodGet, cur.ID, http.StatusOK, "", true, true},
		{"HEAD current", http.MethodHead, cur.ID, http.StatusOK, "", true, false},
		{"unknown UUID", http.MethodGet, uuid.NewString(), http.StatusNotFound, "unknown key\n", false, true},
		{"empty kid", http.MethodGet, "", http.StatusNotFound, "unknown key\n", false, true},
		{"path traversal", http.MethodGet, "../../etc/passwd", http.StatusNotFound, "unknown key\n", false, true},
		{"UUID without dashes", http.MethodGet, strings.ReplaceAll(cur.ID, "-", ""), http.StatusNotFound, "unknown key\n", false, true},
		{"urn form", http.MethodGet, "urn:uuid:" + cur.ID, http.StatusNotFound, "unknown key\n", false, true},
		{"POST current", http.MethodPost, cur.ID, http.StatusMethodNotAllowed, "method not allowed\n", false, true},
		{"DELETE current", http.MethodDelete, cur.ID, http.StatusMethodNotAllowed, "method not allowed\n", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A real server, so HEAD gets the net/http treatment an
			// upstream would see.
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ks.ServePublicKey(w, r, tc.kid)
			}))
			defer srv.Close()
			req, err := http.NewRequestWithContext(t.Context(), tc.method, srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d (body %q)", resp.StatusCode, tc.status, body)
			}
			switch tc.status {
			case http.StatusMethodNotAllowed:
				if got := resp.Header.Get("Allow"); got != "GET, HEAD" {
					t.Errorf("Allow = %q, want %q", got, "GET, HEAD")
				}
			case http.StatusNotFound:
				if got := resp.Header.Get("Cache-Control"); got != "no-store" {
					t.Errorf("404 Cache-Control = %q, want no-store", got)
				}
			}
			if !tc.wantPEM {
				if string(body) != tc.body {
					t.Errorf("body = %q, want %q", body, tc.body)
				}
				return
			}
			if got, want := resp.Header.Get("Content-Type"), "text/plain; charset=utf-8"; got != want {
				t.Errorf("Content-Type = %q, want %q", got, want)
			}
			if got, want := resp.Header.Get("Cache-Control"), "public, max-age=86400"; got != want {
				t.Errorf("Cache-Control = %q, want %q", got, want)
			}
			want, _ := ks.PublicKeyPEM(cur.ID)
			if resp.ContentLength != int64(len(want)) {
				t.Errorf("Content-Length = %d, want %d", resp.ContentLength, len(want))
			}
			if !tc.wantBody {
				if len(body) != 0 {
					t.Errorf("HEAD body = %q, want empty", body)
				}
				return
			}
			if err := verifyWithPEM(t, body, tok); err != nil {
				t.Errorf("served key does not verify a token of the current key: %v", err)
			}
			if err := verifyWithPEM(t, body, otherTok); err == nil {
				t.Error("served key verifies a token of an unrelated key")
			}
		})
	}
}

func TestServePublicKeyStoreLookups(t *testing.T) {
	cs := &countingStore{Store: openKeyStore(t, "")}
	ks, err := Open(t.Context(), cs, Policy{})
	if err != nil {
		t.Fatal(err)
	}
	get := func(kid string) int {
		rec := httptest.NewRecorder()
		ks.ServePublicKey(rec, httptest.NewRequest(http.MethodGet, "/_gatehouse/public-keys/"+kid, nil), kid)
		return rec.Code
	}
	base := cs.keysCalls.Load()

	for _, kid := range []string{"", "not-a-uuid", "urn:uuid:" + uuid.NewString(), strings.Repeat("a", 36)} {
		if code := get(kid); code != http.StatusNotFound {
			t.Errorf("kid %q: status %d, want 404", kid, code)
		}
	}
	if n := cs.keysCalls.Load() - base; n != 0 {
		t.Fatalf("non-UUID kids made %d store lookups, want 0", n)
	}
	if code := get(ks.Current().ID); code != http.StatusOK {
		t.Fatalf("known kid: status %d", code)
	}
	if n := cs.keysCalls.Load() - base; n != 0 {
		t.Fatalf("a known kid made %d store lookups, want 0", n)
	}

	// A key another instance just minted is found by reloading on the miss.
	added := addSigningKey(t, cs, ks.Current().Created.Add(time.Hour))
	if code := get(added.ID); code != http.StatusOK {
		t.Fatalf("key added by another instance: status %d, want 200", code)
	}
	if n := cs.keysCalls.Load() - base; n != 1 {
		t.Fatalf("the miss made %d store lookups, want 1", n)
	}
	if ks.Current().ID != added.ID {
		t.Error("the reload on a miss did not switch Current to the newer key")
	}

	// Further misses inside the interval are answered without the store.
	for range 20 {
		if code := get(uuid.NewString()); code != http.StatusNotFound {
			t.Fatalf("unknown UUID: status %d, want 404", code)
		}
	}
	if n := cs.keysCalls.Load() - base; n != 1 {
		t.Errorf("misses within %v made %d store lookups in all, want 1", missReloadInterval, n)
	}
}

func TestKeySetConcurrentReadsDuringReload(t *testing.T) {
	s := openKeyStore(t, "")
	ks, err := Open(t.Context(), s, Policy{})
	if err != nil {
		t.Fatal(err)
	}
	first := ks.Current().ID
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				cur := ks.Current()
				if _, ok := ks.PublicKeyPEM(cur.ID); !ok {
					t.Errorf("Current() %q has no PEM", cur.ID)
					return
				}
			}
		})
	}
	created := ks.Current().Created
	for i := range 5 {
		addSigningKey(t, s, created.Add(time.Duration(i+1)*time.Minute))
		if err := ks.Reload(t.Context()); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
	if _, ok := ks.PublicKeyPEM(first); !ok {
		t.Error("first key lost after reloads")
	}
	stored, err := s.Keys(t.Context(), KeyKind)
	if err != nil {
		t.Fatal(err)
	}
	if got := ks.Current().ID; got != stored[0].ID {
		t.Errorf("Current() = %q, want the newest stored key %q", got, stored[0].ID)
	}
}

// PublicKeyPEM (tests only: ServePublicKey is how keys are published) returns the PEM ("PUBLIC KEY", PKIX) of the key with that
// kid, and whether it is known. The slice is the caller's own.
func (k *KeySet) PublicKeyPEM(kid string) ([]byte, bool) {
	p, ok := k.snap.Load().pems[kid]
	return slices.Clone(p), ok
}

// generateKey mints a new P-256 key as PKCS#8 DER, the form other tools
// (openssl pkey -inform DER) read without help.
func generateKey() (store.Key, error) {
	return generateKeyFor(ES256, time.Now())
}

func decodeB64(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
