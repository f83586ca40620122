package oidcrp

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/middleware"
)

// signedIn runs a whole sign-in and returns the session the gateway would
// have made of it.
func signedIn(t *testing.T, fi *fakeIssuer, rp *RP) *middleware.Session {
	t.Helper()
	authURL, ck := begin(t, rp)
	code, state := fi.authorize(t, authURL)
	sessions := &recordingSessions{}
	if rec := callback(rp, sessions, url.Values{"code": {code}, "state": {state}}, ck); rec.Code != http.StatusFound {
		t.Fatalf("callback: %d %s", rec.Code, rec.Body)
	}
	id := sessions.started()[0]
	return &middleware.Session{
		ID: "sid", UserID: id.Subject, Email: id.Email, EmailVerified: id.EmailVerified, Name: id.Name,
		Groups: id.Groups, AMR: id.AMR, AccessToken: id.AccessToken, RefreshToken: id.RefreshToken,
	}
}

func TestRefresh(t *testing.T) {
	tests := []struct {
		name string
		// issuer changes the fake issuer after the sign-in.
		issuer    func(fi *fakeIssuer)
		wantEnded bool // ErrSessionEnded
		wantErr   bool // any other error: the session is kept
		check     func(t *testing.T, old *middleware.Session, id *middleware.Identity)
	}{
		{
			name: "new tokens and claims",
			issuer: func(fi *fakeIssuer) {
				fi.claims["groups"] = []string{"dev", "ops", "admins"}
				fi.claims["name"] = "Ada King"
			},
			check: func(t *testing.T, old *middleware.Session, id *middleware.Identity) {
				if id.Subject != old.UserID || id.Name != "Ada King" || !slices.Equal(id.Groups, []string{"dev", "ops", "admins"}) {
					t.Errorf("refreshed identity %+v", id)
				}
				if id.AccessToken == old.AccessToken || id.RefreshToken == old.RefreshToken || id.RefreshToken == "" {
					t.Error("the tokens were not renewed (the issuer rotates refresh tokens)")
				}
				if id.RefreshBy.IsZero() {
					t.Error("no RefreshBy for the new access token")
				}
			},
		},
		{
			name:   "no ID token in the answer keeps the claims",
			issuer: func(fi *fakeIssuer) { fi.noIDOnRefresh = true; fi.claims["name"] = "Changed" },
			check: func(t *testing.T, old *middleware.Session, id *middleware.Identity) {
				if id.Name != old.Name || id.Email != old.Email || !slices.Equal(id.Groups, old.Groups) || id.AccessToken == old.AccessToken {
					t.Errorf("refreshed identity %+v from session %+v", id, old)
				}
				if id.AMR != nil || !id.AuthTime.IsZero() {
					t.Error("AMR or auth time set: the session's own must be kept")
				}
			},
		},
		{
			name:   "no new refresh token keeps the old one",
			issuer: func(fi *fakeIssuer) { fi.noRefresh = true },
			check: func(t *testing.T, old *middleware.Session, id *middleware.Identity) {
				if id.RefreshToken != old.RefreshToken {
					t.Errorf("refresh token %q, want the old %q", id.RefreshToken, old.RefreshToken)
				}
			},
		},
		{
			name:   "ID token without email: claims from userinfo",
			issuer: func(fi *fakeIssuer) { fi.omitUserClaims = true; fi.claims["email"] = "ada@new.example" },
			check: func(t *testing.T, old *middleware.Session, id *middleware.Identity) {
				if id.Email != "ada@new.example" {
					t.Errorf("email %q, want the one userinfo gives", id.Email)
				}
			},
		},
		{name: "grant revoked (invalid_grant)", issuer: func(fi *fakeIssuer) { clear(fi.refresh) }, wantEnded: true},
		{name: "issuer answers 400", issuer: func(fi *fakeIssuer) { fi.refreshStatus = http.StatusBadRequest }, wantEnded: true},
		{name: "client no longer valid (401)", issuer: func(fi *fakeIssuer) { fi.secret = "rotated" }, wantEnded: true},
		{name: "issuer failing (503)", issuer: func(fi *fakeIssuer) { fi.refreshStatus = http.StatusServiceUnavailable }, wantErr: true},
		{name: "new ID token about another user", issuer: func(fi *fakeIssuer) { fi.idSub = "user-999" }, wantEnded: true},
		{name: "new ID token for another client", issuer: func(fi *fakeIssuer) { fi.idAud = "other" }, wantEnded: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fi := newFakeIssuer(t)
			rp := newRP(t, fi, nil)
			s := signedIn(t, fi, rp)
			if tt.issuer != nil {
				fi.set(tt.issuer)
			}
			id, err := rp.Refresh(t.Context(), s)
			ended := errors.Is(err, middleware.ErrSessionEnded)
			switch {
			case tt.wantEnded:
				if !ended {
					t.Fatalf("Refresh = %+v, %v; want ErrSessionEnded", id, err)
				}
			case tt.wantErr:
				if err == nil || ended {
					t.Fatalf("Refresh = %+v, %v; want an outage error that keeps the session", id, err)
				}
			default:
				if err != nil {
					t.Fatalf("Refresh: %v", err)
				}
				tt.check(t, s, id)
			}
			if n := fi.count("refresh"); n != 1 {
				t.Errorf("%d refresh requests, want 1", n)
			}
		})
	}
}

