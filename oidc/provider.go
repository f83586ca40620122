// Package oidc makes a user pool an OpenID Provider. It signs with the
// pool's keys (package signing) and does not own them.
//
// A Provider is built once, when the server starts, and serves the OpenID
// Connect and OAuth 2.0 endpoints under the pool's issuer URL:
//
//	p, err := oidc.NewProvider(oidc.Config{
//		Issuer:   "https://auth.example.com",
//		Pool:     pl,
//		Keys:     keys,       // from signing.Open, with RS256 ensured
//		Clients:  clients,    // the Caddyfile's; stored ones are looked up
//		Sessions: sessions,   // the issuer site's sign-in session
//	})
//	...
//	if p.Serve(w, r) {
//		return // one of the provider's paths
//	}
//
// Browsers sign in on the hosted pages of the issuer site; the provider only
// reads the session those pages start (Sessions), so one sign-in serves
// every app of the pool (single sign-on).
package oidc

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/signing"
	"github.com/gatehouse-auth/gatehouse/store"
)

// Endpoint paths, under the issuer URL's path.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	JWKSPath      = "/.well-known/jwks.json"
	AuthorizePath = "/oauth2/authorize"
	TokenPath     = "/oauth2/token"
	UserInfoPath  = "/oauth2/userInfo"
	RevokePath    = "/oauth2/revoke"
	LogoutPath    = "/logout"
	// Cognito's classic hosted-UI entry points (hosted.go).
	LoginPath          = "/login"
	SignUpEntryPath    = "/signup"
	ForgotPasswordPath = "/forgotPassword"
)

// codeTTL is how long an authorization code may wait to be exchanged.
const codeTTL = 60 * time.Second

// maxFormBytes bounds the body of a form posted to an endpoint.
const maxFormBytes = 64 << 10

// SessionInfo is what the provider reads of a browser's sign-in session on
// the issuer site.
type SessionInfo struct {
	ID     string
	UserID string
	// AuthTime is when the user last proved who they are.
	AuthTime time.Time
	// AMR lists how ("pwd", ...).
	AMR []string
}

// Sessions is the issuer site's sign-in session, as the provider needs it.
// The module adapts the gateway (package middleware) to it.
type Sessions interface {
	// Current returns the valid session r carries, if any.
	Current(r *http.Request) (SessionInfo, bool)
	// End clears the session cookie and revokes the session r carries.
	End(w http.ResponseWriter, r *http.Request) error
}

// Config is what a Provider is made from.
type Config struct {
	// Issuer is the pool's issuer URL, `iss` of every token; the endpoints
	// live under its path.
	Issuer string
	Pool   *pool.Pool
	// Store defaults to Pool.Store().
	Store store.Store
	// Keys signs the tokens; it must keep ES256 and RS256 keys.
	Keys *signing.KeySet
	// Clients are the clients written in the configuration; they win over
	// a stored client with the same id.
	Clients []*Client
	// Sessions is the issuer site's sign-in session.
	Sessions Sessions
	// SignInPath is the hosted sign-in page; default "/_gatehouse/signin".
	// It is sent the authorization request to come back to in `rd`.
	SignInPath string
	// UILocales are the hosted pages' languages (BCP 47 tags), which
	// discovery lists as ui_locales_supported; none: not listed.
	UILocales []string
	// SignUpPath and ForgotPasswordPath are the hosted sign-up and
	// password-reset pages, which Cognito's /signup and /forgotPassword
	// lead to (sent the authorization request to come back to in `rd`);
	// unset, those paths are not served.
	SignUpPath         string
	ForgotPasswordPath string
	// SafeReturnTo, when set, is the sign-in page's rule for `rd`: a
	// request it would refuse is answered with an error instead of a
	// sign-in that could not come back.
	SafeReturnTo func(string) (string, bool)
	// ErrorPage shows an error to the browser where redirecting to the
	// client is not safe (unknown client, unregistered redirect URI);
	// default: plain text.
	ErrorPage func(w http.ResponseWriter, r *http.Request, status int, title, message string)
	// Continue answers a sign-out POST with a page of the issuer site that
	// moves on to location with a GET (hostedui's continue page), since a
	// browser applies the posting page's form-action to the redirects that
	// follow a form; default: a 303 redirect.
	Continue func(w http.ResponseWriter, r *http.Request, title, location string)
	// MarkerKey (at least 32 bytes) signs the marker that makes a sign-in
	// for prompt=login or max_age prove itself fresh.
	MarkerKey []byte
	// Federate, when set, sends a browser that must sign in for a request
	// naming an outside provider (Cognito's identity_provider=<name>, or
	// idp_identifier=<domain or address>) straight to that provider,
	// skipping the sign-in page: it returns where to send the browser to
	// come back to returnTo, ok false for a name or identifier the pool
	// does not have (the request is then refused with invalid_request).
	Federate func(identityProvider, idpIdentifier, returnTo string) (target string, ok bool)
	Logger   *zap.Logger
	// Now is the clock of codes and tokens; default time.Now.
	Now func() time.Time
	// TokensIssued, when set, is told the grant type (GrantAuthorizationCode,
	// GrantRefreshToken, GrantClientCredentials) of each token response
	// the token endpoint gives; package metrics counts them.
	TokensIssued func(grantType string)
}

