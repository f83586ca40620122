// Package oidcclient is Gatehouse's one client of an outside OpenID
// provider: discovery (lazy, cached, retried with back-off), the
// authorization URL, the code exchange with the PKCE verifier, the ID
// token's verification by github.com/coreos/go-oidc/v3 (signature, iss, aud,
// exp, at_hash), userinfo and refresh. The gateway's relying party
// (federation/oidcrp) and the pool's OpenID connectors (federation/openid)
// both use it, so each of these checks is written once.
//
// It knows nothing of browsers, cookies or users: callers keep the state,
// nonce and verifier, and decide what the verified claims mean.
package oidcclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"go.uber.org/zap"
	"golang.org/x/oauth2"
)

// Errors the client's methods wrap, so that callers tell an outage from a
// refusal.
var (
	// ErrUnavailable: the provider could not be reached, or answered with
	// a server error; trying again later may work.
	ErrUnavailable = errors.New("oidcclient: provider unavailable")
	// ErrRefused: the provider answered and said no (invalid_grant for a
	// spent or foreign code, invalid_client, a 4xx from userinfo).
	ErrRefused = errors.New("oidcclient: the provider refused the request")
	// ErrInvalid: what the provider sent fails a check (signature, issuer,
	// audience, expiry, at_hash, a userinfo sub of someone else).
	ErrInvalid = errors.New("oidcclient: the provider's answer is not valid")
)

// TenantPlaceholder is what a multi-tenant provider's discovery document
// puts in its issuer in place of the tenant (Microsoft's
// https://login.microsoftonline.com/{tenantid}/v2.0).
const TenantPlaceholder = "{tenantid}"

// Config is what a Client is made from.
type Config struct {
	// Issuer is the provider's issuer URL; its discovery document is read
	// from Issuer + /.well-known/openid-configuration and must state the
	// same issuer (but see TenantClaim).
	Issuer string
	// ClientID is the client at the provider; ID tokens must name it in aud.
	ClientID string
	// ClientSecret is the client's secret; empty for a public client.
	ClientSecret string
	// SecretSource, when set, gives the client secret for each request to
	// the token endpoint instead of ClientSecret (Apple's signed JWT).
	SecretSource func() (string, error)
	// Scopes must hold "openid".
	Scopes []string
	// TenantClaim, when set, lets the discovery document state a templated
	// issuer holding TenantPlaceholder, on the configured issuer's host: an
	// ID token's iss must then be that template with the token's
	// TenantClaim (Microsoft's tid) in place of the placeholder.
	TenantClaim string
	// HTTPClient talks to the provider; default: a client with a 10 s
	// timeout.
	HTTPClient *http.Client
	Logger     *zap.Logger
	// Now is the clock for back-off and token expiry; default time.Now.
	Now func() time.Time
}

// Client talks to one provider. It is safe for concurrent use, and does no
// I/O until the first call that needs the provider.
type Client struct {
	cfg    Config
	client *http.Client
	log    *zap.Logger

	disc      atomic.Pointer[discovered]
	discMu    sync.Mutex
	discErr   error
	discRetry time.Time
	discWait  time.Duration
}

// New checks cfg; it does not contact the provider.
func New(cfg Config) (*Client, error) {
	if err := CheckIssuerURL(cfg.Issuer); err != nil {
		return nil, err
	}
	if cfg.ClientID == "" {
		return nil, errors.New("oidcclient: a client id is required")
	}
	if !slices.Contains(cfg.Scopes, oidc.ScopeOpenID) {
		return nil, fmt.Errorf("oidcclient: scopes %v lack %q", cfg.Scopes, oidc.ScopeOpenID)
	}
	cfg.Scopes = slices.Clone(cfg.Scopes)
	c := &Client{cfg: cfg, client: cfg.HTTPClient, log: cfg.Logger}
	if c.client == nil {
		c.client = &http.Client{Timeout: 10 * time.Second}
	}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	if c.cfg.Now == nil {
		c.cfg.Now = time.Now
	}
	return c, nil
}

// CheckIssuerURL refuses an issuer that is not an https URL with a host and
// no query or fragment (http is allowed on loopback, for tests).
func CheckIssuerURL(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || !(u.Scheme == "https" || u.Scheme == "http" && loopback(u.Hostname())) {
		return fmt.Errorf("issuer %q: must be an https URL with a host and no query or fragment (http only on loopback)", issuer)
	}
	return nil
}

func loopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// Issuer returns the configured issuer URL.
func (c *Client) Issuer() string { return c.cfg.Issuer }

