package openid

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-auth/gatehouse/federation"
)

// AppleIssuer is Apple's issuer, and the audience of its client secrets.
const AppleIssuer = "https://appleid.apple.com"

// Apple's client secret is a JWT Gatehouse signs: one is made for
// appleSecretLifetime and used until it is appleSecretRenew old, so a
// token request never carries one about to expire.
const (
	appleSecretLifetime = 30 * time.Minute
	appleSecretRenew    = 15 * time.Minute
)

// AppleScopes: Apple knows name and email; it has no profile scope.
var AppleScopes = []string{"openid", "email", "name"}

// appleAttributes: Apple's ID token has no names; they come once, in the
// first answer's `user` field, and are mapped from there.
var appleAttributes = map[string]string{
	"name":        "name",
	"given_name":  "given_name",
	"family_name": "family_name",
}

// Apple is Sign in with Apple (module gatehouse.idp.apple):
//
//	idp apple apple {
//		client_id    com.example.web         # the Services ID
//		team_id      ABCDE12345
//		key_id       XYZ987ABCD
//		private_key  {file./etc/gatehouse/AuthKey_XYZ987ABCD.p8}
//	}
//
// Apple answers with a form_post (a cross-site POST) and takes as client
// secret an ES256 JWT signed with the key: iss the team, sub the Services
// ID, aud Apple's issuer, short-lived and renewed before it expires. The
// user's name comes only with the first sign-in (the `user` field), so a
// pool that misses it keeps no name. Apple sends email_verified as "true".
type Apple struct {
	federation.Common
	ClientOptions
	// TeamID is the Apple Developer team's id (the secret's iss).
	TeamID string `json:"team_id,omitempty"`
	// KeyID is the Sign in with Apple key's id (the secret's kid).
	KeyID string `json:"key_id,omitempty"`
	// PrivateKey is the key's PEM text (the .p8 file's contents); use
	// {file.path} or {env.X} so it stays out of the configuration.
	PrivateKey string `json:"private_key,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Apple) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: federation.Namespace + ".apple", New: func() caddy.Module { return new(Apple) }}
}

// UnmarshalCaddyfile reads `apple { ... }`.
func (m *Apple) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return parseBlock(d, &m.Common, func(kind, opt string) (bool, error) {
		var dst *string
		switch opt {
		case "team_id":
			dst = &m.TeamID
		case "key_id":
			dst = &m.KeyID
		case "private_key":
			dst = &m.PrivateKey
		default:
			return m.ClientOptions.parse(d, kind, false)
		}
		v, err := oneArg(d, kind)
		*dst = v
		return true, err
	})
}

// Validate checks the configuration (caddy.Validator).
func (m *Apple) Validate() error {
	switch {
	case m.TeamID == "":
		return errors.New("idp apple: team_id is required")
	case m.KeyID == "":
		return errors.New("idp apple: key_id is required")
	case m.PrivateKey == "":
		return errors.New("idp apple: private_key is required (the .p8 key's PEM text, e.g. {file./path/AuthKey.p8})")
	case m.ClientSecret != "":
		return errors.New("idp apple: client_secret: Apple's client secret is made from team_id, key_id and private_key")
	}
	return m.ClientOptions.validate("apple", false)
}

// Open makes the connector (federation.Provider).
func (m *Apple) Open(ctx context.Context, env federation.Env) (federation.Connector, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if env.Name == "" {
		return nil, errNoName
	}
	cfg, err := m.clientConfig(env, "apple", AppleIssuer, AppleScopes)
	if err != nil {
		return nil, err
	}
	repl := caddy.NewReplacer()
	key, err := parseAppleKey(repl.ReplaceKnown(m.PrivateKey, ""))
	if err != nil {
		return nil, fmt.Errorf("idp %s apple: private_key: %w", env.Name, err)
	}
	secret := &appleSecret{
		key:      key,
		teamID:   strings.TrimSpace(repl.ReplaceKnown(m.TeamID, "")),
		keyID:    strings.TrimSpace(repl.ReplaceKnown(m.KeyID, "")),
		clientID: cfg.ClientID,
		audience: cfg.Issuer,
		now:      cfg.Now,
	}
	if secret.now == nil {
		secret.now = time.Now
	}
	if secret.teamID == "" || secret.keyID == "" {
		return nil, fmt.Errorf("idp %s apple: team_id or key_id is empty once placeholders are replaced", env.Name)
	}
	if _, err := secret.Secret(); err != nil {
		return nil, fmt.Errorf("idp %s apple: %w", env.Name, err)
	}
	cfg.SecretSource = secret.Secret
	client, err := newClient(env, "apple", cfg)
	if err != nil {
		return nil, err
	}
	c := &connector{
		info:         m.Common.Info(env.Name, "apple", "SignInWithApple", "Apple"),
		client:       client,
		mapping:      m.Mapping(appleAttributes),
		responseMode: "form_post",
		verified:     emailVerifiedClaim,
		appleUser:    true,
	}
	c.info.Protocol = federation.ProtocolOIDC
	c.info.FormPost = true
	return c, nil
}

// parseAppleKey reads a P-256 private key from PEM (PKCS #8, as Apple's
// .p8 files are, or SEC 1).
func parseAppleKey(text string) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(strings.TrimSpace(text)))
	if block == nil {
		return nil, errors.New("no PEM block (is the placeholder's file or variable set?)")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("a %q PEM block, want PRIVATE KEY", block.Type)
	}
	if err != nil {
		return nil, err
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("not a P-256 (ES256) key")
	}
	return ec, nil
}

// appleSecret makes and renews Apple's client-secret JWT.
type appleSecret struct {
	key                               *ecdsa.PrivateKey
	teamID, keyID, clientID, audience string
	now                               func() time.Time

	mu   sync.Mutex
	cur  string
	made time.Time
}

// Secret returns a client secret with at least appleSecretLifetime -
// appleSecretRenew left.
func (s *appleSecret) Secret() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.cur != "" && now.Sub(s.made) < appleSecretRenew && !now.Before(s.made) {
		return s.cur, nil
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.RegisteredClaims{
		Issuer:    s.teamID,
		Subject:   s.clientID,
		Audience:  jwt.ClaimStrings{s.audience},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(appleSecretLifetime)),
	})
	tok.Header["kid"] = s.keyID
	signed, err := tok.SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("signing the client secret: %w", err)
	}
	s.cur, s.made = signed, now
	return signed, nil
}

// Interface guards
var (
	_ federation.Provider   = (*Apple)(nil)
	_ caddyfile.Unmarshaler = (*Apple)(nil)
	_ caddy.Validator       = (*Apple)(nil)
)
