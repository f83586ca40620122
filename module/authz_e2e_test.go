package module_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/internal/testenv/oauthtest"
	"github.com/gatehouse-auth/gatehouse/middleware"
	"github.com/gatehouse-auth/gatehouse/middleware/albdata"
	"github.com/gatehouse-auth/gatehouse/module"
	"github.com/gatehouse-auth/gatehouse/store"
)

const (
	azWebappSecret  = "authz-webapp-secret-0123456789"
	azMachineSecret = "authz-machine-secret-0123456789"
	azOtherSecret   = "authz-other-secret-0123456789ab"
)

// authzEnv is one Caddy with two pools, each served as an OpenID provider
// by `gatehouse_idp`, and a guarded site per case, all proxying to one
// upstream.
type authzEnv struct {
	idp      *idpSite // the default pool's issuer
	other    *idpSite // a second pool's issuer
	upstream *testenv.Upstream
	sites    map[string]string // name -> base URL
	users    map[string]*store.User
	callers  map[string]caller // made on first use (caller)
	otherTok string            // the second pool's machine token, once made
}

// authzSites are the guarded sites' blocks; UP is the upstream, ISS the
// default pool's issuer and OTHER the second pool's.
var authzSites = map[string]string{
	"plain": `gatehouse`,
	"group": `gatehouse {
		require group admins
	}`,
	"claim": `gatehouse {
		require claim groups staff
	}`,
	"custom-claim": `gatehouse {
		require claim department finance
	}`,
	"scope": `gatehouse {
		on_unauthenticated deny
		require scope orders/write
	}`,
	"mfa": `gatehouse {
		require mfa
	}`,
	"authenticated": `gatehouse {
		on_unauthenticated allow
		require authenticated
	}`,
	"roles": `gatehouse {
		on_unauthenticated allow
		role admin when group admins
		role staff when group staff
		role machine when claim token_use access
		role member
		guest_role guest
	}
	request_header X-Seen "{http.vars.gatehouse.user}/{http.vars.gatehouse.role}"`,
	"role-required": `gatehouse {
		role admin when group admins
		role member
		require role admin
	}`,
	"api": `gatehouse {
		on_unauthenticated deny
		jwt_issuer ISS {
			audience machine
		}
		jwt_issuer OTHER {
			audience machine
		}
		require scope orders/read
	}`,
	// A guarded site with public paths, stricter rules under two handles,
	// and a respond that the site-level block must guard too.
	"guarded": `gatehouse {
		role admin when group admins
		role member
		allow anonymous /public/* /healthz
	}
	handle /admin/* {
		gatehouse {
			require group admins
		}
		reverse_proxy UP
	}
	handle /api/* {
		gatehouse {
			require scope orders/read
		}
		reverse_proxy UP
	}
	respond /secret "secret" 200`,
	// An open site with a members area and an admin area.
	"portal": `gatehouse {
		on_unauthenticated allow
		role member
		guest_role guest
	}
	handle /members/* {
		gatehouse {
			require authenticated
		}
		reverse_proxy UP
	}
	handle /admin/* {
		gatehouse {
			role admin when group admins
			require role admin
		}
		reverse_proxy UP
	}`,
}

