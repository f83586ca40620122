package cli_test

import (
	"bytes"
	"errors"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/oidc"
	"github.com/gatehouse-auth/gatehouse/store"
)

// clientJSON is a client's `--json` output, decoded strictly so new fields
// are noticed.
type clientJSON struct {
	ClientID               string    `json:"client_id"`
	Name                   string    `json:"name"`
	Public                 bool      `json:"public"`
	RedirectURIs           []string  `json:"redirect_uris"`
	PostLogoutRedirectURIs []string  `json:"post_logout_redirect_uris"`
	Scopes                 []string  `json:"scopes"`
	GrantTypes             []string  `json:"grant_types"`
	IDTokenTTL             string    `json:"id_token_ttl"`
	AccessTokenTTL         string    `json:"access_token_ttl"`
	RefreshTokenTTL        string    `json:"refresh_token_ttl"`
	RefreshTokenRotation   string    `json:"refresh_token_rotation"`
	RefreshTokenGrace      string    `json:"refresh_token_grace"`
	Secret                 string    `json:"secret,omitempty"`
	CreatedAt              time.Time `json:"created_at"`
}

// createdJSON is `clients create --json`: the client and, for a
// confidential one, its secret.
type createdJSON struct {
	clientJSON
	ClientSecret string `json:"client_secret"`
}

var createdConfidential = regexp.MustCompile(`^created confidential client (\S+)\nclient_secret: (\S+)\nThis secret is shown only now; Gatehouse keeps a hash of it and the secret sealed\.\n$`)

// createClient makes a confidential client through the CLI and returns the
// secret it printed, which no later output may contain.
func (e *env) createClient(id string, extra ...string) string {
	e.t.Helper()
	out := e.ok(append([]string{"clients", "create", "--id", id}, extra...)...)
	m := createdConfidential.FindStringSubmatch(out)
	if m == nil || m[1] != id {
		e.t.Fatalf("create printed %q, want the confidential client %s and its secret", out, id)
	}
	e.secrets = append(e.secrets, m[2])
	return m[2]
}

// storedClient reads a client straight from the pool's store.
func (e *env) storedClient(id string) *store.Client {
	e.t.Helper()
	c, err := e.openPool().Store().ClientByID(e.t.Context(), id)
	if err != nil {
		e.t.Fatalf("ClientByID(%s): %v", id, err)
	}
	return c
}

// noHash checks that output shows nothing of a stored secret hash.
func noHash(t *testing.T, what, out string, c *store.Client) {
	t.Helper()
	if strings.Contains(out, "sha256:") || (c.SecretHash != "" && strings.Contains(out, strings.TrimPrefix(c.SecretHash, "sha256:"))) {
		t.Errorf("%s shows the secret hash:\n%s", what, out)
	}
}

