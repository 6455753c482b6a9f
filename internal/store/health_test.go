package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/store"
)

func TestRecordsFallbackAndHealth(t *testing.T) { forEachBackend(t, recordsFallbackAndHealth) }

// recordsFallbackAndHealth: the plan B is stored with the record and survives export and import; health
// is written only while the record leads to the target it was found for, and a retarget drops it and
// the diversion it caused.
func recordsFallbackAndHealth(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	rs := store.NewRecords(rdb)
	const target, fallback = "https://www.aliexpress.com/item/1005001.html", "https://www.aliexpress.com/item/1005002.html"
	rec := testRecord("fb1", target, recT0)
	rec.Fallback, rec.FallbackWhen = fallback, link.FallbackUntagged
	mustCreateRecord(t, ctx, rs, rec)
	if got := mustGetRecord(t, ctx, rs, "fb1"); got != rec {
		t.Fatalf("Get = %+v, want %+v", got, rec)
	}

	seen := recT0.Add(time.Hour)
	other := rec
	other.Target = "https://www.aliexpress.com/item/999.html"
	h := link.Health{State: link.HealthGone, Seen: seen, Product: link.Product{Title: "Lamp", Store: "https://www.aliexpress.com/store/9"}}
	if written, diverted, err := rs.SetHealth(ctx, other, h, fallback); written || diverted || err != nil {
		t.Errorf("SetHealth for another target = %v, %v, %v; want nothing written", written, diverted, err)
	}
	if written, diverted, err := rs.SetHealth(ctx, rec, h, fallback); !written || !diverted || err != nil {
		t.Fatalf("SetHealth = %v, %v, %v; want written and diverted", written, diverted, err)
	}
	if _, diverted, _ := rs.SetHealth(ctx, rec, h, fallback); diverted {
		t.Errorf("SetHealth with the same divert says diverted")
	}
	stale := rec // read before a PATCH changed the plan B: its divert is decided from the old one
	stale.Fallback, stale.FallbackWhen = "", ""
	if written, _, err := rs.SetHealth(ctx, stale, h, "https://www.aliexpress.com/store/9"); written || err != nil {
		t.Errorf("SetHealth from a record with another plan B = %v, %v; want nothing written", written, err)
	}
	if got := mustGetRecord(t, ctx, rs, "fb1"); got.Divert != fallback {
		t.Errorf("Get after SetHealth: Divert = %q, want %q", got.Divert, fallback)
	}
	// A state without a product keeps the product last known.
	if _, _, err := rs.SetHealth(ctx, rec, link.Health{State: link.HealthGone, Seen: seen}, fallback); err != nil {
		t.Fatal(err)
	}
	hs, err := rs.Health(ctx, []string{"fb1", "nosuch"})
	if err != nil || len(hs) != 2 {
		t.Fatalf("Health = %v, %v", hs, err)
	}
	if hs[0].State != link.HealthGone || !hs[0].Seen.Equal(seen) || hs[0].Product.Title != "Lamp" || hs[0].Product.Store != h.Product.Store {
		t.Errorf("Health(fb1) = %+v, want gone, seen %v, the product kept", hs[0], seen)
	}
	if hs[1].State != link.HealthUnknown || !hs[1].Seen.IsZero() {
		t.Errorf("Health(nosuch) = %+v, want unknown, never seen", hs[1])
	}

	// Export and import carry the plan B, not the health (found again).
	all := exportRecords(t, ctx, rs)
	if len(all) != 1 || all[0].Fallback != fallback || all[0].FallbackWhen != link.FallbackUntagged {
		t.Fatalf("exported = %+v, want the plan B", all)
	}
	imported := all[0]
	imported.Updated = imported.Updated.Add(time.Minute)
	imported.Divert = ""
	if err := rs.Put(ctx, imported); err != nil {
		t.Fatal(err)
	}
	if got := mustGetRecord(t, ctx, rs, "fb1"); got.Fallback != fallback || got.FallbackWhen != link.FallbackUntagged || got.Divert != "" {
		t.Errorf("after import = %+v, want the plan B and no divert", got)
	}

	// Retarget drops the health and the divert found for the old target.
	if _, _, err := rs.SetHealth(ctx, rec, h, fallback); err != nil {
		t.Fatal(err)
	}
	if rec, err := rs.Retarget(ctx, "fb1", "https://www.aliexpress.com/item/1005003.html", seen); err != nil || rec.Fallback != fallback || rec.FallbackWhen != link.FallbackUntagged {
		t.Fatalf("Retarget = %+v, %v; want the plan B in the record returned", rec, err)
	}
	got := mustGetRecord(t, ctx, rs, "fb1")
	if got.Divert != "" || got.Fallback != fallback {
		t.Errorf("after retarget = %+v, want no divert and the plan B kept", got)
	}
	if hs, _ := rs.Health(ctx, []string{"fb1"}); hs[0].State != link.HealthUnknown || hs[0].Product.Title != "" {
		t.Errorf("health after retarget = %+v, want unknown and no product", hs[0])
	}
}

func TestRecordsPatch(t *testing.T) { forEachBackend(t, recordsPatch) }

