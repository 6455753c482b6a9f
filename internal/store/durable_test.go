package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/cache"
	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/store"
)

// openDurable opens the embedded store in dir and closes it when the test ends (closing twice is harmless).
func openDurable(t testing.TB, dir string) (redis.UniversalClient, func()) {
	t.Helper()
	rdb, closeFn, err := store.Embedded(dir)
	if err != nil {
		t.Fatalf("Embedded(%q) error: %v", dir, err)
	}
	t.Cleanup(closeFn)
	return rdb, closeFn
}

// TestEmbeddedKeepsEverythingAcrossRestarts writes records, counts and link-cache entries through the
// real Records, Counters and cache code, closes the store, opens the same directory again and finds
// them all, the list of live records included.
func TestEmbeddedKeepsEverythingAcrossRestarts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	rdb, closeFn := openDurable(t, dir)
	records := store.NewRecords(rdb)
	counters := store.NewCounters(rdb, 0)
	links := cache.NewLinks(rdb, cache.LinkOptions{Tier1Size: 0})
	created := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	const n = 200
	for i := range n {
		rec := link.Record{ID: fmt.Sprintf("id%03d", i), Target: fmt.Sprintf("https://www.aliexpress.com/item/%d.html", 1000+i), Created: created.Add(time.Duration(i) * time.Minute)}
		if err := records.Create(ctx, rec); err != nil {
			t.Fatalf("Create(%s): %v", rec.ID, err)
		}
	}
	if _, err := records.Retarget(ctx, "id001", "https://www.aliexpress.com/item/9.html", created.Add(time.Hour)); err != nil {
		t.Fatalf("Retarget: %v", err)
	}
	if err := records.Delete(ctx, "id002", created.Add(time.Hour)); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, _, err := records.SetTargetID(ctx, "https://www.aliexpress.com/item/1003.html", "id003"); err != nil {
		t.Fatalf("SetTargetID: %v", err)
	}
	today := time.Now().UTC()
	day := today.Format("20060102")
	if err := counters.AddClicks(ctx, []link.ClickCount{
		{ID: "id000", Day: day, Clicks: 7, Scans: 2, Writer: "w1", Seq: 1},
		{ID: "id005", Day: day, Clicks: 3},
	}); err != nil {
		t.Fatalf("AddClicks: %v", err)
	}
	fresh := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	if err := links.Set(ctx, "page-1", cache.Link{URL: "https://s.click.aliexpress.com/e/_x", Status: cache.Promoted, FreshUntil: fresh, StaleUntil: fresh.Add(time.Hour)}); err != nil {
		t.Fatalf("links.Set: %v", err)
	}
	closeFn()

	rdb, _ = openDurable(t, dir)
	records = store.NewRecords(rdb)
	counters = store.NewCounters(rdb, 0)
	links = cache.NewLinks(rdb, cache.LinkOptions{Tier1Size: 0})
	for i := range n {
		id := fmt.Sprintf("id%03d", i)
		rec, ok, err := records.Get(ctx, id)
		if err != nil || !ok {
			t.Fatalf("after reopening, Get(%s) = %v, %v, %v; want the record", id, rec, ok, err)
		}
		want := fmt.Sprintf("https://www.aliexpress.com/item/%d.html", 1000+i)
		if i == 1 {
			want = "https://www.aliexpress.com/item/9.html"
		}
		if rec.Target != want || rec.Deleted != (i == 2) {
			t.Errorf("after reopening, Get(%s) = target %q deleted %v; want %q deleted %v", id, rec.Target, rec.Deleted, want, i == 2)
		}
	}
	var listed int
	for cursor := ""; ; {
		page, next, err := records.List(ctx, cursor, store.MaxListLimit)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		for _, r := range page {
			if r.ID == "id002" {
				t.Errorf("List after reopening has the deleted id002")
			}
		}
		listed += len(page)
		if next == "" {
			break
		}
		cursor = next
	}
	if listed != n-1 {
		t.Errorf("List after reopening: %d records, want %d (the live ones)", listed, n-1)
	}
	if page, _, _ := records.List(ctx, "", 1); len(page) != 1 || page[0].ID != fmt.Sprintf("id%03d", n-1) {
		t.Errorf("List(1) after reopening = %v, want the newest, id%03d", page, n-1)
	}
	if id, ok, err := records.IDForTarget(ctx, "https://www.aliexpress.com/item/1003.html"); err != nil || !ok || id != "id003" {
		t.Errorf("IDForTarget after reopening = %q, %v, %v; want id003", id, ok, err)
	}
	st, err := counters.Stats(ctx, "id000", 1, today)
	if err != nil || st.Clicks != 7 || st.Scans != 2 || st.Daily[0].Clicks != 7 {
		t.Errorf("Stats(id000) after reopening = %+v, %v; want 7 clicks, 2 scans, 7 today", st, err)
	}
	// The writer's mark came back too: the same batch again is not counted twice.
	if err := counters.AddClicks(ctx, []link.ClickCount{{ID: "id000", Day: day, Clicks: 7, Scans: 2, Writer: "w1", Seq: 1}}); err != nil {
		t.Fatalf("AddClicks again: %v", err)
	}
	if st, _ := counters.Stats(ctx, "id000", 0, today); st.Clicks != 7 {
		t.Errorf("Stats(id000) after the batch was retried = %d clicks, want 7", st.Clicks)
	}
	if st, _ := counters.Stats(ctx, "id005", 0, today); st.Clicks != 3 {
		t.Errorf("Stats(id005) after reopening = %d clicks, want 3", st.Clicks)
	}
	if got, ok, err := links.Get(ctx, "page-1"); err != nil || !ok || got.URL != "https://s.click.aliexpress.com/e/_x" || !got.FreshUntil.Equal(fresh) {
		t.Errorf("links.Get after reopening = %+v, %v, %v; want the link, fresh until %v", got, ok, err, fresh)
	}
	if ttl, err := rdb.PTTL(ctx, "rd:v1:link:page-1").Result(); err != nil || ttl <= 0 {
		t.Errorf("link-cache key's PTTL after reopening = %v, %v; want its expiry kept", ttl, err)
	}
	if ttl, err := rdb.PTTL(ctx, "rd:v1:{id000}:n").Result(); err != nil || ttl != -1 {
		t.Errorf("totals key's PTTL after reopening = %v, %v; want none (-1ns)", ttl, err)
	}
}

