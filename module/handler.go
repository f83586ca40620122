package module

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/gatehouse-auth/gatehouse/federation/oidcrp"
	"github.com/gatehouse-auth/gatehouse/hostedui"
	"github.com/gatehouse-auth/gatehouse/metrics"
	"github.com/gatehouse-auth/gatehouse/middleware"
	"github.com/gatehouse-auth/gatehouse/middleware/albdata"
	"github.com/gatehouse-auth/gatehouse/pool"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler is the `gatehouse` HTTP handler: it guards a site with sessions
// and serves the pages under /_gatehouse/. Users sign in on a pool's hosted
// pages, or, with OIDCIssuer, at an outside OpenID provider.
type Handler struct {
	// Pool names the pool (in the gatehouse global options) whose users
	// sign in, or, with OIDCIssuer, whose keys and revocations the sessions
	// use. Default "default" without OIDCIssuer; none with it (see
	// GatewayStorePath).
	Pool string `json:"pool,omitempty"`
	// OIDCIssuer is an outside OpenID provider's issuer URL: users sign in
	// there (authorization code flow with PKCE), as with an ALB's
	// authenticate-oidc action. Needs ClientID.
	OIDCIssuer string `json:"oidc_issuer,omitempty"`
	// ClientSecret is the gateway client's secret at OIDCIssuer; empty for
	// a public client.
	ClientSecret string `json:"client_secret,omitempty"`
	// Scopes asked of OIDCIssuer; default openid email profile.
	Scopes []string `json:"scopes,omitempty"`
	// OnUnauthenticated is authenticate (default), deny or allow.
	OnUnauthenticated string `json:"on_unauthenticated,omitempty"`
	// SessionTimeout is how long a sign-in lasts. Default 7 days.
	SessionTimeout caddy.Duration `json:"session_timeout,omitempty"`
	// ClaimsRefresh is how often a session's claims are re-read and
	// re-signed, and how long the signed data header is valid. Default 5m.
	ClaimsRefresh caddy.Duration `json:"claims_refresh,omitempty"`
	// CookieName is the session cookie's name. Default "gatehouse_session".
	CookieName string `json:"cookie_name,omitempty"`
	// CookieSecure is auto (Secure when the request came over HTTPS,
	// the default), always or never.
	CookieSecure string `json:"cookie_secure,omitempty"`
	// CookieHostPrefix names the session cookie and the hosted pages'
	// cookies __Host-<name>, set Secure with Path=/ and no Domain: HTTPS
	// only (see README, "Cookies over HTTPS").
	CookieHostPrefix bool `json:"cookie_host_prefix,omitempty"`
	// HSTS is the Strict-Transport-Security of the hosted pages over
	// HTTPS; nil means on, max-age one year.
	HSTS *HSTS `json:"hsts,omitempty"`
	// Signer is the `signer` of X-Amzn-Oidc-Data. Default an ARN-shaped
	// string naming the pool.
	Signer string `json:"signer,omitempty"`
	// ClientID is the `client` of X-Amzn-Oidc-Data, and with OIDCIssuer
	// the gateway's client id there. Default "gatehouse" without OIDCIssuer.
	ClientID string `json:"client_id,omitempty"`
	// PassAccessToken adds X-Amzn-Oidc-Accesstoken.
	PassAccessToken bool `json:"pass_access_token,omitempty"`
	// PassSessionCookie keeps Gatehouse's session cookie in what the
	// upstream receives; by default it is removed.
	PassSessionCookie bool `json:"pass_session_cookie,omitempty"`
	// Headers replaces the default plain identity headers.
	Headers []middleware.HeaderRule `json:"headers,omitempty"`
	// NoPlainHeaders turns the plain identity headers off.
	NoPlainHeaders bool `json:"no_plain_headers,omitempty"`
	// LogoutRedirect is where /_gatehouse/logout sends the browser.
	// Default "/".
	LogoutRedirect string `json:"logout_redirect,omitempty"`

	// Require lists authorization rules: a request must satisfy all of
	// them, or it gets 403 (401 or a sign-in when it has no identity).
	Require []middleware.Rule `json:"require,omitempty"`
	// Roles map authenticated requests to a role, first match wins; the
	// role goes upstream in X-Gatehouse-Role and `require role` reads it.
	Roles []middleware.RoleRule `json:"roles,omitempty"`
	// GuestRole is the role of requests without identity that pass
	// (on_unauthenticated allow, allow anonymous).
	GuestRole string `json:"guest_role,omitempty"`
	// AllowAnonymous lets requests without identity through this block
	// (a public part of a site); it cannot be combined with Require.
	AllowAnonymous bool `json:"allow_anonymous,omitempty"`
	// AnonymousPaths are paths ("/exact", "/prefix/*", "*.suffix") where
	// this block requires nothing.
	AnonymousPaths []string `json:"anonymous_paths,omitempty"`
	// JWTIssuers are the issuers whose bearer JWTs are accepted besides
	// the pool's own issuer (accepted by default, for any of its clients;
	// list it here to name the clients).
	JWTIssuers []middleware.JWTIssuer `json:"jwt_issuers,omitempty"`
	// NoBearer turns bearer tokens off: the Authorization header is passed
	// on unread and only the session cookie counts.
	NoBearer bool `json:"no_bearer,omitempty"`

	gateway *middleware.Gateway
	ui      *hostedui.Handler
	rp      *oidcrp.RP
	pool    *Pool
	hsts    string
	// keysPath is the gateway store this handler holds a reference to, if any.
	keysPath string
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.gatehouse",
		New: func() caddy.Module { return new(Handler) },
	}
}

