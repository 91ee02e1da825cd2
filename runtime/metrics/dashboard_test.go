package metrics_test

import (
	"encoding/json"
	"os"
	"regexp"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowbot/flowbot/runtime/metrics"
)

// TestDashboardQueriesExist: every metric the Grafana dashboard in docs/
// queries is one flowbot registers.
func TestDashboardQueriesExist(t *testing.T) {
	raw, err := os.ReadFile("../../docs/grafana/flowbot-funnels.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if _, err := metrics.New(reg, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := metrics.NewFunnel(reg); err != nil {
		t.Fatal(err)
	}
	if err := metrics.WatchTurnLog(reg, func() int64 { return 0 }); err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	descs := make(chan *prometheus.Desc, 100)
	go func() { reg.Describe(descs); close(descs) }()
	nameRe := regexp.MustCompile(`fqName: "([a-z_]+)"`)
	for d := range descs {
		if m := nameRe.FindStringSubmatch(d.String()); m != nil {
			known[m[1]] = true
		}
	}
	queried := regexp.MustCompile(`flowbot_[a-z_]+`)
	n := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, name := range queried.FindAllString(tg.Expr, -1) {
				n++
				if !known[name] {
					t.Errorf("panel %q queries %s, which flowbot does not export", p.Title, name)
				}
			}
		}
	}
	if n < 5 {
		t.Fatalf("%d metrics queried", n)
	}
}
