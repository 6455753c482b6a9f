package chaos

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
	"github.com/redirector/redirector/internal/redistest"
)

// outagePlan shapes a Redis outage scenario: rounds of up (Redis serving) then down (killed).
type outagePlan struct {
	rounds          int
	up, down        time.Duration
	workers         int
	perSecond       float64
	linksEachRound  int // links created while Redis is up between outages, which the next kill must not lose
	readyWithin     time.Duration
	settleClicksFor time.Duration
}

// runRedisOutages kills Redis (SIGKILL) under load and starts it again on its append-only file
// (fsync always), plan.rounds times. It checks that every click, during the outages too, is a
// good redirect; that /readyz answers 503 while Redis is down and 200 once it is back; that every
// record created before a kill is there afterwards; and that the clicks made while Redis was down
// are written once it is back: the counts are the clicks sent, less at most the dropped metric,
// never more.
func runRedisOutages(t *testing.T, plan outagePlan) {
	f := newFixture(t, redistest.Options{AppendOnly: true}, map[string]string{
		// Short first tiers, so that clicks do reach Redis and its failures, and stale entries
		// are what answers during the outage.
		"RECORD_CACHE_TTL": "300ms",
		"CACHE_TTL":        "1s",
	})
	s := f.start(t, nil)
	fresh := newFreshProducts()
	cat := makeCatalogue(t, s, fresh, 6, 3, 10)
	l := startLoad(s.base, cat.mixOf(fresh, 0.5, 0.3), plan.workers, plan.perSecond)
	defer l.stop()

	type window struct{ from, to time.Duration }
	var outages []window
	for round := range plan.rounds {
		time.Sleep(plan.up)
		f.redis.Kill()
		from := l.now()
		if !waitFor(plan.readyWithin, func() bool { return s.readyz() == http.StatusServiceUnavailable }) {
			t.Errorf("outage %d: /readyz did not answer 503 within %v of the kill", round, plan.readyWithin)
		}
		notReady := l.now() - from
		time.Sleep(plan.down - (l.now() - from))
		f.redis.StartAgain(t)
		restarted := l.now()
		if !waitFor(plan.readyWithin, func() bool { return s.readyz() == http.StatusOK }) {
			t.Fatalf("outage %d: /readyz did not answer 200 within %v of Redis's restart", round, plan.readyWithin)
		}
		outages = append(outages, window{from, l.now()})
		t.Logf("outage %d: /readyz 503 %v after the kill, 200 %v after the restart", round,
			notReady.Round(time.Millisecond), (l.now() - restarted).Round(time.Millisecond))
		for range plan.linksEachRound {
			cat.links = append(cat.links, s.createLink(t, fresh.page(), ""))
		}
	}
	time.Sleep(plan.up)
	samples := l.stop()

	all := requireGood(t, "all clicks", samples)
	var downClicks int
	for i, o := range outages {
		during := filter(samples, startedIn(o.from, o.to))
		requireGood(t, fmt.Sprintf("clicks during outage %d", i), during)
		downClicks += len(filter(during, ofKind(kindShort)))
		t.Logf("outage %d: %v down, %d clicks; p50/p99 latency: %s", i, (o.to - o.from).Round(time.Millisecond), len(during), latencies(during))
	}
	t.Logf("%d clicks in all (%d tagged), %d short-link clicks while Redis was down", all.n, all.tagged, downClicks)
	if downClicks == 0 {
		t.Errorf("no short-link click was sent while Redis was down: the scenario tested nothing")
	}

	for _, want := range cat.links {
		got, ok := s.link(t, want.ID)
		if !ok {
			t.Errorf("GET /api/links/%s = 404 after the kills, want the record created before", want.ID)
			continue
		}
		if got.Target != want.Target || !got.CreatedAt.Equal(want.CreatedAt) {
			t.Errorf("GET /api/links/%s = target %q created %v, want %q created %v", want.ID, got.Target, got.CreatedAt, want.Target, want.CreatedAt)
		}
	}
	sent := sentClicks(samples)
	dropped := s.waitClicksSettled(t, total(sent), plan.settleClicksFor)
	checkClicks(t, s, cat.ids(), sent, dropped)
}