const (
	defaultSessionTimeout = 7 * 24 * time.Hour
	defaultClaimsRefresh  = 5 * time.Minute
	defaultCookieName     = "gatehouse_session"
	prefix                = "/_gatehouse/"
	publicKeysPrefix      = prefix + "public-keys/"
)

// publicKeyID returns the kid a request for a public key names:
// /_gatehouse/public-keys/<kid>, or /_gatehouse/public-keys//<kid>, which
// is what aws-jwt-verify's AlbJwtVerifier asks for when its key URL is
// given with the trailing slash (it adds "/<kid>"). Exactly one extra slash:
// a kid is a UUID, so nothing else can name a key anyway.
func publicKeyID(path string) (string, bool) {
	kid, ok := strings.CutPrefix(path, publicKeysPrefix)
	if !ok {
		return "", false
	}
	return strings.TrimPrefix(kid, "/"), true
}

// Provision builds the gateway and the pages: from the named pool, or for
// an outside issuer, on the pool's keys or the gateway store's.
func (h *Handler) Provision(ctx caddy.Context) error {
	if h.Pool == "" && h.OIDCIssuer == "" {
		h.Pool = "default"
	}
	if h.SessionTimeout == 0 {
		h.SessionTimeout = caddy.Duration(defaultSessionTimeout)
	}
	if h.ClaimsRefresh == 0 {
		h.ClaimsRefresh = caddy.Duration(defaultClaimsRefresh)
	}
	if h.CookieName == "" {
		h.CookieName = defaultCookieName
	}
	if h.ClientID == "" && h.OIDCIssuer == "" {
		h.ClientID = "gatehouse"
	}
	if h.Signer == "" {
		name := h.Pool
		if name == "" {
			name = gatewayStoreName
		}
		h.Signer = albdata.DefaultARN(name)
	}
	if h.LogoutRedirect == "" {
		h.LogoutRedirect = "/"
	}
	if err := h.Validate(); err != nil {
		return err
	}
	logger := ctx.Logger()
	var p *Pool
	if h.Pool != "" {
		appIface, err := ctx.App("gatehouse")
		if err != nil {
			return fmt.Errorf("loading gatehouse app: %w", err)
		}
		if p, err = appIface.(*App).Pool(h.Pool); err != nil {
			return err
		}
		logger = logger.With(zap.String("pool", h.Pool))
	} else {
		h.keysPath = GatewayStorePath()
		gs, err := openGatewayStore(h.keysPath, logger)
		if err != nil {
			h.keysPath = ""
			return err
		}
		p = gs.Pool
	}
	h.pool = p

	cookieName, secure, cookiePrefix, err := cookieSetup(h.CookieName, h.CookieSecure, h.CookieHostPrefix)
	if err != nil {
		return err
	}
	h.hsts = h.HSTS.value()
	codec, err := middleware.NewCodec(cookieName, p.CookieKeyRing, time.Duration(h.SessionTimeout))
	if err != nil {
		return err
	}
	// The pages are made last; the gateway and the RP only call this at
	// run time.
	renderError := func(w http.ResponseWriter, r *http.Request, status int, title, message string) {
		h.ui.RenderError(w, r, status, title, message)
	}
	issuer, clientID := p.Config.issuer(h.Pool), h.ClientID
	var source middleware.Source // nil: the pool's hosted pages
	if h.OIDCIssuer != "" {
		repl := caddy.NewReplacer()
		clientID = repl.ReplaceKnown(h.ClientID, "")
		h.rp, err = oidcrp.New(oidcrp.Config{
			Issuer:       repl.ReplaceKnown(h.OIDCIssuer, ""),
			ClientID:     clientID,
			ClientSecret: repl.ReplaceKnown(h.ClientSecret, ""),
			Scopes:       h.Scopes,
			KeyRing:      p.CookieKeyRing,
			Secure:       secure,
			CookiePrefix: cookiePrefix,
			SafeReturnTo: hostedui.SafeReturnTo,
			RenderError:  renderError,
			Logger:       logger,
		})
		if err != nil {
			return fmt.Errorf("oidc_issuer: %w", err)
		}
		source, issuer = h.rp, h.rp.Issuer()
	}
	mode, _ := middleware.ParseMode(h.OnUnauthenticated)
	headers := h.Headers
	if h.NoPlainHeaders {
		headers = []middleware.HeaderRule{}
	}
	gwSource := source
	if gwSource == nil {
		gwSource = middleware.PoolSource{Pool: p.Pool, SignInPath: hostedui.SignInPath}
	}
	h.gateway, err = middleware.NewGateway(middleware.Config{
		BearerChecked:   bearerChecked(p.Metrics),
		ClaimsRefreshed: claimsRefreshed(p.Metrics),
		Revocations:     p.Pool.DenyList(),
		Revoker:         p.Pool,
		Codec:           codec,
		Data: &albdata.Signer{
			Keys:     p.Keys,
			ARN:      h.Signer,
			Issuer:   issuer,
			ClientID: clientID,
		},
		Mode:               mode,
		SessionTimeout:     time.Duration(h.SessionTimeout),
		ClaimsRefresh:      time.Duration(h.ClaimsRefresh),
		Headers:            headers,
		PassAccessToken:    h.PassAccessToken,
		StripSessionCookie: !h.PassSessionCookie,
		Secure:             secure,
		Source:             gwSource,
		Unauthorized: func(w http.ResponseWriter, r *http.Request) {
			renderError(w, r, http.StatusUnauthorized, "Sign-in required", "You need to sign in to see this page.")
		},
		SafeReturnTo: hostedui.SafeReturnTo,
		Logger:       logger,
		Policy: middleware.Policy{
			Rules:          h.Require,
			Roles:          h.Roles,
			GuestRole:      h.GuestRole,
			AllowAnonymous: h.AllowAnonymous,
			PublicPaths:    h.AnonymousPaths,
		},
		Bearer:      h.bearerConfig(p),
		RenderError: renderError,
		StepUp:      stepUp(source),
	})
	if err != nil {
		return err
	}
	h.ui, err = hostedui.New(hostedui.Config{
		Pool:           p.Pool,
		DisplayName:    p.Config.DisplayName,
		LogoutRedirect: h.LogoutRedirect,
		Codecs:         codec.Codecs(),
		Secure:         secure,
		Logger:         logger,
		Sessions:       h.gateway,
		ClientIP:       clientIP,
		Throttle:       countThrottle(p.Metrics, metrics.SurfaceHostedPages, p.Throttle),
		DeviceCodecs:   p.deviceCodecs(codec),
		CookiePrefix:   cookiePrefix,
		Providers:      p.poolProviders(h.OIDCIssuer == ""),
		Logo:           providerLogo,
		Brand:          p.Brand,
		ClientBrands:   p.ClientBrands,
		Templates:      p.PageTemplates,
		Now:            clockNamed(p.Config.ReauthClock),
		Locales:        p.Locales,
	})
	if err != nil {
		return err
	}
	return nil
}

