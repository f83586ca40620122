package oidc_test

// Cognito's classic hosted-UI entry points on the issuer site: /login,
// /signup and /forgotPassword with an authorization request's parameters.

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/internal/testenv/oauthtest"
	"github.com/gatehouse-auth/gatehouse/internal/testenv/web"
)

// cognitoQuery is an authorization request as Cognito's hosted-UI links
// carry it (no PKCE: the classic links have none).
func cognitoQuery(clientID, redirectURI, state string) url.Values {
	return url.Values{
		"client_id": {clientID}, "response_type": {"code"}, "redirect_uri": {redirectURI},
		"scope": {"openid email"}, "state": {state},
	}
}

// TestCognitoLoginURL: /login?client_id=...&redirect_uri=... signs the user
// in as /oauth2/authorize does and comes back to the app with a code whose
// tokens are the user's; a browser already signed in gets its code at once.
func TestCognitoLoginURL(t *testing.T) {
	t.Parallel()
	s := startIssuer(t, issuerOptions{})
	ada := s.createUser(t, adaEmail, "Ada Lovelace")
	c := web.Browser(t)
	webapp := s.webapp()

	loc, n := s.Navigate(t, c, s.url+"/login?"+cognitoQuery("webapp", webappCB, "st-1").Encode(), adaEmail)
	if n != 1 {
		t.Fatalf("%d sign-ins, want 1", n)
	}
	code := s.CodeFrom(t, loc, webappCB, "st-1")
	tok, err := webapp.Conf.Exchange(context.Background(), code)
	if err != nil {
		t.Fatalf("exchange of /login's code: %v", err)
	}
	got := oauthtest.VerifyTokens(t, webapp, tok, "")
	if got.ID.Subject != ada.ID || got.Claim["email"] != adaEmail {
		t.Errorf("tokens of /login: sub %s email %v, want Ada's", got.ID.Subject, got.Claim["email"])
	}

	// Signed in: the code comes at once, as from /oauth2/authorize.
	loc, n = s.Navigate(t, c, s.url+"/login?"+cognitoQuery("webapp", webappCB, "st-2").Encode(), "")
	if n != 0 {
		t.Fatalf("%d sign-ins with a session, want 0", n)
	}
	s.CodeFrom(t, loc, webappCB, "st-2")

	// PKCE works there too (Amplify sends it).
	a := webapp.Start()
	u, _ := url.Parse(a.URL)
	loc, _ = s.Navigate(t, c, s.url+"/login?"+u.RawQuery, "")
	code = s.CodeFrom(t, loc, webappCB, a.State)
	if _, err := webapp.Conf.Exchange(context.Background(), code, oauth2.VerifierOption(a.Verifier)); err != nil {
		t.Fatalf("exchange with PKCE: %v", err)
	}
}

// TestCognitoSignUpAndForgotPasswordURLs: /signup and /forgotPassword send
// a valid request to the hosted sign-up and reset pages, carrying the
// authorization request to come back to.
func TestCognitoSignUpAndForgotPasswordURLs(t *testing.T) {
	t.Parallel()
	s := startIssuer(t, issuerOptions{})
	s.createUser(t, adaEmail, "Ada Lovelace")
	for _, tc := range []struct{ path, page string }{
		{"/signup", "/_gatehouse/signup"},
		{"/forgotPassword", "/_gatehouse/forgot"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			q := cognitoQuery("webapp", webappCB, "st-"+tc.path)
			resp, body := get(t, web.Browser(t), s.url+tc.path+"?"+q.Encode(), nil)
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("status %d, want 302: %s", resp.StatusCode, body)
			}
			loc, err := resp.Location()
			if err != nil {
				t.Fatal(err)
			}
			if loc.Host != strings.TrimPrefix(s.url, "http://") || loc.Path != tc.page {
				t.Fatalf("sent to %s, want the issuer's %s", loc, tc.page)
			}
			rd, err := url.Parse(loc.Query().Get("rd"))
			if err != nil || rd.IsAbs() || rd.Path != "/oauth2/authorize" {
				t.Fatalf("rd %q, want the authorization endpoint", loc.Query().Get("rd"))
			}
			for k := range q {
				if rd.Query().Get(k) != q.Get(k) {
					t.Errorf("rd's %s = %q, want %q", k, rd.Query().Get(k), q.Get(k))
				}
			}
			// The continuation is a working authorization request: after
			// signing in there, the app gets its code.
			c := web.Browser(t)
			to, n := s.Navigate(t, c, s.url+rd.String(), adaEmail)
			if n != 1 {
				t.Fatalf("%d sign-ins, want 1", n)
			}
			s.CodeFrom(t, to, webappCB, q.Get("state"))
		})
	}
}