// stallPlan shapes a slow-Redis scenario.
type stallPlan struct {
	rounds    int
	gap       time.Duration // load between stalls
	workers   int
	perSecond float64
}

// stallUpstream is the UPSTREAM_TIMEOUT of the stall scenario; p99 must stay within it plus a second.
const stallUpstream = time.Second

// runRedisStalls makes Redis slow, not down: CLIENT PAUSE 2000 ALL (every command waits two
// seconds), then DEBUG SLEEP 1 (the server does nothing for a second), plan.rounds times under
// load. It checks that every click is a good redirect, that the p99 latency of the clicks begun
// during each stall is at most UPSTREAM_TIMEOUT + 1s, and that no more clicks are lost than the
// dropped metric reports, and that none is counted twice although writes are sent again.
func runRedisStalls(t *testing.T, plan stallPlan) {
	f := newFixture(t, redistest.Options{Args: []string{"--enable-debug-command", "yes"}}, map[string]string{
		"RECORD_CACHE_TTL": "300ms",
		"CACHE_TTL":        "1s",
		"UPSTREAM_TIMEOUT": stallUpstream.String(),
	})
	s := f.start(t, nil)
	fresh := newFreshProducts()
	cat := makeCatalogue(t, s, fresh, 6, 3, 10)
	l := startLoad(s.base, cat.mixOf(fresh, 0.5, 0.3), plan.workers, plan.perSecond)
	defer l.stop()

	type stallSpec struct {
		name  string
		args  []string
		lasts time.Duration // beyond the command's own answer
	}
	stalls := []stallSpec{
		{"CLIENT PAUSE 2000 ALL", []string{"CLIENT", "PAUSE", "2000", "ALL"}, 2 * time.Second},
		{"DEBUG SLEEP 1", []string{"DEBUG", "SLEEP", "1"}, 0}, // answers when the sleep ends
	}
	type window struct {
		name     string
		from, to time.Duration
	}
	var windows []window
	for range plan.rounds {
		for _, st := range stalls {
			time.Sleep(plan.gap)
			from := l.now()
			if _, err := f.redis.Do(st.args...); err != nil {
				t.Fatalf("redis %s: %v", st.name, err)
			}
			time.Sleep(st.lasts)
			windows = append(windows, window{st.name, from, l.now()})
		}
	}
	time.Sleep(plan.gap)
	samples := l.stop()

	requireGood(t, "all clicks", samples)
	bound := stallUpstream + time.Second
	for _, w := range windows {
		during := filter(samples, startedIn(w.from, w.to))
		requireGood(t, w.name, during)
		p99 := percentile(during, 0.99)
		t.Logf("%s at %v: %d clicks, p50 %v, p99 %v, max %v", w.name, w.from.Round(time.Millisecond), len(during),
			percentile(during, 0.5), p99, percentile(during, 1))
		if p99 > bound {
			t.Errorf("%s: p99 latency of the clicks begun during the stall = %v, want at most UPSTREAM_TIMEOUT + 1s = %v", w.name, p99, bound)
		}
	}
	sent := sentClicks(samples)
	dropped := s.waitClicksSettled(t, total(sent), 20*time.Second)
	// A click write whose answer is lost while Redis stalls (the pipeline sits in the socket, the
	// client times out and sends it again, and the click counter retries it) lands more than once
	// when Redis wakes; the store applies each writer's batch once, so no click is counted twice.
	checkClicks(t, s, cat.ids(), sent, dropped)
}

// platformFault is one way the platform misbehaves.
type platformFault struct {
	name   string
	inject func(p *affiliatetest.Platform)
	// opensBreaker says the fault is a failure the circuit breaker counts (a call that outlives
	// UPSTREAM_TIMEOUT is one, counted when it does); "no link for this page" is not.
	opensBreaker bool
	// breakerWithin bounds how long the breaker may take to open.
	breakerWithin time.Duration
}

