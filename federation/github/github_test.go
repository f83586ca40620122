package github

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/gatehouse-auth/gatehouse/federation"
)

// These tests run the connector against standIn (standin_test.go), a
// loopback stand-in for GitHub: GitHub itself cannot be reached here.

func ada() *ghUser {
	return &ghUser{ID: 583231, Login: "ada-l", Name: "Ada Lovelace", PublicEmail: "public@example.com",
		Emails: []githubEmail{
			{Email: "Ada@Example.COM", Primary: true, Verified: true},
			{Email: "ada@old-employer.example", Verified: true},
			{Email: "583231+ada-l@users.noreply.github.com", Verified: true},
		}}
}

// openConnector opens cfg (client and server filled in) against s.
func openConnector(t *testing.T, s *standIn, cfg GitHub) federation.Connector {
	t.Helper()
	if cfg.ClientID == "" {
		cfg.ClientID, cfg.ClientSecret = s.clientID, s.secret
	}
	if s.enterprise && cfg.EnterpriseURL == "" {
		cfg.EnterpriseURL = s.srv.URL + "/"
	}
	c, err := cfg.Open(context.Background(), federation.Env{Name: "gh", Pool: "default", HTTPClient: s.client()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newRequest(s *standIn) federation.Request {
	return federation.Request{State: rand.Text(), Nonce: rand.Text(), Verifier: rand.Text() + rand.Text(), RedirectURI: s.callback}
}

// consent sends the "browser" to Begin's URL and returns the callback's
// parameters GitHub redirected it back with.
func consent(t *testing.T, s *standIn, c federation.Connector, req federation.Request) url.Values {
	t.Helper()
	start, err := c.Begin(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	browser := s.client()
	browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := browser.Get(start.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize answered %d, want a redirect back", resp.StatusCode)
	}
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := url.Parse(req.RedirectURI); back.Host != want.Host || back.Path != want.Path {
		t.Fatalf("GitHub sent the browser to %s, want %s", back, req.RedirectURI)
	}
	return back.Query()
}

func signIn(t *testing.T, s *standIn, c federation.Connector) (*federation.Identity, error) {
	t.Helper()
	req := newRequest(s)
	return c.Complete(context.Background(), federation.Callback{Request: req, Params: consent(t, s, c, req)})
}

func TestSignIn(t *testing.T) {
	t.Parallel()
	s := newStandIn(t, false)
	s.addUser(ada())
	c := openConnector(t, s, GitHub{})

	req := newRequest(s)
	start, err := c.Begin(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(start.URL)
	q := u.Query()
	if u.Scheme+"://"+u.Host+u.Path != "https://github.com/login/oauth/authorize" {
		t.Errorf("authorize URL %s", start.URL)
	}
	for k, want := range map[string]string{"client_id": s.clientID, "redirect_uri": s.callback, "state": req.State,
		"scope": "read:user user:email", "code_challenge_method": "S256", "code_challenge": challengeOf(req.Verifier)} {
		if q.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, q.Get(k), want)
		}
	}
	if strings.Contains(start.URL, req.Verifier) || strings.Contains(start.URL, s.secret) {
		t.Error("the authorize URL carries the verifier or the secret")
	}

	id, err := c.Complete(context.Background(), federation.Callback{Request: req, Params: consent(t, s, c, req)})
	if err != nil {
		t.Fatal(err)
	}
	want := federation.Identity{Provider: "gh", Type: "GitHub", Issuer: "https://github.com", Subject: "583231",
		Email: "ada@example.com", EmailVerified: true}
	got := *id
	got.Attributes = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("identity\n got %+v\nwant %+v", got, want)
	}
	for attr, v := range map[string]string{"name": "Ada Lovelace", "preferred_username": "ada-l", "nickname": "ada-l",
		"picture": "https://avatars.githubusercontent.com/u/583231?v=4", "profile": "https://github.com/ada-l",
		"website": "https://ada.example"} {
		if id.Attributes[attr] != v {
			t.Errorf("attribute %s = %q, want %q", attr, id.Attributes[attr], v)
		}
	}
	if _, ok := id.Attributes["email"]; ok {
		t.Error("the public profile address became an attribute")
	}
	calls := s.callsSeen()
	for _, want := range []string{"github.com/login/oauth/authorize", "github.com/login/oauth/access_token",
		"api.github.com/user", "api.github.com/user/emails"} {
		if !slices.Contains(calls, want) {
			t.Errorf("no call to %s in %v", want, calls)
		}
	}
	if slices.Contains(calls, "api.github.com/user/memberships/orgs") {
		t.Error("organizations were read with no allowed_organizations")
	}
}

func TestInfo(t *testing.T) {
	t.Parallel()
	s := newStandIn(t, false)
	info := openConnector(t, s, GitHub{}).Info()
	if info.Name != "gh" || info.Kind != "github" || info.Type != "GitHub" || info.DisplayName != "GitHub" ||
		info.Protocol != federation.ProtocolOIDC || info.FormPost || !info.CreateUsers || info.LinkByEmail {
		t.Errorf("info %+v", info)
	}
	if !strings.Contains(string(info.Logo), "<svg") {
		t.Error("no logo")
	}
	off := false
	info = openConnector(t, s, GitHub{Common: federation.Common{DisplayName: "Staff GitHub", CreateUsers: &off, LinkByEmail: true}}).Info()
	if info.DisplayName != "Staff GitHub" || info.CreateUsers || !info.LinkByEmail {
		t.Errorf("common options not applied: %+v", info)
	}
}

// TestEmailChoice: the address is the primary one and only when verified;
// the public profile address and the no-reply address never are.
func TestEmailChoice(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		emails []githubEmail
		want   string
	}{
		"primary verified, lower-cased": {[]githubEmail{{Email: "x@other.example", Verified: true}, {Email: "Ada@Example.com", Primary: true, Verified: true}}, "ada@example.com"},
		"only unverified addresses":     {[]githubEmail{{Email: "ada@example.com", Primary: true}, {Email: "victim@example.com"}}, ""},
		// The primary is the address the user chose; a verified secondary
		// (an old employer's?) is not put in its place, and the address must
		// not depend on the list's order: no address until the user
		// verifies the primary at GitHub.
		"primary unverified, another verified": {[]githubEmail{{Email: "new@example.com", Primary: true}, {Email: "old@example.com", Verified: true}}, ""},
		"no-reply primary":                     {[]githubEmail{{Email: "583231+ada-l@users.noreply.github.com", Primary: true, Verified: true}}, ""},
		"no addresses":                         {nil, ""},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newStandIn(t, false)
			u := ada()
			u.Emails = tc.emails
			u.PublicEmail = "victim@example.com"
			s.addUser(u)
			id, err := signIn(t, s, openConnector(t, s, GitHub{}))
			if err != nil {
				t.Fatal(err)
			}
			if id.Email != tc.want || id.EmailVerified != (tc.want != "") {
				t.Errorf("email %q verified %v, want %q", id.Email, id.EmailVerified, tc.want)
			}
			if id.Subject != "583231" {
				t.Errorf("subject %q", id.Subject)
			}
		})
	}
}

