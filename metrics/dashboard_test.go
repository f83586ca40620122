package metrics

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/gatehouse-auth/gatehouse/signing"
	"github.com/gatehouse-auth/gatehouse/store/sqlite/sqlitetest"
)

// family is what the dashboard may query of one metric family.
type family struct {
	histogram bool
	labels    map[string]bool
}

// exported is every family a server exports, with its labels: this
// package's, made as a server makes them (a store operation and the
// signing keys included, which appear only once used), and the trigger
// calls (registered by package module).
func exported(t *testing.T) map[string]family {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	p := On(reg).Pool("main")
	p.StoreOperation("UserByID", time.Millisecond)
	keys, err := signing.Open(t.Context(), sqlitetest.Open(t, ""), signing.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	p.SigningKeys(keys)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	fams := map[string]family{
		"gatehouse_trigger_calls_total":           {labels: map[string]bool{"pool": true, "trigger": true, "outcome": true}},
		"gatehouse_trigger_call_duration_seconds": {histogram: true, labels: map[string]bool{"pool": true, "trigger": true}},
	}
	for _, mf := range mfs {
		f := family{histogram: mf.GetType() == dto.MetricType_HISTOGRAM, labels: map[string]bool{}}
		for _, l := range mf.GetMetric()[0].GetLabel() {
			f.labels[l.GetName()] = true
		}
		fams[mf.GetName()] = f
	}
	return fams
}

var (
	selector = regexp.MustCompile(`(gatehouse_[a-z_]+)(\{[^}]*\})?`)
	matcher  = regexp.MustCompile(`([a-z_]+)\s*(=~|!~|!=|=)`)
	grouping = regexp.MustCompile(`by \(([^)]*)\)`)
)

// The example dashboard has a panel for every exported family, and its
// queries name only families, series (a histogram's _bucket, _sum,
// _count) and labels that exist; panels have their own ids and do not
// overlap.
func TestDashboardQueriesExportedMetrics(t *testing.T) {
	text, err := os.ReadFile("../examples/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			ID      int    `json:"id"`
			Title   string `json:"title"`
			GridPos struct{ X, Y, W, H int }
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(text, &dash); err != nil {
		t.Fatal(err)
	}
	fams := exported(t)
	charted := map[string]bool{}
	ids := map[int]bool{}
	cells := map[[2]int]string{}
	for _, panel := range dash.Panels {
		if ids[panel.ID] {
			t.Errorf("panel %q: id %d taken", panel.Title, panel.ID)
		}
		ids[panel.ID] = true
		for x := panel.GridPos.X; x < panel.GridPos.X+panel.GridPos.W; x++ {
			for y := panel.GridPos.Y; y < panel.GridPos.Y+panel.GridPos.H; y++ {
				if other, ok := cells[[2]int{x, y}]; ok {
					t.Errorf("panel %q overlaps %q", panel.Title, other)
					x, y = 1<<30, 1<<30
					break
				}
				cells[[2]int{x, y}] = panel.Title
			}
		}
		if len(panel.Targets) == 0 {
			t.Errorf("panel %q queries nothing", panel.Title)
		}
		for _, target := range panel.Targets {
			var inExpr []family
			bucket := false
			for _, m := range selector.FindAllStringSubmatch(target.Expr, -1) {
				name, f, ok := m[1], family{}, false
				if f, ok = fams[name]; !ok {
					for _, suffix := range []string{"_bucket", "_sum", "_count"} {
						if base, cut := strings.CutSuffix(name, suffix); cut && fams[base].histogram {
							name, f, ok = base, fams[base], true
							bucket = bucket || suffix == "_bucket"
						}
					}
				}
				if !ok {
					t.Errorf("panel %q queries %s, which nothing exports", panel.Title, m[1])
					continue
				}
				if f.histogram && name == m[1] {
					t.Errorf("panel %q queries the histogram %s itself, not a series of it", panel.Title, name)
				}
				charted[name] = true
				inExpr = append(inExpr, f)
				for _, lm := range matcher.FindAllStringSubmatch(m[2], -1) {
					if !f.labels[lm[1]] {
						t.Errorf("panel %q selects %s by %q, a label it does not have", panel.Title, name, lm[1])
					}
				}
			}
			for _, g := range grouping.FindAllStringSubmatch(target.Expr, -1) {
				for l := range strings.SplitSeq(g[1], ",") {
					l = strings.TrimSpace(l)
					for _, f := range inExpr {
						if !f.labels[l] && !(l == "le" && bucket) {
							t.Errorf("panel %q groups by %q, a label its metrics do not all have", panel.Title, l)
						}
					}
				}
			}
		}
	}
	for name := range fams {
		if !charted[name] {
			t.Errorf("the dashboard has no panel for %s", name)
		}
	}
}
