package albdata

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-auth/gatehouse/signing"
	"github.com/gatehouse-auth/gatehouse/store/sqlite/sqlitetest"
)

// albKeySet loads a KeySet on a fresh SQLite store.
func albKeySet(t testing.TB) *signing.KeySet {
	t.Helper()
	s := sqlitetest.Open(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	ks, err := signing.Open(t.Context(), s, signing.Policy{})
	if err != nil {
		t.Fatalf("signing.Open: %v", err)
	}
	return ks
}

// albKeyServer serves ks's public keys the way the gateway mounts them.
func albKeyServer(t *testing.T, ks *signing.KeySet) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/_gatehouse/public-keys/{kid}", func(w http.ResponseWriter, r *http.Request) {
		ks.ServePublicKey(w, r, r.PathValue("kid"))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/_gatehouse/public-keys/"
}

// albVerify checks token the way an upstream behind an ALB does: decode the
// JOSE header, check signer, fetch the PEM named by kid from keyURL, verify
// ES256 (and only ES256) with it. It returns the decoded JOSE header and the
// claims.
func albVerify(keyURL, wantSigner, token string) (map[string]any, jwt.MapClaims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, nil, fmt.Errorf("%d segments", len(parts))
	}
	// Padding-strict, like AWS's example code for ALB upstreams.
	rawHeader, err := base64.URLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, nil, fmt.Errorf("header: %w", err)
	}
	var header map[string]any
	if err := json.Unmarshal(rawHeader, &header); err != nil {
		return nil, nil, fmt.Errorf("header: %w", err)
	}
	if header["signer"] != wantSigner {
		return nil, nil, fmt.Errorf("signer %v, want %s", header["signer"], wantSigner)
	}
	kid, _ := header["kid"].(string)
	resp, err := http.Get(keyURL + kid)
	if err != nil {
		return nil, nil, err
	}
	pemBytes, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("public key %q: %s", kid, resp.Status)
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, nil, errors.New("public key: no PEM block")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, nil, err
	}
	claims := jwt.MapClaims{}
	_, err = jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithPaddingAllowed())
	if err != nil {
		return nil, nil, err
	}
	return header, claims, nil
}

func albSigner(ks *signing.KeySet) *Signer {
	return &Signer{
		Keys:     ks,
		ARN:      DefaultARN("default"),
		Issuer:   "https://auth.example.com",
		ClientID: "webapp",
	}
}

func TestDefaultARN(t *testing.T) {
	for pool, want := range map[string]string{
		"default": "arn:aws:elasticloadbalancing:gh-local-1:000000000000:loadbalancer/app/gatehouse/default",
		"staff":   "arn:aws:elasticloadbalancing:gh-local-1:000000000000:loadbalancer/app/gatehouse/staff",
	} {
		if got := DefaultARN(pool); got != want {
			t.Errorf("DefaultARN(%q) = %q, want %q", pool, got, want)
		}
	}
}

func TestALBDataVerifiesLikeALB(t *testing.T) {
	ks := albKeySet(t)
	keyURL := albKeyServer(t, ks)
	s := albSigner(ks)
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	claims := map[string]any{
		"sub":            "0b1c2d3e-user",
		"email":          "ada@example.com",
		"email_verified": true,
		"groups":         []string{"admins", "dev"},
		// Sign must replace these with its own.
		"exp": 1,
		"iss": "https://evil.example",
	}

	token, err := s.Sign(claims, exp)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	for i, seg := range strings.Split(token, ".") {
		if len(seg)%4 != 0 {
			t.Errorf("segment %d is not padded as ALB pads it: %q", i, seg)
		}
	}
	header, got, err := albVerify(keyURL, s.ARN, token)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}

	wantHeader := map[string]any{
		"alg":    "ES256",
		"typ":    "JWT",
		"kid":    ks.Current().ID,
		"signer": s.ARN,
		"iss":    s.Issuer,
		"client": s.ClientID,
		"exp":    float64(exp.Unix()),
	}
	for name, want := range wantHeader {
		if header[name] != want {
			t.Errorf("header %s = %#v, want %#v", name, header[name], want)
		}
	}
	for name := range header {
		if _, ok := wantHeader[name]; !ok {
			t.Errorf("unexpected header field %s = %#v", name, header[name])
		}
	}

	wantClaims := map[string]any{
		"sub":            "0b1c2d3e-user",
		"email":          "ada@example.com",
		"email_verified": true,
		"exp":            float64(exp.Unix()),
		"iss":            s.Issuer,
	}
	for name, want := range wantClaims {
		if got[name] != want {
			t.Errorf("claim %s = %#v, want %#v", name, got[name], want)
		}
	}
	groups, ok := got["groups"].([]any)
	if !ok || !slices.Equal(groups, []any{"admins", "dev"}) {
		t.Errorf("claim groups = %#v, want a JSON array [admins dev]", got["groups"])
	}
	if len(got) != len(wantClaims)+1 {
		t.Errorf("claims = %v, want exactly %d", got, len(wantClaims)+1)
	}
	if claims["exp"] != 1 || claims["iss"] != "https://evil.example" {
		t.Error("Sign modified the caller's claims")
	}
}

// albSegment base64url-encodes v as JSON, as a JWT segment.
func albSegment(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.URLEncoding.EncodeToString(b)
}

