package middleware

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-auth/gatehouse/middleware/albdata"
	"github.com/gatehouse-auth/gatehouse/signing"
	"github.com/gatehouse-auth/gatehouse/store/sqlite/sqlitetest"
)

// bearerFixture is a gateway that accepts its own pool's tokens (issuer
// gwIssuer, clients "api" and "jobs") and reports refusals by status.
type bearerFixture struct {
	*ruleFixture
}

func newBearerFixture(t testing.TB, mode Mode, pol Policy, issuers ...JWTIssuer) *bearerFixture {
	t.Helper()
	rf := &ruleFixture{}
	if len(issuers) == 0 {
		issuers = []JWTIssuer{{Issuer: gwIssuer, Local: true, Audiences: []string{"api", "jobs"}}}
	}
	rf.gwFixture = newGatewayFixture(t, func(c *Config) {
		c.Mode = mode
		c.Policy = pol
		c.PassAccessToken = true
		c.Bearer = &BearerConfig{Issuers: issuers, Keys: c.Data.Keys.(KeySource)}
		c.RenderError = func(w http.ResponseWriter, _ *http.Request, status int, title, message string) {
			rf.refused.Add(1)
			rf.status.Store(int32(status))
			http.Error(w, title+": "+message, status)
		}
	})
	if err := rf.keys.Ensure(t.Context(), signing.RS256); err != nil {
		t.Fatal(err)
	}
	return &bearerFixture{rf}
}

// claims returns an access token's claims for the fixture's user, valid
// now, as the pool's token endpoint makes them.
func (f *bearerFixture) claims() jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss": gwIssuer, "sub": f.user.ID, "client_id": "api", "token_use": "access",
		"scope": "orders/read profile", "groups": []string{"dev"}, "username": f.user.ID,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "auth_time": now.Unix(), "jti": "x",
	}
}

