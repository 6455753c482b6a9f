package backup

import (
	"context"
	"fmt"

	"github.com/redirector/redirector/internal/bio"
	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/shortid"
	"github.com/redirector/redirector/internal/store"
)

// Records are where a restore writes records and rebuilds their indexes; *store.Records is one.
type Records interface {
	Restore(ctx context.Context, rec link.Record) (store.Change, error)
	SetTargetID(ctx context.Context, target, id string) (holder string, ok bool, err error)
	IndexSlug(ctx context.Context, id string) (ok bool, err error)
}

// Counters raise a link's totals; *store.Counters is one.
type Counters interface {
	RestoreTotals(ctx context.Context, id string, clicks, scans int64) (raised bool, err error)
}

// Pages keep bio pages; *bio.Store is one.
type Pages interface {
	Put(ctx context.Context, p bio.Page) (bool, error)
}

// Restorer writes a checked File to a store.
type Restorer struct {
	Records  Records
	Counters Counters
	Pages    Pages
	// Written, when set, is told of each record the restore created or replaced, right after it
	// was written (also when writing its indexes then fails): to tell the replicas and webhooks.
	Written func(ctx context.Context, rec link.Record, change store.Change)
	// PageWritten, when set, is told of each page the restore wrote.
	PageWritten func(ctx context.Context, p bio.Page)
}

// Changes counts the records of an import by what writing them did (store.Change): created,
// replaced an older one, or found the same or a newer one stored.
type Changes [3]int

func (c Changes) String() string {
	return fmt.Sprintf("%d created, %d updated, %d unchanged", c[store.Created], c[store.Updated], c[store.Unchanged])
}

// Result is what a restore did.
type Result struct {
	Records Changes
	// Raised is how many links' totals were raised.
	Raised int
	// PagesWritten is how many pages were written; the others were stored already, as new or newer.
	PagesWritten int
}

// Restore writes f's records, then its pages. A record is written unless the stored one was updated
// at the same time or later; a line's clicks and scans are set as the link's totals unless these are
// higher already, never added: restoring a file twice changes nothing. The indexes that make
// creating the same page twice give one id, and that match a slug ignoring case, are rebuilt for the
// records that need them. It stops at the first error, which says what was done so far; running it
// again finishes the job.
func (r Restorer) Restore(ctx context.Context, f File) (Result, error) {
	var res Result
	for _, l := range f.Records {
		rec := l.Rec
		change, err := r.Records.Restore(ctx, rec)
		if err == nil || change != store.Unchanged {
			res.Records[change]++
		}
		if change != store.Unchanged && r.Written != nil {
			r.Written(ctx, rec, change)
		}
		if err != nil {
			return res, fmt.Errorf("import %s: %w (so far %v; run it again)", rec.ID, err, res.Records)
		}
		// The index that makes creating the same page twice give one id is rebuilt for the
		// links that need it (a product code finds itself from the product).
		// A link on a channel of its own never holds the page's shared id (shortlink.Service.CreateOn).
		if !rec.Deleted && rec.Channel == "" && shortid.Classify(rec.ID) != shortid.KindProduct {
			if _, _, err := r.Records.SetTargetID(ctx, rec.Target, rec.ID); err != nil {
				return res, fmt.Errorf("import %s: index target: %w (so far %v; run it again)", rec.ID, err, res.Records)
			}
		}
		// A custom slug is matched ignoring case (store.Records.CreateSlug): give it its entry.
		if !rec.Deleted && shortid.Classify(rec.ID) == shortid.KindSlug {
			if _, err := r.Records.IndexSlug(ctx, rec.ID); err != nil {
				return res, fmt.Errorf("import %s: index slug: %w (so far %v; run it again)", rec.ID, err, res.Records)
			}
		}
		if l.Clicks > 0 || l.Scans > 0 {
			up, err := r.Counters.RestoreTotals(ctx, rec.ID, l.Clicks, l.Scans)
			if err != nil {
				return res, fmt.Errorf("import %s: %w (so far %v; run it again)", rec.ID, err, res.Records)
			}
			if up {
				res.Raised++
			}
		}
	}
	for _, p := range f.Pages {
		ok, err := r.Pages.Put(ctx, p)
		if err != nil {
			return res, fmt.Errorf("import page %s: %w (records: %v; run it again)", p.Handle, err, res.Records)
		}
		if ok {
			res.PagesWritten++
			if r.PageWritten != nil {
				r.PageWritten(ctx, p)
			}
		}
	}
	return res, nil
}
