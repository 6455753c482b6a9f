package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
	"github.com/redirector/redirector/internal/aliurl"
)

// checkRedirect asks url once and warns in the report if the answer is not a 302 to the link
// the fake platform gives for page.
func (h *harness) checkRedirect(ctx context.Context, rep *report, what, url, page string) error {
	p, err := aliurl.Parse(page)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	want := affiliatetest.Link(p.URL) // the service asks for the canonical page's link
	code, loc, err := get(ctx, url)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if code != http.StatusFound || loc != want {
		rep.warn(fmt.Sprintf("%s answered %d to %q, not 302 to the fake platform's link %q", what, code, loc, want))
	}
	return nil
}

// hotGo is scenario (a): every click on one product, cached in the first tier.
func (h *harness) hotGo(ctx context.Context, svc *service, rep *report) error {
	page := productURL(hotProduct)
	target := goURL(svc.base, page)
	// The first click asks the platform; every later one is served from the first tier.
	if err := h.checkRedirect(ctx, rep, "hot /go warm-up", target, page); err != nil {
		return err
	}
	_, w, err := h.compare(ctx, rep, svc, wrkSpec{url: strings.TrimPrefix(target, svc.base), conns: h.opts.workers},
		"hot-go", "(a) hot `/go`, one cached product")
	if err != nil {
		return err
	}
	rep.note("(a) " + outcomes(w))
	return nil
}

// hotID is scenario (b): every click on one short link, whose clicks the service counts.
func (h *harness) hotID(ctx context.Context, svc *service, rep *report) error {
	page := productURL(idProduct)
	id, err := svc.createLink(ctx, page)
	if err != nil {
		return err
	}
	target := svc.base + "/" + id
	if err := h.checkRedirect(ctx, rep, "hot /{id} warm-up", target, page); err != nil {
		return err
	}
	_, w, err := h.compare(ctx, rep, svc, wrkSpec{url: "/" + id, conns: h.opts.workers},
		"hot-id", "(b) hot `/{id}`, one short link (clicks counted)")
	if err != nil {
		return err
	}
	rep.note("(b) " + outcomes(w))
	if n := w.delta("redirector_clicks_flushed_total") + w.delta("redirector_clicks_dropped_total"); n == 0 {
		rep.warn("hot /{id}: the service counted no clicks during the window (clicks_flushed_total and clicks_dropped_total did not grow)")
	}
	return nil
}

// zipfURLs returns the /go URLs of the pre-filled products on svc.
func (h *harness) zipfURLs(svc *service) []string {
	urls := make([]string, h.opts.products)
	for i := range urls {
		urls[i] = goURL(svc.base, productURL(zipfBase+uint64(i)))
	}
	return urls
}

// zipfSpec is wrk's Zipf mix over the pre-filled products (lua/zipf.lua, which draws as zipfOrder
// does, from a sequence of its own).
func (h *harness) zipfSpec() wrkSpec {
	return wrkSpec{
		url: "/", script: "zipf", conns: h.opts.workers,
		args: []string{strconv.Itoa(h.opts.products), strconv.FormatFloat(zipfExponent, 'f', -1, 64), strconv.FormatUint(zipfBase, 10), "6"},
	}
}

// zipfOrderLen is the length of the Zipf sequence the generator cycles through.
const zipfOrderLen = 1 << 21

// zipfExponent is the Zipf distribution's exponent: a few products get most clicks.
const zipfExponent = 1.1

// zipf is scenario (c): clicks over the pre-filled products, a few popular, most not, with a
// first tier smaller than the set so that Redis answers part of them.
func (h *harness) zipf(ctx context.Context, svc *service, rep *report) error {
	_, w, err := h.compare(ctx, rep, svc, h.zipfSpec(),
		"zipf", fmt.Sprintf("(c) Zipf(s=%.1f) over %s cached products, first tier %s", zipfExponent, count(h.opts.products), count(h.opts.tier1)))
	if err != nil {
		return err
	}
	rep.note("(c) " + tierSplit(w))
	return nil
}

// redisOnly is scenario (d): the same clicks with the first tier disabled, each a Redis read.
func (h *harness) redisOnly(ctx context.Context, svc *service, rep *report) error {
	c, w, err := h.compare(ctx, rep, svc, h.zipfSpec(), "redis", "(d) first tier off (CACHE_SIZE=0), every click a Redis `GET`, same Zipf mix")
	if err != nil {
		return err
	}
	rep.note("(d) " + tierSplit(w))
	if h.peer != nil {
		h.peerNote(ctx, rep, c)
	}
	return nil
}

