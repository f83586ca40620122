// Package hostedui serves the hosted pages of a user pool under the path
// prefix /_gatehouse/ of every site the gateway guards: the sign-in form,
// sign-out, sign-up and address confirmation, forgotten passwords, the
// choice of a new password after a temporary one, the account page, and the
// pages' static assets.
//
// The gateway mounts one Handler per guarded site and hands it every request
// whose path starts with /_gatehouse/:
//
//	ui, err := hostedui.New(hostedui.Config{
//		Pool:     p,
//		Sessions: gateway,           // starts and ends the site's session cookie
//		Codecs:   securecookie.CodecsFromPairs(hashKey),
//	})
//	...
//	if strings.HasPrefix(r.URL.Path, hostedui.PathPrefix) {
//		ui.ServeHTTP(w, r)
//		return
//	}
//
// The pages work without JavaScript. Every form is protected by a signed
// double-submit CSRF token and an Origin check.
package hostedui

import (
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse"
	"github.com/gatehouse-auth/gatehouse/brand"
	"github.com/gatehouse-auth/gatehouse/federation"
	"github.com/gatehouse-auth/gatehouse/locale"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/ratelimit"
	"github.com/gatehouse-auth/gatehouse/store"
)

// Paths the handler answers. The gateway sends unauthenticated browsers to
// SignInPath with the page they wanted in the rd query parameter, made safe
// with SafeReturnTo.
const (
	PathPrefix = "/_gatehouse/"
	SignInPath = PathPrefix + "signin"
	LogoutPath = PathPrefix + "logout"
	staticPath = PathPrefix + "static/"
)

// Config is what a Handler is made from.
type Config struct {
	// Pool checks the credentials typed into the sign-in form.
	Pool *pool.Pool
	// Sessions starts the site's session after a successful sign-in and ends
	// it on sign-out.
	Sessions Sessions
	// DisplayName is the pool's name as shown on every page; default "Sign in".
	DisplayName string
	// LogoutRedirect is where /_gatehouse/logout sends the browser; default
	// "/_gatehouse/signin". It is the operator's choice, so it may be absolute.
	LogoutRedirect string
	// Codecs sign the CSRF cookie: the first encodes, all decode, so keys can
	// be rotated without breaking forms already on screen.
	Codecs []securecookie.Codec
	// Secure reports whether cookies set on r must be Secure; default: when r
	// came over TLS.
	Secure func(*http.Request) bool
	// Logger receives sign-in outcomes and internal errors; default: none.
	Logger *zap.Logger
	// ClientIP returns the client's address for logs and Throttle; default:
	// the host of r.RemoteAddr. Behind trusted proxies the module passes
	// Caddy's own.
	ClientIP func(*http.Request) string
	// DeviceCodecs seal the remembered-device cookie, which may outlive
	// a session and so the Codecs' max age; default Codecs.
	// CookiePrefix is "" or HostPrefix: the pages' own cookies are then
	// called __Host-<name> and set Secure with Path=/ (see cookies.go).
	CookiePrefix string
	DeviceCodecs []securecookie.Codec
	// Throttle limits the POSTs to the pages (all but sign-out) per client,
	// keyed by ratelimit.ClientKey of ClientIP; nil: no limit.
	Throttle ratelimit.Throttle
	// Providers are the pool's outside identity providers (package
	// federation), in the order of their buttons (federation.go).
	Providers []federation.Connector
	// IssuerSite: the pages serve the issuer site, whose providers answer
	// at Cognito's callback paths (ServeIssuerPath) instead of the
	// /_gatehouse/ ones.
	IssuerSite bool
	// Logo returns the embedded logo of a provider kind, for a provider
	// whose Info has none; nil: none.
	Logo func(kind string) []byte
	// Locales are the pool's languages (package locale); nil: the
	// built-in catalogues with English as the default.
	Locales *locale.Catalog
	// Brand is the pool's branding (package brand); nil: Gatehouse's own
	// look.
	Brand *brand.Brand
	// ClientBrands are the brands of app clients that have their own, by
	// client id, each already laid over the pool's (brand.Config.Over):
	// the pages of a sign-in for that client show it (branding.go).
	ClientBrands map[string]*brand.Brand
	// Templates holds an operator's page templates, files named as those
	// of templates/ that replace them (overrides.go); nil: none.
	Templates fs.FS
	// Now is the clock the account page's re-authentications are made and
	// checked with (confirm.go); default time.Now. Tests move it on.
	Now func() time.Time
}

// Handler serves the hosted pages. It is safe for concurrent use and holds
// only what New prepared: the request path parses nothing.
type Handler struct {
	pool           *pool.Pool
	sessions       Sessions
	displayName    string
	logoutRedirect string
	codecs         []securecookie.Codec
	secure         func(*http.Request) bool
	clientIP       func(*http.Request) string
	throttle       ratelimit.Throttle
	deviceCodecs   []securecookie.Codec
	cookiePrefix   string
	log            *zap.Logger
	pages          pages
	locales        *locale.Catalog
	// langs holds each language's pages by tag: parsed once at New with
	// t bound to that language, so rendering clones nothing.
	langs         map[string]*pages
	static        *staticFiles
	fedProviders  []*fedProvider
	fedByName     map[string]*fedProvider
	issuerSite    bool
	brandAssets   map[string]*brand.Asset
	variants      map[variantKey]*template.Template
	clientBranded bool
	now           func() time.Time
}