// platformFaults are the faults of the fake platform, each a failure mode the real one has shown.
func platformFaults() []platformFault {
	fail := func(f affiliatetest.Failure) func(*affiliatetest.Platform) {
		return func(p *affiliatetest.Platform) { p.FailAlways(f) }
	}
	return []platformFault{
		{name: "slow", inject: func(p *affiliatetest.Platform) { p.SetLatency(platformUpstream + 700*time.Millisecond) }, opensBreaker: true, breakerWithin: 5 * time.Second},
		{name: "5xx", inject: fail(affiliatetest.Fail5xx), opensBreaker: true, breakerWithin: 5 * time.Second},
		{name: "html", inject: fail(affiliatetest.FailHTML), opensBreaker: true, breakerWithin: 5 * time.Second},
		{name: "garbage", inject: fail(affiliatetest.FailGarbage), opensBreaker: true, breakerWithin: 5 * time.Second},
		{name: "rate limited", inject: fail(affiliatetest.FailRateLimit), opensBreaker: true, breakerWithin: 8 * time.Second},
		{name: "empty", inject: fail(affiliatetest.FailEmpty)},
	}
}

// Timings of the platform scenario.
const (
	platformUpstream    = 500 * time.Millisecond
	platformOpenFor     = time.Second
	platformNegativeTTL = time.Second
)

// faultPlan shapes a platform scenario.
type faultPlan struct {
	rounds    int           // fault then recovery, on one service
	faultFor  time.Duration // at least; longer if the breaker takes longer to open
	workers   int
	perSecond float64
}

// runPlatformFault makes the platform misbehave as fault under load, then recover, plan.rounds
// times. It checks that every click is a good redirect; that while the platform misbehaves, new
// pages go untagged within UPSTREAM_TIMEOUT + 1s and cached ones stay tagged; that a failure opens
// the circuit breaker (redirector_platform_breaker_open 1, redirector_platform_rejected_total
// rising, and no call reaching the platform while it is open); and that after recovery new pages
// are tagged again, pages that failed too once NEGATIVE_TTL has passed.
func runPlatformFault(t *testing.T, fault platformFault, plan faultPlan) {
	f := newFixture(t, redistest.Options{}, map[string]string{
		"UPSTREAM_TIMEOUT": platformUpstream.String(),
		"BREAKER_FAILURES": "3",
		"BREAKER_OPEN_FOR": platformOpenFor.String(),
		"NEGATIVE_TTL":     platformNegativeTTL.String(),
		"LINK_TTL":         "1h",
	})
	s := f.start(t, nil)
	p := f.platform
	fresh := newFreshProducts()
	cat := makeCatalogue(t, s, fresh, 3, 1, 8)
	l := startLoad(s.base, cat.mixOf(fresh, 0.2, 0.4), plan.workers, plan.perSecond)
	defer l.stop()

	type window struct{ fault, healed, recovered time.Duration }
	var windows []window
	var failedPages []string // new pages answered untagged during a fault
	for round := range plan.rounds {
		time.Sleep(300 * time.Millisecond)
		from := l.now()
		injected := time.Now()
		fault.inject(p)
		for range 3 {
			pg := fresh.page()
			x := click(t.Context(), s.client, s.base, goPage(kindNew, pg), l.t0)
			if x.problem() != "" || x.tagged() {
				t.Errorf("round %d: new page during %s: %s Location %q, want the page untagged", round, fault.name, x.problem(), x.location)
			}
			failedPages = append(failedPages, pg)
		}
		if fault.opensBreaker {
			checkBreakerOpens(t, s, p, injected, fault.breakerWithin)
		} else {
			time.Sleep(plan.faultFor / 2)
			if open := s.metric(t, "redirector_platform_breaker_open"); open != 0 {
				t.Errorf("round %d: redirector_platform_breaker_open = %v during %s, want 0 (not a failure)", round, open, fault.name)
			}
		}
		time.Sleep(plan.faultFor - (l.now() - from))
		healed := l.now()
		p.FailNext(affiliatetest.FailNone, 0)
		p.SetLatency(0)
		// Calls begun during the fault may still fail (a hang ends at the load's time-out): judge
		// recovery once none is under way.
		if !waitFor(15*time.Second, func() bool { return s.metric(t, "redirector_platform_in_flight") == 0 }) {
			t.Fatalf("round %d: platform calls still in flight 15s after recovery", round)
		}
		var last sample
		if !waitFor(platformOpenFor+5*time.Second, func() bool {
			last = click(t.Context(), s.client, s.base, goPage(kindNew, fresh.page()), l.t0)
			return last.tagged()
		}) {
			t.Fatalf("round %d: new pages still untagged %v after the platform recovered (last: %d %q)", round, platformOpenFor+5*time.Second, last.status, last.location)
		}
		windows = append(windows, window{from, healed, l.now()})
		if open := s.metric(t, "redirector_platform_breaker_open"); open != 0 {
			t.Errorf("round %d: redirector_platform_breaker_open = %v after recovery, want 0", round, open)
		}
	}
	// Pages that failed are asked for again once their negative answer has expired.
	time.Sleep(platformNegativeTTL + 100*time.Millisecond)
	after := l.now()
	for _, pg := range failedPages {
		x := click(t.Context(), s.client, s.base, goPage(kindNew, pg), l.t0)
		if x.problem() != "" || !x.tagged() {
			t.Errorf("%s, untagged during the fault, %v after recovery: %s Location %q, want its affiliate link", pg, platformNegativeTTL, x.problem(), x.location)
		}
	}
	time.Sleep(300 * time.Millisecond)
	samples := l.stop()

	requireGood(t, "all clicks", samples)
	bound := platformUpstream + time.Second
	for i, w := range windows {
		// A click begun just before the platform healed may be answered by it: leave those out.
		during := filter(samples, startedIn(w.fault, w.healed-100*time.Millisecond))
		newPages := filter(during, ofKind(kindNew))
		known := filter(during, func(x sample) bool { return x.kind != kindNew })
		t.Logf("round %d (%s): %d clicks on new pages, p99 %v, max %v; %d on cached pages; recovered %v after healing",
			i, fault.name, len(newPages), percentile(newPages, 0.99), percentile(newPages, 1), len(known), (w.recovered - w.healed).Round(time.Millisecond))
		if len(newPages) == 0 {
			t.Errorf("round %d: no new page was clicked during the fault", i)
		}
		if max := percentile(newPages, 1); max > bound {
			t.Errorf("round %d: a click on a new page took %v during the fault, want at most UPSTREAM_TIMEOUT + 1s = %v", i, max, bound)
		}
		for _, x := range newPages {
			if x.tagged() {
				t.Errorf("round %d: new page %s tagged during %s, want untagged", i, x.canonical, fault.name)
				break
			}
		}
		for _, x := range known {
			if !x.tagged() {
				t.Errorf("round %d: %s (cached) went to %q during the fault, want its affiliate link", i, x.path, x.location)
				break
			}
		}
	}
	recovered := filter(samples, func(x sample) bool { return x.start >= after && x.kind == kindNew })
	if len(recovered) == 0 {
		t.Errorf("no new page was clicked after recovery")
	}
	for _, x := range recovered {
		if !x.tagged() {
			t.Errorf("after recovery: new page %s went to %q, want its affiliate link", x.canonical, x.location)
			break
		}
	}
}

