package main

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
)

// scenarioNames are the scenarios -scenarios may name, in the order they run.
var scenarioNames = []string{"hot-go", "hot-id", "bio", "zipf", "cold", "flood-cheap", "flood-ua", "flood-qr", "flood-qr-spread", "redis", "soak"}

func isScenario(s string) bool { return slices.Contains(scenarioNames, s) }

// harness owns everything one run starts: the temporary directory, the child processes and the
// fake platform. close releases all of it.
type harness struct {
	opts           options
	stdout, stderr io.Writer
	started        time.Time

	dir      string
	ps       procs
	platform *affiliatetest.Platform
	fake     *httptest.Server
	env      env
	baseURL  string // the bare floor: bare net/http answering a constant 302
	baseProc *proc
	hardURL  string // the hardened floor: the same with the service's timeouts and header limit
	hardProc *proc
	// profiled lists the CPU profiles taken (-pprof) per scenario, one a measured slice. Only
	// the goroutine measure waits for writes it.
	profiled map[string][]string
	// profileOrder names the profiled scenarios in the order they ran; profileTops holds each
	// one's title and merged top functions, by cumulative time, for the report, apart by a NUL.
	profileOrder []string
	profileTops  map[string]string
	// peer is -peer's server, once started; cleanups are run by close after the children stop.
	peer     *peer
	cleanups []func()
}

// logsDir is where the children's logs are kept after a run (git ignores bench/out).
const logsDir = "bench/out/logs"

// close stops every process and the fake platform, keeps the children's logs in logsDir, and
// removes the temporary directory.
func (h *harness) close() {
	h.ps.stopAll()
	for _, f := range h.cleanups {
		f()
	}
	if h.fake != nil {
		h.fake.Close()
	}
	if h.dir == "" {
		return
	}
	if logs, _ := filepath.Glob(filepath.Join(h.dir, "*.log")); len(logs) > 0 {
		_ = os.RemoveAll(logsDir)
		if err := os.MkdirAll(logsDir, 0o755); err == nil {
			for _, l := range logs {
				if b, err := os.ReadFile(l); err == nil {
					_ = os.WriteFile(filepath.Join(logsDir, filepath.Base(l)), b, 0o644)
				}
			}
			fmt.Fprintf(h.stderr, "logs of the processes kept in %s\n", logsDir)
		}
	}
	_ = os.RemoveAll(h.dir)
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(h.stderr, "[%5.1fs] "+format+"\n", append([]any{time.Since(h.started).Seconds()}, args...)...)
}

func (h *harness) want(name string) bool {
	for _, s := range strings.Split(h.opts.scenarios, ",") {
		if strings.TrimSpace(s) == name {
			return true
		}
	}
	return false
}

