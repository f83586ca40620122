package hostedui

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/federation"
)

// The pages' side of federation, before any answer reaches a connector's
// Complete: starting a flow, refusing callbacks that belong to none, the
// relay page, routing and buttons. The protocols are the connectors'
// (tested in their packages), and whole sign-ins run end to end through
// Caddy against a real provider (module/federation_e2e_test.go).

// pointingConnector is a connector whose Begin points at a fixed
// authorization URL and records the requests it was given; its Complete
// refuses everything, as none of these tests gets that far.
type pointingConnector struct {
	info federation.Info
	mu   sync.Mutex
	reqs []federation.Request
}

func (c *pointingConnector) Info() federation.Info { return c.info }

func (c *pointingConnector) Begin(_ context.Context, req federation.Request) (federation.Start, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reqs = append(c.reqs, req)
	return federation.Start{URL: "https://idp.example.test/auth?state=" + url.QueryEscape(req.State)}, nil
}

func (c *pointingConnector) Complete(context.Context, federation.Callback) (*federation.Identity, error) {
	return nil, federation.Invalid("not in these tests")
}

func (c *pointingConnector) last(t *testing.T) federation.Request {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.reqs) == 0 {
		t.Fatal("Begin was not called")
	}
	return c.reqs[len(c.reqs)-1]
}

const testLogo = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"/>`

func fedFixture(t *testing.T, mod func(*Config)) (*fixture, *pointingConnector) {
	t.Helper()
	corp := &pointingConnector{info: federation.Info{Name: "corp", Kind: "oidc", Type: "OIDC", DisplayName: "Corp <SSO>",
		Protocol: federation.ProtocolOIDC, Domains: []string{"acme.example"}, CreateUsers: true, Logo: []byte(testLogo)}}
	saml := &pointingConnector{info: federation.Info{Name: "acme.saml", Kind: "saml", Type: "SAML", DisplayName: "Acme",
		Protocol: federation.ProtocolSAML, FormPost: true}}
	f := newFixture(t, func(c *Config) {
		c.Providers = []federation.Connector{corp, saml}
		if mod != nil {
			mod(c)
		}
	})
	return f, corp
}

func TestFederateStart(t *testing.T) {
	t.Parallel()
	f, corp := fedFixture(t, nil)
	res := f.do(httptest.NewRequest(http.MethodGet, FederatePath+"corp?rd=%2Fdocs%3Fa%3D1&login_hint=Ada%40Acme.example", nil))
	if res.StatusCode != http.StatusFound || !strings.HasPrefix(res.Header.Get("Location"), "https://idp.example.test/auth?") {
		t.Fatalf("start: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	req := corp.last(t)
	if req.RedirectURI != "http://example.com"+federation.SiteOIDCCallbackPath || req.LoginHint != "ada@acme.example" ||
		len(req.State) != fedStateLen || req.Nonce == "" || len(req.Verifier) < 43 || req.State == req.Nonce {
		t.Errorf("request to the connector: %+v", req)
	}
	c := cookieNamed(res, fedCookiePrefix+req.State[:fedCookieNameLen])
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != PathPrefix || c.MaxAge != int(federation.FlowTTL/time.Second) {
		t.Fatalf("flow cookie: %+v", c)
	}
	var flow fedFlow
	if !f.h.openJSON(fedCookiePrefix, c.Value, &flow) || flow.ReturnTo != "/docs?a=1" || flow.Purpose != purposeSignIn ||
		flow.State != req.State || flow.Provider != "corp" {
		t.Errorf("sealed flow: %+v", flow)
	}
	if strings.Contains(c.Value, req.State) || strings.Contains(c.Value, req.Verifier) {
		t.Error("the flow cookie shows its state or verifier in the clear")
	}

	// An unsafe return-to is not kept; an unknown provider is a page.
	res = f.do(httptest.NewRequest(http.MethodGet, FederatePath+"corp?rd=%2F%2Fevil.example%2F", nil))
	f.h.openJSON(fedCookiePrefix, cookieNamed(res, fedCookiePrefix+corp.last(t).State[:fedCookieNameLen]).Value, &flow)
	if flow.ReturnTo != "/" {
		t.Errorf("rd //evil.example kept as %q", flow.ReturnTo)
	}
	if res := f.do(httptest.NewRequest(http.MethodGet, FederatePath+"nosuch", nil)); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown provider: %d, want 404", res.StatusCode)
	}
	if res := f.do(httptest.NewRequest(http.MethodPost, FederatePath+"corp", nil)); res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST start: %d, want 405", res.StatusCode)
	}
}

