package cache_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/cache"
)

// TestLinksConcurrentRedisGets has many goroutines read distinct keys from Redis at once, as
// concurrent clicks do, so that their GETs share round trips: each must get its own key's value.
func TestLinksConcurrentRedisGets(t *testing.T) {
	t.Parallel()
	_, rdb := connect(t)
	ctx := context.Background()
	l := cache.NewLinks(rdb, cache.LinkOptions{RedisTimeout: testRedisTimeout, Tier1Size: 0})
	const keys, workers = 200, 16
	now := time.Now()
	for i := range keys {
		if err := l.Set(ctx, "k"+strconv.Itoa(i), promoted("https://a.example/"+strconv.Itoa(i), now, time.Hour, 2*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Set(ctx, "negative", cache.Link{Status: cache.NotPromotable, FreshUntil: now.Add(time.Hour), StaleUntil: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for j := range keys {
				i := (j + w*keys/workers) % keys
				key := "k" + strconv.Itoa(i)
				got, ok, err := l.Get(ctx, key)
				if want := "https://a.example/" + strconv.Itoa(i); err != nil || !ok || got.URL != want || !got.FromRedis {
					t.Errorf("Get(%q) = %+v, %v, %v, want %q from Redis", key, got, ok, err, want)
				}
				if j%20 == 0 {
					if got, ok, err := l.Get(ctx, "absent"+key); ok || err != nil {
						t.Errorf("Get(%q) = %+v, %v, %v, want a plain miss", "absent"+key, got, ok, err)
					}
					if got, ok, err := l.Get(ctx, "negative"); err != nil || !ok || got.Status != cache.NotPromotable {
						t.Errorf("Get(%q) = %+v, %v, %v, want %v", "negative", got, ok, err, cache.NotPromotable)
					}
				}
			}
		})
	}
	wg.Wait()
	if st := l.Stats(); st.RedisErrors != 0 {
		t.Errorf("Stats.RedisErrors = %d, want 0", st.RedisErrors)
	}
}

// TestLinksTier1Compact checks what the first tier's compact entries give back: every field of
// the link as it was set, the zero RetryAt as a zero time, and a StaleUntil too far off for
// Unix nanoseconds still in the future.
func TestLinksTier1Compact(t *testing.T) {
	t.Parallel()
	clk := newClock()
	now := clk.Now()
	far := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		link cache.Link
	}{
		{"promoted", cache.Link{URL: "https://s.click.example/e/_a", Status: cache.Promoted, FreshUntil: now.Add(time.Hour), StaleUntil: now.Add(2 * time.Hour)}},
		{"retrying", cache.Link{URL: "https://s.click.example/e/_b", Status: cache.Promoted, FreshUntil: now, StaleUntil: now.Add(time.Hour), RetryAt: now.Add(time.Minute)}},
		{"not promotable", cache.Link{Status: cache.NotPromotable, FreshUntil: now.Add(time.Minute), StaleUntil: now.Add(time.Minute)}},
		{"far future", cache.Link{URL: "https://s.click.example/e/_c", Status: cache.Promoted, FreshUntil: now.Add(time.Hour), StaleUntil: far}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := cache.NewLinks(nil, cache.LinkOptions{Tier1Size: 10, Now: clk.Now})
			if err := l.Set(context.Background(), "k", tc.link); err != nil {
				t.Fatal(err)
			}
			got := mustGet(t, l, "k")
			want := tc.link
			if want.StaleUntil.Equal(far) {
				want.StaleUntil = time.Unix(0, 1<<63-1) // the latest time the tier keeps
			}
			if got.URL != want.URL || got.Status != want.Status || !got.FreshUntil.Equal(want.FreshUntil) ||
				!got.StaleUntil.Equal(want.StaleUntil) || !got.RetryAt.Equal(want.RetryAt) || got.RetryAt.IsZero() != want.RetryAt.IsZero() {
				t.Errorf("Get after Set(%+v) = %+v, want %+v", tc.link, got, want)
			}
		})
	}
}
