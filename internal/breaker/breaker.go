// Package breaker guards the platform: a circuit breaker that sends clicks on at once after
// repeated failures (or calls that hang) instead of letting each wait for a time-out, and a cap
// on calls in flight so a flood of new pages or previews cannot queue without bound.
package breaker

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/redirector/redirector/internal/affiliate"
)

// Generator is what the guard wraps; *affiliate.Client is one.
type Generator interface {
	Generate(ctx context.Context, source string) (string, error)
}

// Details fetches a product's details; *affiliate.Client is one, and so is what Guard.Details
// returns.
type Details interface {
	ProductDetail(ctx context.Context, productID, currency, language string) (affiliate.Product, error)
}

// ErrOpen is returned without calling the platform while the breaker is open (or a half-open
// probe is already under way).
var ErrOpen = errors.New("platform circuit breaker open")

// ErrBusy is returned without calling the platform when MaxInFlight calls are already waiting.
var ErrBusy = errors.New("too many platform calls in flight")

// Options tune a Guard. Zero values take the defaults.
type Options struct {
	// Failures is how many consecutive failed calls open the breaker (default 5).
	Failures uint32
	// OpenFor is how long the breaker stays open before a probe is let through (default 10s).
	OpenFor time.Duration
	// Probes is how many calls the half-open breaker lets through; all must succeed to close it (default 1).
	Probes uint32
	// MaxInFlight caps the calls waiting on the platform at once (default 1,000).
	MaxInFlight int
	// SlowAfter makes a call still under way after it count as a failure at that moment, so a
	// hanging platform opens the breaker as soon as Failures calls have outlived it (the call
	// itself goes on, and its end is not counted again); 0: only a call's end counts.
	SlowAfter time.Duration
	// IsSuccess tells answers that are not failures of the platform, such as "not promotable";
	// default: only a nil error.
	IsSuccess func(error) bool
	// IsExcluded tells errors of calls that never reached the platform (refused by the client's
	// own rate limit, say): they count neither as successes nor as failures. Default: none.
	IsExcluded func(error) bool
	// OnStateChange is told of every change ("closed", "open", "half-open").
	OnStateChange func(from, to string)
}

// Guard is a Generator that passes calls to another through a breaker and an in-flight cap;
// Details puts product-detail calls behind the same breaker and cap. Safe for concurrent use.
type Guard struct {
	gen       Generator
	cb        *gobreaker.TwoStepCircuitBreaker[struct{}]
	slowAfter time.Duration
	slots     chan struct{} // one token per call in flight
	rejected  atomic.Uint64
	slow      atomic.Uint64
}

// New returns a Guard around gen.
func New(gen Generator, opts Options) *Guard {
	if opts.Failures == 0 {
		opts.Failures = 5
	}
	if opts.OpenFor <= 0 {
		opts.OpenFor = 10 * time.Second
	}
	if opts.Probes == 0 {
		opts.Probes = 1
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 1000
	}
	isSuccess := opts.IsSuccess
	if isSuccess == nil {
		isSuccess = func(err error) bool { return err == nil }
	}
	failures := opts.Failures
	st := gobreaker.Settings{
		Name:        "aliexpress",
		MaxRequests: opts.Probes,
		Timeout:     opts.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		IsSuccessful: func(err error) bool {
			return err == nil || isSuccess(err)
		},
		IsExcluded: opts.IsExcluded,
	}
	if opts.OnStateChange != nil {
		st.OnStateChange = func(_ string, from, to gobreaker.State) { opts.OnStateChange(from.String(), to.String()) }
	}
	return &Guard{
		gen:       gen,
		cb:        gobreaker.NewTwoStepCircuitBreaker[struct{}](st),
		slowAfter: opts.SlowAfter,
		slots:     make(chan struct{}, opts.MaxInFlight),
	}
}

// errSlow is what the breaker is told of a call that outlived SlowAfter.
var errSlow = errors.New("platform call outlived its time")

// Generate calls the wrapped Generator unless the breaker is open (ErrOpen) or MaxInFlight calls
// are under way (ErrBusy).
func (g *Guard) Generate(ctx context.Context, source string) (link string, err error) {
	err = g.do(func() error {
		link, err = g.gen.Generate(ctx, source)
		return err
	})
	if errors.Is(err, ErrOpen) {
		err = fmt.Errorf("generate %s: %w", source, err)
	}
	return link, err
}

// Details returns d behind the guard: its calls take the same in-flight slots and count toward
// the same breaker as Generate's, and are refused the same way (ErrBusy, ErrOpen).
func (g *Guard) Details(d Details) Details { return guardedDetails{g: g, d: d} }

