package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/redirector/redirector/internal/shortid"
)

// The flood scenarios (issue 13) put a hostile client beside a measured one: the measured client
// drives cached /go as in (a), while the hostile one sends, over floodConns connections, requests
// chosen to be dear (flood-ua, flood-qr) or cheap (flood-cheap, the control). What the measured
// client keeps beside a dear flood, over what it keeps beside the cheap one, is the figure.
const (
	// floodConns is the hostile client's number of connections (and concurrent requests).
	floodConns = 8
	// floodAgentLen is the length of flood-ua's random User-Agents.
	floodAgentLen = 1000
	// floodQRQuery is what flood-qr asks of each QR code: the largest, with the most error correction.
	floodQRQuery = "size=2048&ecc=H"
	// floodMinRatio is the target: beside a dear flood, the measured client keeps at least this
	// share of its requests/s beside the cheap one.
	floodMinRatio = 0.5
	// floodMargin is how long the hostile load goes on after the measured window, so that it covers it.
	floodMargin = 250 * time.Millisecond
)

// floodCheap is the control flood, which the others are measured against.
const floodCheap = "flood-cheap"

// floodScenario is one flood: its -scenarios name, its row in the table, and what the hostile
// client asks.
type floodScenario struct {
	key, name, hostile string
}

// floodScenarios are the floods in the order they run in each round.
var floodScenarios = []floodScenario{
	{floodCheap, "(g) flood-cheap: hot `/go` beside 8 connections of `/healthz` (the control)", "`GET /healthz`"},
	{"flood-ua", "(h) flood-ua: hot `/go` beside 8 connections of `/{id}`, each with a fresh random 1,000-byte User-Agent", "`GET /{id}` of one short link, a fresh random 1,000-byte User-Agent each"},
	{"flood-qr", "(i) flood-qr: hot `/go` beside 8 connections of `/{product code}/qr.png?size=2048&ecc=H`", "`GET /{product code}/qr.png?size=2048&ecc=H`, a random valid product code each"},
	{"flood-qr-spread", "(j) flood-qr-spread: as (i), each request from another client address", "as (i), each request with its own `X-Forwarded-For` address (the service trusts loopback as its proxy), so no per-client budget applies: only the render cap"},
}

// floodResult is what one flood scenario measured, all its slices together.
type floodResult struct {
	key      string
	measured measurement // the measured client's cached /go
	hostile  measurement // the hostile client's requests
}

// floodsWanted returns the flood scenarios to run, in order; the control runs whenever another
// flood does, since their figure is measured against it.
func (h *harness) floodsWanted() []floodScenario {
	var out []floodScenario
	for _, f := range floodScenarios {
		if h.want(f.key) {
			out = append(out, f)
		}
	}
	if len(out) > 0 && out[0].key != floodCheap {
		h.logf("%s runs too: the floods are measured against it", floodCheap)
		out = append([]floodScenario{floodScenarios[0]}, out...)
	}
	return out
}

// floods runs the flood scenarios fs against svc in rounds: each round a slice of every flood in
// turn, so that other load on the machine, drifting during the run, weighs on all alike.
func (h *harness) floods(ctx context.Context, svc *service, rep *report, fs []floodScenario) error {
	page := productURL(hotProduct)
	measured := goURL(svc.base, page)
	if err := h.checkRedirect(ctx, rep, "flood: hot /go warm-up", measured, page); err != nil {
		return err
	}
	targets := make(map[string]vegeta.Targeter, len(fs))
	for _, f := range fs {
		t, err := h.floodTargets(ctx, svc, f.key)
		if err != nil {
			return fmt.Errorf("%s: %w", f.key, err)
		}
		targets[f.key] = t
	}
	o := h.opts
	slice := o.duration / time.Duration(o.rounds)
	mtr := newTransport() // the measured client keeps its connections from slice to slice
	defer mtr.CloseIdleConnections()
	measuredSlices := make(map[string][]measurement, len(fs))
	hostileSlices := make(map[string][]measurement, len(fs))
	windows := make(map[string]window, len(fs))
	for i := range o.rounds {
		warm := settle
		if i == 0 {
			warm = o.warmup
		}
		for _, f := range fs {
			w, hm, err := h.floodSlice(ctx, svc, loadSpec{
				name: f.key, targeter: staticTargets(measured), workers: o.workers,
				warmup: warm, duration: slice, transport: mtr, noProfile: i > 0,
			}, targets[f.key])
			if err != nil {
				return fmt.Errorf("%s: %w", f.key, err)
			}
			measuredSlices[f.key] = append(measuredSlices[f.key], w.measurement)
			hostileSlices[f.key] = append(hostileSlices[f.key], hm)
			if prev, ok := windows[f.key]; ok {
				w.before, w.calls = prev.before, w.calls+prev.calls
			}
			windows[f.key] = w
		}
	}
	for _, f := range fs {
		w := windows[f.key]
		w.measurement = merge(measuredSlices[f.key]...)
		hm := merge(hostileSlices[f.key]...)
		h.logWindow(f.key+" (measured client)", w)
		h.logf("%s (hostile client): %.0f req/s, p50 %v, p99 %v, answers %s", f.key, hm.rps(), hm.quantile(0.5), hm.quantile(0.99), codes(hm))
		rep.add(row{name: f.name, m: w.measurement, calls: w.calls, rss: w.rss, key: f.key})
		rep.floods = append(rep.floods, floodResult{key: f.key, measured: w.measurement, hostile: hm})
		rep.note(fmt.Sprintf("(%s) hostile client (%d connections, %s): %s req/s, p50 %s, p99 %s, answers %s",
			f.name[1:2], floodConns, f.hostile, count(int(hm.rps())), dur(hm.quantile(0.5)), dur(hm.quantile(0.99)), codes(hm)))
	}
	return nil
}

