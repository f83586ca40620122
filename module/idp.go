package module

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/brand"
	"github.com/gatehouse-auth/gatehouse/cognito"
	"github.com/gatehouse-auth/gatehouse/cognito/sigv4"
	"github.com/gatehouse-auth/gatehouse/cognito/srp"
	"github.com/gatehouse-auth/gatehouse/hostedui"
	"github.com/gatehouse-auth/gatehouse/metrics"
	"github.com/gatehouse-auth/gatehouse/middleware"
	"github.com/gatehouse-auth/gatehouse/middleware/albdata"
	"github.com/gatehouse-auth/gatehouse/oidc"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/ratelimit"
	"github.com/gatehouse-auth/gatehouse/signing"
	"github.com/gatehouse-auth/gatehouse/store"
)

func init() {
	caddy.RegisterModule(IDP{})
}

// IDP is the `gatehouse_idp` HTTP handler: on a pool's issuer site it serves
// the pool's OpenID Provider (discovery, JWKS, authorize, token, userinfo,
// revoke, logout) and the hosted pages under /_gatehouse/, where browsers
// sign in once for every app of the pool. Other requests go on to the next
// handler, stripped of forged identity headers.
type IDP struct {
	// Pool names the pool (in the gatehouse global options). Default
	// "default". The pool must have an issuer: the URL of this site.
	Pool string `json:"pool,omitempty"`
	// SessionTimeout is how long a sign-in on the issuer site lasts, and so
	// how long apps get codes without asking the user again. Default 7d.
	SessionTimeout caddy.Duration `json:"session_timeout,omitempty"`
	// CookieName is the issuer site's session cookie. Default
	// "gatehouse_idp_session".
	CookieName string `json:"cookie_name,omitempty"`
	// CookieSecure is auto (default), always or never, as for `gatehouse`.
	CookieSecure string `json:"cookie_secure,omitempty"`
	// CookieHostPrefix and HSTS are as for `gatehouse`.
	CookieHostPrefix bool  `json:"cookie_host_prefix,omitempty"`
	HSTS             *HSTS `json:"hsts,omitempty"`

	provider *oidc.Provider
	gateway  *middleware.Gateway
	ui       *hostedui.Handler
	hsts     string
	pool     *Pool
	cognito  *cognito.Handler
}

// CaddyModule returns the Caddy module information.
func (IDP) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.gatehouse_idp",
		New: func() caddy.Module { return new(IDP) },
	}
}

const (
	defaultIDPCookieName = "gatehouse_idp_session"
	defaultKeyRotation   = 30 * 24 * time.Hour
)

