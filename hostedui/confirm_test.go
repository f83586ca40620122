package hostedui

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/middleware"
	"github.com/gatehouse-auth/gatehouse/store"
)

// oneSession is a gateway whose every request carries session s (none
// when s is nil).
type oneSession struct {
	*recSessions
	s *middleware.Session
}

func (o oneSession) Authenticated(*http.Request) (*middleware.Session, bool) {
	return o.s, o.s != nil
}

// TestConfirmedUntil: a passkey confirmation stands for its user, in the
// session that made it, until its time, and not for a tampered cookie.
func TestConfirmedUntil(t *testing.T) {
	sess := &middleware.Session{ID: "session-1", UserID: "user-1"}
	gw := oneSession{recSessions: &recSessions{}, s: sess}
	f := newFixture(t, func(c *Config) { c.Sessions = gw })
	u := &store.User{ID: "user-1"}
	now := time.Unix(1_800_000_000, 0)
	until := now.Add(confirmTTL)

	seal := func(c passkeyConfirmation) string {
		v, err := f.h.sealJSON(confirmCookie, c)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	good := seal(passkeyConfirmation{UserID: "user-1", SessionID: "session-1", Until: until.Unix()})
	for _, tc := range []struct {
		name   string
		cookie string
		at     time.Time
		user   *store.User
		want   time.Time
	}{
		{"fresh", good, now, u, until},
		{"a second before its end", good, until.Add(-time.Second), u, until},
		{"at its end", good, until, u, time.Time{}},
		{"after its end", good, until.Add(time.Hour), u, time.Time{}},
		{"another user", good, now, &store.User{ID: "user-2"}, time.Time{}},
		{"another session", seal(passkeyConfirmation{UserID: "user-1", SessionID: "session-0", Until: until.Unix()}), now, u, time.Time{}},
		{"tampered", good[:len(good)-2] + "xx", now, u, time.Time{}},
		{"none", "", now, u, time.Time{}},
	} {
		r := httptest.NewRequest(http.MethodGet, AccountPath, nil)
		if tc.cookie != "" {
			r.AddCookie(&http.Cookie{Name: confirmCookie, Value: tc.cookie})
		}
		if got := f.h.confirmedUntil(r, tc.user, tc.at); !got.Equal(tc.want) {
			t.Errorf("%s: confirmed until %v, want %v", tc.name, got, tc.want)
		}
	}

	// Signed out: no session, no confirmation.
	gw.s = nil
	f = newFixture(t, func(c *Config) { c.Sessions = gw })
	r := httptest.NewRequest(http.MethodGet, AccountPath, nil)
	r.AddCookie(&http.Cookie{Name: confirmCookie, Value: good})
	if got := f.h.confirmedUntil(r, u, now); !got.IsZero() {
		t.Errorf("without a session: confirmed until %v", got)
	}
}

// TestLogoutForgetsConfirmation: sign-out clears the confirmation cookie
// of a browser that has one, and sets none for one that has not.
func TestLogoutForgetsConfirmation(t *testing.T) {
	f := newFixture(t, nil)
	r := httptest.NewRequest(http.MethodGet, LogoutPath, nil)
	r.AddCookie(&http.Cookie{Name: confirmCookie, Value: "sealed"})
	res := f.do(r)
	c := cookieNamed(res, confirmCookie)
	if res.StatusCode != http.StatusSeeOther || c == nil || c.MaxAge >= 0 || c.Path != PathPrefix || c.Value != "" {
		t.Fatalf("sign-out with a confirmation: status %d, cookie %+v", res.StatusCode, c)
	}
	res = f.do(httptest.NewRequest(http.MethodGet, LogoutPath, nil))
	if c := cookieNamed(res, confirmCookie); c != nil {
		t.Fatalf("sign-out without a confirmation set %+v", c)
	}
}
