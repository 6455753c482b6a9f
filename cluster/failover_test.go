//go:build cluster

package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Failover test timeline: traffic for trafficFor, the master killed killAfter into it.
const (
	trafficFor = 15 * time.Second
	killAfter  = 3 * time.Second
	// clickersPerReplica goroutines click /go and as many click /{id} on every replica, each
	// pausing clickPause between requests: steady traffic that leaves Redis CPU to fail over.
	clickersPerReplica = 1
	clickPause         = 2 * time.Millisecond
)

// TestClusterFailover kills (SIGKILL) the Redis master that owns the invalidation channel's slot
// and a share of the records while three replicas serve steady traffic, and checks that every
// redirect still lands on AliExpress (no 5xx, no transport error), that Redis promotes the
// replica, and that no record created before the kill is lost. The replicas keep entries in their
// first tiers for only a second, so the traffic keeps asking Redis, the dying master included.
func TestClusterFailover(t *testing.T) {
	rc := startRedisCluster(t)
	p, api := fakePlatform(t)
	rs := startReplicas(t, 3, serviceEnv(p, api, rc, "RECORD_CACHE_TTL=1s", "CACHE_TTL=1s"))
	waitSubscribed(t, rc, len(rs))
	victim, heir := rc.owner(t, busChannel)
	if heir == nil {
		t.Fatalf("master %s owning %s has no replica", victim.addr, busChannel)
	}

	// Records spread over the three masters; at least a few on the one that will die.
	type rec struct{ id, page, tagged string }
	var recs []rec
	var onVictim []string // their record keys
	for i := 0; i < 24 || len(onVictim) < 4; i++ {
		if i == 200 {
			t.Fatalf("only %d of 200 records landed on master %s", len(onVictim), victim.addr)
		}
		page, tagged := product(100 + i)
		id := rs[i%len(rs)].create(t, page, fmt.Sprintf("kept-%03d", i))
		recs = append(recs, rec{id, page, tagged})
		key := "rd:v1:{" + id + "}:rec" // internal/store/records.go
		if m, _ := rc.owner(t, key); m == victim {
			onVictim = append(onVictim, key)
		}
	}
	t.Logf("%d records, %d of them on master %s (replica %s), which will be killed", len(recs), len(onVictim), victim.addr, heir.addr)
	// Replication is asynchronous: a write acknowledged in the instant before its master dies can
	// be lost with it. The records were written moments ago; make sure the replica has them.
	waitReplicated(t, rc, heir, onVictim)

	// Products whose cached links live on the master that will die, and as many elsewhere.
	var gos []string
	onDying, elsewhere := 0, 0
	for i := 0; onDying < 3 || elsewhere < 3; i++ {
		if i == 200 {
			t.Fatalf("only %d of 200 product links landed on master %s", onDying, victim.addr)
		}
		page, tagged := product(300 + i)
		if m, _ := rc.owner(t, "rd:v1:link:"+page); m == victim { // internal/cache/links.go
			if onDying == 3 {
				continue
			}
			onDying++
		} else {
			if elsewhere == 3 {
				continue
			}
			elsewhere++
		}
		path := "/go?u=" + url.QueryEscape(page)
		gos = append(gos, path)
		for _, r := range rs { // warm: the link is in Redis and in each replica's first tier
			if rep := r.must(t, http.MethodGet, path, ""); rep.status != http.StatusFound || rep.location != tagged {
				t.Fatalf("%s: GET %s = %d %q, want 302 %q", r.name, path, rep.status, rep.location, tagged)
			}
		}
	}
	for _, x := range recs {
		for _, r := range rs {
			if rep := r.must(t, http.MethodGet, "/"+x.id, ""); rep.status != http.StatusFound || rep.location != x.tagged {
				t.Fatalf("%s: GET /%s = %d %q, want 302 %q", r.name, x.id, rep.status, rep.location, x.tagged)
			}
		}
	}

	var tally trafficTally
	ctx, cancel := context.WithTimeout(context.Background(), trafficFor)
	defer cancel()
	var wg sync.WaitGroup
	for _, r := range rs {
		for w := range clickersPerReplica {
			wg.Go(func() { tally.click(ctx, r, gos, w) })
			ids := make([]string, len(recs))
			for i, x := range recs {
				ids[i] = "/" + x.id
			}
			wg.Go(func() { tally.click(ctx, r, ids, w) })
		}
	}

	time.Sleep(killAfter)
	killed := time.Now()
	victim.kill()
	t.Logf("killed master %s (SIGKILL) at %v of traffic", victim.addr, killAfter)
	var promoted time.Duration
	for promoted == 0 && ctx.Err() == nil {
		if rc.role(heir) == "master" {
			promoted = time.Since(killed)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	wg.Wait()
	if promoted == 0 {
		t.Fatalf("replica %s not promoted within %v of the kill", heir.addr, time.Since(killed))
	}
	t.Logf("replica %s promoted %v after the kill (cluster-node-timeout %v)", heir.addr, promoted.Round(time.Millisecond), nodeTimeout)

	t.Logf("traffic: %d requests in %v over %d replicas: %d redirects to AliExpress, %d other answers, %d transport errors",
		tally.total.Load(), trafficFor, len(rs), tally.landed.Load(), tally.wrong.Load(), tally.failed.Load())
	if tally.total.Load() == 0 || tally.landed.Load() != tally.total.Load() {
		t.Errorf("not every redirect landed on AliExpress; first failures:\n%s", strings.Join(tally.samples(), "\n"))
	}
	// The traffic did reach the dead master: its link lookups failed (and went to the platform).
	var redisErrors float64
	for _, r := range rs {
		redisErrors += r.metric(t, "redirector_redis_errors_total")
	}
	t.Logf("link-cache Redis errors during the traffic, all replicas: %.0f", redisErrors)
	if redisErrors == 0 {
		t.Errorf("redirector_redis_errors_total = 0 on every replica: the traffic never asked the dead master, so this test proved nothing")
	}

	var live []*redisNode
	for _, n := range rc.nodes {
		if n.alive() {
			live = append(live, n)
		}
	}
	rc.waitHealthy(t, live, 20*time.Second)

	// No record is lost: each is served by the API of every replica. Right after a failover a
	// replica's client may still be learning the new topology; it answers 503 until it has.
	deadline := time.Now().Add(10 * time.Second)
	retries := 0
	for _, x := range recs {
		for _, r := range rs {
			for {
				rep := r.must(t, http.MethodGet, "/api/links/"+x.id, "")
				if rep.status == http.StatusOK {
					var got linkJSON
					if err := json.Unmarshal([]byte(rep.body), &got); err != nil || got.Target != x.page {
						t.Errorf("%s: GET /api/links/%s = %s (%v), want target %s", r.name, x.id, rep.body, err, x.page)
					}
					break
				}
				if rep.status == http.StatusNotFound {
					t.Fatalf("%s: GET /api/links/%s after the failover = 404, want 200: record lost", r.name, x.id)
				}
				if time.Now().After(deadline) {
					// A dead master answers neither MOVED nor anything else: a cluster client
					// learns of its replica's promotion only when it reloads the slot map.
					t.Fatalf("%s: GET /api/links/%s = %d %s 10s after the cluster healed, want 200: the replica's Redis client has not learned the new topology (how often does it reload the cluster's slot map?)",
						r.name, x.id, rep.status, rep.body)
				}
				retries++
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	t.Logf("all %d records readable through every replica after the failover (%d retries while clients caught up)", len(recs), retries)

	// The replicas subscribed again to the channel's new master, so invalidations flow again.
	start := time.Now()
	waitSubscribed(t, rc, len(rs))
	t.Logf("invalidation bus: %d subscribers on the new master %s (%v after the checks above)", len(rs), heir.addr, time.Since(start).Round(time.Millisecond))
}

// waitReplicated waits until replica holds every one of keys.
func waitReplicated(t *testing.T, rc *redisCluster, replica *redisNode, keys []string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		// READONLY lets a replica answer reads of its master's slots on this connection.
		// One EXISTS a key: the keys sit in different slots.
		in := "READONLY\n"
		for _, k := range keys {
			in += "EXISTS " + k + "\n"
		}
		out, err := rc.doInput(replica, in)
		if err == nil && strings.Count(out, "\n1") == len(keys) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s: EXISTS of %d records = %q (%v) after 10s", replica.addr, len(keys), out, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// trafficTally counts the answers of the failover test's traffic. Safe for concurrent use.
type trafficTally struct {
	total, landed, wrong, failed atomic.Int64

	mu    sync.Mutex // guards first
	first []string   // the first few failures
}

// click requests paths from r in turn, starting at offset, until ctx ends, and tallies each answer:
// it lands when it is a 302 to an AliExpress page or affiliate link.
func (tt *trafficTally) click(ctx context.Context, r *replica, paths []string, offset int) {
	for i := offset; ctx.Err() == nil; i++ {
		path := paths[i%len(paths)]
		// Each request has its own deadline, not ctx's: a request cut off at the traffic's end
		// is not a failure of the service.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		rep, err := r.send(rctx, http.MethodGet, path, "")
		cancel()
		tt.total.Add(1)
		switch {
		case err != nil:
			tt.failed.Add(1)
			tt.note(fmt.Sprintf("%s: GET %s: %v", r.name, path, err))
		case rep.status == http.StatusFound && landsOnAliExpress(rep.location):
			tt.landed.Add(1)
		default:
			tt.wrong.Add(1)
			tt.note(fmt.Sprintf("%s: GET %s = %d %q %.200s", r.name, path, rep.status, rep.location, rep.body))
		}
		time.Sleep(clickPause)
	}
}

// note keeps a failure if it is among the first ten.
func (tt *trafficTally) note(s string) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	if len(tt.first) < 10 {
		tt.first = append(tt.first, time.Now().Format("15:04:05.000")+" "+s)
	}
}

// samples returns the first failures noted.
func (tt *trafficTally) samples() []string {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	return append([]string(nil), tt.first...)
}
