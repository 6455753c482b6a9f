package earnings

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redirector/redirector/internal/affiliate"
	"github.com/redirector/redirector/internal/link"
)

// Lister reads one page of the platform's order report; *affiliate.Client is one.
type Lister interface {
	OrderPage(ctx context.Context, q affiliate.OrderQuery) (affiliate.OrderPage, error)
}

// Records walks every short-link record; *store.Records is one.
type Records interface {
	Each(ctx context.Context, fn func(link.Record) error) error
}

// ErrLeaseHeld is returned by Sync when another replica is syncing: nothing was done.
var ErrLeaseHeld = errors.New("another replica is syncing orders")

// ErrPaused is returned by Sync when Options.Paused said to stop (the platform's breaker is open):
// the progress so far is kept and the next sync resumes from it.
var ErrPaused = errors.New("order sync paused")

// SyncOptions tune a Syncer. Zero fields take the defaults named on them.
type SyncOptions struct {
	// DefaultChannel is the tracking id of links that name no channel. Required.
	DefaultChannel string
	// Zone is the platform's zone for order times and query windows; default America/Los_Angeles.
	Zone *time.Location
	// Lookback is how far back the first sync reads; default 60 days.
	Lookback time.Duration
	// Overlap is how far before the end of the last window the next one starts, for orders the platform
	// reports late; default 1h.
	Overlap time.Duration
	// PageSize is the orders asked per call; default and most 50.
	PageSize int
	// LeaseTTL is how long one replica's claim to sync lasts unless renewed (at every page); default 5m.
	LeaseTTL time.Duration
	// Paused, if set, is asked before every call: true stops the sync (ErrPaused), so that clicks keep
	// the platform while the breaker is open.
	Paused func() bool
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger; default discards.
	Logger *slog.Logger
	// OnOrders, if set, is told how many orders each page wrote.
	OnOrders func(n int)
	// OnOrder, if set, is told of each order written (new, or changed since it was stored); it must not
	// block (the webhooks' Emit).
	OnOrder func(Order)
}

// Syncer copies the platform's order reports into a Store. Safe for concurrent use; concurrent syncs,
// here or in other replicas, are kept to one at a time by a lease in the store.
type Syncer struct {
	lister  Lister
	records Records
	store   *Store
	opts    SyncOptions
	token   string // this Syncer's lease token
}

// NewSyncer returns a Syncer reading lister and attributing to records' links.
func NewSyncer(lister Lister, records Records, st *Store, opts SyncOptions) *Syncer {
	if opts.Zone == nil {
		opts.Zone = DefaultZone()
	}
	if opts.Lookback <= 0 {
		opts.Lookback = 60 * 24 * time.Hour
	}
	if opts.Overlap <= 0 {
		opts.Overlap = time.Hour
	}
	if opts.PageSize <= 0 || opts.PageSize > affiliate.MaxOrderPageSize {
		opts.PageSize = affiliate.MaxOrderPageSize
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = 5 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	return &Syncer{lister: lister, records: records, store: st, opts: opts, token: hex.EncodeToString(b[:])}
}

// DefaultZone is the zone the SDKs' documentation gives order times in ("PST"): Pacific time,
// daylight saving included.
func DefaultZone() *time.Location {
	loc, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		return time.FixedZone("PST", -8*3600)
	}
	return loc
}

// Sync runs one sync: for each status, the window since the last one (less the overlap; the first
// looks back Lookback), page by page. Each page's orders are stored before its cursor, so a sync that
// fails resumes, in the same window, after the last page stored, and reading a page twice changes
// nothing. It returns ErrLeaseHeld when another replica syncs, ErrPaused, or the platform's or store's
// error; the progress made stays.
func (s *Syncer) Sync(ctx context.Context) error {
	ok, err := s.store.lease(ctx, s.token, s.opts.LeaseTTL)
	if err != nil {
		return err
	}
	if !ok {
		return ErrLeaseHeld
	}
	defer s.store.release(context.WithoutCancel(ctx), s.token)

	links, err := s.links(ctx)
	if err != nil {
		return err
	}
	// The platform's times are whole seconds: a window ends on one, and the next window's overlap
	// covers what this second still brings.
	now := s.opts.Now().Truncate(time.Second)
	for _, status := range Statuses {
		if err := s.syncStatus(ctx, status, links, now); err != nil {
			return fmt.Errorf("sync %s orders: %w", status, err)
		}
	}
	if err := s.store.trim(ctx, now); err != nil {
		return fmt.Errorf("trim orders: %w", err)
	}
	if err := s.store.rdb.HSet(ctx, syncKey, "last_success", now.UnixMilli()).Err(); err != nil {
		return fmt.Errorf("save last sync: %w", err)
	}
	return nil
}

