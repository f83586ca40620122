package oidcclient

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"go.uber.org/zap"
	"golang.org/x/oauth2"
)

// Discovery is tried on first need, not at start, and after a failure not
// again before a back-off that doubles from DiscoveryMinWait up to
// DiscoveryMaxWait: a server comes up while its provider is down, and a
// flood of visitors during the outage costs the provider one request per
// back-off.
const (
	discoveryTimeout = 5 * time.Second
	DiscoveryMinWait = time.Second
	DiscoveryMaxWait = time.Minute
	// maxDiscovery bounds the discovery document read.
	maxDiscovery = 1 << 20
)

// discovered is what the provider's discovery document yields, made once.
type discovered struct {
	// issuer is the one the document states.
	issuer    string
	provider  *oidc.Provider
	verifier  *oidc.IDTokenVerifier
	endpoint  oauth2.Endpoint
	userinfo  bool
	authStyle oauth2.AuthStyle
	// template is the discovery document's issuer when it is templated
	// (TenantClaim); "" otherwise.
	template string
}

// metadata is the part of a discovery document read here.
type metadata struct {
	Issuer      string   `json:"issuer"`
	AuthURL     string   `json:"authorization_endpoint"`
	TokenURL    string   `json:"token_endpoint"`
	UserInfoURL string   `json:"userinfo_endpoint"`
	JWKSURL     string   `json:"jwks_uri"`
	AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	Challenges  []string `json:"code_challenge_methods_supported"`
	Algorithms  []string `json:"id_token_signing_alg_values_supported"`
}

// signingAlgs are the ID token algorithms go-oidc verifies; "none" and the
// HMAC ones (keyed with the client secret) are never taken.
var signingAlgs = []string{
	oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512,
	oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA,
}

// discover returns the provider's configuration, fetching it if no attempt
// has succeeded yet and the back-off allows one. Concurrent callers share
// one attempt; its result is kept, so afterwards this costs one atomic load.
func (c *Client) discover(ctx context.Context) (*discovered, error) {
	if d := c.disc.Load(); d != nil {
		return d, nil
	}
	c.discMu.Lock()
	defer c.discMu.Unlock()
	if d := c.disc.Load(); d != nil {
		return d, nil
	}
	now := c.cfg.Now()
	if now.Before(c.discRetry) {
		return nil, fmt.Errorf("%w (next try in %s): %v", ErrUnavailable, c.discRetry.Sub(now).Round(time.Second), c.discErr)
	}
	// The attempt serves every waiter, so one client going away must not
	// cancel it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), discoveryTimeout)
	defer cancel()
	d, err := c.fetchDiscovery(ctx)
	if err != nil {
		c.discWait = min(max(2*c.discWait, DiscoveryMinWait), DiscoveryMaxWait)
		c.discRetry = now.Add(c.discWait)
		c.discErr = err
		c.log.Warn("issuer discovery failed", zap.String("issuer", c.cfg.Issuer), zap.Duration("retry_in", c.discWait), zap.Error(err))
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	c.disc.Store(d)
	c.log.Info("issuer discovered", zap.String("issuer", c.cfg.Issuer))
	return d, nil
}

// RetryAfter is how long discovery waits after the last failure before it
// tries again (zero once discovered or before any failure).
func (c *Client) RetryAfter() time.Duration {
	c.discMu.Lock()
	defer c.discMu.Unlock()
	return c.discWait
}

func (c *Client) fetchDiscovery(ctx context.Context) (*discovered, error) {
	wellKnown := strings.TrimSuffix(c.cfg.Issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, wellKnown, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDiscovery+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %v", wellKnown, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: status %s", wellKnown, resp.Status)
	}
	if len(body) > maxDiscovery {
		return nil, fmt.Errorf("%s: larger than %d bytes", wellKnown, maxDiscovery)
	}
	var m metadata
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("%s: %v", wellKnown, err)
	}
	template, err := c.checkIssuer(m.Issuer)
	if err != nil {
		return nil, err
	}
	for name, u := range map[string]string{"authorization_endpoint": m.AuthURL, "token_endpoint": m.TokenURL, "jwks_uri": m.JWKSURL} {
		if pu, err := url.Parse(u); err != nil || pu.Host == "" || !(pu.Scheme == "https" || pu.Scheme == "http" && loopback(pu.Hostname())) {
			return nil, fmt.Errorf("%s: %s %q is not an https URL", wellKnown, name, Clip(u))
		}
	}
	if len(m.Challenges) > 0 && !slices.Contains(m.Challenges, "S256") {
		return nil, fmt.Errorf("the issuer does not support PKCE with S256 (it offers %v)", m.Challenges)
	}
	var algs []string
	for _, a := range m.Algorithms {
		if slices.Contains(signingAlgs, a) {
			algs = append(algs, a)
		}
	}
	pc := oidc.ProviderConfig{
		Algorithms:  algs,
		IssuerURL:   m.Issuer,
		AuthURL:     m.AuthURL,
		TokenURL:    m.TokenURL,
		UserInfoURL: m.UserInfoURL,
		JWKSURL:     m.JWKSURL,
	}
	// The key set fetches with the client's HTTP client and lives as long
	// as the client: go-oidc keeps only the context's values, not its
	// deadline.
	p := pc.NewProvider(c.ctx(context.Background()))
	verifier := p.VerifierContext(c.ctx(context.Background()), &oidc.Config{
		ClientID:        c.cfg.ClientID,
		Now:             func() time.Time { return c.cfg.Now() },
		SkipIssuerCheck: template != "", // checked against the tenant instead
	})
	secret := c.cfg.ClientSecret
	if c.cfg.SecretSource != nil {
		secret = "(made per request)"
	}
	return &discovered{
		issuer:    m.Issuer,
		provider:  p,
		verifier:  verifier,
		endpoint:  p.Endpoint(),
		userinfo:  m.UserInfoURL != "",
		authStyle: authStyle(m.AuthMethods, secret),
		template:  template,
	}, nil
}

// checkIssuer holds the discovery document to the configured issuer, as
// OpenID Discovery requires. With TenantClaim set it also takes, on the
// same scheme and host, a templated issuer (returned as template) or
// another tenant's concrete one (Microsoft's consumers endpoint states the
// personal accounts' tenant id), which ID tokens are then held to.
func (c *Client) checkIssuer(stated string) (template string, err error) {
	if stated == c.cfg.Issuer {
		return "", nil
	}
	if c.cfg.TenantClaim != "" && strings.Count(stated, TenantPlaceholder) <= 1 {
		want, _ := url.Parse(c.cfg.Issuer)
		if strings.HasPrefix(stated, want.Scheme+"://"+want.Host+"/") {
			if strings.Contains(stated, TenantPlaceholder) {
				return stated, nil
			}
			return "", nil
		}
	}
	return "", fmt.Errorf("the discovery document states issuer %q, not %q", Clip(stated), c.cfg.Issuer)
}

// authStyle picks how the client authenticates at the token endpoint from
// what the provider supports, instead of x/oauth2's trial and error, which
// would send a rotating refresh token twice after a refusal.
func authStyle(supported []string, secret string) oauth2.AuthStyle {
	switch {
	case secret == "":
		return oauth2.AuthStyleInParams // client_id only, for a public client
	case len(supported) == 0 || slices.Contains(supported, "client_secret_basic"):
		return oauth2.AuthStyleInHeader // the default, by OpenID Discovery
	case slices.Contains(supported, "client_secret_post"):
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleInHeader
}
