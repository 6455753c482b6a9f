package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseProm(t *testing.T) {
	const text = `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 42
redirector_platform_calls_total{result="ok"} 7
redirector_platform_calls_total{result="error"} 2
redirector_platform_batch_size_sum 350
odd{path="/a b}"} 1.5e3 1700000000000
`
	p, err := parseProm(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parseProm: %v", err)
	}
	tests := []struct {
		name, metric string
		want         float64
	}{
		{"gauge", "go_goroutines", 42},
		{"labels summed", "redirector_platform_calls_total", 9},
		{"no prefix match", "redirector_platform_batch_size", 0},
		{"brace in label, timestamp", "odd", 1500},
		{"absent", "nothing", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := p.sum(tc.metric); got != tc.want {
				t.Errorf("sum(%q) = %v, want %v", tc.metric, got, tc.want)
			}
		})
	}
	if _, err := parseProm(strings.NewReader("broken\n")); err == nil {
		t.Errorf("parseProm(%q) = nil error, want one", "broken")
	}
}

func TestQuantile(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 1000; i++ {
		lat = append(lat, time.Duration(i))
	}
	tests := []struct {
		name string
		in   []time.Duration
		q    float64
		want time.Duration
	}{
		{"median", lat, 0.5, 500},
		{"p99", lat, 0.99, 990},
		{"p99.9", lat, 0.999, 999},
		{"max", lat, 1, 1000},
		{"one", lat[:1], 0.999, 1},
		{"empty", nil, 0.5, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := quantile(tc.in, tc.q); got != tc.want {
				t.Errorf("quantile(%d values, %v) = %v, want %v", len(tc.in), tc.q, got, tc.want)
			}
		})
	}
}