// mint signs claims with key (kid in the header), after edit may change
// the header.
func mint(t testing.TB, key *signing.Key, claims jwt.MapClaims, edit func(h map[string]any)) string {
	t.Helper()
	method, priv := jwt.SigningMethod(jwt.SigningMethodES256), any(key.Private)
	if key.Alg == signing.RS256 {
		method, priv = jwt.SigningMethodRS256, key.RSA
	}
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["kid"] = key.ID
	if edit != nil {
		edit(tok.Header)
	}
	s, err := tok.SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// call runs Guard on a GET carrying the token.
func (f *bearerFixture) call(auth string, extra map[string]string) (bool, *http.Request, *httptest.ResponseRecorder) {
	if extra == nil {
		extra = map[string]string{}
	}
	if auth != "" {
		extra["Authorization"] = auth
	}
	extra["Accept"] = "text/html" // a browser would get a redirect: a bearer request must not
	return f.guard(nil, extra)
}

func segment(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestBearerLocalTokens(t *testing.T) {
	f := newBearerFixture(t, ModeAuthenticate, Policy{})
	es := f.keys.CurrentFor(signing.ES256)
	rs := f.keys.CurrentFor(signing.RS256)
	valid := mint(t, es, f.claims(), nil)

	t.Run("valid", func(t *testing.T) {
		ok, r, rec := f.call("Bearer "+valid, map[string]string{"X-Amzn-Oidc-Identity": "forged", HeaderRole: "root"})
		if !ok {
			t.Fatalf("refused: %d %s %s", rec.Code, rec.Header(), rec.Body)
		}
		if r.Header.Get(HeaderIdentity) != f.user.ID || r.Header.Get("X-Auth-Request-Groups") != "dev" ||
			r.Header.Get(HeaderAccessToken) != valid || r.Header.Get(HeaderRole) != "" {
			t.Errorf("headers %v", r.Header)
		}
		if r.Header.Get("Authorization") != "Bearer "+valid {
			t.Error("the Authorization header was not passed on")
		}
		// X-Amzn-Oidc-Data is signed by Gatehouse for the token's claims,
		// with the token's issuer and client in its header.
		claims := jwt.MapClaims{}
		_, err := jwt.ParseWithClaims(r.Header.Get(HeaderData), claims, func(tok *jwt.Token) (any, error) {
			if tok.Header["client"] != "api" || tok.Header["iss"] != gwIssuer || tok.Header["signer"] != albdata.DefaultARN("test") {
				return nil, fmt.Errorf("JOSE header %v", tok.Header)
			}
			return &f.keys.Current().Private.PublicKey, nil
		}, jwt.WithValidMethods([]string{"ES256"}), jwt.WithPaddingAllowed())
		if err != nil || claims["sub"] != f.user.ID || claims["scope"] != "orders/read profile" {
			t.Errorf("data header: %v, claims %v", err, claims)
		}
	})

	t.Run("cached", func(t *testing.T) {
		before := f.gw.bearer.cache.len()
		_, r1, _ := f.call("Bearer "+valid, nil)
		_, r2, _ := f.call("bearer  "+valid, nil)
		if f.gw.bearer.cache.len() != before || r1.Header.Get(HeaderData) != r2.Header.Get(HeaderData) {
			t.Error("a cached token was verified and signed for again")
		}
	})

	t.Run("RS256 key", func(t *testing.T) {
		if ok, _, rec := f.call("Bearer "+mint(t, rs, f.claims(), nil), nil); !ok {
			t.Fatalf("refused: %d %s", rec.Code, rec.Header())
		}
	})

	hs := func() string {
		der, err := x509.MarshalPKIXPublicKey(&es.Private.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, f.claims())
		tok.Header["kid"] = es.ID
		s, err := tok.SignedString(pemKey)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}()
	none := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodNone, f.claims())
		tok.Header["kid"] = es.ID
		s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}()
	with := func(edit func(c jwt.MapClaims)) string {
		c := f.claims()
		edit(c)
		return mint(t, es, c, nil)
	}
	parts := strings.Split(valid, ".")
	otherUser := f.claims()
	otherUser["sub"] = "someone-else"
	for _, tc := range []struct {
		name, auth string
		status     int
		wantErr    string // error= in WWW-Authenticate
		wantDesc   string
	}{
		{"tampered signature", "Bearer " + parts[0] + "." + parts[1] + "." + parts[2][:10] + strings.Repeat("A", len(parts[2])-10), 401, "invalid_token", "signature"},
		{"tampered payload", "Bearer " + parts[0] + "." + segment(t, otherUser) + "." + parts[2], 401, "invalid_token", "signature"},
		{"alg none", "Bearer " + none, 401, "invalid_token", "algorithm"},
		{"HS256 keyed with the public key", "Bearer " + hs, 401, "invalid_token", "algorithm"},
		{"RS256 header on an ES256 key", "Bearer " + mint(t, es, f.claims(), func(h map[string]any) { h["kid"] = rs.ID }), 401, "invalid_token", "does not match"},
		{"unknown kid", "Bearer " + mint(t, es, f.claims(), func(h map[string]any) { h["kid"] = "4f9c1c3e-0000-4000-8000-000000000000" }), 401, "invalid_token", "key is unknown"},
		{"no kid", "Bearer " + mint(t, es, f.claims(), func(h map[string]any) { delete(h, "kid") }), 401, "invalid_token", "key is unknown"},
		{"critical header", "Bearer " + mint(t, es, f.claims(), func(h map[string]any) { h["crit"] = []string{"exp"} }), 401, "invalid_token", "critical"},
		{"expired", "Bearer " + with(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-2 * time.Minute).Unix() }), 401, "invalid_token", "expired"},
		{"no exp", "Bearer " + with(func(c jwt.MapClaims) { delete(c, "exp") }), 401, "invalid_token", "no expiry"},
		{"not yet valid", "Bearer " + with(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(5 * time.Minute).Unix() }), 401, "invalid_token", "not valid yet"},
		{"issued in the future", "Bearer " + with(func(c jwt.MapClaims) { c["iat"] = time.Now().Add(5 * time.Minute).Unix() }), 401, "invalid_token", "future"},
		{"other issuer", "Bearer " + with(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }), 401, "invalid_token", "not trusted"},
		{"client not allowed", "Bearer " + with(func(c jwt.MapClaims) { c["client_id"] = "webapp" }), 401, "invalid_token", "client"},
		{"wrong audience though the client is allowed", "Bearer " + with(func(c jwt.MapClaims) { c["aud"] = "other-api" }), 401, "invalid_token", "audience"},
		{"neither aud nor client_id", "Bearer " + with(func(c jwt.MapClaims) { delete(c, "client_id") }), 401, "invalid_token", "neither"},
		{"ID token", "Bearer " + with(func(c jwt.MapClaims) { c["token_use"] = "id"; c["aud"] = "api"; delete(c, "client_id") }), 401, "invalid_token", "kind of token"},
		{"ID token without token_use", "Bearer " + with(func(c jwt.MapClaims) { delete(c, "token_use"); c["nonce"] = "n"; c["aud"] = "api" }), 401, "invalid_token", "kind of token"},
		{"no sub", "Bearer " + with(func(c jwt.MapClaims) { delete(c, "sub") }), 401, "invalid_token", "subject"},
		{"garbage", "Bearer not-a-token", 401, "invalid_token", "not a signed JWT"},
		{"JWE-shaped", "Bearer a.b.c.d.e", 401, "invalid_token", "not a signed JWT"},
		{"bad header", "Bearer !!.e30.sig", 401, "invalid_token", "header"},
		{"empty", "Bearer ", 401, "invalid_token", "no token"},
		{"too long", "Bearer " + strings.Repeat("a", maxTokenLen+1), 401, "invalid_token", "too long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, r, rec := f.call(tc.auth, nil)
			if ok || rec.Code != tc.status {
				t.Fatalf("ok %v, status %d; want %d", ok, rec.Code, tc.status)
			}
			www := rec.Header().Get("WWW-Authenticate")
			if !strings.HasPrefix(www, `Bearer error="`+tc.wantErr+`"`) || !strings.Contains(www, tc.wantDesc) {
				t.Errorf("WWW-Authenticate %q, want error %s about %q", www, tc.wantErr, tc.wantDesc)
			}
			if rec.Header().Get("Location") != "" {
				t.Error("a bearer request was redirected")
			}
			if r.Header.Get(HeaderIdentity) != "" {
				t.Error("identity injected for a refused token")
			}
		})
	}

	t.Run("several Authorization headers", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, "https://app.example.com/x", nil)
		r.Header["Authorization"] = []string{"Bearer " + valid, "Basic eDp5"}
		rec := httptest.NewRecorder()
		if f.gw.Guard(rec, r) || rec.Code != http.StatusBadRequest || !strings.Contains(rec.Header().Get("WWW-Authenticate"), "invalid_request") {
			t.Errorf("status %d, %q; want 400 invalid_request", rec.Code, rec.Header().Get("WWW-Authenticate"))
		}
	})

	t.Run("other schemes fall back to the cookie", func(t *testing.T) {
		ok, _, rec := f.guard(f.start(t), map[string]string{"Authorization": "Basic eDp5"})
		if !ok {
			t.Errorf("Basic credentials plus a session: %d", rec.Code)
		}
		ok, _, rec = f.call("Basic eDp5", nil)
		if ok || rec.Code != http.StatusFound {
			t.Errorf("Basic credentials without a session: %d, want the usual sign-in redirect", rec.Code)
		}
	})

	t.Run("no token: 401 with a bare challenge", func(t *testing.T) {
		f := newBearerFixture(t, ModeDeny, Policy{})
		ok, _, rec := f.call("", nil)
		if ok || rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") != "Bearer" {
			t.Errorf("status %d, WWW-Authenticate %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
		}
	})

	t.Run("skew", func(t *testing.T) {
		f.gw.now = func() time.Time { return time.Now().Add(time.Hour + 30*time.Second) }
		defer func() { f.gw.now = time.Now }()
		if ok, _, rec := f.call("Bearer "+with(func(jwt.MapClaims) {}), nil); !ok {
			t.Errorf("a token 30 s past exp was refused: %s", rec.Header().Get("WWW-Authenticate"))
		}
		f.gw.now = func() time.Time { return time.Now().Add(time.Hour + 90*time.Second) }
		if ok, _, _ := f.call("Bearer "+valid, nil); ok {
			t.Error("a cached token 90 s past exp was accepted")
		}
	})

	t.Run("user signed out everywhere", func(t *testing.T) {
		tok := with(func(c jwt.MapClaims) { c["iat"] = time.Now().Add(-time.Second).Unix() })
		if ok, _, _ := f.call("Bearer "+tok, nil); !ok {
			t.Fatal("refused before the revocation")
		}
		if err := f.pool.RevokeUserSessions(t.Context(), f.user.ID); err != nil {
			t.Fatal(err)
		}
		ok, _, rec := f.call("Bearer "+tok, nil)
		if ok || !strings.Contains(rec.Header().Get("WWW-Authenticate"), "signed out") {
			t.Errorf("a revoked user's cached token: ok %v, %q", ok, rec.Header().Get("WWW-Authenticate"))
		}
	})
}

