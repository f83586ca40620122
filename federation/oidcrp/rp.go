// Package oidcrp signs users in at an outside OpenID Connect provider, as an
// AWS ALB's authenticate-oidc action does: the gateway is the relying party,
// the issuer's hosted pages do the sign-in, and the verified ID token becomes
// a Gatehouse session like any other.
//
// The flow is the authorization code flow with PKCE (S256), state and nonce.
// The talk with the issuer (discovery, the code exchange, ID token
// verification by github.com/coreos/go-oidc/v3, userinfo, refresh) is
// federation/oidcclient's, shared with the pool's OpenID connectors; this
// package keeps the browser's side (flow cookies, callback, sessions):
//
//	rp, err := oidcrp.New(oidcrp.Config{
//		Issuer:       "https://accounts.example.com",
//		ClientID:     "gatehouse",
//		ClientSecret: secret,
//		KeyRing:      cookieKeys, // the session cookie's keys
//		RenderError:  ui.RenderError,
//	})
//	gw, err := middleware.NewGateway(middleware.Config{Source: rp, ...})
//	...
//	case oidcrp.CallbackPath: rp.ServeCallback(w, r, gw)
//
// An RP is a middleware.Source: the gateway calls SignIn to send a browser to
// the issuer and Refresh at each session's refresh time, which uses the
// issuer's refresh token when one was granted.
package oidcrp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gorilla/securecookie"
	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/federation/oidcclient"
	"github.com/gatehouse-auth/gatehouse/middleware"
)

// Paths the RP answers under the gateway's /_gatehouse/ prefix.
const (
	// CallbackPath is the redirect URI's path: register
	// https://<site>/_gatehouse/oauth2/callback with the issuer.
	CallbackPath = "/_gatehouse/oauth2/callback"
	// SignInPath starts a sign-in at the issuer for ?rd=<local URL>; it
	// takes the place of the hosted sign-in page.
	SignInPath = "/_gatehouse/signin"
)

// DefaultScopes are asked for when Config.Scopes is empty.
var DefaultScopes = []string{oidc.ScopeOpenID, "email", "profile"}

// Config is what an RP is made from.
type Config struct {
	// Issuer is the provider's issuer URL, exactly as its discovery
	// document states it.
	Issuer string
	// ClientID is the gateway's client at the issuer; ID tokens must be
	// issued to it (aud).
	ClientID string
	// ClientSecret is the client's secret; empty for a public client, which
	// then relies on PKCE alone.
	ClientSecret string
	// Scopes must hold "openid"; nil means DefaultScopes.
	Scopes []string
	// KeyRing seals the flow cookie: the session cookie's keys as they
	// rotate, so a flow begun on one instance of a pool's gateways can end
	// on another after a rotation too.
	KeyRing *middleware.CookieKeys
	// Secure reports whether r came over HTTPS, for the redirect URI's
	// scheme and the flow cookie's Secure flag; default: r.TLS != nil.
	Secure func(*http.Request) bool
	// CookiePrefix is "" or "__Host-": the flow cookies are then called
	// __Host-<name> and set with Path=/ (Secure must then always hold).
	CookiePrefix string
	// SafeReturnTo vets the page to come back to; default: only "/".
	SafeReturnTo func(string) (string, bool)
	// RenderError answers with an error page (hostedui's RenderError).
	RenderError func(w http.ResponseWriter, r *http.Request, status int, title, message string)
	// HTTPClient talks to the issuer; default: a client with a 10 s timeout.
	HTTPClient *http.Client
	Logger     *zap.Logger
}

// RP is a relying party of one issuer. It is safe for concurrent use. It
// does no I/O until the first sign-in or refresh needs the issuer.
type RP struct {
	issuer       string
	clientID     string
	clientSecret string
	scopes       []string
	codecs       []securecookie.Codec
	secure       func(*http.Request) bool
	cookiePrefix string
	safeReturnTo func(string) (string, bool)
	renderError  func(w http.ResponseWriter, r *http.Request, status int, title, message string)
	log          *zap.Logger
	now          func() time.Time

	// oc talks to the issuer: discovery (lazy, with back-off), the code
	// exchange, ID token verification, userinfo and refresh.
	oc *oidcclient.Client

	consumed *consumedStates
	flights  *flights
}

