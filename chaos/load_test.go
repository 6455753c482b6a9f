package chaos

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
	"github.com/redirector/redirector/internal/aliurl"
)

// kind is what a request asks for.
type kind uint8

const (
	kindShort  kind = iota // GET /{id} as a person: a counted click
	kindCached             // GET /go for a page the service has seen
	kindNew                // GET /go for a page no one has asked for
)

func (k kind) String() string {
	return [...]string{"short link", "cached /go", "new /go"}[k]
}

// page is one request and what may answer it.
type page struct {
	kind      kind
	path      string // request path and query
	canonical string // the untagged destination; its affiliate link is the tagged one
	id        string // the short link's id, for kindShort
}

// shortPage is a click on a short link leading to target.
func shortPage(id, target string) page {
	return page{kind: kindShort, path: shortPath(id), canonical: target, id: id}
}

// goPage is a /go click on a canonical page.
func goPage(k kind, canonical string) page {
	return page{kind: k, path: goPath(canonical), canonical: canonical}
}

// sample is one request's outcome, its times measured from the load's start.
type sample struct {
	page
	start, wrote, end time.Duration // wrote: the request was sent (-1: never)
	status            int
	location          string
	err               error // transport error, or the body could not be read whole
	gotHeader         bool  // a response began (err then means it was cut short)
}

func (s sample) latency() time.Duration { return s.end - s.start }

// tagged reports whether the click was sent to the page's affiliate link.
func (s sample) tagged() bool { return s.location == affiliatetest.Link(s.canonical) }

// problem says what is wrong with the answer, or "" for a good redirect: a complete 302 whose
// Location is an accepted AliExpress destination, the page's affiliate link or the page itself.
func (s sample) problem() string {
	switch {
	case s.err != nil:
		return fmt.Sprintf("GET %s: %v", s.path, s.err)
	case s.status != http.StatusFound:
		return fmt.Sprintf("GET %s = %d, want 302", s.path, s.status)
	}
	u, err := url.Parse(s.location)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Sprintf("GET %s: Location %q is not an http(s) URL", s.path, s.location)
	}
	if err := aliurl.CheckDestination(s.location); err != nil {
		return fmt.Sprintf("GET %s: Location %q: CheckDestination: %v", s.path, s.location, err)
	}
	if s.location != s.canonical && !s.tagged() {
		return fmt.Sprintf("GET %s: Location %q, want %q or its affiliate link %q", s.path, s.location, s.canonical, affiliatetest.Link(s.canonical))
	}
	return ""
}

// click sends one request for p, as a person's browser, without following redirects.
func click(ctx context.Context, c *http.Client, base string, p page, t0 time.Time) sample {
	s := sample{page: p, start: time.Since(t0), wrote: -1}
	var wrote atomic.Int64 // set on the transport's goroutine
	wrote.Store(-1)
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) {
		wrote.Store(int64(time.Since(t0)))
	}}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, base+p.path, nil)
	if err != nil {
		s.err = err
		return s
	}
	req.Header.Set("User-Agent", browserUA)
	resp, err := c.Do(req)
	if err == nil {
		s.gotHeader = true
		s.status = resp.StatusCode
		s.location = resp.Header.Get("Location")
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	s.err = err
	s.end = time.Since(t0)
	s.wrote = time.Duration(wrote.Load())
	return s
}

// mix picks the requests of a load: short links, pages seen before, new pages.
type mix struct {
	short, cached []page
	fresh         *freshProducts
	// pShort and pCached are the shares of short-link and cached-page clicks; the rest are new pages.
	pShort, pCached float64
}

func (m *mix) pick(r *rand.Rand) page {
	x := r.Float64()
	switch {
	case x < m.pShort && len(m.short) > 0:
		return m.short[r.IntN(len(m.short))]
	case x < m.pShort+m.pCached && len(m.cached) > 0:
		return m.cached[r.IntN(len(m.cached))]
	}
	return goPage(kindNew, m.fresh.page())
}

// loader sends a steady, bounded load: a fixed number of workers sharing a rate limit, until
// stopped.
type loader struct {
	t0     time.Time
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex // guards samples
	samples []sample

	stopOnce sync.Once
}

// startLoad starts workers sending m's requests to base at perSecond in all, each request sent
// with a client that does not follow redirects.
func startLoad(base string, m *mix, workers int, perSecond float64) *loader {
	ctx, cancel := context.WithCancel(context.Background())
	l := &loader{t0: time.Now(), cancel: cancel}
	lim := rate.NewLimiter(rate.Limit(perSecond), workers)
	c := noRedirects(workers)
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), uint64(l.t0.UnixNano())))
			var mine []sample
			defer func() {
				l.mu.Lock()
				l.samples = append(l.samples, mine...)
				l.mu.Unlock()
			}()
			for {
				if lim.Wait(ctx) != nil {
					return
				}
				// A request already begun is never cut short by stopping the load: its answer counts.
				mine = append(mine, click(context.WithoutCancel(ctx), c, base, m.pick(r), l.t0))
			}
		}()
	}
	return l
}

// now is the time since the load started.
func (l *loader) now() time.Duration { return time.Since(l.t0) }

// stop ends the load, waits for the requests under way, and returns every sample in start order.
func (l *loader) stop() []sample {
	l.stopOnce.Do(func() {
		l.cancel()
		l.wg.Wait()
		slices.SortFunc(l.samples, func(a, b sample) int { return int(a.start - b.start) })
	})
	return l.samples
}

// summary counts a set of samples.
type summary struct {
	n, errs, status5xx, bad, tagged int
	problems                        []string // the first few
}

