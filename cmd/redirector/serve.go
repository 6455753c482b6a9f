package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/affiliate"
	"github.com/redirector/redirector/internal/aliurl"
	"github.com/redirector/redirector/internal/bio"
	"github.com/redirector/redirector/internal/breaker"
	"github.com/redirector/redirector/internal/cache"
	"github.com/redirector/redirector/internal/clicks"
	"github.com/redirector/redirector/internal/health"
	"github.com/redirector/redirector/internal/invalidate"
	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/metrics"
	"github.com/redirector/redirector/internal/preview"
	"github.com/redirector/redirector/internal/qr"
	"github.com/redirector/redirector/internal/redirect"
	"github.com/redirector/redirector/internal/resolve"
	"github.com/redirector/redirector/internal/shortlink"
	"github.com/redirector/redirector/internal/store"
)

// HTTP server limits: slow clients cannot hold connections, and headers stay small.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 16 << 10
)

// Each client's budget of QR codes drawn: a console page of 50 new links draws its codes at once,
// and a client past it gets 429, so a flood of uncacheable codes from one client costs at most
// qrRenderRate renderings a second (about 2–5 ms each at 2048 px).
const (
	qrRenderRate  = 10
	qrRenderBurst = 60
)

// runServe parses the flags and configuration, wires the service and serves until ctx ends.
func runServe(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("", stderr)
	dev := fs.Bool("dev", false, "development mode: embedded store (DATA_DIR), sandbox platform, generated admin token")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Sprintf("unknown command %q (run redirector help for the list)", fs.Arg(0)))
	}
	cfg, err := loadConfig(environ, *dev)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: cfg.logLevel}))
	m := metrics.New()

	st, err := openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer st.close()

	var banner string
	shareCfg := aliurl.ResolverConfig{Timeout: cfg.ShareTimeout}
	if *dev {
		sb, err := startSandbox(&cfg)
		if err != nil {
			return err
		}
		defer sb.close()
		banner = devBanner(&cfg)
		shareCfg.DialContext, shareCfg.TLSClientConfig = sb.shareDial, sb.shareTLS
	}

	client, err := affiliate.New(affiliate.Config{
		AppKey: cfg.AppKey, AppSecret: cfg.AppSecret, TrackingID: cfg.TrackingID, APIURL: cfg.APIURL,
		BatchWindow: cfg.BatchWindow, MaxBatch: cfg.BatchSize, RatePerSecond: cfg.PlatformRate,
		Logger: logger,
		OnCall: func(result string, d time.Duration, n int) {
			m.PlatformCalls.WithLabelValues(result).Inc()
			m.PlatformLatency.Observe(d.Seconds())
			m.BatchSize.Observe(float64(n))
		},
	})
	if err != nil {
		return &configError{problems: []string{err.Error()}}
	}
	defer client.Close()

	// changes owns invalidation: replicas sharing a Redis tell each other of changes through it, so
	// none serves an old entry from its first tier for long. It empties the first tiers made here,
	// so it is made once they are (below); links first writes, and tells it, when a click is served.
	var changes *invalidate.Owner
	tier1TTL := cfg.CacheTTL
	if st.kind == "embedded" {
		tier1TTL = -1 // one process writes the store: its first tier never holds an entry changed elsewhere
	}
	links := cache.NewLinks(st.links, cache.LinkOptions{
		Tier1Size: cfg.CacheSize, Tier1TTL: tier1TTL, RedisTimeout: cfg.RedisTimeout,
		Written:  func(ctx context.Context, key string) { changes.LinkWritten(ctx, key) },
		Tier1Key: aliurl.ShortKey,
	})
	limits := redirect.NewLimits(redirect.LimitOptions{
		PlatformRate: cfg.ClientRate, PlatformBurst: cfg.ClientBurst,
		AuthFailures: cfg.AuthFailures, TrustedProxies: cfg.trusted, MaxInFlight: cfg.MaxRequests,
		IPv6Prefix: cfg.IPv6Prefix, RenderRate: qrRenderRate, RenderBurst: qrRenderBurst,
	})
	notPromotable := func(err error) bool { return errors.Is(err, affiliate.ErrNotPromotable) }
	guard := breaker.New(client, breaker.Options{
		Failures: cfg.BreakerFailures, OpenFor: cfg.BreakerOpenFor, MaxInFlight: cfg.MaxInFlight,
		// A call no click waits for any more is a failure then: a hanging platform opens the
		// breaker after BREAKER_FAILURES such calls, not when they reach their load time-out.
		SlowAfter: cfg.UpstreamTimeout,
		IsSuccess: notPromotable,
		// Product details that found no platform token free were never sent.
		IsExcluded: func(err error) bool { return errors.Is(err, affiliate.ErrWouldWait) },
		OnStateChange: func(from, to string) {
			logger.Warn("platform circuit breaker", "from", from, "to", to)
		},
	})
	resolver := resolve.New(links, guard, resolve.Options{
		LinkTTL: cfg.LinkTTL, NegativeTTL: cfg.NegativeTTL, StaleTTL: cfg.StaleTTL,
		UpstreamTimeout: cfg.UpstreamTimeout,
		IsNotPromotable: notPromotable,
		Validate:        aliurl.CheckDestination,
		Admit:           limits.Admit,
		Logger:          logger,
	})
	records := store.NewRecords(st.rdb)
	// The mirror answers every record while Redis does not; it reads Redis until closed, so it is
	// closed before the store's client (deferred earlier).
	mir, err := openMirror(ctx, cfg, st.kind == "redis", records, logger)
	if err != nil {
		return err
	}
	lookupOpts := shortlink.Options{
		Size: cfg.CacheSize, Fresh: cfg.RecordTTL,
		// A record seen once is kept as long as a stale affiliate link is, to answer while Redis is out.
		Keep:   cfg.LinkTTL + cfg.StaleTTL,
		Logger: logger, Rejected: m.RecordsRejected,
	}
	forget := func(id string) {}
	if mir != nil {
		defer mir.Close()
		registerMirrorStats(m, mir)
		lookupOpts.Mirror = mir
		forget = mir.Changed
	}
	lookup := shortlink.New(records, lookupOpts)
	go indexSlugs(ctx, records, logger) // slugs made before they were matched ignoring case
	var replicas redis.UniversalClient  // nil: the embedded store, a process alone
	if st.kind == "redis" {
		replicas = st.rdb
	}
	// Previews are platform calls like link generation: the same client budget, rate, in-flight
	// cap and breaker.
	previewer := preview.New(guard.Details(client), preview.Options{TTL: cfg.PreviewTTL, Admit: limits.Admit, Logger: logger})
	// Bio pages: any change of a short link or a page (announced as "@" + handle) drops every
	// render kept, here and on the other replicas.
	pages := bio.NewStore(st.rdb, cfg.ClickRetention)
	renderer := bio.NewRenderer(pages, lookup, bio.PreviewProducts(previewer), cfg.BaseURL, bio.RenderOptions{})
	// A change made here or announced by another replica drops the first tier's entry and the kept
	// bio renders, and has the mirror read the record again.
	recordChanged := func(id string) {
		lookup.Forget(id)
		renderer.Forget()
		forget(id)
	}
	changes = invalidate.New(ctx, replicas, logger, invalidate.Handlers{Record: recordChanged, Link: links.Forget})
	defer changes.Close() // before the mirror and the store's client close (deferred earlier)
	dedup := cfg.DedupWindow
	if dedup == 0 {
		dedup = -1 // CLICK_DEDUP_WINDOW=0: every visit counts
	}
	counters := store.NewCountersWith(st.rdb, store.CountersOptions{Retention: cfg.ClickRetention, DedupWindow: dedup, Top: cfg.StatsTop})
	counter := clicks.NewCounter(counters, clicks.Options{
		BufferSize: cfg.ClickBuffer, FlushInterval: cfg.ClickFlush, Logger: logger, Visits: counters,
	})
	registerStats(m, links, counter, guard)
	// Page views are counted like clicks: once per visitor per page per CLICK_DEDUP_WINDOW.
	views := pages.ViewSink(counters, dedup)
	pageViews := clicks.NewCounter(views, clicks.Options{FlushInterval: cfg.ClickFlush, Logger: logger, Visits: views})
	codes := qr.NewCache(qr.CacheOptions{})
	registerQRStats(m, codes)
	hooks := startWebhooks(ctx, cfg, st.rdb, m, logger)
	defer hooks.stop() // before the store closes (deferred earlier)
	orders := startOrderSync(ctx, cfg, st.rdb, client, records, guard, m, logger, hooks.Service)
	// The health check takes a tenth of PLATFORM_RATE, and only tokens the clicks leave spare; it is
	// behind the breaker, so it does not call a platform found failing.
	monitor := health.New(records, guard.Catalog(client), changes, health.Options{
		Interval: cfg.HealthInterval, Rate: cfg.PlatformRate / 10, Products: previewer.Put, Logger: logger,
		OnChange: hooks.healthChanged,
	})
	registerHealthStats(m, monitor)
	hctx, stopHealth := context.WithCancel(ctx)
	healthDone := make(chan struct{})
	go func() { defer close(healthDone); monitor.Run(hctx) }()
	defer func() { stopHealth(); <-healthDone }() // before the store closes (deferred earlier)

	handler := redirect.NewServer(redirect.Deps{
		Logger:     logger,
		Metrics:    m,
		BaseURL:    cfg.BaseURL,
		AdminToken: cfg.AdminToken,
		Links:      resolver,
		Shares:     aliurl.NewResolver(shareCfg),
		Targets:    lookup,
		ShortLinks: shortlink.NewService(records, changes),
		Clicks:     counter,
		Records:    records,
		Stats:      counters,
		Ready:      st.ping,
		Previewer:  previewer,
		Bio: redirect.BioDeps{
			Pages: pages, Renderer: renderer, Views: pageViews,
			Changed: func(ctx context.Context, key string) { changes.RecordChanged(ctx, "@"+key) },
		},
		QR:        codes,
		Limits:    limits,
		Channels:  redirect.Channels{Default: cfg.TrackingID, List: cfg.TrackingIDs},
		SubID:     cfg.SubID == "link",
		Earnings:  orders,
		OrderZone: cfg.orderZone,
		StatsTop:  cfg.StatsTop,
		Health:    monitor,
		Webhooks:  hooks.Service,

		MetricsElsewhere: cfg.MetricsAddr != "",
	})
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		// A click may wait for a share link and then the platform; WriteTimeout leaves room for both.
		WriteTimeout:   cfg.UpstreamTimeout + cfg.ShareTimeout + 10*time.Second,
		IdleTimeout:    idleTimeout,
		MaxHeaderBytes: maxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	if cfg.DebugAddr != "" {
		dbg, err := serveDebug(cfg.DebugAddr, logger)
		if err != nil {
			return err
		}
		defer dbg.Close()
	}
	if cfg.MetricsAddr != "" {
		ms, err := serveMetrics(cfg.MetricsAddr, m, logger)
		if err != nil {
			return err
		}
		defer ms.Close()
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.ListenAddr, err)
	}
	logger.Info("listening", "addr", ln.Addr().String(), "base_url", cfg.BaseURL, "store", st.kind, "dev", *dev,
		"cache_size", cfg.CacheSize, "memory_limit", memoryLimit())
	if banner != "" {
		fmt.Fprint(stderr, banner)
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	logger.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		logger.Error("drain requests", "err", err)
	}
	if err := counter.Close(sctx); err != nil {
		logger.Error("flush click counts", "err", err)
	}
	if err := pageViews.Close(sctx); err != nil {
		logger.Error("flush page views", "err", err)
	}
	logger.Info("stopped", "clicks_dropped", counter.Dropped())
	return nil
}

