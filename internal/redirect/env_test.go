package redirect

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/affiliate"
	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
	"github.com/redirector/redirector/internal/aliurl"
	"github.com/redirector/redirector/internal/bio"
	"github.com/redirector/redirector/internal/breaker"
	"github.com/redirector/redirector/internal/cache"
	"github.com/redirector/redirector/internal/clicks"
	"github.com/redirector/redirector/internal/clocktest"
	"github.com/redirector/redirector/internal/earnings"
	"github.com/redirector/redirector/internal/health"
	"github.com/redirector/redirector/internal/invalidate"
	"github.com/redirector/redirector/internal/metrics"
	"github.com/redirector/redirector/internal/preview"
	"github.com/redirector/redirector/internal/qr"
	"github.com/redirector/redirector/internal/redistest"
	"github.com/redirector/redirector/internal/resolve"
	"github.com/redirector/redirector/internal/shortid"
	"github.com/redirector/redirector/internal/shortlink"
	"github.com/redirector/redirector/internal/store"
	"github.com/redirector/redirector/internal/webhook"
)

// Values the tests share.
const (
	testToken = "test-admin-token-5fQ"
	testBase  = "https://go.example.test"
	chromeUA  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
	googleUA  = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; +http://www.google.com/bot.html) Chrome/126.0.6478.126 Safari/537.36"
	facebook  = "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"
	curlUA    = "curl/8.5.0"
)

// product returns the canonical page of the test product n: every test that needs a page of its own
// takes a different n, so no two share a cache entry.
func product(n int) string {
	return fmt.Sprintf("https://www.aliexpress.com/item/%d.html", productID(n))
}

// productID is the AliExpress product id of test product n.
func productID(n int) int64 { return 1005001000000000 + int64(n) }

// clock is a settable time source; the zero clock is the wall clock plus an offset the test moves
// forward, so that the platform fake (which checks timestamps against the wall clock) and Redis
// agree with the service.
type clock = clocktest.Clock

// envOptions tune a test service; zero fields take the defaults named on them.
type envOptions struct {
	UpstreamTimeout time.Duration // default 300ms
	LoadTimeout     time.Duration // default 2s
	BatchWindow     time.Duration // default 5ms
	LinkTTL         time.Duration // default 1h
	NegativeTTL     time.Duration // default 5m
	NoAdmin         bool          // no ADMIN_TOKEN: the admin API answers 403
	Preview         bool          // link-preview fetchers get an Open Graph page
	// Breaker puts the platform behind a real breaker.Guard wired as cmd/redirector wires it
	// (link generation and product details, SlowAfter = UpstreamTimeout), opening after
	// BreakerFailures (default 5) and staying open a minute.
	Breaker         bool
	BreakerFailures uint32
	// ClientRate and ClientBurst are each client's budget of platform calls (CLIENT_RATE,
	// CLIENT_BURST); 0: no budget. Loopback is a trusted proxy, so a test names the client of a
	// request with X-Forwarded-For.
	ClientRate  float64
	ClientBurst int
	QR          *qr.Cache // default: qr.NewCache's defaults
	// Limits, when set, are the admission control as given (ClientRate and ClientBurst are then ignored).
	Limits *LimitOptions
	// Shares, when set, is where share links are followed; otherwise they fail as an unreachable network would.
	Shares *affiliatetest.ShareServer
	// Redis and Platform, when set, are shared with another env (a restart of the service).
	Redis    *redistest.Server
	Platform *platform
	Clock    *clock
	SubID    bool // SUB_ID=link
	// DedupWindow and StatsTop are CLICK_DEDUP_WINDOW and STATS_TOP; 0: their defaults (1h, 50).
	DedupWindow time.Duration
	StatsTop    int
	// Health wires a health.Monitor (e.monitor) into the service; not run: tests call it.
	Health bool
	// PlatformRate is the client's rate of platform calls a second; default 1000. PlatformBurst is its
	// burst; default the rate, rounded up.
	PlatformRate  float64
	PlatformBurst int
	// Webhooks, when set, wires a running webhook.Service with these options (e.webhooks).
	Webhooks *webhook.Options
}

// platform is a strict platform fake on a loopback port whose links change when Version moves on.
type platform struct {
	*affiliatetest.Platform
	URL     string
	Version atomic.Int64 // 0: affiliatetest.Link(source); n > 0: the link of source#n
}