// New checks cfg, parses the embedded templates and indexes the static files.
func New(cfg Config) (*Handler, error) {
	if cfg.Pool == nil {
		return nil, errors.New("hostedui: Config.Pool is required")
	}
	if cfg.Sessions == nil {
		return nil, errors.New("hostedui: Config.Sessions is required")
	}
	if len(cfg.Codecs) == 0 {
		return nil, errors.New("hostedui: Config.Codecs needs at least one codec to sign the CSRF cookie")
	}
	for i, c := range cfg.Codecs {
		if c == nil {
			return nil, fmt.Errorf("hostedui: Config.Codecs[%d] is nil", i)
		}
	}
	h := &Handler{
		pool:           cfg.Pool,
		sessions:       cfg.Sessions,
		displayName:    cfg.DisplayName,
		logoutRedirect: cfg.LogoutRedirect,
		codecs:         cfg.Codecs,
		secure:         cfg.Secure,
		clientIP:       cfg.ClientIP,
		throttle:       cfg.Throttle,
		deviceCodecs:   cfg.DeviceCodecs,
		cookiePrefix:   cfg.CookiePrefix,
		log:            cfg.Logger,
		issuerSite:     cfg.IssuerSite,
		now:            cfg.Now,
	}
	if err := h.setProviders(cfg.Providers, cfg.Logo); err != nil {
		return nil, err
	}
	if h.cookiePrefix != "" && h.cookiePrefix != HostPrefix {
		return nil, fmt.Errorf("hostedui: Config.CookiePrefix %q: want %q or none", h.cookiePrefix, HostPrefix)
	}
	if len(h.deviceCodecs) == 0 {
		h.deviceCodecs = h.codecs
	}
	if h.displayName == "" {
		h.displayName = "Sign in"
	}
	if h.logoutRedirect == "" {
		h.logoutRedirect = SignInPath
	}
	if err := checkRedirectTarget(h.logoutRedirect); err != nil {
		return nil, fmt.Errorf("hostedui: Config.LogoutRedirect %q: %w", h.logoutRedirect, err)
	}
	if h.secure == nil {
		h.secure = func(r *http.Request) bool { return r.TLS != nil }
	}
	if h.log == nil {
		h.log = zap.NewNop()
	}
	if h.clientIP == nil {
		h.clientIP = remoteIP
	}
	if h.now == nil {
		h.now = time.Now
	}
	tmpl, err := fs.Sub(gatehouse.Templates, "templates")
	if err != nil {
		return nil, fmt.Errorf("hostedui: %w", err)
	}
	if tmpl, err = withOverrides(tmpl, cfg.Templates); err != nil {
		return nil, fmt.Errorf("hostedui: %w", err)
	}
	h.locales = cfg.Locales
	if h.locales == nil {
		if h.locales, err = locale.Load(locale.Options{}); err != nil {
			return nil, fmt.Errorf("hostedui: %w", err)
		}
	}
	// Each language's pages, parsed once; h.pages are the default
	// language's, the keys render is given (branding.go, pageFor).
	h.langs = make(map[string]*pages, len(h.locales.Languages()))
	for _, l := range h.locales.Languages() {
		p, err := parsePages(tmpl, l, h.locales.Languages())
		if err != nil {
			return nil, fmt.Errorf("hostedui: %w", err)
		}
		h.langs[l.Tag] = &p
	}
	h.pages = *h.langs[h.locales.Default().Tag]
	if err := h.setBrands(cfg.Brand, cfg.ClientBrands); err != nil {
		return nil, fmt.Errorf("hostedui: %w", err)
	}
	if err := checkPages(&h.pages); err != nil {
		return nil, fmt.Errorf("hostedui: %w", err)
	}
	static, err := fs.Sub(gatehouse.Static, "static")
	if err != nil {
		return nil, fmt.Errorf("hostedui: %w", err)
	}
	if h.static, err = newStaticFiles(static, staticPath); err != nil {
		return nil, fmt.Errorf("hostedui: %w", err)
	}
	return h, nil
}

