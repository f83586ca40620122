package ratelimit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// memCounter is a Counter in memory, as a store would count.
type memCounter struct {
	mu     sync.Mutex
	hits   map[string]int64
	fail   error
	purged []time.Time
}

func (m *memCounter) CountHit(_ context.Context, key string, start time.Time, length time.Duration) (int64, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return 0, 0, m.fail
	}
	m.hits[key+start.String()]++
	return m.hits[key+start.String()], m.hits[key+start.Add(-length).String()], nil
}

func (m *memCounter) PurgeHits(_ context.Context, before time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.purged = append(m.purged, before)
	return m.fail
}

// TestSharedForget: the counts Forget drops are those older than the two
// windows the estimate reads.
func TestSharedForget(t *testing.T) {
	c := &memCounter{hits: map[string]int64{}}
	now := time.Date(2026, 1, 1, 12, 0, 30, 0, time.UTC)
	s := NewShared(c, 5, time.Minute, nil)
	s.now = func() time.Time { return now }
	if err := s.Forget(t.Context()); err != nil {
		t.Fatal(err)
	}
	if want := now.Add(-2 * time.Minute); len(c.purged) != 1 || !c.purged[0].Equal(want) {
		t.Errorf("purged before %v, want before %v", c.purged, want)
	}
	c.fail = errors.New("store down")
	if err := s.Forget(t.Context()); !errors.Is(err, c.fail) {
		t.Errorf("Forget on a failing counter: %v, want its error", err)
	}
}

func TestSharedSlidingWindow(t *testing.T) {
	c := &memCounter{hits: map[string]int64{}}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC) // a window boundary
	s := NewShared(c, 5, time.Minute, nil)
	s.now = func() time.Time { return now }
	ctx := t.Context()
	for i := range 5 {
		if ok, _ := s.Allow(ctx, "ip"); !ok {
			t.Fatalf("event %d refused", i+1)
		}
	}
	ok, wait := s.Allow(ctx, "ip")
	if ok || wait != time.Minute {
		t.Fatalf("6th event: %v, %v; want refused for the rest of the window", ok, wait)
	}
	if ok, _ := s.Allow(ctx, "other"); !ok {
		t.Fatal("another key was refused")
	}
	// Half-way into the next window half of the previous one still counts:
	// 6 * 0.5 = 3, so two more fit, not three.
	now = now.Add(90 * time.Second)
	for i := range 2 {
		if ok, _ := s.Allow(ctx, "ip"); !ok {
			t.Fatalf("event %d of the next window refused", i+1)
		}
	}
	ok, wait = s.Allow(ctx, "ip")
	if ok {
		t.Fatal("the estimate over the limit was allowed")
	}
	// The refused event counted: the next one fits once 6*(1-x) + 4 <= 5,
	// at x >= 5/6 of the window: 50 s in, 20 s from now.
	if wait != 20*time.Second {
		t.Fatalf("wait %v, want 20s", wait)
	}
	now = now.Add(wait)
	if ok, _ := s.Allow(ctx, "ip"); !ok {
		t.Fatal("refused after the wait it gave")
	}
}

func TestSharedFailsOpen(t *testing.T) {
	var heard error
	c := &memCounter{hits: map[string]int64{}, fail: errors.New("store down")}
	s := NewShared(c, 1, time.Minute, func(err error) { heard = err })
	for range 3 {
		if ok, _ := s.Allow(t.Context(), "ip"); !ok {
			t.Fatal("refused while the counter is down")
		}
	}
	if heard == nil {
		t.Fatal("the failure was not reported")
	}
}
