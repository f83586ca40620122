package storetest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
)

func testRateHits(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	const length = time.Minute
	w0 := base.Truncate(length)
	w1 := w0.Add(length)

	t.Run("CountsPerKeyAndWindow", func(t *testing.T) {
		s := open(t)
		for _, tc := range []struct {
			key             string
			start           time.Time
			wantCur, wantPr int64
		}{
			{"a", w0, 1, 0},
			{"a", w0, 2, 0},
			{"b", w0, 1, 0},
			{"a", w0, 3, 0},
			{"a", w1, 1, 3}, // the next window sees this one as previous
			{"b", w1, 1, 1},
			{"a", w1, 2, 3},
			{"a", w1.Add(length), 1, 2},
			{"a", w1.Add(5 * length), 1, 0}, // windows apart: no previous
		} {
			cur, prev, err := s.CountHit(ctx, tc.key, tc.start, length)
			if err != nil || cur != tc.wantCur || prev != tc.wantPr {
				t.Fatalf("CountHit(%s, %v) = %d, %d, %v; want %d, %d", tc.key, tc.start, cur, prev, err, tc.wantCur, tc.wantPr)
			}
		}
	})

	t.Run("BadInput", func(t *testing.T) {
		s := open(t)
		if _, _, err := s.CountHit(ctx, "", w0, length); err == nil {
			t.Error("an empty key was counted")
		}
		if _, _, err := s.CountHit(ctx, "a", w0, 0); err == nil {
			t.Error("a zero length was taken")
		}
	})

	t.Run("ConcurrentHits", func(t *testing.T) {
		s := open(t)
		var mu sync.Mutex
		var got []int64
		errs := raceN(20, func(int) error {
			cur, _, err := s.CountHit(ctx, "k", w0, length)
			mu.Lock()
			got = append(got, cur)
			mu.Unlock()
			return err
		})
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		slices.Sort(got)
		for i, c := range got {
			if c != int64(i+1) {
				t.Fatalf("counts told to 20 concurrent hits: %v, want 1..20 once each", got)
			}
		}
	})

	t.Run("Purge", func(t *testing.T) {
		s := open(t)
		for _, w := range []time.Time{w0, w1} {
			if _, _, err := s.CountHit(ctx, "k", w, length); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.PurgeHits(ctx, w1); err != nil {
			t.Fatal(err)
		}
		// w0 is gone (no previous for w1 any more); w1 is kept.
		cur, prev, err := s.CountHit(ctx, "k", w1, length)
		if err != nil || cur != 2 || prev != 0 {
			t.Fatalf("after purge: %d, %d, %v; want 2, 0", cur, prev, err)
		}
	})
}
