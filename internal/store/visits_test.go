package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/stats"
	"github.com/redirector/redirector/internal/store"
)

// visit is a counted visit of id on 2025-03-03 by visitor n, from referrer ref.
func visit(id string, n int, ref string, scan bool) stats.Visit {
	src := "link"
	if scan {
		src = "qr"
	}
	return stats.Visit{ID: id, Day: "20250303", Visitor: fmt.Sprintf("%016x", n),
		Values: stats.Values{"DE", ref, "mobile", "iOS", "Safari", src}}
}

func TestCountersVisits(t *testing.T) { forEachBackend(t, countersVisits) }

// countersVisits: a visitor counts once per link within the window however often it comes, on every
// link it visits; links without a record count nothing; the day's report and the one across links agree.
func countersVisits(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	c := store.NewCountersWith(rdb, store.CountersOptions{Retention: 10 * 24 * time.Hour, Top: 3})
	mustRecords(t, rdb, "a", "b")
	var batch []stats.Visit
	for range 1000 {
		batch = append(batch, visit("a", 1, "t.co", false))
	}
	batch = append(batch, visit("a", 2, "direct", true), visit("b", 1, "t.co", false), visit("nobody", 3, "t.co", false))
	if err := c.AddVisits(ctx, batch); err != nil {
		t.Fatalf("AddVisits: %v", err)
	}
	// The same batch again (a retry after a time-out that landed) counts nothing more.
	if err := c.AddVisits(ctx, batch); err != nil {
		t.Fatalf("AddVisits again: %v", err)
	}
	day := time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		id                      string
		clicks, scans, visitors int64
		referrers               []stats.Count
	}{
		{"a", 2, 1, 2, []stats.Count{{Value: "direct", Clicks: 1}, {Value: "t.co", Clicks: 1}}},
		{"b", 1, 0, 1, []stats.Count{{Value: "t.co", Clicks: 1}}},
		{"nobody", 0, 0, 0, nil},
		{"", 3, 1, 2, []stats.Count{{Value: "t.co", Clicks: 2}, {Value: "direct", Clicks: 1}}}, // all links: visitor 1 is one visitor on the day
	} {
		r, err := c.Report(ctx, tc.id, day, day, 0)
		if err != nil {
			t.Fatalf("Report(%q): %v", tc.id, err)
		}
		if r.Clicks != tc.clicks || r.Scans != tc.scans || r.Visitors != tc.visitors || fmt.Sprint(r.Dims[stats.DimReferrer]) != fmt.Sprint(tc.referrers) {
			t.Errorf("Report(%q) = %d clicks, %d scans, %d visitors, referrers %v; want %d, %d, %d, %v",
				tc.id, r.Clicks, r.Scans, r.Visitors, r.Dims[stats.DimReferrer], tc.clicks, tc.scans, tc.visitors, tc.referrers)
		}
	}
	if n, _ := rdb.Exists(ctx, "rd:v1:{nobody}:n", "rd:v1:{nobody}:d:20250303", "rd:v1:{nobody}:v:20250303").Result(); n != 0 {
		t.Errorf("a link without a record has %d counter keys, want 0", n)
	}
	// Every key written expires but the totals, which the record owns.
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		ttl, err := rdb.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl < 0 && k != "rd:v1:{a}:n" && k != "rd:v1:{b}:n" && k != "rd:v1:{a}:rec" && k != "rd:v1:{b}:rec" && k != "rd:v1:links" {
			t.Errorf("key %s has no expiry and no owner", k)
		}
	}
}

func TestCountersVisitsTop(t *testing.T) { forEachBackend(t, countersVisitsTop) }

