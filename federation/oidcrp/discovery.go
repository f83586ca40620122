package oidcrp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"go.uber.org/zap"
	"golang.org/x/oauth2"
)

// Discovery is tried on first need, not at start, and after a failure not
// again before a back-off that doubles from discoveryMinWait up to
// discoveryMaxWait: a server comes up while its issuer is down, and a flood
// of visitors during the outage costs the issuer one request per back-off.
const (
	discoveryTimeout = 5 * time.Second
	discoveryMinWait = time.Second
	discoveryMaxWait = time.Minute
)

// ErrUnavailable means the issuer's discovery document could not be had;
// sign-in is impossible until it can.
var ErrUnavailable = errors.New("oidcrp: issuer unavailable")

// discovered is what the issuer's discovery document yields, made once.
type discovered struct {
	provider  *oidc.Provider
	verifier  *oidc.IDTokenVerifier
	endpoint  oauth2.Endpoint
	scopes    []string
	clientID  string
	secret    string
	userinfo  bool
	authStyle oauth2.AuthStyle
}

// oauth2 returns the client configuration for one redirect URI (which is
// per site, so it cannot be fixed at discovery).
func (d *discovered) oauth2(redirectURI string) *oauth2.Config {
	ep := d.endpoint
	ep.AuthStyle = d.authStyle
	return &oauth2.Config{
		ClientID:     d.clientID,
		ClientSecret: d.secret,
		Endpoint:     ep,
		RedirectURL:  redirectURI,
		Scopes:       d.scopes,
	}
}

// discover returns the issuer's configuration, fetching it if no attempt has
// succeeded yet and the back-off allows one. Concurrent callers share one
// attempt; its result is kept, so afterwards this costs one atomic load.
func (rp *RP) discover(ctx context.Context) (*discovered, error) {
	if d := rp.disc.Load(); d != nil {
		return d, nil
	}
	rp.discMu.Lock()
	defer rp.discMu.Unlock()
	if d := rp.disc.Load(); d != nil {
		return d, nil
	}
	now := rp.now()
	if now.Before(rp.discRetry) {
		return nil, fmt.Errorf("%w (next try in %s): %v", ErrUnavailable, rp.discRetry.Sub(now).Round(time.Second), rp.discErr)
	}
	// The attempt serves every waiter, so one client going away must not
	// cancel it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), discoveryTimeout)
	defer cancel()
	d, err := rp.fetchDiscovery(ctx)
	if err != nil {
		rp.discWait = min(max(2*rp.discWait, discoveryMinWait), discoveryMaxWait)
		rp.discRetry = now.Add(rp.discWait)
		rp.discErr = err
		rp.log.Warn("issuer discovery failed", zap.String("issuer", rp.issuer), zap.Duration("retry_in", rp.discWait), zap.Error(err))
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	rp.disc.Store(d)
	rp.log.Info("issuer discovered", zap.String("issuer", rp.issuer))
	return d, nil
}

func (rp *RP) fetchDiscovery(ctx context.Context) (*discovered, error) {
	p, err := oidc.NewProvider(rp.ctx(ctx), rp.issuer)
	if err != nil {
		return nil, err
	}
	var meta struct {
		UserInfo    string   `json:"userinfo_endpoint"`
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
		Challenges  []string `json:"code_challenge_methods_supported"`
	}
	if err := p.Claims(&meta); err != nil {
		return nil, err
	}
	if len(meta.Challenges) > 0 && !slices.Contains(meta.Challenges, "S256") {
		return nil, fmt.Errorf("the issuer does not support PKCE with S256 (it offers %v)", meta.Challenges)
	}
	// The key set fetches with the RP's client and lives as long as the RP:
	// go-oidc keeps only the context's values, not its deadline.
	verifier := p.VerifierContext(rp.ctx(context.Background()), &oidc.Config{ClientID: rp.clientID, Now: func() time.Time { return rp.now() }})
	return &discovered{
		provider:  p,
		verifier:  verifier,
		endpoint:  p.Endpoint(),
		scopes:    rp.scopes,
		clientID:  rp.clientID,
		secret:    rp.clientSecret,
		userinfo:  meta.UserInfo != "",
		authStyle: authStyle(meta.AuthMethods, rp.clientSecret),
	}, nil
}

// authStyle picks how the client authenticates at the token endpoint from
// what the issuer supports, instead of x/oauth2's trial and error, which
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