// Provision builds the issuer site's session (a gateway that only reads
// it), the hosted pages, and the provider.
func (h *IDP) Provision(ctx caddy.Context) error {
	if h.Pool == "" {
		h.Pool = "default"
	}
	if h.SessionTimeout == 0 {
		h.SessionTimeout = caddy.Duration(defaultSessionTimeout)
	}
	if h.CookieName == "" {
		h.CookieName = defaultIDPCookieName
	}
	if err := h.Validate(); err != nil {
		return err
	}
	appIface, err := ctx.App("gatehouse")
	if err != nil {
		return fmt.Errorf("loading gatehouse app: %w", err)
	}
	p, err := appIface.(*App).Pool(h.Pool)
	if err != nil {
		return err
	}
	if p.Config.Issuer == "" {
		return fmt.Errorf("gatehouse_idp: pool %q has no issuer; set `issuer <url of this site>` in its pool block", h.Pool)
	}
	h.pool = p
	logger := ctx.Logger().With(zap.String("pool", h.Pool))

	cookieName, secure, cookiePrefix, err := cookieSetup(h.CookieName, h.CookieSecure, h.CookieHostPrefix)
	if err != nil {
		return err
	}
	h.hsts = h.HSTS.value()
	codec, err := middleware.NewCodec(cookieName, p.CookieKeyRing, time.Duration(h.SessionTimeout))
	if err != nil {
		return err
	}
	h.gateway, err = middleware.NewGateway(middleware.Config{
		BearerChecked:   bearerChecked(p.Metrics),
		ClaimsRefreshed: claimsRefreshed(p.Metrics),
		Revocations:     p.Pool.DenyList(),
		Revoker:         p.Pool,
		Source:          middleware.PoolSource{Pool: p.Pool, SignInPath: hostedui.SignInPath},
		Codec:           codec,
		Data: &albdata.Signer{
			Keys:     p.Keys,
			ARN:      albdata.DefaultARN(h.Pool),
			Issuer:   p.Config.Issuer,
			ClientID: "gatehouse",
		},
		Mode:           middleware.ModeAllow,
		SessionTimeout: time.Duration(h.SessionTimeout),
		ClaimsRefresh:  defaultClaimsRefresh,
		Secure:         secure,
		Unauthorized: func(w http.ResponseWriter, r *http.Request) {
			h.ui.RenderError(w, r, http.StatusUnauthorized, "Sign-in required", "You need to sign in to see this page.")
		},
		SafeReturnTo: hostedui.SafeReturnTo,
		Logger:       logger,
	})
	if err != nil {
		return err
	}
	h.ui, err = hostedui.New(hostedui.Config{
		Pool:         p.Pool,
		DisplayName:  p.Config.DisplayName,
		Codecs:       codec.Codecs(),
		Secure:       secure,
		Logger:       logger,
		Sessions:     h.gateway,
		ClientIP:     clientIP,
		Throttle:     countThrottle(p.Metrics, metrics.SurfaceHostedPages, p.Throttle),
		DeviceCodecs: p.deviceCodecs(codec),
		CookiePrefix: cookiePrefix,
		Providers:    p.Providers,
		IssuerSite:   true,
		Logo:         providerLogo,
		Brand:        p.Brand,
		ClientBrands: p.ClientBrands,
		Templates:    p.PageTemplates,
		Now:          clockNamed(p.Config.ReauthClock),
		Locales:      p.Locales,
	})
	if err != nil {
		return err
	}
	// Discovery promises RS256 (OpenID Connect Discovery requires it), so
	// the pool keeps RS256 keys from the first start on.
	if err := p.Keys.Ensure(ctx, signing.RS256); err != nil {
		return fmt.Errorf("gatehouse_idp: %w", err)
	}
	clients, err := readyClients(p.Config.Clients)
	if err != nil {
		return fmt.Errorf("gatehouse_idp: pool %s: %w", h.Pool, err)
	}
	var uiLocales []string
	for _, l := range p.Locales.Languages() {
		uiLocales = append(uiLocales, l.Tag)
	}
	h.provider, err = oidc.NewProvider(oidc.Config{
		UILocales:          uiLocales,
		Issuer:             p.Config.Issuer,
		Pool:               p.Pool,
		Store:              p.Store,
		Keys:               p.Keys,
		Clients:            clients,
		Sessions:           idpSessions{h.gateway},
		SignInPath:         hostedui.SignInPath,
		SignUpPath:         hostedui.SignUpPath,
		ForgotPasswordPath: hostedui.ForgotPath,
		SafeReturnTo:       hostedui.SafeReturnTo,
		ErrorPage:          h.ui.RenderError,
		Continue:           h.ui.Continue,
		// The pool's own marker key, the same on every instance; the
		// provider derives its own key from it.
		MarkerKey:    p.MarkerKey,
		Federate:     h.ui.FederationTarget,
		Logger:       logger.Named("oidc"),
		TokensIssued: tokensIssued(p.Metrics),
	})
	if err != nil {
		return fmt.Errorf("gatehouse_idp: %w", err)
	}
	if cc := p.Config.Cognito; cc != nil {
		var srpAuth cognito.SRPAuth
		if p.Pool.SRPOn() {
			name := srp.PoolName(cc.PoolID)
			srpAuth = func(ctx context.Context, client, username, srpA string) (*pool.AuthStep, error) {
				return p.Pool.InitiateSRPAuth(ctx, pool.SRPAuth{Username: username, SRPA: srpA, Client: client, PoolName: name})
			}
		}
		admin, err := adminVerifier(p, cc)
		if err != nil {
			return fmt.Errorf("gatehouse_idp: %w", err)
		}
		h.cognito, err = cognito.New(cognito.Config{
			WebAuthn:      apiRelyingParty(p.Config, p.Config.Issuer),
			SRP:           srpAuth,
			AdminVerifier: admin,
			PoolID:        cc.PoolID,
			Region:        cc.Region,
			Pool:          p.Pool,
			Provider:      h.provider,
			Throttle:      countThrottle(p.Metrics, metrics.SurfaceCognitoAPI, p.Throttle),
			ClientIP:      clientIP,
			SealKey:       p.MarkerKey,
			Logger:        logger.Named("cognito"),
		})
		if err != nil {
			return fmt.Errorf("gatehouse_idp: %w", err)
		}
	}
	// A stored client with the id of a configured one is never used: say so.
	if stored, err := p.Store.ListClients(ctx); err == nil {
		for _, c := range stored {
			if h.provider.Configured(c.ID) {
				logger.Warn("a stored client has the id of a Caddyfile client; the Caddyfile's is used", zap.String("client_id", c.ID))
			}
		}
	}
	return nil
}

