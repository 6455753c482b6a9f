package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/store"
)

// TestHealthHistory: SetHealthFrom records each change of state (not a state found again), newest
// first and bounded at HealthHistoryLen; Retarget, Patch with a new target, Put and Delete start it over.
func TestHealthHistory(t *testing.T) { forEachBackend(t, healthHistory) }

func healthHistory(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	records := store.NewRecords(rdb)
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	rec := link.Record{ID: "hist1", Target: "https://www.aliexpress.com/item/1005001.html", Created: t0}
	if err := records.Create(ctx, rec); err != nil {
		t.Fatalf("Create: %v", err)
	}
	set := func(i int, st link.HealthState) {
		t.Helper()
		if _, written, _, err := records.SetHealthFrom(ctx, rec, link.Health{State: st, Seen: t0.Add(time.Duration(i) * time.Minute)}, ""); err != nil || !written {
			t.Fatalf("SetHealthFrom(%s) = written %v, %v", st, written, err)
		}
	}
	history := func() string {
		t.Helper()
		h, err := records.HealthHistory(ctx, rec.ID)
		if err != nil {
			t.Fatalf("HealthHistory: %v", err)
		}
		s := ""
		for _, c := range h {
			s += fmt.Sprintf("%d:%s>%s ", int(c.At.Sub(t0)/time.Minute), c.From, c.To)
		}
		return s
	}
	set(1, link.HealthOK)
	set(2, link.HealthOK)
	set(3, link.HealthGone)
	set(4, link.HealthOK)
	if got, want := history(), "4:gone>ok 3:ok>gone 1:unknown>ok "; got != want {
		t.Errorf("ok, ok, gone, ok: history %q, want %q", got, want)
	}
	for i := 5; i < 35; i++ {
		set(i, []link.HealthState{link.HealthGone, link.HealthUntagged}[i%2])
	}
	h, err := records.HealthHistory(ctx, rec.ID)
	if err != nil || len(h) != store.HealthHistoryLen || !h[0].At.Equal(t0.Add(34*time.Minute)) || !h[19].At.Equal(t0.Add(15*time.Minute)) {
		t.Fatalf("after 33 changes: %d entries %+v, %v; want the newest %d, 34 min down to 15", len(h), h, err, store.HealthHistoryLen)
	}

	// A new target, by Retarget: none.
	rec.Target = "https://www.aliexpress.com/item/1005002.html"
	if _, err := records.Retarget(ctx, rec.ID, rec.Target, t0.Add(time.Hour)); err != nil {
		t.Fatalf("Retarget: %v", err)
	}
	if got := history(); got != "" {
		t.Errorf("after Retarget: history %q, want none", got)
	}
	set(40, link.HealthGone)
	// A Put that replaces the record (an import): none.
	rec.Updated = t0.Add(2 * time.Hour)
	if err := records.Put(ctx, rec); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if got := history(); got != "" {
		t.Errorf("after Put: history %q, want none", got)
	}
	set(50, link.HealthOK)
	if got := history(); got != "50:unknown>ok " {
		t.Errorf("after Put and a check: history %q", got)
	}
	if err := records.Delete(ctx, rec.ID, t0.Add(3*time.Hour)); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if n, err := rdb.Exists(ctx, "rd:v1:{"+rec.ID+"}:hh").Result(); err != nil || n != 0 {
		t.Errorf("after Delete: EXISTS history = %d, %v; want 0", n, err)
	}
}

// TestEmbeddedKeepsHealthHistory: the durable embedded store keeps a link's health history across a restart.
func TestEmbeddedKeepsHealthHistory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	rdb, closeFn := openDurable(t, dir)
	records := store.NewRecords(rdb)
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	rec := link.Record{ID: "hist2", Target: "https://www.aliexpress.com/item/1005003.html", Created: t0}
	if err := records.Create(ctx, rec); err != nil {
		t.Fatalf("Create: %v", err)
	}
	for i, st := range []link.HealthState{link.HealthOK, link.HealthGone, link.HealthOK} {
		if _, _, _, err := records.SetHealthFrom(ctx, rec, link.Health{State: st, Seen: t0.Add(time.Duration(i) * time.Minute)}, ""); err != nil {
			t.Fatalf("SetHealthFrom: %v", err)
		}
	}
	before, err := records.HealthHistory(ctx, rec.ID)
	if err != nil || len(before) != 3 {
		t.Fatalf("HealthHistory before the restart = %+v, %v; want 3 entries", before, err)
	}
	closeFn()

	rdb, _ = openDurable(t, dir)
	after, err := store.NewRecords(rdb).HealthHistory(ctx, rec.ID)
	if err != nil || fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("HealthHistory after the restart = %+v, %v; want %+v", after, err, before)
	}
}
