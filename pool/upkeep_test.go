package pool

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestUpkeepRun: the running upkeep picks up a revocation another process
// made; a store that fails is reported and the list loaded stays; Run ends
// with its context.
func TestUpkeepRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	writer := newPoolOn(t, openSQLite(t, path), Config{})
	rs := &recordingStore{Store: openSQLite(t, path)}
	reader := newPoolOn(t, rs, Config{})
	core, logs := observer.New(zapcore.WarnLevel)
	u := &Upkeep{Pool: reader, Interval: 5 * time.Millisecond, Log: zap.New(core)}

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		u.Run(ctx)
		close(done)
	}()

	if err := writer.RevokeSession(t.Context(), "s1", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !reader.DenyList().Revoked("s1", "x", time.Now()) {
		if time.Now().After(deadline) {
			t.Fatal("Run did not pick up a revocation")
		}
		time.Sleep(5 * time.Millisecond)
	}

	// A failing store is reported and the list kept.
	boom := errors.New("store unavailable")
	rs.mu.Lock()
	rs.fail = boom
	rs.mu.Unlock()
	deadline = time.Now().Add(10 * time.Second)
	for logs.FilterMessage("refreshing revocations failed").Len() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a failing refresh was not reported")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if e := logs.FilterMessage("refreshing revocations failed").All()[0]; e.ContextMap()["error"] != boom.Error() {
		t.Errorf("logged %v, want the store's error %q", e.ContextMap(), boom)
	}
	if !reader.DenyList().Revoked("s1", "x", time.Now()) {
		t.Error("a failed refresh lost the list")
	}

	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// TestUpkeepTasks: reloads run at every pass, purges at the first and then
// once per purgeInterval, and a failing task does not stop the others.
func TestUpkeepTasks(t *testing.T) {
	var reloads, purges, after atomic.Int32
	core, logs := observer.New(zapcore.WarnLevel)
	u := &Upkeep{Pool: newTestPool(t), Interval: time.Second, Log: zap.New(core),
		Reload: []Task{
			{"failing", func(context.Context) error { return errors.New("no") }},
			{"counted", func(context.Context) error { reloads.Add(1); return nil }},
		},
		Purge: []Task{{"counted", func(context.Context) error { purges.Add(1); return nil }}},
	}
	u.Once(t.Context())
	u.Once(t.Context())
	if reloads.Load() != 2 || purges.Load() != 1 {
		t.Errorf("two passes: %d reloads and %d purges, want 2 and 1", reloads.Load(), purges.Load())
	}
	if n := logs.FilterMessage("refreshing failing failed").Len(); n != 2 {
		t.Errorf("a failing task logged %d times in two passes, want 2", n)
	}
	u.lastPurge = time.Now().Add(-purgeInterval)
	u.Purge = append(u.Purge, Task{"after", func(context.Context) error { after.Add(1); return nil }})
	u.Once(t.Context())
	if purges.Load() != 2 || after.Load() != 1 {
		t.Errorf("after purgeInterval: %d purges and %d of the next task, want 2 and 1", purges.Load(), after.Load())
	}
}

// TestUpkeepForgetsOldOneTimeMarks: on any store the purge forgets one-time
// marks a day past their window's start, and keeps the ones still in play
// (a spent sign-in session whose expiry has not come stays spent).
func TestUpkeepForgetsOldOneTimeMarks(t *testing.T) {
	t.Parallel()
	p := newTestPool(t)
	ctx := t.Context()
	old, live := time.Now().Add(-oneTimeMarkKeep-time.Hour), time.Now().Add(time.Hour)
	for _, start := range []time.Time{old, live} {
		if _, _, err := p.store.CountHit(ctx, "mark", start, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	(&Upkeep{Pool: p, Interval: time.Second}).Once(ctx)
	// A count of 1 means the window was forgotten; 2, that it was kept.
	if n, _, _ := p.store.CountHit(ctx, "mark", old, time.Second); n != 1 {
		t.Errorf("a mark a day past its start counted %d after the purge, want it forgotten (1)", n)
	}
	if n, _, _ := p.store.CountHit(ctx, "mark", live, time.Second); n != 2 {
		t.Errorf("a live mark counted %d after the purge, want it kept (2)", n)
	}
}
