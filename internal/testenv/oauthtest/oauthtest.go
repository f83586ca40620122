// Package oauthtest is the relying party of the tests of the OpenID
// provider: it makes an authorization request as an app would (state,
// nonce, PKCE), follows the issuer's redirects in a test browser, signing in
// on the hosted pages when sent there, exchanges the code and verifies the
// ID token with go-oidc. The provider's protocol tests (oidc) and the tests
// of its wiring behind Caddy (module) both drive it.
package oauthtest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/internal/testenv/web"
)

// Issuer is the provider under test, as a relying party sees it.
type Issuer struct {
	// URL is the issuer: redirects elsewhere leave it.
	URL string
	// OP is go-oidc's view of it, from discovery.
	OP *gooidc.Provider
	// SignIn signs email in on the hosted sign-in page reached with the
	// return-to rd in browser c, and fails the test unless the sign-in
	// continues to rd.
	SignIn func(t *testing.T, c *http.Client, rd, email string)
}

// RelyingParty is one client of the issuer.
type RelyingParty struct {
	Conf     *oauth2.Config
	Verifier *gooidc.IDTokenVerifier
}

// RP is the client clientID with its secret ("" for a public client) and
// redirect URI, asking for scopes (default openid, email, profile).
func (i *Issuer) RP(clientID, secret, redirect string, scopes ...string) *RelyingParty {
	if len(scopes) == 0 {
		scopes = []string{gooidc.ScopeOpenID, "email", "profile"}
	}
	return &RelyingParty{
		Conf: &oauth2.Config{
			ClientID:     clientID,
			ClientSecret: secret,
			Endpoint:     i.OP.Endpoint(),
			RedirectURL:  redirect,
			Scopes:       scopes,
		},
		Verifier: i.OP.Verifier(&gooidc.Config{ClientID: clientID}),
	}
}

// Attempt is one authorization request's secrets and its URL.
type Attempt struct {
	State, Nonce, Verifier, URL string
}

// Start makes an authorization request with PKCE (S256) and a nonce.
func (rp *RelyingParty) Start(opts ...oauth2.AuthCodeOption) Attempt {
	a := Attempt{State: rand.Text(), Nonce: rand.Text(), Verifier: oauth2.GenerateVerifier()}
	opts = append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(a.Verifier), gooidc.Nonce(a.Nonce)}, opts...)
	a.URL = rp.Conf.AuthCodeURL(a.State, opts...)
	return a
}

// Navigate GETs rawURL in the browser c and follows the issuer's redirects,
// signing in as email whenever sent to the sign-in page (failing the test
// if email is ""), until a redirect leaves the issuer; it returns that
// redirect and how many sign-ins it took.
func (i *Issuer) Navigate(t *testing.T, c *http.Client, rawURL, email string) (*url.URL, int) {
	t.Helper()
	resp, body := web.Get(t, c, rawURL, nil)
	signIns := 0
	for range 4 {
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("GET %s: status %d, want 302: %s", rawURL, resp.StatusCode, body)
		}
		loc, err := resp.Location()
		if err != nil {
			t.Fatal(err)
		}
		if loc.Scheme+"://"+loc.Host != i.URL {
			return loc, signIns
		}
		if loc.Path != "/_gatehouse/signin" {
			t.Fatalf("redirected to %s, want the sign-in page or the client", loc)
		}
		if email == "" {
			t.Fatalf("sent to sign in (%s), but the test has no one to sign in", loc)
		}
		// The sign-in ends in a page that continues (with a GET) to the
		// authorization request, which then redirects to the client.
		rd := loc.Query().Get("rd")
		i.SignIn(t, c, rd, email)
		signIns++
		resp, body = web.Get(t, c, i.URL+rd, nil)
	}
	t.Fatalf("more than 3 sign-ins for %s", rawURL)
	return nil, 0
}