// checkRedirectTarget accepts a path or an absolute http(s) URL, the only
// things a Location header should carry.
func checkRedirectTarget(s string) error {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f || s[i] == ' ' || s[i] == '\\' {
			return errors.New("contains a control character, space or backslash")
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	switch {
	case u.Scheme == "" && u.Host == "" && strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//"):
		return nil
	case (u.Scheme == "http" || u.Scheme == "https") && u.Host != "":
		return nil
	}
	return errors.New("must be a path starting with one \"/\" or an absolute http(s) URL")
}

// ServeHTTP routes a request under /_gatehouse/ to its page.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r = r.WithContext(pool.WithClientIP(r.Context(), h.clientIP(r))) // for the pool's audit events
	r = h.withLanguage(w, r)
	if r.Method == http.MethodPost && r.URL.Path != LogoutPath && r.URL.Path != passkeyBeginPath && h.throttled(w, r) {
		return
	}
	switch p := r.URL.Path; {
	case p == SignInPath:
		h.signIn(w, r)
	case p == LogoutPath:
		h.logout(w, r)
	case p == LanguagePath:
		h.language(w, r)
	case p == SignUpPath:
		h.signUp(w, r)
	case p == ConfirmPath:
		h.confirm(w, r)
	case p == ForgotPath:
		h.forgot(w, r)
	case p == ResetPath:
		h.reset(w, r)
	case p == NewPasswordPath:
		h.newPassword(w, r)
	case p == AccountPath:
		h.account(w, r)
	case p == AccountConfirmPath:
		h.accountConfirm(w, r)
	case p == MFAPath:
		h.mfa(w, r)
	case p == mfaSetupPath:
		h.mfaSetup(w, r)
	case p == federation.SiteOIDCCallbackPath, p == federation.SiteSAMLCallbackPath:
		h.federationCallback(w, r)
	case strings.HasPrefix(p, FederatePath):
		h.federateStart(w, r)
	case strings.HasPrefix(p, siteMetadataPath):
		h.samlMetadata(w, r, strings.TrimPrefix(p, siteMetadataPath))
	case strings.HasPrefix(p, logoPath):
		h.serveLogo(w, r)
	case strings.HasPrefix(p, staticPath):
		h.serveStatic(w, r)
	case strings.HasPrefix(p, brandPath):
		h.serveBrand(w, r)
	case strings.HasPrefix(p, webauthnPath):
		h.webauthn(w, r)
	default:
		h.notFound(w, r)
	}
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.RenderError(w, r, http.StatusNotFound, "Page not found", "There is no page at this address.")
}

// methodNotAllowed answers 405 with the Allow header RFC 9110 requires.
func (h *Handler) methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	h.RenderError(w, r, http.StatusMethodNotAllowed, "Method not allowed",
		h.lang(r).T("This page does not accept {{.Method}} requests.", "Method", r.Method))
}

// logout ends the session and sends the browser on. It needs no CSRF token:
// the worst a forged request can do is sign someone out.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		h.methodNotAllowed(w, r, "GET, POST")
		return
	}
	if err := h.sessions.End(w, r); err != nil {
		if errors.Is(err, store.ErrUnavailable) {
			h.internalError(w, r, "signing out", err)
			return
		}
		h.log.Error("sign-out failed", zap.Error(err), zap.String("remote_ip", h.clientIP(r)))
		h.RenderError(w, r, http.StatusInternalServerError, "Sign-out failed",
			"Your session could not be ended. Please try again.")
		return
	}
	h.forgetConfirmation(w, r)
	h.log.Info("signed out", zap.String("remote_ip", h.clientIP(r)))
	h.continueTo(w, r, "Signed out", h.logoutRedirect)
}

// continuePage is what templates/continue.html shows.
type continuePage struct {
	DisplayName string
	Title       string
	Location    string
}

// continueTo ends a request whose outcome lies beyond the hosted pages:
// the page a sign-in was for (rd, which may itself redirect to another
// origin, as /oauth2/authorize does to an app's redirect URI) or the
// operator's sign-out address. A GET is redirected (303). A POST gets a
// page of this site (200, no-store) that moves on with a GET by a meta
// refresh, or its button: Chromium applies the form's form-action 'self'
// to every redirect that follows the POST, so a 303 whose chain leaves
// this origin is blocked and the browser stays on the form, while a
// navigation from a page is not a form submission. Every form whose
// outcome may leave the origin ends here, so none of them needs the policy
// widened. location must already be safe (SafeReturnTo, or checked by New).
func (h *Handler) continueTo(w http.ResponseWriter, r *http.Request, title, location string) {
	if r.Method != http.MethodPost {
		seeOther(w, location)
		return
	}
	h.render(w, r, http.StatusOK, h.pages.continuePage, continuePage{
		DisplayName: h.displayName,
		Title:       title,
		Location:    location,
	})
}

// Continue is continueTo for the OpenID provider's sign-out, which ends
// POSTs in an app's post-logout redirect URI: the same page, with the
// pool's look. location must be one the caller checked.
func (h *Handler) Continue(w http.ResponseWriter, r *http.Request, title, location string) {
	h.continueTo(w, r, title, location)
}

// seeOther redirects with 303, so the browser follows with a GET, writing
// the Location as given: http.Redirect would clean the path.
func seeOther(w http.ResponseWriter, location string) {
	setPageHeaders(w.Header())
	w.Header().Set("Location", location)
	w.WriteHeader(http.StatusSeeOther)
}
