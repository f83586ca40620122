package middleware

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/signing"
	"github.com/gatehouse-auth/gatehouse/store"
)

// BearerConfig turns on API authentication with bearer JWTs: a request
// carrying `Authorization: Bearer <jwt>` is authenticated by the token
// instead of the session cookie, and never sent to sign in.
type BearerConfig struct {
	// Issuers are the issuers whose tokens are accepted; at least one.
	Issuers []JWTIssuer
	// CacheSize bounds the verified-token cache; 0 means 10000.
	CacheSize int
	// HTTPClient fetches outside issuers' discovery documents and key
	// sets; nil means a client with a 10-second timeout.
	HTTPClient *http.Client
	// Keys are the gateway's own pool's keys, which verify the tokens of
	// the issuer marked Local.
	Keys KeySource
}

// KeySource finds the key that signed a token of the gateway's own pool by
// its kid, from memory (*signing.KeySet is one). Reload re-reads the keys
// when a kid is unknown, perhaps a key another instance has just made; the
// gateway calls it at most once per localReloadInterval.
type KeySource interface {
	Key(kid string) (*signing.Key, bool)
	Reload(ctx context.Context) error
}

// JWTIssuer is an issuer whose JWTs a gateway accepts as bearer tokens.
type JWTIssuer struct {
	// Issuer is the `iss` the tokens carry, compared exactly. For an
	// outside issuer it is also where its discovery document is found
	// (/.well-known/openid-configuration), and so its `jwks_uri`.
	Issuer string `json:"issuer"`
	// Audiences a token must be for: its `aud` must name one, or, for a
	// token without `aud` (Cognito's and the pool's access tokens), its
	// `client_id`. Required for an outside issuer; for the gateway's own
	// pool, empty means any of the pool's clients.
	Audiences []string `json:"audiences,omitempty"`
	// TokenUse lists the kinds of token accepted, "access" and "id";
	// default access only.
	TokenUse []string `json:"token_use,omitempty"`
	// Local marks the gateway's own pool: its tokens are verified with the
	// pool's keys in process (BearerConfig.Keys), no HTTP, and the pool's
	// user-wide revocations (a disabled user, sign-out everywhere) apply
	// to them at once.
	Local bool `json:"-"`
}

// bearerSkew is how far exp, nbf and iat may be off our clock.
const bearerSkew = 60 * time.Second

// maxTokenLen bounds what a client can make the gateway parse.
const maxTokenLen = 16 << 10

// localReloadInterval bounds how often an unknown kid makes the pool's key
// set re-read its store (a key another instance has just made).
const localReloadInterval = 5 * time.Second

// Algorithms accepted: asymmetric only, so that neither `none` nor an HMAC
// keyed with a public key can pass.
var (
	localAlgs  = []string{signing.ES256, signing.RS256}
	remoteAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)

// trustedIssuer is a JWTIssuer made ready.
type trustedIssuer struct {
	url        string
	audiences  []string
	access, id bool
	algs       []string
	// The gateway's own pool: keys in process.
	keys       KeySource
	deny       RevocationChecker
	lastReload atomic.Int64
	// An outside issuer: a go-oidc remote key set, after discovery.
	remote *remoteKeys
}

// bearerAuth is a gateway's bearer-token verification.
type bearerAuth struct {
	issuers map[string]*trustedIssuer
	cache   *tokenCache
}