func TestBearerIDTokensWhenAllowed(t *testing.T) {
	f := newBearerFixture(t, ModeDeny, Policy{}, JWTIssuer{Issuer: gwIssuer, Local: true, Audiences: []string{"api"}, TokenUse: []string{"id"}})
	c := f.claims()
	c["token_use"], c["aud"] = "id", "api"
	delete(c, "client_id")
	if ok, _, rec := f.call("Bearer "+mint(t, f.keys.Current(), c, nil), nil); !ok {
		t.Fatalf("ID token refused: %s", rec.Header().Get("WWW-Authenticate"))
	}
	if ok, _, _ := f.call("Bearer "+mint(t, f.keys.Current(), f.claims(), nil), nil); ok {
		t.Error("an access token was accepted by an issuer configured for ID tokens only")
	}
}

func TestBearerRules(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pol       Policy
		edit      func(jwt.MapClaims)
		wantOK    bool
		wantError string
		wantRole  string
	}{
		{"scope present", Policy{Rules: []Rule{{Kind: "scope", Values: []string{"orders/read"}}}}, nil, true, "", ""},
		{"scope missing", Policy{Rules: []Rule{{Kind: "scope", Values: []string{"orders/write"}}}}, nil, false, `insufficient_scope", error_description="the token lacks a scope this resource requires", scope="orders/write"`, ""},
		{"scp array", Policy{Rules: []Rule{{Kind: "scope", Values: []string{"b"}}}}, func(c jwt.MapClaims) { delete(c, "scope"); c["scp"] = []string{"a", "b"} }, true, "", ""},
		{"group", Policy{Rules: []Rule{{Kind: "group", Values: []string{"dev"}}}}, nil, true, "", ""},
		{"cognito:groups", Policy{Rules: []Rule{{Kind: "group", Values: []string{"ops"}}}}, func(c jwt.MapClaims) { delete(c, "groups"); c["cognito:groups"] = []string{"ops"} }, true, "", ""},
		{"group missing", Policy{Rules: []Rule{{Kind: "group", Values: []string{"admins"}}}}, nil, false, "insufficient_scope", ""},
		{"custom claim", Policy{Rules: []Rule{{Kind: "claim", Claim: "custom:tier", Values: []string{"gold"}}}}, func(c jwt.MapClaims) { c["custom:tier"] = "gold" }, true, "", ""},
		{"boolean claim", Policy{Rules: []Rule{{Kind: "claim", Claim: "email_verified", Values: []string{"true"}}}}, func(c jwt.MapClaims) { c["email_verified"] = true }, true, "", ""},
		{"mfa missing", Policy{Rules: []Rule{{Kind: "mfa"}}}, nil, false, "insufficient_user_authentication", ""},
		{"mfa present", Policy{Rules: []Rule{{Kind: "mfa"}}}, func(c jwt.MapClaims) { c["amr"] = []string{"pwd", "otp"} }, true, "", ""},
		{"role from a claim", Policy{
			Roles: []RoleRule{{Role: "machine", When: "claim", Claim: "token_use", Values: []string{"access"}}},
			Rules: []Rule{{Kind: "role", Values: []string{"machine"}}},
		}, nil, true, "", "machine"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newBearerFixture(t, ModeAuthenticate, tc.pol)
			c := f.claims()
			if tc.edit != nil {
				tc.edit(c)
			}
			ok, r, rec := f.call("Bearer "+mint(t, f.keys.Current(), c, nil), nil)
			if ok != tc.wantOK {
				t.Fatalf("ok %v, want %v (%d, %q)", ok, tc.wantOK, rec.Code, rec.Header().Get("WWW-Authenticate"))
			}
			if ok {
				if r.Header.Get(HeaderRole) != tc.wantRole {
					t.Errorf("role %q, want %q", r.Header.Get(HeaderRole), tc.wantRole)
				}
				return
			}
			www := rec.Header().Get("WWW-Authenticate")
			if rec.Code != http.StatusForbidden || !strings.HasPrefix(www, `Bearer error="`+tc.wantError) || f.status.Load() != http.StatusForbidden {
				t.Errorf("status %d, WWW-Authenticate %q; want 403 with %s", rec.Code, www, tc.wantError)
			}
		})
	}
}