// TestNoEmailScope: a user who strips user:email from the authorize URL
// gets no address (GitHub answers 404), not an error and not another one.
func TestNoEmailScope(t *testing.T) {
	t.Parallel()
	s := newStandIn(t, false)
	s.addUser(ada())
	c := openConnector(t, s, GitHub{})
	req := newRequest(s)
	start, _ := c.Begin(context.Background(), req)
	tampered := strings.Replace(start.URL, "user%3Aemail", "gist", 1)
	if tampered == start.URL {
		t.Fatal("the scope was not in the URL as expected")
	}
	params := consentAt(t, s, tampered)
	id, err := c.Complete(context.Background(), federation.Callback{Request: req, Params: params})
	if err != nil {
		t.Fatal(err)
	}
	if id.Email != "" || id.EmailVerified {
		t.Errorf("email %q without the scope", id.Email)
	}
}

func consentAt(t *testing.T, s *standIn, u string) url.Values {
	t.Helper()
	browser := s.client()
	browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := browser.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize answered %d %v", resp.StatusCode, err)
	}
	return back.Query()
}

// TestRenamedLoginKeepsSubject: the subject is the numeric id, so a
// renamed user is the same user, and someone who takes the old login is
// not.
func TestRenamedLoginKeepsSubject(t *testing.T) {
	t.Parallel()
	s := newStandIn(t, false)
	u := ada()
	s.addUser(u)
	c := openConnector(t, s, GitHub{})
	first, err := signIn(t, s, c)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	u.Login = "ada-king"
	s.mu.Unlock()
	second, err := signIn(t, s, c)
	if err != nil {
		t.Fatal(err)
	}
	if second.Subject != first.Subject || second.Attributes["preferred_username"] != "ada-king" {
		t.Errorf("after the rename: subject %q (was %q), login %q", second.Subject, first.Subject, second.Attributes["preferred_username"])
	}
	squatter := &ghUser{ID: 9000001, Login: "ada-l", Name: "Not Ada",
		Emails: []githubEmail{{Email: "squatter@example.com", Primary: true, Verified: true}}}
	s.addUser(squatter)
	s.mu.Lock()
	s.signedIn = squatter.ID
	s.mu.Unlock()
	third, err := signIn(t, s, c)
	if err != nil {
		t.Fatal(err)
	}
	if third.Subject == first.Subject {
		t.Error("the user who took the old login got Ada's subject")
	}
}