func newBearerAuth(cfg *BearerConfig, deny RevocationChecker, log *zap.Logger) (*bearerAuth, error) {
	if len(cfg.Issuers) == 0 {
		return nil, errors.New("bearer: no issuers")
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	size := cfg.CacheSize
	if size <= 0 {
		size = 10000
	}
	b := &bearerAuth{issuers: map[string]*trustedIssuer{}, cache: newTokenCache(size)}
	for _, c := range cfg.Issuers {
		if _, dup := b.issuers[c.Issuer]; dup {
			return nil, fmt.Errorf("jwt_issuer %s: configured twice", c.Issuer)
		}
		is := &trustedIssuer{url: c.Issuer, audiences: slices.Clone(c.Audiences)}
		uses := c.TokenUse
		if len(uses) == 0 {
			uses = []string{"access"}
		}
		for _, u := range uses {
			switch u {
			case "access":
				is.access = true
			case "id":
				is.id = true
			default:
				return nil, fmt.Errorf("jwt_issuer %s: token_use %q: want access or id", c.Issuer, u)
			}
		}
		for _, a := range c.Audiences {
			if a == "" {
				return nil, fmt.Errorf("jwt_issuer %s: empty audience", c.Issuer)
			}
		}
		if c.Local {
			keys := cfg.Keys
			if keys == nil {
				return nil, fmt.Errorf("jwt_issuer %s: the pool's keys are required", c.Issuer)
			}
			is.keys, is.deny, is.algs = keys, deny, localAlgs
		} else {
			if err := CheckIssuerURL(c.Issuer); err != nil {
				return nil, fmt.Errorf("jwt_issuer: %w", err)
			}
			if len(c.Audiences) == 0 {
				return nil, fmt.Errorf("jwt_issuer %s: at least one audience is required", c.Issuer)
			}
			is.algs = remoteAlgs
			is.remote = &remoteKeys{issuer: c.Issuer, client: client, log: log}
		}
		b.issuers[c.Issuer] = is
	}
	return b, nil
}

// CheckIssuerURL accepts an https URL, or http on a loopback host, without
// query, fragment or user info, as OpenID Connect Discovery requires of an
// issuer.
func CheckIssuerURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q: want an https URL with a host and no query or fragment", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		switch u.Hostname() {
		case "localhost", "127.0.0.1", "::1":
			return nil
		}
	}
	return fmt.Errorf("%q: must be https (plain http only on localhost, 127.0.0.1 or ::1)", s)
}

// tokenError is why a bearer token was refused, as RFC 6750 §3.1 words it.
type tokenError struct {
	status int
	code   string // invalid_token, invalid_request
	// desc is error_description: fixed text only, never from the token,
	// since the header value may hold neither quotes nor backslashes.
	desc string
}

func (e *tokenError) Error() string { return e.code + ": " + e.desc }

func invalidToken(desc string) *tokenError {
	return &tokenError{status: http.StatusUnauthorized, code: "invalid_token", desc: desc}
}

var (
	errTokenRevoked  = invalidToken("the token was revoked, or its user signed out or disabled")
	errIssuerDown    = &tokenError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable", desc: "the token's issuer cannot be reached"}
	errManyAuthz     = &tokenError{status: http.StatusBadRequest, code: "invalid_request", desc: "more than one Authorization header"}
	errNoToken       = invalidToken("the Authorization header holds no token")
	errTokenTooLong  = invalidToken("the token is too long")
	errNotJWT        = invalidToken("the token is not a signed JWT")
	errBadHeader     = invalidToken("the token's header is malformed")
	errBadPayload    = invalidToken("the token's claims are malformed")
	errCritical      = invalidToken("the token has critical header parameters")
	errUntrusted     = invalidToken("the token's issuer is not trusted here")
	errAlg           = invalidToken("the token's signing algorithm is not accepted")
	errUnknownKey    = invalidToken("the token's signing key is unknown")
	errKeyAlg        = invalidToken("the token's signing algorithm does not match its key")
	errSignature     = invalidToken("the token's signature does not verify")
	errExpired       = invalidToken("the token has expired")
	errNotYet        = invalidToken("the token is not valid yet")
	errFuture        = invalidToken("the token was issued in the future")
	errNoExp         = invalidToken("the token has no expiry")
	errNoSub         = invalidToken("the token has no subject")
	errAudience      = invalidToken("the token is not for this audience")
	errClient        = invalidToken("the token's client is not allowed here")
	errNoAudience    = invalidToken("the token names neither an audience nor a client")
	errTokenUse      = invalidToken("this kind of token is not accepted here")
	errTokenUseValue = invalidToken("the token's token_use is unknown")
)

