package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// config is the process's configuration, read from the environment. README.md documents each
// variable with its default.
type config struct {
	ListenAddr string `env:"LISTEN_ADDR" envDefault:":8080"`
	BaseURL    string `env:"BASE_URL"` // required without -dev
	RedisURL   string `env:"REDIS_URL"`

	RedisClusterAddrs  []string `env:"REDIS_CLUSTER_ADDRS"`
	RedisSentinelAddrs []string `env:"REDIS_SENTINEL_ADDRS"`
	RedisSentinelName  string   `env:"REDIS_SENTINEL_MASTER"`

	DataDir      string        `env:"DATA_DIR" envDefault:"./data"` // the embedded store's file, or the record mirror's
	Mirror       string        `env:"MIRROR" envDefault:"on"`
	MirrorResync time.Duration `env:"MIRROR_RESYNC" envDefault:"10m"`

	AppKey     string `env:"ALIEXPRESS_APP_KEY"`
	AppSecret  string `env:"ALIEXPRESS_APP_SECRET"`
	TrackingID string `env:"ALIEXPRESS_TRACKING_ID"`
	// TrackingIDs are the channels (see config_money.go); the first is the default when TrackingID is unset.
	TrackingIDs       []string       `env:"ALIEXPRESS_TRACKING_IDS"`
	SubID             string         `env:"SUB_ID" envDefault:"off"`
	OrderSyncInterval time.Duration  `env:"ORDER_SYNC_INTERVAL" envDefault:"10m"`
	OrderLookback     time.Duration  `env:"ORDER_LOOKBACK" envDefault:"1440h"`
	OrderTimeZone     string         `env:"ORDER_TIME_ZONE" envDefault:"America/Los_Angeles"`
	orderZone         *time.Location // parsed OrderTimeZone
	APIURL            string         `env:"ALIEXPRESS_API_URL" envDefault:"https://api-sg.aliexpress.com/sync"`

	LinkTTL         time.Duration `env:"LINK_TTL" envDefault:"24h"`
	NegativeTTL     time.Duration `env:"NEGATIVE_TTL" envDefault:"5m"`
	StaleTTL        time.Duration `env:"STALE_TTL" envDefault:"720h"`
	UpstreamTimeout time.Duration `env:"UPSTREAM_TIMEOUT" envDefault:"2s"`
	AdminToken      string        `env:"ADMIN_TOKEN"`

	CacheSize    int           `env:"CACHE_SIZE" envDefault:"100000"`
	CacheTTL     time.Duration `env:"CACHE_TTL" envDefault:"5m"`
	RecordTTL    time.Duration `env:"RECORD_CACHE_TTL" envDefault:"30s"`
	RedisTimeout time.Duration `env:"REDIS_TIMEOUT" envDefault:"50ms"`

	BatchSize    int           `env:"BATCH_SIZE" envDefault:"50"`
	BatchWindow  time.Duration `env:"BATCH_WINDOW" envDefault:"20ms"`
	PlatformRate float64       `env:"PLATFORM_RATE" envDefault:"20"`
	ShareTimeout time.Duration `env:"SHARE_TIMEOUT" envDefault:"2s"`
	PreviewTTL   time.Duration `env:"PREVIEW_TTL" envDefault:"24h"`
	// HealthInterval is how often every link's product is checked on the platform (internal/health).
	HealthInterval time.Duration `env:"HEALTH_INTERVAL" envDefault:"24h"`

	BreakerFailures uint32        `env:"BREAKER_FAILURES" envDefault:"5"`
	BreakerOpenFor  time.Duration `env:"BREAKER_OPEN_FOR" envDefault:"10s"`
	MaxInFlight     int           `env:"PLATFORM_MAX_IN_FLIGHT" envDefault:"1000"`

	ClientRate     float64  `env:"CLIENT_RATE" envDefault:"2"`
	ClientBurst    int      `env:"CLIENT_BURST" envDefault:"20"`
	AuthFailures   int      `env:"AUTH_FAILURES_PER_MINUTE" envDefault:"10"`
	TrustedProxies []string `env:"TRUSTED_PROXIES"`
	IPv6Prefix     int      `env:"CLIENT_IPV6_PREFIX" envDefault:"64"`
	MaxRequests    int      `env:"MAX_ADMIN_IN_FLIGHT" envDefault:"64"`

	ClickBuffer    int           `env:"CLICK_BUFFER" envDefault:"65536"`
	ClickFlush     time.Duration `env:"CLICK_FLUSH" envDefault:"1s"`
	ClickRetention time.Duration `env:"CLICK_RETENTION" envDefault:"2160h"`
	DedupWindow    time.Duration `env:"CLICK_DEDUP_WINDOW" envDefault:"1h"`
	StatsTop       int           `env:"STATS_TOP" envDefault:"50"`

	// WebhookAllowPrivate lets webhooks reach loopback and private addresses, over http too.
	WebhookAllowPrivate bool `env:"WEBHOOK_ALLOW_PRIVATE"`

	LogLevel        string        `env:"LOG_LEVEL" envDefault:"info"`
	DebugAddr       string        `env:"DEBUG_ADDR"`
	MetricsAddr     string        `env:"METRICS_ADDR"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"15s"`

	trusted  []netip.Prefix // parsed TrustedProxies
	logLevel slog.Level     // parsed LogLevel
}