// tierSplit says which tier answered the window's lookups.
func tierSplit(w window) string {
	t1, rd, miss := w.delta("redirector_cache_tier1_hits_total"), w.delta("redirector_cache_redis_hits_total"), w.delta("redirector_cache_misses_total")
	total := t1 + rd + miss
	if total == 0 {
		return "the service's cache counters did not move"
	}
	return fmt.Sprintf("lookups answered by the first tier %.1f%%, by Redis %.1f%%, missed %.2f%% (%s lookups; %s Redis errors or time-outs, each a miss); %s",
		100*t1/total, 100*rd/total, 100*miss/total, count(int(total)), count(int(w.delta("redirector_redis_errors_total"))), outcomes(w))
}

// outcomes says how the window's redirects went, by the service's own count.
func outcomes(w window) string {
	var parts []string
	for _, route := range []string{"go", "id"} {
		for _, o := range []string{"tagged", "stale", "untagged", "rejected", "notfound"} {
			if n := w.delta(`redirector_redirects_total{outcome="` + o + `",route="` + route + `"}`); n > 0 {
				parts = append(parts, fmt.Sprintf("%s %s %s", route, o, count(int(n))))
			}
		}
	}
	if len(parts) == 0 {
		return "no redirects counted"
	}
	return "redirects: " + strings.Join(parts, ", ")
}

// coldMeasured is how far from coldBase the measured run's products start, so that none was asked
// in the warm-up.
const coldMeasured = 500_000_000

// cold is scenario (e): every click a product never seen, so each one waits for the platform,
// and batching decides how many calls the clicks cost. wrk sends them (lua/cold.lua) over
// -cold-workers connections.
func (h *harness) cold(ctx context.Context, svc *service, rep *report) error {
	o := h.opts
	spec := wrkSpec{url: svc.base + "/", script: "cold", conns: o.coldWorkers, server: svc.pid()}
	if o.warmup > 0 {
		warm := spec
		warm.duration, warm.args = o.warmup, []string{strconv.FormatUint(coldBase, 10)}
		if _, err := runWrk(ctx, h.dir, warm); err != nil {
			return err
		}
	}
	// wrk leaves its last requests in flight, each waiting for the platform: they must be answered
	// before the window opens, or they and the window's first would pass PLATFORM_MAX_IN_FLIGHT.
	if err := h.quiesce(ctx, svc); err != nil {
		return err
	}
	var w window
	calls0 := h.platform.Calls()
	var err error
	if w.before, err = svc.metrics(ctx); err != nil {
		return err
	}
	spec.duration, spec.args = o.duration, []string{strconv.FormatUint(coldBase+coldMeasured, 10)}
	r, err := runWrk(ctx, h.dir, spec)
	if err != nil {
		return err
	}
	if err := h.quiesce(ctx, svc); err != nil {
		return err
	}
	w.calls = h.platform.Calls() - calls0
	if w.after, err = svc.metrics(ctx); err != nil {
		return err
	}
	if w.rss, err = svc.rss(); err != nil {
		return err
	}
	w.measurement = r.measurement()
	// The clicks are the service's count over the same time as the calls: the requests wrk left in
	// flight at its end were answered, and asked the platform, after wrk's count.
	if n := int(w.delta("redirector_redirects_total")); n > 0 {
		w.requests = n
	}
	h.logWindow("cold", w)
	rep.add(row{
		name: fmt.Sprintf("(e) cold: every click a new product (%d connections, platform %v)", o.coldWorkers, o.latency),
		m:    w.measurement, calls: w.calls, rss: w.rss, key: "cold",
	})
	perClick := math.NaN()
	if w.requests > 0 {
		perClick = float64(w.calls) / float64(w.requests)
	}
	meanBatch := math.NaN()
	if n := w.delta("redirector_platform_batch_size_count"); n > 0 {
		meanBatch = w.delta("redirector_platform_batch_size_sum") / n
	}
	rep.cold = &coldResult{perClick: perClick, meanBatch: meanBatch, batch: o.batch, clicks: w.requests, calls: w.calls}
	rep.note(fmt.Sprintf("(e) %d platform calls for %s clicks (the service's count, which includes the last request of each of wrk's %d connections, "+
		"in flight when wrk stops and closes them: the service sends those untagged, the client gone): %.4f calls per click (1/BATCH_SIZE = %.4f), "+
		"mean batch %.1f pages; generator %.0f%% of its core; %s",
		w.calls, count(w.requests), o.coldWorkers, perClick, 1/float64(o.batch), meanBatch, 100*r.genShare(), outcomes(w)))
	return nil
}