func TestParseStatusField(t *testing.T) {
	const status = "Name:\tredirector\nVmHWM:\t  20480 kB\nVmRSS:\t   10240 kB\nThreads:\t7\n"
	tests := []struct {
		name, field string
		want        int64
		wantErr     bool
	}{
		{"rss", "VmRSS", 10240 << 10, false},
		{"hwm", "VmHWM", 20480 << 10, false},
		{"not kB", "Threads", 0, true},
		{"missing", "VmSwap", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatusField(strings.NewReader(status), tc.field)
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Errorf("parseStatusField(%q) = %d, %v; want %d, error %v", tc.field, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestCount(t *testing.T) {
	tests := []struct {
		in   int
		want string
	}{
		{0, "0"}, {999, "999"}, {1000, "1,000"}, {100000, "100,000"}, {1234567, "1,234,567"}, {-4321, "-4,321"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := count(tc.in); got != tc.want {
				t.Errorf("count(%d) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestZipfOrder(t *testing.T) {
	const n = 1000
	order := zipfOrder(n, 100_000, zipfExponent)
	seen := make(map[uint32]int)
	for _, i := range order {
		if i >= n {
			t.Fatalf("zipfOrder gave index %d, want < %d", i, n)
		}
		seen[i]++
	}
	top := 0
	for _, c := range seen {
		top = max(top, c)
	}
	// Under Zipf(1.1) the most popular of 1000 items takes about a sixth of the draws; uniform
	// would give it about a thousandth.
	if top < 10_000 {
		t.Errorf("zipfOrder: the most frequent index got %d of 100000 draws, want a skewed distribution (> 10000)", top)
	}
	again := zipfOrder(n, 100_000, zipfExponent)
	for i := range order {
		if order[i] != again[i] {
			t.Fatalf("zipfOrder is not deterministic: draw %d is %d then %d", i, order[i], again[i])
		}
	}
}

func TestSoakResult(t *testing.T) {
	mk := func(rss ...int64) []sample {
		var s []sample
		for i, r := range rss {
			s = append(s, sample{at: time.Duration(i) * time.Second, rss: r, goroutines: 100})
		}
		return s
	}
	tests := []struct {
		name       string
		samples    []sample
		wantWithin bool
	}{
		{"flat", mk(100, 101, 99, 100, 102, 100, 101), true},
		{"growing", mk(100, 100, 100, 110, 120, 130, 140), false},
		{"spike in the middle", mk(100, 100, 100, 200, 100, 100, 100), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newSoakResult(tc.samples)
			if r.rssWithin != tc.wantWithin || !r.goroutinesWithin {
				t.Errorf("newSoakResult(%s): rssWithin %v (change %+.2f), goroutinesWithin %v; want %v, true",
					tc.name, r.rssWithin, r.rssChange, r.goroutinesWithin, tc.wantWithin)
			}
		})
	}
}

// TestRun drives a real HTTP server: a 302 counts as a success and is not followed, other
// answers count as errors, the warm-up is left out of the window, and atWindow runs once.
func TestRun(t *testing.T) {
	var followed, hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/followed":
			followed.Add(1)
		case "/bad":
			http.Error(w, "no", http.StatusBadRequest)
			return
		}
		if r.Header.Get("User-Agent") != userAgent {
			http.Error(w, "wrong user agent", http.StatusForbidden)
			return
		}
		http.Redirect(w, r, "/followed", http.StatusFound)
	}))
	defer srv.Close()

	var snaps atomic.Int64
	m, err := run(context.Background(), loadSpec{
		name: "test", targeter: staticTargets(srv.URL + "/go"), workers: 4,
		warmup: 100 * time.Millisecond, duration: 300 * time.Millisecond,
		atWindow: func() { snaps.Add(1) },
	})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if m.requests == 0 || m.errors != 0 || m.codes[http.StatusFound] != m.requests {
		t.Errorf("run: %d requests, %d errors, codes %v; want some requests, all 302", m.requests, m.errors, m.codes)
	}
	if n := followed.Load(); n != 0 {
		t.Errorf("run followed %d redirects, want none", n)
	}
	if int64(m.requests) >= hits.Load() {
		t.Errorf("run measured %d requests of %d sent, want the warm-up's left out", m.requests, hits.Load())
	}
	if n := snaps.Load(); n != 1 {
		t.Errorf("atWindow ran %d times, want 1", n)
	}
	if len(m.lat) != m.requests || m.quantile(0.5) <= 0 {
		t.Errorf("run: %d latencies for %d requests, median %v", len(m.lat), m.requests, m.quantile(0.5))
	}

	bad, err := run(context.Background(), loadSpec{
		name: "bad", targeter: staticTargets(srv.URL + "/bad"), workers: 2,
		pacer: countPacer(10), duration: 5 * time.Second,
	})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if bad.requests != 10 || bad.errors != 10 || len(bad.errSample) != 1 {
		t.Errorf("run(10 requests answered 400) = %d requests, %d errors, samples %q; want 10, 10, one sample",
			bad.requests, bad.errors, bad.errSample)
	}
	if bad.window >= 5*time.Second {
		t.Errorf("run with countPacer(10): window %v, want the time the 10 requests took", bad.window)
	}
}

func TestRunCancelled(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusFound)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := run(ctx, loadSpec{name: "cancel", targeter: staticTargets(srv.URL), workers: 2, duration: time.Minute})
	if err == nil {
		t.Errorf("run with a context ending after 200ms = nil error, want the context's")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("run took %v to stop after its context ended", d)
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr bool
	}{
		{"defaults", nil, false},
		{"quick", []string{"-duration", "3s", "-soak", "30s"}, false},
		{"subset", []string{"-scenarios", "hot-go,redis"}, false},
		{"floods", []string{"-scenarios", "flood-ua,flood-qr,flood-cheap"}, false},
		{"unknown scenario", []string{"-scenarios", "hot-go,warp"}, true},
		{"batch too big", []string{"-batch", "51"}, true},
		{"argument", []string{"extra"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseFlags(tc.args, &strings.Builder{})
			if (err != nil) != tc.wantErr {
				t.Errorf("parseFlags(%q) error = %v, want error %v", tc.args, err, tc.wantErr)
			}
		})
	}
}

// TestParseQuick checks that -quick selects issue 20's comparisons with profiles and no soak,
// and that flags given beside it win.
func TestParseQuick(t *testing.T) {
	o, err := parseFlags([]string{"-quick"}, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if o.scenarios != quickScenarios || o.soak != 0 || !o.pprof {
		t.Errorf("-quick: scenarios %q, soak %v, pprof %v; want %q, 0, true", o.scenarios, o.soak, o.pprof, quickScenarios)
	}
	o, err = parseFlags([]string{"-quick", "-scenarios", "redis", "-soak", "30s", "-pprof=false"}, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if o.scenarios != "redis" || o.soak != 30*time.Second || o.pprof {
		t.Errorf("-quick with flags: scenarios %q, soak %v, pprof %v; want the flags' redis, 30s, false", o.scenarios, o.soak, o.pprof)
	}
}

func TestReportTop(t *testing.T) {
	out := "File: x\nBuild ID: y\nType: cpu\nShowing nodes accounting for 3s\n      flat  flat%   sum%        cum   cum%\n"
	for i := range profileTopLines + 5 {
		out += fmt.Sprintf("         0     0%%     0%%      1s 10%%  fn%d\n", i)
	}
	out += "         0     0%     0%      1s 10%  runtime.gcBgMarkWorker\n" +
		"         0     0%     0%      1s 10%  github.com/redirector/redirector/internal/cache.(*Links).GetAt\n" +
		"         0     0%     0%      1s 10%  runtime.gcBgMarkWorker.func2\n"
	got := reportTop(out)
	if strings.Contains(got, "Build ID") || !strings.Contains(got, "Type: cpu") || !strings.Contains(got, "flat%") {
		t.Errorf("reportTop wants the listing's header without the build noise:\n%s", got)
	}
	if !strings.Contains(got, "fn0") || !strings.Contains(got, fmt.Sprintf("fn%d\n", profileTopLines-1)) || strings.Contains(got, fmt.Sprintf("fn%d\n", profileTopLines)) {
		t.Errorf("reportTop wants the first %d functions and no more:\n%s", profileTopLines, got)
	}
	if !strings.Contains(got, "gcBgMarkWorker\n") || !strings.Contains(got, "GetAt") || strings.Contains(got, "func2") {
		t.Errorf("reportTop wants the landmarks below the first functions, and only them:\n%s", got)
	}
}

// TestRunClosesConnections checks that a run leaves no keep-alive connection open, so that the
// service's goroutine count measures the service rather than the generator's leftovers.
func TestRunClosesConnections(t *testing.T) {
	var open atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusFound)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	srv.Start()
	defer srv.Close()
	if _, err := run(context.Background(), loadSpec{name: "conns", targeter: staticTargets(srv.URL), workers: 8, pacer: countPacer(200), duration: 5 * time.Second}); err != nil {
		t.Fatalf("run: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for open.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := open.Load(); n != 0 {
		t.Errorf("after run, %d connections still open, want 0", n)
	}
}

func TestMerge(t *testing.T) {
	a := measurement{window: time.Second, requests: 3, errors: 1, codes: map[int]int{302: 2, 0: 1}, errSample: []string{"eof"}, lat: []time.Duration{1, 5, 9}}
	b := measurement{window: time.Second, requests: 2, codes: map[int]int{302: 2}, lat: []time.Duration{2, 3}}
	m := merge(a, b)
	if m.window != 2*time.Second || m.requests != 5 || m.errors != 1 || m.codes[302] != 4 || m.codes[0] != 1 {
		t.Errorf("merge = window %v, %d requests, %d errors, codes %v; want 2s, 5, 1, map[0:1 302:4]", m.window, m.requests, m.errors, m.codes)
	}
	if m.rps() != 2.5 {
		t.Errorf("merge(…).rps() = %v, want 2.5", m.rps())
	}
	want := []time.Duration{1, 2, 3, 5, 9}
	if !slices.Equal(m.lat, want) {
		t.Errorf("merge(…).lat = %v, want %v (sorted)", m.lat, want)
	}
	if !slices.Equal(m.errSample, []string{"eof"}) {
		t.Errorf("merge(…).errSample = %q, want [eof]", m.errSample)
	}
}