// checkBreakerOpens waits for the circuit breaker to open and checks that, while it is open, the
// platform is not called and the rejected count rises.
func checkBreakerOpens(t *testing.T, s *service, p *affiliatetest.Platform, began time.Time, within time.Duration) {
	t.Helper()
	if !waitFor(within-time.Since(began), func() bool { return s.metric(t, "redirector_platform_breaker_open") == 1 }) {
		t.Errorf("redirector_platform_breaker_open did not become 1 within %v of the failures starting", within)
		return
	}
	opened := time.Since(began)
	time.Sleep(100 * time.Millisecond) // a call begun just before the breaker opened may still arrive
	calls0, rejected0 := p.Calls(), s.metric(t, "redirector_platform_rejected_total")
	time.Sleep(platformOpenFor / 3)
	calls1, rejected1 := p.Calls(), s.metric(t, "redirector_platform_rejected_total")
	if open := s.metric(t, "redirector_platform_breaker_open"); open != 1 {
		t.Errorf("redirector_platform_breaker_open = %v %v after it opened, want 1 (BREAKER_OPEN_FOR %v)", open, platformOpenFor/3, platformOpenFor)
	}
	if calls1 != calls0 {
		t.Errorf("platform calls rose from %d to %d while the breaker was open, want none", calls0, calls1)
	}
	if rejected1 <= rejected0 {
		t.Errorf("redirector_platform_rejected_total = %v then %v while the breaker was open, want it rising", rejected0, rejected1)
	}
	t.Logf("breaker seen open %v after the fault began (looked for after three new pages); while open: platform calls %d → %d, rejected %v → %v",
		opened.Round(time.Millisecond), calls0, calls1, rejected0, rejected1)
}

