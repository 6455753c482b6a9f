package cache_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/aliurl"
	"github.com/redirector/redirector/internal/cache"
)

// fillTier1 puts n product pages, keyed as the service keys them, with affiliate links of a
// usual length, in a first tier of n entries, and returns the live heap it added per entry.
func fillTier1(tb testing.TB, n int) float64 {
	tb.Helper()
	now := time.Now()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	l := cache.NewLinks(nil, cache.LinkOptions{Tier1Size: n, Tier1Key: aliurl.ShortKey})
	ctx := context.Background()
	for i := range n {
		page := fmt.Sprintf("https://www.aliexpress.com/item/%d.html", 1005006000000000+i)
		link := fmt.Sprintf("https://s.click.aliexpress.com/e/_oD%06x", i) // 41 bytes, as the platform's
		if err := l.Set(ctx, page, promoted(link, now, time.Hour, 2*time.Hour)); err != nil {
			tb.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if got := l.Stats().Tier1Len; got < n*99/100 {
		tb.Fatalf("the first tier holds %d entries, want %d", got, n)
	}
	runtime.KeepAlive(l)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}

// TestTier1EntryBytes checks that a first-tier entry costs no more live heap than
// Tier1EntryBytes, from which the service sizes its default memory limit.
func TestTier1EntryBytes(t *testing.T) {
	got := fillTier1(t, 200_000)
	t.Logf("%.0f bytes of live heap per first-tier entry", got)
	if got > cache.Tier1EntryBytes {
		t.Errorf("a first-tier entry costs %.0f bytes, more than Tier1EntryBytes (%d)", got, cache.Tier1EntryBytes)
	}
}

// BenchmarkTier1Memory reports the live heap per entry of a first tier of a million entries.
func BenchmarkTier1Memory(b *testing.B) {
	for range b.N {
		b.ReportMetric(fillTier1(b, 1_000_000), "B/entry")
	}
}