// TestEmbeddedDeletesReachTheDisk: a deleted key and a FLUSHALL stay done after a restart.
func TestEmbeddedDeletesReachTheDisk(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	rdb, closeFn := openDurable(t, dir)
	if err := rdb.MSet(ctx, "a", "1", "b", "2", "c", "3").Err(); err != nil {
		t.Fatalf("MSET: %v", err)
	}
	if err := rdb.Del(ctx, "a", "b").Err(); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	closeFn()
	rdb, closeFn = openDurable(t, dir)
	if got, err := rdb.MGet(ctx, "a", "b", "c").Result(); err != nil || got[0] != nil || got[1] != nil || got[2] != "3" {
		t.Fatalf("after DEL a b and a restart, MGET a b c = %v, %v; want [nil nil 3]", got, err)
	}
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatalf("FLUSHALL: %v", err)
	}
	closeFn()
	rdb, _ = openDurable(t, dir)
	if n, err := rdb.DBSize(ctx).Result(); err != nil || n != 0 {
		t.Fatalf("after FLUSHALL and a restart, DBSIZE = %d, %v; want 0", n, err)
	}
}

// TestEmbeddedWriteIsOnDiskWhenItReturns reads the file, not the store: a write that returned is in
// it while the store is still open (what a kill -9 would leave).
func TestEmbeddedWriteIsOnDiskWhenItReturns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	rdb, _ := openDurable(t, dir)
	if err := store.NewRecords(rdb).Create(ctx, link.Record{ID: "kept", Target: "https://www.aliexpress.com/item/1.html"}); err != nil {
		t.Fatalf("Create: %v", err)
	}
	keys := store.DurableKeys(t, filepath.Join(dir, store.EmbeddedFile))
	if !keys["rd:v1:{kept}:rec"] {
		t.Fatalf("the file holds %v right after Create returned; want rd:v1:{kept}:rec", keys)
	}
	if keys["rd:v1:links"] {
		t.Errorf("the file holds the list of live records, which is rebuilt at start and should not be kept")
	}
}

