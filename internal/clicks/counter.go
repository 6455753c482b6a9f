// Package clicks counts the human visits of short links without slowing their redirects, and tells people
// from bots and link-preview fetchers by their User-Agent.
package clicks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redirector/redirector/internal/link"
)

// Sink stores aggregated click counts: each ClickCount adds its Clicks and Scans to the counters of one
// short link on one UTC day. AddClicks should apply a batch entirely or not at all: the Counter sends a
// batch again after an error, so a partly applied batch would be counted twice.
type Sink interface {
	AddClicks(ctx context.Context, counts []link.ClickCount) error
}

// Options tunes a Counter. The zero value of every field picks its default.
type Options struct {
	// BufferSize is how many clicks may wait between Record and the aggregating goroutine; past it,
	// Record drops clicks (counted in Dropped) rather than wait. Default 65536. The goroutine takes
	// them every FlushInterval, or as soon as MaxBatch (or BufferSize, if fewer) are waiting.
	BufferSize int
	// FlushInterval is how often aggregated counts are written to the sink, and how long to wait before
	// trying a failed write again. Default 1s.
	FlushInterval time.Duration
	// MaxBatch is the most ClickCounts in one AddClicks call; reaching it starts a write before the
	// interval is up. Default 1000.
	MaxBatch int
	// MaxPending is the most (id, day) counts held unwritten, so a sink that stays down cannot make
	// memory grow without limit: clicks for further ids are dropped (counted in Dropped) until a write
	// succeeds. Default 100000.
	MaxPending int
	// FlushTimeout bounds one background AddClicks call. Default 5s.
	FlushTimeout time.Duration
	// Now tells the time a click happened, which picks its UTC day. Default time.Now.
	Now func() time.Time
	// Logger receives a warning per failed write and per dropped batch. Default: discard.
	Logger *slog.Logger
}

// initialEvents is the capacity the buffer of recorded clicks starts with; it grows to BufferSize
// only when more wait at once, which a goroutine woken every MaxBatch clicks rarely lets happen.
const initialEvents = 4096

// event is one recorded click.
type event struct {
	id   string
	day  int32 // days since 1970-01-01, UTC
	scan bool
	bio  bool // from a bio page
}

// key identifies one aggregated counter: a short link on one day.
type key struct {
	id  string
	day int32
}

// tally is what has been counted for one key and not yet written.
type tally struct {
	clicks, scans, bio int64
}

// Counter buffers clicks and writes them to a Sink in aggregated batches from a goroutine of its own. It
// is safe for concurrent use. Create it with NewCounter and stop it with Close.
//
// Record appends to a slice under a mutex rather than sending on a channel: a send to the waiting
// goroutine woke it for every click (a park, a wake-up and a select per click, 5% of the service's
// CPU on cached /{id} under load); now it is woken once per batch or per FlushInterval.
type Counter struct {
	sink   Sink
	opts   Options
	writer string // this counter's name in the store's record of batches applied (random)

	mu     sync.Mutex    // guards events
	events []event       // recorded clicks the aggregating goroutine has not taken; at most BufferSize
	wake   chan struct{} // Record's nudge (capacity 1) when wakeAt clicks are waiting
	wakeAt int           // min(MaxBatch, BufferSize)

	closing chan closeRequest // Close asks the aggregating goroutine to finish
	done    chan struct{}     // closed when the aggregating goroutine has returned

	closed  atomic.Bool
	dropped atomic.Uint64
	flushed atomic.Uint64
	held    atomic.Int64 // clicks taken from events and not yet written or dropped
	waiting atomic.Int64 // len(events), for Pending without the lock

	closeOnce sync.Once
	closeErr  error // written once inside closeOnce, read after it
}

// closeRequest carries Close's context and answer.
type closeRequest struct {
	ctx   context.Context
	reply chan error
}

// NewCounter returns a Counter writing to sink and starts its aggregating goroutine; call Close to stop
// it.
func NewCounter(sink Sink, opts Options) *Counter {
	c := newCounter(sink, opts)
	go c.run()
	return c
}

