package ratelimit

import (
	"math"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func TestBurstThenRefusal(t *testing.T) {
	for _, tc := range []struct {
		name      string
		limits    Limits
		burst     int
		wantRetry time.Duration // after the burst is spent, at t0
	}{
		{"defaults", Limits{}, DefaultBurst, 6 * time.Second},
		{"one a second", Limits{Rate: 1, Burst: 3}, 3, time.Second},
		{"ten a second", Limits{Rate: 10, Burst: 1}, 1, 100 * time.Millisecond},
		{"one a minute", Limits{Rate: 1.0 / 60, Burst: 5}, 5, time.Minute},
		{"three a second", Limits{Rate: 3, Burst: 2}, 2, time.Second / 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := New(tc.limits)
			for i := range tc.burst {
				if ok, wait := l.AllowAt("k", t0); !ok || wait != 0 {
					t.Fatalf("call %d of the burst: %v, %v", i+1, ok, wait)
				}
			}
			ok, wait := l.AllowAt("k", t0)
			if ok {
				t.Fatal("allowed past the burst")
			}
			if wait < tc.wantRetry || wait > tc.wantRetry+time.Microsecond {
				t.Errorf("retryAfter %v, want %v", wait, tc.wantRetry)
			}
			// Waiting retryAfter is enough, and a little less is not.
			if ok, _ := l.AllowAt("k", t0.Add(wait-time.Millisecond)); ok {
				t.Errorf("allowed %v before retryAfter", time.Millisecond)
			}
			if ok, _ := l.AllowAt("k", t0.Add(wait)); !ok {
				t.Errorf("refused after waiting retryAfter %v", wait)
			}
		})
	}
}

func TestRetryAfterIsEnough(t *testing.T) {
	// Odd rates and partial refills, where float rounding could leave the
	// bucket a hair short of a token at now+retryAfter.
	for _, r := range []float64{1.0 / 3, 1.0 / 7, 0.3, 7, 1000.0 / 3, 1e-3} {
		l := New(Limits{Rate: r, Burst: 2})
		now := t0
		for i := range 200 {
			ok, wait := l.AllowAt("k", now)
			if ok {
				// Come back at an odd moment, part way through a refill.
				now = now.Add(time.Duration(float64(time.Second) / r / 3.3))
				continue
			}
			if wait <= 0 {
				t.Fatalf("rate %v, call %d: refused with retryAfter %v", r, i, wait)
			}
			now = now.Add(wait)
			if ok, again := l.AllowAt("k", now); !ok {
				t.Fatalf("rate %v, call %d: refused again after waiting %v (now %v more)", r, i, wait, again)
			}
		}
	}
}

func TestRefill(t *testing.T) {
	l := New(Limits{Rate: 2, Burst: 4})
	for range 4 {
		l.AllowAt("k", t0)
	}
	for _, tc := range []struct {
		after time.Duration
		want  int // how many calls succeed in a row at t0+after
	}{
		{0, 0},
		{499 * time.Millisecond, 0},
		{500 * time.Millisecond, 1},
		{1500 * time.Millisecond, 2},
		{time.Hour, 4}, // never more than the burst
		{time.Hour + 500*time.Millisecond, 1},
	} {
		now := t0.Add(tc.after)
		got := 0
		for {
			ok, _ := l.AllowAt("k", now)
			if !ok {
				break
			}
			got++
		}
		if got != tc.want {
			t.Errorf("at +%v: %d allowed, want %d", tc.after, got, tc.want)
		}
	}
}

