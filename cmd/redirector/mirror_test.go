package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
	"github.com/redirector/redirector/internal/clocktest"
	"github.com/redirector/redirector/internal/redistest"
	"github.com/redirector/redirector/internal/shortid"
)

// mirrorEnviron is the configuration of a replica over rs for the mirror tests: clicks flushed
// often, and no per-client or platform budget in the way of a test's many clicks.
func mirrorEnviron(p *affiliatetest.Platform, apiURL string, rs *redistest.Server, extra ...string) []string {
	return append(append(platformEnviron(p, apiURL),
		"REDIS_URL="+rs.URL,
		"ADMIN_TOKEN="+e2eToken,
		"CLICK_FLUSH=100ms",
		"CLICK_DEDUP_WINDOW=0", // every click counts: the tests click from one visitor
		"CLIENT_RATE=100000",
		"CLIENT_BURST=100000",
		"PLATFORM_RATE=100000",
		"UPSTREAM_TIMEOUT=10s",
		"LOG_LEVEL=warn",
	), extra...)
}

// metric reads the value of the un-labelled metric name from s's /metrics (0 when absent).
func (s *e2eService) metric(t *testing.T, name string) float64 {
	t.Helper()
	r := s.do(t, http.MethodGet, "/metrics", "", "")
	if r.status != http.StatusOK {
		t.Fatalf("GET /metrics = %d", r.status)
	}
	sc := bufio.NewScanner(strings.NewReader(r.body))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s = %q: %v", name, v, err)
			}
			return f
		}
	}
	return 0
}

// waitMirrorSynced waits until a full copy of s's mirror has ended after since.
func waitMirrorSynced(t *testing.T, s *e2eService, since time.Time) {
	t.Helper()
	clocktest.WaitFor(t, "a full copy of the mirror", func() bool {
		return s.metric(t, "redirector_mirror_synced_timestamp_seconds") > float64(since.UnixNano())/1e9
	})
}

// waitCopyAfter waits until a full copy of s's mirror that began after since has ended: the one
// under way at since may have read a record before a change made just before since.
func waitCopyAfter(t *testing.T, s *e2eService, since time.Time) {
	t.Helper()
	waitMirrorSynced(t, s, since)
	first := s.metric(t, "redirector_mirror_synced_timestamp_seconds")
	clocktest.WaitFor(t, "a second full copy of the mirror", func() bool {
		return s.metric(t, "redirector_mirror_synced_timestamp_seconds") > first
	})
}

// waitRefreshedBy waits for the mirror of s to have read n more records again than before.
func waitRefreshedBy(t *testing.T, s *e2eService, before float64, n int) {
	t.Helper()
	clocktest.WaitFor(t, fmt.Sprintf("the mirror to read %d changed records", n), func() bool {
		return s.metric(t, "redirector_mirror_refreshed_total") >= before+float64(n)
	})
}

// waitRefreshed waits until s's mirror has read more changed records than before.
func waitRefreshed(t *testing.T, s *e2eService, before float64) {
	t.Helper()
	clocktest.WaitFor(t, "the mirror to read the change", func() bool {
		return s.metric(t, "redirector_mirror_refreshed_total") > before
	})
}