// newCounter returns a Counter whose goroutine has not been started.
func newCounter(sink Sink, opts Options) *Counter {
	if opts.BufferSize <= 0 {
		opts.BufferSize = 65536
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = time.Second
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1000
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = 100_000
	}
	if opts.FlushTimeout <= 0 {
		opts.FlushTimeout = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	var w [8]byte
	_, _ = rand.Read(w[:]) // crypto/rand.Read never fails on supported platforms
	return &Counter{
		sink:    sink,
		opts:    opts,
		writer:  hex.EncodeToString(w[:]),
		events:  make([]event, 0, min(opts.BufferSize, initialEvents)),
		wake:    make(chan struct{}, 1),
		wakeAt:  min(opts.MaxBatch, opts.BufferSize),
		closing: make(chan closeRequest),
		done:    make(chan struct{}),
	}
}

// Record counts one human visit of the short link id; scan says it came through the link's QR code (a
// scan is also a click). It never waits for the aggregating goroutine and does not allocate (but when
// more than 4096 clicks wait at once and the buffer grows): when the buffer is full, or after Close,
// the click is dropped and counted in Dropped. Call it only for visits that count (not for bots, previews
// or HEAD requests).
func (c *Counter) Record(id string, scan bool) {
	c.record(event{id: id, scan: scan})
}

// RecordBio counts one human visit of the short link id that came from a bio page's item
// (/{id}?src=bio); it is a click like any other, also counted apart as bio. Like Record, it never
// waits.
func (c *Counter) RecordBio(id string) {
	c.record(event{id: id, bio: true})
}

// record stamps e with today and buffers it.
func (c *Counter) record(e event) {
	if c.closed.Load() {
		c.dropped.Add(1)
		return
	}
	e.day = int32(c.opts.Now().Unix() / 86400)
	c.mu.Lock()
	n := len(c.events)
	if n == c.opts.BufferSize {
		c.mu.Unlock()
		c.dropped.Add(1)
		return
	}
	c.events = append(c.events, e)
	c.waiting.Add(1)
	c.mu.Unlock()
	if n+1 == c.wakeAt {
		select {
		case c.wake <- struct{}{}:
		default: // a nudge is pending already
		}
	}
}

// takeEvents swaps the recorded clicks for spare (emptied) and returns them.
func (c *Counter) takeEvents(spare []event) []event {
	c.mu.Lock()
	taken := c.events
	c.events = spare[:0]
	c.waiting.Add(-int64(len(taken)))
	c.mu.Unlock()
	return taken
}

// Dropped returns how many clicks were lost: the buffer was full, the Counter was closed, too many ids
// were waiting while the sink failed, or Close could not write them before its context ended.
func (c *Counter) Dropped() uint64 { return c.dropped.Load() }

// Flushed returns how many clicks the sink has accepted.
func (c *Counter) Flushed() uint64 { return c.flushed.Load() }

// Pending returns how many recorded clicks are neither written nor dropped yet: buffered, aggregated, or
// in a write under way. Once nothing is in motion, every recorded click is in exactly one of Flushed,
// Dropped and Pending.
func (c *Counter) Pending() int { return int(c.waiting.Load() + c.held.Load()) }

// Close writes every click recorded before it and stops the Counter; later Record calls drop their
// clicks. Call it after the HTTP server has stopped, so no redirect races with it (a Record running
// concurrently with Close may be lost uncounted). A failing sink is tried again every FlushInterval until
// ctx ends; then the clicks still unwritten are counted in Dropped and Close returns an error. Calls after
// the first return the first one's result.
func (c *Counter) Close(ctx context.Context) error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		reply := make(chan error, 1)
		select {
		case c.closing <- closeRequest{ctx: ctx, reply: reply}:
			c.closeErr = <-reply
		case <-c.done:
		}
	})
	return c.closeErr
}

// pending is the aggregating goroutine's state. Only that goroutine touches it.
type pending struct {
	counts map[key]tally
	days   map[int32]string // formatted days, so a flush formats each day once
	// retry is a batch whose write failed, kept unchanged (same Seq) and written again before
	// anything newer, so that the store, which applies each Seq once, never counts it twice.
	retry []link.ClickCount
	seq   uint64 // the Seq of the last batch made
}

// run is the aggregating goroutine: it folds events into per-(id, day) counts and hands batches to a
// writer goroutine, at most one write at a time, so a slow sink never stops the buffer from draining.
func (c *Counter) run() {
	defer close(c.done)
	p := &pending{counts: make(map[key]tally), days: make(map[int32]string)}
	ticker := time.NewTicker(c.opts.FlushInterval)
	defer ticker.Stop()

	var inflight []link.ClickCount // the batch being written; nil when no write is under way
	results := make(chan error, 1)
	spare := make([]event, 0, min(c.opts.BufferSize, initialEvents)) // the events slice not in use, kept for its capacity
	fold := func() {
		taken := c.takeEvents(spare)
		for _, e := range taken {
			c.add(p, e)
		}
		clear(taken) // let go of the ids
		spare = taken
	}
	start := func() {
		inflight = c.take(p)
		if inflight == nil {
			return
		}
		go func(batch []link.ClickCount) {
			// Not the Close context nor any request's: a write outlives them, bounded by its own timeout.
			ctx, cancel := context.WithTimeout(context.Background(), c.opts.FlushTimeout)
			defer cancel()
			results <- c.sink.AddClicks(ctx, batch)
		}(inflight)
	}

	for {
		select {
		case <-c.wake:
			fold()
			if inflight == nil && len(p.counts) >= c.opts.MaxBatch {
				start()
			}
		case <-ticker.C:
			fold()
			if inflight == nil {
				start()
			}
		case err := <-results:
			c.finish(p, inflight, err)
			inflight = nil
			// More than a batch waiting: write the next one now, unless the sink is failing.
			if err == nil && len(p.counts) >= c.opts.MaxBatch {
				start()
			}
		case req := <-c.closing:
			req.reply <- c.shutdown(req.ctx, p, inflight, results)
			return
		}
	}
}

