package oidc

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/signing"
	"github.com/gatehouse-auth/gatehouse/store"
)

// Grant types a client may be allowed.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
)

// Token lifetimes: the defaults, and the bounds a client's may be set to.
const (
	DefaultIDTokenTTL      = time.Hour
	DefaultAccessTokenTTL  = time.Hour
	DefaultRefreshTokenTTL = 30 * 24 * time.Hour
	// MaxRefreshTokenTTL keeps refresh tokens inside the pool's memory of
	// user-wide revocations (366 days), which they are checked against.
	MaxRefreshTokenTTL = 365 * 24 * time.Hour
	// MinClientSecretLen is the shortest secret a Caddyfile client may have.
	MinClientSecretLen = 16
	// DefaultRefreshGrace is how long, with rotation on, a just-retired
	// refresh token may be presented again: long enough for a browser's
	// tabs refreshing at once or a retried request, short enough that a
	// thief replaying a token later is still caught.
	DefaultRefreshGrace = 10 * time.Second
	// MaxRefreshGrace bounds a client's grace.
	MaxRefreshGrace = time.Minute
)

// Refresh token rotation settings of a client.
const (
	// RotationOn retires the refresh token presented and returns the next;
	// a retired token presented after the grace revokes its family. The
	// default.
	RotationOn = "on"
	// RotationOff returns no new refresh token: the one the client holds
	// keeps working until it expires or is revoked, as Cognito's do.
	RotationOff = "off"
)

// userScopes are the OpenID Connect scopes about a user; they make no sense
// for a machine (client_credentials) token.
var userScopes = []string{"openid", "email", "profile", "phone", "offline_access"}

// defaultScopes is what a client may ask for when its configuration lists none.
var defaultScopes = []string{"openid", "email", "profile", "phone"}

var (
	clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,128}$`)
	// scopePattern is RFC 6749's scope-token.
	scopePattern = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]{1,256}$`)
)

// Client is an OAuth 2.0 app client of a pool: written in the Caddyfile, or
// stored (the `gatehouse clients` CLI) and converted with ClientFromStore.
type Client struct {
	ID   string
	Name string
	// Secret is a Caddyfile client's secret, in the clear (it is
	// configuration); SecretHash a stored client's (HashClientSecret). A
	// public client has neither.
	Secret     string
	SecretHash string
	Public     bool
	// RedirectURIs are matched exactly.
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	// Scopes the client may ask for; default openid, email, profile, phone.
	Scopes []string
	// GrantTypes the client may use; default authorization_code and
	// refresh_token.
	GrantTypes      []string
	IDTokenTTL      time.Duration
	AccessTokenTTL  time.Duration
	RefreshTokenTTL time.Duration
	// RefreshTokenRotation is RotationOn (the default, "") or RotationOff.
	RefreshTokenRotation string
	// RefreshTokenGrace is, with rotation on, how long a just-retired
	// refresh token may be presented again without revoking its family;
	// zero means DefaultRefreshGrace, a negative value none.
	RefreshTokenGrace time.Duration
	// SigningAlg signs the client's tokens: ES256 (default) or RS256.
	SigningAlg string
	// AuthFlows are the Cognito user-pool API's sign-in flows the client
	// may use, by Cognito's ExplicitAuthFlows names (AuthFlow* constants);
	// default Cognito's for a new client: ALLOW_USER_SRP_AUTH and
	// ALLOW_REFRESH_TOKEN_AUTH. Stored clients have the default.
	AuthFlows []string

	secretSum [sha256.Size]byte
}

// ClientFromStore converts a stored client. Stored clients sign with ES256.
func ClientFromStore(sc *store.Client) *Client {
	return &Client{
		ID:                     sc.ID,
		Name:                   sc.Name,
		SecretHash:             sc.SecretHash,
		Public:                 sc.Public,
		RedirectURIs:           sc.RedirectURIs,
		PostLogoutRedirectURIs: sc.PostLogoutRedirectURIs,
		Scopes:                 sc.Scopes,
		GrantTypes:             sc.GrantTypes,
		IDTokenTTL:             sc.IDTokenTTL,
		AccessTokenTTL:         sc.AccessTokenTTL,
		RefreshTokenTTL:        sc.RefreshTokenTTL,
		RefreshTokenRotation:   sc.RefreshTokenRotation,
		RefreshTokenGrace:      sc.RefreshTokenGrace,
	}
}