// run runs the selected scenarios and returns their report.
func (h *harness) run(ctx context.Context) (*report, error) {
	o := h.opts
	var err error
	if h.dir, err = os.MkdirTemp("", "redirector-bench-"); err != nil {
		return nil, err
	}
	h.logf("building the service and the baseline (go build -trimpath)")
	svcBin, err := build(ctx, h.dir, "./cmd/redirector", "redirector")
	if err != nil {
		return nil, err
	}
	baseBin, err := build(ctx, h.dir, "./bench/cmd/baseline", "baseline")
	if err != nil {
		return nil, err
	}
	h.platform, h.fake = affiliatetest.NewServer(affiliatetest.PlatformConfig{})
	h.platform.SetLatency(o.latency)
	_, redisAddr, err := startRedis(ctx, &h.ps, h.dir)
	if err != nil {
		return nil, err
	}
	redisURL := "redis://" + redisAddr + "/0"
	h.env = env{
		bin: svcBin, dir: h.dir, redisURL: redisURL, platform: h.fake.URL + "/sync",
		pcfg: h.platform.Config(), batchSize: o.batch, batchWindow: o.batchWindow,
		redisQuery: o.redisQuery, settings: o.serviceEnv, pprof: o.pprof,
	}
	rep := newReport(o)

	// The yardstick: measured first, and again right before each scenario compared with it.
	if err := h.startBaseline(ctx, baseBin); err != nil {
		return nil, err
	}
	if !h.want("hot-go") && !h.want("hot-id") && !h.want("bio") && !h.want("zipf") && !h.want("redis") {
		if err := h.measureBaseline(ctx, rep); err != nil {
			return nil, err
		}
	}

	if h.want("zipf") || h.want("redis") || h.want("soak") {
		h.logf("pre-filling Redis with %d cached products", o.products)
		t := time.Now()
		if err := prefill(ctx, redisURL, zipfBase, o.products, 64); err != nil {
			return nil, err
		}
		h.logf("pre-filled in %v", time.Since(t).Round(time.Millisecond))
	}
	if o.peer != "" && h.want("redis") {
		if h.peer, err = h.startPeer(ctx, redisAddr, zipfBase, o.products); err != nil {
			return nil, fmt.Errorf("peer: %w", err)
		}
		if err := h.checkPeer(ctx, rep, h.peer, zipfBase+uint64(o.products)-1); err != nil {
			return nil, err
		}
	}

	if h.want("hot-go") || h.want("hot-id") || h.want("bio") || h.want("zipf") || h.want("cold") {
		svc, err := startService(ctx, &h.ps, h.env, "redirector", o.tier1)
		if err != nil {
			return nil, err
		}
		for _, sc := range []struct {
			name string
			f    func(context.Context, *service, *report) error
		}{
			{"hot-go", h.hotGo}, {"hot-id", h.hotID}, {"bio", h.bioPage}, {"zipf", h.zipf}, {"cold", h.cold},
		} {
			if h.want(sc.name) {
				if err := sc.f(ctx, svc, rep); err != nil {
					return nil, fmt.Errorf("%s: %w", sc.name, err)
				}
			}
		}
		svc.stop()
	}
	if fs := h.floodsWanted(); len(fs) > 0 {
		svc, err := startService(ctx, &h.ps, h.env, "redirector-flood", o.tier1)
		if err != nil {
			return nil, err
		}
		if err := h.floods(ctx, svc, rep, fs); err != nil {
			return nil, fmt.Errorf("floods: %w", err)
		}
		svc.stop()
	}
	if h.want("redis") {
		svc, err := startService(ctx, &h.ps, h.env, "redirector-redis-only", 0)
		if err != nil {
			return nil, err
		}
		if err := h.redisOnly(ctx, svc, rep); err != nil {
			return nil, fmt.Errorf("redis-only: %w", err)
		}
		svc.stop()
	}
	if h.want("soak") && o.soak > 0 {
		svc, err := startService(ctx, &h.ps, h.env, "redirector-soak", o.tier1)
		if err != nil {
			return nil, err
		}
		if err := h.soak(ctx, svc, rep); err != nil {
			return nil, fmt.Errorf("soak: %w", err)
		}
		svc.stop()
	}
	if o.mem1m {
		if err := h.million(ctx, rep); err != nil {
			return nil, fmt.Errorf("mem1m: %w", err)
		}
	}
	for _, name := range h.profileOrder {
		title, top, _ := strings.Cut(h.profileTops[name], "\x00")
		rep.profiles = append(rep.profiles, profileTop{scenario: title, top: top})
	}
	rep.finish()
	return rep, nil
}

// window is one measured scenario: what the generator saw and what the service counted meanwhile.
type window struct {
	measurement
	calls         int      // platform calls the fake received during the window
	before, after promText // the service's metrics at the window's start and end
	rss           int64
}

// delta returns how much metric (summed over its labels) grew during the window.
func (w window) delta(metric string) float64 {
	return w.after.sum(metric) - w.before.sum(metric)
}

