package store_test

import (
	"context"
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
	h := link.Health{State: link.HealthGone, Seen: seen, Product: link.Product{Title: "Lamp", Store: "https://www.aliexpress.com/store/9"}}
	if written, diverted, err := rs.SetHealth(ctx, "fb1", "https://www.aliexpress.com/item/999.html", h, fallback); written || diverted || err != nil {
		t.Errorf("SetHealth for another target = %v, %v, %v; want nothing written", written, diverted, err)
	}
	if written, diverted, err := rs.SetHealth(ctx, "fb1", target, h, fallback); !written || !diverted || err != nil {
		t.Fatalf("SetHealth = %v, %v, %v; want written and diverted", written, diverted, err)
	}
	if _, diverted, _ := rs.SetHealth(ctx, "fb1", target, h, fallback); diverted {
		t.Errorf("SetHealth with the same divert says diverted")
	}
	if got := mustGetRecord(t, ctx, rs, "fb1"); got.Divert != fallback {
		t.Errorf("Get after SetHealth: Divert = %q, want %q", got.Divert, fallback)
	}
	// A state without a product keeps the product last known.
	if _, _, err := rs.SetHealth(ctx, "fb1", target, link.Health{State: link.HealthGone, Seen: seen}, fallback); err != nil {
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
	if _, _, err := rs.SetHealth(ctx, "fb1", target, h, fallback); err != nil {
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
