// Package middleware is Gatehouse's gateway, the per-request path of a
// guarded site: it strips client-sent identity headers, authenticates the
// request by its session cookie or bearer token, applies the site's rules
// and gives the upstream verified identity headers.
//
// Its parts, one job to a file:
//
//   - authorize.go: Authorize, the entry, top to bottom, and its answers
//   - principal.go: who a request is (Principal) and the headers it gets
//   - session.go: sessions: start, open, sign, seal and end them
//   - renew.go: the periodic refresh of a session's claims
//   - codec.go, cookiekeys.go, cookiestrip.go: the session cookie
//   - bearer.go, remotekeys.go: bearer JWTs, local and outside issuers
//   - rules.go: require and role rules
//   - paths.go: paths an upstream could read otherwise, and public paths
//   - headers.go: the identity headers, stripped and rendered
//   - identity.go: where sessions come from (Source)
//   - cache.go: the caches of opened sessions and verified tokens
//
// It reaches the rest of Gatehouse through small interfaces declared
// here: RevocationChecker and SessionRevoker (a pool's deny list and
// sessions), KeySource (the pool's signing keys, to verify its tokens),
// Source, and for a local pool's Source UserReader; it signs the ALB data header with package albdata, on the
// pool's keys through albdata.Keys.
package middleware

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/middleware/albdata"
)

// Mode is what the gateway does with a request that has no valid session.
type Mode int

const (
	// ModeAuthenticate sends browsers to sign in (302) and answers 401 to
	// requests that cannot follow a sign-in round trip.
	ModeAuthenticate Mode = iota
	// ModeDeny answers 401.
	ModeDeny
	// ModeAllow passes the request on without identity headers.
	ModeAllow
)

// ParseMode reads "authenticate", "deny" or "allow"; "" is authenticate.
func ParseMode(s string) (Mode, error) {
	switch s {
	case "", "authenticate":
		return ModeAuthenticate, nil
	case "deny":
		return ModeDeny, nil
	case "allow":
		return ModeAllow, nil
	}
	return 0, fmt.Errorf("unknown on_unauthenticated %q (want authenticate, deny or allow)", s)
}

// RevocationChecker says whether a session or token was revoked: the id
// itself (a session's, a token's revocation id) or every session of userID
// issued at or before issuedAt. It is asked on every authenticated request,
// so it must answer from memory, without I/O or allocation; a pool's deny
// list (*pool.DenyList) is one.
type RevocationChecker interface {
	Revoked(id, userID string, issuedAt time.Time) bool
	// AuthTimeAfter is when a sign-in of userID at now counts from: now,
	// or just after a revocation of the user recorded at or after now's
	// second (pool.DenyList: tokens count in whole seconds).
	AuthTimeAfter(userID string, now time.Time) time.Time
}

// SessionRevoker records that a session signed out here has ended, where
// every instance's RevocationChecker will see it (*pool.Pool is one).
type SessionRevoker interface {
	RevokeSession(ctx context.Context, sessionID string, expires time.Time) error
	// UserRevocationTTL is how long a user-wide revocation is kept: no
	// session may outlive it, or a revoked one would come back.
	UserRevocationTTL() time.Duration
}