func TestRefusedCallsDoNotConsume(t *testing.T) {
	l := New(Limits{Rate: 1, Burst: 1})
	if ok, _ := l.AllowAt("k", t0); !ok {
		t.Fatal("first call refused")
	}
	// Hammering while empty must not push the next token further away.
	var first time.Duration
	for i := range 1000 {
		now := t0.Add(time.Duration(i) * time.Millisecond / 2)
		ok, wait := l.AllowAt("k", now)
		if ok {
			t.Fatalf("call at %v allowed", now.Sub(t0))
		}
		if i == 0 {
			first = wait
		}
		if want := first - now.Sub(t0); wait < want || wait > want+time.Microsecond {
			t.Fatalf("call at +%v: retryAfter %v, want %v", now.Sub(t0), wait, want)
		}
	}
	if ok, _ := l.AllowAt("k", t0.Add(time.Second)); !ok {
		t.Error("refused a second later, although every call since was refused")
	}
}

func TestKeysAreIndependent(t *testing.T) {
	l := New(Limits{Rate: 1, Burst: 2})
	for range 2 {
		l.AllowAt("a", t0)
	}
	if ok, _ := l.AllowAt("a", t0); ok {
		t.Fatal("a allowed past its burst")
	}
	for _, k := range []string{"b", "c", "", "a "} {
		for i := range 2 {
			if ok, _ := l.AllowAt(k, t0); !ok {
				t.Errorf("key %q, call %d refused because a spent its burst", k, i+1)
			}
		}
	}
}

func TestAllowReadsTheClock(t *testing.T) {
	now := t0
	l := New(Limits{Rate: 1, Burst: 1, Now: func() time.Time { return now }})
	if ok, _ := l.Allow(t.Context(), "k"); !ok {
		t.Fatal("first call refused")
	}
	if ok, wait := l.Allow(t.Context(), "k"); ok || wait < time.Second || wait > time.Second+time.Microsecond {
		t.Fatalf("second call: %v, %v", ok, wait)
	}
	now = now.Add(time.Second)
	if ok, _ := l.Allow(t.Context(), "k"); !ok {
		t.Error("refused after the clock moved a second")
	}
}

func TestInfiniteRate(t *testing.T) {
	l := New(Limits{Rate: math.Inf(1), Burst: 1, MaxKeys: 1})
	for i := range 100 {
		if ok, _ := l.AllowAt("k"+strconv.Itoa(i%3), t0); !ok {
			t.Fatal("refused at an infinite rate")
		}
	}
	if n := l.Len(); n != 0 {
		t.Errorf("%d buckets kept at an infinite rate", n)
	}
}

func TestDefaults(t *testing.T) {
	for _, in := range []Limits{{}, {Rate: -1, Burst: -1, MaxKeys: -1}, {Rate: math.NaN()}} {
		l := New(in)
		if l.limit != DefaultRate || l.burst != DefaultBurst || l.now == nil {
			t.Errorf("New(%+v): rate %v, burst %d", in, l.limit, l.burst)
		}
		total := 0
		for i := range l.shards {
			total += l.shards[i].max
		}
		if len(l.shards) != numShards || total != DefaultMaxKeys {
			t.Errorf("New(%+v): %d shards holding %d keys", in, len(l.shards), total)
		}
	}
}

func TestMaxKeysSmall(t *testing.T) {
	for _, maxKeys := range []int{1, 2, 5, 15, 16, 17, 33} {
		l := New(Limits{Rate: 1, Burst: 1, MaxKeys: maxKeys})
		for i := range 1000 {
			l.AllowAt(strconv.Itoa(i), t0)
			if n := l.Len(); n > maxKeys {
				t.Fatalf("MaxKeys %d: %d keys after %d calls", maxKeys, n, i+1)
			}
		}
		if n := l.Len(); n == 0 {
			t.Errorf("MaxKeys %d: no key kept", maxKeys)
		}
	}
}

