package pool

import (
	"context"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
)

// fakeClock is a settable time source for the deny list's expiry checks.
type fakeClock struct{ t atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.set(t)
	return c
}

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.t.Load()) }
func (c *fakeClock) set(t time.Time)         { c.t.Store(t.UnixNano()) }
func (c *fakeClock) advance(d time.Duration) { c.t.Add(int64(d)) }

// recordingStore counts deny-list reads, and can fail them.
type recordingStore struct {
	store.Store
	mu     sync.Mutex
	since  []time.Time
	counts []int
	fail   error
}

func (s *recordingStore) RevocationsSince(ctx context.Context, since time.Time) ([]store.Revocation, error) {
	s.mu.Lock()
	fail := s.fail
	s.mu.Unlock()
	if fail != nil {
		return nil, fail
	}
	revs, err := s.Store.RevocationsSince(ctx, since)
	s.mu.Lock()
	s.since = append(s.since, since)
	s.counts = append(s.counts, len(revs))
	s.mu.Unlock()
	return revs, err
}

func (s *recordingStore) last() (time.Time, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.since[len(s.since)-1], s.counts[len(s.counts)-1]
}

func TestDenyListSessionRevocation(t *testing.T) {
	p := newTestPool(t)
	now := time.Now()
	if err := p.RevokeSession(t.Context(), "sess-1", now.Add(time.Hour)); err != nil {
		t.Fatalf("RevokeSession: %v", err)
	}
	d := p.DenyList()
	tests := []struct {
		name     string
		session  string
		user     string
		issuedAt time.Time
		want     bool
	}{
		{"the revoked session", "sess-1", "u1", now.Add(-time.Minute), true},
		{"the revoked session issued later", "sess-1", "u1", now.Add(time.Minute), true},
		{"the revoked session, any user", "sess-1", "u2", now, true},
		{"another session of the user", "sess-2", "u1", now.Add(-time.Minute), false},
		{"an id that is a prefix", "sess-", "u1", now, false},
	}
	for _, tt := range tests {
		if got := d.Revoked(tt.session, tt.user, tt.issuedAt); got != tt.want {
			t.Errorf("%s: Revoked(%q, %q) = %v, want %v", tt.name, tt.session, tt.user, got, tt.want)
		}
	}
	if d.Len() != 1 {
		t.Errorf("Len() = %d, want 1", d.Len())
	}
}

func TestDenyListUserCutoff(t *testing.T) {
	// A revocation time with nanoseconds that a microsecond clock would lose.
	at := time.Now().UTC().Truncate(time.Second).Add(123456789)
	clock := newFakeClock(at)
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	p := newPoolOn(t, openSQLite(t, path), Config{})
	p.now = clock.now
	p.deny.timeNow = clock.now
	if err := p.RevokeUserSessions(t.Context(), "u1"); err != nil {
		t.Fatal(err)
	}
	// The same revocation as another process reads it back from the store.
	other := newDenyList(openSQLite(t, path), clock.now)
	if err := other.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		user     string
		issuedAt time.Time
		want     bool
	}{
		{"issued long before", "u1", at.Add(-24 * time.Hour), true},
		{"issued 1ns before", "u1", at.Add(-time.Nanosecond), true},
		{"issued at the same nanosecond", "u1", at, true},
		{"issued at the same instant, another zone", "u1", at.In(time.FixedZone("X", 3600)), true},
		{"issued 1ns after", "u1", at.Add(time.Nanosecond), false},
		{"issued long after", "u1", at.Add(time.Hour), false},
		{"another user", "u2", at.Add(-time.Hour), false},
	}
	for _, tt := range tests {
		for name, d := range map[string]*DenyList{"local": p.DenyList(), "refreshed": other} {
			if got := d.Revoked("some-session", tt.user, tt.issuedAt); got != tt.want {
				t.Errorf("%s list, %s: Revoked = %v, want %v", name, tt.name, got, tt.want)
			}
		}
	}
}

