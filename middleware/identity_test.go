package middleware

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeSource stands in for an outside issuer: it records sign-ins and
// answers refreshes as told.
type fakeSource struct {
	mu        sync.Mutex
	signIns   []string
	refreshes []*Session
	refresh   func(s *Session) (*Identity, error)
}

func (f *fakeSource) SignIn(w http.ResponseWriter, r *http.Request, returnTo string) {
	f.mu.Lock()
	f.signIns = append(f.signIns, returnTo)
	f.mu.Unlock()
	http.Redirect(w, r, "https://idp.example.com/authorize", http.StatusFound)
}

func (f *fakeSource) Refresh(ctx context.Context, s *Session) (*Identity, error) {
	f.mu.Lock()
	f.refreshes = append(f.refreshes, s)
	fn := f.refresh
	f.mu.Unlock()
	return fn(s)
}

// issuerIdentity is a user as an outside issuer vouches for them.
func issuerIdentity(now time.Time) *Identity {
	return &Identity{
		Subject:       "idp|42",
		Email:         "grace@example.org",
		EmailVerified: true,
		Name:          "Grace Hopper",
		Groups:        []string{"navy"},
		AMR:           []string{"pwd", "mfa"},
		AuthTime:      now.Add(-time.Minute).Truncate(time.Second),
		AccessToken:   "issuer-access-1",
		RefreshToken:  "issuer-refresh-1",
		RefreshBy:     now.Add(time.Minute),
	}
}

// startIdentity starts a session for id and returns its cookies.
func (f *gwFixture) startIdentity(t *testing.T, id *Identity) []*http.Cookie {
	t.Helper()
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "https://app.example.com/_gatehouse/oauth2/callback", nil)
	if err := f.gw.StartIdentity(rec, r, id); err != nil {
		t.Fatalf("StartIdentity: %v", err)
	}
	return rec.Result().Cookies()
}

func TestGatewayStartIdentity(t *testing.T) {
	for _, pass := range []bool{true, false} {
		t.Run(fmt.Sprintf("pass_access_token=%v", pass), func(t *testing.T) {
			src := &fakeSource{}
			f := newGatewayFixture(t, func(c *Config) { c.Source = src; c.PassAccessToken = pass })
			now := time.Now()
			id := issuerIdentity(now)
			cookies := f.startIdentity(t, id)
			s, err := f.codec.Decode(cookies[0].Value)
			if err != nil {
				t.Fatal(err)
			}
			if s.UserID != id.Subject || s.Email != id.Email || s.Name != id.Name || !slices.Equal(s.Groups, id.Groups) ||
				!slices.Equal(s.AMR, id.AMR) || s.AuthTime != id.AuthTime.UnixNano() || s.RefreshToken != id.RefreshToken {
				t.Errorf("session %+v from identity %+v", s, id)
			}
			// The access token expires before claims_refresh: refresh then.
			if s.RefreshAt != id.RefreshBy.UnixNano() {
				t.Errorf("RefreshAt %v, want the identity's RefreshBy %v", time.Unix(0, s.RefreshAt), id.RefreshBy)
			}
			if d := time.Duration(s.Expires - s.IssuedAt); d != gwSessionTimeout {
				t.Errorf("session lasts %v, want %v", d, gwSessionTimeout)
			}
			wantAccess := ""
			if pass {
				wantAccess = id.AccessToken // the issuer's own, not one Gatehouse mints
			}
			if s.AccessToken != wantAccess {
				t.Errorf("session access token %q, want %q", s.AccessToken, wantAccess)
			}
			ok, r, _ := f.guard(cookies, map[string]string{HeaderAccessToken: "forged"})
			if !ok || r.Header.Get(HeaderIdentity) != id.Subject || r.Header.Get(HeaderAccessToken) != wantAccess ||
				r.Header.Get("X-Auth-Request-Email") != id.Email {
				t.Errorf("guard: ok %v, headers %v", ok, r.Header)
			}
			claims := f.verifyData(t, r.Header.Get(HeaderData))
			if claims["sub"] != id.Subject || claims["auth_time"] != float64(id.AuthTime.Unix()) {
				t.Errorf("data claims %v", claims)
			}
		})
	}
}

func TestGatewayStartIdentityRefusesEmptySubject(t *testing.T) {
	f := newGatewayFixture(t, nil)
	rec := httptest.NewRecorder()
	for _, id := range []*Identity{nil, {Email: "x@example.com"}} {
		if err := f.gw.StartIdentity(rec, httptest.NewRequest(http.MethodGet, "/", nil), id); err == nil {
			t.Errorf("StartIdentity(%+v) succeeded", id)
		}
	}
	if len(rec.Header()["Set-Cookie"]) != 0 {
		t.Error("a refused identity set a cookie")
	}
}