// Config is what a gateway is made from, once, at provision time.
type Config struct {
	// Revocations is checked for every session and bearer token of the
	// gateway's own pool.
	Revocations RevocationChecker
	// Revoker records the sessions that End ends.
	Revoker SessionRevoker
	Codec   *Codec
	Data    *albdata.Signer
	Mode    Mode
	// SessionTimeout is how long a session lasts after sign-in.
	SessionTimeout time.Duration
	// ClaimsRefresh is how often a session's claims are re-read from the
	// pool and its identity re-signed; also the lifetime of the signed data.
	ClaimsRefresh time.Duration
	// Headers are the plain identity headers; nil means DefaultHeaders.
	Headers []HeaderRule
	// PassAccessToken adds X-Amzn-Oidc-Accesstoken.
	PassAccessToken bool
	// StripSessionCookie removes the session cookie from the request the
	// upstream gets (Codec.StripCookie), once the gateway has read it.
	StripSessionCookie bool
	// Secure reports whether cookies set on r must be Secure.
	Secure func(*http.Request) bool
	// Source is where users sign in and how sessions are renewed: a local
	// pool's hosted pages (PoolSource) or an outside issuer.
	Source Source
	// Unauthorized answers a request the gateway refuses (a 401 page or JSON).
	Unauthorized func(w http.ResponseWriter, r *http.Request)
	// SafeReturnTo is the hosted pages' rule for return-to URLs, applied
	// here too so the gateway never builds a link the pages would refuse.
	SafeReturnTo func(string) (string, bool)
	// CacheSize bounds the decoded-session cache; 0 means 10000.
	CacheSize int
	Logger    *zap.Logger
	// BearerChecked, when set, is told the result of each bearer token
	// presented (BearerVerified, BearerCached, BearerRefused,
	// BearerRevoked, BearerIssuerDown); package metrics counts them. It
	// runs on every API request: it must not allocate.
	BearerChecked func(result string)
	// ClaimsRefreshed, when set, is told the outcome of each claims
	// refresh (ClaimsRefreshOK, ClaimsRefreshEnded, ClaimsRefreshFailed);
	// package metrics counts them. It runs once per refresh, after the
	// source answered, never per request.
	ClaimsRefreshed func(result string)
	// Policy is the authorization rules and roles (rules.go).
	Policy Policy
	// Bearer, when set, authenticates requests carrying
	// `Authorization: Bearer <jwt>` by the token (bearer.go).
	Bearer *BearerConfig
	// RenderError answers the refusals other than a plain 401 (403, a
	// refused bearer token, 503) as a page or JSON; nil means plain text.
	RenderError func(w http.ResponseWriter, r *http.Request, status int, title, message string)
	// StepUp, when set, answers a browser session refused by `require
	// mfa` by sending it to give a second factor (returnTo as in
	// Source.SignIn); nil answers 403.
	StepUp func(w http.ResponseWriter, r *http.Request, returnTo string)
}

// Gateway guards a site: it strips client-sent identity headers, recognizes
// the session cookie, and injects the identity of the signed-in user.
type Gateway struct {
	cfg     Config
	headers []headerTemplate
	strip   *stripper
	cache   *sessionCache
	now     func() time.Time
	pol     *policy
	bearer  *bearerAuth // nil: bearer tokens are not looked at
}

// NewGateway checks cfg and compiles the header templates.
func NewGateway(cfg Config) (*Gateway, error) {
	if cfg.Revocations == nil || cfg.Revoker == nil || cfg.Source == nil || cfg.Codec == nil || cfg.Data == nil || cfg.Unauthorized == nil || cfg.Secure == nil || cfg.SafeReturnTo == nil {
		return nil, errors.New("gateway: revocations, revoker, source, codec, data signer, secure, safe-return-to and unauthorized handler are required")
	}
	if cfg.SessionTimeout <= 0 || cfg.ClaimsRefresh <= 0 {
		return nil, errors.New("gateway: session timeout and claims refresh must be positive")
	}
	if ttl := cfg.Revoker.UserRevocationTTL(); cfg.SessionTimeout > ttl {
		return nil, fmt.Errorf("gateway: session timeout %s is longer than the pool keeps revocations (%s)", cfg.SessionTimeout, ttl)
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	rules := cfg.Headers
	if rules == nil {
		rules = DefaultHeaders
	}
	headers, err := compileHeaders(rules)
	if err != nil {
		return nil, err
	}
	pol, err := compilePolicy(cfg.Policy)
	if err != nil {
		return nil, err
	}
	var bearer *bearerAuth
	if cfg.Bearer != nil {
		if bearer, err = newBearerAuth(cfg.Bearer, cfg.Revocations, cfg.Logger); err != nil {
			return nil, err
		}
	}
	names := []string{HeaderIdentity, HeaderData, HeaderAccessToken, HeaderRole}
	for _, h := range headers {
		names = append(names, h.name)
	}
	size := cfg.CacheSize
	if size <= 0 {
		size = 10000
	}
	return &Gateway{cfg: cfg, headers: headers, strip: newStripper(names), cache: newSessionCache(size), now: time.Now, pol: pol, bearer: bearer}, nil
}
