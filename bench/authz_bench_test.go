package bench

import (
	"crypto/rand"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-auth/gatehouse/middleware"
	"github.com/gatehouse-auth/gatehouse/middleware/albdata"
	"github.com/gatehouse-auth/gatehouse/signing"
)

const benchIssuer = "https://auth.example.com"

// benchPolicy is a typical site's authorization: three role lines (first
// match wins, the last a default) and three rules, one of them on the role.
var benchPolicy = middleware.Policy{
	Roles: []middleware.RoleRule{
		{Role: "admin", When: "group", Values: []string{"admins"}},
		{Role: "finance", When: "claim", Claim: "email_verified", Values: []string{"true"}},
		{Role: "member"},
	},
	Rules: []middleware.Rule{
		{Kind: "group", Values: []string{"staff", "dev"}},
		{Kind: "claim", Claim: "email_verified", Values: []string{"true"}},
		{Kind: "role", Values: []string{"admin", "finance"}},
	},
}

// authzGateway is e's gateway as the Caddy handler builds it for a pool
// with an issuer: bearer tokens of the pool accepted (keys in process),
// with edit applied to the configuration.
func (e *env) authzGateway(b *testing.B, edit func(*middleware.Config)) (*middleware.Gateway, *signing.KeySet) {
	b.Helper()
	keys, err := signing.Open(b.Context(), e.store, signing.Policy{})
	if err != nil {
		b.Fatal(err)
	}
	if err := keys.Ensure(b.Context(), signing.RS256); err != nil {
		b.Fatal(err)
	}
	key := make([]byte, middleware.CookieKeyLen)
	if _, err := rand.Read(key); err != nil {
		b.Fatal(err)
	}
	cookieKeys, err := middleware.NewCookieKeys([]middleware.CookieKey{{Material: key}})
	if err != nil {
		b.Fatal(err)
	}
	codec, err := middleware.NewCodec("gatehouse_session", cookieKeys, 7*24*time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	cfg := middleware.Config{
		Revocations: e.pool.DenyList(),
		Revoker:     e.pool,
		Source:      middleware.PoolSource{Pool: e.pool, SignInPath: "/_gatehouse/signin"},
		Codec:       codec,
		Data: &albdata.Signer{
			Keys:     keys,
			ARN:      albdata.DefaultARN("bench"),
			Issuer:   benchIssuer,
			ClientID: "bench",
		},
		Mode:           middleware.ModeDeny,
		SessionTimeout: 7 * 24 * time.Hour,
		ClaimsRefresh:  time.Hour,
		Secure:         func(*http.Request) bool { return true },
		Unauthorized:   func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnauthorized) },
		SafeReturnTo:   func(s string) (string, bool) { return s, true },
		Bearer:         &middleware.BearerConfig{Issuers: []middleware.JWTIssuer{{Issuer: benchIssuer, Local: true}}, Keys: keys},
	}
	if edit != nil {
		edit(&cfg)
	}
	g, err := middleware.NewGateway(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return g, keys
}