func TestIdleBucketsGoFirst(t *testing.T) {
	// Every shard has room for 8 keys and frees 1 at a time when full.
	l := New(Limits{Rate: 1, Burst: 2, MaxKeys: 8 * numShards})
	s := l.shardFor("")
	var n int
	keysIn := func(prefix string, count int) []string { // count keys of s's shard
		var ks []string
		for ; len(ks) < count; n++ {
			if k := prefix + strconv.Itoa(n); l.shardFor(k) == s {
				ks = append(ks, k)
			}
		}
		return ks
	}
	// Fill the shard: half the keys spent a token at t0, half at t0+10s.
	idle, busy := keysIn("idle", 4), keysIn("busy", 4)
	now := t0.Add(10 * time.Second) // the idle ones have refilled since
	for i := range 4 {
		l.AllowAt(idle[i], t0)
		l.AllowAt(busy[i], now)
	}
	if len(s.buckets) != 8 {
		t.Fatalf("shard holds %d keys, want 8", len(s.buckets))
	}
	// Four new keys: only the idle buckets may make way for them.
	for _, k := range keysIn("new", 4) {
		l.AllowAt(k, now)
	}
	for _, k := range idle {
		if _, ok := s.buckets[k]; ok {
			t.Errorf("idle key %s kept", k)
		}
	}
	for _, k := range busy {
		if _, ok := s.buckets[k]; !ok {
			t.Errorf("busy key %s dropped while idle ones were there", k)
		}
	}
	// With no idle bucket left, a new key still gets in and the bound holds.
	extra := keysIn("extra", 1)[0]
	l.AllowAt(extra, now)
	if _, ok := s.buckets[extra]; !ok || len(s.buckets) != 8 {
		t.Errorf("shard holds %d keys (new one kept: %v), want 8", len(s.buckets), ok)
	}
}

func TestMaxKeysBoundsMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("a million keys")
	}
	const maxKeys = DefaultMaxKeys
	const distinct = 1_000_000
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	l := New(Limits{MaxKeys: maxKeys}) // default rate: nobody refills in this test
	var full uint64
	for i := range distinct {
		// Made here, as a request would, so the map holds the only copy.
		k := "2001:db8:" + strconv.FormatInt(int64(i), 16) + "::/64"
		l.AllowAt(k, t0.Add(time.Duration(i)*time.Microsecond))
		if i%10_000 == 9_999 {
			if n := l.Len(); n > maxKeys {
				t.Fatalf("%d keys after %d distinct ones, MaxKeys %d", n, i+1, maxKeys)
			}
		}
		if i == maxKeys-1 {
			full = heap() - before
		}
	}
	n := l.Len()
	if n > maxKeys || n < maxKeys*9/10 {
		t.Fatalf("%d keys after %d distinct ones, want at most %d and not much less", n, distinct, maxKeys)
	}
	after := heap() - before
	t.Logf("heap: %d MB at %d keys (%d B/key), %d MB after %d distinct keys",
		full>>20, maxKeys, full/maxKeys, after>>20, distinct)
	// Per key: a map slot, the key's own bytes and an 80-byte rate.Limiter.
	const perKeyBound = 400
	if full > perKeyBound*maxKeys {
		t.Errorf("%d bytes for %d keys, want under %d a key", full, maxKeys, perKeyBound)
	}
	if after > full*3/2+(4<<20) {
		t.Errorf("heap grew from %d to %d bytes after MaxKeys was reached", full, after)
	}
	runtime.KeepAlive(l)
}

func TestWarmAllowDoesNotAllocate(t *testing.T) {
	l := New(Limits{Rate: 1e9, Burst: 1 << 30})
	l.AllowAt("k", t0)
	if n := testing.AllocsPerRun(1000, func() { l.AllowAt("k", t0) }); n != 0 {
		t.Errorf("%v allocations per warm call", n)
	}
	// A refusal does not allocate either.
	r := New(Limits{Rate: 1, Burst: 1})
	r.AllowAt("k", t0)
	if n := testing.AllocsPerRun(1000, func() { r.AllowAt("k", t0) }); n != 0 {
		t.Errorf("%v allocations per refused call", n)
	}
}