// floodSlice runs the hostile load hostile and, once it is under way, the measured spec beside it;
// it returns the measured window and what the hostile client saw over the same time.
func (h *harness) floodSlice(ctx context.Context, svc *service, spec loadSpec, hostile vegeta.Targeter) (window, measurement, error) {
	var hm measurement
	var herr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		hm, herr = run(ctx, loadSpec{
			name: spec.name + "-hostile", targeter: hostile, workers: floodConns,
			warmup: spec.warmup, duration: spec.duration + floodMargin, noProfile: true,
		})
	}()
	w, err := h.measure(ctx, svc, spec)
	wg.Wait()
	if err != nil {
		return w, hm, err
	}
	return w, hm, herr
}

// floodTargets returns what the hostile client of flood key asks svc.
func (h *harness) floodTargets(ctx context.Context, svc *service, key string) (vegeta.Targeter, error) {
	switch key {
	case floodCheap:
		return staticTargets(svc.base + "/healthz"), nil
	case "flood-ua":
		id, err := svc.createLink(ctx, productURL(idProduct))
		if err != nil {
			return nil, err
		}
		url := svc.base + "/" + id
		var next atomic.Uint64
		return func(t *vegeta.Target) error {
			t.Method, t.URL = http.MethodGet, url
			t.Header = http.Header{"User-Agent": {randomAgent(next.Add(1), floodAgentLen)}}
			return nil
		}, nil
	case "flood-qr":
		var next atomic.Uint64
		return seqTargets(func(uint64) string {
			return svc.base + "/" + randomProductCode(next.Add(1)) + "/qr.png?" + floodQRQuery
		}), nil
	case "flood-qr-spread":
		var next atomic.Uint64
		return func(t *vegeta.Target) error {
			i := next.Add(1)
			t.Method, t.URL = http.MethodGet, svc.base+"/"+randomProductCode(i)+"/qr.png?"+floodQRQuery
			t.Header = http.Header{"User-Agent": header["User-Agent"], "X-Forwarded-For": {spreadAddr(i)}}
			return nil
		}, nil
	}
	return nil, fmt.Errorf("unknown flood %q", key)
}

// randomAgent returns the i-th of a sequence of random User-Agents of n printable ASCII bytes
// (never one seen before in a run: each i draws its own).
func randomAgent(i uint64, n int) string {
	rng := rand.NewPCG(0x5eed, i)
	b := make([]byte, n)
	for j := 0; j < n; {
		for x, k := rng.Uint64(), 0; k < 8 && j < n; k, j = k+1, j+1 {
			b[j] = ' ' + byte((x>>(8*k))&0xff)%('~'-' '+1)
		}
	}
	return string(b)
}

// spreadAddr is the i-th of a sequence of client addresses, one per request, in 198.18.0.0/15 (the
// range set aside for benchmarks): 131,072 of them, so no client's budget is ever spent.
func spreadAddr(i uint64) string {
	return fmt.Sprintf("198.%d.%d.%d", 18+(i>>16)&1, (i>>8)&0xff, i&0xff)
}

// floodQRBase is the first product id of flood-qr's codes, a range no other scenario uses.
const floodQRBase = 1005009000000000

// randomProductCode returns the i-th of a sequence of valid product codes for random product ids,
// none of which has a record or a cached link.
func randomProductCode(i uint64) string {
	id := floodQRBase + rand.NewPCG(0xc0de, i).Uint64()%1_000_000_000
	code, err := shortid.Product(strconv.FormatUint(id, 10))
	if err != nil {
		panic(err) // ids in this range are valid
	}
	return code
}

// floodTargets returns a target for each dear flood in fs measured beside the control.
func floodTargets(fs []floodResult) []target {
	var cheap *floodResult
	for i := range fs {
		if fs[i].key == floodCheap {
			cheap = &fs[i]
		}
	}
	if cheap == nil {
		return nil
	}
	var out []target
	for _, f := range fs {
		if f.key != floodCheap {
			out = append(out, floodTarget(f.key, f.measured, cheap.measured))
		}
	}
	return out
}

// floodTarget compares the measured client beside a dear flood with it beside the cheap one.
func floodTarget(key string, dear, cheap measurement) target {
	ratio := 0.0
	if cheap.rps() > 0 {
		ratio = dear.rps() / cheap.rps()
	}
	return target{
		name: key + ": cached `/go` beside the flood",
		want: fmt.Sprintf("≥ %.1f× its req/s beside %s", floodMinRatio, floodCheap),
		got: fmt.Sprintf("%.2f× (%s vs %s req/s; p99 %s vs %s)", ratio, count(int(dear.rps())), count(int(cheap.rps())),
			dur(dear.quantile(0.99)), dur(cheap.quantile(0.99))),
		pass: cheap.rps() > 0 && ratio >= floodMinRatio,
	}
}

// codes lists a measurement's answers by status, e.g. "302 ×1,234, 503 ×5" (0: no answer).
func codes(m measurement) string {
	var parts []string
	for c := range 1000 {
		if n := m.codes[c]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d ×%s", c, count(n)))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