// measure runs spec against svc and snapshots the fake's call count and the service's metrics at
// the window's start and end.
func (h *harness) measure(ctx context.Context, svc *service, spec loadSpec) (window, error) {
	var w window
	var calls0 int
	var snapErr error
	var prof *proc
	var cpu chan error
	throughput := spec.pacer == nil // the throughput scenarios, not the long soak
	spec.atWindow = func() {
		calls0 = h.platform.Calls()
		w.before, snapErr = svc.metrics(ctx)
		if h.opts.perf && throughput && !spec.noProfile {
			prof, snapErr = h.startPerf(spec)
		}
		if svc.debug != "" && throughput { // every slice: their profiles add up
			cpu = make(chan error, 1)
			go func() { cpu <- h.takeCPUProfile(ctx, svc, spec) }()
		}
	}
	m, err := run(ctx, spec)
	if cpu != nil {
		if perr := <-cpu; err == nil {
			err = perr
		}
	}
	if err != nil {
		return w, err
	}
	if snapErr != nil {
		return w, snapErr
	}
	if prof != nil {
		if err := h.reportPerf(ctx, prof, spec); err != nil {
			return w, err
		}
	}
	w.measurement = m
	w.calls = h.platform.Calls() - calls0
	if w.after, err = svc.metrics(ctx); err != nil {
		return w, err
	}
	if w.rss, err = svc.rss(); err != nil {
		return w, err
	}
	return w, nil
}

// logWindow reports a measured scenario on stderr.
func (h *harness) logWindow(name string, w window) {
	h.logf("%s: %.0f req/s, p50 %v, p99 %v, %d errors, %d platform calls, RSS %s",
		name, w.rps(), w.quantile(0.5), w.quantile(0.99), w.errors, w.calls, mb(w.rss))
}

// settle is the unmeasured time at the start of every round but the first of a flood comparison:
// the connections are open already, the previous slice's requests just need to drain.
const settle = 250 * time.Millisecond

// compare measures the service against both floors with wrk, in rounds: a slice of the bare
// floor, one of the hardened floor, one of the service, duration/rounds long each (whole
// seconds), so that other load on the machine, drifting during the run, weighs on all three
// alike. Every side first gets an unmeasured warm-up; the floors are sent the same script as the
// service, so that making the requests costs the generator the same. It returns the comparison,
// which it also records in rep, and the service's window (metrics and platform calls over the
// measured slices).
func (h *harness) compare(ctx context.Context, rep *report, svc *service, spec wrkSpec, key, name string) (*comparison, window, error) {
	o := h.opts
	var w window
	c := &comparison{key: key, name: name}
	slice := max((o.duration / time.Duration(o.rounds)).Round(time.Second), time.Second)
	type server struct {
		url  string
		pid  int
		side *side
		peer bool // the peer: its own paths, its processes' CPU summed
	}
	servers := []server{{h.baseURL, h.baseProc.pid(), &c.bare, false}, {h.hardURL, h.hardProc.pid(), &c.hard, false}, {svc.base, svc.pid(), &c.svc, false}}
	if h.peer != nil && key == "redis" {
		servers = append(servers, server{h.peer.base, h.peer.p.pid(), &c.peer, true})
	}
	at := func(sv server, d time.Duration) wrkSpec {
		one := spec
		if sv.peer {
			one = peerSpec(spec)
		}
		one.url, one.server, one.duration = sv.url+one.url, sv.pid, d
		return one
	}
	if o.warmup > 0 {
		for _, sv := range servers {
			if _, err := runWrk(ctx, h.dir, at(sv, o.warmup)); err != nil {
				return nil, w, err
			}
		}
	}
	calls0 := h.platform.Calls()
	var err error
	if w.before, err = svc.metrics(ctx); err != nil {
		return nil, w, err
	}
	var pg0 time.Duration
	if len(servers) > 3 {
		pg0 = h.peer.pgTreeCPU()
	}
	for i := range o.rounds {
		for _, sv := range servers {
			var prof *proc
			var cpu chan error
			ls := loadSpec{name: name, duration: slice}
			if sv.side == &c.svc {
				if o.perf && i == 0 {
					if prof, err = h.startPerf(ls); err != nil {
						return nil, w, err
					}
				}
				if svc.debug != "" {
					cpu = make(chan error, 1)
					go func() { cpu <- h.takeCPUProfile(ctx, svc, ls) }()
				}
			}
			r, err := runWrk(ctx, h.dir, at(sv, slice))
			if cpu != nil {
				if perr := <-cpu; err == nil {
					err = perr
				}
			}
			if err != nil {
				return nil, w, err
			}
			if prof != nil {
				if err := h.reportPerf(ctx, prof, ls); err != nil {
					return nil, w, err
				}
			}
			*sv.side = append(*sv.side, r)
		}
	}
	if len(servers) > 3 {
		if pg1 := h.peer.pgTreeCPU(); pg0 >= 0 && pg1 >= 0 {
			h.peer.pgCPU = pg1 - pg0
		}
	}
	w.calls = h.platform.Calls() - calls0
	if w.after, err = svc.metrics(ctx); err != nil {
		return nil, w, err
	}
	if w.rss, err = svc.rss(); err != nil {
		return nil, w, err
	}
	rep.comparisons = append(rep.comparisons, c)
	for _, x := range []struct {
		what string
		s    side
	}{{"bare floor", c.bare}, {"hardened floor", c.hard}, {name, c.svc}, {"peer", c.peer}} {
		if len(x.s) == 0 {
			continue
		}
		h.logf("%s: %.0f req/s, p99 %.0fµs, %.1f µs CPU per request, generator %.0f%% of its core, %d errors",
			x.what, x.s.rps(), x.s.p99(), x.s.cpuPerReq(), 100*x.s.genShare(), x.s.errors())
	}
	return c, w, nil
}