func TestALBDataRejected(t *testing.T) {
	ks := albKeySet(t)
	keyURL := albKeyServer(t, ks)
	s := albSigner(ks)
	exp := time.Now().Add(time.Hour)
	claims := map[string]any{"sub": "user-1", "email": "ada@example.com"}
	good, err := s.Sign(claims, exp)
	if err != nil {
		t.Fatal(err)
	}
	// The control: every forgery below starts from a token that verifies.
	if _, _, err := albVerify(keyURL, s.ARN, good); err != nil {
		t.Fatalf("untampered token: %v", err)
	}
	parts := strings.Split(good, ".")
	var header map[string]any
	raw, _ := base64.URLEncoding.DecodeString(parts[0])
	if err := json.Unmarshal(raw, &header); err != nil {
		t.Fatal(err)
	}

	// Another pool, with its own keys.
	stranger := albSigner(albKeySet(t))
	strangerTok, err := stranger.Sign(claims, exp)
	if err != nil {
		t.Fatal(err)
	}
	sp := strings.Split(strangerTok, ".")

	// The stranger's key, labelled with our kid and signer.
	forged := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"sub": "user-1", "exp": exp.Unix(), "iss": s.Issuer})
	for name, v := range header {
		forged.Header[name] = v
	}
	forgedTok, err := forged.SignedString(stranger.Keys.Current().Private)
	if err != nil {
		t.Fatal(err)
	}

	noneHeader := map[string]any{}
	for name, v := range header {
		noneHeader[name] = v
	}
	noneHeader["alg"] = "none"
	noneTok := albSegment(t, noneHeader) + "." + parts[1] + "."

	// HS256 keyed with the public PEM: the classic algorithm confusion.
	rec := httptest.NewRecorder()
	ks.ServePublicKey(rec, httptest.NewRequest(http.MethodGet, "/", nil), ks.Current().ID)
	pemBytes := rec.Body.Bytes()
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "user-1", "exp": exp.Unix(), "iss": s.Issuer})
	for name, v := range header {
		if name != "alg" {
			hs.Header[name] = v
		}
	}
	hsTok, err := hs.SignedString(pemBytes)
	if err != nil {
		t.Fatal(err)
	}

	expired, err := s.Sign(claims, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, token, signer string
	}{
		{"tampered payload", parts[0] + "." + albSegment(t, map[string]any{"sub": "admin", "exp": exp.Unix(), "iss": s.Issuer}) + "." + parts[2], s.ARN},
		{"tampered header", albSegment(t, map[string]any{"alg": "ES256", "typ": "JWT", "kid": header["kid"], "signer": s.ARN, "iss": s.Issuer, "client": "other", "exp": header["exp"]}) + "." + parts[1] + "." + parts[2], s.ARN},
		{"signature from another token", parts[0] + "." + parts[1] + "." + sp[2], s.ARN},
		{"another pool's token", strangerTok, s.ARN},
		{"another key claiming our kid", forgedTok, s.ARN},
		{"alg none", noneTok, s.ARN},
		{"HS256 keyed with the PEM", hsTok, s.ARN},
		{"expired", expired, s.ARN},
		{"signer of another pool", good, DefaultARN("other")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := albVerify(keyURL, tc.signer, tc.token); err == nil {
				t.Error("verified, want rejected")
			}
		})
	}
}

func TestALBDataSignErrors(t *testing.T) {
	ks := albKeySet(t)
	exp := time.Now().Add(time.Hour)
	ok := albSigner(ks)
	tests := []struct {
		name   string
		signer *Signer
		claims map[string]any
	}{
		{"no sub", ok, map[string]any{"email": "ada@example.com"}},
		{"empty sub", ok, map[string]any{"sub": ""}},
		{"non-string sub", ok, map[string]any{"sub": 42}},
		{"nil claims", ok, nil},
		{"no keys", &Signer{ARN: ok.ARN, Issuer: ok.Issuer, ClientID: ok.ClientID}, map[string]any{"sub": "u"}},
		{"no signer", &Signer{Keys: ks, Issuer: ok.Issuer, ClientID: ok.ClientID}, map[string]any{"sub": "u"}},
		{"no issuer", &Signer{Keys: ks, ARN: ok.ARN, ClientID: ok.ClientID}, map[string]any{"sub": "u"}},
		{"no client", &Signer{Keys: ks, ARN: ok.ARN, Issuer: ok.Issuer}, map[string]any{"sub": "u"}},
		{"unencodable claim", ok, map[string]any{"sub": "u", "bad": make(chan int)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tok, err := tc.signer.Sign(tc.claims, exp); err == nil {
				t.Errorf("Sign = %q, want an error", tok)
			}
		})
	}
	// The control: the same signer does sign a valid claim set.
	if _, err := ok.Sign(map[string]any{"sub": "u"}, exp); err != nil {
		t.Errorf("Sign with a valid sub: %v", err)
	}
}

func BenchmarkALBDataSign(b *testing.B) {
	s := albSigner(albKeySet(b))
	claims := map[string]any{
		"sub":            "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0",
		"email":          "ada@example.com",
		"email_verified": true,
		"name":           "Ada Lovelace",
		"groups":         []string{"admins", "dev"},
	}
	exp := time.Now().Add(time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(claims, exp); err != nil {
			b.Fatal(err)
		}
	}
}
