package redirect

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/julienschmidt/httprouter"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
	"github.com/redirector/redirector/internal/aliurl"
	"github.com/redirector/redirector/internal/metrics"
)

// checkRedirect fails the test unless r is a 302 to want that no shared cache may keep.
func checkRedirect(t testing.TB, what string, r reply, want string) {
	t.Helper()
	if r.status != http.StatusFound || r.header.Get("Location") != want {
		t.Fatalf("%s = %s, want 302 to %q", what, r, want)
	}
	if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("%s: Cache-Control = %q, want no-store", what, cc)
	}
}

func TestGoTagged(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	page := product(1)
	r := e.get(goPath(page))
	checkRedirect(t, "GET /go", r, e.platform.Link(page))
	if got := e.platform.SourceValues(); !slices.Equal(got, []string{page}) {
		t.Errorf("platform was asked for %q, want [%q]", got, page)
	}
	if err := aliurl.CheckDestination(r.header.Get("Location")); err != nil {
		t.Errorf("CheckDestination(%q) = %v, want nil", r.header.Get("Location"), err)
	}

	calls := e.platform.Calls()
	for i := range 20 {
		checkRedirect(t, fmt.Sprintf("GET /go again (%d)", i), e.get(goPath(page)), e.platform.Link(page))
	}
	if got := e.platform.Calls(); got != calls {
		t.Errorf("platform calls after 20 cached clicks = %d, want %d (no new calls)", got, calls)
	}
}

func TestGoEverySpellingOneCacheEntry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	id := productID(2)
	page := product(2)
	spellings := []string{
		page,
		fmt.Sprintf("http://www.aliexpress.com/item/%d.html", id),
		fmt.Sprintf("https://aliexpress.com/item/%d.html", id),
		fmt.Sprintf("https://WWW.AliExpress.com/item/%d.html", id),
		fmt.Sprintf("https://m.aliexpress.com/item/%d.html?spm=a2g0o.home.0.0&gatewayAdapt=glo2usa", id),
		fmt.Sprintf("https://es.aliexpress.com/item/%d.html?spm=a2g0o.productlist.main.1&algo_pvid=5f1e&algo_exp_id=5f1e-0&curPageLogUid=AbC", id),
		fmt.Sprintf("https://pt.aliexpress.com/item/%d.html?gatewayAdapt=glo2bra", id),
		fmt.Sprintf("https://www.aliexpress.com/i/%d.html", id),
		fmt.Sprintf("https://www.aliexpress.com/item/%d", id),
		fmt.Sprintf("https://www.aliexpress.com/item/%d.html?utm_source=blog&utm_medium=post&aff_fcid=x&aff_platform=y&scm=1007.1&pdp_npi=4%%40dis", id),
		fmt.Sprintf("https://www.aliexpress.com/item/%d.html#reviews", id),
		fmt.Sprintf("https://www.aliexpress.com./item/%d.html", id),
		fmt.Sprintf("  https://www.aliexpress.com/item/%d.html  ", id),
	}
	for _, s := range spellings {
		checkRedirect(t, fmt.Sprintf("GET /go?u=%s", s), e.get(goPath(s)), e.platform.Link(page))
	}
	if got := e.platform.SourceValues(); !slices.Equal(got, []string{page}) {
		t.Errorf("platform was asked for %q, want [%q] once", got, page)
	}
}

func TestGoConcurrentClicksOneCall(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{UpstreamTimeout: 10 * time.Second})
	page := product(3)
	e.platform.SetLatency(50 * time.Millisecond) // the call is in flight while the clicks arrive
	const n = 200
	replies := make([]reply, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			replies[i] = e.get(goPath(page))
		})
	}
	close(start)
	wg.Wait()
	for i, r := range replies {
		checkRedirect(t, fmt.Sprintf("click %d", i), r, e.platform.Link(page))
	}
	if got := e.platform.Calls(); got != 1 {
		t.Errorf("platform calls for %d concurrent clicks on one new page = %d, want 1", n, got)
	}
}