// TestMirrorKeepsDeletedProductCodeDead is issue 14's reported bug: delete a product-code link (404),
// restart, stop Redis (kill -STOP): the code answered 302 to its original product and the click was
// counted (as an unrecorded click). Now the restarted process answers from its mirror: 404, no click
// counted anywhere, during the outage and after it; a live slug still redirects, and a retargeted
// product code goes to its new target.
func TestMirrorKeepsDeletedProductCodeDead(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	p, ps := affiliatetest.NewServer(affiliatetest.PlatformConfig{})
	t.Cleanup(ps.Close)
	environ := mirrorEnviron(p, ps.URL+"/sync", rs, "DATA_DIR="+t.TempDir())
	const (
		deletedPage = "https://www.aliexpress.com/item/1005007000000101.html"
		movedPage   = "https://www.aliexpress.com/item/1005007000000102.html"
		newPage     = "https://www.aliexpress.com/item/1005007000000103.html"
		slugPage    = "https://www.aliexpress.com/item/1005007000000104.html"
	)
	deletedCode, _ := shortid.Product("1005007000000101")
	movedCode, _ := shortid.Product("1005007000000102")
	movedCodeURL := "/" + movedCode

	a := startRun(t, nil, environ)
	started := time.Now()
	waitMirrorSynced(t, a, started.Add(-time.Hour))
	// The mirror counts the records it read again, each id once per batch: the three creates make three.
	// Waiting for each step's own count keeps a late refresh of one step from passing for the next's.
	base := a.metric(t, "redirector_mirror_refreshed_total")
	ids := map[string]string{}
	for _, page := range []string{deletedPage, movedPage} {
		r := a.do(t, http.MethodPost, "/api/links", `{"url":"`+page+`"}`, e2eToken)
		var rec struct{ ID string }
		if err := json.Unmarshal([]byte(r.body), &rec); r.status != http.StatusCreated || err != nil {
			t.Fatalf("POST /api/links %s = %d %s, want 201", page, r.status, r.body)
		}
		ids[page] = rec.ID
	}
	if ids[deletedPage] != deletedCode || "/"+ids[movedPage] != movedCodeURL {
		t.Fatalf("product links got ids %v, want the product codes %s and %s", ids, deletedCode, movedCodeURL)
	}
	if r := a.do(t, http.MethodPost, "/api/links", `{"url":"`+slugPage+`","slug":"kept"}`, e2eToken); r.status != http.StatusCreated {
		t.Fatalf("POST /api/links slug = %d %s", r.status, r.body)
	}
	waitRefreshedBy(t, a, base, 3)
	refreshed := a.metric(t, "redirector_mirror_refreshed_total")
	if r := a.do(t, http.MethodDelete, "/api/links/"+deletedCode, "", e2eToken); r.status != http.StatusNoContent {
		t.Fatalf("DELETE = %d %s, want 204", r.status, r.body)
	}
	if r := a.do(t, http.MethodPatch, "/api/links"+movedCodeURL, `{"url":"`+newPage+`"}`, e2eToken); r.status != http.StatusOK {
		t.Fatalf("PATCH = %d %s, want 200", r.status, r.body)
	}
	if r := a.do(t, http.MethodGet, "/"+deletedCode, "", ""); r.status != http.StatusNotFound {
		t.Fatalf("GET /%s after DELETE = %d, want 404", deletedCode, r.status)
	}
	waitRefreshedBy(t, a, refreshed, 2) // the deleted and the moved code
	if err := a.stop(t); err != nil {
		t.Fatalf("stop: %v", err)
	}

	// Redis stops answering (kill -STOP), and the service is restarted: nothing in its first tier.
	rs.Freeze(t)
	b := startRun(t, nil, environ)
	t.Cleanup(func() { rs.Thaw(t) }) // before b stops, if the test fails first
	unrecorded := b.metric(t, "redirector_clicks_unrecorded_total")
	checks := []struct {
		path, want string // want "" is 404
	}{
		{"/" + deletedCode, ""},
		{movedCodeURL, newPage},
		{"/kept", slugPage},
	}
	for _, c := range checks {
		for range 3 {
			r := b.do(t, http.MethodGet, c.path, "", "")
			switch {
			case c.want == "" && r.status != http.StatusNotFound:
				t.Errorf("Redis stopped, after a restart: GET %s = %d Location %q, want 404", c.path, r.status, r.header.Get("Location"))
			case c.want != "" && (r.status != http.StatusFound || r.header.Get("Location") != affiliatetest.Link(c.want)):
				t.Errorf("Redis stopped, after a restart: GET %s = %d Location %q, want 302 to %q", c.path, r.status, r.header.Get("Location"), affiliatetest.Link(c.want))
			}
		}
	}
	if got := b.metric(t, "redirector_clicks_unrecorded_total"); got != unrecorded {
		t.Errorf("redirector_clicks_unrecorded_total went from %v to %v: a deleted code's click was counted", unrecorded, got)
	}
	if got := b.metric(t, "redirector_mirror_answers_total"); got < 9 {
		t.Errorf("redirector_mirror_answers_total = %v, want at least 9 (every lookup above)", got)
	}

	// Redis back: the clicks buffered meanwhile are written, none of them for the deleted code.
	rs.Thaw(t)
	clocktest.WaitFor(t, "the buffered clicks to be written", func() bool {
		return b.metric(t, "redirector_clicks_pending") == 0 && b.metric(t, "redirector_clicks_flushed_total") >= 6
	})
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer rdb.Close()
	for _, c := range []struct {
		id   string
		want int64
	}{{deletedCode, 0}, {movedCode, 3}, {"kept", 3}} {
		got, err := rdb.HGet(t.Context(), "rd:v1:{"+c.id+"}:n", "clicks").Int64()
		if errors.Is(err, redis.Nil) {
			got, err = 0, nil
		}
		if err != nil || got != c.want {
			t.Errorf("HGET rd:v1:{%s}:n clicks = %d, %v; want %d", c.id, got, err, c.want)
		}
	}
}

