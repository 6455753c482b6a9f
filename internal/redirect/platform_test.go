package redirect

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
	"github.com/redirector/redirector/internal/resolve"
)

// The defaults of CLIENT_RATE and CLIENT_BURST.
const (
	clientRate  = 2
	clientBurst = 20
)

// startGatedPlatform starts a platform fake that holds every request until release is called
// (at the latest when the test ends).
func startGatedPlatform(t testing.TB) (p *platform, release func()) {
	p = &platform{}
	gate := make(chan struct{})
	release = sync.OnceFunc(func() { close(gate) })
	fake := affiliatetest.NewPlatform(affiliatetest.PlatformConfig{LinkFunc: p.Link})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-gate:
		case <-r.Context().Done():
			panic(http.ErrAbortHandler) // the client gave up: no response, not an implied 200
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(release) // before the server closes
	p.Platform, p.URL = fake, srv.URL
	return p, release
}

// productDetailCalls counts the productdetail.get requests the fake received.
func productDetailCalls(p *platform) int {
	n := 0
	for _, form := range p.Requests() {
		if form.Get("method") == affiliatetest.MethodProductDetail {
			n++
		}
	}
	return n
}

// Issue 13, item 12: the budget is charged only to the click that starts a platform call. Clicks
// that join it, or find its answer cached, cost nothing and are tagged.
func TestClientBudgetChargesOnlyTheClickThatCallsThePlatform(t *testing.T) {
	t.Parallel()
	p, release := startGatedPlatform(t)
	e := newEnv(t, envOptions{
		Platform: p, UpstreamTimeout: 10 * time.Second, LoadTimeout: 20 * time.Second,
		Breaker: true, ClientRate: clientRate, ClientBurst: clientBurst,
	})
	page := product(1300)
	const n = 200
	replies := make([]reply, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { replies[i] = e.get(goPath(page), "X-Forwarded-For", "203.0.113.7") })
	}
	// Hold the platform until every click has missed the cache: each one then either joins the
	// call or finds its answer, and none of them may be refused for the budget.
	waitFor(t, "every click to miss the cache", func() bool { return e.links.Stats().Misses >= n })
	release()
	wg.Wait()
	want := e.platform.Link(page)
	untagged := 0
	for i, r := range replies {
		if r.status != http.StatusFound || r.header.Get("Location") != want {
			untagged++
			if untagged <= 3 {
				t.Errorf("click %d of %d from one address on one new page = %s, want 302 to %q", i, n, r, want)
			}
		}
	}
	if untagged > 0 {
		t.Errorf("%d of %d clicks not tagged, want 0", untagged, n)
	}
	if got := e.platform.Calls(); got != 1 {
		t.Errorf("platform calls for %d concurrent clicks on one new page = %d, want 1", n, got)
	}
}

// Issue 13, item 3: preview fetches are under the client budget, the platform's rate, the
// in-flight cap and the breaker, as link generation is; past them the fetcher gets the plain 302.
func TestPreviewFetchersUnderTheClientBudget(t *testing.T) {
	t.Parallel()
	// UPSTREAM_TIMEOUT at its default (2 s), not the tests' 300 ms: on a loaded machine a platform call
	// can take longer than 300 ms, the breaker counts it slow, and the last click below would be
	// untagged for a reason this test is not about.
	e := newEnv(t, envOptions{
		Preview: true, Breaker: true, ClientRate: clientRate, ClientBurst: clientBurst, UpstreamTimeout: 2 * time.Second,
	})
	const n = 200
	codes := make([]string, n)
	for i := range n {
		id := productID(1400 + i)
		pid := strconv.FormatInt(id, 10)
		e.platform.SetProduct(pid, affiliatetest.Product{
			Title: "Lamp " + pid, ImageURL: "https://ae01.alicdn.com/kf/S" + pid + ".jpg", Price: "9.99", Currency: "USD",
		})
		codes[i] = mustProductCode(t, id)
	}
	began := time.Now()
	replies := make([]reply, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { replies[i] = e.get("/"+codes[i], "User-Agent", facebook, "X-Forwarded-For", "203.0.113.7") })
	}
	wg.Wait()
	elapsed := time.Since(began)
	previews := 0
	for i, r := range replies {
		switch {
		case r.status == http.StatusOK:
			previews++
		case r.status == http.StatusFound && r.header.Get("Location") != "":
		default:
			t.Errorf("preview fetch %d of /%s = %s, want a 200 preview page or a 302", i, codes[i], r)
		}
	}
	bound := clientBurst + int(clientRate*elapsed.Seconds()+1)
	if got := productDetailCalls(e.platform); got > bound {
		t.Errorf("productdetail calls for %d preview fetches from one address in %v = %d, want at most %d (CLIENT_BURST + CLIENT_RATE × elapsed)",
			n, elapsed.Round(time.Millisecond), got, bound)
	}
	t.Logf("%d preview fetches in %v: %d previews, %d productdetail calls, %d platform calls",
		n, elapsed.Round(time.Millisecond), previews, productDetailCalls(e.platform), e.platform.Calls())

	// Another client's new page is still tagged.
	page := product(1399)
	r := e.get(goPath(page), "X-Forwarded-For", "198.51.100.9")
	if r.status != http.StatusFound || r.header.Get("Location") != e.platform.Link(page) {
		t.Errorf("another client's new page after the preview flood = %s, want 302 to %q", r, e.platform.Link(page))
	}
}

// Issue 13, item 13: with a hanging platform, a call that outlives UPSTREAM_TIMEOUT counts toward
// opening the breaker when it does, so after BREAKER_FAILURES hung calls new pages are answered
// untagged at once instead of each waiting UPSTREAM_TIMEOUT.
func TestBreakerOpensOnAHangingPlatform(t *testing.T) {
	t.Parallel()
	const failures = 3
	// The hung calls last a minute unless released: the breaker must not wait for their end.
	// They are released when the test ends (the platform client's Close cancels them).
	e := newEnv(t, envOptions{
		Breaker: true, BreakerFailures: failures,
		UpstreamTimeout: 100 * time.Millisecond, LoadTimeout: time.Minute,
	})
	e.platform.FailAlways(affiliatetest.FailHang)
	for i := range failures + 1 {
		page := product(1500 + i)
		if r := e.get(goPath(page)); r.status != http.StatusFound || r.header.Get("Location") != page {
			t.Fatalf("new page %d with the platform hanging = %s, want 302 to the page untagged", i, r)
		}
	}
	waitFor(t, "the breaker to open", func() bool { return e.guard.State() == "open" })

	rejected := e.guard.Rejected()
	page := product(1500 + failures + 1)
	got := e.resolver.Resolve(context.Background(), page, netip.MustParseAddr("203.0.113.1"))
	// Source Platform: the answer is the guard's refusal, not the UPSTREAM_TIMEOUT fallback.
	if want := (resolve.Result{Location: page, Outcome: resolve.Untagged, Source: resolve.Platform}); got != want {
		t.Errorf("new page with the breaker open: Resolve = %+v, want %+v (answered at once)", got, want)
	}
	if r := e.get(goPath(product(1600))); r.status != http.StatusFound || r.header.Get("Location") != product(1600) {
		t.Errorf("new page with the breaker open = %s, want 302 to the page untagged", r)
	}
	if got := e.guard.Rejected() - rejected; got != 2 {
		t.Errorf("calls refused by the open breaker = %d, want 2 (one per new page)", got)
	}
	if got := e.guard.Slow(); got < failures {
		t.Errorf("calls counted as outliving UPSTREAM_TIMEOUT = %d, want at least %d", got, failures)
	}
}