// bearerToken returns the bearer token of r, whether r carries one, and a
// refusal for a malformed Authorization header. Other schemes (Basic, ...)
// are not ours: the request goes on with the cookie, if any.
func bearerToken(r *http.Request) (string, bool, *tokenError) {
	vals := r.Header["Authorization"]
	if len(vals) == 0 {
		return "", false, nil
	}
	isBearer := func(v string) bool {
		return len(v) >= 6 && strings.EqualFold(v[:6], "Bearer") && (len(v) == 6 || v[6] == ' ')
	}
	if len(vals) > 1 {
		for _, v := range vals {
			if isBearer(v) {
				return "", true, errManyAuthz
			}
		}
		return "", false, nil
	}
	v := vals[0]
	if !isBearer(v) {
		return "", false, nil
	}
	tok := strings.Trim(v[6:], " ")
	if tok == "" {
		return "", true, errNoToken
	}
	return tok, true, nil
}

// bearerEntry is a verified token in the cache: its principal, the
// gateway's verdict on it, and what says whether it still holds.
type bearerEntry struct {
	p *Principal
	v verdict
	// expires is when the token stops being accepted (exp + skew; unix ns).
	expires  int64
	issuedAt time.Time
	// deny is the pool's deny list for a token of the gateway's own pool.
	deny RevocationChecker
	// sid is the session of a gateway session token (sessionToken): the
	// token ends with it.
	sid string
	// revocationID names the token itself on the deny list (its jti, made
	// once here so the request path builds no string), "" for a token
	// without one.
	revocationID string
}

// tokenKey is the cache key of a token: its SHA-256, so the cache holds
// 32 bytes per token rather than the token, and can be reached only by
// presenting exactly the token that was verified.
func tokenKey(tok string) [32]byte {
	// Hashing the string's bytes in place: []byte(tok) would copy it (an
	// allocation on every request); Sum256 only reads its input.
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(tok), len(tok)))
}

// tokenEntry returns the verified token, from the cache or verified now,
// unless it was revoked since.
func (g *Gateway) tokenEntry(ctx context.Context, tok string) (*bearerEntry, *tokenError) {
	be, result, err := g.checkToken(ctx, tok)
	if g.cfg.BearerChecked != nil {
		g.cfg.BearerChecked(result)
	}
	return be, err
}

// Results of a bearer token's check, for Config.BearerChecked.
const (
	BearerVerified   = "verified"    // verified now: signature and claims
	BearerCached     = "cached"      // verified before, found in the cache
	BearerRefused    = "refused"     // malformed, untrusted, expired, ...
	BearerRevoked    = "revoked"     // valid, but revoked since
	BearerIssuerDown = "issuer_down" // the issuer's keys could not be had
)

func (g *Gateway) checkToken(ctx context.Context, tok string) (*bearerEntry, string, *tokenError) {
	key := tokenKey(tok)
	now := g.now()
	be := g.bearer.cache.get(key)
	result := BearerCached
	if be == nil || now.UnixNano() >= be.expires {
		var err *tokenError
		if be, err = g.verifyToken(ctx, tok, now); err != nil {
			if err == errIssuerDown {
				return nil, BearerIssuerDown, err
			}
			return nil, BearerRefused, err
		}
		g.bearer.cache.put(key, be)
		result = BearerVerified
	}
	if be.deny != nil && (be.deny.Revoked(be.sid, be.p.subject, be.issuedAt) ||
		be.revocationID != "" && be.deny.Revoked(be.revocationID, "", time.Time{})) {
		return nil, BearerRevoked, errTokenRevoked
	}
	return be, result, nil
}