// Provider is one pool's OpenID Provider. It is safe for concurrent use and
// holds only what NewProvider prepared.
type Provider struct {
	tokensIssued func(string)
	issuer       string
	base         string // the issuer URL's path, without a trailing "/"
	realm        string
	pool         *pool.Pool
	store        store.Store
	keys         *signing.KeySet
	clients      registry
	sessions     Sessions
	signInPath   string
	uiLocales    []string
	signUpPath   string
	forgotPath   string
	safeReturnTo func(string) (string, bool)
	errorPage    func(w http.ResponseWriter, r *http.Request, status int, title, message string)
	cont         func(w http.ResponseWriter, r *http.Request, title, location string)
	markerKey    []byte
	federate     func(identityProvider, idpIdentifier, returnTo string) (string, bool)
	log          *zap.Logger
	now          func() time.Time
	discovery    []byte
}

// NewProvider checks cfg, prepares the clients and the discovery document.
func NewProvider(cfg Config) (*Provider, error) {
	if cfg.Pool == nil || cfg.Keys == nil || cfg.Sessions == nil {
		return nil, errors.New("oidc: Config.Pool, Keys and Sessions are required")
	}
	iss, err := url.Parse(cfg.Issuer)
	if err != nil || (iss.Scheme != "https" && iss.Scheme != "http") || iss.Host == "" ||
		iss.RawQuery != "" || iss.Fragment != "" || iss.User != nil {
		return nil, fmt.Errorf("oidc: issuer %q must be an http(s) URL with a host and no query or fragment", cfg.Issuer)
	}
	if len(cfg.MarkerKey) < 32 {
		return nil, errors.New("oidc: Config.MarkerKey must have at least 32 bytes")
	}
	for _, alg := range []string{signing.ES256, signing.RS256} {
		if cfg.Keys.CurrentFor(alg) == nil {
			return nil, fmt.Errorf("oidc: the key set keeps no %s keys (KeySet.Ensure)", alg)
		}
	}
	p := &Provider{
		issuer:       cfg.Issuer, // exactly: relying parties compare it as a string
		base:         strings.TrimSuffix(iss.EscapedPath(), "/"),
		realm:        strings.NewReplacer(`"`, "", `\`, "").Replace(iss.Host),
		pool:         cfg.Pool,
		store:        cfg.Store,
		keys:         cfg.Keys,
		sessions:     cfg.Sessions,
		signInPath:   cfg.SignInPath,
		uiLocales:    cfg.UILocales,
		signUpPath:   cfg.SignUpPath,
		forgotPath:   cfg.ForgotPasswordPath,
		safeReturnTo: cfg.SafeReturnTo,
		errorPage:    cfg.ErrorPage,
		cont:         cfg.Continue,
		federate:     cfg.Federate,
		markerKey:    deriveKey(cfg.MarkerKey, "gatehouse oidc login marker"),
		log:          cfg.Logger,
		tokensIssued: cfg.TokensIssued,
		now:          cfg.Now,
	}
	if p.store == nil {
		p.store = cfg.Pool.Store()
	}
	if p.signInPath == "" {
		p.signInPath = "/_gatehouse/signin"
	}
	if p.errorPage == nil {
		p.errorPage = func(w http.ResponseWriter, _ *http.Request, status int, title, message string) {
			http.Error(w, title+": "+message, status)
		}
	}
	if p.log == nil {
		p.log = zap.NewNop()
	}
	if p.now == nil {
		p.now = time.Now
	}
	p.clients = registry{configured: make(map[string]*Client, len(cfg.Clients)), store: p.store, log: p.log}
	if cfg.Pool != nil {
		p.clients.openSecret = cfg.Pool.OpenClientSecret
	}
	for _, c := range cfg.Clients {
		if c == nil {
			return nil, errors.New("oidc: nil client")
		}
		if _, dup := p.clients.configured[c.ID]; dup {
			return nil, fmt.Errorf("oidc: client %q is configured twice", c.ID)
		}
		rc, err := c.ready()
		if err != nil {
			return nil, fmt.Errorf("oidc: client %q: %w", c.ID, err)
		}
		p.clients.configured[c.ID] = rc
	}
	if p.discovery, err = p.discoveryDocument(); err != nil {
		return nil, err
	}
	return p, nil
}

// deriveKey gives each use of a secret its own key.
func deriveKey(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// Issuer returns the issuer URL, as tokens carry it.
func (p *Provider) Issuer() string { return p.issuer }

// Configured reports whether a client with that id is configured (not
// stored); for warning about stored clients it shadows.
func (p *Provider) Configured(id string) bool {
	_, ok := p.clients.configured[id]
	return ok
}

// Serve answers r if its path is one of the provider's, and reports whether
// it did; other requests are left for the caller (it is not an
// http.Handler, which would have to answer every request).
func (p *Provider) Serve(w http.ResponseWriter, r *http.Request) (handled bool) {
	path, ok := strings.CutPrefix(r.URL.Path, p.base)
	if !ok {
		return false
	}
	var serve func(http.ResponseWriter, *http.Request)
	cors := true
	switch path {
	case DiscoveryPath:
		serve = p.serveDiscovery
	case JWKSPath:
		serve = p.serveJWKS
	case TokenPath:
		serve = p.token
	case UserInfoPath, "/oauth2/userinfo":
		serve = p.userInfo
	case RevokePath:
		serve = p.revoke
	case AuthorizePath:
		serve, cors = p.authorize, false
	case LogoutPath:
		serve, cors = p.logout, false
	case LoginPath, SignUpEntryPath, ForgotPasswordPath:
		if serve = p.hostedRoute(path, r); serve == nil {
			return false
		}
		cors = false
	default:
		return false
	}
	if cors {
		// Every one of these is for scripts on any origin (single-page
		// apps); none reads a cookie, so none can be used against a user.
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		if r.Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			// X-Amz-User-Agent: Amplify sends it with its code exchange
			// at /oauth2/token; a preflight that left it out failed the
			// hosted-UI sign-in of every Amplify app on another origin.
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Amz-User-Agent")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return true
		}
	}
	serve(w, r)
	return true
}

func (p *Provider) endpoint(path string) string { return strings.TrimSuffix(p.issuer, "/") + path }

func (p *Provider) discoveryDocument() ([]byte, error) {
	doc := map[string]any{
		"issuer":                                     p.issuer,
		"authorization_endpoint":                     p.endpoint(AuthorizePath),
		"token_endpoint":                             p.endpoint(TokenPath),
		"userinfo_endpoint":                          p.endpoint(UserInfoPath),
		"jwks_uri":                                   p.endpoint(JWKSPath),
		"revocation_endpoint":                        p.endpoint(RevokePath),
		"end_session_endpoint":                       p.endpoint(LogoutPath),
		"response_types_supported":                   []string{"code"},
		"response_modes_supported":                   []string{"query"},
		"grant_types_supported":                      []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials},
		"subject_types_supported":                    []string{"public"},
		"id_token_signing_alg_values_supported":      []string{signing.RS256, signing.ES256},
		"scopes_supported":                           defaultScopes,
		"token_endpoint_auth_methods_supported":      []string{"client_secret_basic", "client_secret_post", "none"},
		"revocation_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post", "none"},
		"code_challenge_methods_supported":           []string{"S256"},
		"claims_supported": []string{
			"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "amr", "at_hash", "token_use",
			"email", "email_verified", "name", "given_name", "family_name", "middle_name", "nickname",
			"preferred_username", "profile", "picture", "website", "gender", "birthdate", "zoneinfo",
			"locale", "updated_at", "phone_number", "phone_number_verified", "groups", "cognito:groups",
			"cognito:username", "jti", "origin_jti", "event_id",
		},
		"prompt_values_supported":                        []string{"none", "login", "consent", "select_account"},
		"request_parameter_supported":                    false,
		"request_uri_parameter_supported":                false,
		"claims_parameter_supported":                     false,
		"authorization_response_iss_parameter_supported": true,
	}
	if len(p.uiLocales) > 0 {
		doc["ui_locales_supported"] = p.uiLocales
	}
	return json.Marshal(doc)
}

func (p *Provider) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	if !getOnly(w, r) {
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	writeRaw(w, r, p.discovery)
}

// serveJWKS publishes the keys that verify what the pool signs. A relying
// party that meets an unknown kid fetches the set again, so it is cached
// only briefly: a rotation is seen within minutes.
func (p *Provider) serveJWKS(w http.ResponseWriter, r *http.Request) {
	if !getOnly(w, r) {
		return
	}
	// Not the request's context: a rotation begun should finish even if
	// this client goes away.
	if err := p.keys.Maintain(context.WithoutCancel(r.Context())); err != nil {
		p.log.Warn("signing key maintenance failed; publishing the keys loaded", zap.Error(err))
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeRaw(w, r, p.keys.JWKS())
}

func getOnly(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": errInvalidRequest, "error_description": "use GET"})
	return false
}

func writeRaw(w http.ResponseWriter, r *http.Request, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