func startAuthz(t *testing.T) *authzEnv {
	t.Helper()
	dir := t.TempDir()
	e := &authzEnv{upstream: testenv.StartUpstream(t), sites: map[string]string{}, users: map[string]*store.User{}, callers: map[string]caller{}}
	iss := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	other := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	var b strings.Builder
	fmt.Fprintf(&b, `{
	default_bind 127.0.0.1
	gatehouse {
		pool default {
			store sqlite %s
			issuer %s
			revocation_refresh 100ms
			%s
			client webapp {
				redirect_uri %s
				secret %s
				scopes openid email profile
			}
			client machine {
				secret %s
				grant_types client_credentials
				scopes orders/read orders/write
			}
		}
		pool other {
			store sqlite %s
			issuer %s
			%s
			client machine {
				secret %s
				grant_types client_credentials
				scopes orders/read
			}
		}
	}
}

%s {
	gatehouse_idp {
		pool default
	}
	respond "issuer"
}

%s {
	gatehouse_idp {
		pool other
	}
	respond "other issuer"
}
`, filepath.Join(dir, "default.db"), iss, testenv.FastHash, webappCB, azWebappSecret, azMachineSecret,
		filepath.Join(dir, "other.db"), other, testenv.FastHash, azOtherSecret, iss, other)
	names := make([]string, 0, len(authzSites))
	for name := range authzSites {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		base := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
		e.sites[name] = base
		body := strings.NewReplacer("UP", e.upstream.Addr(), "ISS", iss, "OTHER", other).Replace(authzSites[name])
		fmt.Fprintf(&b, "\n%s {\n\t%s\n\treverse_proxy %s\n}\n", base, body, e.upstream.Addr())
	}
	text := b.String()
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	testenv.StartCaddy(t, text)
	testenv.WaitHTTP(t, iss+"/.well-known/openid-configuration", 5*time.Second)
	for _, base := range e.sites {
		testenv.WaitHTTP(t, base+"/_gatehouse/static/gatehouse.css", 5*time.Second)
	}
	open := func(name, issuer string) *idpSite {
		cfg, err := module.LoadPoolConfig(file, "", name)
		if err != nil {
			t.Fatal(err)
		}
		p, err := module.OpenPool(context.Background(), name, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		op, err := gooidc.NewProvider(context.Background(), issuer)
		if err != nil {
			t.Fatalf("discovery of %s: %v", issuer, err)
		}
		return newIDPSite(issuer, p, op)
	}
	e.idp, e.other = open("default", iss), open("other", other)
	e.users["ada"] = e.idp.createUser(t, adaEmail, "Ada Lovelace", "admins", "staff")
	e.users["bob"] = e.idp.createUser(t, "bob@example.com", "Bob", "staff")
	e.users["carol"] = e.idp.createUser(t, "carol@example.com", "Carol")
	return e
}

// caller is one way of presenting identity: a browser with a session
// cookie, a bearer token, or nothing.
type caller struct {
	client *http.Client
	header http.Header
}

func (e *authzEnv) call(t *testing.T, c caller, rawURL string, extra http.Header) (*http.Response, string) {
	t.Helper()
	h := http.Header{"Accept": {"text/html"}}
	for k, v := range c.header {
		h[k] = v
	}
	for k, v := range extra {
		h[k] = v
	}
	client := c.client
	if client == nil {
		client = testenv.Browser(t)
	}
	return get(t, client, rawURL, h)
}

func bearer(tok string) caller {
	return caller{header: http.Header{"Authorization": {"Bearer " + tok}, "Accept": {"application/json"}}}
}

// mint signs claims with the pool's current ES256 key, read from its
// store, after edit may change the JOSE header.
func (e *authzEnv) mint(t *testing.T, claims jwt.MapClaims, edit func(map[string]any)) string {
	t.Helper()
	key := e.idp.pool.Keys.Current()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["kid"] = key.ID
	if edit != nil {
		edit(tok.Header)
	}
	s, err := tok.SignedString(key.Private)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// accessClaims are the claims of a user's access token as the pool's token
// endpoint makes them, for ada.
func (e *authzEnv) accessClaims() jwt.MapClaims {
	now := time.Now()
	ada := e.users["ada"]
	return jwt.MapClaims{
		"iss": e.idp.issuer, "sub": ada.ID, "username": ada.ID, "client_id": "webapp", "token_use": "access",
		"scope": "openid email profile", "groups": []string{"admins", "staff"},
		"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(), "auth_time": now.Unix(), "jti": "minted",
	}
}

// authzCaller makes the caller called name: a browser signed in on a
// guarded site's hosted pages (ada, bob, carol: the session cookie is
// host-wide, and every site is on 127.0.0.1 with one pool and cookie name,
// so one sign-in serves them all), a token from the pool's own
// /oauth2/token (a machine's with client credentials and custom scopes, or
// a user's from the authorization code flow), the second pool's machine
// token, a token signed with the pool's key for claims /oauth2/token does
// not give (a second factor, a custom claim), or nothing. Each test makes
// only the callers it uses, once.
func (e *authzEnv) caller(t *testing.T, name string) caller {
	t.Helper()
	if c, ok := e.callers[name]; ok {
		return c
	}
	var c caller
	switch name {
	case "anonymous":
	case "anonymous API":
		c = caller{header: http.Header{"Accept": {"application/json"}}}
	case "ada", "bob", "carol":
		b := testenv.Browser(t)
		signIn(t, b, e.sites["plain"], "/", e.users[name].Email, adaPassword)
		c = caller{client: b}
	case "read token":
		c = bearer(e.idp.ClientCredentials(t, "machine", azMachineSecret, "orders/read")["access_token"].(string))
	case "write token":
		c = bearer(e.idp.ClientCredentials(t, "machine", azMachineSecret, "orders/write")["access_token"].(string))
	case "ada token":
		adaLogin, _ := e.idp.Login(t, testenv.Browser(t), e.idp.RP("webapp", azWebappSecret, webappCB), adaEmail)
		c = bearer(adaLogin.Tok.AccessToken)
	case "other pool token":
		c = bearer(e.otherPoolToken(t))
	case "mfa token":
		mfa := e.accessClaims()
		mfa["amr"] = []string{"pwd", "otp"}
		c = bearer(e.mint(t, mfa, nil))
	case "finance token":
		finance := e.accessClaims()
		finance["department"] = "finance"
		c = bearer(e.mint(t, finance, nil))
	default:
		t.Fatalf("no caller %q", name)
	}
	e.callers[name] = c
	return c
}

// otherPoolToken is a machine token of the second pool.
func (e *authzEnv) otherPoolToken(t *testing.T) string {
	t.Helper()
	if e.otherTok == "" {
		e.otherTok, _ = e.other.ClientCredentials(t, "machine", azOtherSecret, "orders/read")["access_token"].(string)
		if e.otherTok == "" {
			t.Fatal("no token from the second pool")
		}
	}
	return e.otherTok
}

// The authorization tests each start their own Caddy (startAuthz) and so
// run one at a time: Caddy's running config is global to the process.

// TestAuthorizationRules: who reaches which guarded site, and what a
// refusal looks like, for each kind of caller.
func TestAuthorizationRules(t *testing.T) {
	e := startAuthz(t)
	for _, tc := range []struct {
		site, path, caller string
		status             int    // 200: reached the upstream
		challenge          string // in WWW-Authenticate, for bearer refusals
	}{
		{"group", "/", "ada", 200, ""},
		{"group", "/", "bob", 403, ""},
		{"group", "/", "carol", 403, ""},
		{"group", "/", "anonymous", 302, ""},
		{"group", "/", "anonymous API", 401, ""},
		{"group", "/", "ada token", 200, ""},
		{"group", "/", "read token", 403, `error="insufficient_scope"`},
		{"group", "/", "mfa token", 200, ""},

		{"claim", "/", "ada", 200, ""},
		{"claim", "/", "bob", 200, ""},
		{"claim", "/", "carol", 403, ""},
		{"claim", "/", "ada token", 200, ""},
		{"claim", "/", "read token", 403, `error="insufficient_scope"`},
		{"custom-claim", "/", "ada", 403, ""},
		{"custom-claim", "/", "ada token", 403, `error="insufficient_scope"`},
		{"custom-claim", "/", "finance token", 200, ""},

		{"scope", "/", "anonymous", 401, ""},
		{"scope", "/", "ada", 403, ""},
		{"scope", "/", "ada token", 403, `scope="orders/write"`},
		{"scope", "/", "read token", 403, `error="insufficient_scope"`},
		{"scope", "/", "write token", 200, ""},

		{"mfa", "/", "ada", 302, ""}, // step-up (mfa_e2e_test.go)
		{"mfa", "/", "ada token", 403, `error="insufficient_user_authentication"`},
		{"mfa", "/", "mfa token", 200, ""},

		{"authenticated", "/", "anonymous", 302, ""},
		{"authenticated", "/", "anonymous API", 401, ""},
		{"authenticated", "/", "carol", 200, ""},
		{"authenticated", "/", "read token", 200, ""},

		{"role-required", "/", "ada", 200, ""},
		{"role-required", "/", "bob", 403, ""},
		{"role-required", "/", "ada token", 200, ""},
		{"role-required", "/", "read token", 403, `error="insufficient_scope"`},

		// jwt_issuer lines: the pool's own tokens of client machine only,
		// and the second pool's (fetched over HTTP with its JWKS).
		{"api", "/", "read token", 200, ""},
		{"api", "/", "write token", 403, `scope="orders/read"`},
		{"api", "/", "ada token", 401, `error="invalid_token"`},
		{"api", "/", "other pool token", 200, ""},
		{"api", "/", "anonymous API", 401, ""},
		{"api", "/", "ada", 403, ""},
		{"plain", "/", "other pool token", 401, `error_description="the token's issuer is not trusted here"`},

		// Nested blocks: the site's block runs first, the one in the
		// matching handle adds its rules.
		{"guarded", "/public/page", "anonymous", 200, ""},
		{"guarded", "/healthz", "anonymous", 200, ""},
		{"guarded", "/private", "anonymous", 302, ""},
		{"guarded", "/secret", "anonymous", 302, ""},
		{"guarded", "/admin/panel", "anonymous", 302, ""},
		{"guarded", "/public/../admin/panel", "anonymous", 400, ""}, // ambiguous: see paths_e2e_test.go
		{"guarded", "/admin/panel", "carol", 403, ""},
		{"guarded", "/admin/panel", "ada", 200, ""},
		{"guarded", "/public/page", "carol", 200, ""},
		{"guarded", "/api/orders", "read token", 200, ""},
		{"guarded", "/api/orders", "ada", 403, ""},
		{"guarded", "/admin/panel", "read token", 403, `error="insufficient_scope"`},
		{"portal", "/", "anonymous", 200, ""},
		{"portal", "/members/home", "anonymous", 302, ""},
		{"portal", "/members/home", "carol", 200, ""},
		{"portal", "/admin/panel", "carol", 403, ""},
		{"portal", "/admin/panel", "ada", 200, ""},
	} {
		t.Run(tc.site+" "+tc.path+" "+tc.caller, func(t *testing.T) {
			c := e.caller(t, tc.caller)
			before := e.upstream.Count()
			resp, body := e.call(t, c, e.sites[tc.site]+tc.path, nil)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %.300s", resp.StatusCode, tc.status, body)
			}
			reached := e.upstream.Count() > before
			if reached != (tc.status == 200) {
				t.Fatalf("upstream reached: %v", reached)
			}
			www := resp.Header.Get("WWW-Authenticate")
			if !strings.Contains(www, tc.challenge) {
				t.Errorf("WWW-Authenticate %q, want %s", www, tc.challenge)
			}
			isBearer := c.header.Get("Authorization") != ""
			if tc.status == 302 {
				want := "/_gatehouse/signin"
				if tc.site == "mfa" {
					want = "/_gatehouse/mfa" // step-up of a password-only session
				}
				loc, _ := resp.Location()
				if loc == nil || loc.Path != want {
					t.Errorf("redirect to %v, want %s", loc, want)
				}
			} else if resp.Header.Get("Location") != "" {
				t.Errorf("a %d with Location %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			if tc.status == 403 && !isBearer && !strings.Contains(body, "Access denied") && !strings.Contains(body, "forbidden") {
				t.Errorf("403 body is not the error page: %.300s", body)
			}
			if isBearer && tc.status == 401 && !strings.HasPrefix(www, `Bearer error="invalid_token"`) && tc.caller != "anonymous API" {
				t.Errorf("WWW-Authenticate %q", www)
			}
			if !reached {
				return
			}
			got := e.upstream.Last().Header
			if v := got.Values(middleware.HeaderIdentity); len(v) > 1 || len(got.Values(middleware.HeaderData)) > 1 {
				t.Errorf("identity injected twice: %q", v)
			}
			if strings.HasPrefix(tc.caller, "anonymous") && got.Get(middleware.HeaderIdentity) != "" {
				t.Errorf("anonymous request reached the upstream with identity %q", got.Get(middleware.HeaderIdentity))
			}
			if u := e.users[tc.caller]; u != nil && got.Get(middleware.HeaderIdentity) != u.ID {
				t.Errorf("identity %q, want %s's", got.Get(middleware.HeaderIdentity), tc.caller)
			}
		})
	}
}

// TestAuthorizationRoles: a site's role lines give each caller one role,
// which replaces any the client sent.
func TestAuthorizationRoles(t *testing.T) {
	e := startAuthz(t)
	forged := http.Header{"X-Gatehouse-Role": {"admin"}, "x_gatehouse_role": {"admin"}}
	for name, want := range map[string]string{
		"ada":        "admin", // admins and staff: the first matching line wins
		"bob":        "staff",
		"carol":      "member",
		"read token": "machine",
		"ada token":  "admin",
		"anonymous":  "guest",
	} {
		resp, _ := e.call(t, e.caller(t, name), e.sites["roles"]+"/", forged)
		got := e.upstream.Last().Header
		if resp.StatusCode != 200 || got.Values("X-Gatehouse-Role") == nil || got.Get("X-Gatehouse-Role") != want || len(got.Values("X-Gatehouse-Role")) != 1 {
			t.Errorf("%s: status %d, role %q, want %s", name, resp.StatusCode, got.Values("X-Gatehouse-Role"), want)
		}
		if _, ok := got["X_gatehouse_role"]; ok {
			t.Errorf("%s: a forged role in another spelling reached the upstream", name)
		}
		sub := ""
		if u := e.users[name]; u != nil {
			sub = u.ID
		} else if name == "read token" {
			sub = "machine"
		} else if name == "ada token" {
			sub = e.users["ada"].ID
		}
		if seen := got.Get("X-Seen"); seen != sub+"/"+want {
			t.Errorf("%s: placeholders gave %q, want %q", name, seen, sub+"/"+want)
		}
	}
	// A site without roles passes no role at all, forged or not.
	e.call(t, e.caller(t, "ada"), e.sites["plain"]+"/", forged)
	if got := e.upstream.Last().Header; got.Get("X-Gatehouse-Role") != "" {
		t.Errorf("forged role passed: %q", got.Values("X-Gatehouse-Role"))
	}
	// An inner block's role lines replace the outer's role.
	e.call(t, e.caller(t, "ada"), e.sites["portal"]+"/admin/panel", forged)
	if got := e.upstream.Last().Header.Values("X-Gatehouse-Role"); len(got) != 1 || got[0] != "admin" {
		t.Errorf("portal admin role %q", got)
	}
	e.call(t, e.caller(t, "carol"), e.sites["portal"]+"/members/x", forged)
	if got := e.upstream.Last().Header.Values("X-Gatehouse-Role"); len(got) != 1 || got[0] != "member" {
		t.Errorf("portal member role %q", got)
	}
}

func TestAuthorizationBearerIdentityHeaders(t *testing.T) {
	e := startAuthz(t)
	resp, _ := e.call(t, e.caller(t, "read token"), e.sites["plain"]+"/x", http.Header{"X-Amzn-Oidc-Identity": {"forged"}})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := e.upstream.Last().Header
	if got.Get(middleware.HeaderIdentity) != "machine" || got.Get("Authorization") == "" {
		t.Errorf("identity %q (want the client, as sub), Authorization %q", got.Get(middleware.HeaderIdentity), got.Get("Authorization"))
	}
	header, claims := verifyALBData(t, got.Get(middleware.HeaderData), e.sites["plain"]+"/_gatehouse/public-keys/", albdata.DefaultARN("default"))
	if header["iss"] != e.idp.issuer || header["client"] != "machine" || claims["sub"] != "machine" || claims["scope"] != "orders/read" {
		t.Errorf("data header %v, claims %v", header, claims)
	}
	resp, _ = e.call(t, e.caller(t, "ada token"), e.sites["plain"]+"/x", nil)
	got = e.upstream.Last().Header
	if resp.StatusCode != 200 || got.Get(middleware.HeaderIdentity) != e.users["ada"].ID || got.Get("X-Auth-Request-Groups") != "admins,staff" {
		t.Errorf("user token: %d, headers %v", resp.StatusCode, got)
	}
}

func TestAuthorizationRefusedTokens(t *testing.T) {
	e := startAuthz(t)
	valid := e.mint(t, e.accessClaims(), nil)
	parts := strings.Split(valid, ".")
	expired := e.accessClaims()
	expired["iat"], expired["exp"] = time.Now().Add(-time.Hour).Unix(), time.Now().Add(-2*time.Minute).Unix()
	none := jwt.NewWithClaims(jwt.SigningMethodNone, e.accessClaims())
	none.Header["kid"] = e.idp.pool.Keys.Current().ID
	noneTok, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	der, _ := x509.MarshalPKIXPublicKey(&e.idp.pool.Keys.Current().Private.PublicKey)
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, e.accessClaims())
	hs.Header["kid"] = e.idp.pool.Keys.Current().ID
	hsTok, _ := hs.SignedString(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	machine := e.accessClaims()
	machine["client_id"] = "machine"
	audience := e.accessClaims()
	audience["client_id"], audience["aud"] = "machine", "https://other-api.example.com"
	for _, tc := range []struct{ name, site, tok, desc string }{
		{"expired", "plain", e.mint(t, expired, nil), "expired"},
		{"wrong audience", "api", e.mint(t, audience, nil), "audience"},
		{"client not allowed", "api", e.mint(t, e.accessClaims(), nil), "client"},
		{"tampered signature", "plain", parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])), "signature"},
		{"alg none", "plain", noneTok, "algorithm"},
		{"HS256 keyed with the public key", "plain", hsTok, "algorithm"},
		{"unknown kid", "plain", e.mint(t, e.accessClaims(), func(h map[string]any) { h["kid"] = "0b7f1e2a-1111-4222-8333-444455556666" }), "key is unknown"},
		{"another issuer", "plain", e.otherPoolToken(t), "not trusted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A browser-like Accept: a bearer request still never gets
			// a redirect.
			resp, body := e.call(t, caller{header: http.Header{"Authorization": {"Bearer " + tc.tok}}}, e.sites[tc.site]+"/x", nil)
			www := resp.Header.Get("WWW-Authenticate")
			if resp.StatusCode != 401 || !strings.HasPrefix(www, `Bearer error="invalid_token", error_description="`) || !strings.Contains(www, tc.desc) {
				t.Errorf("status %d, WWW-Authenticate %q; want 401 invalid_token about %q: %.200s", resp.StatusCode, www, tc.desc, body)
			}
			if resp.Header.Get("Location") != "" {
				t.Error("a bearer request was redirected")
			}
		})
	}
	// The valid ones, for contrast.
	if resp, _ := e.call(t, bearer(valid), e.sites["plain"]+"/x", nil); resp.StatusCode != 200 {
		t.Errorf("the untampered token: %d", resp.StatusCode)
	}
	machine["scope"] = "orders/read"
	if resp, _ := e.call(t, bearer(e.mint(t, machine, nil)), e.sites["api"]+"/x", nil); resp.StatusCode != 200 {
		t.Errorf("the allowed client's token: %d", resp.StatusCode)
	}
}

