package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/link"
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