// configError is a configuration that cannot be served; main exits with status 2 for it.
type configError struct{ problems []string }

func (e *configError) Error() string {
	return "configuration: " + strings.Join(e.problems, "; ")
}

// loadConfig reads and checks the configuration, naming every missing or bad setting at once.
// In dev mode the platform credentials and BASE_URL are not needed; BASE_URL is then
// http://localhost:<LISTEN_ADDR's port>.
func loadConfig(environ []string, dev bool) (config, error) {
	vars := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	var cfg config
	var problems []string
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: vars}); err != nil {
		var agg env.AggregateError
		if errors.As(err, &agg) {
			for _, e := range agg.Errors {
				problems = append(problems, envProblem(e))
			}
		} else {
			problems = append(problems, envProblem(err))
		}
	}
	problems = append(problems, checkMoney(&cfg)...)
	if !dev {
		var missing []string
		for name, v := range map[string]string{
			"ALIEXPRESS_APP_KEY": cfg.AppKey, "ALIEXPRESS_APP_SECRET": cfg.AppSecret, "ALIEXPRESS_TRACKING_ID": cfg.TrackingID,
		} {
			if v == "" {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			slices.Sort(missing)
			problems = append(problems, "missing "+strings.Join(missing, ", ")+" (or run with -dev for the sandbox platform)")
		}
		if u, err := url.Parse(cfg.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			problems = append(problems, fmt.Sprintf("ALIEXPRESS_API_URL %q is not an http(s) URL", cfg.APIURL))
		}
	}
	switch {
	case cfg.BaseURL == "" && dev:
		_, port, err := net.SplitHostPort(cfg.ListenAddr)
		if err != nil || port == "" {
			port = "8080"
		}
		cfg.BaseURL = "http://localhost:" + port
	case cfg.BaseURL == "":
		// Short URLs and QR codes are printed and kept for years: one built on a guessed origin
		// is a dead link nobody notices until it is out.
		problems = append(problems, "BASE_URL is required: the public origin of short URLs and QR codes, such as https://go.example.com (or run with -dev)")
	}
	if u, err := url.Parse(cfg.BaseURL); cfg.BaseURL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "") {
		problems = append(problems, fmt.Sprintf("BASE_URL %q is not an http(s) origin like https://go.example.com", cfg.BaseURL))
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	for name, d := range map[string]time.Duration{
		"LINK_TTL": cfg.LinkTTL, "NEGATIVE_TTL": cfg.NegativeTTL, "UPSTREAM_TIMEOUT": cfg.UpstreamTimeout,
		"CACHE_TTL": cfg.CacheTTL, "RECORD_CACHE_TTL": cfg.RecordTTL, "REDIS_TIMEOUT": cfg.RedisTimeout,
		"BATCH_WINDOW": cfg.BatchWindow, "SHARE_TIMEOUT": cfg.ShareTimeout, "PREVIEW_TTL": cfg.PreviewTTL, "BREAKER_OPEN_FOR": cfg.BreakerOpenFor, "CLICK_FLUSH": cfg.ClickFlush,
		"CLICK_RETENTION": cfg.ClickRetention, "SHUTDOWN_TIMEOUT": cfg.ShutdownTimeout,
		"MIRROR_RESYNC":   cfg.MirrorResync,
		"HEALTH_INTERVAL": cfg.HealthInterval,
	} {
		if d <= 0 {
			problems = append(problems, name+" must be a positive duration such as 5m")
		}
	}
	if len(cfg.RedisSentinelAddrs) > 0 && cfg.RedisSentinelName == "" {
		problems = append(problems, "REDIS_SENTINEL_ADDRS needs REDIS_SENTINEL_MASTER, the name of the master")
	}
	if len(cfg.RedisSentinelAddrs) > 0 && len(cfg.RedisClusterAddrs) > 0 {
		problems = append(problems, "set REDIS_CLUSTER_ADDRS or REDIS_SENTINEL_ADDRS, not both")
	}
	if cfg.StaleTTL < 0 {
		problems = append(problems, "STALE_TTL must not be negative")
	}
	if cfg.Mirror != "on" && cfg.Mirror != "off" {
		problems = append(problems, fmt.Sprintf("MIRROR %q is not on or off", cfg.Mirror))
	}
	if cfg.DataDir == "" {
		problems = append(problems, "DATA_DIR must name a directory (default ./data) for the embedded store's file or the record mirror's")
	}
	if cfg.BatchSize < 1 || cfg.BatchSize > 50 {
		problems = append(problems, "BATCH_SIZE must be from 1 to 50")
	}
	if cfg.CacheSize < 0 {
		problems = append(problems, "CACHE_SIZE must not be negative")
	}
	if _, _, err := net.SplitHostPort(cfg.DebugAddr); cfg.DebugAddr != "" && err != nil {
		problems = append(problems, "DEBUG_ADDR must be a host:port such as 127.0.0.1:6060")
	}
	if _, _, err := net.SplitHostPort(cfg.MetricsAddr); cfg.MetricsAddr != "" && err != nil {
		problems = append(problems, "METRICS_ADDR must be a host:port such as 127.0.0.1:9090")
	}
	if cfg.IPv6Prefix < 32 || cfg.IPv6Prefix > 128 {
		problems = append(problems, "CLIENT_IPV6_PREFIX must be from 32 to 128 (the bits of an IPv6 address that name one client)")
	}
	if cfg.BreakerFailures < 1 {
		problems = append(problems, "BREAKER_FAILURES must be at least 1")
	}
	if cfg.MaxInFlight < 1 {
		problems = append(problems, "PLATFORM_MAX_IN_FLIGHT must be at least 1")
	}
	if cfg.PlatformRate <= 0 {
		problems = append(problems, "PLATFORM_RATE must be positive")
	}
	if cfg.MaxRequests < 1 {
		problems = append(problems, "MAX_ADMIN_IN_FLIGHT must be at least 1")
	}
	if cfg.ClickBuffer < 1 {
		problems = append(problems, "CLICK_BUFFER must be positive")
	}
	if cfg.DedupWindow < 0 {
		problems = append(problems, "CLICK_DEDUP_WINDOW must not be negative (0: every visit counts)")
	}
	if cfg.StatsTop < 1 || cfg.StatsTop > 1000 {
		problems = append(problems, "STATS_TOP must be from 1 to 1000")
	}
	for _, s := range cfg.TrustedProxies {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			ip, err2 := netip.ParseAddr(strings.TrimSpace(s))
			if err2 != nil {
				problems = append(problems, fmt.Sprintf("TRUSTED_PROXIES entry %q is not a CIDR or IP", s))
				continue
			}
			p = netip.PrefixFrom(ip, ip.BitLen())
		}
		cfg.trusted = append(cfg.trusted, p.Masked())
	}
	if err := cfg.logLevel.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		problems = append(problems, fmt.Sprintf("LOG_LEVEL %q is not one of debug, info, warn, error", cfg.LogLevel))
	}
	slices.Sort(problems)
	if len(problems) > 0 {
		return cfg, &configError{problems: problems}
	}
	return cfg, nil
}

// envProblem describes an error of env.Parse. A value that cannot be read is named by its
// variable, as the operator wrote it, not by the Go field env reports.
func envProblem(err error) string {
	var pe env.ParseError
	if errors.As(err, &pe) {
		if f, ok := reflect.TypeFor[config]().FieldByName(pe.Name); ok {
			if name, _, _ := strings.Cut(f.Tag.Get("env"), ","); name != "" {
				return fmt.Sprintf("%s: %v", name, pe.Err)
			}
		}
	}
	return err.Error()
}

// usesRedis reports whether a Redis (single, cluster or sentinel) is configured rather than the
// embedded store.
func (c config) usesRedis() bool {
	return c.RedisURL != "" || len(c.RedisClusterAddrs) > 0 || len(c.RedisSentinelAddrs) > 0
}
