package main

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// wrkOutput is what wrk -t1 -c64 -d2s --latency -s common.lua prints, as wrk 4.1.0 prints it.
const wrkOutput = `Running 2s test @ http://127.0.0.1:18181/go?u=x
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.01ms    1.14ms  13.44ms   88.10%
    Req/Sec    86.53k     4.12k   90.11k    85.00%
  Latency Distribution
     50%  580.00us
     75%    1.02ms
     90%    2.31ms
     99%    5.37ms
  172228 requests in 2.00s, 30.31MB read
  Non-2xx or 3xx responses: 12
Requests/sec:  86057.63
Transfer/sec:     15.14MB

WRK_JSON {"duration_us":2001340,"requests":172228,"bytes":31783128,"connect":0,"read":3,"write":0,"status":12,"timeout":1,"p50_us":580,"p99_us":5366,"p999_us":7862,"max_us":13444}
`

func TestParseWrk(t *testing.T) {
	r, err := parseWrk([]byte(wrkOutput))
	if err != nil {
		t.Fatalf("parseWrk: %v", err)
	}
	if r.Requests != 172228 || r.Status != 12 || r.errors() != 16 || r.P50US != 580 || r.P99US != 5366 || r.P999US != 7862 {
		t.Errorf("parseWrk = %+v; want 172228 requests, 12 bad answers, 16 errors, p50 580, p99 5366, p99.9 7862", r)
	}
	if got, want := r.rps(), 172228/2.00134; math.Abs(got-want) > 0.01 {
		t.Errorf("rps() = %v, want %v", got, want)
	}
	m := r.measurement()
	if m.requests != 172228 || m.errors != 16 || m.quantile(0.99) != 5366*time.Microsecond || m.quantile(0.5) != 580*time.Microsecond {
		t.Errorf("measurement() = %d requests, %d errors, p50 %v, p99 %v", m.requests, m.errors, m.quantile(0.5), m.quantile(0.99))
	}

	bad := []struct{ name, out string }{
		{"no summary (a script without common.lua's done)", strings.Split(wrkOutput, "WRK_JSON")[0]},
		{"unreadable summary", "WRK_JSON {\"requests\": \n"},
		{"no duration", "WRK_JSON {\"requests\":5}\n"},
		{"wrk's error", "unable to connect to 127.0.0.1:1 Connection refused\n"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if r, err := parseWrk([]byte(tc.out)); err == nil {
				t.Errorf("parseWrk(%q) = %+v, nil error; want an error", tc.out, r)
			}
		})
	}
}

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		name, stat string
		want       time.Duration
		wantErr    bool
	}{
		{"plain", "4242 (redirector) S 1 4242 4242 0 -1 4194560 1234 0 0 0 150 37 0 0 20 0 9 0 1000 1 2 3", 1870 * time.Millisecond, false},
		{"spaces and parentheses in the name", "7 (a b) (c)) R 1 7 7 0 -1 0 0 0 0 0 5 5 0 0 20 0 1 0 1 1 1", 100 * time.Millisecond, false},
		{"no name", "4242 S 1", 0, true},
		{"cut short", "4242 (wrk) S 1 2 3", 0, true},
		{"not a number", "4242 (wrk) S 1 4242 4242 0 -1 0 0 0 0 0 x 5 0 0 20", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatCPU(tc.stat)
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Errorf("parseStatCPU(%q) = %v, %v; want %v, error %v", tc.stat, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestWrkArgs(t *testing.T) {
	tests := []struct {
		name string
		spec wrkSpec
		want []string
	}{
		{"static", wrkSpec{url: "http://h/go?u=x", duration: 2 * time.Second},
			[]string{"-t1", "-c64", "-d2s", "--timeout", "10s", "--latency", "-s", "s.lua", "http://h/go?u=x"}},
		{"script arguments, connections, a duration under a second", wrkSpec{url: "http://h/", conns: 800, duration: 300 * time.Millisecond, args: []string{"1005007000000000"}},
			[]string{"-t1", "-c800", "-d1s", "--timeout", "10s", "--latency", "-s", "s.lua", "http://h/", "--", "1005007000000000"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := wrkArgs(tc.spec, "s.lua"); !slices.Equal(got, tc.want) {
				t.Errorf("wrkArgs(%+v) = %q, want %q", tc.spec, got, tc.want)
			}
		})
	}
}

func TestScripts(t *testing.T) {
	for _, name := range []string{"", "zipf", "cold"} {
		b, err := script(name)
		if err != nil {
			t.Fatalf("script(%q): %v", name, err)
		}
		if s := string(b); !strings.Contains(s, "done = function") || !strings.Contains(s, userAgent) {
			t.Errorf("script(%q) lacks common.lua's done() or the browser User-Agent %q", name, userAgent)
		}
	}
	if _, err := script("nothing"); err == nil {
		t.Errorf("script(%q) = nil error, want one", "nothing")
	}
}

// slice returns a wrk result of rps requests/s over one second, its p99 and the server's CPU per
// request (µs), with the generator at gen of its core.
func slice(rps, p99, cpuUS, gen float64) wrkResult {
	return wrkResult{
		DurationUS: 1e6, Requests: int(rps), P99US: p99,
		svcCPU: time.Duration(cpuUS*rps) * time.Microsecond, wall: time.Second, genCPU: time.Duration(gen * float64(time.Second)),
	}
}

func TestRatio(t *testing.T) {
	x := side{slice(90, 0, 0, 0), slice(45, 0, 0, 0), slice(100, 0, 0, 0)}
	y := side{slice(100, 0, 0, 0), slice(50, 0, 0, 0), slice(50, 0, 0, 0)}
	// Per round: 0.9, 0.9, 2.0; the median is 0.9, where the ratio of medians would be 1.8.
	if got := ratio(x, y, rpsOf); math.Abs(got-0.9) > 1e-9 {
		t.Errorf("ratio = %v, want 0.9 (the median of the rounds' ratios)", got)
	}
	if got := ratio(x, side{}, rpsOf); !math.IsNaN(got) {
		t.Errorf("ratio against no slices = %v, want NaN", got)
	}
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("median(4, 1, 3, 2) = %v, want 2.5", got)
	}
}

// rounds returns n equal slices.
func rounds(n int, r wrkResult) side {
	s := make(side, n)
	for i := range s {
		s[i] = r
	}
	return s
}

func TestComparisonTargets(t *testing.T) {
	bare := rounds(5, slice(60000, 5000, 17, 0.5))
	hard := rounds(5, slice(58000, 5000, 17.4, 0.5))
	tests := []struct {
		name string
		c    comparison
		want map[string]bool // target name → pass
	}{
		{"hot /go at the targets' edges", comparison{key: "hot-go", bare: bare, hard: hard, svc: rounds(5, slice(52200, 6000, 20.0, 0.5))},
			map[string]bool{"hot `/go` throughput": true, "hot `/go` service CPU per request": true, "hot `/go` p99": true, "generator not the bottleneck": true}},
		{"hot /{id} too slow, too dear, too late", comparison{key: "hot-id", bare: bare, hard: hard, svc: rounds(5, slice(52000, 6100, 20.2, 0.5))},
			map[string]bool{"hot `/{id}` throughput": false, "hot `/{id}` service CPU per request": false, "hot `/{id}` p99": false, "generator not the bottleneck": true}},
		{"zipf at 0.80", comparison{key: "zipf", bare: bare, hard: hard, svc: rounds(5, slice(46400, 5000, 30, 0.5))},
			map[string]bool{"Zipf mix throughput": true, "Zipf mix p99": true, "generator not the bottleneck": true}},
		{"first tier off held to the bare floor", comparison{key: "redis", bare: bare, hard: hard, svc: rounds(5, slice(48000, 5000, 40, 0.5))},
			map[string]bool{"first tier off throughput": false, "first tier off p99": true, "generator not the bottleneck": true}},
		{"bio page at 0.50, its p99 not held", comparison{key: "bio", bare: bare, hard: hard, svc: rounds(5, slice(29000, 40000, 60, 0.5))},
			map[string]bool{"cached bio page throughput": true, "generator not the bottleneck": true}},
		{"bio page below 0.50", comparison{key: "bio", bare: bare, hard: hard, svc: rounds(5, slice(28900, 5000, 60, 0.5))},
			map[string]bool{"cached bio page throughput": false, "generator not the bottleneck": true}},
		{"a saturated generator", comparison{key: "redis", bare: bare, hard: hard, svc: rounds(5, slice(49200, 5000, 40, 0.96))},
			map[string]bool{"first tier off throughput": true, "first tier off p99": true, "generator not the bottleneck": false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]bool{}
			for _, tg := range comparisonTargets([]*comparison{&tc.c}) {
				got[tg.name] = tg.pass
				if want, ok := tc.want[tg.name]; !ok || want != tg.pass {
					t.Errorf("%s: %s (%s) = pass %v (%s); want %v (listed: %v)", tc.name, tg.name, tg.want, tg.pass, tg.got, want, ok)
				}
			}
			for name := range tc.want {
				if _, ok := got[name]; !ok {
					t.Errorf("%s: no target %q", tc.name, name)
				}
			}
		})
	}
}
