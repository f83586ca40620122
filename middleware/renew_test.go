package middleware

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingSource is the pool's own source, counting refreshes; err, when
// set, is returned instead of asking the pool, and hold, when set, keeps
// each refresh waiting until it is closed.
type countingSource struct {
	Source
	calls atomic.Int32
	err   error
	hold  chan struct{}
}

func (c *countingSource) Refresh(ctx context.Context, s *Session) (*Identity, error) {
	c.calls.Add(1)
	if c.hold != nil {
		<-c.hold
	}
	if c.err != nil {
		return nil, c.err
	}
	return c.Source.Refresh(ctx, s)
}

func newCountingFixture(t *testing.T, err error, hold chan struct{}) (*gwFixture, *countingSource) {
	src := &countingSource{err: err, hold: hold}
	f := newGatewayFixture(t, func(c *Config) {
		src.Source = c.Source
		c.Source = src
	})
	return f, src
}

// sessionCookie returns the session cookie a response set, or "".
func sessionCookie(h http.Header) string {
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == "gatehouse_session" && c.MaxAge >= 0 {
			return c.Value
		}
	}
	return ""
}

func TestGatewayRefreshOncePerSession(t *testing.T) {
	hold := make(chan struct{})
	f, src := newCountingFixture(t, nil, hold)
	cookies := f.start(t)
	if err := f.pool.AddToGroup(t.Context(), f.user.ID, "admins"); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(gwClaimsRefresh + time.Second)
	f.gw.now = func() time.Time { return later }

	// 20 requests with the old cookie at once, as a page's parallel loads
	// are: the first refreshes, the rest wait for it.
	const n = 20
	type result struct {
		ok     bool
		groups string
		cookie string
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ok, r, rec := f.guard(cookies, nil)
			results[i] = result{ok, r.Header.Get("X-Auth-Request-Groups"), sessionCookie(rec.Header())}
		})
	}
	for src.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the others reach the wait
	close(hold)
	wg.Wait()

	if got := src.calls.Load(); got != 1 {
		t.Fatalf("%d refreshes for one session, want 1", got)
	}
	renewed := results[0].cookie
	if renewed == "" || renewed == cookies[0].Value {
		t.Fatalf("no renewed cookie: %q", renewed)
	}
	for i, res := range results {
		if !res.ok || res.groups != "admins,dev" || res.cookie != renewed {
			t.Errorf("request %d: ok %v, groups %q, renewed cookie same as the others: %v", i, res.ok, res.groups, res.cookie == renewed)
		}
	}

	// A late request with the old cookie gets the same outcome, without
	// another refresh.
	ok, r, rec := f.guard(cookies, nil)
	if !ok || r.Header.Get("X-Auth-Request-Groups") != "admins,dev" || sessionCookie(rec.Header()) != renewed {
		t.Errorf("late old cookie: ok %v, groups %q, cookie %v", ok, r.Header.Get("X-Auth-Request-Groups"), rec.Header()["Set-Cookie"])
	}
	if got := src.calls.Load(); got != 1 {
		t.Errorf("%d refreshes after a late request, want 1", got)
	}

	// At the renewed session's own refresh time the old cookie leads to
	// one more refresh, not to the first outcome forever.
	muchLater := later.Add(gwClaimsRefresh + time.Second)
	f.gw.now = func() time.Time { return muchLater }
	ok, _, rec = f.guard(cookies, nil)
	if next := sessionCookie(rec.Header()); !ok || next == "" || next == renewed {
		t.Errorf("second refresh through the old cookie: ok %v, cookie %v", ok, rec.Header()["Set-Cookie"])
	}
	if got := src.calls.Load(); got != 2 {
		t.Errorf("%d refreshes after the second refresh time, want 2", got)
	}
}