// TestEmbeddedOneProcessPerDir: a second open of a directory in use fails, naming the file.
func TestEmbeddedOneProcessPerDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	openDurable(t, dir)
	_, _, err := store.Embedded(dir)
	if err == nil {
		t.Fatalf("a second Embedded(%q) while the first is open: err = nil, want the file is locked", dir)
	}
	for _, want := range []string{filepath.Join(dir, store.EmbeddedFile), "another redirector"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("second Embedded error = %q, want it to name %q", err, want)
		}
	}
}

// TestEmbeddedRefusesUnknownCommands: a write the store would not keep fails instead of being lost.
func TestEmbeddedRefusesUnknownCommands(t *testing.T) {
	t.Parallel()
	rdb, _ := openDurable(t, t.TempDir())
	err := rdb.Do(context.Background(), "XADD", "stream", "*", "f", "v").Err()
	if err == nil || !strings.Contains(err.Error(), "not one the durable store keeps") {
		t.Fatalf("XADD on the durable store: err = %v, want a refusal", err)
	}
	if !errors.Is(rdb.Get(context.Background(), "stream").Err(), redis.Nil) {
		t.Errorf("the refused XADD ran anyway")
	}
}

// TestEmbeddedKeepsHyperLogLogs: the distinct visitor counts (PFADD) survive a restart within the
// estimate's error, with their expiry, and keep counting new members afterwards.
func TestEmbeddedKeepsHyperLogLogs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	rdb, closeFn := openDurable(t, dir)
	const n = 5000
	members := make([]any, n)
	for i := range members {
		members[i] = fmt.Sprintf("visitor-%d", i)
	}
	if err := rdb.PFAdd(ctx, "hll", members...).Err(); err != nil {
		t.Fatalf("PFADD: %v", err)
	}
	if err := rdb.Expire(ctx, "hll", time.Hour).Err(); err != nil {
		t.Fatalf("EXPIRE: %v", err)
	}
	before, err := rdb.PFCount(ctx, "hll").Result()
	if err != nil {
		t.Fatalf("PFCOUNT: %v", err)
	}
	closeFn()
	rdb, _ = openDurable(t, dir)
	after, err := rdb.PFCount(ctx, "hll").Result()
	if err != nil {
		t.Fatalf("PFCOUNT after a restart: %v", err)
	}
	if diff := after - before; diff < -before/50 || diff > before/50 {
		t.Errorf("PFCOUNT after a restart = %d, before %d: want within 2%%", after, before)
	}
	if ttl, err := rdb.TTL(ctx, "hll").Result(); err != nil || ttl <= 0 || ttl > time.Hour {
		t.Errorf("TTL after a restart = %v, %v; want (0, 1h]", ttl, err)
	}
	more := make([]any, n)
	for i := range more {
		more[i] = fmt.Sprintf("new-visitor-%d", i)
	}
	if err := rdb.PFAdd(ctx, "hll", more...).Err(); err != nil {
		t.Fatalf("PFADD after a restart: %v", err)
	}
	if got, err := rdb.PFCount(ctx, "hll").Result(); err != nil || got < after+n*9/10 {
		t.Errorf("PFCOUNT after %d new members = %d, %v; want about %d", n, got, err, after+n)
	}
}
