package bio

import (
	"context"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/redistest"
	"github.com/redirector/redirector/internal/stats"
	"github.com/redirector/redirector/internal/store"
)

// TestViewSinkRetriedBatch: a batch of views written twice (a retry after a write that landed)
// counts each visitor once within the window; without a window each view counts, and views of a
// handle without a page write no key at all.
func TestViewSinkRetriedBatch(t *testing.T) {
	ctx := context.Background()
	rs := redistest.Start(t)
	rdb, err := store.Connect(ctx, rs.URL, store.ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	pages := NewStore(rdb, 0)
	counters := store.NewCountersWith(rdb, store.CountersOptions{})
	for _, h := range []string{"dedup", "every"} {
		if err := pages.Create(ctx, Page{Handle: h, Title: h, Created: time.Now(), Updated: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	day := time.Now().UTC().Format("20060102")
	batch := func(h string) []stats.Visit {
		return []stats.Visit{
			{ID: h, Day: day, Visitor: "0123456789abcdef", Clicks: 3},
			{ID: h, Day: day, Visitor: "fedcba9876543210", Clicks: 1},
		}
	}
	windowed, every := pages.ViewSink(counters, time.Hour), pages.ViewSink(counters, -1)
	for range 2 {
		if err := windowed.AddVisits(ctx, batch("dedup")); err != nil {
			t.Fatal(err)
		}
	}
	if err := every.AddVisits(ctx, batch("every")); err != nil {
		t.Fatal(err)
	}
	if n, err := pages.Views(ctx, "dedup"); err != nil || n != 2 {
		t.Errorf("two visitors' batch written twice in the window: views = %d, %v; want 2", n, err)
	}
	if n, err := pages.Views(ctx, "every"); err != nil || n != 4 {
		t.Errorf("without a window: views = %d, %v; want 4 (every view)", n, err)
	}
	if ttl := rdb.PTTL(ctx, viewerKey("dedup", "0123456789abcdef")).Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("visitor key TTL = %v, want within the hour's window", ttl)
	}
	if err := windowed.AddVisits(ctx, batch("nopage")); err != nil {
		t.Fatal(err)
	}
	if keys := rdb.Keys(ctx, "rd:v1:page:{nopage}*").Val(); len(keys) != 0 {
		t.Errorf("views of a handle without a page wrote %v", keys)
	}
	if err := windowed.AddVisits(ctx, []stats.Visit{{ID: "dedup", Day: day, Visitor: "not-hex"}}); err == nil {
		t.Error("a visit with a bad visitor was accepted")
	}
}
