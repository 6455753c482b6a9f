package main

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
	"github.com/redirector/redirector/internal/redistest"
)

// replicaBound is how soon a change made through one replica must be served by another. Without
// the invalidation bus the other would serve its first-tier copy for RECORD_CACHE_TTL (30s).
const replicaBound = time.Second

// TestReplicasShareChanges runs two replicas (two calls of run) over one Redis and checks that a
// link created, retargeted or deleted through one is served so by the other within a second,
// although each keeps records in its first tier for 30s, and that clicks on both add up. The
// cluster suite (make cluster-test) does the same with three processes over a Redis Cluster.
func TestReplicasShareChanges(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	p, ps := affiliatetest.NewServer(affiliatetest.PlatformConfig{})
	t.Cleanup(ps.Close)
	environ := append(platformEnviron(p, ps.URL+"/sync"),
		"REDIS_URL="+rs.URL,
		"ADMIN_TOKEN="+e2eToken,
		"CLICK_FLUSH=100ms",
		// Every click counts, one visitor's too, so that what each replica writes adds up (one visitor
		// counted once across replicas is internal/redirect's TestReplicasCountsAddUp).
		"CLICK_DEDUP_WINDOW=0",
		"CLIENT_RATE=100000",
		"CLIENT_BURST=100000",
		"LOG_LEVEL=warn",
	)
	a := startRun(t, nil, environ)
	b := startRun(t, nil, environ)
	replicaWaitListeners(t, rs, 2)

	const (
		page1 = "https://www.aliexpress.com/item/1005007000000001.html"
		page2 = "https://www.aliexpress.com/item/1005007000000002.html"
	)
	tagged1, tagged2 := affiliatetest.Link(page1), affiliatetest.Link(page2)

	t.Run("created on A resolves on B", func(t *testing.T) {
		// B has just answered 404 and remembers it for 30s; the creation on A must reach it anyway.
		if r := b.do(t, http.MethodHead, "/shared", "", ""); r.status != http.StatusNotFound {
			t.Fatalf("B: HEAD /shared before it exists = %d, want 404", r.status)
		}
		start := time.Now()
		if r := a.do(t, http.MethodPost, "/api/links", `{"url":"`+page1+`","slug":"shared"}`, e2eToken); r.status != http.StatusCreated {
			t.Fatalf("A: POST /api/links = %d %s, want 201", r.status, r.body)
		}
		replicaAwait(t, b, start, "/shared", "302 to "+tagged1, func(r e2eReply) bool {
			return r.status == http.StatusFound && r.header.Get("Location") == tagged1
		})
	})

	t.Run("retarget on A reaches B", func(t *testing.T) {
		if r := b.do(t, http.MethodHead, "/shared", "", ""); r.header.Get("Location") != tagged1 {
			t.Fatalf("B: HEAD /shared = %d %q before the change, want 302 %q", r.status, r.header.Get("Location"), tagged1)
		}
		start := time.Now()
		if r := a.do(t, http.MethodPatch, "/api/links/shared", `{"url":"`+page2+`"}`, e2eToken); r.status != http.StatusOK {
			t.Fatalf("A: PATCH /api/links/shared = %d %s, want 200", r.status, r.body)
		}
		replicaAwait(t, b, start, "/shared", "302 to "+tagged2, func(r e2eReply) bool {
			return r.status == http.StatusFound && r.header.Get("Location") == tagged2
		})
	})

	t.Run("delete on A reaches B", func(t *testing.T) {
		if r := b.do(t, http.MethodHead, "/shared", "", ""); r.status != http.StatusFound {
			t.Fatalf("B: HEAD /shared = %d before the deletion, want 302", r.status)
		}
		start := time.Now()
		if r := a.do(t, http.MethodDelete, "/api/links/shared", "", e2eToken); r.status != http.StatusNoContent {
			t.Fatalf("A: DELETE /api/links/shared = %d %s, want 204", r.status, r.body)
		}
		replicaAwait(t, b, start, "/shared", "404", func(r e2eReply) bool { return r.status == http.StatusNotFound })
	})

	t.Run("clicks on A and B add up", func(t *testing.T) {
		if r := b.do(t, http.MethodPost, "/api/links", `{"url":"`+page1+`","slug":"counted"}`, e2eToken); r.status != http.StatusCreated {
			t.Fatalf("B: POST /api/links = %d %s, want 201", r.status, r.body)
		}
		const onA, onB = 4, 6
		for _, c := range []struct {
			name string
			s    *e2eService
			n    int
		}{{"A", a, onA}, {"B", b, onB}} {
			for range c.n {
				if r := c.s.do(t, http.MethodGet, "/counted", "", ""); r.status != http.StatusFound {
					t.Fatalf("%s: GET /counted = %d, want 302", c.name, r.status)
				}
			}
		}
		for _, c := range []struct {
			name string
			s    *e2eService
		}{{"A", a}, {"B", b}} {
			if got := replicaClicks(t, c.s, "counted", onA+onB); got != onA+onB {
				t.Errorf("%s: GET /api/links/counted clicks = %d, want %d (%d on A + %d on B)", c.name, got, onA+onB, onA, onB)
			}
		}
	})
}

// replicaWaitListeners waits until n processes listen for invalidations on rs, so that a change
// announced after it returns reaches every one of them.
func replicaWaitListeners(t *testing.T, rs *redistest.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		// The channel of internal/invalidate's Owner; PUBSUB NUMSUB inside a script gives a plain integer.
		got, err := rs.Do("EVAL", "return redis.call('PUBSUB','NUMSUB',KEYS[1])[2]", "1", "rd:v1:invalidate")
		if k, _ := strconv.Atoi(got); err == nil && k >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("PUBSUB NUMSUB rd:v1:invalidate = %q (%v) after 10s, want %d listeners", got, err, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// replicaAwait polls s with HEAD path every 20ms until done accepts the answer, and fails the
// test unless a request sent within replicaBound of start was so answered.
func replicaAwait(t *testing.T, s *e2eService, start time.Time, path, want string, done func(e2eReply) bool) {
	t.Helper()
	for {
		sent := time.Now()
		if sent.Sub(start) > replicaBound {
			t.Fatalf("HEAD %s not answered %s within %v of the change", path, want, replicaBound)
		}
		r := s.do(t, http.MethodHead, path, "", "")
		if done(r) {
			t.Logf("HEAD %s answered %s %v after the change was sent to the other replica", path, want, sent.Sub(start).Round(time.Millisecond))
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// replicaClicks polls GET /api/links/{id} on s until its clicks reach want (CLICK_FLUSH is short)
// or 5s pass, and returns the last count seen.
func replicaClicks(t *testing.T, s *e2eService, id string, want int64) int64 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := s.do(t, http.MethodGet, "/api/links/"+id, "", e2eToken)
		if r.status != http.StatusOK {
			t.Fatalf("GET /api/links/%s = %d %s, want 200", id, r.status, r.body)
		}
		var got struct{ Clicks int64 }
		if err := json.Unmarshal([]byte(r.body), &got); err != nil {
			t.Fatalf("GET /api/links/%s: body %s: %v", id, r.body, err)
		}
		if got.Clicks >= want || time.Now().After(deadline) {
			return got.Clicks
		}
		time.Sleep(20 * time.Millisecond)
	}
}
