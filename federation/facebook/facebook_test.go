package facebook

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/gatehouse-auth/gatehouse/federation"
)

// These tests run the connector against standIn (standin_test.go), a
// loopback stand-in for Facebook: Facebook itself cannot be reached here.

func grace() *fbUser {
	return &fbUser{ID: "10229876543210123", Name: "Grace Hopper", First: "Grace", Last: "Hopper",
		Email: "Grace@Example.com", EmailConfirmed: true}
}

func openConnector(t *testing.T, s *standIn, cfg Facebook) federation.Connector {
	t.Helper()
	if cfg.ClientID == "" {
		cfg.ClientID, cfg.ClientSecret = s.appID, s.secret
	}
	cfg.WebURL, cfg.GraphURL = s.www.URL, s.graph.URL+"/"
	if cfg.APIVersion == "" {
		cfg.APIVersion = s.version
	}
	c, err := cfg.Open(context.Background(), federation.Env{Name: "fb", Pool: "default", HTTPClient: &http.Client{}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newRequest(s *standIn) federation.Request {
	return federation.Request{State: rand.Text(), Nonce: rand.Text(), Verifier: rand.Text() + rand.Text(), RedirectURI: s.callback}
}

// consent sends the "browser" to Begin's URL and returns what Facebook
// redirected it back with.
func consent(t *testing.T, c federation.Connector, req federation.Request) url.Values {
	t.Helper()
	start, err := c.Begin(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.Get(start.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("the dialog answered %d, want a redirect back", resp.StatusCode)
	}
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || back.Scheme+"://"+back.Host+back.Path != req.RedirectURI {
		t.Fatalf("Facebook sent the browser to %s (%v)", resp.Header.Get("Location"), err)
	}
	return back.Query()
}

func signIn(t *testing.T, s *standIn, c federation.Connector) (*federation.Identity, error) {
	t.Helper()
	req := newRequest(s)
	return c.Complete(context.Background(), federation.Callback{Request: req, Params: consent(t, c, req)})
}

func TestSignIn(t *testing.T) {
	t.Parallel()
	s := newStandIn(t, "")
	s.user = grace()
	c := openConnector(t, s, Facebook{})
	req := newRequest(s)
	start, err := c.Begin(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(start.URL)
	if u.Scheme+"://"+u.Host+u.Path != s.www.URL+"/dialog/oauth" {
		t.Errorf("dialog URL %s", start.URL)
	}
	for k, want := range map[string]string{"client_id": s.appID, "redirect_uri": s.callback, "state": req.State,
		"response_type": "code", "scope": "public_profile,email", "code_challenge_method": "S256"} {
		if got := u.Query().Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if strings.Contains(start.URL, s.secret) || strings.Contains(start.URL, req.Verifier) {
		t.Error("the dialog URL carries the secret or the verifier")
	}
	id, err := c.Complete(context.Background(), federation.Callback{Request: req, Params: consent(t, c, req)})
	if err != nil {
		t.Fatal(err)
	}
	want := &federation.Identity{Provider: "fb", Type: "Facebook", Issuer: s.www.URL, Subject: "10229876543210123",
		Email: "grace@example.com", EmailVerified: true, Attributes: map[string]string{
			"name": "Grace Hopper", "given_name": "Grace", "family_name": "Hopper",
			"picture": "https://platform-lookaside.fbsbx.com/platform/profilepic/?asid=10229876543210123"}}
	if !reflect.DeepEqual(id, want) {
		t.Errorf("identity\n got %+v\nwant %+v", id, want)
	}
	if got := s.lastMeQ.Get("fields"); got != "id,email,first_name,last_name,name,picture" {
		t.Errorf("fields %q", got)
	}
	if s.lastMeQ.Get("access_token") != "" {
		t.Error("the token went in the URL")
	}
	for _, call := range s.callsSeen() {
		if strings.HasPrefix(call, "graph GET /oauth") {
			t.Error("the code exchange was a GET: the secret would be in a URL")
		}
	}
	info := c.Info()
	if info.Type != "Facebook" || info.Kind != "facebook" || info.DisplayName != "Facebook" || info.Protocol != federation.ProtocolOIDC ||
		!strings.Contains(string(info.Logo), "<svg") {
		t.Errorf("info %+v", info)
	}
}

func TestAPIVersion(t *testing.T) {
	t.Parallel()
	s := newStandIn(t, "v23.0")
	s.user = grace()
	if _, err := signIn(t, s, openConnector(t, s, Facebook{})); err != nil {
		t.Fatal(err)
	}
	want := []string{"www GET /v23.0/dialog/oauth", "graph POST /v23.0/oauth/access_token", "graph GET /v23.0/me"}
	if got := s.callsSeen(); !slices.Equal(got, want) {
		t.Errorf("calls %v, want %v", got, want)
	}
}

func TestEmail(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		change func(*fbUser)
		want   string
	}{
		"confirmed":                  {func(*fbUser) {}, "grace@example.com"},
		"permission declined":        {func(u *fbUser) { u.DeclineEmailGranted = true }, ""},
		"not confirmed at Facebook":  {func(u *fbUser) { u.EmailConfirmed = false }, ""},
		"no address (a phone login)": {func(u *fbUser) { u.Email = "" }, ""},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newStandIn(t, "")
			s.user = grace()
			tc.change(s.user)
			id, err := signIn(t, s, openConnector(t, s, Facebook{}))
			if err != nil {
				t.Fatal(err)
			}
			if id.Email != tc.want || id.EmailVerified != (tc.want != "") {
				t.Errorf("email %q verified %v, want %q", id.Email, id.EmailVerified, tc.want)
			}
			if _, ok := id.Attributes["email"]; ok {
				t.Error("the address became an attribute")
			}
		})
	}
}

func TestAttributes(t *testing.T) {
	t.Parallel()
	s := newStandIn(t, "")
	s.user = grace()
	s.user.Silhouette = true
	s.user.Birthday = "12/09/1906"
	c := openConnector(t, s, Facebook{Scopes: []string{"public_profile", "email", "user_birthday"},
		Common: federation.Common{Attributes: map[string]string{"birthdate": "birthday", "family_name": ""}}})
	id, err := signIn(t, s, c)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"name": "Grace Hopper", "given_name": "Grace", "birthdate": "12/09/1906"}
	if !reflect.DeepEqual(id.Attributes, want) {
		t.Errorf("attributes %v, want %v (no picture for the silhouette, no family_name)", id.Attributes, want)
	}
	if got := s.lastMeQ.Get("fields"); got != "id,email,birthday,first_name,name,picture" {
		t.Errorf("fields %q", got)
	}
	bad := Facebook{ClientID: "a", ClientSecret: "b", Common: federation.Common{Attributes: map[string]string{"x": "name{first}"}}}
	if _, err := bad.Open(context.Background(), federation.Env{Name: "fb"}); err == nil {
		t.Error("a mapping that would edit the fields parameter was accepted")
	}
}

func TestAccessDenied(t *testing.T) {
	t.Parallel()
	s := newStandIn(t, "")
	s.user = grace()
	s.deny = true
	c := openConnector(t, s, Facebook{})
	if _, err := signIn(t, s, c); !errors.Is(err, federation.ErrDenied) {
		t.Fatalf("err = %v, want ErrDenied", err)
	}
	req := newRequest(s)
	params := consent(t, c, req)
	params.Set("state", rand.Text())
	if _, err := c.Complete(context.Background(), federation.Callback{Request: req, Params: params}); !errors.Is(err, federation.ErrInvalidResponse) {
		t.Fatalf("an error answer with another state: err = %v, want ErrInvalidResponse", err)
	}
}

func TestCodeChecks(t *testing.T) {
	t.Parallel()
	s := newStandIn(t, "")
	s.user = grace()
	c := openConnector(t, s, Facebook{})
	ctx := context.Background()
	t.Run("wrong verifier", func(t *testing.T) {
		t.Parallel()
		req := newRequest(s)
		params := consent(t, c, req)
		thief := req
		thief.Verifier = rand.Text() + rand.Text()
		if _, err := c.Complete(ctx, federation.Callback{Request: thief, Params: params}); !errors.Is(err, federation.ErrInvalidResponse) {
			t.Fatalf("err = %v, want ErrInvalidResponse", err)
		}
		if _, err := c.Complete(ctx, federation.Callback{Request: req, Params: params}); !errors.Is(err, federation.ErrInvalidResponse) {
			t.Fatalf("the code outlived a wrong verifier: %v", err)
		}
	})
	t.Run("replayed code", func(t *testing.T) {
		t.Parallel()
		req := newRequest(s)
		params := consent(t, c, req)
		if _, err := c.Complete(ctx, federation.Callback{Request: req, Params: params}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Complete(ctx, federation.Callback{Request: req, Params: params}); !errors.Is(err, federation.ErrInvalidResponse) {
			t.Fatalf("replay: err = %v", err)
		}
	})
	t.Run("state", func(t *testing.T) {
		t.Parallel()
		req := newRequest(s)
		params := consent(t, c, req)
		params.Del("state")
		if _, err := c.Complete(ctx, federation.Callback{Request: req, Params: params}); !errors.Is(err, federation.ErrInvalidResponse) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestProviderFailures(t *testing.T) {
	t.Parallel()
	t.Run("wrong secret", func(t *testing.T) {
		t.Parallel()
		s := newStandIn(t, "")
		s.user = grace()
		c := openConnector(t, s, Facebook{ClientID: s.appID, ClientSecret: "wrong"})
		if _, err := signIn(t, s, c); !errors.Is(err, federation.ErrInvalidResponse) {
			t.Fatalf("err = %v, want ErrInvalidResponse", err)
		}
	})
	t.Run("rate limited", func(t *testing.T) {
		t.Parallel()
		s := newStandIn(t, "")
		s.user = grace()
		s.rateOnMe = true
		if _, err := signIn(t, s, openConnector(t, s, Facebook{})); !errors.Is(err, federation.ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
	})
	t.Run("graph down", func(t *testing.T) {
		t.Parallel()
		s := newStandIn(t, "")
		s.user = grace()
		c := openConnector(t, s, Facebook{})
		req := newRequest(s)
		params := consent(t, c, req)
		s.graph.Close()
		if _, err := c.Complete(context.Background(), federation.Callback{Request: req, Params: params}); !errors.Is(err, federation.ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
	})
}

func TestCaddyfile(t *testing.T) {
	t.Parallel()
	mod, err := caddy.GetModule("gatehouse.idp.facebook")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := mod.New().(federation.Provider); !ok {
		t.Fatal("the module is not a federation.Provider")
	}
	var f Facebook
	if err := f.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`facebook {
		client_id 1234
		client_secret {file./run/secrets/fb}
		scopes public_profile email user_birthday
		api_version v23.0
		graph_url http://127.0.0.1:9/
		create_users off
	}`)); err != nil {
		t.Fatal(err)
	}
	if f.ClientID != "1234" || f.ClientSecret != "{file./run/secrets/fb}" || f.APIVersion != "v23.0" || len(f.Scopes) != 3 ||
		f.GraphURL != "http://127.0.0.1:9/" || f.CreateUsers == nil || *f.CreateUsers {
		t.Errorf("parsed %+v", f)
	}
	for name, src := range map[string]string{
		"unknown option":   "facebook {\n client_id a\n client_secret b\n colour blue\n}",
		"no secret":        "facebook {\n client_id a\n}",
		"argument":         "facebook x {\n client_id a\n client_secret b\n}",
		"bad version":      "facebook {\n client_id a\n client_secret b\n api_version 23\n}",
		"bad graph URL":    "facebook {\n client_id a\n client_secret b\n graph_url graph.facebook.com\n}",
		"URL with a query": "facebook {\n client_id a\n client_secret b\n web_url https://x.example/?a=b\n}",
		"no scopes":        "facebook {\n client_id a\n client_secret b\n scopes\n}",
	} {
		var f Facebook
		if err := f.UnmarshalCaddyfile(caddyfile.NewTestDispenser(src)); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.Contains(err.Error(), "facebook") {
			t.Errorf("%s: the error does not name the provider: %v", name, err)
		}
	}
}

func TestJSONConfig(t *testing.T) {
	t.Parallel()
	mod, _ := caddy.GetModule("gatehouse.idp.facebook")
	f := mod.New().(*Facebook)
	src := `{"client_id":"a","client_secret":"b","api_version":"v23.0","display_name":"FB","create_users":false,"attributes":{"name":""}}`
	if err := json.Unmarshal([]byte(src), f); err != nil {
		t.Fatal(err)
	}
	c, err := f.Open(context.Background(), federation.Env{Name: "fb"})
	if err != nil {
		t.Fatal(err)
	}
	if info := c.Info(); info.DisplayName != "FB" || info.CreateUsers {
		t.Errorf("info %+v", info)
	}
	start, err := c.Begin(context.Background(), federation.Request{State: "s", Verifier: strings.Repeat("v", 43), RedirectURI: "https://pool.example/cb"})
	if err != nil || !strings.HasPrefix(start.URL, "https://www.facebook.com/v23.0/dialog/oauth?") {
		t.Errorf("begin %v %v", start.URL, err)
	}
	f.APIVersion = "23"
	if _, err := f.Open(context.Background(), federation.Env{Name: "fb"}); err == nil {
		t.Error("a bad api_version in JSON was accepted")
	}
}
