package module_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/internal/testenv/oauthtest"
	"github.com/gatehouse-auth/gatehouse/module"
	"github.com/gatehouse-auth/gatehouse/oidc"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

const (
	webappSecret  = "webapp-secret-0123456789abcdef"
	rsSecret      = "rsapp-secret-0123456789abcdef"
	machineSecret = "machine-secret-0123456789abcdef"
	storedSecret  = "stored-secret-0123456789abcdef"

	webappCB  = "https://app.example.test/cb"
	webappBye = "https://app.example.test/bye"
	spaCB     = "https://spa.example.test/cb"
	rsCB      = "https://rs.example.test/cb"
	storedCB  = "https://stored.example.test/cb"
)

// idpClients are the app clients of the test pool: a confidential web app
// (its secret from the environment), a public single-page app, an app that
// needs RS256, and a machine client.
const idpClients = `
			client webapp {
				redirect_uri ` + webappCB + ` https://app.example.test/other
				post_logout_redirect_uri ` + webappBye + `
				secret {env.GATEHOUSE_TEST_WEBAPP_SECRET}
				scopes openid email profile
			}
			client spa {
				public
				redirect_uri ` + spaCB + `
			}
			client rsapp {
				redirect_uri ` + rsCB + `
				secret ` + rsSecret + `
				signing_alg RS256
				id_token_ttl 10m
			}
			client machine {
				secret ` + machineSecret + `
				grant_types client_credentials
				scopes orders/read orders/write
				access_token_ttl 5m
			}`

// idpSite is a running issuer: Caddy serving `gatehouse_idp` for a pool
// whose issuer is this very site, and the pool opened as the CLI would.
type idpSite struct {
	*oauthtest.Issuer // its relying parties' view: RP, Login, Navigate, CodeFrom
	issuer            string
	pool              *module.Pool
	op                *gooidc.Provider
}

func startIDP(t *testing.T, poolOptions string) *idpSite {
	t.Helper()
	t.Setenv("GATEHOUSE_TEST_WEBAPP_SECRET", webappSecret)
	dir := t.TempDir()
	issuer := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	text := fmt.Sprintf(`{
	default_bind 127.0.0.1
	gatehouse {
		pool default {
			store sqlite %s
			issuer %s
			display_name "Example Corp"
			revocation_refresh 100ms
			%s
			%s
		}
	}
}

%s {
	gatehouse_idp {
		pool default
	}
	respond "issuer home"
}
`, filepath.Join(dir, "gatehouse.db"), issuer, testenv.FastHash, poolOptions, issuer)
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	testenv.StartCaddy(t, text)
	testenv.WaitHTTP(t, issuer+"/.well-known/openid-configuration", 5*time.Second)
	p := openPoolFile(t, file)
	op, err := gooidc.NewProvider(context.Background(), issuer)
	if err != nil {
		t.Fatalf("go-oidc discovery: %v", err)
	}
	return newIDPSite(issuer, p, op)
}

// newIDPSite is the issuer at issuer with its pool p, as go-oidc's op
// discovered it; its relying parties sign in on its hosted pages.
func newIDPSite(issuer string, p *module.Pool, op *gooidc.Provider) *idpSite {
	signInAt := func(t *testing.T, c *http.Client, rd, email string) {
		t.Helper()
		if _, to := signIn(t, c, issuer, rd, email, adaPassword); to != rd {
			t.Fatalf("sign-in continues to %q, want the authorization request %q", to, rd)
		}
	}
	return &idpSite{Issuer: &oauthtest.Issuer{URL: issuer, OP: op, SignIn: signInAt}, issuer: issuer, pool: p, op: op}
}

