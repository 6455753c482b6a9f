package main

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/shortid"
)

// perSecond returns a one-second measurement of n requests whose p99 is p99.
func perSecond(n int, p99 time.Duration) measurement {
	lat := make([]time.Duration, n)
	for i := range lat {
		lat[i] = p99
	}
	return measurement{window: time.Second, requests: n, lat: lat}
}

func TestFloodTarget(t *testing.T) {
	tests := []struct {
		name        string
		dear, cheap measurement
		wantPass    bool
		wantGot     string
	}{
		{"kept all", perSecond(1000, time.Millisecond), perSecond(1000, time.Millisecond), true, "1.00× (1,000 vs 1,000 req/s; p99 1.00ms vs 1.00ms)"},
		{"just half", perSecond(500, 2*time.Millisecond), perSecond(1000, time.Millisecond), true, "0.50× (500 vs 1,000 req/s; p99 2.00ms vs 1.00ms)"},
		{"starved", perSecond(68, 143*time.Millisecond), perSecond(1000, 6*time.Millisecond), false, "0.07× (68 vs 1,000 req/s; p99 143.0ms vs 6.00ms)"},
		{"no control traffic", perSecond(10, time.Millisecond), measurement{}, false, "0.00× (10 vs 0 req/s; p99 1.00ms vs 0µs)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := floodTarget("flood-ua", tc.dear, tc.cheap)
			if got.pass != tc.wantPass || got.got != tc.wantGot {
				t.Errorf("floodTarget(%d vs %d req/s) = %v, %q; want %v, %q", tc.dear.requests, tc.cheap.requests, got.pass, got.got, tc.wantPass, tc.wantGot)
			}
		})
	}
}

func TestFloodTargets(t *testing.T) {
	cheap := floodResult{key: floodCheap, measured: perSecond(1000, time.Millisecond)}
	ua := floodResult{key: "flood-ua", measured: perSecond(900, time.Millisecond)}
	qr := floodResult{key: "flood-qr", measured: perSecond(100, time.Millisecond)}
	if got := floodTargets([]floodResult{ua, qr}); len(got) != 0 {
		t.Errorf("floodTargets without the control = %d targets, want none", len(got))
	}
	got := floodTargets([]floodResult{cheap, ua, qr})
	if len(got) != 2 || !got[0].pass || got[1].pass || !strings.HasPrefix(got[0].name, "flood-ua") || !strings.HasPrefix(got[1].name, "flood-qr") {
		t.Errorf("floodTargets(cheap, ua at 0.9×, qr at 0.1×) = %+v, want flood-ua PASS then flood-qr MISS", got)
	}
}

func TestRandomAgent(t *testing.T) {
	seen := map[string]bool{}
	for i := range uint64(100) {
		a := randomAgent(i, floodAgentLen)
		if len(a) != floodAgentLen {
			t.Fatalf("randomAgent(%d) has %d bytes, want %d", i, len(a), floodAgentLen)
		}
		for j := range len(a) {
			if a[j] < ' ' || a[j] > '~' {
				t.Fatalf("randomAgent(%d)[%d] = %q, want printable ASCII", i, j, a[j])
			}
		}
		if seen[a] {
			t.Fatalf("randomAgent(%d) repeats an earlier agent", i)
		}
		seen[a] = true
	}
}

func TestRandomProductCode(t *testing.T) {
	seen := map[string]bool{}
	for i := range uint64(100) {
		c := randomProductCode(i)
		if k := shortid.Classify(c); k != shortid.KindProduct {
			t.Fatalf("randomProductCode(%d) = %q, a %v, want a product code", i, c, k)
		}
		seen[c] = true
	}
	if len(seen) < 99 {
		t.Errorf("randomProductCode gave %d distinct codes of 100, want about 100", len(seen))
	}
}

// flood-qr-spread's addresses are distinct for 2^17 requests and all in the benchmark range.
func TestSpreadAddr(t *testing.T) {
	bench := netip.MustParsePrefix("198.18.0.0/15")
	seen := make(map[string]bool, 1<<17)
	for i := range uint64(1 << 17) {
		a := spreadAddr(i)
		ip, err := netip.ParseAddr(a)
		if err != nil || !bench.Contains(ip) {
			t.Fatalf("spreadAddr(%d) = %q, want an address in %s", i, a, bench)
		}
		if seen[a] {
			t.Fatalf("spreadAddr(%d) = %q, given before", i, a)
		}
		seen[a] = true
	}
}
