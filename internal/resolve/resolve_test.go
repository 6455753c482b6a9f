package resolve_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/cache"
	"github.com/redirector/redirector/internal/clocktest"
	"github.com/redirector/redirector/internal/redistest"
	"github.com/redirector/redirector/internal/resolve"
	"github.com/redirector/redirector/internal/store"
)

// testRedisTimeout replaces the 50ms default in tests that are not about the timeout: the
// machine that runs them may be busy enough to hold Redis up for longer.
const testRedisTimeout = time.Second

// clock is a settable time source shared by a test and the code under test.
type clock = clocktest.Clock

// newClock is in local time, as the times the tiers read back (time.Unix) are, so that tests
// compare links with ==.
func newClock() *clock { return clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).Local()) }

var errNotPromotable = errors.New("not promotable")

// anyone is the client of a click whose client does not matter to the test.
var anyone netip.Addr

// generator is a Generator that counts its calls per source. By default it answers
// "https://s.click.aliexpress.com/e/<source's last path segment>"; fail makes it return that
// error instead, and hold makes every call wait until hold is closed or the call's context ends.
type generator struct {
	mu    sync.Mutex // guards the fields below
	calls map[string]int
	fail  error
	link  func(source string) string
	hold  chan struct{}
	// started receives the source of every call, if not nil; it must have room.
	started chan string
	// ctxErrs records the call contexts' errors when the calls return.
	ctxErrs []error
}

func newGenerator() *generator { return &generator{calls: map[string]int{}} }

func (g *generator) Generate(ctx context.Context, source string) (string, error) {
	g.mu.Lock()
	g.calls[source]++
	fail, link, hold, started := g.fail, g.link, g.hold, g.started
	g.mu.Unlock()
	if started != nil {
		started <- source
	}
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
		}
	}
	g.mu.Lock()
	g.ctxErrs = append(g.ctxErrs, ctx.Err())
	g.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("generate: %w", err)
	}
	if fail != nil {
		return "", fail
	}
	if link != nil {
		return link(source), nil
	}
	return affiliate(source), nil
}

func (g *generator) set(f func(g *generator)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f(g)
}

func (g *generator) total() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, c := range g.calls {
		n += c
	}
	return n
}

func (g *generator) count(source string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls[source]
}

func affiliate(source string) string {
	return "https://s.click.aliexpress.com/e/_" + source[strings.LastIndexByte(source, '/')+1:]
}

func page(n int) string { return fmt.Sprintf("https://www.aliexpress.com/item/100500%d.html", n) }

func validate(link string) error {
	u, err := url.Parse(link)
	if err != nil || u.Scheme != "https" || u.Host != "s.click.aliexpress.com" {
		return errors.New("not an affiliate link")
	}
	return nil
}

