package module

import (
	"context"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/ratelimit"
)

// A server's pool on PostgreSQL, with metrics on, keeps its shared
// throttle as it is, so that its upkeep forgets old counts (a counting
// wrapper once hid it, and the counts grew for good), and its store and
// signing keys report to the metrics.
func TestMeteredPoolKeepsSharedThrottle(t *testing.T) {
	t.Setenv("GATEHOUSE_METERED_DSN", testenv.PostgresDSN(t))
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	cfg := &PoolConfig{Store: StoreConfig{Driver: "postgres", DSN: "{env.GATEHOUSE_METERED_DSN}"}}
	p, err := OpenPool(ctx, "default", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Metrics == nil {
		t.Fatal("no metrics in a server's pool")
	}
	if _, ok := p.Throttle.(*ratelimit.Shared); !ok {
		t.Fatalf("the pool's throttle is %T, want *ratelimit.Shared", p.Throttle)
	}
	u := p.Upkeep(time.Second, zap.NewNop())
	if len(u.Purge) != 1 || u.Purge[0].Name != "old throttle counts" {
		t.Errorf("upkeep purges %v, want the old throttle counts", u.Purge)
	}
	mfs, err := ctx.GetMetricsRegistry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, mf := range mfs {
		seen[mf.GetName()] = true
	}
	for _, name := range []string{"gatehouse_store_operation_duration_seconds", "gatehouse_signing_key_age_seconds"} {
		if !seen[name] {
			t.Errorf("%s not gathered after the pool opened", name)
		}
	}
}
