package health

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/redirector/redirector/internal/affiliate"
	"github.com/redirector/redirector/internal/aliurl"
	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/store"
)

// Store is where links and their health live; *store.Records is one.
type Store interface {
	Get(ctx context.Context, id string) (link.Record, bool, error)
	List(ctx context.Context, cursor string, limit int) ([]link.Record, string, error)
	Health(ctx context.Context, ids []string) ([]link.Health, error)
	SetHealthFrom(ctx context.Context, rec link.Record, h link.Health, divert string) (prev link.HealthState, written, diverted bool, err error)
	HealthLease(ctx context.Context, owner string, ttl time.Duration) (bool, error)
	ReleaseHealthLease(ctx context.Context, owner string) error
	SetLastHealthCheck(ctx context.Context, c store.HealthCheck) error
	LastHealthCheck(ctx context.Context) (store.HealthCheck, bool, error)
	HealthHistory(ctx context.Context, id string) ([]store.HealthChange, error)
}

// Platform answers about products; *affiliate.Client is one. Both calls return affiliate.ErrWouldWait,
// without sending, when the platform's rate has no token to spare.
type Platform interface {
	// ProductDetails returns what the platform knows of each id (at most affiliate.MaxDetailIDs);
	// an id missing from the map has no details any more.
	ProductDetails(ctx context.Context, ids []string, currency, language string) (map[string]affiliate.Product, error)
	ProductQuery(ctx context.Context, keywords string, n int, currency, language string) ([]affiliate.Product, error)
}

// Changes is told of every link whose clicks now go elsewhere; *invalidate.Owner is one.
type Changes interface {
	RecordChanged(ctx context.Context, id string)
}

// Options tune a Monitor. Zero values take the defaults named.
type Options struct {
	// Interval is how often every link is checked (HEALTH_INTERVAL); default 24h.
	Interval time.Duration
	// Rate is the most platform calls a second the check makes (a share of PLATFORM_RATE); default 1.
	// The calls also take only spare tokens of the platform client (affiliate.Client.ProductDetails).
	Rate float64
	// Batch is the product ids per productdetail.get call; default and maximum affiliate.MaxDetailIDs.
	Batch int
	// Lease is how long the check's lease lasts without renewal; default 2m. The check renews it
	// before each batch.
	Lease time.Duration
	// CallTimeout bounds one platform call; default 10s.
	CallTimeout time.Duration
	// Currency and Language are asked of the platform; default USD, EN.
	Currency, Language string
	// Products, if set, is told of the products each batch found, so that other caches (previews)
	// need not ask the platform again.
	Products func(map[string]affiliate.Product)
	// OnChange, if set, is told of every link whose health state was written different from the one
	// stored before (from is "unknown" for a link never checked). It must not block (the webhooks' Emit).
	OnChange func(id string, from, to link.HealthState)
	Now      func() time.Time
	Logger   *slog.Logger
}

// Monitor checks the health of every link and learns from clicks. Safe for concurrent use.
type Monitor struct {
	store    Store
	platform Platform
	changes  Changes
	opts     Options
	owner    string        // this process's name for the lease
	limiter  *rate.Limiter // the check's share of the platform's rate
	marks    chan mark     // not-promotable answers seen by clicks, for the worker

	mu     sync.Mutex           // guards marked
	marked map[string]time.Time // ids marked untagged lately, so a busy link is not written per click
}

type mark struct{ id, target string }

// Defaults of Options.
const (
	DefaultInterval = 24 * time.Hour
	markBuffer      = 1024
	markMemory      = 10_000
	markAgain       = 10 * time.Minute
	listPage        = 500
	writeTries      = 3
)