func TestGoConcurrentPagesBatched(t *testing.T) {
	t.Parallel()
	// A long window: every click of the burst arrives within it, so only the batch size splits calls.
	e := newEnv(t, envOptions{UpstreamTimeout: 10 * time.Second, BatchWindow: 500 * time.Millisecond})
	const n, maxBatch = 120, 50
	replies := make([]reply, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			replies[i] = e.get(goPath(product(1000 + i)))
		})
	}
	close(start)
	wg.Wait()
	for i, r := range replies {
		checkRedirect(t, fmt.Sprintf("click on page %d", i), r, e.platform.Link(product(1000+i)))
	}
	least := (n + maxBatch - 1) / maxBatch
	if got := e.platform.Calls(); got < least || got > least+1 {
		t.Errorf("platform calls for %d new pages clicked together = %d, want %d (at most %d)", n, got, least, least+1)
	}
	if got := len(e.platform.SourceValues()); got != n {
		t.Errorf("platform was asked for %d sources, want %d (each page once)", got, n)
	}
}

func TestGoPlatformFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		failure affiliatetest.Failure
	}{
		{"5xx", affiliatetest.Fail5xx},
		{"html", affiliatetest.FailHTML},
		{"truncated json", affiliatetest.FailGarbage},
		{"ApiCallLimit", affiliatetest.FailRateLimit},
		{"empty 405", affiliatetest.FailEmpty},
		{"not registered", affiliatetest.FailNotRegistered},
		{"hangs past the timeout", affiliatetest.FailHang},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{})
			e.platform.FailAlways(tc.failure)
			page := product(4)
			for i := range 3 {
				start := time.Now()
				r := e.get(goPath(page))
				took := time.Since(start)
				checkRedirect(t, fmt.Sprintf("GET /go %d with the platform failing", i), r, page)
				if limit := 5 * e.opts.UpstreamTimeout; took > limit {
					t.Errorf("GET /go %d took %v, want under %v (UpstreamTimeout %v)", i, took, limit, e.opts.UpstreamTimeout)
				}
			}
			if got := e.platform.Calls(); got == 0 {
				t.Errorf("platform calls = 0, want the platform asked")
			}
		})
	}
	t.Run("not promotable", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOptions{})
		page := product(5)
		e.platform.SetNotPromotable(page)
		checkRedirect(t, "GET /go not promotable", e.get(goPath(page)), page)
		calls := e.platform.Calls()
		checkRedirect(t, "GET /go not promotable again", e.get(goPath(page)), page)
		if got := e.platform.Calls(); got != calls {
			t.Errorf("platform calls after a remembered not-promotable answer = %d, want %d", got, calls)
		}
	})
}

func TestGoRecoversAfterNegativeTTL(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{NegativeTTL: time.Minute})
	page := product(6)
	e.platform.FailAlways(affiliatetest.Fail5xx)
	checkRedirect(t, "GET /go during the outage", e.get(goPath(page)), page)

	e.platform.Reset()
	checkRedirect(t, "GET /go within NEGATIVE_TTL", e.get(goPath(page)), page)
	if got := e.platform.Calls(); got != 0 {
		t.Errorf("platform calls within NEGATIVE_TTL = %d, want 0 (the failure is remembered)", got)
	}

	e.clock.Advance(time.Minute + time.Second)
	checkRedirect(t, "GET /go after NEGATIVE_TTL", e.get(goPath(page)), e.platform.Link(page))
	if got := e.platform.Calls(); got != 1 {
		t.Errorf("platform calls after NEGATIVE_TTL = %d, want 1", got)
	}
}

