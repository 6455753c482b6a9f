package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// row is one line of the results table.
type row struct {
	name      string
	key       string // the scenario's -scenarios name; empty for the baseline
	m         measurement
	calls     int // platform calls during the window; negative: not applicable
	rss       int64
	fixedRate bool // paced at a fixed rate: its requests/s is the pace, not a capacity
	// base is the baseline measured in slices interleaved with this scenario's; nil: compare
	// with all the baseline's measurements.
	base *measurement
}

// baseRun is one measurement of the baseline.
type baseRun struct {
	label string // when it was measured: "first", "before (a)", …
	m     measurement
	rss   int64
}

// coldResult is the cold scenario's batching.
type coldResult struct {
	perClick, meanBatch float64
	batch               int
	clicks, calls       int
}

// soakResult compares the soak's first samples after its warm-up with its last.
type soakResult struct {
	series                      []sample
	samples                     int
	rssStart, rssEnd, rssMax    float64
	gorStart, gorEnd, gorMax    float64
	rssChange, gorChange        float64 // (end-start)/start
	first, last                 time.Duration
	rssWithin, goroutinesWithin bool
}

// soakTolerance is how far the soak's end may drift from its start.
const soakTolerance = 0.10

// soakEnds returns how many samples make each end of a soak of n samples: a sixth of them, at
// least 3 (fewer only when there are not 6), so that one sample caught in a hiccup does not
// decide the verdict.
func soakEnds(n int) int {
	return min(max(3, n/6), max(1, n/2))
}