// countersVisitsTop: 10,000 distinct referrers on one link keep at most Top values and "other", with
// every click counted in one of them.
func countersVisitsTop(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	const top = 50
	c := store.NewCountersWith(rdb, store.CountersOptions{Top: top})
	mustRecords(t, rdb, "a")
	for b := range 10 {
		var batch []stats.Visit
		for i := range 1000 {
			n := b*1000 + i
			batch = append(batch, visit("a", n, fmt.Sprintf("site%d.example", n), false))
		}
		if err := c.AddVisits(ctx, batch); err != nil {
			t.Fatalf("AddVisits: %v", err)
		}
	}
	for _, key := range []string{"rd:v1:{a}:s:20250303:referrer", "rd:v1:stats:{20250303}:referrer"} {
		if n, err := rdb.HLen(ctx, key).Result(); err != nil || n > top+1 {
			t.Errorf("HLEN %s = %d, %v; want at most %d", key, n, err, top+1)
		}
	}
	day := time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)
	for _, id := range []string{"a", ""} {
		r, err := c.Report(ctx, id, day, day, 0)
		if err != nil {
			t.Fatal(err)
		}
		var sum int64
		for _, v := range r.Dims[stats.DimReferrer] {
			sum += v.Clicks
		}
		if r.Clicks != 10_000 || sum != 10_000 || len(r.Dims[stats.DimReferrer]) != top+1 {
			t.Errorf("Report(%q): %d clicks, referrers sum to %d in %d values; want 10000, 10000 in %d", id, r.Clicks, sum, len(r.Dims[stats.DimReferrer]), top+1)
		}
		// HyperLogLog's standard error is 0.81%.
		if r.Visitors < 9_700 || r.Visitors > 10_300 {
			t.Errorf("Report(%q): %d visitors, want 10000 within 3%%", id, r.Visitors)
		}
	}
}

func TestCountersDaySecret(t *testing.T) { forEachBackend(t, countersDaySecret) }

// countersDaySecret: two replicas on one store name visitors with the same secret per day, a new one
// each day, and the secret expires.
func countersDaySecret(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	a, b := store.NewCounters(rdb, 0), store.NewCounters(rdb, 0)
	sa, err := a.DaySecret(ctx, "20250303")
	if err != nil {
		t.Fatal(err)
	}
	sb, err := b.DaySecret(ctx, "20250303")
	if err != nil {
		t.Fatal(err)
	}
	if len(sa) != 32 || string(sa) != string(sb) {
		t.Errorf("replicas' secrets of one day: %x and %x, want the same 32 bytes", sa, sb)
	}
	next, err := b.DaySecret(ctx, "20250304")
	if err != nil {
		t.Fatal(err)
	}
	if string(next) == string(sa) {
		t.Errorf("the next day's secret is the same")
	}
	if ttl, err := rdb.PTTL(ctx, "rd:v1:salt:20250303").Result(); err != nil || ttl <= 0 || ttl > 48*time.Hour {
		t.Errorf("PTTL of the secret = %v, %v; want at most 48h", ttl, err)
	}
	if _, err := a.DaySecret(ctx, "2025-03-03"); err == nil {
		t.Errorf("DaySecret(2025-03-03) = nil error, want one for a day not YYYYMMDD")
	}
}

func TestCountersVisitsRefuseBadInput(t *testing.T) {
	t.Parallel()
	rdb := openRedisServer(t)
	ctx := context.Background()
	c := store.NewCounters(rdb, 0)
	mustRecords(t, rdb, "a")
	good := visit("a", 1, "t.co", false)
	for _, tc := range []struct {
		name string
		edit func(*stats.Visit)
	}{
		{"brace in id", func(v *stats.Visit) { v.ID = "a}b" }},
		{"bad day", func(v *stats.Visit) { v.Day = "2025-03-03" }},
		{"short visitor", func(v *stats.Visit) { v.Visitor = "abc" }},
		{"visitor not hex", func(v *stats.Visit) { v.Visitor = "zzzzzzzzzzzzzzzz" }},
		{"empty value", func(v *stats.Visit) { v.Values[stats.DimOS] = "" }},
	} {
		bad := good
		tc.edit(&bad)
		if err := c.AddVisits(ctx, []stats.Visit{good, bad}); err == nil {
			t.Errorf("%s: AddVisits = nil, want an error", tc.name)
		}
	}
	if n, _ := rdb.Exists(ctx, "rd:v1:{a}:n").Result(); n != 0 {
		t.Errorf("a refused batch wrote counts")
	}
	day := time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)
	if _, err := c.Report(ctx, "a", day, day.AddDate(0, 0, store.MaxReportDays), 0); err == nil {
		t.Errorf("Report over %d days = nil error, want one", store.MaxReportDays+1)
	}
	if _, err := c.Report(ctx, "a", day, day.AddDate(0, 0, -1), 0); err == nil {
		t.Errorf("Report from after to = nil error, want one")
	}
}
