// Package resolve picks the link a click is sent to: a cached affiliate link, a new one from the
// platform, or, when neither can be had in time, the page itself, untagged.
package resolve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"time"

	"github.com/redirector/redirector/internal/cache"
	"github.com/redirector/redirector/internal/flight"
)

// Generator makes the affiliate link of a page. It is called concurrently, once per page at a time.
type Generator interface {
	Generate(ctx context.Context, source string) (string, error)
}

// Outcome says what kind of link a click was sent to. It is the service's one word for it: the
// handlers count it under its String (see metrics.Outcomes), and the cache records only what the
// platform answered (cache.Status), from which Resolve tells the outcome.
type Outcome uint8

const (
	// Tagged is a current affiliate link.
	Tagged Outcome = iota + 1
	// Stale is an affiliate link past its LinkTTL, served because no newer one could be had yet.
	Stale
	// Untagged is the page itself, without affiliate tracking.
	Untagged
)

// String returns the outcome's lower-case name, for logs and metric labels.
func (o Outcome) String() string {
	switch o {
	case Tagged:
		return "tagged"
	case Stale:
		return "stale"
	case Untagged:
		return "untagged"
	}
	return "unknown"
}

// Source says what decided a click's link.
type Source uint8

const (
	// Tier1 is the in-process cache.
	Tier1 Source = iota + 1
	// Redis is the shared cache.
	Redis
	// Platform is a call to the platform made for this click (or shared with it).
	Platform
	// Fallback is the resolver itself: the platform was not asked (Admit refused) or did not
	// answer within UpstreamTimeout.
	Fallback
)

// String returns the source's lower-case name, for logs and metric labels.
func (s Source) String() string {
	switch s {
	case Tier1:
		return "tier1"
	case Redis:
		return "redis"
	case Platform:
		return "platform"
	case Fallback:
		return "fallback"
	}
	return "unknown"
}

// Result is where a click goes and why.
type Result struct {
	// Location is the affiliate link, or the page itself when Outcome is Untagged.
	Location string
	Outcome  Outcome
	Source   Source
	// NotPromotable says the click is untagged because the platform answered that the page has no
	// affiliate link (now or in a cached answer), not because it could not be asked in time.
	NotPromotable bool
}

// Options tune a Resolver. Zero fields take the defaults named on each.
type Options struct {
	// LinkTTL is how long a new affiliate link is served before it is asked for anew; default 24h.
	LinkTTL time.Duration
	// NegativeTTL is how long a failure or a "not promotable" answer is remembered before the
	// platform is asked again for that page; default 5m.
	NegativeTTL time.Duration
	// StaleTTL is how long past LinkTTL an affiliate link is kept, to be served while the platform
	// cannot give a new one; default 30 days.
	StaleTTL time.Duration
	// UpstreamTimeout is the longest a click waits for the platform; default 2s.
	UpstreamTimeout time.Duration
	// LoadTimeout bounds a call to the platform, which goes on after the clicks waiting for it
	// have given up, so that its answer is still cached; default 10s.
	LoadTimeout time.Duration
	// Validate checks a link the platform gave, and one read from Redis (which others may write);
	// a link it rejects is treated as a failure, or as a miss. The default accepts any absolute
	// http or https URL; the caller should pass a stricter check (the link must lead to the
	// platform's own hosts).
	Validate func(link string) error
	// IsNotPromotable tells the platform's "no affiliate link for this page" from other errors;
	// default: no error is. It matters only to the Status cached and to logging.
	IsNotPromotable func(err error) bool
	// Admit is asked only for a click that would start a call to the platform (a miss or a
	// stale link's refresh, with no call for the page under way): a click that joins a call
	// already under way, or is answered from the cache, costs nothing and is not asked. When it
	// returns false the click is answered without the platform: untagged on a miss, the stale
	// link otherwise. It is called with a lock held that every miss takes: it must be quick.
	// client is what the caller passed to Resolve to say who clicked. Default: always admit.
	Admit func(ctx context.Context, client netip.Addr) bool
	// Now is the clock; default time.Now. It must be the clock of the cache given to New
	// (cache.LinkOptions.Now), since Resolve reads it once for both.
	Now func() time.Time
	// Logger receives platform failures (warn) and "not promotable" answers (debug); default: discard.
	Logger *slog.Logger
}

// Defaults of Options.
const (
	DefaultLinkTTL         = 24 * time.Hour
	DefaultNegativeTTL     = 5 * time.Minute
	DefaultStaleTTL        = 30 * 24 * time.Hour
	DefaultUpstreamTimeout = 2 * time.Second
	DefaultLoadTimeout     = 10 * time.Second
)

// Resolver answers clicks from the link cache and, on a miss, from the platform, one call per
// page at a time. Its methods are safe for concurrent use.
type Resolver struct {
	links *cache.Links
	gen   Generator
	opts  Options
	loads flight.Group[loaded] // one platform call per page at a time
}

