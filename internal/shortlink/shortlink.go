// Package shortlink is the policy of short links: which id a new link gets and what its changes reach
// (Service), and where a link points (Lookup): its record in the store or, for a product code whose
// record is gone, the product the code itself names.
package shortlink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/redirector/redirector/internal/aliurl"
	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/shortid"
)

// Store is where records live; *store.Records is one.
type Store interface {
	// Get returns the record with that id, tombstones included; ok=false when there is none.
	Get(ctx context.Context, id string) (link.Record, bool, error)
}

// Folder finds a slug typed in another case; *store.Records is one. A Store that is not a Folder
// matches ids exactly.
type Folder interface {
	// FoldID returns the id of the live link whose slug equals id ignoring case; ok=false when none.
	FoldID(ctx context.Context, id string) (canonical string, ok bool, err error)
}

// Mirror is a local copy of the store's records that answers when the store fails; *mirror.Mirror is
// one.
type Mirror interface {
	// Record returns the copy of the record id, tombstones included; ok=false when the copy has none.
	Record(id string) (rec link.Record, ok bool, err error)
	// Complete reports whether the copy has been whole once, so that a record it lacks is (most
	// likely) missing from the store too.
	Complete() bool
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
	// Logger gets one warning each time a record read from the store is refused (default: discard).
	Logger *slog.Logger
	// Rejected, if set, is incremented each time a record read from the store is refused.
	Rejected interface{ Inc() }
	// Mirror, if set, answers when the store fails, before the first tier's old entries and the
	// product a code names: a live record leads to its target, a tombstone to no link. Once it is
	// Complete, every lookup has an answer at hand, so the store is given StoreTimeout at most.
	Mirror Mirror
}

// Link is where a live short link leads.
type Link struct {
	// Target is the canonical URL of the page: an accepted AliExpress page, never a share link,
	// whether it came from a record or from a product code.
	Target string
	// Recorded says a live record backs Target. It is false for a product code answered from its id
	// alone: no record, or the store failing and the id not seen before. Only recorded links are
	// counted in the store, so clicks on ids nobody created cannot make it grow.
	Recorded bool
	// Channel is the tracking id the record names ("" for the default channel), as stored: the
	// caller uses it only when it is one of the configured channels.
	Channel string
	// ID, when not empty, is the id of the record that answered, a slug that differs from the id asked
	// for in case only: clicks are the record's, counted under ID.
	ID string
}

type entry struct {
	target     string // canonical target, checked before the entry was made; empty: no live link
	recorded   bool   // a live record backs target
	channel    string // the record's channel
	id         string // Link.ID
	freshUntil int64  // unix nanoseconds
}

// Lookup answers id → target from a bounded first tier in front of the store. Safe for concurrent use.
type Lookup struct {
	store        Store
	tier1        *otter.Cache[string, entry]
	fresh        time.Duration
	storeTimeout time.Duration
	now          func() time.Time
	logger       *slog.Logger
	rejected     interface{ Inc() } // nil: not counted
	mirror       Mirror             // nil: none
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
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
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
		logger:       opts.Logger,
		rejected:     opts.Rejected,
		mirror:       opts.Mirror,
	}
}

// Target returns the canonical target URL of the live short link id; see Link.
func (l *Lookup) Target(ctx context.Context, id string) (target string, ok bool, err error) {
	link, ok, err := l.Link(ctx, id)
	return link.Target, ok, err
}