// setup returns links over a fresh Redis and a resolver over them.
func setup(t testing.TB, clk *clock, gen resolve.Generator, opts resolve.Options) (*cache.Links, *resolve.Resolver, *redistest.Server) {
	t.Helper()
	srv := redistest.Start(t)
	rdb, err := store.Connect(context.Background(), srv.URL, store.ConnectOptions{})
	if err != nil {
		t.Fatalf("Connect(%q) = %v", srv.URL, err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	// A first-tier lifetime beyond the tests' clock jumps keeps the answers' Source predictable;
	// the cache's own tests cover Tier1TTL.
	links := cache.NewLinks(rdb, cache.LinkOptions{RedisTimeout: testRedisTimeout, Tier1Size: 1000, Tier1TTL: 365 * 24 * time.Hour, Now: clk.Now})
	opts.Now = clk.Now
	if opts.Validate == nil {
		opts.Validate = validate
	}
	if opts.IsNotPromotable == nil {
		opts.IsNotPromotable = func(err error) bool { return errors.Is(err, errNotPromotable) }
	}
	return links, resolve.New(links, gen, opts), srv
}

func check(t *testing.T, what string, got, want resolve.Result) {
	t.Helper()
	if got != want {
		t.Errorf("%s: Resolve = %+v, want %+v", what, got, want)
	}
}

// waitFor polls cond until it holds, failing the test after a generous deadline.
var waitFor = clocktest.WaitFor

func TestResolveFresh(t *testing.T) {
	t.Parallel()
	clk := newClock()
	gen := newGenerator()
	links, r, _ := setup(t, clk, gen, resolve.Options{})
	ctx := context.Background()
	p := page(1)
	want := resolve.Result{Location: affiliate(p), Outcome: resolve.Tagged}

	want.Source = resolve.Platform
	check(t, "miss", r.Resolve(ctx, p, anyone), want)
	want.Source = resolve.Tier1
	check(t, "cached", r.Resolve(ctx, p, anyone), want)
	clk.Advance(resolve.DefaultLinkTTL - time.Millisecond)
	check(t, "just before LinkTTL", r.Resolve(ctx, p, anyone), want)
	if n := gen.total(); n != 1 {
		t.Errorf("Generate called %d times, want 1", n)
	}

	got, ok, err := links.Get(ctx, p)
	if !ok || err != nil || got.StaleUntil.Sub(got.FreshUntil) != resolve.DefaultStaleTTL {
		t.Errorf("cached entry = %+v, %v, %v, want StaleUntil = FreshUntil + %v", got, ok, err, resolve.DefaultStaleTTL)
	}
}

func TestResolveFromRedis(t *testing.T) {
	t.Parallel()
	clk := newClock()
	gen := newGenerator()
	_, r, srv := setup(t, clk, gen, resolve.Options{})
	ctx := context.Background()
	p := page(2)
	check(t, "miss", r.Resolve(ctx, p, anyone), resolve.Result{Location: affiliate(p), Outcome: resolve.Tagged, Source: resolve.Platform})

	rdb, err := store.Connect(ctx, srv.URL, store.ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	replica := resolve.New(cache.NewLinks(rdb, cache.LinkOptions{RedisTimeout: testRedisTimeout, Tier1Size: 10, Now: clk.Now}), gen, resolve.Options{Now: clk.Now})
	check(t, "replica", replica.Resolve(ctx, p, anyone), resolve.Result{Location: affiliate(p), Outcome: resolve.Tagged, Source: resolve.Redis})
	check(t, "replica again", replica.Resolve(ctx, p, anyone), resolve.Result{Location: affiliate(p), Outcome: resolve.Tagged, Source: resolve.Tier1})
	if n := gen.total(); n != 1 {
		t.Errorf("Generate called %d times, want 1", n)
	}
}

func TestResolveNegative(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		err    error
		status cache.Status
		// notPromotable: the Result says so, a failure's never does.
		notPromotable bool
	}{
		{"not promotable", fmt.Errorf("platform: %w", errNotPromotable), cache.NotPromotable, true},
		{"failure", errors.New("platform: rate limited"), cache.Failed, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			gen := newGenerator()
			gen.fail = tc.err
			links, r, _ := setup(t, clk, gen, resolve.Options{NegativeTTL: 5 * time.Minute})
			ctx := context.Background()
			p := page(3)
			untagged := resolve.Result{Location: p, Outcome: resolve.Untagged, NotPromotable: tc.notPromotable}

			untagged.Source = resolve.Platform
			check(t, "miss", r.Resolve(ctx, p, anyone), untagged)
			got, ok, _ := links.Get(ctx, p)
			if !ok || got.Status != tc.status || !got.StaleUntil.Equal(clk.Now().Add(5*time.Minute)) {
				t.Errorf("cached entry = %+v, %v, want %v until %v", got, ok, tc.status, clk.Now().Add(5*time.Minute))
			}
			untagged.Source = resolve.Tier1
			clk.Advance(5*time.Minute - time.Millisecond)
			check(t, "within NegativeTTL", r.Resolve(ctx, p, anyone), untagged)
			if n := gen.total(); n != 1 {
				t.Errorf("Generate called %d times within NegativeTTL, want 1", n)
			}

			gen.set(func(g *generator) { g.fail = nil })
			clk.Advance(time.Millisecond)
			check(t, "after NegativeTTL", r.Resolve(ctx, p, anyone), resolve.Result{Location: affiliate(p), Outcome: resolve.Tagged, Source: resolve.Platform})
			check(t, "recovered", r.Resolve(ctx, p, anyone), resolve.Result{Location: affiliate(p), Outcome: resolve.Tagged, Source: resolve.Tier1})
			if n := gen.total(); n != 2 {
				t.Errorf("Generate called %d times, want 2", n)
			}
		})
	}
}

func TestResolveStale(t *testing.T) {
	t.Parallel()
	clk := newClock()
	gen := newGenerator()
	links, r, _ := setup(t, clk, gen, resolve.Options{LinkTTL: time.Hour})
	ctx := context.Background()
	p := page(4)
	old := affiliate(p)
	check(t, "miss", r.Resolve(ctx, p, anyone), resolve.Result{Location: old, Outcome: resolve.Tagged, Source: resolve.Platform})

	// The refresh waits on hold: Resolve must answer without it.
	hold := make(chan struct{})
	renewed := "https://s.click.aliexpress.com/e/_renewed"
	gen.set(func(g *generator) {
		g.hold = hold
		g.link = func(string) string { return renewed }
	})
	clk.Advance(time.Hour)
	check(t, "stale", r.Resolve(ctx, p, anyone), resolve.Result{Location: old, Outcome: resolve.Stale, Source: resolve.Tier1})
	check(t, "stale while refreshing", r.Resolve(ctx, p, anyone), resolve.Result{Location: old, Outcome: resolve.Stale, Source: resolve.Tier1})
	close(hold)
	waitFor(t, "the refresh", func() bool { l, _ := links.Peek(p); return l.URL == renewed })
	check(t, "refreshed", r.Resolve(ctx, p, anyone), resolve.Result{Location: renewed, Outcome: resolve.Tagged, Source: resolve.Tier1})
	if n := gen.total(); n != 2 {
		t.Errorf("Generate called %d times, want 2 (the miss, one shared refresh)", n)
	}
}

func TestResolveStaleDuringOutage(t *testing.T) {
	t.Parallel()
	clk := newClock()
	gen := newGenerator()
	opts := resolve.Options{LinkTTL: time.Hour, StaleTTL: 24 * time.Hour, NegativeTTL: 5 * time.Minute}
	links, r, srv := setup(t, clk, gen, opts)
	ctx := context.Background()
	p := page(5)
	link := affiliate(p)
	check(t, "miss", r.Resolve(ctx, p, anyone), resolve.Result{Location: link, Outcome: resolve.Tagged, Source: resolve.Platform})

	gen.set(func(g *generator) { g.fail = fmt.Errorf("platform: %w", errNotPromotable) })
	clk.Advance(time.Hour)
	stale := resolve.Result{Location: link, Outcome: resolve.Stale, Source: resolve.Tier1}
	check(t, "stale, refresh fails", r.Resolve(ctx, p, anyone), stale)
	waitFor(t, "the failed refresh", func() bool { l, _ := links.Peek(p); return !l.RetryAt.IsZero() })
	got, _ := links.Peek(p)
	if got.URL != link || got.Status != cache.Promoted || !got.RetryAt.Equal(clk.Now().Add(5*time.Minute)) {
		t.Errorf("entry after a failed refresh = %+v, want %q kept, retry at %v", got, link, clk.Now().Add(5*time.Minute))
	}
	check(t, "stale within NegativeTTL", r.Resolve(ctx, p, anyone), stale)
	if n := gen.total(); n != 2 {
		t.Errorf("Generate called %d times within NegativeTTL, want 2", n)
	}

	// Redis goes away too: the first tier still has the link.
	srv.Stop()
	clk.Advance(5 * time.Minute)
	check(t, "stale, Redis down", r.Resolve(ctx, p, anyone), stale)
	waitFor(t, "the second failed refresh", func() bool { return gen.total() == 3 })
	waitFor(t, "the retry time to move", func() bool {
		l, _ := links.Peek(p)
		return l.RetryAt.Equal(clk.Now().Add(5 * time.Minute))
	})
	check(t, "still stale", r.Resolve(ctx, p, anyone), stale)

	// Past StaleTTL the link is gone: untagged. (Whether the answer is judged from the expired link or
	// from the platform's new "not promotable", and so says NotPromotable, depends on the load's timing.)
	clk.Advance(24 * time.Hour)
	res := r.Resolve(ctx, p, anyone)
	res.NotPromotable = false
	check(t, "past StaleTTL", res, resolve.Result{Location: p, Outcome: resolve.Untagged, Source: resolve.Platform})
}

// A negative answer for a page whose stale link only Redis still has must not replace that link.
func TestResolveFailureKeepsStaleLinkInRedis(t *testing.T) {
	t.Parallel()
	clk := newClock()
	gen := newGenerator()
	links, r, _ := setup(t, clk, gen, resolve.Options{LinkTTL: time.Hour})
	ctx := context.Background()
	p := page(6)
	stale := cache.Link{URL: affiliate(p), Status: cache.Promoted, FreshUntil: clk.Now().Add(-time.Minute), StaleUntil: clk.Now().Add(time.Hour)}
	if err := links.Set(ctx, p, stale); err != nil {
		t.Fatal(err)
	}
	links.Forget(p)
	gen.fail = errors.New("platform down")
	check(t, "stale from Redis", r.Resolve(ctx, p, anyone), resolve.Result{Location: stale.URL, Outcome: resolve.Stale, Source: resolve.Redis})
	waitFor(t, "the failed refresh", func() bool { l, _ := links.Peek(p); return !l.RetryAt.IsZero() })
	links.Forget(p)
	got, ok, err := links.Get(ctx, p)
	if !ok || err != nil || got.URL != stale.URL || got.RetryAt.IsZero() {
		t.Errorf("Redis entry = %+v, %v, %v, want %q kept with a retry time", got, ok, err, stale.URL)
	}
}

// The groupcache test: many concurrent misses on one page make one platform call.
func TestResolveConcurrentMissesShareOneCall(t *testing.T) {
	t.Parallel()
	clk := newClock()
	gen := newGenerator()
	hold := make(chan struct{})
	gen.hold = hold
	links, r, _ := setup(t, clk, gen, resolve.Options{UpstreamTimeout: time.Minute})
	p := page(7)
	const n = 200
	var wg sync.WaitGroup
	results := make([]resolve.Result, n)
	for i := range n {
		wg.Go(func() { results[i] = r.Resolve(context.Background(), p, anyone) })
	}
	waitFor(t, "the first call", func() bool { return gen.total() > 0 })
	// Every click has missed both tiers while the call is held, so each joins it (a click that came
	// after the call's end would be answered from the cache, and the count would hold all the same).
	waitFor(t, "every click to miss both tiers", func() bool { return links.Stats().Misses >= n })
	close(hold)
	wg.Wait()
	if c := gen.total(); c != 1 {
		t.Errorf("Generate called %d times for %d concurrent misses, want 1", c, n)
	}
	for i, res := range results {
		if res.Location != affiliate(p) || res.Outcome != resolve.Tagged {
			t.Errorf("Resolve #%d = %+v, want %q tagged", i, res, affiliate(p))
		}
	}
}

func TestResolveDistinctMissesAllGenerated(t *testing.T) {
	t.Parallel()
	clk := newClock()
	gen := newGenerator()
	_, r, _ := setup(t, clk, gen, resolve.Options{UpstreamTimeout: time.Minute})
	const n = 100
	var wg sync.WaitGroup
	results := make([]resolve.Result, n)
	for i := range n {
		wg.Go(func() { results[i] = r.Resolve(context.Background(), page(i), anyone) })
	}
	wg.Wait()
	for i, res := range results {
		want := resolve.Result{Location: affiliate(page(i)), Outcome: resolve.Tagged, Source: resolve.Platform}
		if res != want {
			t.Errorf("Resolve(%q) = %+v, want %+v", page(i), res, want)
		}
		if c := gen.count(page(i)); c != 1 {
			t.Errorf("Generate(%q) called %d times, want 1", page(i), c)
		}
	}
}

func TestResolveHangingPlatform(t *testing.T) {
	t.Parallel()
	clk := newClock()
	gen := newGenerator()
	hold := make(chan struct{})
	gen.hold = hold
	links, r, _ := setup(t, clk, gen, resolve.Options{UpstreamTimeout: 20 * time.Millisecond, LoadTimeout: time.Minute})
	ctx := context.Background()
	p := page(8)
	check(t, "hanging", r.Resolve(ctx, p, anyone), resolve.Result{Location: p, Outcome: resolve.Untagged, Source: resolve.Fallback})
	close(hold)
	waitFor(t, "the load to fill the cache", func() bool { l, _ := links.Peek(p); return l.URL == affiliate(p) })
	check(t, "after the load", r.Resolve(ctx, p, anyone), resolve.Result{Location: affiliate(p), Outcome: resolve.Tagged, Source: resolve.Tier1})
	if c := gen.total(); c != 1 {
		t.Errorf("Generate called %d times, want 1", c)
	}
}

func TestResolveLoadTimeout(t *testing.T) {
	t.Parallel()
	clk := newClock()
	gen := newGenerator()
	gen.hold = make(chan struct{}) // never closed: only LoadTimeout ends the call
	links, r, _ := setup(t, clk, gen, resolve.Options{UpstreamTimeout: 10 * time.Millisecond, LoadTimeout: 30 * time.Millisecond})
	ctx := context.Background()
	p := page(9)
	check(t, "hanging", r.Resolve(ctx, p, anyone), resolve.Result{Location: p, Outcome: resolve.Untagged, Source: resolve.Fallback})
	waitFor(t, "the load to give up", func() bool { l, ok := links.Peek(p); return ok && l.Status == cache.Failed })
	check(t, "failure remembered", r.Resolve(ctx, p, anyone), resolve.Result{Location: p, Outcome: resolve.Untagged, Source: resolve.Tier1})
}

func TestResolveCancelledVisitorFailsNoOne(t *testing.T) {
	t.Parallel()
	clk := newClock()
	gen := newGenerator()
	hold := make(chan struct{})
	gen.hold = hold
	gen.started = make(chan string, 10)
	_, r, _ := setup(t, clk, gen, resolve.Options{UpstreamTimeout: time.Minute})
	p := page(10)

	first, cancel := context.WithCancel(context.Background())
	firstDone := make(chan resolve.Result, 1)
	go func() { firstDone <- r.Resolve(first, p, anyone) }()
	<-gen.started // the load runs, started by the first visitor

	secondDone := make(chan resolve.Result, 1)
	go func() { secondDone <- r.Resolve(context.Background(), p, anyone) }()

	cancel()
	check(t, "cancelled visitor", <-firstDone, resolve.Result{Location: p, Outcome: resolve.Untagged, Source: resolve.Fallback})
	close(hold)
	// The second visitor may have joined the load or, arriving after it, found the cache filled.
	if got := <-secondDone; got.Location != affiliate(p) || got.Outcome != resolve.Tagged {
		t.Errorf("other visitor: Resolve = %+v, want %q tagged", got, affiliate(p))
	}
	if c := gen.total(); c != 1 {
		t.Errorf("Generate called %d times, want 1", c)
	}
	gen.mu.Lock()
	defer gen.mu.Unlock()
	if len(gen.ctxErrs) != 1 || gen.ctxErrs[0] != nil {
		t.Errorf("load context errors = %v, want [nil]: the first visitor's cancel must not reach the load", gen.ctxErrs)
	}
}

func TestResolveValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, link string
	}{
		{"other site", "https://evil.example/e/_x"},
		{"plain http", "http://s.click.aliexpress.com/e/_x"},
		{"empty", ""},
		{"not a url", "::"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			gen := newGenerator()
			gen.link = func(string) string { return tc.link }
			links, r, _ := setup(t, clk, gen, resolve.Options{})
			ctx := context.Background()
			p := page(11)
			check(t, "rejected link", r.Resolve(ctx, p, anyone), resolve.Result{Location: p, Outcome: resolve.Untagged, Source: resolve.Platform})
			if l, ok := links.Peek(p); !ok || l.Status != cache.Failed {
				t.Errorf("cached entry = %+v, %v, want a failure", l, ok)
			}
		})
	}
}