// newSoakResult compares the median of the first samples with the median of the last.
func newSoakResult(s []sample) *soakResult {
	r := &soakResult{series: s, samples: len(s)}
	if len(s) == 0 {
		return r
	}
	k := soakEnds(len(s))
	median := func(part []sample, f func(sample) float64) float64 {
		v := make([]float64, len(part))
		for i, x := range part {
			v[i] = f(x)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	rss := func(x sample) float64 { return float64(x.rss) }
	gor := func(x sample) float64 { return x.goroutines }
	r.rssStart, r.rssEnd = median(s[:k], rss), median(s[len(s)-k:], rss)
	r.gorStart, r.gorEnd = median(s[:k], gor), median(s[len(s)-k:], gor)
	for _, x := range s {
		r.rssMax = max(r.rssMax, rss(x))
		r.gorMax = max(r.gorMax, gor(x))
	}
	r.first, r.last = s[0].at, s[len(s)-1].at
	r.rssChange = (r.rssEnd - r.rssStart) / r.rssStart
	r.gorChange = (r.gorEnd - r.gorStart) / r.gorStart
	r.rssWithin = math.Abs(r.rssChange) <= soakTolerance
	// Goroutines fall when the service closes keep-alive connections the paced load left idle
	// (IdleTimeout, 120s): fewer is not a leak. Growth is what a leak looks like.
	r.goroutinesWithin = r.gorChange <= soakTolerance
	return r
}

// millionResult is the memory of a first tier holding a million links, in one start of the service.
type millionResult struct {
	memLimit            string // GOMEMLIMIT, if set
	entries             int
	fillRPS             float64
	fillErrors          int
	idle, full, settled int64
	hwm, heapInuse      int64
	liveHeap, objects   int64
	idleLive            int64 // live heap before the fill
	probeTier1          float64
	probe               int
}

// millionLimit is the bound on the RSS of a million first-tier entries.
const millionLimit = 300_000_000

// target is one of the targets and how the run fared.
type target struct {
	name, want, got string
	pass            bool
}

// report gathers a run's results and renders them.
type report struct {
	opts      options
	baselines []baseRun
	rows      []row
	notes     []string
	warnings  []string
	cold      *coldResult
	soak      *soakResult
	million   []*millionResult
	floods    []floodResult
	// comparisons are the throughput scenarios measured against both floors with wrk.
	comparisons []*comparison
	targets     []target
	profiles    []profileTop // -pprof: the service's top functions per scenario
	date        time.Time
	loadavg     [2]string // /proc/loadavg at the start and the end
}

func newReport(o options) *report {
	return &report{opts: o, date: time.Now(), loadavg: [2]string{loadavg(), ""}}
}

// loadavg returns the machine's 1-, 5- and 15-minute load averages.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func (r *report) add(x row)     { r.rows = append(r.rows, x) }
func (r *report) note(s string) { r.notes = append(r.notes, s) }
func (r *report) warn(s string) { r.warnings = append(r.warnings, s) }
func (r *report) find(key string) *row {
	for i := range r.rows {
		if r.rows[i].key == key {
			return &r.rows[i]
		}
	}
	return nil
}

// baseline returns every measurement of the baseline together, as a row; nil when there is none.
func (r *report) baseline() *row {
	if len(r.baselines) == 0 {
		return nil
	}
	var ms []measurement
	for _, x := range r.baselines {
		ms = append(ms, x.m)
	}
	name := "baseline: bare net/http, constant 302"
	if len(ms) > 1 {
		name += " (all its slices)"
	}
	return &row{name: name, m: merge(ms...), calls: -1, rss: r.baselines[len(r.baselines)-1].rss}
}

// base returns the baseline x is compared with: the one interleaved with it, else all of them.
func (r *report) base(x *row) *measurement {
	if x.base != nil {
		return x.base
	}
	if b := r.baseline(); b != nil {
		return &b.m
	}
	return nil
}

// ratio returns x's requests/s over its baseline's.
func (r *report) ratio(x *row) float64 {
	b := r.base(x)
	if b == nil || b.rps() == 0 {
		return math.NaN()
	}
	return x.m.rps() / b.rps()
}

// finish checks the targets against the results.
func (r *report) finish() {
	r.loadavg[1] = loadavg()
	r.targets = append(r.targets, comparisonTargets(r.comparisons)...)
	if c := r.cold; c != nil {
		limit := 1.1 / float64(c.batch)
		r.targets = append(r.targets, target{
			name: "cold: platform calls per click", want: fmt.Sprintf("≤ 1.1 × 1/BATCH_SIZE = %.4f", limit),
			got:  fmt.Sprintf("%.4f (%d calls / %s clicks, mean batch %.1f)", c.perClick, c.calls, count(c.clicks), c.meanBatch),
			pass: c.perClick <= limit,
		})
	}
	if s := r.soak; s != nil && s.samples > 0 {
		r.targets = append(r.targets, target{
			name: "soak: RSS flat", want: "end within 10% of start",
			got: fmt.Sprintf("%s → %s (%+.1f%%)", mb(int64(s.rssStart)), mb(int64(s.rssEnd)), 100*s.rssChange), pass: s.rssWithin,
		}, target{
			name: "soak: goroutines flat", want: "end at most 10% above start (idle connections closing may lower it)",
			got: fmt.Sprintf("%.0f → %.0f (%+.1f%%)", s.gorStart, s.gorEnd, 100*s.gorChange), pass: s.goroutinesWithin,
		})
	}
	r.targets = append(r.targets, floodTargets(r.floods)...)
	for _, m := range r.million {
		if m.memLimit != "" {
			continue // a comparison, not the service as it ships
		}
		worst := max(m.full, m.settled)
		r.targets = append(r.targets, target{
			name: "1,000,000 first-tier entries, " + gcSetting(m.memLimit), want: "< 300 MB RSS",
			got:  fmt.Sprintf("%s (first tier answered %.1f%% of a %s-product probe)", mb(worst), 100*m.probeTier1, count(m.probe)),
			pass: worst < millionLimit && m.probeTier1 >= 0.99,
		})
	}
}

// Targets of issue 20, against the floors, on the medians of the rounds.
const (
	hotMinRatio   = 0.90 // cached /go and /{id}: throughput, × the hardened floor
	hotMaxCPU     = 1.15 // cached /go and /{id}: CPU per request, × the hardened floor
	zipfMinRatio  = 0.80 // the Zipf mix: throughput, × the hardened floor
	redisMinRatio = 0.82 // first tier off: throughput, × the BARE floor (the peer's figure)
	maxP99Ratio   = 1.2  // every compared scenario: p99, × the floor its throughput is held to
)

// comparisonTargets checks the compared scenarios against their floors, and that the generator
// left the servers the CPU in every slice.
func comparisonTargets(cs []*comparison) []target {
	var out []target
	for _, c := range cs {
		label := map[string]string{"hot-go": "hot `/go`", "hot-id": "hot `/{id}`", "bio": "cached bio page", "zipf": "Zipf mix", "redis": "first tier off"}[c.key]
		floor, floorName, min := c.hard, "hardened floor", 0.0
		switch c.key {
		case "hot-go", "hot-id":
			min = hotMinRatio
		case "bio":
			min = bioMinRatio
		case "zipf":
			min = zipfMinRatio
		case "redis":
			floor, floorName, min = c.bare, "bare floor", redisMinRatio
		}
		rr := ratio(c.svc, floor, rpsOf)
		out = append(out, target{
			name: label + " throughput", want: fmt.Sprintf("≥ %.2f× the %s", min, floorName),
			got: fmt.Sprintf("%.3f× (%s vs %s req/s)", rr, count(int(c.svc.rps())), count(int(floor.rps()))), pass: rr >= min,
		})
		if c.key == "hot-go" || c.key == "hot-id" {
			cr := ratio(c.svc, c.hard, cpuOf)
			out = append(out, target{
				name: label + " service CPU per request", want: fmt.Sprintf("≤ %.2f× the hardened floor's", hotMaxCPU),
				got: fmt.Sprintf("%.3f× (%.1f vs %.1f µs)", cr, c.svc.cpuPerReq(), c.hard.cpuPerReq()), pass: cr <= hotMaxCPU,
			})
		}
		if c.key == "bio" {
			continue // issue 19 asks throughput alone of a page that does more than a redirect
		}
		pr := ratio(c.svc, floor, p99Of)
		out = append(out, target{
			name: label + " p99", want: fmt.Sprintf("≤ %.1f× the %s's", maxP99Ratio, floorName),
			got: fmt.Sprintf("%.3f× (%s vs %s)", pr, dur(us(c.svc.p99())), dur(us(floor.p99()))), pass: pr <= maxP99Ratio,
		})
	}
	if len(cs) > 0 {
		slices, saturated, worst := 0, 0, 0.0
		for _, c := range cs {
			for _, s := range []side{c.bare, c.hard, c.svc, c.peer} {
				slices += len(s)
				saturated += s.saturated()
				worst = max(worst, s.maxGenShare())
			}
		}
		out = append(out, target{
			name: "generator not the bottleneck", want: fmt.Sprintf("wrk < %.0f%% of its core in every slice", 100*genSaturated),
			got: fmt.Sprintf("%d of %d slices at or over it; the busiest %.0f%%", saturated, slices, 100*worst), pass: saturated == 0,
		})
	}
	return out
}

// comparisonTable renders the compared scenarios and their floors.
func comparisonTable(b *strings.Builder, cs []*comparison) {
	b.WriteString("| scenario | requests/s | × hardened floor | × bare floor | p50 | p99 | p99 × hardened | service CPU µs/request | CPU × hardened | generator CPU (max) | errors |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range cs {
		for _, x := range []struct {
			name string
			s    side
		}{{c.name, c.svc}, {"  bare floor, its rounds", c.bare}, {"  hardened floor, its rounds", c.hard}, {"  " + peerName + ", its rounds", c.peer}} {
			if len(x.s) == 0 {
				continue // no peer
			}
			gen := fmt.Sprintf("%.0f%% (%.0f%%)", 100*x.s.genShare(), 100*x.s.maxGenShare())
			if n := x.s.saturated(); n > 0 {
				gen += fmt.Sprintf(" **saturated in %d**", n)
			}
			fmt.Fprintf(b, "| %s | %s | %.2f | %.2f | %s | %s | %.2f | %.1f | %.2f | %s | %s |\n",
				x.name, count(int(math.Round(x.s.rps()))), ratio(x.s, c.hard, rpsOf), ratio(x.s, c.bare, rpsOf),
				dur(us(x.s.p50())), dur(us(x.s.p99())), ratio(x.s, c.hard, p99Of), x.s.cpuPerReq(), ratio(x.s, c.hard, cpuOf), gen, count(x.s.errors()))
		}
	}
	b.WriteString("\n")
}

// markdown renders the report.
func (r *report) markdown() string {
	var b strings.Builder
	o := r.opts
	fmt.Fprintf(&b, "# Load test results\n\n")
	fmt.Fprintf(&b, "%s, %d CPUs (%s), %s, %s/%s.\n\n", r.date.Format("2006-01-02 15:04 MST"), runtime.NumCPU(), cpuModel(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(&b, "Load average (1, 5, 15 min) at the start: %s; at the end: %s. Other work on the machine shows up as noise here.\n\n", r.loadavg[0], r.loadavg[1])
	fmt.Fprintf(&b, "Reproduce: `%s`", command())
	fmt.Fprintf(&b, " (from the repository's root; `make bench` runs the defaults after the Go micro-benchmarks).\n\n")
	slice := max((o.duration / time.Duration(o.rounds)).Round(time.Second), time.Second)
	fmt.Fprintf(&b, "The generator of the throughput scenarios, (a) to (e), is `wrk -t1 -c%d --latency` (C, one thread, so at most one core; Lua scripts for the browser User-Agent, "+
		"the Zipf mix and the cold mix, in bench/cmd/loadtest/lua). The service, its Redis, the fake platform and two floors share the machine's CPUs with it: "+
		"the **bare floor**, a `net/http` server answering every request with a constant 302 (bench/cmd/baseline), and the **hardened floor**, the same with the service's "+
		"server limits (`-hardened`: ReadHeaderTimeout 5s, ReadTimeout 10s, WriteTimeout 14s, IdleTimeout 120s, MaxHeaderBytes 16 KiB, the values of cmd/redirector/serve.go). "+
		"Each of (a) to (d) runs %d rounds, each a %v wrk run against the bare floor, then the hardened floor, then the service, after a %v unmeasured warm-up of each; "+
		"the floors are sent the scenario's own requests. Figures are medians over the rounds; ratios are medians of each round's ratio. "+
		"Service CPU per request is the server's utime+stime (/proc/<pid>/stat) over the run, divided by the requests wrk completed; "+
		"generator CPU is wrk's own utime+stime over its wall time (100%% = its one core; a slice at %.0f%% or more is flagged). "+
		"The floods and the soak still use vegeta (as a library, in the harness's process). "+
		"The fake platform answers after %v; BATCH_SIZE=%d, BATCH_WINDOW=%v, CACHE_SIZE=%s unless said.\n\n",
		o.workers, o.rounds, slice, o.warmup, 100*genSaturated, o.latency, o.batch, o.batchWindow, count(o.tier1))
	if len(r.comparisons) > 0 {
		comparisonTable(&b, r.comparisons)
	}
	if o.peer != "" {
		b.WriteString("With `-peer`, each round of (d) ends with a slice of the peer, noquark/wormholes at ca5752c, sent the same Zipf draw as `/{id}` " +
			"(its links seeded in the same Redis as hashes; its click events go to a PostgreSQL database of the run's own, plain tables): see the notes.\n\n")
	}
	if len(o.serviceEnv) > 0 || o.redisQuery != "" {
		fmt.Fprintf(&b, "Settings of the service measured here, over the defaults: %s.\n\n", strings.Join(settingsShown(o), ", "))
	}

	if len(r.rows) > 0 || len(r.baselines) > 0 {
		r.vegetaTable(&b)
	}
	r.notesAndTargets(&b)
	return b.String()
}

// vegetaTable renders the scenarios that are not compared with the floors.
func (r *report) vegetaTable(b *strings.Builder) {
	b.WriteString("| scenario | requests/s | × baseline | p50 | p99 | p99.9 | errors | platform calls | RSS |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	// The scenarios' names start with their letters, (a) to (f); they run in another order.
	rows := slices.Clone(r.rows)
	slices.SortStableFunc(rows, func(x, y row) int { return strings.Compare(x.name, y.name) })
	if base := r.baseline(); base != nil {
		rows = append([]row{*base}, rows...)
	}
	for i := range rows {
		x := &rows[i]
		ratio := "1.00"
		if x.key != "" {
			ratio = fmt.Sprintf("%.2f", r.ratio(x))
			if math.IsNaN(r.ratio(x)) {
				ratio = "—"
			}
		}
		if x.fixedRate {
			ratio = "(paced)"
		}
		calls := "—"
		if x.calls >= 0 {
			calls = count(x.calls)
		}
		errs := count(x.m.errors)
		if x.m.errors > 0 {
			errs += " (" + strings.Join(x.m.errSample, "; ") + ")"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", x.name, count(int(math.Round(x.m.rps()))), ratio,
			dur(x.m.quantile(0.5)), dur(x.m.quantile(0.99)), dur(x.m.quantile(0.999)), errs, calls, mb(x.rss))
	}
	b.WriteString("\n")
}

// notesAndTargets renders the notes under the tables and the targets.
func (r *report) notesAndTargets(b *strings.Builder) {
	o := r.opts
	if len(r.floods) > 0 {
		fmt.Fprintf(b, "- The floods, (g) to (i), run in %d rounds, each a %v slice of every flood in turn (the first after the %v warm-up, the others after %v); "+
			"in each, a hostile client sends its requests over %d connections while the measured client drives cached `/go` over %d, as in (a). "+
			"Their rows are the measured client's; a flood's target compares it with the same client beside (g).\n",
			o.rounds, o.duration/time.Duration(o.rounds), o.warmup, settle, floodConns, o.workers)
	}
	for _, n := range r.notes {
		fmt.Fprintf(b, "- %s\n", n)
	}
	if s := r.soak; s != nil {
		fmt.Fprintf(b, "- (f) soak, %d samples from %v to %v (after the warm-up; start and end are medians of the first and last %d samples): RSS %s → %s (%+.1f%%, max %s); goroutines %.0f → %.0f (%+.1f%%, max %.0f)\n",
			s.samples, s.first.Round(time.Second), s.last.Round(time.Second), soakEnds(s.samples), mb(int64(s.rssStart)), mb(int64(s.rssEnd)), 100*s.rssChange, mb(int64(s.rssMax)),
			s.gorStart, s.gorEnd, 100*s.gorChange, s.gorMax)
		var series []string
		for _, x := range s.series {
			series = append(series, fmt.Sprintf("%v %.1f/%.0f", x.at.Round(time.Second), float64(x.rss)/1e6, x.goroutines))
		}
		fmt.Fprintf(b, "- (f) soak samples (time: RSS MB/goroutines): %s\n", strings.Join(series, ", "))
	}
	for _, m := range r.million {
		live := "not known (the memory limit sets the heap goal)"
		if m.liveHeap >= 0 {
			live = fmt.Sprintf("≈ %s (%.0f bytes per entry)", mb(m.liveHeap), float64(m.liveHeap-m.idleLive)/float64(m.entries))
		}
		fmt.Fprintf(b, "- 1,000,000 first-tier entries, %s (CACHE_SIZE=1000000; Redis pre-filled, then one `/go` per product at %.0f req/s, %d errors): "+
			"RSS %s idle before the fill, %s right after it, %s 15 s later (peak VmHWM %s); Go heap in use %s, live heap at the last collection %s, %s heap objects; "+
			"the first tier answered %.1f%% of a %s-product probe afterwards\n",
			gcSetting(m.memLimit), m.fillRPS, m.fillErrors, mb(m.idle), mb(m.full), mb(m.settled), mb(m.hwm), mb(m.heapInuse), live,
			count(int(m.objects)), 100*m.probeTier1, count(m.probe))
	}
	for _, w := range r.warnings {
		fmt.Fprintf(b, "- **warning:** %s\n", w)
	}
	if len(r.targets) > 0 {
		b.WriteString("\n## Targets (issues #6, #13, #19 and #20)\n\n| target | wanted | measured | |\n|---|---|---|---|\n")
		for _, t := range r.targets {
			verdict := "MISS"
			if t.pass {
				verdict = "PASS"
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s |\n", t.name, t.want, t.got, verdict)
		}
	}
	if len(r.profiles) > 0 {
		fmt.Fprintf(b, "\n## Where the service's CPU goes (-pprof)\n\n"+
			"Go CPU profiles of the service over each scenario's measured slices, merged (`go tool pprof -top -cum`, the first %d functions; "+
			"the profiles and both listings in full are in %s). A miss above is read here.\n", profileTopLines, profilesDir)
		for _, p := range r.profiles {
			fmt.Fprintf(b, "\n%s:\n\n```\n%s\n```\n", p.scenario, p.top)
		}
	}
}

// profileTop is one scenario's merged CPU profile, as the report shows it.
type profileTop struct {
	scenario, top string
}

// command is the command line that reproduces this run.
func command() string {
	args := []string{"go run ./bench/cmd/loadtest"}
	for _, a := range os.Args[1:] {
		if a == "" || strings.ContainsAny(a, " \t'\"$`\\*?;&|<>()") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		args = append(args, a)
	}
	return strings.Join(args, " ")
}

// cpuModel returns the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// dur formats a latency with three significant digits or so.
func dur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// mb formats bytes in decimal megabytes.
func mb(n int64) string {
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}

// count formats n with thousands separators.
func count(n int) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// gcSetting names a memory measurement's Go collector setting.
func gcSetting(memLimit string) string {
	switch memLimit {
	case "":
		return "the service's defaults (its own memory limit, sized by CACHE_SIZE)"
	case millionNoLimit:
		return "GOMEMLIMIT=off (Go's collector alone)"
	}
	return "GOMEMLIMIT=" + memLimit
}

// settingsShown lists -service-env and -redis-query for the report.
func settingsShown(o options) []string {
	var shown []string
	for _, kv := range o.serviceEnv {
		shown = append(shown, "`"+kv+"`")
	}
	if o.redisQuery != "" {
		shown = append(shown, "REDIS_URL query `"+o.redisQuery+"`")
	}
	return shown
}