// termPlan shapes a SIGTERM scenario.
type termPlan struct {
	rounds    int // services started and stopped one after another on one Redis
	loadFor   time.Duration
	workers   int
	perSecond float64
}

// acceptMargin is how long before SIGTERM a request must have been sent to count as accepted by
// the server, whatever the scheduling.
const acceptMargin = 200 * time.Millisecond

// runSIGTERM sends the service SIGTERM under load, plan.rounds times (a new process each round, on
// the same Redis). It checks that no request in flight is dropped: every request sent before the
// signal (by acceptMargin) gets a complete, good redirect, and a request that got no answer was
// refused at the connection, never cut short; that the process exits 0; and that the buffered
// click counts (CLICK_FLUSH 1h: only the shutdown writes them) are all written: a process started
// afterwards shows the clicks sent, less at most the dropped count the stopping process logged.
func runSIGTERM(t *testing.T, plan termPlan) {
	f := newFixture(t, redistest.Options{AppendOnly: true}, map[string]string{
		"CLICK_FLUSH":      "1h",
		"UPSTREAM_TIMEOUT": "3s",
		"SHUTDOWN_TIMEOUT": "15s",
		"LOG_LEVEL":        "info", // for the "stopped" line and its clicks_dropped
	})
	fresh := newFreshProducts()
	s := f.start(t, nil)
	cat := makeCatalogue(t, s, fresh, 4, 2, 6)
	sent := make(map[string]int64)
	var dropped float64
	for round := range plan.rounds {
		if round > 0 {
			s = f.start(t, nil)
		}
		// New pages wait this long for the platform: at the signal, many requests are in flight.
		f.platform.SetLatency(600 * time.Millisecond)
		l := startLoad(s.base, cat.mixOf(fresh, 0.5, 0.2), plan.workers, plan.perSecond)
		time.Sleep(plan.loadFor)
		sig := l.now()
		code := s.terminate(t, 30*time.Second)
		time.Sleep(100 * time.Millisecond) // requests after the exit are refused
		samples := l.stop()
		f.platform.SetLatency(0)
		if code != 0 {
			t.Errorf("round %d: exit code after SIGTERM = %d, want 0", round, code)
		}

		var good, inFlight, refused int
		var problems []string
		for _, x := range samples {
			p := x.problem()
			switch {
			case p == "":
				good++
				if x.wrote >= 0 && x.wrote < sig && x.end > sig {
					inFlight++
				}
				continue
			case x.gotHeader:
				p = "answer cut short or wrong: " + p
			case x.start < sig-acceptMargin || (x.wrote >= 0 && x.wrote < sig-acceptMargin):
				p = fmt.Sprintf("sent %v before SIGTERM, no answer: %s", sig-max(x.start, x.wrote), p)
			default:
				refused++
				continue
			}
			if len(problems) < 10 {
				problems = append(problems, p)
			}
		}
		t.Logf("round %d: %d good answers, %d of them in flight at SIGTERM, %d refused after it", round, good, inFlight, refused)
		if len(problems) > 0 {
			t.Errorf("round %d: requests dropped at SIGTERM:\n  %s", round, strings.Join(problems, "\n  "))
		}
		if inFlight == 0 {
			t.Errorf("round %d: no request was in flight at SIGTERM: the drain was not tested", round)
		}
		for id, n := range sentClicks(samples) {
			sent[id] += n
		}
		dropped += stoppedDropped(t, s.logs.String())
	}
	s = f.start(t, nil)
	checkClicks(t, s, cat.ids(), sent, dropped)
}