// Cleanup lets go of the gateway store, closed when no handler holds it.
func (h *Handler) Cleanup() error {
	if h.keysPath != "" {
		_, err := gatewayStores.Delete(h.keysPath)
		h.keysPath = ""
		return err
	}
	return nil
}

// Validate checks the handler's configuration.
func (h *Handler) Validate() error {
	if _, err := middleware.ParseMode(h.OnUnauthenticated); err != nil {
		return err
	}
	if _, _, _, err := cookieSetup(h.CookieName, h.CookieSecure, h.CookieHostPrefix); err != nil {
		return err
	}
	if h.SessionTimeout < 0 || h.ClaimsRefresh < 0 {
		return fmt.Errorf("session_timeout and claims_refresh must be positive")
	}
	if h.NoPlainHeaders && len(h.Headers) > 0 {
		return fmt.Errorf("headers: both turned off and configured")
	}
	if err := h.validateAuthz(); err != nil {
		return err
	}
	if h.OIDCIssuer == "" {
		if h.ClientSecret != "" || len(h.Scopes) > 0 {
			return fmt.Errorf("client_secret and scopes are options of oidc_issuer, which is not set")
		}
		return nil
	}
	if h.ClientID == "" {
		return fmt.Errorf("oidc_issuer %s: client_id is required", h.OIDCIssuer)
	}
	if len(h.Scopes) > 0 && !slices.Contains(h.Scopes, "openid") {
		return fmt.Errorf("scopes %v: must include openid", h.Scopes)
	}
	return nil
}