func TestClientsCreateConfidential(t *testing.T) {
	e := newEnv(t, "")
	before := time.Now().Add(-time.Second)
	secret := e.createClient("webapp", "--name", "Web App",
		"--redirect-uri", "https://app.example.com/cb", "--redirect-uri", "http://localhost:8080/cb?a=1,2")

	if len(secret) != 43 {
		t.Errorf("secret %q has %d characters, want 43 (32 bytes base64url)", secret, len(secret))
	}
	c := e.storedClient("webapp")
	if !oidc.VerifyClientSecret(c.SecretHash, secret) {
		t.Errorf("stored hash %q does not verify the printed secret", c.SecretHash)
	}
	if c.SecretHash != oidc.HashClientSecret(secret) {
		t.Errorf("stored hash %q, want HashClientSecret of the secret", c.SecretHash)
	}
	if oidc.VerifyClientSecret(c.SecretHash, oidc.NewClientSecret()) {
		t.Error("stored hash verifies another secret")
	}
	if strings.Contains(c.SecretHash, secret) {
		t.Error("the secret is stored in the clear")
	}
	// Sealed too, for the Cognito API's SECRET_HASH: the pool opens it,
	// for this client only.
	if opened, err := e.openPool().OpenClientSecret(t.Context(), "webapp", c.SecretSealed); err != nil || opened != secret {
		t.Errorf("sealed secret opens to %q, %v; want the printed secret", opened, err)
	}
	if _, err := e.openPool().OpenClientSecret(t.Context(), "other", c.SecretSealed); err == nil {
		t.Error("the sealed secret opens for another client id")
	}
	if bytes.Contains(c.SecretSealed, []byte(secret)) {
		t.Error("the sealed secret holds it in the clear")
	}
	want := store.Client{
		ID: "webapp", Name: "Web App", SecretHash: c.SecretHash, SecretSealed: c.SecretSealed,
		RedirectURIs:           []string{"https://app.example.com/cb", "http://localhost:8080/cb?a=1,2"},
		PostLogoutRedirectURIs: []string{},
		Scopes:                 []string{"openid", "email", "profile"},
		GrantTypes:             []string{"authorization_code", "refresh_token"},
		IDTokenTTL:             time.Hour, AccessTokenTTL: time.Hour, RefreshTokenTTL: 720 * time.Hour,
		CreatedAt: c.CreatedAt,
	}
	if !reflect.DeepEqual(*c, want) {
		t.Errorf("stored client = %+v\nwant %+v", *c, want)
	}
	if c.CreatedAt.Before(before) || c.CreatedAt.After(time.Now()) {
		t.Errorf("created_at %v is not the time of creation", c.CreatedAt)
	}

	// The secret never shows again (e.run checks every output for it), nor
	// does its hash.
	for _, args := range [][]string{
		{"clients", "list"}, {"clients", "list", "--json"},
		{"clients", "show", "--id", "webapp"}, {"clients", "show", "--id", "webapp", "--json"},
	} {
		out := e.ok(args...)
		if !strings.Contains(out, "webapp") {
			t.Errorf("%v does not show the client:\n%s", args, out)
		}
		noHash(t, strings.Join(args, " "), out, c)
	}

	// --json: the same client, with the secret in "client_secret".
	out := e.ok("clients", "create", "--id", "api", "--json", "--redirect-uri", "https://api.example.com/cb",
		"--grant-type", "authorization_code,client_credentials")
	var got createdJSON
	decodeStrict(t, out, &got)
	e.secrets = append(e.secrets, got.ClientSecret)
	if strings.Count(out, got.ClientSecret) != 1 || !strings.Contains(out, `"client_secret": "`+got.ClientSecret+`"`) {
		t.Errorf("create --json does not print the secret once as client_secret:\n%s", out)
	}
	api := e.storedClient("api")
	if got.ClientSecret == "" || !oidc.VerifyClientSecret(api.SecretHash, got.ClientSecret) {
		t.Errorf("create --json secret %q does not verify against the stored hash", got.ClientSecret)
	}
	if got.ClientSecret == secret {
		t.Error("two clients got the same secret")
	}
	noHash(t, "create --json", out, api)
	if got.ClientID != "api" || got.Public || !slices.Equal(got.GrantTypes, []string{"authorization_code", "client_credentials"}) ||
		got.IDTokenTTL != "1h0m0s" || got.RefreshTokenTTL != "720h0m0s" || got.CreatedAt.IsZero() {
		t.Errorf("create --json = %+v", got.clientJSON)
	}

	// A client_credentials-only client needs no redirect URI.
	e.createClient("batch", "--grant-type", "client_credentials")
	if c := e.storedClient("batch"); !slices.Equal(c.GrantTypes, []string{"client_credentials"}) || len(c.RedirectURIs) != 0 {
		t.Errorf("client_credentials client = %+v", c)
	}
}

func TestClientsCreatePublic(t *testing.T) {
	e := newEnv(t, "")
	out := e.ok("clients", "create", "--id", "spa", "--public", "--name", "Single Page",
		"--redirect-uri", "https://spa.example.com/cb",
		"--post-logout-redirect-uri", "https://spa.example.com/", "--post-logout-redirect-uri", "http://[::1]:3000/",
		"--scope", "openid", "--scope", "offline_access,custom:read",
		"--grant-type", "authorization_code", "--grant-type", "refresh_token",
		"--id-token-ttl", "5m", "--access-token-ttl", "90s", "--refresh-token-ttl", "24h")
	if out != "created public client spa (no secret)\n" {
		t.Errorf("create --public printed %q", out)
	}
	c := e.storedClient("spa")
	want := store.Client{
		ID: "spa", Name: "Single Page", Public: true,
		RedirectURIs:           []string{"https://spa.example.com/cb"},
		PostLogoutRedirectURIs: []string{"https://spa.example.com/", "http://[::1]:3000/"},
		Scopes:                 []string{"openid", "offline_access", "custom:read"},
		GrantTypes:             []string{"authorization_code", "refresh_token"},
		IDTokenTTL:             5 * time.Minute, AccessTokenTTL: 90 * time.Second, RefreshTokenTTL: 24 * time.Hour,
		CreatedAt: c.CreatedAt,
	}
	if !reflect.DeepEqual(*c, want) {
		t.Errorf("stored client = %+v\nwant %+v", *c, want)
	}

	out = e.ok("clients", "create", "--id", "native", "--public", "--redirect-uri", "http://127.0.0.1/cb", "--json")
	if strings.Contains(out, "client_secret") {
		t.Errorf("create --public --json has a client_secret:\n%s", out)
	}
	var got createdJSON
	decodeStrict(t, out, &got)
	if !got.Public || got.ClientID != "native" || !slices.Equal(got.Scopes, []string{"openid", "email", "profile"}) {
		t.Errorf("create --public --json = %+v", got)
	}
	if c := e.storedClient("native"); c.SecretHash != "" || !c.Public {
		t.Errorf("public client stored with secret hash %q, public %t", c.SecretHash, c.Public)
	}
}