// recordsPatch: Patch writes target and plan B at once with the diversion its divert function makes of the
// record as patched and its health; a bad result or a missing record writes nothing.
func recordsPatch(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	rs := store.NewRecords(rdb)
	const target, fb, storePage = "https://www.aliexpress.com/item/1005001.html", "https://www.aliexpress.com/item/1005002.html", "https://www.aliexpress.com/store/9"
	rec := testRecord("p1", target, recT0)
	mustCreateRecord(t, ctx, rs, rec)
	h := link.Health{State: link.HealthGone, Seen: recT0.Add(time.Hour), Product: link.Product{Title: "Lamp", Store: storePage}}
	if _, _, err := rs.SetHealth(ctx, rec, h, storePage); err != nil {
		t.Fatal(err)
	}
	// A stand-in for health.Divert, which store cannot import: the plan B while gone, else the store page.
	var seen []link.Health
	divert := func(r link.Record, h link.Health) string {
		seen = append(seen, h)
		switch {
		case h.State != link.HealthGone:
			return ""
		case r.Fallback != "":
			return r.Fallback
		}
		return h.Product.Store
	}
	str := func(s string) *string { return &s }
	now := recT0.Add(2 * time.Hour)

	got, err := rs.Patch(ctx, "p1", link.Patch{Fallback: str(fb)}, now, divert)
	if err != nil || got.Fallback != fb || got.Divert != fb || got.Target != target || !got.Created.Equal(recT0) || !got.Updated.Equal(now) {
		t.Fatalf("Patch(fallback) = %+v, %v; want the plan B, diverted to it, created %v, updated %v", got, err, recT0, now)
	}
	if len(seen) != 1 || seen[0].State != link.HealthGone || seen[0].Product.Store != storePage {
		t.Errorf("divert was given %+v, want the stored health (gone, store %s)", seen, storePage)
	}
	if stored := mustGetRecord(t, ctx, rs, "p1"); stored != got {
		t.Errorf("Get after Patch = %+v, want %+v", stored, got)
	}
	got, err = rs.Patch(ctx, "p1", link.Patch{Fallback: str("")}, now, divert)
	if err != nil || got.Fallback != "" || got.Divert != storePage {
		t.Errorf("Patch(clear) = %+v, %v; want no plan B, diverted to %s", got, err, storePage)
	}

	before := mustGetRecord(t, ctx, rs, "p1")
	if _, err := rs.Patch(ctx, "p1", link.Patch{FallbackWhen: str(link.FallbackUntagged)}, now, divert); !errors.Is(err, link.ErrInvalid) {
		t.Errorf("Patch(fallback_when without a plan B) = %v, want link.ErrInvalid", err)
	}
	if after := mustGetRecord(t, ctx, rs, "p1"); after != before {
		t.Errorf("a refused Patch wrote: %+v, was %+v", after, before)
	}
	if _, err := rs.Patch(ctx, "nosuch", link.Patch{Fallback: str(fb)}, now, divert); !errors.Is(err, link.ErrNotFound) {
		t.Errorf("Patch(missing) = %v, want link.ErrNotFound", err)
	}

	// A write between Patch's read and its script makes it read and decide again: the plan B changed
	// meanwhile is the one kept with the fallback_when patched, and the one diverted to.
	const fb2 = "https://www.aliexpress.com/item/1005004.html"
	mustPatch := func(p link.Patch) link.Record {
		t.Helper()
		got, err := rs.Patch(ctx, "p1", p, now, divert)
		if err != nil {
			t.Fatalf("Patch(%+v): %v", p, err)
		}
		return got
	}
	mustPatch(link.Patch{Fallback: str(fb)})
	seen = nil
	raced := false
	got, err = rs.Patch(ctx, "p1", link.Patch{FallbackWhen: str(link.FallbackUntagged)}, now, func(r link.Record, h link.Health) string {
		if !raced {
			raced = true
			if err := rdb.HSet(ctx, "rd:v1:{p1}:rec", "fallback", fb2).Err(); err != nil {
				t.Fatal(err)
			}
		}
		return divert(r, h)
	})
	if err != nil || got.Fallback != fb2 || got.FallbackWhen != link.FallbackUntagged || got.Divert != fb2 || len(seen) != 2 {
		t.Errorf("Patch racing a write = %+v, %v after %d decisions; want plan B %s (the write's), untagged, diverted to it, decided twice", got, err, len(seen), fb2)
	}
	if stored := mustGetRecord(t, ctx, rs, "p1"); stored != got {
		t.Errorf("Get after the raced Patch = %+v, want %+v", stored, got)
	}

	// A new target drops the health: divert is asked with none, and the record diverts nowhere.
	const next = "https://www.aliexpress.com/item/1005003.html"
	seen = nil
	got, err = rs.Patch(ctx, "p1", link.Patch{Target: str(next), Fallback: str(fb)}, now, divert)
	if err != nil || got.Target != next || got.Fallback != fb || got.Divert != "" {
		t.Errorf("Patch(target, fallback) = %+v, %v; want %s, plan B %s, no divert", got, err, next, fb)
	}
	if len(seen) != 1 || seen[0].State != link.HealthUnknown {
		t.Errorf("divert was given %+v after a new target, want unknown health", seen)
	}
	if hs, err := rs.Health(ctx, []string{"p1"}); err != nil || hs[0].State != link.HealthUnknown || hs[0].Product.Title != "" {
		t.Errorf("Health after a new target = %+v, %v; want none", hs, err)
	}
}