// stepUp sends a session that `require mfa` refused to the hosted page
// that asks for a second factor; only the pool's own pages can, so a site
// signing in at an outside issuer answers 403.
func stepUp(source middleware.Source) func(http.ResponseWriter, *http.Request, string) {
	if source != nil {
		return nil
	}
	return func(w http.ResponseWriter, r *http.Request, returnTo string) {
		http.Redirect(w, r, hostedui.StepUpURL(returnTo), http.StatusFound)
	}
}

// clientIP is the client address Caddy determined for r, which honours the
// server's trusted_proxies; logs use it rather than the proxy's address.
func clientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func secureFunc(mode string) (func(*http.Request) bool, error) {
	switch mode {
	case "", "auto":
		return func(r *http.Request) bool { return r.TLS != nil }, nil
	case "always":
		return func(*http.Request) bool { return true }, nil
	case "never":
		return func(*http.Request) bool { return false }, nil
	}
	return nil, fmt.Errorf("cookie_secure %q: want auto, always or never", mode)
}

// ServeHTTP serves the pages under /_gatehouse/ and guards everything else.
// With an outside issuer, sign-in starts there and ends at the callback.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if strings.HasPrefix(r.URL.Path, prefix) {
		setHSTS(w, r, h.hsts)
		if kid, ok := publicKeyID(r.URL.Path); ok {
			h.pool.Keys.ServePublicKey(w, r, kid)
			return nil
		}
		if h.rp != nil {
			switch r.URL.Path {
			case oidcrp.CallbackPath:
				h.rp.ServeCallback(w, r, h.gateway)
				return nil
			case oidcrp.SignInPath:
				h.rp.ServeSignIn(w, r)
				return nil
			}
		}
		h.ui.ServeHTTP(w, r)
		return nil
	}
	auth, ok := h.gateway.Authorize(w, r, priorAuth(r))
	if !ok {
		return nil
	}
	caddyhttp.SetVar(r.Context(), varUser, auth.Principal)
	caddyhttp.SetVar(r.Context(), varRole, auth.Role)
	if auth.Principal.Authenticated() {
		// As Caddy's own authentication does: the access log's user_id,
		// and {http.auth.user.id} for the handlers after this one.
		if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
			repl.Set("http.auth.user.id", auth.Principal.Subject())
		}
	}
	return next.ServeHTTP(w, r)
}

// The request variables where a gatehouse block leaves what it established
// for the blocks after it in the same request (a block inside a `handle` of
// a guarded site): they reuse the identity instead of reading the
// credentials again, and add only their own rules and roles. As
// placeholders, {http.vars.gatehouse.user} is the user's sub and
// {http.vars.gatehouse.role} the role.
const (
	varUser = "gatehouse.user"
	varRole = "gatehouse.role"
)

// priorAuth returns what an earlier gatehouse block established for r, if
// one ran. Only this handler sets these variables; anything else found
// under their names (an operator's `vars`) does not count.
func priorAuth(r *http.Request) middleware.Auth {
	p, _ := caddyhttp.GetVar(r.Context(), varUser).(*middleware.Principal)
	role, _ := caddyhttp.GetVar(r.Context(), varRole).(*middleware.Role)
	if p == nil {
		return middleware.Auth{}
	}
	return middleware.Auth{Principal: p, Role: role}
}