func TestGatewaySourceSignIn(t *testing.T) {
	tests := []struct {
		mode       Mode
		wantSignIn bool
		wantStatus int
	}{
		{ModeAuthenticate, true, http.StatusFound},
		{ModeDeny, false, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		src := &fakeSource{}
		f := newGatewayFixture(t, func(c *Config) { c.Source = src; c.Mode = tt.mode })
		ok, _, rec := f.guard(nil, nil)
		if ok || rec.Code != tt.wantStatus {
			t.Errorf("mode %v: Guard %v, status %d, want %d", tt.mode, ok, rec.Code, tt.wantStatus)
		}
		if got := slices.Equal(src.signIns, []string{"/reports?q=1"}); got != tt.wantSignIn {
			t.Errorf("mode %v: source sign-ins %q", tt.mode, src.signIns)
		}
	}
}

func TestGatewaySourceRefresh(t *testing.T) {
	outage := errors.New("issuer unreachable")
	tests := []struct {
		name       string
		mode       Mode
		refresh    func(s *Session) (*Identity, error)
		wantOK     bool
		wantStatus int
		wantCookie string // "renewed", "cleared" or "" (none set)
		check      func(t *testing.T, s *Session)
	}{
		{
			name: "new tokens and claims", mode: ModeDeny,
			refresh: func(s *Session) (*Identity, error) {
				id := issuerIdentity(time.Now())
				id.Groups, id.AccessToken, id.RefreshToken = []string{"navy", "admirals"}, "issuer-access-2", "issuer-refresh-2"
				id.AMR, id.AuthTime = nil, time.Time{}
				return id, nil
			},
			wantOK: true, wantStatus: 200, wantCookie: "renewed",
			check: func(t *testing.T, s *Session) {
				if !slices.Equal(s.Groups, []string{"navy", "admirals"}) || s.RefreshToken != "issuer-refresh-2" || s.AccessToken != "issuer-access-2" {
					t.Errorf("renewed session %+v", s)
				}
				// Not given anew: kept from the sign-in.
				if !slices.Equal(s.AMR, []string{"pwd", "mfa"}) || s.AuthTime == 0 {
					t.Errorf("AMR %q and auth time %d were not kept", s.AMR, s.AuthTime)
				}
			},
		},
		{
			name: "refused, authenticate: sign in again", mode: ModeAuthenticate,
			refresh: func(*Session) (*Identity, error) {
				return nil, fmt.Errorf("%w: invalid_grant", ErrSessionEnded)
			},
			wantStatus: http.StatusFound, wantCookie: "cleared",
		},
		{
			name: "refused, deny: 401", mode: ModeDeny,
			refresh: func(*Session) (*Identity, error) {
				return nil, fmt.Errorf("%w: invalid_grant", ErrSessionEnded)
			},
			wantStatus: http.StatusUnauthorized, wantCookie: "cleared",
		},
		{
			name: "another subject", mode: ModeDeny,
			refresh: func(*Session) (*Identity, error) {
				id := issuerIdentity(time.Now())
				id.Subject = "idp|43"
				return id, nil
			},
			wantStatus: http.StatusUnauthorized, wantCookie: "cleared",
		},
		{
			name: "outage keeps the session", mode: ModeDeny,
			refresh: func(*Session) (*Identity, error) { return nil, outage },
			wantOK:  true, wantStatus: 200,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &fakeSource{refresh: tt.refresh}
			f := newGatewayFixture(t, func(c *Config) { c.Source = src; c.Mode = tt.mode; c.PassAccessToken = true })
			id := issuerIdentity(time.Now())
			cookies := f.startIdentity(t, id)
			// Before RefreshBy the source is not asked.
			if ok, _, _ := f.guard(cookies, nil); !ok || len(src.refreshes) != 0 {
				t.Fatalf("before RefreshBy: ok %v, %d refreshes", ok, len(src.refreshes))
			}
			f.gw.now = func() time.Time { return id.RefreshBy.Add(time.Second) }
			ok, r, rec := f.guard(cookies, nil)
			if ok != tt.wantOK || rec.Code != tt.wantStatus {
				t.Fatalf("Guard = %v, %d; want %v, %d", ok, rec.Code, tt.wantOK, tt.wantStatus)
			}
			if len(src.refreshes) != 1 || src.refreshes[0].RefreshToken != "issuer-refresh-1" {
				t.Errorf("source asked %d times, with %+v", len(src.refreshes), src.refreshes)
			}
			set := rec.Result().Cookies()
			switch tt.wantCookie {
			case "":
				if len(set) != 0 {
					t.Errorf("cookies set: %v", rec.Header()["Set-Cookie"])
				}
				if r.Header.Get(HeaderAccessToken) != "issuer-access-1" {
					t.Errorf("kept session passes %q", r.Header.Get(HeaderAccessToken))
				}
			case "cleared":
				if len(set) == 0 || set[0].MaxAge >= 0 || r.Header.Get(HeaderIdentity) != "" {
					t.Errorf("the session was not ended: %v", rec.Header()["Set-Cookie"])
				}
			case "renewed":
				if len(set) != 1 || set[0].MaxAge <= 0 {
					t.Fatalf("the cookie was not renewed: %v", rec.Header()["Set-Cookie"])
				}
				s, err := f.codec.Decode(set[0].Value)
				if err != nil {
					t.Fatal(err)
				}
				tt.check(t, s)
				if r.Header.Get(HeaderAccessToken) != s.AccessToken || r.Header.Get("X-Auth-Request-Groups") != "navy,admirals" {
					t.Errorf("this request's headers %v", r.Header)
				}
			}
		})
	}
}