// verifyToken checks a token fully: header, issuer, signature, times,
// audience and kind; then makes its principal, with the signed data
// header for its claims.
func (g *Gateway) verifyToken(ctx context.Context, tok string, now time.Time) (*bearerEntry, *tokenError) {
	if len(tok) > maxTokenLen {
		return nil, errTokenTooLong
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, errNotJWT
	}
	var hdr struct {
		Alg  string          `json:"alg"`
		Kid  string          `json:"kid"`
		Typ  string          `json:"typ"`
		Crit json.RawMessage `json:"crit"`
	}
	if raw, err := base64.RawURLEncoding.DecodeString(parts[0]); err != nil || json.Unmarshal(raw, &hdr) != nil {
		return nil, errBadHeader
	}
	if hdr.Crit != nil {
		return nil, errCritical
	}
	claims, err := decodeClaims(parts[1])
	if err != nil {
		return nil, errBadPayload
	}
	iss, _ := claims["iss"].(string)
	is := g.bearer.issuers[iss]
	if is == nil {
		return nil, errUntrusted
	}
	if !slices.Contains(is.algs, hdr.Alg) {
		return nil, errAlg
	}
	if parts[2] == "" {
		return nil, errSignature
	}
	if is.keys != nil {
		if terr := is.verifyLocal(ctx, hdr.Alg, hdr.Kid, parts); terr != nil {
			return nil, terr
		}
	} else {
		ks, err := is.remote.keySet(ctx)
		if err != nil {
			return nil, errIssuerDown
		}
		payload, err := ks.VerifySignature(ctx, tok)
		if err != nil {
			g.cfg.Logger.Debug("bearer token signature refused", zap.String("issuer", is.url), zap.Error(err))
			return nil, errSignature
		}
		// The claims are read again from what the signature covers.
		if claims, err = decodeJSONClaims(payload); err != nil {
			return nil, errBadPayload
		}
		if s, _ := claims["iss"].(string); s != iss {
			return nil, errUntrusted
		}
	}
	exp, iat, terr := checkTimes(claims, now)
	if terr != nil {
		return nil, terr
	}
	if terr := is.checkAudience(claims); terr != nil {
		return nil, terr
	}
	// A gateway passes its session's token to its own upstream: it is not
	// a token of one of the pool's clients, which is all a site takes of
	// its pool's unless it names the gateway's client id as an audience,
	// and it ends with its session.
	var sid string
	if is.keys != nil {
		var isSession bool
		if sid, isSession = sessionToken(claims); isSession && len(is.audiences) == 0 {
			return nil, errClient
		}
	}
	if terr := is.checkUse(claims, hdr.Typ); terr != nil {
		return nil, terr
	}
	sub, _ := claims["sub"].(string)
	if sub == "" {
		return nil, errNoSub
	}
	// The deny list compares a user's revocation with when the user signed
	// in: auth_time where the token has it (the pool's own tokens do; a
	// refresh after the revocation is refused, so it is never later than
	// the sign-in it carries), else iat.
	signedIn := iat
	if at, ok, err := numericDate(claims, "auth_time"); err == nil && ok {
		signedIn = time.Unix(int64(at), 0)
	}
	be, err := g.bearerEntry(strings.Clone(tok), iss, sub, claims, exp, signedIn)
	if err != nil {
		g.cfg.Logger.Error("signing the data header for a bearer token failed", zap.Error(err))
		return nil, &tokenError{status: http.StatusInternalServerError, code: "server_error", desc: "internal error"}
	}
	be.deny, be.sid = is.deny, sid
	if jti, _ := claims["jti"].(string); is.deny != nil && jti != "" {
		be.revocationID = store.AccessTokenRevocationID(jti) // revoked at /oauth2/revoke
	}
	return be, nil
}

// sessionToken reports whether claims are those of the access token a
// gateway mints for a session (X-Amzn-Oidc-Accesstoken), and its session:
// an access token with a `sid` claim, which the provider's tokens have not.
func sessionToken(claims map[string]any) (string, bool) {
	sid, _ := claims["sid"].(string)
	if sid == "" {
		return "", false
	}
	use, _ := claims["token_use"].(string)
	return sid, use == "" || use == "access"
}

// verifyLocal checks the signature with the pool's own key named by kid.
func (is *trustedIssuer) verifyLocal(ctx context.Context, alg, kid string, parts []string) *tokenError {
	k, ok := is.keys.Key(kid)
	if !ok && kid != "" && is.mayReload() {
		// Perhaps another instance signed with a key it has just made.
		_ = is.keys.Reload(context.WithoutCancel(ctx))
		k, ok = is.keys.Key(kid)
	}
	if !ok {
		return errUnknownKey
	}
	if k.Alg != alg {
		return errKeyAlg
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return errSignature
	}
	var pub any
	if k.RSA != nil {
		pub = &k.RSA.PublicKey
	} else {
		pub = &k.Private.PublicKey
	}
	if jwt.GetSigningMethod(alg).Verify(parts[0]+"."+parts[1], sig, pub) != nil {
		return errSignature
	}
	return nil
}