func TestDenyListLaterUserRevocationWins(t *testing.T) {
	t0 := time.Now()
	clock := newFakeClock(t0)
	d := newDenyList(nil, clock.now)
	exp := t0.Add(time.Hour)
	d.add(store.Revocation{UserID: "u1", At: t0.Add(time.Minute), Expires: exp})
	d.add(store.Revocation{UserID: "u1", At: t0.Add(2 * time.Minute), Expires: exp})
	// An older entry arriving late (the overlap of a refresh) moves nothing back.
	d.add(store.Revocation{UserID: "u1", At: t0, Expires: exp})

	if !d.Revoked("s", "u1", t0.Add(90*time.Second)) {
		t.Error("a session issued between two revocations survives the later one")
	}
	if d.Revoked("s", "u1", t0.Add(2*time.Minute+time.Nanosecond)) {
		t.Error("a session issued after the latest revocation is revoked")
	}
	if d.Len() != 1 {
		t.Errorf("Len() = %d, want 1 (one entry per user)", d.Len())
	}
}

// TestAuthTimeAfterRevocation: tokens carry whole seconds, so a sign-in in
// the same second as a revocation of its user, but after it, counts from
// the next second and its tokens are not refused; one before it, in that
// same second, stays refused, and so does the stamped one once the user is
// revoked again in that second.
func TestAuthTimeAfterRevocation(t *testing.T) {
	sec := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	revokedAt := sec.Add(400 * time.Millisecond)
	d := newDenyList(nil, newFakeClock(sec).now)
	d.add(store.Revocation{UserID: "u1", At: revokedAt, Expires: sec.Add(time.Hour)})
	// What a verifier sees of a token: its auth_time in whole seconds.
	refused := func(authTime time.Time) bool { return d.Revoked("", "u1", time.Unix(authTime.Unix(), 0)) }

	after := d.AuthTimeAfter("u1", sec.Add(700*time.Millisecond))
	if !after.Equal(sec.Add(time.Second)) || refused(after) {
		t.Errorf("a sign-in 300ms after the revocation counts from %v (refused %v), want the next second, not refused", after, refused(after))
	}
	// A sign-in stamped before the revocation was known, in its second.
	if !refused(sec.Add(100 * time.Millisecond)) {
		t.Error("a sign-in of the revocation's second made before it is not refused")
	}
	later := sec.Add(2500 * time.Millisecond)
	if got := d.AuthTimeAfter("u1", later); !got.Equal(later) || refused(got) {
		t.Errorf("a sign-in seconds later counts from %v, want %v, not refused", got, later)
	}
	if got := d.AuthTimeAfter("u2", sec.Add(700*time.Millisecond)); !got.Equal(sec.Add(700 * time.Millisecond)) {
		t.Errorf("another user's sign-in moved to %v", got)
	}

	// A second revocation in that second still refuses the sign-in stamped
	// with the next one, and a sign-in after it works again.
	again := d.RevocationTime("u1", sec.Add(800*time.Millisecond))
	d.add(store.Revocation{UserID: "u1", At: again, Expires: sec.Add(time.Hour)})
	if !refused(after) {
		t.Errorf("a sign-out everywhere at %v let through the sign-in stamped %v", again, after)
	}
	last := d.AuthTimeAfter("u1", sec.Add(900*time.Millisecond))
	if refused(last) || last.After(sec.Add(2*time.Second)) {
		t.Errorf("a sign-in after the second revocation counts from %v (refused %v)", last, refused(last))
	}
	if got := d.RevocationTime("u1", sec.Add(5*time.Second)); !got.Equal(sec.Add(5 * time.Second)) {
		t.Errorf("a revocation seconds later is recorded at %v, want its own time", got)
	}
}

