package module

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-auth/gatehouse/trigger"
)

// Two pools share the metrics of one registry, each counted apart.
func TestTriggerMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, b := triggerMetricsOn(reg).observer("a"), triggerMetricsOn(reg).observer("b")
	a(trigger.Call{Kind: trigger.PreSignUp, Duration: 2 * time.Millisecond})
	a(trigger.Call{Kind: trigger.PreSignUp, Err: &trigger.Error{Denied: true}})
	b(trigger.Call{Kind: trigger.PreSignUp, Err: &trigger.Error{Timeout: true}})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "gatehouse_trigger_calls_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			key := ""
			for _, l := range m.GetLabel() {
				key += l.GetValue() + "/"
			}
			got[key] = m.GetCounter().GetValue()
		}
	}
	want := map[string]float64{"ok/a/pre_sign_up/": 1, "denied/a/pre_sign_up/": 1, "timeout/b/pre_sign_up/": 1}
	if len(got) != len(want) {
		t.Fatalf("counters %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("counter %s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}