func TestClientsCreateFailures(t *testing.T) {
	e := newEnv(t, "")
	secret := e.createClient("webapp", "--redirect-uri", "https://app.example.com/cb")
	orig := e.storedClient("webapp")
	cb := []string{"--redirect-uri", "https://x.example.com/cb"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"duplicate", append([]string{"--id", "webapp"}, cb...), "a client with this id already exists: webapp"},
		{"duplicate public", append([]string{"--id", "webapp", "--public"}, cb...), "a client with this id already exists: webapp"},
		{"no id", cb, `"id" not set`},
		{"bad id", append([]string{"--id", "web app"}, cb...), `--id "web app": client ids are`},
		{"id with colon", append([]string{"--id", "a:b"}, cb...), `--id "a:b"`},
		{"no redirect uri", []string{"--id", "x"}, "at least one --redirect-uri is required"},
		{"public client_credentials", append([]string{"--id", "x", "--public", "--grant-type", "authorization_code,client_credentials"}, cb...), "a public client has no secret"},
		{"unknown grant", append([]string{"--id", "x", "--grant-type", "implicit"}, cb...), `--grant-type "implicit": must be one of`},
		{"refresh without code", []string{"--id", "x", "--grant-type", "refresh_token,client_credentials"}, "refresh tokens are only issued with authorization_code"},
		{"bad scope", append([]string{"--id", "x", "--scope", `a\b`}, cb...), `--scope "a\\b": not a valid scope name`},
		{"zero ttl", append([]string{"--id", "x", "--access-token-ttl", "0s"}, cb...), "--access-token-ttl 0s: must be more than 0"},
		{"negative ttl", append([]string{"--id", "x", "--refresh-token-ttl", "-1h"}, cb...), "--refresh-token-ttl -1h0m0s: must be more than 0"},
		{"bad ttl", append([]string{"--id", "x", "--id-token-ttl", "soon"}, cb...), `invalid argument "soon"`},
		{"bad rotation", append([]string{"--id", "x", "--refresh-token-rotation", "sometimes"}, cb...), `--refresh-token-rotation "sometimes": must be on or off`},
		{"grace with rotation off", append([]string{"--id", "x", "--refresh-token-rotation", "off", "--refresh-token-grace", "5s"}, cb...), "--refresh-token-grace: only with --refresh-token-rotation on"},
		{"grace too long", append([]string{"--id", "x", "--refresh-token-grace", "2m"}, cb...), "--refresh-token-grace 2m0s: must be from 0 (none) to 1m0s"},
		{"negative grace", append([]string{"--id", "x", "--refresh-token-grace", "-1s"}, cb...), "--refresh-token-grace -1s: must be from 0"},
		{"stray argument", append([]string{"--id", "x", "extra"}, cb...), `unexpected argument "extra"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.on(t)
			r := e.gh(append([]string{"clients", "create"}, tc.args...)...)
			e.fails(r, tc.want)
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
		})
	}
	// None of the failures added a client or touched the existing one.
	var clients []clientJSON
	decodeStrict(t, e.ok("clients", "list", "--json"), &clients)
	if len(clients) != 1 || clients[0].ClientID != "webapp" {
		t.Errorf("clients after failed creates: %+v, want only webapp", clients)
	}
	if c := e.storedClient("webapp"); !reflect.DeepEqual(c, orig) || !oidc.VerifyClientSecret(c.SecretHash, secret) {
		t.Errorf("webapp changed by a failed create: %+v", c)
	}
}

func TestClientsRedirectURIValidation(t *testing.T) {
	e := newEnv(t, "")
	for _, tc := range []struct {
		uri, want string // want empty: accepted
	}{
		{"https://app.example.com/cb", ""},
		{"https://app.example.com:8443/cb?x=1&y=2", ""},
		{"http://localhost/cb", ""},
		{"http://localhost:3000/cb", ""},
		{"http://127.0.0.1:8400/cb", ""},
		{"http://[::1]:8080/cb", ""},
		{"", "must be an absolute http or https URL"},
		{"/cb", "must be an absolute http or https URL"},
		{"app.example.com/cb", "must be an absolute http or https URL"},
		{"ftp://app.example.com/cb", "must be an absolute http or https URL"},
		{"myapp://callback", "must be an absolute http or https URL"},
		{"javascript:alert(1)", "must be an absolute http or https URL"},
		{"https:app.example.com/cb", "must be an absolute http or https URL with a host"},
		{"https:///cb", "must be an absolute http or https URL with a host"},
		{"https://app.example.com/cb#frag", "must not have a fragment"},
		{"https://app.example.com/cb#", "must not have a fragment"},
		{"https://user:pw@app.example.com/cb", "must not carry a user name or password"},
		{"https://app.example.com/a b", "must not contain spaces"},
		{"https://app.example.com/%zz", "not a URL"},
		{"http://app.example.com/cb", "http is only allowed for localhost"},
		{"http://localhost.evil.example/cb", "http is only allowed for localhost"},
		{"http://127.0.0.2/cb", "http is only allowed for localhost"},
		{"http://[::2]/cb", "http is only allowed for localhost"},
		{"http://0.0.0.0/cb", "http is only allowed for localhost"},
	} {
		for _, flag := range []string{"--redirect-uri", "--post-logout-redirect-uri"} {
			t.Run(flag+" "+tc.uri, func(t *testing.T) {
				e := e.on(t)
				args := []string{"clients", "create", "--id", "c", "--public", "--redirect-uri", "https://ok.example.com/cb"}
				if flag == "--redirect-uri" {
					args = []string{"clients", "create", "--id", "c", "--public"}
				}
				r := e.gh(append(args, flag, tc.uri)...)
				if tc.want == "" {
					if r.code != 0 {
						t.Fatalf("%s %q refused: %s", flag, tc.uri, r.stderr)
					}
					e.ok("clients", "delete", "--id", "c")
					return
				}
				e.fails(r, flag+` "`+tc.uri+`": `+tc.want)
			})
		}
	}
	if out := e.ok("clients", "list", "--json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("clients left behind: %s", out)
	}
}

func TestClientsListShowDelete(t *testing.T) {
	e := newEnv(t, "")
	if out := e.ok("clients", "list", "--json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("list --json of no clients = %q, want []", out)
	}
	e.createClient("web", "--name", "Web App", "--redirect-uri", "https://web.example.com/cb",
		"--redirect-uri", "https://web.example.com/cb2", "--post-logout-redirect-uri", "https://web.example.com/")
	e.ok("clients", "create", "--id", "Mobile", "--public", "--redirect-uri", "http://127.0.0.1/cb")
	e.createClient("api", "--grant-type", "client_credentials", "--scope", "read,write")

	lines := strings.Split(strings.TrimRight(e.ok("clients", "list"), "\n"), "\n")
	if got := strings.Fields(lines[0]); !slices.Equal(got, []string{"CLIENT_ID", "TYPE", "GRANT_TYPES", "REDIRECT_URIS", "CREATED", "NAME"}) {
		t.Errorf("header = %q", lines[0])
	}
	wantRows := [][]string{ // byte order: upper case first
		{"Mobile", "public", "authorization_code,refresh_token", "http://127.0.0.1/cb"},
		{"api", "confidential", "client_credentials", "-"},
		{"web", "confidential", "authorization_code,refresh_token", "https://web.example.com/cb,https://web.example.com/cb2"},
	}
	if len(lines) != 1+len(wantRows) {
		t.Fatalf("list printed %d lines, want %d:\n%s", len(lines), 1+len(wantRows), strings.Join(lines, "\n"))
	}
	col := strings.Index(lines[0], "TYPE")
	for i, want := range wantRows {
		got := strings.Fields(lines[i+1])
		if len(got) < 6 || !slices.Equal(got[:4], want) {
			t.Errorf("row %d = %q, want %q + created + name", i, got, want)
		}
		if strings.Index(lines[i+1], want[1]) != col {
			t.Errorf("row %d is not aligned with the header:\n%s\n%s", i, lines[0], lines[i+1])
		}
	}
	if !strings.HasSuffix(lines[3], "Web App") || !strings.HasSuffix(lines[1], "-") {
		t.Errorf("names not last:\n%s", strings.Join(lines, "\n"))
	}

	var list []clientJSON
	decodeStrict(t, e.ok("clients", "list", "--json"), &list)
	var ids []string
	for _, c := range list {
		ids = append(ids, c.ClientID)
	}
	if !slices.Equal(ids, []string{"Mobile", "api", "web"}) {
		t.Errorf("list --json ids = %q", ids)
	}

	text := e.ok("clients", "show", "--id", "web")
	for _, line := range []string{
		`client_id:\s+web`,
		`name:\s+Web App`,
		`type:\s+confidential`,
		`redirect_uris:\s+https://web\.example\.com/cb, https://web\.example\.com/cb2`,
		`post_logout_redirect_uris:\s+https://web\.example\.com/`,
		`scopes:\s+openid email profile`,
		`grant_types:\s+authorization_code, refresh_token`,
		`id_token_ttl:\s+1h0m0s`,
		`access_token_ttl:\s+1h0m0s`,
		`refresh_token_ttl:\s+720h0m0s`,
		`refresh_token_rotation:\s+on`,
		`refresh_token_grace:\s+10s`,
		`secret:\s+sealed`,
		`created_at:\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`,
	} {
		if !regexp.MustCompile(`(?m)^` + line + `$`).MatchString(text) {
			t.Errorf("show output has no line matching %q:\n%s", line, text)
		}
	}
	var shown clientJSON
	decodeStrict(t, e.ok("clients", "show", "--id", "web", "--json"), &shown)
	wantShown := clientJSON{ClientID: "web", Name: "Web App",
		RedirectURIs:           []string{"https://web.example.com/cb", "https://web.example.com/cb2"},
		PostLogoutRedirectURIs: []string{"https://web.example.com/"},
		Scopes:                 []string{"openid", "email", "profile"},
		GrantTypes:             []string{"authorization_code", "refresh_token"},
		IDTokenTTL:             "1h0m0s", AccessTokenTTL: "1h0m0s", RefreshTokenTTL: "720h0m0s",
		RefreshTokenRotation: "on", RefreshTokenGrace: "10s", Secret: "sealed",
		CreatedAt: shown.CreatedAt}
	if !reflect.DeepEqual(shown, wantShown) || !shown.CreatedAt.Equal(list[2].CreatedAt) {
		t.Errorf("show --json = %+v\nwant %+v", shown, wantShown)
	}

	// Delete takes the client's refresh tokens with it.
	st := e.openPool().Store()
	ctx := t.Context()
	rt := store.RefreshToken{Hash: "rt", FamilyID: "f", ClientID: "web", UserID: "u", Expires: time.Now().Add(time.Hour)}
	if err := st.SaveRefreshToken(ctx, rt); err != nil {
		t.Fatal(err)
	}
	if out := e.ok("clients", "delete", "--id", "web"); out != "deleted client web; its refresh tokens are revoked\n" {
		t.Errorf("delete printed %q", out)
	}
	if _, err := st.RefreshTokenByHash(ctx, "rt", time.Now()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("refresh token of the deleted client: %v, want ErrNotFound", err)
	}
	e.fails(e.gh("clients", "show", "--id", "web"), "no such client: web")
	e.fails(e.gh("clients", "delete", "--id", "web"), "no such client: web")

	var d struct {
		Deleted bool `json:"deleted"`
		clientJSON
	}
	decodeStrict(t, e.ok("clients", "delete", "--id", "api", "--json"), &d)
	if !d.Deleted || d.ClientID != "api" || !slices.Equal(d.Scopes, []string{"read", "write"}) {
		t.Errorf("delete --json = %+v", d)
	}
	decodeStrict(t, e.ok("clients", "list", "--json"), &list)
	if len(list) != 1 || list[0].ClientID != "Mobile" {
		t.Errorf("clients after deletes: %+v, want only Mobile", list)
	}
	// The id is free again, with a new secret.
	e.createClient("web", "--redirect-uri", "https://web.example.com/cb")
}