func TestResolveRejectsTamperedRedisValue(t *testing.T) {
	t.Parallel()
	clk := newClock()
	gen := newGenerator()
	links, r, _ := setup(t, clk, gen, resolve.Options{})
	ctx := context.Background()
	p := page(16)
	bad := cache.Link{URL: "https://evil.example/", Status: cache.Promoted, FreshUntil: clk.Now().Add(time.Hour), StaleUntil: clk.Now().Add(time.Hour)}
	if err := links.Set(ctx, p, bad); err != nil {
		t.Fatal(err)
	}
	links.Forget(p)
	check(t, "tampered", r.Resolve(ctx, p, anyone), resolve.Result{Location: affiliate(p), Outcome: resolve.Tagged, Source: resolve.Platform})
	check(t, "replaced", r.Resolve(ctx, p, anyone), resolve.Result{Location: affiliate(p), Outcome: resolve.Tagged, Source: resolve.Tier1})
}

func TestResolveDefaultValidate(t *testing.T) {
	t.Parallel()
	clk := newClock()
	gen := newGenerator()
	gen.link = func(string) string { return "javascript:alert(1)" }
	links := cache.NewLinks(nil, cache.LinkOptions{Tier1Size: 10, Now: clk.Now})
	r := resolve.New(links, gen, resolve.Options{Now: clk.Now})
	p := page(12)
	check(t, "script link", r.Resolve(context.Background(), p, anyone), resolve.Result{Location: p, Outcome: resolve.Untagged, Source: resolve.Platform})
}