// New returns a Resolver that caches in links and asks gen for new links.
func New(links *cache.Links, gen Generator, opts Options) *Resolver {
	setDefault(&opts.LinkTTL, DefaultLinkTTL)
	setDefault(&opts.NegativeTTL, DefaultNegativeTTL)
	setDefault(&opts.StaleTTL, DefaultStaleTTL)
	setDefault(&opts.UpstreamTimeout, DefaultUpstreamTimeout)
	setDefault(&opts.LoadTimeout, DefaultLoadTimeout)
	if opts.Validate == nil {
		opts.Validate = validateHTTP
	}
	if opts.IsNotPromotable == nil {
		opts.IsNotPromotable = func(error) bool { return false }
	}
	if opts.Admit == nil {
		opts.Admit = func(context.Context, netip.Addr) bool { return true }
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Resolver{links: links, gen: gen, opts: opts}
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

var errNotHTTP = errors.New("not an absolute http(s) URL")

func validateHTTP(link string) error {
	u, err := url.Parse(link)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errNotHTTP
	}
	return nil
}

// Resolve returns where a click on page, a canonical page URL, goes. It never fails: the worst
// answer is page itself, untagged, within UpstreamTimeout or ctx's end, whichever comes first.
//
//   - A fresh affiliate link is served as it is; a fresh negative answer sends the click on
//     untagged at once.
//   - A stale affiliate link (past LinkTTL, within StaleTTL) is served at once, and refreshed in
//     the background. A failed refresh keeps it, and the platform is not asked again for
//     NegativeTTL.
//   - On a miss, the click waits for the platform's answer, which one call shares among all the
//     clicks on the page and which is cached whether or not anyone still waits for it.
//   - Only the click that starts a call is charged (Options.Admit); clicks that join it are not.
//
// Answered from the first tier, Resolve does not allocate.
//
// client names who clicked, for Options.Admit alone: the key of the client's budget (the HTTP
// service's is the client's address, an IPv6 one cut to its prefix).
func (r *Resolver) Resolve(ctx context.Context, page string, client netip.Addr) Result {
	return r.resolve(ctx, page, page, "", client)
}

// ResolveOn is Resolve on a channel: the affiliate link is tagged with the tracking id channel, and
// cached apart from the page's links on other channels. channel "" is the default channel, and the
// same as Resolve. The caller checks that channel is one this deployment may use.
func (r *Resolver) ResolveOn(ctx context.Context, page, channel string, client netip.Addr) Result {
	if channel == "" {
		return r.resolve(ctx, page, page, "", client)
	}
	return r.resolve(ctx, ChannelKey(page, channel), page, channel, client)
}

// ChannelKey is the cache key of page's affiliate link on channel (not the default one): it cannot be
// any page's own key, since canonical pages begin with their scheme.
func ChannelKey(page, channel string) string { return "c=" + channel + "|" + page }

// ChannelGenerator makes a page's affiliate link on a channel; the Generator given to New must be one
// for ResolveOn to tag links with channels.
type ChannelGenerator interface {
	GenerateOn(ctx context.Context, source, trackingID string) (string, error)
}

// resolve is Resolve for the cache key of page on channel.
func (r *Resolver) resolve(ctx context.Context, key, page, channel string, client netip.Addr) Result {
	// One clock reading serves the lookup and the judgement of what it found; the cache shares
	// the Resolver's clock (see New).
	now := r.opts.Now()
	// A Redis error is a miss here; the cache has counted it.
	link, ok, _ := r.links.GetAt(ctx, key, now)
	if ok && link.FromRedis && link.Status == cache.Promoted && r.opts.Validate(link.URL) != nil {
		// Whoever can write to Redis must not be able to send clicks elsewhere. Get has put the
		// link in the first tier already: take it out, and treat the page as a miss.
		r.links.Forget(key)
		r.opts.Logger.Warn("cached link rejected", "page", page)
		link, ok = cache.Link{}, false
	}
	if ok {
		src := Tier1
		if link.FromRedis {
			src = Redis
		}
		switch {
		case now.Before(link.FreshUntil):
			if link.Status == cache.Promoted {
				return Result{Location: link.URL, Outcome: Tagged, Source: src}
			}
			return Result{Location: page, Outcome: Untagged, Source: src, NotPromotable: link.Status == cache.NotPromotable}
		case link.Status == cache.Promoted:
			if !now.Before(link.RetryAt) {
				r.startLoad(ctx, key, page, channel, link, true, client)
			}
			return Result{Location: link.URL, Outcome: Stale, Source: src}
		}
		// An expired negative answer: ask again, as after a miss.
	}
	call := r.startLoad(ctx, key, page, channel, link, ok, client)
	if call == nil {
		return Result{Location: page, Outcome: Untagged, Source: Fallback}
	}
	timer := time.NewTimer(r.opts.UpstreamTimeout)
	defer timer.Stop()
	select {
	case <-call.Done():
		l := call.Val()
		return r.result(l.link, l.src, page)
	case <-timer.C:
	case <-ctx.Done():
	}
	return Result{Location: page, Outcome: Untagged, Source: Fallback}
}

// loaded is a shared load's answer.
type loaded struct {
	link cache.Link
	src  Source
}

// result is the answer a shared load's link gives a click. The load may have begun well before
// the click, so the link is judged by the click's time.
func (r *Resolver) result(link cache.Link, src Source, page string) Result {
	now := r.opts.Now()
	switch {
	case link.Status != cache.Promoted || !now.Before(link.StaleUntil):
		return Result{Location: page, Outcome: Untagged, Source: src, NotPromotable: link.Status == cache.NotPromotable}
	case now.Before(link.FreshUntil):
		return Result{Location: link.URL, Outcome: Tagged, Source: src}
	}
	return Result{Location: link.URL, Outcome: Stale, Source: src}
}

// startLoad joins the load of page under way or, when client is admitted, starts one; it returns
// nil when client is refused. prev, when had, is the entry the caller found. The load runs apart
// from ctx's cancellation, so a caller that gives up fails no one else.
func (r *Resolver) startLoad(ctx context.Context, key, page, channel string, prev cache.Link, had bool, client netip.Addr) *flight.Call[loaded] {
	call, _ := r.loads.Do(key, func() bool {
		// A load that ended since the caller's lookup may have settled the page already: the load
		// below then answers from the first tier, and the click, answered from the cache, is not
		// charged.
		if cur, ok := r.links.Peek(key); ok && settled(cur, r.opts.Now()) {
			return true
		}
		return r.opts.Admit(ctx, client)
	}, func() loaded {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.LoadTimeout)
		defer cancel()
		return r.load(ctx, key, page, channel, prev, had)
	})
	return call
}

