// Package redirect is the redirector's HTTP face: its routes, handlers and middleware.
package redirect

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/redirector/redirector/internal/aliurl"
	"github.com/redirector/redirector/internal/bio"
	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/metrics"
	"github.com/redirector/redirector/internal/qr"
	"github.com/redirector/redirector/internal/resolve"
	"github.com/redirector/redirector/internal/shortlink"
	"github.com/redirector/redirector/internal/stats"
)

// LinkResolver turns a canonical page into the Location to send; *resolve.Resolver is one.
type LinkResolver interface {
	// Resolve never fails: its worst answer is page itself, untagged. client names who clicked,
	// for admission control (see Limits.Admit).
	Resolve(ctx context.Context, page string, client netip.Addr) resolve.Result
	// ResolveOn is Resolve with the link tagged on channel ("" the default channel), one of Channels.
	ResolveOn(ctx context.Context, page, channel string, client netip.Addr) resolve.Result
}

// ShareResolver follows AliExpress share links to the page they lead to; *aliurl.Resolver is one.
type ShareResolver interface {
	Resolve(ctx context.Context, p aliurl.Page) (aliurl.Page, error)
}

// Targets answers where a short link points; *shortlink.Lookup is one.
type Targets interface {
	// Link returns ok=false for an unknown or deleted link, or one whose stored target is refused;
	// Link.Recorded says whether a live record backs the answer.
	Link(ctx context.Context, id string) (link shortlink.Link, ok bool, err error)
}

// ShortLinks creates, retargets and deletes short links, deciding which id a new one gets;
// *shortlink.Service is one, whose methods' comments give the contract: errors are link.ErrInvalid,
// link.ErrExists, link.ErrNotFound, shortlink.ErrNoFreeID or the store's.
type ShortLinks interface {
	Create(ctx context.Context, page aliurl.Page, slug string, now time.Time) (rec link.Record, created bool, err error)
	CreateSpec(ctx context.Context, spec shortlink.Spec, now time.Time) (rec link.Record, created bool, err error)
	Retarget(ctx context.Context, id string, page aliurl.Page, now time.Time) (link.Record, error)
	Patch(ctx context.Context, id string, spec shortlink.PatchSpec, now time.Time) (link.Record, error)
	Delete(ctx context.Context, id string, now time.Time) error
}

// ClickRecorder counts a human visit without blocking; *clicks.Counter is one. Visit counts it once per
// visitor per link per window, with its dimensions; Record counts every call.
type ClickRecorder interface {
	Record(id string, scan bool)
	Visit(id string, h stats.Hit)
}

// Records reads the store of short-link records; *store.Records is one. Writes go through ShortLinks.
type Records interface {
	Get(ctx context.Context, id string) (link.Record, bool, error)
	List(ctx context.Context, cursor string, limit int) ([]link.Record, string, error)
	Each(ctx context.Context, fn func(link.Record) error) error
	Listing
}

// ClickStats reads a short link's counters; *store.Counters is one.
type ClickStats interface {
	Stats(ctx context.Context, id string, days int, now time.Time) (link.Stats, error)
	// Report returns the counts of the link id (all links when id is "") on the UTC days from from to
	// to, at most store.MaxReportDays; each dimension lists at most top values and "other".
	Report(ctx context.Context, id string, from, to time.Time, top int) (stats.Report, error)
	// Totals returns each id's totals (no Daily), in order, for export.
	Totals(ctx context.Context, ids []string) ([]link.Stats, error)
	// Visitors returns each id's distinct visitors over the last days UTC days, in order.
	Visitors(ctx context.Context, ids []string, days int, now time.Time) ([]int64, error)
}