func (s *Syncer) links(ctx context.Context) (Links, error) {
	var recs []link.Record
	err := s.records.Each(ctx, func(r link.Record) error {
		if !r.Deleted {
			recs = append(recs, r)
		}
		return nil
	})
	if err != nil {
		return Links{}, fmt.Errorf("read links: %w", err)
	}
	return NewLinks(recs, s.opts.DefaultChannel), nil
}

func (s *Syncer) syncStatus(ctx context.Context, status string, links Links, now time.Time) error {
	st, err := s.store.state(ctx, status)
	if err != nil {
		return err
	}
	if st.WinEnd == 0 {
		start := now.Add(-s.opts.Lookback)
		if st.Since != 0 {
			if next := time.UnixMilli(st.Since).Add(-s.opts.Overlap); next.After(start) {
				start = next
			}
		}
		st.WinStart, st.WinEnd, st.Cursor = start.UnixMilli(), now.UnixMilli(), ""
		if err := s.store.saveState(ctx, status, st); err != nil {
			return err
		}
	}
	q := affiliate.OrderQuery{
		Status: status, TimeType: timeTypes[status], PageSize: s.opts.PageSize,
		StartTime: time.UnixMilli(st.WinStart).In(s.opts.Zone).Format(affiliate.OrderTimeLayout),
		EndTime:   time.UnixMilli(st.WinEnd).In(s.opts.Zone).Format(affiliate.OrderTimeLayout),
	}
	for {
		if s.opts.Paused != nil && s.opts.Paused() {
			return ErrPaused
		}
		if ok, err := s.store.lease(ctx, s.token, s.opts.LeaseTTL); err != nil || !ok {
			return cmpErr(err, ErrLeaseHeld)
		}
		q.StartIndex = st.Cursor
		page, err := s.lister.OrderPage(ctx, q)
		if err != nil {
			return err
		}
		written := 0
		for _, po := range page.Orders {
			o, ok := fromPlatform(po, s.opts.Zone, links)
			if !ok {
				s.opts.Logger.Warn("order skipped: no sub-order id or paid time", "sub_order_id", po.SubOrderID)
				continue
			}
			w, err := s.store.Put(ctx, o)
			if err != nil {
				return err
			}
			if w {
				written++
				if s.opts.OnOrder != nil {
					s.opts.OnOrder(o)
				}
			}
		}
		if s.opts.OnOrders != nil && written > 0 {
			s.opts.OnOrders(written)
		}
		if len(page.Orders) < s.opts.PageSize || page.MaxIndex == "" || page.MaxIndex == st.Cursor {
			break
		}
		st.Cursor = page.MaxIndex
		if err := s.store.saveState(ctx, status, st); err != nil {
			return err
		}
	}
	return s.store.saveState(ctx, status, syncState{Since: st.WinEnd})
}

func cmpErr(err, def error) error {
	if err != nil {
		return err
	}
	return def
}

// Run syncs every interval until ctx ends, the first time after first (a starting process serves
// clicks before it reads reports). Errors are logged and told to onError (when set); another replica
// holding the lease is not an error.
func (s *Syncer) Run(ctx context.Context, first, interval time.Duration, onError func(error)) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(first):
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		err := s.Sync(ctx)
		switch {
		case err == nil, errors.Is(err, ErrLeaseHeld), ctx.Err() != nil:
		case errors.Is(err, ErrPaused):
			s.opts.Logger.Info("order sync paused: the platform breaker is open")
		default:
			s.opts.Logger.Warn("order sync", "err", err)
			if onError != nil {
				onError(err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
