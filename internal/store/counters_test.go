package store_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/store"
)

func TestCountersAddClicksStats(t *testing.T) { forEachBackend(t, countersAddClicksStats) }

func countersAddClicksStats(t *testing.T, rdb redis.UniversalClient) {
	const retention = 10 * 24 * time.Hour
	now := time.Date(2025, 3, 3, 23, 59, 0, 0, time.UTC)
	ctx := context.Background()
	c := store.NewCounters(rdb, retention)
	mustRecords(t, rdb, "a", "b", "c")

	batches := [][]link.ClickCount{
		{
			{ID: "a", Day: "20250301", Clicks: 3, Scans: 1},
			{ID: "a", Day: "20250303", Clicks: 2},
			{ID: "b", Day: "20250303", Clicks: 5, Scans: 5},
			{ID: "a", Day: "20250303", Clicks: 1, Scans: 1}, // the same day twice in one batch adds up
		},
		{
			{ID: "a", Day: "20250227", Clicks: 4}, // across the month boundary
			{ID: "a", Day: "20250303", Clicks: 10, Scans: 2},
			{ID: "c", Day: "20250303"}, // nothing to add: skipped
		},
	}
	for i, batch := range batches {
		if err := c.AddClicks(ctx, batch); err != nil {
			t.Fatalf("AddClicks(batch %d) = %v", i, err)
		}
	}

	tests := []struct {
		name string
		id   string
		days int
		want link.Stats
	}{
		{"a over 6 days", "a", 6, link.Stats{Clicks: 20, Scans: 4, Daily: []link.Day{
			{Date: "2025-02-26"},
			{Date: "2025-02-27", Clicks: 4},
			{Date: "2025-02-28"},
			{Date: "2025-03-01", Clicks: 3, Scans: 1},
			{Date: "2025-03-02"},
			{Date: "2025-03-03", Clicks: 13, Scans: 3},
		}}},
		{"a today only", "a", 1, link.Stats{Clicks: 20, Scans: 4, Daily: []link.Day{
			{Date: "2025-03-03", Clicks: 13, Scans: 3},
		}}},
		{"a totals only", "a", 0, link.Stats{Clicks: 20, Scans: 4, Daily: []link.Day{}}},
		{"b", "b", 2, link.Stats{Clicks: 5, Scans: 5, Daily: []link.Day{
			{Date: "2025-03-02"},
			{Date: "2025-03-03", Clicks: 5, Scans: 5},
		}}},
		{"never clicked", "c", 3, link.Stats{Daily: []link.Day{
			{Date: "2025-03-01"}, {Date: "2025-03-02"}, {Date: "2025-03-03"},
		}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.Stats(ctx, tc.id, tc.days, now)
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Stats(%q, %d) = %+v, %v, want %+v", tc.id, tc.days, got, err, tc.want)
			}
		})
	}

	t.Run("now in another zone", func(t *testing.T) {
		// 01:00 on March 4th in UTC+3 is still March 3rd in UTC.
		east := time.Date(2025, 3, 4, 1, 0, 0, 0, time.FixedZone("UTC+3", 3*3600))
		got, err := c.Stats(ctx, "a", 1, east)
		if err != nil || len(got.Daily) != 1 || got.Daily[0].Date != "2025-03-03" {
			t.Errorf("Stats(a, 1, %v) = %+v, %v, want the UTC day 2025-03-03", east, got, err)
		}
	})

	t.Run("keys and expiry", func(t *testing.T) {
		for _, key := range []string{"rd:v1:{a}:d:20250227", "rd:v1:{a}:d:20250301", "rd:v1:{a}:d:20250303", "rd:v1:{b}:d:20250303"} {
			ttl, err := rdb.TTL(ctx, key).Result()
			if err != nil || ttl <= retention-time.Minute || ttl > retention {
				t.Errorf("TTL %s = %v, %v, want about %v", key, ttl, err, retention)
			}
		}
		for _, key := range []string{"rd:v1:{a}:n", "rd:v1:{b}:n"} {
			if ttl, err := rdb.TTL(ctx, key).Result(); err != nil || ttl != -1 {
				t.Errorf("TTL %s = %v, %v, want none (-1): totals are kept", key, ttl, err)
			}
		}
		if n, err := rdb.Exists(ctx, "rd:v1:{c}:n", "rd:v1:{c}:d:20250303").Result(); err != nil || n != 0 {
			t.Errorf("a count of zero wrote %d keys (%v), want none", n, err)
		}
		got, err := rdb.HGetAll(ctx, "rd:v1:{a}:d:20250303").Result()
		if want := map[string]string{"clicks": "13", "scans": "3"}; err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("HGETALL rd:v1:{a}:d:20250303 = %v, %v, want %v", got, err, want)
		}
	})

	t.Run("expiry refreshed on write", func(t *testing.T) {
		const key = "rd:v1:{a}:d:20250301"
		if err := rdb.Expire(ctx, key, time.Hour).Err(); err != nil {
			t.Fatalf("Expire: %v", err)
		}
		if err := c.AddClicks(ctx, []link.ClickCount{{ID: "a", Day: "20250301", Clicks: 1}}); err != nil {
			t.Fatalf("AddClicks: %v", err)
		}
		if ttl, err := rdb.TTL(ctx, key).Result(); err != nil || ttl <= retention-time.Minute {
			t.Errorf("TTL %s after a write = %v, %v, want about %v", key, ttl, err, retention)
		}
	})
}

func TestCountersDefaultRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := openRedisServer(t)
	mustRecords(t, rdb, "a")
	for _, retention := range []time.Duration{0, -time.Hour} {
		c := store.NewCounters(rdb, retention)
		if err := c.AddClicks(ctx, []link.ClickCount{{ID: "a", Day: "20250301", Clicks: 1}}); err != nil {
			t.Fatalf("AddClicks: %v", err)
		}
		ttl, err := rdb.TTL(ctx, "rd:v1:{a}:d:20250301").Result()
		if err != nil || ttl <= store.DefaultRetention-time.Minute || ttl > store.DefaultRetention {
			t.Errorf("NewCounters(rdb, %v): day TTL = %v, %v, want %v", retention, ttl, err, store.DefaultRetention)
		}
	}
	if store.DefaultRetention != 90*24*time.Hour {
		t.Errorf("DefaultRetention = %v, want 90 days", store.DefaultRetention)
	}
}

func TestCountersBadInput(t *testing.T) { forEachBackend(t, countersBadInput) }

func countersBadInput(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	c := store.NewCounters(rdb, 0)
	good := link.ClickCount{ID: "a", Day: "20250301", Clicks: 1}
	tests := []struct {
		name string
		bad  link.ClickCount
	}{
		{"empty id", link.ClickCount{Day: "20250301", Clicks: 1}},
		{"brace id", link.ClickCount{ID: "a}", Day: "20250301", Clicks: 1}},
		{"empty day", link.ClickCount{ID: "a", Clicks: 1}},
		{"dashed day", link.ClickCount{ID: "a", Day: "2025-03-01", Clicks: 1}},
		{"impossible day", link.ClickCount{ID: "a", Day: "20250230", Clicks: 1}},
		{"letters", link.ClickCount{ID: "a", Day: "2025030x", Clicks: 1}},
		{"negative clicks", link.ClickCount{ID: "a", Day: "20250301", Clicks: -1}},
		{"negative scans", link.ClickCount{ID: "a", Day: "20250301", Scans: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A good count before the bad one: the batch is refused as a whole.
			if err := c.AddClicks(ctx, []link.ClickCount{good, tc.bad}); err == nil {
				t.Errorf("AddClicks(%+v) = nil, want an error", tc.bad)
			}
			if n, err := rdb.DBSize(ctx).Result(); err != nil || n != 0 {
				t.Errorf("after AddClicks(%+v), DBSIZE = %d, %v, want 0 (nothing written)", tc.bad, n, err)
			}
		})
	}
	for _, days := range []int{-1, 3661} {
		if _, err := c.Stats(ctx, "a", days, time.Now()); err == nil {
			t.Errorf("Stats(a, %d) = nil error, want one", days)
		}
	}
	if _, err := c.Stats(ctx, "", 1, time.Now()); err == nil {
		t.Errorf("Stats(\"\", 1) = nil error, want one")
	}
	if err := c.AddClicks(ctx, nil); err != nil {
		t.Errorf("AddClicks(nil) = %v, want nil", err)
	}
}

func BenchmarkAddClicks(b *testing.B) {
	ctx := context.Background()
	batch := make([]link.ClickCount, 100)
	for i := range batch {
		batch[i] = link.ClickCount{ID: fmt.Sprintf("id%03d", i), Day: "20250301", Clicks: 3, Scans: 1}
	}
	for _, be := range storeBackends() {
		b.Run(be.name, func(b *testing.B) {
			rdb := be.open(b)
			for _, cc := range batch {
				mustRecords(b, rdb, cc.ID)
			}
			c := store.NewCounters(rdb, 0)
			b.ReportAllocs()
			for b.Loop() {
				if err := c.AddClicks(ctx, batch); err != nil {
					b.Fatalf("AddClicks: %v", err)
				}
			}
		})
	}
}

func TestCountersAddClicksOnce(t *testing.T) { forEachBackend(t, countersAddClicksOnce) }