// add folds one event into p, or drops it when p is full.
func (c *Counter) add(p *pending, e event) {
	k := key{id: e.id, day: e.day}
	t, ok := p.counts[k]
	if !ok && len(p.counts) >= c.opts.MaxPending {
		c.dropped.Add(1)
		return
	}
	t.clicks++
	if e.scan {
		t.scans++
	}
	if e.bio {
		t.bio++
	}
	p.counts[k] = t
	c.held.Add(1)
}

// take returns the batch to write next: the one that failed, if any, else up to MaxBatch counts
// removed from p under a new Seq; nil when there is nothing to write.
func (c *Counter) take(p *pending) []link.ClickCount {
	if p.retry != nil {
		batch := p.retry
		p.retry = nil
		return batch
	}
	if len(p.counts) == 0 {
		return nil
	}
	p.seq++
	batch := make([]link.ClickCount, 0, min(len(p.counts), c.opts.MaxBatch))
	for k, t := range p.counts {
		if len(batch) == c.opts.MaxBatch {
			break
		}
		day, ok := p.days[k.day]
		if !ok {
			day = time.Unix(int64(k.day)*86400, 0).UTC().Format("20060102")
			p.days[k.day] = day
		}
		batch = append(batch, link.ClickCount{ID: k.id, Day: day, Clicks: t.clicks, Scans: t.scans, Bio: t.bio, Writer: c.writer, Seq: p.seq})
		delete(p.counts, k)
	}
	if len(p.days) > 64 {
		clear(p.days) // only a few days are ever live; keep the map from growing over months
	}
	return batch
}

// finish accounts for a finished write of batch: on success its clicks are flushed; on failure the
// batch is kept, unchanged, to be written again before anything newer (part of it may have landed:
// the store skips what it has applied under the same Seq).
func (c *Counter) finish(p *pending, batch []link.ClickCount, err error) {
	n := clicksIn(batch)
	if err == nil {
		c.flushed.Add(uint64(n))
		c.held.Add(-n)
		return
	}
	p.retry = batch
	c.opts.Logger.Warn("write clicks", "err", err, "counts", len(batch), "clicks", n)
}

// shutdown drains the buffer, waits for the write under way, and writes everything left, trying again
// every FlushInterval until ctx ends. It returns nil when every click was written.
func (c *Counter) shutdown(ctx context.Context, p *pending, inflight []link.ClickCount, results chan error) error {
	for _, e := range c.takeEvents(nil) {
		c.add(p, e)
	}
	if inflight != nil {
		select {
		case err := <-results:
			c.finish(p, inflight, err)
		case <-ctx.Done():
			// The write may still land; it cannot be waited for, so its clicks count as lost.
			c.loseAll(p, inflight)
			return fmt.Errorf("close click counter: %w", ctx.Err())
		}
	}
	var lastErr error
	for len(p.counts) > 0 || p.retry != nil {
		batch := c.take(p)
		err := c.sink.AddClicks(ctx, batch)
		if err == nil {
			c.finish(p, batch, nil)
			continue
		}
		lastErr = err
		p.retry = batch
		c.opts.Logger.Warn("write clicks at close", "err", err, "counts", len(batch))
		retry := time.NewTimer(c.opts.FlushInterval)
		select {
		case <-retry.C:
		case <-ctx.Done():
			retry.Stop()
			c.loseAll(p, nil)
			return fmt.Errorf("close click counter: %w (last write: %w)", ctx.Err(), lastErr)
		}
	}
	return nil
}

// loseAll counts every click in p and in batch as dropped and empties p.
func (c *Counter) loseAll(p *pending, batch []link.ClickCount) {
	n := clicksIn(batch) + clicksIn(p.retry)
	p.retry = nil
	for _, t := range p.counts {
		n += t.clicks
	}
	clear(p.counts)
	c.dropped.Add(uint64(n))
	c.held.Add(-n)
	if n > 0 {
		c.opts.Logger.Warn("clicks lost at close", "clicks", n)
	}
}

// clicksIn returns the clicks in a batch.
func clicksIn(batch []link.ClickCount) int64 {
	var n int64
	for _, cc := range batch {
		n += cc.Clicks
	}
	return n
}