// Link returns where the live short link id leads. ok=false means the link is unknown, deleted, or
// its record's target was refused. A target read from the store is accepted as input is (an
// AliExpress page by aliurl.Parse, not a share link) and answered in its canonical form; a record
// that fails is answered as no link, logged and counted (Options.Logger, Options.Rejected), so
// whoever can write the store cannot make the service redirect elsewhere. The check runs when an
// answer enters the first tier, not on the hits that follow. When the store fails, the mirror
// (Options.Mirror) answers if it holds the record: a live one leads to its target (Recorded true,
// checked as above), a tombstone to no link, also for a product code.
// Without the record in the mirror, an entry seen earlier is answered as it was (Recorded included),
// and a product code resolves from the id alone (Recorded false); failing those, a complete mirror
// answers no link, as the store would. err is returned only when none of them can answer.
func (l *Lookup) Link(ctx context.Context, id string) (link Link, ok bool, err error) {
	now := l.now().UnixNano()
	e, hit := l.tier1.GetIfPresent(id)
	if hit && now < e.freshUntil {
		return Link{Target: e.target, Recorded: e.recorded, Channel: e.channel, ID: e.id}, e.target != "", nil
	}
	fallback := hit
	if !hit {
		_, fallback = shortid.ParseProduct(id)
	}
	if !fallback && l.mirror != nil {
		fallback = l.mirror.Complete()
	}
	rec, found, err := l.get(ctx, id, fallback)
	if err != nil {
		if link, ok, known := l.fromMirror(id); known {
			return link, ok, nil
		}
		if hit { // stale-if-error
			return Link{Target: e.target, Recorded: e.recorded, Channel: e.channel, ID: e.id}, e.target != "", nil
		}
		if t, ok := productTarget(id); ok {
			return Link{Target: t}, true, nil
		}
		if l.mirror != nil && l.mirror.Complete() {
			return Link{}, false, nil // as the store would answer: no such record
		}
		return Link{}, false, fmt.Errorf("look up short link %s: %w", id, err)
	}
	switch {
	case found && rec.Deleted:
		link = l.folded(ctx, id) // a deleted slug is free again, in any case
	case found:
		if rec.Divert != "" {
			// The health check diverts the link (its target is gone, or earns nothing and the owner
			// asked for the plan B then): the diversion is outside data too, checked the same way.
			if link.Target, err = checkTarget(rec.Divert); err == nil {
				link.Recorded = true
				break
			}
			l.logger.Warn("short link diversion refused", "id", id, "reason", err.Error())
		}
		if link.Target, err = checkTarget(rec.Target); err != nil {
			l.logger.Warn("short link record refused", "id", id, "reason", err.Error())
			if l.rejected != nil {
				l.rejected.Inc()
			}
			link.Target = ""
			break
		}
		link.Recorded = true
		link.Channel = rec.Channel
	default:
		if link.Target, ok = productTarget(id); !ok {
			link = l.folded(ctx, id)
		}
	}
	l.tier1.Set(id, entry{target: link.Target, recorded: link.Recorded, channel: link.Channel, id: link.ID, freshUntil: now + int64(l.fresh)})
	return link, link.Target != "", nil
}

// folded answers an id that no record has exactly as the slug it equals ignoring case, if any: a slug
// is matched ignoring case (people type what they see on a flyer), a random id or product code never
// (they take no fold entry). Only a miss pays for it: one or two more reads, and the answer, a link
// or none, is kept in the first tier under the id as typed. A failure answers no link.
func (l *Lookup) folded(ctx context.Context, id string) Link {
	f, ok := l.store.(Folder)
	if !ok || shortid.Classify(id) == shortid.KindProduct {
		return Link{}
	}
	canonical, ok, err := f.FoldID(ctx, id)
	if err != nil || !ok || canonical == id {
		return Link{}
	}
	rec, found, err := l.store.Get(ctx, canonical)
	if err != nil || !found || rec.Deleted {
		return Link{}
	}
	var out Link
	if rec.Divert != "" {
		if out.Target, err = checkTarget(rec.Divert); err == nil {
			out.Recorded, out.ID = true, canonical
			return out
		}
	}
	if out.Target, err = checkTarget(rec.Target); err != nil {
		l.logger.Warn("short link record refused", "id", canonical, "reason", err.Error())
		return Link{}
	}
	out.Recorded, out.Channel, out.ID = true, rec.Channel, canonical
	return out
}

// fromMirror answers id from the mirror's copy of its record when the store has failed; known is
// false when the mirror has none (or there is no mirror, or it fails).
func (l *Lookup) fromMirror(id string) (link Link, ok, known bool) {
	if l.mirror == nil {
		return Link{}, false, false
	}
	rec, found, err := l.mirror.Record(id)
	switch {
	case err != nil:
		l.logger.Warn("short link mirror", "id", id, "err", err)
		return Link{}, false, false
	case found && rec.Deleted:
		return Link{}, false, true
	case found:
		target, err := checkTarget(rec.Target)
		if err != nil {
			l.logger.Warn("short link record refused", "id", id, "reason", err.Error(), "from", "mirror")
			if l.rejected != nil {
				l.rejected.Inc()
			}
			return Link{}, false, true
		}
		return Link{Target: target, Recorded: true}, true, true
	}
	return Link{}, false, false
}

// checkTarget reads a target back from the store as if it came from outside: it must be a page
// aliurl.Parse accepts, and a page itself rather than a share link to follow. It returns the
// page's canonical URL, the only form a Location is built from.
func checkTarget(raw string) (string, error) {
	p, err := aliurl.Parse(raw)
	if err != nil {
		return "", err
	}
	if p.Kind == aliurl.Share {
		return "", errors.New("a share link, not a page")
	}
	return p.URL, nil
}

// get asks the store for id. When something else can answer if the store cannot (fallback: an
// entry seen earlier, or the product a product code names), the store is given StoreTimeout at
// most, so a slow or absent store does not hold the click.
func (l *Lookup) get(ctx context.Context, id string, fallback bool) (link.Record, bool, error) {
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
