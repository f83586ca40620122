package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-auth/gatehouse/signing"
)

// keyAges reports, at each scrape, the age of the key each pool signs
// with now, per algorithm: computed from the key set then, so a rotation
// (here or by another instance, once reloaded) shows at the next scrape.
type keyAges struct {
	desc *prometheus.Desc
	mu   sync.Mutex
	sets map[string]*signing.KeySet
}

func newKeyAges() *keyAges {
	return &keyAges{
		desc: prometheus.NewDesc("gatehouse_signing_key_age_seconds",
			"Age of the key a pool signs tokens with now, by pool and algorithm (ES256, RS256): it drops to 0 at a rotation.",
			[]string{"pool", "alg"}, nil),
		sets: map[string]*signing.KeySet{},
	}
}

func (k *keyAges) Describe(ch chan<- *prometheus.Desc) { ch <- k.desc }

func (k *keyAges) Collect(ch chan<- prometheus.Metric) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := time.Now()
	for pool, set := range k.sets {
		for _, alg := range set.Algs() {
			if key := set.CurrentFor(alg); key != nil {
				ch <- prometheus.MustNewConstMetric(k.desc, prometheus.GaugeValue, now.Sub(key.Created).Seconds(), pool, alg)
			}
		}
	}
}

// SigningKeys makes the pool's signing keys' ages part of every scrape
// (gatehouse_signing_key_age_seconds); the set of a later config's pool of
// the same name replaces it.
func (p *Pool) SigningKeys(set *signing.KeySet) {
	p.m.keys.mu.Lock()
	defer p.m.keys.mu.Unlock()
	if set == nil {
		delete(p.m.keys.sets, p.name)
		return
	}
	p.m.keys.sets[p.name] = set
}