func TestAccessDenied(t *testing.T) {
	t.Parallel()
	s := newStandIn(t, false)
	s.addUser(ada())
	s.deny = true
	c := openConnector(t, s, GitHub{})
	_, err := signIn(t, s, c)
	if !errors.Is(err, federation.ErrDenied) {
		t.Fatalf("err = %v, want ErrDenied", err)
	}
	// An error answer with another sign-in's state is not the user's
	// refusal: it is refused as invalid.
	req := newRequest(s)
	params := consent(t, s, c, req)
	params.Set("state", "forged")
	if _, err := c.Complete(context.Background(), federation.Callback{Request: req, Params: params}); !errors.Is(err, federation.ErrInvalidResponse) {
		t.Fatalf("forged error: err = %v, want ErrInvalidResponse", err)
	}
}

// TestCodeChecks: the verifier, the state and the code's single use are
// each checked, by the connector or by GitHub through it.
func TestCodeChecks(t *testing.T) {
	t.Parallel()
	s := newStandIn(t, false)
	s.addUser(ada())
	c := openConnector(t, s, GitHub{})
	ctx := context.Background()

	t.Run("wrong verifier", func(t *testing.T) {
		t.Parallel()
		req := newRequest(s)
		params := consent(t, s, c, req)
		stolen := req
		stolen.Verifier = rand.Text() + rand.Text() // a code thief has no verifier
		if _, err := c.Complete(ctx, federation.Callback{Request: stolen, Params: params}); !errors.Is(err, federation.ErrInvalidResponse) {
			t.Fatalf("err = %v, want ErrInvalidResponse", err)
		}
		// The code died with the wrong try.
		if _, err := c.Complete(ctx, federation.Callback{Request: req, Params: params}); !errors.Is(err, federation.ErrInvalidResponse) {
			t.Fatalf("after a wrong verifier: err = %v, want ErrInvalidResponse", err)
		}
	})
	t.Run("replayed code", func(t *testing.T) {
		t.Parallel()
		req := newRequest(s)
		params := consent(t, s, c, req)
		if _, err := c.Complete(ctx, federation.Callback{Request: req, Params: params}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Complete(ctx, federation.Callback{Request: req, Params: params}); !errors.Is(err, federation.ErrInvalidResponse) {
			t.Fatalf("replay: err = %v, want ErrInvalidResponse", err)
		}
	})
	t.Run("state", func(t *testing.T) {
		t.Parallel()
		req := newRequest(s)
		params := consent(t, s, c, req)
		other := req
		other.State = rand.Text()
		if _, err := c.Complete(ctx, federation.Callback{Request: other, Params: params}); !errors.Is(err, federation.ErrInvalidResponse) {
			t.Fatalf("err = %v, want ErrInvalidResponse", err)
		}
		// The check was the connector's: the code is still good.
		if _, err := c.Complete(ctx, federation.Callback{Request: req, Params: params}); err != nil {
			t.Fatalf("the code was spent by a refused state: %v", err)
		}
	})
	t.Run("no code", func(t *testing.T) {
		t.Parallel()
		req := newRequest(s)
		if _, err := c.Complete(ctx, federation.Callback{Request: req, Params: url.Values{"state": {req.State}}}); !errors.Is(err, federation.ErrInvalidResponse) {
			t.Fatalf("err = %v", err)
		}
		if _, err := c.Complete(ctx, federation.Callback{Request: req, Params: url.Values{"state": {req.State}, "code": {"made-up"}}}); !errors.Is(err, federation.ErrInvalidResponse) {
			t.Fatalf("made-up code: err = %v", err)
		}
	})
	t.Run("other redirect URI", func(t *testing.T) {
		t.Parallel()
		req := newRequest(s)
		req.RedirectURI = s.callback + "/sub"
		params := consent(t, s, c, req)
		req.RedirectURI = s.callback
		if _, err := c.Complete(ctx, federation.Callback{Request: req, Params: params}); !errors.Is(err, federation.ErrInvalidResponse) {
			t.Fatalf("err = %v, want ErrInvalidResponse", err)
		}
	})
	t.Run("bad request", func(t *testing.T) {
		t.Parallel()
		for _, req := range []federation.Request{{Verifier: rand.Text() + rand.Text(), RedirectURI: s.callback}, {State: "s", Verifier: "short", RedirectURI: s.callback}, {State: "s", Verifier: rand.Text() + rand.Text()}} {
			if _, err := c.Begin(ctx, req); err == nil {
				t.Errorf("Begin(%+v) accepted", req)
			}
		}
	})
}

func TestProviderFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("wrong secret", func(t *testing.T) {
		t.Parallel()
		s := newStandIn(t, false)
		s.addUser(ada())
		c := openConnector(t, s, GitHub{ClientID: s.clientID, ClientSecret: "wrong"})
		if _, err := signIn(t, s, c); !errors.Is(err, federation.ErrInvalidResponse) || !strings.Contains(err.Error(), "incorrect_client_credentials") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("down", func(t *testing.T) {
		t.Parallel()
		s := newStandIn(t, true)
		s.addUser(ada())
		c := openConnector(t, s, GitHub{})
		req := newRequest(s)
		params := consent(t, s, c, req)
		s.srv.Close()
		if _, err := c.Complete(ctx, federation.Callback{Request: req, Params: params}); !errors.Is(err, federation.ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
	})
	t.Run("5xx and rate limit", func(t *testing.T) {
		t.Parallel()
		for _, status := range []int{http.StatusBadGateway, http.StatusForbidden} {
			s := newStandIn(t, true)
			s.addUser(ada())
			inner := s.srv.Config.Handler
			s.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/api/v3/user" {
					w.Header().Set("X-RateLimit-Remaining", "0")
					http.Error(w, `{"message":"API rate limit exceeded"}`, status)
					return
				}
				inner.ServeHTTP(w, r)
			})
			if _, err := signIn(t, s, openConnector(t, s, GitHub{})); !errors.Is(err, federation.ErrUnavailable) {
				t.Fatalf("HTTP %d: err = %v, want ErrUnavailable", status, err)
			}
		}
	})
}