// TestMirrorServesReplicaRetarget checks that a retarget made on replica A reaches replica B's
// mirror through the invalidation bus: Redis stops answering 2 s after the retarget, and B, which
// never looked the link up (nothing in its first tier), sends it to the new target; a link deleted on
// A just as well stays 404 on B.
func TestMirrorServesReplicaRetarget(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	p, ps := affiliatetest.NewServer(affiliatetest.PlatformConfig{})
	t.Cleanup(ps.Close)
	environ := mirrorEnviron(p, ps.URL+"/sync", rs)
	a := startRun(t, nil, environ)
	b := startRun(t, nil, environ)
	replicaWaitListeners(t, rs, 2)
	const (
		page1 = "https://www.aliexpress.com/item/1005007000000201.html"
		page2 = "https://www.aliexpress.com/item/1005007000000202.html"
	)
	for _, slug := range []string{"moving", "doomed"} {
		if r := a.do(t, http.MethodPost, "/api/links", `{"url":"`+page1+`","slug":"`+slug+`"}`, e2eToken); r.status != http.StatusCreated {
			t.Fatalf("A: POST /api/links %s = %d %s", slug, r.status, r.body)
		}
	}
	// B's first full copy may or may not have seen them: either way they are in its mirror now.
	clocktest.WaitFor(t, "B's mirror to hold both links", func() bool {
		return b.metric(t, "redirector_mirror_refreshed_total") >= 2 || b.metric(t, "redirector_mirror_records") >= 2
	})
	refreshed := b.metric(t, "redirector_mirror_refreshed_total")
	retargeted := time.Now()
	if r := a.do(t, http.MethodPatch, "/api/links/moving", `{"url":"`+page2+`"}`, e2eToken); r.status != http.StatusOK {
		t.Fatalf("A: PATCH = %d %s", r.status, r.body)
	}
	if r := a.do(t, http.MethodDelete, "/api/links/doomed", "", e2eToken); r.status != http.StatusNoContent {
		t.Fatalf("A: DELETE = %d %s", r.status, r.body)
	}
	// The outage begins 2 s after the retarget: the time the promise gives the bus and the mirror.
	time.Sleep(time.Until(retargeted.Add(2 * time.Second)))
	if got := b.metric(t, "redirector_mirror_refreshed_total"); got < refreshed+2 {
		t.Errorf("B's mirror read %v changed records in the 2 s after the changes, want 2", got-refreshed)
	}
	rs.Freeze(t)
	t.Cleanup(func() { rs.Thaw(t) }) // after b's, so before it: its shutdown waits for Redis
	answers := b.metric(t, "redirector_mirror_answers_total")
	if r := b.do(t, http.MethodGet, "/moving", "", ""); r.status != http.StatusFound || r.header.Get("Location") != affiliatetest.Link(page2) {
		t.Errorf("B, Redis stopped: GET /moving = %d Location %q, want 302 to %q", r.status, r.header.Get("Location"), affiliatetest.Link(page2))
	}
	if r := b.do(t, http.MethodGet, "/doomed", "", ""); r.status != http.StatusNotFound {
		t.Errorf("B, Redis stopped: GET /doomed = %d Location %q, want 404", r.status, r.header.Get("Location"))
	}
	if got := b.metric(t, "redirector_mirror_answers_total"); got != answers+2 {
		t.Errorf("B: redirector_mirror_answers_total went from %v to %v, want both answers from the mirror", answers, got)
	}
}