// Validate checks the handler's configuration.
func (h *IDP) Validate() error {
	if _, _, _, err := cookieSetup(h.CookieName, h.CookieSecure, h.CookieHostPrefix); err != nil {
		return err
	}
	if h.SessionTimeout < 0 {
		return errors.New("session_timeout must be positive")
	}
	return nil
}

// ServeHTTP serves the provider's endpoints and the hosted pages, and
// passes everything else on.
func (h *IDP) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if strings.HasPrefix(r.URL.Path, prefix) || strings.HasPrefix(r.URL.Path, "/oauth2/") {
		setHSTS(w, r, h.hsts)
	}
	if h.cognito != nil && cognito.Matches(r) {
		h.cognito.ServeHTTP(w, r)
		return nil
	}
	if r.URL.Path == healthPath {
		serveHealth(w, r, h.pool.Store)
		return nil
	}
	if h.ui.ServeIssuerPath(w, r) {
		return nil
	}
	if h.provider.Serve(w, r) {
		return nil
	}
	if strings.HasPrefix(r.URL.Path, prefix) {
		if kid, ok := publicKeyID(r.URL.Path); ok {
			h.pool.Keys.ServePublicKey(w, r, kid)
			return nil
		}
		h.ui.ServeHTTP(w, r)
		return nil
	}
	// ModeAllow: never refuses, but removes identity headers a client sent
	// and adds the signed-in user's.
	if !h.gateway.Guard(w, r) {
		return nil
	}
	return next.ServeHTTP(w, r)
}

// idpSessions adapts the issuer site's gateway to what the provider reads.
type idpSessions struct{ g *middleware.Gateway }

func (s idpSessions) Current(r *http.Request) (oidc.SessionInfo, bool) {
	sess, ok := s.g.Authenticated(r)
	if !ok {
		return oidc.SessionInfo{}, false
	}
	return oidc.SessionInfo{ID: sess.ID, UserID: sess.UserID, AuthTime: time.Unix(0, sess.AuthTime), AMR: sess.AMR}, true
}

func (s idpSessions) End(w http.ResponseWriter, r *http.Request) error { return s.g.End(w, r) }

// ClientConfig is an app client of a pool, written in the Caddyfile.
type ClientConfig struct {
	ID                     string   `json:"id"`
	RedirectURIs           []string `json:"redirect_uris,omitempty"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`
	// Secret is replaced at provision: {env.X} placeholders work.
	Secret string `json:"secret,omitempty"`
	Public bool   `json:"public,omitempty"`
	// Scopes the client may ask for; default openid email profile phone.
	Scopes []string `json:"scopes,omitempty"`
	// GrantTypes default to authorization_code and refresh_token.
	GrantTypes      []string       `json:"grant_types,omitempty"`
	IDTokenTTL      caddy.Duration `json:"id_token_ttl,omitempty"`
	AccessTokenTTL  caddy.Duration `json:"access_token_ttl,omitempty"`
	RefreshTokenTTL caddy.Duration `json:"refresh_token_ttl,omitempty"`
	// RefreshTokenRotation is "on" (the default) or "off" (no new refresh
	// token on refresh: Cognito's behaviour, for apps that keep the first).
	RefreshTokenRotation string `json:"refresh_token_rotation,omitempty"`
	// RefreshTokenGrace is, with rotation on, how long a just-retired
	// refresh token may be presented again; zero means the default (10 s),
	// a negative value none.
	RefreshTokenGrace caddy.Duration `json:"refresh_token_grace,omitempty"`
	// SigningAlg is ES256 (default) or RS256.
	SigningAlg string `json:"signing_alg,omitempty"`
	// AuthFlows are the Cognito API's sign-in flows the client may use
	// (ExplicitAuthFlows names); default ALLOW_USER_SRP_AUTH and
	// ALLOW_REFRESH_TOKEN_AUTH, as Cognito's.
	AuthFlows []string `json:"auth_flows,omitempty"`
	// Branding is the look of the hosted pages of this client's sign-ins,
	// each option in place of the pool's (package brand).
	Branding *brand.Config `json:"branding,omitempty"`
}

