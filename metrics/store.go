package metrics

import (
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-auth/gatehouse/store"
)

// StoreOperations are the operation label's values: the methods of
// store.Store, which the SQL layer times under their own names (see
// sqlstore.Store.SetObserver).
var StoreOperations = storeOperations()

func storeOperations() []string {
	t := reflect.TypeFor[store.Store]()
	ops := make([]string, 0, t.NumMethod())
	for i := range t.NumMethod() {
		ops = append(ops, t.Method(i).Name)
	}
	return ops
}

// StoreBuckets are the store latency histogram's buckets, in seconds: a
// local SQLite read takes well under a millisecond, a PostgreSQL round
// trip a few, and the store's own timeout (5s by default) ends the rest.
var StoreBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// lazyObserver is one operation's histogram, made at its first use: of
// the store's many operations a pool uses a part, and an operation never
// run would be a dozen empty series.
type lazyObserver struct {
	once      sync.Once
	vec       *prometheus.HistogramVec
	pool, op  string
	histogram prometheus.Observer
}

func (l *lazyObserver) observe(d time.Duration) {
	l.once.Do(func() { l.histogram = l.vec.WithLabelValues(l.pool, l.op) })
	l.histogram.Observe(d.Seconds())
}

func storeObservers(vec *prometheus.HistogramVec, pool string) map[string]*lazyObserver {
	m := make(map[string]*lazyObserver, len(StoreOperations)+1)
	for _, op := range slices.Concat(StoreOperations, []string{Other}) {
		m[op] = &lazyObserver{vec: vec, pool: pool, op: op}
	}
	return m
}

// StoreOperation times one store operation (sqlstore.Store.SetObserver);
// a name outside StoreOperations is timed as "other".
func (p *Pool) StoreOperation(op string, d time.Duration) {
	l, ok := p.storeOps[op]
	if !ok {
		l = p.storeOps[Other]
	}
	l.observe(d)
}