func TestFederateStartBoundsFlowsAndNamesCookiesPerSite(t *testing.T) {
	t.Parallel()
	f, corp := fedFixture(t, func(c *Config) {
		c.CookiePrefix, c.IssuerSite = HostPrefix, true
	})
	r := httptest.NewRequest(http.MethodGet, FederatePath+"corp", nil)
	for i := 0; i < maxFedFlows; i++ {
		r.AddCookie(&http.Cookie{Name: HostPrefix + fedCookiePrefix + strings.Repeat(string(rune('a'+i)), fedCookieNameLen), Value: "x"})
	}
	res := f.do(r)
	cleared, set := 0, 0
	for _, c := range res.Cookies() {
		if !strings.HasPrefix(c.Name, HostPrefix+fedCookiePrefix) || !c.Secure || c.Path != "/" {
			t.Errorf("cookie %+v: want a __Host- flow cookie, Secure, Path=/", c)
		}
		if c.MaxAge < 0 {
			cleared++
		} else {
			set++
		}
	}
	if cleared != maxFedFlows || set != 1 {
		t.Errorf("with %d flows held: %d cleared and %d set, want all cleared and one set", maxFedFlows, cleared, set)
	}
	if got := corp.last(t).RedirectURI; got != "https://example.com"+federation.OIDCCallbackPath {
		t.Errorf("issuer site redirect URI %q, want Cognito's path over https", got)
	}
}