// issuerServer is an outside OpenID provider: discovery and a JWKS of its
// own keys, counting JWKS fetches.
type issuerServer struct {
	*httptest.Server
	keys  *signing.KeySet
	jwks  atomic.Int32
	fails atomic.Bool
}

func startIssuer(t *testing.T) *issuerServer {
	t.Helper()
	is := &issuerServer{keys: newKeySet(t)}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		if is.fails.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"issuer": is.URL, "jwks_uri": is.URL + "/jwks"})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		is.jwks.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write(is.keys.JWKS())
	})
	is.Server = httptest.NewServer(mux)
	t.Cleanup(is.Close)
	return is
}

func TestBearerOutsideIssuer(t *testing.T) {
	op := startIssuer(t)
	f := newBearerFixture(t, ModeAuthenticate, Policy{}, JWTIssuer{Issuer: op.URL, Audiences: []string{"https://api.example.com"}})
	claims := func() jwt.MapClaims {
		c := f.claims()
		c["iss"], c["aud"] = op.URL, "https://api.example.com"
		delete(c, "token_use")
		return c
	}
	key := op.keys.Current()
	good := mint(t, key, claims(), nil)

	if ok, r, rec := f.call("Bearer "+good, nil); !ok || r.Header.Get(HeaderIdentity) != f.user.ID {
		t.Fatalf("outside token refused: %d %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
	if op.jwks.Load() != 1 {
		t.Errorf("JWKS fetched %d times, want 1", op.jwks.Load())
	}
	// A second token with the same key: the key set is cached.
	c := claims()
	c["jti"] = "second"
	if ok, _, _ := f.call("Bearer "+mint(t, key, c, nil), nil); !ok || op.jwks.Load() != 1 {
		t.Errorf("second token: ok %v, JWKS fetched %d times, want 1", ok, op.jwks.Load())
	}
	// Tokens with made-up kids and bad signatures: at most one more fetch
	// per interval, however many arrive.
	for i := range 20 {
		tok := mint(t, key, claims(), func(h map[string]any) { h["kid"] = fmt.Sprintf("made-up-%d", i) })
		if ok, _, rec := f.call("Bearer "+tok, nil); ok || rec.Code != http.StatusUnauthorized {
			t.Fatalf("made-up kid: ok %v, %d", ok, rec.Code)
		}
	}
	if n := op.jwks.Load(); n > 2 {
		t.Errorf("JWKS fetched %d times for 20 unknown kids, want at most 2", n)
	}
	// The pool's own tokens are not this issuer's, nor is a token for
	// another audience.
	if ok, _, _ := f.call("Bearer "+mint(t, f.keys.Current(), f.claims(), nil), nil); ok {
		t.Error("a token of an issuer not configured was accepted")
	}
	c = claims()
	c["aud"] = "https://other.example.com"
	if ok, _, rec := f.call("Bearer "+mint(t, key, c, nil), nil); ok || !strings.Contains(rec.Header().Get("WWW-Authenticate"), "audience") {
		t.Errorf("other audience: ok %v, %q", ok, rec.Header().Get("WWW-Authenticate"))
	}
	// A token signed by the pool's key but claiming the outside issuer.
	if ok, _, _ := f.call("Bearer "+mint(t, f.keys.Current(), claims(), nil), nil); ok {
		t.Error("a token with the outside issuer's iss but another's signature was accepted")
	}
}

func TestBearerOutsideIssuerDown(t *testing.T) {
	op := startIssuer(t)
	op.fails.Store(true)
	f := newBearerFixture(t, ModeAuthenticate, Policy{}, JWTIssuer{Issuer: op.URL, Audiences: []string{"api"}})
	c := f.claims()
	c["iss"] = op.URL
	tok := mint(t, op.keys.Current(), c, nil)
	ok, _, rec := f.call("Bearer "+tok, nil)
	if ok || rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Location") != "" {
		t.Fatalf("issuer down: ok %v, %d", ok, rec.Code)
	}
	// While backing off, the issuer is not asked again.
	op.fails.Store(false)
	if ok, _, rec := f.call("Bearer "+tok, nil); ok || rec.Code != http.StatusServiceUnavailable {
		t.Errorf("during the back-off: ok %v, %d", ok, rec.Code)
	}
	f.gw.bearer.issuers[op.URL].remote.retry = time.Time{}
	if ok, _, rec := f.call("Bearer "+tok, nil); !ok {
		t.Errorf("after the back-off: %d %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
}

func TestBearerConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		is   []JWTIssuer
		want string
	}{
		{"no audience", []JWTIssuer{{Issuer: "https://op.example.com"}}, "audience"},
		{"plain http", []JWTIssuer{{Issuer: "http://op.example.com", Audiences: []string{"a"}}}, "https"},
		{"query", []JWTIssuer{{Issuer: "https://op.example.com/?x=1", Audiences: []string{"a"}}}, "query"},
		{"bad token_use", []JWTIssuer{{Issuer: "https://op.example.com", Audiences: []string{"a"}, TokenUse: []string{"refresh"}}}, "token_use"},
		{"twice", []JWTIssuer{{Issuer: "https://op.example.com", Audiences: []string{"a"}}, {Issuer: "https://op.example.com", Audiences: []string{"b"}}}, "twice"},
		{"none", nil, "no issuers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newGatewayFixture(t, nil)
			cfg := f.config()
			cfg.Bearer = &BearerConfig{Issuers: tc.is}
			if _, err := NewGateway(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one about %q", err, tc.want)
			}
		})
	}
}

