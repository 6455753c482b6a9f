package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/stats"
	"github.com/redirector/redirector/internal/store"
)

func mustLabels(t testing.TB, ls ...string) link.Labels {
	t.Helper()
	l, err := link.NewLabels(ls)
	if err != nil {
		t.Fatalf("NewLabels(%q): %v", ls, err)
	}
	return l
}

// Labels are kept by every write of a record (Create, Restore, Patch) and read back by Get, Listing and
// Each; a patch without labels leaves them, one with labels replaces them.
func TestRecordLabels(t *testing.T) { forEachBackend(t, recordLabels) }

func recordLabels(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	rs := store.NewRecords(rdb)
	now := time.Now().UTC().Truncate(time.Millisecond)
	target := "https://www.aliexpress.com/item/1005001000000001.html"

	rec := testRecord("summer-sale", target, now)
	rec.Labels = mustLabels(t, "Summer 2026", "flyer")
	mustCreateRecord(t, ctx, rs, rec)
	if got := mustGetRecord(t, ctx, rs, rec.ID); !slices.Equal(got.Labels.All(), []string{"Summer 2026", "flyer"}) {
		t.Fatalf("Get after Create: labels %q, want [Summer 2026 flyer]", got.Labels.All())
	}

	// A patch of the target alone keeps them.
	other := "https://www.aliexpress.com/item/1005001000000002.html"
	noDivert := func(link.Record, link.Health) string { return "" }
	got, err := rs.Patch(ctx, rec.ID, link.Patch{Target: &other}, now.Add(time.Second), noDivert)
	if err != nil {
		t.Fatalf("Patch(target): %v", err)
	}
	if stored := mustGetRecord(t, ctx, rs, rec.ID); stored.Labels != rec.Labels || got.Labels != rec.Labels {
		t.Fatalf("after Patch(target): labels stored %q, returned %q, want %q", stored.Labels.All(), got.Labels.All(), rec.Labels.All())
	}
	// A patch of the labels replaces them; the zero Labels clears them.
	winter := mustLabels(t, "Winter")
	if _, err := rs.Patch(ctx, rec.ID, link.Patch{Labels: &winter}, now.Add(2*time.Second), noDivert); err != nil {
		t.Fatalf("Patch(labels): %v", err)
	}
	if stored := mustGetRecord(t, ctx, rs, rec.ID); !slices.Equal(stored.Labels.All(), []string{"Winter"}) || stored.Target != other {
		t.Fatalf("after Patch(labels): %+v, want labels [Winter] and target %s", stored, other)
	}
	listed, err := rs.Listing(ctx)
	if err != nil || len(listed) != 1 || listed[0].Record.Labels != winter {
		t.Fatalf("Listing = %+v, %v; want the record with labels [Winter]", listed, err)
	}
	var none link.Labels
	if _, err := rs.Patch(ctx, rec.ID, link.Patch{Labels: &none}, now.Add(3*time.Second), noDivert); err != nil {
		t.Fatalf("Patch(no labels): %v", err)
	}
	if vals, err := rdb.HExists(ctx, "rd:v1:{"+rec.ID+"}:rec", "labels").Result(); err != nil || vals {
		t.Fatalf("after clearing the labels the field exists = %v, %v; want it gone", vals, err)
	}

	// Restore (import) keeps them, and a newer record replaces them.
	imported := testRecord("imported", target, now)
	imported.Labels = mustLabels(t, "a", "B")
	if _, err := rs.Restore(ctx, imported); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	var seen link.Record
	if err := rs.Each(ctx, func(r link.Record) error {
		if r.ID == imported.ID {
			seen = r
		}
		return nil
	}); err != nil {
		t.Fatalf("Each: %v", err)
	}
	if seen.Labels != imported.Labels {
		t.Fatalf("Each after Restore: labels %q, want %q", seen.Labels.All(), imported.Labels.All())
	}
}

// What a store holds is outside data: labels read back are checked again, and bad ones dropped.
func TestRecordLabelsReadBackChecked(t *testing.T) {
	ctx := context.Background()
	rdb := openRedisServer(t)
	rs := store.NewRecords(rdb)
	rec := testRecord("tampered", "https://www.aliexpress.com/item/1005001000000003.html", time.Now())
	mustCreateRecord(t, ctx, rs, rec)
	if err := rdb.HSet(ctx, "rd:v1:{tampered}:rec", "labels", "ok\x1fbad\x07bell\x1fOK\x1f  ").Err(); err != nil {
		t.Fatal(err)
	}
	if got := mustGetRecord(t, ctx, rs, rec.ID).Labels.All(); !slices.Equal(got, []string{"ok"}) {
		t.Fatalf("labels read back = %q, want [ok] (the control character's label and the duplicate dropped)", got)
	}
}

// Listing reads every live record with its health and totals (and the last click), newest first, on
// both backends; Visitors answers for many ids at once.
func TestListing(t *testing.T) { forEachBackend(t, listing) }

func listing(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	rs := store.NewRecords(rdb)
	counters := store.NewCounters(rdb, 0)
	now := time.Now().UTC().Truncate(time.Millisecond)
	for i, id := range []string{"first", "second", "gone"} {
		mustCreateRecord(t, ctx, rs, testRecord(id, "https://www.aliexpress.com/item/100500100000000"+string(rune('1'+i))+".html", now.Add(time.Duration(i)*time.Second)))
	}
	if err := rs.Delete(ctx, "gone", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if err := counters.AddClicks(ctx, []link.ClickCount{{ID: "first", Day: now.Format("20060102"), Clicks: 3, Scans: 1}}); err != nil {
		t.Fatal(err)
	}
	got, err := rs.Listing(ctx)
	if err != nil {
		t.Fatalf("Listing: %v", err)
	}
	if len(got) != 2 || got[0].Record.ID != "second" || got[1].Record.ID != "first" {
		t.Fatalf("Listing = %+v, want second then first (newest first, the deleted one left out)", got)
	}
	first := got[1]
	if first.Clicks != 3 || first.Scans != 1 || first.LastClick.Before(before.Truncate(time.Millisecond)) || first.Health.State != link.HealthUnknown {
		t.Errorf("first = %+v, want 3 clicks, 1 scan, a last click from %v, health unknown", first, before)
	}
	if !got[0].LastClick.IsZero() || got[0].Clicks != 0 {
		t.Errorf("second (never clicked) = %+v, want no clicks and no last click", got[0])
	}
	// Two visitors on first today, one yesterday; the day before the window's first is not counted.
	var visits []stats.Visit
	for i, d := range []int{0, 0, -1, -30} {
		v := visit("first", i+1, "direct", false)
		v.Day = now.AddDate(0, 0, d).Format("20060102")
		visits = append(visits, v)
	}
	if err := counters.AddVisits(ctx, visits); err != nil {
		t.Fatal(err)
	}
	v, err := counters.Visitors(ctx, []string{"first", "second", "{bad}"}, 30, now)
	if err != nil || len(v) != 3 || v[0] != 3 || v[1] != 0 || v[2] != 0 {
		t.Errorf("Visitors = %v, %v; want [3 0 0]", v, err)
	}
}
