package bench

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-auth/gatehouse/metrics"
	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/store/sqlite/sqlitetest"
)

// BenchmarkStoreOperationTimed is one SQLite read (a user by id, not
// found: an index probe) without and with the store latency histogram
// (package metrics through sqlstore's observer): the cost of timing every
// store operation.
func BenchmarkStoreOperationTimed(b *testing.B) {
	for _, timed := range []bool{false, true} {
		name := map[bool]string{false: "plain", true: "timed"}[timed]
		b.Run(name, func(b *testing.B) {
			s := sqlitetest.Open(b, "")
			if timed {
				s.SetObserver(metrics.On(prometheus.NewRegistry()).Pool("main").StoreOperation)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.UserByID(b.Context(), "nobody"); !errors.Is(err, store.ErrNotFound) {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStoreObserver is the observer alone: a map read, a histogram
// observation.
func BenchmarkStoreObserver(b *testing.B) {
	p := metrics.On(prometheus.NewRegistry()).Pool("main")
	b.ReportAllocs()
	for b.Loop() {
		p.StoreOperation("UserByID", 1234)
	}
}