// load asks the platform for page's link and caches the answer.
func (r *Resolver) load(ctx context.Context, key, page, channel string, prev cache.Link, had bool) loaded {
	// The load before this one may have filled the first tier after the caller's miss and before
	// this load began: don't ask twice.
	if cur, ok := r.links.Peek(key); ok && settled(cur, r.opts.Now()) {
		return loaded{link: cur, src: Tier1}
	}
	link, err := r.generate(ctx, page, channel)
	now := r.opts.Now()
	var entry cache.Link
	switch {
	case err == nil:
		fresh := now.Add(r.opts.LinkTTL)
		entry = cache.Link{URL: link, Status: cache.Promoted, FreshUntil: fresh, StaleUntil: fresh.Add(r.opts.StaleTTL)}
	default:
		status := cache.Failed
		if r.opts.IsNotPromotable(err) {
			status = cache.NotPromotable
			r.opts.Logger.Debug("page not promotable", "page", page)
		} else {
			r.opts.Logger.Warn("generate affiliate link", "page", page, "err", err)
		}
		if !had {
			// The caller's lookup may have failed on Redis; a stale link must not be lost to a
			// negative answer.
			prev, had, _ = r.links.Get(ctx, key)
		}
		if had && prev.Status == cache.Promoted && now.Before(prev.StaleUntil) {
			entry = prev
			entry.RetryAt = now.Add(r.opts.NegativeTTL)
		} else {
			until := now.Add(r.opts.NegativeTTL)
			entry = cache.Link{Status: status, FreshUntil: until, StaleUntil: until}
		}
	}
	if err := r.links.Set(ctx, key, entry); err != nil {
		// The first tier has it; Redis's errors are counted by the cache.
		r.opts.Logger.Debug("cache link", "page", page, "err", err)
	}
	return loaded{link: entry, src: Platform}
}

// settled reports whether link answers a click without asking the platform.
func settled(link cache.Link, now time.Time) bool {
	return now.Before(link.FreshUntil) || (link.Status == cache.Promoted && now.Before(link.RetryAt))
}

// generate asks gen for page's link and checks it.
func (r *Resolver) generate(ctx context.Context, page, channel string) (link string, err error) {
	// A panic here would end the process (the load runs on a goroutine of its own); a click
	// must not do that.
	defer func() {
		if p := recover(); p != nil {
			r.opts.Logger.Error("generate affiliate link panicked", "page", page, "panic", p)
			err = fmt.Errorf("generate %s: panic: %v", page, p)
		}
	}()
	if channel == "" {
		link, err = r.gen.Generate(ctx, page)
	} else if cg, ok := r.gen.(ChannelGenerator); ok {
		link, err = cg.GenerateOn(ctx, page, channel)
	} else {
		err = fmt.Errorf("generate %s on %s: the generator knows no channels", page, channel)
	}
	if err != nil {
		return "", err
	}
	if err := r.opts.Validate(link); err != nil {
		return "", fmt.Errorf("platform link for %s rejected: %w", page, err)
	}
	return link, nil
}