func TestTokenCacheBounded(t *testing.T) {
	c := newTokenCache(8)
	now := time.Now().UnixNano()
	for i := range 20 {
		c.put(tokenKey(fmt.Sprint(i)), &bearerEntry{expires: now + int64(time.Hour)})
	}
	if n := c.len(); n > 8 {
		t.Errorf("cache holds %d entries, bound 8", n)
	}
	c = newTokenCache(4)
	c.put(tokenKey("old"), &bearerEntry{expires: now - 1})
	for i := range 4 {
		c.put(tokenKey(fmt.Sprint("live", i)), &bearerEntry{expires: now + int64(time.Hour)})
	}
	if c.get(tokenKey("old")) != nil {
		t.Error("an expired token outlived eviction")
	}
}

// TestBearerAllocations: a cached token costs no allocation.
func TestBearerAllocations(t *testing.T) {
	f := newBearerFixture(t, ModeDeny, Policy{
		Roles: []RoleRule{{Role: "reader", When: "group", Values: []string{"dev"}}},
		Rules: []Rule{{Kind: "scope", Values: []string{"orders/read"}}, {Kind: "role", Values: []string{"reader"}}},
	})
	tok := mint(t, f.keys.Current(), f.claims(), nil)
	ok, r, rec := f.call("Bearer "+tok, nil)
	if !ok {
		t.Fatalf("refused: %d %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
	w := httptest.NewRecorder()
	if n := testing.AllocsPerRun(200, func() {
		if !f.gw.Guard(w, r) {
			t.Fatal("refused")
		}
	}); n != 0 {
		t.Errorf("Guard with a cached bearer token: %v allocations, want 0", n)
	}
}

// TestBearerRevokedAccessToken: an access token revoked by its jti (the
// provider's /oauth2/revoke) is refused from then on, cached or not, and
// only that token; the check still costs no allocation.
func TestBearerRevokedAccessToken(t *testing.T) {
	f := newBearerFixture(t, ModeDeny, Policy{})
	claims := func(jti string) jwt.MapClaims {
		c := f.claims()
		c["jti"] = jti
		return c
	}
	revoked, kept := mint(t, f.keys.Current(), claims("revoked-jti"), nil), mint(t, f.keys.Current(), claims("kept-jti"), nil)
	for _, tok := range []string{revoked, kept} {
		if ok, _, rec := f.call("Bearer "+tok, nil); !ok {
			t.Fatalf("refused before the revocation: %s", rec.Header().Get("WWW-Authenticate"))
		}
	}
	if err := f.pool.RevokeAccessToken(t.Context(), "revoked-jti", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if ok, _, rec := f.call("Bearer "+revoked, nil); ok || !strings.Contains(rec.Header().Get("WWW-Authenticate"), "revoked") {
		t.Errorf("the revoked token: ok %v, %q", ok, rec.Header().Get("WWW-Authenticate"))
	}
	ok, r, rec := f.call("Bearer "+kept, nil)
	if !ok {
		t.Fatalf("another token of the same user was refused: %s", rec.Header().Get("WWW-Authenticate"))
	}
	w := httptest.NewRecorder()
	if n := testing.AllocsPerRun(200, func() {
		if !f.gw.Guard(w, r) {
			t.Fatal("refused")
		}
	}); n != 0 {
		t.Errorf("Guard with a cached token and a deny list with a token on it: %v allocations, want 0", n)
	}
}

// TestBearerSignedInAfterUserRevocation: after a user is signed out
// everywhere, a token counts from its auth_time (iat where it has none): one
// from a sign-in stamped after the revocation (the pool stamps a sign-in in
// the revocation's second with the next one) is taken though its iat is in
// that second; one whose sign-in is not after the revocation is refused.
func TestBearerSignedInAfterUserRevocation(t *testing.T) {
	f := newBearerFixture(t, ModeDeny, Policy{})
	var sec int64
	for range 5 { // the revocation and the tokens in one second
		before := time.Now()
		if err := f.pool.RevokeUserSessions(t.Context(), f.user.ID); err != nil {
			t.Fatal(err)
		}
		if sec = before.Unix(); time.Now().Unix() == sec {
			break
		}
	}
	token := func(jti string, authTime int64) string {
		c := f.claims()
		c["jti"], c["iat"] = jti, sec
		if authTime == 0 {
			delete(c, "auth_time")
		} else {
			c["auth_time"] = authTime
		}
		return mint(t, f.keys.Current(), c, nil)
	}
	if ok, _, rec := f.call("Bearer "+token("after", sec+1), nil); !ok {
		t.Errorf("a token of a sign-in after the revocation was refused: %s", rec.Header().Get("WWW-Authenticate"))
	}
	for name, tok := range map[string]string{
		"a sign-in in the revocation's second": token("same", sec),
		"no auth_time, iat in that second":     token("noauth", 0),
	} {
		if ok, _, rec := f.call("Bearer "+tok, nil); ok || !strings.Contains(rec.Header().Get("WWW-Authenticate"), "revoked") {
			t.Errorf("%s: ok %v, %q, want refused as revoked", name, ok, rec.Header().Get("WWW-Authenticate"))
		}
	}
}

// TestSessionAfterUserRevocations: a session begun right after its user is
// signed out everywhere works, and a second sign-out everywhere in that same
// second still ends it, as it ends the pool's tokens of that sign-in.
func TestSessionAfterUserRevocations(t *testing.T) {
	f := newBearerFixture(t, ModeDeny, Policy{})
	revoke := func() {
		if err := f.pool.RevokeUserSessions(t.Context(), f.user.ID); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 { // all in one second
		start := time.Now().Unix()
		revoke()
		first := f.start(t)
		revoke()
		second := f.start(t)
		if time.Now().Unix() != start {
			continue
		}
		if ok, _, _ := f.guard(first, nil); ok {
			t.Error("a session begun between two sign-outs everywhere survived the second")
		}
		if ok, _, rec := f.guard(second, nil); !ok {
			t.Errorf("a session begun after the second sign-out everywhere was refused: %d", rec.Code)
		}
		return
	}
	t.Fatal("could not fit the steps in one second")
}

// newKeySet loads a KeySet on a fresh SQLite store.
func newKeySet(t testing.TB) *signing.KeySet {
	t.Helper()
	s := sqlitetest.Open(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	ks, err := signing.Open(t.Context(), s, signing.Policy{})
	if err != nil {
		t.Fatalf("signing.Open: %v", err)
	}
	return ks
}

// TestBearerChecked: each token presented is reported once, with its
// result; reporting costs the cached path no allocation.
func TestBearerChecked(t *testing.T) {
	f := newBearerFixture(t, ModeDeny, Policy{})
	seen := map[string]int{BearerVerified: 0, BearerCached: 0, BearerRefused: 0, BearerRevoked: 0}
	f.gw.cfg.BearerChecked = func(result string) { seen[result]++ }
	claims := f.claims()
	claims["jti"] = "to-revoke"
	tok := mint(t, f.keys.Current(), claims, nil)
	if ok, _, rec := f.call("Bearer "+tok, nil); !ok {
		t.Fatalf("refused: %s", rec.Header().Get("WWW-Authenticate"))
	}
	ok, r, _ := f.call("Bearer "+tok, nil)
	if !ok {
		t.Fatal("refused from the cache")
	}
	if ok, _, _ := f.call("Bearer "+tok+"x", nil); ok {
		t.Fatal("a forged signature was accepted")
	}
	w := httptest.NewRecorder()
	if n := testing.AllocsPerRun(200, func() { f.gw.Guard(w, r) }); n != 0 {
		t.Errorf("Guard with a cached token, reported: %v allocations, want 0", n)
	}
	if err := f.pool.RevokeAccessToken(t.Context(), "to-revoke", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := f.call("Bearer "+tok, nil); ok {
		t.Fatal("a revoked token was accepted")
	}
	// AllocsPerRun runs its function once more than it says.
	want := map[string]int{BearerVerified: 1, BearerCached: 1 + 201, BearerRefused: 1, BearerRevoked: 1}
	for k, v := range want {
		if seen[k] != v {
			t.Errorf("%s reported %d times, want %d (all: %v)", k, seen[k], v, seen)
		}
	}
}
