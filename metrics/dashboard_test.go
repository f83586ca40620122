package metrics

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// The example dashboard queries only metrics that exist: this package's,
// once a pool has made its counters, and the trigger calls (registered by
// package module).
func TestDashboardQueriesExportedMetrics(t *testing.T) {
	text, err := os.ReadFile("../examples/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	On(reg).Pool("main")
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{"gatehouse_trigger_calls_total": true, "gatehouse_trigger_call_duration_seconds_bucket": true}
	for _, mf := range mfs {
		known[mf.GetName()] = true
	}
	used := regexp.MustCompile(`gatehouse_[a-z_]+`).FindAllString(string(text), -1)
	if len(used) < len(known) {
		t.Errorf("the dashboard uses %d metric names, fewer than the %d there are", len(used), len(known))
	}
	seen := map[string]bool{}
	for _, name := range used {
		if !known[name] {
			t.Errorf("the dashboard queries %s, which nothing exports", name)
		}
		seen[name] = true
	}
	for name := range known {
		if !seen[name] && !strings.HasSuffix(name, "_bucket") {
			t.Errorf("the dashboard has no panel for %s", name)
		}
	}
}