func TestFederationCallbackRefusals(t *testing.T) {
	t.Parallel()
	f, corp := fedFixture(t, nil)
	state := randomToken()
	cases := []struct {
		name, target string
		want         int
	}{
		{"no state", federation.SiteOIDCCallbackPath + "?code=abc", http.StatusBadRequest},
		{"a state no flow can have", federation.SiteOIDCCallbackPath + "?code=abc&state=short", http.StatusBadRequest},
		{"GET without the flow cookie", federation.SiteOIDCCallbackPath + "?code=abc&state=" + state, http.StatusBadRequest},
		{"error=access_denied without a flow", federation.SiteOIDCCallbackPath + "?error=access_denied&state=" + state, http.StatusBadRequest},
	}
	for _, tc := range cases {
		res := f.do(httptest.NewRequest(http.MethodGet, tc.target, nil))
		body := readBody(t, res)
		if res.StatusCode != tc.want || !strings.Contains(body, `href="/_gatehouse/signin"`) {
			t.Errorf("%s: %d, want %d with the way back to sign in:\n%s", tc.name, res.StatusCode, tc.want, body)
		}
	}

	// A flow cookie sealed for another state, under this state's name.
	res := f.do(httptest.NewRequest(http.MethodGet, FederatePath+"corp", nil))
	other := corp.last(t).State
	flowCookie := cookieNamed(res, fedCookiePrefix+other[:fedCookieNameLen])
	forged := other[:fedCookieNameLen] + randomToken()[fedCookieNameLen:]
	r := httptest.NewRequest(http.MethodGet, federation.SiteOIDCCallbackPath+"?code=abc&state="+forged, nil)
	r.AddCookie(&http.Cookie{Name: flowCookie.Name, Value: flowCookie.Value})
	if res := f.do(r); res.StatusCode != http.StatusBadRequest {
		t.Errorf("state of another flow under its cookie's name: %d, want 400", res.StatusCode)
	}

	// An expired flow is refused before anything is spent or asked.
	expired, err := f.h.sealJSON(fedCookiePrefix, fedFlow{Provider: "corp", State: state, Purpose: purposeSignIn,
		Created: time.Now().Add(-time.Hour).Unix(), Expires: time.Now().Add(-time.Minute).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	r = httptest.NewRequest(http.MethodGet, federation.SiteOIDCCallbackPath+"?code=abc&state="+state, nil)
	r.AddCookie(&http.Cookie{Name: fedCookiePrefix + state[:fedCookieNameLen], Value: expired})
	res = f.do(r)
	if body := readBody(t, res); res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "took too long") {
		t.Errorf("expired flow: %d:\n%s", res.StatusCode, body)
	}
	if c := cookieNamed(res, fedCookiePrefix+state[:fedCookieNameLen]); c == nil || c.MaxAge >= 0 {
		t.Errorf("the expired flow's cookie was not cleared: %+v", c)
	}
	if n := f.store.auditCount("federation_failed"); n < len(cases)+2 {
		t.Errorf("%d federation_failed events, want one per refusal", n)
	}
}

func TestFederationRelayPage(t *testing.T) {
	t.Parallel()
	f, _ := fedFixture(t, nil)
	state := randomToken()
	form := url.Values{"state": {state}, "code": {`"><script>alert(1)</script>`}}
	post := func(form url.Values) *http.Response {
		r := httptest.NewRequest(http.MethodPost, federation.SiteOIDCCallbackPath, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Origin", "https://idp.example.test")
		return f.do(r)
	}
	res := post(form)
	body := readBody(t, res)
	if res.StatusCode != http.StatusOK || res.Header.Get("Cache-Control") != "no-store" ||
		!strings.Contains(res.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("cookie-less POST: %d %v, want the relay page", res.StatusCode, res.Header)
	}
	for _, want := range []string{`<form class="form" method="post" action="/_gatehouse/oauth2/idpresponse" id="relay">`,
		`name="state" value="` + state + `"`, `name="gh_relay" value="1"`, `<script src="/_gatehouse/static/relay.js"></script>`,
		`id="relay-continue"`} {
		if !strings.Contains(body, want) {
			t.Errorf("relay page lacks %s:\n%s", want, body)
		}
	}
	if strings.Contains(body, "<script>alert") {
		t.Fatalf("the relay page does not escape what was posted:\n%s", body)
	}
	form.Set(relayField, "1")
	if res := post(form); res.StatusCode != http.StatusBadRequest {
		t.Errorf("relayed POST still without its cookie: %d, want 400 (no loop)", res.StatusCode)
	}
	js := f.do(httptest.NewRequest(http.MethodGet, staticPath+"relay.js", nil))
	if js.StatusCode != http.StatusOK || !strings.Contains(readBody(t, js), "submit()") {
		t.Errorf("relay.js: %d", js.StatusCode)
	}
}

func TestFederationTarget(t *testing.T) {
	t.Parallel()
	f, _ := fedFixture(t, nil)
	cases := []struct {
		idp, ident, want string
		ok               bool
	}{
		{"corp", "", FederatePath + "corp?rd=%2Foauth2%2Fauthorize%3Fx%3D1", true},
		{"acme.saml", "", FederatePath + "acme.saml?rd=%2Foauth2%2Fauthorize%3Fx%3D1", true},
		{"COGNITO", "", SignInPath + "?rd=%2Foauth2%2Fauthorize%3Fx%3D1", true},
		{"", "acme.example", FederatePath + "corp?rd=%2Foauth2%2Fauthorize%3Fx%3D1", true},
		{"", "Ada@ACME.example", FederatePath + "corp?rd=%2Foauth2%2Fauthorize%3Fx%3D1&login_hint=ada%40acme.example", true},
		{"", "corp", FederatePath + "corp?rd=%2Foauth2%2Fauthorize%3Fx%3D1", true},
		{"nosuch", "", "", false},
		{"", "other.example", "", false},
		{"cognito", "", "", false},
	}
	for _, tc := range cases {
		got, ok := f.h.FederationTarget(tc.idp, tc.ident, "/oauth2/authorize?x=1")
		if got != tc.want || ok != tc.ok {
			t.Errorf("FederationTarget(%q, %q) = %q, %v; want %q, %v", tc.idp, tc.ident, got, ok, tc.want, tc.ok)
		}
	}
}

func TestSignInPageProvidersAndDomainRouting(t *testing.T) {
	t.Parallel()
	f, corp := fedFixture(t, nil)
	res := f.do(httptest.NewRequest(http.MethodGet, SignInPath+"?rd=%2Freports", nil))
	body := readBody(t, res)
	for _, want := range []string{
		`id="idp-corp" href="/_gatehouse/federate/corp?rd=%2freports"`, `Continue with Corp &lt;SSO&gt;`,
		`<img class="provider-logo" src="/_gatehouse/static/idp/corp.svg"`, `id="idp-acme.saml"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("sign-in page lacks %s:\n%s", want, body)
		}
	}
	if strings.Contains(body, `autocomplete="current-password" required`) {
		t.Error("with a domain-routed provider the password must not be required by the browser")
	}

	cookie, tok := f.form(t, "/reports")
	res = f.do(postForm(signInForm("Ada@ACME.example", "", tok, "/reports"), cookie))
	to := continued(t, res)
	if !strings.HasPrefix(to, "https://idp.example.test/auth?") || corp.last(t).LoginHint != "ada@acme.example" {
		t.Fatalf("acme.example address continues to %q (hint %q), want the provider", to, corp.last(t).LoginHint)
	}
	// Any other domain takes the password path, account or not.
	res = f.do(postForm(signInForm("nobody@elsewhere.example", "x", tok, "/reports"), cookie))
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("other domain: %d, want the password's 401", res.StatusCode)
	}
}

func TestProviderLogoAndMetadata(t *testing.T) {
	t.Parallel()
	f, _ := fedFixture(t, nil)
	res := f.do(httptest.NewRequest(http.MethodGet, logoPath+"corp.svg", nil))
	if body := readBody(t, res); res.StatusCode != http.StatusOK || body != testLogo || res.Header.Get("Content-Type") != "image/svg+xml" ||
		!strings.Contains(res.Header.Get("Content-Security-Policy"), "sandbox") || res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("logo: %d %v %q", res.StatusCode, res.Header, body)
	}
	for _, p := range []string{logoPath + "acme.saml.svg", logoPath + "nosuch.svg", logoPath + "corp", siteMetadataPath + "corp", siteMetadataPath + "nosuch"} {
		if res := f.do(httptest.NewRequest(http.MethodGet, p, nil)); res.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, res.StatusCode)
		}
	}
}

// auditCount counts the events of typ the pool appended.
func (s *memStore) auditCount(typ string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.audit {
		if e.Type == typ {
			n++
		}
	}
	return n
}