func summarize(samples []sample) summary {
	var s summary
	for _, x := range samples {
		s.n++
		if x.err != nil {
			s.errs++
		}
		if x.status >= 500 {
			s.status5xx++
		}
		if p := x.problem(); p != "" {
			s.bad++
			if len(s.problems) < 10 {
				s.problems = append(s.problems, fmt.Sprintf("[%v] %s", x.start.Round(time.Millisecond), p))
			}
		} else if x.tagged() {
			s.tagged++
		}
	}
	return s
}

// requireGood fails the test unless every sample is a good redirect: no transport error, no 5xx,
// every Location an accepted AliExpress URL for its page.
func requireGood(t *testing.T, what string, samples []sample) summary {
	t.Helper()
	s := summarize(samples)
	if s.n == 0 {
		t.Errorf("%s: no requests were sent", what)
	}
	if s.errs > 0 || s.status5xx > 0 || s.bad > 0 {
		t.Errorf("%s: %d requests, %d transport errors, %d 5xx, %d bad answers; first:\n  %s",
			what, s.n, s.errs, s.status5xx, s.bad, strings.Join(s.problems, "\n  "))
	}
	return s
}

// filter returns the samples for which keep holds.
func filter(samples []sample, keep func(sample) bool) []sample {
	var out []sample
	for _, s := range samples {
		if keep(s) {
			out = append(out, s)
		}
	}
	return out
}

// startedIn keeps samples started in [from, to).
func startedIn(from, to time.Duration) func(sample) bool {
	return func(s sample) bool { return s.start >= from && s.start < to }
}

// ofKind keeps samples of kind k.
func ofKind(k kind) func(sample) bool { return func(s sample) bool { return s.kind == k } }

// percentile returns the q-th quantile (0 < q ≤ 1) of the samples' latencies.
func percentile(samples []sample, q float64) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	ls := make([]time.Duration, len(samples))
	for i, s := range samples {
		ls[i] = s.latency()
	}
	slices.Sort(ls)
	i := int(q*float64(len(ls))+0.999999) - 1
	return ls[max(0, min(i, len(ls)-1))]
}

// sentClicks counts, per short link, the human GETs answered with a complete 302: the clicks the
// service must count.
func sentClicks(samples []sample) map[string]int64 {
	out := make(map[string]int64)
	for _, s := range samples {
		if s.kind == kindShort && s.err == nil && s.status == http.StatusFound {
			out[s.id]++
		}
	}
	return out
}

// catalogue is what a scenario creates before the load: short links of the three id forms and
// pages already cached.
type catalogue struct {
	links  []linkRecord
	short  []page // one per link
	cached []page
}

// ids returns the short links' ids.
func (c *catalogue) ids() []string {
	ids := make([]string, len(c.links))
	for i, l := range c.links {
		ids[i] = l.ID
	}
	return ids
}

// add records a new link.
func (c *catalogue) add(rec linkRecord) {
	c.links = append(c.links, rec)
	c.short = append(c.short, shortPage(rec.ID, rec.Target))
}

// makeCatalogue creates short links (product codes, custom slugs, a random id for a store page)
// and warms them with HEAD requests (which are not counted), and warms cachedPages pages with /go,
// checking that all were tagged.
func makeCatalogue(t *testing.T, s *service, fresh *freshProducts, products, slugs, cachedPages int) *catalogue {
	t.Helper()
	c := &catalogue{}
	for range products {
		c.add(s.createLink(t, fresh.page(), ""))
	}
	for i := range slugs {
		c.add(s.createLink(t, fresh.page(), fmt.Sprintf("chaos-%d-%d", i, rand.IntN(1e6))))
	}
	c.add(s.createLink(t, fmt.Sprintf("https://www.aliexpress.com/store/%d", 1_000_000+rand.IntN(9_000_000)), ""))
	for range cachedPages {
		c.cached = append(c.cached, goPage(kindCached, fresh.page()))
	}
	ctx := context.Background()
	for _, p := range c.short {
		req, _ := http.NewRequestWithContext(ctx, http.MethodHead, s.base+p.path, nil)
		req.Header.Set("User-Agent", browserUA)
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatalf("HEAD %s: %v", p.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != affiliatetest.Link(p.canonical) {
			t.Fatalf("HEAD %s = %d Location %q, want 302 to %q", p.path, resp.StatusCode, resp.Header.Get("Location"), affiliatetest.Link(p.canonical))
		}
	}
	t0 := time.Now()
	for _, p := range c.cached {
		x := click(ctx, s.client, s.base, p, t0)
		if x.problem() != "" || !x.tagged() {
			t.Fatalf("warming %s: %s, Location %q, want its affiliate link", p.path, x.problem(), x.location)
		}
	}
	return c
}

// mixOf is a load over c: pShort short-link clicks, pCached cached pages, the rest new pages.
func (c *catalogue) mixOf(fresh *freshProducts, pShort, pCached float64) *mix {
	return &mix{short: c.short, cached: c.cached, fresh: fresh, pShort: pShort, pCached: pCached}
}

// latencies describes the p50 and p99 latency of each kind of request among samples.
func latencies(samples []sample) string {
	var parts []string
	for _, k := range []kind{kindShort, kindCached, kindNew} {
		of := filter(samples, ofKind(k))
		if len(of) > 0 {
			parts = append(parts, fmt.Sprintf("%s %v/%v", k, percentile(of, 0.5).Round(time.Millisecond), percentile(of, 0.99).Round(time.Millisecond)))
		}
	}
	return strings.Join(parts, ", ")
}