func TestResolveAdmit(t *testing.T) {
	t.Parallel()
	clk := newClock()
	gen := newGenerator()
	var admit atomic.Bool
	clicker := netip.MustParseAddr("203.0.113.7")
	_, r, _ := setup(t, clk, gen, resolve.Options{LinkTTL: time.Hour, Admit: func(_ context.Context, client netip.Addr) bool {
		if client != clicker {
			t.Errorf("Admit(client = %v), want the client Resolve was given, %v", client, clicker)
		}
		return admit.Load()
	}})
	ctx := context.Background()
	p := page(13)
	check(t, "refused miss", r.Resolve(ctx, p, clicker), resolve.Result{Location: p, Outcome: resolve.Untagged, Source: resolve.Fallback})
	if c := gen.total(); c != 0 {
		t.Errorf("Generate called %d times while Admit refuses, want 0", c)
	}
	admit.Store(true)
	check(t, "admitted miss", r.Resolve(ctx, p, clicker), resolve.Result{Location: affiliate(p), Outcome: resolve.Tagged, Source: resolve.Platform})
	admit.Store(false)
	clk.Advance(time.Hour)
	check(t, "stale, refresh refused", r.Resolve(ctx, p, clicker), resolve.Result{Location: affiliate(p), Outcome: resolve.Stale, Source: resolve.Tier1})
	if c := gen.total(); c != 1 {
		t.Errorf("Generate called %d times, want 1", c)
	}
}

