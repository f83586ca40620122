package middleware

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestCompilePolicyErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Policy
		want string
	}{
		{"unknown kind", Policy{Rules: []Rule{{Kind: "colour", Values: []string{"blue"}}}}, "unknown rule"},
		{"group without values", Policy{Rules: []Rule{{Kind: "group"}}}, "at least one value"},
		{"claim without name", Policy{Rules: []Rule{{Kind: "claim", Values: []string{"x"}}}}, "claim name"},
		{"mfa with values", Policy{Rules: []Rule{{Kind: "mfa", Values: []string{"x"}}}}, "takes no values"},
		{"claim name on group", Policy{Rules: []Rule{{Kind: "group", Claim: "x", Values: []string{"a"}}}}, "takes no claim"},
		{"empty value", Policy{Rules: []Rule{{Kind: "scope", Values: []string{""}}}}, "empty value"},
		{"scope with quote", Policy{Rules: []Rule{{Kind: "scope", Values: []string{`a"b`}}}}, "not a scope token"},
		{"allow anonymous with rules", Policy{AllowAnonymous: true, Rules: []Rule{{Kind: "authenticated"}}}, "allow anonymous"},
		{"default role not last", Policy{Roles: []RoleRule{{Role: "user"}, {Role: "admin", When: "group", Values: []string{"a"}}}}, "last role line"},
		{"role with unknown condition", Policy{Roles: []RoleRule{{Role: "x", When: "time", Values: []string{"a"}}}}, "unknown condition"},
		{"role name with comma", Policy{Roles: []RoleRule{{Role: "a,b"}}}, "role"},
		{"guest role with space", Policy{GuestRole: "a b"}, "role"},
		{"public path everything", Policy{PublicPaths: []string{"/*"}}, "without paths"},
		{"public path relative", Policy{PublicPaths: []string{"public/*"}}, "starts with /"},
		{"public path star inside", Policy{PublicPaths: []string{"/a/*/b"}}, "*"},
		{"public path unclean", Policy{PublicPaths: []string{"/a/../b"}}, "clean"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := compilePolicy(tc.p); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestRuleEvaluation(t *testing.T) {
	session := sessionFacts(&Session{UserID: "u1", Email: "ada@example.com", EmailVerified: true, Name: "Ada",
		Groups: []string{"dev", "staff"}, AMR: []string{"pwd"}})
	mfaSession := sessionFacts(&Session{UserID: "u2", AMR: []string{"pwd", "otp"}})
	token := facts{bearer: true, claims: map[string][]string{
		"sub": {"u3"}, "department": {"finance"}, "email_verified": {"true"}, "tier": {"3"},
	}, scopes: []string{"orders/read"}, groups: []string{"ops"}}
	admin := &Role{name: "admin"}
	for _, tc := range []struct {
		name string
		rule Rule
		f    *facts
		role *Role
		want bool
	}{
		{"authenticated session", Rule{Kind: "authenticated"}, &session, nil, true},
		{"authenticated anonymous", Rule{Kind: "authenticated"}, nil, nil, false},
		{"group any of", Rule{Kind: "group", Values: []string{"admins", "staff"}}, &session, nil, true},
		{"group none of", Rule{Kind: "group", Values: []string{"admins"}}, &session, nil, false},
		{"group anonymous", Rule{Kind: "group", Values: []string{"staff"}}, nil, nil, false},
		{"token group", Rule{Kind: "group", Values: []string{"ops"}}, &token, nil, true},
		{"session claim email", Rule{Kind: "claim", Claim: "email", Values: []string{"ada@example.com"}}, &session, nil, true},
		{"session claim email_verified", Rule{Kind: "claim", Claim: "email_verified", Values: []string{"true"}}, &session, nil, true},
		{"session claim groups", Rule{Kind: "claim", Claim: "groups", Values: []string{"dev"}}, &session, nil, true},
		{"session claim unknown", Rule{Kind: "claim", Claim: "department", Values: []string{"finance"}}, &session, nil, false},
		{"token claim", Rule{Kind: "claim", Claim: "department", Values: []string{"hr", "finance"}}, &token, nil, true},
		{"token claim number", Rule{Kind: "claim", Claim: "tier", Values: []string{"3"}}, &token, nil, true},
		{"token claim other value", Rule{Kind: "claim", Claim: "department", Values: []string{"hr"}}, &token, nil, false},
		{"scope on token", Rule{Kind: "scope", Values: []string{"orders/write", "orders/read"}}, &token, nil, true},
		{"missing scope on token", Rule{Kind: "scope", Values: []string{"orders/write"}}, &token, nil, false},
		{"scope on session", Rule{Kind: "scope", Values: []string{"openid"}}, &session, nil, false},
		{"mfa without", Rule{Kind: "mfa"}, &session, nil, false},
		{"mfa with otp", Rule{Kind: "mfa"}, &mfaSession, nil, true},
		{"role match", Rule{Kind: "role", Values: []string{"admin"}}, &session, admin, true},
		{"role none", Rule{Kind: "role", Values: []string{"admin"}}, &session, nil, false},
		{"role of anonymous", Rule{Kind: "role", Values: []string{"admin"}}, nil, admin, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := compilePolicy(Policy{Rules: []Rule{tc.rule}})
			if err != nil {
				t.Fatal(err)
			}
			if got := p.check(tc.f, tc.role) < 0; got != tc.want {
				t.Errorf("holds = %v, want %v", got, tc.want)
			}
		})
	}

	t.Run("rules AND together", func(t *testing.T) {
		p, err := compilePolicy(Policy{Rules: []Rule{
			{Kind: "group", Values: []string{"staff"}},
			{Kind: "mfa"},
		}})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.check(&session, nil); got != 1 {
			t.Errorf("first failing rule %d, want 1 (mfa)", got)
		}
	})
}

func TestRoleMappingOrder(t *testing.T) {
	p, err := compilePolicy(Policy{Roles: []RoleRule{
		{Role: "admin", When: "group", Values: []string{"admins"}},
		{Role: "finance", When: "claim", Claim: "department", Values: []string{"finance"}},
		{Role: "staff", When: "group", Values: []string{"staff", "admins"}},
		{Role: "member"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		f    facts
		want string
	}{
		{"first match wins", sessionFacts(&Session{UserID: "a", Groups: []string{"staff", "admins"}}), "admin"},
		{"claim", facts{claims: map[string][]string{"department": {"finance"}}, groups: []string{"staff"}}, "finance"},
		{"later group", sessionFacts(&Session{UserID: "b", Groups: []string{"staff"}}), "staff"},
		{"default", sessionFacts(&Session{UserID: "c"}), "member"},
	} {
		if got := p.roleFor(&tc.f); got == nil || got.Name() != tc.want {
			t.Errorf("%s: role %v, want %s", tc.name, got, tc.want)
		}
	}
	noDefault, _ := compilePolicy(Policy{Roles: []RoleRule{{Role: "admin", When: "group", Values: []string{"admins"}}}})
	if got := noDefault.roleFor(&facts{}); got != nil {
		t.Errorf("no role matches: got %v, want none", got)
	}
}

// ruleFixture is a gateway fixture whose refusals are counted by status.
type ruleFixture struct {
	*gwFixture
	refused atomic.Int32
	status  atomic.Int32
}

func newRuleFixture(t *testing.T, mode Mode, pol Policy) *ruleFixture {
	t.Helper()
	rf := &ruleFixture{}
	rf.gwFixture = newGatewayFixture(t, func(c *Config) {
		c.Mode = mode
		c.Policy = pol
		c.RenderError = func(w http.ResponseWriter, _ *http.Request, status int, title, message string) {
			rf.refused.Add(1)
			rf.status.Store(int32(status))
			http.Error(w, title+": "+message, status)
		}
	})
	return rf
}

func TestAuthorizeCookieRules(t *testing.T) {
	for _, tc := range []struct {
		name       string
		mode       Mode
		pol        Policy
		signedIn   bool
		accept     string
		wantStatus int // 0: passes
		wantRole   string
	}{
		{"group allowed", ModeAuthenticate, Policy{Rules: []Rule{{Kind: "group", Values: []string{"admins", "dev"}}}}, true, "", 0, ""},
		{"group denied", ModeAuthenticate, Policy{Rules: []Rule{{Kind: "group", Values: []string{"admins"}}}}, true, "", http.StatusForbidden, ""},
		{"claim allowed", ModeDeny, Policy{Rules: []Rule{{Kind: "claim", Claim: "email", Values: []string{"ada@example.com"}}}}, true, "", 0, ""},
		{"mfa on a password session", ModeDeny, Policy{Rules: []Rule{{Kind: "mfa"}}}, true, "", http.StatusForbidden, ""},
		{"scope on a session", ModeDeny, Policy{Rules: []Rule{{Kind: "scope", Values: []string{"openid"}}}}, true, "", http.StatusForbidden, ""},
		{"role mapped and required", ModeDeny, Policy{
			Roles: []RoleRule{{Role: "developer", When: "group", Values: []string{"dev"}}, {Role: "user"}},
			Rules: []Rule{{Kind: "role", Values: []string{"developer"}}},
		}, true, "", 0, "developer"},
		{"role required, other role", ModeDeny, Policy{
			Roles: []RoleRule{{Role: "user"}},
			Rules: []Rule{{Kind: "role", Values: []string{"admin"}}},
		}, true, "", http.StatusForbidden, ""},
		{"anonymous, deny", ModeDeny, Policy{}, false, "text/html", http.StatusUnauthorized, ""},
		{"anonymous, authenticate", ModeAuthenticate, Policy{}, false, "text/html", http.StatusFound, ""},
		{"anonymous, allow, guest role", ModeAllow, Policy{GuestRole: "guest"}, false, "text/html", 0, "guest"},
		{"anonymous, allow, a rule needs a user: sign in", ModeAllow, Policy{Rules: []Rule{{Kind: "authenticated"}}}, false, "text/html", http.StatusFound, ""},
		{"anonymous, allow, API: 401", ModeAllow, Policy{Rules: []Rule{{Kind: "group", Values: []string{"dev"}}}}, false, "application/json", http.StatusUnauthorized, ""},
		{"anonymous, allow, guest role required", ModeAllow, Policy{GuestRole: "guest", Rules: []Rule{{Kind: "role", Values: []string{"guest"}}}}, false, "", 0, "guest"},
		{"anonymous, allow anonymous", ModeDeny, Policy{AllowAnonymous: true, GuestRole: "guest"}, false, "", 0, "guest"},
		{"anonymous on a public path", ModeAuthenticate, Policy{PublicPaths: []string{"/reports"}}, false, "text/html", 0, ""},
		{"denied user on a public path", ModeDeny, Policy{PublicPaths: []string{"/reports"}, Rules: []Rule{{Kind: "group", Values: []string{"admins"}}}}, true, "", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newRuleFixture(t, tc.mode, tc.pol)
			var cookies []*http.Cookie
			if tc.signedIn {
				cookies = f.start(t)
			}
			extra := map[string]string{HeaderRole: "root", "x_gatehouse_role": "root"}
			if tc.accept != "" {
				extra["Accept"] = tc.accept
			}
			ok, r, rec := f.guard(cookies, extra)
			if tc.wantStatus == 0 {
				if !ok {
					t.Fatalf("refused: %d %s", rec.Code, rec.Body)
				}
				if got := r.Header[HeaderRole]; tc.wantRole == "" && got != nil || tc.wantRole != "" && (len(got) != 1 || got[0] != tc.wantRole) {
					t.Errorf("%s = %q, want %q", HeaderRole, got, tc.wantRole)
				}
				//lint:ignore SA1008 the forged header's own spelling, as a client sent it
				if _, forged := r.Header["x_gatehouse_role"]; forged {
					t.Error("a forged role header in another spelling reached the upstream")
				}
				if got := r.Header.Get(HeaderIdentity); tc.signedIn != (got == f.user.ID) {
					t.Errorf("identity %q", got)
				}
				return
			}
			if ok {
				t.Fatalf("passed, want %d", tc.wantStatus)
			}
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.wantStatus, rec.Body)
			}
			if tc.wantStatus == http.StatusForbidden && (f.refused.Load() != 1 || f.status.Load() != http.StatusForbidden) {
				t.Errorf("403 not answered through RenderError")
			}
			if rec.Header().Get("WWW-Authenticate") != "" {
				t.Errorf("a cookie request got a bearer challenge: %q", rec.Header().Get("WWW-Authenticate"))
			}
		})
	}
}

// TestAuthorizeNested runs two gateways in one request, as a site-level
// block and one inside a `handle`: the inner one takes the outer's
// principal, adds its rules, never reads the cookie or injects again.
func TestAuthorizeNested(t *testing.T) {
	outer := newRuleFixture(t, ModeAllow, Policy{
		Roles:     []RoleRule{{Role: "developer", When: "group", Values: []string{"dev"}}},
		GuestRole: "guest",
	})
	innerGW := func(mode Mode, pol Policy) *Gateway {
		cfg := outer.config()
		cfg.Mode, cfg.Policy = mode, pol
		cfg.Headers = []HeaderRule{{Name: "X-Inner", Template: "{email}"}} // would show a second injection
		cfg.RenderError = func(w http.ResponseWriter, _ *http.Request, status int, _, _ string) { w.WriteHeader(status) }
		g, err := NewGateway(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	cookies := outer.start(t)
	request := func(signedIn bool) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "https://app.example.com/admin/x", nil)
		r.Header.Set("Accept", "text/html")
		if signedIn {
			for _, c := range cookies {
				r.AddCookie(c)
			}
		}
		return r
	}

	t.Run("inner rules apply to the outer's principal", func(t *testing.T) {
		admins := innerGW(ModeAuthenticate, Policy{Rules: []Rule{{Kind: "group", Values: []string{"admins"}}}})
		devs := innerGW(ModeAuthenticate, Policy{Rules: []Rule{{Kind: "role", Values: []string{"developer"}}}})
		r := request(true)
		auth, ok := outer.gw.Authorize(httptest.NewRecorder(), r, Auth{})
		if !ok || !auth.Principal.Authenticated() || auth.Role.Name() != "developer" {
			t.Fatalf("outer: ok %v, auth %+v", ok, auth)
		}
		// A client header the inner block would strip if it stripped again.
		r.Header.Set("X-Inner", "untouched")
		rec := httptest.NewRecorder()
		if _, ok := admins.Authorize(rec, r, auth); ok || rec.Code != http.StatusForbidden {
			t.Errorf("inner admins block: ok %v status %d, want 403 (never a redirect)", ok, rec.Code)
		}
		rec = httptest.NewRecorder()
		got, ok := devs.Authorize(rec, r, auth)
		if !ok || got.Principal != auth.Principal || got.Role != auth.Role {
			t.Fatalf("inner role block: ok %v (%d), auth %+v", ok, rec.Code, got)
		}
		if len(rec.Header()["Set-Cookie"]) != 0 {
			t.Error("the inner block touched the session cookie")
		}
		if v := r.Header[HeaderIdentity]; len(v) != 1 || v[0] != outer.user.ID {
			t.Errorf("identity header %q, want it once", v)
		}
		if r.Header.Get("X-Inner") != "untouched" {
			t.Error("the inner block stripped or injected headers again")
		}
	})

	t.Run("inner roles replace the outer's", func(t *testing.T) {
		inner := innerGW(ModeDeny, Policy{Roles: []RoleRule{{Role: "reader", When: "claim", Claim: "email_verified", Values: []string{"true"}}}})
		none := innerGW(ModeDeny, Policy{Roles: []RoleRule{{Role: "admin", When: "group", Values: []string{"admins"}}}})
		r := request(true)
		auth, _ := outer.gw.Authorize(httptest.NewRecorder(), r, Auth{})
		got, ok := inner.Authorize(httptest.NewRecorder(), r, auth)
		if !ok || got.Role.Name() != "reader" || r.Header.Get(HeaderRole) != "reader" {
			t.Errorf("role %v, header %q, want reader", got.Role, r.Header.Get(HeaderRole))
		}
		got, ok = none.Authorize(httptest.NewRecorder(), r, got)
		if !ok || got.Role != nil || r.Header[HeaderRole] != nil {
			t.Errorf("no inner role matches: role %v, header %q, want none", got.Role, r.Header[HeaderRole])
		}
	})

	t.Run("anonymous from an allow block meets a block that needs a user", func(t *testing.T) {
		inner := innerGW(ModeAuthenticate, Policy{Rules: []Rule{{Kind: "group", Values: []string{"dev"}}}})
		r := request(false)
		auth, ok := outer.gw.Authorize(httptest.NewRecorder(), r, Auth{})
		if !ok || auth.Principal.Authenticated() || auth.Role.Name() != "guest" || r.Header.Get(HeaderRole) != "guest" {
			t.Fatalf("outer: ok %v auth %+v", ok, auth)
		}
		rec := httptest.NewRecorder()
		if _, ok := inner.Authorize(rec, r, auth); ok || rec.Code != http.StatusFound ||
			!strings.HasPrefix(rec.Header().Get("Location"), "/_gatehouse/signin?rd=%2Fadmin%2Fx") {
			t.Errorf("inner: ok %v, %d to %q; want one redirect to sign in", ok, rec.Code, rec.Header().Get("Location"))
		}
		public := innerGW(ModeAuthenticate, Policy{AllowAnonymous: true})
		if _, ok := public.Authorize(httptest.NewRecorder(), r, auth); !ok {
			t.Error("an allow anonymous block refused an anonymous request")
		}
	})
}

// TestAuthorizeAllocations: rules, roles and nested blocks keep the
// authenticated path free of allocations.
func TestAuthorizeAllocations(t *testing.T) {
	pol := Policy{
		Roles: []RoleRule{
			{Role: "admin", When: "group", Values: []string{"admins"}},
			{Role: "developer", When: "claim", Claim: "email_verified", Values: []string{"true"}},
			{Role: "user"},
		},
		Rules: []Rule{
			{Kind: "group", Values: []string{"staff", "dev"}},
			{Kind: "claim", Claim: "email", Values: []string{"ada@example.com"}},
			{Kind: "role", Values: []string{"developer", "admin"}},
		},
		PublicPaths: []string{"/healthz"},
	}
	f := newRuleFixture(t, ModeDeny, pol)
	inner, err := NewGateway(func() Config {
		c := f.config()
		c.Policy = Policy{
			Roles: []RoleRule{{Role: "reader", When: "group", Values: []string{"dev"}}},
			Rules: []Rule{{Kind: "authenticated"}, {Kind: "role", Values: []string{"reader"}}},
		}
		return c
	}())
	if err != nil {
		t.Fatal(err)
	}
	cookies := f.start(t)
	ok, r, rec := f.guard(cookies, nil)
	if !ok || r.Header.Get(HeaderRole) != "developer" {
		t.Fatalf("refused: %d %s (role %q)", rec.Code, rec.Body, r.Header.Get(HeaderRole))
	}
	w := httptest.NewRecorder()
	if n := testing.AllocsPerRun(200, func() {
		if !f.gw.Guard(w, r) {
			t.Fatal("refused")
		}
	}); n != 0 {
		t.Errorf("Guard with rules and roles: %v allocations, want 0", n)
	}
	auth, _ := f.gw.Authorize(w, r, Auth{})
	if n := testing.AllocsPerRun(200, func() {
		if _, ok := inner.Authorize(w, r, auth); !ok {
			t.Fatal("inner refused")
		}
	}); n != 0 {
		t.Errorf("nested Authorize: %v allocations, want 0", n)
	}
}
