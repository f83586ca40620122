package module_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/internal/testenv/web"
	"github.com/gatehouse-auth/gatehouse/module"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// The federation tests: a pool whose users sign in at a real outside
// OpenID provider (oidc-provider, testdata/oidc-provider/federation.mjs)
// through the generic `oidc` kind, on a gateway site and on the issuer
// site, driven hop by hop as a browser would.

const (
	fedClientID = "gatehouse-fed"
	fedSecret   = "federation client secret 0123456789"
	fedPassword = "correct horse" // every account's at the provider
	fedAppID    = "fedapp"
	fedAppKey   = "fedapp-secret-0123456789abcdef"
)

// fedEnv is one running deployment: the provider, Caddy with a gateway site
// ("app") and the issuer site, and the pool opened as the CLI would.
type fedEnv struct {
	op       *oidcProvider
	app, idp string
	appCB    string // the app client's redirect URI (nothing listens there)
	upstream *testenv.Upstream
	pool     *module.Pool
	node     string
	root     string
}

func startFederation(t *testing.T) *fedEnv {
	t.Helper()
	node, root := opPrereqs(t)
	dir := t.TempDir()
	opPort, appPort, idpPort := testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)
	e := &fedEnv{
		app: fmt.Sprintf("http://127.0.0.1:%d", appPort), idp: fmt.Sprintf("http://127.0.0.1:%d", idpPort),
		upstream: testenv.StartUpstream(t), node: node, root: root,
	}
	e.appCB = e.app + "/app/callback"
	e.op = &oidcProvider{
		t: t, node: node, port: opPort, issuer: fmt.Sprintf("http://127.0.0.1:%d", opPort),
		script: filepath.Join(root, "module", "testdata", "oidc-provider", "federation.mjs"),
		env: append(os.Environ(), fmt.Sprintf("OP_PORT=%d", opPort), "OP_CLIENT_ID="+fedClientID, "OP_CLIENT_SECRET="+fedSecret,
			"OP_REDIRECT_URIS="+e.app+"/_gatehouse/oauth2/idpresponse,"+e.idp+"/oauth2/idpresponse"),
	}
	t.Cleanup(e.op.stop)
	e.op.start()
	t.Setenv("GATEHOUSE_FED_SECRET", fedSecret)
	text := fmt.Sprintf(`{
	default_bind 127.0.0.1
	gatehouse {
		pool default {
			store sqlite %s
			issuer %s
			display_name "Federated Corp"
			signup off
			revocation_refresh 100ms
			%s
			idp corp oidc {
				issuer %s
				client_id %s
				client_secret {env.GATEHOUSE_FED_SECRET}
				display_name "Corp SSO"
				domains acme.example
				link_by_email
			}
			idp corppost oidc {
				issuer %s
				client_id %s
				client_secret {env.GATEHOUSE_FED_SECRET}
				display_name "Corp (form post)"
				response_mode form_post
			}
			idp corpinvite oidc {
				issuer %s
				client_id %s
				client_secret {env.GATEHOUSE_FED_SECRET}
				display_name "Corp (existing accounts only)"
				create_users off
			}
			client %s {
				redirect_uri %s
				secret %s
				scopes openid email profile
			}
		}
	}
}

%s {
	gatehouse {
		pool default
	}
	reverse_proxy %s
}

%s {
	gatehouse_idp
}
`, filepath.Join(dir, "gatehouse.db"), e.idp, testenv.FastHash, e.op.issuer, fedClientID, e.op.issuer, fedClientID,
		e.op.issuer, fedClientID, fedAppID, e.appCB, fedAppKey, e.app, e.upstream.Addr(), e.idp)
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	testenv.StartCaddy(t, text)
	testenv.WaitHTTP(t, e.app+"/_gatehouse/static/gatehouse.css", 10*time.Second)
	testenv.WaitHTTP(t, e.idp+"/_gatehouse/static/gatehouse.css", 10*time.Second)
	e.pool = openPoolFile(t, file)
	return e
}

// fedCallback is how the provider sends the browser back: a GET to URL, or
// (form_post) a POST of Form to URL.
type fedCallback struct {
	Method string
	URL    string
	Form   url.Values
}

var (
	opLoginForm  = regexp.MustCompile(`<form method="post" action="(/interaction/[^"]+/login)"`)
	opCancelLink = regexp.MustCompile(`href="(/interaction/[^"]+/abort)"`)
	opPostForm   = regexp.MustCompile(`(?s)<form method="post" action="([^"]+)"`)
	opPostInput  = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"`)
)

