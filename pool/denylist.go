package pool

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
)

// DenyList is the in-memory copy of a pool's revocations. Checks read an
// immutable snapshot through one atomic load, so the request path takes no
// lock and does no I/O; Refresh merges what other processes (another gateway,
// the CLI) wrote to the store since the last refresh.
type DenyList struct {
	snap atomic.Pointer[denySnapshot]

	mu      sync.Mutex // serializes writers; readers never take it
	since   time.Time  // where the next incremental refresh starts
	store   store.Store
	timeNow func() time.Time
}

type denySnapshot struct {
	sessions map[string]time.Time // session id -> entry expiry
	users    map[string]userRevocation
}

type userRevocation struct{ at, expires time.Time }

func newDenyList(s store.Store, now func() time.Time) *DenyList {
	d := &DenyList{store: s, timeNow: now}
	d.snap.Store(&denySnapshot{sessions: map[string]time.Time{}, users: map[string]userRevocation{}})
	return d
}

// Revoked reports whether a session issued at issuedAt for userID is on the
// deny list, either by its own id or by a later user-wide revocation.
func (d *DenyList) Revoked(sessionID, userID string, issuedAt time.Time) bool {
	s := d.snap.Load()
	if _, ok := s.sessions[sessionID]; ok {
		return true
	}
	if u, ok := s.users[userID]; ok && !issuedAt.After(u.at) {
		return true
	}
	return false
}

// Tokens carry auth_time and iat in whole seconds, and Revoked refuses
// those not after a revocation of their user. Two stamps keep that exact
// around a revocation:
//
//   - AuthTimeAfter: a sign-in made once a revocation is known, in the same
//     second (or before a revocation time moved ahead, below), counts from
//     the whole second after the revocation, so a sign-in moments after a
//     password reset or a sign-out everywhere gets tokens that work;
//   - RevocationTime: a revocation made while such stamps may be out counts
//     from at least that second, so it still refuses them.
//
// Sign-ins before a revocation keep their time and stay refused.

// AuthTimeAfter is when an authentication of userID made at now counts as
// made (see above).
func (d *DenyList) AuthTimeAfter(userID string, now time.Time) time.Time {
	u, ok := d.snap.Load().users[userID]
	if !ok || u.at.Before(now.Truncate(time.Second)) {
		return now
	}
	return u.at.Truncate(time.Second).Add(time.Second)
}

// RevocationTime is the time a revocation of userID's sessions made at now
// is recorded with (see above).
func (d *DenyList) RevocationTime(userID string, now time.Time) time.Time {
	u, ok := d.snap.Load().users[userID]
	if !ok {
		return now
	}
	if stamped := u.at.Truncate(time.Second).Add(time.Second); stamped.After(now) && !u.at.Before(now.Truncate(time.Second)) {
		return stamped
	}
	return now
}

// Len returns the number of entries held, for metrics and tests.
func (d *DenyList) Len() int {
	s := d.snap.Load()
	return len(s.sessions) + len(s.users)
}

// add merges entries into a new snapshot, dropping expired ones.
func (d *DenyList) add(revs ...store.Revocation) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.addLocked(revs)
}

func (d *DenyList) addLocked(revs []store.Revocation) {
	now := d.timeNow()
	old := d.snap.Load()
	next := &denySnapshot{
		sessions: make(map[string]time.Time, len(old.sessions)+len(revs)),
		users:    make(map[string]userRevocation, len(old.users)),
	}
	for id, exp := range old.sessions {
		if exp.After(now) {
			next.sessions[id] = exp
		}
	}
	for id, u := range old.users {
		if u.expires.After(now) {
			next.users[id] = u
		}
	}
	for _, r := range revs {
		if !r.Expires.After(now) {
			continue
		}
		switch {
		case r.SessionID != "":
			next.sessions[r.SessionID] = r.Expires
		case r.UserID != "":
			if cur, ok := next.users[r.UserID]; !ok || r.At.After(cur.at) {
				next.users[r.UserID] = userRevocation{at: r.At, expires: r.Expires}
			}
		}
	}
	d.snap.Store(next)
}

// refreshLookback is how far before the newest entry seen each refresh
// reads again. An entry can be committed after a newer one (its time was
// taken before a slow write) or be stamped by a writer whose clock lags;
// re-reading the last minute finds those for the cost of a few rows.
// Instances whose clocks differ by more than this must be fixed with NTP.
const refreshLookback = time.Minute

// Refresh loads the entries made since the last refresh, and those of the
// minute before it again (see refreshLookback); merging is idempotent.
func (d *DenyList) Refresh(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	since := d.since
	if !since.IsZero() {
		since = since.Add(-refreshLookback)
	}
	revs, err := d.store.RevocationsSince(ctx, since)
	if err != nil {
		return err
	}
	for _, r := range revs {
		if r.At.After(d.since) {
			d.since = r.At
		}
	}
	d.addLocked(revs)
	return nil
}