// TestCognitoEntryPointRefusals: the entry points check as
// /oauth2/authorize does. An unknown client or a redirect_uri not
// registered exactly gets an error page and never a redirect; other
// mistakes go back to the (verified) redirect URI; without client_id the
// paths are left to the site.
func TestCognitoEntryPointRefusals(t *testing.T) {
	t.Parallel()
	s := startIssuer(t, issuerOptions{})
	for _, path := range []string{"/login", "/signup", "/forgotPassword"} {
		for _, tc := range []struct {
			name string
			q    url.Values
		}{
			{"unknown client", cognitoQuery("nobody", webappCB, "x")},
			{"unregistered redirect_uri", cognitoQuery("webapp", "https://evil.example.test/cb", "x")},
			{"redirect_uri with a suffix", cognitoQuery("webapp", webappCB+"/../evil", "x")},
			{"redirect_uri with a query", cognitoQuery("webapp", webappCB+"?next=https://evil.example.test", "x")},
			{"redirect_uri of another client", cognitoQuery("webapp", spaCB, "x")},
			{"redirect_uri repeated", func() url.Values {
				q := cognitoQuery("webapp", webappCB, "x")
				q.Add("redirect_uri", "https://evil.example.test/cb")
				return q
			}()},
			{"empty client_id", cognitoQuery("", webappCB, "x")},
		} {
			t.Run(path+" "+tc.name, func(t *testing.T) {
				resp, body := get(t, web.Browser(t), s.url+path+"?"+tc.q.Encode(), nil)
				if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
					t.Fatalf("status %d, Location %q, want 400 and no redirect: %s", resp.StatusCode, resp.Header.Get("Location"), body)
				}
			})
		}
		t.Run(path+" bad scope goes back to the client", func(t *testing.T) {
			q := cognitoQuery("webapp", webappCB, "st-scope")
			q.Set("scope", "openid admin")
			resp, body := get(t, web.Browser(t), s.url+path+"?"+q.Encode(), nil)
			loc, err := resp.Location()
			if resp.StatusCode != http.StatusFound || err != nil {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			oauthtest.ErrorFrom(t, loc, webappCB, "st-scope", "invalid_scope")
		})
		t.Run(path+" unsupported response_type goes back to the client", func(t *testing.T) {
			q := cognitoQuery("webapp", webappCB, "st-token")
			q.Set("response_type", "token")
			resp, body := get(t, web.Browser(t), s.url+path+"?"+q.Encode(), nil)
			loc, err := resp.Location()
			if resp.StatusCode != http.StatusFound || err != nil {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			oauthtest.ErrorFrom(t, loc, webappCB, "st-token", "unsupported_response_type")
		})
		t.Run(path+" without client_id is the site's", func(t *testing.T) {
			resp, _ := get(t, web.Browser(t), s.url+path, nil)
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("status %d, want the site's own 404", resp.StatusCode)
			}
		})
	}
	for _, path := range []string{"/signup", "/forgotPassword"} {
		req, _ := http.NewRequest(http.MethodPost, s.url+path+"?"+cognitoQuery("webapp", webappCB, "x").Encode(), strings.NewReader(""))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if resp, _ := do(t, web.Browser(t), req); resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST %s: status %d, want 405", path, resp.StatusCode)
		}
	}
}