// CodeFrom checks a redirect to the client and returns its code.
func (i *Issuer) CodeFrom(t *testing.T, loc *url.URL, redirectURI, state string) string {
	t.Helper()
	q := loc.Query()
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirectURI {
		t.Fatalf("redirected to %s, want %s", loc, redirectURI)
	}
	if q.Get("error") != "" {
		t.Fatalf("authorization error %s: %s", q.Get("error"), q.Get("error_description"))
	}
	if q.Get("state") != state || q.Get("iss") != i.URL || q.Get("code") == "" {
		t.Fatalf("redirect %s: want state %q, iss %q and a code", loc, state, i.URL)
	}
	return q.Get("code")
}

// ErrorFrom checks a redirect to the client that carries an error.
func ErrorFrom(t *testing.T, loc *url.URL, redirectURI, state, wantErr string) {
	t.Helper()
	q := loc.Query()
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirectURI {
		t.Fatalf("redirected to %s, want %s", loc, redirectURI)
	}
	if q.Get("error") != wantErr || q.Get("state") != state || q.Has("code") {
		t.Fatalf("redirect %s: want error=%s with state %q and no code", loc, wantErr, state)
	}
}

// SignedIn is what one complete sign-in gave the relying party.
type SignedIn struct {
	Tok   *oauth2.Token
	Raw   string // the ID token
	ID    *gooidc.IDToken
	Claim map[string]any
}

// Login runs the whole code flow for rp in browser c and verifies the ID
// token as the relying party would; it returns how many sign-ins it took.
func (i *Issuer) Login(t *testing.T, c *http.Client, rp *RelyingParty, email string, opts ...oauth2.AuthCodeOption) (SignedIn, int) {
	t.Helper()
	a := rp.Start(opts...)
	loc, n := i.Navigate(t, c, a.URL, email)
	code := i.CodeFrom(t, loc, rp.Conf.RedirectURL, a.State)
	tok, err := rp.Conf.Exchange(context.Background(), code, oauth2.VerifierOption(a.Verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return VerifyTokens(t, rp, tok, a.Nonce), n
}

// VerifyTokens checks a token response as go-oidc would for rp: the ID
// token's signature, audience, nonce and at_hash.
func VerifyTokens(t *testing.T, rp *RelyingParty, tok *oauth2.Token, nonce string) SignedIn {
	t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatal("token response has no id_token")
	}
	id, err := rp.Verifier.Verify(context.Background(), raw)
	if err != nil {
		t.Fatalf("go-oidc refused the ID token: %v", err)
	}
	if id.Nonce != nonce {
		t.Errorf("nonce %q, want %q", id.Nonce, nonce)
	}
	if err := id.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("at_hash: %v", err)
	}
	var claims map[string]any
	if err := id.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	return SignedIn{Tok: tok, Raw: raw, ID: id, Claim: claims}
}

// Refresh uses a refresh token through x/oauth2, as an app would.
func (rp *RelyingParty) Refresh(rt string) (*oauth2.Token, error) {
	return rp.Conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: rt, Expiry: time.Now().Add(-time.Hour)}).Token()
}

// TokenCall POSTs a form to an endpoint, with Basic client authentication
// when user is not "", and decodes the JSON answer (nil for an empty body).
func TokenCall(t *testing.T, endpoint string, form url.Values, user, pass string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, body := web.Do(t, http.DefaultClient, req)
	var out map[string]any
	if body != "" {
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatalf("%s: not JSON: %q", endpoint, body)
		}
	}
	return resp, out
}

// ClientCredentials asks the token endpoint for a machine token (scope ""
// for the client's default) and returns the JSON answer, failing the test
// unless the answer is marked no-store.
func (i *Issuer) ClientCredentials(t *testing.T, id, secret, scope string) map[string]any {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	resp, body := TokenCall(t, i.URL+"/oauth2/token", form, id, secret)
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("token response Cache-Control %q, want no-store", resp.Header.Get("Cache-Control"))
	}
	return body
}