// Validate checks c as written, before defaults; the error names the field.
func (c *Client) Validate() error {
	if !clientIDPattern.MatchString(c.ID) {
		return fmt.Errorf("client id %q: want 1 to 128 letters, digits, '.', '_', '~' or '-'", c.ID)
	}
	for _, g := range c.GrantTypes {
		if g != GrantAuthorizationCode && g != GrantRefreshToken && g != GrantClientCredentials {
			return fmt.Errorf("grant_types: unknown grant type %q (known: authorization_code, refresh_token, client_credentials)", g)
		}
	}
	grants := c.grantTypes()
	if slices.Contains(grants, GrantRefreshToken) && !slices.Contains(grants, GrantAuthorizationCode) {
		return errors.New("grant_types: refresh_token needs authorization_code (refresh tokens come from sign-ins)")
	}
	if slices.Contains(grants, GrantAuthorizationCode) && len(c.RedirectURIs) == 0 {
		return errors.New("redirect_uri: at least one is required for the authorization_code grant")
	}
	switch {
	case c.Public && (c.Secret != "" || c.SecretHash != ""):
		return errors.New("public: a public client has no secret")
	case c.Public && slices.Contains(grants, GrantClientCredentials):
		return errors.New("grant_types: client_credentials needs a confidential client (with a secret)")
	case !c.Public && c.Secret == "" && c.SecretHash == "":
		return errors.New("secret: required for a confidential client (or mark it public)")
	}
	for _, u := range c.RedirectURIs {
		if err := checkRegisteredURI(u); err != nil {
			return fmt.Errorf("redirect_uri %q: %w", u, err)
		}
	}
	for _, u := range c.PostLogoutRedirectURIs {
		if err := checkRegisteredURI(u); err != nil {
			return fmt.Errorf("post_logout_redirect_uri %q: %w", u, err)
		}
	}
	for _, s := range c.Scopes {
		if !scopePattern.MatchString(s) {
			return fmt.Errorf("scopes: %q is not a valid scope", s)
		}
	}
	for _, t := range []struct {
		name string
		v    time.Duration
		max  time.Duration
	}{
		{"id_token_ttl", c.IDTokenTTL, signing.MaxTokenTTL},
		{"access_token_ttl", c.AccessTokenTTL, signing.MaxTokenTTL},
		{"refresh_token_ttl", c.RefreshTokenTTL, MaxRefreshTokenTTL},
	} {
		if t.v < 0 || t.v > t.max {
			return fmt.Errorf("%s %s: want a positive duration of at most %s", t.name, t.v, t.max)
		}
	}
	switch c.RefreshTokenRotation {
	case "", RotationOn:
	case RotationOff:
		if c.RefreshTokenGrace > 0 {
			return errors.New("refresh_token_rotation: a grace needs rotation on")
		}
	default:
		return fmt.Errorf("refresh_token_rotation %q: want on or off", c.RefreshTokenRotation)
	}
	if c.RefreshTokenGrace > MaxRefreshGrace {
		return fmt.Errorf("refresh_token_rotation grace %s: want at most %s", c.RefreshTokenGrace, MaxRefreshGrace)
	}
	for _, f := range c.AuthFlows {
		if !slices.Contains(knownAuthFlows, f) {
			return fmt.Errorf("auth_flows: unknown flow %q (known: %s)", f, strings.Join(knownAuthFlows, ", "))
		}
	}
	if c.SigningAlg != "" && c.SigningAlg != signing.ES256 && c.SigningAlg != signing.RS256 {
		return fmt.Errorf("signing_alg %q: want ES256 or RS256", c.SigningAlg)
	}
	return nil
}

// checkRegisteredURI accepts an absolute URI without a fragment (RFC 6749
// §3.1.2); http is allowed for loopback and development, custom schemes for
// native apps.
func checkRegisteredURI(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return err
	case !u.IsAbs():
		return errors.New("must be an absolute URI")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return errors.New("must not have a fragment")
	case (u.Scheme == "http" || u.Scheme == "https") && u.Host == "":
		return errors.New("must have a host")
	case strings.ContainsAny(raw, " \t\r\n\\"):
		return errors.New("must not contain spaces or backslashes")
	}
	return nil
}

// ready returns a copy of c with defaults applied, checked.
func (c *Client) ready() (*Client, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	r := *c
	r.GrantTypes = c.grantTypes()
	if len(r.Scopes) == 0 {
		r.Scopes = defaultScopes
	}
	if r.IDTokenTTL == 0 {
		r.IDTokenTTL = DefaultIDTokenTTL
	}
	if r.AccessTokenTTL == 0 {
		r.AccessTokenTTL = DefaultAccessTokenTTL
	}
	if r.RefreshTokenTTL == 0 {
		r.RefreshTokenTTL = DefaultRefreshTokenTTL
	}
	if r.SigningAlg == "" {
		r.SigningAlg = signing.ES256
	}
	if r.RefreshTokenRotation == "" {
		r.RefreshTokenRotation = RotationOn
	}
	switch {
	case r.RefreshTokenRotation == RotationOff, r.RefreshTokenGrace < 0:
		r.RefreshTokenGrace = 0
	case r.RefreshTokenGrace == 0:
		r.RefreshTokenGrace = DefaultRefreshGrace
	}
	if len(r.AuthFlows) == 0 {
		r.AuthFlows = DefaultAuthFlows
	}
	if r.Secret != "" {
		// Compared as digests, so the comparison takes the same time
		// whatever the lengths.
		r.secretSum = sha256.Sum256([]byte(r.Secret))
	}
	return &r, nil
}