func TestGatewayRefreshFailureBacksOff(t *testing.T) {
	f, src := newCountingFixture(t, errors.New("store unreachable"), nil)
	cookies := f.start(t)
	now := time.Now().Add(gwClaimsRefresh + time.Second)
	f.gw.now = func() time.Time { return now }
	for i := range 5 {
		ok, r, rec := f.guard(cookies, nil)
		if !ok || r.Header.Get(HeaderIdentity) != f.user.ID || len(rec.Header()["Set-Cookie"]) != 0 {
			t.Fatalf("request %d during the outage: ok %v, identity %q, cookies %v", i, ok, r.Header.Get(HeaderIdentity), rec.Header()["Set-Cookie"])
		}
	}
	if got := src.calls.Load(); got != 1 {
		t.Fatalf("%d refreshes within %s of a failure, want 1", got, refreshRetry)
	}
	now = now.Add(refreshRetry)
	if ok, _, _ := f.guard(cookies, nil); !ok {
		t.Fatal("refused after the retry time")
	}
	if got := src.calls.Load(); got != 2 {
		t.Errorf("%d refreshes after the retry time, want 2", got)
	}
	// The store is back: the next try renews the session.
	src.err = nil
	now = now.Add(refreshRetry)
	ok, _, rec := f.guard(cookies, nil)
	if !ok || sessionCookie(rec.Header()) == "" {
		t.Errorf("once the source answers: ok %v, cookies %v", ok, rec.Header()["Set-Cookie"])
	}
}

func TestGatewayRefreshEndedStaysEnded(t *testing.T) {
	f, src := newCountingFixture(t, ErrSessionEnded, nil)
	cookies := f.start(t)
	f.gw.now = func() time.Time { return time.Now().Add(gwClaimsRefresh + time.Second) }
	for i := range 3 {
		ok, r, rec := f.guard(cookies, nil)
		if ok || r.Header.Get(HeaderIdentity) != "" {
			t.Fatalf("request %d: an ended session passed", i)
		}
		if c := rec.Result().Cookies(); len(c) == 0 || c[0].MaxAge >= 0 {
			t.Errorf("request %d: the cookie was not cleared: %v", i, rec.Header()["Set-Cookie"])
		}
	}
	if got := src.calls.Load(); got != 1 {
		t.Errorf("%d refreshes of an ended session, want 1", got)
	}
}

// Each refresh's outcome is reported once: failed while the source cannot
// answer, ok once it does, ended when it says the session is over; the
// requests that share a refresh, or keep old claims after a failure,
// report nothing more.
func TestGatewayClaimsRefreshedReported(t *testing.T) {
	var mu sync.Mutex
	var got []string
	src := &countingSource{err: errors.New("store unreachable")}
	f := newGatewayFixture(t, func(c *Config) {
		src.Source = c.Source
		c.Source = src
		c.ClaimsRefreshed = func(result string) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, result)
		}
	})
	cookies := f.start(t)
	now := time.Now().Add(gwClaimsRefresh + time.Second)
	f.gw.now = func() time.Time { return now }
	for range 3 {
		f.guard(cookies, nil) // one failed refresh, then the old claims
	}
	now = now.Add(refreshRetry)
	src.err = nil
	_, _, rec := f.guard(cookies, nil)
	renewed := sessionCookie(rec.Header())
	if renewed == "" {
		t.Fatalf("no renewed cookie once the source answered: %v", rec.Header()["Set-Cookie"])
	}
	f.guard(cookies, nil) // the old cookie again: the same outcome, no refresh
	now = now.Add(gwClaimsRefresh + time.Second)
	src.err = ErrSessionEnded
	f.guard([]*http.Cookie{{Name: "gatehouse_session", Value: renewed}}, nil)
	mu.Lock()
	defer mu.Unlock()
	want := []string{ClaimsRefreshFailed, ClaimsRefreshOK, ClaimsRefreshEnded}
	if len(got) != len(want) {
		t.Fatalf("reported %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("reported %v, want %v", got, want)
			break
		}
	}
}
