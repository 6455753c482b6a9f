//go:build cluster

package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// propagationBound is how soon a change made through one replica must be served by the others.
// Without the invalidation bus they would serve their first-tier copy for RECORD_CACHE_TTL (30s).
const propagationBound = time.Second

// pollEvery is how often a replica is asked whether it serves the change yet.
const pollEvery = 20 * time.Millisecond

// TestClusterReplicas runs three replicas over a six-node Redis Cluster and checks that what is
// done through one is served by the others: new links, retargets and deletions (within a second,
// although each replica keeps records for 30s in its first tier), and that clicks add up.
func TestClusterReplicas(t *testing.T) {
	rc := startRedisCluster(t)
	p, api := fakePlatform(t)
	rs := startReplicas(t, 3, serviceEnv(p, api, rc))
	waitSubscribed(t, rc, len(rs))

	var mu sync.Mutex // guards seen
	seen := map[string][]time.Duration{}
	record := func(kind string, d []time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		for _, x := range d {
			if x >= 0 { // -1: never seen
				seen[kind] = append(seen[kind], x)
			}
		}
	}

	t.Run("created on one resolves on all", func(t *testing.T) {
		for i, creator := range rs {
			page, tagged := product(i + 1)
			id := creator.create(t, page, "made-on-"+creator.name)
			for _, r := range rs {
				rep := r.must(t, http.MethodHead, "/"+id, "")
				if rep.status != http.StatusFound || rep.location != tagged {
					t.Errorf("%s: HEAD /%s (created on %s) = %d %q, want 302 %q", r.name, id, creator.name, rep.status, rep.location, tagged)
				}
			}
		}
		// A replica that has just answered 404 for an id remembers that for 30s; creating the
		// link elsewhere must reach it anyway.
		page, tagged := product(10)
		for _, r := range rs[1:] {
			if rep := r.must(t, http.MethodHead, "/not-yet", ""); rep.status != http.StatusNotFound {
				t.Fatalf("%s: HEAD /not-yet before it exists = %d, want 404", r.name, rep.status)
			}
		}
		start := time.Now()
		rs[0].create(t, page, "not-yet")
		took := awaitServed(t, start, rs[1:], "/not-yet", func(rep reply) bool {
			return rep.status == http.StatusFound && rep.location == tagged
		})
		record("create", took)
	})

	t.Run("retarget reaches all within a second", func(t *testing.T) {
		oldPage, oldTagged := product(20)
		id := rs[0].create(t, oldPage, "retargeted")
		for round := range 6 {
			writer := rs[round%len(rs)]
			readers := others(rs, writer)
			for _, r := range readers { // each holds the current target in its first tier
				if rep := r.must(t, http.MethodHead, "/"+id, ""); rep.location != oldTagged {
					t.Fatalf("round %d: %s: HEAD /%s = %d %q before the change, want 302 %q", round, r.name, id, rep.status, rep.location, oldTagged)
				}
			}
			newPage, newTagged := product(21 + round)
			body, _ := json.Marshal(map[string]string{"url": newPage})
			start := time.Now()
			if rep := writer.must(t, http.MethodPatch, "/api/links/"+id, string(body)); rep.status != http.StatusOK {
				t.Fatalf("round %d: %s: PATCH /api/links/%s = %d %s, want 200", round, writer.name, id, rep.status, rep.body)
			}
			took := awaitServed(t, start, readers, "/"+id, func(rep reply) bool {
				return rep.status == http.StatusFound && (rep.location == newTagged || rep.location == newPage)
			})
			record("retarget", took)
			oldTagged = newTagged
		}
	})

	t.Run("delete reaches all within a second", func(t *testing.T) {
		for round := range 3 {
			writer := rs[round%len(rs)]
			readers := others(rs, writer)
			page, tagged := product(40 + round)
			id := writer.create(t, page, fmt.Sprintf("deleted-%d", round))
			for _, r := range readers {
				if rep := r.must(t, http.MethodHead, "/"+id, ""); rep.location != tagged {
					t.Fatalf("%s: HEAD /%s = %d %q before the deletion, want 302 %q", r.name, id, rep.status, rep.location, tagged)
				}
			}
			start := time.Now()
			if rep := writer.must(t, http.MethodDelete, "/api/links/"+id, ""); rep.status != http.StatusNoContent {
				t.Fatalf("%s: DELETE /api/links/%s = %d %s, want 204", writer.name, id, rep.status, rep.body)
			}
			took := awaitServed(t, start, readers, "/"+id, func(rep reply) bool { return rep.status == http.StatusNotFound })
			record("delete", took)
		}
	})

	t.Run("clicks on every replica add up", func(t *testing.T) {
		page, tagged := product(50)
		id := rs[1].create(t, page, "counted")
		perReplica := []int{7, 11, 13}
		want := int64(0)
		for i, r := range rs {
			for range perReplica[i] {
				if rep := r.must(t, http.MethodGet, "/"+id, ""); rep.status != http.StatusFound || rep.location != tagged {
					t.Fatalf("%s: GET /%s = %d %q, want 302 %q", r.name, id, rep.status, rep.location, tagged)
				}
			}
			want += int64(perReplica[i])
		}
		// CLICK_FLUSH is 200ms: every replica's count is written within a moment.
		deadline := time.Now().Add(5 * time.Second)
		for _, r := range rs {
			for {
				l, ok := r.link(t, id)
				if !ok {
					t.Fatalf("%s: GET /api/links/%s = 404", r.name, id)
				}
				if l.Clicks == want {
					break
				}
				if l.Clicks > want || time.Now().After(deadline) {
					t.Fatalf("%s: GET /api/links/%s clicks = %d, want %d (%v by replica)", r.name, id, l.Clicks, want, perReplica)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		time.Sleep(600 * time.Millisecond) // several flushes more: nothing is counted twice
		if l, _ := rs[0].link(t, id); l.Clicks != want {
			t.Errorf("%s: GET /api/links/%s clicks = %d a moment later, want still %d", rs[0].name, id, l.Clicks, want)
		}
		// The link's stats and those across links, read over the cluster's slots (each day's keys share one).
		for _, path := range []string{"/api/links/" + id + "/stats", "/api/stats"} {
			rep := rs[2].must(t, http.MethodGet, path, "")
			var st struct {
				Clicks   int64 `json:"clicks"`
				Visitors int64 `json:"visitors"`
			}
			if err := json.Unmarshal([]byte(rep.body), &st); err != nil || rep.status != http.StatusOK || st.Clicks < want || st.Visitors < 1 {
				t.Errorf("%s: GET %s = %d %s, want 200 with at least %d clicks and a visitor", rs[2].name, path, rep.status, rep.body, want)
			}
		}
	})

	for _, kind := range []string{"create", "retarget", "delete"} {
		if d := seen[kind]; len(d) > 0 {
			t.Logf("propagation of a %s, from the request sent to one replica until another serves it (%d observations, polled every %v): %s", kind, len(d), pollEvery, summarize(d))
		}
	}
}

// others returns the replicas of rs other than r.
func others(rs []*replica, r *replica) []*replica {
	var o []*replica
	for _, x := range rs {
		if x != r {
			o = append(o, x)
		}
	}
	return o
}

// awaitServed polls each replica of rs with HEAD path every pollEvery until done says its answer
// shows the change, and returns how long each took from start (when the change was sent), -1 for
// never. It fails the test if a replica took longer than propagationBound (it keeps polling up to
// 5s, to say how long it did take).
func awaitServed(t *testing.T, start time.Time, rs []*replica, path string, done func(reply) bool) []time.Duration {
	t.Helper()
	took := make([]time.Duration, len(rs))
	last := make([]string, len(rs))
	var wg sync.WaitGroup
	for i, r := range rs {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			for {
				rep, err := r.send(ctx, http.MethodHead, path, "")
				if err == nil && done(rep) {
					took[i] = time.Since(start)
					return
				}
				last[i] = fmt.Sprintf("%d %q (%v)", rep.status, rep.location, err)
				select {
				case <-ctx.Done():
					took[i] = -1
					return
				case <-time.After(pollEvery):
				}
			}
		})
	}
	wg.Wait()
	for i, r := range rs {
		switch {
		case took[i] < 0:
			t.Errorf("%s: HEAD %s did not show the change within 5s; last answer %s", r.name, path, last[i])
		case took[i] > propagationBound:
			t.Errorf("%s: HEAD %s showed the change after %v, want within %v", r.name, path, took[i], propagationBound)
		}
	}
	return took
}

// summarize gives the minimum, median and maximum of d.
func summarize(d []time.Duration) string {
	s := slices.Clone(d)
	slices.Sort(s)
	r := func(x time.Duration) string { return x.Round(100 * time.Microsecond).String() }
	return strings.Join([]string{"min " + r(s[0]), "median " + r(s[len(s)/2]), "max " + r(s[len(s)-1])}, ", ")
}