func TestDenyListDropsExpiredEntries(t *testing.T) {
	t0 := time.Now()
	clock := newFakeClock(t0)
	d := newDenyList(nil, clock.now)

	d.add(
		store.Revocation{SessionID: "short", At: t0, Expires: t0.Add(time.Minute)},
		store.Revocation{SessionID: "long", At: t0, Expires: t0.Add(time.Hour)},
		store.Revocation{UserID: "u-short", At: t0, Expires: t0.Add(time.Minute)},
		store.Revocation{UserID: "u-long", At: t0, Expires: t0.Add(time.Hour)},
		// Already over: never added.
		store.Revocation{SessionID: "dead", At: t0.Add(-time.Hour), Expires: t0.Add(-time.Second)},
		store.Revocation{SessionID: "ends-now", At: t0.Add(-time.Hour), Expires: t0},
		store.Revocation{UserID: "u-dead", At: t0.Add(-time.Hour), Expires: t0.Add(-time.Second)},
	)
	if d.Len() != 4 {
		t.Fatalf("Len() = %d, want 4 (expired entries are not added)", d.Len())
	}
	for _, sid := range []string{"dead", "ends-now"} {
		if d.Revoked(sid, "x", t0.Add(-2*time.Hour)) {
			t.Errorf("an entry expired on arrival (%s) was added", sid)
		}
	}
	if d.Revoked("s", "u-dead", t0.Add(-2*time.Hour)) {
		t.Error("an expired user entry was added")
	}

	clock.advance(2 * time.Minute)
	d.add(store.Revocation{SessionID: "new", At: clock.now(), Expires: clock.now().Add(time.Hour)})
	if d.Len() != 3 {
		t.Errorf("Len() = %d after the short entries expired, want 3", d.Len())
	}
	if d.Revoked("short", "x", t0) || d.Revoked("s", "u-short", t0.Add(-time.Second)) {
		t.Error("expired entries were kept")
	}
	if !d.Revoked("long", "x", t0) || !d.Revoked("s", "u-long", t0.Add(-time.Second)) || !d.Revoked("new", "x", t0) {
		t.Error("live entries were dropped")
	}
}