// registerStats exposes the counts that other packages keep as atomics.
func registerStats(m *metrics.Metrics, links *cache.Links, counter *clicks.Counter, guard *breaker.Guard) {
	m.GaugeFunc("redirector_platform_breaker_open", "1 while the platform circuit breaker is open or half-open, else 0.",
		func() float64 {
			if guard.State() == "closed" {
				return 0
			}
			return 1
		})
	m.CounterFunc("redirector_platform_rejected_total", "Platform calls refused by the circuit breaker or the in-flight cap.",
		func() float64 { return float64(guard.Rejected()) })
	m.GaugeFunc("redirector_platform_in_flight", "Platform calls under way.",
		func() float64 { return float64(guard.InFlight()) })
	m.CounterFunc("redirector_platform_slow_total", "Platform calls that outlived UPSTREAM_TIMEOUT, each counted then as a breaker failure.",
		func() float64 { return float64(guard.Slow()) })
	m.CounterFunc("redirector_cache_tier1_hits_total", "Affiliate links answered from the in-process tier.",
		func() float64 { return float64(links.Stats().Tier1Hits) })
	m.CounterFunc("redirector_cache_redis_hits_total", "Affiliate links answered from Redis.",
		func() float64 { return float64(links.Stats().RedisHits) })
	m.CounterFunc("redirector_cache_misses_total", "Affiliate link lookups found in neither tier.",
		func() float64 { return float64(links.Stats().Misses) })
	m.CounterFunc("redirector_redis_errors_total", "Redis calls of the link cache that failed or timed out.",
		func() float64 { return float64(links.Stats().RedisErrors) })
	m.CounterFunc("redirector_clicks_dropped_total", "Click counts dropped because the buffer was full or the store refused them.",
		func() float64 { return float64(counter.Dropped()) })
	m.CounterFunc("redirector_clicks_flushed_total", "Click events written to the store.",
		func() float64 { return float64(counter.Flushed()) })
	m.GaugeFunc("redirector_clicks_pending", "Click events buffered, not yet written.",
		func() float64 { return float64(counter.Pending()) })
}

