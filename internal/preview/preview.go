// Package preview renders the small Open Graph page that link-preview fetchers (Facebook, X,
// WhatsApp, Telegram, Slack, Discord, LinkedIn…) get for a short link, so a shared link shows a card.
package preview

import (
	"bytes"
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/redirector/redirector/internal/affiliate"
	"github.com/redirector/redirector/internal/aliurl"
	"github.com/redirector/redirector/internal/breaker"
	"github.com/redirector/redirector/internal/flight"
)

// Details fetches a product's title, image and price; *affiliate.Client is one, and so is what
// breaker.Guard.Details returns (the same in-flight cap and breaker as link generation).
type Details interface {
	ProductDetail(ctx context.Context, productID, currency, language string) (affiliate.Product, error)
}

// Options tune a Previewer. Zero values take the defaults.
type Options struct {
	// TTL is how long a product's details are kept (default 24h); each product is fetched at
	// most once per TTL.
	TTL time.Duration
	// NegativeTTL is how long a failed fetch is remembered (default 5m).
	NegativeTTL time.Duration
	// Timeout bounds the wait for the platform (default 1.5s).
	Timeout time.Duration
	// Currency and Language are asked of the platform (default USD, EN).
	Currency, Language string
	// Size bounds the products kept (default 10,000).
	Size int
	// Admit is asked only for a fetch that would start a call to the platform (details neither
	// cached nor being fetched): a fetch that joins one under way, or is answered from the cache,
	// is not asked. When it returns false the fetcher gets no page, at once. It is called with a
	// lock held that every miss takes: it must be quick. client is what the caller passed to
	// Preview to say who asked. Default: always admit.
	Admit  func(ctx context.Context, client netip.Addr) bool
	Logger *slog.Logger
}

type entry struct {
	product affiliate.Product
	ok      bool
}

// Previewer renders preview pages from cached product details. Safe for concurrent use.
type Previewer struct {
	details Details
	opts    Options
	cache   *otter.Cache[string, entry]
	loads   flight.Group[entry] // one fetch per product at a time
}

// New returns a Previewer that asks details for product details.
func New(details Details, opts Options) *Previewer {
	if opts.TTL <= 0 {
		opts.TTL = 24 * time.Hour
	}
	if opts.NegativeTTL <= 0 {
		opts.NegativeTTL = 5 * time.Minute
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 1500 * time.Millisecond
	}
	if opts.Currency == "" {
		opts.Currency = "USD"
	}
	if opts.Language == "" {
		opts.Language = "EN"
	}
	if opts.Size <= 0 {
		opts.Size = 10_000
	}
	if opts.Admit == nil {
		opts.Admit = func(context.Context, netip.Addr) bool { return true }
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ttl, neg := opts.TTL, opts.NegativeTTL
	return &Previewer{
		details: details,
		opts:    opts,
		cache: otter.Must(&otter.Options[string, entry]{
			MaximumSize: opts.Size,
			ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, entry]) time.Duration {
				if e.Value.ok {
					return ttl
				}
				return neg
			}),
		}),
	}
}

// Preview returns the page for a short link whose canonical target is target, whose click goes
// to location and whose own URL is shortURL. ok=false when target is not a product or its
// details cannot be had (client refused by Options.Admit, the platform's rate, in-flight cap or
// breaker refusing the call, or no answer within Timeout); the fetcher then gets the plain
// redirect. client names who asked, for Options.Admit alone: the key of the client's budget
// (see resolve.Resolver.Resolve).
func (p *Previewer) Preview(ctx context.Context, target, location, shortURL string, client netip.Addr) ([]byte, bool) {
	page, err := aliurl.Parse(target)
	if err != nil || page.Kind != aliurl.Product {
		return nil, false
	}
	prod, ok := p.product(ctx, page.ID, client)
	if !ok {
		return nil, false
	}
	var b bytes.Buffer
	err = pageTemplate.Execute(&b, view{
		Title: prod.Title, Image: prod.ImageURL, Price: prod.Price, Currency: prod.Currency,
		Location: location, ShortURL: shortURL,
	})
	if err != nil {
		p.opts.Logger.Error("render preview", "product", page.ID, "err", err)
		return nil, false
	}
	return b.Bytes(), true
}

