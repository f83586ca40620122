package openid

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-auth/gatehouse/federation"
)

func newKeyPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// TestAppleSecret: the client secret is Apple's ES256 JWT, kept while
// fresh and made again before it could expire.
func TestAppleSecret(t *testing.T) {
	t.Parallel()
	key, err := parseAppleKey(newKeyPEM(t))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	s := &appleSecret{key: key, teamID: "TEAM", keyID: "KID", clientID: "com.example.web", audience: AppleIssuer, now: func() time.Time { return now }}
	first, err := s.Secret()
	if err != nil {
		t.Fatal(err)
	}
	var claims jwt.RegisteredClaims
	tok, err := jwt.ParseWithClaims(first, &claims, func(tok *jwt.Token) (any, error) { return &key.PublicKey, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithIssuer("TEAM"), jwt.WithSubject("com.example.web"), jwt.WithAudience(AppleIssuer))
	if err != nil {
		t.Fatalf("the secret does not verify as Apple checks it: %v", err)
	}
	if tok.Header["kid"] != "KID" || claims.ExpiresAt.Sub(claims.IssuedAt.Time) != appleSecretLifetime {
		t.Errorf("kid %v, lifetime %v", tok.Header["kid"], claims.ExpiresAt.Sub(claims.IssuedAt.Time))
	}
	now = now.Add(appleSecretRenew - time.Second)
	if again, _ := s.Secret(); again != first {
		t.Error("a fresh secret was not kept")
	}
	now = now.Add(2 * time.Second)
	if again, _ := s.Secret(); again == first {
		t.Error("an aging secret was not renewed")
	}
}

func TestParseAppleKey(t *testing.T) {
	t.Parallel()
	rsaLike := "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(p384)
	for name, text := range map[string]string{
		"empty":         "",
		"not PEM":       "{file./nowhere}",
		"RSA block":     rsaLike,
		"P-384 key":     string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"garbage bytes": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
	} {
		if _, err := parseAppleKey(text); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

// TestCaddyfile: each kind reads its block and refuses what it does not
// know, naming the directive.
func TestCaddyfile(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"gatehouse.idp.oidc", "gatehouse.idp.google", "gatehouse.idp.microsoft", "gatehouse.idp.apple"} {
		if _, err := caddy.GetModule(id); err != nil {
			t.Errorf("module %s: %v", id, err)
		}
	}
	bad := map[string]string{
		"unknown option":         "oidc {\n issuer https://sso.example\n client_id x\n colour blue\n}",
		"no issuer":              "oidc {\n client_id x\n}",
		"no client id":           "google {\n client_secret x\n}",
		"bad response mode":      "oidc {\n issuer https://sso.example\n client_id x\n response_mode fragment\n}",
		"http issuer":            "oidc {\n issuer http://sso.example\n client_id x\n}",
		"scopes without openid":  "oidc {\n issuer https://sso.example\n client_id x\n scopes email\n}",
		"two client ids":         "oidc {\n issuer https://sso.example\n client_id x y\n}",
		"apple client secret":    "apple {\n client_id x\n team_id t\n key_id k\n private_key p\n client_secret s\n}",
		"apple without team":     "apple {\n client_id x\n key_id k\n private_key p\n}",
		"apple bad key":          "apple {\n client_id x\n team_id t\n key_id k\n private_key nonsense\n}",
		"tenant by domain":       "microsoft {\n client_id x\n tenant contoso.com\n}",
		"hosted domain wildcard": "google {\n client_id x\n hosted_domain *\n}",
		"argument on the kind":   "oidc corp {\n issuer https://sso.example\n client_id x\n}",
		"mapping the address":    "oidc {\n issuer https://sso.example\n client_id x\n attribute email upn\n}",
		"trust_email maybe":      "oidc {\n issuer https://sso.example\n client_id x\n trust_email maybe\n}",
	}
	for name, block := range bad {
		_, err := tryOpen(t, "corp", block)
		if err == nil {
			t.Errorf("%s: opened", name)
			continue
		}
		if !strings.Contains(err.Error(), "idp ") && !strings.Contains(err.Error(), "attribute") && !strings.Contains(err.Error(), "private_key") {
			t.Errorf("%s: %v does not name the directive", name, err)
		}
	}
	good := []string{
		"oidc {\n issuer https://sso.example\n client_id x\n client_secret y\n scopes openid email\n response_mode form_post\n trust_email\n domains acme.example\n link_by_email\n create_users off\n}",
		"google {\n client_id x\n client_secret y\n hosted_domain a.example b.example\n}",
		"microsoft {\n client_id x\n client_secret y\n tenant organizations\n allowed_tenants " + "aaaaaaaa-0000-4000-8000-00000000000a\n}",
		"microsoft {\n client_id x\n tenant aaaaaaaa-0000-4000-8000-00000000000a\n}",
	}
	for _, block := range good {
		c, err := tryOpen(t, "corp", block)
		if err != nil {
			t.Errorf("%s: %v", block, err)
			continue
		}
		if info := c.Info(); strings.HasPrefix(block, "oidc") && (info.CreateUsers || !info.LinkByEmail || len(info.Domains) != 1 || !info.FormPost) {
			t.Errorf("common options not applied: %+v", info)
		}
	}
}

// TestJSONRoundTrip: what a Caddyfile block gives survives the JSON the
// module's configuration is kept in (caddyconfig.JSONModuleObject, then
// the module loaded from it).
func TestJSONRoundTrip(t *testing.T) {
	t.Parallel()
	d := caddyfile.NewTestDispenser("microsoft {\n client_id x\n client_secret {env.NOPE_UNSET_X}\n tenant organizations\n allowed_tenants AAAAAAAA-0000-4000-8000-00000000000A\n display_name Entra\n domains contoso.example\n attribute custom:upn preferred_username\n}")
	var m Microsoft
	if err := m.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(&m)
	if err != nil {
		t.Fatal(err)
	}
	var back Microsoft
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m, back) {
		t.Errorf("JSON %s\nread back %+v, want %+v", raw, back, m)
	}
	for _, k := range []string{`"client_id":"x"`, `"tenant":"organizations"`, `"display_name":"Entra"`, `"allowed_tenants"`, `"attributes"`} {
		if !strings.Contains(string(raw), k) {
			t.Errorf("JSON %s lacks %s", raw, k)
		}
	}
	// A secret whose variable is unset is refused when the pool opens, not
	// sent as an empty secret.
	if _, err := back.Open(t.Context(), federation.Env{Name: "entra"}); err == nil || !strings.Contains(err.Error(), "client_secret") {
		t.Errorf("Open with an unset secret variable: %v", err)
	}
}