// accessToken is an access token of e's user as the pool's token endpoint
// makes it, signed with the pool's alg key; jti makes each one distinct.
func (e *env) accessToken(b *testing.B, keys *signing.KeySet, alg, jti string) string {
	b.Helper()
	key := keys.CurrentFor(alg)
	method, priv := jwt.SigningMethod(jwt.SigningMethodES256), any(key.Private)
	if alg == signing.RS256 {
		method, priv = jwt.SigningMethodRS256, key.RSA
	}
	now := time.Now()
	t := jwt.NewWithClaims(method, jwt.MapClaims{
		"iss": benchIssuer, "sub": e.user.ID, "username": e.user.ID, "client_id": "webapp", "token_use": "access",
		"scope": "openid email profile orders/read", "groups": e.user.Groups,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "auth_time": now.Unix(), "jti": jti,
	})
	t.Header["kid"] = key.ID
	s, err := t.SignedString(priv)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// apiRequest is a call an API client makes: a few headers and the token.
func apiRequest(token string) *http.Request {
	r, _ := http.NewRequest(http.MethodGet, "https://app.example.com/api/orders?limit=20", nil)
	h := r.Header
	h.Set("Accept", "application/json")
	h.Set("Accept-Encoding", "gzip")
	h.Set("User-Agent", "orders-client/1.4 (go)")
	h.Set("X-Forwarded-For", "203.0.113.7")
	h.Set("X-Forwarded-Proto", "https")
	h.Set("Authorization", "Bearer "+token)
	return r
}

// BenchmarkBearerWarm is an API call whose token was verified before: the
// Authorization header is read, the token hashed (SHA-256) and found in the
// verified-token cache, its expiry and the pool's deny list checked, the
// precomputed verdict of the rules read and the identity headers injected.
func BenchmarkBearerWarm(b *testing.B) {
	e := newEnv(b, fastHash)
	g, keys := e.authzGateway(b, func(c *middleware.Config) {
		c.Policy = middleware.Policy{Rules: []middleware.Rule{{Kind: "scope", Values: []string{"orders/read"}}}}
	})
	r := apiRequest(e.accessToken(b, keys, signing.ES256, "warm"))
	w := newDiscard()
	if !g.Guard(w, r) || r.Header.Get(middleware.HeaderIdentity) != e.user.ID {
		b.Fatal("token refused")
	}
	b.ReportAllocs()
	for b.Loop() {
		if !g.Guard(w, r) {
			b.Fatal("token refused")
		}
	}
}

// BenchmarkBearerWarmParallel is the same on every core at once, all
// sharing one token cache.
func BenchmarkBearerWarmParallel(b *testing.B) {
	e := newEnv(b, fastHash)
	g, keys := e.authzGateway(b, nil)
	tok := e.accessToken(b, keys, signing.ES256, "warm")
	if !g.Guard(newDiscard(), apiRequest(tok)) {
		b.Fatal("token refused")
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := apiRequest(tok)
		w := newDiscard()
		for pb.Next() {
			if !g.Guard(w, r) {
				b.Error("token refused")
				return
			}
		}
	})
}

// BenchmarkBearerCold is a token not seen before on every request: a cache
// of one entry and two tokens used in turn. Each Guard parses the JOSE
// header and claims, verifies the signature with the pool's key in process,
// checks times, audience and kind, signs X-Amzn-Oidc-Data (ES256) for the
// token's claims, builds the header values and puts the entry.
func BenchmarkBearerCold(b *testing.B) {
	for _, alg := range []string{signing.ES256, signing.RS256} {
		b.Run(alg, func(b *testing.B) {
			e := newEnv(b, fastHash)
			g, keys := e.authzGateway(b, func(c *middleware.Config) {
				c.Bearer.CacheSize = 1
			})
			reqs := []*http.Request{
				apiRequest(e.accessToken(b, keys, alg, "one")),
				apiRequest(e.accessToken(b, keys, alg, "two")),
			}
			w := newDiscard()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if !g.Guard(w, reqs[i&1]) {
					b.Fatal("token refused")
				}
				i++
			}
		})
	}
}

// BenchmarkGuardWithRules is BenchmarkGuardAuthenticated on a site with
// benchPolicy: the role and the rules' verdict were computed once with the
// cached session, so this adds reading them and the role header.
func BenchmarkGuardWithRules(b *testing.B) {
	e := newEnv(b, fastHash)
	g, _ := e.authzGateway(b, func(c *middleware.Config) { c.Policy = benchPolicy })
	r := browserRequest(e.startSession(b, g))
	w := newDiscard()
	if !g.Guard(w, r) || r.Header.Get(middleware.HeaderRole) != "admin" {
		b.Fatal("session refused")
	}
	b.ReportAllocs()
	for b.Loop() {
		if !g.Guard(w, r) {
			b.Fatal("session refused")
		}
	}
}

// BenchmarkRuleEvaluation is a nested block (one inside a `handle` of a
// guarded site) given the outer block's principal: it maps the role and
// evaluates benchPolicy's rules from the principal's precomputed facts, as
// nothing of it is cached for this block, and sets the role header.
func BenchmarkRuleEvaluation(b *testing.B) {
	e := newEnv(b, fastHash)
	outer, _ := e.authzGateway(b, nil)
	inner, _ := e.authzGateway(b, func(c *middleware.Config) { c.Policy = benchPolicy })
	r := browserRequest(e.startSession(b, outer))
	w := newDiscard()
	auth, ok := outer.Authorize(w, r, middleware.Auth{})
	if !ok {
		b.Fatal("session refused")
	}
	if got, ok := inner.Authorize(w, r, auth); !ok || got.Role.Name() != "admin" {
		b.Fatal("inner block refused")
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := inner.Authorize(w, r, auth); !ok {
			b.Fatal("inner block refused")
		}
	}
}