// baseTargets is what the baseline is asked: the same requests as the hot /go scenario, so that
// making them costs the generator the same.
func (h *harness) baseTargets() vegeta.Targeter {
	return staticTargets(goURL(h.baseURL, productURL(hotProduct)))
}

// startBaseline starts the two floors, bare and hardened, which then idle between their
// measurements.
func (h *harness) startBaseline(ctx context.Context, bin string) error {
	for _, f := range []struct {
		name string
		args []string
		url  *string
		proc **proc
	}{
		{"baseline", nil, &h.baseURL, &h.baseProc},
		{"baseline-hardened", []string{"-hardened"}, &h.hardURL, &h.hardProc},
	} {
		port, err := freePort()
		if err != nil {
			return err
		}
		*f.url = "http://127.0.0.1:" + strconv.Itoa(port)
		p, err := h.ps.start(f.name, h.dir, bin, append([]string{"-addr", "127.0.0.1:" + strconv.Itoa(port)}, f.args...), nil)
		if err != nil {
			return err
		}
		*f.proc = p
		if err := waitHTTP(ctx, p, *f.url+"/healthz", 0, 10*time.Second); err != nil {
			return err
		}
	}
	if _, err := wrkBinary(); err != nil && (h.want("hot-go") || h.want("hot-id") || h.want("bio") || h.want("zipf") || h.want("redis") || h.want("cold")) {
		return err
	}
	return nil
}

// measureBaseline measures the baseline alone, when no scenario is compared with it.
func (h *harness) measureBaseline(ctx context.Context, rep *report) error {
	m, err := run(ctx, loadSpec{
		name: "baseline", targeter: h.baseTargets(),
		workers: h.opts.workers, warmup: h.opts.warmup, duration: h.opts.duration,
	})
	if err != nil {
		return err
	}
	rss, err := h.baseProc.rss()
	if err != nil {
		return err
	}
	h.logf("baseline: %.0f req/s, p50 %v, p99 %v, %d errors", m.rps(), m.quantile(0.5), m.quantile(0.99), m.errors)
	rep.baselines = append(rep.baselines, baseRun{label: "alone", m: m, rss: rss})
	return nil
}
