package main

import (
	"context"
	"math"
	"net/url"
	"time"
)

// millionEntries is the first tier's size in the memory measurement.
const millionEntries = 1_000_000

// millionNoLimit is the GOMEMLIMIT of the memory measurement's second pass: none, so that Go's
// collector alone, which lets the heap grow to twice what is live, shows what the service's own
// memory limit saves.
const millionNoLimit = "off"

// million measures the RSS of the service holding 1,000,000 links in its first tier: Redis is
// pre-filled, then one /go request per product moves each link into the first tier. It runs
// twice: with the service's defaults, then with GOMEMLIMIT=off.
func (h *harness) million(ctx context.Context, rep *report) error {
	const n = millionEntries
	h.logf("mem1m: pre-filling Redis with %s links", count(n))
	t := time.Now()
	if err := prefill(ctx, h.env.redisURL, millionBase, n, 64); err != nil {
		return err
	}
	h.logf("mem1m: pre-filled in %v", time.Since(t).Round(time.Millisecond))
	urls := make([]string, n)
	for i := range urls {
		urls[i] = "/go?u=" + url.QueryEscape(productURL(millionBase+uint64(i)))
	}
	for _, memLimit := range []string{"", millionNoLimit} {
		r, err := h.millionPass(ctx, urls, memLimit)
		if err != nil {
			return err
		}
		rep.million = append(rep.million, r)
	}
	return nil
}

// millionPass is one start of the service for million, with GOMEMLIMIT memLimit if set.
func (h *harness) millionPass(ctx context.Context, paths []string, memLimit string) (*millionResult, error) {
	n := len(paths)
	// CACHE_TTL bounds how long an entry stays in the first tier; the fill must not outlast it.
	extra := []string{"CACHE_TTL=2h"}
	name := "redirector-1m"
	if memLimit != "" {
		extra = append(extra, "GOMEMLIMIT="+memLimit)
		name += "-nolimit"
	}
	svc, err := startService(ctx, &h.ps, h.env, name, n, extra...)
	if err != nil {
		return nil, err
	}
	defer svc.stop()
	idle, err := svc.rss()
	if err != nil {
		return nil, err
	}
	pm0, err := svc.metrics(ctx)
	if err != nil {
		return nil, err
	}
	h.logf("mem1m: one /go request for each of the %s products (GOMEMLIMIT %q)", count(n), memLimit)
	m, err := run(ctx, loadSpec{
		name: "mem1m-fill", targeter: seqTargets(func(i uint64) string { return svc.base + paths[i%uint64(n)] }),
		pacer: countPacer(n), workers: h.opts.workers, duration: 15 * time.Minute,
	})
	if err != nil {
		return nil, err
	}
	before, err := svc.metrics(ctx)
	if err != nil {
		return nil, err
	}
	// A sample of the products again: the first tier should answer them all.
	const probe = 20_000
	if _, err := run(ctx, loadSpec{
		name: "mem1m-probe", targeter: seqTargets(func(i uint64) string { return svc.base + paths[(i%probe)*uint64(n/probe)+7] }),
		pacer: countPacer(probe), workers: h.opts.workers, duration: 5 * time.Minute,
	}); err != nil {
		return nil, err
	}
	after, err := svc.metrics(ctx)
	if err != nil {
		return nil, err
	}
	full, err := svc.rss()
	if err != nil {
		return nil, err
	}
	// Let the collector and the scavenger catch up with the fill's garbage.
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(15 * time.Second):
	}
	settled, err := svc.rss()
	if err != nil {
		return nil, err
	}
	hwm, _ := procStatus(svc.pid(), "VmHWM")
	pm, err := svc.metrics(ctx)
	if err != nil {
		return nil, err
	}
	d := func(metric string) float64 { return after.sum(metric) - before.sum(metric) }
	t1 := d("redirector_cache_tier1_hits_total")
	total := t1 + d("redirector_cache_redis_hits_total") + d("redirector_cache_misses_total")
	// The heap goal is the live heap at the last collection times 1+GOGC/100, unless a memory
	// limit set it lower; then the live heap is not known from these metrics.
	liveHeap := func(p promText) float64 {
		if memLimit != millionNoLimit {
			return -1
		}
		return p.sum("go_memstats_next_gc_bytes") / (1 + p.sum("go_gc_gogc_percent")/100)
	}
	live := liveHeap(pm)
	r := &millionResult{
		memLimit: memLimit, entries: n, fillRPS: m.rps(), fillErrors: m.errors, idle: idle, full: full, settled: settled, hwm: hwm,
		heapInuse: int64(pm.sum("go_memstats_heap_inuse_bytes")), liveHeap: int64(live), idleLive: int64(liveHeap(pm0)), objects: int64(pm.sum("go_memstats_heap_objects")),
		probeTier1: t1 / math.Max(total, 1), probe: probe,
	}
	h.logf("mem1m: RSS %s after the fill, %s 15s later (idle before: %s; Go heap in use %s), first tier answered %.1f%% of the probe",
		mb(full), mb(settled), mb(idle), mb(r.heapInuse), 100*r.probeTier1)
	return r, nil
}