func TestGoStaleDuringOutage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{LinkTTL: time.Minute, NegativeTTL: time.Minute})
	page := product(7)
	old := e.platform.Link(page)
	checkRedirect(t, "GET /go", e.get(goPath(page)), old)

	e.platform.Version.Store(1) // from now on the platform would give another link
	e.platform.FailAlways(affiliatetest.Fail5xx)
	e.clock.Advance(2 * time.Minute) // past LINK_TTL
	calls := e.platform.Calls()
	checkRedirect(t, "GET /go past LINK_TTL, platform down", e.get(goPath(page)), old)
	waitFor(t, "the background refresh to reach the platform", func() bool { return e.platform.Calls() > calls })
	checkRedirect(t, "GET /go after a failed refresh", e.get(goPath(page)), old)
	if got := counterValue(t, e.metrics.Go.Stale); got < 2 {
		t.Errorf("stale redirects counted = %v, want 2", got)
	}

	// Another instance over the same Redis has only the stale link too, and serves it.
	e2 := e.restart()
	checkRedirect(t, "GET /go on a new instance, platform down", e2.get(goPath(page)), old)

	// The platform is back and the failure's NEGATIVE_TTL has passed: the next click still gets the
	// old link at once, and the refresh it starts brings the new one.
	e.platform.Reset()
	e.clock.Advance(2 * time.Minute)
	checkRedirect(t, "GET /go as the platform recovers", e.get(goPath(page)), old)
	fresh := e.platform.Link(page)
	waitFor(t, "the refreshed link", func() bool { return e.get(goPath(page)).header.Get("Location") == fresh })
}

func TestGoRestartKeepsCache(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	pages := []string{product(8), product(9), product(10)}
	for _, p := range pages {
		checkRedirect(t, "GET /go", e.get(goPath(p)), e.platform.Link(p))
	}
	calls := e.platform.Calls()
	e2 := e.restart()
	for _, p := range pages {
		checkRedirect(t, "GET /go after a restart", e2.get(goPath(p)), e.platform.Link(p))
	}
	if got := e.platform.Calls(); got != calls {
		t.Errorf("platform calls after a restart = %d, want %d (answered from Redis)", got, calls)
	}
	if got := e2.links.Stats().RedisHits; got != uint64(len(pages)) {
		t.Errorf("Redis hits of the new instance = %d, want %d", got, len(pages))
	}
}

func TestGoRedisOutage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	cached := product(11)
	checkRedirect(t, "GET /go", e.get(goPath(cached)), e.platform.Link(cached))
	code := e.create(fmt.Sprintf(`{"url":%q}`, product(12)), http.StatusCreated).ID
	checkRedirect(t, "GET /{id}", e.get("/"+code), e.platform.Link(product(12)))
	if r := e.get("/readyz"); r.status != http.StatusOK {
		t.Fatalf("GET /readyz = %s, want 200", r)
	}

	e.redis.Stop()
	if r := e.get("/readyz"); r.status != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz with Redis down = %s, want 503", r)
	}
	checkRedirect(t, "GET /go cached, Redis down", e.get(goPath(cached)), e.platform.Link(cached))
	checkRedirect(t, "GET /{id}, Redis down", e.get("/"+code), e.platform.Link(product(12)))
	fresh := product(13)
	r := e.get(goPath(fresh))
	if loc := r.header.Get("Location"); r.status != http.StatusFound || (loc != e.platform.Link(fresh) && loc != fresh) {
		t.Errorf("GET /go new page, Redis down = %s, want 302 to its link or the page", r)
	}
	// A product code resolves from its id alone.
	other := product(14)
	code14 := mustProductCode(t, productID(14))
	if r := e.get("/" + code14); r.status != http.StatusFound || (r.header.Get("Location") != e.platform.Link(other) && r.header.Get("Location") != other) {
		t.Errorf("GET /{product code} never seen, Redis down = %s, want 302 to the product", r)
	}
	for _, path := range []string{goPath(cached), goPath(fresh), "/" + code, "/" + code14, "/unknown-slug"} {
		if r := e.get(path); r.status >= 500 {
			t.Errorf("GET %s with Redis down = %s, want no 5xx", path, r)
		}
	}
	apiError(t, "GET /api/links with Redis down", e.api(http.MethodGet, "/api/links", ""), http.StatusServiceUnavailable)

	e.redis.StartAgain(t)
	waitFor(t, "/readyz to answer 200 after Redis is back", func() bool { return e.get("/readyz").status == http.StatusOK })
	checkRedirect(t, "GET /go after Redis is back", e.get(goPath(cached)), e.platform.Link(cached))
	checkRedirect(t, "GET /{id} after Redis is back", e.get("/"+code), e.platform.Link(product(12)))
	e.create(fmt.Sprintf(`{"url":%q}`, product(15)), http.StatusCreated)
}