// Previewer renders the page that link-preview fetchers get for a short link; *preview.Previewer
// is one.
type Previewer interface {
	// Preview returns ok=false when no preview can be had, or not without a platform call that
	// client's budget, the platform's rate, the in-flight cap or the breaker refuses; the fetcher
	// then gets the plain redirect. client names the fetcher (see Limits.Admit).
	Preview(ctx context.Context, target, location, shortURL string, client netip.Addr) (page []byte, ok bool)
}

// BioDeps are what the bio pages (/@{handle}, /api/pages) need; see internal/bio.
type BioDeps struct {
	// Pages stores the pages; *bio.Store is one. nil: no bio pages (/@{handle} answers 404).
	Pages BioPages
	// Renderer renders a page, from its cache when it can; *bio.Renderer is one.
	Renderer BioRenderer
	// Views counts a human view of a page by its key (lower-case handle), described by the visitor's
	// hit (kept in memory until the next write, never stored); a *clicks.Counter whose Visits is a
	// *bio.ViewSink is one, counting each visitor once per page per CLICK_DEDUP_WINDOW.
	Views interface{ Visit(key string, h stats.Hit) }
	// Changed is told of every page written or deleted here, so every replica drops its renders:
	// *invalidate.Owner's RecordChanged, given "@" and the page's key.
	Changed func(ctx context.Context, key string)
}

// BioPages stores bio pages; *bio.Store is one. Errors wrap link.ErrExists (Create: the handle is
// taken in any case) and link.ErrNotFound (Replace, Delete: no such page).
type BioPages interface {
	Create(ctx context.Context, p bio.Page) error
	Replace(ctx context.Context, p bio.Page) error
	Get(ctx context.Context, handle string) (bio.Page, bool, error)
	Delete(ctx context.Context, handle string) error
	List(ctx context.Context) ([]bio.Page, error)
	Each(ctx context.Context, fn func(bio.Page) error) error
	Views(ctx context.Context, handle string) (int64, error)
}

// BioRenderer renders a page; *bio.Renderer is one.
type BioRenderer interface {
	Render(ctx context.Context, handle string, client netip.Addr) (bio.Rendered, error)
}

// Deps are what the server needs. Previewer and QR may be nil; the rest are required.
type Deps struct {
	Logger     *slog.Logger
	Metrics    *metrics.Metrics
	BaseURL    string // public origin, no trailing slash
	AdminToken string // empty: the admin API answers 403
	Links      LinkResolver
	Shares     ShareResolver
	Targets    Targets
	ShortLinks ShortLinks
	Clicks     ClickRecorder
	Records    Records
	Stats      ClickStats
	Previewer  Previewer
	// Bio are the creators' bio pages; zero: none.
	Bio BioDeps
	// Health knows the links' health (api_health.go); nil: no health fields, filter or routes.
	Health Health
	// QR renders and keeps the QR codes; nil: a qr.Cache with its defaults.
	QR *qr.Cache
	// Ready reports whether the store answers, for /readyz.
	Ready func(ctx context.Context) error
	// Limits is the admission control for platform work and failed admin logins; zero: no limits.
	Limits Limits
	Now    func() time.Time
	// Channels are the tracking ids links may be tagged with besides the default one
	// (ALIEXPRESS_TRACKING_IDS): a short link's or a /go request's channel must be one of them.
	Channels Channels
	// SubID, when true (SUB_ID=link), appends af=<id> to a short link's affiliate link.
	SubID bool
	// Earnings reads synced orders; nil: links show no earnings and the report answers 404.
	Earnings Earnings
	// OrderZone is the platform's zone (ORDER_TIME_ZONE): a report's days are its days.
	OrderZone *time.Location
	// StatsTop is how many values per dimension the stats endpoints list (STATS_TOP); 0: 50.
	StatsTop int
	// Webhooks are told of link changes and serve /api/webhooks; nil: no events, and those routes 404.
	Webhooks Webhooks

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
	if d.QR == nil {
		d.QR = qr.NewCache(qr.CacheOptions{})
	}
	return middleware(d.Logger, d.Metrics, routes(d))
}