func TestAllowedOrganizations(t *testing.T) {
	t.Parallel()
	member := func(orgs ...ghMembership) *ghUser {
		u := ada()
		u.Orgs = orgs
		return u
	}
	acme := ghMembership{Login: "Acme", ID: 4001, State: "active"}
	for name, tc := range map[string]struct {
		user    *ghUser
		allowed []string
		pageCap int
		foreign bool
		ok      bool
	}{
		"member":                   {member(ghMembership{Login: "other", ID: 1, State: "active"}, acme), []string{"acme"}, 100, false, true},
		"member, by id":            {member(ghMembership{Login: "acme-renamed", ID: 4001, State: "active"}), []string{"id:4001"}, 100, false, true},
		"not a member":             {member(ghMembership{Login: "other", ID: 1, State: "active"}), []string{"acme"}, 100, false, false},
		"invited, not yet joined":  {member(ghMembership{Login: "acme", ID: 4001, State: "pending"}), []string{"acme"}, 100, false, false},
		"another org of that name": {member(ghMembership{Login: "acme", ID: 666, State: "active"}), []string{"id:4001"}, 100, false, false},
		"on the third page": {member(ghMembership{Login: "a", ID: 1, State: "active"}, ghMembership{Login: "b", ID: 2, State: "active"}, acme),
			[]string{"acme"}, 1, false, true},
		// The next page's link points elsewhere: the token is not sent there.
		"next page on another host": {member(ghMembership{Login: "a", ID: 1, State: "active"}, acme), []string{"acme"}, 1, true, false},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newStandIn(t, false)
			s.addUser(tc.user)
			s.pageCap, s.foreignNext = tc.pageCap, tc.foreign
			c := openConnector(t, s, GitHub{AllowedOrganizations: tc.allowed})
			id, err := signIn(t, s, c)
			switch {
			case tc.ok && err != nil:
				t.Fatalf("refused: %v", err)
			case !tc.ok && !errors.Is(err, federation.ErrDenied):
				t.Fatalf("err = %v (identity %v), want ErrDenied", err, id)
			}
			if !slices.Contains(s.callsSeen(), "api.github.com/user/memberships/orgs") {
				t.Error("the organizations were not read")
			}
		})
	}

	t.Run("read:org asked for and required", func(t *testing.T) {
		t.Parallel()
		s := newStandIn(t, false)
		s.addUser(member(acme))
		c := openConnector(t, s, GitHub{AllowedOrganizations: []string{"acme"}})
		req := newRequest(s)
		start, _ := c.Begin(context.Background(), req)
		u, _ := url.Parse(start.URL)
		if got := u.Query().Get("scope"); got != "read:user user:email read:org" {
			t.Fatalf("scope %q", got)
		}
		// The user strips read:org: the check fails closed.
		params := consentAt(t, s, strings.Replace(start.URL, "+read%3Aorg", "", 1))
		if _, err := c.Complete(context.Background(), federation.Callback{Request: req, Params: params}); !errors.Is(err, federation.ErrDenied) {
			t.Fatalf("err = %v, want ErrDenied", err)
		}
	})
}