func TestGoHead(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	page := product(16)
	checkRedirect(t, "HEAD /go", e.request(http.MethodHead, goPath(page), nil), e.platform.Link(page))

	// The client cannot see a HEAD body; the handler's own output shows there is none.
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, goPath(page), nil))
	if rec.Code != http.StatusFound || rec.Body.Len() != 0 {
		t.Errorf("HEAD /go in process = %d with %d body bytes, want 302 and none", rec.Code, rec.Body.Len())
	}
}

// goRejectTests are /go requests that must be refused; the fuzz tests start from them too.
var goRejectTests = []struct {
	name, query string
}{
	{"no query", ""},
	{"no u", "x=1"},
	{"empty u", "u="},
	{"two u", "u=" + product(1) + "&u=" + product(2)},
	{"other site", "u=https%3A%2F%2Fevil.example%2Fitem%2F1.html"},
	{"javascript", "u=javascript%3Aalert(1)"},
	{"data", "u=data%3Atext%2Fhtml%2C%3Cscript%3Ealert(1)%3C%2Fscript%3E"},
	{"scheme relative", "u=%2F%2Fevil.example"},
	{"look-alike suffix", "u=https%3A%2F%2Fwww.aliexpress.com.evil.example%2Fitem%2F1.html"},
	{"user info", "u=https%3A%2F%2Fwww.aliexpress.com%40evil.example%2F"},
	{"backslash", "u=https%3A%2F%2Fevil.example%5C%40www.aliexpress.com%2F"},
	{"port", "u=https%3A%2F%2Fwww.aliexpress.com%3A8443%2Fitem%2F1.html"},
	{"ftp", "u=ftp%3A%2F%2Fwww.aliexpress.com%2F"},
	{"bad escape", "u=%zz"},
	{"redirector host", "u=https%3A%2F%2Fs.click.aliexpress.com%2Fdeep_link.htm%3Fdl_target_url%3Dhttps%253A%252F%252Fevil.example"},
	{"literal other site", "u=https://evil.example/item/1.html?x=https://www.aliexpress.com/&y=1"},
	{"literal user info", "u=https://www.aliexpress.com@evil.example/?a=1&b=2"},
	{"literal look-alike", "u=https://www.aliexpress.com.evil.example/item/1.html"},
	{"literal javascript", "u=javascript://www.aliexpress.com/%0aalert(1)"},
	{"literal redirector host", "u=https://s.click.aliexpress.com/deep_link.htm?dl_target_url=https://evil.example&x=1"},
}