// quiesce waits until the service's count of redirects stops moving: the requests a generator
// left in flight have been answered.
func (h *harness) quiesce(ctx context.Context, svc *service) error {
	last, still := -1.0, 0
	for still < 3 {
		pm, err := svc.metrics(ctx)
		if err != nil {
			return err
		}
		n := pm.sum("redirector_redirects_total")
		if n == last {
			still++
		} else {
			last, still = n, 0
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(h.opts.latency / 2):
		}
	}
	return nil
}

// sample is one reading of the service during the soak.
type sample struct {
	at         time.Duration // since the soak began
	rss        int64
	goroutines float64
}

// soak is scenario (f): a mixed load at a fixed rate for minutes, sampling the service's RSS and
// goroutines, which should stay flat.
func (h *harness) soak(ctx context.Context, svc *service, rep *report) error {
	o := h.opts
	id, err := svc.createLink(ctx, productURL(idProduct))
	if err != nil {
		return err
	}
	urls := h.zipfURLs(svc)
	// One pass over every cached product first, as fast as the workers go, so that the first tier
	// is full and every one of the workers' connections open before the soak begins: neither the
	// tier's filling nor a connection (and its goroutine in the service) opened during a hiccup
	// in the paced load is taken for growth.
	tr := newTransport()
	defer tr.CloseIdleConnections()
	h.logf("soak: filling the first tier with one pass over the %d products", o.products)
	if _, err := run(ctx, loadSpec{
		name: "soak-prewarm", targeter: seqTargets(func(i uint64) string { return urls[i%uint64(len(urls))] }),
		pacer: countPacer(uint64(len(urls))), workers: o.workers, duration: 5 * time.Minute, transport: tr,
	}); err != nil {
		return err
	}
	order := zipfOrder(o.products, zipfOrderLen, zipfExponent)
	idURL := svc.base + "/" + id
	// 94% Zipf /go, 5% /{id}, 1% never-seen products.
	mix := seqTargets(func(i uint64) string {
		switch r := i % 100; {
		case r < 94:
			return urls[order[i%uint64(len(order))]]
		case r < 99:
			return idURL
		default:
			return goURL(svc.base, productURL(soakColdBase+i))
		}
	})
	warmup := min(30*time.Second, o.soak/6)
	every := min(max(o.soak/36, time.Second), 5*time.Second)
	h.logf("soak: %d req/s for %v (first %v not judged), sampling RSS and goroutines every %v", o.soakRate, o.soak, warmup, every)

	var samples []sample
	var mu sync.Mutex // guards samples
	began := time.Now()
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			rss, err := svc.rss()
			if err != nil {
				continue
			}
			pm, err := svc.metrics(ctx)
			if err != nil {
				continue
			}
			mu.Lock()
			samples = append(samples, sample{at: time.Since(began), rss: rss, goroutines: pm.sum("go_goroutines")})
			mu.Unlock()
		}
	}()
	w, err := h.measure(ctx, svc, loadSpec{
		name: "soak", targeter: mix, pacer: vegeta.Rate{Freq: o.soakRate, Per: time.Second},
		workers: o.workers, warmup: warmup, duration: o.soak - warmup, transport: tr,
	})
	close(stopSampling)
	<-sampled
	if err != nil {
		return err
	}
	h.logWindow("soak", w)
	// The samples of the paced load only: after the warm-up, before the load stops.
	var judged []sample
	for _, s := range samples {
		if s.at >= warmup && s.at <= o.soak {
			judged = append(judged, s)
		}
	}
	rep.add(row{
		name: fmt.Sprintf("(f) soak: %d req/s for %v (94%% Zipf /go, 5%% /{id}, 1%% new products)", o.soakRate, o.soak),
		m:    w.measurement, calls: w.calls, rss: w.rss, key: "soak", fixedRate: true,
	})
	rep.soak = newSoakResult(judged)
	rep.note("(f) " + tierSplit(w))
	return nil
}