// New checks cfg. It does not contact the issuer: discovery happens on
// first need, so a server starts while its issuer is briefly down.
func New(cfg Config) (*RP, error) {
	if err := oidcclient.CheckIssuerURL(cfg.Issuer); err != nil {
		return nil, fmt.Errorf("oidcrp: %w", err)
	}
	if cfg.ClientID == "" {
		return nil, errors.New("oidcrp: a client id is required")
	}
	scopes := cfg.Scopes
	if len(scopes) == 0 {
		scopes = DefaultScopes
	}
	if !slices.Contains(scopes, oidc.ScopeOpenID) {
		return nil, fmt.Errorf("oidcrp: scopes %v lack %q", scopes, oidc.ScopeOpenID)
	}
	if cfg.RenderError == nil {
		return nil, errors.New("oidcrp: RenderError is required")
	}
	if cfg.CookiePrefix != "" && cfg.CookiePrefix != "__Host-" {
		return nil, fmt.Errorf("oidcrp: cookie prefix %q: want __Host- or none", cfg.CookiePrefix)
	}
	if cfg.KeyRing == nil {
		return nil, errors.New("oidcrp: cookie keys are required")
	}
	rp := &RP{
		issuer:       cfg.Issuer,
		clientID:     cfg.ClientID,
		clientSecret: cfg.ClientSecret,
		scopes:       slices.Clone(scopes),
		secure:       cfg.Secure,
		cookiePrefix: cfg.CookiePrefix,
		safeReturnTo: cfg.SafeReturnTo,
		renderError:  cfg.RenderError,
		log:          cfg.Logger,
		now:          time.Now,
		consumed:     newConsumedStates(maxConsumed),
		flights:      newFlights(),
		codecs:       []securecookie.Codec{cfg.KeyRing.SecureCookie(FlowTTL)},
	}
	if rp.secure == nil {
		rp.secure = func(r *http.Request) bool { return r.TLS != nil }
	}
	if rp.safeReturnTo == nil {
		rp.safeReturnTo = func(string) (string, bool) { return "/", false }
	}
	if rp.log == nil {
		rp.log = zap.NewNop()
	}
	oc, err := oidcclient.New(oidcclient.Config{
		Issuer:       cfg.Issuer,
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		Scopes:       scopes,
		HTTPClient:   cfg.HTTPClient,
		Logger:       rp.log,
		// Read at each use, so that a test can move the RP's clock.
		Now: func() time.Time { return rp.now() },
	})
	if err != nil {
		return nil, fmt.Errorf("oidcrp: %w", err)
	}
	rp.oc = oc
	return rp, nil
}

// Issuer returns the issuer URL: the `iss` of what the gateway signs for
// sessions made here.
func (rp *RP) Issuer() string { return rp.issuer }

// ErrUnavailable means the issuer could not be reached (its discovery
// document, or the token endpoint); sign-in is impossible until it can.
var ErrUnavailable = oidcclient.ErrUnavailable

// discover reads the issuer's discovery document on first need, with
// back-off after failures (oidcclient).
func (rp *RP) discover(ctx context.Context) error { return rp.oc.Discover(ctx) }

// ServeSignIn starts a sign-in for GET /_gatehouse/signin?rd=<local URL>.
func (rp *RP) ServeSignIn(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		rp.renderError(w, r, http.StatusMethodNotAllowed, "Method not allowed", "This page does not accept "+r.Method+" requests.")
		return
	}
	rd, _ := rp.safeReturnTo(r.URL.Query().Get("rd"))
	rp.SignIn(w, r, rd)
}

// SignIn sends the browser to the issuer's authorization endpoint, with a
// fresh state, nonce and PKCE verifier kept in a flow cookie for the
// callback (it implements middleware.Source).
func (rp *RP) SignIn(w http.ResponseWriter, r *http.Request, returnTo string) {
	if err := rp.discover(r.Context()); err != nil {
		rp.log.Warn("sign-in unavailable: issuer discovery failed", zap.String("issuer", rp.issuer), zap.Error(err))
		w.Header().Set("Retry-After", "30")
		rp.renderError(w, r, http.StatusServiceUnavailable, "Sign-in unavailable",
			"The identity provider cannot be reached right now. Please try again in a minute.")
		return
	}
	f, err := rp.newFlow(r, returnTo)
	if err != nil {
		rp.internalError(w, r, "starting a sign-in", err)
		return
	}
	if err := rp.writeFlow(w, r, f); err != nil {
		rp.internalError(w, r, "writing the flow cookie", err)
		return
	}
	target, err := rp.oc.AuthCodeURL(r.Context(), f.RedirectURI, f.State, f.Nonce, f.Verifier)
	if err != nil {
		rp.internalError(w, r, "making the authorization URL", err)
		return
	}
	redirect(w, target)
}

// redirectURI is this site's callback URL, as the issuer must have it
// registered. The scheme follows Secure, so that a site whose TLS ends at a
// proxy in front (cookie_secure always) registers its https URL.
func (rp *RP) redirectURI(r *http.Request) string {
	scheme := "http"
	if rp.secure(r) {
		scheme = "https"
	}
	return scheme + "://" + r.Host + CallbackPath
}

// redirect answers 302 to target, written as given (http.Redirect would
// clean a local path), and never cached: each one carries a fresh state.
func redirect(w http.ResponseWriter, target string) {
	h := w.Header()
	h.Set("Location", target)
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(http.StatusFound)
}

func (rp *RP) internalError(w http.ResponseWriter, r *http.Request, doing string, err error) {
	rp.log.Error("outside sign-in failed", zap.String("while", doing), zap.Error(err))
	rp.renderError(w, r, http.StatusInternalServerError, "Something went wrong",
		"The server could not complete your request. Please try again in a moment.")
}

// Interface guard
var _ middleware.Source = (*RP)(nil)