func TestRefreshWithoutRefreshToken(t *testing.T) {
	fi := newFakeIssuer(t)
	fi.set(func(fi *fakeIssuer) { fi.noRefresh = true })
	rp := newRP(t, fi, nil)
	s := signedIn(t, fi, rp)
	if s.RefreshToken != "" {
		t.Fatal("a refresh token was granted")
	}
	id, err := rp.Refresh(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	if id.Subject != s.UserID || id.Email != s.Email || id.Name != s.Name || !slices.Equal(id.Groups, s.Groups) ||
		id.AccessToken != s.AccessToken || !id.RefreshBy.IsZero() {
		t.Errorf("identity %+v, want the session's own %+v", id, s)
	}
	if n := fi.count("refresh") + fi.count("userinfo"); n != 0 {
		t.Errorf("the issuer was asked %d times; without a refresh token there is nothing to ask", n)
	}
}

func TestRefreshOnceForConcurrentRequests(t *testing.T) {
	fi := newFakeIssuer(t)
	rp := newRP(t, fi, nil)
	s := signedIn(t, fi, rp)
	var wg sync.WaitGroup
	ids := make([]*middleware.Identity, 16)
	errs := make([]error, 16)
	for i := range ids {
		wg.Go(func() { ids[i], errs[i] = rp.Refresh(t.Context(), s) })
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil || ids[i].RefreshToken != ids[0].RefreshToken {
			t.Fatalf("request %d: %v, refresh token %q vs %q", i, errs[i], ids[i].RefreshToken, ids[0].RefreshToken)
		}
	}
	// A request that still carries the replaced cookie a moment later gets
	// the same answer; the spent token is not sent again.
	if id, err := rp.Refresh(t.Context(), s); err != nil || id.RefreshToken != ids[0].RefreshToken {
		t.Errorf("late request: %v, %v", id, err)
	}
	if n := fi.count("refresh"); n != 1 {
		t.Errorf("%d refresh requests for one token, want 1", n)
	}
	// After the reuse window the old token is tried again, and refused.
	rp.now = func() time.Time { return time.Now().Add(reuseWindow + time.Second) }
	if _, err := rp.Refresh(t.Context(), s); !errors.Is(err, middleware.ErrSessionEnded) {
		t.Errorf("spent token after the window: %v, want ErrSessionEnded", err)
	}
	// The new one works.
	next := *s
	next.RefreshToken = ids[0].RefreshToken
	if _, err := rp.Refresh(t.Context(), &next); err != nil {
		t.Errorf("the rotated token: %v", err)
	}
}
