// Package redirect is the redirector's HTTP face: its routes, handlers and middleware.
package redirect

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/redirector/redirector/internal/aliurl"
	"github.com/redirector/redirector/internal/cache"
	"github.com/redirector/redirector/internal/metrics"
	"github.com/redirector/redirector/internal/resolve"
)

// LinkResolver turns a canonical page into the Location to send; *resolve.Resolver is one.
type LinkResolver interface {
	// Resolve never fails: its worst answer is the canonical page, untagged. client is the
	// *http.Request of the click, for admission control (see Limits.Admit).
	Resolve(ctx context.Context, key, canonical string, client any) resolve.Result
}

// ShareResolver follows AliExpress share links to the page they lead to; *aliurl.Resolver is one.
type ShareResolver interface {
	Resolve(ctx context.Context, p aliurl.Page) (aliurl.Page, error)
}

// Targets answers where a short link points; *shortlink.Lookup is one.
type Targets interface {
	// Target returns ok=false for an unknown or deleted link.
	Target(ctx context.Context, id string) (target string, ok bool, err error)
	// Forget drops what is known in process of id, after a write.
	Forget(id string)
}

// ClickRecorder counts a human visit without blocking; *clicks.Counter is one.
type ClickRecorder interface {
	Record(id string, scan bool)
}

// Records is the store of short-link records; *cache.Records is one.
type Records interface {
	Create(ctx context.Context, rec cache.Record) error
	Get(ctx context.Context, id string) (cache.Record, bool, error)
	Retarget(ctx context.Context, id, target string, now time.Time) (cache.Record, error)
	Delete(ctx context.Context, id string, now time.Time) error
	List(ctx context.Context, cursor string, limit int) ([]cache.Record, string, error)
	IDForTarget(ctx context.Context, target string) (string, bool, error)
	SetTargetID(ctx context.Context, target, id string) (holder string, ok bool, err error)
	Each(ctx context.Context, fn func(cache.Record) error) error
}

// ClickStats reads a short link's counters; *cache.Counters is one.
type ClickStats interface {
	Stats(ctx context.Context, id string, days int, now time.Time) (cache.Stats, error)
}

// Previewer renders the page that link-preview fetchers get for a short link.
type Previewer interface {
	// Preview returns ok=false when no preview can be had; the fetcher then gets the plain redirect.
	Preview(ctx context.Context, target, location, shortURL string) (page []byte, ok bool)
}

// Deps are what the server needs. Previewer may be nil; the rest are required.
type Deps struct {
	Logger     *slog.Logger
	Metrics    *metrics.Metrics
	BaseURL    string // public origin, no trailing slash
	AdminToken string // empty: the admin API answers 403
	Links      LinkResolver
	Shares     ShareResolver
	Targets    Targets
	Clicks     ClickRecorder
	Records    Records
	Stats      ClickStats
	Previewer  Previewer
	// Ready reports whether the store answers, for /readyz.
	Ready func(ctx context.Context) error
	// Limits is the admission control for platform work and failed admin logins; zero: no limits.
	Limits Limits
	Now    func() time.Time

	// MetricsElsewhere says that Metrics are served on a listener of their own (METRICS_ADDR):
	// this handler then answers 404 for /metrics. False: it serves them.
	MetricsElsewhere bool
}

// NewServer returns the redirector's handler with every route and middleware.
func NewServer(d Deps) http.Handler {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Metrics == nil {
		d.Metrics = metrics.New()
	}
	var h http.Handler = routes(d)
	h = requestID(h)
	h = accessLog(d.Logger, h)
	h = recoverPanics(d.Logger, d.Metrics, h)
	return h
}