// Only the click that starts a platform call is charged: clicks that join it, or that find its
// answer in the cache, cost nothing and must not be refused for a budget they did not spend.
func TestResolveChargesOnlyTheClickThatStartsACall(t *testing.T) {
	t.Parallel()
	clk := newClock()
	gen := newGenerator()
	hold := make(chan struct{})
	gen.hold = hold
	gen.started = make(chan string, 1)
	var asked atomic.Int64
	budgetOfOne := func(context.Context, netip.Addr) bool { return asked.Add(1) == 1 }
	links, r, _ := setup(t, clk, gen, resolve.Options{UpstreamTimeout: time.Minute, Admit: budgetOfOne})
	ctx := context.Background()
	p := page(17)
	const joiners = 50
	tagged := resolve.Result{Location: affiliate(p), Outcome: resolve.Tagged, Source: resolve.Platform}

	first := make(chan resolve.Result, 1)
	go func() { first <- r.Resolve(ctx, p, anyone) }()
	<-gen.started // the first click has started the call and spent the budget
	var wg sync.WaitGroup
	results := make([]resolve.Result, joiners)
	for i := range joiners {
		wg.Go(func() { results[i] = r.Resolve(ctx, p, anyone) })
	}
	// Every joiner has missed the cache: from here on, whether it joins the call or finds its
	// answer cached, it must not be charged.
	waitFor(t, "every click to miss", func() bool { return links.Stats().Misses >= joiners+1 })
	close(hold)
	wg.Wait()
	check(t, "first click", <-first, tagged)
	for i, got := range results {
		if got.Location != tagged.Location || got.Outcome != resolve.Tagged {
			t.Errorf("joiner %d: Resolve = %+v, want %q tagged", i, got, tagged.Location)
		}
	}
	check(t, "cached", r.Resolve(ctx, p, anyone), resolve.Result{Location: affiliate(p), Outcome: resolve.Tagged, Source: resolve.Tier1})
	if n := asked.Load(); n != 1 {
		t.Errorf("Admit asked %d times for %d clicks on one page, want 1 (the click that started the call)", n, joiners+2)
	}
	if n := gen.total(); n != 1 {
		t.Errorf("Generate called %d times, want 1", n)
	}
}

