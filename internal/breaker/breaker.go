// Package breaker guards the platform: a circuit breaker that sends clicks on at once after
// repeated failures instead of letting each wait for a time-out, and a cap on calls in flight so
// a flood of new pages cannot queue without bound.
package breaker

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
)

// Generator is what the guard wraps; *affiliate.Client is one.
type Generator interface {
	Generate(ctx context.Context, source string) (string, error)
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
	// IsSuccess tells answers that are not failures of the platform, such as "not promotable";
	// default: only a nil error.
	IsSuccess func(error) bool
	// OnStateChange is told of every change ("closed", "open", "half-open").
	OnStateChange func(from, to string)
}

// Guard is a Generator that passes calls to another through a breaker and an in-flight cap.
// Safe for concurrent use.
type Guard struct {
	gen      Generator
	cb       *gobreaker.CircuitBreaker[string]
	slots    chan struct{} // one token per call in flight
	rejected atomic.Uint64
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
	}
	if opts.OnStateChange != nil {
		st.OnStateChange = func(_ string, from, to gobreaker.State) { opts.OnStateChange(from.String(), to.String()) }
	}
	return &Guard{
		gen:   gen,
		cb:    gobreaker.NewCircuitBreaker[string](st),
		slots: make(chan struct{}, opts.MaxInFlight),
	}
}

// Generate calls the wrapped Generator unless the breaker is open (ErrOpen) or MaxInFlight calls
// are under way (ErrBusy).
func (g *Guard) Generate(ctx context.Context, source string) (string, error) {
	select {
	case g.slots <- struct{}{}:
	default:
		g.rejected.Add(1)
		return "", ErrBusy
	}
	defer func() { <-g.slots }()
	link, err := g.cb.Execute(func() (string, error) { return g.gen.Generate(ctx, source) })
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		g.rejected.Add(1)
		return "", fmt.Errorf("generate %s: %w", source, ErrOpen)
	}
	return link, err
}

// State is the breaker's state: "closed", "open" or "half-open".
func (g *Guard) State() string { return g.cb.State().String() }

// Rejected counts the calls refused without reaching the platform.
func (g *Guard) Rejected() uint64 { return g.rejected.Load() }

// InFlight is the number of calls under way.
func (g *Guard) InFlight() int { return len(g.slots) }