func (is *trustedIssuer) mayReload() bool {
	now := time.Now().UnixNano()
	last := is.lastReload.Load()
	return now-last >= int64(localReloadInterval) && is.lastReload.CompareAndSwap(last, now)
}

func decodeClaims(seg string) (map[string]any, error) {
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return nil, err
	}
	return decodeJSONClaims(raw)
}

// decodeJSONClaims reads a JWT payload, keeping numbers exact.
func decodeJSONClaims(raw []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var claims map[string]any
	if err := d.Decode(&claims); err != nil {
		return nil, err
	}
	if claims == nil || d.More() {
		return nil, errors.New("not a JSON object")
	}
	return claims, nil
}

// numericDate reads a NumericDate claim.
func numericDate(claims map[string]any, name string) (float64, bool, error) {
	v, ok := claims[name]
	if !ok {
		return 0, false, nil
	}
	n, isNum := v.(json.Number)
	if !isNum {
		return 0, true, fmt.Errorf("%s is not a number", name)
	}
	f, err := n.Float64()
	return f, true, err
}

// checkTimes checks exp (required), nbf and iat against now, allowing
// bearerSkew either way; it returns exp and iat.
func checkTimes(claims map[string]any, now time.Time) (time.Time, time.Time, *tokenError) {
	t := float64(now.UnixNano()) / 1e9
	skew := bearerSkew.Seconds()
	exp, ok, err := numericDate(claims, "exp")
	if err != nil {
		return time.Time{}, time.Time{}, errBadPayload
	}
	if !ok {
		return time.Time{}, time.Time{}, errNoExp
	}
	if t >= exp+skew {
		return time.Time{}, time.Time{}, errExpired
	}
	nbf, ok, err := numericDate(claims, "nbf")
	if err != nil {
		return time.Time{}, time.Time{}, errBadPayload
	}
	if ok && t+skew < nbf {
		return time.Time{}, time.Time{}, errNotYet
	}
	iat, hasIat, err := numericDate(claims, "iat")
	if err != nil {
		return time.Time{}, time.Time{}, errBadPayload
	}
	if hasIat && t+skew < iat {
		return time.Time{}, time.Time{}, errFuture
	}
	var issued time.Time
	if hasIat {
		issued = time.Unix(int64(iat), 0)
	}
	return time.Unix(int64(exp), 0), issued, nil
}