func TestDenyListRefreshSeesOtherPool(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	gateway := newPoolOn(t, openSQLite(t, path), Config{})
	cli := newPoolOn(t, openSQLite(t, path), Config{})
	ctx := t.Context()

	issued := time.Now()
	if err := cli.RevokeSession(ctx, "sess-1", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := cli.RevokeUserSessions(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	d := gateway.DenyList()
	if d.Revoked("sess-1", "u0", issued) || d.Revoked("sess-2", "u1", issued) {
		t.Fatal("the other pool's revocations are visible before a refresh")
	}
	if err := d.Refresh(ctx); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if !d.Revoked("sess-1", "u0", issued) {
		t.Error("a session revoked by another pool is not revoked after Refresh")
	}
	if !d.Revoked("sess-2", "u1", issued) {
		t.Error("a user revoked by another pool is not revoked after Refresh")
	}
	if d.Len() != 2 {
		t.Errorf("Len() = %d, want 2", d.Len())
	}
}

func TestDenyListIncrementalRefresh(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	writer := newPoolOn(t, openSQLite(t, path), Config{})
	rs := &recordingStore{Store: openSQLite(t, path)}
	d := newDenyList(rs, time.Now)
	ctx := t.Context()

	issued := time.Now()
	for _, sid := range []string{"a", "b", "c"} {
		if err := writer.RevokeSession(ctx, sid, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if err := writer.RevokeUserSessions(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if err := d.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	since, n := rs.last()
	if !since.IsZero() || n != 4 {
		t.Fatalf("first Refresh read %d entries since %v, want all 4 since the zero time", n, since)
	}
	firstSince := d.since
	if firstSince.IsZero() {
		t.Fatal("since did not advance")
	}

	check := func(when string) {
		t.Helper()
		if d.Len() != 4 {
			t.Errorf("%s: Len() = %d, want 4", when, d.Len())
		}
		for _, sid := range []string{"a", "b", "c"} {
			if !d.Revoked(sid, "x", issued) {
				t.Errorf("%s: session %s not revoked", when, sid)
			}
		}
		if !d.Revoked("z", "u1", issued) {
			t.Errorf("%s: user u1 not revoked", when)
		}
		if d.Revoked("z", "x", issued) {
			t.Errorf("%s: an unrelated session is revoked", when)
		}
	}
	check("after the first refresh")

	// Nothing new: the list is unchanged, and the refresh reads from one
	// lookback before the newest entry seen (entries written late with an
	// older time are found there), not from the beginning.
	if err := d.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	since, n = rs.last()
	if want := firstSince.Add(-refreshLookback); !since.Equal(want) || n != 4 {
		t.Errorf("second Refresh read %d entries since %v, want the 4 within the lookback since %v", n, since, want)
	}
	if !d.since.Equal(firstSince) {
		t.Errorf("since moved from %v to %v with nothing new", firstSince, d.since)
	}
	check("after an empty refresh")

	// Something new: read along with the lookback window.
	if err := writer.RevokeSession(ctx, "d", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := d.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, n = rs.last(); n != 5 {
		t.Errorf("third Refresh read %d entries, want the new one and the 4 within the lookback", n)
	}
	if !d.Revoked("d", "x", issued) || d.Len() != 5 {
		t.Errorf("new entry: revoked %v, Len %d; want true, 5", d.Revoked("d", "x", issued), d.Len())
	}
	if !d.since.After(firstSince) {
		t.Error("since did not advance past the new entry")
	}
}

func TestDenyListRefreshSeesOlderEntryWrittenLate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	fast := newPoolOn(t, openSQLite(t, path), Config{})
	slow := newPoolOn(t, openSQLite(t, path), Config{})
	slow.now = func() time.Time { return time.Now().Add(-2 * time.Second) } // a lagging clock
	d := newDenyList(openSQLite(t, path), time.Now)
	ctx := t.Context()

	if err := fast.RevokeUserSessions(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if err := d.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	issued := time.Now().Add(-time.Hour)
	if err := slow.RevokeUserSessions(ctx, "u2"); err != nil {
		t.Fatal(err)
	}
	if err := d.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if !d.Revoked("s", "u2", issued) {
		t.Error("a revocation stored after the last refresh, with an older At, was never loaded")
	}
}

// TestDenyListConcurrentReadsDuringRefresh reads the list from several
// goroutines while revocations are merged in, and checks that no read sees
// a revocation vanish and that the end state holds every entry. The readers
// are made to run before the first round and between every two, not left
// to the scheduler: before, a loaded machine could finish all rounds
// before any reader was scheduled (each checked stop before its first
// read), failing "the readers never ran" and checking nothing concurrent.
// Now that reads overlap the rounds by construction, that check is gone.
func TestDenyListConcurrentReadsDuringRefresh(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	writer := newPoolOn(t, openSQLite(t, path), Config{})
	reader := newPoolOn(t, openSQLite(t, path), Config{})
	d := reader.DenyList()
	ctx := t.Context()
	issued := time.Now()

	const (
		rounds  = 20
		readers = 4
	)
	stop := make(chan struct{})
	var wg, started sync.WaitGroup
	var reads atomic.Int64
	read := func() {
		// Once seen, a revocation stays: the snapshot only grows here.
		if d.Revoked("s0", "x", issued) && !d.Revoked("s0", "x", issued) {
			t.Error("a revocation disappeared")
		}
		_ = d.Revoked("s-other", "u-other", issued)
		_ = d.Len()
		reads.Add(1)
	}
	for range readers {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			read()
			started.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				read()
			}
		}()
	}
	started.Wait() // every reader is running before the first write
	// waitReads returns once the readers have done n more reads, so that
	// reads overlap every round however the scheduler runs them.
	waitReads := func(n int64) {
		for target := reads.Load() + n; reads.Load() < target; {
			runtime.Gosched()
		}
	}
	for i := range rounds {
		if err := writer.RevokeSession(ctx, "s"+string(rune('0'+i%10))+string(rune('a'+i)), time.Now().Add(time.Hour)); err != nil {
			t.Error(err)
		}
		if err := writer.RevokeSession(ctx, "s0", time.Now().Add(time.Hour)); err != nil {
			t.Error(err)
		}
		if err := d.Refresh(ctx); err != nil {
			t.Error(err)
		}
		// Local revocations race with refreshes too.
		if err := reader.RevokeUserSessions(ctx, "u-local"); err != nil {
			t.Error(err)
		}
		waitReads(readers)
	}
	close(stop)
	wg.Wait()
	if !d.Revoked("s0", "x", issued) {
		t.Error("s0 is not on the list after the rounds")
	}
	// rounds distinct sessions, s0, and one user entry.
	if got := d.Len(); got != rounds+2 {
		t.Errorf("Len() = %d, want %d", got, rounds+2)
	}
}