func TestGoRejects(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	for _, tc := range goRejectTests {
		t.Run(tc.name, func(t *testing.T) {
			path := "/go"
			if tc.query != "" {
				path += "?" + tc.query
			}
			r := e.get(path)
			if r.status != http.StatusBadRequest {
				t.Fatalf("GET %s = %s, want 400", path, r)
			}
			if loc := r.header.Get("Location"); loc != "" {
				t.Errorf("GET %s: Location = %q, want none", path, loc)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("GET %s: Content-Type = %q, want text/plain", path, ct)
			}
			if reason := strings.TrimSpace(string(r.body)); reason == "" || len(reason) > 200 || strings.Contains(reason, "evil") {
				t.Errorf("GET %s: reason %q, want a short plain reason that does not echo the input", path, reason)
			}
		})
	}
	if got := e.platform.Calls(); got != 0 {
		t.Errorf("platform calls for refused URLs = %d, want 0", got)
	}
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	id := e.create(fmt.Sprintf(`{"url":%q}`, product(17)), http.StatusCreated).ID
	doomed := e.create(`{"url":"https://www.aliexpress.com/store/912345","slug":"doomed-link"}`, http.StatusCreated).ID
	auth := []string{"Authorization", "Bearer " + testToken}
	tests := []struct {
		name, method, path, body string
		header                   []string
		want                     int
	}{
		{"go", http.MethodGet, goPath(product(18)), "", nil, http.StatusFound},
		{"go head", http.MethodHead, goPath(product(18)), "", nil, http.StatusFound},
		{"healthz", http.MethodGet, "/healthz", "", nil, http.StatusOK},
		{"healthz head", http.MethodHead, "/healthz", "", nil, http.StatusOK},
		{"readyz", http.MethodGet, "/readyz", "", nil, http.StatusOK},
		{"metrics", http.MethodGet, "/metrics", "", nil, http.StatusOK},
		{"robots", http.MethodGet, "/robots.txt", "", nil, http.StatusOK},
		{"console", http.MethodGet, "/admin", "", nil, http.StatusOK},
		{"create", http.MethodPost, "/api/links", fmt.Sprintf(`{"url":%q}`, product(19)), auth, http.StatusCreated},
		{"list", http.MethodGet, "/api/links", "", auth, http.StatusOK},
		{"get", http.MethodGet, "/api/links/" + id, "", auth, http.StatusOK},
		{"retarget", http.MethodPatch, "/api/links/" + id, fmt.Sprintf(`{"url":%q}`, product(20)), auth, http.StatusOK},
		{"delete", http.MethodDelete, "/api/links/" + doomed, "", auth, http.StatusNoContent},
		{"short link", http.MethodGet, "/" + id, "", nil, http.StatusFound},
		{"short link head", http.MethodHead, "/" + id, "", nil, http.StatusFound},
		{"qr png", http.MethodGet, "/" + id + "/qr.png", "", nil, http.StatusOK},
		{"qr svg", http.MethodGet, "/" + id + "/qr.svg", "", nil, http.StatusOK},
		{"deleted short link", http.MethodGet, "/" + doomed, "", nil, http.StatusNotFound},
		{"unknown slug", http.MethodGet, "/no-such-link", "", nil, http.StatusNotFound},
		{"too short for an id", http.MethodGet, "/ab", "", nil, http.StatusNotFound},
		{"unknown subpath", http.MethodGet, "/" + id + "/other", "", nil, http.StatusNotFound},
		{"unknown api", http.MethodGet, "/api/other", "", auth, http.StatusNotFound},
		{"favicon", http.MethodGet, "/favicon.ico", "", nil, http.StatusNotFound},
		{"reserved in upper case", http.MethodGet, "/HEALTHZ", "", nil, http.StatusNotFound},
		{"short link trailing slash", http.MethodGet, "/" + id + "/", "", nil, http.StatusFound},
		{"post go", http.MethodPost, "/go", "", nil, http.StatusMethodNotAllowed},
		{"delete healthz", http.MethodDelete, "/healthz", "", nil, http.StatusMethodNotAllowed},
		{"post metrics", http.MethodPost, "/metrics", "", nil, http.StatusMethodNotAllowed},
		{"put api links", http.MethodPut, "/api/links", "", auth, http.StatusMethodNotAllowed},
		{"post short link", http.MethodPost, "/" + id, "", nil, http.StatusMethodNotAllowed},
		{"delete qr", http.MethodDelete, "/" + id + "/qr.png", "", nil, http.StatusMethodNotAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body *strings.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			var r reply
			if body != nil {
				r = e.request(tc.method, tc.path, body, tc.header...)
			} else {
				r = e.request(tc.method, tc.path, nil, tc.header...)
			}
			if r.status != tc.want {
				t.Errorf("%s %s = %s, want %d", tc.method, tc.path, r, tc.want)
			}
			if strings.HasPrefix(tc.path, "/api/") && r.status >= 400 {
				apiError(t, tc.method+" "+tc.path, r, tc.want)
			}
		})
	}
}