func (s *idpSite) createUser(t *testing.T, email, name string, groups ...string) *store.User {
	t.Helper()
	ctx := context.Background()
	u, err := s.pool.Pool.CreateUser(ctx, pool.NewUser{Email: email, Password: adaPassword, Name: name, EmailVerified: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		if err := s.pool.Pool.AddToGroup(ctx, u.ID, g); err != nil {
			t.Fatal(err)
		}
	}
	u, err = s.pool.Pool.User(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// jwtClaims decodes a JWT's payload without verifying it (verified
// separately).
func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	var c map[string]any
	if err != nil || json.Unmarshal(raw, &c) != nil {
		t.Fatalf("not a JWT payload: %q", token)
	}
	return c
}

// TestIDPThroughCaddy is the wiring of gatehouse_idp: the provider, the
// hosted sign-in and the issuer site's session behind Caddy, the Caddyfile's
// clients (a secret from the environment, public, RS256 with its own ID
// token lifetime, a machine client with scopes and an access token
// lifetime, a post-logout address) reaching the provider, and every other
// path going on to the next handler; key_rotation reaching the pool (see
// TestKeyPolicy). The protocol itself is specified in
// oidc (protocol_test.go), one behaviour per test.
func TestIDPThroughCaddy(t *testing.T) {
	s := startIDP(t, idpClients+"\n\t\t\tkey_rotation 30d")
	ada := s.createUser(t, adaEmail, "Ada Lovelace", "admins", "staff")
	webapp := s.RP("webapp", webappSecret, webappCB)
	ctx := context.Background()
	c := testenv.Browser(t)
	if got := time.Duration(s.pool.Config.KeyRotation); got != 30*24*time.Hour {
		t.Errorf("key_rotation 30d read as %s", got)
	}

	var doc map[string]any
	if err := s.op.Claims(&doc); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{
		"issuer":                 s.issuer,
		"authorization_endpoint": s.issuer + "/oauth2/authorize",
		"token_endpoint":         s.issuer + "/oauth2/token",
		"userinfo_endpoint":      s.issuer + "/oauth2/userInfo",
		"revocation_endpoint":    s.issuer + "/oauth2/revoke",
		"end_session_endpoint":   s.issuer + "/logout",
		"jwks_uri":               s.issuer + "/.well-known/jwks.json",
	} {
		if doc[k] != v {
			t.Errorf("discovery %s = %v, want %v", k, doc[k], v)
		}
	}
	// Other paths of the issuer site go on to the next handler.
	resp, body := get(t, http.DefaultClient, s.issuer+"/somewhere", nil)
	if resp.StatusCode != http.StatusOK || body != "issuer home" {
		t.Errorf("other path: status %d body %q, want the site's own response", resp.StatusCode, body)
	}

	// webapp: its secret from {env.GATEHOUSE_TEST_WEBAPP_SECRET}.
	first, n := s.Login(t, c, webapp, adaEmail)
	if n != 1 {
		t.Fatalf("signed in %d times, want 1", n)
	}
	if first.ID.Subject != ada.ID || first.ID.Issuer != s.issuer || first.Claim["email"] != adaEmail {
		t.Errorf("ID token sub/iss/email = %s/%s/%v", first.ID.Subject, first.ID.Issuer, first.Claim["email"])
	}
	if g, _ := json.Marshal(first.Claim["groups"]); string(g) != `["admins","staff"]` {
		t.Errorf("ID token groups = %s", g)
	}
	if _, err := webapp.Refresh(first.Tok.RefreshToken); err != nil {
		t.Errorf("refresh: %v", err)
	}
	ui, err := s.op.UserInfo(ctx, oauth2.StaticTokenSource(first.Tok))
	if err != nil || ui.Subject != ada.ID {
		t.Errorf("userinfo: %v %+v", err, ui)
	}

	// spa: public, so PKCE alone; SSO, so no second sign-in.
	if got, n := s.Login(t, c, s.RP("spa", "", spaCB), ""); n != 0 || got.ID.Subject != ada.ID {
		t.Errorf("spa: %d sign-ins, sub %s", n, got.ID.Subject)
	}

	// rsapp: signing_alg RS256 and id_token_ttl 10m.
	got, _ := s.Login(t, c, s.RP("rsapp", rsSecret, rsCB), "")
	if h := jwtHeader(t, got.Raw); h["alg"] != "RS256" {
		t.Errorf("rsapp's ID token alg %v, want RS256", h["alg"])
	}
	if exp := time.Until(got.ID.Expiry); exp < 9*time.Minute || exp > 11*time.Minute {
		t.Errorf("rsapp's ID token expires in %s, want id_token_ttl 10m", exp)
	}

	// machine: client_credentials, its scopes, access_token_ttl 5m.
	mt := s.ClientCredentials(t, "machine", machineSecret, "")
	if mt["expires_in"] != 300.0 || mt["access_token"] == nil {
		t.Errorf("machine token %v, want a 5-minute access token", mt)
	}
	if at, _ := mt["access_token"].(string); at != "" && jwtClaims(t, at)["scope"] != "orders/read orders/write" {
		t.Errorf("machine token scope %v, want the client's scopes", jwtClaims(t, at)["scope"])
	}

	// The Caddyfile's client wins over a stored one with its id.
	if err := s.pool.Store.CreateClient(ctx, &store.Client{
		ID: "machine", SecretHash: oidc.HashClientSecret(storedSecret), GrantTypes: []string{"client_credentials"}, Scopes: []string{"x"},
	}); err != nil {
		t.Fatal(err)
	}
	if body := s.ClientCredentials(t, "machine", storedSecret, ""); body["error"] != "invalid_client" {
		t.Errorf("the stored twin's secret: %v, want invalid_client", body)
	}

	// Sign-out to webapp's post_logout_redirect_uri ends the session.
	resp, _ = get(t, c, s.issuer+"/logout?"+url.Values{"client_id": {"webapp"}, "post_logout_redirect_uri": {webappBye}, "state": {"bye"}}.Encode(), nil)
	if loc := resp.Header.Get("Location"); resp.StatusCode/100 != 3 || loc != webappBye+"?state=bye" {
		t.Errorf("logout: status %d to %q, want a redirect to %s?state=bye", resp.StatusCode, loc, webappBye)
	}
	a := webapp.Start(oauth2.SetAuthURLParam("prompt", "none"))
	after, _ := s.Navigate(t, c, a.URL, "")
	oauthtest.ErrorFrom(t, after, webappCB, a.State, "login_required")
}

// TestIDPConfigErrors checks that configuration mistakes are caught, with
// a message naming what to fix.
func TestIDPConfigErrors(t *testing.T) {
	pool := func(opts string) string {
		return `{
	gatehouse {
		pool default {
			store sqlite ` + filepath.Join(t.TempDir(), "gh.db") + `
			` + opts + `
		}
	}
}
http://127.0.0.1:1 {
	gatehouse_idp
}
`
	}
	const iss = "issuer https://auth.example.test\n"
	for _, tc := range []struct{ name, caddyfile, want string }{
		{"public client with a secret", pool(iss + "client a {\npublic\nsecret abcdefghijklmnopq\nredirect_uri https://a.test/cb\n}"), "public client has no secret"},
		{"confidential client without a secret", pool(iss + "client a {\nredirect_uri https://a.test/cb\n}"), "secret: required"},
		{"no redirect_uri", pool(iss + "client a {\npublic\n}"), "redirect_uri: at least one"},
		{"redirect_uri with a fragment", pool(iss + "client a {\npublic\nredirect_uri https://a.test/cb#x\n}"), "fragment"},
		{"relative redirect_uri", pool(iss + "client a {\npublic\nredirect_uri /cb\n}"), "absolute"},
		{"unknown option", pool(iss + "client a {\npublic\nredirect_uri https://a.test/cb\ncolour blue\n}"), `unrecognized option "colour"`},
		{"bad signing_alg", pool(iss + "client a {\npublic\nredirect_uri https://a.test/cb\nsigning_alg HS256\n}"), "signing_alg"},
		{"unknown grant", pool(iss + "client a {\npublic\nredirect_uri https://a.test/cb\ngrant_types implicit\n}"), "unknown grant type"},
		{"public machine client", pool(iss + "client a {\npublic\ngrant_types client_credentials\n}"), "confidential"},
		{"token ttl too long", pool(iss + "client a {\npublic\nredirect_uri https://a.test/cb\naccess_token_ttl 48h\n}"), "access_token_ttl"},
		{"client defined twice", pool(iss + "client a {\npublic\nredirect_uri https://a.test/cb\n}\nclient a {\npublic\nredirect_uri https://a.test/cb\n}"), "defined twice"},
		{"clients without an issuer", pool("client a {\npublic\nredirect_uri https://a.test/cb\n}"), "needs an issuer"},
		{"key_rotation too short", pool(iss + "key_rotation 5m"), "key_rotation"},
		{"key_rotation not a duration", pool(iss + "key_rotation soon"), "key_rotation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := caddyconfigAdapt(tc.caddyfile)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("adapt error %v, want one containing %q", err, tc.want)
			}
		})
	}

	t.Run("gatehouse_idp needs the pool's issuer", func(t *testing.T) {
		out := testenv.Adapt(t, pool(""))
		err := caddyValidate(out)
		if err == nil || !strings.Contains(err.Error(), "has no issuer") {
			t.Fatalf("provision error %v, want one saying the pool has no issuer", err)
		}
	})
	t.Run("secret placeholder that is not set", func(t *testing.T) {
		out := testenv.Adapt(t, pool(iss+"client a {\nsecret {env.GATEHOUSE_TEST_UNSET_SECRET}\nredirect_uri https://a.test/cb\n}"))
		err := caddyValidate(out)
		if err == nil || !strings.Contains(err.Error(), "is the variable set") {
			t.Fatalf("provision error %v, want one about the unset secret", err)
		}
	})
}

func caddyconfigAdapt(text string) ([]byte, []caddyconfig.Warning, error) {
	return caddyconfig.GetAdapter("caddyfile").Adapt([]byte(text), map[string]any{"filename": "Caddyfile"})
}

// caddyValidate provisions a config without starting it, as `caddy
// validate` does.
func caddyValidate(cfgJSON []byte) error {
	var cfg caddy.Config
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		return err
	}
	return caddy.Validate(&cfg)
}
