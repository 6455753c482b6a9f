// Package shortlink finds where a short link points: its record in the store or, for a product code
// whose record is gone, the product the code itself names.
package shortlink

import (
	"context"
	"fmt"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/redirector/redirector/internal/aliurl"
	"github.com/redirector/redirector/internal/cache"
	"github.com/redirector/redirector/internal/shortid"
)

// Store is where records live; *cache.Records is one.
type Store interface {
	// Get returns the record with that id, tombstones included; ok=false when there is none.
	Get(ctx context.Context, id string) (cache.Record, bool, error)
}

// Options tune the first tier. Zero values take the defaults.
type Options struct {
	// Size bounds the entries kept in process (default 100,000).
	Size int
	// Fresh is how long an entry is answered without asking the store (default 30s). Writes made
	// through this process drop their entry at once; other replicas' writes are seen within Fresh.
	Fresh time.Duration
	// Keep is how long an entry is kept to be answered when the store fails (default 24h).
	Keep time.Duration
	// StoreTimeout bounds a store lookup when an answer is at hand should the store fail: an entry
	// seen earlier, or the product a product code names (default 100ms). Without one, the lookup
	// waits as long as the caller's context allows, rather than answer 404 for a live link.
	StoreTimeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

type entry struct {
	target     string // canonical target; empty: no live link
	freshUntil int64  // unix nanoseconds
}

// Lookup answers id → target from a bounded first tier in front of the store. Safe for concurrent use.
type Lookup struct {
	store        Store
	tier1        *otter.Cache[string, entry]
	fresh        time.Duration
	storeTimeout time.Duration
	now          func() time.Time
}

// New returns a Lookup over store.
func New(store Store, opts Options) *Lookup {
	if opts.Size <= 0 {
		opts.Size = 100_000
	}
	if opts.Fresh <= 0 {
		opts.Fresh = 30 * time.Second
	}
	if opts.Keep < opts.Fresh {
		opts.Keep = 24 * time.Hour
	}
	if opts.StoreTimeout <= 0 {
		opts.StoreTimeout = 100 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Lookup{
		store: store,
		tier1: otter.Must(&otter.Options[string, entry]{
			MaximumSize:      opts.Size,
			ExpiryCalculator: otter.ExpiryWriting[string, entry](opts.Keep),
		}),
		fresh:        opts.Fresh,
		storeTimeout: opts.StoreTimeout,
		now:          opts.Now,
	}
}

// Target returns the canonical target URL of the live short link id. ok=false means the link is
// unknown or deleted. When the store fails, an entry seen earlier is answered, and a product
// code resolves from the id alone; err is returned only when neither can answer.
func (l *Lookup) Target(ctx context.Context, id string) (target string, ok bool, err error) {
	now := l.now().UnixNano()
	e, hit := l.tier1.GetIfPresent(id)
	if hit && now < e.freshUntil {
		return e.target, e.target != "", nil
	}
	fallback := hit
	if !hit {
		_, fallback = shortid.ParseProduct(id)
	}
	rec, found, err := l.get(ctx, id, fallback)
	if err != nil {
		if hit { // stale-if-error
			return e.target, e.target != "", nil
		}
		if t, ok := productTarget(id); ok {
			return t, true, nil
		}
		return "", false, fmt.Errorf("look up short link %s: %w", id, err)
	}
	switch {
	case found && rec.Deleted:
		target = ""
	case found:
		target = rec.Target
	default:
		target, _ = productTarget(id)
	}
	l.tier1.Set(id, entry{target: target, freshUntil: now + int64(l.fresh)})
	return target, target != "", nil
}

// get asks the store for id. When something else can answer if the store cannot (fallback: an
// entry seen earlier, or the product a product code names), the store is given StoreTimeout at
// most, so a slow or absent store does not hold the click.
func (l *Lookup) get(ctx context.Context, id string, fallback bool) (cache.Record, bool, error) {
	if fallback {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, l.storeTimeout)
		defer cancel()
	}
	return l.store.Get(ctx, id)
}

// Forget drops id from the first tier so the next lookup asks the store.
func (l *Lookup) Forget(id string) { l.tier1.Invalidate(id) }

// productTarget is the canonical page of the product a product code names.
func productTarget(id string) (string, bool) {
	pid, ok := shortid.ParseProduct(id)
	if !ok {
		return "", false
	}
	p, err := aliurl.Parse("https://www.aliexpress.com/item/" + pid + ".html")
	if err != nil {
		return "", false
	}
	return p.URL, true
}