type guardedDetails struct {
	g *Guard
	d Details
}

func (gd guardedDetails) ProductDetail(ctx context.Context, productID, currency, language string) (p affiliate.Product, err error) {
	err = gd.g.do(func() error {
		p, err = gd.d.ProductDetail(ctx, productID, currency, language)
		return err
	})
	if errors.Is(err, ErrOpen) {
		err = fmt.Errorf("product detail %s: %w", productID, err)
	}
	return p, err
}

// Catalog is the platform's product methods of the health check and suggestions: batched product
// details and product search.
type Catalog interface {
	ProductDetails(ctx context.Context, ids []string, currency, language string) (map[string]affiliate.Product, error)
	ProductQuery(ctx context.Context, keywords string, n int, currency, language string) ([]affiliate.Product, error)
}

// Catalog returns c behind the guard, as Details does: a background check must not call a platform
// the breaker has found failing, and its failures are the platform's as much as a click's. Unlike a
// click's call it never takes the half-open probe: it waits until the breaker has closed again.
func (g *Guard) Catalog(c Catalog) Catalog { return guardedCatalog{g: g, c: c} }

// background runs call as do does, only while the breaker is closed.
func (g *Guard) background(call func() error) error {
	if g.State() != "closed" {
		g.rejected.Add(1)
		return ErrOpen
	}
	return g.do(call)
}

type guardedCatalog struct {
	g *Guard
	c Catalog
}

func (gc guardedCatalog) ProductDetails(ctx context.Context, ids []string, currency, language string) (m map[string]affiliate.Product, err error) {
	err = gc.g.background(func() error {
		m, err = gc.c.ProductDetails(ctx, ids, currency, language)
		return err
	})
	return m, err
}

func (gc guardedCatalog) ProductQuery(ctx context.Context, keywords string, n int, currency, language string) (ps []affiliate.Product, err error) {
	err = gc.g.background(func() error {
		ps, err = gc.c.ProductQuery(ctx, keywords, n, currency, language)
		return err
	})
	return ps, err
}

// do runs call if a slot is free and the breaker allows it, and tells the breaker how it went:
// when it outlives SlowAfter, as a failure at that moment, else by its error when it ends.
func (g *Guard) do(call func() error) error {
	select {
	case g.slots <- struct{}{}:
	default:
		g.rejected.Add(1)
		return ErrBusy
	}
	defer func() { <-g.slots }()
	done, err := g.cb.Allow()
	if err != nil {
		g.rejected.Add(1)
		return ErrOpen
	}
	var told atomic.Bool // whether the breaker has been told of this call
	if g.slowAfter > 0 {
		timer := time.AfterFunc(g.slowAfter, func() {
			if told.CompareAndSwap(false, true) {
				g.slow.Add(1)
				done(errSlow)
			}
		})
		defer timer.Stop()
	}
	defer func() {
		// A panic is a failure too; the caller recovers it.
		if p := recover(); p != nil {
			if told.CompareAndSwap(false, true) {
				done(fmt.Errorf("panic: %v", p))
			}
			panic(p)
		}
	}()
	err = call()
	if told.CompareAndSwap(false, true) {
		done(err)
	}
	return err
}

// State is the breaker's state: "closed", "open" or "half-open".
func (g *Guard) State() string { return g.cb.State().String() }

// Rejected counts the calls refused without reaching the platform.
func (g *Guard) Rejected() uint64 { return g.rejected.Load() }

// Slow counts the calls that outlived SlowAfter, each counted as a failure when it did.
func (g *Guard) Slow() uint64 { return g.slow.Load() }

// InFlight is the number of calls under way.
func (g *Guard) InFlight() int { return len(g.slots) }

// ChannelGenerator is a Generator that can also tag a link with another tracking id (a channel);
// *affiliate.Client is one.
type ChannelGenerator interface {
	GenerateOn(ctx context.Context, source, trackingID string) (string, error)
}

// GenerateOn is Generate on the channel trackingID, under the same breaker and cap. When the wrapped
// Generator knows no channels, it fails: a link must never be tagged with the wrong channel silently.
func (g *Guard) GenerateOn(ctx context.Context, source, trackingID string) (link string, err error) {
	cg, ok := g.gen.(ChannelGenerator)
	if !ok {
		return "", fmt.Errorf("generate %s on %s: the platform client knows no channels", source, trackingID)
	}
	err = g.do(func() error {
		link, err = cg.GenerateOn(ctx, source, trackingID)
		return err
	})
	if errors.Is(err, ErrOpen) {
		err = fmt.Errorf("generate %s: %w", source, err)
	}
	return link, err
}