// bearerConfig lists the issuers whose tokens this block accepts: those
// configured, and by default the pool's own issuer (for a site whose users
// sign in on the pool), whose keys are used in process.
func (h *Handler) bearerConfig(p *Pool) *middleware.BearerConfig {
	if h.NoBearer {
		return nil
	}
	own := ""
	if h.Pool != "" {
		own = p.Config.Issuer
	}
	repl := caddy.NewReplacer()
	var issuers []middleware.JWTIssuer
	ownListed := false
	for _, j := range h.JWTIssuers {
		j.Issuer = repl.ReplaceKnown(j.Issuer, "")
		auds := make([]string, len(j.Audiences))
		for i, a := range j.Audiences {
			auds[i] = repl.ReplaceKnown(a, "")
		}
		j.Audiences = auds
		if own != "" && j.Issuer == own {
			j.Local, ownListed = true, true
		}
		issuers = append(issuers, j)
	}
	if own != "" && !ownListed && h.OIDCIssuer == "" {
		issuers = append(issuers, middleware.JWTIssuer{Issuer: own, Local: true})
	}
	if len(issuers) == 0 {
		return nil
	}
	cfg := &middleware.BearerConfig{Issuers: issuers}
	if own != "" {
		cfg.Keys = p.Keys // the Local issuer's
	}
	return cfg
}

// validateAuthz checks the rules, roles and token options.
func (h *Handler) validateAuthz() error {
	if h.NoBearer && len(h.JWTIssuers) > 0 {
		return errors.New("bearer off: jwt_issuer lines are configured too")
	}
	if h.AllowAnonymous && len(h.Require) > 0 {
		return errors.New("allow anonymous: cannot be combined with require in the same block")
	}
	mode, _ := middleware.ParseMode(h.OnUnauthenticated)
	if h.GuestRole != "" && mode != middleware.ModeAllow && !h.AllowAnonymous && len(h.AnonymousPaths) == 0 {
		return fmt.Errorf("guest_role %s: only requests without identity that pass get it (on_unauthenticated allow, allow anonymous)", h.GuestRole)
	}
	// The rest is checked where it is compiled; this only reports it early.
	return middleware.CheckPolicy(middleware.Policy{
		Rules: h.Require, Roles: h.Roles, GuestRole: h.GuestRole,
		AllowAnonymous: h.AllowAnonymous, PublicPaths: h.AnonymousPaths,
	})
}

// The gateway store: where a site that signs users in at an outside issuer
// and names no pool keeps its cookie keys, signing keys and revocations, so
// that sessions survive a restart and the X-Amzn-Oidc-Data key stays put. It
// is a pool with no users on a small SQLite file, opened once per process
// and shared by every such site (and across config reloads). Several
// gateway instances that must accept each other's sessions name a pool on a
// shared store instead.
const gatewayStoreName = "gateway"

// gatewayStoreHash makes argon2id nearly free: the store has no users, and
// the pool hashes one dummy password when it opens.
var gatewayStoreHash = pool.HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1}

// GatewayStorePath is the gateway store's file: gatehouse/gateway.db in
// Caddy's data directory (caddy.AppDataDir, which follows XDG_DATA_HOME).
func GatewayStorePath() string {
	return filepath.Join(caddy.AppDataDir(), "gatehouse", "gateway.db")
}

var gatewayStores = caddy.NewUsagePool()

type gatewayStore struct {
	*Pool
	stop context.CancelFunc
}

// Destruct stops the revocation refresh and closes the store.
func (g *gatewayStore) Destruct() error {
	g.stop()
	return g.Close()
}

// openGatewayStore opens the gateway store at path, or takes one more
// reference to it; Handler.Cleanup gives it back.
func openGatewayStore(path string, logger *zap.Logger) (*gatewayStore, error) {
	v, _, err := gatewayStores.LoadOrNew(path, func() (caddy.Destructor, error) {
		// The store outlives the config that opened it (reloads share
		// it), so it must not use that config's context.
		p, err := OpenPool(context.Background(), gatewayStoreName, &PoolConfig{
			Store:        StoreConfig{Driver: "sqlite", Path: path},
			PasswordHash: gatewayStoreHash,
		})
		if err != nil {
			return nil, fmt.Errorf("gateway store %s: %w", path, err)
		}
		ctx, stop := context.WithCancel(context.Background())
		// Revocations and cookie keys changed by another process on
		// the same file (the CLI, a second server) are picked up as a
		// pool's are.
		go p.Upkeep(defaultRevocationRefresh, logger.With(zap.String("store", "gateway"))).Run(ctx)
		return &gatewayStore{Pool: p, stop: stop}, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*gatewayStore), nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