// ClientID returns the client's id.
func (c *Client) ClientID() string { return c.cfg.ClientID }

// ctx carries the client's HTTP client to go-oidc and x/oauth2, which both
// take it from the context.
func (c *Client) ctx(parent context.Context) context.Context {
	return oidc.ClientContext(parent, c.client)
}

// Discover makes sure the discovery document has been read (see discover).
func (c *Client) Discover(ctx context.Context) error {
	_, err := c.discover(ctx)
	return err
}

// AuthCodeURL is the authorization endpoint's URL for one sign-in: code
// flow with state, nonce and the S256 challenge of verifier, plus opts
// (login_hint, response_mode, ...). It fails only when discovery does.
func (c *Client) AuthCodeURL(ctx context.Context, redirectURI, state, nonce, verifier string, opts ...oauth2.AuthCodeOption) (string, error) {
	d, err := c.discover(ctx)
	if err != nil {
		return "", err
	}
	all := append([]oauth2.AuthCodeOption{oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)}, opts...)
	return c.oauth2(d, redirectURI, "").AuthCodeURL(state, all...), nil
}

// Exchange redeems an authorization code with its PKCE verifier.
func (c *Client) Exchange(ctx context.Context, redirectURI, code, verifier string) (*oauth2.Token, error) {
	d, err := c.discover(ctx)
	if err != nil {
		return nil, err
	}
	secret, err := c.secret()
	if err != nil {
		return nil, err
	}
	tok, err := c.oauth2(d, redirectURI, secret).Exchange(c.ctx(ctx), code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, classify("exchanging the code", err)
	}
	return tok, nil
}

// Refresh asks for new tokens with a refresh token.
func (c *Client) Refresh(ctx context.Context, refreshToken string) (*oauth2.Token, error) {
	d, err := c.discover(ctx)
	if err != nil {
		return nil, err
	}
	secret, err := c.secret()
	if err != nil {
		return nil, err
	}
	tok, err := c.oauth2(d, "", secret).TokenSource(c.ctx(ctx), &oauth2.Token{RefreshToken: refreshToken}).Token()
	if err != nil {
		return nil, classify("refreshing", err)
	}
	return tok, nil
}

func (c *Client) secret() (string, error) {
	if c.cfg.SecretSource == nil {
		return c.cfg.ClientSecret, nil
	}
	s, err := c.cfg.SecretSource()
	if err != nil {
		return "", fmt.Errorf("making the client secret: %w", err)
	}
	return s, nil
}

// oauth2 is the x/oauth2 configuration for one redirect URI (which is per
// site, so it cannot be fixed at discovery).
func (c *Client) oauth2(d *discovered, redirectURI, secret string) *oauth2.Config {
	ep := d.endpoint
	ep.AuthStyle = d.authStyle
	return &oauth2.Config{
		ClientID:     c.cfg.ClientID,
		ClientSecret: secret,
		Endpoint:     ep,
		RedirectURL:  redirectURI,
		Scopes:       c.cfg.Scopes,
	}
}

// VerifyIDToken verifies the ID token of a token response with go-oidc
// (signature by the provider's keys, iss, aud = client id, exp) and, when
// the token carries at_hash, that it belongs with the access token. It
// returns nil, nil when the response holds no ID token. The nonce is the
// caller's to compare (IDToken.Nonce).
func (c *Client) VerifyIDToken(ctx context.Context, tok *oauth2.Token) (*oidc.IDToken, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, nil
	}
	idt, err := c.Verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return nil, fmt.Errorf("%w: the ID token's at_hash: %v", ErrInvalid, err)
		}
	}
	return idt, nil
}

// Verify verifies one raw ID token: signature, iss (templated issuers
// against the tenant claim), aud, exp, and a non-empty sub.
func (c *Client) Verify(ctx context.Context, raw string) (*oidc.IDToken, error) {
	d, err := c.discover(ctx)
	if err != nil {
		return nil, err
	}
	idt, err := d.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("%w: verifying the ID token: %v", ErrInvalid, err)
	}
	if d.template != "" {
		if err := checkTenantIssuer(d.template, c.cfg.TenantClaim, idt); err != nil {
			return nil, err
		}
	}
	if idt.Subject == "" {
		return nil, fmt.Errorf("%w: the ID token has no sub", ErrInvalid)
	}
	if len(idt.Audience) > 1 {
		// OpenID Connect Core 3.1.3.7: with several audiences, the party
		// it was issued to (azp) must be this client.
		var azp struct {
			AZP string `json:"azp"`
		}
		if err := idt.Claims(&azp); err != nil || azp.AZP != c.cfg.ClientID {
			return nil, fmt.Errorf("%w: the ID token has several audiences and was issued to %q", ErrInvalid, Clip(azp.AZP))
		}
	}
	return idt, nil
}