func TestAuthorizationNestedSignInComesBackOnce(t *testing.T) {
	e := startAuthz(t)
	c := testenv.Browser(t)
	const want = "/members/home?tab=1"
	resp, _ := get(t, c, e.sites["portal"]+want, nil)
	loc, _ := resp.Location()
	if resp.StatusCode != http.StatusFound || loc == nil || loc.Query().Get("rd") != want {
		t.Fatalf("anonymous member page: %d to %v", resp.StatusCode, loc)
	}
	if _, got := signIn(t, c, e.sites["portal"], want, "carol@example.com", adaPassword); got != want {
		t.Fatalf("after sign-in: to %q, want %q", got, want)
	}
	resp, body := get(t, c, e.sites["portal"]+want, nil)
	if resp.StatusCode != 200 || body != "upstream" {
		t.Fatalf("back on the member page: %d %q", resp.StatusCode, body)
	}
	// Signed in but not an admin: 403, not another trip to sign in.
	resp, _ = get(t, c, e.sites["portal"]+"/admin/panel", nil)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("admin page for a member: %d, want 403", resp.StatusCode)
	}
}

func TestAuthorizationRevokedAccessToken(t *testing.T) {
	e := startAuthz(t)
	other := e.caller(t, "ada token") // issued before the revocation
	// RFC 7009 revocation of an access token (what oidc-client-ts's
	// sign-out does): the gateway's bearer check refuses it at once,
	// on every site of the pool, cached as verified or not.
	login, _ := e.idp.Login(t, testenv.Browser(t), e.idp.RP("webapp", azWebappSecret, webappCB), adaEmail)
	at := login.Tok.AccessToken
	for _, site := range []string{"plain", "roles"} {
		if resp, body := e.call(t, bearer(at), e.sites[site]+"/x", nil); resp.StatusCode != 200 {
			t.Fatalf("%s before revoking: %d %s", site, resp.StatusCode, body)
		}
	}
	resp, body := oauthtest.TokenCall(t, e.idp.issuer+"/oauth2/revoke", url.Values{"token": {at}}, "webapp", azWebappSecret)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d %v", resp.StatusCode, body)
	}
	for _, site := range []string{"plain", "roles", "group"} {
		resp, body := e.call(t, bearer(at), e.sites[site]+"/x", nil)
		www := resp.Header.Get("WWW-Authenticate")
		if resp.StatusCode != 401 || !strings.HasPrefix(www, `Bearer error="invalid_token"`) || !strings.Contains(www, "revoked") {
			t.Errorf("%s after revoking: %d, WWW-Authenticate %q; want 401 invalid_token, revoked: %.200s", site, resp.StatusCode, www, body)
		}
	}
	// Only that token: the same user's other token still works.
	if resp, _ := e.call(t, other, e.sites["plain"]+"/x", nil); resp.StatusCode != 200 {
		t.Errorf("another access token of the same user after the revocation: %d, want 200", resp.StatusCode)
	}
}