func (c ClientConfig) client(secret string) *oidc.Client {
	return &oidc.Client{
		ID:                     c.ID,
		Secret:                 secret,
		Public:                 c.Public,
		RedirectURIs:           c.RedirectURIs,
		PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
		Scopes:                 c.Scopes,
		GrantTypes:             c.GrantTypes,
		IDTokenTTL:             time.Duration(c.IDTokenTTL),
		AccessTokenTTL:         time.Duration(c.AccessTokenTTL),
		RefreshTokenTTL:        time.Duration(c.RefreshTokenTTL),
		RefreshTokenRotation:   c.RefreshTokenRotation,
		RefreshTokenGrace:      time.Duration(c.RefreshTokenGrace),
		SigningAlg:             c.SigningAlg,
		AuthFlows:              c.AuthFlows,
	}
}

// readyClients replaces placeholders in the secrets and checks them.
func readyClients(cfgs []ClientConfig) ([]*oidc.Client, error) {
	repl := caddy.NewReplacer()
	out := make([]*oidc.Client, 0, len(cfgs))
	for _, c := range cfgs {
		secret := ""
		if c.Secret != "" {
			secret = repl.ReplaceKnown(c.Secret, "")
			if len(secret) < oidc.MinClientSecretLen {
				return nil, fmt.Errorf("client %s: secret %q is shorter than %d characters once placeholders are replaced (is the variable set?)",
					c.ID, c.Secret, oidc.MinClientSecretLen)
			}
		}
		oc := c.client(secret)
		if err := oc.Validate(); err != nil {
			return nil, fmt.Errorf("client %s: %w", c.ID, err)
		}
		out = append(out, oc)
	}
	return out, nil
}

// validateIDPConfig checks a pool's provider options without opening
// anything; PoolConfig.Validate calls it.
func validateIDPConfig(c *PoolConfig) error {
	if c.KeyRotation != 0 && time.Duration(c.KeyRotation) < signing.MinRotation {
		return fmt.Errorf("key_rotation %s: must be at least %s", time.Duration(c.KeyRotation), signing.MinRotation)
	}
	if len(c.Clients) > 0 && c.Issuer == "" {
		return errors.New("client: a pool with app clients needs an issuer (the URL of its gatehouse_idp site)")
	}
	seen := map[string]bool{}
	for _, cc := range c.Clients {
		if seen[cc.ID] {
			return fmt.Errorf("client %s: defined twice", cc.ID)
		}
		seen[cc.ID] = true
		// The secret may still be a placeholder; only its presence counts.
		if err := cc.client(cc.Secret).Validate(); err != nil {
			return fmt.Errorf("client %s: %w", cc.ID, err)
		}
	}
	return nil
}

// keyPolicy is how a pool's signing keys are kept.
func keyPolicy(c *PoolConfig) signing.Policy {
	rotation := time.Duration(c.KeyRotation)
	if rotation == 0 {
		rotation = defaultKeyRotation
	}
	return signing.Policy{Rotation: rotation}
}

// Interface guards
var (
	_ caddy.Provisioner           = (*IDP)(nil)
	_ caddy.Validator             = (*IDP)(nil)
	_ caddyhttp.MiddlewareHandler = (*IDP)(nil)
)

// adminVerifier checks the signatures of the Cognito API's admin calls
// with the pool's access keys (gatehouse access-keys): SigV4 for the pool
// id's region, used signatures marked in the store, failures audited and
// throttled per client address (shared through the store when the store
// is shared across hosts).
func adminVerifier(p *Pool, cc *CognitoConfig) (cognito.AdminVerifier, error) {
	region := cc.Region
	if region == "" {
		region, _, _ = strings.Cut(cc.PoolID, "_")
	}
	// sigv4's own default when the store is one host's, made here so
	// that its refusals are counted too.
	var throttle ratelimit.Throttle = ratelimit.New(sigv4.DefaultFailureLimits)
	if store.SharedAcrossHosts(p.Store) {
		log := caddy.Log().Named("gatehouse.sigv4")
		throttle = ratelimit.NewShared(p.Store, sigv4.DefaultFailureLimits.Burst, time.Minute, func(err error) {
			log.Warn("counting a failed signature in the store failed; let through", zap.Error(err))
		})
	}
	throttle = countThrottle(p.Metrics, metrics.SurfaceAdminSignatures, throttle)
	v, err := sigv4.New(sigv4.Config{
		Region:   region,
		Keys:     p.Pool,
		Replay:   p.Store,
		Audit:    p.Pool,
		Throttle: throttle,
		ClientIP: clientIP,
	})
	if err != nil {
		return nil, err
	}
	return cognito.SigV4(v, clientIP), nil
}