// Without Redis (the embedded mode) the resolver works from the first tier alone.
func TestResolveEmbedded(t *testing.T) {
	t.Parallel()
	clk := newClock()
	gen := newGenerator()
	links := cache.NewLinks(nil, cache.LinkOptions{Tier1Size: 10, Now: clk.Now})
	r := resolve.New(links, gen, resolve.Options{Now: clk.Now, Validate: validate})
	p := page(14)
	check(t, "miss", r.Resolve(context.Background(), p, anyone), resolve.Result{Location: affiliate(p), Outcome: resolve.Tagged, Source: resolve.Platform})
	check(t, "cached", r.Resolve(context.Background(), p, anyone), resolve.Result{Location: affiliate(p), Outcome: resolve.Tagged, Source: resolve.Tier1})
}

type panicker struct{}

func (panicker) Generate(context.Context, string) (string, error) { panic("bug") }

func TestResolveGeneratorPanics(t *testing.T) {
	t.Parallel()
	clk := newClock()
	links := cache.NewLinks(nil, cache.LinkOptions{Tier1Size: 10, Now: clk.Now})
	r := resolve.New(links, panicker{}, resolve.Options{Now: clk.Now})
	p := page(15)
	check(t, "panic", r.Resolve(context.Background(), p, anyone), resolve.Result{Location: p, Outcome: resolve.Untagged, Source: resolve.Platform})
}