func (c *Client) grantTypes() []string {
	if len(c.GrantTypes) == 0 {
		return []string{GrantAuthorizationCode, GrantRefreshToken}
	}
	return c.GrantTypes
}

// rotates reports whether the client's refresh tokens rotate.
func (c *Client) rotates() bool { return c.RefreshTokenRotation != RotationOff }

// Cognito's ExplicitAuthFlows: the user-pool API's sign-in flows.
const (
	AuthFlowUserPassword      = "ALLOW_USER_PASSWORD_AUTH"
	AuthFlowUserSRP           = "ALLOW_USER_SRP_AUTH"
	AuthFlowRefreshToken      = "ALLOW_REFRESH_TOKEN_AUTH"
	AuthFlowUserAuth          = "ALLOW_USER_AUTH"
	AuthFlowAdminUserPassword = "ALLOW_ADMIN_USER_PASSWORD_AUTH"
	// AuthFlowCustom: CUSTOM_AUTH, the pool's custom challenge hooks.
	AuthFlowCustom = "ALLOW_CUSTOM_AUTH"
)

var knownAuthFlows = []string{AuthFlowUserPassword, AuthFlowUserSRP, AuthFlowRefreshToken, AuthFlowUserAuth, AuthFlowAdminUserPassword, AuthFlowCustom}

// DefaultAuthFlows are what Cognito allows a client created without
// ExplicitAuthFlows: SRP and refresh, not the plain password.
var DefaultAuthFlows = []string{AuthFlowUserSRP, AuthFlowRefreshToken}

// AllowsAuthFlow reports whether the client may use the API flow (an
// AuthFlow* name).
func (c *Client) AllowsAuthFlow(flow string) bool { return slices.Contains(c.AuthFlows, flow) }

// allows reports whether the client may use grant.
func (c *Client) allows(grant string) bool { return slices.Contains(c.GrantTypes, grant) }

// checkSecret reports whether secret is the client's.
func (c *Client) checkSecret(secret string) bool {
	if c.Public || secret == "" {
		return false
	}
	if c.Secret != "" {
		sum := sha256.Sum256([]byte(secret))
		return subtle.ConstantTimeCompare(sum[:], c.secretSum[:]) == 1
	}
	return VerifyClientSecret(c.SecretHash, secret)
}

// registry finds clients: the Caddyfile's first, then the store's.
type registry struct {
	configured map[string]*Client
	store      store.Store
	// openSecret opens a stored client's sealed secret (the pool's
	// OpenClientSecret); nil leaves stored clients with their hash alone.
	openSecret func(ctx context.Context, id string, sealed []byte) (string, error)
	log        *zap.Logger
}

// errUnknownClient means no client has the id asked for.
var errUnknownClient = errors.New("unknown client")

// lookup returns the client with that id, errUnknownClient, or a store error.
// A stored client whose record does not pass Validate is unknown.
func (g *registry) lookup(ctx context.Context, id string) (*Client, error) {
	if c, ok := g.configured[id]; ok {
		return c, nil
	}
	if !clientIDPattern.MatchString(id) {
		return nil, errUnknownClient
	}
	sc, err := g.store.ClientByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errUnknownClient
	}
	if err != nil {
		return nil, err
	}
	stored := ClientFromStore(sc)
	if len(sc.SecretSealed) > 0 && !sc.Public && g.openSecret != nil {
		// The secret in the clear, for keyed hashes (Cognito's
		// SECRET_HASH); a secret that does not open leaves the client
		// with its hash, as one stored before sealing.
		if secret, err := g.openSecret(ctx, id, sc.SecretSealed); err == nil {
			stored.Secret = secret
		} else if g.log != nil {
			g.log.Warn("a stored client's sealed secret does not open; its hash alone is used", zap.String("client_id", id), zap.Error(err))
		}
	}
	// The CLI may have stored longer lifetimes than tokens may have here.
	stored.IDTokenTTL = min(stored.IDTokenTTL, signing.MaxTokenTTL)
	stored.AccessTokenTTL = min(stored.AccessTokenTTL, signing.MaxTokenTTL)
	stored.RefreshTokenTTL = min(stored.RefreshTokenTTL, MaxRefreshTokenTTL)
	stored.RefreshTokenGrace = min(stored.RefreshTokenGrace, MaxRefreshGrace)
	c, err := stored.ready()
	if err != nil {
		return nil, fmt.Errorf("stored client %q is not valid: %w (%w)", id, err, errUnknownClient)
	}
	return c, nil
}
