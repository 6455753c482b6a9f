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
	"github.com/redirector/redirector/internal/stats"
)

// Sink stores aggregated click counts: each ClickCount adds its Clicks and Scans to the counters of one
// short link on one UTC day. AddClicks should apply a batch entirely or not at all: the Counter sends a
// batch again after an error, so a partly applied batch would be counted twice.
type Sink interface {
	AddClicks(ctx context.Context, counts []link.ClickCount) error
}

// VisitSink stores visits counted honestly: once per visitor per link per dedup window, with the
// dimensions a creator reads. *store.Counters is one.
type VisitSink interface {
	// DaySecret returns the secret that names visitors on a UTC day ("20060102"), the same on every
	// replica that shares the store.
	DaySecret(ctx context.Context, day string) ([]byte, error)
	// AddVisits counts each visit whose visitor was not counted on its link within the dedup window.
	// Applying a batch again counts nothing twice (its visitors were counted), so a batch that failed is
	// simply sent again.
	AddVisits(ctx context.Context, visits []stats.Visit) error
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
	// Visits, when set, is where Visit's clicks go, described and named by visitor; nil: Visit counts
	// like Record.
	Visits VisitSink
}

// initialEvents is the capacity the buffer of recorded clicks starts with; it grows to BufferSize
// only when more wait at once, which a goroutine woken every MaxBatch clicks rarely lets happen.
const initialEvents = 4096

// event is one recorded click.
type event struct {
	id    string
	day   int32 // days since 1970-01-01, UTC
	scan  bool
	bio   bool      // from a bio page's item (when Visits is nil)
	visit bool      // recorded by Visit: hit is set, scan and bio are not
	hit   stats.Hit // held until the next write, never stored
}

// visitKey identifies one visitor's clicks on a link on one day from one referrer and source, before
// the visitor is named (the day's secret is the store's, and names it by the hit's address and
// User-Agent). Within its window the store counts the first of a visitor's keys it is given.
type visitKey struct {
	id  string
	day int32
	hit stats.Hit
}

// visitTally is the clicks of a visitKey not yet written.
type visitTally struct {
	clicks int64
}

// rawVisit is a visitTally to write.
type rawVisit struct {
	id     string
	day    int32
	hit    stats.Hit
	clicks int64
}

// batch is one write: counts from Record and visits from Visit.
type batch struct {
	counts []link.ClickCount
	visits []rawVisit
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

	hashMu  sync.Mutex               // guards hashers
	hashers map[string]*stats.Hasher // per UTC day; used by one write at a time
}

// closeRequest carries Close's context and answer.
type closeRequest struct {
	ctx   context.Context
	reply chan error
}