func TestEnterpriseURL(t *testing.T) {
	t.Parallel()
	s := newStandIn(t, true)
	u := ada()
	u.Emails = []githubEmail{{Email: "ada@corp.example", Primary: true, Verified: true}}
	u.Orgs = []ghMembership{{Login: "eng", ID: 7, State: "active"}}
	s.addUser(u)
	c := openConnector(t, s, GitHub{AllowedOrganizations: []string{"eng"}})
	req := newRequest(s)
	start, err := c.Begin(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(start.URL, s.srv.URL+"/login/oauth/authorize?") {
		t.Errorf("authorize URL %s", start.URL)
	}
	id, err := c.Complete(context.Background(), federation.Callback{Request: req, Params: consent(t, s, c, req)})
	if err != nil {
		t.Fatal(err)
	}
	if id.Issuer != s.srv.URL || id.Email != "ada@corp.example" || id.Attributes["profile"] != s.srv.URL+"/ada-l" {
		t.Errorf("identity %+v", id)
	}
	want := []string{"ghe/login/oauth/authorize", "ghe/login/oauth/access_token", "ghe/api/v3/user",
		"ghe/api/v3/user/memberships/orgs", "ghe/api/v3/user/emails"}
	if got := s.callsSeen(); !slices.Equal(got, want) {
		t.Errorf("calls\n got %v\nwant %v", got, want)
	}

	// An Enterprise Server's no-reply addresses are its own host's.
	s.mu.Lock()
	host, _ := url.Parse(s.srv.URL)
	u.Emails = []githubEmail{{Email: "583231+ada-l@users.noreply." + host.Hostname(), Primary: true, Verified: true}}
	s.mu.Unlock()
	if id, err := signIn(t, s, c); err != nil || id.Email != "" {
		t.Errorf("no-reply address: %v %v", id, err)
	}
}

func TestCaddyfile(t *testing.T) {
	t.Parallel()
	mod, err := caddy.GetModule("gatehouse.idp.github")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := mod.New().(federation.Provider); !ok {
		t.Fatal("the module is not a federation.Provider")
	}
	var g GitHub
	d := caddyfile.NewTestDispenser(`github {
		client_id Iv1.abc
		client_secret {env.GH_SECRET}
		scopes read:user user:email
		enterprise_url https://ghe.example.com/
		allowed_organizations acme id:123
		display_name "Staff GitHub"
		attribute custom:company company
		attribute website
	}`)
	if err := g.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if g.ClientID != "Iv1.abc" || g.ClientSecret != "{env.GH_SECRET}" || g.EnterpriseURL != "https://ghe.example.com/" ||
		!slices.Equal(g.AllowedOrganizations, []string{"acme", "id:123"}) || g.DisplayName != "Staff GitHub" ||
		g.Attributes["custom:company"] != "company" {
		t.Errorf("parsed %+v", g)
	}
	m := g.Mapping(DefaultAttributes)
	if _, ok := m["website"]; ok || m["name"] != "name" {
		t.Errorf("mapping %v", m)
	}

	for name, src := range map[string]string{
		"unknown option":     "github {\n client_id a\n client_secret b\n colour blue\n}",
		"no secret":          "github {\n client_id a\n}",
		"argument":           "github extra {\n client_id a\n client_secret b\n}",
		"two values":         "github {\n client_id a b\n client_secret b\n}",
		"enterprise no URL":  "github {\n client_id a\n client_secret b\n enterprise_url ghe.example.com\n}",
		"enterprise query":   "github {\n client_id a\n client_secret b\n enterprise_url https://ghe.example.com/?x=1\n}",
		"enterprise http":    "github {\n client_id a\n client_secret b\n enterprise_url http://ghe.example.com\n}",
		"org not a login":    "github {\n client_id a\n client_secret b\n allowed_organizations acme/eng\n}",
		"org id not numeric": "github {\n client_id a\n client_secret b\n allowed_organizations id:acme\n}",
		"no orgs":            "github {\n client_id a\n client_secret b\n allowed_organizations\n}",
		"email mapped":       "github {\n client_id a\n client_secret b\n attribute email email\n}",
	} {
		var g GitHub
		err := g.UnmarshalCaddyfile(caddyfile.NewTestDispenser(src))
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.Contains(err.Error(), "github") && !strings.Contains(err.Error(), "attribute") {
			t.Errorf("%s: the error does not name the provider: %v", name, err)
		}
	}
}

// TestPlaceholders: {env.X} in the secret is replaced when the pool opens,
// and a secret that is empty once replaced is refused.
func TestPlaceholders(t *testing.T) {
	s := newStandIn(t, false) // not parallel: it sets the environment
	s.addUser(ada())
	t.Setenv("GATEHOUSE_TEST_GH_SECRET", s.secret)
	c := openConnector(t, s, GitHub{ClientID: s.clientID, ClientSecret: "{env.GATEHOUSE_TEST_GH_SECRET}"})
	if _, err := signIn(t, s, c); err != nil {
		t.Fatal(err)
	}
	g := GitHub{ClientID: "a", ClientSecret: "{env.GATEHOUSE_TEST_UNSET_VARIABLE}"}
	if _, err := g.Open(context.Background(), federation.Env{Name: "gh"}); err == nil {
		t.Fatal("an empty secret was accepted")
	}
}

// TestJSONConfig: the module's JSON (what the Caddyfile becomes) carries
// the common options beside the kind's own.
func TestJSONConfig(t *testing.T) {
	t.Parallel()
	mod, _ := caddy.GetModule("gatehouse.idp.github")
	g := mod.New().(*GitHub)
	src := `{"client_id":"a","client_secret":"b","enterprise_url":"https://ghe.example.com","allowed_organizations":["acme"],
		"display_name":"Corp GitHub","domains":["corp.example"],"create_users":false,"link_by_email":true,"attributes":{"custom:co":"company"}}`
	if err := json.Unmarshal([]byte(src), g); err != nil {
		t.Fatal(err)
	}
	c, err := g.Open(context.Background(), federation.Env{Name: "corp"})
	if err != nil {
		t.Fatal(err)
	}
	info := c.Info()
	if info.DisplayName != "Corp GitHub" || !slices.Equal(info.Domains, []string{"corp.example"}) || info.CreateUsers || !info.LinkByEmail {
		t.Errorf("info %+v", info)
	}
	start, err := c.Begin(context.Background(), federation.Request{State: "s", Verifier: strings.Repeat("v", 43), RedirectURI: "https://pool.example/cb"})
	if err != nil || !strings.HasPrefix(start.URL, "https://ghe.example.com/login/oauth/authorize?") || !strings.Contains(start.URL, "read%3Aorg") {
		t.Errorf("begin %v %v", start.URL, err)
	}
	out, _ := json.Marshal(g)
	if !strings.Contains(string(out), `"display_name":"Corp GitHub"`) || !strings.Contains(string(out), `"enterprise_url"`) {
		t.Errorf("marshalled %s", out)
	}
}

// FuzzComplete: whatever a callback carries, Complete ends in one of
// federation's error classes (or an identity only through the stand-in),
// and never panics.
func FuzzComplete(f *testing.F) {
	f.Add("state", "code", "", "")
	f.Add("state", "", "access_denied", "")
	f.Add("", "x", "redirect_uri_mismatch", "<script>")
	f.Fuzz(func(t *testing.T, state, code, errParam, desc string) {
		s := newStandIn(t, true)
		s.addUser(ada())
		c := openConnector(t, s, GitHub{})
		req := newRequest(s)
		if state == "state" { // the seeds reach past the state check
			state = req.State
		}
		params := url.Values{"state": {state}, "code": {code}, "error": {errParam}, "error_description": {desc}}
		id, err := c.Complete(context.Background(), federation.Callback{Request: req, Params: params})
		if err == nil {
			t.Fatalf("a made-up callback signed in as %+v", id)
		}
		if !errors.Is(err, federation.ErrInvalidResponse) && !errors.Is(err, federation.ErrDenied) {
			t.Fatalf("err = %v, not a federation error class", err)
		}
	})
}

// TestCallbackRegistration: an OAuth app has one callback URL, and GitHub
// takes a redirect_uri only at or below its path (on its host or a
// subdomain). Registered as the site's root, both Cognito's path on the
// issuer and the /_gatehouse/ path of a gateway site on a subdomain work;
// registered as /oauth2/idpresponse, the gateway path is refused by GitHub
// before any code is issued.
func TestCallbackRegistration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		registered, asked string
		ok                bool
	}{
		{"https://pool.example/", "https://pool.example/oauth2/idpresponse", true},
		{"https://pool.example/", "https://app.pool.example/_gatehouse/oauth2/idpresponse", true},
		{"https://pool.example/oauth2/idpresponse", "https://pool.example/oauth2/idpresponse", true},
		{"https://pool.example/oauth2/idpresponse", "https://app.pool.example/_gatehouse/oauth2/idpresponse", false},
		{"https://pool.example/", "https://pool.example.evil/oauth2/idpresponse", false},
		{"https://pool.example/", "https://pool.example:8443/oauth2/idpresponse", false},
	} {
		s := newStandIn(t, false)
		s.addUser(ada())
		s.callback = tc.registered
		c := openConnector(t, s, GitHub{})
		req := newRequest(s)
		req.RedirectURI = tc.asked
		start, err := c.Begin(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		browser := s.client()
		browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := browser.Get(start.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.StatusCode == http.StatusFound; got != tc.ok {
			t.Errorf("registered %s, asked %s: redirected %v, want %v", tc.registered, tc.asked, got, tc.ok)
			continue
		}
		if !tc.ok {
			continue
		}
		back, _ := url.Parse(resp.Header.Get("Location"))
		if _, err := c.Complete(context.Background(), federation.Callback{Request: req, Params: back.Query()}); err != nil {
			t.Errorf("registered %s, asked %s: %v", tc.registered, tc.asked, err)
		}
	}
}

// TestSecretsStayOut: a refused configuration is logged for the operator,
// without the client secret, the code or the token, and the error the
// pages may log carries none of them either.
func TestSecretsStayOut(t *testing.T) {
	t.Parallel()
	s := newStandIn(t, false)
	s.addUser(ada())
	core, logs := observer.New(zap.DebugLevel)
	const wrong = "wrong-secret-that-must-not-be-logged"
	cfg := GitHub{ClientID: s.clientID, ClientSecret: wrong}
	c, err := cfg.Open(context.Background(), federation.Env{Name: "gh", HTTPClient: s.client(), Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	req := newRequest(s)
	params := consent(t, s, c, req)
	_, err = c.Complete(context.Background(), federation.Callback{Request: req, Params: params})
	if !errors.Is(err, federation.ErrInvalidResponse) {
		t.Fatalf("err = %v", err)
	}
	if logs.FilterMessageSnippet("configuration").Len() != 1 {
		t.Errorf("the refused credentials were not logged: %v", logs.All())
	}
	for _, secret := range []string{wrong, params.Get("code"), req.Verifier} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error carries %q", secret)
		}
		for _, e := range logs.All() {
			if strings.Contains(e.Message, secret) || strings.Contains(fmt.Sprint(e.ContextMap()), secret) {
				t.Errorf("a log entry carries %q: %v", secret, e)
			}
		}
	}
}