// Link is the promotion link the fake now hands out for source.
func (p *platform) Link(source string) string {
	if v := p.Version.Load(); v > 0 {
		return affiliatetest.Link(fmt.Sprintf("%s#%d", source, v))
	}
	return affiliatetest.Link(source)
}

// startShares starts a fake share host that stops when the test ends.
func startShares(t testing.TB) *affiliatetest.ShareServer {
	t.Helper()
	s, err := affiliatetest.NewShareServer()
	if err != nil {
		t.Fatalf("start share host: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// startPlatform starts a fake platform that stops when the test ends.
func startPlatform(t testing.TB) *platform {
	p := &platform{}
	fake, srv := affiliatetest.NewServer(affiliatetest.PlatformConfig{LinkFunc: p.Link, TrackingIDs: []string{testChannel}})
	t.Cleanup(srv.Close)
	p.Platform, p.URL = fake, srv.URL
	return p
}

// env is the whole service, built as cmd/redirector builds it, over a real redis-server and the
// strict platform fake, served by httptest.
type env struct {
	t        testing.TB
	opts     envOptions
	redis    *redistest.Server
	rdb      redis.UniversalClient
	platform *platform
	clock    *clock
	links    *cache.Links
	resolver *resolve.Resolver
	guard    *breaker.Guard // nil unless envOptions.Breaker
	counter  *clicks.Counter
	// pages, renderer and pageViews are the bio pages' store, renders and view counter.
	pages     *bio.Store
	renderer  *bio.Renderer
	pageViews *clicks.Counter
	metrics   *metrics.Metrics
	handler   http.Handler
	srv       *httptest.Server
	client    *http.Client
	monitor   *health.Monitor // nil unless envOptions.Health
	records   *store.Records

	webhooks *webhook.Service // nil unless envOptions.Webhooks
}

// newEnv starts a service. Everything it starts is stopped when the test ends.
func newEnv(t testing.TB, opts envOptions) *env {
	t.Helper()
	if opts.UpstreamTimeout == 0 {
		opts.UpstreamTimeout = 300 * time.Millisecond
	}
	if opts.LoadTimeout == 0 {
		opts.LoadTimeout = 2 * time.Second
	}
	if opts.BatchWindow == 0 {
		opts.BatchWindow = 5 * time.Millisecond
	}
	if opts.LinkTTL == 0 {
		opts.LinkTTL = time.Hour
	}
	if opts.NegativeTTL == 0 {
		opts.NegativeTTL = 5 * time.Minute
	}
	if opts.Redis == nil {
		opts.Redis = redistest.Start(t)
	}
	if opts.Platform == nil {
		opts.Platform = startPlatform(t)
	}
	if opts.Clock == nil {
		opts.Clock = &clock{}
	}
	e := &env{t: t, opts: opts, redis: opts.Redis, platform: opts.Platform, clock: opts.Clock}

	ctx := context.Background()
	rdb, err := store.Connect(ctx, e.redis.URL, store.ConnectOptions{})
	if err != nil {
		t.Fatalf("store.Connect(%s): %v", e.redis.URL, err)
	}
	e.rdb = rdb
	cfg := e.platform.Config()
	client, err := affiliate.New(affiliate.Config{
		AppKey: cfg.AppKey, AppSecret: cfg.Secret, TrackingID: cfg.TrackingID, APIURL: e.platform.URL,
		BatchWindow: opts.BatchWindow, RatePerSecond: cmp.Or(opts.PlatformRate, 1000), Burst: opts.PlatformBurst,
	})
	if err != nil {
		t.Fatalf("affiliate.New: %v", err)
	}
	e.links = cache.NewLinks(rdb, cache.LinkOptions{Tier1Size: 10_000, Now: e.clock.Now, Tier1Key: aliurl.ShortKey})
	lo := LimitOptions{
		PlatformRate: opts.ClientRate, PlatformBurst: opts.ClientBurst,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
	}
	if opts.Limits != nil {
		lo = *opts.Limits
	}
	limits := NewLimits(lo)
	notPromotable := func(err error) bool { return errors.Is(err, affiliate.ErrNotPromotable) }
	var gen resolve.Generator = client
	var details preview.Details = client
	if opts.Breaker {
		e.guard = breaker.New(client, breaker.Options{
			Failures: opts.BreakerFailures, OpenFor: time.Minute, SlowAfter: opts.UpstreamTimeout,
			IsSuccess:  notPromotable,
			IsExcluded: func(err error) bool { return errors.Is(err, affiliate.ErrWouldWait) },
		})
		gen, details = e.guard, e.guard.Details(client)
	}
	e.resolver = resolve.New(e.links, gen, resolve.Options{
		LinkTTL: opts.LinkTTL, NegativeTTL: opts.NegativeTTL,
		UpstreamTimeout: opts.UpstreamTimeout, LoadTimeout: opts.LoadTimeout,
		IsNotPromotable: notPromotable,
		Validate:        aliurl.CheckDestination,
		Admit:           limits.Admit,
		Now:             e.clock.Now,
	})
	records := store.NewRecords(rdb)
	e.metrics = metrics.New()
	lookup := shortlink.New(records, shortlink.Options{Rejected: e.metrics.RecordsRejected})
	// Alone on its Redis as far as it knows: another env over the same Redis (restart) is a restarted
	// process, not a replica told of changes.
	e.pages = bio.NewStore(rdb, 0)
	e.renderer = bio.NewRenderer(e.pages, lookup, bio.PreviewProducts(preview.New(details, preview.Options{Admit: limits.Admit})),
		testBase, bio.RenderOptions{})
	forget := func(id string) { lookup.Forget(id); e.renderer.Forget() }
	changes := invalidate.New(ctx, nil, nil, invalidate.Handlers{Record: forget, Link: e.links.Forget})
	counters := store.NewCountersWith(rdb, store.CountersOptions{DedupWindow: opts.DedupWindow, Top: opts.StatsTop})
	views := e.pages.ViewSink(counters, opts.DedupWindow)
	e.pageViews = clicks.NewCounter(views, clicks.Options{FlushInterval: 20 * time.Millisecond, Visits: views})
	e.counter = clicks.NewCounter(counters, clicks.Options{FlushInterval: 20 * time.Millisecond, Visits: counters})
	token := testToken
	if opts.NoAdmin {
		token = ""
	}
	// No test reaches the network: without opts.Shares, share links fail as an unreachable network would.
	shareDial := func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("the tests do not reach the network")
	}
	var shareTLS *tls.Config
	if opts.Shares != nil {
		shareDial, shareTLS = opts.Shares.Dial, opts.Shares.TLSConfig()
	}
	var previewer Previewer
	if opts.Preview {
		previewer = preview.New(details, preview.Options{Admit: limits.Admit})
	}
	e.records = records
	var monitor Health
	if opts.Health {
		e.monitor = health.New(records, client, changes, health.Options{Rate: 1000, Now: e.clock.Now})
		monitor = e.monitor
	}
	var hooks Webhooks
	if opts.Webhooks != nil {
		e.webhooks = webhook.New(rdb, *opts.Webhooks)
		hooks = e.webhooks
		hctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); e.webhooks.Run(hctx) }()
		t.Cleanup(func() { stop(); <-done })
	}
	e.handler = NewServer(Deps{
		Webhooks:   hooks,
		Channels:   Channels{Default: cfg.TrackingID, List: []string{cfg.TrackingID, testChannel}},
		SubID:      opts.SubID,
		Earnings:   earnings.NewStore(rdb, 0),
		Metrics:    e.metrics,
		BaseURL:    testBase,
		AdminToken: token,
		Links:      e.resolver,
		Shares: aliurl.NewResolver(aliurl.ResolverConfig{
			Timeout: 200 * time.Millisecond, Now: e.clock.Now, DialContext: shareDial, TLSClientConfig: shareTLS,
		}),
		Targets:    lookup,
		ShortLinks: shortlink.NewService(records, changes),
		Clicks:     e.counter,
		Records:    records,
		Stats:      counters,
		StatsTop:   opts.StatsTop,
		Ready:      func(ctx context.Context) error { return store.Ping(ctx, rdb) },
		Previewer:  previewer,
		Bio: BioDeps{Pages: e.pages, Renderer: e.renderer, Views: e.pageViews,
			Changed: func(ctx context.Context, key string) { changes.RecordChanged(ctx, "@"+key) }},
		Health: monitor,
		Limits: limits,
		QR:     opts.QR,
		Now:    e.clock.Now,
	})
	e.srv = httptest.NewServer(e.handler)
	transport := http.DefaultTransport.(*http.Transport).Clone()
	// Tests send up to a few hundred requests at once: past the default total of 100 idle
	// connections, a loaded machine can see putIdleConn fail a request's connection.
	transport.MaxIdleConns, transport.MaxIdleConnsPerHost = 1024, 1024
	e.client = &http.Client{
		Transport:     transport,
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	// Cleanups run last-in first-out: the server drains, then the counter flushes, then the platform
	// client stops its calls, then Redis is closed.
	t.Cleanup(func() { _ = rdb.Close() })
	t.Cleanup(client.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.counter.Close(ctx); err != nil {
			t.Logf("close click counter: %v", err)
		}
		if err := e.pageViews.Close(ctx); err != nil {
			t.Logf("close page views counter: %v", err)
		}
	})
	t.Cleanup(func() {
		e.srv.Close()
		transport.CloseIdleConnections()
	})
	return e
}