// New returns a Monitor over st that asks platform and tells changes.
func New(st Store, platform Platform, changes Changes, opts Options) *Monitor {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Rate <= 0 {
		opts.Rate = 1
	}
	if opts.Batch <= 0 || opts.Batch > affiliate.MaxDetailIDs {
		opts.Batch = affiliate.MaxDetailIDs
	}
	if opts.Lease <= 0 {
		opts.Lease = 2 * time.Minute
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 10 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &Monitor{
		store: st, platform: platform, changes: changes, opts: opts,
		owner:   hex.EncodeToString(b[:]),
		limiter: rate.NewLimiter(rate.Limit(opts.Rate), 1),
		marks:   make(chan mark, markBuffer),
		marked:  make(map[string]time.Time),
	}
}

// Run checks every link each Interval (on whichever replica holds the lease, one at a time) and writes
// the marks clicks make, until ctx ends.
func (m *Monitor) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.writeMarks(ctx)
	}()
	defer wg.Wait()
	tick := min(m.opts.Interval/10, time.Minute)
	t := time.NewTicker(max(tick, time.Second))
	defer t.Stop()
	for {
		if m.due(ctx) {
			if _, err := m.CheckAll(ctx); err != nil && !errors.Is(err, ErrBusy) && ctx.Err() == nil {
				m.opts.Logger.Warn("health check", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// due reports whether the last check, by any replica, is an Interval old or more.
func (m *Monitor) due(ctx context.Context) bool {
	last, ok, err := m.store.LastHealthCheck(ctx)
	if err != nil {
		return false
	}
	return !ok || m.opts.Now().Sub(last.At) >= m.opts.Interval
}

// ErrBusy is CheckAll's answer when another replica holds the lease: it is checking already.
var ErrBusy = errors.New("another replica is checking link health")

// CheckAll checks every live link once, if this process can take the lease, and records the check's
// counts. Product links are asked of the platform in batches of Options.Batch ids, at Options.Rate and
// only with tokens the clicks do not need; a batch whose call fails leaves its links as they were (and
// out of the counts' checked states: they keep their state). Other pages are state page. It returns
// ErrBusy when another replica holds the lease.
func (m *Monitor) CheckAll(ctx context.Context) (store.HealthCheck, error) {
	ok, err := m.store.HealthLease(ctx, m.owner, m.opts.Lease)
	if err != nil {
		return store.HealthCheck{}, err
	}
	if !ok {
		return store.HealthCheck{}, ErrBusy
	}
	defer func() { _ = m.store.ReleaseHealthLease(context.WithoutCancel(ctx), m.owner) }()

	counts := make(map[link.HealthState]int, len(link.HealthStates))
	var pending []link.Record // product links waiting for a batch
	var ids []string          // their distinct product ids, in order
	seen := make(map[string]bool)
	flush := func() error {
		if len(ids) == 0 {
			return nil
		}
		if err := m.checkBatch(ctx, ids, pending, counts); err != nil {
			return err
		}
		pending, ids, seen = pending[:0], ids[:0], make(map[string]bool)
		return nil
	}
	cursor := ""
	for {
		recs, next, err := m.store.List(ctx, cursor, listPage)
		if err != nil {
			return store.HealthCheck{}, err
		}
		for _, rec := range recs {
			page, err := aliurl.Parse(rec.Target)
			if err != nil || page.Kind != aliurl.Product {
				m.write(ctx, rec, link.Health{State: link.HealthPage, Seen: m.opts.Now()}, link.Product{})
				counts[link.HealthPage]++
				continue
			}
			if !seen[page.ID] {
				if len(ids) == m.opts.Batch {
					if err := flush(); err != nil {
						return store.HealthCheck{}, err
					}
				}
				seen[page.ID] = true
				ids = append(ids, page.ID)
			}
			pending = append(pending, rec)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if err := flush(); err != nil {
		return store.HealthCheck{}, err
	}
	c := store.HealthCheck{At: m.opts.Now(), Counts: counts}
	if err := m.store.SetLastHealthCheck(ctx, c); err != nil {
		return store.HealthCheck{}, err
	}
	return c, nil
}

// checkBatch asks the platform about ids and writes the health of recs (the links to them). A call that
// fails after the client's own retry leaves recs as they were, counted in the states they had.
func (m *Monitor) checkBatch(ctx context.Context, ids []string, recs []link.Record, counts map[link.HealthState]int) error {
	if _, err := m.store.HealthLease(ctx, m.owner, m.opts.Lease); err != nil {
		return err
	}
	prev, err := m.store.Health(ctx, recIDs(recs))
	if err != nil {
		return err
	}
	found, err := m.details(ctx, ids)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		m.opts.Logger.Warn("health check batch", "products", len(ids), "err", err)
		for _, h := range prev {
			counts[h.State]++
		}
		return nil
	}
	if m.opts.Products != nil && len(found) > 0 {
		m.opts.Products(found)
	}
	now := m.opts.Now()
	for i, rec := range recs {
		page, _ := aliurl.Parse(rec.Target)
		h := judge(found, page.ID, prev[i].Product, now)
		m.write(ctx, rec, h, prev[i].Product)
		counts[h.State]++
	}
	return nil
}

// judge is the health of product id given what productdetail.get found and the product last known.
// A product it does not list is gone when the platform described it before (a title is known); one it
// never described is untagged: not in the affiliate programme, as far as the platform says, and never
// seen alive, so its clicks are not sent elsewhere.
func judge(found map[string]affiliate.Product, id string, last link.Product, now time.Time) link.Health {
	p, ok := found[id]
	if !ok {
		if last.Title == "" {
			return link.Health{State: link.HealthUntagged, Seen: now}
		}
		return link.Health{State: link.HealthGone, Seen: now}
	}
	h := link.Health{State: link.HealthOK, Seen: now, Product: product(p)}
	if !Earns(p.CommissionRate) {
		h.State = link.HealthUntagged
	}
	return h
}

// product is the platform's product as a link shows it; a store page that is not an accepted
// AliExpress store page is dropped.
func product(p affiliate.Product) link.Product {
	out := link.Product{ID: p.ID, Title: p.Title, Image: p.ImageURL, Price: p.Price, Currency: p.Currency, CommissionRate: p.CommissionRate}
	if sp, err := aliurl.Parse(p.ShopURL); err == nil && sp.Kind == aliurl.Store {
		out.Store = sp.URL
	}
	if !validImage(out.Image) {
		out.Image = ""
	}
	return out
}

// details makes one productdetail.get call within the check's share of the rate, waiting while the
// platform client has no token to spare (a call not sent is not a call).
func (m *Monitor) details(ctx context.Context, ids []string) (map[string]affiliate.Product, error) {
	if err := m.limiter.Wait(ctx); err != nil {
		return nil, err
	}
	var found map[string]affiliate.Product
	renewed := time.Now()
	err := whenSpare(ctx, func() (err error) {
		// A wait for spare tokens can be long while clicks are busy: keep the lease meanwhile.
		if time.Since(renewed) > m.opts.Lease/4 {
			if _, err := m.store.HealthLease(ctx, m.owner, m.opts.Lease); err != nil {
				return err
			}
			renewed = time.Now()
		}
		cctx, cancel := context.WithTimeout(ctx, m.opts.CallTimeout)
		defer cancel()
		found, err = m.platform.ProductDetails(cctx, ids, m.opts.Currency, m.opts.Language)
		return err
	})
	return found, err
}

// spareRetry is how long a call waits for a spare platform token before it asks again.
const spareRetry = 50 * time.Millisecond

// whenSpare calls fn until it does not answer affiliate.ErrWouldWait (no token to spare: nothing was
// sent), pausing spareRetry between tries, or until ctx ends.
func whenSpare(ctx context.Context, fn func() error) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		if err := fn(); !errors.Is(err, affiliate.ErrWouldWait) {
			return err
		}
		t.Reset(spareRetry)
	}
}

// write records h for rec and, when that changes where its clicks go, tells Changes. A gone product's
// diversion is made from last, the product last known (h carries none, and the stored one is kept).
func (m *Monitor) write(ctx context.Context, rec link.Record, h link.Health, last link.Product) {
	known := h
	if h.State == link.HealthGone {
		known.Product = last
	}
	var prev link.HealthState
	var written, diverted bool
	var err error
	for range writeTries { // a store slow for a moment must not leave a gone link undiverted for a day
		if prev, written, diverted, err = m.store.SetHealthFrom(ctx, rec, h, Divert(rec, known)); err == nil || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		m.opts.Logger.Warn("write link health", "id", rec.ID, "err", err)
		return
	}
	if prev == "" {
		prev = link.HealthUnknown
	}
	if written && prev != h.State && m.opts.OnChange != nil {
		m.opts.OnChange(rec.ID, prev, h.State)
	}
	if diverted && m.changes != nil {
		m.changes.RecordChanged(ctx, rec.ID)
	}
}

func recIDs(recs []link.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

// NotPromotable tells the Monitor that a click on the recorded link id, to target, found the platform
// answering "not promotable". It never blocks: the mark is written in the background (Run), at most
// once per link per 10 minutes, and dropped when the buffer is full.
func (m *Monitor) NotPromotable(id, target string) {
	m.mu.Lock()
	now := m.opts.Now()
	if t, ok := m.marked[id]; ok && now.Sub(t) < markAgain {
		m.mu.Unlock()
		return
	}
	if len(m.marked) >= markMemory {
		clear(m.marked)
	}
	m.marked[id] = now
	m.mu.Unlock()
	select {
	case m.marks <- mark{id, target}:
	default:
	}
}

func (m *Monitor) writeMarks(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case mk := <-m.marks:
			m.markUntagged(ctx, mk)
		}
	}
}

// markUntagged writes the untagged state a click found, keeping the product last known.
func (m *Monitor) markUntagged(ctx context.Context, mk mark) {
	rec, ok, err := m.store.Get(ctx, mk.id)
	if err != nil || !ok || rec.Deleted {
		return
	}
	page, err := aliurl.Parse(rec.Target)
	if err != nil || page.URL != mk.target {
		return // retargeted meanwhile, or diverted: the answer was about another page
	}
	m.write(ctx, rec, link.Health{State: link.HealthUntagged, Seen: m.opts.Now()}, link.Product{})
}