func BenchmarkResolveCached(b *testing.B) {
	links := cache.NewLinks(nil, cache.LinkOptions{Tier1Size: cache.DefaultTier1Size})
	r := resolve.New(links, newGenerator(), resolve.Options{})
	ctx := context.Background()
	p := page(1)
	if res := r.Resolve(ctx, p, anyone); res.Outcome != resolve.Tagged {
		b.Fatalf("Resolve = %+v, want tagged", res)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if res := r.Resolve(ctx, p, anyone); res.Source != resolve.Tier1 {
				b.Fatalf("Resolve = %+v, want from the first tier", res)
			}
		}
	})
}

func BenchmarkResolveRedis(b *testing.B) {
	clk := newClock()
	links, _, srv := setup(b, clk, newGenerator(), resolve.Options{})
	rdb, err := store.Connect(context.Background(), srv.URL, store.ConnectOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer rdb.Close()
	p := page(1)
	ctx := context.Background()
	if err := links.Set(ctx, p, cache.Link{URL: affiliate(p), Status: cache.Promoted, FreshUntil: clk.Now().Add(time.Hour), StaleUntil: clk.Now().Add(time.Hour)}); err != nil {
		b.Fatal(err)
	}
	replica := cache.NewLinks(rdb, cache.LinkOptions{RedisTimeout: testRedisTimeout, Tier1Size: 0, Now: clk.Now})
	r := resolve.New(replica, newGenerator(), resolve.Options{Now: clk.Now})
	b.ReportAllocs()
	// 16 goroutines a CPU, as concurrent clicks are: their GETs share round trips to Redis,
	// where two alone would each wait out a whole one.
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Resolve(ctx, p, anyone)
		}
	})
	// On a busy machine Redis may miss the timeout now and then; say so rather than fail.
	st := replica.Stats()
	b.ReportMetric(float64(st.Misses)/float64(st.RedisHits+st.Misses), "misses/op")
}

// BenchmarkResolveMiss measures a miss answered by the platform (here an instant fake), cached in
// both tiers; every iteration is a new page.
func BenchmarkResolveMiss(b *testing.B) {
	clk := newClock()
	_, r, _ := setup(b, clk, newGenerator(), resolve.Options{})
	ctx := context.Background()
	pages := make([]string, b.N)
	for i := range pages {
		pages[i] = page(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if res := r.Resolve(ctx, pages[i], anyone); res.Outcome != resolve.Tagged {
			b.Fatalf("Resolve = %+v, want tagged", res)
		}
	}
}