func TestClientsUnknown(t *testing.T) {
	e := newEnv(t, "")
	e.createClient("webapp", "--redirect-uri", "https://app.example.com/cb")
	for _, cmd := range []string{"show", "delete"} {
		t.Run(cmd, func(t *testing.T) {
			e := e.on(t)
			e.fails(e.gh("clients", cmd, "--id", "ghost"), "no such client: ghost")
			e.fails(e.gh("clients", cmd, "--id", "WEBAPP"), "no such client: WEBAPP")
			e.fails(e.gh("clients", cmd, "--id", "a b"), `--id "a b": client ids are`)
			e.fails(e.gh("clients", cmd), `"id" not set`)
		})
	}
	e.fails(e.run("", "clients", "frobnicate"), `unknown command "frobnicate"`)
	e.storedClient("webapp") // still there
}

// TestClientsCreateRotation: --refresh-token-rotation and
// --refresh-token-grace are stored as the provider reads them, and shown as
// it applies them.
func TestClientsCreateRotation(t *testing.T) {
	e := newEnv(t, "")
	cb := "--redirect-uri=https://x.example.com/cb"
	e.ok("clients", "create", "--id", "cognito", cb, "--refresh-token-rotation", "off")
	e.ok("clients", "create", "--id", "strict", cb, "--refresh-token-rotation", "on", "--refresh-token-grace", "0s")
	e.ok("clients", "create", "--id", "slow", cb, "--refresh-token-grace", "30s")
	for _, tc := range []struct {
		id, rotation string
		grace        time.Duration
		shown        [2]string
	}{
		{"cognito", "off", 0, [2]string{"off", "0s"}},
		{"strict", "on", -1, [2]string{"on", "0s"}},
		{"slow", "", 30 * time.Second, [2]string{"on", "30s"}},
	} {
		c := e.storedClient(tc.id)
		if c.RefreshTokenRotation != tc.rotation || c.RefreshTokenGrace != tc.grace {
			t.Errorf("%s stored with rotation %q grace %v, want %q %v", tc.id, c.RefreshTokenRotation, c.RefreshTokenGrace, tc.rotation, tc.grace)
		}
		var shown clientJSON
		decodeStrict(t, e.ok("clients", "show", "--id", tc.id, "--json"), &shown)
		if shown.RefreshTokenRotation != tc.shown[0] || shown.RefreshTokenGrace != tc.shown[1] {
			t.Errorf("%s shown with rotation %q grace %q, want %q %q", tc.id, shown.RefreshTokenRotation, shown.RefreshTokenGrace, tc.shown[0], tc.shown[1])
		}
	}
}