// stoppedDropped reads clicks_dropped from the service's last log line, "stopped".
func stoppedDropped(t *testing.T, logs string) float64 {
	t.Helper()
	for line := range strings.Lines(logs) {
		var entry struct {
			Msg     string   `json:"msg"`
			Dropped *float64 `json:"clicks_dropped"`
		}
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "stopped" && entry.Dropped != nil {
			return *entry.Dropped
		}
	}
	t.Fatalf("the service logged no \"stopped\" line with clicks_dropped:\n%s", tail(logs, 4<<10))
	return 0
}

// durabilityCase is one way Redis is run and stopped.
type durabilityCase struct {
	name      string
	opts      func(t *testing.T) redistest.Options
	wantFsync string
	crash     func(s *redistest.Server)
	// settle is waited between the last write and the crash: 0 for fsync always; everysec loses up
	// to a second's writes to a kill -9, none to a clean stop.
	settle time.Duration
}

// durabilityCases are the fast part's cases.
func durabilityCases() []durabilityCase {
	always := func(*testing.T) redistest.Options { return redistest.Options{AppendOnly: true} }
	compose := func(t *testing.T) redistest.Options { return redistest.Options{Args: composeRedisArgs(t)} }
	return []durabilityCase{
		{name: "appendfsync always, stopped and started", opts: always, wantFsync: "always", crash: (*redistest.Server).Stop},
		{name: "appendfsync always, kill -9", opts: always, wantFsync: "always", crash: (*redistest.Server).Kill},
		{name: "docker-compose settings, stopped and started", opts: compose, wantFsync: "everysec", crash: (*redistest.Server).Stop},
	}
}

// runDurability writes links and clicks through the service to a redis-server run as tc says,
// stops or kills it right after the last write (after tc.settle), starts it again, and checks,
// through the same service, that every record and count is there. rounds repeats the crash.
func runDurability(t *testing.T, tc durabilityCase, rounds int) {
	f := newFixture(t, tc.opts(t), map[string]string{"CLICK_FLUSH": "100ms"})
	if got := redisConfig(t, f.redis.Addr, "appendonly"); got != "yes" {
		t.Fatalf("CONFIG GET appendonly = %q, want yes", got)
	}
	if got := redisConfig(t, f.redis.Addr, "appendfsync"); got != tc.wantFsync {
		t.Fatalf("CONFIG GET appendfsync = %q, want %q", got, tc.wantFsync)
	}
	s := f.start(t, nil)
	fresh := newFreshProducts()
	var links []linkRecord
	clicks := make(map[string]int64)
	for round := range rounds {
		batch := []linkRecord{
			s.createLink(t, fresh.page(), ""),
			s.createLink(t, fresh.page(), fmt.Sprintf("durable-%d-%d", round, time.Now().UnixNano()%1e9)),
			s.createLink(t, fmt.Sprintf("https://www.aliexpress.com/store/%d", 2_000_000+round), ""),
		}
		for _, rec := range batch {
			for range 3 {
				if x := click(t.Context(), s.client, s.base, shortPage(rec.ID, rec.Target), time.Now()); x.problem() != "" {
					t.Fatalf("click before the crash: %s", x.problem())
				}
				clicks[rec.ID]++
			}
		}
		links = append(links, batch...)
		s.waitClicksSettled(t, total(clicks), 10*time.Second)
		// The last write before the crash: acknowledged, then at once the crash.
		links = append(links, s.createLink(t, fresh.page(), ""))
		time.Sleep(tc.settle)
		tc.crash(f.redis)
		f.redis.StartAgain(t)
		if !waitFor(10*time.Second, func() bool { return s.readyz() == http.StatusOK }) {
			t.Fatalf("round %d: /readyz not 200 within 10s of Redis's restart", round)
		}
		for _, want := range links {
			got, ok := s.link(t, want.ID)
			switch {
			case !ok:
				t.Errorf("round %d: GET /api/links/%s = 404 after the restart, want the record", round, want.ID)
			case got.Target != want.Target || !got.CreatedAt.Equal(want.CreatedAt):
				t.Errorf("round %d: GET /api/links/%s = target %q created %v, want %q created %v", round, want.ID, got.Target, got.CreatedAt, want.Target, want.CreatedAt)
			case got.Clicks != clicks[want.ID]:
				t.Errorf("round %d: GET /api/links/%s clicks = %d, want %d", round, want.ID, got.Clicks, clicks[want.ID])
			}
		}
	}
}
