package main

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// userAgent is a desktop browser's: the service counts clicks of humans only, and a generator's
// default User-Agent would be taken for a bot and skip the counting a real click pays for.
const userAgent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"

// requestTimeout bounds one request of the generator.
const requestTimeout = 10 * time.Second

// loadSpec is one run of the generator.
type loadSpec struct {
	name     string
	targeter vegeta.Targeter
	// workers is the number of concurrent requests and keep-alive connections.
	workers int
	// pacer paces the requests; nil: as fast as the workers go (vegeta.Rate{Freq: 0}).
	pacer vegeta.Pacer
	// warmup is run first and not measured; duration is measured after it.
	warmup, duration time.Duration
	// atWindow, if set, runs once the warm-up ends (to snapshot counters); the run waits for it.
	atWindow func()
	// transport, if set, carries the requests and keeps its connections after the run, for the
	// next run to the same server; nil: a transport of the run's own, closed at its end.
	transport *http.Transport
	// noProfile keeps -perf from recording this run.
	noProfile bool
}

// measurement is what the generator saw in the measured window: the requests sent after the
// warm-up, and their answers.
type measurement struct {
	window    time.Duration
	requests  int
	errors    int // transport errors and answers other than 302
	codes     map[int]int
	errSample []string // up to three distinct error texts
	lat       []time.Duration
	// pcts holds the p50, p99 and p99.9 when a generator (wrk) reports quantiles, not latencies.
	pcts map[float64]time.Duration
}

// rps returns the requests per second sent in the window (in a closed loop, the throughput).
func (m measurement) rps() float64 {
	if m.window <= 0 {
		return 0
	}
	return float64(m.requests) / m.window.Seconds()
}

// quantile returns the q-quantile of the window's latencies, nearest rank.
func (m measurement) quantile(q float64) time.Duration {
	if len(m.lat) == 0 && m.pcts != nil {
		return m.pcts[q]
	}
	return quantile(m.lat, q)
}

// quantile returns the q-quantile (0 < q ≤ 1) of sorted, nearest rank; 0 for an empty slice.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(q*float64(len(sorted))+0.999999999) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return sorted[rank]
}

// newTransport returns a transport for the generator, as vegeta's own default one.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:       http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
	}
}

// newAttacker returns a vegeta attacker over tr with exactly workers workers, as many keep-alive
// connections, and redirects not followed (a 302 is the success answer).
func newAttacker(workers int, tr *http.Transport) *vegeta.Attacker {
	w := uint64(workers)
	return vegeta.NewAttacker(
		vegeta.Client(&http.Client{Transport: tr}),
		vegeta.Redirects(vegeta.NoFollow),
		vegeta.Workers(w),
		vegeta.MaxWorkers(w),
		vegeta.Connections(workers),
		vegeta.MaxConnections(workers),
		vegeta.KeepAlive(true),
		vegeta.Timeout(requestTimeout),
	)
}

// run drives spec's load and returns what was seen after the warm-up. It stops early, with ctx's
// error, when ctx ends.
func run(ctx context.Context, spec loadSpec) (measurement, error) {
	pacer := spec.pacer
	if pacer == nil {
		pacer = vegeta.Rate{Freq: 0}
	}
	tr := spec.transport
	if tr == nil {
		tr = newTransport()
		// Idle connections left open would hold a goroutine each in the service until its idle
		// time-out, and be counted in the next scenario's goroutines.
		defer tr.CloseIdleConnections()
	}
	atk := newAttacker(spec.workers, tr)
	began := time.Now()
	from := began.Add(spec.warmup)
	results := atk.Attack(spec.targeter, pacer, spec.warmup+spec.duration, spec.name)

	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-ctx.Done():
			atk.Stop()
		case <-finished:
		}
	}()
	var snapped sync.WaitGroup
	snapped.Add(1)
	timer := time.AfterFunc(spec.warmup, func() {
		defer snapped.Done()
		if spec.atWindow != nil {
			spec.atWindow()
		}
	})

	m := measurement{codes: map[int]int{}, lat: make([]time.Duration, 0, 1<<16)}
	var last time.Time
	for r := range results {
		if r.Timestamp.Before(from) {
			continue
		}
		m.requests++
		m.lat = append(m.lat, r.Latency)
		m.codes[int(r.Code)]++
		if r.Timestamp.After(last) {
			last = r.Timestamp
		}
		if r.Code != http.StatusFound {
			m.errors++
			msg := r.Error
			if msg == "" {
				msg = fmt.Sprintf("status %d", r.Code)
			}
			if len(m.errSample) < 3 && !slices.Contains(m.errSample, msg) {
				m.errSample = append(m.errSample, msg)
			}
		}
	}
	if timer.Stop() {
		snapped.Done() // the window never began
	}
	snapped.Wait()
	if err := ctx.Err(); err != nil {
		return m, err
	}
	m.window = spec.duration
	if end := time.Since(from); end < spec.duration {
		// A pacer that stopped early (a fixed count of requests): the window is what it took.
		m.window = max(last.Sub(from), time.Millisecond)
	}
	slices.Sort(m.lat)
	return m, nil
}

// merge returns the measurements taken together, as if one window.
func merge(ms ...measurement) measurement {
	out := measurement{codes: map[int]int{}}
	n := 0
	for _, m := range ms {
		n += len(m.lat)
	}
	out.lat = make([]time.Duration, 0, n)
	for _, m := range ms {
		out.window += m.window
		out.requests += m.requests
		out.errors += m.errors
		for c, k := range m.codes {
			out.codes[c] += k
		}
		for _, e := range m.errSample {
			if len(out.errSample) < 3 && !slices.Contains(out.errSample, e) {
				out.errSample = append(out.errSample, e)
			}
		}
		out.lat = append(out.lat, m.lat...)
	}
	slices.Sort(out.lat)
	return out
}

// countPacer sends n requests as fast as the workers go, then stops.
type countPacer uint64

// Pace implements vegeta.Pacer.
func (n countPacer) Pace(_ time.Duration, hits uint64) (time.Duration, bool) {
	return 0, hits >= uint64(n)
}

// Rate implements vegeta.Pacer: unbounded, like vegeta.Rate{Freq: 0}.
func (n countPacer) Rate(time.Duration) float64 { return math.Inf(1) }

// header is what every generated request carries.
var header = http.Header{"User-Agent": {userAgent}}

// staticTargets requests url every time.
func staticTargets(url string) vegeta.Targeter {
	return func(t *vegeta.Target) error {
		t.Method, t.URL, t.Header = http.MethodGet, url, header
		return nil
	}
}

// seqTargets requests url(0), url(1), … in turn; url must be safe for concurrent use.
func seqTargets(url func(i uint64) string) vegeta.Targeter {
	var next atomic.Uint64
	return func(t *vegeta.Target) error {
		t.Method, t.URL, t.Header = http.MethodGet, url(next.Add(1)-1), header
		return nil
	}
}