// TestClientsRotateSecret: rotate-secret prints a new secret once, keeps it
// hashed and sealed, and the old one stops verifying; a digest-only client
// (stored before sealing) becomes sealed; a public client is refused.
func TestClientsRotateSecret(t *testing.T) {
	e := newEnv(t, "")
	old := e.createClient("webapp", "--redirect-uri", "https://app.example.com/cb")
	// As a client stored before secrets were sealed.
	if err := e.openPool().Store().SetClientSecret(t.Context(), "webapp", oidc.HashClientSecret(old), nil); err != nil {
		t.Fatal(err)
	}
	if out := e.ok("clients", "show", "--id", "webapp"); !strings.Contains(out, "secret:") || !strings.Contains(out, "digest") {
		t.Errorf("show of a digest-only client:\n%s", out)
	}
	out := e.ok("clients", "rotate-secret", "--id", "webapp")
	m := regexp.MustCompile(`^new secret for client webapp\nclient_secret: (\S+)\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("rotate-secret printed %q", out)
	}
	e.secrets = append(e.secrets, m[1])
	c := e.storedClient("webapp")
	if !oidc.VerifyClientSecret(c.SecretHash, m[1]) || oidc.VerifyClientSecret(c.SecretHash, old) {
		t.Error("after rotation the hash does not verify the new secret alone")
	}
	if opened, err := e.openPool().OpenClientSecret(t.Context(), "webapp", c.SecretSealed); err != nil || opened != m[1] {
		t.Errorf("sealed secret after rotation: %q, %v", opened, err)
	}
	if out := e.ok("clients", "show", "--id", "webapp", "--json"); !strings.Contains(out, `"secret": "sealed"`) {
		t.Errorf("show --json after rotation:\n%s", out)
	}
	e.ok("clients", "create", "--id", "spa", "--public", "--redirect-uri", "https://spa.example.com/cb")
	if r := e.gh("clients", "rotate-secret", "--id", "spa"); r.code == 0 || !strings.Contains(r.stderr, "public") {
		t.Errorf("rotate-secret of a public client: %+v", r)
	}
	if r := e.gh("clients", "rotate-secret", "--id", "nobody"); r.code == 0 || !strings.Contains(r.stderr, "no such client") {
		t.Errorf("rotate-secret of an unknown client: %+v", r)
	}
}
