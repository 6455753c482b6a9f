package chaos

import (
	"testing"
	"time"
)

// The short scenarios, a few seconds each, run by every `go test` (and so by `make test`). The
// long ones, under the chaos build tag, repeat them for longer under steady load.

// TestRedisKilled kills Redis with SIGKILL under load and starts it again on its append-only file.
// What must hold: every click, during the outage too, is answered with a complete 302 whose
// Location is an AliExpress http(s) URL for its page (no 5xx, no transport error); /readyz answers
// 503 while Redis is down and 200 once it is back; every record created before the kill is still
// there; the clicks made while Redis was down are written after it returns (the counts equal the
// clicks sent, less at most redirector_clicks_dropped_total, and never exceed them).
func TestRedisKilled(t *testing.T) {
	runRedisOutages(t, outagePlan{
		rounds: 1, up: 700 * time.Millisecond, down: 1500 * time.Millisecond,
		workers: 8, perSecond: 200, readyWithin: 5 * time.Second, settleClicksFor: 15 * time.Second,
	})
}

// TestRedisPaused makes Redis slow, not down (CLIENT PAUSE 2000 ALL, then DEBUG SLEEP 1) under
// load. What must hold: every click is a good 302 (no 5xx, no transport error), and promptly: the
// p99 latency of the clicks begun during each stall is at most UPSTREAM_TIMEOUT + 1s; no more
// clicks are lost than redirector_clicks_dropped_total reports, and none is counted twice.
func TestRedisPaused(t *testing.T) {
	runRedisStalls(t, stallPlan{rounds: 1, gap: 500 * time.Millisecond, workers: 8, perSecond: 200})
}

// TestPlatformFaults makes the platform slow (latency beyond UPSTREAM_TIMEOUT), fail (503, an
// HTML page, truncated JSON), rate-limit (ApiCallLimit) and answer empty, each under load, then
// recover. What must hold: every click is a good 302 (no 5xx, no transport error); during the
// fault new pages go untagged within UPSTREAM_TIMEOUT + 1s and cached pages stay tagged; failures
// open the circuit breaker (redirector_platform_breaker_open 1, redirector_platform_rejected_total
// rising, no call reaching the platform while open), slowness and "empty" do not; after recovery
// new pages are tagged again, and pages that failed are once NEGATIVE_TTL has passed.
func TestPlatformFaults(t *testing.T) {
	for _, fault := range platformFaults() {
		t.Run(fault.name, func(t *testing.T) {
			runPlatformFault(t, fault, faultPlan{rounds: 1, faultFor: time.Second, workers: 6, perSecond: 120})
		})
	}
}

// TestSIGTERMUnderLoad sends the service SIGTERM while requests are in flight. What must hold:
// every request sent before the signal gets a complete, good 302 (requests after the listener
// closed may be refused at the connection, never cut short); the process exits 0; the buffered
// click counts are written at shutdown: a process started afterwards on the same Redis shows the
// clicks sent, less at most the dropped count the stopping process logged.
func TestSIGTERMUnderLoad(t *testing.T) {
	runSIGTERM(t, termPlan{rounds: 1, loadFor: 1200 * time.Millisecond, workers: 16, perSecond: 300})
}

// TestDurability writes links and click counts through the service to a redis-server with an
// append-only file, and checks they are all there after Redis restarts: stopped and started, and
// killed with SIGKILL right after the last acknowledged write (appendfsync always); and with
// docker-compose.yml's own settings (appendfsync everysec), stopped and started.
func TestDurability(t *testing.T) {
	for _, tc := range durabilityCases() {
		t.Run(tc.name, func(t *testing.T) { runDurability(t, tc, 1) })
	}
}