// registerHealthStats exposes the last health check's links per state, read from the store at scrape
// time (any replica may have run it).
func registerHealthStats(m *metrics.Metrics, monitor *health.Monitor) {
	for _, st := range link.HealthStates {
		m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "redirector_links_health", Help: "Live short links per health state at the last health check.",
			ConstLabels: prometheus.Labels{"state": string(st)},
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			rep, err := monitor.Report(ctx)
			if err != nil {
				return math.NaN()
			}
			return float64(rep.Counts[st])
		}))
	}
}

// registerQRStats exposes what the QR code cache counts.
func registerQRStats(m *metrics.Metrics, codes *qr.Cache) {
	m.CounterFunc("redirector_qr_renders_total", "QR codes rendered (not found in the cache).",
		func() float64 { return float64(codes.Stats().Renders) })
	m.CounterFunc("redirector_qr_cache_hits_total", "QR codes answered from the cache.",
		func() float64 { return float64(codes.Stats().Hits) })
	m.CounterFunc("redirector_qr_refused_total", "QR codes refused with 503 because the render cap was full.",
		func() float64 { return float64(codes.Stats().Refused) })
	m.GaugeFunc("redirector_qr_cache_bytes", "What the QR codes in the cache weigh, in bytes.",
		func() float64 { return float64(codes.Stats().Bytes) })
}

// serveMetrics serves the Prometheus metrics on addr (METRICS_ADDR), apart from the service's
// own listener, which then does not serve them: only who can reach addr can read them.
func serveMetrics(addr string, m *metrics.Metrics, logger *slog.Logger) (*http.Server, error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on METRICS_ADDR %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler: mux, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout, IdleTimeout: idleTimeout,
		MaxHeaderBytes: maxHeaderBytes, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	go func() { _ = srv.Serve(ln) }()
	logger.Info("serving metrics", "addr", ln.Addr().String(), "path", "/metrics")
	return srv, nil
}

// serveDebug serves Go's profiles (net/http/pprof) on addr, apart from the service's own
// listener, so that they are reachable only where addr is (a loopback address, say).
func serveDebug(addr string, logger *slog.Logger) (*http.Server, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on DEBUG_ADDR %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug)}
	go func() { _ = srv.Serve(ln) }()
	logger.Info("serving profiles", "addr", ln.Addr().String(), "path", "/debug/pprof/")
	return srv, nil
}
