package module

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/gatehouse-auth/gatehouse/hostedui"
	"github.com/gatehouse-auth/gatehouse/middleware"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler is the `gatehouse` HTTP handler: it guards a site with a pool's
// sessions and serves the hosted pages under /_gatehouse/.
type Handler struct {
	// Pool names the pool (in the gatehouse global options). Default "default".
	Pool string `json:"pool,omitempty"`
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
	// Signer is the `signer` of X-Amzn-Oidc-Data. Default an ARN-shaped
	// string naming the pool.
	Signer string `json:"signer,omitempty"`
	// ClientID is the `client` of X-Amzn-Oidc-Data. Default "gatehouse".
	ClientID string `json:"client_id,omitempty"`
	// PassAccessToken adds X-Amzn-Oidc-Accesstoken.
	PassAccessToken bool `json:"pass_access_token,omitempty"`
	// Headers replaces the default plain identity headers.
	Headers []middleware.HeaderRule `json:"headers,omitempty"`
	// NoPlainHeaders turns the plain identity headers off.
	NoPlainHeaders bool `json:"no_plain_headers,omitempty"`
	// LogoutRedirect is where /_gatehouse/logout sends the browser.
	// Default "/".
	LogoutRedirect string `json:"logout_redirect,omitempty"`

	gateway *middleware.Gateway
	ui      *hostedui.Handler
	pool    *Pool
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

// Provision builds the gateway and hosted pages from the named pool.
func (h *Handler) Provision(ctx caddy.Context) error {
	if h.Pool == "" {
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
	if h.ClientID == "" {
		h.ClientID = "gatehouse"
	}
	if h.Signer == "" {
		h.Signer = middleware.DefaultSigner(h.Pool)
	}
	if h.LogoutRedirect == "" {
		h.LogoutRedirect = "/"
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
	h.pool = p
	logger := ctx.Logger().With(zap.String("pool", h.Pool))

	secure, err := secureFunc(h.CookieSecure)
	if err != nil {
		return err
	}
	codec, err := middleware.NewCodec(h.CookieName, p.CookieKeys, time.Duration(h.SessionTimeout))
	if err != nil {
		return err
	}
	mode, _ := middleware.ParseMode(h.OnUnauthenticated)
	headers := h.Headers
	if h.NoPlainHeaders {
		headers = []middleware.HeaderRule{}
	}
	h.gateway, err = middleware.NewGateway(middleware.Config{
		Pool:  p.Pool,
		Codec: codec,
		Data: &middleware.ALBDataSigner{
			Keys:     p.Keys,
			Signer:   h.Signer,
			Issuer:   p.Config.issuer(h.Pool),
			ClientID: h.ClientID,
		},
		Mode:            mode,
		SessionTimeout:  time.Duration(h.SessionTimeout),
		ClaimsRefresh:   time.Duration(h.ClaimsRefresh),
		Headers:         headers,
		PassAccessToken: h.PassAccessToken,
		Secure:          secure,
		SignInPath:      prefix + "signin",
		// The pages are made below; the gateway only calls this at run time.
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
		Pool:           p.Pool,
		DisplayName:    p.Config.DisplayName,
		LogoutRedirect: h.LogoutRedirect,
		Codecs:         codec.Codecs(),
		Secure:         secure,
		Logger:         logger,
		Sessions:       h.gateway,
		ClientIP:       clientIP,
	})
	if err != nil {
		return err
	}
	return nil
}

// Validate checks the handler's configuration.
func (h *Handler) Validate() error {
	if _, err := middleware.ParseMode(h.OnUnauthenticated); err != nil {
		return err
	}
	if _, err := secureFunc(h.CookieSecure); err != nil {
		return err
	}
	if h.SessionTimeout < 0 || h.ClaimsRefresh < 0 {
		return fmt.Errorf("session_timeout and claims_refresh must be positive")
	}
	if h.NoPlainHeaders && len(h.Headers) > 0 {
		return fmt.Errorf("headers: both turned off and configured")
	}
	return nil
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

// ServeHTTP serves the hosted pages and guards everything else.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if strings.HasPrefix(r.URL.Path, prefix) {
		if kid, ok := strings.CutPrefix(r.URL.Path, publicKeysPrefix); ok {
			h.pool.Keys.ServePublicKey(w, r, kid)
			return nil
		}
		h.ui.ServeHTTP(w, r)
		return nil
	}
	if !h.gateway.Guard(w, r) {
		return nil
	}
	return next.ServeHTTP(w, r)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