// atProvider plays the user at the provider from authURL: signs in as login
// (or, with login "", cancels) and returns how the provider sends the
// browser back.
func (e *fedEnv) atProvider(t *testing.T, c *http.Client, authURL, login string) fedCallback {
	t.Helper()
	if !strings.HasPrefix(authURL, e.op.issuer+"/") {
		t.Fatalf("not sent to the provider: %q", authURL)
	}
	next, method, form := authURL, http.MethodGet, url.Values(nil)
	for hop := 0; hop < 12; hop++ {
		var req *http.Request
		var err error
		if form != nil {
			req, err = http.NewRequest(method, next, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req, err = http.NewRequest(method, next, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		resp, page := do(t, c, req)
		method, form = http.MethodGet, nil
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			loc, err := req.URL.Parse(resp.Header.Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(loc.String(), e.op.issuer+"/") {
				return fedCallback{Method: http.MethodGet, URL: loc.String()}
			}
			next = loc.String()
		case resp.StatusCode == http.StatusOK && opLoginForm.MatchString(page):
			if login == "" {
				next = e.op.issuer + opCancelLink.FindStringSubmatch(page)[1]
				continue
			}
			next, method = e.op.issuer+opLoginForm.FindStringSubmatch(page)[1], http.MethodPost
			form = url.Values{"login": {login}, "password": {fedPassword}}
		case resp.StatusCode == http.StatusOK && opPostForm.MatchString(page):
			cb := fedCallback{Method: http.MethodPost, URL: html.UnescapeString(opPostForm.FindStringSubmatch(page)[1]), Form: url.Values{}}
			for _, m := range opPostInput.FindAllStringSubmatch(page, -1) {
				cb.Form.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
			}
			return cb
		default:
			t.Fatalf("at the provider, %s %s: status %d:\n%s\nprovider log:\n%s", req.Method, req.URL, resp.StatusCode, page, e.op.output())
		}
	}
	t.Fatal("no way back from the provider after 12 hops")
	return fedCallback{}
}

// deliver sends the provider's answer with c.
func deliver(t *testing.T, c *http.Client, cb fedCallback) (*http.Response, string) {
	t.Helper()
	if cb.Method == http.MethodGet {
		return get(t, c, cb.URL, nil)
	}
	req, err := http.NewRequest(http.MethodPost, cb.URL, strings.NewReader(cb.Form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "null") // a cross-site form_post from the provider's page
	return do(t, c, req)
}

// startAt follows a start link of the hosted pages (a button) to the
// provider: it returns the provider's authorization URL.
func startAt(t *testing.T, c *http.Client, startURL string) string {
	t.Helper()
	resp, body := get(t, c, startURL, nil)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("start %s: status %d, want 302 to the provider:\n%s", startURL, resp.StatusCode, body)
	}
	return resp.Header.Get("Location")
}

var buttonLink = regexp.MustCompile(`id="idp-([a-z]+)" href="([^"]+)"`)

// buttons returns the provider buttons' links on a hosted page, by name.
func buttons(t *testing.T, c *http.Client, pageURL string) map[string]string {
	t.Helper()
	resp, body := get(t, c, pageURL, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: status %d", pageURL, resp.StatusCode)
	}
	out := map[string]string{}
	for _, m := range buttonLink.FindAllStringSubmatch(body, -1) {
		out[m[1]] = html.UnescapeString(m[2])
	}
	return out
}

// fedUser returns the pool user a provider's subject is linked to.
func (e *fedEnv) fedUser(t *testing.T, provider, subject string) *store.User {
	t.Helper()
	u, err := e.identities(t).UserByIdentity(context.Background(), provider, subject)
	if err != nil {
		t.Fatalf("no user for %s/%s: %v", provider, subject, err)
	}
	return u
}

// identities is the pool's store of linked identities.
func (e *fedEnv) identities(t *testing.T) store.IdentityStore {
	t.Helper()
	is, ok := e.pool.Store.(store.IdentityStore)
	if !ok {
		t.Fatalf("the store %T keeps no identities", e.pool.Store)
	}
	return is
}

// signedInAs asks the app site for a private page with c and returns the
// user id the upstream was told (X-Auth-Request-User), "" when c is sent to
// sign in instead.
func (e *fedEnv) signedInAs(t *testing.T, c *http.Client) string {
	t.Helper()
	resp, _ := get(t, c, e.app+"/private/whoami", nil)
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	return e.upstream.Last().Header.Get("X-Auth-Request-User")
}

// federationFailures counts the pool's federation_failed events with reason.
func (e *fedEnv) federationFailures(t *testing.T, reason string) int {
	t.Helper()
	events, err := e.pool.Store.AuditEvents(context.Background(), store.AuditQuery{Types: []string{pool.AuditFederationFailed}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range events {
		if ev.Detail["reason"] == reason {
			n++
		}
	}
	return n
}

func TestFederation(t *testing.T) {
	e := startFederation(t)
	ctx := context.Background()

	t.Run("button to the provider and back to the page first asked for", func(t *testing.T) {
		c := testenv.Browser(t)
		resp, _ := get(t, c, e.app+"/private/report?y=2026", nil)
		signin := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(signin, "/_gatehouse/signin?") {
			t.Fatalf("private page: %d to %q, want the sign-in page", resp.StatusCode, signin)
		}
		links := buttons(t, c, e.app+signin)
		start, ok := links["corp"]
		if !ok || links["corppost"] == "" {
			t.Fatalf("sign-in page buttons %v, want corp and corppost", links)
		}
		authURL := startAt(t, c, e.app+start)
		q := mustParse(t, authURL).Query()
		if q.Get("redirect_uri") != e.app+"/_gatehouse/oauth2/idpresponse" || q.Get("code_challenge_method") != "S256" ||
			q.Get("state") == "" || q.Get("nonce") == "" {
			t.Fatalf("authorization request: %s", authURL)
		}
		cb := e.atProvider(t, c, authURL, "grace@navy.example")
		resp, body := deliver(t, c, cb)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/private/report?y=2026" {
			t.Fatalf("callback: %d to %q, want 303 to the page first asked for:\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		u := e.fedUser(t, "corp", "grace-7f3a")
		if u.Status != store.StatusExternalProvider || u.Email != "grace@navy.example" || !u.EmailVerified || u.Name != "Grace Hopper" {
			t.Errorf("created user: status %q email %q verified %v name %q", u.Status, u.Email, u.EmailVerified, u.Name)
		}
		resp, _ = get(t, c, e.app+"/private/report?y=2026", http.Header{"X-Auth-Request-User": {"forged"}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("private page after the sign-in: %d", resp.StatusCode)
		}
		up := e.upstream.Last()
		if up.Header.Get("X-Auth-Request-User") != u.ID || up.Header.Get("X-Auth-Request-Email") != "grace@navy.example" ||
			up.Header.Get("X-Amzn-Oidc-Identity") != u.ID {
			t.Errorf("upstream headers: %v", up.Header)
		}
	})

	t.Run("a later sign-in updates the mapped attributes", func(t *testing.T) {
		c := testenv.Browser(t)
		if resp, _ := get(t, c, e.op.issuer+"/test/claims?sub=grace-7f3a&name=Rear+Admiral+Hopper", nil); resp.StatusCode != 200 {
			t.Fatal("could not change the claims at the provider")
		}
		before := e.fedUser(t, "corp", "grace-7f3a")
		cb := e.atProvider(t, c, startAt(t, c, e.app+"/_gatehouse/federate/corp?rd=/private/"), "grace@navy.example")
		if resp, body := deliver(t, c, cb); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("second sign-in: %d:\n%s", resp.StatusCode, body)
		}
		after := e.fedUser(t, "corp", "grace-7f3a")
		if after.ID != before.ID || after.Name != "Rear Admiral Hopper" {
			t.Errorf("after a second sign-in: id %s (was %s), name %q", after.ID, before.ID, after.Name)
		}
		if got := e.signedInAs(t, c); got != before.ID {
			t.Errorf("signed in as %q, want %q", got, before.ID)
		}
	})

	t.Run("form_post through the relay page", func(t *testing.T) {
		c := testenv.Browser(t)
		cb := e.atProvider(t, c, startAt(t, c, e.app+"/_gatehouse/federate/corppost?rd=/private/posted"), "posty@navy.example")
		if cb.Method != http.MethodPost || cb.URL != e.app+"/_gatehouse/oauth2/idpresponse" || cb.Form.Get("code") == "" {
			t.Fatalf("the provider did not answer with a form_post: %+v", cb)
		}
		// The cross-site POST carries no SameSite=Lax cookie: a client
		// without cookies plays that.
		bare := &http.Client{CheckRedirect: c.CheckRedirect}
		resp, body := deliver(t, bare, cb)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="relay"`) || !strings.Contains(body, `/_gatehouse/static/relay.js`) ||
			resp.Header.Get("Cache-Control") != "no-store" || !strings.Contains(body, `name="gh_relay" value="1"`) {
			t.Fatalf("cookie-less form_post: %d, want the relay page:\n%s", resp.StatusCode, body)
		}
		relayed := fedCallback{Method: http.MethodPost, URL: cb.URL, Form: url.Values{}}
		for _, m := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"`).FindAllStringSubmatch(body, -1) {
			relayed.Form.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
		}
		if relayed.Form.Get("code") != cb.Form.Get("code") || relayed.Form.Get("state") != cb.Form.Get("state") {
			t.Fatalf("the relay page does not post the same fields: %v vs %v", relayed.Form, cb.Form)
		}
		req, _ := http.NewRequest(http.MethodPost, relayed.URL, strings.NewReader(relayed.Form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", e.app)
		resp, body = do(t, c, req)
		wantContinue(t, "relayed form_post", resp, body, "/private/posted")
		if got, want := e.signedInAs(t, c), e.fedUser(t, "corppost", "posty-1").ID; got != want {
			t.Errorf("signed in as %q after the relayed form_post, want %s", got, want)
		}
		// The relay page's own POST without the cookie is refused, not
		// relayed again.
		resp, body = deliver(t, bare, relayed)
		if resp.StatusCode != http.StatusBadRequest || strings.Contains(body, `id="relay"`) {
			t.Errorf("relayed POST without the cookie: %d, want 400 and no second relay:\n%s", resp.StatusCode, body)
		}
	})

	t.Run("identity_provider on authorize skips the hosted page; tokens checked by openid-client", func(t *testing.T) {
		c := testenv.Browser(t)
		verifier, state, nonce := randomString(t), randomString(t), randomString(t)
		sum := sha256.Sum256([]byte(verifier))
		q := url.Values{
			"client_id": {fedAppID}, "redirect_uri": {e.appCB}, "response_type": {"code"}, "scope": {"openid email profile"},
			"state": {state}, "nonce": {nonce}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
			"code_challenge_method": {"S256"}, "identity_provider": {"corp"},
		}
		resp, _ := get(t, c, e.idp+"/oauth2/authorize?"+q.Encode(), nil)
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, "/_gatehouse/federate/corp?") {
			t.Fatalf("authorize with identity_provider: %d to %q, want the provider's start", resp.StatusCode, loc)
		}
		authURL := startAt(t, c, e.idp+loc)
		if got := mustParse(t, authURL).Query().Get("redirect_uri"); got != e.idp+"/oauth2/idpresponse" {
			t.Fatalf("on the issuer site the callback is Cognito's: redirect_uri %q", got)
		}
		cb := e.atProvider(t, c, authURL, "grace@navy.example")
		resp, body := deliver(t, c, cb)
		back := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(back, "/oauth2/authorize?") || strings.Contains(back, "identity_provider") {
			t.Fatalf("callback: %d to %q, want the authorize request without identity_provider:\n%s", resp.StatusCode, back, body)
		}
		resp, _ = get(t, c, e.idp+back, nil)
		final := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(final, e.appCB+"?") {
			t.Fatalf("authorize after the sign-in: %d to %q", resp.StatusCode, final)
		}
		out, err := exec.Command(e.node, filepath.Join(e.root, "module", "testdata", "federation", "rp.mjs"),
			e.idp, fedAppID, fedAppKey, final, verifier, state, nonce).CombinedOutput()
		if err != nil {
			t.Fatalf("openid-client: %v\n%s", err, out)
		}
		var got struct {
			Claims   map[string]any `json:"claims"`
			Userinfo map[string]any `json:"userinfo"`
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("openid-client's output: %v\n%s", err, out)
		}
		u := e.fedUser(t, "corp", "grace-7f3a")
		if got.Claims["sub"] != u.ID || got.Claims["cognito:username"] != "corp_grace-7f3a" || got.Claims["email"] != "grace@navy.example" {
			t.Errorf("ID token claims: %v", got.Claims)
		}
		ids, _ := got.Claims["identities"].([]any)
		if len(ids) != 1 {
			t.Fatalf("identities claim: %v", got.Claims["identities"])
		}
		id, _ := ids[0].(map[string]any)
		if id["providerName"] != "corp" || id["providerType"] != "OIDC" || id["userId"] != "grace-7f3a" || id["issuer"] != e.op.issuer {
			t.Errorf("identities[0] = %v", id)
		}
		if got.Userinfo["sub"] != u.ID {
			t.Errorf("userinfo: %v", got.Userinfo)
		}
	})

	t.Run("unknown identity_provider is an error to the app", func(t *testing.T) {
		c := testenv.Browser(t)
		q := url.Values{"client_id": {fedAppID}, "redirect_uri": {e.appCB}, "response_type": {"code"}, "scope": {"openid"},
			"state": {"s1"}, "identity_provider": {"nosuch"}}
		resp, _ := get(t, c, e.idp+"/oauth2/authorize?"+q.Encode(), nil)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || loc == nil || loc.Query().Get("error") != "invalid_request" || loc.Query().Get("state") != "s1" {
			t.Fatalf("unknown identity_provider: %d to %q, want invalid_request at the app", resp.StatusCode, resp.Header.Get("Location"))
		}
	})

	t.Run("idp_identifier and the sign-in form route by email domain", func(t *testing.T) {
		c := testenv.Browser(t)
		csrf := signInForm(t, c, e.app, "/private/acme")
		resp, body := postSignIn(t, c, e.app, csrf, "/private/acme", "Ada@ACME.example", "")
		to := web.ContinuePage(t, "domain-routed sign-in", resp, body)
		aq := mustParse(t, to).Query()
		if !strings.HasPrefix(to, e.op.issuer+"/") || aq.Get("login_hint") != "ada@acme.example" {
			t.Fatalf("acme.example address: continues to %q, want the provider with the address as login_hint", to)
		}
		cb := e.atProvider(t, c, to, "ada@acme.example")
		if resp, _ := deliver(t, c, cb); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/private/acme" {
			t.Fatalf("routed sign-in: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		// Another domain goes the password way, whether or not an account
		// exists: the choice says nothing of who has one.
		csrf = signInForm(t, c, e.app, "/")
		resp, body = postSignIn(t, c, e.app, csrf, "/", "nobody@elsewhere.example", "whatever")
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Incorrect email or password") {
			t.Errorf("other domain: %d, want the password's answer", resp.StatusCode)
		}
		q := url.Values{"client_id": {fedAppID}, "redirect_uri": {e.appCB}, "response_type": {"code"}, "scope": {"openid"},
			"idp_identifier": {"acme.example"}}
		resp, _ = get(t, testenv.Browser(t), e.idp+"/oauth2/authorize?"+q.Encode(), nil)
		if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/_gatehouse/federate/corp?") {
			t.Errorf("idp_identifier=acme.example: %d to %q", resp.StatusCode, loc)
		}
	})

	t.Run("attacker: a replayed callback is refused", func(t *testing.T) {
		c := testenv.Browser(t)
		authURL := startAt(t, c, e.app+"/_gatehouse/federate/corp?rd=/")
		flowCookies := c.Jar.Cookies(mustParse(t, e.app+"/_gatehouse/"))
		cb := e.atProvider(t, c, authURL, "grace@navy.example")
		if resp, _ := deliver(t, c, cb); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("first callback: %d", resp.StatusCode)
		}
		// A thief who copied the flow cookie and the callback URL.
		thief := testenv.Browser(t)
		thief.Jar.SetCookies(mustParse(t, e.app+"/_gatehouse/"), flowCookies)
		before := e.federationFailures(t, "replayed")
		resp, body := deliver(t, thief, cb)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "/_gatehouse/signin") {
			t.Fatalf("replayed callback: %d, want 400 with a way back to sign in:\n%s", resp.StatusCode, body)
		}
		if e.signedInAs(t, thief) != "" {
			t.Fatal("the replayed callback signed the thief in")
		}
		if e.federationFailures(t, "replayed") != before+1 {
			t.Error("the replay was not audited")
		}
	})

	t.Run("attacker: another browser's callback, and a callback without its cookie", func(t *testing.T) {
		victim, attacker := testenv.Browser(t), testenv.Browser(t)
		startAt(t, victim, e.app+"/_gatehouse/federate/corp?rd=/") // the victim has a flow of their own
		// The attacker signs in at the provider as themselves and makes
		// the victim's browser deliver the answer (login CSRF).
		cb := e.atProvider(t, attacker, startAt(t, attacker, e.app+"/_gatehouse/federate/corp?rd=/"), "linus@else.example")
		resp, body := deliver(t, victim, cb)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Go to sign in") {
			t.Fatalf("another browser's callback: %d, want 400:\n%s", resp.StatusCode, body)
		}
		if e.signedInAs(t, victim) != "" {
			t.Fatal("the victim's browser was signed in as the attacker")
		}
		resp, _ = deliver(t, testenv.Browser(t), cb)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET callback without a cookie: %d, want 400", resp.StatusCode)
		}
		resp, _ = get(t, victim, e.app+"/_gatehouse/oauth2/idpresponse?state=not-ours&code=x", nil)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("callback with a made-up state: %d, want 400", resp.StatusCode)
		}
	})

	t.Run("cancelled at the provider", func(t *testing.T) {
		c := testenv.Browser(t)
		before := e.federationFailures(t, "denied")
		cb := e.atProvider(t, c, startAt(t, c, e.app+"/_gatehouse/federate/corp?rd=/"), "")
		resp, body := deliver(t, c, cb)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "cancelled") || !strings.Contains(body, `href="/_gatehouse/signin"`) {
			t.Fatalf("error=access_denied: %d, want 403 with a way back:\n%s", resp.StatusCode, body)
		}
		if e.federationFailures(t, "denied") != before+1 {
			t.Error("the refusal was not audited")
		}
	})

	t.Run("attacker: an unverified address at the provider never takes over the account of that address", func(t *testing.T) {
		victim, err := e.pool.Pool.CreateUser(ctx, pool.NewUser{Email: "victim@example.com", Password: "an unguessable passphrase 1", EmailVerified: true})
		if err != nil {
			t.Fatal(err)
		}
		c := testenv.Browser(t)
		cb := e.atProvider(t, c, startAt(t, c, e.app+"/_gatehouse/federate/corp?rd=/"), "mallory@evil.example")
		resp, body := deliver(t, c, cb)
		if got := e.signedInAs(t, c); got == victim.ID {
			t.Fatalf("mallory signed in as the victim (callback %d:\n%s)", resp.StatusCode, body)
		}
		ids, err := e.identities(t).Identities(ctx, victim.ID)
		if err != nil || len(ids) != 0 {
			t.Fatalf("the victim's identities: %v %v, want none", ids, err)
		}
		if resp.StatusCode >= 500 {
			t.Errorf("callback: %d", resp.StatusCode)
		}
	})

	t.Run("account page: link and unlink, with fresh proof", func(t *testing.T) {
		u, err := e.pool.Pool.CreateUser(ctx, pool.NewUser{Email: "linus.native@example.com", Password: "an unguessable passphrase 2", EmailVerified: true})
		if err != nil {
			t.Fatal(err)
		}
		c := testenv.Browser(t)
		signIn(t, c, e.app, "/", "linus.native@example.com", "an unguessable passphrase 2")
		resp, body := get(t, c, e.app+"/_gatehouse/account", nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Linked accounts") || !strings.Contains(body, `id="link-corp"`) {
			t.Fatalf("account page: %d, want Linked accounts with Link corp:\n%s", resp.StatusCode, body)
		}
		csrf := csrfField.FindStringSubmatch(body)[1]
		post := func(c *http.Client, form url.Values) (*http.Response, string) {
			form.Set("csrf", csrf)
			req, _ := http.NewRequest(http.MethodPost, e.app+"/_gatehouse/account", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", e.app)
			return do(t, c, req)
		}
		// A stolen cookie (the whole jar) without the password links nothing.
		thief := testenv.Browser(t)
		thief.Jar.SetCookies(mustParse(t, e.app+"/_gatehouse/"), c.Jar.Cookies(mustParse(t, e.app+"/_gatehouse/")))
		if resp, body := post(thief, url.Values{"action": {"idp_link"}, "provider": {"corp"}}); resp.StatusCode != http.StatusSeeOther ||
			!strings.HasPrefix(resp.Header.Get("Location"), "/_gatehouse/account/confirm?") || !strings.Contains(resp.Header.Get("Location"), "strict=1") {
			t.Fatalf("link without proof: %d to %q, want the strict confirm step:\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		if resp, _ := post(thief, url.Values{"action": {"idp_link"}, "provider": {"corp"}, "password": {"a guess"}}); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("link with a wrong password: %d, want 401", resp.StatusCode)
		}
		resp, body = post(c, url.Values{"action": {"idp_link"}, "provider": {"corp"}, "password": {"an unguessable passphrase 2"}})
		to := web.ContinuePage(t, "link", resp, body)
		cb := e.atProvider(t, c, to, "linus@else.example")
		resp, body = deliver(t, c, cb)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/_gatehouse/account?notice=idp_linked" {
			t.Fatalf("link callback: %d to %q:\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		if got := e.fedUser(t, "corp", "linus-42"); got.ID != u.ID {
			t.Fatalf("corp's linus-42 is linked to %s, want %s", got.ID, u.ID)
		}
		// Signing in with the provider now is signing in as the pool user.
		other := testenv.Browser(t)
		cb = e.atProvider(t, other, startAt(t, other, e.app+"/_gatehouse/federate/corp?rd=/"), "linus@else.example")
		deliver(t, other, cb)
		if got := e.signedInAs(t, other); got != u.ID {
			t.Fatalf("signed in with the linked provider as %q, want %q", got, u.ID)
		}
		_, body = get(t, c, e.app+"/_gatehouse/account", nil)
		if !strings.Contains(body, `id="unlink-corp"`) {
			t.Fatalf("account page lists no Unlink for corp:\n%s", body)
		}
		if resp, _ := post(thief, url.Values{"action": {"idp_unlink"}, "provider": {"corp"}}); resp.StatusCode != http.StatusSeeOther ||
			!strings.HasPrefix(resp.Header.Get("Location"), "/_gatehouse/account/confirm?") {
			t.Fatalf("unlink without proof: %d to %q, want the confirm step", resp.StatusCode, resp.Header.Get("Location"))
		}
		resp, _ = post(c, url.Values{"action": {"idp_unlink"}, "provider": {"corp"}, "password": {"an unguessable passphrase 2"}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/_gatehouse/account?notice=idp_unlinked" {
			t.Fatalf("unlink: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if ids, _ := e.identities(t).Identities(ctx, u.ID); len(ids) != 0 {
			t.Fatalf("identities after unlink: %v", ids)
		}

		// A link flow comes back only into the session that started it:
		// signed out (or signed in as someone else) meanwhile, nothing is
		// linked.
		_, body = get(t, c, e.app+"/_gatehouse/account", nil)
		csrf = csrfField.FindStringSubmatch(body)[1]
		resp, body = post(c, url.Values{"action": {"idp_link"}, "provider": {"corp"}, "password": {"an unguessable passphrase 2"}})
		to = web.ContinuePage(t, "link", resp, body)
		if resp, _ := get(t, c, e.app+"/_gatehouse/logout", nil); resp.StatusCode >= 400 {
			t.Fatalf("sign-out: %d", resp.StatusCode)
		}
		resp, body = deliver(t, c, e.atProvider(t, c, to, "linus@else.example"))
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Sign in again") {
			t.Fatalf("link callback after signing out: %d, want 403:\n%s", resp.StatusCode, body)
		}
		if ids, _ := e.identities(t).Identities(ctx, u.ID); len(ids) != 0 {
			t.Fatalf("linked after the session ended: %v", ids)
		}
	})

	t.Run("a user without a password proves with a recent sign-in only", func(t *testing.T) {
		c := testenv.Browser(t)
		cb := e.atProvider(t, c, startAt(t, c, e.app+"/_gatehouse/federate/corp?rd=/"), "grace@navy.example")
		deliver(t, c, cb)
		resp, body := get(t, c, e.app+"/_gatehouse/account", nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="link-corppost"`) || !strings.Contains(body, `id="signed-in-recently"`) ||
			strings.Contains(body, `name="password" type="password" autocomplete="current-password" aria-label`) {
			t.Fatalf("account page of a federated user just signed in: %d:\n%s", resp.StatusCode, body)
		}
		// The recent sign-in is the proof: Link goes to the provider.
		form := url.Values{"csrf": {csrfField.FindStringSubmatch(body)[1]}, "action": {"idp_link"}, "provider": {"corppost"}}
		req, _ := http.NewRequest(http.MethodPost, e.app+"/_gatehouse/account", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", e.app)
		resp, body = do(t, c, req)
		if to := web.ContinuePage(t, "link by a federated user", resp, body); !strings.HasPrefix(to, e.op.issuer+"/") {
			t.Fatalf("link continues to %q, want the provider", to)
		}
	})

	t.Run("a federated user sets up a second factor, which the next federated sign-in asks for", func(t *testing.T) {
		c := testenv.Browser(t)
		deliver(t, c, e.atProvider(t, c, startAt(t, c, e.app+"/_gatehouse/federate/corp?rd=/"), "grace@navy.example"))
		post := func(c *http.Client, path string, form url.Values) (*http.Response, string) {
			req, _ := http.NewRequest(http.MethodPost, e.app+path, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", e.app)
			return do(t, c, req)
		}
		_, body := get(t, c, e.app+"/_gatehouse/account", nil)
		// No password here: the sign-in moments ago is the proof.
		resp, body := post(c, "/_gatehouse/account", url.Values{"csrf": {csrfField.FindStringSubmatch(body)[1]}, "action": {"mfa_add"}, "name": {"Phone"}})
		m := secretRE.FindStringSubmatch(body)
		if resp.StatusCode != http.StatusOK || m == nil {
			t.Fatalf("adding a factor: %d, want the set-up page:\n%s", resp.StatusCode, body)
		}
		form := stepForm(t, body)
		form.Set("code", totpCode(t, m[1], 0))
		if resp, body := post(c, "/_gatehouse/mfa/setup", form); resp.StatusCode != http.StatusOK || !strings.Contains(body, "recovery") {
			t.Fatalf("confirming the factor: %d:\n%s", resp.StatusCode, body)
		}

		c2 := testenv.Browser(t)
		resp, body = deliver(t, c2, e.atProvider(t, c2, startAt(t, c2, e.app+"/_gatehouse/federate/corp?rd=/private/mfa"), "grace@navy.example"))
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `action="/_gatehouse/mfa"`) || e.signedInAs(t, c2) != "" {
			t.Fatalf("federated sign-in of a user with a factor: %d, want the code page and no session yet:\n%s", resp.StatusCode, body)
		}
		form = stepForm(t, body)
		form.Set("rd", "/private/mfa")
		form.Set("code", totpCode(t, m[1], 30*time.Second))
		resp, body = post(c2, "/_gatehouse/mfa", form)
		wantContinue(t, "the code after a federated sign-in", resp, body, "/private/mfa")
		if got := e.signedInAs(t, c2); got != e.fedUser(t, "corp", "grace-7f3a").ID {
			t.Fatalf("signed in as %q after the code", got)
		}
	})

	t.Run("a provider that creates no users, and a disabled user", func(t *testing.T) {
		c := testenv.Browser(t)
		before := e.federationFailures(t, "not_allowed")
		cb := e.atProvider(t, c, startAt(t, c, e.app+"/_gatehouse/federate/corpinvite?rd=/"), "linus@else.example")
		resp, body := deliver(t, c, cb)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Go to sign in") || e.signedInAs(t, c) != "" {
			t.Fatalf("create_users off, no linked user: %d, want 403 and no session:\n%s", resp.StatusCode, body)
		}
		if e.federationFailures(t, "not_allowed") != before+1 {
			t.Error("the refusal was not audited")
		}
		if _, err := e.identities(t).UserByIdentity(ctx, "corpinvite", "linus-42"); err == nil {
			t.Error("create_users off created a user")
		}

		grace := e.fedUser(t, "corp", "grace-7f3a")
		if err := e.pool.Pool.SetEnabled(ctx, grace.ID, false); err != nil {
			t.Fatal(err)
		}
		defer e.pool.Pool.SetEnabled(ctx, grace.ID, true)
		c = testenv.Browser(t)
		cb = e.atProvider(t, c, startAt(t, c, e.app+"/_gatehouse/federate/corp?rd=/"), "grace@navy.example")
		resp, body = deliver(t, c, cb)
		if resp.StatusCode != http.StatusForbidden || e.signedInAs(t, c) != "" {
			t.Fatalf("disabled user: %d, want 403 and no session:\n%s", resp.StatusCode, body)
		}
	})

	t.Run("provider down", func(t *testing.T) {
		c := testenv.Browser(t)
		cb := e.atProvider(t, c, startAt(t, c, e.app+"/_gatehouse/federate/corp?rd=/"), "grace@navy.example")
		e.op.stop()
		resp, body := deliver(t, c, cb)
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "Go to sign in") {
			t.Fatalf("callback while the provider is down: %d, want 503 with a way back:\n%s", resp.StatusCode, body)
		}
		if e.federationFailures(t, "unavailable") == 0 {
			t.Error("the outage was not audited")
		}
	})
}

func randomString(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