// restart starts a second instance of the service over the same Redis and platform: what a
// process restart (or another replica) sees. The first instance keeps running.
func (e *env) restart() *env {
	e.t.Helper()
	opts := e.opts
	opts.Clock = e.clock
	return newEnv(e.t, opts)
}

// reply is an answer read whole.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// String describes the reply for failure messages.
func (r reply) String() string {
	return fmt.Sprintf("%d %q Location=%q", r.status, truncate(string(r.body), 200), r.header.Get("Location"))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// request sends one request to the service. header is pairs of names and values.
func (e *env) request(method, path string, body io.Reader, header ...string) reply {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatalf("NewRequest(%s %s): %v", method, path, err)
	}
	req.Header.Set("User-Agent", chromeUA)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// get sends a GET from a person's browser, unless header says otherwise.
func (e *env) get(path string, header ...string) reply {
	e.t.Helper()
	return e.request(http.MethodGet, path, nil, header...)
}

// goPath is the /go path for the page u.
func goPath(u string) string { return "/go?u=" + url.QueryEscape(u) }

// api sends an admin API request with the right token; body, when not empty, is sent as JSON.
func (e *env) api(method, path, body string) reply {
	e.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	return e.request(method, path, r, "Authorization", "Bearer "+testToken, "Content-Type", "application/json")
}

// linkReply is a link as the admin API answers it.
type linkReply struct {
	ID        string          `json:"id"`
	ShortURL  string          `json:"short_url"`
	Target    string          `json:"target"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
	QRPNG     string          `json:"qr_png"`
	QRSVG     string          `json:"qr_svg"`
	Warnings  []string        `json:"warnings"`
	Channel   string          `json:"channel"`
	Labels    []string        `json:"labels"`
	LastClick *time.Time      `json:"last_click_at"`
	Earnings  json.RawMessage `json:"earnings"`
	Clicks    *int64          `json:"clicks"`
	Scans     *int64          `json:"scans"`
	Visitors  *int64          `json:"visitors"`
	Bio       *int64          `json:"bio"`
	Daily     []struct {
		Date     string `json:"date"`
		Clicks   int64  `json:"clicks"`
		Scans    int64  `json:"scans"`
		Bio      int64  `json:"bio"`
		Visitors int64  `json:"visitors"`
	} `json:"daily"`
}

// decode reads a JSON body strictly into v, failing the test when it does not fit.
func decode(t testing.TB, r reply, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(r.body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %s into %T: %v", r, v, err)
	}
}

// create makes a link through the API and returns it, failing the test unless the status is want.
func (e *env) create(body string, want int) linkReply {
	e.t.Helper()
	r := e.api(http.MethodPost, "/api/links", body)
	if r.status != want {
		e.t.Fatalf("POST /api/links %s = %s, want %d", body, r, want)
	}
	var l linkReply
	decode(e.t, r, &l)
	return l
}

// apiError checks that r is a JSON error with the status want and returns its message.
func apiError(t testing.TB, what string, r reply, want int) string {
	t.Helper()
	if r.status != want {
		t.Fatalf("%s = %s, want %d", what, r, want)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type = %q, want application/json", what, ct)
	}
	var body struct {
		Error string `json:"error"`
	}
	decode(t, r, &body)
	if body.Error == "" {
		t.Errorf("%s: body %q has no error message", what, r.body)
	}
	return body.Error
}

// waitFor polls cond until it holds, failing the test after a generous deadline.
var waitFor = clocktest.WaitFor

// nilLogger discards everything.
func nilLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// mustProductCode returns the short-link id of the product id.
func mustProductCode(t testing.TB, id int64) string {
	t.Helper()
	code, err := shortid.Product(strconv.FormatInt(id, 10))
	if err != nil {
		t.Fatalf("shortid.Product(%d): %v", id, err)
	}
	return code
}
