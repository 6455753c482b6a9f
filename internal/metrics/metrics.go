// Package metrics holds the redirector's Prometheus collectors, registered on a registry of its own.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/redirector/redirector/internal/resolve"
)

// Outcomes of a redirect that sent no click on, values of the "outcome" label. A redirect's
// label is what the click got: resolve.Outcome's String (tagged, stale, untagged).
const (
	Rejected = "rejected" // 400: the URL was not accepted
	NotFound = "notfound" // 404: unknown or deleted short link
	Preview  = "preview"  // 200: a link-preview fetcher got an Open Graph page
)

// Outcomes are one route's children of Redirects by what a click got, pre-bound for the hot path.
type Outcomes struct {
	Tagged, Stale, Untagged prometheus.Counter
}

// Inc counts a click that got o. It is the one place an outcome becomes a metric; an outcome
// other than Tagged or Stale counts as untagged.
func (c *Outcomes) Inc(o resolve.Outcome) {
	switch o {
	case resolve.Tagged:
		c.Tagged.Inc()
	case resolve.Stale:
		c.Stale.Inc()
	default:
		c.Untagged.Inc()
	}
}

// outcomes binds route's children of redirects for each resolve.Outcome.
func outcomes(redirects *prometheus.CounterVec, route string) Outcomes {
	return Outcomes{
		Tagged:   redirects.WithLabelValues(route, resolve.Tagged.String()),
		Stale:    redirects.WithLabelValues(route, resolve.Stale.String()),
		Untagged: redirects.WithLabelValues(route, resolve.Untagged.String()),
	}
}

// Metrics is the set of collectors. Its fields are safe for concurrent use; the
// children that the hot path touches are bound once here so a redirect does no label lookup.
type Metrics struct {
	Registry *prometheus.Registry

	// Redirects counts answers on the redirect routes by route ("go", "id") and outcome.
	Redirects *prometheus.CounterVec
	// Go and ID count the redirects of /go and /{id} by what the click got (see Outcomes.Inc).
	Go, ID Outcomes
	// GoRejected, IDNotFound and IDPreview are Redirects' other children, pre-bound for the hot path.
	GoRejected, IDNotFound, IDPreview prometheus.Counter

	// PlatformCalls counts calls to the AliExpress platform by result.
	PlatformCalls *prometheus.CounterVec
	// PlatformLatency observes the duration of platform calls.
	PlatformLatency prometheus.Histogram
	// BatchSize observes how many pages one platform call carried.
	BatchSize prometheus.Histogram
	// Panics counts handler panics that were recovered.
	Panics prometheus.Counter
	// ClicksUnrecorded counts human clicks (scans included) on product codes that no live record backs:
	// they are redirected but not counted in the store, so they cannot make it grow.
	ClicksUnrecorded prometheus.Counter
	// RecordsRejected counts short-link records read from the store whose target was refused.
	RecordsRejected prometheus.Counter
}

// New makes the collectors and registers them, with the Go runtime and process collectors,
// on a new registry.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		Redirects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redirector_redirects_total",
			Help: "Answers on the redirect routes by route and outcome.",
		}, []string{"route", "outcome"}),
		PlatformCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redirector_platform_calls_total",
			Help: "Calls to the AliExpress platform by result.",
		}, []string{"result"}),
		PlatformLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "redirector_platform_call_duration_seconds",
			Help:    "Duration of calls to the AliExpress platform.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2, 5, 10},
		}),
		BatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "redirector_platform_batch_size",
			Help:    "Pages carried by one platform call.",
			Buckets: []float64{1, 2, 5, 10, 20, 30, 40, 50},
		}),
		Panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "redirector_panics_total",
			Help: "Handler panics recovered.",
		}),
		ClicksUnrecorded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "redirector_clicks_unrecorded_total",
			Help: "Human clicks on product codes without a live record: redirected, not counted per link.",
		}),
		RecordsRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "redirector_records_rejected_total",
			Help: "Short-link records read from the store whose target is not an accepted AliExpress page (answered 404).",
		}),
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.Redirects, m.PlatformCalls, m.PlatformLatency, m.BatchSize, m.Panics,
		m.ClicksUnrecorded, m.RecordsRejected,
	)
	m.Go = outcomes(m.Redirects, "go")
	m.GoRejected = m.Redirects.WithLabelValues("go", Rejected)
	m.ID = outcomes(m.Redirects, "id")
	m.IDNotFound = m.Redirects.WithLabelValues("id", NotFound)
	m.IDPreview = m.Redirects.WithLabelValues("id", Preview)
	return m
}

// CounterFunc registers a counter whose value is read from f at scrape time (for counts kept
// as atomics by other packages, which then need no Prometheus dependency).
func (m *Metrics) CounterFunc(name, help string, f func() float64) {
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
}

// GaugeFunc registers a gauge whose value is read from f at scrape time.
func (m *Metrics) GaugeFunc(name, help string, f func() float64) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}

// Handler serves the registry in the Prometheus text exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