// countersAddClicksOnce checks that a writer's batch is applied once however often it is written, and
// that the day's expiry is still set by the script.
func countersAddClicksOnce(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	now := time.Date(2025, 3, 3, 12, 0, 0, 0, time.UTC)
	c := store.NewCounters(rdb, 10*24*time.Hour)
	mustRecords(t, rdb, "once", "twice")
	batch := func(writer string, seq uint64, clicks, scans int64) []link.ClickCount {
		return []link.ClickCount{
			{ID: "once", Day: "20250303", Clicks: clicks, Scans: scans, Writer: writer, Seq: seq},
			{ID: "twice", Day: "20250303", Clicks: 1, Writer: writer, Seq: seq},
		}
	}
	steps := []struct {
		name          string
		batch         []link.ClickCount
		clicks, scans int64 // of "once" afterwards
	}{
		{"first write", batch("w1", 1, 3, 1), 3, 1},
		{"the same batch again (a retry after a time-out that landed)", batch("w1", 1, 3, 1), 3, 1},
		{"the next batch", batch("w1", 2, 2, 0), 5, 1},
		{"an older batch arriving late", batch("w1", 1, 3, 1), 5, 1},
		{"another writer's first batch", batch("w2", 1, 1, 1), 6, 2},
		{"a count without a writer is always added", []link.ClickCount{{ID: "once", Day: "20250303", Clicks: 1}}, 7, 2},
	}
	for _, st := range steps {
		if err := c.AddClicks(ctx, st.batch); err != nil {
			t.Fatalf("%s: AddClicks: %v", st.name, err)
		}
		s, err := c.Stats(ctx, "once", 1, now)
		if err != nil {
			t.Fatalf("%s: Stats: %v", st.name, err)
		}
		if s.Clicks != st.clicks || s.Scans != st.scans || s.Daily[0].Clicks != st.clicks {
			t.Errorf("after %s: clicks %d, scans %d, today %d; want %d, %d, %d", st.name, s.Clicks, s.Scans, s.Daily[0].Clicks, st.clicks, st.scans, st.clicks)
		}
	}
	if s, _ := c.Stats(ctx, "twice", 0, now); s.Clicks != 3 {
		t.Errorf("twice: clicks %d, want 3 (one per distinct batch: w1#1, w1#2, w2#1)", s.Clicks)
	}
	if ttl := rdb.TTL(ctx, "rd:v1:{once}:d:20250303").Val(); ttl <= 9*24*time.Hour || ttl > 10*24*time.Hour {
		t.Errorf("day key TTL = %v, want about the 10-day retention", ttl)
	}
}

// mustRecords creates a live record for each id, as the counters count only links that have one.
func mustRecords(t testing.TB, rdb redis.UniversalClient, ids ...string) {
	t.Helper()
	records := store.NewRecords(rdb)
	for _, id := range ids {
		if err := records.Create(context.Background(), link.Record{ID: id, Target: "https://www.aliexpress.com/store/" + id}); err != nil {
			t.Fatalf("Create(%s): %v", id, err)
		}
	}
}

func TestCountersOnlyForRecords(t *testing.T) { forEachBackend(t, countersOnlyForRecords) }

// countersOnlyForRecords checks that counts of ids without a record write no key, with or without a
// writer, and that a deleted link's tombstone keeps owning its totals but counts no more clicks (so
// a click answered from a stale copy while the store was away, written once it is back, does not
// count for a deleted link).
func countersOnlyForRecords(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	now := time.Date(2025, 3, 3, 12, 0, 0, 0, time.UTC)
	c := store.NewCounters(rdb, 0)
	mustRecords(t, rdb, "live", "gone")
	if err := c.AddClicks(ctx, []link.ClickCount{{ID: "gone", Day: "20250303", Clicks: 4}}); err != nil {
		t.Fatalf("AddClicks(gone) while live: %v", err)
	}
	if err := store.NewRecords(rdb).Delete(ctx, "gone", now); err != nil {
		t.Fatalf("Delete(gone): %v", err)
	}
	before, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatalf("KEYS: %v", err)
	}
	tests := []struct {
		name    string
		count   link.ClickCount
		clicks  int64 // the id's totals afterwards
		newKeys int   // keys more than before the first case
	}{
		{"no record, with a writer", link.ClickCount{ID: "nobody", Day: "20250303", Clicks: 2, Scans: 1, Writer: "w", Seq: 1}, 0, 0},
		{"no record, without a writer", link.ClickCount{ID: "nobody2", Day: "20250303", Clicks: 1}, 0, 0},
		{"live record", link.ClickCount{ID: "live", Day: "20250303", Clicks: 3, Writer: "w", Seq: 2}, 3, 3},
		// newKeys counts from before the first case: the live record's 3, and none more.
		{"tombstone, without a writer", link.ClickCount{ID: "gone", Day: "20250303", Clicks: 1}, 4, 3},
		{"tombstone, with a writer", link.ClickCount{ID: "gone", Day: "20250303", Clicks: 2, Writer: "w", Seq: 3}, 4, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := c.AddClicks(ctx, []link.ClickCount{tc.count}); err != nil {
				t.Fatalf("AddClicks(%+v): %v", tc.count, err)
			}
			if s, err := c.Stats(ctx, tc.count.ID, 0, now); err != nil || s.Clicks != tc.clicks {
				t.Errorf("after AddClicks(%+v): clicks = %d, %v; want %d", tc.count, s.Clicks, err, tc.clicks)
			}
			after, err := rdb.Keys(ctx, "*").Result()
			if err != nil {
				t.Fatalf("KEYS: %v", err)
			}
			if got := len(after) - len(before); got != tc.newKeys {
				t.Errorf("after AddClicks(%+v): %d new keys (%v), want %d", tc.count, got, after, tc.newKeys)
			}
		})
	}
}