// TestStaticRoutesRefuseIDs checks the guard that lets clicks on /{id} bypass the router: a static
// route whose first segment could be a short link's id is refused at start.
func TestStaticRoutesRefuseIDs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, path string
		refused    bool
	}{
		{"reserved", "/go", false},
		{"reserved prefix", "/api/links/:id", false},
		{"root", "/", false},
		{"valid id", "/spring-sale", true},
		{"valid id prefix", "/spring-sale/:file", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			refused := func() (refused bool) {
				defer func() { refused = recover() != nil }()
				staticRoutes{httprouter.New(), new([]route)}.Handler(http.MethodGet, tc.path, http.NotFoundHandler())
				return false
			}()
			if refused != tc.refused {
				t.Errorf("Handler(GET, %q) refused = %v, want %v", tc.path, refused, tc.refused)
			}
		})
	}
}

func TestMetricsRedirectLabels(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	id := e.create(fmt.Sprintf(`{"url":%q}`, product(21)), http.StatusCreated).ID
	e.get(goPath(product(22)))
	e.get(goPath(product(22)))
	e.get("/go?u=javascript%3Aalert(1)")
	e.get("/" + id)
	e.get("/no-such-link")
	e.platform.FailAlways(affiliatetest.Fail5xx)
	e.get(goPath(product(23)))

	r := e.get("/metrics")
	if r.status != http.StatusOK {
		t.Fatalf("GET /metrics = %s, want 200", r)
	}
	body := string(r.body)
	for _, line := range []string{
		`redirector_redirects_total{outcome="tagged",route="go"} 2`,
		`redirector_redirects_total{outcome="rejected",route="go"} 1`,
		`redirector_redirects_total{outcome="untagged",route="go"} 1`,
		`redirector_redirects_total{outcome="tagged",route="id"} 1`,
		`redirector_redirects_total{outcome="notfound",route="id"} 1`,
	} {
		if !slices.Contains(strings.Split(body, "\n"), line) {
			t.Errorf("GET /metrics has no line %q", line)
		}
	}
}

// panicking is a ShareResolver that panics, standing in for a bug anywhere below a handler.
type panicking struct{}

func (panicking) Resolve(context.Context, aliurl.Page) (aliurl.Page, error) { panic("resolver bug") }

func TestPanicRecovered(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	srv := httptest.NewServer(NewServer(Deps{Metrics: m, BaseURL: testBase, Shares: panicking{}}))
	defer srv.Close()
	for i := range 3 {
		resp, err := http.Get(srv.URL + goPath("https://a.aliexpress.com/_mKx1a2B"))
		if err != nil {
			t.Fatalf("GET /go %d: %v (the server should live on)", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusInternalServerError {
			t.Errorf("GET /go %d with a panicking resolver = %d, want 500", i, resp.StatusCode)
		}
	}
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz after panics: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz after panics = %d, want 200", resp.StatusCode)
	}
	if got := counterValue(t, m.Panics); got != 3 {
		t.Errorf("panics counted = %v, want 3", got)
	}
}

func TestPanicAbortHandlerPassesThrough(t *testing.T) {
	t.Parallel()
	h := middleware(nilLogger(), metrics.New(), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic(http.ErrAbortHandler)
	}))
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Errorf("recover() = %v, want http.ErrAbortHandler passed on to net/http", v)
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
}

// counterValue reads a counter's value.
func counterValue(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatalf("read counter: %v", err)
	}
	return m.GetCounter().GetValue()
}
