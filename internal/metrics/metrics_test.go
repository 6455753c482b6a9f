package metrics_test

import (
	"testing"

	"github.com/redirector/redirector/internal/metrics"
	"github.com/redirector/redirector/internal/resolve"
)

// Each outcome of a click is counted under its route and its name, and nothing else is.
func TestOutcomesInc(t *testing.T) {
	tests := []struct {
		name    string
		outcome resolve.Outcome
		want    string // the outcome label counted
	}{
		{"tagged", resolve.Tagged, "tagged"},
		{"stale", resolve.Stale, "stale"},
		{"untagged", resolve.Untagged, "untagged"},
		{"unknown", 0, "untagged"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, route := range []string{"go", "id"} {
				m := metrics.New()
				c := &m.Go
				if route == "id" {
					c = &m.ID
				}
				c.Inc(tc.outcome)
				got := counts(t, m)
				if len(got) != 1 || got[route+"/"+tc.want] != 1 {
					t.Errorf("%s: Inc(%v) counted %v, want {%s/%s: 1}", route, tc.outcome, got, route, tc.want)
				}
			}
		})
	}
}

// counts returns the non-zero redirector_redirects_total children as "route/outcome".
func counts(t *testing.T, m *metrics.Metrics) map[string]float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "redirector_redirects_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			if v := s.GetCounter().GetValue(); v != 0 {
				labels := map[string]string{}
				for _, l := range s.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				got[labels["route"]+"/"+labels["outcome"]] = v
			}
		}
	}
	return got
}