func TestAuthorizationJSONRefusals(t *testing.T) {
	e := startAuthz(t)
	resp, body := e.call(t, e.caller(t, "carol"), e.sites["group"]+"/", http.Header{"Accept": {"application/json"}})
	if resp.StatusCode != 403 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || !strings.Contains(body, `"error":"forbidden"`) {
		t.Errorf("status %d, %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}

func TestAuthorizationConfigErrors(t *testing.T) {
	site := func(opts string) string {
		return `{
	gatehouse {
		pool default {
			store sqlite ` + filepath.Join(t.TempDir(), "gh.db") + `
		}
	}
}
http://127.0.0.1:1 {
	gatehouse {
		` + opts + `
	}
}
`
	}
	for _, tc := range []struct{ name, opts, want string }{
		{"unknown require", "require colour blue", "unknown rule"},
		{"require group without groups", "require group", "at least one value"},
		{"require claim without value", "require claim department", "require claim <name> <value>"},
		{"require mfa with a value", "require mfa otp", "takes no values"},
		{"allow without anonymous", "allow everyone", "allow anonymous"},
		{"role with a bad condition", "role admin if group admins", "when group"},
		{"role after a default role", "role member\nrole admin when group admins", "matches everyone"},
		{"jwt_issuer option", "jwt_issuer https://op.example.com {\naudience a\ncolour blue\n}", "unrecognized jwt_issuer option"},
		{"jwt_issuer twice", "jwt_issuer https://op.example.com {\naudience a\n}\njwt_issuer https://op.example.com {\naudience b\n}", "configured twice"},
		{"bad token_use", "jwt_issuer https://op.example.com {\naudience a\ntoken_use refresh\n}", "token_use"},
		{"bearer on", "bearer on", "bearer off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := caddyconfigAdapt(site(tc.opts))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("adapt error %v, want one containing %q", err, tc.want)
			}
		})
	}
	for _, tc := range []struct{ name, opts, want string }{
		{"allow anonymous with rules", "allow anonymous\nrequire group admins", "allow anonymous"},
		{"guest_role without anonymous requests", "guest_role guest", "guest_role"},
		{"outside issuer without audience", "jwt_issuer https://op.example.com", "audience"},
		{"outside issuer over http", "jwt_issuer http://op.example.com {\naudience a\n}", "https"},
		{"bearer off with issuers", "bearer off\njwt_issuer https://op.example.com {\naudience a\n}", "bearer off"},
		{"public path not clean", "allow anonymous /a/../b", "clean"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := caddyValidate(testenv.Adapt(t, site(tc.opts)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("provision error %v, want one containing %q", err, tc.want)
			}
		})
	}
	t.Run("the directive runs before handle and respond", func(t *testing.T) {
		out := string(testenv.Adapt(t, `{
	gatehouse {
		pool default {
			store sqlite `+filepath.Join(t.TempDir(), "gh.db")+`
		}
	}
}
http://127.0.0.1:1 {
	respond /z ok
	handle /x {
		respond ok
	}
	gatehouse {
		require group admins
	}
}
`))
		g, r := strings.Index(out, `"handler":"gatehouse"`), strings.Index(out, `"handler":"static_response"`)
		if g < 0 || r < 0 || g > r {
			t.Errorf("gatehouse is not ordered before handle and respond: %s", out)
		}
	})
	t.Run("gatehouse_idp runs before gatehouse on an issuer site", func(t *testing.T) {
		out := string(testenv.Adapt(t, `{
	gatehouse {
		pool default {
			store sqlite `+filepath.Join(t.TempDir(), "gh.db")+`
			issuer http://127.0.0.1:1
		}
	}
}
http://127.0.0.1:1 {
	gatehouse {
		require group admins
	}
	gatehouse_idp {
		pool default
	}
}
`))
		g, i := strings.Index(out, `"handler":"gatehouse"`), strings.Index(out, `"handler":"gatehouse_idp"`)
		if g < 0 || i < 0 || i > g {
			t.Errorf("gatehouse_idp is not ordered before gatehouse: %s", out)
		}
	})
}