// checkTenantIssuer holds a multi-tenant provider's token to its own
// tenant's issuer: the signing keys are shared by every tenant, so without
// this a token of any tenant would pass for any other.
func checkTenantIssuer(template, claim string, idt *oidc.IDToken) error {
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return fmt.Errorf("%w: reading the ID token's claims: %v", ErrInvalid, err)
	}
	tenant, _ := claims[claim].(string)
	if !tenantID(tenant) {
		return fmt.Errorf("%w: the ID token's %s %q is not a tenant id", ErrInvalid, claim, Clip(tenant))
	}
	if want := strings.Replace(template, TenantPlaceholder, tenant, 1); idt.Issuer != want {
		return fmt.Errorf("%w: the ID token's issuer %q is not its tenant's (%s %q)", ErrInvalid, Clip(idt.Issuer), claim, tenant)
	}
	return nil
}

// tenantID reports whether s can stand in a path segment as a tenant: 1 to
// 64 letters, digits, '-', '.' or '_', and not a dot segment.
func tenantID(s string) bool {
	if s == "" || len(s) > 64 || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '.' || b == '_') {
			return false
		}
	}
	return true
}

// IssuerMatches reports whether iss (an RFC 9207 iss parameter) names this
// provider: the configured issuer, the one its discovery document states,
// or for a templated one, the template with some tenant in place.
func (c *Client) IssuerMatches(iss string) bool {
	if iss == c.cfg.Issuer {
		return true
	}
	d := c.disc.Load()
	if d == nil {
		return false
	}
	if iss == d.issuer {
		return true
	}
	if d.template == "" {
		return false
	}
	prefix, suffix, _ := strings.Cut(d.template, TenantPlaceholder)
	if !strings.HasPrefix(iss, prefix) || !strings.HasSuffix(iss, suffix) || len(iss) < len(prefix)+len(suffix) {
		return false
	}
	return tenantID(iss[len(prefix) : len(iss)-len(suffix)])
}

// HasUserInfo reports whether the provider has a userinfo endpoint (after
// discovery).
func (c *Client) HasUserInfo(ctx context.Context) bool {
	d, err := c.discover(ctx)
	return err == nil && d.userinfo
}

// UserInfo reads the userinfo endpoint with tok's access token and checks
// that it is about sub. It returns nil, nil when the provider has no
// userinfo endpoint or tok no access token.
func (c *Client) UserInfo(ctx context.Context, tok *oauth2.Token, sub string) (*oidc.UserInfo, error) {
	d, err := c.discover(ctx)
	if err != nil {
		return nil, err
	}
	if !d.userinfo || tok.AccessToken == "" {
		return nil, nil
	}
	ui, err := d.provider.UserInfo(c.ctx(ctx), oauth2.StaticTokenSource(tok))
	if err != nil {
		return nil, classify("reading userinfo", err)
	}
	if ui.Subject != sub {
		return nil, fmt.Errorf("%w: userinfo is about sub %q, the ID token about %q", ErrInvalid, Clip(ui.Subject), Clip(sub))
	}
	return ui, nil
}

// classify wraps err from x/oauth2 or go-oidc in ErrRefused when the
// provider answered with a client error, ErrUnavailable otherwise.
func classify(doing string, err error) error {
	if re, ok := errors.AsType[*oauth2.RetrieveError](err); ok && re.Response != nil && re.Response.StatusCode < 500 {
		return fmt.Errorf("%w: %s: %v", ErrRefused, doing, err)
	}
	if _, ok := errors.AsType[*url.Error](err); ok || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("%w: %s: %v", ErrUnavailable, doing, err)
	}
	if _, ok := errors.AsType[*oauth2.RetrieveError](err); ok {
		return fmt.Errorf("%w: %s: %v", ErrUnavailable, doing, err)
	}
	// go-oidc's userinfo errors are "<status>: <body>".
	if s := err.Error(); len(s) >= 3 && s[0] == '4' {
		return fmt.Errorf("%w: %s: %v", ErrRefused, doing, err)
	}
	return fmt.Errorf("%w: %s: %v", ErrUnavailable, doing, err)
}

// Clip bounds what a provider (or an attacker) sent before it goes into an
// error or a log line.
func Clip(s string) string {
	const max = 256
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