func TestConcurrentOneKey(t *testing.T) {
	// At a frozen clock exactly Burst calls in total succeed, however many
	// goroutines race for them.
	const burst = 100
	l := New(Limits{Rate: 1, Burst: burst})
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for range 200 {
				if ok, _ := l.AllowAt("k", t0); ok {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := allowed.Load(); got != burst {
		t.Errorf("%d calls allowed, want %d", got, burst)
	}
}

func TestConcurrentManyKeys(t *testing.T) {
	const maxKeys = 500
	l := New(Limits{Rate: 10, Burst: 3, MaxKeys: maxKeys})
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			for i := range 2000 {
				now := t0.Add(time.Duration(i) * time.Millisecond)
				l.AllowAt("k"+strconv.Itoa((g*7919+i)%3000), now)
				if i%100 == 0 {
					if n := l.Len(); n > maxKeys {
						t.Errorf("%d keys, MaxKeys %d", n, maxKeys)
						return
					}
				}
			}
		})
	}
	// A key of its own, watched while the others churn: it keeps its limit
	// unless evicted, and an eviction can only give it a fresh burst.
	wg.Go(func() {
		for range 1000 {
			l.AllowAt("mine", t0)
		}
	})
	wg.Wait()
	if n := l.Len(); n > maxKeys {
		t.Errorf("%d keys, MaxKeys %d", n, maxKeys)
	}
}

func TestClientKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{"203.0.113.255", "203.0.113.255"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::", "2001:db8:1:2::/64"},
		{"2001:0db8:0001:0002:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"2001:DB8:1:3::1", "2001:db8:1:3::/64"},
		{"::1", "::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"::ffff:c000:0201", "192.0.2.1"},
		{"", ""},
		{"unknown", "unknown"},
		{"192.0.2.1:443", "192.0.2.1:443"},
		{"[2001:db8::1]:443", "[2001:db8::1]:443"},
		{"192.0.2.001", "192.0.2.001"},
		{"2001:db8::/64", "2001:db8::/64"},
	} {
		if got := ClientKey(tc.in); got != tc.want {
			t.Errorf("ClientKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// Two addresses of one /64 share a key; the next /64 does not.
	if ClientKey("2001:db8:a:b::1") != ClientKey("2001:db8:a:b:ffff::9") {
		t.Error("one /64, two keys")
	}
	if ClientKey("2001:db8:a:b::1") == ClientKey("2001:db8:a:c::1") {
		t.Error("two /64s, one key")
	}
}

func BenchmarkAllow(b *testing.B) {
	// A warm key that is never refused: the cost every allowed POST pays.
	l := New(Limits{Rate: 1e12, Burst: 1 << 30})
	now := time.Now()
	l.AllowAt("192.0.2.1", now)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.AllowAt("192.0.2.1", now)
		}
	})
}

func BenchmarkAllowManyKeys(b *testing.B) {
	// Warm keys spread over the shards, each goroutine on its own keys.
	l := New(Limits{Rate: 1e12, Burst: 1 << 30})
	now := time.Now()
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "192.0.2." + strconv.Itoa(i)
		l.AllowAt(keys[i], now)
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(97))
		for pb.Next() {
			l.AllowAt(keys[i%len(keys)], now)
			i++
		}
	})
}

func BenchmarkAllowNewKeys(b *testing.B) {
	// Every call a key never seen, on a full limiter: a flood of addresses.
	l := New(Limits{})
	keys := make([]string, 1<<20)
	for i := range keys {
		keys[i] = "2001:db8:" + strconv.FormatInt(int64(i), 16) + "::/64"
	}
	now := time.Now()
	for _, k := range keys[:DefaultMaxKeys] {
		l.AllowAt(k, now)
	}
	b.ReportAllocs()
	i := DefaultMaxKeys
	for b.Loop() {
		l.AllowAt(keys[i&(len(keys)-1)], now)
		i++
	}
}

func BenchmarkClientKey(b *testing.B) {
	for _, ip := range []string{"192.0.2.1", "2001:db8:1:2:3:4:5:6"} {
		b.Run(ip, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ClientKey(ip)
			}
		})
	}
}