// TestMirrorRestartDuringOutage is issue 14's measure of the mirror, at mirrorLinks links (1,000 in
// make test, 10,000 with -tags chaos): random ids, slugs and product codes created through the API,
// 10% deleted and 10% retargeted; Redis stops answering and the service is restarted; then every live
// link must 302 to its current target and every deleted one 404.
func TestMirrorRestartDuringOutage(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	p, ps := affiliatetest.NewServer(affiliatetest.PlatformConfig{})
	t.Cleanup(ps.Close)
	// A full copy every second, so that the test can wait for one that saw every change.
	environ := mirrorEnviron(p, ps.URL+"/sync", rs, "DATA_DIR="+t.TempDir(), "MIRROR_RESYNC=1s", "MAX_ADMIN_IN_FLIGHT=1000")
	a := startRun(t, nil, environ)

	type want struct {
		id     string
		target string // "" once deleted
	}
	links := make([]want, mirrorLinks)
	parallel(t, mirrorLinks, 16, func(i int) error {
		var body string
		switch i % 3 {
		case 0: // a product page: its product code
			body = fmt.Sprintf(`{"url":"https://www.aliexpress.com/item/%d.html"}`, 1005008000000000+i)
		case 1: // another page: a random id
			body = fmt.Sprintf(`{"url":"https://www.aliexpress.com/store/%d"}`, 900000+i)
		default: // a slug
			body = fmt.Sprintf(`{"url":"https://www.aliexpress.com/item/%d.html","slug":"mirror-%d"}`, 1005008000000000+i, i)
		}
		r := a.do(t, http.MethodPost, "/api/links", body, e2eToken)
		var rec struct{ ID, Target string }
		if err := json.Unmarshal([]byte(r.body), &rec); r.status != http.StatusCreated || err != nil {
			return fmt.Errorf("POST /api/links %s = %d %s", body, r.status, r.body)
		}
		links[i] = want{rec.ID, rec.Target}
		return nil
	})
	parallel(t, mirrorLinks, 16, func(i int) error {
		switch i % 10 {
		case 3: // 10% deleted
			if r := a.do(t, http.MethodDelete, "/api/links/"+links[i].id, "", e2eToken); r.status != http.StatusNoContent {
				return fmt.Errorf("DELETE %s = %d %s", links[i].id, r.status, r.body)
			}
			links[i].target = ""
		case 7: // 10% retargeted
			target := fmt.Sprintf("https://www.aliexpress.com/item/%d.html", 1005009000000000+i)
			r := a.do(t, http.MethodPatch, "/api/links/"+links[i].id, `{"url":"`+target+`"}`, e2eToken)
			var rec struct{ Target string }
			if err := json.Unmarshal([]byte(r.body), &rec); r.status != http.StatusOK || err != nil {
				return fmt.Errorf("PATCH %s = %d %s", links[i].id, r.status, r.body)
			}
			links[i].target = rec.Target
		}
		return nil
	})
	waitCopyAfter(t, a, time.Now())
	if err := a.stop(t); err != nil {
		t.Fatalf("stop: %v", err)
	}

	rs.Freeze(t)
	b := startRun(t, nil, environ)
	// Registered after b's, so run first: the service's shutdown waits for Redis calls under way.
	t.Cleanup(func() { rs.Thaw(t) })
	var live, deleted, tagged atomic.Int64
	// Each lookup waits for the stopped Redis (100ms), then the link cache does (REDIS_TIMEOUT): many
	// at once, so that the test does not take minutes.
	parallel(t, mirrorLinks, 64, func(i int) error {
		l := links[i]
		r := b.do(t, http.MethodHead, "/"+l.id, "", "")
		loc := r.header.Get("Location")
		switch {
		case l.target == "" && r.status != http.StatusNotFound:
			return fmt.Errorf("deleted /%s = %d Location %q, want 404", l.id, r.status, loc)
		case l.target == "":
			deleted.Add(1)
		case r.status != http.StatusFound || (loc != affiliatetest.Link(l.target) && loc != l.target):
			return fmt.Errorf("live /%s = %d Location %q, want 302 to %s (tagged or not)", l.id, r.status, loc, l.target)
		default:
			live.Add(1)
			if loc == affiliatetest.Link(l.target) {
				tagged.Add(1)
			}
		}
		return nil
	})
	t.Logf("Redis stopped, service restarted: %d live links 302 to their current target (%d tagged), %d deleted 404",
		live.Load(), tagged.Load(), deleted.Load())
	if live.Load()+deleted.Load() != int64(mirrorLinks) || deleted.Load() != int64(mirrorLinks/10) {
		t.Errorf("%d live + %d deleted answered right, want all %d (%d deleted)", live.Load(), deleted.Load(), mirrorLinks, mirrorLinks/10)
	}
}

// parallel runs fn(0..n-1) on workers goroutines and fails the test with the first 10 errors.
func parallel(t *testing.T, n, workers int, fn func(i int) error) {
	t.Helper()
	var (
		next atomic.Int64
		mu   sync.Mutex // guards errs
		errs []error
		wg   sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if err := fn(i); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if i == 10 {
			t.Errorf("... and %d more", len(errs)-10)
			break
		}
		t.Error(err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
}

// TestMirrorRefusesSharedDataDir checks that a second process on one DATA_DIR does not start: a
// configuration error (exit status 2) naming the mirror's path.
func TestMirrorRefusesSharedDataDir(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	p, ps := affiliatetest.NewServer(affiliatetest.PlatformConfig{})
	t.Cleanup(ps.Close)
	dir := t.TempDir()
	environ := mirrorEnviron(p, ps.URL+"/sync", rs, "DATA_DIR="+dir)
	startRun(t, nil, environ)
	var stdout, stderr lockedBuffer
	second := append(slices.Clone(environ), "LISTEN_ADDR="+freeAddr(t), "BASE_URL=http://127.0.0.1:1")
	err := run(t.Context(), nil, second, strings.NewReader(""), &stdout, &stderr)
	var cfgErr *configError
	want := filepath.Join(dir, "mirror.db")
	if !errors.As(err, &cfgErr) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("a second run on DATA_DIR %s = %v, want a configuration error naming %s as in use", dir, err, want)
	}
}