// product returns the product's details from the cache or, once per TTL, from the platform.
func (p *Previewer) product(ctx context.Context, id string, client netip.Addr) (affiliate.Product, bool) {
	if e, hit := p.cache.GetIfPresent(id); hit {
		return e.product, e.ok
	}
	call, _ := p.loads.Do(id, func() bool {
		// A fetch that ended since the lookup above has cached its answer: this one is free.
		if _, hit := p.cache.GetIfPresent(id); hit {
			return true
		}
		return p.opts.Admit(ctx, client)
	}, func() entry {
		if e, hit := p.cache.GetIfPresent(id); hit {
			return e
		}
		// The fetch outlives the fetcher that asked: the next one finds it cached.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 4*p.opts.Timeout)
		defer cancel()
		prod, err := p.details.ProductDetail(lctx, id, p.opts.Currency, p.opts.Language)
		ok := err == nil && prod.Title != "" && validImage(prod.ImageURL)
		if refused(err) {
			// Not an answer about the product: the next fetcher may ask again.
			p.opts.Logger.Debug("product details refused", "product", id, "err", err)
			return entry{}
		}
		if err != nil && !errors.Is(err, affiliate.ErrNotPromotable) {
			p.opts.Logger.Warn("product details", "product", id, "err", err)
		}
		p.cache.Set(id, entry{product: prod, ok: ok})
		return entry{product: prod, ok: ok}
	})
	if call == nil {
		return affiliate.Product{}, false
	}
	timer := time.NewTimer(p.opts.Timeout)
	defer timer.Stop()
	select {
	case <-call.Done():
		e := call.Val()
		return e.product, e.ok
	case <-timer.C:
	case <-ctx.Done():
	}
	return affiliate.Product{}, false
}

// Put keeps products found elsewhere (the health check's batches), by product id, so a preview of
// them costs no platform call within TTL.
func (p *Previewer) Put(products map[string]affiliate.Product) {
	for id, prod := range products {
		p.cache.Set(id, entry{product: prod, ok: prod.Title != "" && validImage(prod.ImageURL)})
	}
}

// refused reports whether err is a call refused before it reached the platform: by the client's
// rate limit, the in-flight cap or the breaker.
func refused(err error) bool {
	return errors.Is(err, affiliate.ErrWouldWait) || errors.Is(err, breaker.ErrBusy) || errors.Is(err, breaker.ErrOpen)
}

// validImage accepts only https images on AliExpress's image hosts (alicdn.com, aliexpress-media.com).
func validImage(raw string) bool {
	if len(raw) > 2048 {
		return false
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.User != nil || u.Port() != "" {
		return false
	}
	h := u.Hostname()
	return strings.HasSuffix(h, ".alicdn.com") || strings.HasSuffix(h, ".aliexpress-media.com")
}

type view struct {
	Title, Image, Price, Currency, Location, ShortURL string
}

// pageTemplate escapes every value: titles come from sellers.
var pageTemplate = template.Must(template.New("preview").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{{.Title}}</title>
<meta property="og:type" content="product">
<meta property="og:site_name" content="AliExpress">
<meta property="og:title" content="{{.Title}}">
<meta property="og:image" content="{{.Image}}">
<meta property="og:url" content="{{.ShortURL}}">
{{if .Price}}<meta property="og:description" content="{{.Price}} {{.Currency}} on AliExpress">
<meta property="product:price:amount" content="{{.Price}}">
<meta property="product:price:currency" content="{{.Currency}}">{{end}}
<meta name="twitter:card" content="summary_large_image">
<meta name="twitter:title" content="{{.Title}}">
<meta name="twitter:image" content="{{.Image}}">
<meta name="robots" content="noindex">
</head><body>
<p><a href="{{.Location}}">{{.Title}}</a>{{if .Price}} — {{.Price}} {{.Currency}}{{end}}</p>
</body></html>
`))