// stringList reads a claim that is a string or an array of strings.
func stringList(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// checkAudience: a token with `aud` must name an accepted audience; one
// without (a Cognito-style access token) must have an accepted client_id.
// A token meant for another API is refused even if the client is allowed.
func (is *trustedIssuer) checkAudience(claims map[string]any) *tokenError {
	if aud, ok := claims["aud"]; ok {
		if len(is.audiences) > 0 && !anyOf(stringList(aud), is.audiences) {
			return errAudience
		}
		return nil
	}
	cid, _ := claims["client_id"].(string)
	if cid == "" {
		return errNoAudience
	}
	if len(is.audiences) > 0 && !slices.Contains(is.audiences, cid) {
		return errClient
	}
	return nil
}

// checkUse tells access from ID tokens: by `token_use` (Cognito and the
// pool), else by the RFC 9068 `typ` at+jwt, else by the ID-token-only
// claims nonce and at_hash; anything else counts as an access token.
func (is *trustedIssuer) checkUse(claims map[string]any, typ string) *tokenError {
	use, _ := claims["token_use"].(string)
	if use == "" {
		_, nonce := claims["nonce"]
		_, atHash := claims["at_hash"]
		switch {
		case strings.EqualFold(typ, "at+jwt") || strings.EqualFold(typ, "application/at+jwt"):
			use = "access"
		case nonce || atHash:
			use = "id"
		default:
			use = "access"
		}
	}
	switch use {
	case "access":
		if !is.access {
			return errTokenUse
		}
	case "id":
		if !is.id {
			return errTokenUse
		}
	default:
		return errTokenUseValue
	}
	return nil
}

// bearerEntry makes the principal of a verified token: the same header
// values a session has, from the token's claims, and the X-Amzn-Oidc-Data
// Gatehouse signs for them (iss the token's issuer, client its client).
func (g *Gateway) bearerEntry(tok, iss, sub string, claims map[string]any, exp, iat time.Time) (*bearerEntry, error) {
	f := facts{claims: make(map[string][]string, len(claims)), bearer: true}
	for name, v := range claims {
		switch x := v.(type) {
		case string:
			f.claims[name] = []string{x}
		case bool:
			if x {
				f.claims[name] = []string{"true"}
			} else {
				f.claims[name] = []string{"false"}
			}
		case json.Number:
			f.claims[name] = []string{x.String()}
		case []any:
			f.claims[name] = stringList(x)
		}
	}
	f.groups = f.claims["groups"]
	if f.groups == nil {
		f.groups = f.claims["cognito:groups"]
	}
	if s, ok := claims["scope"].(string); ok {
		f.scopes = strings.Fields(s)
	} else if scp, ok := claims["scp"]; ok { // Okta, Entra ID
		if s, ok := scp.(string); ok {
			f.scopes = strings.Fields(s)
		} else {
			f.scopes = stringList(scp)
		}
	}
	f.amr = f.claims["amr"]
	f.mfa = hasSecondFactor(f.amr)

	email, _ := claims["email"].(string)
	name, _ := claims["name"].(string)
	verified := false
	switch x := claims["email_verified"].(type) {
	case bool:
		verified = x
	case string: // Cognito sends "true" in some tokens
		verified = x == "true"
	}
	client, _ := claims["client_id"].(string)
	if client == "" {
		if auds := stringList(claims["aud"]); len(auds) > 0 {
			client = auds[0]
		}
	}
	expires := exp.Add(bearerSkew)
	s := &Session{
		UserID:        sub,
		Email:         email,
		EmailVerified: verified,
		Name:          name,
		Groups:        f.groups,
		AMR:           f.amr,
		Expires:       expires.UnixNano(),
		RefreshAt:     expires.UnixNano(),
	}
	data := map[string]any{"sub": sub, "groups": nonNil(f.groups)}
	if email != "" {
		data["email"] = email
		data["email_verified"] = verified
	}
	if name != "" {
		data["name"] = name
	}
	if at, ok, _ := numericDate(claims, "auth_time"); ok {
		data["auth_time"] = int64(at)
		s.AuthTime = time.Unix(int64(at), 0).UnixNano()
	}
	if len(f.scopes) > 0 {
		data["scope"] = strings.Join(f.scopes, " ")
	}
	if client != "" {
		data["client_id"] = client
	}
	signer := *g.cfg.Data
	signer.Issuer = iss
	if client != "" {
		signer.ClientID = client
	}
	var err error
	if s.DataToken, err = signer.Sign(data, expires); err != nil {
		return nil, err
	}
	if g.cfg.PassAccessToken {
		s.AccessToken = tok
	}
	p := g.principal(s, f)
	return &bearerEntry{p: p, v: g.judge(&p.facts), expires: expires.UnixNano(), issuedAt: iat}, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// refuseToken answers a bearer request whose token was refused: 401 (or
// 400, 503) with the RFC 6750 challenge, never a redirect.
func (g *Gateway) refuseToken(w http.ResponseWriter, r *http.Request, e *tokenError) {
	g.cfg.Logger.Info("bearer token refused", zap.String("error", e.code), zap.String("reason", e.desc), zap.String("path", r.URL.Path))
	title := "Invalid access token"
	switch e.status {
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "5")
		title = "Token issuer unavailable"
	case http.StatusInternalServerError:
		title = "Internal error"
	default:
		w.Header().Set("WWW-Authenticate", `Bearer error="`+e.code+`", error_description="`+e.desc+`"`)
	}
	g.renderError(w, r, e.status, title, "The request's access token was refused: "+e.desc+".")
}