// NewCounter returns a Counter writing to sink and starts its aggregating goroutine; call Close to stop
// it.
func NewCounter(sink Sink, opts Options) *Counter {
	if opts.Visits != nil {
		stats.Warm() // not amid the first clicks' write
	}
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
		hashers: make(map[string]*stats.Hasher),
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

// Visit counts one human visit of the short link id, described by h; the store counts it once per
// visitor per link per dedup window. Like Record it never waits and does not allocate (but when the
// buffer grows); h is kept in memory until the next write and never stored. Call it only for visits
// that count (not for bots, previews or HEAD requests).
func (c *Counter) Visit(id string, h stats.Hit) {
	if c.opts.Visits == nil {
		c.record(event{id: id, scan: h.Source == stats.SourceQR, bio: h.Source == stats.SourceBio})
		return
	}
	c.record(event{id: id, visit: true, hit: h})
}

// takeEvents swaps the recorded clicks for spare (emptied) and folds them into p with add. They are
// counted in held before they stop counting as waiting, and add counts each again as it keeps it, so
// Pending over-counts them while they change hands and never reads low: a reader who sees it at 0 knows
// every click recorded before is written or dropped.
func (c *Counter) takeEvents(p *pending, spare []event) []event {
	c.mu.Lock()
	taken := c.events
	c.events = spare[:0]
	c.held.Add(int64(len(taken)))
	c.waiting.Add(-int64(len(taken)))
	c.mu.Unlock()
	for _, e := range taken {
		c.add(p, e)
	}
	c.held.Add(-int64(len(taken)))
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
	visits map[visitKey]visitTally
	// last is the visitKey of the last visit added, so that a run of one visitor's clicks (a flood,
	// a reload loop) is summed without a map lookup each; lastClicks is what it has added to
	// visits[last] since and lastOK whether last is set.
	last       visitKey
	lastClicks int64
	lastOK     bool
	days       map[int32]string // formatted days, so a flush formats each day once
	// retry is a batch whose write failed, kept unchanged (same Seq) and written again before
	// anything newer, so that the store, which applies each Seq once, never counts it twice.
	retry *batch
	seq   uint64 // the Seq of the last batch made
}

// run is the aggregating goroutine: it folds events into per-(id, day) counts and hands batches to a
// writer goroutine, at most one write at a time, so a slow sink never stops the buffer from draining.
func (c *Counter) run() {
	defer close(c.done)
	p := &pending{counts: make(map[key]tally), visits: make(map[visitKey]visitTally), days: make(map[int32]string)}
	ticker := time.NewTicker(c.opts.FlushInterval)
	defer ticker.Stop()

	var inflight *batch // the batch being written; nil when no write is under way
	results := make(chan error, 1)
	spare := make([]event, 0, min(c.opts.BufferSize, initialEvents)) // the events slice not in use, kept for its capacity
	fold := func() {
		taken := c.takeEvents(p, spare)
		p.settle()
		clear(taken) // let go of the ids
		spare = taken
	}
	start := func() {
		inflight = c.take(p)
		if inflight == nil {
			return
		}
		go func(b *batch) {
			// Not the Close context nor any request's: a write outlives them, bounded by its own timeout.
			ctx, cancel := context.WithTimeout(context.Background(), c.opts.FlushTimeout)
			defer cancel()
			results <- c.write(ctx, b)
		}(inflight)
	}

	for {
		select {
		case <-c.wake:
			fold()
			if inflight == nil && p.size() >= c.opts.MaxBatch {
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
			if err == nil && p.size() >= c.opts.MaxBatch {
				start()
			}
		case req := <-c.closing:
			req.reply <- c.shutdown(req.ctx, p, inflight, results)
			return
		}
	}
}

// settle writes the clicks of the run of p.last into p.visits.
func (p *pending) settle() {
	if p.lastOK && p.lastClicks > 0 {
		t := p.visits[p.last]
		t.clicks += p.lastClicks
		p.visits[p.last] = t
	}
	p.lastClicks = 0
}

// size is how many counts and visits p holds.
func (p *pending) size() int { return len(p.counts) + len(p.visits) }

// add folds one event into p, or drops it when p is full.
func (c *Counter) add(p *pending, e event) {
	if e.visit {
		k := visitKey{id: e.id, day: e.day, hit: e.hit}
		if p.lastOK && k == p.last {
			p.lastClicks++
			c.held.Add(1)
			return
		}
		p.settle()
		t, ok := p.visits[k]
		if !ok && p.size() >= c.opts.MaxPending {
			c.dropped.Add(1)
			p.lastOK = false
			return
		}
		t.clicks++
		p.visits[k] = t
		p.last, p.lastOK = k, true
		c.held.Add(1)
		return
	}
	k := key{id: e.id, day: e.day}
	t, ok := p.counts[k]
	if !ok && p.size() >= c.opts.MaxPending {
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
func (c *Counter) take(p *pending) *batch {
	p.settle()
	p.lastOK = false // its entry may be taken below
	if p.retry != nil {
		b := p.retry
		p.retry = nil
		return b
	}
	if p.size() == 0 {
		return nil
	}
	b := &batch{}
	if len(p.counts) > 0 {
		p.seq++
		b.counts = make([]link.ClickCount, 0, min(len(p.counts), c.opts.MaxBatch))
	}
	for k, t := range p.counts {
		if len(b.counts) == c.opts.MaxBatch {
			break
		}
		day, ok := p.days[k.day]
		if !ok {
			day = dayString(k.day)
			p.days[k.day] = day
		}
		b.counts = append(b.counts, link.ClickCount{ID: k.id, Day: day, Clicks: t.clicks, Scans: t.scans, Writer: c.writer, Seq: p.seq})
		delete(p.counts, k)
	}
	for k, t := range p.visits {
		if len(b.visits) == c.opts.MaxBatch {
			break
		}
		b.visits = append(b.visits, rawVisit{id: k.id, day: k.day, hit: k.hit, clicks: t.clicks})
		delete(p.visits, k)
	}
	if len(p.days) > 64 {
		clear(p.days) // only a few days are ever live; keep the map from growing over months
	}
	return b
}

// dayString formats days since 1970-01-01 as "20060102".
func dayString(day int32) string { return time.Unix(int64(day)*86400, 0).UTC().Format("20060102") }

// write hands b to the sinks: its counts, then its visits, described and named.
func (c *Counter) write(ctx context.Context, b *batch) error {
	if len(b.counts) > 0 {
		if err := c.sink.AddClicks(ctx, b.counts); err != nil {
			return err
		}
	}
	if len(b.visits) == 0 {
		return nil
	}
	visits := make([]stats.Visit, len(b.visits))
	c.hashMu.Lock()
	defer c.hashMu.Unlock()
	for i, v := range b.visits {
		day := dayString(v.day)
		h, ok := c.hashers[day]
		if !ok {
			secret, err := c.opts.Visits.DaySecret(ctx, day)
			if err != nil {
				return fmt.Errorf("visitor secret of %s: %w", day, err)
			}
			if len(c.hashers) > 4 {
				clear(c.hashers) // only today's and yesterday's are in use
			}
			h = stats.NewHasher(secret)
			c.hashers[day] = h
		}
		visits[i] = stats.Visit{ID: v.id, Day: day, Visitor: h.Visitor(v.hit.Addr, v.hit.UserAgent), Values: stats.Describe(v.hit), Clicks: v.clicks}
	}
	return c.opts.Visits.AddVisits(ctx, visits)
}

// finish accounts for a finished write of batch: on success its clicks are flushed; on failure the
// batch is kept, unchanged, to be written again before anything newer (part of it may have landed:
// the store skips what it has applied under the same Seq).
func (c *Counter) finish(p *pending, b *batch, err error) {
	n := clicksIn(b)
	if err == nil {
		c.flushed.Add(uint64(n))
		c.held.Add(-n)
		return
	}
	p.retry = b
	c.opts.Logger.Warn("write clicks", "err", err, "counts", len(b.counts), "visits", len(b.visits), "clicks", n)
}

// shutdown drains the buffer, waits for the write under way, and writes everything left, trying again
// every FlushInterval until ctx ends. It returns nil when every click was written.
func (c *Counter) shutdown(ctx context.Context, p *pending, inflight *batch, results chan error) error {
	c.takeEvents(p, nil)
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
	for p.size() > 0 || p.retry != nil {
		b := c.take(p)
		err := c.write(ctx, b)
		if err == nil {
			c.finish(p, b, nil)
			continue
		}
		lastErr = err
		p.retry = b
		c.opts.Logger.Warn("write clicks at close", "err", err, "counts", len(b.counts), "visits", len(b.visits))
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
func (c *Counter) loseAll(p *pending, b *batch) {
	p.settle()
	p.lastOK = false
	n := clicksIn(b) + clicksIn(p.retry)
	p.retry = nil
	for _, t := range p.counts {
		n += t.clicks
	}
	for _, t := range p.visits {
		n += t.clicks
	}
	clear(p.counts)
	clear(p.visits)
	c.dropped.Add(uint64(n))
	c.held.Add(-n)
	if n > 0 {
		c.opts.Logger.Warn("clicks lost at close", "clicks", n)
	}
}

// clicksIn returns the clicks in a batch (nil: none).
func clicksIn(b *batch) int64 {
	if b == nil {
		return 0
	}
	var n int64
	for _, cc := range b.counts {
		n += cc.Clicks
	}
	for _, v := range b.visits {
		n += v.clicks
	}
	return n
}
